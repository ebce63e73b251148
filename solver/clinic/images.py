"""The image models, one per modality: expected image, noise model, noisy realisation.

Each model is built from its spec (``PETModel.of(config.PETSpec())``) and works the same way:

1. the object (SUV, HU or T2-weighted signal) on sub-voxels, supersample per voxel edge, from
   the organ's background (``background.Scene``) and the tissue resampled onto them with its
   volume conserved (``tissue.Tissue.resampled``);
2. the scanner's resolution: a Gaussian point spread of FWHM fwhm_mm (scipy.ndimage, the grid
   carrying a margin of 4 SD so that edges see the object beyond the field of view);
3. the voxel average of the blurred object (mean of each voxel's sub-voxels);

Every object is linear in the tumour fraction t (background (1 - t) + tumour t), unclipped:
cells binned from samples (a mesh's nodes, cells) alias on sub-voxels, some holding more
than packed and their neighbours less, and only a linear object keeps the blurred image
exact under that aliasing; a clip at 1 would lose the excess as lost contrast.
4. noise (``noise.CorrelatedNoise``), its SD per voxel and correlation set by the modality.

PET noise is that of a cited scanner rather than Poisson counts and a reconstruction: the
voxel coefficient of variation in a uniform liver at a reference activity and time, scaled
as 1 / sqrt(activity x time) and with sqrt(mean) (the variance of Poisson counts grows with
the counts), correlated over the reconstruction's resolution. A projection-space simulation
would need a scanner geometry and an iterative reconstruction per realisation, and its
result is summarised by exactly these two numbers (variance and correlation) for a
linear observer; they are what the observer and PERCIST use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage

from solver import config
from solver.clinic.background import SURROUND, Scene
from solver.clinic.noise import FWHM_PER_SIGMA, CorrelatedNoise
from solver.clinic.tissue import Grid, Tissue

__all__ = ["PETModel", "CTModel", "MRIModel", "Model", "model_of", "render"]

Array = NDArray[np.float64]


def render(obj: Array, grid: Grid, fine: Grid, fwhm_mm: float, supersample: int) -> Array:
    """Blur an object given on ``fine`` (grid.refined(supersample, margin)) with a Gaussian of
    FWHM fwhm_mm and average it over the voxels of ``grid``.
    """
    if fwhm_mm > 0.0:
        s = fwhm_mm / FWHM_PER_SIGMA
        obj = ndimage.gaussian_filter(
            obj, sigma=[s / h for h in fine.spacing_mm], mode="nearest", truncate=4.0
        )
    k = supersample
    n = [m // k for m in fine.shape]
    v = obj.reshape(n[0], k, n[1], k, n[2], k).mean(axis=(1, 3, 5))
    m = [(a - b) // 2 for a, b in zip(n, grid.shape)]
    return np.ascontiguousarray(
        v[m[0] : m[0] + grid.shape[0], m[1] : m[1] + grid.shape[1], m[2] : m[2] + grid.shape[2]]
    )


def _mix(inside: Array, organ: float, surround: float) -> Array:
    return inside * organ + (1.0 - inside) * surround


@dataclass(frozen=True)
class _Model:
    fwhm_mm: float
    voxel_mm: float
    supersample: int

    unit = ""

    def grid(self, centre_mm: ArrayLike, extent_mm: ArrayLike) -> Grid:
        """The modality's voxel grid centred on a point, covering extent_mm per axis."""
        return Grid.around(centre_mm, extent_mm, self.voxel_mm)

    def object(self, tissue: Tissue, scene: Scene, fine: Grid) -> Array:  # pragma: no cover
        """The object (before blurring) on sub-voxels."""
        raise NotImplementedError

    def subgrid(self, grid: Grid) -> Grid:
        """The sub-voxels the object is built on for an image grid (supersample per voxel
        edge, with a margin of 4 PSF SDs); tissue given on it is used without resampling.
        """
        s = self.fwhm_mm / FWHM_PER_SIGMA
        margin = int(math.ceil(4.0 * s / min(grid.spacing_mm))) + 1
        return grid.refined(self.supersample, margin)

    def expected(self, tissue: Tissue, scene: Scene, grid: Grid) -> Array:
        """The noise-free image on grid (voxel averages of the blurred object)."""
        fine = self.subgrid(grid)
        obj = self.object(tissue.resampled(fine), scene, fine)
        return render(obj, grid, fine, self.fwhm_mm, self.supersample)

    def noise(self, expected: Array) -> CorrelatedNoise:  # pragma: no cover
        """The noise model around an expected image."""
        raise NotImplementedError

    def realise(self, rng: np.random.Generator, expected: Array) -> Array:
        """One noisy image."""
        return expected + self.noise(expected).sample(rng, expected.shape)


