"""Primary-site meshing and loading (solver.geometry)."""

import os

import dolfinx
import gmsh
import numpy as np
import pytest
import ufl
from mpi4py import MPI

from solver import config, geometry

COMM = MPI.COMM_WORLD
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PRIMARY_2D = os.path.join(ROOT, "meshes", "primary_2d.msh")


def geo2(**kw):
    base = dict(
        dim=2,
        size=[1.0, 0.8],
        h=0.05,
        h_fine=0.02,
        tumour_radius=0.1,
        vessel_radius=0.03,
        normal_vessels=2,
        ruptured_vessels=3,
        vessel_min_distance=0.1,
        vessel_seed=3,
    )
    return config.GeometrySpec(**(base | kw))


def geo3(**kw):
    base = dict(
        dim=3,
        size=[1.0, 1.0, 1.0],
        h=0.15,
        h_fine=0.08,
        tumour_radius=0.2,
        vessel_radius=0.08,
        normal_vessels=1,
        ruptured_vessels=2,
        vessel_min_distance=0.05,
    )
    return config.GeometrySpec(**(base | kw))


@pytest.fixture
def shared_tmp(tmp_path):
    """A directory that all ranks agree on (rank 0's tmp_path)."""
    return COMM.bcast(str(tmp_path), root=0)


def measure(om, name=None):
    dx = ufl.Measure("dx", domain=om.mesh, subdomain_data=om.cell_tags)
    form = 1 * dx if name is None else 1 * dx(om.groups[name][1])
    return COMM.allreduce(dolfinx.fem.assemble_scalar(dolfinx.fem.form(form)), MPI.SUM)


def all_cells_tagged_once(om):
    tdim = om.mesh.topology.dim
    imap = om.mesh.topology.index_map(tdim)
    n = imap.size_local + imap.num_ghosts
    ok = np.array_equal(np.sort(om.cell_tags.indices), np.arange(n))
    cell_tags = {t for d, t in om.groups.values() if d == tdim}
    return COMM.allreduce(ok and set(np.unique(om.cell_tags.values)) <= cell_tags, MPI.LAND)


def global_coords(om):
    n = om.mesh.geometry.index_map().size_local
    x = np.concatenate(COMM.allgather(om.mesh.geometry.x[:n]))
    return x[np.lexsort(x.T[::-1])]


@pytest.mark.parallel
def test_build_2d(shared_tmp):
    geo = geo2()
    path = os.path.join(shared_tmp, "block.msh")
    om = geometry.build(geo, COMM, msh_path=path)
    assert set(om.groups) == {"tissue", "tumour", "vessel_normal", "vessel_ruptured", "boundary"}
    assert om.groups["boundary"][0] == 1 and om.groups["tumour"][0] == 2
    assert all_cells_tagged_once(om)
    assert np.isclose(measure(om), 0.8, rtol=1e-12)
    # Inscribed polygons: area error ~ (2 pi^2 / 3) (h_fine / (2 pi r))^2.
    assert np.isclose(measure(om, "tumour"), np.pi * 0.1**2, rtol=0.02)
    assert np.isclose(measure(om, "vessel_ruptured"), 3 * np.pi * 0.03**2, rtol=0.08)
    np.testing.assert_allclose(om.tumour_centre, [0.5, 0.4])
    assert om.vessel_sites["normal"].shape == (2, 2) and om.vessel_sites["ruptured"].shape == (3, 2)
    v = np.concatenate(list(om.vessel_sites.values()))
    assert np.all(np.linalg.norm(v - om.tumour_centre, axis=1) >= 0.1 + 0.1 + 0.03)
    assert np.all(v - 0.03 > 0) and np.all(v + 0.03 < [1.0, 0.8])
    pair = np.linalg.norm(v[:, None] - v[None], axis=2) + np.eye(len(v))
    assert pair.min() >= 2 * 0.03
    # Same sites on all ranks.
    assert np.array_equal(COMM.bcast(v, root=0), v)
    q = geometry.quality(om)
    assert q == COMM.bcast(q, root=0)
    assert q["cells"] == sum(q["cells_per_tag"].values())
    assert q["facets_per_tag"]["boundary"] >= 2 * (1.0 + 0.8) / 0.05
    assert q["min_angle_deg"] > 25 and q["obtuse_fraction"] < 0.02 and q["radius_ratio_min"] > 0.5
    # Written .msh gives back the same mesh.
    re = geometry.load(path, COMM, 2)
    assert re.mesh.topology.index_map(2).size_global == q["cells"]
    np.testing.assert_allclose(re.tumour_centre, om.tumour_centre, atol=1e-3)
    for kind in ("normal", "ruptured"):
        a, b = re.vessel_sites[kind], om.vessel_sites[kind]
        np.testing.assert_allclose(a[np.lexsort(a.T[::-1])], b[np.lexsort(b.T[::-1])], atol=1e-3)


