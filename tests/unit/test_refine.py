"""Lesion-adaptive refinement (solver/refine.py): h_fine reached near a lesion and the far
mesh untouched, the same refined mesh and vertex keys on any rank count, exact P1 transfer
(integrals conserved), cell-wise data by the parent map, tags, cells relocated."""

import dolfinx.fem
import dolfinx.mesh as dm
import numpy as np
import pytest
from mpi4py import MPI

from solver.cells.locate import MeshWalker
from solver.refine import Lesion, dof_keys, node_keys, refine_around

COMM = MPI.COMM_WORLD
GHOST = dm.GhostMode.shared_facet
DECIMALS = 12  # coordinates compared as tuples rounded here (they are computed on one rank)


def _box(comm, dim):
    if dim == 2:
        return dm.create_unit_square(comm, 8, 8, ghost_mode=GHOST)
    return dm.create_unit_cube(comm, 6, 6, 6, ghost_mode=GHOST)


def _lesion(dim):
    return Lesion(np.full(dim, 0.3), 0.12)


def _refine(comm, dim, **kw):
    msh = _box(comm, dim)
    return msh, refine_around(msh, [_lesion(dim)], 0.08, grading=0.5, **kw)


def _cells(msh, owned=True):
    tdim = msh.topology.dim
    n = msh.topology.index_map(tdim).size_local
    if not owned:
        n += msh.topology.index_map(tdim).num_ghosts
    return msh.geometry.x[msh.geometry.dofmaps[0][:n]][:, :, :tdim]


def _cell_set(msh):
    """Every cell of the mesh (all ranks) as a sorted tuple of rounded vertex tuples."""
    return set().union(*msh.comm.allgather(_as_set(_cells(msh))))


def _as_set(X):
    """Cells' vertex coordinates (n, d + 1, d) as a set of sorted rounded tuples."""
    return {tuple(sorted(map(tuple, c))) for c in np.round(X, DECIMALS).tolist()}


def _longest(X):
    k = X.shape[1]
    return np.max(
        [np.linalg.norm(X[:, i] - X[:, j], axis=1) for i in range(k) for j in range(i + 1, k)],
        axis=0,
    )


def _volumes(msh):
    """Volume of each owned cell."""
    X = _cells(msh)
    d = X.shape[2]
    return np.abs(np.linalg.det(X[:, 1:] - X[:, :1])) / (2.0 if d == 2 else 6.0)


def _integrals(u):
    """Integrals of a P1 function over the mesh (all ranks): of u, u² and |grad u|², cell by
    cell in closed form (numpy: no form to compile). For P1 the lumped sum of m_i u_i is
    the integral of u (the hat functions sum to one)."""
    msh = u.function_space.mesh
    d = msh.topology.dim
    n = msh.topology.index_map(d).size_local
    X, vol = _cells(msh), _volumes(msh)
    U = u.x.array[u.function_space.dofmap.list[:n]]  # P1 dofs in the geometry's local order
    grad = np.linalg.solve(X[:, 1:] - X[:, :1], (U[:, 1:] - U[:, :1])[..., None])[..., 0]
    parts = [
        vol * U.mean(axis=1),
        vol * ((U**2).sum(axis=1) + U.sum(axis=1) ** 2) / ((d + 1) * (d + 2)),
        vol * (grad**2).sum(axis=1),
    ]
    return [msh.comm.allreduce(float(p.sum())) for p in parts]


