"""Counter-based random numbers: every draw is a pure function of
(seed, cell id, step, purpose), never of processing order or rank (docs/model.md section 3).

The mixer is SplitMix64's finaliser (Steele, Lea, Flood 2014), applied to a running
combination of the keys; numpy uint64 arithmetic wraps modulo 2^64 as the mixer needs.
All arithmetic is element-wise, so a value does not depend on its position in an array.
"""

from __future__ import annotations

import numpy as np

# Purposes: one stream per kind of decision.
MOVE = 1  # Euler-Maruyama increments (uses MOVE, MOVE + 1, ... per coordinate pair)
ROOM = 8  # rank of a proposal for contested room
ROOM_FRACTION = 9  # fractional acceptance on places whose room is not a whole number
DIVIDE = 10
DAUGHTER = 11
DIVIDE_FRACTION = 12
INIT = 16  # initial placement jitter (INIT .. INIT + 3)
INIT_CLOCK = 20
INIT_PHENOTYPE = 21
# The blood and the organs it links (docs/model.md section 4); keyed by cell or cluster id.
CLUSTER = 30
DISAGGREGATE = 31
SINGLE = 32
SURVIVE = 33
ROUTE = 34
SITE = 35
EXTRAVASATE = 36
PLACE = 37  # position within the vessel site (PLACE .. PLACE + 3)
WAKE = 41
ARRIVE = 42  # room for arrivals (ARRIVE, ARRIVE + 1)
# Continuum cells (solver/organ.py), keyed by vessel site or by cell id.
SHED = 60  # does a vessel site shed this step
SHED_ROUND = 61  # stochastic rounding of the cells within reach (SHED_ROUND, SHED_ROUND + 1)
SHED_ID = 63  # ids of the cells a site sheds
PLACE_AGAIN = 64  # a new position within the vessel site for one that fell outside (.. + 3)

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(z: np.ndarray) -> np.ndarray:
    z = z + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def _key(seed: int, step: int, purpose: int) -> np.uint64:
    """The scalar part of the counter, mixed once per call rather than once per cell."""
    with np.errstate(over="ignore"):
        h = _mix(np.uint64(seed))
        for k in (step, purpose):
            h = _mix(h ^ np.uint64(k))
    return h


def hash64(seed: int, ids, step: int, purpose: int) -> np.ndarray:
    """A 64-bit hash of (seed, id, step, purpose) for each id."""
    with np.errstate(over="ignore"):
        return _mix(_mix(np.asarray(ids, dtype=np.uint64)) ^ _key(seed, step, purpose))


def uniform(seed: int, ids, step: int, purpose: int) -> np.ndarray:
    """Uniform on the open interval (0, 1), 53 bits."""
    h = hash64(seed, ids, step, purpose)
    return ((h >> np.uint64(11)).astype(np.float64) + 0.5) * (1.0 / 2.0**53)


def normal(seed: int, ids, step: int, purpose: int, dim: int) -> np.ndarray:
    """Standard normal draws, shape (len(ids), dim), by Box-Muller on pairs of uniforms."""
    ids = np.ascontiguousarray(ids, dtype=np.uint64)
    out = np.empty((ids.size, dim))
    for k in range(0, dim, 2):
        u1 = uniform(seed, ids, step, purpose + k)
        u2 = uniform(seed, ids, step, purpose + k + 1)
        r = np.sqrt(-2.0 * np.log(u1))
        a = 2.0 * np.pi * u2
        out[:, k] = r * np.cos(a)
        if k + 1 < dim:
            out[:, k + 1] = r * np.sin(a)
    return out


def daughter_id(parent_ids, step: int) -> np.ndarray:
    """A daughter's id: a pure function of its parent's id and the step of division."""
    return hash64(0x5EED5011, parent_ids, step, DAUGHTER)
