"""VEGF-C, C, in the primary (docs/lymphatics.md), the signal of lymphangiogenesis:
dC/dt = D lap C - decay C + s c, c the density of all cancer cells (tumour cells secrete
VEGF-C: Skobe et al. 2001 Nat Med 7:192; Karpanen et al. 2001 Cancer Res 61:1786), zero
flux on the boundary. C is normalised so that s = decay: a uniform density of c cells per
h_ref^d holds C = c at steady state ("cell-equivalents per h_ref^d"); the absolute secretion
rate, which is not measured per cell, goes into the sprouting rate that reads C.

Implicit Euler with the lumped mass (ReactionDiffusion), as solver/fields/tgfb.py: every
step conserves exactly (the stiffness matrix's rows sum to zero), sum_i m_i (C_i - C0_i)/dt
= sum_i m_i (s c_i - decay C_i), and C stays non-negative on an M-matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import dolfinx.fem as fem
import numpy as np
from petsc4py import PETSc

from solver import config
from solver.fields.reaction_diffusion import ReactionDiffusion

# The step of the steady solve: implicit Euler with dt * decay = 1e12 leaves 1e-12 of the
# start, i.e. it solves (D K + decay M) C = M s c to the Krylov tolerance.
_STEADY = 1e12


@dataclass(frozen=True)
class VEGFCEquation:
    """dC/dt = D lap C - decay C + decay c (config.LymphSpec, ``vegfc_*``)."""

    D: float
    decay: float

    @classmethod
    def of(cls, spec: config.LymphSpec) -> VEGFCEquation:
        """The equation with the ``[lymph]`` parameters."""
        return cls(D=spec.vegfc_D, decay=spec.vegfc_decay)

    def source(self, c: np.ndarray) -> np.ndarray:
        """Secretion per dof by the cancer cells ``c`` (s = decay: the normalisation)."""
        return self.decay * np.maximum(c, 0.0)


class VEGFC:
    """The field C of the primary and its step."""

    def __init__(
        self,
        *,
        V: fem.FunctionSpace,
        K: PETSc.Mat,
        lumped: np.ndarray,
        spec: config.LymphSpec,
        dt: float,
        organ: str,
        petsc: dict,
        rtol: float,
        positive: bool,
    ):
        """Args:
        V, K, lumped: the organ's P1 space, stiffness matrix and lumped mass.
        spec: the case's ``[lymph]``; dt: the organ's step.
        organ, petsc, rtol, positive: as ReactionDiffusion takes them.
        """
        self.equation = VEGFCEquation.of(spec)
        self.n = V.dofmap.index_map.size_local
        self.C = fem.Function(V, name="vegfc")
        self._args = (K, lumped, organ, petsc, rtol, positive)
        self.solver = self._solver(dt)

    def _solver(self, dt: float) -> ReactionDiffusion:
        """Implicit Euler for C with step ``dt``."""
        K, lumped, organ, petsc, rtol, positive = self._args
        eq = self.equation
        return ReactionDiffusion(
            u=self.C,
            K=K,
            lumped=lumped,
            D=eq.D,
            decay=eq.decay,
            dt=dt,
            name="vegfc",
            organ=organ,
            options=petsc,
            rtol=rtol,
            positive=positive,
        )

    def step(self, c: np.ndarray) -> None:
        """One step with the cell density ``c`` (owned dofs at least) frozen."""
        self.solver.step(self.equation.source(c[: self.n]))

    def equilibrate(self, c: np.ndarray) -> None:
        """C at its steady state with the cells ``c`` (the initial state, as oxygen's): one
        implicit step so long that nothing of the start is left.
        """
        steady = self._solver(_STEADY / self.equation.decay)
        steady.step(self.equation.source(c[: self.n]))
        steady.ksp.destroy()
        steady.A.destroy()
