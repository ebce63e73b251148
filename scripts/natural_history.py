"""The natural history the clinical_course case will be compared with: per primary type the
cited growth kinetics and the non-spatial reference model's times to the first metastasis of
each size, from a 1.5 cm primary (docs/kinetics.md).

Usage::

    python scripts/natural_history.py

Prints (1) per type the volume doubling time, T_pot, Steel's cell-loss factor and the per-cell
rates, the shedding rate per cell and the cells a 1.5 cm primary sheds per day; (2) the
reference model's median [10 %, 90 %] times to the first metastasis above 0.2 mm (AJCC
micrometastasis), 2 mm (AJCC macrometastasis: the same size) and 5 mm, with P(by 5 years),
for three growth assumptions; (3) the sensitivity to the dissemination rate; (4) the
verification against the closed forms, with the errors; (5) Iwata's fit reproduced; (6) the
model resected at diagnosis against a published breast-cancer metastasis-free probability.
Runs in a few seconds.
"""

from __future__ import annotations

import math

import numpy as np

from solver import config
from solver.kinetics import (
    DENSITY_G_PER_CM3,
    KINETICS,
    SHEDDING,
    STEEL,
    cells_in_sphere,
    per_cell_rates,
    shedding_per_cell_per_day,
)
from solver.metastasis_sizes import (
    IWATA,
    IWATA_SOURCE,
    Dissemination,
    Exponential,
    Gompertz,
    ReferenceModel,
    Solution,
    born_exponential,
    born_gompertz_first,
    malthusian_rate,
)

PRIMARY_MM = 15.0  # the clinical primary, about 1.5 cm
YEAR = 365.25
HORIZON = 100 * YEAR  # times beyond are reported as censored (> 100 y)
DT = 1.0  # days: the quadrature's error at this step is printed in section 4
PLATEAU = 1.0e12  # cells, Gompertz variant: illustrative (about 1 kg, a lethal burden)
LESIONS = config.LesionsSpec()
SIZES_MM = (LESIONS.micro_mm, LESIONS.macro_mm, 5.0)
LN100 = math.log(2.0) / 100.0  # 1/day: exponential growth doubling in 100 days (verification)


def fmt_days(t: float) -> str:
    """Days as years with one decimal, '>100' when censored at the horizon."""
    return ">100" if math.isinf(t) else f"{t / YEAR:.1f}"


def times(sol: Solution, mm: float) -> str:
    """The median [10 %, 90 %] in years and P(by 5 years) of the first metastasis above mm."""
    cells = float(cells_in_sphere(mm))
    q = [sol.quantile(cells, p) for p in (0.5, 0.1, 0.9)]
    p5 = 1.0 - float(sol.p_none(cells, 5 * YEAR))
    return f"{fmt_days(q[0]):>5} [{fmt_days(q[1])}, {fmt_days(q[2])}] {p5:4.2f}"


def kinetics_table() -> None:
    """Section 1: the cited kinetics and the rates they imply."""
    primary_cells = float(cells_in_sphere(PRIMARY_MM))
    per_cell = shedding_per_cell_per_day()
    print("1. Growth kinetics per primary type (days; rates per cell per day)")
    print(f"   Steel's relation VDT = T_pot / (1 - phi): {STEEL}")
    head = "   type        VDT  spread          T_pot  phi    birth   loss    net"
    print(head)
    for name, kin in KINETICS.items():
        birth, loss, net = per_cell_rates(kin.tpot.value, kin.vdt.value)
        hi = "inf" if math.isinf(kin.vdt.high or 0) else f"{kin.vdt.high:.0f}"
        spread = f"{kin.vdt.low:.0f}-{hi} {kin.vdt.spread.split(' ')[0]}"
        print(
            f"   {name:<10} {kin.vdt.value:5.0f}  {spread:<15} {kin.tpot.value:5.0f}  "
            f"{kin.phi:.3f}  {birth:.4f} {loss:.4f} {net:.5f}"
        )
    for name, kin in KINETICS.items():
        print(f"   {name}: VDT {kin.vdt.source}")
        print(f"   {name}: T_pot {kin.tpot.source}")
        if kin.dormancy is not None:
            print(
                f"   {name}: dormancy {kin.dormancy.value:g} {kin.dormancy.unit}: "
                f"{kin.dormancy.source}"
            )
    print(
        f"   shedding {SHEDDING.value:.1e} {SHEDDING.unit} ({SHEDDING.source}); at "
        f"{config.PACKED_CELLS_PER_CM3:.0e} cells/cm^3 and {DENSITY_G_PER_CM3.value:g} g/cm^3: "
        f"{per_cell:.2e} per cell per day; a {PRIMARY_MM / 10:g} cm primary "
        f"({primary_cells:.2e} cells) sheds {per_cell * primary_cells:.2e} cells per day"
    )


