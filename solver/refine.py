"""Lesion-adaptive mesh refinement (docs/refinement.md): refine an organ mesh around
lesions to a target size with dolfinx's Plaza refinement, and carry fields, cell-wise
data, mesh tags and discrete cells over to the refined mesh.

Rank independence by construction: the mesh is gathered on rank 0 in the order of its
vertex keys, refined there serially (COMM_SELF), numbered by keys that depend only on
the mesh (never on the partition) and distributed again with the project's ghosted
partitioner. The same input mesh and lesions give the same refined mesh and keys on any
rank count, and the refined cells are spread over all ranks (keeping the parent
partition would leave a lesion's fine cells on the rank that held it).

Keys. A vertex's key is the mesh's input index (``geometry.input_global_indices``; the
Gmsh node order for a Gmsh organ), which is what checkpoints key their rows by
(solver/io/checkpoint.py). A refined mesh's old vertices keep their key; the vertices one
level creates get the next keys in the lexicographic order of the (sorted) key pair of
the edge each bisects. A cell's key is its input index (``topology.original_cell_index``):
refined cells are numbered in the lexicographic order of their sorted vertex keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import dolfinx.fem
import dolfinx.mesh
import numpy as np
import ufl
from mpi4py import MPI

from solver.cells.exchange import exchange
from solver.cells.locate import MeshWalker

ROOT = 0
GRADING = 5.0  # size grows by 1/GRADING per unit distance from a lesion, as solver/geometry.py
MAX_LEVELS = 10
# A new vertex is the midpoint of an edge of its parent cell to this share of the edge's
# length (Plaza bisects edges: the midpoint is computed, so it agrees to round-off).
MATCH_RTOL = 1e-9
# Cells larger than the target by this relative amount are refined (round-off in lengths).
SIZE_RTOL = 1e-12


@dataclass(frozen=True)
class Lesion:
    """A ball around which the mesh is refined: ``centre`` (d,) and ``radius``, in L."""

    centre: np.ndarray
    radius: float


def _domain(msh: dolfinx.mesh.Mesh) -> ufl.Mesh:
    # A new UFL domain per mesh (as dolfinx.mesh.refine does): forms tell meshes apart by it.
    return ufl.Mesh(msh.ufl_domain().ufl_coordinate_element())  # type: ignore[union-attr]


def _partitioner() -> Any:
    # Shared-facet ghosts, as solver/geometry.py: the cells' walk steps into ghosts.
    mode = dolfinx.mesh.GhostMode.shared_facet
    return dolfinx.mesh.create_cell_partitioner(mode, 2)  # type: ignore[call-arg]


def cell_sizes(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For cells' vertex coordinates ``X`` (n, d + 1, gdim): the longest edge, the
    centroid and the radius of the ball about the centroid that holds the cell.
    """
    k = X.shape[1]
    h = np.zeros(len(X))
    for i in range(k):
        for j in range(i + 1, k):
            h = np.maximum(h, np.linalg.norm(X[:, i] - X[:, j], axis=1))
    cen = X.mean(axis=1)
    rad = np.linalg.norm(X - cen[:, None, :], axis=2).max(axis=1)
    return h, cen, rad


def target_size(
    X: np.ndarray, lesions: list[Lesion], h_fine: float, margin: float, grading: float
) -> np.ndarray:
    """The size each cell (vertex coordinates ``X``) must not exceed: ``h_fine`` where the
    cell may reach within ``radius + margin`` of a lesion's centre, growing by
    ``1 / grading`` per unit of distance beyond (inf far from every lesion).
    """
    _, cen, rad = cell_sizes(X)
    target = np.full(len(X), np.inf)
    for les in lesions:
        c = np.asarray(les.centre, dtype=float)
        gap = np.linalg.norm(cen[:, : len(c)] - c, axis=1) - rad - (les.radius + margin)
        target = np.minimum(target, h_fine + np.maximum(gap, 0.0) / grading)
    return target


def _cells_x(msh: dolfinx.mesh.Mesh, n: int) -> np.ndarray:
    gdim = msh.geometry.dim
    return msh.geometry.x[msh.geometry.dofmaps[0][:n]][:, :, :gdim]


def node_keys(msh: dolfinx.mesh.Mesh) -> np.ndarray:
    """The key of each local geometry node (owned + ghost): its input index."""
    return np.asarray(msh.geometry.input_global_indices, dtype=np.int64)


