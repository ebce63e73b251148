"""The image models: a sphere through each model against the analytical convolution of a
sphere with a Gaussian PSF (recovery coefficient and recovered size), EARL's recovery bands
for the PET resolution, and what tissue does to each image."""

import math

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.special import erf

from solver import config
from solver.clinic import images
from solver.clinic.background import ORGANS, Scene
from solver.clinic.noise import FWHM_PER_SIGMA
from solver.clinic.tissue import Grid, Tissue, from_cells, from_density, sphere

LIVER = Scene(ORGANS["liver"], (0.0, 0.0, 0.0))


def rc_point(r, s):
    """Centre value of a unit sphere of radius r convolved with a 3D Gaussian of SD s."""
    return erf(r / (math.sqrt(2) * s)) - math.sqrt(2 / math.pi) * (r / s) * math.exp(
        -(r**2) / (2 * s**2)
    )


def profile(rho, r, s):
    """Value at distance rho from the centre of that convolution."""
    rho = np.maximum(np.abs(rho), 1e-9)
    a, b = (r - rho) / (math.sqrt(2) * s), (r + rho) / (math.sqrt(2) * s)
    g = np.exp(-((r - rho) ** 2) / (2 * s**2)) - np.exp(-((r + rho) ** 2) / (2 * s**2))
    return 0.5 * (erf(a) + erf(b)) - s / (rho * math.sqrt(2 * math.pi)) * g


def voxel_average(x0, h, r, s, n=6):
    """Mean of the profile over a cubic voxel of edge h centred at x0 (Gauss-Legendre)."""
    u, w = np.polynomial.legendre.leggauss(n)
    u, w = u * h / 2, w / 2
    X, Y, Z = np.meshgrid(x0[0] + u, x0[1] + u, x0[2] + u, indexing="ij")
    W = w[:, None, None] * w[None, :, None] * w[None, None, :]
    return float(np.sum(W * profile(np.sqrt(X**2 + Y**2 + Z**2), r, s)))


def models(fwhm, voxel, ss):
    return {
        "pet": images.PETModel.of(config.PETSpec(fwhm_mm=fwhm, voxel_mm=voxel), supersample=ss),
        "ct": images.CTModel.of(config.CTSpec(fwhm_mm=fwhm, voxel_mm=voxel), supersample=ss),
        "mri": images.MRIModel.of(config.MRISpec(fwhm_mm=fwhm, voxel_mm=voxel), supersample=ss),
    }


def contrast(name, model):
    """Packed normoxic unperfused tumour minus liver, in the model's unit."""
    organ = ORGANS["liver"]
    if name == "pet":
        return model.tumour_suv - organ.tissue.suv, organ.tissue.suv
    if name == "ct":
        return organ.ct_tumour_hu - organ.tissue.hu, organ.tissue.hu
    t2 = organ.tissue.t2_ms
    return math.exp(-model.te_ms / model.tumour_t2_ms) / math.exp(-model.te_ms / t2) - 1, 1.0


def sphere_image(model, grid, r, centre=(0.0, 0.0, 0.0)):
    fine = model.subgrid(grid)
    t = sphere(fine, centre, r, sub=2)
    tissue = Tissue(fine, t, np.zeros_like(t))
    return model.expected(tissue, LIVER, grid)


FWHM, H, SS = 3.0, 0.5, 3  # voxel = FWHM / 6, 3 sub-voxels per edge
S = FWHM / FWHM_PER_SIGMA


@pytest.mark.parametrize("name", ["pet", "ct", "mri"])
@pytest.mark.parametrize("r_over_fwhm", [0.25, 0.5, 1.0, 2.0, 3.0])
def test_recovery_coefficient(name, r_over_fwhm):
    """The central voxel's recovery (value - background) / contrast equals the voxel
    average of the analytical convolution to 2e-3 (what is left: the sphere's sampling on
    sub-voxels of FWHM / 18, 8 points each, and the kernel's sampling), and the analytical
    point value RC(r) within the voxel-averaging bound h^2 / (4 s^2) (|d2I/dx2| <= 2 / s^2
    per axis at the centre, times h^2 / 24, three axes)."""
    model = models(FWHM, H, SS)[name]
    r = r_over_fwhm * FWHM
    grid = Grid((0.0, 0.0, 0.0), (H, H, H), (1, 1, 1))
    img = sphere_image(model, grid, r)
    c, bg = contrast(name, model)
    rc = (img[0, 0, 0] - bg) / c
    assert rc == pytest.approx(voxel_average(np.zeros(3), H, r, S), abs=2e-3)
    assert abs(rc - rc_point(r, S)) <= H**2 / (4 * S**2)


