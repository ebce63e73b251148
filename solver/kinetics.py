"""Clinical growth kinetics of the primaries seedsoil knows: cited in-vivo volume doubling
times, potential doubling times, Steel's cell-loss factor, the shedding rate into the blood,
dormancy durations, and the conversions between them (docs/kinetics.md).

Every number is a ``Cited``: its value, its unit, its source (author year journal, or
"illustrative: reason", or "derived: how"), and the spread the source publishes.

Steel (1967, 1977): a tumour whose cells are produced at rate k_p = ln 2 / T_pot and lost at
rate k_L grows at k_p - k_L; the cell-loss factor is phi = k_L / k_p, so the volume doubling
time is VDT = T_pot / (1 - phi). With phi of 0.9 or more in carcinomas, a lesion doubles
about ten times more slowly than its cells divide.

Sizes at the project's one packed density, ``config.PACKED_CELLS_PER_CM3`` (10^9 cells per
cm^3, Del Monte 2009 Cell Cycle 8:505): a sphere of diameter d holds 10^9 pi d^3 / 6 cells
(d in cm), 4.2 x 10^6 at 2 mm and 6.5 x 10^7 at 5 mm.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from solver import config

__all__ = [
    "DENSITY_G_PER_CM3",
    "KINETICS",
    "LUNG_PHI_MEASURED",
    "SHEDDING",
    "STEEL",
    "Cited",
    "Kinetics",
    "cells_in_sphere",
    "diameter_mm",
    "for_primary",
    "loss_factor",
    "per_cell_rates",
    "shedding_per_cell_per_day",
    "tpot_from_cycle",
    "tpot_from_vdt",
    "vdt_from_tpot",
]

Array = NDArray[np.float64]

STEEL = (
    "Steel 1967 Eur J Cancer 3:381 (cell loss as a factor in the growth rate of human "
    "tumours); Steel 1977 Growth Kinetics of Tumours (Clarendon, Oxford)"
)


@dataclass(frozen=True)
class Cited:
    """A value with its unit, its source and the spread the source publishes.

    Attributes:
        value: The value used (the published median where there is one).
        unit: Its unit.
        source: Author year journal and what was measured; "illustrative: reason" or
            "derived: how" when no source gives the value itself.
        low: Lower end of the published spread (None: none published).
        high: Upper end of the published spread (``math.inf``: unbounded, e.g. tumours that
            did not grow).
        spread: What low and high are ("range", "IQR", ...).
    """

    value: float
    unit: str
    source: str
    low: float | None = None
    high: float | None = None
    spread: str = ""

    def __post_init__(self) -> None:
        if not self.source.strip():
            raise ValueError("a Cited value needs a source (or 'illustrative: reason')")


@dataclass(frozen=True)
class Kinetics:
    """The growth kinetics of one primary type.

    Attributes:
        primary: The ``circulation.primary_type`` it belongs to.
        vdt: In-vivo volume doubling time of the primary (days).
        tpot: Potential doubling time T_pot (days).
        dormancy: Years between treatment and late (distant) recurrence where cited, else None.
    """

    primary: str
    vdt: Cited
    tpot: Cited
    dormancy: Cited | None

    @property
    def phi(self) -> float:
        """Steel's cell-loss factor implied by T_pot and the VDT."""
        return loss_factor(self.tpot.value, self.vdt.value)


def loss_factor(tpot: float, vdt: float) -> float:
    """Steel's cell-loss factor phi = 1 - T_pot / VDT.

    Args:
        tpot: Potential doubling time (any time unit).
        vdt: Volume doubling time (the same unit), at least T_pot.

    Returns:
        phi in [0, 1).
    """
    if not 0 < tpot <= vdt:
        raise ValueError(f"need 0 < T_pot <= VDT, got T_pot={tpot}, VDT={vdt}")
    return 1.0 - tpot / vdt


def vdt_from_tpot(tpot: float, phi: float) -> float:
    """Steel's relation VDT = T_pot / (1 - phi).

    Args:
        tpot: Potential doubling time.
        phi: Cell-loss factor in [0, 1).

    Returns:
        The volume doubling time, in T_pot's unit.
    """
    if not (tpot > 0 and 0 <= phi < 1):
        raise ValueError(f"need T_pot > 0 and 0 <= phi < 1, got {tpot}, {phi}")
    return tpot / (1.0 - phi)


