"""Clinical growth kinetics (solver/kinetics.py) and the non-spatial reference model of
metastatic growth (solver/metastasis_sizes.py): conversions, Steel's relation, the
quadrature against the closed forms, Iwata's fit, monotonicity in the dissemination rate.
"""

from __future__ import annotations

import math
from typing import get_args

import numpy as np
import pytest

from solver import config, kinetics
from solver.kinetics import (
    KINETICS,
    cells_in_sphere,
    diameter_mm,
    loss_factor,
    per_cell_rates,
    shedding_per_cell_per_day,
    tpot_from_cycle,
    tpot_from_vdt,
    vdt_from_tpot,
)
from solver.metastasis_sizes import (
    IWATA,
    Dissemination,
    Exponential,
    Gompertz,
    ReferenceModel,
    births_exponential,
    born_exponential,
    born_gompertz_first,
    malthusian_rate,
)


def test_sphere_cells_round_trip_and_the_issues_sizes():
    d = np.array([0.0, 0.2, 1.0, 2.0, 5.0, 15.0])
    np.testing.assert_allclose(diameter_mm(cells_in_sphere(d)), d, rtol=1e-12, atol=1e-15)
    # Issue 16 at 10^9 cells per cm^3: about 4e6 cells at 2 mm, 6e7 at 5 mm.
    assert cells_in_sphere(2.0) == pytest.approx(4.18879e6, rel=1e-5)
    assert cells_in_sphere(5.0) == pytest.approx(6.54498e7, rel=1e-5)
    # 1 mm^3 of packed tumour holds the project's 10^6 cells.
    assert cells_in_sphere((6 / math.pi) ** (1 / 3)) == pytest.approx(1e6, rel=1e-12)
    with pytest.raises(ValueError):
        cells_in_sphere(-1.0)


def test_steel_conversions_round_trip():
    for tpot, phi in [(5.0, 0.0), (5.0, 0.97), (28.0, 0.5)]:
        vdt = vdt_from_tpot(tpot, phi)
        assert tpot_from_vdt(vdt, phi) == pytest.approx(tpot, rel=1e-14)
        assert loss_factor(tpot, vdt) == pytest.approx(phi, abs=1e-14)
    assert vdt_from_tpot(5.0, 0.9) == pytest.approx(50.0)
    assert tpot_from_cycle(2.0, 0.4) == pytest.approx(5.0)
    with pytest.raises(ValueError):
        loss_factor(10.0, 5.0)  # a tumour cannot grow faster than its cells are produced
    with pytest.raises(ValueError):
        vdt_from_tpot(5.0, 1.0)


def test_steels_relation_in_the_per_cell_rates():
    """Cells born at ln 2 / T_pot and lost at phi times that: the population doubles in VDT."""
    for kin in KINETICS.values():
        birth, loss, net = per_cell_rates(kin.tpot.value, kin.vdt.value)
        assert birth == pytest.approx(math.log(2) / kin.tpot.value)
        assert loss / birth == pytest.approx(kin.phi)
        assert math.exp(net * kin.vdt.value) == pytest.approx(2.0, rel=1e-12)
        # Why VDT >> cell cycle: carcinomas lose most of the cells they make.
        assert 0.9 < kin.phi < 1.0
    lung = KINETICS["lung"].phi
    assert kinetics.LUNG_PHI_MEASURED.low <= lung <= kinetics.LUNG_PHI_MEASURED.high


def test_the_table_is_cited_and_inside_its_spread():
    types = set(get_args(config.CirculationSpec.model_fields["primary_type"].annotation))
    assert {"breast", "colorectal", "lung", "prostate"} <= set(KINETICS) <= types
    for name, kin in KINETICS.items():
        assert kin.primary == name
        for c in (kin.vdt, kin.tpot, kin.dormancy):
            if c is None:
                continue
            assert c.source.strip() and c.unit
            if c.low is not None and c.high is not None:
                assert c.low <= c.value <= c.high
    with pytest.raises(KeyError, match="melanoma.*breast, colorectal, lung, prostate"):
        kinetics.for_primary("melanoma")
    with pytest.raises(ValueError):
        kinetics.Cited(1.0, "days", " ")


def test_shedding_per_cell_at_the_packed_density():
    # Butler & Gullino's 3.2e6 cells per g per day over 1e9 cells per g.
    assert shedding_per_cell_per_day() == pytest.approx(3.2e-3, rel=1e-12)
    assert shedding_per_cell_per_day(4.1e6) == pytest.approx(4.1e-3, rel=1e-12)