@pytest.mark.parallel
def test_shared_facet_ghosts():
    om = geometry.build(geo2(normal_vessels=0, ruptured_vessels=0), COMM)
    assert "vessel_normal" not in om.groups and "vessel_ruptured" not in om.groups
    assert om.vessel_sites["normal"].shape == (0, 2)
    imap = om.mesh.topology.index_map(2)
    if COMM.size > 1:  # every rank has ghost cells across its interface facets
        assert COMM.allreduce(imap.num_ghosts > 0, MPI.LAND)


@pytest.mark.parallel
def test_build_reproducible():
    geo = geo2()
    a, b = geometry.build(geo, COMM), geometry.build(geo, COMM)
    assert np.array_equal(global_coords(a), global_coords(b))


@pytest.mark.parallel
def test_build_3d():
    om = geometry.build(geo3(), COMM)
    assert om.mesh.topology.dim == 3 and om.groups["boundary"][0] == 2
    assert all_cells_tagged_once(om)
    assert np.isclose(measure(om), 1.0, rtol=1e-12)
    assert np.isclose(measure(om, "tumour"), 4 / 3 * np.pi * 0.2**3, rtol=0.08)
    v = np.concatenate(list(om.vessel_sites.values()))
    assert v.shape == (3, 3)
    assert np.all(np.linalg.norm(v - 0.5, axis=1) >= 0.2 + 0.08 + 0.05)
    q = geometry.quality(om)
    assert q["facets_per_tag"]["boundary"] > 0 and q["radius_ratio_min"] > 0.1


@pytest.mark.parallel
def test_placement_fails_clearly():
    with pytest.raises(config.CaseError, match=r"primary\.geometry\.vessel_min_distance"):
        geometry.build(geo2(vessel_min_distance=0.6), COMM)


@pytest.mark.parallel
def test_load_primary_2d():
    om = geometry.load(PRIMARY_2D, COMM, 2)
    assert {"tissue", "tumour", "vessel_normal", "vessel_ruptured", "boundary"} <= set(om.groups)
    assert all_cells_tagged_once(om)
    q = geometry.quality(om)
    assert q["cells"] < 3000 and q["facets_per_tag"]["boundary"] > 0
    np.testing.assert_allclose(om.tumour_centre, [0.45, 0.38], atol=1e-6)  # the .geo defaults
    np.testing.assert_allclose(om.vessel_sites["normal"], [[0.75, 0.45]], atol=1e-6)
    np.testing.assert_allclose(om.vessel_sites["ruptured"], [[0.2, 0.5]], atol=1e-6)
    with pytest.raises(config.CaseError, match="expected a 3D mesh"):
        geometry.load(PRIMARY_2D, COMM, 3)


@pytest.mark.parallel
def test_load_missing_group(shared_tmp):
    path = os.path.join(shared_tmp, "no_tumour.msh")
    if COMM.rank == 0:
        gmsh.initialize(readConfigFiles=False, interruptible=False)
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.model.occ.addRectangle(0, 0, 0, 1, 1)
        gmsh.model.occ.synchronize()
        gmsh.model.addPhysicalGroup(2, [1], name="tissue")
        gmsh.model.addPhysicalGroup(1, [1, 2, 3, 4], name="boundary")
        gmsh.option.setNumber("Mesh.MeshSizeMax", 0.2)
        gmsh.model.mesh.generate(2)
        gmsh.write(path)
        gmsh.finalize()
    COMM.barrier()
    with pytest.raises(
        config.CaseError, match=r"no_tumour\.msh: missing physical group\(s\) \['tumour'\]"
    ) as e:
        geometry.load(path, COMM, 2)
    assert "found ['boundary', 'tissue']" in str(e.value)


@pytest.mark.parallel
def test_load_garbage(shared_tmp):
    path = os.path.join(shared_tmp, "garbage.msh")
    if COMM.rank == 0:
        with open(path, "w") as f:
            f.write("$MeshFormat\nthis is not a mesh\n")
    COMM.barrier()
    with pytest.raises(config.CaseError, match=r"garbage\.msh: cannot read the mesh file"):
        geometry.load(path, COMM, 2)
    with pytest.raises(config.CaseError, match="not found"):
        geometry.load(os.path.join(shared_tmp, "nothing.msh"), COMM, 2)


