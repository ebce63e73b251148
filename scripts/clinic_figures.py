"""The figures of docs/imaging.md: recovery coefficients against the analytical sphere x
Gaussian, EARL1 recovery at the default PET resolution, the detection radius of a packed
lesion in the liver per modality (NPW d' = k, checked over noise realisations), PERCIST's,
and one example image per modality (docs/figures/imaging_*.png, NIfTI and .vti in --out).

    PYTHONPATH=. python scripts/clinic_figures.py [--out DIR]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
from scipy.optimize import brentq
from scipy.special import erf

from solver import config
from solver.clinic import export, images, observer
from solver.clinic.background import ORGANS, Scene
from solver.clinic.noise import FWHM_PER_SIGMA
from solver.clinic.tissue import Grid, Tissue, sphere

LIVER = Scene(ORGANS["liver"], (0.0, 0.0, 0.0))


def rc_point(r: float, s: float) -> float:
    return float(
        erf(r / (math.sqrt(2) * s))
        - math.sqrt(2 / math.pi) * (r / s) * math.exp(-(r**2) / (2 * s**2))
    )


def pair(model: images.Model, grid: Grid, r: float, centre=(0.0, 0.0, 0.0)):
    fine = model.subgrid(grid)
    zero = np.zeros(fine.shape)
    t = sphere(fine, centre, r, sub=4)
    b = model.expected(Tissue(fine, zero, zero), LIVER, grid)
    return b, model.expected(Tissue(fine, t, zero), LIVER, grid)


def dprime(model: images.Model, grid: Grid, r: float) -> float:
    b, p = pair(model, grid, r)
    return observer.npw_dprime(p - b, model.noise(b), model.noise(p))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="/tmp/clinic_figures")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    spec = config.ImagingSpec()

    print("## Recovery coefficient, PET model, FWHM 3 mm, voxel 0.5 mm")
    fwhm, h = 3.0, 0.5
    s = fwhm / FWHM_PER_SIGMA
    pet = images.PETModel.of(config.PETSpec(fwhm_mm=fwhm, voxel_mm=h), supersample=3)
    c = pet.tumour_suv - ORGANS["liver"].tissue.suv
    print("r/FWHM  RC analytical  RC measured  difference")
    for q in (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0):
        g = Grid((0.0, 0.0, 0.0), (h, h, h), (1, 1, 1))
        b, p = pair(pet, g, q * fwhm)
        rc = float((p - b)[0, 0, 0] / c)
        exact = rc_point(q * fwhm, s)
        print(f"{q:6.2f}  {exact:13.4f}  {rc:11.4f}  {rc - exact:+.4f}")

    print("\n## EARL1 RCmax at the default PET (7 mm, 4 mm voxels), mean of 8 positions")
    pet = images.PETModel.of(spec.pet)
    c = pet.tumour_suv - ORGANS["liver"].tissue.suv
    rng = np.random.Generator(np.random.Philox(key=7))
    bands = {
        10: (0.34, 0.57),
        13: (0.59, 0.85),
        17: (0.73, 1.01),
        22: (0.83, 1.09),
        28: (0.91, 1.13),
        37: (0.95, 1.16),
    }
    for d, (lo, hi) in bands.items():
        g = Grid.around((0, 0, 0), (d + 8.0,) * 3, 4.0)
        v = []
        for _ in range(8):
            b, p = pair(pet, g, d / 2, rng.uniform(-2, 2, 3))
            v.append(float((p - b).max()) / c)
        print(f"sphere {d:2d} mm: RCmax {np.mean(v):.2f}  EARL1 band {lo:.2f}-{hi:.2f}")

    print("\n## Detection radius of a packed normoxic lesion at the liver's centre (k = 5)")
    print("modality  r at d'=k (mm)  d' analytical  d' empirical (150+150)  +/- SE")
    fovs = {"pet": 12, "ct": 14, "mri": 10}
    for name, n in fovs.items():
        model = images.model_of(config.ImagingSpec(), name)
        g = Grid.around((0, 0, 0), (n * model.voxel_mm,) * 3, model.voxel_mm)
        rstar = brentq(lambda r, m=model, g=g: dprime(m, g, r) - spec.k, 0.05, 10.0, rtol=1e-3)
        b, p = pair(model, g, rstar)
        gen = np.random.Generator(np.random.Philox(key=100))
        t1 = observer.npw_statistic(np.stack([model.realise(gen, p) for _ in range(150)]), p - b)
        t0 = observer.npw_statistic(np.stack([model.realise(gen, b) for _ in range(150)]), p - b)
        e = observer.empirical_dprime(t1, t0)
        se = observer.dprime_standard_error(spec.k, 150, 150)
        print(f"{name:8s}  {rstar:14.2f}  {dprime(model, g, rstar):13.2f}  {e:22.2f}  {se:.2f}")

    print("\n## PERCIST (noise-free lesion, liver SD from the noise model), PET default")
    pet = images.PETModel.of(spec.pet)
    g = Grid.around((0, 0, 0), (80.0,) * 3, 4.0)
    sd = pet.sigma_ref  # at the liver's SUV (= liver_suv_ref)
    thr = 1.5 * ORGANS["liver"].tissue.suv + 2 * sd
    w = observer.sphere_weights(g.spacing_mm, (3 * 1000 / (4 * math.pi)) ** (1 / 3))

    def peak(r: float) -> float:
        b, p = pair(pet, g, r, (-20.0, 0.0, 0.0))
        from scipy import ndimage

        return float(ndimage.correlate(p, w, mode="nearest").max())

    rp = brentq(lambda r: peak(r) - thr, 0.2, 15.0, rtol=1e-3)
    print(f"threshold {thr:.2f} SUV; SULpeak reaches it at r = {rp:.2f} mm")

    print("\n## Example images: a packed lesion of radius 3 mm, 30 % hypoxic, in the liver")
    fig = Path("docs/figures")
    fig.mkdir(exist_ok=True)
    for name, fov in (("pet", 48.0), ("ct", 24.0), ("mri", 24.0)):
        model = images.model_of(config.ImagingSpec(), name)
        g = Grid.around((0, 0, 0), (fov,) * 3, model.voxel_mm)
        fine = model.subgrid(g)
        t = sphere(fine, (0, 0, 0), 3.0)
        img = model.expected(Tissue(fine, t, np.full(fine.shape, 0.3)), LIVER, g)
        noisy = model.realise(np.random.Generator(np.random.Philox(key=5)), img)
        export.write_png(
            fig / f"imaging_{name}.png",
            noisy,
            g,
            (0, 0, 0),
            title=f"{name.upper()}: packed lesion of radius 3 mm, 30 % hypoxic, in liver",
            unit=model.unit,
            projection="min" if name == "ct" else "max",
        )
        export.write_nifti(out / f"{name}.nii.gz", noisy, g)
        export.write_vti(out / f"{name}.vti", noisy, g, name=name)
        print(f"{name}: docs/figures/imaging_{name}.png, {out}/{name}.nii.gz, .vti")


if __name__ == "__main__":
    main()
