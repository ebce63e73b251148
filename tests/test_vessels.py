"""Tip-cell angiogenesis (solver/vessels.py) on Anderson & Chaplain (1998)'s benchmark
setting: sprouts climb the VEGF gradient, branch, fuse, and perfused trails raise b;
the same on 2 ranks."""

from pathlib import Path

import numpy as np
import pytest
from mpi4py import MPI

from solver import config
from solver.simulation import Simulation

COMM = MPI.COMM_WORLD
ROOT = Path(__file__).resolve().parents[1]


def run(tmp, name, steps, **angio):
    sets = [f"time.steps={steps}", "output.every=500", "output.fields=false", "output.cells=false",
            "primary.geometry.h=0.02"] + [f"primary.angiogenesis.{k}={v}" for k, v in angio.items()]
    case = config.load(ROOT / "cases" / "angiogenesis_ac1998.toml", sets)
    sim = Simulation(case, tmp / name, quiet=True)
    sim.run()
    return sim


@pytest.mark.parallel
def test_sprouts_climb_the_gradient_branch_and_perfuse(tmp_path):
    tmp = Path(COMM.bcast(str(tmp_path), root=0))
    plain = run(tmp, "plain", 3000, branch=0.0)
    m = plain.last
    assert m["primary.sprouts"] == 5 and m["primary.tips_active"] + m["primary.tips_fused"] == 5
    # Without chemotaxis and haptotaxis the tips only diffuse: sqrt(2 D t) ~ 0.025.
    still = run(tmp, "still", 3000, branch=0.0, chi0=0.0, rho=0.0)
    assert m["primary.tip_reach"] > 2.5 * still.last["primary.tip_reach"]
    assert still.last["primary.tip_reach"] < 0.06
    # Branching and anastomosis (tip-to-sprout, siblings included) balance each other, as
    # in A&C: most tips end fused; fused paths carry blood: b = 1 on them only.
    rich = run(tmp, "rich", 8000, branch=40.0)
    r = rich.last
    assert r["primary.branches"] > 10 and r["primary.anastomoses"] > r["primary.branches"] / 2
    assert r["primary.tips_active"] < r["primary.tips_fused"]
    assert 0 < r["primary.perfused_fraction"] < 0.2
    b = rich.organ.soil.b.x.array if rich.organ is not None else np.zeros(0)
    assert np.all((b == 0) | (b == 1))
    assert r["ledger_error"] == 0
