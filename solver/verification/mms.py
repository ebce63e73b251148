"""Manufactured solutions: measured convergence rates of the production field solvers.

Each function builds unit-square/cube meshes, runs the solver class the simulation uses
(lumping, limiter and sub-cycling on), and returns the observed rates with the errors behind
them. The equations are the step's own (solver/fields/equations.py), their reaction terms
evaluated on ufl expressions here and on nodal arrays in the step: a change there changes
what is verified. Exact solutions are ufl expressions of x and a time Constant, so the
manufactured forcings follow by ufl differentiation (no hand algebra) and are interpolated
into P1 per dof, as cell sources are.
The L2 error is integrated against the ufl expression on a high-degree quadrature.
"""

from __future__ import annotations

import math
import time
from typing import Any

import dolfinx.fem as fem
import dolfinx.mesh as dmesh
import numpy as np
import ufl
from mpi4py import MPI

from solver import config
from solver.config import CellsSpec
from solver.fields.continuum import ContinuumCells
from solver.fields.equations import ContinuumEquation, MMPEquation
from solver.fields.reaction_diffusion import ReactionDiffusion, lumped_mass, stiffness
from solver.fields.soil import Soil


def _mesh(dim: int, comm, n: int):
    if dim == 2:
        return dmesh.create_unit_square(comm, n, n)
    return dmesh.create_unit_cube(comm, n, n, n)


def _cos(x, dim: int, k: float = 1.0):
    """prod_i cos(k pi x_i): zero normal derivative on the unit box walls."""
    return math.prod(ufl.cos(k * ufl.pi * x[i]) for i in range(dim))


class _Nodal:
    """P1 nodal values of a ufl expression (re-evaluated on demand, e.g. after t changes)."""

    def __init__(self, V, expr):
        self.f = fem.Function(V)
        self.expr = fem.Expression(expr, V.element.interpolation_points)

    def __call__(self) -> np.ndarray:
        self.f.interpolate(self.expr)
        return self.f.x.array


def _l2(uh: fem.Function, exact):
    """Compiled ||uh - exact||_L2 (call it after updating the time Constant)."""
    dx = ufl.dx(metadata={"quadrature_degree": 6})
    form = fem.form((uh - exact) ** 2 * dx)
    comm = uh.function_space.mesh.comm
    return lambda: math.sqrt(comm.allreduce(fem.assemble_scalar(form), op=MPI.SUM))


def _rate(errors, factors) -> float:
    """Observed order from the last two errors; ``factors`` are the refinement ratios."""
    return math.log(errors[-2] / errors[-1]) / math.log(factors[-1])


# ---------------------------------------------------------------------------------------
# MMP (MMPEquation): du/dt = D lap u - Lambda u + Theta c_M + f with prescribed c_M(x, t)
# and the manufactured forcing f, implicit Euler, lumped mass (ReactionDiffusion). With
# ``variable``: an extra rate r(x, t), in the lumped diagonal (oxygen supply and uptake, VEGF
# and niche-factor uptake use it).


def _rate_expr(x, t, dim):
    """A positive reaction rate that varies in space and time."""
    return 1.0 + 0.5 * (1.0 + t) * _cos(x, dim) ** 2


def _mmp_run(dim, comm, n, dt, T, eq: MMPEquation, kind, variable=False):
    msh = _mesh(dim, comm, n)
    V = fem.functionspace(msh, ("Lagrange", 1))
    x = ufl.SpatialCoordinate(msh)
    t = fem.Constant(msh, 0.0)
    tv = ufl.variable(t)
    if kind == "space":  # linear in t: implicit Euler adds no time error
        ue = 2.0 + tv + _cos(x, dim)
    else:  # exponential in t: the time error dominates on a fine mesh
        ue = ufl.exp(-tv) * (2.0 + _cos(x, dim))
    r = _rate_expr(x, tv, dim) if variable else 0.0
    c_M = 1.0 + 0.5 * (1.0 + tv) * _cos(x, dim, 2.0)
    s = ufl.diff(ue, tv) - eq.D * ufl.div(ufl.grad(ue)) + (eq.decay + r) * ue - eq.source(c_M)
    u = fem.Function(V)
    u.interpolate(fem.Expression(ue, V.element.interpolation_points))
    src, cells = _Nodal(V, s), _Nodal(V, c_M)
    rate = _Nodal(V, r) if variable else None
    n_own = V.dofmap.index_map.size_local
    rd = ReactionDiffusion(
        u=u,
        K=stiffness(V),
        lumped=lumped_mass(V),
        D=eq.D,
        decay=eq.decay,
        dt=dt,
        name="mms_mmp",
        rtol=1e-12,
    )
    err = _l2(u, ue)
    steps = round(T / dt)
    for i in range(steps):
        t.value = (i + 1) * dt  # implicit Euler: source and rate at the new time
        rd.step(
            eq.source(cells()[:n_own]) + src()[:n_own], rate()[:n_own] if rate is not None else None
        )
    return err()


