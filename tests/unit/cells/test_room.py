"""The places at organ size (cells.room.Lattice): capacities checked against values found
without the lattice's code (boxes aligned with the elements, by hand; boxes of a rotated
square or cube, by the rotation), against the capacities the shipped 2D cases had with the
dense lattice (stored), the same on any number of ranks, and memory for the boxes used only
(docs/numerics.md "The places at organ size")."""

from pathlib import Path

import dolfinx.mesh as dm
import numpy as np
import pytest
from dolfinx import fem
from mpi4py import MPI

from solver import config, geometry
from solver.cells.locate import MeshWalker
from solver.cells.room import Lattice
from solver.verification.cells import unit_space

COMM = MPI.COMM_WORLD
ROOT = Path(__file__).resolve().parents[3]
# Capacities of the dense lattice of places (the code before issue 16), every box, on the
# shipped Franssen primary (all 40,000 boxes whole: Q) and on two unit meshes no coarser
# than h_ref with boundary boxes cut to fractions. Generated once on one rank, at commit
# cc0a0ba (solver/cells/dense_room.py, deleted after it), by:
#   case = config.load("cases/franssen2019_primary.toml", [])
#   om = geometry.build(case.primary.geometry, MPI.COMM_SELF)
#   lat = DenseLattice(MeshWalker(fem.functionspace(om.mesh, ("Lagrange", 1))), 5e-3, 4.0)
#   ref["franssen2019_primary"] = lat.capacity.reshape(tuple(lat.shape))
#   for dim, n, h in [(2, 12, 0.13), (3, 8, 0.3)]:
#       lat = DenseLattice(MeshWalker(unit_space(MPI.COMM_SELF, n, dim)), h, 4.0)
#       ref[f"unit{dim}d_n{n}_h{h}"] = lat.capacity.reshape(tuple(lat.shape))
#   np.savez_compressed("tests/data/room_reference.npz", **ref)
REFERENCE = ROOT / "tests" / "data" / "room_reference.npz"


def _all(lat) -> np.ndarray:
    """Capacity of every box of the lattice, on every rank, shaped as the lattice."""
    n = int(np.prod(lat.shape))
    mine = np.arange(n, dtype=np.int64)[COMM.rank :: COMM.size]
    got = np.zeros(n)
    got[mine] = lat.capacity_of(mine)
    return COMM.allreduce(got, op=MPI.SUM).reshape(tuple(lat.shape))


def _block(n: int, dim: int, h: float):
    """P1 space on the block [0, n h]^dim of n^dim squares/cubes (2 or 6 simplices each)."""
    top = [n * h] * dim
    if dim == 2:
        mesh = dm.create_rectangle(
            COMM, [[0.0, 0.0], top], [n, n], ghost_mode=dm.GhostMode.shared_facet
        )
    else:
        mesh = dm.create_box(COMM, [[0.0] * 3, top], [n] * 3, ghost_mode=dm.GhostMode.shared_facet)
    return fem.functionspace(mesh, ("Lagrange", 1))


@pytest.mark.parallel
@pytest.mark.parametrize(
    "dim,ratio,n",
    [(2, 0.5, 11), (3, 0.5, 7), (2, 1.0, 4), (3, 1.0, 4), (2, 1.5, 3), (3, 1.5, 3)],
)
def test_capacities_by_hand_on_meshes_aligned_with_the_boxes(dim, ratio, n):
    """Element side ``ratio`` x h_ref, n elements a side: the block is n x ratio boxes wide,
    so every box inside holds exactly Q, and with a half box left over (n x ratio = k + 1/2)
    the last layer holds Q/2, its edges Q/4 and its corner Q/2^d. Elements of h_ref/2 and
    h_ref are the fine rule (dense points) in 2D; 1.5 h_ref, and h_ref in 3D, are coarse
    (box points): every point of a box is in exactly one element, so both are exact."""
    h_ref, Q = 0.125, 3.5  # binary fractions: Q x 1/2^j is exact
    lat = Lattice(MeshWalker(_block(n, dim, ratio * h_ref)), h_ref, Q)
    width = n * ratio
    boxes = int(np.ceil(width))
    last = width - (boxes - 1)  # 1/2 or 1
    assert last in (0.5, 1.0)
    f = np.r_[np.ones(boxes - 1), last]
    want = Q * np.prod(np.meshgrid(*[f] * dim, indexing="ij"), axis=0)
    assert np.array_equal(_all(lat), want)
    assert lat.volume.coarse.all() == (ratio * 8 > {2: 8, 3: 4}[dim])  # the rule meant