@pytest.mark.parallel
@pytest.mark.parametrize("dim", [2, 3])
def test_fine_near_the_lesion_and_far_mesh_untouched(dim):
    msh, ref = _refine(COMM, dim)
    assert ref.reached and ref.levels >= 2
    les = _lesion(dim)
    X = _cells(ref.mesh)
    near = (np.linalg.norm(X - les.centre, axis=2) <= les.radius).any(axis=1)
    near |= np.linalg.norm(X.mean(axis=1) - les.centre, axis=1) <= les.radius
    assert COMM.allreduce(int(near.sum())) > 0
    assert COMM.allreduce(float(_longest(X[near]).max(initial=0.0)), op=MPI.MAX) <= 0.08
    # The target reaches the coarse size 2 (h0 - h_fine) * 0.5 beyond the lesion; beyond a
    # further two coarse cells the closure has stopped: those cells are the coarse ones.
    X0 = _cells(msh)
    h0 = COMM.allreduce(float(_longest(X0).max()), op=MPI.MAX)
    far_r = les.radius + 0.5 * (h0 - 0.08) + 2 * h0
    far = (np.linalg.norm(X0 - les.centre, axis=2) > far_r).all(axis=1)
    far_set = set().union(*COMM.allgather(_as_set(X0[far])))
    assert len(far_set) > 10
    assert far_set <= _cell_set(ref.mesh)
    # Volume is the organ's, and the refined mesh is larger.
    assert COMM.allreduce(float(_volumes(ref.mesh).sum())) == pytest.approx(1.0, rel=1e-12)
    n0 = msh.topology.index_map(dim).size_global
    assert ref.mesh.topology.index_map(dim).size_global > n0


@pytest.mark.parallel
@pytest.mark.parametrize("dim", [2, 3])
def test_same_mesh_and_keys_on_any_rank_count(dim):
    """Refined on COMM_WORLD (2 ranks under mpirun) and on each rank alone: the same cells,
    the same vertex keys at the same coordinates, the same cell keys and parents."""
    _, par = _refine(COMM, dim)
    _, ser = _refine(MPI.COMM_SELF, dim)
    assert _cell_set(par.mesh) == _cell_set(ser.mesh)

    def by_key(ref):
        m = ref.mesh
        tdim = m.topology.dim
        n = m.topology.index_map(tdim).size_local
        keys = node_keys(m)
        vx = dict(zip(keys.tolist(), map(tuple, m.geometry.x[:, :tdim].tolist())))
        ck = np.asarray(m.topology.original_cell_index[:n])
        cells = np.sort(keys[m.geometry.dofmaps[0][:n]], axis=1)
        cx = dict(zip(ck.tolist(), zip(map(tuple, cells.tolist()), ref.parent_cell[:n].tolist())))
        out_v, out_c = {}, {}
        for a, b in m.comm.allgather((vx, cx)):
            out_v.update(a)
            out_c.update(b)
        return out_v, out_c

    pv, pc = by_key(par)
    sv, sc = by_key(ser)
    assert pv == sv and pc == sc
    n_vertices = ser.mesh.geometry.index_map().size_global
    assert sorted(sv) == list(range(n_vertices))  # unique and contiguous
    assert sorted(sc) == list(range(ser.mesh.topology.index_map(dim).size_global))


@pytest.mark.parallel
def test_new_vertex_keys_bisect_their_pair():
    _, ref = _refine(COMM, 3)
    vx = {}
    for part in COMM.allgather(dict(zip(node_keys(ref.mesh).tolist(), ref.mesh.geometry.x))):
        vx.update(part)
    pairs = COMM.bcast(ref.pairs, root=0)
    assert len(pairs) == len(vx) - ref.n_parent_keys > 0
    for j, (a, b) in enumerate(pairs):
        assert a < b < ref.n_parent_keys + j
        assert np.allclose(vx[ref.n_parent_keys + j], 0.5 * (vx[a] + vx[b]), atol=1e-15)


@pytest.mark.parallel
@pytest.mark.parametrize("dim", [2, 3])
def test_p1_transfer_is_exact_and_conserves_integrals(dim):
    msh, ref = _refine(COMM, dim)
    V0 = dolfinx.fem.functionspace(msh, ("Lagrange", 1))
    V1 = dolfinx.fem.functionspace(ref.mesh, ("Lagrange", 1))
    lin = dolfinx.fem.Function(V0)
    lin.interpolate(lambda x: 0.3 + 2.0 * x[0] - 1.5 * x[1] + 0.7 * x[2])
    rough = dolfinx.fem.Function(V0)
    rough.x.array[:] = np.sin(7.0 * dof_keys(V0))  # the same at a vertex on every rank
    lin1, rough1 = ref.transfer([lin, rough], V1)
    # A linear function is P1 on any mesh: its values at the refined vertices are exact.
    x1 = V1.tabulate_dof_coordinates()
    assert np.allclose(lin1.x.array, 0.3 + 2.0 * x1[:, 0] - 1.5 * x1[:, 1] + 0.7 * x1[:, 2])
    # A rough P1 function is the same function on the refined mesh: its integral (lumped
    # and consistent mass alike), its L2 norm and its gradient's are unchanged.
    assert _integrals(rough1) == pytest.approx(_integrals(rough), rel=1e-12)


