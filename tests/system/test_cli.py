"""The command line and the Python API: runs, outputs, user errors, signals."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from small_demo import COARSE_SECONDARIES

from solver import config
from solver.cli import main

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SMALL = [
    "primary.geometry.size=[0.2, 0.2]",
    "primary.geometry.h=0.01",
    "primary.geometry.tumour_radius=0.02",
    "primary.geometry.vessel_min_distance=0.05",
    "primary.geometry.vessel_radius=0.006",
    "output.every=5",
    # The demo's liver and lung (0.3 x 0.3) at h = 0.02 instead of 5e-3: 0.7 s less CPU per
    # set-up (of 3.1 s); nothing here depends on their mesh size.
    COARSE_SECONDARIES,
]


def small(steps=10):
    out = []
    for s in SMALL + [f"time.steps={steps}"]:
        out += ["--set", s]
    return out


def run_cli(args, capsys):
    code = main(args)
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.mark.parametrize("case", sorted(p.name for p in (ROOT / "cases").glob("*.toml")))
def test_shipped_cases_validate(case, capsys):
    code, out = run_cli(["validate", str(ROOT / "cases" / case)], capsys)
    assert code == 0, out
    assert "valid case" in out


def test_run_writes_a_complete_output_folder(tmp_path, capsys):
    out = tmp_path / "run"
    code, text = run_cli(
        ["run", str(ROOT / "cases" / "demo.toml"), "-o", str(out)]
        + small(10)
        + ["--set", "output.plots=false"],  # figures: test_plots.py
        capsys,
    )
    assert code == 0, text
    man = json.loads((out / "manifest.json").read_text())
    assert man["complete"] is True and man["ranks"] == 1 and man["steps_done"] == 10
    assert man["seed"] == 1 and "dolfinx" in man["versions"] and man["illustrative"]
    rows = (out / "metrics.csv").read_text().splitlines()
    assert len(rows) == 1 + 3  # header, steps 0, 5, 10
    for f in (
        "primary/fields.xdmf",
        "primary/fields.h5",
        "primary/cells.pvd",
        "primary/primary.msh",
        "primary/cells/cells_000002.vtu",
        "events.csv",
    ):
        assert (out / f).exists(), f
    assert "step 10/10" in text and "ETA" in text and " h, " in text


def test_python_api_with_callback(tmp_path):
    from solver.simulation import Simulation

    case = config.load(
        ROOT / "cases" / "demo.toml", SMALL + ["time.steps=6", "output.fields=false"]
    )
    seen = []
    sim = Simulation(case, tmp_path / "api", quiet=True)
    final = sim.run(
        callback=lambda s, n, t: seen.append((n, round(t, 9), sum(s.organ.cells.total())))
    )
    assert [n for n, _, _ in seen] == list(range(1, 7)) and seen[-1][1] == 0.006
    assert final["cells"] == seen[-1][2] and final["step"] == 6


def test_info_and_mesh(tmp_path, capsys):
    code, out = run_cli(["info"], capsys)
    assert code == 0 and "dolfinx" in out and "ranks" in out
    code, out = run_cli(
        ["mesh", str(ROOT / "cases" / "demo.toml"), "-o", str(tmp_path)] + small()[:-2], capsys
    )
    assert code == 0 and (tmp_path / "primary.msh").exists()
    q = json.loads(out[out.index("{") :])
    assert q["cells"] > 0 and q["cells_per_tag"]["tumour"] > 0 and q["radius_ratio_min"] > 0.3


def _seedsoil(n, args, **kw):
    cmd = [str(BIN / "mpirun"), "-n", str(n), str(BIN / "seedsoil")] + args
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kw)


def test_mpirun_two_ranks_run_and_user_error(tmp_path):
    out = tmp_path / "par"
    r = _seedsoil(
        2,
        ["run", str(ROOT / "cases" / "demo.toml"), "-o", str(out)]
        + small(10)
        + ["--set", "output.plots=false"],  # figures: test_plots.py
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("step 10/10") == 1  # only rank 0 prints
    man = json.loads((out / "manifest.json").read_text())
    assert man["complete"] and man["ranks"] == 2
    bad = tmp_path / "bad.toml"
    bad.write_text("[cells]\nQ = -4\n")
    r = _seedsoil(2, ["run", str(bad)])
    assert (
        r.returncode == 2
        and r.stdout.count("cells.Q") == 1
        and "Traceback" not in r.stdout + r.stderr
    )


def test_sigterm_stops_cleanly_and_keeps_outputs(tmp_path):
    out = tmp_path / "sig"
    p = subprocess.Popen(
        [
            str(BIN / "mpirun"),
            "-n",
            "2",
            str(BIN / "seedsoil"),
            "run",
            str(ROOT / "cases" / "demo.toml"),
            "-o",
            str(out),
        ]
        + small(100000)
        + ["--set", "output.plots=false"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.time() + 300
    while time.time() < deadline and not (out / "metrics.csv").exists():
        time.sleep(0.5)
    time.sleep(0.5)  # into the steps (about 100); the reference below runs as many again
    p.send_signal(signal.SIGTERM)  # mpirun forwards it to the ranks, as schedulers do
    text, _ = p.communicate(timeout=120)
    assert p.returncode == 3, text
    assert "stopped by SIGTERM" in text
    man = json.loads((out / "manifest.json").read_text())
    assert man["complete"] is False and man["stopped_by"] == "SIGTERM"
    rows = (out / "metrics.csv").read_text().splitlines()
    stop = man["steps_done"]
    assert int(rows[-1].split(",")[0]) == stop and man["checkpoint"]["step"] == stop
    # Restart from what it left; compare with a run that was never stopped (same ranks).
    r = _seedsoil(2, ["restart", str(out), "--steps", str(stop + 10)])
    assert r.returncode == 0 and f"at step {stop}" in r.stdout, r.stdout + r.stderr
    r = _seedsoil(
        2,
        ["run", str(ROOT / "cases" / "demo.toml"), "-o", str(tmp_path / "ref")]
        + small(stop + 10)
        + ["--set", "output.plots=false"],
    )
    assert r.returncode == 0, r.stdout + r.stderr

    def by_step(folder):
        return {
            ln.split(",", 1)[0]: ln for ln in (folder / "metrics.csv").read_text().splitlines()[1:]
        }

    got, ref = by_step(out), by_step(tmp_path / "ref")
    assert str(stop + 10) in ref and all(got[k] == v for k, v in ref.items())
    assert json.loads((out / "manifest.json").read_text())["complete"] is True


def test_slurm_example_stops_before_the_limit_and_continues(tmp_path):
    """scripts/slurm_example.sh under a stand-in srun (mpirun -n 2): SLURM's USR1 before
    the time limit stops the run with a checkpoint (exit 3); the same script again
    continues it to the end (exit 0)."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "srun").write_text(f'#!/bin/sh\nshift\nexec "{BIN / "mpirun"}" -n 2 "$@"\n')
    (fake / "srun").chmod(0o755)
    out = tmp_path / "job"
    sets = " ".join(
        f"--set {s.replace(' ', '')}"
        for s in SMALL + ["time.steps=1000", "output.every=200", "output.plots=false"]
    )
    env = dict(
        os.environ,
        PATH=f"{fake}:{os.environ['PATH']}",
        CASE=str(ROOT / "cases" / "demo.toml"),
        OUT=str(out),
        SEEDSOIL=str(BIN / "seedsoil"),
        ARGS=sets,
        CHECKPOINT="1000",
    )
    script = str(ROOT / "scripts" / "slurm_example.sh")
    p = subprocess.Popen(
        ["bash", script],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
    )

    def steps_done():
        try:
            return json.loads((out / "manifest.json").read_text()).get("steps_done", 0)
        except (OSError, ValueError):
            return 0

    deadline = time.time() + 300
    while time.time() < deadline and steps_done() < 200:  # well into the run, far from its end
        time.sleep(0.2)
    p.send_signal(signal.SIGUSR1)  # what --signal=B:USR1@600 sends to the batch shell
    text, _ = p.communicate(timeout=120)
    assert p.returncode == 3 and "sbatch this script again" in text, text
    man = json.loads((out / "manifest.json").read_text())
    assert man["complete"] is False and man["stopped_by"] == "SIGUSR1" and man["steps_done"] < 1000
    r = subprocess.run(
        ["bash", script], env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path
    )
    assert r.returncode == 0 and "finished" in r.stdout, r.stdout + r.stderr
    man = json.loads((out / "manifest.json").read_text())
    assert man["complete"] is True and man["steps_done"] == 1000