def reference_times() -> None:
    """Section 2: the reference model's times from a 1.5 cm primary, empty organs at t = 0."""
    primary_cells = float(cells_in_sphere(PRIMARY_MM))
    _, spread = IWATA
    rate = float(spread.rate(primary_cells))
    per_shed = rate / (shedding_per_cell_per_day() * primary_cells)
    print()
    print(f"2. Reference model from a {PRIMARY_MM / 10:g} cm primary ({primary_cells:.2e} cells),")
    print("   no metastasis at t = 0, each founded by 1 cell, first generation (metastases do")
    print(f"   not seed); dissemination m x^alpha of Iwata's fit (m = {spread.m:g}, alpha =")
    print(f"   {spread.alpha}; illustrative: the one clinical fit we could check, {IWATA_SOURCE});")
    print(f"   at 1.5 cm {rate:.3f} metastases per day, i.e. {per_shed:.1e} per shed cell.")
    print("   Times in years from t = 0: median [10 %, 90 %] and P(by 5 years), births Poisson.")
    labels = [f"> {mm:g} mm" for mm in SIZES_MM]
    print(
        f"   (> {LESIONS.micro_mm:g} mm: first micrometastasis; > {LESIONS.macro_mm:g} mm: first "
        "macrometastasis (AJCC), the same 2 mm lesion; 5 mm)"
    )
    variants = {
        "E": "exponential at the VDT, primary and metastases",
        "G": f"Gompertz, plateau {PLATEAU:.0e} cells (illustrative), VDT at 1.5 cm",
        "P": "primary at the VDT, metastases at T_pot (no cell loss: a fast bound)",
    }
    for key, text in variants.items():
        print(f"   {key}: {text}")
    print(f"   type       law  {labels[0]:<22} {labels[1]:<22} {labels[2]:<22}")
    for name, kin in KINETICS.items():
        for key in variants:
            sol = model(kin.vdt.value, kin.tpot.value, key, spread).solve(HORIZON, DT)
            cols = " ".join(f"{times(sol, mm):<22}" for mm in SIZES_MM)
            print(f"   {name:<10} {key:<4} {cols}")


def model(vdt: float, tpot: float, key: str, spread: Dissemination) -> ReferenceModel:
    """The reference model of one growth assumption (see section 2's legend)."""
    primary_cells = float(cells_in_sphere(PRIMARY_MM))
    if key == "G":
        law = Gompertz.from_vdt(vdt, primary_cells, PLATEAU)
        return ReferenceModel(law, spread, primary_cells)
    meta = Exponential.from_vdt(tpot) if key == "P" else None
    return ReferenceModel(Exponential.from_vdt(vdt), spread, primary_cells, metastasis=meta)


def sensitivity() -> None:
    """Section 3: median time to the first 2 mm lesion against the dissemination rate."""
    _, spread = IWATA
    two = float(cells_in_sphere(2.0))
    print()
    print("3. Sensitivity (law E): median years to the first lesion > 2 mm against m")
    print("   type       m/100   m/10    m       m*10")
    for name, kin in KINETICS.items():
        cols = []
        for f in (0.01, 0.1, 1.0, 10.0):
            sol = model(kin.vdt.value, kin.tpot.value, "E", spread.scaled(f)).solve(HORIZON, DT)
            cols.append(f"{fmt_days(sol.median(two)):>6}")
        print(f"   {name:<10}" + "  ".join(cols))


def verification() -> None:
    """Section 4: the quadrature against the closed forms, errors and observed order."""
    print()
    print("4. Verification against closed forms (max relative error over the grid)")
    law, spread = IWATA
    t = np.linspace(0.0, 3000.0, 31)
    err = np.max(np.abs(law.integrated(1.0, t) - law.size(1.0, t)) / law.size(1.0, t))
    print(f"   Gompertz curve (Iwata's a, b) vs the ODE integrated (rtol 1e-12): {err:.1e}")
    cases = {
        "Gompertz primary, first generation, vs E1 closed form (3000 d)": (
            ReferenceModel(law, spread, 1.0),
            lambda s: born_gompertz_first(law, spread, 1.0, s.t),
            3000.0,
        ),
        "exponential, alpha = 1, metastases seed, vs closed form (2000 d)": (
            ReferenceModel(Exponential(LN100), Dissemination(0.01, 1.0), 1.0, secondary=True),
            lambda s: born_exponential(LN100, 0.01, 1.0, s.t, True),
            2000.0,
        ),
    }
    for text, (ref, exact, horizon) in cases.items():
        errs = []
        for dt in (2.0, 1.0, 0.5):
            sol = ref.solve(horizon, dt)
            ex = exact(sol)
            errs.append(float(np.max(np.abs(sol.born_cum[1:] - ex[1:]) / ex[1:])))
        order = math.log2(errs[1] / errs[2])
        print(f"   {text}:")
        print(
            f"     dt = 2, 1, 0.5 d: {errs[0]:.1e}, {errs[1]:.1e}, {errs[2]:.1e}; order {order:.2f}"
        )
    lam = malthusian_rate(law, spread)
    sol = ReferenceModel(law, spread, 1.0, secondary=True).solve(5000.0, 1.0)
    i1, i2 = np.searchsorted(sol.t, [4000.0, 5000.0])
    slope = math.log(sol.births[i2] / sol.births[i1]) / (sol.t[i2] - sol.t[i1])
    print(
        f"   Iwata's fit, metastases seed: Euler-Lotka rate {lam:.6f}/d, slope of ln B over "
        f"4000-5000 d {slope:.6f}/d (rel. diff. {abs(slope - lam) / lam:.1e})"
    )