@pytest.mark.parallel
def test_cellwise_data_follow_the_parent_map():
    msh, ref = _refine(COMM, 3)
    n0 = msh.topology.index_map(3).size_local
    key0 = np.asarray(msh.topology.original_cell_index[:n0], dtype=np.int64)
    dens = np.cos(key0).astype(float)  # a density per parent cell
    child = ref.transfer_cellwise(dens)
    assert np.array_equal(child, np.cos(ref.parent_cell))
    # Each child lies in its parent: its centroid is inside the parent's cell (all ranks).
    parents = {}
    for part in COMM.allgather(dict(zip(key0.tolist(), _cells(msh)))):
        parents.update(part)
    X = _cells(ref.mesh, owned=False)
    for c, p in zip(X.mean(axis=1), ref.parent_cell):
        P = parents[int(p)]
        lam = np.linalg.solve((P[1:] - P[0]).T, c - P[0])
        assert lam.min() > -1e-12 and lam.sum() < 1 + 1e-12
    # A density's integral is conserved.
    n1 = ref.mesh.topology.index_map(3).size_local
    mass = [
        COMM.allreduce(float(_volumes(m) @ v)) for m, v in ((msh, dens), (ref.mesh, child[:n1]))
    ]
    assert mass[1] == pytest.approx(mass[0], rel=1e-12)


@pytest.mark.parallel
def test_tags_follow_to_the_children():
    msh = _box(COMM, 2)
    tdim = 2
    n = msh.topology.index_map(tdim).size_local + msh.topology.index_map(tdim).num_ghosts
    left = (_cells(msh, owned=False).mean(axis=1)[:, 0] < 0.5).astype(np.int32)
    ct = dm.meshtags(msh, tdim, np.arange(n, dtype=np.int32), 1 + left)
    msh.topology.create_connectivity(tdim - 1, tdim)
    ext = dm.exterior_facet_indices(msh.topology)
    fx = dm.compute_midpoints(msh, tdim - 1, ext)
    ft = dm.meshtags(msh, tdim - 1, ext, np.where(fx[:, 1] < 1e-12, 12, 11).astype(np.int32))
    ref = refine_around(msh, [Lesion(np.array([0.5, 0.1]), 0.1)], 0.03, cell_tags=ct, facet_tags=ft)
    m = ref.mesh
    n1 = m.topology.index_map(tdim).size_local + m.topology.index_map(tdim).num_ghosts
    assert np.array_equal(ref.cell_tags.indices, np.arange(n1))
    cx = _cells(m, owned=False).mean(axis=1)[:, 0]
    assert np.array_equal(ref.cell_tags.values, np.where(cx < 0.5, 2, 1))
    m.topology.create_connectivity(tdim - 1, tdim)
    ext1 = dm.exterior_facet_indices(m.topology)
    tagged = dict(zip(ref.facet_tags.indices.tolist(), ref.facet_tags.values.tolist()))
    assert set(ext1.tolist()) <= set(tagged)
    assert len(tagged) == len(np.unique(ref.facet_tags.indices))
    mid = dm.compute_midpoints(m, tdim - 1, ext1)
    want = np.where(mid[:, 1] < 1e-12, 12, 11)
    assert [tagged[f] for f in ext1.tolist()] == want.tolist()
    n_bottom = COMM.allreduce(int((want == 12).sum()))
    assert n_bottom > 8  # the bottom side near the lesion was refined


