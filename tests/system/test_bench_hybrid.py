"""scripts/bench_hybrid.py, hybrid cells against all-discrete (docs/performance.md): its report
on a small organ, its skip of sizes that would not fit, and its log-log fit (the timings
themselves are the machine's, so they are checked against each other and the test's clock).
"""

import importlib.util
import json
import math
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "bench_hybrid.py"


def _module():
    spec = importlib.util.spec_from_file_location("bench_hybrid", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_bench_hybrid_reports_both_modes_and_skips_what_would_not_fit():
    steps = 2
    t0 = time.perf_counter()
    r = subprocess.run(
        [sys.executable, str(SCRIPT), "--cells", "1000", "3000", "--steps", str(steps)]
        + ["--budget", "0.001"],  # the 3000-cell organs are predicted over it: skipped
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    wall = time.perf_counter() - t0
    assert r.returncode == 0, r.stdout + r.stderr
    res = json.loads(r.stdout.strip().splitlines()[-1])
    rows = {row["mode"]: row for row in res["rows"]}
    assert sorted(rows) == ["discrete", "hybrid"] and len(res["rows"]) == 2
    assert all(row["cells_seeded"] == 1000 for row in res["rows"])
    for row in rows.values():
        # Positive times, within the subprocess's own clock; a day is 2160 steps of 40 s.
        assert 0 < row["ms_per_step"] * steps / 1e3 < wall
        assert 0 < row["cells_ms_per_step"] + row["fields_ms_per_step"] <= row["ms_per_step"]
        assert row["s_per_day"] == pytest.approx(row["ms_per_step"] / 1e3 * 2160, rel=1e-12)
        assert 0 < row["mesh_s"] < row["setup_s"] < wall and row["peak_rss_mb"] > 0
        # The organ: a disc of 1000 cells at 4 per place, radius sqrt(250 / pi) h_ref, and a
        # margin of 30 % of it on each side, meshed at h_ref = 0.005.
        side = 2.6 * 0.005 * math.sqrt(250 / math.pi)
        assert row["side_L"] == pytest.approx(side, rel=1e-12)
        assert (side / 0.005) ** 2 < row["vertices"] < 2 * (side / 0.005 + 1) ** 2
    # No cell dies without oxygen and none leaves without vessels: 1000 and the few born.
    d, h = rows["discrete"], rows["hybrid"]
    assert d["cells_density"] == 0 and d["density_fraction"] == 0
    assert 1000 <= d["cells_discrete"] < 1020
    assert 1000 - 1e-9 <= h["cells_discrete"] + h["cells_density"] < 1020
    # The hybrid converts the packed core when it is built: most of the cells are density.
    assert h["density_fraction_start"] > 0.5 and h["density_fraction"] > 0.5
    assert h["cells_discrete"] >= 1  # the disc's rim stays discrete
    ratio = res["ratio_discrete_to_hybrid"]["1000"]
    assert ratio == pytest.approx(d["ms_per_step"] / h["ms_per_step"], rel=1e-12)
    # The larger size is skipped for time in both modes, with the reason printed.
    assert sorted(s["mode"] for s in res["skipped"]) == ["discrete", "hybrid"]
    assert all(s["cells_seeded"] == 3000 and "time" in s["reason"] for s in res["skipped"])
    assert len(re.findall(r"N = 3e\+03 \w+: skipped \(time: about", r.stdout)) == 2
    assert res["hybrid_fit"]["slope"] is None  # one hybrid size: no slope claimed


def test_loglog_slope_and_extrapolation():
    mod = _module()
    x = [1e3, 1e4, 1e5, 1e6]
    fast = mod.loglog_slope(x, [2.0 * v**1.5 for v in x])
    assert fast["slope"] == pytest.approx(1.5, rel=1e-9) and not fast["no_faster"]
    assert fast["ci95"] == pytest.approx([1.5, 1.5], abs=1e-6)
    noisy = mod.loglog_slope(x, [v**0.8 * f for v, f in zip(x, [1.1, 0.9, 1.05, 0.97])])
    assert noisy["no_faster"] and noisy["ci95"][0] < noisy["slope"] < noisy["ci95"][1]
    # Student's t on 2 degrees of freedom (4.303), not the normal's 1.96.
    lx = [math.log(v) for v in x]
    ly = [math.log(v**0.8 * f) for v, f in zip(x, [1.1, 0.9, 1.05, 0.97])]
    mx = sum(lx) / 4
    b = noisy["slope"]
    a = sum(ly) / 4 - b * mx
    s2 = sum((y - a - b * u) ** 2 for u, y in zip(lx, ly)) / 2
    se = math.sqrt(s2 / sum((u - mx) ** 2 for u in lx))
    assert noisy["ci95"][1] - b == pytest.approx(4.302652729911275 * se, rel=1e-9)
    assert mod.loglog_slope([1e3], [1.0])["slope"] is None
    # The line through the last two sizes; from one size, proportional to it.
    assert mod.extrapolate([(1e3, 200.0), (1e4, 290.0)], 1e5) == pytest.approx(1190.0)
    assert mod.extrapolate([(1e3, 200.0)], 1e4) == pytest.approx(2000.0)
    assert mod.organ_size(1000, 4.0, 0.005)[1] == pytest.approx(0.005 * math.sqrt(250 / math.pi))
