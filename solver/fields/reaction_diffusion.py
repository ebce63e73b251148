"""Implicit Euler for du/dt = D lap(u) - lambda u + s with a lumped (row-sum) mass
matrix (DESIGN.md, numerics).

The system (M_L (1/dt + lambda) + D K) u^{n+1} = M_L (u^n / dt + s) is an M-matrix on
Delaunay meshes, so u stays non-negative for non-negative sources. K is assembled once
and the Krylov solver (CG + Jacobi by default; PETSc options pass through) is reused:
a step is one pointwise right-hand side and one solve.
"""

from __future__ import annotations

import dolfinx.fem as fem
import dolfinx.fem.petsc
import numpy as np
import ufl
from petsc4py import PETSc


def lumped_mass(V) -> np.ndarray:
    """Row sums of the P1 mass matrix (patch volumes), owned + ghost dofs."""
    v = ufl.TestFunction(V)
    vec = fem.assemble_vector(fem.form(v * ufl.dx))
    vec.scatter_reverse(dolfinx.la.InsertMode.add)
    vec.scatter_forward()
    return vec.array.copy()


def stiffness(V) -> PETSc.Mat:
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    K = dolfinx.fem.petsc.assemble_matrix(fem.form(ufl.inner(ufl.grad(u), ufl.grad(v)) * ufl.dx))
    K.assemble()
    return K


def petsc_options(prefix: str, options: dict, rtol: float) -> None:
    """Set this field's options: defaults, then the user's (unprefixed keys apply to
    every field, ``<field>_key`` to one)."""
    opts = PETSc.Options()
    base = {"ksp_type": "cg", "pc_type": "jacobi", "ksp_rtol": rtol, "ksp_atol": 1e-300}
    for k, v in base.items():
        opts[prefix + k] = v
    for k, v in options.items():
        k = k.lstrip("-")
        opts[k if k.startswith(prefix) else prefix + k] = v


class ReactionDiffusion:
    """One scalar P1 field with constant diffusivity and linear decay."""

    def __init__(self, u: fem.Function, K: PETSc.Mat, lumped: np.ndarray, D: float, decay: float, dt: float,
                 name: str, options: dict | None = None, rtol: float = 1e-10):
        self.u = u
        self.dt = dt
        n = u.function_space.dofmap.index_map.size_local
        self.m = lumped[:n]
        A = K.copy()
        A.scale(D)
        diag = A.getDiagonal()
        diag.array[:] += self.m * (1.0 / dt + decay)
        A.setDiagonal(diag)
        self.A = A
        self.ksp = PETSc.KSP().create(u.function_space.mesh.comm)
        self.ksp.setOperators(A)
        prefix = f"{name}_"
        petsc_options(prefix, options or {}, rtol)
        self.ksp.setOptionsPrefix(prefix)
        self.ksp.setFromOptions()
        self.ksp.setInitialGuessNonzero(True)
        self.b = A.createVecRight()
        self.iterations = 0

    def step(self, source: np.ndarray | float = 0.0) -> None:
        """Advance u by dt with volumetric source ``source`` (per dof, owned)."""
        u = self.u
        n = len(self.m)
        self.b.array[:] = self.m * (u.x.array[:n] / self.dt + source)
        self.ksp.solve(self.b, u.x.petsc_vec)
        reason = self.ksp.getConvergedReason()
        if reason < 0:
            raise RuntimeError(f"{self.ksp.getOptionsPrefix()[:-1]} solve diverged (PETSc reason {reason})")
        self.iterations = self.ksp.getIterationNumber()
        u.x.scatter_forward()