@pytest.mark.parallel
@pytest.mark.parametrize("dim", [2, 3])
def test_cells_relocate_to_the_refined_mesh(dim):
    msh, ref = _refine(COMM, dim)
    V0 = dolfinx.fem.functionspace(msh, ("Lagrange", 1))
    V1 = dolfinx.fem.functionspace(ref.mesh, ("Lagrange", 1))
    w0, w1 = MeshWalker(V0), MeshWalker(V1)
    rng = np.random.default_rng(5 + COMM.rank)
    host = rng.integers(0, w0.n_owned, 200)
    lam = rng.dirichlet(np.ones(dim + 1), 200)
    x = (w0.X[host] * lam[:, :, None]).sum(axis=1)
    ids = np.arange(200, dtype=np.int64) + 1000 * COMM.rank
    x1, host1, place, pay = ref.relocate(w1, x, host, {"id": ids, "x0": x})
    assert COMM.allreduce(len(x1)) == 200 * COMM.size
    assert np.array_equal(x1, pay["x0"])  # nobody moved
    assert (host1 < w1.n_owned).all()
    assert (w1.barycentric(host1, x1) > -1e-12).all()
    assert np.array_equal(place, w1.place(host1, x1))
    assert sorted(np.concatenate(COMM.allgather(pay["id"])).tolist()) == sorted(
        np.concatenate(COMM.allgather(ids)).tolist()
    )


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="h_fine"):
        refine_around(_box(MPI.COMM_SELF, 2), [_lesion(2)], 0.0)
    msh, ref = _refine(MPI.COMM_SELF, 2)
    for space in ((ref.mesh, ("Lagrange", 1)), (msh, ("Lagrange", 2)), (msh, ("DG", 0))):
        f = dolfinx.fem.Function(dolfinx.fem.functionspace(*space), name="f")
        with pytest.raises(ValueError, match="'f' is not a scalar P1"):
            ref.transfer([f], dolfinx.fem.functionspace(ref.mesh, ("Lagrange", 1)))
    with pytest.raises(ValueError, match="owned cells"):
        ref.transfer_cellwise(np.zeros(3))


def test_every_lesion_is_refined():
    msh = _box(MPI.COMM_SELF, 2)
    lesions = [Lesion(np.array([0.2, 0.2]), 0.05), Lesion(np.array([0.8, 0.7]), 0.05)]
    ref = refine_around(msh, lesions, 0.03, grading=0.5)
    X = _cells(ref.mesh)
    for les in lesions:
        near = (np.linalg.norm(X - les.centre, axis=2) <= les.radius).any(axis=1)
        assert near.sum() > 5 and _longest(X[near]).max() <= 0.03
    with pytest.raises(ValueError, match="a lesion needs a centre of 2"):
        refine_around(msh, [Lesion(np.zeros(3), 0.1)], 0.03)


def test_level_bound_is_kept_and_reported():
    _, ref = _refine(MPI.COMM_SELF, 2, max_levels=1)
    assert ref.levels == 1 and not ref.reached


def _keyed_coords(msh):
    out = {}
    for part in msh.comm.allgather(dict(zip(node_keys(msh).tolist(), msh.geometry.x.tolist()))):
        out.update(part)
    return out


@pytest.mark.parallel
def test_a_growing_lesion_refines_the_refined_mesh():
    """Refining again as the lesion grows: the old vertices keep their keys and places, the
    new keys follow, and a P1 field carried through both refinements is unchanged."""
    msh, ref1 = _refine(COMM, 2)
    ref2 = refine_around(ref1.mesh, [Lesion(np.full(2, 0.3), 0.25)], 0.05, grading=0.5)
    assert ref2.reached and ref2.levels >= 1
    x1, x2 = _keyed_coords(ref1.mesh), _keyed_coords(ref2.mesh)
    assert all(x2[k] == v for k, v in x1.items())
    assert sorted(x2) == list(range(len(x2))) and len(x2) > len(x1)
    V = [dolfinx.fem.functionspace(m, ("Lagrange", 1)) for m in (msh, ref1.mesh, ref2.mesh)]
    u = dolfinx.fem.Function(V[0])
    u.x.array[:] = np.sin(7.0 * dof_keys(V[0]))
    (u1,) = ref1.transfer([u], V[1])
    (u2,) = ref2.transfer([u1], V[2])
    assert _integrals(u2) == pytest.approx(_integrals(u), rel=1e-12)


