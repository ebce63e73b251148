"""Ensembles: replicate k is the run with seed + k, whether alone or in an ensemble;
the summary holds the mean and the 5-95 % band of every metric."""

import csv
from pathlib import Path

import numpy as np
import pytest
from mpi4py import MPI
from small_demo import COARSE_SECONDARIES

from solver import config, ensemble
from solver.simulation import Simulation

COMM = MPI.COMM_WORLD
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parallel
def test_replicate_is_the_same_alone_and_in_an_ensemble(tmp_path):
    out = Path(COMM.bcast(str(tmp_path), root=0))
    case = config.load(
        ROOT / "cases" / "demo.toml",
        [
            "time.steps=60",
            "output.every=20",
            "output.fields=false",
            "primary.geometry.size=[0.2, 0.2]",
            "primary.geometry.h=0.01",
            "primary.geometry.vessel_min_distance=0.0",
            # The demo's liver and lung at h = 0.02 instead of 5e-3 (four set-ups).
            COARSE_SECONDARIES,
        ],
    )
    summary = ensemble.run(
        case, out / "ens", replicates=3, comm=COMM, ranks_per_replicate=1, log=lambda m: None
    )
    if COMM.rank == 0:
        alone = case.model_copy(deep=True)
        alone.seed = case.seed + 2
        Simulation(alone, out / "alone", comm=MPI.COMM_SELF, quiet=True).run()
        assert (out / "alone" / "metrics.csv").read_text() == (
            out / "ens" / "replicate_002" / "metrics.csv"
        ).read_text()
        # Every row of the summary against numpy on the replicates' own metrics.csv:
        # the mean and the 5 % / 95 % quantiles (linear interpolation, numpy's default).
        reps = [
            list(csv.DictReader(open(out / "ens" / f"replicate_{k:03d}" / "metrics.csv")))
            for k in range(3)
        ]
        summ = list(csv.DictReader(open(summary)))
        checked = 0
        for r in summ:
            i = next(j for j, row in enumerate(reps[0]) if row["step"] == r["step"])
            v = np.array([float(rep[i][r["metric"]]) for rep in reps if rep[i][r["metric"]] != ""])
            assert int(r["replicates"]) == len(v) == 3
            want = (v.mean(), np.quantile(v, 0.05), np.quantile(v, 0.95))
            got = tuple(float(r[c]) for c in ("mean", "p05", "p95"))
            assert got == pytest.approx(want, rel=1e-12, abs=1e-300), (
                r["metric"],
                r["step"],
                got,
                want,
            )
            checked += (
                v.std() > 0
            )  # rows where the replicates differ (the quantiles are not the mean)
        steps = {r["step"] for r in reps[0]}
        # One row per step and metric that some replicate has a value of (an empty cell is
        # undefined: no CTC counted has no cluster fraction).
        valued = sum(
            any(rep[i][c] != "" for rep in reps)
            for i in range(len(reps[0]))
            for c in reps[0][0]
            if c not in ("step", "time", "hours")
        )
        assert {r["step"] for r in summ} == steps and len(summ) == valued
        assert checked > 20
        finals = np.array([float(rep[-1]["primary.cells"]) for rep in reps])
        assert finals.std() > 0  # the replicates differ, so the band is not a point
        assert (out / "ens" / "ensemble.png").stat().st_size > 5000
    COMM.Barrier()


def test_arrival_shares_and_their_interval(tmp_path):
    """Units are counted once however many rows they arrive in; the share's interval is
    the exact binomial one; the ratio's interval follows from it."""
    import json

    from scipy.stats import binomtest

    head = "step,time,hours,event,organ,site,unit,cells,cells_E,cells_M\n"
    plan = [{"site1": 30, "site2": 10}, {"site1": 45, "site2": 15}]
    folders = []
    for k, counts in enumerate(plan):
        f = tmp_path / f"replicate_{k:03d}"
        f.mkdir()
        (f / "manifest.json").write_text(json.dumps({"organs": ["primary", "site1", "site2"]}))
        rows = [f"1,0,0,intravasation,primary,0,{k}00,3,1,2\n"]
        for organ, n in counts.items():
            for u in range(n):
                rows.append(f"5,0,0,arrival,{organ},1,{u}{organ[-1]},2,1,1\n")
                if u % 5 == 0:  # a cluster that lands in two rows (two vessel sites)
                    rows.append(f"5,0,0,arrival,{organ},2,{u}{organ[-1]},1,1,0\n")
        (f / "events.csv").write_text(head + "".join(rows))
        folders.append(f)
    lines = ensemble.arrivals(folders, tmp_path / "arrivals.csv")
    table = list(csv.DictReader(open(tmp_path / "arrivals.csv")))
    assert [(r["organ"], int(r["units"])) for r in table] == [
        ("site1", 30),
        ("site2", 10),
        ("site1", 45),
        ("site2", 15),
    ]
    assert int(table[0]["cells"]) == 30 * 2 + 6
    ci = binomtest(75, 100).proportion_ci(0.95, method="exact")
    assert (
        lines[0]
        == f"arrivals in site1: 75 of 100 units (75.0%, 95 % interval {ci.low:.1%}-{ci.high:.1%})"
    )
    assert lines[2] == (
        f"arrival ratio site1/site2: 3.00 (95 % interval {ci.low / (1 - ci.low):.2f}-"
        f"{ci.high / (1 - ci.high):.2f})"
    )


def test_effects_between_arms():
    """Difference of means with Welch's 95 % interval, against a direct computation."""
    import numpy as np
    from scipy import stats

    rng = np.random.default_rng(3)
    a, b = rng.normal(10, 2, 16), rng.normal(13, 3, 16)
    out = ensemble.effects({"ref": {"m": a}, "arm": {"m": b}}, "ref")
    row = out["arm"]["m"]
    va, vb = a.var(ddof=1) / 16, b.var(ddof=1) / 16
    se = np.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / 15 + vb**2 / 15)
    half = stats.t.ppf(0.975, df) * se
    assert row["effect"] == pytest.approx(b.mean() - a.mean())
    assert row["low"] == pytest.approx(b.mean() - a.mean() - half) and row["high"] == pytest.approx(
        b.mean() - a.mean() + half
    )
    assert "effect" not in out["ref"]["m"] and out["ref"]["m"]["mean"] == pytest.approx(a.mean())
    same = ensemble.effects({"r": {"m": np.zeros(4)}, "s": {"m": np.zeros(4)}}, "r")
    assert same["s"]["m"]["effect"] == 0.0 and same["s"]["m"]["p"] == 1.0
