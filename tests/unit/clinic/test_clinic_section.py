"""An organ's nodes as a scanner needs them (solver/clinic/section.py)."""

import numpy as np
import pytest

from solver import config
from solver.clinic import section
from solver.clinic.tissue import NO_HYPOXIA, NO_VESSELS, Grid
from solver.fields.equations import OxygenEquation


def _fields(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        "c_E": rng.uniform(0, 2, n),
        "c_M": rng.uniform(0, 2, n),
        "d_E": rng.uniform(0, 0.5, n),
        "o": rng.uniform(0, 1, n),
        "b": rng.uniform(0, 0.3, n),
    }


def test_fields_mean_what_the_models_say():
    rng = np.random.default_rng(1)
    n = 50
    pts, vol, f = rng.uniform(0, 1, (n, 2)), rng.uniform(0.1, 1, n), _fields(n, rng)
    cells, ox = config.CellsSpec(), config.OxygenSpec()
    s = section.from_fields(pts, vol, f, dim=2, mm=2.0, cells=cells, oxygen=ox)
    order = np.lexsort(np.c_[pts * 2.0, np.zeros(n)].T[::-1])
    c = f["c_E"] + f["c_M"] + f["d_E"]
    q = cells.capacity(2)
    assert np.allclose(s.points_mm[:, :2], pts[order] * 2.0) and (s.points_mm[:, 2] == 0).all()
    assert np.allclose(s.volumes, vol[order] * 4.0)  # mm^2 per model unit^2
    assert np.allclose(s.tumour, c[order] / q)
    assert np.array_equal(s.hypoxic, (f["o"][order] < ox.hypoxia).astype(float))
    bed = ox.b0 * (1 - ox.regression * np.minimum(c / q, 1)) + f["b"]
    assert np.allclose(s.vessels, bed[order] / ox.b0)
    assert np.allclose(OxygenEquation.of(ox, q).perfusion(c, f["b"]), bed)
    assert s.assumed == (section.SLICE_2D,)
    bare = section.from_fields(pts, vol, f, dim=2, mm=2.0, cells=cells, oxygen=None)
    assert bare.hypoxic is None and bare.vessels is None
    assert bare.assumed == (NO_HYPOXIA, NO_VESSELS, section.SLICE_2D)


def test_order_of_the_nodes_does_not_matter():
    """Ranks gather their dofs in any order: the section is the same to the last bit."""
    rng = np.random.default_rng(2)
    n = 200
    pts, vol, f = rng.uniform(0, 1, (n, 3)), rng.uniform(0.1, 1, n), _fields(n, rng)
    kw = dict(dim=3, mm=2.0, cells=config.CellsSpec(), oxygen=config.OxygenSpec())
    a = section.from_fields(pts, vol, f, **kw)
    p = rng.permutation(n)
    b = section.from_fields(pts[p], vol[p], {k: v[p] for k, v in f.items()}, **kw)
    for name in ("points_mm", "volumes", "tumour", "hypoxic", "vessels"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name


def test_vertex_volumes_are_the_lumped_mass():
    sq = np.array([[0.0, 0], [2, 0], [2, 1], [0, 1]])
    tri = np.array([[0, 1, 2], [0, 2, 3]])
    v = section.vertex_volumes(sq, tri, 2)
    assert v.sum() == pytest.approx(2.0)
    assert v == pytest.approx([2 / 3, 1 / 3, 2 / 3, 1 / 3])
    cube = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]])
    assert section.vertex_volumes(cube, np.array([[0, 1, 2, 3]]), 3) == pytest.approx([1 / 24] * 4)


def test_a_2d_section_is_uniform_through_the_slice():
    rng = np.random.default_rng(3)
    n = 400
    pts = np.c_[rng.uniform(-1, 1, (n, 2)), np.zeros(n)]
    s = section.Section(pts, np.full(n, 0.01), rng.uniform(0, 1, n), None, None, 2)
    grid = Grid.around((0, 0, 0), (3, 3, 2), 0.5)  # 4 layers in z
    t = s.tissue(grid)
    assert all(np.array_equal(t.tumour[:, :, 0], t.tumour[:, :, k]) for k in range(4))
    # Each layer holds the section's tumour area times the layer's thickness.
    assert t.tumour[:, :, 0].sum() * grid.voxel_mm3 == pytest.approx(s.tumour_volume * 0.5)
    assert section.SLICE_2D in t.assumed
