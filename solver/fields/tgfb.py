"""Active TGF-beta, T, in one organ (docs/emt.md), the signal of EMT besides hypoxia:
dT/dt = D lap T - decay T + s_cells c + s_stroma w, c the density of all cancer cells and
w the ECM (the stroma's fibroblasts live in the matrix), zero flux on the boundary. T is
normalised to K_T, the level of half the maximal effect on EMT.

Implicit Euler with the lumped mass (ReactionDiffusion): non-negative for non-negative
sources on an M-matrix, and exact for a uniform field (an organ without cells).
"""

from __future__ import annotations

from dataclasses import dataclass

import dolfinx.fem as fem
import numpy as np
from petsc4py import PETSc

from solver import config
from solver.fields.reaction_diffusion import ReactionDiffusion


@dataclass(frozen=True)
class TGFBetaEquation:
    """dT/dt = D lap T - decay T + s_cells c + s_stroma w (config.TGFBetaSpec)."""

    D: float
    decay: float
    s_cells: float
    s_stroma: float

    @classmethod
    def of(cls, spec: config.TGFBetaSpec) -> TGFBetaEquation:
        """The equation with the ``[cells.switching.tgfb_field]`` parameters."""
        return cls(D=spec.D, decay=spec.decay, s_cells=spec.s_cells, s_stroma=spec.s_stroma)

    def source(self, c: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Secretion per dof by the cancer cells ``c`` and the stroma where the ECM ``w`` is."""
        return self.s_cells * c + self.s_stroma * np.maximum(w, 0.0)


class TGFBeta:
    """The field T of one organ and its step."""

    def __init__(
        self,
        *,
        V: fem.FunctionSpace,
        K: PETSc.Mat,
        lumped: np.ndarray,
        spec: config.TGFBetaSpec,
        dt: float,
        organ: str,
        petsc: dict,
        rtol: float,
        positive: bool,
    ):
        """Args:
        V, K, lumped: the organ's P1 space, stiffness matrix and lumped mass.
        spec: the equation's parameters; dt: the organ's step.
        organ, petsc, rtol, positive: as ReactionDiffusion takes them.
        """
        self.equation = TGFBetaEquation.of(spec)
        self.n = V.dofmap.index_map.size_local
        self.T = fem.Function(V, name="tgfb")
        self.solver = ReactionDiffusion(
            u=self.T,
            K=K,
            lumped=lumped,
            D=self.equation.D,
            decay=self.equation.decay,
            dt=dt,
            name="tgfb",
            organ=organ,
            options=petsc,
            rtol=rtol,
            positive=positive,
        )

    def step(self, c: np.ndarray, w: np.ndarray) -> None:
        """One step with the cell density ``c`` and the ECM ``w`` (owned dofs) frozen."""
        n = self.n
        self.solver.step(self.equation.source(c[:n], w[:n]))

    def equilibrate(self, c: np.ndarray, w: np.ndarray, steps: int = 60) -> None:
        """T near its steady state with the initial cells and ECM (the initial state, as
        oxygen's): ``steps`` implicit steps, each dividing the distance by 1 + decay dt.
        """
        for _ in range(steps):
            self.step(c, w)
