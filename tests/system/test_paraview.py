"""Outputs open in ParaView 5.11 (Debian's pvpython), every time step and attribute, and
every organ at once (scripts/paraview_state.py).

CI installs paraview and xvfb (.ci/run); elsewhere the test is skipped when pvpython is
missing, and fails if CI is set and it is missing."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from small_demo import COARSE_SECONDARIES

from solver.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_fields_and_cells_open_in_paraview(tmp_path, capsys):
    if shutil.which("pvpython") is None or shutil.which("xvfb-run") is None:
        if os.environ.get("CI"):
            pytest.fail(
                "pvpython/xvfb-run missing on CI: .ci/run installs them"
                " (apt-get install paraview python3-paraview xvfb xauth)"
            )
        pytest.skip("pvpython not installed (apt-get install paraview python3-paraview xvfb xauth)")
    out = tmp_path / "pv"
    args = [
        "run",
        str(ROOT / "cases" / "demo.toml"),
        "-o",
        str(out),
        "--set",
        "time.steps=20",
        "--set",
        "output.every=10",
        "--set",
        "primary.geometry.size=[0.2, 0.2]",
        "--set",
        "primary.geometry.h=0.01",
        "--set",
        "primary.geometry.vessel_min_distance=0.05",
        "--set",
        "output.plots=false",  # the PNG figures are test_plots.py's; ParaView reads the rest
        "--set",  # the demo's liver and lung at h = 0.02 instead of 5e-3
        COARSE_SECONDARIES,
        "--checkpoint-every",
        "20",
    ]
    assert main(args) == 0
    r = subprocess.run(
        [
            "bash",
            str(ROOT / "scripts" / "paraview_check.sh"),
            str(out / "primary"),
            "--fields",
            "w,m,c_E,c_M",
            "--cell-attributes",
            "id,parent,phenotype,state,clock,founder,seeded_by",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "fields: 3 time steps" in r.stdout and "cells: 3 time steps" in r.stdout
    assert (out / "primary" / "paraview_check.png").stat().st_size > 10000
    # Every organ at once, with a state file for the GUI (scripts/paraview_state.py), after
    # the run is continued from its checkpoint: the scene shows the one history, fields to
    # the end. (One pvpython for the scene: the restarted folder holds all a fresh one does.)
    assert main(["restart", str(out), "--steps", "30"]) == 0
    r = subprocess.run(
        [
            "bash",
            str(ROOT / "scripts" / "pvpython.sh"),
            str(ROOT / "scripts" / "paraview_state.py"),
            str(out),
            "--field",
            "w",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    for organ in ("primary", "liver", "lung"):
        assert f"{organ}: fields from fields_series.xdmf, 4 times 0 .. 0.03" in r.stdout, r.stdout
    assert "3 organs (primary, liver, lung), field w, 4 times" in r.stdout, r.stdout
    assert (out / "paraview_state.png").stat().st_size > 10000
    state = (out / "seedsoil.pvsm").read_text()
    assert all(
        f"{organ} cells" in state and f"{organ} w" in state
        for organ in ("primary", "liver", "lung")
    )
