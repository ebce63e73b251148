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
from scipy import stats

from solver import config
from solver.cells.population import EPITHELIAL, MESENCHYMAL
from solver.cells.switching import Switching, coated_given_survival, platelet_emt
from solver.verification.switching import (
    DT,
    SITES,
    fraction_M,
    geometric_chi2,
    macrometastases,
    organ_case,
    waiting_times,
)


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
        w, _ = waiting_times(sw, phen, signals)
        p = -np.expm1(-rate * DT)
        print(
            f"  {name:26s} {rate:5.1f}  {1 / p:10.1f}  {w[w <= 400].mean():5.1f}  "
            f"{geometric_chi2(w, p):.2f}  {geometric_chi2(w, -np.expm1(-1.1 * rate * DT)):.1e}"
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

    cont = fraction_M(organ_case("continuum", 1))["f"]
    disc = [fraction_M(organ_case("discrete", s))["f"] for s in args.seeds]
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
