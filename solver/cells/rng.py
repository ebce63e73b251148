"""Counter-based random numbers: every draw is a pure function of
(seed, cell id, step, purpose), never of processing order or rank (docs/model.md section 3).

The mixer is SplitMix64's finaliser (Steele, Lea, Flood 2014), applied to a running
combination of the keys; numpy uint64 arithmetic wraps modulo 2^64 as the mixer needs.
All arithmetic is element-wise, so a value does not depend on its position in an array.
"""

from __future__ import annotations

import numpy as np

# Purposes: one stream per kind of decision, for every module that draws (the registry:
# ``STREAMS``). A stream of width k uses the purposes p .. p + k - 1 (``normal`` one per
# coordinate: 4 in 3D; ``DiscreteCells.insert`` p and p + 1). The numbers are part of the
# results (rank parity, checkpoints, the measured figures): never renumber one.
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
# Angiogenesis (solver/vessels.py): sprouting keyed by vessel site, the rest by tip id.
SPROUT = 50  # does a site sprout (SPROUT); the new tip's id (SPROUT + 1, a hash of the site key)
TIP_MOVE = 51  # tip increments (TIP_MOVE .. TIP_MOVE + 3)
BRANCH = 55
TIP_PLACE = 56  # direction of a new tip from its site (TIP_PLACE .. TIP_PLACE + 3)
# Continuum cells (solver/organ.py), keyed by vessel site or by cell id.
SHED = 60  # does a vessel site shed this step
SHED_ROUND = 61  # stochastic rounding of the cells within reach (SHED_ROUND, SHED_ROUND + 1)
SHED_ID = 63  # ids of the cells a site sheds
PLACE_AGAIN = 64  # a new position within the vessel site for one that fell outside (.. + 3)
# The clinic (solver/clinic/): a word of the key of a numpy Philox generator, not a purpose of
# the draws below (a sample's draws are per unit of the blood, in the order of their ids).
LIQUID_BIOPSY = 70
IMAGING = 71  # the noise of the image files (solver/clinic/follow_up.py)
# Phenotype switching (solver/cells/switching.py), keyed by cell id (COAT: by unit id).
SWITCH = 80  # EMT or MET of a cell in an organ this step
SWITCH_BLOOD = 81  # EMT of a cell of a platelet-coated unit in the blood
COAT = 82  # is a surviving unit coated by platelets
# Lineage (solver/lineage.py): a continuum organ's shed cell's founder, keyed by its id.
LINEAGE_FOUNDER = 85
# The lymph (solver/lymph.py), keyed by lymphatic site or by lymph unit id.
LYMPH_ENTRY = 90  # does an open lymphatic site take the cells within reach this step
LYMPH_ARREST = 91  # does a unit stop in the node it reaches
LYMPH_NODE_SITE = 92  # the node's vessel site where it settles
LYMPH_ROUND = 93  # continuum: stochastic rounding (LYMPH_ROUND), a cell within reach (+ 1)
LYMPH_ID = 95  # ids of the units and of the cells a continuum site sheds
LYMPH_SPROUT = 96  # the number of new lymphatic sites this step (lymphangiogenesis)
LYMPH_RADIUS = 97  # distance of a placed site from the tumour centre (grown: its vertex)
LYMPH_DIRECTION = 98  # its direction (LYMPH_DIRECTION, LYMPH_DIRECTION + 1)
# Hybrid cells (solver/cells/regime.py): a density released as discrete cells.
REGIME_ID = 100  # a released cell's id (a hash of its vertex key, phenotype and index)
REGIME_PLACE = 101  # its position near the vertex (REGIME_PLACE .. REGIME_PLACE + 3)
REGIME_PLACE_AGAIN = 105  # again, for one that fell outside the organ (.. + 3)
REGIME_CLOCK = 109  # its cell-cycle clock
REGIME_SAMPLE = 115  # the offset of the systematic sample that places a box's released cells

# name -> (first purpose, width): every purpose any module draws with.
STREAMS: dict[str, tuple[int, int]] = {
    "MOVE": (MOVE, 4),
    "ROOM": (ROOM, 1),
    "ROOM_FRACTION": (ROOM_FRACTION, 1),
    "DIVIDE": (DIVIDE, 1),
    "DAUGHTER": (DAUGHTER, 1),
    "DIVIDE_FRACTION": (DIVIDE_FRACTION, 1),
    "INIT": (INIT, 4),
    "INIT_CLOCK": (INIT_CLOCK, 1),
    "INIT_PHENOTYPE": (INIT_PHENOTYPE, 1),
    "CLUSTER": (CLUSTER, 1),
    "DISAGGREGATE": (DISAGGREGATE, 1),
    "SINGLE": (SINGLE, 1),
    "SURVIVE": (SURVIVE, 1),
    "ROUTE": (ROUTE, 1),
    "SITE": (SITE, 1),
    "EXTRAVASATE": (EXTRAVASATE, 1),
    "PLACE": (PLACE, 4),
    "WAKE": (WAKE, 1),
    "ARRIVE": (ARRIVE, 2),
    "SPROUT": (SPROUT, 2),
    "TIP_MOVE": (TIP_MOVE, 4),
    "BRANCH": (BRANCH, 1),
    "TIP_PLACE": (TIP_PLACE, 4),
    "SHED": (SHED, 1),
    "SHED_ROUND": (SHED_ROUND, 2),
    "SHED_ID": (SHED_ID, 1),
    "PLACE_AGAIN": (PLACE_AGAIN, 4),
    "LIQUID_BIOPSY": (LIQUID_BIOPSY, 1),
    "IMAGING": (IMAGING, 1),
    "SWITCH": (SWITCH, 1),
    "SWITCH_BLOOD": (SWITCH_BLOOD, 1),
    "COAT": (COAT, 1),
    "LINEAGE_FOUNDER": (LINEAGE_FOUNDER, 1),
    "LYMPH_ENTRY": (LYMPH_ENTRY, 1),
    "LYMPH_ARREST": (LYMPH_ARREST, 1),
    "LYMPH_NODE_SITE": (LYMPH_NODE_SITE, 1),
    "LYMPH_ROUND": (LYMPH_ROUND, 2),
    "LYMPH_ID": (LYMPH_ID, 1),
    "LYMPH_SPROUT": (LYMPH_SPROUT, 1),
    "LYMPH_RADIUS": (LYMPH_RADIUS, 1),
    "LYMPH_DIRECTION": (LYMPH_DIRECTION, 2),
    "REGIME_ID": (REGIME_ID, 1),
    "REGIME_PLACE": (REGIME_PLACE, 4),
    "REGIME_PLACE_AGAIN": (REGIME_PLACE_AGAIN, 4),
    "REGIME_CLOCK": (REGIME_CLOCK, 1),
    "REGIME_SAMPLE": (REGIME_SAMPLE, 1),
}
# Streams that share a purpose, with why their draws still differ. SPROUT + 1 hashes vessel
# site keys (organ << 20 + site, below 2^32) and TIP_MOVE hashes tip ids (64-bit hashes):
# the same draw needs a tip id below 2^32, a chance of ~1e-10 per tip. Kept, since
# renumbering either changes every angiogenesis result.
SHARED = {("SPROUT", "TIP_MOVE")}

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix[T: (np.ndarray, np.uint64)](z: T) -> T:
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
