"""Growth of a cell density by room: the mean field of the discrete division rule under
crowding (``cells.crowded_growth``; derivation in docs/hybrid.md, "Growth by room").

The discrete rule (solver/cells/discrete.py): a cell's cycle clock runs to its doubling time
T; then it divides if its place has room, its daughter in the same place, and otherwise
waits, ready, and divides the moment room appears. Its mean field keeps two compartments
per phenotype, cycling cells a and ready cells b (c = a + b), at each vertex:

- maturation: a cycling cell becomes ready at rate r = ln 2 / T. With ready cells dividing
  at once where there is room, a' = -r a + 2 r a = r a: free growth doubles every T, as the
  discrete clocks do (a cycle of fixed length T needs r = ln 2 / T, not 1 / T, when it is
  replaced by a memoryless one).
- division: the ready cells divide as far as the vertex's room allows, X = min(b, Q - S)
  with S every cell's density (both phenotypes, both compartments and ``occupied``), and
  b -> b - X, a -> a + 2 X. Q - S is the room left in a vertex's places when their counts
  are as even as they can be; a ready cell waits where there is none.

One sub-step of length tau matures the fraction expm1(r tau) of the cycling cells (so that
free growth is exactly e^(r tau)), capped at all of them, then divides. Both updates keep
every compartment non-negative, and growth never takes S above Q.
"""

from __future__ import annotations

import numpy as np


def step(
    cycling: np.ndarray,
    ready: np.ndarray,
    rate_tau: np.ndarray,
    Q: float,
    *,
    grow: np.ndarray | None = None,
    occupied: np.ndarray | None = None,
    speed: np.ndarray | None = None,
) -> np.ndarray:
    """Advance (in place) the cycling and ready densities by one sub-step of growth by room.

    Args:
        cycling: (dofs, phenotypes) density of cycling cells in cells per h_ref^d, changed
            in place.
        ready: (dofs, phenotypes) density of ready cells (cycle done, waiting for room), as
            ``cycling``.
        rate_tau: r_k tau per phenotype (r_k = ln 2 / T_k, 0 without proliferation).
        Q: the capacity in cells per h_ref^d.
        grow: where cells may cycle and divide (bool per dof; None: everywhere). Elsewhere
            (hypoxic arrest) the clock stands still: no maturation and no division.
        occupied: density of cells that take room but neither move nor divide (dormant).
        speed: a factor on the cycle's pace per dof (recruited niche cells).

    Returns:
        The density of cells born per dof (the divisions, summed over phenotypes).
    """
    rate = np.broadcast_to(rate_tau, cycling.shape)
    if speed is not None:
        rate = rate * speed[:, None]
    if grow is not None:
        rate = np.where(grow[:, None], rate, 0.0)
    matured = cycling * np.minimum(np.expm1(rate), 1.0)
    cycling -= matured
    ready += matured
    S = cycling.sum(axis=1) + ready.sum(axis=1)
    if occupied is not None:
        S = S + occupied
    waiting = ready.sum(axis=1)
    if grow is not None:
        waiting = np.where(grow, waiting, 0.0)
    divided = np.minimum(waiting, np.maximum(Q - S, 0.0))
    # The room is shared among the phenotypes' ready cells in proportion to their numbers.
    share = np.divide(divided, waiting, out=np.zeros_like(divided), where=waiting > 0.0)
    x = ready * share[:, None]
    ready -= x
    cycling += 2.0 * x
    return divided


def join(
    total: np.ndarray, ready: np.ndarray, added: np.ndarray, added_ready: np.ndarray
) -> np.ndarray:
    """The ready fraction of a density after cells join it: the hybrid organ's absorption
    (a cell whose clock has reached its doubling time joins the ready cells) and any
    process that adds cells of known clocks.

    Args:
        total: the density before, per dof.
        ready: its ready fraction before, per dof (0 to 1).
        added: the density that joins, per dof.
        added_ready: the part of ``added`` that is ready, per dof.

    Returns:
        The ready fraction of ``total + added`` (0 where that is 0).
    """
    after = total + added
    return np.divide(
        ready * total + added_ready, after, out=np.zeros_like(after), where=after > 0.0
    )
