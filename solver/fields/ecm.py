"""Pointwise fields stepped exactly: the extracellular matrix density w (ECMEquation in
solver/fields/equations.py), and, through ``relax``, the niche conditioning N and
fibronectin f.

du/dt = gain - total u with gain, total >= 0 frozen over the step has the solution
u = u_inf + (u - u_inf) exp(-total dt), u_inf = gain / total: w stays in [0, 1].
"""

from __future__ import annotations

import numpy as np

from solver.fields.equations import ECMEquation


def relax(u: np.ndarray, gain, total, dt: float) -> None:
    """du/dt = gain - total u with gain, total >= 0 frozen over the step, exactly and in
    place: u -> u_inf + (u - u_inf) exp(-total dt), u_inf = gain / total (u unchanged where
    total = 0). The ECM, the niche conditioning and fibronectin all step this way.
    """
    total = np.broadcast_to(np.asarray(total, dtype=float), u.shape)
    u_inf = np.divide(gain, total, out=np.zeros(u.shape), where=total > 0)
    u[:] = u_inf + (u - u_inf) * np.exp(-total * dt)


def step(
    w: np.ndarray,
    dt: float,
    equation: ECMEquation,
    c_M: np.ndarray,
    m: np.ndarray,
    deposition: np.ndarray | float = 0.0,
) -> None:
    """Update ``w`` in place by ``equation`` (all arrays per dof, same length; ``deposition``:
    the gain, ``equation.deposition(N)``).
    """
    relax(w, *equation.terms(c_M, m, deposition), dt)
