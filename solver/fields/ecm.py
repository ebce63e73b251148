"""Extracellular matrix density w, pointwise and exact over a step.

dw/dt = -a w + b (1 - w) with a = Gamma1 c_M + Gamma2 m+ (degradation) and
b = mu_w N (deposition, from niche conditioning) frozen over the step has the solution
w = w_inf + (w - w_inf) exp(-(a + b) dt), w_inf = b / (a + b): it stays in [0, 1].
"""

from __future__ import annotations

import numpy as np


def relax(u: np.ndarray, gain, total, dt: float) -> None:
    """du/dt = gain - total u with gain, total >= 0 frozen over the step, exactly and in
    place: u -> u_inf + (u - u_inf) exp(-total dt), u_inf = gain / total (u unchanged where
    total = 0). The ECM, the niche conditioning and fibronectin all step this way."""
    total = np.broadcast_to(np.asarray(total, dtype=float), u.shape)
    u_inf = np.divide(gain, total, out=np.zeros(u.shape), where=total > 0)
    u[:] = u_inf + (u - u_inf) * np.exp(-total * dt)


def step(w: np.ndarray, dt: float, c_M: np.ndarray, m: np.ndarray, Gamma1: float, Gamma2: float,
         deposition: np.ndarray | float = 0.0) -> None:
    """Update ``w`` in place (all arrays per dof, same length)."""
    a = Gamma1 * c_M + Gamma2 * np.maximum(m, 0.0)
    relax(w, deposition, a + deposition, dt)