def test_gompertz_curve_against_the_ode():
    law = Gompertz(0.00286, 7.3e10)
    t = np.linspace(0.0, 3000.0, 13)
    # rtol 1e-12 of the integrator: the closed form agrees to well below 1e-9.
    np.testing.assert_allclose(law.size(1.0, t), law.integrated(1.0, t), rtol=1e-9)
    for x in (1e3, 1e6, 1e9):
        assert float(law.size(1.0, law.time_to(1.0, x))) == pytest.approx(x, rel=1e-10)
    assert law.time_to(1.0, law.b) == math.inf
    g = Gompertz.from_vdt(164.0, 1.77e9, 1e12)
    assert g.doubling_time(1.77e9) == pytest.approx(164.0)
    e = Exponential.from_vdt(164.0)
    assert e.time_to(1.0, 2.0) == pytest.approx(164.0)


def _max_rel(sol, exact):
    return float(np.max(np.abs(sol.born_cum[1:] - exact[1:]) / exact[1:]))


def test_quadrature_against_the_closed_forms_second_order():
    """Trapezoidal rule: error ~ dt^2. At dt = 1 day the measured error is 1.8e-4 for both
    cases (scripts/natural_history.py); the bound 3e-4 leaves room for platform rounding but
    not for a first-order rule (error ~ 1e-2 at dt = 1), and the order must be 2 +/- 0.1.
    """
    law, spread = IWATA
    lam, m = math.log(2) / 100, 0.01
    cases = [
        (
            ReferenceModel(law, spread, 1.0),
            lambda s: born_gompertz_first(law, spread, 1.0, s.t),
            3000.0,
        ),
        (
            ReferenceModel(Exponential(lam), Dissemination(m, 1.0), 1.0, secondary=True),
            lambda s: born_exponential(lam, m, 1.0, s.t, True),
            2000.0,
        ),
        (
            ReferenceModel(Exponential(lam), Dissemination(m, 1.0), 7.0),
            lambda s: born_exponential(lam, m, 7.0, s.t, False),
            2000.0,
        ),
    ]
    for ref, exact, horizon in cases:
        e1 = _max_rel(ref.solve(horizon, 1.0), exact(ref.solve(horizon, 1.0)))
        s2 = ref.solve(horizon, 0.5)
        e2 = _max_rel(s2, exact(s2))
        assert e1 < 3e-4
        assert 1.9 < math.log2(e1 / e2) < 2.1
    # The births themselves, where the renewal equation is solved.
    sol = cases[1][0].solve(2000.0, 0.5)
    np.testing.assert_allclose(sol.births, births_exponential(lam, m, 1.0, sol.t, True), rtol=1e-4)


def test_counts_above_a_size_and_the_first_detection():
    """gamma = 1, exponential: N(> s, t) = C(t - tau_s) in closed form; P(none) = exp(-N)."""
    lam, m, x0 = math.log(2) / 100, 1e-6, 1e6
    sol = ReferenceModel(Exponential(lam), Dissemination(m, 1.0), x0).solve(3000.0, 0.25)
    s = 1e4
    tau = math.log(s) / lam
    for t in (500.0, 1500.0, 2500.0):
        exact = born_exponential(lam, m, x0, t - tau, False) if t > tau else 0.0
        assert float(sol.above(s, t)) == pytest.approx(exact, rel=1e-5, abs=1e-12)
    for q in (0.1, 0.5, 0.9):
        t_q = sol.quantile(s, q)
        assert float(sol.p_none(s, t_q)) == pytest.approx(1 - q, rel=1e-5)
        # Closed form: tau + log(1 + lam L / (m x0)) / lam, L = -ln(1 - q).
        exact = tau + math.log1p(lam * -math.log1p(-q) / (m * x0)) / lam
        assert t_q == pytest.approx(exact, rel=1e-5)
    # Detection after the horizon is exact (tau in closed form) ...
    assert sol.quantile(1e30, 0.5) == pytest.approx(
        math.log(1e30) / lam + math.log1p(lam * math.log(2) / (m * x0)) / lam, rel=1e-5
    )
    # ... but fewer births by the horizon than the quantile needs: censored.
    rare = ReferenceModel(Exponential(lam), Dissemination(1e-12, 1.0), 1.0).solve(100.0, 1.0)
    assert rare.quantile(s, 0.5) == math.inf


