"""Open a seedsoil output directory in ParaView and check it (pvpython script).

    pvpython scripts/paraview_check.py OUTDIR [--fields c,ecm] [--cell-attributes id,phenotype]

Headless (Debian's paraview 5.11 is built against X/GLX only, no EGL/OSMesa):
`pvpython --force-offscreen-rendering` alone still needs an X display and SIGSEGVs in
XSync without one, so run it under a virtual X server, as scripts/paraview_check.sh does:

    xvfb-run -a -s "-screen 0 1280x1024x24" pvpython scripts/paraview_check.py OUTDIR ...

Reader gotchas (5.11): the legacy `XDMFReader` (XDMF2) SIGSEGVs on dolfinx's xi:include
grids; use `Xdmf3ReaderS`. dolfinx writes one temporal collection per function, which
Xdmf3ReaderS returns as one multi-piece block with a piece per function, each carrying
only its own array (the others are "partial" there). A Threshold on the array over
(-inf, inf) isolates that function's piece; MergeBlocks would drop the partial arrays.
"""

import argparse
import math
import os
import sys

from paraview.simple import (  # type: ignore[import-not-found]
    ColorBy,
    CreateView,
    GetColorTransferFunction,
    PVDReader,
    Render,
    ResetCamera,
    SaveScreenshot,
    Show,
    Threshold,
    Xdmf3ReaderS,
)

errors = []


def fail(msg):
    errors.append(msg)
    print("ERROR:", msg)


def ranges(src, t):
    """{array name: (min, max)} of the point data of `src` at time t, and #points."""
    src.UpdatePipeline(t)
    pd = src.PointData
    return {k: pd[k].GetRange() for k in pd.keys()}, src.GetDataInformation().GetNumberOfPoints()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    ap.add_argument("--fields", default="", help="comma-separated field names required")
    ap.add_argument("--cell-attributes", default="", help="comma-separated, required")
    ap.add_argument("--screenshot", default=None, help="default OUTDIR/paraview_check.png")
    a = ap.parse_args()
    outdir = os.path.abspath(a.outdir)  # readers resolve relative paths oddly: absolute
    want_fields = [s for s in a.fields.split(",") if s]
    want_attrs = [s for s in a.cell_attributes.split(",") if s]
    xdmf, pvd = os.path.join(outdir, "fields.xdmf"), os.path.join(outdir, "cells.pvd")
    for p in (xdmf, pvd):
        if not os.path.isfile(p):
            fail(f"missing {p}")
    if errors:
        return 1

    # --- fields ---
    fr = Xdmf3ReaderS(FileName=[xdmf])
    fr.UpdatePipelineInformation()
    ftimes = list(fr.TimestepValues or [0.0])
    fr.UpdatePipeline(ftimes[-1])
    names = sorted(fr.PointData.keys())
    print(
        f"fields: {len(ftimes)} time steps {ftimes[0]} .. {ftimes[-1]}; point arrays {names}"
        f"; cell arrays {sorted(fr.CellData.keys())}"
    )
    for f in want_fields:
        if f not in names:
            fail(f"field {f!r} not in {xdmf} (has {names})")
    pieces = {
        f: Threshold(Input=fr, Scalars=["POINTS", f], LowerThreshold=-1e300, UpperThreshold=1e300)
        for f in names
    }
    for t in ftimes:
        line = []
        for f, src in pieces.items():
            r, npts = ranges(src, t)
            lo, hi = r.get(f, (math.nan, math.nan))
            if npts == 0 or not (math.isfinite(lo) and math.isfinite(hi)):
                fail(f"field {f!r} at t={t}: {npts} points, range {(lo, hi)}")
            line.append(f"{f}[{lo:.4g}, {hi:.4g}] on {npts} pts")
        print(f"  t={t:<10.6g} " + "; ".join(line))

    # --- cells ---
    cr = PVDReader(FileName=pvd)
    cr.UpdatePipelineInformation()
    ctimes = list(cr.TimestepValues or [])
    if not ctimes:
        fail(f"no time steps in {pvd}")
        ctimes = [0.0]
    counts = [ranges(cr, t)[1] for t in ctimes]
    cranges, ncells = ranges(cr, ctimes[-1])
    print(f"cells: {len(ctimes)} time steps {ctimes[0]} .. {ctimes[-1]}; points per step {counts}")
    print(
        f"  at t={ctimes[-1]}: {ncells} cells; point arrays "
        + ", ".join(f"{k}[{lo:.6g}, {hi:.6g}]" for k, (lo, hi) in sorted(cranges.items()))
    )
    # array names from the file metadata: PointData lists none when a step has 0 cells
    declared = sorted(set(cr.PointArrays) | set(cranges))
    print(f"  cell attributes declared: {declared}")
    for k in want_attrs:
        if k not in declared:
            fail(f"cell attribute {k!r} not in {pvd} (has {declared})")

    # --- screenshot: first field coloured, cells as points on top, at the last time ---
    view = CreateView("RenderView")
    view.ViewSize = [1024, 768]
    view.OrientationAxesVisibility = 0
    view.ViewTime = ftimes[-1]
    if names:
        first = want_fields[0] if want_fields and want_fields[0] in names else names[0]
        rep = Show(pieces[first], view)
        ColorBy(rep, ("POINTS", first))
        rep.RescaleTransferFunctionToDataRange(True, False)
        rep.SetScalarBarVisibility(view, True)
        GetColorTransferFunction(first).ApplyPreset("Viridis (matplotlib)", True)
    crep = Show(cr, view)
    crep.SetRepresentationType("Points")
    crep.PointSize = 6
    # no RenderPointsAsSpheres: with a surface in the view, Xvfb/Mesa drops about half of
    # the sphere impostors (depth bug); plain square points all show
    crep.Position = [0, 0, 0.05]  # in front of the z=0 mesh (a tiny offset loses to depth tests)
    crep.ColorArrayName = ["POINTS", ""]  # solid colour (ColorBy(rep, None) raises in 5.11)
    crep.AmbientColor = crep.DiffuseColor = [1.0, 0.2, 0.2]
    view.InteractionMode = "2D"
    ResetCamera(view)
    Render(view)
    shot = os.path.abspath(a.screenshot or os.path.join(outdir, "paraview_check.png"))
    SaveScreenshot(shot, view, ImageResolution=[1024, 768])
    if not os.path.isfile(shot) or os.path.getsize(shot) == 0:
        fail(f"screenshot {shot} not written")
    print(f"screenshot: {shot}")

    if errors:
        print(f"paraview_check: FAILED ({len(errors)} problems)")
        return 1
    print("paraview_check: OK")
    return 0


if __name__ == "__main__":
    rc = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # skip interpreter teardown: under Xvfb, VTK's GL context cleanup at exit raises
    # "X Error ... GLXBadContext" and turns a passing check into exit status 1
    os._exit(rc)
