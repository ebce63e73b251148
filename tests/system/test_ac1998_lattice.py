"""scripts/ac1998_lattice.py, the lattice reference of the A&C 1998 benchmark: its schemes
run, sprouts climb the gradient, and the upwinded and drift schemes (with a smaller step)
have far fewer negative move probabilities than the code it follows; scripts/ac1998.py
sets seedsoil and the lattice side by side."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def _run(tmp_path, *args):
    out = tmp_path / f"ac{len(list(tmp_path.iterdir()))}.json"
    r = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "ac1998_lattice.py"),
            "--replicates",
            "2",
            "--t-max",
            "2",
            "--json",
            str(out),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(out.read_text())


def test_lattice_reference_schemes(tmp_path):
    code = _run(tmp_path)
    upwind = _run(tmp_path, "--scheme", "upwind", "--dt", "0.005")
    drift = _run(tmp_path, "--scheme", "drift", "--dt", "0.0025")
    for res in (code, upwind, drift):
        for rep in res["replicates"]:
            assert 0.1 < rep["front_x"]["2"] < 0.6  # five sprouts from x = 0 climb towards x = 1
            assert rep["sprouts_end"] >= 5
            assert {e[1] for e in rep["events"]} <= {"branch", "anastomosis"}
    for res in (upwind, drift):
        assert res["summary"]["frac_neg_p"]["mean"] < 0.1 * code["summary"]["frac_neg_p"]["mean"]


def test_the_code_crosses_by_its_tips_own_uptake(tmp_path):
    """With A&C's parameters the code's sprouts reach the tumour; without TAF uptake by the
    tips (read at their own site by its one-sided differences) they stall where
    chemotaxis and haptotaxis balance, as the drift scheme's and seedsoil's do (docs/studies.md)."""
    uptake = _run(tmp_path, "--t-max", "20")
    none = _run(tmp_path, "--t-max", "20", "--eta", "0")
    assert uptake["summary"]["t_reach_AC"]["n"] == 2
    assert none["summary"]["t_reach_AC"]["n"] == 0
    assert all(0.7 < rep["front_end"] < 0.9 for rep in none["replicates"])


def test_brush_border_ratio():
    sys.path.insert(0, str(ROOT / "scripts"))
    from ac1998 import brush_border

    # 6 events in x >= 0.8 (30 per unit x) against 6 in 0.2..0.8 (10 per unit x): 3.
    assert brush_border(np.r_[np.full(6, 0.9), np.linspace(0.25, 0.75, 6), 0.1]) == 3.0
    assert np.isinf(brush_border(np.array([0.85]))) and np.isnan(brush_border(np.array([0.1])))


def test_side_by_side(tmp_path):
    """One coarse seedsoil run and one lattice run per scheme, to t = 2 (A&C units)."""
    out = tmp_path / "ac.json"
    r = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "ac1998.py"),
            "--rho",
            "0.15",
            "--seeds",
            "1",
            "--replicates",
            "1",
            "--t-max",
            "2",
            "--set",
            "primary.geometry.h=0.02",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    res = json.loads(out.read_text())["result"]["0.15"]
    for model in ("seedsoil", "drift", "code"):
        assert res[model]["runs"] == 1
        assert 0.25 < res[model]["front_x"]["2"]["mean"] < 0.75, model  # all three climb alike
    assert sum(res["seedsoil"]["events_per_band"]) > 0
    assert "seedsoil" in r.stdout and "brush border" in r.stdout
