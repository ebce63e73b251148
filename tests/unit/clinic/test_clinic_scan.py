"""One modality's view of one organ (solver/clinic/scan.py)."""

import math

import numpy as np
import pytest

from solver import config
from solver.clinic import images, observer, scan
from solver.clinic.background import ORGANS, Scene
from solver.clinic.section import Section

H = 0.1  # node spacing, mm


def nodes(half: float, h: float = H) -> np.ndarray:
    ax = np.arange(-half, half + 1e-9, h)
    return np.stack(np.meshgrid(ax, ax, ax, indexing="ij"), -1).reshape(-1, 3)


def lesions(x: np.ndarray, *spheres: tuple[tuple[float, float, float], float]) -> Section:
    h = float(x[1, 2] - x[0, 2])  # the nodes' spacing
    t = np.zeros(len(x))
    for centre, r in spheres:
        t[np.linalg.norm(x - centre, axis=1) <= r] = 1.0
    return Section(x, np.full(len(x), h**3), t, None, None, 3)


def scanner(modality: str, organ: str, sec: Section) -> scan.Scanner:
    model = images.model_of(config.ImagingSpec(), modality)
    return scan.Scanner(model, Scene(ORGANS[organ], (0.0, 0.0, 0.0)), sec, k=5.0)


@pytest.mark.parametrize("modality, radius", [("pet", 2.66), ("ct", 1.85), ("mri", 0.54)])
def test_one_lesion_is_the_observer_model(modality, radius):
    """A packed sphere at the detection radius of docs/imaging.md (d' = 5 in the liver)
    gives the observer's d' of the whole lesion signal: the lesion region, cut at 5 % of the
    peak, loses under 1 % of it; and it is detected at k = 5 within the sampling of a sphere
    by nodes 0.1 mm apart."""
    x = nodes(3.0)
    sec = lesions(x, ((0.0, 0.0, 0.0), radius))
    sc = scanner(modality, "liver", sec)
    image = sc.expected(sec)
    s = image - sc.background
    whole = observer.npw_dprime(s, sc.model.noise(sc.background), sc.model.noise(image))
    f = sc.find(sec)
    assert f.lesions == 1
    assert f.dprime == pytest.approx(whole, rel=0.02)
    assert f.dprime == pytest.approx(5.0, rel=0.08)
    assert f.detected == (f.dprime >= 5.0)


def test_two_lesions_are_not_summed():
    """Two equal lesions far apart: the organ's d' is one lesion's, not sqrt(2) times it."""
    x = nodes(9.0, 0.25)
    one = lesions(x, ((-6.0, 0.0, 0.0), 1.5))
    two = lesions(x, ((-6.0, 0.0, 0.0), 1.5), ((6.0, 0.0, 0.0), 1.5))
    a, b = scanner("mri", "liver", two).find(one), scanner("mri", "liver", two).find(two)
    assert b.lesions == 2 and a.lesions == 1
    assert b.dprime == pytest.approx(a.dprime, rel=0.02)


def test_percist_against_the_liver():
    x = nodes(8.0, 0.25)
    big = lesions(x, ((0.0, 0.0, 0.0), 8.0))
    sc = scanner("pet", "liver", big)
    liver, model = ORGANS["liver"].tissue.suv, sc.model
    assert isinstance(model, images.PETModel)
    assert sc.percist_threshold == pytest.approx(1.5 * liver + 2 * model.sigma_ref)  # 3.4 SUV
    f = sc.find(big)
    assert f.suv_peak > sc.percist_threshold and f.percist == 1.0
    small = lesions(x, ((0.0, 0.0, 0.0), 2.0))
    g = sc.find(small)
    assert g.suv_peak < sc.percist_threshold and g.percist == 0.0
    none = sc.find(lesions(x))
    assert none.dprime == 0.0 and not none.detected and none.percist == 0.0
    assert math.isnan(none.suv_peak)
    # The brain's own uptake (SUV 7) is above the liver's threshold: not applied.
    brain = scanner("pet", "brain", big).find(big)
    assert brain.detected and math.isnan(brain.percist)
    # Other modalities have no PERCIST.
    assert math.isnan(scanner("ct", "liver", big).find(big).percist)


def test_a_2d_section_images_one_slice():
    ax = np.arange(-3.0, 3.0 + 1e-9, H)
    xy = np.stack(np.meshgrid(ax, ax, indexing="ij"), -1).reshape(-1, 2)
    x = np.c_[xy, np.zeros(len(xy))]
    t = (np.linalg.norm(xy, axis=1) <= 2.0).astype(float)
    sec = Section(x, np.full(len(x), H**2), t, None, None, 2)
    sc = scanner("mri", "liver", sec)
    assert sc.grid.shape[2] == 1
    f = sc.find(sec)
    assert f.detected and f.lesions == 1
