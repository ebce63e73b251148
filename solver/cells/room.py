"""Places and their room (docs/model.md sections 0 and 3).

A place is a box of a lattice of spacing h_ref laid over the organ (Franssen's grid:
one box per grid node), not an element or vertex of the finite-element mesh, so that
crowding does not change with the mesh (graded meshes included). A box's capacity is
Q times the fraction of it inside the organ; boxes cut by the boundary get fractional
room, which is granted with the matching probability.

Boxes are shared by all ranks: box b is kept by rank b % size, which holds its capacity
and the census of cells in it, and decides contested room with the hash rule. Only the
boxes asked for are held (an organ of 1 cm at h_ref = 10 um has 10^9 boxes): a box's
capacity is computed the first time it is asked (cells.box_volume, the parts summed on
its keeper) and kept; the census keeps the occupied boxes only (docs/numerics.md "The
places at organ size"). The capacities are those of the dense lattice that came before
on meshes no coarser than h_ref (tests/data/room_reference.npz), and right on coarser ones.
"""

from __future__ import annotations

import numpy as np
from mpi4py import MPI

from solver.cells.box_volume import BoxVolume
from solver.cells.exchange import ask, exchange
from solver.lesions import Boxes

# Sub-divisions per element edge of the dense rule (at most), and sample points per
# axis of a box met by a coarser element: the same budget of points per box (illustrative).
_CAP = {2: 8, 3: 4}


