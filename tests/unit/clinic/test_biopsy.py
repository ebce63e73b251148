"""The core-needle biopsy (solver/clinic/biopsy.py) on lesions the tests place: sampled
counts against the core's share of the lesion's volume, the normal tissue, continuum
densities, necrosis and proliferation, and the miss probability against a Monte Carlo of
the targeting error."""

import math

import numpy as np
import pytest
from scipy.stats import binomtest

from solver import config
from solver.cells.population import DORMANT, INVADING
from solver.clinic import biopsy


def square_mesh(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The unit square in n x n squares, two triangles each."""
    g = np.linspace(0.0, 1.0, n + 1)
    x = np.stack(np.meshgrid(g, g, indexing="ij"), axis=-1).reshape(-1, 2)
    v = lambda i, j: i * (n + 1) + j  # noqa: E731
    tri = []
    for i in range(n):
        for j in range(n):
            tri += [
                [v(i, j), v(i + 1, j), v(i + 1, j + 1)],
                [v(i, j), v(i + 1, j + 1), v(i, j + 1)],
            ]
    return x, np.array(tri, dtype=np.int64)


def cube_mesh(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The unit cube in n^3 cubes, six tetrahedra each (Kuhn)."""
    g = np.linspace(0.0, 1.0, n + 1)
    x = np.stack(np.meshgrid(g, g, g, indexing="ij"), axis=-1).reshape(-1, 3)
    v = lambda i, j, k: (i * (n + 1) + j) * (n + 1) + k  # noqa: E731
    paths = [(0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)]
    tets = []
    for i in range(n):
        for j in range(n):
            for k in range(n):
                for p in paths:
                    c, t = [i, j, k], [v(i, j, k)]
                    for a in p:
                        c[a] += 1
                        t.append(v(*c))
                    tets.append(t)
    return x, np.array(tets, dtype=np.int64)


def organ(dim, cells=None, fields=None, mm=10.0, hypoxia=None, necrosis=None, n=8):
    x, el = square_mesh(n) if dim == 2 else cube_mesh(n)
    return biopsy.Organ(
        mesh_x=x,
        mesh_cells=el,
        fields=fields or {},
        cells=cells,
        composition=None,
        mm=mm,
        h_ref=0.01,
        capacity=4.0,
        hypoxia=hypoxia,
        necrosis=necrosis,
        tissue="liver",
    )


def ball_cells(dim, count, radius, seed, centre=0.5):
    """``count`` cells uniform in a disc (2D) or ball (3D) of ``radius`` at the centre."""
    g = np.random.default_rng(seed)
    x = g.normal(size=(count, dim))
    x *= (radius * g.random(count) ** (1.0 / dim) / np.linalg.norm(x, axis=1))[:, None]
    x += centre
    ids = np.arange(count, dtype=np.uint64)
    return {
        "x": x,
        "phenotype": (ids % 3 == 0).astype(np.int8),
        "state": np.zeros(count, np.int8),
        "founder": ids % 7,
        "seeded_by": ids % 5 + 1,
    }


def core(dim, width_L, length_L, axis=None):
    axis = np.eye(dim)[0] if axis is None else np.asarray(axis, float) / np.linalg.norm(axis)
    return biopsy.Core(np.full(dim, 0.5), axis, 0.5 * width_L, 0.5 * length_L)


@pytest.mark.parametrize(
    "dim,axis", [(2, (1.0, 0.0)), (2, (1.0, 1.0)), (3, (1.0, 0.0, 0.0)), (3, (1.0, 2.0, 2.0))]
)
def test_sampled_cells_follow_the_cores_share_of_the_lesion(dim, axis):
    """Cells uniform in a lesion of radius R, a core of radius r through its centre: each is
    in the core with p = the core's share of the lesion's volume (2D: a strip of the disc,
    2 (r sqrt(R^2 - r^2) + R^2 asin(r / R)) / (pi R^2); 3D: 1 - (1 - r^2 / R^2)^(3/2)), so
    the count is Binomial(N, p): an exact binomial test at alpha = 0.01."""
    R, width, N = 0.3, 0.16, 20000
    cells = ball_cells(dim, N, R, seed=dim)
    r = 0.5 * width
    if dim == 2:
        p = 2.0 * (r * math.sqrt(R**2 - r**2) + R**2 * math.asin(r / R)) / (math.pi * R**2)
    else:
        p = 1.0 - (1.0 - r**2 / R**2) ** 1.5
    rep = biopsy.sample(core(dim, width, 2.0, axis), organ(dim, cells), biopsy.NEEDLES["14G"])
    k = int(rep["tumour_cells"])
    assert binomtest(k, N, p).pvalue > 0.01, (k, N * p)
    # Its lineage is the count of the cells taken, by founder and by seeding unit.
    take = core(dim, width, 2.0, axis).inside(cells["x"])
    assert rep["lineage"]["founders"] == {
        int(f): float(c) for f, c in zip(*np.unique(cells["founder"][take], return_counts=True))
    }
    assert sum(rep["lineage"]["units"].values()) == k
    assert rep["mesenchymal_fraction"] == pytest.approx((cells["phenotype"][take] == 1).mean())


@pytest.mark.parametrize("dim", [2, 3])
def test_normal_cells_fill_the_core_but_the_tumour(dim):
    """A core longer than the domain: the domain's part is normal tissue where no tumour
    cell is, the rest the organ around it (no scene: all organ), at the cited density."""
    mm, width, length = 10.0, 0.16, 2.0
    cells = ball_cells(dim, 300, 0.05, seed=1)
    rep = biopsy.sample(core(dim, width, length), organ(dim, cells, mm=mm), biopsy.NEEDLES["14G"])
    rho = biopsy.normal_cells_per_mm3("liver") ** (1.0 if dim == 3 else 2.0 / 3.0)
    r = 0.5 * width
    v_core = (2 * r if dim == 2 else math.pi * r**2) * length * mm**dim
    v_dom = (2 * r if dim == 2 else math.pi * r**2) * 1.0 * mm**dim  # the unit domain's span
    cell = 0.01**dim / 4.0 * mm**dim
    assert rep["core"]["volume"] == pytest.approx(v_core)
    assert rep["core"]["in_domain"] == pytest.approx(v_dom, rel=0.02)
    expect = (v_core - rep["tumour_cells"] * cell) * rho
    assert rep["normal_cells"] == pytest.approx(expect, rel=0.01)
    assert rep["cellularity"] == pytest.approx(300 / (300 + expect), rel=0.01)
    assert rho == pytest.approx(5e8 * 1.05 / 1000.0) if dim == 3 else True


def test_continuum_densities_integrate_over_the_core():
    """Constant c_E = 2, c_M = 1 cells per h_ref^2: the core's tumour cells are 3 x its area
    in the domain / h_ref^2, a third mesenchymal; o = x with o_nec = 0.25 and o_hyp = 0.5:
    necrosis is the quarter of the domain's part over the core, proliferating the active
    cells at x >= 0.5 (dormant d_E is not)."""
    x, _ = square_mesh(8)
    f = {
        "c_E": np.full(len(x), 2.0),
        "c_M": np.full(len(x), 1.0),
        "d_E": np.full(len(x), 1.0),
        "o": x[:, 0].copy(),
    }
    width, length = 0.16, 2.0
    rep = biopsy.sample(
        core(2, width, length),
        organ(2, None, f, hypoxia=0.5, necrosis=0.25),
        biopsy.NEEDLES["14G"],
    )
    area = width * 1.0
    assert rep["tumour_cells"] == pytest.approx(4.0 * area / 0.01**2, rel=1e-3)
    assert rep["mesenchymal_fraction"] == pytest.approx(0.25, rel=1e-3)
    assert rep["necrosis_fraction"] == pytest.approx(0.25 * area / (width * length), rel=1e-2)
    assert rep["proliferating_fraction"] == pytest.approx(0.5 * 3.0 / 4.0, rel=1e-2)


def test_ki67_leaves_out_dormant_and_hypoxic_cells():
    """Proliferating: cycling cells only, not dormant, not where o < o_hyp."""
    cells = ball_cells(2, 4000, 0.2, seed=3)
    cells["state"] = np.where(np.arange(4000) % 4 == 0, DORMANT, INVADING).astype(np.int8)
    x, _ = square_mesh(8)
    f = {"o": x[:, 0].copy()}
    c = core(2, 0.16, 2.0)
    rep = biopsy.sample(c, organ(2, cells, f, hypoxia=0.5, necrosis=0.0), biopsy.NEEDLES["14G"])
    take = c.inside(cells["x"])
    want = ((cells["state"][take] != DORMANT) & (cells["x"][take, 0] >= 0.5)).sum() / take.sum()
    assert rep["proliferating_fraction"] == pytest.approx(want, abs=2.0 / take.sum())
    assert rep["necrosis_fraction"] == 0.0


@pytest.mark.parametrize("gauge", ["14G", "18G"])
@pytest.mark.parametrize("radius_mm", [0.25, 1.0, 2.5])
def test_miss_probability_matches_a_monte_carlo_of_the_targeting_error(gauge, radius_mm):
    """The closed form exp(-(R + r)^2 / 2 sigma^2) against 2e5 biopsies with a 3D normal
    error (along the needle too, the core a capsule): an exact binomial test, alpha 0.01."""
    needle = biopsy.NEEDLES[gauge]
    n = 200_000
    k = biopsy.miss_monte_carlo(radius_mm, needle, n, seed=11, direction=(1.0, 2.0, 0.5))
    p = float(biopsy.miss_probability(radius_mm, needle))
    assert binomtest(k, n, p).pvalue > 0.01, (k / n, p)


def test_the_monte_carlo_tells_a_wrong_sigma():
    """The test has power: a closed form with sigma 5 % too small is rejected."""
    needle = biopsy.NEEDLES["14G"]
    k = biopsy.miss_monte_carlo(1.0, needle, 200_000, seed=11)
    wrong = float(biopsy.miss_probability(1.0, needle, 0.95 * biopsy.TARGETING_SIGMA_MM))
    assert binomtest(k, 200_000, wrong).pvalue < 1e-6
    # sigma from the cited mean distance 3.3 mm of an isotropic 3D normal error
    g = np.random.default_rng(0).normal(0.0, biopsy.TARGETING_SIGMA_MM, (200_000, 3))
    assert np.linalg.norm(g, axis=1).mean() == pytest.approx(3.3, rel=0.01)


def test_bad_arguments_name_the_option():
    with pytest.raises(config.CaseError, match="--needle"):
        biopsy.needle_of("13G")
    assert biopsy.needle_of("16").gauge == "16G"
    with pytest.raises(config.CaseError, match="--at"):
        biopsy.parse_vector("0.1", "--at", 2)
    with pytest.raises(config.CaseError, match="--at"):
        biopsy.parse_vector("0.1,x", "--at", 2)


def test_the_lesion_is_the_connected_group_the_core_sampled():
    """Two blobs of cells apart: the lesion is the one the chosen cells are in, whole."""
    a = ball_cells(2, 500, 0.05, seed=4, centre=0.2)["x"]
    b = ball_cells(2, 300, 0.05, seed=5, centre=0.7)["x"]
    x = np.vstack([a, b])
    chosen = np.zeros(800, dtype=bool)
    chosen[[600, 700]] = True
    assert (biopsy.lesion_of(x, 0.01, chosen) == (np.arange(800) >= 500)).all()
    assert not biopsy.lesion_of(x, 0.01, np.zeros(800, dtype=bool)).any()


def test_a_hybrid_core_holds_its_discrete_cells_and_its_density():
    """Hybrid: the core's tumour is its discrete cells plus the density u_E, u_M over it
    (not c_E, c_M, which hold both); the lineage adds each discrete cell's founder to the
    density's composition scaled to the density's cells in the core."""
    import dataclasses

    x, _ = square_mesh(8)
    cells = ball_cells(2, 3000, 0.2, seed=4)
    f = {
        "u_E": np.full(len(x), 2.0),
        "u_M": np.full(len(x), 1.0),
        "c_E": np.full(len(x), 50.0),  # both representations: must not be counted again
        "c_M": np.full(len(x), 50.0),
    }
    units, founders = np.array([1, 2], np.uint64), np.array([100, 200], np.uint64)
    state = dataclasses.replace(
        organ(2, cells, f), composition=(units, founders, np.array([3.0, 1.0])), hybrid=True
    )
    c = core(2, 0.16, 2.0)
    rep = biopsy.sample(c, state, biopsy.NEEDLES["14G"])
    take = c.inside(cells["x"])
    density = 3.0 * 0.16 * 1.0 / 0.01**2  # u_E + u_M over the core's part of the domain
    assert rep["tumour_cells"] == pytest.approx(take.sum() + density, rel=1e-3)
    m = (cells["phenotype"][take] == 1).sum() + density / 3.0
    assert rep["mesenchymal_fraction"] == pytest.approx(m / rep["tumour_cells"], rel=1e-3)
    got = rep["lineage"]["founders"]
    assert got[100] == pytest.approx(0.75 * density, rel=1e-3)
    assert got[200] == pytest.approx(0.25 * density, rel=1e-3)
    assert sum(got.values()) == pytest.approx(rep["tumour_cells"], rel=1e-9)
    assert rep["lesion"] is None  # a hybrid lesion's core is density: sized as continuum
