"""Correlated Gaussian image noise and its covariance operator.

n(x) = sigma(x) * (g * w)(x): w white Gaussian noise on the voxels, g a Gaussian kernel
normalised so that sum g^2 = 1 (then Var n = sigma^2), sigma a number or one per voxel. The
noise's autocorrelation is g * g, a Gaussian; ``fwhm_mm`` is the FWHM of that
autocorrelation (what one measures on an image: the correlation length), so g itself has
FWHM fwhm_mm / sqrt(2). The covariance is K = S G G^T S (S = diag sigma, G the convolution).

Convolutions by FFT on a zero-padded grid: the pad (5 standard deviations of the
autocorrelation, where it has fallen below 4e-6) keeps edges from wrapping, so the noise and
K are those of an unbounded medium seen through the image's window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["CorrelatedNoise", "FWHM_PER_SIGMA"]

FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))  # 2.3548

Array = NDArray[np.float64]


@dataclass(frozen=True)
class CorrelatedNoise:
    """Gaussian noise of SD sigma correlated over fwhm_mm.

    Attributes:
        sigma: Noise SD: a number or an array of the image's shape.
        fwhm_mm: FWHM of the noise's autocorrelation (0: white noise).
        spacing_mm: Voxel edges, one per axis of the image.
    """

    sigma: float | Array
    fwhm_mm: float
    spacing_mm: tuple[float, ...]

    def _pad(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        s_auto = self.fwhm_mm / FWHM_PER_SIGMA  # SD of the autocorrelation
        return tuple(int(math.ceil(5.0 * s_auto / h)) for h in self.spacing_mm[: len(shape)])

    def _kernel_ft(self, padded: tuple[int, ...]) -> NDArray[np.complex128]:
        """FFT of g on the padded grid (g centred at index 0, periodic), sum g^2 = 1."""
        s_g = self.fwhm_mm / FWHM_PER_SIGMA / math.sqrt(2.0)
        g = np.ones(padded)
        for a, (n, h) in enumerate(zip(padded, self.spacing_mm)):
            d = np.minimum(np.arange(n), n - np.arange(n)) * h  # periodic distance
            shape = [1] * len(padded)
            shape[a] = n
            g = g * np.exp(-0.5 * (d / s_g) ** 2).reshape(shape)
        g /= math.sqrt(float(np.sum(g**2)))
        return np.fft.rfftn(g)

    def _sigma(self, shape: tuple[int, ...]) -> Array:
        return np.broadcast_to(np.asarray(self.sigma, float), shape)

    def sample(self, rng: np.random.Generator, shape: tuple[int, ...], n: int = 1) -> Array:
        """The n realisations (n x shape; shape itself when n is 1)."""
        if self.fwhm_mm <= 0.0:
            out = rng.standard_normal((n, *shape)) * self._sigma(shape)
            return out[0] if n == 1 else out
        pad = self._pad(shape)
        padded = tuple(m + 2 * p for m, p in zip(shape, pad))
        gk = self._kernel_ft(padded)
        axes = tuple(range(1, len(shape) + 1))
        w = rng.standard_normal((n, *padded))
        c = np.fft.irfftn(np.fft.rfftn(w, axes=axes) * gk, s=padded, axes=axes)
        crop = (slice(None),) + tuple(slice(p, p + m) for p, m in zip(pad, shape))
        out = c[crop] * self._sigma(shape)
        return out[0] if n == 1 else out

    def covariance(self, s: ArrayLike) -> Array:
        """K s: the covariance operator applied to an image s (of the image's shape)."""
        s = np.asarray(s, float)
        shape = s.shape
        x = self._sigma(shape) * s
        if self.fwhm_mm <= 0.0:
            return self._sigma(shape) * x
        pad = self._pad(shape)
        # K = S G G^T S; G G^T is convolution with g * g, whose support is twice g's: pad 2x.
        pad2 = tuple(2 * p for p in pad)
        padded = tuple(m + 2 * p for m, p in zip(shape, pad2))
        gk = self._kernel_ft(padded)
        big = np.zeros(padded)
        inner = tuple(slice(p, p + m) for p, m in zip(pad2, shape))
        big[inner] = x
        ax = tuple(range(len(padded)))
        y = np.fft.irfftn(np.fft.rfftn(big) * np.abs(gk) ** 2, s=padded, axes=ax)
        return self._sigma(shape) * y[inner]
