"""Nothing is lost on a crash (solver/io/checkpoint.py, solver/io/metrics.py): a run
killed at every stage of writing a checkpoint (SEEDSOIL_FAULT, solver/io/folder.fault),
on 1 and on 2 ranks, restarts from the newest complete checkpoint and ends with the
metrics of a run that was never killed; a restart killed while it rewrites metrics.csv
loses no row."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from small_demo import COARSE_SECONDARIES

from solver.io.checkpoint import STAGES

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DEMO = str(ROOT / "cases" / "demo.toml")
# The demo (three organs, soil, angiogenesis, blood) on a coarse small primary, no figures.
TINY = [
    "primary.geometry.size=[0.2, 0.2]",
    "primary.geometry.h=0.02",
    "primary.geometry.tumour_radius=0.02",
    "primary.geometry.vessel_min_distance=0.05",
    "primary.geometry.vessel_radius=0.006",
    "output.every=4",
    "output.fields=false",
    "output.cells=false",
    "output.plots=false",
    "output.checkpoint_every=6",
    # The demo's liver and lung (0.3 x 0.3) at h = 0.02 instead of 5e-3: 0.7 s less CPU per
    # start-up (of 3.1 s), and this file starts about 40; a checkpoint's stages do not
    # depend on the mesh size.
    COARSE_SECONDARIES,
]
# The stage at which the kill at step 12 leaves step 12 complete on disk (meta.json written).
FIRST_COMPLETE = STAGES.index("meta")


def _seedsoil(ranks, args, fault=None):
    cmd = [str(BIN / "seedsoil")] + args
    if ranks > 1:
        cmd = [str(BIN / "mpirun"), "-n", str(ranks)] + cmd
    env = dict(os.environ)
    env.pop("SEEDSOIL_FAULT", None)
    if fault:
        env["SEEDSOIL_FAULT"] = fault
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)


def _run(ranks, out, steps, fault=None):
    return _seedsoil(
        ranks,
        ["run", DEMO, "-o", str(out)]
        + [a for s in TINY + [f"time.steps={steps}"] for a in ("--set", s)],
        fault,
    )


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """metrics.csv of uninterrupted 16-step runs on 1 and 2 ranks."""
    out = {}
    for ranks in (1, 2):
        folder = tmp_path_factory.mktemp(f"ref{ranks}")
        r = _run(ranks, folder, 16)
        assert r.returncode == 0, r.stdout + r.stderr
        out[ranks] = (folder / "metrics.csv").read_text()
    return out


@pytest.mark.parametrize("ranks", [1, 2])
@pytest.mark.parametrize("stage", STAGES)
def test_kill_while_writing_a_checkpoint(tmp_path, reference, ranks, stage):
    out = tmp_path / "run"
    r = _run(ranks, out, 16, fault=f"checkpoint:{stage}@12")
    assert r.returncode != 0 and "done" not in r.stdout, (
        r.stdout + r.stderr
    )  # it really died, at step 12
    left = sorted(p.name for p in out.glob("checkpoint*"))
    expect = 12 if STAGES.index(stage) >= FIRST_COMPLETE else 6
    r = _seedsoil(ranks, ["restart", str(out)])
    assert r.returncode == 0 and f"at step {expect} " in r.stdout, (left, r.stdout + r.stderr)
    assert (out / "metrics.csv").read_text() == reference[ranks], left
    assert sorted(p.name for p in out.glob("checkpoint*")) == ["checkpoint"], (
        left
    )  # the restart settled it


@pytest.mark.parametrize("ranks", [1, 2])
def test_kill_while_a_restart_rewrites_the_metrics(tmp_path, reference, ranks):
    """The restart keeps the rows up to its step in a new file and renames it; killed
    before the rename, metrics.csv still has every row, and the next restart ends well."""
    out = tmp_path / "run"
    r = _run(
        ranks, out, 16, fault="checkpoint:created@12"
    )  # dies with outputs to step 12, checkpoint 6
    assert r.returncode != 0
    before = (out / "metrics.csv").read_text()
    assert before.splitlines()[-1].startswith("12,")
    r = _seedsoil(ranks, ["restart", str(out)], fault="outputs:kept-metrics@6")
    assert r.returncode != 0
    assert (out / "metrics.csv").read_text() == before  # the old file, whole
    r = _seedsoil(ranks, ["restart", str(out)])
    assert r.returncode == 0, r.stdout + r.stderr
    assert (out / "metrics.csv").read_text() == reference[ranks]