def tpot_from_vdt(vdt: float, phi: float) -> float:
    """T_pot = VDT (1 - phi), the inverse of ``vdt_from_tpot``.

    Args:
        vdt: Volume doubling time.
        phi: Cell-loss factor in [0, 1).

    Returns:
        The potential doubling time, in the VDT's unit.
    """
    if not (vdt > 0 and 0 <= phi < 1):
        raise ValueError(f"need VDT > 0 and 0 <= phi < 1, got {vdt}, {phi}")
    return vdt * (1.0 - phi)


def tpot_from_cycle(cycle_time: float, growth_fraction: float) -> float:
    """T_pot from the cell-cycle time T_c of the cycling cells and the growth fraction GF.

    Cycling cells divide at ln 2 / T_c, a fraction GF of all cells cycles, so the whole
    population is produced at GF ln 2 / T_c: T_pot = T_c / GF (Steel 1977, ignoring the
    correction for the cycling cells' age distribution, a factor between ln 2 and 1).

    Args:
        cycle_time: T_c.
        growth_fraction: GF in (0, 1].

    Returns:
        T_pot in T_c's unit.
    """
    if not (cycle_time > 0 and 0 < growth_fraction <= 1):
        raise ValueError(f"need T_c > 0 and 0 < GF <= 1, got {cycle_time}, {growth_fraction}")
    return cycle_time / growth_fraction


def per_cell_rates(tpot: float, vdt: float) -> tuple[float, float, float]:
    """The per-cell rates behind Steel's relation (exponential growth).

    Args:
        tpot: Potential doubling time (days).
        vdt: Volume doubling time (days).

    Returns:
        (birth k_p = ln 2 / T_pot, loss k_L = phi k_p, net k_p - k_L = ln 2 / VDT), per day.
    """
    phi = loss_factor(tpot, vdt)
    birth = math.log(2.0) / tpot
    return birth, phi * birth, (1.0 - phi) * birth


# Tumour tissue mass per volume: the project's equivalence "10^9 cells per cm^3 (1 g)"
# (config.PACKED_CELLS_PER_CM3); soft tissues are 1.02-1.05 g/cm^3 (ICRP 110, the organ
# densities of solver/clinic/background.py), within 5 % of it.
DENSITY_G_PER_CM3 = Cited(
    1.0,
    "g/cm^3",
    "illustrative: the project's 10^9 cells per cm^3 = 1 g (config.PACKED_CELLS_PER_CM3); "
    "soft tissues 1.02-1.05 g/cm^3 (ICRP 110)",
)

SHEDDING = Cited(
    3.2e6,
    "cells/g/day",
    "Butler & Gullino 1975 Cancer Res 35:512: tumour cells in the efferent blood of MTW9 rat "
    "mammary carcinomas of 2-4 g, 3.2e6 per g per 24 h growing, 4.1e6 regressing (not "
    "significantly different)",
    low=3.2e6,
    high=4.1e6,
    spread="growing and regressing tumours",
)


def shedding_per_cell_per_day(per_gram: float = SHEDDING.value) -> float:
    """Cells shed into the blood per tumour cell per day at the packed density.

    Args:
        per_gram: Cells shed per gram of tumour per day.

    Returns:
        per_gram / (cells per gram): 3.2e-3 per cell per day for Butler & Gullino's value.
    """
    cells_per_gram = config.PACKED_CELLS_PER_CM3 / DENSITY_G_PER_CM3.value
    return per_gram / cells_per_gram


_PACKED_PER_MM3 = config.PACKED_CELLS_PER_CM3 * 1.0e-3


def cells_in_sphere(diameter: ArrayLike) -> Array:
    """Cells in a spherical lesion at the packed density.

    Args:
        diameter: Diameter in mm.

    Returns:
        pi d^3 / 6 times 10^6 cells per mm^3 (array of diameter's shape).
    """
    d = np.asarray(diameter, dtype=float)
    if np.any(d < 0):
        raise ValueError("a diameter is >= 0")
    return np.asarray(_PACKED_PER_MM3 * math.pi * d**3 / 6.0)


def diameter_mm(cells: ArrayLike) -> Array:
    """Diameter (mm) of the sphere that holds ``cells`` at the packed density (inverse of
    ``cells_in_sphere``).
    """
    n = np.asarray(cells, dtype=float)
    if np.any(n < 0):
        raise ValueError("a cell count is >= 0")
    return np.asarray(np.cbrt(6.0 * n / (math.pi * _PACKED_PER_MM3)))


