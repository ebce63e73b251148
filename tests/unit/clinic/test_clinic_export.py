"""Exports: a lesion at known mm coordinates is at the right voxel of the NIfTI file (read
back with nibabel, voxel -> world by the affine) and at the right point of the .vti (read
back with vtk); the PNG is written."""

import numpy as np
import pytest

from solver.clinic.export import write_nifti, write_png, write_vti
from solver.clinic.tissue import Grid

# Anisotropic spacing and an off-centre origin so that swapped axes or a lost origin show.
GRID = Grid((-31.5, 12.0, 4.25), (2.0, 3.0, 4.0), (17, 11, 7))
LESION = np.array([-11.2, 27.4, 19.9])  # mm, world


def image():
    img = np.zeros(GRID.shape)
    img[tuple(GRID.index(LESION)[0])] = 1.0
    return img


def test_nifti_puts_the_lesion_at_its_world_coordinates(tmp_path):
    nib = pytest.importorskip("nibabel")
    path = write_nifti(tmp_path / "lesion.nii.gz", image(), GRID, description="test")
    back = nib.load(str(path))
    data = np.asarray(back.dataobj)
    ijk = np.unravel_index(int(np.argmax(data)), data.shape)
    world = nib.affines.apply_affine(back.affine, ijk)
    assert np.all(np.abs(world - LESION) <= np.asarray(GRID.spacing_mm) / 2)
    assert int(back.header["qform_code"]) == 1 and int(back.header["sform_code"]) == 1
    assert back.header.get_xyzt_units()[0] == "mm"
    assert nib.aff2axcodes(back.affine) == ("R", "A", "S")


def test_vti_puts_the_lesion_at_its_world_coordinates(tmp_path):
    vtk = pytest.importorskip("vtk")
    from vtk.util import numpy_support

    path = write_vti(tmp_path / "lesion.vti", image(), GRID, name="suv")
    reader = vtk.vtkXMLImageDataReader()
    reader.SetFileName(str(path))
    reader.Update()
    data = reader.GetOutput()
    values = numpy_support.vtk_to_numpy(data.GetPointData().GetArray("suv"))
    point = np.asarray(data.GetPoint(int(np.argmax(values))))
    assert np.all(np.abs(point - LESION) <= np.asarray(GRID.spacing_mm) / 2)
    assert data.GetDimensions() == GRID.shape


def test_png(tmp_path):
    path = write_png(tmp_path / "lesion.png", image(), GRID, LESION, title="t", unit="SUV")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    cold = write_png(tmp_path / "cold.png", -image(), GRID, LESION, projection="min")
    assert cold.stat().st_size > 0
    with pytest.raises(ValueError):
        write_png(tmp_path / "x.png", image(), GRID, LESION, projection="mean")


def test_png_of_a_2d_image_is_its_one_slice(tmp_path):
    """An image one voxel thick (a 2D run's) is one panel, the slice; 3D keeps its six."""
    import matplotlib.image

    flat = Grid((-31.5, 12.0, 0.0), (2.0, 3.0, 4.0), (17, 11, 1))
    img = np.zeros(flat.shape)
    img[tuple(flat.index(LESION * [1, 1, 0])[0])] = 1.0
    one = matplotlib.image.imread(write_png(tmp_path / "2d.png", img, flat, LESION * [1, 1, 0]))
    six = matplotlib.image.imread(write_png(tmp_path / "3d.png", image(), GRID, LESION))
    assert one.shape[:2] == (500, 600) and six.shape[:2] == (750, 1200)
