"""The fields' equations, each stated once (docs/model.md sections 1, 2, 5; the parameters'
units and sources are in solver/config.py): diffusivity, decay and the reaction terms as
functions of the other fields.

The time step (solver/organ.py, solver/fields/soil.py, continuum.py, ecm.py) and the
manufactured-solution check (solver/verification/mms.py) both build from these, so what
the check verifies is the equation the step solves. The terms take numpy arrays (per dof)
in the step and ufl expressions in the check; ``minimum``, ``maximum`` and ``tanh`` work on
both. Implicit fields (``ReactionDiffusion``) split their reaction into a source s >= 0
and a rate r >= 0 (du/dt = D lap u - (decay + r) u + s, r frozen over the step: the
system stays an M-matrix); pointwise fields (``ecm.relax``) into a gain and a total rate
(du/dt = gain - total u). The order of the arithmetic is the step's: changing it changes
results in the last bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import ufl

from solver import config

__all__ = [
    "MMPEquation",
    "ECMEquation",
    "ContinuumEquation",
    "OxygenEquation",
    "VEGFEquation",
    "NicheEquation",
    "ConditioningEquation",
    "FibronectinEquation",
    "minimum",
    "maximum",
    "tanh",
]


def _symbolic(*args: Any) -> bool:
    return any(isinstance(a, ufl.core.expr.Expr) for a in args)


def minimum(a: Any, b: Any) -> Any:
    """min(a, b) of arrays or ufl expressions."""
    return ufl.min_value(a, b) if _symbolic(a, b) else np.minimum(a, b)


def maximum(a: Any, b: Any) -> Any:
    """max(a, b) of arrays or ufl expressions."""
    return ufl.max_value(a, b) if _symbolic(a, b) else np.maximum(a, b)


def tanh(a: Any) -> Any:
    """Tanh of an array or a ufl expression."""
    return ufl.tanh(a) if _symbolic(a) else np.tanh(a)


@dataclass(frozen=True)
class MMPEquation:
    """dm/dt = D lap m - Lambda m + Theta c_M (Franssen et al. 2019)."""

    D: float
    decay: float  # Lambda
    Theta: float  # production per mesenchymal cell density

    @classmethod
    def of(cls, spec: config.MMPSpec) -> MMPEquation:
        """The equation with an organ's ``[mmp]`` parameters."""
        return cls(D=spec.D, decay=spec.Lambda, Theta=spec.Theta)

    def source(self, c_M: Any) -> Any:
        """Production by mesenchymal cells."""
        return self.Theta * c_M


@dataclass(frozen=True)
class ECMEquation:
    """dw/dt = -(Gamma1 c_M + Gamma2 m+) w + mu_w N (1 - w): degradation by mesenchymal
    cells and MMP (Franssen et al. 2019), deposition where the niche is conditioned (N).
    """

    Gamma1: float
    Gamma2: float
    deposition_rate: float = 0.0  # mu_w (config.NicheSpec.deposition)

    @classmethod
    def of(cls, spec: config.ECMSpec, niche: config.NicheSpec | None = None) -> ECMEquation:
        """The equation with an organ's ``[ecm]`` (and ``[niche]``) parameters."""
        return cls(
            Gamma1=spec.Gamma1,
            Gamma2=spec.Gamma2,
            deposition_rate=niche.deposition if niche is not None else 0.0,
        )

    def deposition(self, N: Any) -> Any:
        """The gain b = mu_w N."""
        return self.deposition_rate * N

    def degradation(self, c_M: Any, m: Any) -> Any:
        """The loss rate a = Gamma1 c_M + Gamma2 max(m, 0)."""
        return self.Gamma1 * c_M + self.Gamma2 * maximum(m, 0.0)

    def terms(self, c_M: Any, m: Any, deposition: Any) -> tuple[Any, Any]:
        """(gain, total rate) of dw/dt = gain - total w, with the gain ``deposition``."""
        return deposition, self.degradation(c_M, m) + deposition


@dataclass(frozen=True)
class ContinuumEquation:
    """dc_k/dt = D_k lap c_k - Phi_k div(c_k grad w) + r_k c_k (1 - (c_E + c_M)/Q) + s_k,
    r_k = ln 2 / T_k (0 without proliferation), k in {E, M}.
    """

    D: tuple[float, float]
    Phi: tuple[float, float]
    r: tuple[float, float]
    Q: float

    @classmethod
    def of(cls, params: config.CellsSpec, dim: int) -> ContinuumEquation:
        """The equation with the ``[cells]`` parameters in ``dim`` dimensions (Q depends on it)."""
        grow = params.proliferation
        r = (math.log(2) / params.T_E if grow else 0.0, math.log(2) / params.T_M if grow else 0.0)
        return cls(
            D=(params.D_E, params.D_M),
            Phi=(params.Phi_E, params.Phi_M),
            r=r,
            Q=params.capacity(dim),
        )

    def growth(self, k: int, c_k: Any, total: Any) -> Any:
        """Logistic growth of phenotype k at the density of all cells ``total``."""
        return self.r[k] * c_k * (1.0 - total / self.Q)