@dataclass(frozen=True)
class PETModel(_Model):
    """FDG PET in SUV (body weight). Attributes as config.PETSpec; ``sigma_ref`` the voxel
    noise SD in the liver at liver_suv_ref at this scan's activity and time.
    """

    tumour_suv: float
    hypoxia_factor: float
    liver_suv_ref: float
    sigma_ref: float
    noise_fwhm_mm: float

    unit = "SUV"

    @classmethod
    def of(cls, spec: config.PETSpec, *, supersample: int = 4) -> PETModel:
        """The model of a spec."""
        scale = math.sqrt(
            spec.reference_activity_MBq
            * spec.reference_minutes
            / (spec.activity_MBq * spec.minutes)
        )
        return cls(
            fwhm_mm=spec.fwhm_mm,
            voxel_mm=spec.voxel_mm,
            supersample=supersample,
            tumour_suv=spec.tumour_suv,
            hypoxia_factor=spec.hypoxia_factor,
            liver_suv_ref=spec.liver_suv_ref,
            sigma_ref=spec.liver_cov * spec.liver_suv_ref * scale,
            noise_fwhm_mm=spec.fwhm_mm if spec.noise_fwhm_mm is None else spec.noise_fwhm_mm,
        )

    def object(self, tissue: Tissue, scene: Scene, fine: Grid) -> Array:
        """SUV: organ (or surround) where no tumour; tumour cells' uptake, raised by the
        hypoxia factor for their hypoxic share, in the volume they fill.
        """
        bg = _mix(scene.inside(fine), scene.organ.tissue.suv, SURROUND.suv)
        t = tissue.tumour
        cells = self.tumour_suv * (1.0 + (self.hypoxia_factor - 1.0) * tissue.hypoxic)
        return bg * (1.0 - t) + t * cells

    def noise(self, expected: Array) -> CorrelatedNoise:
        """SD sigma_ref * sqrt(mean / liver_suv_ref), correlated over noise_fwhm_mm."""
        sigma = self.sigma_ref * np.sqrt(np.maximum(expected, 0.0) / self.liver_suv_ref)
        return CorrelatedNoise(sigma, self.noise_fwhm_mm, (self.voxel_mm,) * 3)


@dataclass(frozen=True)
class CTModel(_Model):
    """CT in HU. Attributes as config.CTSpec."""

    noise_hu: float
    noise_fwhm_mm: float

    unit = "HU"

    @classmethod
    def of(cls, spec: config.CTSpec, *, supersample: int = 4) -> CTModel:
        """The model of a spec."""
        return cls(
            fwhm_mm=spec.fwhm_mm,
            voxel_mm=spec.voxel_mm,
            supersample=supersample,
            noise_hu=spec.noise_hu,
            noise_fwhm_mm=spec.noise_fwhm_mm,
        )

    def object(self, tissue: Tissue, scene: Scene, fine: Grid) -> Array:
        """HU: tumour tissue of the organ's ct_tumour_hu in the volume it fills; where the
        organ's contrast is one of enhancement, perfused vessels bring the tumour toward the
        organ's HU (vessel density 1: enhances like the organ). Without vessels (a run
        without the soil) the tumour is taken as unperfused: the cited contrast in full.
        """
        organ = scene.organ
        bg = _mix(scene.inside(fine), organ.tissue.hu, SURROUND.hu)
        tumour_hu = np.full(fine.shape, organ.ct_tumour_hu)
        if organ.ct_enhancing and tissue.vessels is not None:
            v = np.clip(tissue.vessels, 0.0, 1.0)
            tumour_hu = tumour_hu + (organ.tissue.hu - organ.ct_tumour_hu) * v
        t = tissue.tumour
        return bg * (1.0 - t) + t * tumour_hu

    def noise(self, expected: Array) -> CorrelatedNoise:
        """Stationary SD noise_hu correlated over noise_fwhm_mm."""
        return CorrelatedNoise(self.noise_hu, self.noise_fwhm_mm, (self.voxel_mm,) * 3)


@dataclass(frozen=True)
class MRIModel(_Model):
    """T2-weighted MRI, magnitude image, organ signal 1. Attributes as config.MRISpec."""

    tumour_t2_ms: float
    te_ms: float
    snr: float

    unit = "organ signal"

    @classmethod
    def of(cls, spec: config.MRISpec, *, supersample: int = 4) -> MRIModel:
        """The model of a spec."""
        return cls(
            fwhm_mm=1.21 * spec.voxel_mm if spec.fwhm_mm is None else spec.fwhm_mm,
            voxel_mm=spec.voxel_mm,
            supersample=supersample,
            tumour_t2_ms=spec.tumour_t2_ms,
            te_ms=spec.te_ms,
            snr=spec.snr,
        )

    def object(self, tissue: Tissue, scene: Scene, fine: Grid) -> Array:
        """exp(-TE / T2) of each tissue over the organ's (same proton density)."""
        ref = math.exp(-self.te_ms / scene.organ.tissue.t2_ms)

        def s(t2: float) -> float:
            return math.exp(-self.te_ms / t2) / ref

        bg = _mix(scene.inside(fine), 1.0, s(SURROUND.t2_ms))
        t = tissue.tumour
        return bg * (1.0 - t) + t * s(self.tumour_t2_ms)

    def noise(self, expected: Array) -> CorrelatedNoise:
        """Per channel (real, imaginary): white, SD 1 / snr. Cartesian k-space sampling
        without filtering gives uncorrelated image noise; magnitude noise is Rician, close to
        Gaussian of this SD once the signal is a few SD (Gudbjartsson & Patz 1995 Magn Reson
        Med 34:910), which the observer assumes.
        """
        return CorrelatedNoise(1.0 / self.snr, 0.0, (self.voxel_mm,) * 3)

    def realise(self, rng: np.random.Generator, expected: Array) -> Array:
        """|signal + n_re + i n_im|: Rician magnitude."""
        n = self.noise(expected)
        re = expected + n.sample(rng, expected.shape)
        im = n.sample(rng, expected.shape)
        return np.hypot(re, im)


Model = PETModel | CTModel | MRIModel


def model_of(spec: config.ImagingSpec, modality: str) -> Model:
    """The model of a modality ("pet", "ct" or "mri") with the parameters of ``spec``."""
    if modality == "pet":
        return PETModel.of(spec.pet, supersample=spec.supersample)
    if modality == "ct":
        return CTModel.of(spec.ct, supersample=spec.supersample)
    if modality == "mri":
        return MRIModel.of(spec.mri, supersample=spec.supersample)
    raise ValueError(f"modality {modality!r}: one of pet, ct, mri")
