"""The liquid biopsy (solver/clinic/liquid_biopsy.py): expected CellSearch counts against a
direct count of sampled cells, the prognostic thresholds, the first time a series reaches one.
"""

import math
import re
import tomllib
import typing
from pathlib import Path

import numpy as np
import pytest

from solver import config
from solver.clinic import liquid_biopsy as lb

ROOT = Path(__file__).resolve().parents[3]
YEAR = re.compile(r"\b(19|20)\d\d\b")

# A blood of singles and clusters of every mix: (epithelial, mesenchymal) per unit.
MIX = [(1, 0)] * 6 + [(0, 1)] * 6 + [(2, 0), (1, 1), (0, 3), (2, 2), (1, 4), (0, 2), (3, 0)]
BLOOD = lb.Units(np.array([e for e, _ in MIX]), np.array([m for _, m in MIX]))
# Mesenchymal cells with EpCAM at 0.3 and epithelial at 0.9, so that a cluster's "any cell
# carries EpCAM" differs from both a per-cell and an all-cells rule.
SPEC = config.LiquidBiopsySpec(epcam_E=0.9, epcam_M=0.3)
LAM = 1.5  # copies of each simulated unit per sample
FACTOR = LAM * SPEC.blood_volume_ml / SPEC.volume_ml
DRAWS = 4000
K = 4.0  # tolerance in standard errors: a correct mean falls outside with p ~ 6e-5


def direct_count(spec, units, factor, draws, rng):
    """Counts drawn cell by cell, without the module's formulas: each unit's copies in the
    tube (Poisson: a 7.5 mL draw of the blood), each cell of each copy EpCAM-positive by its
    phenotype's fraction, a copy pulled out whole when any cell is, then captured with the
    efficiency; returns (cells, cells in clusters, clusters) per draw."""
    lam = factor * spec.volume_ml / spec.blood_volume_ml
    out = np.zeros((draws, 3))
    for e, m in zip(units.epithelial, units.mesenchymal):
        copies = rng.poisson(lam, size=draws)
        n = int(copies.sum())
        epcam = np.c_[rng.random((n, e)) < spec.epcam_E, rng.random((n, m)) < spec.epcam_M]
        counted = epcam.any(axis=1) & (rng.random(n) < spec.capture_efficiency)
        per_draw = np.bincount(np.repeat(np.arange(draws), copies), counted, draws)
        out[:, 0] += per_draw * (e + m)
        if e + m > 1:
            out[:, 1] += per_draw * (e + m)
            out[:, 2] += per_draw
    return out


def _within(draws, mean, what):
    """The mean of ``draws`` is ``mean`` within K standard errors of the draws' mean."""
    se = draws.std(ddof=1) / math.sqrt(len(draws))
    assert abs(draws.mean() - mean) < K * se, (
        f"{what}: mean of {len(draws)} draws {draws.mean():.4f} vs expected {mean:.4f} "
        f"({(draws.mean() - mean) / se:+.1f} standard errors)"
    )


def test_expected_count_matches_a_direct_count_of_sampled_cells():
    """The expected count (copies x capture probability x cells, summed over units) is the
    mean of a direct, cell-by-cell count of 4000 samples and the mean of 4000 draws of
    ``sample``, for the cells, the cells in clusters and the clusters, within 4 standard
    errors of the mean (4 x ~0.15 of the 33.0 expected cells). The draws of ``sample`` have the
    variance of a thinned Poisson count, sum of lam q size^2, within 4 standard errors of
    the sample variance (from the draws' fourth moment)."""
    want = lb.expected(SPEC, BLOOD, FACTOR)
    direct = direct_count(SPEC, BLOOD, FACTOR, DRAWS, np.random.default_rng(2024))
    drawn = np.array(
        [
            (c.cells, c.in_clusters, c.clusters)
            for c in (lb.sample(SPEC, BLOOD, FACTOR, seed=7, index=i) for i in range(DRAWS))
        ]
    )
    for k, name in enumerate(("cells", "in_clusters", "clusters")):
        _within(direct[:, k], getattr(want, name), f"direct count, {name}")
        _within(drawn[:, k], getattr(want, name), f"sample(), {name}")
    assert 30 < want.cells < 36 and 0 < want.in_clusters < want.cells  # 33.0
    q = lb.capture_probability(SPEC, BLOOD)
    var = float((LAM * q * BLOOD.size**2).sum())
    x = drawn[:, 0] - drawn[:, 0].mean()
    s2, m4 = (x**2).sum() / (DRAWS - 1), (x**4).mean()
    se = math.sqrt((m4 - s2**2) / DRAWS)
    assert abs(s2 - var) < K * se, f"variance {s2:.3f} vs {var:.3f} (se {se:.3f})"


