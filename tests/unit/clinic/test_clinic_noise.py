"""CorrelatedNoise: variance, correlation length, covariance operator, no wrap-around."""

import numpy as np
import pytest

from solver.clinic.noise import CorrelatedNoise


def _rng(key):
    return np.random.Generator(np.random.Philox(key=key))


@pytest.mark.parametrize("fwhm", [0.0, 4.0, 6.0])
def test_variance_and_correlation_length(fwhm):
    """Over 40 realisations of 32^3 voxels of 1 mm: the variance is sigma^2 and the
    autocorrelation at a lag of fwhm/2 is 1/2 (the definition of the FWHM of a Gaussian
    autocorrelation), each within 4 standard errors measured across the realisations."""
    sigma, n = 2.0, 40
    noise = CorrelatedNoise(sigma, fwhm, (1.0, 1.0, 1.0))
    x = noise.sample(_rng(11), (32, 32, 32), n)
    var = x.reshape(n, -1).var(axis=1)
    assert abs(var.mean() - sigma**2) <= 4 * var.std(ddof=1) / np.sqrt(n)
    if fwhm:
        lag = int(fwhm / 2)
        rho = [np.mean(x[i, :-lag] * x[i, lag:]) / np.mean(x[i] ** 2) for i in range(n)]
        rho = np.asarray(rho)
        assert abs(rho.mean() - 0.5) <= 4 * rho.std(ddof=1) / np.sqrt(n) + 0.01
        far = np.asarray([np.mean(x[i, :-8] * x[i, 8:]) for i in range(n)]) / sigma**2
        assert abs(far.mean()) < 0.03  # exp(-8^2 / (2 s^2)) ~ 1e-4 for fwhm 6 mm


def test_per_voxel_sigma():
    """sigma may vary per voxel: the sample SD follows it."""
    sigma = np.ones((24, 24, 24))
    sigma[12:] = 3.0
    x = CorrelatedNoise(sigma, 3.0, (1.0, 1.0, 1.0)).sample(_rng(12), sigma.shape, 30)
    assert x[:, :12].std() == pytest.approx(1.0, rel=0.05)
    assert x[:, 12:].std() == pytest.approx(3.0, rel=0.05)


def test_covariance_operator_is_the_autocorrelation():
    """K applied to a unit impulse is sigma^2 times the Gaussian autocorrelation: exactly
    sigma^2 at lag 0 and half of it at fwhm/2 (the discrete Gaussian's autocorrelation
    differs from the continuous one by < 1 % for fwhm of 6 voxels)."""
    sigma, fwhm = 1.5, 6.0
    noise = CorrelatedNoise(sigma, fwhm, (1.0, 1.0, 1.0))
    e = np.zeros((31, 31, 31))
    e[15, 15, 15] = 1.0
    k = noise.covariance(e)
    assert k[15, 15, 15] == pytest.approx(sigma**2, rel=1e-12)
    assert k[18, 15, 15] == pytest.approx(0.5 * sigma**2, rel=0.01)
    assert k[15, 15, 18] == pytest.approx(0.5 * sigma**2, rel=0.01)


def test_no_wrap_around():
    """An impulse in a corner has no covariance with the opposite corner (padding)."""
    noise = CorrelatedNoise(1.0, 6.0, (1.0, 1.0, 1.0))
    e = np.zeros((16, 16, 16))
    e[0, 0, 0] = 1.0
    k = noise.covariance(e)
    assert abs(k[-1, -1, -1]) < 1e-9 and abs(k[-1, 0, 0]) < 1e-6
    x = noise.sample(_rng(13), (16, 2, 2), 200)
    c = np.mean(x[:, 0, 0, 0] * x[:, -1, 0, 0])
    assert abs(c) < 4 / np.sqrt(200)  # wrapped noise would correlate the two faces


def test_covariance_matches_samples():
    """s^T K s is the variance of s^T n over realisations (within 3 SE of a variance)."""
    noise = CorrelatedNoise(np.linspace(0.5, 2.0, 10**3).reshape(10, 10, 10), 3.0, (1.0,) * 3)
    s = np.zeros((10, 10, 10))
    s[3:7, 3:7, 3:7] = 1.0
    n = 400
    t = noise.sample(_rng(14), s.shape, n).reshape(n, -1) @ s.ravel()
    exact = float(np.sum(s * noise.covariance(s)))
    assert abs(t.var(ddof=1) - exact) <= 3 * exact * np.sqrt(2 / (n - 1))
