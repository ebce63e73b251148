"""The liquid biopsy: the circulating tumour cells (CTCs) a CellSearch test would count in a
blood sample of the patient, from the cells in the simulated blood (docs/liquid-biopsy.md).

The simulated primary is a section of a few millimetres of a tumour; the patient's blood
carries the cells of the whole tumour. Each unit in the simulated blood (a single cell or a
cluster, ``circulation.Blood.rows``) stands for ``factor`` such units in the patient's blood
(``scale_factor``), and a sample of ``volume_ml`` of the patient's ``blood_volume_ml`` holds
a Poisson number of copies of it (the blood draw is a Poisson sample: Tibbe et al. 2007
Cytometry A 71:154) with the mean

    lam = factor * volume_ml / blood_volume_ml.

CellSearch pulls cells out with EpCAM antibodies on magnetic beads. A cluster comes out as
one piece when any of its cells carries EpCAM (CellSearch cartridges show clusters intact
and count them: Mu et al. 2015 Breast Cancer Res Treat 154:563, Larsson et al. 2018 Breast
Cancer Res, doi:10.1186/s13058-018-0976-0), and a unit that comes out is counted with
``capture_efficiency``. A unit of e epithelial and m mesenchymal cells is therefore counted,
all its cells, with

    q = capture_efficiency * (1 - (1 - epcam_E)^e * (1 - epcam_M)^m),

so that the expected count per sample is sum over units of lam * q * (e + m) (``expected``).
A sample (``sample``) draws the copies of every unit in the tube (Poisson) and thins them,
unit by unit, with q (binomial): exactly the distribution of drawing each cell's EpCAM and
each copy's capture, without one draw per copy. Its random numbers come from a Philox
generator keyed by (seed, sample index, replicate): the same on every rank and rank count.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from solver import config
from solver.cells import rng
from solver.cells.population import EPITHELIAL, MESENCHYMAL

# Prognostic CellSearch thresholds: CTCs per 7.5 mL at or above which survival is worse, by
# circulation.primary_type. Melanoma has none here: its CellSearch test captures CD146, not
# EpCAM, which this model does not describe.
THRESHOLDS: dict[str, tuple[int, str]] = {
    "breast": (5, "Cristofanilli et al. (2004) N Engl J Med 351:781"),
    "prostate": (5, "de Bono et al. (2008) Clin Cancer Res 14:6302"),
    "colorectal": (3, "Cohen et al. (2008) J Clin Oncol 26:3213"),
    "lung": (5, "Krebs et al. (2011) J Clin Oncol 29:1556 (non-small-cell)"),
}


@dataclass(frozen=True)
class Units:
    """The units in the blood (single cells and clusters), by their cells of each phenotype.

    Attributes:
        epithelial: Epithelial cells of each unit.
        mesenchymal: Mesenchymal cells of each unit.
    """

    epithelial: np.ndarray
    mesenchymal: np.ndarray

    def __post_init__(self) -> None:
        """Check the counts: whole, non-negative, one of each per unit, no empty unit."""
        e, m = np.asarray(self.epithelial), np.asarray(self.mesenchymal)
        if e.shape != m.shape or e.ndim != 1:
            raise ValueError(f"epithelial {e.shape} and mesenchymal {m.shape}: one count per unit")
        for name, a in (("epithelial", e), ("mesenchymal", m)):
            if a.size and (a.dtype.kind not in "iu" or a.min() < 0):
                raise ValueError(f"{name}: whole numbers >= 0 expected")
        if e.size and (e + m).min() < 1:
            raise ValueError("a unit without cells")
        object.__setattr__(self, "epithelial", e.astype(np.int64))
        object.__setattr__(self, "mesenchymal", m.astype(np.int64))

    @classmethod
    def from_blood(cls, cluster: np.ndarray, phenotype: np.ndarray) -> Units:
        """The units of the blood's rows (``Blood.rows["cluster"]`` and ``["phenotype"]``),
        in the order of their cluster ids (so not of the rows' order).
        """
        cluster, phenotype = np.asarray(cluster), np.asarray(phenotype)
        if cluster.shape != phenotype.shape:
            raise ValueError(f"cluster {cluster.shape} and phenotype {phenotype.shape} differ")
        if not np.isin(phenotype, (EPITHELIAL, MESENCHYMAL)).all():
            raise ValueError("phenotype: 0 (epithelial) or 1 (mesenchymal) expected")
        _, inv = np.unique(cluster, return_inverse=True)
        size = np.bincount(inv)
        m = np.bincount(inv, weights=phenotype == MESENCHYMAL, minlength=len(size))
        return cls(size - m.astype(np.int64), m.astype(np.int64))

    @property
    def size(self) -> np.ndarray:
        """Cells of each unit."""
        return self.epithelial + self.mesenchymal


@dataclass(frozen=True)
class Count:
    """CTCs counted in one sample: a draw (whole numbers) or their expected values.

    Attributes:
        cells: CTCs counted.
        in_clusters: Those of them counted in clusters (units of two or more cells).
        clusters: Clusters counted.
    """

    cells: float
    in_clusters: float
    clusters: float

    @property
    def cluster_fraction(self) -> float:
        """Fraction of the counted CTCs that are in clusters (NaN when none is counted)."""
        return self.in_clusters / self.cells if self.cells > 0 else math.nan


def patient_cells(spec: config.LiquidBiopsySpec) -> float:
    """Tumour cells of the patient's primary: a sphere of ``tumour_diameter_cm`` holding
    ``cells_per_cm3``.
    """
    return spec.cells_per_cm3 * math.pi / 6.0 * spec.tumour_diameter_cm**3


def scale_factor(spec: config.LiquidBiopsySpec, simulated_cells: float) -> float:
    """Patient units per simulated unit in the blood: ``spec.factor`` if set, else the
    patient's tumour cells (``patient_cells``) over ``simulated_cells``, the simulated
    primary's cells at the start of the run. Fixed for a run, so that the simulated
    primary's growth and shedding scale to the patient's.
    """
    if spec.factor is not None:
        return spec.factor
    if not simulated_cells > 0:
        raise config.CaseError(
            f"the simulated primary has {simulated_cells} cells: no factor from the simulated "
            "domain to the patient; set 'liquid_biopsy.factor'"
        )
    return patient_cells(spec) / simulated_cells


def capture_probability(spec: config.LiquidBiopsySpec, units: Units) -> np.ndarray:
    """Chance that CellSearch counts a unit of the sample (all its cells): at least one of
    its cells carries EpCAM, and the unit is captured.
    """
    missed = (1.0 - spec.epcam_E) ** units.epithelial * (1.0 - spec.epcam_M) ** units.mesenchymal
    return spec.capture_efficiency * (1.0 - missed)


def copies_per_sample(spec: config.LiquidBiopsySpec, factor: float) -> float:
    """Mean number of copies of one simulated unit in a sample: factor x volume / blood."""
    return factor * spec.volume_ml / spec.blood_volume_ml


def expected(spec: config.LiquidBiopsySpec, units: Units, factor: float) -> Count:
    """Expected CTCs per sample: sum over units of copies x capture probability x cells."""
    mean = copies_per_sample(spec, factor) * capture_probability(spec, units)
    multi = units.size > 1
    return Count(
        cells=float((mean * units.size).sum()),
        in_clusters=float((mean * units.size)[multi].sum()),
        clusters=float(mean[multi].sum()),
    )


def generator(seed: int, index: int, replicate: int = 0) -> np.random.Generator:
    """The generator of sample ``index`` (the sample time's index) of ``replicate``: Philox
    keyed by a hash (numpy's SeedSequence) of (seed, rng.LIQUID_BIOPSY, index, replicate).
    """
    words = [int(seed), rng.LIQUID_BIOPSY, int(index), int(replicate)]
    if min(words) < 0:
        raise ValueError(f"seed, index and replicate must be >= 0, got {words}")
    key = np.random.SeedSequence(words).generate_state(2, dtype=np.uint64)
    return np.random.Generator(np.random.Philox(key=key))


def sample(
    spec: config.LiquidBiopsySpec,
    units: Units,
    factor: float,
    *,
    seed: int,
    index: int,
    replicate: int = 0,
) -> Count:
    """One CellSearch test of the patient's blood: the copies of every unit in the sample
    (Poisson), each counted whole with the unit's capture probability (binomial), from the
    generator keyed by (seed, index, replicate).
    """
    draw = generator(seed, index, replicate)
    copies = draw.poisson(copies_per_sample(spec, factor), size=len(units.size))
    counted = draw.binomial(copies, capture_probability(spec, units))
    multi = units.size > 1
    return Count(
        cells=float((counted * units.size).sum()),
        in_clusters=float((counted * units.size)[multi].sum()),
        clusters=float(counted[multi].sum()),
    )


def series(
    spec: config.LiquidBiopsySpec,
    blood: Sequence[Units],
    factor: float,
    *,
    seed: int,
    replicate: int = 0,
) -> list[Count]:
    """One test at each sample time: ``blood[i]`` is the blood at the i-th sample time,
    drawn with index i.
    """
    return [
        sample(spec, units, factor, seed=seed, index=i, replicate=replicate)
        for i, units in enumerate(blood)
    ]


def threshold(spec: config.LiquidBiopsySpec, primary_type: str) -> int:
    """CTCs per sample at or above which the count is prognostic: ``spec.threshold`` if set,
    else the cited threshold of ``primary_type`` (``THRESHOLDS``). Raises
    ``config.CaseError`` naming the key when neither exists.
    """
    if spec.threshold is not None:
        return spec.threshold
    if primary_type in THRESHOLDS:
        return THRESHOLDS[primary_type][0]
    known = ", ".join(sorted(THRESHOLDS))
    raise config.CaseError(
        f"key 'circulation.primary_type' = {primary_type!r}: no prognostic CellSearch threshold "
        f"of circulating tumour cells for this primary type (cited for {known}); set "
        "'liquid_biopsy.threshold' or choose one of these types"
    )


def first_time(times: Sequence[float], counts: Sequence[float], level: float) -> float | None:
    """The first of ``times`` whose count reaches ``level`` (count >= level), None if none.

    Raises:
        ValueError: ``times`` and ``counts`` differ in length or ``times`` is not increasing.
    """
    t, c = np.asarray(times, dtype=float), np.asarray(counts, dtype=float)
    if t.shape != c.shape or t.ndim != 1:
        raise ValueError(f"times {t.shape} and counts {c.shape}: one count per time")
    if (np.diff(t) <= 0).any():
        raise ValueError("times must increase")
    hit = np.flatnonzero(c >= level)
    return float(t[hit[0]]) if hit.size else None