@pytest.mark.parametrize("T", [600.0, 600.3])  # on the grid and between two points
def test_resection_stops_the_foundings(T):
    """Exponential, alpha = 1, primary removed at T: C(t) = C_exp(min(t, T)); the chance of a
    first metastasis above s in (t0, t1] given none by t0 from the counts' difference.
    """
    lam, m, x0 = math.log(2) / 100, 1e-6, 1e6
    ref = ReferenceModel(Exponential(lam), Dissemination(m, 1.0), x0, resection=T)
    sol = ref.solve(3000.0, 0.5)
    c_t = float(born_exponential(lam, m, x0, T, False))
    # Measured 1e-6 at dt = 0.5 (second order, on or off the grid); a half step of the
    # primary's term after the cut would be 1.8e-3.
    np.testing.assert_allclose(sol.born([1000.0, 3000.0]), c_t, rtol=1e-5)
    s = 1e4
    tau = math.log(s) / lam
    t0, t1 = tau + 300.0, tau + 900.0
    gained = c_t - float(born_exponential(lam, m, x0, 300.0, False))
    assert sol.p_first_between(s, t0, t1) == pytest.approx(-math.expm1(-gained), rel=1e-5)
    # Nothing is founded after the resection, so nothing new grows past s once tau has passed.
    assert sol.p_first_between(s, tau + T, tau + 2000.0) == pytest.approx(0.0, abs=1e-12)
    # Metastases seeding, alpha = 1: with I(t) = int_0^t B e^(-lam u) du, I' = m x0 + m I
    # before T and m I after, so B(t > T) = m e^(lam t) x0 (e^(m T) - 1) e^(m (t - T)).
    # Measured 2e-5 at dt = 0.5 (the jump enters the convolution to first order over a step).
    m2 = 0.01
    ref = ReferenceModel(Exponential(lam), Dissemination(m2, 1.0), secondary=True, resection=T)
    sol = ref.solve(1200.0, 0.5)
    after = sol.t > T + 1.0
    t_a = sol.t[after]
    exact = m2 * np.exp(lam * t_a) * math.expm1(m2 * T) * np.exp(m2 * (t_a - T))
    np.testing.assert_allclose(sol.births[after], exact, rtol=1e-4)


def test_iwatas_fit():
    """Iwata et al. 2000's published parameters, and the long-run rate of their model with
    metastases seeding metastases against the Euler-Lotka root (Devys et al. 2009).
    """
    law, spread = IWATA
    assert (law.a, law.b, spread.m, spread.alpha) == (0.00286, 7.3e10, 5.3e-8, 0.663)
    lam = malthusian_rate(law, spread)
    sol = ReferenceModel(law, spread, 1.0, secondary=True).solve(5000.0, 1.0)
    i1, i2 = np.searchsorted(sol.t, [4000.0, 5000.0])
    slope = math.log(sol.births[i2] / sol.births[i1]) / (sol.t[i2] - sol.t[i1])
    # Measured 8.9e-6 relative: transient of the primary's term plus O(dt^2).
    assert slope == pytest.approx(lam, rel=1e-4)
    assert lam == pytest.approx(0.0058057, rel=1e-4)


def test_earlier_detection_with_more_dissemination():
    law = Exponential.from_vdt(164.0)
    two = float(cells_in_sphere(2.0))
    medians, p5 = [], []
    for m in (1e-10, 1e-9, 1e-8, 5.3e-8, 1e-7):
        sol = ReferenceModel(law, Dissemination(m, 0.663), 1.77e9).solve(100 * 365.25, 1.0)
        medians.append(sol.median(two))
        p5.append(float(sol.p_none(two, 12 * 365.25)))
    assert all(a > b for a, b in zip(medians, medians[1:], strict=False))
    assert all(a > b for a, b in zip(p5, p5[1:], strict=False))


def test_bad_inputs():
    with pytest.raises(ValueError):
        Gompertz(0.0, 1e10)
    with pytest.raises(ValueError):
        Dissemination(1e-8, 1.5)
    with pytest.raises(ValueError):
        Exponential(-1.0)
    sol = ReferenceModel(*IWATA).solve(100.0, 1.0)
    with pytest.raises(ValueError, match="horizon"):
        sol.born(200.0)
    with pytest.raises(ValueError):
        sol.quantile(1e3, 1.0)
