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
    "clinic",
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
    assert "9 figures in" in capsys.readouterr().out
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


def _clinic_folder(path, columns, imaging=None):
    """A run folder of 2 organs written by hand: the columns plots.run always reads, the
    clinic ``columns`` (name: values over 5 outputs), no fields (no snapshot)."""
    import json

    path.mkdir(parents=True)
    hours = np.array([0.0, 24.0, 48.0, 72.0, 96.0])
    cols = {"step": np.arange(5), "time": hours, "hours": hours}
    for o in ("primary", "liver"):
        for c in ("cells", "cells_E", "cells_M", "lesions", "micro", "macro"):
            cols[f"{o}.{c}"] = np.arange(5) + 1.0
        cols[f"{o}.largest_lesion_mm"] = np.linspace(0, 2, 5)
    cols |= columns
    rows = [",".join(cols)] + [
        ",".join("" if np.isnan(float(v[i])) else repr(float(v[i])) for v in cols.values())
        for i in range(5)
    ]
    (path / "metrics.csv").write_text("\n".join(rows) + "\n")
    case = {"lesions": {"detect_mm": 1.0}, "scales": {"time_s": 3600.0}}
    if imaging is not None:
        case["imaging"] = imaging
    manifest = {
        "organs": ["primary", "liver"],
        "case": case,
        "detected_hours": {"liver": 72.0, "liver.pet": 48.0, "M1.pet": 48.0, "ctc": 96.0},
    }
    (path / "manifest.json").write_text(json.dumps(manifest))
    return path


CLINIC = {
    "primary.dprime_pet": np.array([0.0, 2.0, 8.0, 30.0, 90.0]),
    "liver.dprime_pet": np.array([0.0, 0.0, 1.0, 6.0, 20.0]),
    "liver.dprime_ct": np.array([0.0, 0.0, 0.1, 0.5, 2.0]),
    "liver.detected_pet": np.array([0, 0, 0, 1, 1]),
    "liver.suv_peak": np.array([1.0, 1.0, 1.5, 3.0, 6.0]),
    "liver.detected_percist": np.array([0, 0, 0, 1, 1]),
    "M_pet": np.array([0, 0, 0, 1, 1]),
    "M_size": np.array([0, 0, 0, 0, 1]),
    "N_ct": np.array([0, 0, 0, 0, 0]),
    "ctc_expected": np.array([0.0, 0.5, 2.0, 4.5, 9.0]),
    "ctc_count": np.array([0, 1, 2, 4, 10]),
    "ctc_cluster_fraction": np.array([np.nan, 0.0, 0.0, 0.25, 0.1]),
    "ctc_threshold": np.full(5, 5.0),
    "ctc_positive": np.array([0, 0, 0, 0, 1]),
}


def test_clinic_figure_from_the_columns_present(tmp_path):
    """plots.run adds clinic.png when metrics.csv has the clinic columns: one panel per
    modality of d' (with k from the case's imaging table), SUVpeak, the CTC counts with their
    threshold, the staging steps; a subset of columns draws a subset of panels; none, no
    figure."""
    from solver import plots

    out = _clinic_folder(tmp_path / "all", CLINIC, imaging={"k": 4.0})
    made = plots.plot(out)
    assert out / "plots" / "clinic.png" in made
    assert (out / "plots" / "clinic.png").stat().st_size > 20000
    m = plots._table(out / "metrics.csv")
    manifest = __import__("json").loads((out / "manifest.json").read_text())
    axes = plots.clinic(m, manifest, tmp_path / "c.png")
    titles = [ax.get_title() for ax in axes]
    assert titles == [
        "PET: detectability index",
        "CT: detectability index",
        "PET: SUVpeak (triangle: PERCIST met)",
        "liquid biopsy (CellSearch)",
        "staging (raised: M1 / N1)",
    ]
    pet = {ln.get_label(): ln for ln in axes[0].lines}
    assert set(pet) == {"primary", "liver", "k = 4"}
    assert np.array_equal(pet["k = 4"].get_ydata(), [4.0, 4.0])
    assert np.array_equal(pet["liver"].get_ydata(), CLINIC["liver.dprime_pet"])
    ctc = {ln.get_label(): ln.get_ydata() for ln in axes[3].lines}
    assert np.array_equal(ctc["prognostic threshold"], CLINIC["ctc_threshold"])
    assert np.array_equal(ctc["drawn"], CLINIC["ctc_count"])
    stages = {ln.get_label(): ln.get_ydata() for ln in axes[4].lines}
    assert list(stages) == ["M_size", "M_pet", "N_ct"]  # RULES' order, M before N
    assert np.allclose(stages["M_size"], [0, 0, 0, 0, 0.7])  # lane 0, raised at M1
    assert np.allclose(stages["M_pet"], [1, 1, 1, 1.7, 1.7]) and np.allclose(stages["N_ct"], 2)

    # Without the imaging table, k = 5 (Rose); only the blood: the CTC panel alone.
    axes = plots.clinic(m, {**manifest, "case": {}}, tmp_path / "d.png")
    assert "k = 5" in {ln.get_label() for ln in axes[0].lines}
    blood = {c: v for c, v in CLINIC.items() if c.startswith("ctc_")}
    some = _clinic_folder(tmp_path / "blood", blood)
    axes = plots.clinic(plots._table(some / "metrics.csv"), manifest, tmp_path / "e.png")
    assert [ax.get_title() for ax in axes] == ["liquid biopsy (CellSearch)"]
    bare = _clinic_folder(tmp_path / "bare", {})
    assert plots.clinic(plots._table(bare / "metrics.csv"), manifest, tmp_path / "f.png") == []
    assert not (tmp_path / "f.png").exists()
