"""Parameter sweeps: designs, runs on sub-communicators, sensitivity summary (SALib)."""

import csv
import json
from functools import reduce
from pathlib import Path

import numpy as np
import pytest
from mpi4py import MPI
from SALib.analyze import morris as salib_morris
from SALib.test_functions import Ishigami
from scipy.stats import spearmanr

from solver import config, sweep

COMM = MPI.COMM_WORLD
ROOT = Path(__file__).resolve().parents[2]
SMALL = [
    "time.steps=60",
    "output.every=20",
    "output.fields=false",
    "output.cells=false",
    "primary.geometry.size=[0.2, 0.2]",
    "primary.geometry.h=0.01",
    "primary.geometry.vessel_min_distance=0.0",
    "secondary=[]",
    "circulation.split={}",
]


def test_designs():
    u, _ = sweep.design("lhs", 3, 10, seed=1)
    assert u.shape == (10, 3)
    for j in range(3):  # one point per stratum in every dimension
        assert sorted(np.floor(u[:, j] * 10).astype(int)) == list(range(10))
    g, _ = sweep.design("grid", 2, 3, seed=1)
    assert g.shape == (9, 2) and set(g[:, 0]) == {0.0, 0.5, 1.0}
    m, steps = sweep.design("morris", 3, 4, seed=1)
    assert m.shape == (16, 3) and len(steps) == 12
    # Each step moves one key by Delta = 2/3, up or down (SALib's trajectories run both
    # ways, Morris 1991's random directions D*), on the 4-level grid.
    for a, b, k in steps:
        d = m[b] - m[a]
        assert np.isclose(abs(d[k]), 2 / 3) and np.count_nonzero(d) == 1
    for t in range(4):  # every key moves once per trajectory
        assert sorted(k for a, _, k in steps if a // 4 == t) == [0, 1, 2]
    assert ((m >= 0) & (m <= 1)).all() and np.allclose(m * 3, np.round(m * 3))
    s, _ = sweep.design("sobol", 3, 8, seed=1)
    assert s.shape == (8 * (3 + 2), 3) and ((s >= 0) & (s <= 1)).all()
    for kind in sweep.DESIGNS:  # a function of the seed alone
        a, b, c = (sweep.design(kind, 2, 4, seed=s)[0] for s in (0, 0, 1))
        assert np.array_equal(a, b) and (kind == "grid" or not np.array_equal(a, c))
    with pytest.raises(config.CaseError, match="power of 2"):
        sweep.design("sobol", 2, 3, seed=1)
    with pytest.raises(config.CaseError):
        sweep.parse_vary(["cells.D_M=1"])


def _rows(kind, unit, steps, y, seed=0):
    keys = [f"k{i}" for i in range(unit.shape[1])]
    header, rows = sweep.sensitivity(
        kind, unit, steps, unit, y[:, None], keys=keys, outputs=["y"], seed=seed
    )
    return [dict(zip(header, r)) for r in rows]


def test_morris_measures_of_a_known_model():
    """y = 3 x0 - 2 x1 + x2^2: the elementary effects of x0 and x1 are 3 and -2 exactly;
    those of x2 are x_lo + x_hi, 2/3 or 4/3 with the start drawn from the grid, so mu* is 1
    within the standard error (1/3)/sqrt(r) of r trajectories."""
    r = 40
    unit, steps = sweep.design("morris", 3, r, seed=4)
    y = 3 * unit[:, 0] - 2 * unit[:, 1] + unit[:, 2] ** 2
    rows = _rows("morris", unit, steps, y)
    for row, mu in zip(rows[:2], (3.0, -2.0)):
        assert float(row["mu"]) == pytest.approx(mu)
        assert float(row["mu_star"]) == pytest.approx(abs(mu))
        assert float(row["sigma"]) == pytest.approx(0, abs=1e-12) and row["effects"] == r
    ee = [unit[a, 2] + unit[b, 2] for a, b, k in steps if k == 2]
    assert float(rows[2]["mu_star"]) == pytest.approx(np.mean(ee))
    assert float(rows[2]["sigma"]) == pytest.approx(np.std(ee, ddof=1))
    assert abs(float(rows[2]["mu_star"]) - 1) < 4 * (1 / 3) / np.sqrt(r)
    assert 0 < float(rows[2]["mu_star_conf"]) < 0.2


def test_morris_per_key_is_salibs_whole_design_and_skips_infinite_outputs():
    unit, steps = sweep.design("morris", 3, 30, seed=5)
    y = Ishigami.evaluate(-np.pi + 2 * np.pi * unit)
    whole = salib_morris.analyze(sweep._unit_problem(3), unit, y, num_levels=sweep.LEVELS, seed=0)
    rows = _rows("morris", unit, steps, y)
    for name in ("mu", "mu_star", "sigma"):
        assert [float(r[name]) for r in rows] == pytest.approx(list(whole[name]), rel=1e-12)
    # detected_hours is inf where nothing was detected: only the two effects that touch that
    # point are lost (a step into it and one out of it), not its whole trajectory.
    a, b, k_in = steps[4]
    k_out = next(k for a2, _, k in steps if a2 == b)
    y[b] = np.inf
    rows = _rows("morris", unit, steps, y)
    lost = [30 - r["effects"] for r in rows]
    assert sum(lost) == 2 and lost[k_in] >= 1 and lost[k_out] >= 1
    assert all(np.isfinite(float(r["mu_star"])) for r in rows)


def test_sobol_indices_of_known_models():
    """Ishigami (Ishigami & Homma 1990; a = 7, b = 0.1 on [-pi, pi]^3), from its closed-form
    partial variances V1 = (1 + b pi^4 / 5)^2 / 2, V2 = a^2 / 8, V13 = b^2 pi^8 (1/18 - 1/50):
    S1 = 0.3139, 0.4424, 0 and ST = 0.5576, 0.4424, 0.2437; a linear model sum a_i x_i of
    uniform inputs: S1 = ST = a_i^2 / sum a_j^2. Each within twice its own 95 % half-width,
    which shrinks as 1/sqrt(N)."""
    unit, _ = sweep.design("sobol", 3, 1024, seed=6)
    ishigami = Ishigami.evaluate(-np.pi + 2 * np.pi * unit)
    a = np.array([1.0, 2.0, 3.0])
    for y, s1, st in (
        (ishigami, [0.3139, 0.4424, 0.0], [0.5576, 0.4424, 0.2437]),
        (unit @ a, a**2 / (a**2).sum(), a**2 / (a**2).sum()),
    ):
        rows = _rows("sobol", unit, [], y)
        for r, want1, want_t in zip(rows, s1, st):
            assert 0 < float(r["S1_conf"]) < 0.1 and 0 < float(r["ST_conf"]) < 0.1
            assert abs(float(r["S1"]) - want1) < 2 * float(r["S1_conf"])
            assert abs(float(r["ST"]) - want_t) < 2 * float(r["ST_conf"])
    ishigami[3] = np.inf  # a variance needs finite values: no estimate, not a wrong one
    assert all(r[c] == "" for r in _rows("sobol", unit, [], ishigami) for c in ("S1", "ST"))


def test_lhs_first_order_indices_by_rbd_fast():
    """RBD-FAST's S1 on an LHS of the Ishigami and the linear model above, within twice
    its 95 % half-width; no estimate below 8 M = 80 points; Spearman's rho as before."""
    unit, _ = sweep.design("lhs", 3, 1024, seed=7)
    a = np.array([1.0, 2.0, 3.0])
    for y, s1 in (
        (Ishigami.evaluate(-np.pi + 2 * np.pi * unit), [0.3139, 0.4424, 0.0]),
        (unit @ a, a**2 / (a**2).sum()),
    ):
        rows = _rows("lhs", unit, [], y)
        for r, want in zip(rows, s1):
            assert 0 < float(r["S1_conf"]) < 0.1
            assert abs(float(r["S1"]) - want) < 2 * float(r["S1_conf"])
    assert [float(r["spearman_rho"]) for r in rows] == pytest.approx(
        [spearmanr(unit[:, i], unit @ a)[0] for i in range(3)]
    )
    few, _ = sweep.design("lhs", 3, 79, seed=7)
    rows = _rows("lhs", few, [], few @ a)
    assert all(r["S1"] == r["S1_conf"] == "" and r["spearman_rho"] for r in rows)


@pytest.mark.parallel
def test_morris_sweep_finds_the_influential_key(tmp_path):
    out = Path(COMM.bcast(str(tmp_path), root=0))
    case = config.load(
        ROOT / "cases" / "demo.toml",
        [
            "time.steps=300",
            "output.every=150",
            "output.fields=false",
            "output.cells=false",
            "primary.geometry.size=[0.2, 0.2]",
            "primary.geometry.h=0.01",
            "primary.geometry.vessel_min_distance=0.0",
            "secondary=[]",
            "circulation.split={}",
        ],
    )
    vary = [("cells.T_M", 0.1, 0.4), ("primary.mmp.Lambda", 0.05, 0.2)]
    table = sweep.run(
        case,
        out / "sw",
        vary,
        samples=2,
        outputs=["primary.cells"],
        comm=COMM,
        ranks_per_run=1,
        log=lambda m: None,
    )
    rows = list(csv.DictReader(open(out / "sw" / "sensitivity.csv")))
    mu = {r["key"]: float(r["mu_star"]) for r in rows}
    assert len(list(csv.DictReader(open(table)))) == 6
    # the doubling time drives the count
    assert mu["cells.T_M"] > 10 * max(mu["primary.mmp.Lambda"], 1e-9)
    if COMM.rank == 0:  # seedsoil plot on a sweep folder: the sensitivities as bars
        from solver import plots

        assert plots.plot(out / "sw") == [out / "sw" / "sensitivity.png"]
        assert (out / "sw" / "sensitivity.png").stat().st_size > 5000


@pytest.mark.parallel
@pytest.mark.parametrize(
    "kind,samples,runs,measure,ranks_per_run",
    [("lhs", 3, 3, "spearman_rho", (1,)), ("sobol", 1, 4, "S1", (1, COMM.size))],
)  # the smallest Sobol design: mechanics, not indices
def test_small_sweep_is_the_same_on_any_ranks(
    tmp_path, kind, samples, runs, measure, ranks_per_run
):
    """A small real sweep of the lhs and sobol designs (morris: above; grid: unchanged):
    the design of the case seed on every rank, and for sobol the same table with a run per
    rank and with every run on all ranks."""
    out = Path(COMM.bcast(str(tmp_path), root=0))
    case = config.load(ROOT / "cases" / "demo.toml", SMALL)
    vary = [("cells.T_M", 0.1, 0.4), ("primary.mmp.Lambda", 0.05, 0.2)]
    tables = [
        sweep.run(
            case,
            out / f"rpr{rpr}",
            vary,
            samples,
            kind=kind,
            outputs=["primary.cells"],
            comm=COMM,
            ranks_per_run=rpr,
            log=lambda m: None,
        ).read_text()
        for rpr in ranks_per_run
    ]
    assert COMM.allgather(tables[0]) == [tables[0]] * COMM.size and tables[0] == tables[-1]
    rows = list(csv.DictReader(open(out / "rpr1" / "sweep.csv")))
    unit, _ = sweep.design(kind, 2, samples, case.seed)
    lo, hi = np.array([v[1:] for v in vary]).T
    assert len(rows) == runs
    assert np.array_equal([[float(r[k]) for k, _, _ in vary] for r in rows], lo + unit * (hi - lo))
    for i, r in enumerate(rows):  # every run ran the point its row names, whichever rank ran it
        manifest = out / "rpr1" / f"point_{i:04d}" / "replicate_00" / "manifest.json"
        ran = json.loads(manifest.read_text())
        for key, _, _ in vary:
            assert reduce(lambda d, part: d[part], key.split("."), ran["case"]) == float(r[key])
    sens = list(csv.DictReader(open(out / "rpr1" / "sensitivity.csv")))
    assert [r["key"] for r in sens] == [k for k, _, _ in vary]
    assert all(r[measure] != "" for r in sens)


def test_sobol_samples_must_be_a_power_of_2(capsys):
    from solver import cli

    code = cli.main(
        [
            "sweep",
            str(ROOT / "cases" / "demo.toml"),
            "--vary",
            "cells.D_M=1e-4:2e-4",
            "--samples",
            "3",
            "--design",
            "sobol",
            "--output",
            "unused",
        ]
    )
    assert code == 2 and "must be a power of 2, got 3" in capsys.readouterr().out


def _run_folder(folder, detected, organs=("primary", "liver", "lung")):
    folder.mkdir(parents=True)
    manifest = {"organs": list(organs), "detected_hours": detected, "final": {"hours": 90.0}}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / "metrics.csv").write_text("step,time,hours,cells\n0,0,0,5\n9,1,90,7\n")
    return folder


