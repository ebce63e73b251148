"""Lesions are face-connected groups of occupied places, found across ranks."""

import numpy as np
import pytest
from mpi4py import MPI

from solver import config, lesions
from solver.cells.discrete import DiscreteCells
from solver.fields.reaction_diffusion import lumped_mass
from solver.verification.cells import unit_space

COMM = MPI.COMM_WORLD


@pytest.mark.parallel
def test_connected_groups_of_boxes():
    V = unit_space(COMM, 10)
    lat = DiscreteCells(
        V=V, lumped=lumped_mass(V), params=config.CellsSpec(h_ref=0.1), seed=1, dt=1e-3
    ).lattice
    # A 2 x 2 block (cells 2 per box), a single box touching it only at a corner, and a
    # 1 x 3 bar far away; each rank holds half of the cells of every box.
    block = [(1, 1), (1, 2), (2, 1), (2, 2)]
    corner = [(3, 3)]
    bar = [(7, 5), (7, 6), (7, 7)]
    boxes = np.array([i * 10 + j for i, j in block + corner + bar] * 2)
    mine = boxes[COMM.rank :: COMM.size] if COMM.size > 1 else boxes
    cells, n_boxes = lesions.find(lat, mine, COMM)
    assert cells.tolist() == [8.0, 6.0, 2.0] and n_boxes.tolist() == [4.0, 3.0, 1.0]
    d = lesions.diameters(n_boxes, 0.1, 2)
    assert np.allclose(d, 2 * np.sqrt(n_boxes * 0.01 / np.pi))
    assert lesions.find(lat, np.zeros(0, dtype=np.int64), COMM)[0].size == 0


def test_coarser_boxes_hold_whole_places():
    """Boxes of k places per edge: a point's coarse box is its place's, divided by k per axis
    (what Organ.lesions uses for a density on a mesh coarser than the places)."""
    fine = lesions.Boxes(np.array([0.0, -1.0]), 0.1, np.array([10, 7]))
    coarse = fine.coarsened(3)
    assert coarse.h == pytest.approx(0.3) and coarse.shape.tolist() == [4, 3]
    x = np.random.default_rng(1).uniform([0.0, -1.0], [1.0, -0.3], (200, 2))
    i, j = np.divmod(fine.box(x), 7)
    assert np.array_equal(coarse.box(x), (i // 3) * 3 + j // 3)