@pytest.mark.parallel
def test_checkpoint_rows_by_key_read_on_another_rank_count(tmp_path_factory):
    """A refined field written with the checkpoint's tables (rows by vertex key) on this
    communicator is read back, row for row, on each rank's serial refinement."""
    from pathlib import Path

    from solver.io import checkpoint

    where = COMM.bcast(str(tmp_path_factory.mktemp("ck")) if COMM.rank == 0 else None, root=0)
    path = Path(where) / "organ.dofs"
    tables = []
    for comm in (COMM, MPI.COMM_SELF):
        msh, ref = _refine(comm, 2)
        V0 = dolfinx.fem.functionspace(msh, ("Lagrange", 1))
        V1 = dolfinx.fem.functionspace(ref.mesh, ("Lagrange", 1))
        u = dolfinx.fem.Function(V0)
        u.x.array[:] = np.sin(7.0 * dof_keys(V0))
        (u1,) = ref.transfer([u], V1)
        n = V1.dofmap.index_map.size_local
        tables.append((V1, u1.x.array[:n]))
    V1, values = tables[0]
    checkpoint.write_table(COMM, path, checkpoint.input_index(V1), values[:, None])
    COMM.barrier()
    Vs, serial = tables[1]
    got = checkpoint.read_table(MPI.COMM_SELF, path, checkpoint.input_index(Vs), 1)[:, 0]
    assert np.array_equal(got, serial)


def _area(msh, tags, tag):
    """Area of the owned triangles tagged ``tag`` (all ranks)."""
    n = msh.topology.index_map(2).size_local
    idx = tags.indices[(tags.values == tag) & (tags.indices < n)]
    X = _cells(msh)[idx]
    a, b = X[:, 1] - X[:, 0], X[:, 2] - X[:, 0]
    return msh.comm.allreduce(float(0.5 * np.abs(a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]).sum()))


@pytest.mark.parallel
def test_a_gmsh_organ_keeps_its_groups():
    """A Gmsh organ (solver/geometry.py) refined around its tumour: every cell keeps a
    group and each group its area, every boundary facet stays "boundary", the same on
    COMM_WORLD and COMM_SELF."""
    from solver import config, geometry

    geo = config.GeometrySpec(
        dim=2,
        size=[1.0, 0.8],
        h=0.1,
        h_fine=0.05,
        tumour_radius=0.12,
        vessel_radius=0.04,
        normal_vessels=1,
        ruptured_vessels=1,
        vessel_min_distance=0.1,
        vessel_seed=3,
    )
    seen = []
    for comm in (COMM, MPI.COMM_SELF):
        om = geometry.build(geo, comm)
        les = Lesion(om.tumour_centre, 0.12)
        ref = refine_around(om.mesh, [les], 0.02, cell_tags=om.cell_tags, facet_tags=om.facet_tags)
        m = ref.mesh
        n = m.topology.index_map(2).size_local + m.topology.index_map(2).num_ghosts
        assert np.array_equal(ref.cell_tags.indices, np.arange(n))
        for name, (d, tag) in om.groups.items():
            if d == 2:
                areas = [
                    _area(mm, t, tag) for mm, t in ((om.mesh, om.cell_tags), (m, ref.cell_tags))
                ]
                assert areas[1] == pytest.approx(areas[0], rel=1e-12), name
        m.topology.create_connectivity(1, 2)
        ext = dm.exterior_facet_indices(m.topology)
        bnd = ref.facet_tags.indices[ref.facet_tags.values == geometry.FACET_GROUPS["boundary"]]
        assert set(ext.tolist()) <= set(bnd.tolist())
        ck = np.asarray(m.topology.original_cell_index[:n])
        mine = dict(zip(ck.tolist(), ref.cell_tags.values.tolist()))
        tags = {}
        for part in comm.allgather(mine):
            tags.update(part)
        seen.append(tags)
        assert ref.reached and ref.levels >= 2
    assert seen[0] == seen[1]
