"""The figures of docs/emt.md: EMT and MET measured on the settings of
tests/unit/cells/test_switching.py.

Usage::

    python scripts/emt_figures.py [--seeds 1 2 3 4]

Prints the waiting times of 20000 cells each way against Geometric(1 - exp(-r dt)) (mean
and Pearson's chi-square p-value), the fraction of epithelial survivors that platelets
switch in the blood against P(coated | survived) (1 - exp(-r_plt tau)), the mesenchymal
fraction of the continuum and of each discrete seed after 60 steps on a small primary, and
the lesions above 0.2 mm that mesenchymal arrivals at 4 sites of a secondary grow in 130
steps with and without MET (per seed in discrete mode, once in continuum mode).
"""

from __future__ import annotations

import argparse

import numpy as np
from mpi4py import MPI
from scipy import stats

from solver import config, geometry
from solver.cells.population import EPITHELIAL, MESENCHYMAL, Population
from solver.cells.switching import Switching, coated_given_survival, platelet_emt
from solver.organ import Organ, length_mm

DT = 1e-3
BOX = {"size": [0.2, 0.2], "h": 0.01, "tumour_radius": 0.02, "vessel_min_distance": 0.02}


def waiting(sw: Switching, phenotype: int, signals, cells: int = 20000, steps: int = 400):
    """Steps until each cell first switches (steps + 1: not within ``steps``)."""
    ids = np.arange(cells, dtype=np.uint64) + np.uint64(7 << 40)
    pop = Population.from_columns(
        2,
        {
            "id": ids,
            "phenotype": np.full(cells, phenotype, np.int8),
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
        pop.phenotype[now] = phenotype
    return wait


def chi2(wait: np.ndarray, p: float, steps: int = 400) -> float:
    """Pearson's chi-square p-value against Geometric(p): ten equal-expectation bins + tail."""
    k = np.arange(1, steps + 1)
    cdf = np.cumsum((1.0 - p) ** (k - 1) * p)
    bins = np.r_[0, np.searchsorted(cdf, np.linspace(0.1, 0.9, 9)) + 1, steps]
    expected = np.r_[np.diff(np.r_[0.0, cdf[bins[1:] - 1]]), 1.0 - cdf[-1]] * len(wait)
    observed = np.r_[np.histogram(wait, bins=bins + 0.5)[0], (wait > steps).sum()]
    return float(stats.chisquare(observed, expected).pvalue)


def organ_case(mode: str, seed: int, oxygen: bool = True, **switching) -> config.Case:
    """The tests' small primary (oxygen: a hypoxic core) and secondary, no division."""
    geo = dict(BOX, normal_vessels=0, ruptured_vessels=0)
    return config.from_dict(
        {
            "seed": seed,
            "time": {"dt": DT},
            "primary": {"geometry": geo},
            "secondary": [{"name": "lung", "geometry": geo, "colony": 150}],
            "soil": {"oxygen": oxygen},
            "cells": {
                "mode": mode,
                "h_ref": 0.01,
                "proliferation": False,
                "initial": {"count": 300, "fraction_M": 0.0},
                "switching": dict({"on": True, "r_EM": 10.0, "r_ME": 10.0}, **switching),
            },
        }
    )


def fraction_M(case: config.Case, steps: int = 60) -> float:
    """The primary's mesenchymal fraction after ``steps``."""
    organ = Organ(case.primary, geometry.build(case.primary.geometry, MPI.COMM_WORLD), case)
    for n in range(1, steps + 1):
        organ.step(n)
    m = organ.metrics()
    return m["cells_M"] / m["cells"]


# The macrometastasis test's settings (tests/unit/cells/test_switching.py), illustrative and
# raised so that lesions grow within a short run: see that file.
SITES = [[0.07, 0.07], [0.25, 0.07], [0.07, 0.25], [0.25, 0.25]]
PER_SITE = 3
MACRO = config.LesionsSpec(micro_mm=0.02, macro_mm=0.2)


def macrometastases(mode: str, seed: int, r_ME: float, steps: int = 130) -> dict:
    """Lesions above 0.2 mm in a secondary after ``steps`` from 3 mesenchymal arrivals at
    each of its 4 sites (Organ.extravasate, Organ.lesions), and its cells.
    """
    geo = {
        "size": [0.32, 0.32],
        "h": 0.01,
        "tumour_radius": 0.02,
        "vessel_radius": 0.01,
        "vessel_min_distance": 0.0,
        "vessel_centres": SITES,
    }
    case = config.from_dict(
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
    spec = case.secondary[0]
    organ = Organ(spec, geometry.build(spec.geometry, MPI.COMM_WORLD), case, index=1)
    n = len(SITES) * PER_SITE
    ids = np.arange(n, dtype=np.uint64) + np.uint64(5 << 40)
    rows = {"id": ids, "parent": ids, "phenotype": np.full(n, MESENCHYMAL, np.int8)}
    organ.extravasate(
        0, np.repeat(np.arange(len(SITES)), PER_SITE), dict(rows, clock=np.zeros(n)), False
    )
    for k in range(1, steps + 1):
        organ.step(k)
    return {**organ.lesions(MACRO, length_mm(1.0, case)), "cells": organ.count()}


def main() -> None:
    """Print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4])
    args = ap.parse_args()

    spec = config.SwitchingSpec(on=True, r_EM=4.0, hypoxia=3.0, tgfb=6.0, r_ME=10.0, niche=4.0)
    sw = Switching(spec, seed=5, dt=DT, o_hyp=0.22)
    print("waiting times (20000 cells)    rate  1/p (steps)  mean  chi2 p  p (rate x1.1)")
    for name, phen, signals, rate in (
        ("EMT, hypoxic, T = K_T", EPITHELIAL, (0.1, 1.0, 0.0), 28.0),
        ("MET, N = 0.5", MESENCHYMAL, (0.5, 0.0, 0.5), 30.0),
    ):
        w = waiting(sw, phen, signals)
        p = -np.expm1(-rate * DT)
        print(
            f"  {name:26s} {rate:5.1f}  {1 / p:10.1f}  {w[w <= 400].mean():5.1f}  "
            f"{chi2(w, p):.2f}  {chi2(w, -np.expm1(-1.1 * rate * DT)):.1e}"
        )

    print("platelets (100000 single epithelial survivors, r_plt = 2)  switched  expected  p")
    cells = 100_000
    for survival, tau in (("constant", 0.18), ("hazards", 0.18), ("hazards", 1.0)):
        cfg = config.CirculationSpec(survival=survival)
        rows = {"id": np.arange(cells, dtype=np.uint64), "phenotype": np.zeros(cells, np.int8)}
        unit = rows["id"] + np.uint64(1 << 50)
        taus = np.full(cells, tau)
        phen = platelet_emt(
            config.SwitchingSpec(on=True, platelet=2.0), cfg, 9, 200, rows, unit, taus, taus
        )
        want = float(coated_given_survival(cfg, np.ones(1), taus[:1], tau)[0]) * -np.expm1(-2 * tau)
        k = int(phen.sum())
        print(
            f"  {survival:8s} tau = {tau:4.2f}  {k / cells:.3f}  {want:.3f}  "
            f"{stats.binomtest(k, cells, want).pvalue:.2f}"
        )

    cont = fraction_M(organ_case("continuum", 1))
    disc = [fraction_M(organ_case("discrete", s)) for s in args.seeds]
    print(
        f"M fraction after 60 steps: continuum {cont:.3f}, discrete mean {np.mean(disc):.3f} "
        f"(seeds {', '.join(f'{d:.3f}' for d in disc)}; s.d. {np.std(disc, ddof=1):.3f})"
    )
    print("lesions > 0.2 mm from 4 sites of 3 M arrivals, 130 steps: MET (r_ME = 100) | blocked")
    for mode in ("discrete", "continuum"):
        for seed in args.seeds if mode == "discrete" else [1]:
            g, b = macrometastases(mode, seed, 100.0), macrometastases(mode, seed, 0.0)
            print(
                f"  {mode:9s} seed {seed}: {g['macro']} of {len(SITES)} (largest "
                f"{g['largest_lesion_mm']:.2f} mm, {g['cells']:.0f} cells) | {b['macro']} "
                f"(largest {b['largest_lesion_mm']:.2f} mm, {b['cells']:.0f} cells)"
            )


if __name__ == "__main__":
    main()
