"""Images to files: NIfTI for 3D Slicer and imaging pipelines, VTK image data for ParaView,
PNG figures.

NIfTI: nibabel Nifti1Image, the affine voxel -> world in mm with the world axes read as
NIfTI's RAS+ (x increases toward the patient's Right, y Anterior, z Superior), set as both
qform and sform (code 1, scanner), units mm. ``.vti``: VTK XML ImageData, origin = the first
voxel's centre, and spacing, values at the points (VTK's NIfTI reader ignores the affine:
hence this file for ParaView). PNG: three orthogonal slices through a point and the three
maximum-intensity projections (matplotlib, Agg); an image one voxel thick (a 2D run's) is
its one slice.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray

from solver.clinic.tissue import Grid

__all__ = ["write_nifti", "write_vti", "write_png"]


def write_nifti(path: str | Path, image: NDArray, grid: Grid, *, description: str = "") -> Path:
    """Write image (grid.shape) as NIfTI-1 with the grid's affine (RAS+, mm)."""
    import nibabel as nib

    img = nib.Nifti1Image(np.asarray(image, np.float32), grid.affine())
    img.set_qform(grid.affine(), code=1)
    img.set_sform(grid.affine(), code=1)
    img.header.set_xyzt_units(xyz="mm", t="sec")
    if description:
        img.header["descrip"] = description[:79].encode()
    path = Path(path)
    nib.save(img, str(path))
    return path


def write_vti(path: str | Path, image: NDArray, grid: Grid, *, name: str = "image") -> Path:
    """Write image as VTK XML ImageData (point data, origin at the first voxel's centre)."""
    from vtkmodules.util import numpy_support
    from vtkmodules.vtkCommonDataModel import vtkImageData
    from vtkmodules.vtkIOXML import vtkXMLImageDataWriter

    data = vtkImageData()
    data.SetDimensions(*grid.shape)
    data.SetOrigin(*grid.origin_mm)
    data.SetSpacing(*grid.spacing_mm)
    # VTK orders points x fastest: Fortran order of an (x, y, z) array.
    arr = numpy_support.numpy_to_vtk(np.asarray(image, np.float64).ravel(order="F"), deep=True)
    arr.SetName(name)
    data.GetPointData().SetScalars(arr)
    writer = vtkXMLImageDataWriter()
    path = Path(path)
    writer.SetFileName(str(path))
    writer.SetInputData(data)
    if not writer.Write():
        raise OSError(f"could not write {path}")
    return path


def write_png(
    path: str | Path,
    image: NDArray,
    grid: Grid,
    point_mm: ArrayLike,
    *,
    title: str = "",
    unit: str = "",
    projection: str = "max",
) -> Path:
    """Three orthogonal slices through a point (top) and the intensity projections along x,
    y, z (bottom), in mm: maximum (hot lesions, PET) or "min" (cold ones, e.g. CT liver).
    An image one voxel thick along z (a 2D run's) is drawn as its one slice: its other
    panels would repeat it or be one voxel wide.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if projection not in ("max", "min"):
        raise ValueError(f"projection is 'max' or 'min', not {projection!r}")
    proj, name = (np.max, "MIP") if projection == "max" else (np.min, "MinIP")
    image = np.asarray(image, float)
    ijk = np.clip(grid.index(point_mm)[0], 0, np.asarray(grid.shape) - 1)
    if np.any(grid.index(point_mm)[0] < 0):
        ijk = np.asarray(grid.shape) // 2
    x, y, z = (grid.centres(a) for a in range(3))
    h = grid.spacing_mm
    ext = {
        "xy": [x[0] - h[0] / 2, x[-1] + h[0] / 2, y[0] - h[1] / 2, y[-1] + h[1] / 2],
        "xz": [x[0] - h[0] / 2, x[-1] + h[0] / 2, z[0] - h[2] / 2, z[-1] + h[2] / 2],
        "yz": [y[0] - h[1] / 2, y[-1] + h[1] / 2, z[0] - h[2] / 2, z[-1] + h[2] / 2],
    }
    panels = [
        (image[:, :, ijk[2]], "xy", f"axial z = {z[ijk[2]]:.1f} mm"),
        (image[:, ijk[1], :], "xz", f"coronal y = {y[ijk[1]]:.1f} mm"),
        (image[ijk[0], :, :], "yz", f"sagittal x = {x[ijk[0]]:.1f} mm"),
        (proj(image, axis=2), "xy", f"{name} along z"),
        (proj(image, axis=1), "xz", f"{name} along y"),
        (proj(image, axis=0), "yz", f"{name} along x"),
    ]
    lo, hi = float(image.min()), float(image.max())
    if grid.shape[2] == 1:
        panels = [(image[:, :, 0], "xy", f"slice z = {z[0]:.1f} mm (2D run)")]
        fig, axes = plt.subplots(1, 1, figsize=(6, 5), squeeze=False)
    else:
        fig, axes = plt.subplots(2, 3, figsize=(12, 7.5))
    # A fixed layout: matplotlib's constrained layout took 2-3 times the whole figure's time.
    fig.subplots_adjust(left=0.08, right=0.84, bottom=0.08, top=0.88, wspace=0.45, hspace=0.4)
    for ax, (a, plane, label) in zip(axes.ravel(), panels):
        im = ax.imshow(a.T, origin="lower", extent=ext[plane], cmap="gray", vmin=lo, vmax=hi)
        ax.set_title(label)
        ax.set_xlabel(f"{plane[0]} (mm)")
        ax.set_ylabel(f"{plane[1]} (mm)")
    fig.colorbar(im, cax=fig.add_axes((0.88, 0.15, 0.025, 0.65)), label=unit)
    if title:
        fig.suptitle(title)
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
