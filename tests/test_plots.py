"""The figures of a run (solver/plots.py): seedsoil run writes them at the end, seedsoil
plot writes them again from the folder alone; the field snapshots render off-screen."""

from pathlib import Path

from solver.cli import main

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["primary.geometry.size=[0.2, 0.2]", "primary.geometry.h=0.01", "primary.geometry.tumour_radius=0.02",
         "primary.geometry.vessel_min_distance=0.05", "primary.geometry.vessel_radius=0.006", "time.steps=30",
         "output.every=10"]
FIGURES = ["blood", "cells", "events", "fields_liver", "fields_lung", "fields_primary", "lesions", "soil"]


def test_run_writes_its_figures_and_plot_rewrites_them(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", str(ROOT / "cases" / "demo.toml"), "-o", str(out)] + [a for s in SMALL for a in ("--set", s)]) == 0
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
    assert main(["run", str(ROOT / "cases" / "demo.toml"), "-o", str(out), "--set", "output.plots=false"]
                + [a for s in SMALL for a in ("--set", s)]) == 0
    assert not (out / "plots").exists()