def test_detected_hours_outputs_with_dotted_keys(tmp_path):
    """detected_hours.<key> reads the manifest's key whole, dots and all; a valid key that
    never held is inf; a key of no known shape (an unknown organ or rule) is a CaseError
    naming the manifest and the keys' pattern."""
    run = _run_folder(
        tmp_path / "r", {"liver": 30.0, "liver.pet": 12.5, "M1.ct": 40.0, "N1.percist": 8.0}
    )
    assert sweep._output(run, "detected_hours.liver.pet") == 12.5
    assert sweep._output(run, "detected_hours.M1.ct") == 40.0
    assert sweep._output(run, "detected_hours.N1.percist") == 8.0
    assert sweep._output(run, "detected_hours.liver") == 30.0
    assert sweep._output(run, "cells") == 7.0
    for never in ("lung", "lung.mri", "M1.size", "ctc", "primary.percist"):
        assert sweep._output(run, f"detected_hours.{never}") == np.inf
    for typo in ("livr", "liver.PET", "liver.xray", "M1", "M1.liver", "M0.ct", "ctc.pet"):
        with pytest.raises(config.CaseError, match="no detection key") as err:
            sweep._output(run, f"detected_hours.{typo}")
        msg = str(err.value)
        assert str(run / "manifest.json") in msg and repr(typo) in msg
        assert "<M1|N1>.<size|pet|ct|mri|percist>" in msg and "primary, liver, lung" in msg


def test_a_wrong_detection_key_fails_before_any_run(tmp_path, capsys):
    """The case's organs are known before the runs: a typo costs no simulation."""
    from solver import cli

    case = config.load(ROOT / "cases" / "demo.toml", SMALL)
    organs = [o.name for o in case.organs()]
    sweep.check_outputs(["cells", "detected_hours.primary.ct", "detected_hours.M1.pet"], organs)
    with pytest.raises(config.CaseError, match="'prim.ct'"):
        sweep.check_outputs(["detected_hours.prim.ct"], organs)
    code = cli.main(
        [
            "sweep",
            str(ROOT / "cases" / "demo.toml"),
            "--vary",
            "cells.D_M=1e-4:2e-4",
            "--samples",
            "2",
            "--outputs",
            "detected_hours.primary.xray",
            "--output",
            str(tmp_path / "sw"),
        ]
        # Were the check to miss, the runs would be short ones.
        + [a for s in SMALL + ["time.steps=2"] for a in ("--set", s)]
    )
    assert code == 2 and "no detection key 'primary.xray'" in capsys.readouterr().out
    assert not (tmp_path / "sw" / "point_0000").exists()
