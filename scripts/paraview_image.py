"""Open a seedsoil image (.vti, from ``seedsoil image`` or a run's OUTDIR/imaging) in
ParaView and print where it is brightest (pvpython script; no rendering, so no X needed).

    pvpython scripts/paraview_image.py FILE.vti [--darkest]

Prints one JSON line: the world position in mm of the brightest (or darkest) point as
ParaView places it (origin + index x spacing), the dimensions, origin, spacing and the
array's name and range; exit 1 if the file does not open or holds no point array.
"""

import argparse
import json
import sys

from paraview import servermanager  # type: ignore[import-not-found]
from paraview.simple import XMLImageDataReader  # type: ignore[import-not-found]
from vtkmodules.util import numpy_support  # type: ignore[import-not-found]

p = argparse.ArgumentParser()
p.add_argument("vti")
p.add_argument("--darkest", action="store_true", help="the lowest value (a cold CT lesion)")
args = p.parse_args()

reader = XMLImageDataReader(FileName=[args.vti])
reader.UpdatePipeline()
data = servermanager.Fetch(reader)
if data is None or data.GetPointData().GetNumberOfArrays() == 0:
    print(f"{args.vti}: no image data with a point array", file=sys.stderr)
    sys.exit(1)
array = data.GetPointData().GetArray(0)
values = numpy_support.vtk_to_numpy(array)
at = int(values.argmin() if args.darkest else values.argmax())
print(
    json.dumps(
        {
            "point_mm": list(data.GetPoint(at)),
            "dimensions": list(data.GetDimensions()),
            "origin": list(data.GetOrigin()),
            "spacing": list(data.GetSpacing()),
            "array": array.GetName(),
            "range": [float(values.min()), float(values.max())],
        }
    )
)