@pytest.mark.parametrize("r_over_fwhm", [0.25, 0.5, 1.0, 2.0, 3.0])
def test_recovered_size(r_over_fwhm):
    """The FWHM of the profile through the lesion (linear interpolation at half the peak)
    is the analytical convolution's, to H / 4: voxel averaging and interpolation each shift
    the half-maximum crossing by O(h^2 / FWHM) < H / 8. Small spheres show the PSF's width
    (2.355 s), large ones their diameter less 2 s^2 / r."""
    model = models(FWHM, H, SS)["pet"]
    r = r_over_fwhm * FWHM
    n = int(2 * (r + 2 * FWHM) / H) // 2 * 2 + 1
    grid = Grid((-(n // 2) * H, 0.0, 0.0), (H, H, H), (n, 1, 1))
    img = sphere_image(model, grid, r)[:, 0, 0]
    c, bg = contrast("pet", model)
    p = (img - bg) / c
    x = grid.centres(0)
    half = p[n // 2] / 2
    i = n // 2 + int(np.argmax(p[n // 2 :] < half))
    xh = x[i - 1] + (half - p[i - 1]) / (p[i] - p[i - 1]) * H
    exact = brentq(lambda q: profile(q, r, S) - profile(0, r, S) / 2, 1e-6, r + 5 * S)
    assert 2 * xh == pytest.approx(2 * exact, abs=H / 4)
    if r_over_fwhm <= 0.25:
        assert 2 * exact == pytest.approx(FWHM, rel=0.1)
    if r_over_fwhm >= 3:
        # the 50 % surface of a blurred sphere sits s^2 / r inside it (its curvature)
        assert 2 * exact == pytest.approx(2 * (r - S**2 / r), rel=0.005)


EARL1_RCMAX = {
    37: (0.95, 1.16),
    28: (0.91, 1.13),
    22: (0.83, 1.09),
    17: (0.73, 1.01),
    13: (0.59, 0.85),
    10: (0.34, 0.57),
}


def test_pet_resolution_meets_earl():
    """The default PET (7 mm FWHM, 4 mm voxels) puts the RCmax of the NEMA spheres (10 to
    37 mm) inside EARL1's bands (mean over 4 positions of the sphere against the voxels)."""
    spec = config.PETSpec()
    model = images.PETModel.of(spec, supersample=2)
    c, bg = contrast("pet", model)
    rng = np.random.Generator(np.random.Philox(key=21))
    for d, (lo, hi) in EARL1_RCMAX.items():
        grid = Grid.around((0, 0, 0), (d + 8.0,) * 3, spec.voxel_mm)
        rc = np.mean(
            [
                (sphere_image(model, grid, d / 2, rng.uniform(-2, 2, 3)).max() - bg) / c
                for _ in range(4)
            ]
        )
        assert lo <= rc <= hi, (d, rc)


def test_hypoxia_raises_pet_and_vessels_lower_ct_contrast():
    """PET: a hypoxic share h raises the cells' uptake by 1 + (factor - 1) h. CT: perfused
    vessels (density 1) bring an enhancing organ's tumour to the organ's HU; without vessels
    the tumour keeps the cited contrast. MRI: T2-bright tumour."""
    g = Grid((0.0, 0.0, 0.0), (1.0, 1.0, 1.0), (2, 1, 1))
    t = np.ones(g.shape)
    pet = images.PETModel.of(config.PETSpec())
    base = pet.object(Tissue(g, t, np.zeros(g.shape)), LIVER, g)
    hyp = pet.object(Tissue(g, t, np.full(g.shape, 0.5)), LIVER, g)
    assert np.allclose(hyp / base, 1 + (pet.hypoxia_factor - 1) * 0.5)
    ct = images.CTModel.of(config.CTSpec())
    liver = ORGANS["liver"]
    unperf = ct.object(Tissue(g, t, 0 * t), LIVER, g)
    perf = ct.object(Tissue(g, t, 0 * t, np.ones(g.shape)), LIVER, g)
    assert np.allclose(unperf, liver.ct_tumour_hu) and np.allclose(perf, liver.tissue.hu)
    mri = images.MRIModel.of(config.MRISpec())
    assert np.all(mri.object(Tissue(g, t, 0 * t), LIVER, g) > 1.0)


def test_tissue_from_cells_and_density_conserve_volume():
    """Cells carry 1e-6 mm^3 each (1e9 per cm^3); a density carries density x volume; the
    hypoxic share is the hypoxic cells' fraction; resampling conserves both."""
    g = Grid((0.05, 0.05, 0.05), (0.1, 0.1, 0.1), (4, 4, 4))
    rng = np.random.Generator(np.random.Philox(key=22))
    pos = rng.uniform(0, 0.4, (5000, 3))
    hyp = pos[:, 0] < 0.2
    t = from_cells(g, pos, hyp)
    assert t.tumour.sum() * g.voxel_mm3 == pytest.approx(5000 * 1e-6)
    assert np.sum(t.tumour * t.hypoxic) * g.voxel_mm3 == pytest.approx(hyp.sum() * 1e-6)
    coarse = Grid((0.2, 0.2, 0.2), (0.4, 0.4, 0.4), (1, 1, 1))
    tc = t.resampled(coarse)
    assert tc.tumour.sum() * coarse.voxel_mm3 == pytest.approx(5000 * 1e-6)
    assert tc.hypoxic[0, 0, 0] == pytest.approx(hyp.mean())
    d = from_density(g, pos, 0.064 / 5000, np.full(5000, 0.5), hypoxic=hyp.astype(float))
    assert d.tumour.sum() * g.voxel_mm3 == pytest.approx(0.5 * 0.064)


def test_noise_models_follow_their_specs():
    """PET: SD liver_cov x liver SUV at the reference activity and time, halved by 4x the
    activity x time, growing as sqrt(mean); correlated over the resolution unless set. CT:
    noise_hu over noise_fwhm_mm. MRI: white, 1 / snr per channel, Rician magnitude (its
    mean at zero signal is sigma sqrt(pi / 2))."""
    spec = config.PETSpec()
    pet = images.PETModel.of(spec)
    n = pet.noise(np.full((2, 2, 2), spec.liver_suv_ref))
    assert np.allclose(n.sigma, spec.liver_cov * spec.liver_suv_ref) and n.fwhm_mm == spec.fwhm_mm
    quad = images.PETModel.of(config.PETSpec(activity_MBq=500.0, minutes=5.0))
    assert quad.noise(np.full((1, 1, 1), 8.0)).sigma[0, 0, 0] == pytest.approx(
        0.5 * n.sigma[0, 0, 0] * 2.0
    )
    ct = images.CTModel.of(config.CTSpec(noise_hu=12.0, noise_fwhm_mm=2.5))
    assert ct.noise(np.zeros((1, 1, 1))).sigma == 12.0
    assert ct.noise(np.zeros((1, 1, 1))).fwhm_mm == 2.5
    mri = images.MRIModel.of(config.MRISpec(snr=10.0))
    g = np.random.Generator(np.random.Philox(key=23))
    x = mri.realise(g, np.zeros((40, 40, 40)))
    assert x.mean() == pytest.approx(0.1 * math.sqrt(math.pi / 2), rel=0.02)


def test_runs_without_the_soil_say_what_was_assumed():
    """Without hypoxia or vessels the tissue records the assumptions (for the manifest), and
    keeps them through resampling; with both it records none."""
    from solver.clinic.tissue import NO_HYPOXIA, NO_VESSELS

    g = Grid((0.05, 0.05, 0.05), (0.1, 0.1, 0.1), (2, 2, 2))
    pos = np.full((10, 3), 0.1)
    bare = from_cells(g, pos)
    assert bare.assumed == (NO_HYPOXIA, NO_VESSELS)
    assert bare.resampled(Grid((0.1,) * 3, (0.2,) * 3, (1, 1, 1))).assumed == bare.assumed
    full = from_cells(g, pos, np.ones(10, bool), vessels=np.ones(g.shape))
    assert full.assumed == ()
    d = from_density(g, pos, 1e-3, np.ones(10), vessels=np.ones(10))
    assert d.assumed == (NO_HYPOXIA,)
