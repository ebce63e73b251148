"""Load balance by cancer cells (solver/partition.py, parallel.balance = "cells"): the
weighted bisection balances weight; an off-centre tumour that dolfinx's partition gives
to one rank is shared by both ranks, and the run does not change."""

from pathlib import Path

import numpy as np
import pytest
from mpi4py import MPI

from solver import config, partition
from solver.simulation import Simulation

COMM = MPI.COMM_WORLD
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("nparts", [2, 3, 7, 16])
def test_bisection_balances_the_weight(nparts):
    rng = np.random.default_rng(nparts)
    x = rng.random((20_000, 3))
    w = 1.0 + 40.0 * (np.linalg.norm(x - 0.2, axis=1) < 0.25)  # a heavy "tumour" in a corner
    part = partition.bisect(x, w, nparts)
    load = np.bincount(part, weights=w, minlength=nparts)
    assert set(part.tolist()) == set(range(nparts))
    assert load.max() / load.mean() < 1.02
    if nparts == 2:  # one cut: a plane normal to an axis separates the parts
        assert any(x[part == 0, k].max() <= x[part == 1, k].min() for k in range(3))


def test_expected_cells_hold_the_tumour():
    # Triangles of a fine grid over [0, 1]^2: the expected cells sum to the tumour's count.
    n = 400
    mid = np.stack(np.meshgrid((np.arange(n) + 0.5) / n, (np.arange(n) + 0.5) / n), -1).reshape(
        -1, 2
    )
    vol = np.full(len(mid), 1.0 / n**2)
    cells = partition.expected_cells(
        mid, vol, [(np.array([0.3, 0.4]), 5000)], per_volume=4 / 0.005**2
    )
    assert cells.sum() == pytest.approx(5000, rel=0.02)
    assert cells[np.linalg.norm(mid - [0.8, 0.8], axis=1) < 0.1].sum() == 0


def _run(tmp: Path, balance: str):
    case = config.load(
        ROOT / "cases" / "franssen2019_primary.toml",
        [
            "primary.geometry.size=[0.3, 0.3]",
            "primary.geometry.tumour_centre=[0.07, 0.07]",
            "primary.geometry.vessel_min_distance=0.05",
            "time.steps=20",
            "output.every=20",
            "output.fields=false",
            "output.cells=false",
            "output.plots=false",
            "solver.rtol=1e-12",
            f'parallel.balance="{balance}"',
        ],
    )
    sim = Simulation(case, tmp / balance, quiet=True)
    o = sim.organs[0]
    start = COMM.allgather(len(o.cells.pop))
    sim.run()
    cells = COMM.allgather(np.c_[o.cells.pop.id.astype(float), o.cells.pop.x])
    cells = np.concatenate(cells)
    return start, cells[np.argsort(cells[:, 0])], sim.census()


@pytest.mark.parallel
def test_balancing_by_cells_shares_an_off_centre_tumour(tmp_path):
    tmp = Path(COMM.bcast(str(tmp_path), root=0))
    by_elements, a, census_a = _run(tmp, "elements")
    by_cells, b, census_b = _run(tmp, "cells")
    assert sum(by_cells) == sum(by_elements) == 388
    if COMM.size == 2:
        assert max(by_elements) == 388  # the graph partition leaves the tumour on one rank
        # Weighted by cells (each worth parallel.cell_cost elements), both ranks share the
        # tumour; not evenly, since the ranks' elements count too.
        assert min(by_cells) >= 0.25 * 388
    # The partition changes where cells are computed, not what happens to them.
    assert census_a == census_b
    assert a.shape == b.shape and np.allclose(a, b, rtol=0, atol=1e-10)


@pytest.mark.parallel
def test_a_restart_rebalances_by_the_checkpoint_cells(tmp_path):
    """On a restart with balance = "cells" the weights are the checkpoint's cells (each
    cell in its element by input index), and the continued run agrees with the
    uninterrupted one."""
    tmp = Path(COMM.bcast(str(tmp_path), root=0))
    sets = [
        "primary.geometry.size=[0.3, 0.3]",
        "primary.geometry.tumour_centre=[0.07, 0.07]",
        "primary.geometry.vessel_min_distance=0.05",
        "output.every=10",
        "output.fields=false",
        "output.cells=false",
        "output.plots=false",
        "solver.rtol=1e-12",
        'parallel.balance="cells"',
    ]
    case = config.load(ROOT / "cases" / "franssen2019_primary.toml", sets + ["time.steps=20"])
    whole = Simulation(case, tmp / "whole", quiet=True)
    whole.run()
    part = Simulation(case, tmp / "part", quiet=True)
    part.run(steps=10)
    part.checkpoint()
    more = Simulation.restart(tmp / "part", quiet=True)
    o = more.organs[0]
    weights = more._weights(0, more.case.primary)
    n_el = o.mesh.topology.index_map(2).size_global
    w = weights(np.zeros((n_el, 2)), np.ones(n_el), None)
    assert (w - 1.0).sum() / more.case.parallel.cell_cost == pytest.approx(more.census()["alive"])
    here = COMM.allgather(len(o.cells.pop))
    if COMM.size == 2:
        assert min(here) >= 0.25 * sum(here)
    more.run()
    assert more.census() == whole.census()
    a = np.concatenate(COMM.allgather(np.c_[o.cells.pop.id.astype(float), o.cells.pop.x]))
    w0 = whole.organs[0]
    b = np.concatenate(COMM.allgather(np.c_[w0.cells.pop.id.astype(float), w0.cells.pop.x]))
    a, b = a[np.argsort(a[:, 0])], b[np.argsort(b[:, 0])]
    assert a.shape == b.shape and np.allclose(a, b, rtol=0, atol=1e-10)
