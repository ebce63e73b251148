"""The figures a user opens first (``seedsoil plot OUTDIR``; ``seedsoil run`` writes them
at the end unless ``output.plots = false``), as PNG in ``OUTDIR/plots/``:

- ``cells.png``: cells per organ and phenotype over time;
- ``blood.png``: circulating cells (singles, clusters) and the cascade's running totals;
- ``events.png``: cumulative intravasations and arrivals per organ (events.csv);
- ``soil.png``: niche conditioning, hypoxia, VEGF, perfusion and tip cells per organ;
- ``sprouts.png``: where new vessels sprouted, branched and fused (ORGAN/sprouts.csv);
- ``lesions.png``: metastasis counts (all, micro, macro), the largest lesion per organ
  against the detection size, and the time each organ first held a detectable lesion;
- ``fields_<organ>.png``: the organ's fields at the last output, rendered off-screen
  with pyvista from ``fields_series.xdmf`` (the history across restarts).
An ensemble folder gets ``ensemble.png`` (mean and 5-95 % bands); a sweep folder
``sensitivity.png`` (Morris mu*, Sobol S1 and ST, or Spearman rho per key and output).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from solver.io.series import history, last_fields

FIELDS = ("w", "m", "c_M", "o", "v", "N", "b")  # what a snapshot shows, where present


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _table(path: Path) -> dict[str, np.ndarray]:
    rows = list(csv.DictReader(open(path)))
    if not rows:
        return {}
    out = {}
    for k in rows[0]:
        try:
            out[k] = np.array([float(r[k]) if r[k] != "" else np.nan for r in rows])
        except ValueError:
            out[k] = np.array([r[k] for r in rows])
    return out


def plot(outdir: str | Path) -> list[Path]:
    """Every figure that fits the folder (a run, an ensemble or a sweep); their paths."""
    outdir = Path(outdir)
    if (outdir / "ensemble.csv").exists():
        from solver import ensemble

        ensemble.plot(outdir / "ensemble.csv", outdir / "ensemble.png")
        return [outdir / "ensemble.png"]
    if (outdir / "sensitivity.csv").exists():
        return [_sensitivity(outdir)]
    return run(outdir)


def run(outdir: Path) -> list[Path]:
    plt = _pyplot()
    m = _table(outdir / "metrics.csv")
    manifest = json.loads((outdir / "manifest.json").read_text())
    organs = manifest["organs"]
    days = m["hours"] / 24.0
    folder = outdir / "plots"
    folder.mkdir(exist_ok=True)
    made = []

    def save(fig, name):
        fig.tight_layout()
        fig.savefig(folder / name, dpi=100)
        plt.close(fig)
        made.append(folder / name)

    def panels(n, title):
        fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.4), squeeze=False)
        fig.suptitle(title)
        for ax in axes[0]:
            ax.set_xlabel("days")
        return fig, axes[0]

    fig, axes = panels(len(organs), "cells per organ")
    for ax, o in zip(axes, organs):
        for col, label in ((f"{o}.cells_E", "epithelial"), (f"{o}.cells_M", "mesenchymal"), (f"{o}.cells", "all")):
            ax.plot(days, m[col], label=label)
        ax.set_title(o)
        ax.set_ylabel("cells")
        ax.legend(fontsize=7)
    save(fig, "cells.png")

    if "ctc_single" in m:  # a case with a blood (secondary organs)
        fig, axes = panels(2, "the blood")
        for col in ("ctc_single", "ctc_clusters", "in_blood"):
            axes[0].plot(days, m[col], label=col)
        axes[0].set_ylabel("now in the blood")
        for col in ("intravasated", "arrived", "died_in_blood", "failed_extravasation", "died_in_tissue"):
            axes[1].plot(days, m[col], label=col)
        axes[1].set_ylabel("cells so far")
        for ax in axes:
            ax.legend(fontsize=7)
        save(fig, "blood.png")

    ev = _table(outdir / "events.csv") if (outdir / "events.csv").exists() else {}
    fig, axes = panels(2, "events")
    for ax, kind in zip(axes, ("intravasation", "arrival")):
        ax.set_title(kind + "s (cumulative units)")
        rows = ev["event"] == kind if ev else np.zeros(0, dtype=bool)
        for o in organs:
            sel = rows & (ev["organ"] == o) if ev else rows
            if sel.any():
                t = np.sort(ev["hours"][sel]) / 24.0
                ax.step(t, np.arange(1, len(t) + 1), where="post", label=o)
        if not rows.any():
            ax.text(0.5, 0.5, "none", ha="center", transform=ax.transAxes)
        else:
            ax.legend(fontsize=7)
    save(fig, "events.png")

    soil = [c for c in ("niche_mean", "hypoxic_fraction", "vegf_max", "perfused_fraction", "tips_active")
            if any(f"{o}.{c}" in m for o in organs)]
    if soil:
        fig, axes = panels(len(soil), "the soil")
        for ax, c in zip(axes, soil):
            for o in organs:
                if f"{o}.{c}" in m:
                    ax.plot(days, m[f"{o}.{c}"], label=o)
            ax.set_title(c)
            ax.legend(fontsize=7)
        save(fig, "soil.png")

    logs = {o: _table(outdir / o / "sprouts.csv") for o in organs if (outdir / o / "sprouts.csv").exists()}
    logs = {o: t for o, t in logs.items() if t}
    if logs:  # where the new vessels sprouted, branched and fused (x-y; 3D organs projected)
        fig, axes = panels(len(logs), "new vessels")
        for ax, (o, t) in zip(axes, logs.items()):
            for kind, mark in (("sprout", "o"), ("branch", "^"), ("anastomosis", "x")):
                sel = t["event"] == kind
                ax.scatter(t["x"][sel], t["y"][sel], s=9, marker=mark, label=f"{kind} ({sel.sum()})")
            ax.set_title(o)
            ax.set_xlabel("x")
            ax.set_ylabel("y")
            ax.set_aspect("equal")
            ax.legend(fontsize=7)
        save(fig, "sprouts.png")

    fig, axes = panels(2, "metastases")
    for o in organs[1:] or organs:
        axes[0].plot(days, m[f"{o}.lesions"], label=f"{o}: all")
        axes[0].plot(days, m[f"{o}.micro"] + m[f"{o}.macro"], "--", label=f"{o}: micro + macro")
        axes[1].plot(days, m[f"{o}.largest_lesion_mm"], label=o)
    detect = manifest["case"]["lesions"]["detect_mm"]
    axes[1].axhline(detect, color="k", lw=0.8, ls=":", label=f"detectable ({detect} mm)")
    for o, hours in manifest.get("detected_hours", {}).items():
        axes[1].axvline(hours / 24.0, lw=0.8, ls="--", color="grey")
        axes[1].annotate(f"{o} detected", (hours / 24.0, detect), fontsize=7, rotation=90, va="bottom")
    axes[0].set_ylabel("lesions")
    axes[1].set_ylabel("largest lesion (mm)")
    for ax in axes:
        ax.legend(fontsize=7)
    save(fig, "lesions.png")

    for o in organs:
        times, xdmf = history(outdir / o)  # the continuous series across restarts
        if times:
            made.append(snapshot(xdmf, folder / f"fields_{o}.png", o))
    return made


def snapshot(xdmf: Path, png: Path, title: str) -> Path:
    """The fields of FIELDS present in a dolfinx XDMF file (or an organ's
    fields_series.xdmf), at its last time, side by side, rendered off-screen with pyvista."""
    import pyvista as pv
    from vtkmodules.vtkCommonCore import vtkLogger

    # Without an X server VTK says so, then renders off-screen anyway (EGL/OSMesa).
    vtkLogger.SetStderrVerbosity(vtkLogger.VERBOSITY_ERROR)

    _, x, cells, values = last_fields(xdmf, list(FIELDS))
    names = list(values)
    kind = {3: pv.CellType.TRIANGLE, 4: pv.CellType.TETRA}[cells.shape[1]]
    pts = np.zeros((len(x), 3))
    pts[:, : x.shape[1]] = x
    grid = pv.UnstructuredGrid(np.c_[np.full(len(cells), cells.shape[1]), cells].ravel(),
                               np.full(len(cells), kind), pts)
    pv.OFF_SCREEN = True
    plotter = pv.Plotter(off_screen=True, shape=(1, len(names)), window_size=(320 * len(names), 340))
    for j, n in enumerate(names):
        plotter.subplot(0, j)
        plotter.add_text(f"{title}: {n}", font_size=9)
        plotter.add_mesh(grid.copy(), scalars=values[n], cmap="viridis", show_scalar_bar=True,
                         scalar_bar_args={"title": n, "position_x": 0.15, "position_y": 0.03, "width": 0.7,
                                          "height": 0.07, "fmt": "%.3g", "title_font_size": 12,
                                          "label_font_size": 10})
        plotter.view_xy() if x.shape[1] == 2 else plotter.view_isometric()
    plotter.screenshot(str(png))
    plotter.close()
    return png


def _sensitivity(outdir: Path) -> Path:
    """sensitivity.png: per output, a bar per key of the design's measure (Morris mu*,
    Sobol S1 and ST, or Spearman rho), with its 95 % interval where there is one."""
    plt = _pyplot()
    rows = list(csv.DictReader(open(outdir / "sensitivity.csv")))
    measures = next(m for m in (["mu_star"], ["spearman_rho"], ["S1", "ST"]) if m[0] in rows[0])
    outputs = sorted({r["output"] for r in rows})
    fig, axes = plt.subplots(1, len(outputs), figsize=(4.5 * len(outputs), 3.4), squeeze=False)
    height = 0.8 / len(measures)
    for ax, o in zip(axes[0], outputs):
        sel = [r for r in rows if r["output"] == o]
        at = np.arange(len(sel))
        for i, m in enumerate(measures):
            conf = [float(r.get(f"{m}_conf") or 0) for r in sel]
            ax.barh(at + (i - (len(measures) - 1) / 2) * height, [float(r[m] or 0) for r in sel],
                    height, xerr=conf if any(conf) else None, label=m)
        ax.set_yticks(at, [r["key"] for r in sel])
        ax.set_title(o)
        ax.set_xlabel(" and ".join(measures))
        if len(measures) > 1:
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(outdir / "sensitivity.png", dpi=100)
    plt.close(fig)
    return outdir / "sensitivity.png"