def _rotated(n: int, dim: int, angle: float):
    """P1 space on the unit square/cube turned by ``angle`` (about (1, 2, 3) in 3D), and the
    rotation R (x_mesh = R x_unit)."""
    V = unit_space(COMM, n, dim)
    c, s = np.cos(angle), np.sin(angle)
    if dim == 2:
        R = np.array([[c, -s], [s, c]])
    else:
        a = np.array([1.0, 2.0, 3.0]) / np.sqrt(14.0)
        K = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
        R = np.eye(3) + s * K + (1 - c) * K @ K  # Rodrigues
    x = V.mesh.geometry.x
    x[:, :dim] = x[:, :dim] @ R.T
    return V, R


def _fractions(lat, R: np.ndarray, m: int) -> np.ndarray:
    """Fraction of each box inside the turned unit square/cube, from m^d points a box
    (midpoints of its sub-boxes) tested with the rotation: the box is inside where
    R^T x is in [0, 1]^d. Independent of the mesh and of the lattice's sampling."""
    d = lat.dim
    idx = np.stack(np.meshgrid(*[np.arange(s) for s in lat.shape], indexing="ij"), -1)
    sub = np.stack(np.meshgrid(*[(np.arange(m) + 0.5) / m] * d, indexing="ij"), -1)
    x = lat.origin + lat.h * (idx.reshape(-1, 1, d) + sub.reshape(1, -1, d))
    u = x @ R  # R^T x, row-wise
    inside = ((u >= 0) & (u <= 1)).all(axis=2)
    return inside.mean(axis=1).reshape(tuple(lat.shape))


@pytest.mark.parallel
@pytest.mark.parametrize("dim,n,h_ref", [(2, 24, 0.1), (2, 2, 0.1), (3, 16, 0.2), (3, 2, 0.2)])
def test_total_room_of_a_turned_mesh_is_Q_times_its_volume(dim, n, h_ref):
    """A unit square/cube turned off the lattice's axes (no element face along a box face),
    fine (n = 24, 16) and coarse (n = 2) elements: the room summed over every box is Q x
    volume / h_ref^d (volume 1), plus what the boxes more than 0.9 inside gain by holding Q,
    to the quadrature's tolerance; each box's capacity is Q x its fraction to the sampling's
    tolerance."""
    Q, m = 4.0, 32 if dim == 2 else 16
    V, R = _rotated(n, dim, 0.3)
    lat = Lattice(MeshWalker(V), h_ref, Q)
    assert lat.volume.coarse.all() == (n == 2)
    cap, f = _all(lat), _fractions(lat, R, m)
    full = cap == Q
    assert np.all(f[full] > 0.85) and np.all(f[~full] < 0.95)  # the 0.9 rule, to sampling
    gain = Q * np.sum(1.0 - f[full])  # boxes rounded up to Q
    cut = np.sum((f > 0) & (f < 1))
    assert cut > 40  # many boxes cut by the turned faces
    # Quadrature: each cut box is off by a few % of Q either way (the lattice's m points a
    # box axis, or its elements' points), largely cancelling: measured at most 0.001 Q a
    # cut box over the sum (0.0002 in 2D), so 0.005 Q a cut box is a margin of 5.
    assert cap.sum() == pytest.approx(Q / h_ref**dim + gain, abs=0.005 * Q * cut)
    # Each box: its fraction to half a sample spacing of the lattice's m (measured at most
    # 0.027 Q in 2D, 0.045 Q in 3D).
    assert np.abs(cap - Q * f)[~full].max() <= Q / (2 * {2: 8, 3: 4}[dim])


