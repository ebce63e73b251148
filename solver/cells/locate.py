"""Where cells are on the mesh: host elements, places (vertices), field gradients,
and the walk that follows a moving cell across elements, reflects it at the organ
boundary and hands it to the rank that owns its new element.

Vertices of every element are stored sorted by their input (mesh-file) index and all
arithmetic is element-wise in a fixed order, so a cell's path is bitwise the same
whichever rank computes it (docs/numerics.md, parity).
"""

from __future__ import annotations

import dolfinx.geometry
import numpy as np
from mpi4py import MPI

from solver.cells import rng
from solver.cells.exchange import exchange

BOUNDARY = -1  # facet on the organ's outer boundary: reflect
UNKNOWN = -2  # beyond this rank's ghost layer (never walked from: ghosts are handed over)
MAX_WALK = 200


class MeshWalker:
    """Per-element geometry of a P1 mesh, owned + ghost elements."""

    def __init__(self, V):
        mesh = V.mesh
        topo = mesh.topology
        d = topo.dim
        if mesh.geometry.dim != d:
            raise ValueError("cells need gdim == tdim meshes")
        self.dim = d
        self.comm = mesh.comm
        cmap = topo.index_map(d)
        self.n_owned = cmap.size_local
        n = cmap.size_local + cmap.num_ghosts
        self.cell_start = cmap.local_range[0]
        self.cell_global = np.arange(n, dtype=np.int64) + self.cell_start
        self.cell_global[self.n_owned :] = cmap.ghosts
        self.cell_owner = np.full(n, self.comm.rank, dtype=np.int32)
        self.cell_owner[self.n_owned :] = cmap.owners

        gdofs = mesh.geometry.dofmaps[0][:n]
        vdofs = V.dofmap.list[:n]
        inp = np.asarray(mesh.geometry.input_global_indices, dtype=np.int64)
        order = np.argsort(inp[gdofs], axis=1, kind="stable")
        self.nodes = np.take_along_axis(gdofs, order, axis=1)
        self.dofs = np.take_along_axis(vdofs, order, axis=1).astype(np.int32)
        self.X = mesh.geometry.x[self.nodes][:, :, :d].copy()  # (n, d+1, d)

        # Neighbours across the facet opposite each local vertex (reference order first).
        topo.create_connectivity(d, d - 1)
        topo.create_connectivity(d - 1, d)
        c2f = topo.connectivity(d, d - 1).array.reshape(-1, d + 1)[:n]
        f2c = topo.connectivity(d - 1, d)
        offs = f2c.offsets
        nlinks = np.diff(offs)[c2f]
        first = f2c.array[offs[c2f]]
        second = f2c.array[np.minimum(offs[c2f] + 1, len(f2c.array) - 1)]
        cells = np.arange(n)[:, None]
        nbr = np.where(first == cells, second, first)
        nbr = np.where(nlinks == 2, nbr, np.where(cells < self.n_owned, BOUNDARY, UNKNOWN))
        self.nbr = np.take_along_axis(nbr, order, axis=1).astype(np.int64)

        # lambda_{1..d} = Jinv (x - X0); gradients of the barycentric coordinates.
        J = np.stack([self.X[:, k + 1] - self.X[:, 0] for k in range(d)], axis=2)  # columns
        self.Jinv = _inverse(J)
        G = np.empty((n, d + 1, d))
        G[:, 1:, :] = self.Jinv
        G[:, 0, :] = -self.Jinv.sum(axis=1)
        self.grads = G
        # Planar (one contiguous array per entry) copies: gathers of 1D arrays by cell
        # index are several times faster than strided columns of gathered blocks.
        self._X0 = [np.ascontiguousarray(self.X[:, 0, j]) for j in range(d)]
        self._J = [[np.ascontiguousarray(self.Jinv[:, i, j]) for j in range(d)] for i in range(d)]
        self._G = [[np.ascontiguousarray(G[:, k, j]) for j in range(d)] for k in range(d + 1)]
        self._dofs = [np.ascontiguousarray(self.dofs[:, k]) for k in range(d + 1)]
        self._tree = None  # the owned elements' bounding-box tree (``owned_tree``)

    def owned_tree(self, mesh):
        """The bounding-box tree of the owned elements, built at the first call and kept
        (the mesh does not change under a walker): arrivals and released cells look up
        their elements in it every step.
        """
        if self._tree is None:
            entities = np.arange(self.n_owned, dtype=np.int32)
            self._tree = dolfinx.geometry.bb_tree(mesh, self.dim, entities=entities)
        return self._tree

    # -- evaluation -------------------------------------------------------------------
    def barycentric(self, cells: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Barycentric coordinates (n, d + 1) of points ``x`` in their local elements ``cells``."""
        d = self.dim
        r = [x[:, j] - self._X0[j][cells] for j in range(d)]
        lam = np.empty((len(cells), d + 1))
        for i in range(d):
            acc = self._J[i][0][cells] * r[0]
            for j in range(1, d):
                acc = acc + self._J[i][j][cells] * r[j]
            lam[:, i + 1] = acc
        rest = lam[:, 1]
        for i in range(2, d + 1):
            rest = rest + lam[:, i]
        lam[:, 0] = 1.0 - rest
        return lam

    def gradient(self, values: np.ndarray, cells: np.ndarray) -> np.ndarray:
        """Gradient of a P1 field (dof values, owned + ghost) in each given element."""
        d = self.dim
        g = np.empty((len(cells), d))
        f = [values[self._dofs[k][cells]] for k in range(d + 1)]
        for j in range(d):
            acc = f[0] * self._G[0][j][cells]
            for k in range(1, d + 1):
                acc = acc + f[k] * self._G[k][j][cells]
            g[:, j] = acc
        return g

    def place(self, cells: np.ndarray, x: np.ndarray) -> np.ndarray:
        """The vertex (P1 dof) a cell occupies: the nearest in barycentric terms."""
        lam = self.barycentric(cells, x)
        return self.dofs[cells, np.argmax(lam, axis=1)]

    # -- moving ---------------------------------------------------------------------
    def walk(self, x: np.ndarray, cells: np.ndarray, eps: float = 1e-12, overwrite: bool = False):
        """Follow points from start elements to the elements containing them.

        Reflects at boundary facets; stops in ghost elements (their owner continues).
        Returns (x, cells, lam, ok): the barycentric coordinates where settled in an
        owned element; ok is False where the walk did not settle. ``overwrite``: x may
        be moved in place (saves a copy per point; a step's memory peak is here).
        """
        x = x if overwrite else x.copy()
        cells = cells.copy()
        act = np.flatnonzero(cells < self.n_owned)
        lam_out = None
        for _ in range(MAX_WALK):
            if act.size == 0:
                break
            every = act.size == len(x)  # the first pass, usually: no gathered copies
            c = cells if every else cells[act]
            lam = self.barycentric(c, x if every else x[act])
            k = np.argmin(lam, axis=1)
            lmin = lam[np.arange(act.size), k]
            out = lmin < -eps
            if lam_out is None and every:
                lam_out = lam
            else:
                if lam_out is None:
                    lam_out = np.full((len(x), self.dim + 1), np.nan)
                lam_out[act[~out]] = lam[~out]
            act, c, k, lmin = act[out], c[out], k[out], lmin[out]
            nb = self.nbr[c, k]
            wall = nb == BOUNDARY
            if wall.any():  # mirror the point in the boundary facet's plane
                g = self.grads[c[wall], k[wall]]
                g2 = (g * g).sum(axis=1)
                x[act[wall]] -= (2.0 * lmin[wall] / g2)[:, None] * g
            step = nb >= 0
            cells[act[step]] = nb[step]
            act = act[step | wall]
            act = act[cells[act] < self.n_owned]  # entered a ghost: its owner goes on
        ok = np.ones(len(x), dtype=bool)
        ok[act] = False
        if lam_out is None:
            lam_out = np.full((len(x), self.dim + 1), np.nan)
        return x, cells, lam_out, ok

    def locate(
        self, x: np.ndarray, start: np.ndarray, payload: dict[str, np.ndarray], fallback: str = "_x"
    ):
        """Walk points to their host elements across ranks (collective).

        ``start`` are local element indices. Rows of ``payload`` travel with the points;
        ``fallback`` names the payload column a point goes back to if its walk does not
        settle (its start-of-step position; default: where it was asked to go; with
        another column, ``x`` is overwritten). Returns
        (x, local host element, place, payload) of the points that this rank now owns;
        place is the P1 dof each point occupies.
        """
        rows = dict(payload, _x=x, _c=start)
        done = []
        while True:
            # With a fallback column the points' x is the caller's to give up: walk in place.
            x, c, lam, ok = self.walk(rows["_x"], rows["_c"], overwrite=fallback != "_x")
            if not ok.all():  # rare (degenerate walk): walk back to the fallback position
                x[~ok] = rows[fallback][~ok]
                x, c, lam2, ok = self.walk(x, c)
                if not ok.all():
                    raise RuntimeError(f"{int((~ok).sum())} cells could not be located on the mesh")
                lam = np.where(np.isnan(lam), lam2, lam)
            rows["_x"], rows["_c"] = x, c
            leave = c >= self.n_owned
            n_leave = int(leave.sum())
            # What stays is kept as (rows, mask) and copied once, at the end; its place is
            # found now, so that the barycentric coordinates need not travel or be copied.
            done.append(
                (
                    dict(rows, _v=self.dofs[c, np.argmax(lam, axis=1)]),
                    None if n_leave == 0 else ~leave,
                )
            )
            if self.comm.allreduce(n_leave, op=MPI.SUM) == 0:
                break
            go = {k: v[leave] for k, v in rows.items()}
            go["_c"] = self.cell_global[go["_c"]]
            rows = exchange(self.comm, self.cell_owner[c[leave]], go)
            rows["_c"] = self.to_local(rows["_c"])
        if len(done) == 1 and done[0][1] is None:
            out = done[0][0]
        else:  # one pass per column: the kept rows taken straight into the output
            keep = [None if m is None else np.flatnonzero(m) for _, m in done]
            sizes = [len(d["_c"]) if i is None else len(i) for (d, _), i in zip(done, keep)]
            ends = np.cumsum(sizes)
            out = {}
            for k, first in done[0][0].items():
                col = np.empty((int(ends[-1]),) + first.shape[1:], dtype=first.dtype)
                for (d, _), i, a, b in zip(done, keep, ends - sizes, ends):
                    if i is None:
                        col[a:b] = d[k]
                    else:
                        np.take(d[k], i, axis=0, out=col[a:b])
                out[k] = col
        return out.pop("_x"), out.pop("_c"), out.pop("_v"), out

    def to_local(self, global_cells: np.ndarray) -> np.ndarray:
        """Local index of owned elements given their global index."""
        return (np.asarray(global_cells) - self.cell_start).astype(np.int64)


def claim(walker: MeshWalker, mesh, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For points known on every rank: 1 where this rank's owned element holds the point
    (the lowest such rank on ties), 0 where another rank's does, -1 where the point is
    outside the mesh; and the holding element (collective).
    """
    d, comm = walker.dim, walker.comm
    tree = walker.owned_tree(mesh)
    x3 = np.zeros((len(x), 3))
    x3[:, :d] = x
    hits = dolfinx.geometry.compute_colliding_cells(
        mesh, dolfinx.geometry.compute_collisions_points(tree, x3), x3
    )
    first = np.full(len(x), -1, dtype=np.int64)
    has = np.diff(hits.offsets) > 0
    first[has] = hits.array[hits.offsets[:-1][has]]
    mine = np.where(first >= 0, comm.rank, comm.size).astype(np.int32)
    winner = np.empty_like(mine)
    comm.Allreduce(mine, winner, op=MPI.MIN)
    return np.where(winner == comm.size, -1, (winner == comm.rank).astype(np.int64)), first


def near(
    walker: MeshWalker,
    mesh,
    centre: np.ndarray,
    seed: int,
    ids: np.ndarray,
    n: int,
    spread: float,
    purpose: int,
    again_purpose: int,
    tries: int,
) -> np.ndarray:
    """Points near ``centre`` (one row per id, known on every rank): the centre plus a normal
    jitter of ``spread`` (stream ``purpose``); one that falls outside the organ draws again
    (``again_purpose``, a stream per (step, attempt)), up to ``tries`` draws in all, then
    takes its centre. The draws are keyed by (seed, id, step): the same points on any rank
    count (collective).
    """
    x = centre + rng.normal(seed, ids, n, purpose, walker.dim) * spread
    for attempt in range(1, tries + 1):
        out = np.flatnonzero(claim(walker, mesh, x)[0] < 0)
        if len(out) == 0:
            break
        if attempt == tries:
            x[out] = centre[out]
        else:
            key = (tries + 1) * n + attempt
            x[out] = (
                centre[out] + rng.normal(seed, ids[out], key, again_purpose, walker.dim) * spread
            )
    return x


def _inverse(J: np.ndarray) -> np.ndarray:
    """Explicit inverse of stacked 2x2 / 3x3 matrices (same arithmetic on every rank)."""
    if J.shape[1] == 2:
        a, b, c, d = J[:, 0, 0], J[:, 0, 1], J[:, 1, 0], J[:, 1, 1]
        det = a * d - b * c
        inv = np.empty_like(J)
        inv[:, 0, 0], inv[:, 0, 1], inv[:, 1, 0], inv[:, 1, 1] = (
            d / det,
            -b / det,
            -c / det,
            a / det,
        )
        return inv
    cof = np.empty_like(J)
    for i in range(3):
        for j in range(3):
            r = [k for k in range(3) if k != i]
            s = [k for k in range(3) if k != j]
            minor = J[:, r[0], s[0]] * J[:, r[1], s[1]] - J[:, r[0], s[1]] * J[:, r[1], s[0]]
            cof[:, i, j] = minor if (i + j) % 2 == 0 else -minor
    det = J[:, 0, 0] * cof[:, 0, 0] + J[:, 0, 1] * cof[:, 0, 1] + J[:, 0, 2] * cof[:, 0, 2]
    return np.transpose(cof, (0, 2, 1)) / det[:, None, None]