def test_expected_count_by_hand():
    """One epithelial cell, one mixed pair and an all-mesenchymal triple, defaults (EpCAM
    1 and 0.1, capture 0.85, 7.5 of 5000 mL): per copy 0.85 x 1, 0.85 x 2 and
    0.85 x (1 - 0.9^3) x 3 cells; the patient's 2 cm primary holds pi/6 x 8 x 1e9 cells."""
    spec = config.LiquidBiopsySpec()
    units = lb.Units(np.array([1, 1, 0]), np.array([0, 1, 3]))
    factor = 1000.0
    lam = factor * 7.5 / 5000.0
    got = lb.expected(spec, units, factor)
    triple = 0.85 * (1 - 0.9**3) * 3
    assert got.cells == pytest.approx(lam * (0.85 + 0.85 * 2 + triple), rel=1e-12)
    assert got.in_clusters == pytest.approx(lam * (0.85 * 2 + triple), rel=1e-12)
    assert got.clusters == pytest.approx(lam * (0.85 + triple / 3), rel=1e-12)
    assert got.cluster_fraction == pytest.approx(got.in_clusters / got.cells)
    assert lb.patient_cells(spec) == pytest.approx(math.pi / 6 * 8e9, rel=1e-12)
    assert lb.scale_factor(spec, 388) == pytest.approx(math.pi / 6 * 8e9 / 388, rel=1e-12)
    assert lb.scale_factor(spec.model_copy(update={"factor": 3.0}), 388) == 3.0
    with pytest.raises(config.CaseError, match="liquid_biopsy.factor"):
        lb.scale_factor(spec, 0)


def test_units_from_the_blood_rows_and_reproducible_draws():
    """Units gather the blood's rows by cluster id whatever the rows' order; a draw is a
    function of (seed, index, replicate): the same again, other with another key; an empty
    blood counts nothing and has no cluster fraction."""
    cluster = np.array([9, 4, 9, 7, 4, 4], dtype=np.uint64)
    phenotype = np.array([0, 1, 1, 0, 0, 0], dtype=np.int8)
    units = lb.Units.from_blood(cluster, phenotype)
    assert units.epithelial.tolist() == [2, 1, 1] and units.mesenchymal.tolist() == [1, 0, 1]
    order = np.array([5, 3, 1, 0, 4, 2])
    again = lb.Units.from_blood(cluster[order], phenotype[order])
    spec = config.LiquidBiopsySpec()
    a = lb.sample(spec, units, 2e4, seed=3, index=5)
    assert a == lb.sample(spec, again, 2e4, seed=3, index=5)
    others = [
        lb.sample(spec, units, 2e4, seed=s, index=i, replicate=r)
        for s, i, r in ((4, 5, 0), (3, 6, 0), (3, 5, 1))
    ]
    assert all(o != a for o in others)
    assert [c.cells for c in lb.series(spec, [units, units], 2e4, seed=3)] == [
        lb.sample(spec, units, 2e4, seed=3, index=i).cells for i in (0, 1)
    ]
    empty = lb.Units.from_blood(np.zeros(0, np.uint64), np.zeros(0, np.int8))
    none = lb.sample(spec, empty, 2e4, seed=3, index=0)
    assert none.cells == 0 and math.isnan(none.cluster_fraction)
    with pytest.raises(ValueError, match="phenotype"):
        lb.Units.from_blood(cluster, np.array([0, 1, 2, 0, 0, 0]))