@dataclass(frozen=True)
class OxygenEquation:
    """do/dt = D lap o + supply (b0 (1 - regression min(c/Q, 1)) + b)(1 - o) - uptake c o:
    supply from the capillaries the cells leave (co-option and regression) and the new
    vessels b, uptake by the cells c.
    """

    D: float
    supply: float
    uptake: float
    b0: float
    regression: float
    capacity: float  # Q, the packed cell density
    decay: float = 0.0

    @classmethod
    def of(cls, spec: config.OxygenSpec, capacity: float) -> OxygenEquation:
        """The equation with an organ's ``[oxygen]`` parameters and the packed density Q."""
        return cls(
            D=spec.D,
            supply=spec.supply,
            uptake=spec.uptake,
            b0=spec.b0,
            regression=spec.regression,
            capacity=capacity,
        )

    def perfusion(self, c: Any, b: Any) -> Any:
        """The vessels that supply oxygen: the capillary bed the cells ``c`` leave, and the
        new vessels ``b`` (what a CT's contrast medium reaches, solver/clinic/section.py).
        """
        return self.b0 * (1.0 - self.regression * minimum(c / self.capacity, 1.0)) + b

    def terms(self, c: Any, b: Any) -> tuple[Any, Any]:
        """(source, rate) for the cell density ``c`` and the new vessels ``b``."""
        supply = self.supply * self.perfusion(c, b)
        return supply, supply + self.uptake * c


@dataclass(frozen=True)
class VEGFEquation:
    """dv/dt = D lap v + s_cells c H(o) + s_niche N - decay v - (vessel_uptake b + sinks) v,
    H(o) = (1 - tanh((o - o_hyp) / width)) / 2; sinks: an anti-VEGF dose, tip cells.
    """

    D: float
    decay: float
    s_cells: float
    s_niche: float
    vessel_uptake: float
    hypoxia: float  # o_hyp (config.OxygenSpec.hypoxia)
    width: float

    @classmethod
    def of(cls, spec: config.VEGFSpec, hypoxia: float) -> VEGFEquation:
        """The equation with an organ's ``[vegf]`` parameters and its hypoxic level o_hyp."""
        return cls(
            D=spec.D,
            decay=spec.decay,
            s_cells=spec.s_cells,
            s_niche=spec.s_niche,
            vessel_uptake=spec.vessel_uptake,
            hypoxia=hypoxia,
            width=spec.hypoxia_width,
        )

    def hypoxic(self, o: Any) -> Any:
        """H(o): a smoothed switch, 1 well below o_hyp and 0 well above it."""
        return 0.5 * (1.0 - tanh((o - self.hypoxia) / self.width))

    def source(self, c: Any, H: Any, N: Any | None = None) -> Any:
        """Secretion by hypoxic cells (``H`` = H(o), 0 without oxygen) and conditioned tissue."""
        source = self.s_cells * c * H
        if N is not None:
            source = source + self.s_niche * N
        return source

    def rate(self, b: Any, blockade: Any = 0.0, tips: Any = 0.0) -> Any:
        """Uptake by the new vessels ``b``, an anti-VEGF ``blockade`` and the ``tips``."""
        return self.vessel_uptake * b + blockade + tips


@dataclass(frozen=True)
class NicheEquation:
    """dx/dt = D lap x - (delta_x + k_u) x + U w / int w: the exosome-borne niche factor,
    with the organ's uptake U from the plasma entering where the vessels w = b0 + b are.
    Its field keeps the symbol "x" (docs/model.md, outputs, checkpoints: ``fields["x"]``);
    cell positions are ``Population.x``.
    """

    D: float
    decay: float  # delta_x + k_u: decay and uptake by resident cells

    @classmethod
    def of(cls, spec: config.NicheSpec) -> NicheEquation:
        """The equation with an organ's ``[niche]`` parameters."""
        return cls(D=spec.D, decay=spec.decay + spec.uptake)

    def source(self, uptake: float, weight: Any, total: float) -> Any:
        """The plasma uptake ``uptake`` (amount per unit time) spread with ``weight``, whose
        integral over the organ is ``total``.
        """
        return uptake * weight / total


@dataclass(frozen=True)
class ConditioningEquation:
    """dN/dt = k_N k_u x+ (1 - N) - delta_N N: niche conditioning by the factor taken up."""

    rate: float  # k_N
    uptake: float  # k_u
    loss: float  # delta_N

    @classmethod
    def of(cls, spec: config.NicheSpec) -> ConditioningEquation:
        """The equation with an organ's ``[niche]`` parameters."""
        return cls(rate=spec.rate, uptake=spec.uptake, loss=spec.loss)

    def terms(self, x: Any) -> tuple[Any, Any]:
        """(gain, total rate) of dN/dt = gain - total N."""
        gain = self.rate * self.uptake * maximum(x, 0.0)
        return gain, gain + self.loss


@dataclass(frozen=True)
class FibronectinEquation:
    """df/dt = beta n - gamma n f: tip cells n secrete fibronectin and bind it (Anderson &
    Chaplain 1998); pointwise, exact per step (``ecm.relax``).
    """

    beta: float
    gamma: float

    @classmethod
    def of(cls, spec: config.AngiogenesisSpec) -> FibronectinEquation:
        """The equation with an organ's ``[angiogenesis]`` parameters."""
        return cls(beta=spec.beta, gamma=spec.gamma)

    def terms(self, n: Any) -> tuple[Any, Any]:
        """(gain, total rate) of df/dt = gain - total f at tip density ``n``."""
        return self.beta * n, self.gamma * n
