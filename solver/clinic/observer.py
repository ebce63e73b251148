"""Detectability: the non-prewhitening matched filter, Rose's criterion, and PERCIST for PET.

The observer knows the expected lesion signal s (image with the lesion minus without) and
correlates it with the image: t = s^T g. With noise covariance K (``CorrelatedNoise``),

    d'^2 = (s^T s)^2 / (s^T K s),

and with different covariances with and without the lesion (PET: noise grows with the
uptake) the variance in the denominator is the mean of the two (s^T K0 s + s^T K1 s) / 2.
A lesion is detected when d' >= k (Rose 1948: k = 5).

PERCIST (Wahl et al. 2009 J Nucl Med 50 Suppl 1:122S): a lesion is measurable when its
SULpeak, the mean in a 1 cm^3 sphere placed on the hottest spot, exceeds 1.5 x the liver's
mean + 2 SD, measured in a 3 cm sphere in the right lobe (here: a 3 cm sphere of the organ's
background, placed by the caller). SUL (lean body mass) = SUV x LBM / body mass for every
voxel of one patient, so the rule, linear in the image, decides the same on SUV images; the
values reported here are SUV.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage

from solver.clinic.noise import CorrelatedNoise
from solver.clinic.tissue import Grid

__all__ = [
    "npw_dprime",
    "npw_statistic",
    "empirical_dprime",
    "dprime_standard_error",
    "sphere_weights",
    "sphere_stats",
    "Percist",
    "percist",
]

Array = NDArray[np.float64]


def npw_dprime(
    signal: Array, absent: CorrelatedNoise, present: CorrelatedNoise | None = None
) -> float:
    """The d' of the non-prewhitening matched filter for signal s under noise (with the lesion
    absent and, if its noise differs, present).
    """
    s = np.asarray(signal, float)
    ss = float(np.sum(s * s))
    if ss == 0.0:
        return 0.0
    var = float(np.sum(s * absent.covariance(s)))
    if present is not None:
        var = 0.5 * (var + float(np.sum(s * present.covariance(s))))
    return ss / math.sqrt(var)


def npw_statistic(images: Array, signal: Array) -> Array:
    """The statistic t = s^T g of each image (images: n x shape)."""
    s = np.asarray(signal, float).ravel()
    return np.asarray(images, float).reshape(len(images), -1) @ s


def empirical_dprime(t_present: Array, t_absent: Array) -> float:
    """(mean t1 - mean t0) / sqrt((var t1 + var t0) / 2)."""
    v = 0.5 * (np.var(t_present, ddof=1) + np.var(t_absent, ddof=1))
    return float((np.mean(t_present) - np.mean(t_absent)) / math.sqrt(v))


def dprime_standard_error(d: float, n_present: int, n_absent: int) -> float:
    """Sampling SD of an empirical d' from n1 and n0 Gaussian samples (delta method: the
    mean difference contributes 1/n1 + 1/n0, the pooled SD d^2 / (2 (n1 + n0 - 2))).
    """
    return math.sqrt(1.0 / n_present + 1.0 / n_absent + d * d / (2.0 * (n_present + n_absent - 2)))


def sphere_weights(spacing_mm: tuple[float, ...], radius_mm: float, sub: int = 5) -> Array:
    """Fraction of each voxel inside a sphere centred on a voxel centre (sub^3 points per
    voxel), normalised to sum 1.
    """
    n = [int(math.ceil(radius_mm / h)) for h in spacing_mm]
    axes = []
    for a, h in enumerate(spacing_mm):
        off = (np.arange(sub) + 0.5) / sub - 0.5
        x = (np.arange(-n[a], n[a] + 1)[:, None] + off[None, :]) * h
        axes.append(x)
    xx = axes[0][:, None, None, :, None, None] ** 2
    yy = axes[1][None, :, None, None, :, None] ** 2
    zz = axes[2][None, None, :, None, None, :] ** 2
    w = ((xx + yy + zz) <= radius_mm**2).mean(axis=(3, 4, 5))
    return w / w.sum()


def sphere_stats(image: Array, grid: Grid, centre_mm: ArrayLike, diameter_mm: float) -> tuple:
    """Mean and SD of the voxels whose centres lie in a sphere."""
    d2 = sum(o**2 for o in grid.offsets(centre_mm))
    mask = np.broadcast_to(d2 <= (diameter_mm / 2.0) ** 2, grid.shape)
    if not mask.any():
        raise ValueError("the reference sphere holds no voxel centre")
    v = image[mask]
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


@dataclass(frozen=True)
class Percist:
    """PERCIST's measurability of a lesion (values in SUV, see the module's note on SUL).

    Attributes:
        peak: SULpeak: the largest mean in a 1 cm^3 sphere.
        reference_mean: Mean in the 3 cm reference sphere.
        reference_sd: SD of the voxels there.
        threshold: 1.5 x mean + 2 SD.
        detected: peak > threshold.
    """

    peak: float
    reference_mean: float
    reference_sd: float
    threshold: float
    detected: bool


def percist(
    image: Array,
    grid: Grid,
    reference_centre_mm: ArrayLike,
    *,
    reference_diameter_mm: float = 30.0,
    peak_volume_mm3: float = 1000.0,
) -> Percist:
    """PERCIST on a PET image: SULpeak anywhere against the reference sphere's threshold."""
    r = (3.0 * peak_volume_mm3 / (4.0 * math.pi)) ** (1.0 / 3.0)
    w = sphere_weights(grid.spacing_mm, r)
    peak = float(ndimage.correlate(np.asarray(image, float), w, mode="nearest").max())
    mean, sd = sphere_stats(image, grid, reference_centre_mm, reference_diameter_mm)
    threshold = 1.5 * mean + 2.0 * sd
    return Percist(peak, mean, sd, threshold, peak > threshold)