def mmp_rates(
    dim: int = 2,
    comm=MPI.COMM_WORLD,
    ns=None,
    dts=(0.2, 0.1, 0.05, 0.025),
    n_time=None,
    D: float = 0.5,
    Lam: float = 0.5,
    T: float = 1.0,
    variable: bool = False,
    Theta: float = 0.5,
) -> dict:
    """Space rate (h halving, time-linear solution) and time rate (dt halving, fine mesh) of
    MMPEquation with D, Lambda = ``Lam`` and ``Theta``; ``variable``: with a reaction rate
    that changes in space and every step.
    """
    eq = MMPEquation.of(config.MMPSpec(D=D, Lambda=Lam, Theta=Theta))
    ns = ns or ((8, 16, 32, 64) if dim == 2 else (8, 16, 32))
    n_time = n_time or (128 if dim == 2 else 16)
    t0 = time.perf_counter()
    es = [_mmp_run(dim, comm, n, 0.1, 0.5, eq, "space", variable) for n in ns]
    et = [_mmp_run(dim, comm, n_time, dt, T, eq, "time", variable) for dt in dts]
    return dict(
        space=_rate(es, [a / b for a, b in zip(ns[1:], ns)]),
        time=_rate(et, [a / b for a, b in zip(dts, dts[1:])]),
        ns=list(ns),
        space_errors=es,
        dts=list(dts),
        time_errors=et,
        seconds=time.perf_counter() - t0,
    )


# ---------------------------------------------------------------------------------------
# Continuum cells: taxis-diffusion-growth of c_E and c_M with a prescribed ECM w(x).


def _continuum_run(dim, comm, n, params, T, dt_h2):
    msh = _mesh(dim, comm, n)
    V = fem.functionspace(msh, ("Lagrange", 1))
    x = ufl.SpatialCoordinate(msh)
    # c_k = a_k(t) g_k(x): strictly positive, zero normal derivative; grad w . n = 0 on the walls.
    we = 0.5 + 0.3 * _cos(x, dim)
    g = [1.0 + 0.6 * _cos(x, dim), 1.0 + 0.5 * _cos(x, dim, 2.0)]
    a = [lambda t: 1.0 + 0.5 * t, lambda t: math.exp(-0.5 * t)]
    da = [lambda t: 0.5, lambda t: -0.5 * math.exp(-0.5 * t)]
    eq = ContinuumEquation.of(params, dim)
    # Separable in t: nodal g, lap g and div(g grad w) once, the source per step in numpy.
    G = [_Nodal(V, gk)().copy() for gk in g]
    LG = [_Nodal(V, ufl.div(ufl.grad(gk)))().copy() for gk in g]
    TG = [_Nodal(V, ufl.div(gk * ufl.grad(we)))().copy() for gk in g]

    def source(k, t):  # dc/dt - D lap c + Phi div(c grad w) - growth
        S = a[0](t) * G[0] + a[1](t) * G[1]
        return (
            da[k](t) * G[k]
            - eq.D[k] * a[k](t) * LG[k]
            + eq.Phi[k] * a[k](t) * TG[k]
            - eq.growth(k, a[k](t) * G[k], S)
        )

    w = fem.Function(V)
    w.interpolate(fem.Expression(we, V.element.interpolation_points))
    cs = [fem.Function(V) for _ in g]
    for k, f in enumerate(cs):
        f.x.array[:] = a[k](0.0) * G[k]
    # Step ~ h^2 so that the first-order splitting error is O(h^2); sub-cycling may split further.
    steps = math.ceil(T * n**2 / dt_h2)
    dt = T / steps
    cc = ContinuumCells(V=V, lumped=lumped_mass(V), params=params, dt=dt, c_E=cs[0], c_M=cs[1])
    tc = fem.Constant(msh, T)
    errs = [
        _l2(f, (1.0 + 0.5 * tc) * g[0] if k == 0 else ufl.exp(-0.5 * tc) * g[1])
        for k, f in enumerate(cs)
    ]
    limited, subs = 0.0, 0
    for i in range(steps):
        tm = (i + 0.5) * dt  # frozen source at the step midpoint
        cc.step(w, source(0, tm), source(1, tm))
        limited, subs = max(limited, cc.limited), max(subs, cc.substeps)
    return [e() for e in errs], limited, subs, steps


def continuum_rates(
    dim: int = 2,
    comm=MPI.COMM_WORLD,
    ns=None,
    T: float = 0.2,
    params: CellsSpec | None = None,
    dt_h2: float = 10.0,
) -> dict:
    """Space rate of ContinuumCells (limiter on) for both phenotypes, h halving, dt ~ h^2."""
    ns = ns or ((16, 32, 64, 128) if dim == 2 else (10, 20, 40))
    params = params or CellsSpec(
        D_E=0.02, D_M=0.01, Phi_E=0.3, Phi_M=0.6, T_E=1.0, T_M=1.0, proliferation=True
    )
    # cell Peclet Phi |grad w| h / D up to ~3.5 on the coarsest 2D mesh: the limiter acts
    t0 = time.perf_counter()
    runs = [_continuum_run(dim, comm, n, params, T, dt_h2) for n in ns]
    eE, eM = [r[0][0] for r in runs], [r[0][1] for r in runs]
    fac = [a / b for a, b in zip(ns[1:], ns)]
    rE, rM = _rate(eE, fac), _rate(eM, fac)
    return dict(
        space=min(rE, rM),
        space_E=rE,
        space_M=rM,
        ns=list(ns),
        errors_E=eE,
        errors_M=eM,
        limited=[r[1] for r in runs],
        substeps=[r[2] for r in runs],
        steps=[r[3] for r in runs],
        seconds=time.perf_counter() - t0,
    )


