"""The observer: the non-prewhitening matched filter's empirical d' over noise realisations
against its analytical value, the detection size against where the analytical d' = k, and
PERCIST, for each modality."""

import math

import numpy as np
import pytest
from scipy.optimize import brentq

from solver import config
from solver.clinic import images, observer
from solver.clinic.background import ORGANS, Scene
from solver.clinic.noise import CorrelatedNoise
from solver.clinic.tissue import Grid, Tissue, sphere

LIVER = Scene(ORGANS["liver"], (0.0, 0.0, 0.0))
MODELS = {
    "pet": (images.PETModel.of(config.PETSpec()), 12),  # 48 mm field of view
    "ct": (images.CTModel.of(config.CTSpec()), 14),  # 14 mm
    "mri": (images.MRIModel.of(config.MRISpec()), 10),  # 10 mm
}
K = config.ImagingSpec().k


def rng(key):
    return np.random.Generator(np.random.Philox(key=key))


_BACKGROUND = {}


def lesion(model, grid, r):
    """Expected images without and with a packed sphere of radius r at the centre."""
    fine = model.subgrid(grid)
    t = sphere(fine, (0.0, 0.0, 0.0), r, sub=4)
    zero = np.zeros(fine.shape)
    key = (model, grid)
    if key not in _BACKGROUND:
        _BACKGROUND[key] = model.expected(Tissue(fine, zero, zero), LIVER, grid)
    return _BACKGROUND[key], model.expected(Tissue(fine, t, zero), LIVER, grid)


def analytic(model, grid, r):
    b, p = lesion(model, grid, r)
    return observer.npw_dprime(p - b, model.noise(b), model.noise(p)), b, p


def empirical(model, b, p, key, n):
    s = p - b
    g = rng(key)
    t1 = observer.npw_statistic(np.stack([model.realise(g, p) for _ in range(n)]), s)
    t0 = observer.npw_statistic(np.stack([model.realise(g, b) for _ in range(n)]), s)
    return observer.empirical_dprime(t1, t0)


def crossing(model, grid):
    """Radius where the analytical d' = K."""
    return brentq(lambda r: analytic(model, grid, r)[0] - K, 0.05, 8.0, rtol=0.01)


@pytest.mark.parametrize("name", ["pet", "ct", "mri"])
def test_empirical_dprime_matches_analytic(name):
    """Over 150 lesion-present and 150 lesion-absent realisations (MRI: Rician magnitude)
    the empirical d' of t = s^T g is the analytical one within 3 of its standard errors."""
    model, n = MODELS[name]
    grid = Grid.around((0, 0, 0), (n * model.voxel_mm,) * 3, model.voxel_mm)
    r = crossing(model, grid) * 0.8  # d' about 3-4: a regime where errors show
    d, b, p = analytic(model, grid, r)
    e = empirical(model, b, p, 31, 150)
    assert abs(e - d) <= 3 * observer.dprime_standard_error(d, 150, 150), (d, e)


@pytest.mark.parametrize("name", ["pet", "ct", "mri"])
def test_detection_size_where_analytic_dprime_is_k(name):
    """Lesions of growing radius (0.6 to 1.4 x the analytical crossing): the first one the
    empirical d' (100 + 100 realisations each) finds at >= k has analytical d' >= k - 3 SE,
    and the one before it <= k + 3 SE: detection starts where d' = k says."""
    model, n = MODELS[name]
    grid = Grid.around((0, 0, 0), (n * model.voxel_mm,) * 3, model.voxel_mm)
    rstar = crossing(model, grid)
    radii = rstar * np.array([0.6, 0.8, 0.9, 1.0, 1.1, 1.2, 1.4])
    se = observer.dprime_standard_error(K, 100, 100)
    found = None
    for i, r in enumerate(radii):
        d, b, p = analytic(model, grid, r)
        if empirical(model, b, p, 40 + i, 100) >= K:
            found = i
            break
    assert found is not None and found > 0, "detected at the smallest radius or never"
    assert analytic(model, grid, radii[found])[0] >= K - 3 * se
    assert analytic(model, grid, radii[found - 1])[0] <= K + 3 * se


def test_percist():
    """A 16 mm lesion is measurable by PERCIST, the liver alone is not (noisy images);
    the peak of a uniform image is its value; the threshold is 1.5 mean + 2 SD."""
    model = images.PETModel.of(config.PETSpec())
    grid = Grid.around((0, 0, 0), (80.0,) * 3, 4.0)
    fine = model.subgrid(grid)
    t = sphere(fine, (-20.0, 0.0, 0.0), 8.0, sub=1)
    zero = np.zeros(fine.shape)
    b = model.expected(Tissue(fine, zero, zero), LIVER, grid)
    p = model.expected(Tissue(fine, t, zero), LIVER, grid)
    g = rng(50)
    ref = (20.0, 0.0, 0.0)
    yes = observer.percist(model.realise(g, p), grid, ref)
    no = observer.percist(model.realise(g, b), grid, ref)
    assert yes.detected and not no.detected
    assert yes.threshold == pytest.approx(1.5 * yes.reference_mean + 2 * yes.reference_sd)
    assert no.reference_mean == pytest.approx(2.0, rel=0.05)
    flat = observer.percist(np.full(grid.shape, 2.0), grid, ref)
    assert flat.peak == pytest.approx(2.0) and flat.reference_sd == 0.0
    w = observer.sphere_weights((4.0, 4.0, 4.0), (3 * 1000 / (4 * math.pi)) ** (1 / 3))
    assert w.sum() == pytest.approx(1.0)


def test_unequal_variances_enter_as_their_mean():
    """Lesion-present noise 3x the absent: d' = s^T s / sqrt((s^T K0 s + s^T K1 s) / 2),
    which the empirical d' over 400 + 400 realisations matches within 3 SE."""
    s = np.zeros((8, 8, 8))
    s[2:6, 2:6, 2:6] = 0.4
    k0 = CorrelatedNoise(1.0, 2.0, (1.0,) * 3)
    k1 = CorrelatedNoise(3.0, 2.0, (1.0,) * 3)
    d = observer.npw_dprime(s, k0, k1)
    ss = float(np.sum(s * s))
    v0, v1 = float(np.sum(s * k0.covariance(s))), float(np.sum(s * k1.covariance(s)))
    assert v1 == pytest.approx(9 * v0) and d == pytest.approx(ss / math.sqrt(5 * v0))
    g = rng(60)
    t1 = observer.npw_statistic(s + k1.sample(g, s.shape, 400), s)
    t0 = observer.npw_statistic(k0.sample(g, s.shape, 400), s)
    e = observer.empirical_dprime(t1, t0)
    assert abs(e - d) <= 3 * observer.dprime_standard_error(d, 400, 400)


def test_sulpeak_is_the_mean_of_a_1cc_sphere():
    """One hot voxel: SULpeak is its value times the weight of the central voxel in the
    1 cm^3 sphere (radius 6.2 mm), not the voxel's value (SUVmax)."""
    grid = Grid.around((0, 0, 0), (40.0,) * 3, 4.0)
    img = np.zeros(grid.shape)
    img[5, 5, 5] = 1000.0
    w = observer.sphere_weights(grid.spacing_mm, (3 * 1000 / (4 * math.pi)) ** (1 / 3))
    res = observer.percist(img, grid, (10.0, 10.0, 10.0), reference_diameter_mm=8.0)
    assert res.peak == pytest.approx(1000.0 * w.max()) and res.peak < 1000.0 / 10
    assert (4.0**3) * w.sum() / w.max() == pytest.approx(1000.0, rel=0.1)  # ~1 cm^3