def test_franssen_capacities_are_the_stored_ones():
    """The shipped Franssen primary (unstructured 5e-3 triangles, h_ref = 5e-3) and the two
    unit meshes keep the dense lattice's capacities exactly: Franssen's runs do not
    change."""
    ref = np.load(REFERENCE, allow_pickle=False)
    case = config.load(ROOT / "cases" / "franssen2019_primary.toml", [])
    om = geometry.build(case.primary.geometry, MPI.COMM_SELF)
    walker = MeshWalker(fem.functionspace(om.mesh, ("Lagrange", 1)))
    lat = Lattice(walker, case.cells.h_ref, case.cells.capacity(2))
    want = ref["franssen2019_primary"]
    assert tuple(lat.shape) == want.shape
    assert np.array_equal(lat.capacity_of(np.arange(want.size)), want.ravel())
    for dim, n, h in [(2, 12, 0.13), (3, 8, 0.3)]:
        want = ref[f"unit{dim}d_n{n}_h{h}"]
        assert np.sum((want > 0) & (want < 4.0)) > 10  # fractions are compared too
        lat = Lattice(MeshWalker(unit_space(MPI.COMM_SELF, n, dim)), h, 4.0)
        assert np.array_equal(lat.capacity_of(np.arange(want.size)), want.ravel())


@pytest.mark.parallel
@pytest.mark.parametrize("dim,n,h_ref,part", [(2, 4, 0.012, 1 / 3), (3, 2, 0.15, 2 / 3)])
def test_capacity_right_on_a_coarse_mesh(dim, n, h_ref, part):
    """Elements many boxes across: boxes inside hold Q, the last layer (``part`` inside)
    Q x part to the sampling's 1/m, and the mesh does not matter (the same on n and 2 n)."""
    w = MeshWalker(unit_space(COMM, n, dim))
    cap = _all(Lattice(w, h_ref, 4.0))
    inner = cap[(slice(0, -1),) * dim]
    assert np.all(inner == 4.0)
    face = cap[(slice(0, -1),) * (dim - 1) + (-1,)]
    assert np.allclose(face, 4.0 * part, atol=4.0 / 8)
    corner = cap[(-1,) * dim]
    assert corner == pytest.approx(4.0 * part**dim, abs=4.0 * dim / 8)
    assert np.array_equal(cap, _all(Lattice(MeshWalker(unit_space(COMM, 2 * n, dim)), h_ref, 4.0)))


@pytest.mark.parallel
@pytest.mark.parametrize("h_ref", [0.07, 0.3])
def test_capacities_do_not_depend_on_the_ranks(h_ref):
    """The same capacities on this communicator and on one rank, with coarse elements
    (boxes sampled) and fine ones (the dense rule)."""
    here = _all(Lattice(MeshWalker(unit_space(COMM, 6)), h_ref, 3.5))
    one = Lattice(MeshWalker(unit_space(MPI.COMM_SELF, 6)), h_ref, 3.5)
    assert one.volume.coarse.all() == (h_ref < 0.1)
    total = int(np.prod(one.shape))
    assert np.array_equal(here.ravel(), one.capacity_of(np.arange(total, dtype=np.int64)))


@pytest.mark.parallel
def test_memory_grows_with_the_boxes_used():
    """A lattice of 4 x 10^6 boxes holds only the boxes asked and counted; room is granted
    against the census as before."""
    lat = Lattice(MeshWalker(unit_space(COMM, 8)), 5e-4, 2.0)
    assert int(np.prod(lat.shape)) == 4_000_000
    rng = np.random.default_rng(COMM.rank)
    asked = lat.box(rng.random((30, 2)))
    lat.census(asked[:10])
    first = lat.capacity_of(asked)
    assert np.array_equal(lat.capacity_of(asked[::-1]), first[::-1])  # asked again: kept
    counted = np.unique(np.concatenate(COMM.allgather(asked[:10])))
    every = np.unique(np.concatenate(COMM.allgather(asked)))
    assert COMM.allreduce(len(lat.known)) == len(every)
    mine = COMM.allreduce(len(np.unique(asked)))  # each rank remembers what it asked
    assert COMM.allreduce(lat.stored()) == len(every) + len(counted) + mine
    assert lat.total_capacity() == pytest.approx(2.0 * 4_000_000)
    lat.census(np.repeat(asked[:1], 2))  # two cells in one box of 2: full
    ok = lat.grant(
        asked[:2], np.arange(2, dtype=np.uint64), np.arange(2, dtype=np.uint64), np.zeros(2)
    )
    assert not ok[0] and (ok[1] or asked[1] == asked[0])