def test_thresholds_per_primary_type():
    """>= 5 CTCs per 7.5 mL for breast (Cristofanilli 2004), prostate (de Bono 2008) and
    non-small-cell lung (Krebs 2011), >= 3 for colorectal (Cohen 2008); the case's own
    threshold wins; every primary type with a threshold is one circulation.primary_type
    accepts, and every case file's primary type has one."""
    spec = config.LiquidBiopsySpec()
    got = {t: lb.threshold(spec, t) for t in ("breast", "prostate", "colorectal", "lung")}
    assert got == {"breast": 5, "prostate": 5, "colorectal": 3, "lung": 5}
    assert lb.threshold(spec.model_copy(update={"threshold": 2}), "other") == 2
    types = typing.get_args(config.CirculationSpec.model_fields["primary_type"].annotation)
    assert set(lb.THRESHOLDS) <= set(types)
    used = set()
    for path in sorted((ROOT / "cases").glob("*.toml")):
        kind = tomllib.loads(path.read_text()).get("circulation", {}).get("primary_type")
        if kind is not None:
            used.add(kind)
            assert lb.threshold(spec, kind) >= 1
    assert used >= {"breast", "prostate", "colorectal"}


@pytest.mark.parametrize("kind", ["other", "melanoma", "pancreas"])
def test_an_unknown_primary_type_is_an_error_naming_the_key(kind):
    with pytest.raises(config.CaseError) as err:
        lb.threshold(config.LiquidBiopsySpec(), kind)
    text = str(err.value)
    assert f"key 'circulation.primary_type' = {kind!r}" in text
    assert "'liquid_biopsy.threshold'" in text and "breast, colorectal, lung, prostate" in text


def test_first_time_a_series_reaches_the_threshold():
    """On a synthetic series the first time at or above the level; None if never; a
    threshold reached exactly counts; series of unequal length or unordered times refused."""
    times = [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    counts = [0, 2, 4, 3, 5, 9]
    assert lb.first_time(times, counts, 5) == 2.0
    assert lb.first_time(times, counts, 3) == 1.0  # not 1.5: the first time, not the last
    assert lb.first_time(times, counts, 0) == 0.0
    assert lb.first_time(times, counts, 10) is None
    assert lb.first_time([], [], 5) is None
    with pytest.raises(ValueError, match="one count per time"):
        lb.first_time(times, counts[:-1], 5)
    with pytest.raises(ValueError, match="increase"):
        lb.first_time([0.0, 1.0, 1.0], [0, 0, 9], 5)


def test_first_threshold_time_of_sampled_series_follows_the_blood():
    """A blood that gains one epithelial single cell per sample time, one copy per sample
    (factor = blood / volume), EpCAM 1, capture 1: every draw counts a Poisson number with
    mean i at time i, so over 250 replicates the first time at >= 5 is never before the
    first draw that reaches 5 and its mean is that of the first-passage time of Poisson
    counts with means 0, 1, 2, ... computed from their distribution."""
    spec = config.LiquidBiopsySpec(capture_efficiency=1.0, epcam_E=1.0)
    factor = spec.blood_volume_ml / spec.volume_ml
    blood = [lb.Units(np.ones(i, np.int64), np.zeros(i, np.int64)) for i in range(12)]
    times = np.arange(12) * 0.1
    first = []
    for r in range(250):
        counts = [c.cells for c in lb.series(spec, blood, factor, seed=11, replicate=r)]
        first.append(lb.first_time(times, counts, 5))
    assert None not in first
    # P(not yet at time i) = prod_{j <= i} P(Poisson(j) < 5); E[T] = sum_i 0.1 P(T > t_i).
    from scipy.stats import poisson

    below = np.cumprod(poisson.cdf(4, np.arange(12)))
    mean_t = 0.1 * below[:-1].sum()
    values = np.array(first, dtype=float)
    se = values.std(ddof=1) / math.sqrt(len(values))
    assert abs(values.mean() - mean_t) < K * se, (values.mean(), mean_t, se)


def test_liquid_biopsy_keys_are_documented_and_cited():
    """Every key of LiquidBiopsySpec has a sentence, a unit of config.UNITS and a source (a
    citation with its year or 'tag: reason'), as test_config checks for the case's tables
    (this one joins Case in phase 2)."""
    for name in config.LiquidBiopsySpec.model_fields:
        meta = config.meta(config.LiquidBiopsySpec, name)
        source = meta["source"]
        tag, _, why = source.partition(": ")
        assert meta["description"].strip().endswith("."), name
        assert meta["unit"] in config.UNITS, name
        assert YEAR.search(source) or (tag in config.TAGS and why), name
        assert "illustrative" not in source or tag == "illustrative", name