@pytest.mark.parallel
def test_simplex_measures():
    tri = np.array([[[0, 0], [1, 0], [0.5, np.sqrt(3) / 2]], [[0, 0], [1, 0], [0.5, 0.2]]])
    q, h, ang = geometry._simplex_measures(tri)
    np.testing.assert_allclose([q[0], h[0], ang[0].min(), ang[0].max()], [1, 1, 60, 60])
    assert q[1] < 0.7 and ang[1].max() > 90
    tet = [
        [[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]],
        [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]],
    ]
    q, h, ang = geometry._simplex_measures(np.array(tet, float))
    regular = np.degrees(np.arccos(1 / 3))  # 70.53 deg
    np.testing.assert_allclose([q[0], ang[0].min(), ang[0].max()], [1, regular, regular])
    np.testing.assert_allclose(ang[1].max(), 90)  # the corner tetrahedron: right dihedral angles
    np.testing.assert_allclose(h, [np.sqrt(8), np.sqrt(2)])


@pytest.mark.parallel
@pytest.mark.parametrize("kind", ["liver", "lung", "bone", "brain"])
def test_organ_shapes(kind):
    """Organ sections: ellipse of the block's semi-axes, lumens cut out (lung, brain),
    a cortical shell around the marrow (bone); vessels only in the tissue."""
    import dolfinx.fem as fem
    import ufl

    size = [0.6, 0.4]
    geo = config.GeometrySpec(
        kind=kind,
        dim=2,
        size=size,
        h=0.01,
        tumour_radius=0.03,
        normal_vessels=1,
        ruptured_vessels=4,
        vessel_radius=0.01,
        vessel_min_distance=0.0,
    )
    om = geometry.build(geo, MPI.COMM_WORLD)
    area = MPI.COMM_WORLD.allreduce(fem.assemble_scalar(fem.form(1.0 * ufl.dx(domain=om.mesh))))
    holes = {"lung": [0.08, 0.07, 0.07], "brain": [0.07, 0.07]}.get(kind, [])
    expected = np.pi * 0.3 * 0.2 - sum(np.pi * (r * 0.4) ** 2 for r in holes)
    assert abs(area - expected) < 0.01 * expected
    assert ("cortical" in om.groups) == (kind == "bone")
    if kind == "bone":
        dx = ufl.Measure("dx", domain=om.mesh, subdomain_data=om.cell_tags)
        cortex = MPI.COMM_WORLD.allreduce(
            fem.assemble_scalar(fem.form(1.0 * dx(om.groups["cortical"][1])))
        )
        assert abs(cortex - (np.pi * 0.3 * 0.2 - np.pi * 0.26 * 0.16)) < 0.02 * cortex
    for c in om.vessel_sites["ruptured"]:
        assert (((c - np.array(size) / 2) / (np.array(size) / 2)) ** 2).sum() < 1


KIDNEY = os.path.join(ROOT, "meshes", "kidney.stl")


def geo_stl(**kw):
    base = dict(
        kind="stl",
        dim=3,
        file=KIDNEY,
        h=0.03,
        h_fine=0.012,
        tumour_radius=0.03,
        vessel_radius=0.015,
        normal_vessels=1,
        ruptured_vessels=3,
        vessel_min_distance=0.0,
        vessel_seed=2,
    )
    return config.GeometrySpec(**(base | kw))


def stl_volume_area(tri):
    """Enclosed volume (divergence theorem) and area of a closed triangulated surface."""
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    return abs((a * np.cross(b, c)).sum()) / 6, np.linalg.norm(
        np.cross(b - a, c - a), axis=1
    ).sum() / 2


