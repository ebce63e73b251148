"""ECM and MMP fields: exactness, bounds and positivity under random parameters."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mpi4py import MPI
from petsc4py import PETSc

from solver import config, geometry
from solver.fields import ecm
from solver.fields.equations import ECMEquation
from solver.organ import Organ

COMM = MPI.COMM_WORLD
rates = st.floats(0, 1e3, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(
    w0=st.floats(0, 1),
    cM=rates,
    m=st.floats(-10, 1e3),
    g1=rates,
    g2=rates,
    dep=rates,
    dt=st.floats(1e-6, 10),
)
def test_ecm_exact_step_stays_in_unit_interval(w0, cM, m, g1, g2, dep, dt):
    w = np.array([w0])
    ecm.step(w, dt, ECMEquation(g1, g2), np.array([cM]), np.array([m]), dep)
    assert 0.0 <= w[0] <= 1.0


def test_ecm_matches_the_closed_form():
    w = np.array([0.8, 0.8])
    a = 1.5 * 0.7 + 2.0 * 0.3  # Gamma1 c_M + Gamma2 m
    ecm.step(w, 0.2, ECMEquation(1.5, 2.0), np.array([0.7, 0.7]), np.array([0.3, -0.3]))
    assert np.isclose(w[0], 0.8 * np.exp(-a * 0.2), rtol=1e-14)
    assert np.isclose(w[1], 0.8 * np.exp(-1.5 * 0.7 * 0.2), rtol=1e-14)  # m+ = max(m, 0)


@pytest.fixture(scope="module")
def small_mesh():
    geo = config.GeometrySpec(
        size=[0.2, 0.2], h=0.02, tumour_radius=0.03, normal_vessels=0, ruptured_vessels=0
    )
    return geo


def _bounded_case(small_mesh, D, theta, lam, g1, g2, dt, phi, petsc=None):
    return config.from_dict(
        {
            "time": {"dt": dt},
            "primary": {
                "geometry": small_mesh.model_dump(),
                "mmp": {"D": D, "Theta": theta, "Lambda": lam},
                "ecm": {"Gamma1": g1, "Gamma2": g2},
            },
            "cells": {
                "h_ref": 0.02,
                "Phi_M": phi,
                "Phi_E": phi,
                "D_M": 1e-3,
                "D_E": 1e-3,
                "T_E": 0.01,
                "T_M": 0.01,
                "initial": {"count": 60},
            },
            "solver": {"petsc": petsc or {}},
        }
    )


def _steps_stay_bounded(case, steps=7):
    """Step an organ and check, after every step, that the step succeeded (a failed step
    restores the old fields, which would pass the bounds on stale values), that the fields
    moved where their sources say they must, and the bounds 0 <= w <= 1, m >= 0."""
    organ = Organ(case.primary, geometry.build(case.primary.geometry, COMM), case)
    theta, g1 = case.primary.mmp.Theta, case.primary.ecm.Gamma1
    for n in range(1, steps + 1):
        m_old, w_old = (
            organ._integral(organ.fields["m"].x.array),
            organ._integral(organ.fields["w"].x.array),
        )
        # The step's source where there is ECM to remove (cells move first, but stay): where w
        # is already 0 under the cells (g2 m w took it), Gamma1 c_M removes nothing.
        c_M = organ._integral(organ.fields["c_M"].x.array)
        c_M_w = organ._integral(organ.fields["c_M"].x.array * organ.fields["w"].x.array)
        organ.step(n)
        assert organ.failure is None, organ.failure
        w, m = organ.fields["w"].x.array, organ.fields["m"].x.array
        m_new, w_new = organ._integral(m), organ._integral(w)
        # Theta c_M > 0 produces MMP (implicit Euler: m_new > m_old / (1 + dt Lambda) > 0);
        # Gamma1 c_M > 0 removes ECM (exactly, w * exp(-dt Gamma1 c_M) where c_M > 0).
        if theta * c_M > 1e-300:
            assert m_new > m_old / (1.0 + case.time.dt * case.primary.mmp.Lambda), (n, m_old, m_new)
        if g1 * c_M_w * case.time.dt > 1e-12:
            assert w_new < w_old or w_new == 0.0, (n, w_old, w_new)
        assert COMM.allreduce(bool(((w >= 0) & (w <= 1)).all()), op=MPI.LAND)
        assert COMM.allreduce(float(m.min()), op=MPI.MIN) >= -1e-12 * max(
            1.0, COMM.allreduce(float(m.max()), op=MPI.MAX)
        )


@pytest.mark.parallel
@settings(max_examples=12, deadline=None)
@given(
    D=st.floats(0, 1),
    theta=st.floats(0, 100),
    lam=st.floats(0, 10),
    g1=st.floats(0, 100),
    g2=st.floats(0, 100),
    dt=st.sampled_from([1e-4, 1e-3, 1e-2, 0.1]),
    phi=st.floats(0, 1e-2),
)
def test_w_in_unit_interval_and_m_nonnegative(small_mesh, D, theta, lam, g1, g2, dt, phi):
    params = COMM.bcast(
        (D, theta, lam, g1, g2, dt, phi), root=0
    )  # every rank runs the same example
    _steps_stay_bounded(_bounded_case(small_mesh, *params))


@pytest.mark.parallel
def test_the_bounds_check_catches_a_failed_step(small_mesh):
    """A one-iteration MMP solver fails every step and leaves the old (bounded) fields:
    the check above must refuse it rather than pass on stale values."""
    case = _bounded_case(small_mesh, 1e-2, 10.0, 1.0, 10.0, 10.0, 1e-2, 1e-3, {"mmp_ksp_max_it": 1})
    with pytest.raises(AssertionError, match="field 'mmp'"):
        _steps_stay_bounded(case)


@pytest.mark.parallel
def test_mmp_mass_balance(small_mesh):
    """With zero flux, d/dt int m = Theta int c_M - Lambda int m, exactly for implicit
    Euler with the lumped mass (the stiffness rows sum to zero)."""
    case = config.from_dict(
        {
            "primary": {"geometry": small_mesh.model_dump()},
            "cells": {"h_ref": 0.02, "initial": {"count": 60}},
        }
    )
    organ = Organ(case.primary, geometry.build(case.primary.geometry, COMM), case)
    mmp = case.primary.mmp
    total = 0.0
    for n in range(1, 20):
        organ.step(n)
        new = organ._integral(organ.fields["m"].x.array)
        source = organ._integral(organ.fields["c_M"].x.array) * mmp.Theta
        assert (
            abs(new - (total + case.time.dt * (source - mmp.Lambda * new)))
            < 1e-10 * max(new, 1e-30) + 1e-14
        )
        total = new
    assert total > 0


@pytest.mark.parallel
def test_m_matrix_stiffness_on_an_obtuse_3d_mesh():
    """Gmsh's tetrahedra are mostly obtuse: the m_matrix option removes every positive
    off-diagonal entry and keeps the row sums (zero: conservation)."""
    import dolfinx.fem as fem

    from solver.fields.reaction_diffusion import stiffness

    geo = config.GeometrySpec(
        dim=3,
        size=[0.3, 0.3, 0.3],
        h=0.06,
        tumour_radius=0.05,
        normal_vessels=0,
        ruptured_vessels=0,
    )
    V = fem.functionspace(geometry.build(geo, COMM).mesh, ("Lagrange", 1))
    for fix in (False, True):
        K = stiffness(V, fix)
        ai, aj, av = K.getValuesCSR()
        rows = np.repeat(np.arange(len(ai) - 1), np.diff(ai)) + K.getOwnershipRange()[0]
        positive = COMM.allreduce(int(((av > 1e-14) & (aj != rows)).sum()))
        assert (positive == 0) == fix
        ones = K.createVecRight()
        ones.set(1.0)
        assert (K * ones).norm(PETSc.NormType.INFINITY) < 1e-12


@pytest.mark.parallel
def test_negative_part_is_what_a_clip_at_zero_removes(small_mesh):
    """metrics' <field>_negative: int max(-u, 0) / int |u| with the lumped mass, against
    the P1 field's exact integrals of a field that changes sign on a line."""
    import dolfinx.fem as fem
    import ufl

    case = config.from_dict(
        {
            "primary": {"geometry": small_mesh.model_dump()},
            "cells": {"h_ref": 0.02, "initial": {"count": 60}},
        }
    )
    organ = Organ(case.primary, geometry.build(case.primary.geometry, COMM), case)
    m = organ.fields["m"]
    m.interpolate(lambda x: x[0] - 0.05)  # negative on x < 0.05 of [0, 0.2]: a quarter of the box
    assert organ.metrics()["mmp_negative"] == pytest.approx(
        0.05**2 / (0.05**2 + 0.15**2), rel=0.02
    )  # 0.1
    m.x.array[:] = np.abs(m.x.array)
    assert organ.metrics()["mmp_negative"] == 0.0
    m.x.array[:] = -1.0
    total = COMM.allreduce(fem.assemble_scalar(fem.form(fem.Constant(organ.mesh, 1.0) * ufl.dx)))
    assert organ.negative_part("m") == 1.0 and organ.volume == pytest.approx(total, rel=1e-12)


