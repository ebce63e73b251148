"""A field that cells or tissue secrete, and that diffuses and decays (TGF-beta,
solver/fields/tgfb.py; VEGF-C, solver/fields/vegfc.py): du/dt = D lap u - decay u + s, zero
flux on the boundary.

Implicit Euler with the lumped mass (ReactionDiffusion): every step conserves exactly (the
stiffness matrix's rows sum to zero), sum_i m_i (u_i - u0_i)/dt = sum_i m_i (s_i - decay u_i),
and u stays non-negative for non-negative sources on an M-matrix.
"""

from __future__ import annotations

from typing import Protocol

import dolfinx.fem as fem
import numpy as np
from petsc4py import PETSc

from solver.fields.reaction_diffusion import ReactionDiffusion

# The step of a steady solve: implicit Euler with dt * decay = 1e12 leaves 1e-12 of the
# start, i.e. it solves (D K + decay M) u = M s to the Krylov tolerance.
_STEADY = 1e12


class Rates(Protocol):
    """What Secreted reads of an equation: its diffusivity and decay."""

    @property
    def D(self) -> float:
        """Diffusivity, L^2/T."""
        ...

    @property
    def decay(self) -> float:
        """Decay rate, 1/T."""
        ...


class Secreted[E: Rates]:
    """The field ``u`` of one organ and its implicit step; subclasses say what secretes it."""

    def __init__(
        self,
        *,
        name: str,
        equation: E,
        V: fem.FunctionSpace,
        K: PETSc.Mat,
        lumped: np.ndarray,
        dt: float,
        organ: str,
        petsc: dict,
        rtol: float,
        positive: bool,
    ):
        """Args:
        name: the field's name (its output and checkpoint column).
        equation: its diffusivity and decay.
        V, K, lumped: the organ's P1 space, stiffness matrix and lumped mass.
        dt: the organ's step.
        organ, petsc, rtol, positive: as ReactionDiffusion takes them.
        """
        self.name, self.equation = name, equation
        self.n = V.dofmap.index_map.size_local
        self.u = fem.Function(V, name=name)
        self._args = (K, lumped, organ, petsc, rtol, positive)
        self.solver = self._solver(dt)

    def _solver(self, dt: float) -> ReactionDiffusion:
        """Implicit Euler for u with step ``dt``."""
        K, lumped, organ, petsc, rtol, positive = self._args
        return ReactionDiffusion(
            u=self.u,
            K=K,
            lumped=lumped,
            D=self.equation.D,
            decay=self.equation.decay,
            dt=dt,
            name=self.name,
            organ=organ,
            options=petsc,
            rtol=rtol,
            positive=positive,
        )

    def advance(self, source: np.ndarray) -> None:
        """One step with the source per dof (owned) frozen."""
        self.solver.step(source[: self.n])

    def steady(self, source: np.ndarray) -> None:
        """U at its steady state with the source frozen: one implicit step so long that
        nothing of the start is left.
        """
        steady = self._solver(_STEADY / self.equation.decay)
        steady.step(source[: self.n])
        steady.ksp.destroy()
        steady.A.destroy()