@pytest.mark.parallel
def test_stl_organ(shared_tmp):
    """A user organ from a closed STL surface: the meshed volume and boundary match the
    surface, every group is present, vessel sites lie inside, scaled with stl_scale."""
    tri = geometry._read_stl(KIDNEY)
    volume, area = stl_volume_area(tri)
    path = os.path.join(shared_tmp, "kidney.msh")
    om = geometry.build(geo_stl(), COMM, msh_path=path)
    assert abs(measure(om) - volume) < 0.02 * volume
    ds = ufl.Measure("ds", domain=om.mesh, subdomain_data=om.facet_tags)
    got = COMM.allreduce(
        dolfinx.fem.assemble_scalar(dolfinx.fem.form(1 * ds(om.groups["boundary"][1]))), MPI.SUM
    )
    assert abs(got - area) < 0.02 * area
    assert all_cells_tagged_once(om)
    assert {"tissue", "tumour", "vessel_normal", "vessel_ruptured", "boundary"} <= set(om.groups)
    assert abs(measure(om, "tumour") - 4 / 3 * np.pi * 0.03**3) < 0.3 * 4 / 3 * np.pi * 0.03**3
    surface = geometry._Surface(KIDNEY, 1.0)
    for c in np.concatenate([om.vessel_sites["normal"], om.vessel_sites["ruptured"]]):
        assert surface.contains(c) and surface.distance(c) > 0.015
    # The written .msh reloads with the same groups (the contract of a user mesh).
    assert set(geometry.load(path, COMM, 3).groups) == set(om.groups)
    # Scale: an STL in other units (here the same surface, read as twice as large).
    om2 = geometry.build(
        geo_stl(stl_scale=2.0, h=0.06, h_fine=0.024, tumour_radius=0.06, vessel_radius=0.03), COMM
    )
    assert abs(measure(om2) - 8 * volume) < 0.02 * 8 * volume