def iwata_fit() -> None:
    """Section 5: Iwata's fit reproduced (primary from 1 cell, metastases seed)."""
    law, spread = IWATA
    sol = ReferenceModel(law, spread, 1.0, secondary=True).solve(2000.0, 0.5)
    print()
    print(f"5. Iwata's fit reproduced: {IWATA_SOURCE}")
    print("   day  primary cells  founded   > 1e6     > 1e7     > 1e8     > 1e9 cells")
    for day in (500, 750, 1000, 1250, 1500, 1750, 2000):
        above = "  ".join(f"{float(sol.above(x, day)):8.2f}" for x in (1e6, 1e7, 1e8, 1e9))
        print(
            f"   {day:4d} {float(law.size(1.0, day)):.3e}    {float(sol.born(day)):8.2f}  {above}"
        )


# Gasparini & Humphreys 2022 Stat Methods Med Res 31:862, fitted to Swedish post-menopausal
# breast cancers (screen-detected, two negative screens before): probability of being free
# of detected distant metastases 5 years after the primary's detection and removal.
GASPARINI = {5.0: 0.97, 15.0: 0.89, 35.0: 0.59}
DETECT_DISTANT_MM = 5.0  # illustrative: distant metastases are found at 2-10 mm (issue 16)


def breast_anchor() -> None:
    """Section 6: the model from one cell, resected at diagnosis, against Gasparini's
    metastasis-free probabilities; m calibrated on the 15 mm value, 5 and 35 mm predicted.
    """
    from scipy.optimize import brentq

    vdt = KINETICS["breast"].vdt.value
    det = float(cells_in_sphere(DETECT_DISTANT_MM))
    laws = {
        "E": Exponential.from_vdt(vdt),
        "G": Gompertz.from_vdt(vdt, float(cells_in_sphere(PRIMARY_MM)), PLATEAU),
    }

    def p_meta(law, m: float, alpha: float, d_mm: float) -> float:
        resect = law.time_to(1.0, float(cells_in_sphere(d_mm)))
        ref = ReferenceModel(law, Dissemination(m, alpha), 1.0, resection=resect)
        sol = ref.solve(resect + 5 * YEAR + 1, DT)
        return sol.p_first_between(det, resect, resect + 5 * YEAR)

    def fit_m(law, alpha: float) -> float:
        """The m at which the 15 mm probability is Gasparini's (m in 1e-20 .. 1e-2)."""
        lm = brentq(lambda x: p_meta(law, math.exp(x), alpha, 15.0) - want[15.0], -46.0, -4.6)
        return math.exp(lm)

    want = {d: 1 - free for d, free in GASPARINI.items()}
    print()
    print("6. Breast from one cell, resected at diagnosis, M0 then: P(a distant metastasis")
    print(f"   > {DETECT_DISTANT_MM:g} mm within 5 years) against Gasparini & Humphreys 2022 Stat")
    print("   Methods Med Res 31:862 (Swedish screen-detected cancers); m fitted on 15 mm.")
    print("   law alpha  m fitted    5 mm   15 mm  35 mm")
    print("   Gasparini & Humphreys          " + "  ".join(f"{v:5.3f}" for v in want.values()))
    for key, law in laws.items():
        for alpha in (IWATA[1].alpha, 1.0):
            m = fit_m(law, alpha)
            ps = "  ".join(f"{p_meta(law, m, alpha, d):5.3f}" for d in GASPARINI)
            print(f"   {key}   {alpha:5.3f}  {m:.2e}   {ps}")


if __name__ == "__main__":
    kinetics_table()
    reference_times()
    sensitivity()
    verification()
    iwata_fit()
    breast_anchor()