def dof_keys(V: dolfinx.fem.FunctionSpace) -> np.ndarray:
    """The vertex key of each local P1 dof (owned + ghost)."""
    msh = V.mesh
    im = V.dofmap.index_map
    node = np.empty(im.size_local + im.num_ghosts, dtype=np.int64)
    node[V.dofmap.list.ravel()] = msh.geometry.dofmaps[0].ravel()  # P1 on a linear mesh
    return node_keys(msh)[node]


def _vertex_nodes(msh: dolfinx.mesh.Mesh) -> np.ndarray:
    """Geometry node of each topology vertex (linear mesh: same local order per cell)."""
    tdim = msh.topology.dim
    msh.topology.create_connectivity(tdim, 0)
    c2v = msh.topology.connectivity(tdim, 0).array.reshape(-1, tdim + 1)
    v2n = np.empty(c2v.max() + 1 if c2v.size else 0, dtype=np.int64)
    v2n[c2v.ravel()] = msh.geometry.dofmaps[0][: len(c2v)].ravel()
    return v2n


def _facet_keys(msh: dolfinx.mesh.Mesh, nkeys: np.ndarray) -> np.ndarray:
    """Sorted vertex keys (n_facets, tdim) of every local facet."""
    tdim = msh.topology.dim
    msh.topology.create_entities(tdim - 1)
    msh.topology.create_connectivity(tdim - 1, 0)
    f2v = msh.topology.connectivity(tdim - 1, 0).array.reshape(-1, tdim)
    return np.sort(nkeys[_vertex_nodes(msh)[f2v]], axis=1)


def _rows(a: np.ndarray) -> np.ndarray:
    """Rows of an int64 array as one sortable value each (for searchsorted)."""
    a = np.ascontiguousarray(a, dtype=np.int64)
    return a.view(np.dtype((np.void, a.dtype.itemsize * a.shape[1]))).ravel()


