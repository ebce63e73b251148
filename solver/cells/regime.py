"""Conversion between the two representations of hybrid cells: discrete cells where they
are sparse, a continuum density where they are dense (issue 16; docs/hybrid.md).

The rule is local, with no fixed interface, after the spatial regime conversion method of
Cameron, Smith & Yates (2025, Mathematics 13:3406), here on the vertex patches of the P1
mesh that both representations already share (a discrete cell counts at the vertex whose
patch holds it: ``Population.vertex``). At vertex i, with lumped mass m_i, the total density
in cells per h_ref^d is

    S_i = n_i h_ref^d / m_i + u_E,i + u_M,i

(n_i: the discrete cells at i; u: the continuum densities). With the capacity Q per h_ref^d:

- **absorb** where S_i >= ``absorb`` Q: every active discrete cell at i joins its
  phenotype's density at i, u_i += h_ref^d / m_i, exactly one cell of mass. Dormant cells
  stay discrete: they are the seeds whose waking decides a metastasis, one by one.
- **release** where S_i < ``release`` Q: the whole cells of the density at i,
  k = floor(m_i u_i / h_ref^d), become discrete cells near vertex i, and the fraction of a
  cell stays in the density (mass is conserved exactly, to round-off).

With ``release`` < ``absorb`` a patch between the two thresholds converts nothing
(hysteresis), so cells do not flicker between the representations.

Rank independence: the counts are integers summed over ranks, and every rank that holds a
vertex computes S_i from the owner's values, so the decision is the same on every rank. A
released cell's id is a hash of (seed, the vertex's mesh input index, phenotype, index,
step); its place, clock and founder are keyed draws on that id. What can differ with the
rank count is u itself, at round-off (the continuum's sums run in the partition's order),
so a vertex whose S_i lies within ~1e-12 relative of a threshold may convert on one rank
count and not another.
"""

from __future__ import annotations

import dolfinx.fem as fem
import numpy as np
from mpi4py import MPI

from solver.cells import rng
from solver.cells.discrete import DiscreteCells
from solver.cells.exchange import ask
from solver.cells.locate import near
from solver.cells.population import DORMANT, EPITHELIAL, INVADING, MESENCHYMAL
from solver.fields import room_growth
from solver.lineage import Composition

PLACE_TRIES = 8  # draws of a released cell's position inside the organ before its vertex
ROUND = 1e-12  # relative round-off allowed when whole cells are read from a density
POOL = 2  # places per side of a release box (at least)


