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
    r = continuum_rates(3, COMM, ns=(10, 20, 40))
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
