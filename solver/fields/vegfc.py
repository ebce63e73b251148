"""VEGF-C, C, in the primary (docs/lymphatics.md), the signal of lymphangiogenesis:
dC/dt = D lap C - decay C + s c, c the density of all cancer cells (tumour cells secrete
VEGF-C: Skobe et al. 2001 Nat Med 7:192; Karpanen et al. 2001 Cancer Res 61:1786), zero
flux on the boundary. C is normalised so that s = decay: a uniform density of c cells per
h_ref^d holds C = c at steady state ("cell-equivalents per h_ref^d"); the absolute secretion
rate, which is not measured per cell, goes into the sprouting rate that reads C.

Implicit Euler with the lumped mass, as TGF-beta (solver/fields/secreted.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from solver import config
from solver.fields.secreted import Secreted


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


class VEGFC(Secreted[VEGFCEquation]):
    """The field C of the primary and its step (solver/fields/secreted.py)."""

    def __init__(self, *, spec: config.LymphSpec, **organ):
        """``spec``: the case's ``[lymph]``; ``organ``: as Secreted takes them."""
        super().__init__(name="vegfc", equation=VEGFCEquation.of(spec), **organ)
        self.C = self.u

    def step(self, c: np.ndarray) -> None:
        """One step with the cell density ``c`` (owned dofs at least) frozen."""
        self.advance(self.equation.source(c[: self.n]))

    def equilibrate(self, c: np.ndarray) -> None:
        """C at its steady state with the cells ``c`` (the initial state, as oxygen's)."""
        self.steady(self.equation.source(c[: self.n]))