def test_stl_point_queries():
    """Inside test and distance against an analytic sphere, from an ASCII STL."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "ball.stl")
        gmsh.initialize(readConfigFiles=False, interruptible=False)
        try:
            gmsh.option.setNumber("General.Terminal", 0)
            gmsh.model.occ.addSphere(0, 0, 0, 1.0)
            gmsh.model.occ.synchronize()
            gmsh.option.setNumber("Mesh.MeshSizeMax", 0.05)
            gmsh.model.mesh.generate(2)
            gmsh.option.setNumber("Mesh.Binary", 0)
            gmsh.write(path)
        finally:
            gmsh.finalize()
        assert open(path).read(5) == "solid"
        s = geometry._Surface(path, 1.0)
    pts = np.random.default_rng(0).uniform(-1.2, 1.2, (300, 3))
    r = np.linalg.norm(pts, axis=1)
    far = np.abs(r - 1) > 0.01  # the faceted surface lies within ~1e-3 of the sphere
    assert all(s.contains(p) == (q < 1) for p, q in zip(pts[far], r[far]))
    assert np.allclose([s.distance(p) for p in pts], np.abs(r - 1), atol=2e-3)


@pytest.mark.parallel
def test_stl_bad_input(shared_tmp):
    """An open surface, an unreadable file, a 2D STL organ: clear errors on every rank."""
    tri = geometry._read_stl(KIDNEY)
    open_path = os.path.join(shared_tmp, "open.stl")
    junk = os.path.join(shared_tmp, "junk.stl")
    if COMM.rank == 0:
        with open(open_path, "w") as fh:  # the kidney minus one triangle
            fh.write(
                "solid open\n"
                + "".join(
                    "facet normal 0 0 0\nouter loop\n"
                    + "".join(f"vertex {x} {y} {z}\n" for x, y, z in t)
                    + "endloop\nendfacet\n"
                    for t in tri[1:]
                )
                + "endsolid open\n"
            )
        with open(junk, "wb") as fh:
            fh.write(b"\x00\xff" * 100)
    COMM.Barrier()
    with pytest.raises(config.CaseError, match="not closed"):
        geometry.build(geo_stl(file=open_path), COMM)
    with pytest.raises(config.CaseError, match="cannot read the STL"):
        geometry.build(geo_stl(file=junk), COMM)
    with pytest.raises(config.CaseError, match="set dim = 3"):
        config.from_dict(
            {"primary": {"geometry": {"kind": "stl", "file": KIDNEY, "dim": 2, "size": [1, 1]}}}
        )
    with pytest.raises(config.CaseError, match="stl file .* does not exist"):
        config.from_dict(
            {"primary": {"geometry": {"kind": "stl", "file": "nowhere.stl", "dim": 3}}},
            source=KIDNEY,
        )


def node_geo(dim, **kw):
    base = dict(
        kind="lymph_node",
        dim=dim,
        size=[0.4, 0.2] if dim == 2 else [0.4, 0.2, 0.2],
        h=0.01 if dim == 2 else 0.03,
        tumour_radius=0.03,
        normal_vessels=0,
        ruptured_vessels=6,
        vessel_radius=0.008 if dim == 2 else 0.02,
        vessel_min_distance=0.0,
        vessel_seed=1,
    )
    return config.GeometrySpec(**(base | kw))


def bean_measure(size, n):
    """Area/volume of the ellipse/ellipsoid of the block minus the hilum ball (centre on the
    capsule at the middle of the y = 0 side, radius 0.3 of the short side), by the midpoint
    rule on an n-per-axis grid (independent of gmsh)."""
    size = np.asarray(size, float)
    axes = [(np.arange(n) + 0.5) / n * s for s in size]
    x = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, len(size))
    semi = size / 2
    ell = (((x - semi) / semi) ** 2).sum(1) <= 1
    hc = semi.copy()
    hc[1] = 0.0
    notch = np.linalg.norm(x - hc, axis=1) < 0.3 * size.min()
    return (ell & ~notch).mean() * size.prod(), (ell & notch).mean() * size.prod()


@pytest.mark.parallel
@pytest.mark.parametrize("dim", [2, 3])
def test_lymph_node(dim):
    """The bean: ellipse/ellipsoid minus the hilum notch (measure within 1 % in 2D, 2 % in 3D
    on its coarse tetrahedra); no vertex inside the notch; every site inside the tissue, in the
    subcapsular sinus band (from r to r + h + SINUS_BAND r from the capsule, + h/2 for the
    polygonal capsule) and on the convex half, opposite the hilum; mesh quality as the
    other kinds."""
    geo = node_geo(dim)
    om = geometry.build(geo, COMM)
    size = np.asarray(geo.size)
    semi = size / 2
    expected, notch = bean_measure(size, 2000 if dim == 2 else 160)
    tol = 0.01 if dim == 2 else 0.02  # measured: -0.04 % (2D), -1.1 % (3D, polyhedral capsule)
    assert notch > 2 * tol * expected  # the notch is big enough for this check to see it
    assert abs(measure(om) - expected) < tol * expected
    hc = semi.copy()
    hc[1] = 0.0
    rh = 0.3 * size.min()
    x = global_coords(om)[:, :dim]
    assert np.linalg.norm(x - hc, axis=1).min() > rh * (1 - 1e-6)  # the hilum is cut out
    # the capsule as a dense polyline/point cloud on the ellipse(-oid), minus the notch
    t = np.linspace(0, 2 * np.pi, 4000, endpoint=False)
    if dim == 2:
        cap = semi + semi * np.stack([np.cos(t), np.sin(t)], 1)
    else:
        p = np.linspace(0, np.pi, 400)
        u = np.stack(np.meshgrid(t[::10], p, indexing="ij"), -1).reshape(-1, 2)
        dirs = np.stack(
            [np.sin(u[:, 1]) * np.cos(u[:, 0]), np.sin(u[:, 1]) * np.sin(u[:, 0]), np.cos(u[:, 1])],
            1,
        )
        cap = semi + semi * dirs
    cap = cap[np.linalg.norm(cap - hc, axis=1) >= rh]
    r = geo.vessel_radius
    sites = om.vessel_sites["ruptured"]
    assert sites.shape == (6, dim) and len(om.vessel_sites["normal"]) == 0
    for c in sites:
        depth = np.linalg.norm(cap - c, axis=1).min()
        assert (((c - semi) / semi) ** 2).sum() < 1  # inside the capsule
        assert r <= depth <= r + geo.h + geometry.SINUS_BAND * r + geo.h / 2
        assert c[1] > semi[1]  # convex half
        assert np.linalg.norm(c - hc) > rh + r
    q = geometry.quality(om)
    assert q["cells_per_tag"]["vessel_ruptured"] > 0
    if dim == 2:
        assert q["radius_ratio_min"] > 0.5 and q["min_angle_deg"] > 25
    else:
        assert q["radius_ratio_min"] > 0.02 and q["radius_ratio_mean"] > 0.6


def test_lymph_node_refused():
    """A node must be elongated along x; a node too small for its sites says where they go.
    An organ of this kind is a node (type lymph_node) unless its type says otherwise."""
    node = {"name": "n", "geometry": {"kind": "lymph_node", "size": [0.4, 0.2], "h": 0.01}}
    assert config.from_dict({"secondary": [node]}).secondary[0].organ_type() == "lymph_node"
    with pytest.raises(config.CaseError, match=r"secondary.*size\[0\] must exceed"):
        config.from_dict(
            {
                "secondary": [
                    {
                        "name": "n",
                        "geometry": {"kind": "lymph_node", "size": [0.2, 0.3], "h": 0.01},
                    }
                ]
            }
        )
    with pytest.raises(config.CaseError, match="subcapsular sinus band on the convex side"):
        geometry.build(
            node_geo(2, ruptured_vessels=8, vessel_radius=0.02), COMM, where="secondary[0].geometry"
        )
