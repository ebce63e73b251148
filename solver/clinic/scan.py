"""One modality's view of one organ: the image of a ``Section`` on the scanner's grid, and
whether the tumour in it is detected.

The grid covers the simulated domain with a margin of 3 FWHM (the blurred lesion's tails),
inside its organ at its real size (``background.Scene``); a 2D run's image is one voxel
thick. What the scanner finds is computed on the expected images, so it is a property of the
disease and the scanner, not of one noise draw, and the same on any rank count:

- the lesion signal s = image with the tumour - image without it (the organ's background,
  cached: it does not change during a run);
- lesions: the connected regions where |s| is above 5 % of its peak (``ndimage.label``), so
  that two separate lesions are not summed into one d' as a reader cannot sum them;
- d' of each region by the non-prewhitening matched filter on the modality's correlated
  noise (``observer.npw_dprime``); the organ's d' is the largest, detected when >= k;
- PET also PERCIST (Wahl et al. 2009): SULpeak, the largest mean in a 1 cm^3 sphere over the
  lesion regions, against 1.5 x the liver's mean + 2 SD, the liver being the patient's
  (background.ORGANS["liver"]) at the scan's voxel noise. Where the organ's own background
  reaches that threshold (the brain's FDG uptake) the rule cannot separate tumour from organ
  and is not applied (NaN).

Noisy images, for the files, are drawn from a generator keyed by the caller.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from solver.clinic import observer
from solver.clinic.background import ORGANS, Scene
from solver.clinic.images import Model, PETModel
from solver.clinic.section import Section
from solver.clinic.tissue import Grid, Tissue

__all__ = ["Finding", "Scanner", "LESION_LEVEL", "MAX_LESIONS", "PEAK_RADIUS_MM"]

Array = NDArray[np.float64]

LESION_LEVEL = 0.05  # a lesion region: |s| above this share of the peak of |s|
MAX_LESIONS = 8  # d' of the regions with the most signal energy (the others are fainter)
PEAK_RADIUS_MM = (3.0 * 1000.0 / (4.0 * math.pi)) ** (1.0 / 3.0)  # SULpeak's 1 cm^3 sphere


@dataclass(frozen=True)
class Finding:
    """What one modality finds in one organ.

    Attributes:
        dprime: The largest lesion's detectability index (0: no tumour).
        detected: dprime >= k.
        lesions: Lesion regions in the image.
        suv_peak: PET: SULpeak over the lesions (SUV), else NaN.
        percist: PET: 1.0 / 0.0 by PERCIST; NaN where it is not applied.
    """

    dprime: float
    detected: bool
    lesions: int
    suv_peak: float = math.nan
    percist: float = math.nan


class Scanner:
    """A modality's image grid around one organ's simulated domain, and what it finds there.

    Args:
        model: The image model (images.model_of or PETModel.of, ...).
        scene: The organ and where the domain sits in it.
        section: Any section of the organ (its nodes set the domain's extent).
        k: Detectability index for detection (Rose's k).
    """

    def __init__(self, model: Model, scene: Scene, section: Section, *, k: float) -> None:
        self.model, self.scene, self.k, self.dim = model, scene, k, section.dim
        lo, hi = section.bounds_mm
        extent = hi - lo + 2.0 * 3.0 * model.fwhm_mm
        if section.dim == 2:
            extent[2] = model.voxel_mm  # one voxel thick
        self.grid: Grid = model.grid(section.centre_mm, extent)
        self.fine: Grid = model.subgrid(self.grid)
        empty = np.zeros(self.fine.shape)
        self.background = self.model.expected(Tissue(self.fine, empty, empty), scene, self.grid)
        self._absent = model.noise(self.background)
        self._threshold = math.nan
        if isinstance(model, PETModel):
            liver = ORGANS["liver"].tissue.suv
            sd = model.sigma_ref * math.sqrt(liver / model.liver_suv_ref)
            self._threshold = 1.5 * liver + 2.0 * sd
            self._peak_weights = observer.sphere_weights(self.grid.spacing_mm, PEAK_RADIUS_MM)
            # The brain's own uptake reaches the threshold: PERCIST cannot tell tumour there.
            self._organ_too_hot = bool(self._peaks(self.background).max() > self._threshold)

    @property
    def percist_threshold(self) -> float:
        """PET: 1.5 x liver mean + 2 SD (SUV); NaN for other modalities."""
        return self._threshold

    def expected(self, section: Section) -> Array:
        """The noise-free image of a section."""
        return self.model.expected(section.tissue(self.fine), self.scene, self.grid)

    def realise(self, rng: np.random.Generator, expected: Array) -> Array:
        """One noisy image around an expected one."""
        return self.model.realise(rng, expected)

    def find(self, section: Section, expected: Array | None = None) -> Finding:
        """What the modality finds of the section's tumour (see the module's note)."""
        image = self.expected(section) if expected is None else expected
        s = image - self.background
        peak = float(np.abs(s).max(initial=0.0))
        if peak == 0.0:
            return Finding(0.0, False, 0, *self._percist(image, None))
        label, n = ndimage.label(np.abs(s) > LESION_LEVEL * peak)
        energy = ndimage.sum_labels(s * s, label, index=np.arange(1, n + 1))
        present = self.model.noise(image)
        d = 0.0
        for i in np.argsort(-energy)[:MAX_LESIONS]:
            region = np.where(label == i + 1, s, 0.0)
            d = max(d, observer.npw_dprime(region, self._absent, present))
        return Finding(d, d >= self.k, int(n), *self._percist(image, label > 0))

    def _peaks(self, image: Array) -> Array:
        """The mean in the SULpeak sphere centred on each voxel."""
        return ndimage.correlate(image, self._peak_weights, mode="nearest")

    def _percist(self, image: Array, lesions: NDArray[np.bool_] | None) -> tuple[float, float]:
        if math.isnan(self._threshold):
            return math.nan, math.nan
        if lesions is None:
            return math.nan, math.nan if self._organ_too_hot else 0.0
        peak = float(self._peaks(image)[lesions].max())
        return peak, math.nan if self._organ_too_hot else float(peak > self._threshold)
