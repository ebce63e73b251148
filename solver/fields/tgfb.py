"""Active TGF-beta, T, in one organ (docs/emt.md), the signal of EMT besides hypoxia:
dT/dt = D lap T - decay T + s_cells c + s_stroma w, c the density of all cancer cells and
w the ECM (the stroma's fibroblasts live in the matrix), zero flux on the boundary. T is
normalised to K_T, the level of half the maximal effect on EMT.

Implicit Euler with the lumped mass (solver/fields/secreted.py): non-negative for
non-negative sources on an M-matrix, and exact for a uniform field (an organ without cells).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from solver import config
from solver.fields.secreted import Secreted


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


class TGFBeta(Secreted[TGFBetaEquation]):
    """The field T of one organ and its step (solver/fields/secreted.py)."""

    def __init__(self, *, spec: config.TGFBetaSpec, **organ):
        """``spec``: the equation's parameters; ``organ``: as Secreted takes them."""
        super().__init__(name="tgfb", equation=TGFBetaEquation.of(spec), **organ)
        self.T = self.u

    def step(self, c: np.ndarray, w: np.ndarray) -> None:
        """One step with the cell density ``c`` and the ECM ``w`` (owned dofs) frozen."""
        n = self.n
        self.advance(self.equation.source(c[:n], w[:n]))

    def equilibrate(self, c: np.ndarray, w: np.ndarray, steps: int = 60) -> None:
        """T near its steady state with the initial cells and ECM (the initial state, as
        oxygen's): ``steps`` implicit steps, each dividing the distance by 1 + decay dt.
        """
        for _ in range(steps):
            self.step(c, w)
