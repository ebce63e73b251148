"""Organs at their reference size; the domain's placement decides the partial volume."""

import math

import numpy as np
import pytest

from solver import config
from solver.clinic import images
from solver.clinic.background import ORGANS, SURROUND, Scene
from solver.clinic.tissue import Grid, Tissue


def test_organ_volumes_are_the_reference_ones():
    assert ORGANS["liver"].volume_mm3 == pytest.approx(1800 / 1.05 * 1000)
    assert ORGANS["lung"].volume_mm3 == pytest.approx(642 / 0.382 * 1000)
    assert ORGANS["brain"].volume_mm3 == pytest.approx(4 / 3 * math.pi * 60 * 90 * 65)


def test_placement_sets_the_partial_volume_with_the_organ_edge():
    """A domain at the liver's centre sees liver all round; one 2 mm inside its x edge sees
    surround beyond the edge, and the PET image there mixes the two over the PSF."""
    liver = ORGANS["liver"]
    a = liver.semi_axes_mm[0]
    pet = images.PETModel.of(config.PETSpec())
    grid = Grid.around((0, 0, 0), (40.0, 4.0, 4.0), 4.0)
    empty = Tissue(grid, np.zeros(grid.shape), np.zeros(grid.shape))
    centre = pet.expected(empty, Scene(liver, (0, 0, 0), (0, 0, 0)), grid)
    assert np.allclose(centre, liver.tissue.suv)
    edge = pet.expected(empty, Scene(liver, (0, 0, 0), (a - 2.0, 0, 0)), grid)[:, 0, 0]
    assert edge[0] == pytest.approx(liver.tissue.suv, abs=1e-3)
    assert edge[-1] == pytest.approx(SURROUND.suv, abs=1e-3)
    assert np.all(np.diff(edge) <= 1e-12)  # monotone fall across the edge
    with pytest.raises(ValueError):
        Scene(liver, (0, 0, 0), (a + 1.0, 0, 0))
