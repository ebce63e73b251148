"""The benchmark scripts run and report what README quotes (not timed: ratios only)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_bench_body_reports_the_full_model_against_invasion_only():
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench_body.py"), "--soil", "--steps", "3"],
                       capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["soil"] and res["invasion_only_step_ms"] > 0 and res["seedsoil_step_ms"] > 0
    assert res["soil_ratio"] == pytest.approx(res["seedsoil_step_ms"] / res["invasion_only_step_ms"])
    assert "the full model costs" in r.stdout
