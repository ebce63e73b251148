"""Checkpoint and restart (solver/io/checkpoint.py): on the same rank count the continued
run is identical to the uninterrupted one (metrics, events, cells, fields); written on 2
ranks and continued on 1, and the reverse, it agrees with the uninterrupted run; the
outputs continue where the checkpoint was."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mpi4py import MPI
from small_demo import COARSE_SECONDARIES

from solver import config
from solver.simulation import Simulation

COMM = MPI.COMM_WORLD
ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# The demo (three organs, the whole soil, angiogenesis) on a small primary.
SMALL = [
    "primary.geometry.size=[0.2, 0.2]",
    "primary.geometry.h=0.01",
    "primary.geometry.tumour_radius=0.02",
    "primary.geometry.vessel_min_distance=0.05",
    "primary.geometry.vessel_radius=0.006",
    "output.every=5",
    "solver.rtol=1e-12",
    "solver.soil_rtol=1e-12",
    "output.plots=false",  # figures are not what these tests compare
    # The demo's liver and lung (0.3 x 0.3) at h = 0.02 instead of 5e-3: 0.7 s less CPU per
    # set-up (of 3.1 s), and these tests set up the demo about 20 times; what a checkpoint
    # holds and restores does not depend on the mesh size.
    COARSE_SECONDARIES,
]


def _state(sim: Simulation) -> dict:
    """Every owned field value and every cell (sorted by id), per organ on this rank."""
    out = {}
    for o in sim.organs:
        for name, f in o.fields.items():
            out[f"{o.name}.{name}"] = f.x.array[: o.n_owned].copy()
        order = np.argsort(o.cells.pop.id)
        out[f"{o.name}.cells"] = np.c_[o.cells.pop.id[order].astype(float), o.cells.pop.x[order]]
    return out


@pytest.mark.parallel
def test_restart_is_identical_on_the_same_ranks(tmp_path):
    tmp = Path(COMM.bcast(str(tmp_path), root=0))
    case = config.load(
        ROOT / "cases" / "demo.toml", SMALL + ["time.steps=40", "output.checkpoint_every=20"]
    )
    whole = Simulation(case, tmp / "whole", quiet=True)
    whole.run()
    part = Simulation(case, tmp / "part", quiet=True)
    part.run(steps=20)  # as if the job ended at step 20
    more = Simulation.restart(tmp / "part", quiet=True)
    assert more.n == 20
    more.run()
    a, b = _state(whole), _state(more)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    if COMM.rank == 0:
        for name in ("metrics.csv", "events.csv"):
            assert (tmp / "whole" / name).read_text() == (tmp / "part" / name).read_text(), name
        pvd = (tmp / "part" / "primary" / "cells.pvd").read_text()
        steps = [float(t) for t in re.findall(r'timestep="([^"]+)"', pvd)]
        assert steps == sorted(set(steps)) and len(steps) == 9  # t = 0, 5, ..., 40 steps, once each
        assert (tmp / "part" / "primary" / "fields_000020.xdmf").exists()
        man = json.loads((tmp / "part" / "manifest.json").read_text())
        assert man["complete"] and man["restarts"][0]["from_step"] == 20 and man["steps_done"] == 40


@pytest.mark.parallel
def test_restart_keeps_the_sprout_log(tmp_path):
    """New vessels (A&C's benchmark, coarse): a checkpoint between two outputs (step 1740)
    writes every event up to it, so a job killed after it and restarted from it has the
    ORGAN/sprouts.csv and the tips of the uninterrupted run. To step 2200: the branches at
    1749 and 1762 fall between the checkpoint and the kill, and those at 2123 and 2126 come
    after the restart (the run to 3000 has no other events)."""
    tmp = Path(COMM.bcast(str(tmp_path), root=0))
    sets = [
        "time.steps=2200",
        "output.every=500",
        "output.fields=false",
        "output.cells=false",
        "primary.geometry.h=0.02",
        "primary.angiogenesis.branch=40",
        "output.checkpoint_every=1740",
    ]
    case = config.load(ROOT / "cases" / "angiogenesis_ac1998.toml", sets)
    whole = Simulation(case, tmp / "whole", quiet=True)
    whole.run()

    class Killed(Exception):
        pass

    def kill(sim, n, t):  # the job dies at step 1900, with no output since step 1500
        if n == 1900:
            raise Killed

    with pytest.raises(Killed):
        Simulation(case, tmp / "part", quiet=True).run(callback=kill)
    more = Simulation.restart(tmp / "part", quiet=True)
    assert more.n == 1740
    more.run()

    def tips(sim):
        t = sim.organ.angio.tips
        order = np.argsort(t["id"])
        return np.concatenate(COMM.allgather(np.c_[t["id"][order].astype(float), t["x"][order]]))

    a, b = tips(whole), tips(more)
    assert np.array_equal(a[np.argsort(a[:, 0])], b[np.argsort(b[:, 0])])
    if COMM.rank == 0:
        log = (tmp / "whole" / "primary" / "sprouts.csv").read_text()
        assert log == (tmp / "part" / "primary" / "sprouts.csv").read_text()
        steps = [int(line.split(",")[0]) for line in log.splitlines()[1:]]
        assert any(1 < s_ < 1740 for s_ in steps) and any(1740 < s_ <= 1900 for s_ in steps)
        assert any(s_ > 1900 for s_ in steps)  # events after the restart too


def _seedsoil(ranks: int, args: list[str]) -> subprocess.CompletedProcess:
    cmd = [str(BIN / "seedsoil")] + args
    if ranks > 1:
        cmd = [str(BIN / "mpirun"), "-n", str(ranks)] + cmd
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


def _rows(folder: Path) -> list[list[float]]:
    lines = (folder / "metrics.csv").read_text().splitlines()[1:]
    return [[float(x) if x else 0.0 for x in ln.split(",")] for ln in lines]


@pytest.fixture(scope="module")
def small_reference(tmp_path_factory):
    """The uninterrupted serial run both rank pairs below are compared with (one run)."""
    out = tmp_path_factory.mktemp("small") / "ref"
    sets = [a for s in SMALL for a in ("--set", s)]
    demo = str(ROOT / "cases" / "demo.toml")
    ref = _seedsoil(1, ["run", demo, "-o", str(out), "--set", "time.steps=40"] + sets)
    assert ref.returncode == 0, ref.stdout + ref.stderr
    return out


@pytest.mark.parametrize("first,then", [(2, 1), (1, 2)])
def test_restart_on_another_rank_count_agrees(tmp_path, small_reference, first, then):
    sets = [a for s in SMALL for a in ("--set", s)]
    demo = str(ROOT / "cases" / "demo.toml")
    r = _seedsoil(
        first,
        [
            "run",
            demo,
            "-o",
            str(tmp_path / "x"),
            "--set",
            "time.steps=20",
            "--checkpoint-every",
            "20",
            # Every organ over every rank: on 2 ranks each organ is partitioned, so the rows
            # must be keyed by the mesh's input index (split organs would not show it).
            "--set",
            'parallel.organs="all"',
        ]
        + sets,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    r = _seedsoil(then, ["restart", str(tmp_path / "x"), "--steps", "40"])
    assert r.returncode == 0 and "restart of 'demo' at step 20" in r.stdout, r.stdout + r.stderr
    a, b = np.array(_rows(small_reference)), np.array(_rows(tmp_path / "x"))
    assert a.shape == b.shape
    # Fields at solver tolerance (rtol 1e-12), cells and events identical over this window.
    assert np.allclose(a, b, rtol=1e-9, atol=1e-12), np.abs(a - b).max()


def test_restart_needs_a_checkpoint(tmp_path, capsys):
    from solver.cli import main

    out = tmp_path / "plain"
    assert (
        main(
            ["run", str(ROOT / "cases" / "demo.toml"), "-o", str(out), "--set", "time.steps=2"]
            + [a for s in SMALL for a in ("--set", s)]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["restart", str(out)]) == 2
    assert "no checkpoint to restart from" in capsys.readouterr().out
    assert main(["restart", str(tmp_path / "nowhere")]) == 2
    assert "not a seedsoil output folder" in capsys.readouterr().out


def test_field_history_is_continuous_across_restarts(tmp_path):
    """ORGAN/fields_series.json and fields_series.xdmf (solver/io/series.py) hold every
    output time once, each from the series that wrote it last, and the figures show the
    end of the run: after a restart, after a second one, and after a restart from an
    older checkpoint (whose later series is then stale and removed)."""
    import shutil

    from solver.io.series import history, last_fields, read_series

    sets = SMALL + [
        "primary.geometry.h=0.02",
        "time.steps=30",
        "output.checkpoint_every=20",
        "output.cells=false",
    ]
    out = tmp_path / "run"
    Simulation(config.load(ROOT / "cases" / "demo.toml", sets), out, quiet=True).run()
    old = tmp_path / "checkpoint20"
    shutil.copytree(out / "checkpoint", old)

    def check(sim, steps, files):
        times, xdmf = history(out / "primary")
        want = [5 * k * sim.case.time.dt for k in range(steps // 5 + 1)]
        assert (
            np.allclose([t for t, _ in times], want, rtol=1e-12) and [f for _, f in times] == files
        )
        names, grids = read_series(xdmf)
        assert all(len(grids[n]) == len(want) for n in names) and "w" in names
        t, _, _, values = last_fields(xdmf, ["w", "m"])  # what plots.snapshot shows
        assert t == pytest.approx(want[-1])
        for name in ("w", "m"):
            now = sim.organ.fields[name].x.array[: sim.organ.n_owned]
            assert np.array_equal(np.sort(values[name]), np.sort(now))

    first = ["fields.xdmf"] * 5
    for steps, files in (
        (45, first + ["fields_000020.xdmf"] * 5),
        (50, first + ["fields_000020.xdmf"] * 4 + ["fields_000040.xdmf"] * 2),
    ):
        sim = Simulation.restart(out, steps=steps, quiet=True)
        sim.run()
        check(sim, steps, files)
    assert (out / "primary" / "fields_000040.h5").exists()
    shutil.rmtree(out / "checkpoint")
    shutil.copytree(old, out / "checkpoint")  # back to step 20: 25 ... 50 are stale
    sim = Simulation.restart(out, steps=30, quiet=True)
    assert [f for _, f in history(out / "primary")[0]] == first  # 25 ... 50 gone at once
    sim.run()
    check(sim, 30, first + ["fields_000020.xdmf"] * 2)
    assert not any((out / "primary" / f"fields_000040.{ext}").exists() for ext in ("h5", "xdmf"))
    from solver import plots

    assert out / "plots" / "fields_primary.png" in plots.plot(out)


# The demo made busy (fast cells, vessels at the tumour's edge, a short and survivable
# transit, dormant arrivals, tips from every site at once): at step 30 the blood holds
# clusters, the liver and lung hold dormant arrivals and the primary's tips are active.
RICH = [
    "primary.geometry.size=[0.2, 0.2]",
    "primary.geometry.h=0.02",
    "primary.geometry.tumour_radius=0.04",
    "primary.geometry.vessel_min_distance=0.0",
    "primary.geometry.vessel_radius=0.012",
    "primary.geometry.ruptured_vessels=4",
    "primary.geometry.normal_vessels=1",
    "output.every=10",
    "circulation.T_V=0.01",
    "circulation.P_s=1.0",
    "circulation.P_C=1.0",
    "dormancy.r_wake=0.1",
    "cells.D_M=0.01",
    "cells.D_E=0.005",
    "primary.angiogenesis.initial_tips=true",
    "solver.rtol=1e-12",
    "solver.soil_rtol=1e-12",
    "output.fields=false",
    "output.plots=false",
    "output.checkpoint_every=30",
    SMALL[-1],  # the liver and lung at h = 0.02, as above
]


def _rich_state(sim: Simulation) -> dict:
    """What makes the state rich, summed over ranks."""
    from solver.cells.population import DORMANT
    from solver.vessels import ACTIVE

    dormant = sum(int((o.cells.pop.state == DORMANT).sum()) for o in sim.organs if o.index)
    tips = sum(
        int((o.angio.tips["state"] == ACTIVE).sum()) for o in sim.organs if o.angio is not None
    )
    return {
        "clusters": sim.blood.clusters()[1],
        "dormant": COMM.allreduce(dormant),
        "tips": COMM.allreduce(tips),
    }


@pytest.mark.parallel
def test_restart_in_a_rich_state_is_identical_on_the_same_ranks(tmp_path):
    tmp = Path(COMM.bcast(str(tmp_path), root=0))
    case = config.load(ROOT / "cases" / "demo.toml", RICH + ["time.steps=40"])
    whole = Simulation(case, tmp / "whole", quiet=True)
    whole.run()
    part = Simulation(case, tmp / "part", quiet=True)
    part.run(steps=30)  # as if the job ended right after the checkpoint at step 30
    rich = _rich_state(part)
    assert all(v > 0 for v in rich.values()), rich
    more = Simulation.restart(tmp / "part", quiet=True)
    assert more.n == 30 and _rich_state(more) == rich
    more.run()
    a, b = _state(whole), _state(more)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    if COMM.rank == 0:
        for name in ("metrics.csv", "events.csv", "primary/cells.pvd", "primary/sprouts.csv"):
            assert (tmp / "whole" / name).read_text() == (tmp / "part" / name).read_text(), name
        events = (tmp / "part" / "events.csv").read_text()
        assert "arrival" in events and "intravasation" in events


@pytest.fixture(scope="module")
def rich_reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("rich") / "ref"
    r = _seedsoil(
        1,
        ["run", str(ROOT / "cases" / "demo.toml"), "-o", str(out), "--set", "time.steps=40"]
        + [a for s in RICH for a in ("--set", s)],
    )
    assert r.returncode == 0, r.stdout + r.stderr
    return out


@pytest.mark.parametrize("first,then", [(2, 1), (1, 2)])
def test_restart_in_a_rich_state_on_another_rank_count_agrees(
    tmp_path, rich_reference, first, then
):
    sets = [a for s in RICH + ["time.steps=30"] for a in ("--set", s)]
    r = _seedsoil(
        first, ["run", str(ROOT / "cases" / "demo.toml"), "-o", str(tmp_path / "x")] + sets
    )
    assert r.returncode == 0, r.stdout + r.stderr
    from solver.io import plain

    blood = plain.read(tmp_path / "x" / "checkpoint", "simulation")["blood"]["rows"]
    assert len(np.unique(blood["cluster"])) < len(
        blood["cluster"]
    )  # clusters in the blood at step 30
    assert (
        plain.read(tmp_path / "x" / "checkpoint", "liver")["cells"]["state"] == 2
    ).any()  # dormant arrivals
    tips = plain.read(tmp_path / "x" / "checkpoint", "primary")["angio"]["tips"]
    assert (tips["state"] == 0).any()  # active tips
    r = _seedsoil(then, ["restart", str(tmp_path / "x"), "--steps", "40"])
    assert r.returncode == 0 and "at step 30" in r.stdout, r.stdout + r.stderr
    a, b = np.array(_rows(rich_reference)), np.array(_rows(tmp_path / "x"))
    assert a.shape == b.shape
    assert np.allclose(a, b, rtol=1e-9, atol=1e-12), np.abs(a - b).max()
    assert (tmp_path / "x" / "events.csv").read_text() == (
        rich_reference / "events.csv"
    ).read_text()
