"""Manufactured-solution convergence rates through the production solvers."""

import pytest
from mpi4py import MPI

from solver.verification import continuum_rates, mmp_rates

COMM = MPI.COMM_WORLD


@pytest.mark.parallel
@pytest.mark.parametrize("variable", [False, True])
@pytest.mark.parametrize("dim,ns,n_time", [(2, (8, 16, 32), 64), (3, (4, 8, 16), 16)])
def test_mmp_rates(dim, ns, n_time, variable):
    """Also with a reaction rate that changes in space and at every step (lumped diagonal)."""
    r = mmp_rates(dim, COMM, ns=ns, dts=(0.2, 0.1, 0.05), n_time=n_time, variable=variable)
    assert r["space"] >= 1.8, r
    assert r["time"] >= 0.9, r


@pytest.mark.parallel
def test_continuum_rates_2d():
    r = continuum_rates(2, COMM, ns=(16, 32, 64))
    assert r["space"] >= 1.8, r
    assert r["limited"][0] > 0.0, r  # the limiter is on and acts


@pytest.mark.parallel
@pytest.mark.slow
def test_continuum_rates_3d():
    """h = 1/8, 1/16, 1/32 (half the time of 1/10 .. 1/40): rate 1.85 from the last two
    (1.90 with 1/40), and an FCT step left at its low order (alpha = 0) gives about 1."""
    r = continuum_rates(3, COMM, ns=(8, 16, 32))
    assert r["space"] >= 1.8, r
    assert r["limited"][0] > 0.0, r


@pytest.mark.parallel
@pytest.mark.parametrize("dim,ns", [(2, (8, 16, 32)), (3, (4, 8, 16))])
def test_soil_rates(dim, ns):
    """Oxygen, VEGF and niche factor through the Soil class: second order in space, first in
    time (2D)."""
    from solver.verification.mms import soil_rates

    r = soil_rates(dim, COMM, ns=ns, dts=(0.2, 0.1, 0.05), n_time=64)
    for k in ("o", "v", "x"):
        assert r[f"{k}_space"] >= 1.8, r
        assert dim == 3 or r[f"{k}_time"] >= 0.9, r


@pytest.mark.parallel
def test_the_check_verifies_the_equations_the_step_solves(monkeypatch):
    """One home per equation (solver/fields/equations.py): a deliberate change of a source
    term there (oxygen from the new vessels doubled) changes the step and the manufactured
    forcing together, so the check still converges, now to the changed model; a step that
    departs from the home (an extra oxygen source written in the step alone) fails it."""
    from solver.fields.equations import OxygenEquation
    from solver.fields.soil import Soil
    from solver.verification.mms import soil_rates

    def changed(self, c, b):
        bed = self.b0 * (1.0 - self.regression * c / self.capacity)
        supply = self.supply * (bed + 2.0 * b)
        return supply, supply + self.uptake * c

    def run():
        return soil_rates(2, COMM, ns=(8, 16), time_rates=False)

    with monkeypatch.context() as m:
        m.setattr(OxygenEquation, "terms", changed)
        r = run()
    assert r["o_space"] >= 1.8, r

    def departed(self, c, forcing=0.0):
        source, rate = self.oxygen.terms(c, self.b.x.array[: self.n])
        self.solvers["o"].step(source + 0.5 + forcing, rate)

    with monkeypatch.context() as m:
        m.setattr(Soil, "_oxygen", departed)
        r = run()
    assert r["o_space"] < 1.0 and r["v_space"] >= 1.8, r