class Regimes:
    """Absorbs dense discrete cells into a continuum density u_E, u_M and releases sparse
    density as discrete cells, in one organ (see the module's note for the rule).
    """

    def __init__(
        self,
        cells: DiscreteCells,
        lumped: np.ndarray,
        Q: float,
        keys: np.ndarray,
        composition: Composition,
        *,
        absorb: float,
        release: float,
        ready: tuple[fem.Function, fem.Function] | None = None,
    ) -> None:
        """Args:
        cells: the organ's discrete cells.
        lumped: the lumped mass of each P1 dof, owned + ghost.
        Q: the capacity, cells per h_ref^d.
        keys: the mesh input index of each owned dof (partition-independent vertex keys).
        composition: the density's founders (solver/lineage.py); absorbed cells join it and
            released cells draw from it.
        absorb, release: the thresholds as fractions of Q, 0 < release < absorb.
        ready: with growth by room (solver/fields/room_growth.py), the ready fraction of each
            density: absorbed cells whose clock has run its doubling time join it, and a
            released cell is ready with the fraction's probability.
        """
        if not 0.0 < release < absorb:
            raise ValueError(f"need 0 < release < absorb, got {release}, {absorb}")
        self.cells, self.composition, self.ready = cells, composition, ready
        self.dim, self.comm, self.seed = cells.dim, cells.comm, cells.seed
        self.n_owned = len(keys)
        self.keys = np.asarray(keys, dtype=np.uint64)
        self.scale = cells.p.h_ref**self.dim / lumped  # density of one cell at each vertex
        self.hi, self.lo = absorb * Q, release * Q
        self.xv = cells.V.tabulate_dof_coordinates()[: self.n_owned, : self.dim]
        # Release boxes: POOL places a side, or twice the longest element on a coarser mesh,
        # so that every box holds vertices whose thin density can add up to whole cells.
        X = cells.walker.X[: cells.walker.n_owned]
        edge = self.comm.allreduce(float(np.ptp(X, axis=1).max()) if len(X) else 0.0, op=MPI.MAX)
        k = max(POOL, int(np.ceil(2.0 * edge / cells.p.h_ref - 1e-9)))
        self.pool = cells.lattice.boxes.coarsened(k)
        # Vertices on a box face have coordinates that differ by round-off between partitions:
        # a nudge of 1e-9 box sides puts them all in the upper box, on any rank count.
        self.pool_box = self.pool.box(self.xv + 1e-9 * self.pool.h)
        self.stats = {"absorbed": 0, "released": 0}

    def density(self, u_E: fem.Function, u_M: fem.Function) -> np.ndarray:
        """S at every dof, owned + ghost, in cells per h_ref^d (collective)."""
        for u in (u_E, u_M):
            u.x.scatter_forward()
        n = self.cells.vertex_counts()
        return n * self.scale[: len(n)] + u_E.x.array[: len(n)] + u_M.x.array[: len(n)]

    def absorb(self, u_E: fem.Function, u_M: fem.Function) -> int:
        """Dense patches take in their active discrete cells; returns how many, on every
        rank (collective).
        """
        dense = self.density(u_E, u_M) >= self.hi
        pop = self.cells.pop
        take = dense[pop.vertex] & (pop.state != DORMANT)
        if not self.comm.allreduce(bool(take.any()), op=MPI.LOR):
            return 0
        for phen, u in ((EPITHELIAL, u_E), (MESENCHYMAL, u_M)):
            n = self.cells.vertex_counts(take & (pop.phenotype == phen))
            added = n * self.scale[: len(n)]
            if self.ready is not None:  # cells whose cycle is done join the ready ones
                due = pop.clock >= self.cells.doubling[pop.phenotype]
                k = self.cells.vertex_counts(take & (pop.phenotype == phen) & due)
                r = self.ready[phen].x.array
                r[: len(n)] = room_growth.join(
                    u.x.array[: len(n)], r[: len(n)], added, k * self.scale[: len(n)]
                )
            u.x.array[: len(n)] += added
        gone = self.cells.remove(take)  # gathered on every rank, sorted by id
        self.composition.add(gone["seeded_by"], gone["founder"])
        self.stats["absorbed"] += len(gone["id"])
        return len(gone["id"])

    def release(self, u_E: fem.Function, u_M: fem.Function, n: int) -> int:
        """Sparse patches give their density back as discrete cells at step ``n``: per
        release box, floor of the sparse patches' mass per phenotype, taken from them in
        proportion and placed at their vertices by a systematic sample of that mass (see the
        module's note). Returns how many, on every rank (collective).
        """
        own = self.n_owned
        sparse = self.density(u_E, u_M)[:own] < self.lo
        mass = np.column_stack(
            [np.where(sparse, u.x.array[:own] / self.scale[:own], 0.0) for u in (u_E, u_M)]
        )
        at = np.flatnonzero(mass.sum(axis=1) > 0)
        b = self.pool_box[at]
        share = ask(
            self.comm,
            (b % self.comm.size).astype(np.int32),
            {"b": b, "key": self.keys[at], "m": mass[at]},
            lambda req: _sample(req, self.seed, n),
        ).reshape(-1, 4)
        for j, u in enumerate((u_E, u_M)):
            u.x.array[at] *= share[:, j]  # the share of its mass each patch keeps
            u.x.scatter_forward()
        rows = []
        for phen in (EPITHELIAL, MESENCHYMAL):
            count = share[:, 2 + phen].astype(np.int64)
            vertex = np.repeat(at, count)
            index = np.arange(len(vertex)) - np.repeat(np.cumsum(count) - count, count)
            rows.append(
                {
                    "key": (self.keys[vertex] << np.uint64(21))
                    | np.uint64(phen << 20)
                    | index.astype(np.uint64),
                    "x": self.xv[vertex],
                    "phenotype": np.full(len(vertex), phen, dtype=np.int8),
                    "ready": np.zeros(len(vertex))
                    if self.ready is None
                    else self.ready[phen].x.array[vertex],
                }
            )
        mine = {k: np.concatenate([r[k] for r in rows]) for k in rows[0]}
        parts = self.comm.allgather(mine)
        got = {k: np.concatenate([p[k] for p in parts]) for k in mine}
        if len(got["key"]) == 0:
            return 0
        order = np.argsort(got["key"], kind="stable")
        got = {k: v[order] for k, v in got.items()}
        ids = rng.hash64(self.seed, got["key"], n, rng.REGIME_ID)
        c = self.cells
        # As the initial cells (seed_initial): a small jitter, so that a released cell stays in
        # its vertex's patch (its binned density is the density it came from); motility
        # spreads them from the next step.
        spread = 0.05 * c.p.h_ref
        x = near(
            c.walker,
            c.V.mesh,
            got["x"],
            self.seed,
            ids,
            n,
            spread,
            rng.REGIME_PLACE,
            rng.REGIME_PLACE_AGAIN,
            PLACE_TRIES,
        )
        seeded_by, founder = self.composition.draw_pairs(self.seed, ids, n)
        phenotype = got["phenotype"]
        period = c.doubling[phenotype].astype(float)  # inf: cells that do not divide here
        draw = rng.uniform(self.seed, ids, n, rng.REGIME_CLOCK)
        finite = np.isfinite(period)
        # Ready (cycle done) with the density's ready fraction. Otherwise an age from the
        # stable age distribution of a population doubling every T, density
        # 2 ln 2 / T 2^(-a/T) on [0, T): its cells divide at the rate ln 2 / T at which the
        # density's cycling cells mature. A clock uniform over the cycle would divide at
        # 1 / T, 44 % faster, after every release (docs/hybrid.md, "Clocks at release").
        rf = got["ready"]
        ready = draw < rf
        rest = np.divide(draw - rf, 1.0 - rf, out=np.zeros_like(rf), where=~ready)
        age = -np.log2(1.0 - 0.5 * rest)  # inverse of F(a) = 2 (1 - 2^-a), a in [0, 1)
        clock = np.where(finite, np.floor(age * np.where(finite, period, 0.0)), 0.0)
        clock = np.where(ready & finite, np.where(finite, period, 0.0), clock)
        cols: dict[str, np.ndarray] = {
            "id": ids,
            "parent": ids,
            "phenotype": phenotype,
            "state": np.full(len(ids), INVADING, dtype=np.int8),
            "clock": clock,
            "founder": founder,
            "seeded_by": seeded_by,
        }
        c.put(x, cols)
        self.stats["released"] += len(ids)
        return len(ids)


