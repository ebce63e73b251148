"""The figures of docs/survival.md: survival in the blood under hazards, measured on the blood
alone (solver/circulation.py) against the closed form, and the anti-platelet factor.

Usage::

    python scripts/survival_figures.py

For each parameter set of tests/unit/test_survival.py, 10^6 single cells and 10^5 clusters
enter the blood in three cohorts (0.30, 0.24 and 0.18 in the blood when they leave); the
table gives per cluster size and time the survivors' fraction, the hazard integral's
survival and the exact binomial test's p-value. Then the anti-platelet factor measured on
500,000 single cells and 50,000 three-cell clusters against its prediction.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import binomtest

from solver import config
from solver.circulation import Blood, survival_probability

DT, TRANSIT = 1e-3, 180
HAZARDS = {
    "bare": dict(coated=0.0, size_exponent=0.0),
    "defaults": {},
    "coated": dict(
        coated=1.0, shield_shear=0.8, shield_nk=0.95, shield_baseline=0.3, size_exponent=1.0
    ),
}


def run(h: config.HazardsSpec, cohorts, antiplatelet=()) -> np.ndarray:
    """Enter ``cohorts`` ((step, sizes), ...), leave together; whether each unit survived."""
    cfg = config.CirculationSpec(T_V=TRANSIT * DT, P_d=0.0, survival="hazards", hazards=h)
    b = Blood(
        cfg=cfg,
        secondaries=["lung"],
        sites=[1],
        p_ext=[1.0],
        seed=11,
        dt=DT,
        antiplatelet=list(antiplatelet),
    )
    units = []
    for k, (step, sizes) in enumerate(cohorts):
        n = int(sizes.sum())
        ids = np.arange(n, dtype=np.uint64) + np.uint64(k * 10**7)
        u = np.arange(len(sizes), dtype=np.uint64) + np.uint64(k * 10**7 + 10**9)
        b.enter(
            {"id": ids, "parent": ids, "phenotype": np.zeros(n, np.int8), "clock": np.zeros(n)},
            np.repeat(u, sizes),
            step=step,
            origin=0,
        )
        units.append(u)
    last = max(step for step, _ in cohorts) + TRANSIT
    arrived = np.concatenate([a.unit for a in b.leave(last)])
    return np.isin(np.concatenate(units), arrived)


def main() -> None:
    """Print the tables of docs/survival.md."""
    rng = np.random.default_rng(3)
    cohorts = [
        (step, np.r_[np.ones(333_334, np.int64), rng.choice([2, 3, 5, 8], 33_334)])
        for step in (0, 60, 120)
    ]
    size = np.concatenate([s for _, s in cohorts])
    entered = np.concatenate([np.full(len(s), step) for step, s in cohorts])
    print("| hazards | n | tau | units | survived | expected | p-value |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, kw in HAZARDS.items():
        h = config.HazardsSpec(**kw)
        alive = run(h, cohorts)
        for step in (0, 60, 120):
            tau = (120 + TRANSIT - step) * DT
            for n in (1, 2, 3, 5, 8):
                g = (size == n) & (entered == step)
                k, m = int(alive[g].sum()), int(g.sum())
                p = float(survival_probability(h, np.array([n]), np.array([tau]), tau)[0])
                pv = binomtest(k, m, p).pvalue
                print(f"| {name} | {n} | {tau:.2f} | {m} | {k / m:.4f} | {p:.4f} | {pv:.2f} |")
    print()
    print("| start | strength | n | survived without | with | factor | predicted | p-value |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    h = config.HazardsSpec(coated=0.8)
    sizes = np.r_[np.ones(500_000, np.int64), np.full(50_000, 3)]
    without = run(h, [(0, sizes)])
    tau = TRANSIT * DT
    for start, strength in ((0.0, 0.6), (0.09, 1.0)):
        drug = config.InterventionSpec(kind="antiplatelet", start=start, strength=strength)
        treated = run(h, [(0, sizes)], [drug])
        acts = max(np.ceil(start / DT - 1e-9) - 1, 0) * DT  # Body.treat's step times
        kept = tau - strength * (tau - acts)
        for n in (1, 3):
            p0 = survival_probability(h, np.array([n]), np.array([tau]), tau)[0]
            p1 = survival_probability(h, np.array([n]), np.array([tau]), kept)[0]
            k0, k1 = int(without[sizes == n].sum()), int(treated[sizes == n].sum())
            pv = binomtest(k1, k0, p1 / p0).pvalue
            print(
                f"| {start} | {strength} | {n} | {k0} | {k1} | {k1 / k0:.4f} | {p1 / p0:.4f} "
                f"| {pv:.2f} |"
            )


if __name__ == "__main__":
    main()
