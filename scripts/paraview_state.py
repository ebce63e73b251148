"""Every organ of a seedsoil output folder in one ParaView view, with time (pvpython).

    pvpython scripts/paraview_state.py OUTDIR [--field w] [--save OUTDIR/seedsoil.pvsm]
        [--screenshot OUTDIR/paraview_state.png]
    scripts/pvpython.sh scripts/paraview_state.py OUTDIR ...   (headless, under Xvfb)

The organs (the manifest's order) lie side by side, each with its field ``--field``
(default: the ECM density w; o, v, N, b, ... when the run has the soil) in a perceptual
colour map scaled to its range over the run, and its cells on top as points coloured by
phenotype (epithelial blue, mesenchymal red). Time runs over the union of the outputs;
the saved state (.pvsm) opens the same scene in the ParaView GUI (File > Load State).
Works with Debian's ParaView 5.11 and newer (paraview.simple only; Xdmf3ReaderS, as
scripts/paraview_check.py explains).
"""

import argparse
import json
import os
import sys

from paraview.simple import (  # type: ignore[import-not-found]
    ColorBy,
    CreateView,
    GetAnimationScene,
    GetColorTransferFunction,
    PVDReader,
    RenameSource,
    Render,
    ResetCamera,
    SaveScreenshot,
    SaveState,
    Show,
    Threshold,
    Transform,
    Xdmf3ReaderS,
    a3DText,
)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    ap.add_argument("--field", default="w")
    ap.add_argument("--save", default=None, help="state file (default OUTDIR/seedsoil.pvsm)")
    ap.add_argument("--screenshot", default=None, help="default OUTDIR/paraview_state.png")
    a = ap.parse_args()
    outdir = os.path.abspath(a.outdir)
    with open(os.path.join(outdir, "manifest.json")) as fh:
        manifest = json.load(fh)
    organs = manifest["organs"]
    view = CreateView("RenderView")
    view.ViewSize = [1600, 600]
    view.OrientationAxesVisibility = 0
    view.InteractionMode = "2D"
    shift, times, shown = 0.0, set(), []
    for name in organs:
        # The one history across restarts (solver/io/series.py); fields.xdmf in older outputs.
        xdmf = next(
            (
                p
                for p in (
                    os.path.join(outdir, name, f) for f in ("fields_series.xdmf", "fields.xdmf")
                )
                if os.path.isfile(p)
            ),
            None,
        )
        if xdmf is None:
            print(f"{name}: no fields_series.xdmf (output.fields = false?)")
            continue
        fields = Xdmf3ReaderS(FileName=[xdmf])
        RenameSource(f"{name} fields", fields)
        fields.UpdatePipelineInformation()
        steps = list(fields.TimestepValues or [0.0])
        times.update(steps)
        last = max(steps)
        print(
            f"{name}: fields from {os.path.basename(xdmf)}, {len(steps)} times {min(steps):g} .. "
            f"{last:g}"
        )
        fields.UpdatePipeline(last)
        if a.field not in fields.PointData.keys():
            print(f"{name}: no field {a.field!r} (has {sorted(fields.PointData.keys())})")
            continue
        # One piece per function in dolfinx's XDMF: isolate the chosen one (paraview_check.py).
        piece = Threshold(
            Input=fields, Scalars=["POINTS", a.field], LowerThreshold=-1e300, UpperThreshold=1e300
        )
        piece.UpdatePipeline(last)
        bounds = piece.GetDataInformation().GetBounds()
        moved = Transform(Input=piece)
        moved.Transform.Translate = [shift - bounds[0], -bounds[2], 0.0]
        RenameSource(f"{name} {a.field}", moved)
        rep = Show(moved, view)
        ColorBy(rep, ("POINTS", a.field))
        rep.SetScalarBarVisibility(view, True)
        lut = GetColorTransferFunction(a.field)
        lut.ApplyPreset("Viridis (matplotlib)", True)
        width, height = bounds[1] - bounds[0], bounds[3] - bounds[2]
        label = Transform(Input=a3DText(Text=name))  # the organ's name above it, in world units
        label.Transform.Scale = [0.08 * width, 0.08 * width, 1.0]
        label.Transform.Translate = [shift, height + 0.03 * width, 0.0]
        RenameSource(f"{name} label", label)
        Show(label, view).DiffuseColor = [1.0, 1.0, 1.0]
        pvd = os.path.join(outdir, name, "cells.pvd")
        if os.path.isfile(pvd):
            cells = PVDReader(FileName=pvd)
            RenameSource(f"{name} cells", cells)
            cells.UpdatePipelineInformation()
            times.update(cells.TimestepValues or [])
            on_top = Transform(Input=cells)
            on_top.Transform.Translate = [shift - bounds[0], -bounds[2], 0.05]  # in front of z = 0
            crep = Show(on_top, view)
            crep.SetRepresentationType("Points")
            crep.PointSize = 4
            ColorBy(crep, ("POINTS", "phenotype"))
            plut = GetColorTransferFunction("phenotype")
            plut.InterpretValuesAsCategories = 1
            plut.Annotations = ["0", "epithelial", "1", "mesenchymal"]
            plut.IndexedColors = [0.2, 0.4, 1.0, 1.0, 0.2, 0.2]
        shown.append(name)
        shift += (bounds[1] - bounds[0]) * 1.15
    if not shown:
        print("paraview_state: nothing to show")
        return 1
    times = sorted(times)
    scene = GetAnimationScene()
    scene.UpdateAnimationUsingDataTimeSteps()
    scene.AnimationTime = times[-1]
    view.ViewTime = times[-1]
    # The colour scale over the whole run, not just the last step (the last step of a
    # growing tumour would saturate the early ones).
    GetColorTransferFunction(a.field).RescaleTransferFunction(*_range_over_time(a.field, times))
    ResetCamera(view)
    Render(view)
    state = os.path.abspath(a.save or os.path.join(outdir, "seedsoil.pvsm"))
    SaveState(state)
    shot = os.path.abspath(a.screenshot or os.path.join(outdir, "paraview_state.png"))
    SaveScreenshot(shot, view, ImageResolution=[1600, 600])
    print(
        f"paraview_state: {len(shown)} organs ({', '.join(shown)}), field {a.field}, {len(times)} "
        f"times {times[0]:g} .. {times[-1]:g}; state {state}; screenshot {shot}"
    )
    return 0


def _range_over_time(field, times):
    from paraview.simple import GetSources  # type: ignore[import-not-found]

    lo, hi = float("inf"), float("-inf")
    for (name, _), src in GetSources().items():
        if name.endswith(f" {field}"):
            for t in times:
                src.UpdatePipeline(t)
                arr = src.PointData[field] if field in src.PointData.keys() else None
                if arr is not None:
                    a, b = arr.GetRange()
                    lo, hi = min(lo, a), max(hi, b)
    return (lo, hi if hi > lo else lo + 1.0) if lo <= hi else (0.0, 1.0)


if __name__ == "__main__":
    rc = main()
    sys.stdout.flush()
    os._exit(rc)  # skip VTK's GL teardown under Xvfb (scripts/paraview_check.py)
