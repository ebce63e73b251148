"""Verification of EMT and MET (docs/emt.md): waiting times against the rate law, the
continuum against the discrete rule, and macrometastases with MET blocked or not. The
set-ups that tests/unit/cells/test_switching.py asserts and scripts/emt_figures.py prints.
"""

from __future__ import annotations

import numpy as np
from mpi4py import MPI
from scipy import stats

from solver import config, geometry
from solver.cells.population import MESENCHYMAL, Population
from solver.cells.switching import Switching
from solver.organ import Organ, length_mm

DT = 1e-3
BOX = {"size": [0.2, 0.2], "h": 0.01, "tumour_radius": 0.02, "vessel_min_distance": 0.02}


def waiting_times(
    sw: Switching, phenotype: int, signals, cells: int = 20000, steps: int = 400
) -> tuple[np.ndarray, bool]:
    """Steps until each cell of one phenotype first switches (steps + 1: not yet), run
    through Switching.step_cells on a population that sits on one vertex; and whether every
    cell's cycle clock was kept.
    """
    pop = Population.from_columns(
        2,
        {
            "id": np.arange(cells, dtype=np.uint64) + np.uint64(7 << 40),
            "phenotype": np.full(cells, phenotype, np.int8),
            "clock": np.arange(cells, dtype=float),
            "vertex": np.zeros(cells, np.int32),
        },
    )
    wait = np.full(cells, steps + 1)
    o, T, N = (np.array([v]) for v in signals)
    for n in range(1, steps + 1):
        before = pop.phenotype.copy()
        sw.step_cells(pop, n, o, T, N)
        now = (pop.phenotype != before) & (wait > steps)
        wait[now] = n
        pop.phenotype[now] = phenotype  # back: a cell's next switch is not part of its wait
    return wait, bool(np.array_equal(pop.clock, np.arange(cells, dtype=float)))


def geometric_chi2(wait: np.ndarray, p: float, steps: int = 400) -> float:
    """Pearson's chi-square of the waiting times against Geometric(p), in ten bins of equal
    expected count and a last bin for the waits beyond ``steps``; its p-value.
    """
    k = np.arange(1, steps + 1)
    pmf = (1.0 - p) ** (k - 1) * p
    cdf = np.cumsum(pmf)
    edges = np.searchsorted(cdf, np.linspace(0.1, 0.9, 9))  # bin ends (0-based into k)
    bins = np.r_[0, edges + 1, steps]
    expected = np.r_[np.diff(np.r_[0.0, cdf[bins[1:] - 1]]), 1.0 - cdf[-1]] * len(wait)
    observed = np.r_[np.histogram(wait, bins=np.r_[bins + 0.5])[0], (wait > steps).sum()]
    return float(stats.chisquare(observed, expected).pvalue)


def organ_case(mode: str, seed: int, oxygen: bool = True, **switching) -> config.Case:
    """A small primary with oxygen (a hypoxic core) and a secondary; cells that do not
    divide, so that phenotype fractions change by switching only.
    """
    cells = {
        "mode": mode,
        "h_ref": 0.01,
        "proliferation": False,
        "initial": {"count": 300, "fraction_M": 0.0},
        "switching": dict({"on": True, "r_EM": 10.0, "r_ME": 10.0}, **switching),
    }
    geo = dict(BOX, normal_vessels=0, ruptured_vessels=0)
    return config.from_dict(
        {
            "seed": seed,
            "time": {"dt": DT},
            "primary": {"geometry": geo},
            "secondary": [{"name": "lung", "geometry": geo, "colony": 150}],
            "soil": {"oxygen": oxygen},
            "cells": cells,
        }
    )


def fraction_M(case: config.Case, steps: int = 60, comm=MPI.COMM_WORLD) -> dict[str, float]:
    """The primary's cells, EMT and MET after ``steps``, and its mesenchymal fraction f."""
    organ = Organ(case.primary, geometry.build(case.primary.geometry, comm), case)
    for n in range(1, steps + 1):
        organ.step(n)
    m = organ.metrics()
    return {**{k: m[k] for k in ("cells_M", "cells", "emt", "met")}, "f": m["cells_M"] / m["cells"]}


# Macrometastases from mesenchymal arrivals (Tsai et al. 2012). Illustrative settings, raised
# so that lesions grow large within a short run: doubling in 15 steps (T = 0.015), MET over
# ~10 steps once possible (r_ME = 100 per T, against the default 0.2), and motility 2e-3
# L^2/T for both phenotypes (20-40x Franssen's), so that a colony spreads over places
# instead of filling its own (division needs room in the mother's place) and the arms
# differ only in switching.
SITES = [[0.07, 0.07], [0.25, 0.07], [0.07, 0.25], [0.25, 0.25]]  # 18 places apart
PER_SITE = 3  # mesenchymal arrivals at each site
MACRO_STEPS = 130
# AJCC's macro size (2 mm) is ~7850 places of 20 um in 2D (~3e4 cells) per lesion: no test
# of seconds grows it. The threshold here is 0.2 mm, more than 78.5 places: 26 times the
# places that a site's 3 arrivals fill, and out of reach of cells dividing at colonise_M /
# T_M (at most 3 x 2^(0.1 x 130 / 15) = 5.5 cells per site over the run).
MACRO = config.LesionsSpec(micro_mm=0.02, macro_mm=0.2)


def arrivals_case(mode: str, seed: int, r_ME: float) -> config.Case:
    """A secondary (0.32 x 0.32, places of 0.01 = 20 um) with four vessel sites and the
    raised illustrative rates above; MET at r_ME per T.
    """
    geo = {
        "size": [0.32, 0.32],
        "h": 0.01,
        "tumour_radius": 0.02,
        "vessel_radius": 0.01,
        "vessel_min_distance": 0.0,
        "vessel_centres": SITES,
    }
    return config.from_dict(
        {
            "seed": seed,
            "time": {"dt": DT},
            "primary": {"geometry": dict(BOX, normal_vessels=0, ruptured_vessels=0)},
            "secondary": [{"name": "lung", "geometry": geo}],
            "soil": {"oxygen": False},
            "cells": {
                "mode": mode,
                "h_ref": 0.01,
                "D_E": 2e-3,
                "D_M": 2e-3,
                "T_E": 0.015,
                "T_M": 0.015,
                "switching": {"on": True, "r_EM": 0.05, "r_ME": r_ME},
            },
        }
    )


def macrometastases(
    mode: str, seed: int, r_ME: float, steps: int = MACRO_STEPS, comm=MPI.COMM_WORLD
) -> dict:
    """Lesions of the secondary after ``steps`` from PER_SITE mesenchymal arrivals at each
    of its sites, put in through Organ.extravasate and counted by Organ.lesions (the runs'
    machinery) with the MACRO sizes; its cells, and how many arrivals were placed.
    """
    case = arrivals_case(mode, seed, r_ME)
    spec = case.secondary[0]
    organ = Organ(spec, geometry.build(spec.geometry, comm), case, index=1)
    n = len(SITES) * PER_SITE
    ids = np.arange(n, dtype=np.uint64) + np.uint64(5 << 40)
    rows = {
        "id": ids,
        "parent": ids,
        "phenotype": np.full(n, MESENCHYMAL, np.int8),
        "clock": np.zeros(n),
    }
    placed = organ.extravasate(0, np.repeat(np.arange(len(SITES)), PER_SITE), rows, False)
    for k in range(1, steps + 1):
        organ.step(k)
    return {
        **organ.lesions(MACRO, length_mm(1.0, case)),
        "cells": organ.count(),
        "placed": placed,
    }