def _match(rows: np.ndarray, table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(which ``rows`` occur in ``table``, their positions in it); rows as in _rows."""
    if len(table) == 0 or len(rows) == 0:
        return np.zeros(len(rows), dtype=bool), np.zeros(0, dtype=np.int64)
    order = np.argsort(table)
    pos = np.minimum(np.searchsorted(table[order], rows), len(table) - 1)
    hit = table[order][pos] == rows
    return hit, order[pos[hit]]


def _to_root(comm: MPI.Comm, keys: np.ndarray, values: np.ndarray, n: int) -> np.ndarray | None:
    """A table of ``n`` rows on the root, row k the value given for key k (collective)."""
    parts = comm.gather((keys, values), root=ROOT)
    if parts is None:
        return None
    table = np.zeros((n,) + values.shape[1:], dtype=values.dtype)
    for k, v in parts:
        table[k] = v
    return table


def _from_root(comm: MPI.Comm, table: np.ndarray | None, wanted: np.ndarray) -> np.ndarray:
    """Rows ``wanted`` of the root's ``table`` on every rank (collective)."""
    parts = comm.gather(wanted, root=ROOT)
    answers = None if parts is None or table is None else [table[w] for w in parts]
    return comm.scatter(answers, root=ROOT)


@dataclass
class _Serial:
    """The root's serial mesh during refinement with its keys and parents."""

    msh: dolfinx.mesh.Mesh
    nkey: np.ndarray  # key of each geometry node
    origin: np.ndarray  # input-mesh cell key of each cell's ancestor
    facets: np.ndarray  # (m, tdim) sorted vertex keys of tagged facets
    facet_values: np.ndarray  # (m,)


@dataclass
class Refinement:
    """A refined mesh with what moves data onto it. Built by ``refine_around``.

    ``parent_cell``: for each local (owned + ghost) cell of ``mesh``, the key (input
    index) of the cell of ``parent`` it lies in. ``pairs`` (the key pair of the edge each
    new vertex bisects, in key order from ``n_parent_keys``) and ``level_starts`` are on
    rank 0, as are the tables behind the transfers (empty elsewhere).
    """

    parent: dolfinx.mesh.Mesh
    mesh: dolfinx.mesh.Mesh
    parent_cell: np.ndarray
    levels: int
    reached: bool
    cell_tags: dolfinx.mesh.MeshTags | None = None
    facet_tags: dolfinx.mesh.MeshTags | None = None
    n_parent_keys: int = 0  # vertex keys below this are the parent mesh's
    pairs: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.int64))
    level_starts: list[int] = field(default_factory=list)  # first new key of each level
    _cell_parent: np.ndarray | None = None  # root: parent cell key per new cell key
    _start: np.ndarray | None = None  # root: (owner, local) of a child, per parent key

    @property
    def comm(self) -> MPI.Comm:
        """The refined mesh's communicator."""
        return self.mesh.comm

    def transfer(
        self, functions: list[dolfinx.fem.Function], V: dolfinx.fem.FunctionSpace
    ) -> list[dolfinx.fem.Function]:
        """P1 functions on the parent mesh as P1 functions on the refined one (collective).

        Exact: a P1 function is linear on each parent cell, hence on each child, and its
        value at a new vertex is the mean of its values at the ends of the edge bisected;
        so the function, and every integral of it, is unchanged up to round-off.
        """
        if not functions:
            return []
        comm, V0 = self.comm, functions[0].function_space
        for f in functions:
            space = f.function_space
            if (
                space.mesh is not self.parent
                or space.dofmap.bs != 1
                or space.element.space_dimension != self.parent.topology.dim + 1
            ):
                raise ValueError(
                    f"transfer: {f.name!r} is not a scalar P1 function on the parent mesh"
                )
        n_own = V0.dofmap.index_map.size_local
        keys = dof_keys(V0)[:n_own]
        vals = np.stack([f.x.array[:n_own] for f in functions], axis=1)
        table = _to_root(comm, keys, vals, self.n_parent_keys)
        full = None
        if table is not None:
            full = np.zeros((self.n_parent_keys + len(self.pairs), vals.shape[1]))
            full[: self.n_parent_keys] = table
            ends = self.level_starts[1:] + [self.n_parent_keys + len(self.pairs)]
            for a, b in zip(self.level_starts, ends):  # parents come from earlier levels
                p = self.pairs[a - self.n_parent_keys : b - self.n_parent_keys]
                full[a:b] = 0.5 * (full[p[:, 0]] + full[p[:, 1]])
        got = _from_root(comm, full, dof_keys(V))
        out = []
        for j in range(len(functions)):
            u = dolfinx.fem.Function(V, name=functions[j].name)
            u.x.array[:] = got[:, j]
            out.append(u)
        return out

    def transfer_cellwise(self, values: np.ndarray) -> np.ndarray:
        """Cell-wise values (one row per owned cell of the parent mesh, or more) onto
        every local cell of the refined mesh: each child takes its parent's value
        (collective). Right for densities (DG0): their integrals are conserved, since the
        children fill their parent; an extensive per-cell quantity must be split by the
        caller.
        """
        n_own = self.parent.topology.index_map(self.parent.topology.dim).size_local
        if len(values) < n_own:
            raise ValueError(f"transfer_cellwise: {len(values)} values for {n_own} owned cells")
        values = np.asarray(values)[:n_own]
        keys = np.asarray(self.parent.topology.original_cell_index[:n_own], dtype=np.int64)
        n_cells = int(self.comm.allreduce(int(keys.max()) + 1 if len(keys) else 0, op=MPI.MAX))
        table = _to_root(self.comm, keys, values, n_cells)
        child = None if table is None else table[self._cell_parent]
        tdim = self.mesh.topology.dim
        n_loc = self.mesh.topology.index_map(tdim).size_local
        n_loc += self.mesh.topology.index_map(tdim).num_ghosts
        wanted = np.asarray(self.mesh.topology.original_cell_index[:n_loc], dtype=np.int64)
        return _from_root(self.comm, child, wanted)

    def relocate(
        self, walker: MeshWalker, x: np.ndarray, host: np.ndarray, payload: dict[str, np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """Points at ``x`` held in local cells ``host`` of the parent mesh, found in the
        refined mesh (collective): each goes to the rank of one child of its host and walks
        from there (solver/cells/locate.py) to the child that holds it. ``walker`` is the
        refined mesh's; returns what ``MeshWalker.locate`` returns.
        """
        keys = np.asarray(self.parent.topology.original_cell_index, dtype=np.int64)[host]
        start = _from_root(self.comm, self._start, keys).reshape(-1, 2)
        rows = exchange(
            self.comm,
            start[:, 0].astype(np.int32),
            dict(payload, _x=np.asarray(x, dtype=float), _c=start[:, 1]),
        )
        return walker.locate(rows.pop("_x"), rows.pop("_c"), rows)


def _gather_mesh(
    msh: dolfinx.mesh.Mesh, facet_tags: dolfinx.mesh.MeshTags | None
) -> tuple[Any, ...] | None:
    """The distributed mesh on the root: node keys, their coordinates, cells as keys,
    cell keys, tagged facets (sorted keys, values). None on other ranks.
    """
    tdim, gdim = msh.topology.dim, msh.geometry.dim
    n_own = msh.topology.index_map(tdim).size_local
    nk = node_keys(msh)
    cells = nk[msh.geometry.dofmaps[0][:n_own]]
    ckeys = np.asarray(msh.topology.original_cell_index[:n_own], dtype=np.int64)
    fk = np.zeros((0, tdim), dtype=np.int64)
    fv = np.zeros(0, dtype=np.int32)
    if facet_tags is not None:
        fk = _facet_keys(msh, nk)[facet_tags.indices]
        fv = facet_tags.values.astype(np.int32)
    parts = msh.comm.gather((nk, msh.geometry.x[:, :gdim], cells, ckeys, fk, fv), root=ROOT)
    if parts is None:
        return None
    keys, first = np.unique(np.concatenate([p[0] for p in parts]), return_index=True)
    x = np.concatenate([p[1] for p in parts])[first]
    cells = np.concatenate([p[2] for p in parts])
    ckeys = np.concatenate([p[3] for p in parts])
    order = np.argsort(ckeys)
    fk = np.concatenate([p[4] for p in parts])
    fv = np.concatenate([p[5] for p in parts])
    fk, fi = np.unique(fk, axis=0, return_index=True)
    return keys, x, cells[order], ckeys[order], fk, fv[fi]


def _serial(domain: Any, keys, x, cells, ckeys, fk, fv) -> _Serial:
    """The gathered mesh as a serial dolfinx mesh (on the root)."""
    rows = np.searchsorted(keys, cells)  # keys are sorted and unique
    msh = dolfinx.mesh.create_mesh(MPI.COMM_SELF, rows, domain, x)
    nkey = keys[np.asarray(msh.geometry.input_global_indices, dtype=np.int64)]
    origin = ckeys[np.asarray(msh.topology.original_cell_index, dtype=np.int64)]
    return _Serial(msh, nkey, origin, fk, fv)


def _too_long(s: _Serial, lesions: list[Lesion], h_fine, margin, grading) -> np.ndarray:
    """Edges of the serial mesh longer than the smallest target of the cells around them."""
    msh, tdim = s.msh, s.msh.topology.dim
    n = msh.topology.index_map(tdim).size_local
    target = target_size(_cells_x(msh, n), lesions, h_fine, margin, grading)
    msh.topology.create_entities(1)
    msh.topology.create_connectivity(tdim, 1)
    msh.topology.create_connectivity(1, 0)
    c2e = msh.topology.connectivity(tdim, 1).array.reshape(n, -1)
    e2v = msh.topology.connectivity(1, 0).array.reshape(-1, 2)
    edge_target = np.full(len(e2v), np.inf)
    np.minimum.at(edge_target, c2e.ravel(), np.repeat(target, c2e.shape[1]))
    x = msh.geometry.x[_vertex_nodes(msh)[e2v]]
    length = np.linalg.norm(x[:, 1] - x[:, 0], axis=1)
    return np.flatnonzero(length > edge_target * (1 + SIZE_RTOL)).astype(np.int32)


def _level(s: _Serial, edges: np.ndarray, next_key: int) -> tuple[_Serial, np.ndarray]:
    """One Plaza refinement of the serial mesh that bisects ``edges`` (and the closure);
    returns the refined mesh and the key pairs of its new vertices (in key order, from
    next_key).
    """
    msh, tdim = s.msh, s.msh.topology.dim
    r, pc, _ = dolfinx.mesh.refine(
        msh, edges, partitioner=None, option=dolfinx.mesh.RefinementOption.parent_cell
    )
    # dolfinx indexes the parent map by the refined cells' input order.
    parent = np.asarray(pc, dtype=np.int64)[np.asarray(r.topology.original_cell_index)]
    rdm = r.geometry.dofmaps[0]
    nodes, first = np.unique(rdm.ravel(), return_index=True)
    cell, corner = np.divmod(first, tdim + 1)
    pnodes = msh.geometry.dofmaps[0][parent[cell]]  # (n, d + 1) parent cell's nodes
    ii, jj = np.triu_indices(tdim + 1, 1)
    cand_a = np.concatenate([pnodes, pnodes[:, ii]], axis=1)  # vertices, then edges (a, b)
    cand_b = np.concatenate([pnodes, pnodes[:, jj]], axis=1)
    px = msh.geometry.x
    mid = 0.5 * (px[cand_a] + px[cand_b])
    xr = r.geometry.x[rdm[cell, corner]]
    dist = np.linalg.norm(mid - xr[:, None, :], axis=2)
    k = np.argmin(dist, axis=1)
    at = np.arange(len(k))
    length = np.linalg.norm(px[cand_a[at, k]] - px[cand_b[at, k]], axis=1)
    scale = np.linalg.norm(px[pnodes[:, 1]] - px[pnodes[:, 0]], axis=1)
    if np.any(dist[at, k] > MATCH_RTOL * np.maximum(length, scale)):
        raise RuntimeError("refinement: a new vertex is not the midpoint of a parent edge")
    ka = s.nkey[cand_a[at, k]]
    kb = s.nkey[cand_b[at, k]]
    new = k > tdim
    lo, hi = np.minimum(ka, kb), np.maximum(ka, kb)
    nkey = np.empty(r.geometry.x.shape[0], dtype=np.int64)
    nkey[nodes[~new]] = ka[~new]
    order = np.lexsort((hi[new], lo[new]))
    nkey[nodes[new][order]] = next_key + np.arange(int(new.sum()))
    pairs = np.stack([lo[new][order], hi[new][order]], axis=1)
    facets, fvals = s.facets, s.facet_values
    if len(facets):
        facets, fvals = _refined_facets(r, nkey, next_key, pairs, facets, fvals)
    return _Serial(r, nkey, s.origin[parent], facets, fvals), pairs


def _refined_facets(r, nkey, next_key, pairs, facets, fvals) -> tuple[np.ndarray, np.ndarray]:
    """Tagged facets of the refined mesh: a child facet lies in the parent facet whose
    vertices are exactly its support (its old vertices and the ends of the edges its new
    vertices bisect), and takes that facet's tag.
    """
    fk = _facet_keys(r, nkey)
    new = fk >= next_key
    a = np.where(new, pairs[np.where(new, fk - next_key, 0), 0], fk)
    b = np.where(new, pairs[np.where(new, fk - next_key, 0), 1], fk)
    sup = np.sort(np.concatenate([a, b], axis=1), axis=1)
    distinct = np.concatenate([np.ones((len(sup), 1), bool), np.diff(sup, axis=1) > 0], axis=1)
    d = fk.shape[1]
    ok = distinct.sum(axis=1) == d
    support = sup[ok][distinct[ok]].reshape(-1, d)
    hit, pos = _match(_rows(support), _rows(facets))
    return fk[ok][hit], fvals[pos]


def refine_around(
    msh: dolfinx.mesh.Mesh,
    lesions: list[Lesion],
    h_fine: float,
    *,
    margin: float = 0.0,
    grading: float = GRADING,
    max_levels: int = MAX_LEVELS,
    cell_tags: dolfinx.mesh.MeshTags | None = None,
    facet_tags: dolfinx.mesh.MeshTags | None = None,
) -> Refinement:
    """Refine ``msh`` until no cell is longer (longest edge) than the target size of
    ``target_size`` around ``lesions``, at most ``max_levels`` times (collective).

    Each level bisects every edge longer than the smallest target of the cells around
    it (Plaza, with the closure that keeps the mesh conforming). ``reached`` says whether
    the target was met within the bound. Cell tags move by the parent map, facet tags to
    the child facets that lie in a tagged facet. The result is the same on any rank count.
    """
    if h_fine <= 0 or grading <= 0 or margin < 0 or max_levels < 0:
        raise ValueError("refine_around: h_fine and grading must be > 0, margin and levels >= 0")
    comm = msh.comm
    tdim = msh.topology.dim
    for les in lesions:
        if np.shape(les.centre) != (msh.geometry.dim,) or not les.radius >= 0:
            raise ValueError(
                f"refine_around: a lesion needs a centre of {msh.geometry.dim} "
                f"coordinates and a radius >= 0, not {les}"
            )
    got = _gather_mesh(msh, facet_tags)
    levels, reached, pairs, starts = 0, False, [], []
    n_parent = 0
    out: tuple[Any, ...] = ()
    if got is not None:
        keys = got[0]
        n_parent = int(keys[-1]) + 1
        s = _serial(_domain(msh), *got)
        next_key = n_parent
        while True:
            marked = _too_long(s, lesions, h_fine, margin, grading)
            if len(marked) == 0:
                reached = True
                break
            if levels == max_levels:
                break
            s, p = _level(s, marked, next_key)
            starts.append(next_key)
            pairs.append(p)
            next_key += len(p)
            levels += 1
        out = _layout(s, next_key)
    levels, reached, n_parent = comm.bcast((levels, reached, n_parent), root=ROOT)
    gdim = msh.geometry.dim
    cells = out[0] if out else np.zeros((0, tdim + 1), dtype=np.int64)
    x = out[1] if out else np.zeros((0, gdim))
    new = dolfinx.mesh.create_mesh(comm, cells, _domain(msh), x, _partitioner())
    n_loc = new.topology.index_map(tdim).size_local + new.topology.index_map(tdim).num_ghosts
    n_own = new.topology.index_map(tdim).size_local
    ckeys = np.asarray(new.topology.original_cell_index, dtype=np.int64)
    cell_parent = out[2] if out else None
    ref = Refinement(
        parent=msh,
        mesh=new,
        parent_cell=_from_root(comm, cell_parent, ckeys[:n_loc]),
        levels=levels,
        reached=reached,
        n_parent_keys=n_parent,
        pairs=np.concatenate(pairs) if pairs else np.zeros((0, 2), dtype=np.int64),
        level_starts=starts,
        _cell_parent=cell_parent,
    )
    # Where each parent cell's first child lives, for relocating points.
    placed = comm.gather((ckeys[:n_own], comm.rank), root=ROOT)
    if placed is not None and cell_parent is not None:
        where = np.zeros((len(cell_parent), 2), dtype=np.int64)
        for k, rank in placed:
            where[k, 0], where[k, 1] = rank, np.arange(len(k))
        parents, first = np.unique(cell_parent, return_index=True)
        start = np.full((int(parents[-1]) + 1, 2), -1, dtype=np.int64)
        start[parents] = where[first]
        ref._start = start
    if cell_tags is not None:
        vals = np.full(msh.topology.index_map(tdim).size_local, -1, dtype=np.int32)
        own = cell_tags.indices < len(vals)
        vals[cell_tags.indices[own]] = cell_tags.values[own]
        child = ref.transfer_cellwise(vals)
        idx = np.flatnonzero(child >= 0).astype(np.int32)
        ref.cell_tags = dolfinx.mesh.meshtags(new, tdim, idx, child[idx].astype(np.int32))
    if facet_tags is not None:
        table = comm.bcast(out[3:5] if out else None, root=ROOT)
        fk = _facet_keys(new, node_keys(new))
        hit, pos = _match(_rows(fk), _rows(table[0]))
        idx = np.flatnonzero(hit).astype(np.int32)
        ref.facet_tags = dolfinx.mesh.meshtags(new, tdim - 1, idx, table[1][pos].astype(np.int32))
    return ref


def _layout(s: _Serial, n_keys: int) -> tuple[np.ndarray, ...]:
    """The refined mesh in key order: cells as sorted vertex keys in lexicographic order
    (a cell's key is its row), coordinates by vertex key, each cell's parent key, tagged
    facets.
    """
    msh, tdim = s.msh, s.msh.topology.dim
    n = msh.topology.index_map(tdim).size_local
    cells = np.sort(s.nkey[msh.geometry.dofmaps[0][:n]], axis=1)
    order = np.lexsort(cells.T[::-1])
    x = np.zeros((n_keys, msh.geometry.dim))
    x[s.nkey] = msh.geometry.x[:, : msh.geometry.dim]
    return cells[order], x, s.origin[order], s.facets, s.facet_values
