"""cells.division: the reference code's synchronous rule (MetaSpread cancermodel.py, step
and proliferate) against exact counts, on any rank count (docs/fidelity.md)."""

from pathlib import Path

import numpy as np
import pytest
from mpi4py import MPI

from solver import config
from solver.cells.discrete import DiscreteCells
from solver.cells.population import MESENCHYMAL
from solver.fields.reaction_diffusion import lumped_mass
from solver.verification.cells import unit_space

COMM = MPI.COMM_WORLD
CASES = Path(__file__).resolve().parents[3] / "cases"


def _cells(division: str, **kw) -> DiscreteCells:
    n = 20
    V = unit_space(COMM, n)
    params = config.CellsSpec(h_ref=1.0 / n, division=division, **kw)
    return DiscreteCells(V=V, lumped=lumped_mass(V), params=params, seed=5, dt=1e-3)


def _counts(cells: DiscreteCells) -> tuple[int, int]:
    return cells.total()


@pytest.mark.parallel
def test_synchronous_division_doubles_each_phenotype_exactly_at_its_period():
    """With ample room, every cell of a phenotype divides in steps T + 1, 2T + 1, ... and
    no cell divides in between: E and M counts are exact at every step (cells moving)."""
    cells = _cells(
        "synchronous", D_E=2e-3, D_M=4e-3, Phi_E=0.05, Phi_M=0.05, T_E=0.006, T_M=0.004, Q=1e6
    )
    w = np.linspace(0, 1, len(cells.lumped))
    cells.seed_initial(np.array([0.5, 0.5]), 120, 0.6, 4.0)
    e0, m0 = _counts(cells)
    assert (e0, m0) == (48, 72)
    for k in range(1, 26):
        cells.step(k, w)
        periods_M = sum(1 for j in range(2, k + 1) if (j - 1) % 4 == 0)
        periods_E = sum(1 for j in range(2, k + 1) if (j - 1) % 6 == 0)
        assert _counts(cells) == (e0 * 2**periods_E, m0 * 2**periods_M), f"step {k}"


@pytest.mark.parallel
def test_synchronous_division_grants_exactly_the_room_mesenchymal_first():
    """Three cells on each place of room Q = 4, both phenotypes due at the same step: each
    place takes one daughter, a mesenchymal one where it has a mesenchymal cell (the
    reference divides M before E); at the next period no place has room and none divide."""
    cells = _cells(
        "synchronous", D_E=0.0, D_M=0.0, Phi_E=0.0, Phi_M=0.0, T_E=0.003, T_M=0.003, Q=4.0
    )
    w = np.zeros(len(cells.lumped))
    cells.seed_initial(np.array([0.5, 0.5]), 90, 0.5, 3.0)
    place = np.concatenate(COMM.allgather(cells.pop.place))
    is_M = np.concatenate(COMM.allgather(cells.pop.phenotype == MESENCHYMAL))
    places = np.unique(place)
    assert len(places) == 30 and np.all(np.bincount(place)[places] == 3)
    with_M = len(np.unique(place[is_M]))
    e0, m0 = _counts(cells)
    for k in range(1, 4):
        cells.step(k, w)
        assert _counts(cells) == (e0, m0), f"step {k}"
    cells.step(4, w)
    assert _counts(cells) == (e0 + 30 - with_M, m0 + with_M)
    assert COMM.allreduce(cells.stats["refused_divisions"]) == 60  # 90 due, 30 granted
    assert 0 < with_M < 30  # both kinds of place occur: the test can see the order
    place = np.concatenate(COMM.allgather(cells.pop.place))
    assert np.all(np.bincount(place)[places] == 4)
    for k in range(5, 10):
        cells.step(k, w)
    assert _counts(cells) == (e0 + 30 - with_M, m0 + with_M)
    assert (
        COMM.allreduce(cells.stats["refused_divisions"]) == 60 + 120
    )  # all at step 7, none retried at 8, 9


def test_division_key_checked_and_franssen_cases_synchronous():
    for name in ("franssen2019.toml", "franssen2019_primary.toml"):
        assert config.load(CASES / name).cells.division == "synchronous"
    assert config.CellsSpec().division == "asynchronous"
    with pytest.raises(config.CaseError, match="division"):
        config.from_dict({"cells": {"mode": "continuum", "division": "synchronous"}})
    with pytest.raises(config.CaseError, match="division"):
        config.from_dict({"cells": {"division": "sometimes"}})
