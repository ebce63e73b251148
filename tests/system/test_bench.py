"""The benchmark scripts run and report what docs/performance.md quotes (not timed: the numbers are
checked against each other and against the test's own clock)."""

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def check_bench_body(stdout: str, steps: int, wall: float) -> dict:
    """bench_body.py --soil's report against itself and the caller's clock ``wall`` (s)."""
    res = json.loads(stdout.strip().splitlines()[-1])
    assert (
        res["soil"] and res["steps"] == steps and res["cells_end"] >= 388
    )  # Franssen's initial cells
    ours, base = res["seedsoil_step_ms"], res["invasion_only_step_ms"]
    # Both runs' steps and outputs took less than the whole subprocess, and more than nothing.
    assert 0 < (ours + base + res["output_ms"]) * steps / 1e3 < wall
    # The split of the step (cells, fields, circulation) was timed inside the step.
    parts = res["cells_ms"] + res["fields_ms"] + res["circulation_ms"]
    assert 0 < parts <= ours * (1 + 1e-6), (parts, ours)
    # The printed lines say what the JSON says (docs/performance.md quotes them).
    line = re.search(
        r"([\d.]+) ms per step \(cells ([\d.]+), fields ([\d.]+), circulation ([\d.]+)\)", stdout
    )
    printed = [float(g) for g in line.groups()]
    assert printed == pytest.approx(
        [ours, res["cells_ms"], res["fields_ms"], res["circulation_ms"]], abs=0.006
    )
    ratio = float(re.search(r"the full model costs ([\d.]+)x", stdout).group(1))
    assert ratio == pytest.approx(ours / base, abs=0.006)
    assert res["soil_ratio"] == pytest.approx(ours / base, rel=1e-12)
    alone = float(re.search(r"invasion only, same job: ([\d.]+) ms", stdout).group(1))
    assert alone == pytest.approx(base, abs=0.006)
    return res


def test_bench_body_reports_the_full_model_against_invasion_only():
    steps = 3
    t0 = time.perf_counter()
    r = subprocess.run(
        # Coarser sites than Franssen's 201 x 201: the report, not the figure, is tested.
        [sys.executable, str(ROOT / "scripts" / "bench_body.py"), "--soil", "--steps", str(steps)]
        + ["--h", "0.02"],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
    )
    wall = time.perf_counter() - t0  # this test's clock: the two runs, their set-up and more
    assert r.returncode == 0, r.stdout + r.stderr
    check_bench_body(r.stdout, steps, wall)