# ---------------------------------------------------------------------------------------
# The soil: oxygen, VEGF and niche factor through the Soil class (production path), each
# with a manufactured forcing, prescribed cells c(x, t) and new vessels b(x).


def _soil_run(dim, comm, n, dt, T, kind):
    msh = _mesh(dim, comm, n)
    V = fem.functionspace(msh, ("Lagrange", 1))
    x = ufl.SpatialCoordinate(msh)
    t = fem.Constant(msh, 0.0)
    tv = ufl.variable(t)
    time_part = (1.0 + tv) if kind == "space" else ufl.exp(-tv)
    exact = {
        "o": 0.5 + 0.3 * time_part * _cos(x, dim),
        "v": time_part * (1.0 + 0.5 * _cos(x, dim)),
        "x": time_part * (1.0 + 0.5 * _cos(x, dim, 2.0)),
    }
    c = 1.0 + 0.5 * (1.0 + tv) * _cos(x, dim) ** 2  # below Q = 4: the regression min(c/Q, 1) is c/Q
    b = 0.5 + 0.25 * _cos(x, dim)
    spec = config.OrganSpec(
        oxygen=config.OxygenSpec(D=0.5, supply=2.0, uptake=1.0, b0=0.3, regression=0.5),
        vegf=config.VEGFSpec(D=0.3, decay=1.0, vessel_uptake=0.7, s_cells=0.0, s_niche=0.0),
        niche=config.NicheSpec(D=0.2, decay=0.5, uptake=0.5),
    )
    soil = Soil(
        V=V,
        K=stiffness(V),
        lumped=lumped_mass(V),
        spec=spec,
        flags=config.SoilSpec(oxygen=True, vegf=True, niche=True),
        dt=dt,
        petsc={},
        rtol=1e-12,
        capacity=4.0,
    )
    ox, vg, nx = soil.oxygen, soil.vegf, soil.niche  # the step's equations

    def residual(name, eq, source, rate):  # du/dt - D lap u + (decay + rate) u - source
        u = exact[name]
        return ufl.diff(u, tv) - eq.D * ufl.div(ufl.grad(u)) + (eq.decay + rate) * u - source

    N = 0.0 * c  # no conditioning (the step's N is its own ODE's, not prescribed)
    forcing = {
        "o": residual("o", ox, *ox.terms(c, b)),
        "v": residual("v", vg, vg.source(c, vg.hypoxic(exact["o"]), N), vg.rate(b)),
        "x": residual("x", nx, 0.0, 0.0),
    }  # no plasma uptake
    soil.b.interpolate(fem.Expression(b, V.element.interpolation_points))
    for name, e in exact.items():
        soil.fields[name].interpolate(fem.Expression(e, V.element.interpolation_points))
    f = {k: _Nodal(V, v) for k, v in forcing.items()}
    cn = _Nodal(V, c)
    m = V.dofmap.index_map.size_local
    errs = {k: _l2(soil.fields[k], e) for k, e in exact.items()}
    for i in range(round(T / dt)):
        t.value = (i + 1) * dt  # implicit Euler: coefficients and sources at the new time
        soil.step(cn()[:m], 0.0, True, {k: g()[:m].copy() for k, g in f.items()})
    return {k: e() for k, e in errs.items()}


def soil_rates(
    dim: int = 2,
    comm=MPI.COMM_WORLD,
    ns=None,
    dts=(0.2, 0.1, 0.05, 0.025),
    n_time=96,
    time_rates: bool | None = None,
) -> dict:
    """Space rates of o, v and x through Soil (lumped diagonal, frozen coefficients) and,
    in 2D by default, time rates: the time discretisation does not depend on the
    dimension, and oxygen's time error (it relaxes fast) only shows on a fine mesh.
    """
    ns = ns or ((8, 16, 32, 64) if dim == 2 else (6, 12, 24))
    time_rates = dim == 2 if time_rates is None else time_rates
    t0 = time.perf_counter()
    es = [_soil_run(dim, comm, n, 0.1, 0.5, "space") for n in ns]
    et = [_soil_run(dim, comm, n_time, dt, 1.0, "time") for dt in dts] if time_rates else []
    out: dict[str, Any] = {"seconds": 0.0}
    for k in ("o", "v", "x"):
        out[f"{k}_space"] = _rate([e[k] for e in es], [a / b for a, b in zip(ns[1:], ns)])
        out[f"{k}_space_errors"] = [e[k] for e in es]
        if et:
            out[f"{k}_time"] = _rate([e[k] for e in et], [a / b for a, b in zip(dts, dts[1:])])
            out[f"{k}_time_errors"] = [e[k] for e in et]
    out["seconds"] = time.perf_counter() - t0
    return out
