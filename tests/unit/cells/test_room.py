"""The places at organ size (cells.room.Lattice): capacities computed for the boxes asked,
equal to the dense lattice's on fine meshes, right on coarse ones, the same on any number of
ranks, and memory for the boxes used only (docs/numerics.md "The places at organ size")."""

import numpy as np
import pytest
from mpi4py import MPI

from solver.cells.dense_room import DenseLattice
from solver.cells.locate import MeshWalker
from solver.cells.room import Lattice
from solver.verification.cells import unit_space

COMM = MPI.COMM_WORLD


def _all(lat) -> np.ndarray:
    """Capacity of every box of the lattice, on every rank (collective)."""
    n = int(np.prod(lat.shape))
    mine = np.arange(n, dtype=np.int64)[COMM.rank :: COMM.size]
    got = np.zeros(n)
    got[mine] = lat.capacity_of(mine)
    return COMM.allreduce(got, op=MPI.SUM)


@pytest.mark.parallel
@pytest.mark.parametrize("dim,n,h_ref", [(2, 12, 0.13), (3, 8, 0.3)])
def test_same_capacities_as_the_dense_lattice_on_a_fine_mesh(dim, n, h_ref):
    """Mesh no coarser than h_ref (the shipped cases): every box, boundary boxes cut to a
    fraction included, gets the dense lattice's capacity exactly."""
    w = MeshWalker(unit_space(COMM, n, dim))
    new, old = _all(Lattice(w, h_ref, 4.0)), _all(DenseLattice(w, h_ref, 4.0))
    assert np.sum((new > 0) & (new < 4.0)) > 0  # fractional boxes are compared too
    assert np.array_equal(new, old)


@pytest.mark.parallel
@pytest.mark.parametrize("dim,n,h_ref,part", [(2, 4, 0.012, 1 / 3), (3, 2, 0.15, 2 / 3)])
def test_capacity_right_on_a_coarse_mesh(dim, n, h_ref, part):
    """Elements many boxes across: boxes inside hold Q, the last layer (``part`` inside)
    Q x part to the sampling's 1/m, and the mesh does not matter (the same on n and 2 n);
    the dense lattice gives most boxes inside less (or 0)."""
    w = MeshWalker(unit_space(COMM, n, dim))
    cap = _all(Lattice(w, h_ref, 4.0)).reshape((int(np.ceil(1 / h_ref - 1e-9)),) * dim)
    inner = cap[(slice(0, -1),) * dim]
    assert np.all(inner == 4.0)
    face = cap[(slice(0, -1),) * (dim - 1) + (-1,)]
    assert np.allclose(face, 4.0 * part, atol=4.0 / 8)
    corner = cap[(-1,) * dim]
    assert corner == pytest.approx(4.0 * part**dim, abs=4.0 * dim / 8)
    assert np.array_equal(
        cap.ravel(), _all(Lattice(MeshWalker(unit_space(COMM, 2 * n, dim)), h_ref, 4.0))
    )
    dense = _all(DenseLattice(w, h_ref, 4.0)).reshape(cap.shape)
    assert np.mean(dense[(slice(0, -1),) * dim] != 4.0) > 0.3  # the failure this replaces


@pytest.mark.parallel
@pytest.mark.parametrize("h_ref", [0.07, 0.3])
def test_capacities_do_not_depend_on_the_ranks(h_ref):
    """The same capacities on this communicator and on one rank, with coarse elements
    (boxes sampled) and fine ones (the dense rule)."""
    here = _all(Lattice(MeshWalker(unit_space(COMM, 6)), h_ref, 3.5))
    one = Lattice(MeshWalker(unit_space(MPI.COMM_SELF, 6)), h_ref, 3.5)
    assert one.volume.coarse.all() == (h_ref < 0.1)
    total = int(np.prod(one.shape))
    assert np.array_equal(here, one.capacity_of(np.arange(total, dtype=np.int64)))


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
    assert COMM.allreduce(lat.stored()) == len(every) + len(counted)
    assert lat.total_capacity() == pytest.approx(2.0 * 4_000_000)
    lat.census(np.repeat(asked[:1], 2))  # two cells in one box of 2: full
    ok = lat.grant(
        asked[:2], np.arange(2, dtype=np.uint64), np.arange(2, dtype=np.uint64), np.zeros(2)
    )
    assert not ok[0] and (ok[1] or asked[1] == asked[0])