def _sample(req: dict[str, np.ndarray], seed: int, n: int) -> np.ndarray:
    """On a release box's keeper: per requesting patch (rows of ``req``: box ``b``, vertex
    ``key``, mass ``m`` per phenotype), the share of its mass it keeps and the cells
    released at it, per phenotype: (rows, 4). A box releases k = floor(M) cells of a
    phenotype with mass M over its patches, taking k / M of every patch's mass, and places
    them by a systematic sample of the mass in the order of the vertex keys (points
    (u + i) M / k, i < k, u a keyed draw per box and step), so every patch with a whole
    cell's mass gets one and the result does not depend on the rank count.
    """
    out = np.zeros((len(req["b"]), 4))
    out[:, :2] = 1.0
    if len(req["b"]) == 0:
        return out
    order = np.lexsort((req["key"], req["b"]))
    b = req["b"][order]
    starts = np.flatnonzero(np.r_[True, b[1:] != b[:-1]])
    sizes = np.diff(np.r_[starts, len(b)])
    group = np.repeat(np.arange(len(starts)), sizes)
    last = np.r_[starts[1:] - 1, len(b) - 1]
    u0 = rng.uniform(seed, b[starts].astype(np.uint64), n, rng.REGIME_SAMPLE)
    for j in range(2):
        m = req["m"][order, j]
        total = np.add.reduceat(m, starts)
        k = np.floor(total * (1.0 + ROUND))
        with np.errstate(divide="ignore", invalid="ignore"):
            kept = np.where(k > 0, np.maximum(1.0 - k / total, 0.0), 1.0)
            step = np.where(k > 0, total / k, np.inf)
        out[order, j] = kept[group]
        # Points below each patch's cumulative end, clipped to the box's k (exactly k at
        # its last patch, whatever the round-off of the running sum).
        end = np.cumsum(m) - np.repeat(np.cumsum(m)[starts] - m[starts], sizes)
        below = np.clip(np.ceil(end / step[group] - u0[group]), 0.0, k[group])
        below[last] = k
        before = np.r_[0.0, below[:-1]]
        before[starts] = 0.0
        out[order, 2 + j] = below - before
    return out
