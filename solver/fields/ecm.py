"""Extracellular matrix density w, pointwise and exact over a step.

dw/dt = -a w + b (1 - w) with a = Gamma1 c_M + Gamma2 m+ (degradation) and
b = mu_w N (deposition, from niche conditioning) frozen over the step has the solution
w = w_inf + (w - w_inf) exp(-(a + b) dt), w_inf = b / (a + b): it stays in [0, 1].
"""

from __future__ import annotations

import numpy as np


def step(w: np.ndarray, dt: float, c_M: np.ndarray, m: np.ndarray, Gamma1: float, Gamma2: float,
         deposition: np.ndarray | float = 0.0) -> None:
    """Update ``w`` in place (all arrays per dof, same length)."""
    a = Gamma1 * c_M + Gamma2 * np.maximum(m, 0.0)
    rate = a + deposition
    w_inf = np.divide(deposition, rate, out=np.zeros_like(rate), where=rate > 0)
    w[:] = w_inf + (w - w_inf) * np.exp(-rate * dt)