# Potential doubling time measured in vivo (halogenated pyrimidine labelling, flow cytometry):
# Rew & Wilson review the tumours measured so; no type-specific median for breast, colorectal
# or lung is in the sources we could check, so those use the pan-tumour median.
_TPOT_PAN = Cited(
    5.0,
    "days",
    "Rew & Wilson 2000 Eur J Surg Oncol (PMID 10873364): review of in-vivo BrdUrd/IdUrd "
    "labelling, median T_pot of human tumours 'of the order of 5 days', S phase about 10 h; "
    "pan-tumour, not specific to this type",
)

KINETICS: dict[str, Kinetics] = {
    "breast": Kinetics(
        "breast",
        vdt=Cited(
            164.0,
            "days",
            "Zhang et al. 2017 Med Sci Monit 23:3147: 69 breast cancers by serial 3D "
            "ultrasound, median 164 d, mean 185 +/- 126 d",
            low=66.0,
            high=521.0,
            spread="range",
        ),
        tpot=_TPOT_PAN,
        dormancy=Cited(
            20.0,
            "years",
            "Pan et al. 2017 N Engl J Med 377:1836 (EBCTCG, 62,923 women, ER-positive, "
            "disease-free after 5 years of endocrine therapy): distant recurrences at a steady "
            "rate from year 5 to year 20, 20-year risk 22 % (N0) to 52 % (N4-9); Meng et al. "
            "2004 Clin Cancer Res 10:8152: tumour cells in the blood 7-22 years after "
            "mastectomy without disease; value: recurrences still arose at 20 years, the end of "
            "follow-up (a lower bound on the longest dormancy)",
            low=5.0,
            high=20.0,
            spread="years after diagnosis over which distant recurrences arose at a steady rate",
        ),
    ),
    "colorectal": Kinetics(
        "colorectal",
        vdt=Cited(
            211.0,
            "days",
            "Burke et al. 2020 BJS Open 4:1200: 31 untreated growing colorectal cancers by "
            "serial CT volumetry, median 211 d",
            low=112.0,
            high=404.0,
            spread="IQR",
        ),
        tpot=_TPOT_PAN,
        dormancy=None,
    ),
    "lung": Kinetics(
        "lung",
        vdt=Cited(
            207.0,
            "days",
            "Jennings et al. 2006 Radiology 241:554: 149 stage I lung cancers by serial "
            "volumetric CT, median 207 d; 21 did not grow",
            low=26.0,
            high=math.inf,
            spread="range (inf: no growth)",
        ),
        tpot=_TPOT_PAN,
        dormancy=None,
    ),
    "prostate": Kinetics(
        "prostate",
        vdt=Cited(
            767.0,
            "days",
            "derived: PSA doubling time as the volume's (Schmid, McNeal & Stamey 1993 Cancer "
            "71:2031); Werahera et al. 2011 Prostate Cancer 2011:301850: PSA doubling times "
            "18.4-32.0 months in 4 untreated patients, no median published; value: the "
            "range's midpoint, 25.2 months (30.44 d each)",
            low=560.0,
            high=974.0,
            spread="range",
        ),
        tpot=Cited(
            28.0,
            "days",
            "Haustermans et al. 1997 Int J Radiat Oncol Biol Phys 37:1067: in-vivo IUdR, "
            "T_pot 23, 28, 42, 16, 61 d in 5 prostate adenocarcinomas; value: their median",
            low=16.0,
            high=61.0,
            spread="range",
        ),
        dormancy=Cited(
            8.0,
            "years",
            "Pound et al. 1999 JAMA 281:1591: after radical prostatectomy, median 8 years "
            "from the PSA recurrence to metastasis",
        ),
    ),
}

# A cross-check of the cell-loss factors, not used in the table: Br J Cancer 1984;50:343
# (PMID 6087867) measured VDT and T_pot in 17 lung tumours: phi 0.54-0.99, above 0.70 in every
# primary bronchogenic carcinoma and 0.90 or more in two thirds.
LUNG_PHI_MEASURED = Cited(
    0.9,
    "1",
    "Br J Cancer 1984;50:343 (PMID 6087867): phi 0.54-0.99 in 17 lung tumours, > 0.70 in "
    "every primary bronchogenic carcinoma, >= 0.90 in two thirds",
    low=0.54,
    high=0.99,
    spread="range",
)


def for_primary(primary: str) -> Kinetics:
    """The kinetics of a ``circulation.primary_type``.

    Raises:
        KeyError: naming the type and the types with cited kinetics.
    """
    try:
        return KINETICS[primary]
    except KeyError:
        raise KeyError(
            f"no cited growth kinetics for primary type {primary!r}; cited: "
            f"{', '.join(sorted(KINETICS))}"
        ) from None