@pytest.mark.parallel
def test_petsc_options_are_per_organ_and_field_and_removed_after_use(small_mesh, tmp_path):
    """Case-file PETSc options reach each solver under its own prefix
    (seedsoil_<organ>_<field>_) and leave PETSc's global options database once read, so a
    second run in the same process gets the defaults; serial and on 2 ranks."""
    from solver.simulation import Simulation

    def run(petsc, name):
        case = config.from_dict(
            {
                "time": {"dt": 1e-3, "steps": 2},
                "soil": {"oxygen": True},
                "primary": {"geometry": small_mesh.model_dump()},
                "cells": {"h_ref": 0.02, "initial": {"count": 20}},
                "solver": {"petsc": petsc},
                "output": {"every": 100, "plots": False},
            }
        )
        out = COMM.bcast(str(tmp_path / name), root=0)
        sim = Simulation(case, out, COMM, quiet=True)
        sim.run()
        sim.close()
        return sim.organ.solvers()

    first = run({"ksp_type": "gmres", "oxygen_ksp_max_it": 77, "mmp_pc_type": "none"}, "with")
    assert first["m"].ksp.getOptionsPrefix() == "seedsoil_primary_mmp_"
    assert first["o"].ksp.getOptionsPrefix() == "seedsoil_primary_oxygen_"
    assert {k: s.ksp.getType() for k, s in first.items()} == {"m": "gmres", "o": "gmres"}
    assert first["o"].ksp.getTolerances()[3] == 77 and first["m"].ksp.getTolerances()[3] != 77
    assert (
        first["m"].ksp.getPC().getType() == "none" and first["o"].ksp.getPC().getType() == "bjacobi"
    )
    left = [k for k in PETSc.Options().getAll() if "ksp_" in k or "pc_" in k]
    assert left == [], left
    second = run({}, "without")
    assert {k: s.ksp.getType() for k, s in second.items()} == {"m": "cg", "o": "cg"}
    assert (
        second["m"].ksp.getPC().getType() == "jacobi" and second["o"].ksp.getTolerances()[3] != 77
    )
