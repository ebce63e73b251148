"""Implicit Euler for du/dt = D lap(u) - (lambda + r) u + s with a lumped (row-sum) mass
matrix (docs/numerics.md, numerics).

The system (M_L (1/dt + lambda + r) + D K) u^{n+1} = M_L (u^n / dt + s) is an M-matrix on
Delaunay meshes, so u stays non-negative for non-negative sources. K is assembled once
and the Krylov solver (CG + Jacobi by default; PETSc options pass through) is reused:
a step is one pointwise right-hand side and one solve. A reaction rate r(x) that changes
every step (uptake by cells or vessels, supply from capillaries) goes into the lumped
diagonal in place, frozen over the step.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import dolfinx.fem as fem
import dolfinx.fem.petsc
import numpy as np
import ufl
from mpi4py import MPI
from petsc4py import PETSc

from solver.config import PETSC_FIELDS


def lumped_mass(V) -> np.ndarray:
    """Row sums of the P1 mass matrix (patch volumes), owned + ghost dofs."""
    v = ufl.TestFunction(V)
    vec = fem.assemble_vector(fem.form(v * ufl.dx))
    vec.scatter_reverse(dolfinx.la.InsertMode.add)
    vec.scatter_forward()
    return vec.array.copy()


def integral(lumped: np.ndarray, values: np.ndarray, comm: MPI.Comm) -> float:
    """The lumped integral sum_i m_i u_i over the owned dofs (``lumped`` cut to them), on
    every rank of ``comm`` (collective).
    """
    return comm.allreduce(float(lumped @ values[: len(lumped)]), op=MPI.SUM)


def negative_part(lumped: np.ndarray, values: np.ndarray, comm: MPI.Comm) -> float:
    """Int max(-u, 0) / int |u| (lumped, owned dofs): the share of a field's mass that a clip
    at zero removes (0 for a field kept non-negative), on every rank of ``comm`` (collective).
    """
    neg = integral(lumped, np.maximum(-values, 0.0), comm)
    tot = integral(lumped, np.abs(values), comm)
    return neg / tot if tot > 0 else 0.0


def stiffness(V, m_matrix: bool = True) -> PETSc.Mat:
    """The P1 stiffness matrix; with ``m_matrix``, made an M-matrix where the mesh is not.

    On meshes with obtuse angles some off-diagonal entries are positive and implicit
    Euler can undershoot below zero. Those entries then get the symmetric discrete
    diffusion of algebraic flux correction (Kuzmin): k_ij -> 0, k_ii += k_ij. Row and
    column sums, hence conservation, are unchanged, and nothing changes on non-obtuse
    meshes. The price is accuracy where many entries change: on Gmsh's 3D meshes (most
    tetrahedra obtuse) it smooths peaks by ~10 %, while the Galerkin undershoot it removes
    is ~1e-5 of the peak, so the case default is on in 2D and off in 3D (docs/numerics.md).
    """
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    K = dolfinx.fem.petsc.assemble_matrix(fem.form(ufl.inner(ufl.grad(u), ufl.grad(v)) * ufl.dx))
    K.assemble()
    if not m_matrix:
        return K
    ai, aj, av = K.getValuesCSR()
    start = K.getOwnershipRange()[0]
    rows = np.repeat(np.arange(len(ai) - 1), np.diff(ai)) + start
    bad = (av > 0) & (aj != rows)
    if K.getComm().tompi4py().allreduce(bool(bad.any()), op=MPI.LOR):  # assemble() is collective
        excess = np.bincount(rows[bad] - start, av[bad], len(ai) - 1)
        av = np.where(bad, 0.0, av)
        av[aj == rows] += excess
        K.setValuesCSR(ai, aj, av)
        K.assemble()
    return K


FIELDS = PETSC_FIELDS  # user-facing option prefixes of the fields ("mmp_", "oxygen_", ...)


def field_options(field: str, options: dict, rtol: float | None = None) -> dict:
    """One field's PETSc options, keys without a prefix: the defaults (given ``rtol``), then
    the user's in their order (an unprefixed key applies to every field, ``<field>_key`` to
    this one).
    """
    # Jacobi for MMP (its lumped mass dominates: 9 iterations); block-Jacobi/ILU(0) for the
    # soil's stiffer sub-cycled systems (3x fewer iterations than Jacobi, faster than GAMG
    # whose set-up each step costs more than it saves; measured, docs/performance.md).
    pc = "bjacobi" if f"{field}_" in FIELDS and field != "mmp" else "jacobi"
    out: dict = {}
    if rtol is not None:
        out = {"ksp_type": "cg", "pc_type": pc, "ksp_rtol": rtol, "ksp_atol": 1e-300}
    for k, v in options.items():
        k = k.lstrip("-")
        if k.startswith(f"{field}_"):
            out[k[len(field) + 1 :]] = v
        elif not k.startswith(FIELDS):  # another field's option is not this one's
            out[k] = v
    return out


def solver_prefix(organ: str, field: str) -> str:
    """The KSP's options prefix, ``seedsoil_<organ>_<field>_`` (characters PETSc would
    misread become ``_``): unique per organ and field of a run.
    """
    return re.sub(r"[^A-Za-z0-9_]", "_", "_".join(p for p in ("seedsoil", organ, field) if p)) + "_"


@contextmanager
def scoped_options(prefix: str, options: dict) -> Iterator[None]:
    """``options`` under ``prefix`` in PETSc's global options database while the block runs,
    removed afterwards (dolfinx's pattern, dolfinx/fem/petsc.py): solvers of other organs,
    fields or simulations in the same process never see them.
    """
    db = PETSc.Options()
    for k, v in options.items():
        db.setValue(prefix + k, v)
    try:
        yield
    finally:
        for k in options:
            db.delValue(prefix + k)


class FieldError(RuntimeError):
    """A field's step failed even in sub-steps (the message names the field and why)."""


class ReactionDiffusion:
    """One scalar P1 field with constant diffusivity, linear decay and an optional
    per-step, per-dof reaction rate.
    """

    def __init__(
        self,
        *,
        u: fem.Function,
        K: PETSc.Mat,
        lumped: np.ndarray,
        D: float,
        decay: float,
        dt: float,
        name: str,
        organ: str = "",
        options: dict | None = None,
        rtol: float = 1e-10,
        positive: bool = False,
    ):
        """Args:
        u: the field, stepped in place.
        K: the P1 stiffness matrix (shared, not modified); lumped: the lumped mass.
        D, decay: diffusivity and linear decay rate.
        dt: the step.
        name: the field's name in messages and options (``<name>_ksp_type``).
        organ: the organ, for the options prefix (``solver_prefix``).
        options: PETSc options (``field_options``); rtol: the Krylov tolerance.
        positive: the operator is an M-matrix, so a value below zero beyond the solver
            tolerance means a fault (checked after every solve with NaN and divergence).
        """
        self.u = u
        self.dt = dt
        self.name, self.positive, self.rtol = name, positive, rtol
        n = u.function_space.dofmap.index_map.size_local
        self.m = lumped[:n]
        A = K.copy()
        A.scale(D)
        diag = A.getDiagonal()
        self._dK = diag.array + self.m * decay  # the diagonal without 1/dt and the per-step rate
        diag.array[:] = self._dK + self.m / dt
        A.setDiagonal(diag)
        self.A = A
        self._diag = diag
        self.ksp = PETSc.KSP().create(u.function_space.mesh.comm)
        self.ksp.setOperators(A)
        # Set under this solver's own prefix only while PETSc reads them: all at setFromOptions;
        # the user's again around each solve (sub-solvers read theirs at the first set-up,
        # viewers and -ksp_converged_reason at the end of every solve). The defaults are read
        # at setFromOptions only (setting them per solve would cost ~60 us a solve).
        self.prefix, self.options = (
            solver_prefix(organ, name),
            field_options(name, options or {}, rtol),
        )
        self._user = field_options(name, options or {})
        self.ksp.setOptionsPrefix(self.prefix)
        with scoped_options(self.prefix, self.options):
            self.ksp.setFromOptions()
        self.ksp.setInitialGuessNonzero(True)
        self.b = A.createVecRight()
        self.iterations = 0  # of the last solve
        self.work = [0, 0]  # solves and Krylov iterations so far (scripts/scaling.py's cost model)
        self.retries = 0  # steps that needed smaller sub-steps
        self.decay = decay
        self.comm = u.function_space.mesh.comm

    def step(
        self, source: np.ndarray | float = 0.0, rate: np.ndarray | float | None = None
    ) -> None:
        """Advance u by dt with volumetric source ``source`` and, if given, the extra linear
        rate ``rate`` (>= 0 keeps the M-matrix), both per owned dof or scalars. A solve
        that diverges, or gives NaN or (``positive``) negative values, is retried as 2, 4
        and 8 sub-steps with the same frozen coefficients (sound: the step's splitting
        freezes them anyway, and a shorter step is better conditioned and closer to
        positive); if all fail, FieldError (collective: every rank of the field raises).
        """
        if self._uniform_step(source, rate):
            return
        u0 = self.u.x.array.copy()
        why, parts = self._advance(self.dt, source, rate), 1
        while why and parts < 8:
            parts *= 2
            self.u.x.array[:] = u0
            for _ in range(parts):
                why = self._advance(self.dt / parts, source, rate)
                if why:
                    break
        if parts > 1:
            self.retries += 1
            self._operator(self.dt, rate)  # the next step starts from the full step's operator
        if why:
            self.u.x.array[:] = u0  # the last good values stay
            raise FieldError(f"field '{self.name}': {why}, also in {parts} sub-steps")

    def _operator(self, dt: float, rate) -> None:
        diag = self._dK + self.m * (1.0 / dt + (0.0 if rate is None else rate))
        if not np.array_equal(diag, self._diag.array):  # unchanged: keep the preconditioner
            self._diag.array[:] = diag
            self.A.setDiagonal(self._diag)
            self.ksp.setOperators(self.A)  # the preconditioner takes the new diagonal

    def _advance(self, dt: float, source, rate) -> str | None:
        """One implicit step of length dt; returns what went wrong, or None (collective)."""
        u, n = self.u, len(self.m)
        self._operator(dt, rate)
        self.b.array[:] = self.m * (u.x.array[:n] / dt + source)
        with scoped_options(self.prefix, self._user):
            self.ksp.solve(self.b, u.x.petsc_vec)
        # petsc4py's stub says KSP.ConvergedReason (the enum class); the value is an int
        reason: int = self.ksp.getConvergedReason()  # type: ignore[assignment]
        self.iterations = self.ksp.getIterationNumber()
        self.work[0] += 1
        self.work[1] += self.iterations
        if reason == PETSc.KSP.ConvergedReason.DIVERGED_NANORINF:
            return "a value is not finite (NaN or inf)"
        if reason < 0:
            names = {v: k for k, v in vars(PETSc.KSP.ConvergedReason).items() if isinstance(v, int)}
            return (
                f"the solver diverged ({names.get(reason, reason)} after "
                f"{self.iterations} iterations)"
            )
        x = u.x.array[:n]
        finite = bool(np.isfinite(x).all())
        bad = np.array(
            [
                0.0 if finite else 1.0,
                -x.min(initial=0.0) if finite else 0.0,
                np.abs(x).max(initial=0.0) if finite else 0.0,
            ]
        )
        self.comm.Allreduce(MPI.IN_PLACE, bad, op=MPI.MAX)
        if bad[0]:
            return "a value is not finite (NaN or inf)"
        if self.positive and bad[1] > 100.0 * self.rtol * max(bad[2], 1.0) + 1e-12:
            return f"a value fell to {-bad[1]:.3g}, below zero beyond the solver tolerance"
        u.x.scatter_forward()
        return None

    def _uniform_step(self, source, rate) -> bool:
        """Where u, the source and the rate are all uniform (an organ that only exosomes
        have reached, say), the step's solution is uniform too (K 1 = 0: zero-flux walls)
        and exact pointwise: u = (u / dt + s) / (1 / dt + decay + r). One collective
        decides for every rank; returns whether it stepped.
        """
        n = len(self.m)
        parts = [
            self.u.x.array[:n],
            np.broadcast_to(np.asarray(source, dtype=float), (n,)),
            np.broadcast_to(np.asarray(0.0 if rate is None else rate, dtype=float), (n,)),
        ]
        ext = np.array([x for a in parts for x in (a.min(initial=np.inf), -a.max(initial=-np.inf))])
        self.comm.Allreduce(MPI.IN_PLACE, ext, op=MPI.MIN)
        lo, hi = ext[0::2], -ext[1::2]
        if not np.all(hi - lo <= 1e-12 * np.maximum(1.0, np.abs(hi))):
            return False
        u0, s0, r0 = (lo + hi) / 2
        self.u.x.array[:] = (u0 / self.dt + s0) / (1.0 / self.dt + self.decay + r0)
        self.iterations = 0
        return True
