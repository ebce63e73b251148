"""scripts/vs_metaspread.py does not rot: its statistics on synthetic inputs (checked
against scipy's own Welch test) and its seedsoil side on a tiny case."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import vs_metaspread as vs  # noqa: E402

TINY = """
name = "tiny_franssen"
[time]
dt = 1.0e-3
steps = 6
[output]
every = 3
[primary.geometry]
size = [0.3, 0.3]
h = 0.02
h_fine = 0.01
tumour_radius = 0.03
[[secondary]]
name = "site1"
[secondary.geometry]
size = [0.1, 0.1]
h = 0.02
normal_vessels = 0
ruptured_vessels = 1
vessel_min_distance = 0.0
[cells]
division = "synchronous"
[cells.initial]
count = 40
"""


def test_welch_interval_matches_scipy_and_detectable_difference():
    a = np.array([230.0, 233, 236, 229, 241])
    b = np.array([250.0, 240, 262, 255])
    w = vs.welch(a, b)
    ci = stats.ttest_ind(b, a, equal_var=False).confidence_interval(0.95)
    assert w["diff"] == pytest.approx(b.mean() - a.mean())
    assert (w["lo"], w["hi"]) == pytest.approx((ci.low, ci.high))
    se = np.sqrt(a.var(ddof=1) / 5 + b.var(ddof=1) / 4)
    assert w["mdd"] == pytest.approx(2.8 * se)
    assert np.isnan(vs.welch(a[:1], b)["lo"])  # one replicate: no interval


def test_compare_flags_a_departure_beyond_ten_percent():
    rng = np.random.default_rng(3)
    ref = [
        {0: dict.fromkeys(vs.STATS, 1.0), 300: {s: 100 + rng.normal() for s in vs.STATS}}
        for _ in range(6)
    ]
    same = [
        {0: dict.fromkeys(vs.STATS, 1.0), 300: {s: 100 + rng.normal() for s in vs.STATS}}
        for _ in range(6)
    ]
    off = [{300: {s: 125 + rng.normal() for s in vs.STATS}} for _ in range(6)]
    rows = vs.compare(ref, same)
    assert len(rows) == 2 * len(vs.STATS)
    assert all(r["within"] for r in rows)
    rows = vs.compare(ref, off)
    assert [r["step"] for r in rows] == [300] * len(vs.STATS) and not any(r["within"] for r in rows)
    partial = vs.compare(ref + [{0: dict.fromkeys(vs.STATS, 1.0)}], same)  # a seed still running
    assert {r["step"]: r["n_ref"] for r in partial} == {0: 7, 300: 6}


def test_radius_statistics_as_seedsoil_defines_them():
    d = np.arange(1, 101) * 1e-3
    xy = np.column_stack([0.5 + d, np.full(100, 0.5)])
    assert vs.stats_from_points(xy) == pytest.approx((0.1, 0.095))
    assert vs.stats_from_points(np.zeros((0, 2))) == (0.0, 0.0)


def test_seedsoil_side_on_a_tiny_case_and_the_comparison_end_to_end(tmp_path):
    case = tmp_path / "tiny.toml"
    case.write_text(TINY)
    out = tmp_path / "vs"
    metrics = vs.run_seedsoil(
        1,
        6,
        3,
        out / "seedsoil",
        case,
        ["primary.geometry.normal_vessels=1", "primary.geometry.ruptured_vessels=1"],
    )
    got = vs.load_seedsoil(metrics)
    assert sorted(got) == [0, 3, 6]
    assert got[0]["E"] + got[0]["M"] == 40 and got[0]["M"] == 24 and got[0]["radius_max"] > 0
    # A MetaSpread record in ms_driver.py's format, then the whole comparison.
    (out / "metaspread").mkdir()
    samples = [
        {
            "step": k,
            "xy": [[0.5, 0.5], [0.52, 0.5], [0.5, 0.45]],
            "M": [1, 0, 1],
            "degraded": 0.0,
            "intravasated": 0,
        }
        for k in (0, 3, 6)
    ]
    (out / "metaspread" / "ms_seed1.json").write_text(
        json.dumps({"samples": samples, "done": True, "steps": 6})
    )
    vs.main(["--out", str(out), "--compare-only"])
    rows = list(vs.csv.DictReader(open(out / "compare.csv")))
    assert len(rows) == 3 * len(vs.STATS) and (out / "compare.png").stat().st_size > 0
    r = next(r for r in rows if r["stat"] == "M" and r["step"] == "0")
    assert float(r["ref_mean"]) == 2 and float(r["seedsoil_mean"]) == 24
