"""The dense lattice of places: every box of the organ's bounding box held in memory
(the lattice before issue 16, kept as the reference that cells.room.Lattice reproduces,
and for scripts/bench_room.py; docs/numerics.md "The places at organ size").

A place is a box of a lattice of spacing h_ref laid over the organ (Franssen's grid:
one box per grid node), not an element or vertex of the finite-element mesh, so that
crowding does not change with the mesh (graded meshes included). A box's capacity is
Q times the fraction of it inside the organ; boxes cut by the boundary get fractional
room, which is granted with the matching probability.

Boxes are shared by all ranks: box b is kept by rank b % size, which holds its capacity
and the census of cells in it, and decides contested room with the hash rule.
"""

from __future__ import annotations

import numpy as np
from mpi4py import MPI

from solver.cells.exchange import ask, exchange
from solver.lesions import Boxes


class DenseLattice:
    """The places of an organ: boxes of side h_ref, their capacity and census, each kept
    by rank b % size, and the rule that grants contested room.
    """

    def __init__(self, walker, h_ref: float, Q: float):
        """``walker``: the organ's MeshWalker (element geometry); ``Q``: cells per box."""
        self.comm = walker.comm
        self.dim = walker.dim
        self.h = h_ref
        n_own = walker.n_owned
        X = walker.X[:n_own]
        lo = X.min(axis=(0, 1)) if n_own else np.full(self.dim, np.inf)
        hi = X.max(axis=(0, 1)) if n_own else np.full(self.dim, -np.inf)
        self.origin, top = np.empty(self.dim), np.empty(self.dim)
        self.comm.Allreduce(lo, self.origin, op=MPI.MIN)
        self.comm.Allreduce(hi, top, op=MPI.MAX)
        self.shape = np.maximum(np.ceil((top - self.origin) / h_ref - 1e-9).astype(np.int64), 1)
        self.boxes = Boxes(self.origin, h_ref, self.shape)  # the places as a lattice of boxes
        size, rank = self.comm.size, self.comm.rank
        n_mine = (int(np.prod(self.shape)) - rank + size - 1) // size
        # Volume of each box inside the organ: equal-weight quadrature on sub-simplices
        # of every owned element (about h_ref/8 across), summed by the box's keeper.
        edge = self.comm.allreduce(float(np.ptp(X, axis=1).max()) if n_own else 0.0, op=MPI.MAX)
        k = int(np.clip(np.ceil(8 * edge / h_ref), 2, 8 if self.dim == 2 else 4))
        pts, wts = _simplex_lattice(self.dim, k)
        vol = np.abs(
            np.linalg.det(np.stack([X[:, j + 1] - X[:, 0] for j in range(self.dim)], axis=1))
        )
        vol = vol / (2.0 if self.dim == 2 else 6.0)
        b_parts, w_parts = [], []
        for lo_e in range(0, n_own, 20000):  # in blocks, to bound memory
            Xb = X[lo_e : lo_e + 20000]
            x = np.einsum("qv,evd->eqd", pts, Xb).reshape(-1, self.dim)
            b, inv = np.unique(self.box(x), return_inverse=True)
            b_parts.append(b)
            w_parts.append(
                np.bincount(inv, (vol[lo_e : lo_e + 20000, None] * wts[None, :]).ravel(), len(b))
            )
        b = np.concatenate(b_parts) if b_parts else np.zeros(0, dtype=np.int64)
        w = np.concatenate(w_parts) if w_parts else np.zeros(0)
        got = exchange(self.comm, (b % size).astype(np.int32), {"b": b, "w": w})
        inside = np.bincount(got["b"] // size, got["w"], minlength=n_mine) / h_ref**self.dim
        inside = np.where(inside > 0.9, 1.0, inside)  # whole boxes (up to sampling): exactly Q
        self.capacity = np.round(Q * inside, 6)  # by b // size, on the keeper
        self.count = np.zeros(n_mine)

    def box(self, x: np.ndarray) -> np.ndarray:
        """Global box index of each point (element-wise, the same on every rank)."""
        return self.boxes.box(x)

    def census(self, boxes: np.ndarray) -> None:
        """Count the cells in each box, over all ranks (collective)."""
        size = self.comm.size
        b, c = np.unique(boxes, return_counts=True)
        got = exchange(self.comm, (b % size).astype(np.int32), {"b": b, "c": c.astype(np.float64)})
        self.count[:] = np.bincount(got["b"] // size, got["c"], minlength=len(self.count))

    def capacity_of(self, boxes: np.ndarray) -> np.ndarray:
        """Capacity of the given boxes, asked of their keepers (collective)."""
        size = self.comm.size
        return ask(
            self.comm,
            (boxes % size).astype(np.int32),
            {"b": boxes},
            lambda req: self.capacity[req["b"] // size],
        )

    def total_capacity(self) -> float:
        """Room summed over every box of the organ (collective)."""
        return self.comm.allreduce(float(self.capacity.sum()), op=MPI.SUM)

    def grant(
        self, boxes: np.ndarray, keys: np.ndarray, ids: np.ndarray, u: np.ndarray
    ) -> np.ndarray:
        """Which proposals to enter ``boxes`` get room, given the last census (collective).

        Per box, proposals are ranked by ``keys`` (then ids); the first floor(room) enter
        and the next with probability frac(room) (uniform ``u``), room = capacity - count.
        """
        size = self.comm.size

        def answer(req):
            p = req["box"] // size
            order = np.lexsort((req["id"], req["key"], p))
            ps = p[order]
            first = np.r_[True, ps[1:] != ps[:-1]]
            group_start = np.maximum.accumulate(np.where(first, np.arange(len(ps)), 0))
            rank = np.empty(len(ps), dtype=np.int64)
            rank[order] = np.arange(len(ps)) - group_start
            room = np.maximum(self.capacity[p] - self.count[p], 0.0)
            whole = np.floor(room)
            return (rank < whole) | ((rank == whole) & (req["u"] < room - whole))

        return ask(
            self.comm,
            (boxes % size).astype(np.int32),
            {"box": boxes, "key": keys, "id": ids, "u": u},
            answer,
        )


def _simplex_lattice(dim: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Equal-weight quadrature points (barycentric) of a simplex cut into k^dim parts:
    in 2D the centroids of its k^2 congruent sub-triangles (the composite midpoint rule);
    in 3D the centroids of the k^3 corner-type sub-tetrahedra of its lattice (an
    approximation, fine for the volume fraction of a box).
    """
    found: list[np.ndarray] = []
    for idx in np.ndindex(*(k,) * dim):
        lam = np.array(idx, dtype=float)
        if sum(idx) < k:
            found.append((lam + 1.0 / (dim + 1)) / k)
        if dim == 2 and sum(idx) <= k - 2:
            found.append((lam + 2.0 / 3.0) / k)
    pts = np.array(found)
    pts = np.column_stack([1.0 - pts.sum(axis=1), pts])
    return pts, np.full(len(pts), 1.0 / len(pts))
