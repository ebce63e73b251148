"""The figures of a run (solver/plots.py): seedsoil run writes them at the end, seedsoil
plot writes them again from the folder alone; the field snapshots render off-screen."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from solver.cli import main

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SMALL = [
    "primary.geometry.size=[0.2, 0.2]",
    "primary.geometry.h=0.01",
    "primary.geometry.tumour_radius=0.02",
    "primary.geometry.vessel_min_distance=0.05",
    "primary.geometry.vessel_radius=0.006",
    "time.steps=30",
    "output.every=10",
]
FIGURES = [
    "blood",
    "cells",
    "events",
    "fields_liver",
    "fields_lung",
    "fields_primary",
    "lesions",
    "soil",
]


def test_run_writes_its_figures_and_plot_rewrites_them(tmp_path, capsys):
    out = tmp_path / "run"
    assert (
        main(
            ["run", str(ROOT / "cases" / "demo.toml"), "-o", str(out)]
            + [a for s in SMALL for a in ("--set", s)]
        )
        == 0
    )
    assert "8 figures in" in capsys.readouterr().out
    made = sorted(p.stem for p in (out / "plots").glob("*.png"))
    assert made == FIGURES
    sizes = {p.stem: p.stat().st_size for p in (out / "plots").glob("*.png")}
    assert all(v > 8000 for v in sizes.values()), sizes  # not blank
    for p in (out / "plots").glob("*.png"):
        p.unlink()
    assert main(["plot", str(out)]) == 0
    assert sorted(p.stem for p in (out / "plots").glob("*.png")) == FIGURES
    assert main(["plot", str(tmp_path / "nowhere")]) == 2


def test_plots_can_be_switched_off(tmp_path, capsys):
    out = tmp_path / "quiet"
    assert (
        main(
            [
                "run",
                str(ROOT / "cases" / "demo.toml"),
                "-o",
                str(out),
                "--set",
                "output.plots=false",
            ]
            + [a for s in SMALL for a in ("--set", s)]
        )
        == 0
    )
    assert not (out / "plots").exists()


# A small 3D block whose tumour sits off the block's centre, deep inside (it touches no face).
SMALL_3D = [
    "primary.geometry.size=[0.24, 0.24, 0.24]",
    "primary.geometry.h=0.04",
    "primary.geometry.h_fine=0.02",
    "primary.geometry.tumour_centre=[0.08, 0.09, 0.14]",
    "primary.geometry.tumour_radius=0.03",
    "primary.geometry.normal_vessels=0",
    "primary.geometry.ruptured_vessels=1",
    "primary.geometry.vessel_min_distance=0.02",
    "cells.initial.count=60",
    "time.steps=2",
    "output.every=1",
    "output.plots=false",
]


def test_3d_snapshot_cuts_through_the_tumour(tmp_path):
    """A 3D organ's figure shows its inside: the three slice planes pass through the
    tumour (from the cells, or from the density fields without them), the cells panel
    shows every cell, and the mesenchymal density's panel shows the tumour's high values
    (the bright end of the colour map), which the organ's outer surface alone hides."""
    from PIL import Image

    from solver import plots
    from solver.io.series import history

    out = tmp_path / "run"
    assert (
        main(
            ["run", str(ROOT / "cases" / "primary_3d.toml"), "-o", str(out)]
            + [a for s in SMALL_3D for a in ("--set", s)]
        )
        == 0
    )
    times, xdmf = history(out / "primary")
    t = times[-1][0]
    cells = plots._cells_at(out / "primary", t)
    tumour, middle = np.array([0.08, 0.09, 0.14]), np.full(3, 0.12)
    assert np.linalg.norm(tumour - middle) > 0.05  # not where a fallback would cut
    shot = plots.snapshot(xdmf, tmp_path / "cells.png", "primary", hours=1.0, cells=cells)
    assert shot.cells == len(cells["x"]) == 60 and shot.time == pytest.approx(t)
    assert shot.fields == ["w", "m", "c_M"]
    assert np.linalg.norm(shot.centre - tumour) < 0.03, shot.centre
    dense = plots.snapshot(xdmf, tmp_path / "dense.png", "primary")  # no cell output: the densities
    assert dense.cells == 0 and np.linalg.norm(dense.centre - tumour) < 0.03, dense.centre
    # The same run on 2 ranks (another mesh order in the files): the same cut.
    two = tmp_path / "two"
    cmd = [
        str(BIN / "mpirun"),
        "-n",
        "2",
        str(BIN / "seedsoil"),
        "run",
        str(ROOT / "cases" / "primary_3d.toml"),
        "-o",
        str(two),
    ]
    cmd += [a for s in SMALL_3D for a in ("--set", s)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    again = plots.snapshot(
        history(two / "primary")[1],
        tmp_path / "two.png",
        "primary",
        hours=1.0,
        cells=plots._cells_at(two / "primary", t),
    )
    assert again.cells == shot.cells and np.allclose(again.centre, shot.centre, rtol=0, atol=1e-12)

    def bright(png, panel):
        """Pixels of the upper half of viridis (green to yellow; not grey, white or purple)."""
        rgb = np.asarray(Image.open(png).convert("RGB"), dtype=int)
        width = rgb.shape[1] // 4
        p = rgb[: int(0.7 * rgb.shape[0]), panel * width : (panel + 1) * width]  # above the bar
        return int((((p.max(axis=2) - p.min(axis=2)) > 60) & (p[..., 1] > 110)).sum())

    assert bright(shot.png, 3) > 100  # c_M, the fourth panel (cells, w, m, c_M)
    assert bright(shot.png, 0) == 0  # the cells panel has no colour map


def test_focus_finds_the_largest_cluster():
    """The slices' centre: the middle of the cluster with most weight, not of all points."""

    from solver import plots

    rng = np.random.default_rng(1)
    big = rng.normal([0.2, 0.2, 0.2], 0.01, (200, 3))
    small = rng.normal([0.8, 0.8, 0.8], 0.01, (50, 3))
    noise = rng.uniform(0, 1, (40, 3))
    points = np.vstack([big, small, noise])
    centre = plots.focus(points, np.ones(len(points)), 0.1)
    assert np.linalg.norm(centre - [0.2, 0.2, 0.2]) < 0.01
    weights = np.r_[np.ones(200), np.full(50, 10.0), np.ones(40)]  # the small one now weighs more
    assert np.linalg.norm(plots.focus(points, weights, 0.1) - [0.8, 0.8, 0.8]) < 0.01
    assert plots.focus(points, np.zeros(len(points)), 0.1) is None