class Lattice:
    """The places of an organ: boxes of side h_ref, their capacity and census, each kept
    by rank b % size, and the rule that grants contested room.

    Attributes:
        boxes: The lattice (origin, h, shape).
        known: Boxes whose capacity this rank keeps (sorted), with ``capacity``.
        occupied: Boxes with cells at the last census kept here (sorted), with ``count``.
    """

    def __init__(self, walker, h_ref: float, Q: float):
        """``walker``: the organ's MeshWalker (element geometry); ``Q``: cells per box."""
        self.comm = walker.comm
        self.dim = walker.dim
        self.h = h_ref
        self.Q = Q
        n_own = walker.n_owned
        X = walker.X[:n_own]
        lo = X.min(axis=(0, 1)) if n_own else np.full(self.dim, np.inf)
        hi = X.max(axis=(0, 1)) if n_own else np.full(self.dim, -np.inf)
        self.origin, top = np.empty(self.dim), np.empty(self.dim)
        self.comm.Allreduce(lo, self.origin, op=MPI.MIN)
        self.comm.Allreduce(hi, top, op=MPI.MAX)
        self.shape = np.maximum(np.ceil((top - self.origin) / h_ref - 1e-9).astype(np.int64), 1)
        self.boxes = Boxes(self.origin, h_ref, self.shape)  # the places as a lattice of boxes
        # The dense lattice's k (sub-divisions per edge, from the largest element).
        cap = _CAP[self.dim]
        edge = self.comm.allreduce(float(np.ptp(X, axis=1).max()) if n_own else 0.0, op=MPI.MAX)
        k = int(np.clip(np.ceil(8 * edge / h_ref), 2, cap))
        self.volume = BoxVolume(X, self.boxes, k, cap, cap)
        self.organ_volume = self.comm.allreduce(float(self.volume.vol.sum()), op=MPI.SUM)
        self.known = np.zeros(0, dtype=np.int64)
        self.asked = np.zeros(0, dtype=np.int64)  # boxes this rank has asked for (sorted)
        self.capacity = np.zeros(0)
        self.occupied = np.zeros(0, dtype=np.int64)
        self.count = np.zeros(0)

    def box(self, x: np.ndarray) -> np.ndarray:
        """Global box index of each point (element-wise, the same on every rank)."""
        return self.boxes.box(x)

    def _ensure(self, boxes: np.ndarray) -> None:
        """Make the keepers of ``boxes`` hold their capacity (collective): the boxes not
        yet known are computed by every rank from its elements, the parts summed by the
        keeper in sorted order (so the same on any number of ranks).
        """
        size = self.comm.size
        # Boxes this rank asked before are known to their keepers: most calls ask nothing new,
        # and one reduction then spares the exchange and the gather.
        b = np.unique(boxes[~_member(boxes, self.asked)])
        if not self.comm.allreduce(len(b) > 0, op=MPI.LOR):
            return
        self.asked = np.union1d(self.asked, b)
        mine = np.unique(exchange(self.comm, (b % size).astype(np.int32), {"b": b})["b"])
        new = mine[~_member(mine, self.known)]
        every = np.concatenate(self.comm.allgather(new))
        if len(every) == 0:
            return
        pb, pv = self.volume.inside(every)
        got = exchange(self.comm, (pb % size).astype(np.int32), {"b": pb, "v": pv})
        order = np.lexsort((got["v"], got["b"]))
        where = np.searchsorted(new, got["b"][order])
        inside = np.bincount(where, got["v"][order], minlength=len(new)) / self.h**self.dim
        inside = np.where(inside > 0.9, 1.0, inside)  # whole boxes (up to sampling): exactly Q
        known = np.concatenate([self.known, new])
        order = np.argsort(known, kind="stable")
        self.known = known[order]
        self.capacity = np.concatenate([self.capacity, np.round(self.Q * inside, 6)])[order]

    def _room(self, p: np.ndarray) -> np.ndarray:
        """Capacity minus census of boxes ``p`` kept here (their capacity known)."""
        cap = self.capacity[np.searchsorted(self.known, p)]
        at = np.minimum(np.searchsorted(self.occupied, p), max(len(self.occupied) - 1, 0))
        held = self.occupied[at] == p if len(self.occupied) else np.zeros(len(p), dtype=bool)
        return cap - np.where(held, self.count[at] if len(self.count) else 0.0, 0.0)

    def census(self, boxes: np.ndarray) -> None:
        """Count the cells in each box, over all ranks (collective)."""
        size = self.comm.size
        b, c = np.unique(boxes, return_counts=True)
        got = exchange(self.comm, (b % size).astype(np.int32), {"b": b, "c": c.astype(np.float64)})
        self.occupied, inv = np.unique(got["b"], return_inverse=True)
        self.count = np.bincount(inv.ravel(), got["c"], minlength=len(self.occupied))

    def capacity_of(self, boxes: np.ndarray) -> np.ndarray:
        """Capacity of the given boxes, asked of their keepers (collective)."""
        size = self.comm.size
        self._ensure(boxes)
        return ask(
            self.comm,
            (boxes % size).astype(np.int32),
            {"b": boxes},
            lambda req: self.capacity[np.searchsorted(self.known, req["b"])],
        )

    def total_capacity(self) -> float:
        """Room of the whole organ: Q times its volume in boxes (collective). The mesh's
        volume, not the sum over the boxes (which would need them all); the two differ
        by the rounding of boxes more than 0.9 inside up to Q.
        """
        return self.Q * self.organ_volume / self.h**self.dim

    def stored(self) -> int:
        """Boxes held on this rank (capacities known, boxes asked for, boxes counted)."""
        return len(self.known) + len(self.asked) + len(self.occupied)

    def grant(
        self,
        boxes: np.ndarray,
        keys: np.ndarray,
        ids: np.ndarray,
        u: np.ndarray,
        occupied: np.ndarray | None = None,
    ) -> np.ndarray:
        """Which proposals to enter ``boxes`` get room, given the last census (collective).

        Per box, proposals are ranked by ``keys`` (then ids); the first floor(room) enter
        and the next with probability frac(room) (uniform ``u``), room = capacity - count.
        ``occupied`` (per proposal; hybrid cells): the density's cells already in the
        proposal's box as the proposer sees it; the box's room is reduced by the largest
        value its proposals bring, which does not depend on their order or rank.
        """
        size = self.comm.size
        self._ensure(boxes)

        def answer(req):
            p = req["box"]
            order = np.lexsort((req["id"], req["key"], p))
            ps = p[order]
            first = np.r_[True, ps[1:] != ps[:-1]]
            group_start = np.maximum.accumulate(np.where(first, np.arange(len(ps)), 0))
            rank = np.empty(len(ps), dtype=np.int64)
            rank[order] = np.arange(len(ps)) - group_start
            room = self._room(p)
            if "occupied" in req:
                room = room - _box_max(req["box"], req["occupied"])
            room = np.maximum(room, 0.0)
            whole = np.floor(room)
            return (rank < whole) | ((rank == whole) & (req["u"] < room - whole))

        asked = {"box": boxes, "key": keys, "id": ids, "u": u}
        if occupied is not None:
            asked["occupied"] = np.asarray(occupied, dtype=float)
        return ask(self.comm, (boxes % size).astype(np.int32), asked, answer)


def _box_max(boxes: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per entry, the largest of ``values`` over the entries of the same box."""
    if len(boxes) == 0:
        return np.zeros(0)
    b, inv = np.unique(boxes, return_inverse=True)
    top = np.full(len(b), -np.inf)
    np.maximum.at(top, inv, values)
    return top[inv]


def _member(a: np.ndarray, sorted_b: np.ndarray) -> np.ndarray:
    """Which entries of ``a`` are in the sorted array ``sorted_b``."""
    if len(sorted_b) == 0:
        return np.zeros(len(a), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_b, a), len(sorted_b) - 1)
    return sorted_b[at] == a
