"""Parameter sweeps: designs, runs on sub-communicators, sensitivity summary."""

import csv
from pathlib import Path

import numpy as np
import pytest
from mpi4py import MPI

from solver import config, sweep

COMM = MPI.COMM_WORLD
ROOT = Path(__file__).resolve().parents[1]


def test_designs():
    u, _ = sweep.design("lhs", 3, 10, seed=1)
    assert u.shape == (10, 3)
    for j in range(3):  # one point per stratum in every dimension
        assert sorted(np.floor(u[:, j] * 10).astype(int)) == list(range(10))
    g, _ = sweep.design("grid", 2, 3, seed=1)
    assert g.shape == (9, 2) and set(g[:, 0]) == {0.0, 0.5, 1.0}
    m, steps = sweep.design("morris", 3, 4, seed=1)
    assert m.shape == (16, 3) and len(steps) == 12
    for a, b, k in steps:  # each step moves one key by Delta = 2/3
        d = m[b] - m[a]
        assert np.isclose(d[k], 2 / 3) and np.count_nonzero(d) == 1
    assert ((m >= 0) & (m <= 1)).all()
    with pytest.raises(config.CaseError):
        sweep.parse_vary(["cells.D_M=1"])


@pytest.mark.parallel
def test_morris_sweep_finds_the_influential_key(tmp_path):
    out = Path(COMM.bcast(str(tmp_path), root=0))
    case = config.load(ROOT / "cases" / "demo.toml", [
        "time.steps=300", "output.every=150", "output.fields=false", "output.cells=false",
        "primary.geometry.size=[0.2, 0.2]", "primary.geometry.h=0.01", "primary.geometry.vessel_min_distance=0.0",
        "secondary=[]", "circulation.split={}"])
    table = sweep.run(case, out / "sw", [("cells.T_M", 0.1, 0.4), ("primary.mmp.Lambda", 0.05, 0.2)], samples=2,
                      outputs=["primary.cells"], comm=COMM, ranks_per_run=1, log=lambda m: None)
    rows = list(csv.DictReader(open(out / "sw" / "sensitivity.csv")))
    mu = {r["key"]: float(r["mu_star"]) for r in rows}
    assert len(list(csv.DictReader(open(table)))) == 6
    assert mu["cells.T_M"] > 10 * max(mu["primary.mmp.Lambda"], 1e-9)  # the doubling time drives the count
    if COMM.rank == 0:  # seedsoil plot on a sweep folder: the sensitivities as bars
        from solver import plots

        assert plots.plot(out / "sw") == [out / "sw" / "sensitivity.png"]
        assert (out / "sw" / "sensitivity.png").stat().st_size > 5000
