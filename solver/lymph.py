"""The lymphatic route (docs/lymphatics.md): lymphatic vessel sites around the primary, entry
into them, the units in transit through the primary's node basin, and the thoracic duct into
the venous blood.

- ``Lymphatics`` (one per primary, on its ranks): the sites, which of them are open (not
  inside the tumour: Padera et al. 2002), entry of the cells within reach (discrete cells, or
  the densities in continuum mode), and new sites in the band at the tumour margin where the
  tumour's VEGF-C (solver/fields/vegfc.py) is high (Skobe et al. 2001).
- ``Lymph`` (in ``body.Body``, the same on every rank): the units in transit. A unit reaches
  the basin's nodes in order; at node k it stops with the node's ``arrest`` probability and
  settles there like an arrival from the blood, else it goes on; after the last node it goes
  through the thoracic duct into the blood (``circulation.Blood.enter`` with origin ``DUCT``).
  Units pass intact (low shear: no break-up) and nothing dies in transit.

Every draw is keyed by (seed, site or unit id, step, purpose) as solver/cells/rng.py does: the
same on every rank and on every rank count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from mpi4py import MPI

from solver import config
from solver.cells import rng
from solver.cells.population import DORMANT, join_units
from solver.circulation import CARRIED, INCIDENCE, Arrival, _beds, carried, default_affinity

if TYPE_CHECKING:
    from solver.organ import Organ

DUCT = -1  # the blood's ``origin`` of a unit the thoracic duct brings (Blood.route)
COLUMNS = CARRIED + ("unit", "entered", "stage")
PLACE_TRIES = 20  # draws of a new site's position before it is given up (outside the organ)


class NodeCount(NamedTuple):
    """The regional nodes of a primary's basin, as the literature counts them.

    Attributes:
        typical: the usual count, in words.
        most: the most a basin may name (None: no cited upper bound, not checked).
        source: where the counts come from.
    """

    typical: str
    most: int | None
    source: str


# Regional nodes per primary type (config.check_lymph refuses a basin larger than ``most``).
REGIONAL_NODES: dict[str, NodeCount] = {
    "breast": NodeCount(
        "20-40 axillary nodes (levels I-III); a level III dissection yields a median of 4",
        40,
        "anatomy texts: 20 to 40 axillary nodes; Joshi et al. 2019 J Glob Oncol 5 "
        "(JGO.18.00165): level III median 4 (0-20) in 1,591 patients",
    ),
    "colorectal": NodeCount(
        "at least 12 nodes examined for staging",
        None,
        "Le Voyer et al. 2003 J Clin Oncol 21:2912 (survival rises with the nodes examined; "
        "the basis of the 12-node standard)",
    ),
    "lung": NodeCount(
        "hilar and mediastinal nodes: 18-21 examined gave the lowest mortality (median 6)",
        None,
        "Osarogiagbon et al. 2014 Ann Thorac Surg 97:385 (SEER, 24,650 resected pN0 NSCLC)",
    ),
    "prostate": NodeCount(
        "pelvic nodes: 26 +/- 6 in a standard, 30 +/- 7 in an extended dissection (17-44)",
        60,
        "dissection of 30 male cadavers (PMC7164256, 2020): limited 4-22, standard 16-35, "
        "extended 17-44, super-extended 24-60 nodes",
    ),
}


def duct_split(cfg: config.CirculationSpec, types: list[str]) -> np.ndarray:
    """Where the duct's surviving units arrest with anatomical routing: they enter the venous
    blood at the left venous angle, so the lungs are their first bed whatever the primary
    (no portal vein for a colorectal primary, no Batson's plexus for a prostate one, and a
    lung primary's own veins are not on their way); then the arteries, as every circuit after
    the first (circulation._beds). The affinities are the primary's
    (``circulation.default_affinity``). Last entry: organs the case does not model.
    """
    fitted = set(INCIDENCE.get(cfg.primary_type, ())) - set(cfg.affinity)
    affinity = (default_affinity(cfg) if fitted else {}) | dict(cfg.affinity)
    venous = cfg.model_copy(update={"primary_type": "other", "vertebral_bypass": 0.0})
    where = _beds(venous, affinity)
    probs = np.zeros(len(types) + 1)
    for j, t in enumerate(types):
        probs[j] = where.get(t, 0.0) / types.count(t)
    probs[-1] = 1.0 - probs[:-1].sum()
    return probs


def blood_routing(case: config.Case) -> config.CirculationSpec:
    """The blood's routing: the case's, except that with a node basin and the fixed split
    left empty (equal shares) the basin's nodes take no share: they receive cells through
    the lymph. The duct's units are routed by the same split (the fixed split knows no beds).
    """
    circ = case.circulation
    if not case.lymph.basin or circ.routing != "split" or circ.split:
        return circ
    basin = {b.node for b in case.lymph.basin}
    others = [o.name for o in case.secondary if o.name not in basin]
    return circ.model_copy(update={"split": dict.fromkeys(others, 1.0 / len(others))})


def entry_unit(seed: int, site: int, step: int) -> int:
    """The id of the unit that lymphatic site ``site`` takes at ``step``."""
    key = (np.uint64(site) << np.uint64(32)) | np.uint64(1 << 31)
    return int(rng.hash64(seed, np.array([key]), step, rng.LYMPH_ID)[0])


def _directions(seed: int, keys: np.ndarray, step: int, dim: int) -> np.ndarray:
    """Unit vectors uniform on the circle / sphere, from two keyed uniforms each."""
    u = rng.uniform(seed, keys, step, rng.LYMPH_DIRECTION)
    v = rng.uniform(seed, keys, step, rng.LYMPH_DIRECTION + 1)
    if dim == 2:
        return np.column_stack([np.cos(2 * np.pi * u), np.sin(2 * np.pi * u)])
    z = 2.0 * u - 1.0
    r = np.sqrt(1.0 - z * z)
    return np.column_stack([r * np.cos(2 * np.pi * v), r * np.sin(2 * np.pi * v), z])


class Lymphatics:
    """The primary's lymphatic vessel sites and entry into them (collective on the organ).

    Args:
        organ: the primary (built up to its vessels and cells).
        spec: the case's ``[lymph]``.
    """

    def __init__(self, organ: Organ, spec: config.LymphSpec) -> None:
        self.organ, self.spec = organ, spec
        self.seed, self.dim, self.dt = organ.seed, organ.dim, organ.dt
        self.p_entry = -math.expm1(-spec.entry * organ.dt)
        # Cells within reach of a site enter it: the blood's reach (vessel radius + h_ref).
        self.reach = organ.reach
        self.born: list[int] = []  # the step each site appeared (0: initial)
        self.stats = {"entered": 0, "units": 0, "closed_steps": 0, "new_sites": 0}
        self.expected_sites = 0.0  # the sum of grow's Poisson means: new_sites' expectation
        self.x = np.zeros((0, self.dim))
        centre = np.asarray(organ.om.tumour_centre, dtype=float)[: self.dim]
        if spec.centres is not None:
            from solver.cells.locate import claim

            x = np.asarray(spec.centres, dtype=float).reshape(-1, self.dim)
            outside = np.flatnonzero(claim(organ.cells.walker, organ.mesh, x)[0] < 0)
            if len(outside):
                raise config.CaseError(
                    f"key 'lymph.centres': {x[outside].tolist()} lie outside the primary "
                    f"organ {organ.name!r}"
                )
            self._add(x, 0)
        else:
            keys = np.arange(spec.sites, dtype=np.uint64)
            self._add(self._positions(centre, keys, 0, spec.inner, spec.outer), 0)
        self._regions: list[tuple[np.ndarray, np.ndarray]] = []

    # -- sites ------------------------------------------------------------------------
    def _positions(
        self, centre: np.ndarray, keys: np.ndarray, step: int, r0: float, r1: float
    ) -> np.ndarray:
        """Points at distance r0..r1 from ``centre`` in keyed directions, inside the organ
        (a point outside draws again, ``PLACE_TRIES`` times, then is left out). Collective.
        """
        from solver.cells.locate import claim  # dolfinx: not imported when a case is loaded

        out = np.full((len(keys), self.dim), np.nan)
        todo = np.arange(len(keys))
        for attempt in range(PLACE_TRIES):
            if len(todo) == 0:
                break
            k = keys[todo] + np.uint64(attempt << 40)
            r = r0 + (r1 - r0) * rng.uniform(self.seed, k, step, rng.LYMPH_RADIUS)
            x = centre + r[:, None] * _directions(self.seed, k, step, self.dim)
            inside = claim(self.organ.cells.walker, self.organ.mesh, x)[0] >= 0
            out[todo[inside]] = x[inside]
            todo = todo[~inside]
        return out[~np.isnan(out).any(axis=1)]

    def _add(self, x: np.ndarray, step: int) -> None:
        room = max(self.spec.max_sites - len(self.x), 0)
        x = x[:room]
        self.x = np.vstack([self.x, x])
        self.born += [step] * len(x)

    def _site_regions(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per site, the owned dofs within its reach and in the annulus reach < d <= 2 reach
        (at least the nearest dof in the first).
        """
        o = self.organ
        xy = o.V.tabulate_dof_coordinates()[: o.n_owned, : self.dim]
        for x in self.x[len(self._regions) :]:
            d = np.linalg.norm(xy - x, axis=1)
            nearest = o.comm.allreduce(float(d.min(initial=np.inf)), op=MPI.MIN)
            reach = max(self.reach, nearest) * (1.0 + 1e-9)
            self._regions.append(
                (np.flatnonzero(d <= reach), np.flatnonzero((d > reach) & (d <= 2.0 * reach)))
            )
        return self._regions

    def density(self) -> np.ndarray:
        """Mean cell density within reach of each site over the capacity Q (collective)."""
        o = self.organ
        cells = o._all_cells()
        sums = np.array(
            [[o.lumped[d] @ cells[d], o.lumped[d].sum()] for d, _ in self._site_regions()],
            dtype=float,
        ).reshape(-1, 2)
        o.comm.Allreduce(MPI.IN_PLACE, sums, op=MPI.SUM)
        return sums[:, 0] / np.maximum(sums[:, 1], 1e-300) / o.cells_cfg.capacity(self.dim)

    def open(self) -> np.ndarray:
        """Whether each site drains: closed inside the tumour (Padera et al. 2002)."""
        return self.density() <= self.spec.closed_above

    def band(self) -> tuple[np.ndarray, np.ndarray]:
        """The margin band's mesh vertices, r_95 <= |x - tumour centre| <= r_95 + margin, on
        every rank in one order (sorted by coordinates, whatever the partition): their
        coordinates and weights m_i C_i / h_ref^d (lumped mass x VEGF-C, in cell-equivalents).
        Collective.
        """
        o = self.organ
        r95 = o.invasion_radius()[1]
        centre = np.asarray(o.om.tumour_centre, dtype=float)[: self.dim]
        xy = o.V.tabulate_dof_coordinates()[: o.n_owned, : self.dim]
        d = np.linalg.norm(xy - centre, axis=1)
        sel = (d >= r95) & (d <= r95 + self.spec.margin)
        C = o.fields["vegfc"].x.array[: o.n_owned]
        w = o.lumped[: o.n_owned][sel] * np.maximum(C[sel], 0.0) / o.cells_cfg.h_ref**self.dim
        xs = np.vstack(o.comm.allgather(xy[sel])).reshape(-1, self.dim)
        ws = np.concatenate(o.comm.allgather(w))
        order = np.lexsort(xs.T[::-1])
        return xs[order], ws[order]

    def grow(self, n: int) -> None:
        """Lymphangiogenesis over step ``n``, driven by VEGF-C (solver/fields/vegfc.py): a
        Poisson number of new sites with mean lymphangiogenesis x (sum over the margin band's
        vertices of m_i C_i / h_ref^d) x dt, each at a band vertex drawn with probability
        m_i C_i / sum (independent Poisson sprouting at every vertex, at a rate proportional to
        its VEGF-C). One keyed uniform for the count, one per new site for its vertex: the
        same on any number of ranks. Collective.
        """
        if self.spec.lymphangiogenesis == 0.0 or len(self.x) >= self.spec.max_sites:
            return
        xs, ws = self.band()
        cum = np.cumsum(ws)
        total = float(cum[-1]) if len(cum) else 0.0
        mean = self.spec.lymphangiogenesis * total * self.dt
        self.expected_sites += mean
        if mean <= 0.0:
            return
        u = float(rng.uniform(self.seed, np.array([0], dtype=np.uint64), n, rng.LYMPH_SPROUT)[0])
        k, p = 0, math.exp(-mean)  # Poisson by inversion of one keyed uniform
        cdf = p
        while u > cdf and k < self.spec.max_sites:
            k += 1
            p *= mean / k
            cdf += p
        if k == 0:
            return
        keys = (np.uint64(1) << np.uint64(36)) + np.arange(k, dtype=np.uint64)
        # Where a grown site lies: LYMPH_RADIUS, the stream of placed sites' positions.
        v = rng.uniform(self.seed, keys, n, rng.LYMPH_RADIUS) * total
        at = np.minimum(np.searchsorted(cum, v, side="right"), len(cum) - 1)
        before = len(self.x)
        self._add(xs[at], n)
        self.stats["new_sites"] += len(self.x) - before

    # -- entry ------------------------------------------------------------------------
    def enter(self, n: int) -> list[tuple[int, dict[str, np.ndarray]]]:
        """The cells that enter a lymphatic site at step ``n``: (site, cells) per site that
        takes a unit, the same on every rank (collective on the organ). An open site with
        cells within reach takes them with probability 1 - exp(-entry dt): every active cell
        within reach (E and M alike: no basement membrane to breach) as one unit.
        """
        if len(self.x) == 0:
            return []
        is_open = self.open()
        self.stats["closed_steps"] += int((~is_open).sum())
        sites = np.arange(len(self.x), dtype=np.uint64)
        fire = is_open & (rng.uniform(self.seed, sites, n, rng.LYMPH_ENTRY) < self.p_entry)
        if self.organ.regimes is not None:  # hybrid: the discrete cells and the density's unit
            out = join_units(self._take(fire), self._shed(n, fire))
        elif self.organ.continuum is not None:
            out = self._shed(n, fire)
        else:
            out = self._take(fire)
        self.stats["units"] += len(out)
        self.stats["entered"] += sum(len(c["id"]) for _, c in out)
        return out

    def _take(self, fire: np.ndarray) -> list[tuple[int, dict[str, np.ndarray]]]:
        """Discrete cells: every active cell within reach of a firing site (the nearest
        firing site if several) leaves with it.
        """
        if not fire.any():
            return []
        cells = self.organ.cells
        pop = cells.pop
        fired = np.flatnonzero(fire)
        d = np.linalg.norm(pop.x[:, None, :] - self.x[fired][None], axis=2)
        within = (d <= self.reach) & (pop.state != DORMANT)[:, None]
        nearest = np.argmin(np.where(within, d, np.inf), axis=1)
        site = np.where(within.any(axis=1), fired[nearest], -1)
        gone = cells.remove(site >= 0, extra={"site": site})
        out = []
        for s in fired:
            sel = gone["site"] == s
            if sel.any():
                out.append((int(s), {k: v[sel] for k, v in gone.items() if k != "site"}))
        return out

    def _shed(self, n: int, fire: np.ndarray) -> list[tuple[int, dict[str, np.ndarray]]]:
        """Continuum: the mean field of ``_take``. A site takes a unit with the probability
        that it fires and at least one cell lies within its reach, p_entry (1 - exp(-N)), N
        the active cells within reach (Poisson); the unit is a stochastic rounding of that
        mass per phenotype (expected size = the mass), taken from the density within reach
        (the rounding's last cell from the annulus reach < d <= 2 reach), so that mass is
        conserved, as ``Organ._shed`` does for the blood (docs/continuum.md).
        """
        o = self.organ
        regions = self._site_regions()
        if not len(regions):
            return []
        near_all = o._masses(list(o.density_names), [reach for reach, _ in regions])
        sites = np.arange(len(self.x), dtype=np.uint64)
        # Given the site fires (its own draw), it holds a cell with 1 - exp(-N).
        u = rng.uniform(self.seed, sites, n, rng.LYMPH_ROUND + 1)
        takes = fire & (u < -np.expm1(-near_all.sum(axis=1)))
        out = []
        for s in np.flatnonzero(takes):
            reach, ring = regions[s]
            keys = np.array([4 * s, 4 * s + 1], dtype=np.uint64)
            cells = o.shed_unit(
                n, int(s), reach, ring, self.x[s], keys, rng.LYMPH_ROUND, rng.LYMPH_ID
            )
            if cells is not None:
                out.append((int(s), cells))
        if takes.any():
            o._scatter_densities()
        return out

    # -- what is reported and kept ----------------------------------------------------------
    def metrics(self) -> dict[str, float]:
        """The primary's lymphatic columns of metrics.csv (collective on the organ)."""
        is_open = self.open() if len(self.x) else np.zeros(0, dtype=bool)
        return {
            "lymphatic_sites": float(len(self.x)),
            "lymphatic_sites_open": float(is_open.sum()),
            "lymphatic_sites_new": float(self.stats["new_sites"]),
            "lymphatic_sites_expected": self.expected_sites,
        }

    def state(self) -> dict[str, Any]:
        """What a checkpoint keeps (plain data)."""
        return {
            "x": self.x.copy(),
            "born": list(self.born),
            "stats": dict(self.stats),
            "expected_sites": self.expected_sites,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """The inverse of ``state``."""
        self.x = np.asarray(state["x"], dtype=float).reshape(-1, self.dim)
        self.born = [int(b) for b in state["born"]]
        self.stats = {k: int(v) for k, v in state["stats"].items()}
        # Absent from checkpoints written before the VEGF-C law, whose cases grew none by it.
        self.expected_sites = float(state.get("expected_sites", 0.0))
        self._regions = []


@dataclass
class Duct:
    """Cells that leave the last node into the thoracic duct's outflow (the venous blood)."""

    unit: np.ndarray
    cells: dict[str, np.ndarray]


class Lymph:
    """The units in transit through the basin, as rows replicated on every rank.

    Args:
        spec: the case's ``[lymph]`` (its basin in order).
        nodes: the index among the secondaries of each basin node.
        sites: the vessel sites of each basin node (where an arrested unit settles).
        seed, dt: the run's.
    """

    def __init__(
        self, *, spec: config.LymphSpec, nodes: list[int], sites: list[int], seed: int, dt: float
    ) -> None:
        self.spec, self.nodes, self.seed = spec, list(nodes), seed
        self.sites = np.asarray(sites, dtype=np.int64)
        self.arrest = np.array([b.arrest for b in spec.basin], dtype=float)
        # Steps to each node from the previous one, then through the duct.
        times = [b.transit for b in spec.basin] + [spec.duct_transit]
        self.transit = np.array([max(int(round(t / dt)), 1) for t in times], dtype=np.int64)
        self.rows: dict[str, np.ndarray] = {
            "id": np.zeros(0, np.uint64),
            "parent": np.zeros(0, np.uint64),
            "phenotype": np.zeros(0, np.int8),
            "clock": np.zeros(0),
            "unit": np.zeros(0, np.uint64),
            "entered": np.zeros(0, np.int64),  # the step it set out for its stage
            "stage": np.zeros(0, np.int64),  # the node it travels to; len(basin): the duct
            "founder": np.zeros(0, np.uint64),  # lineage (docs/biopsy.md)
        }
        self.counts: dict[str, Any] = {
            "entered": 0,
            "units_entered": 0,
            "arrested": [0] * len(self.nodes),  # cells that stopped in each node
            "units_arrested": [0] * len(self.nodes),
            "failed_node": 0,  # arrested cells a node had no room for (Body)
            "to_blood": 0,
            "units_to_blood": 0,
        }

    def __len__(self) -> int:
        return len(self.rows["id"])

    def enter(self, cells: dict[str, np.ndarray], unit: np.ndarray, step: int) -> None:
        """Cells (portable columns, the same on every rank) set out for the sentinel node in
        their units (``unit``: the unit of each cell).
        """
        n = len(cells["id"])
        if n == 0:
            return
        new = {
            **carried(cells),
            "unit": np.asarray(unit, dtype=np.uint64),
            "entered": np.full(n, step, dtype=np.int64),
            "stage": np.zeros(n, dtype=np.int64),
        }
        self.rows = {
            k: np.concatenate([v, np.asarray(new[k], dtype=v.dtype)]) for k, v in self.rows.items()
        }
        self.counts["entered"] += n
        self.counts["units_entered"] += len(np.unique(unit))

    def advance(self, step: int) -> tuple[list[Arrival], Duct | None]:
        """The units whose leg ends at ``step``: at a node each stops with its arrest
        probability (one keyed draw per unit: a unit stops or passes whole) at one of the
        node's vessel sites, else sets out for the next; after the duct they leave into the
        blood. Returns the arrivals (``organ`` = the index among the secondaries) and the
        duct's outflow.
        """
        K = len(self.nodes)
        due = self.rows["entered"] + self.transit[self.rows["stage"]] <= step
        if not due.any():
            return [], None
        rows = {k: v[due] for k, v in self.rows.items()}
        self.rows = {k: v[~due] for k, v in self.rows.items()}
        stage, unit = rows["stage"], rows["unit"]
        at_node = stage < K
        u = rng.uniform(self.seed, unit, step, rng.LYMPH_ARREST)
        stop = at_node & (u < self.arrest[np.minimum(stage, K - 1)])
        arrivals = []
        for k in np.unique(stage[stop]):
            sel = stop & (stage == k)
            site = np.floor(
                rng.uniform(self.seed, unit[sel], step, rng.LYMPH_NODE_SITE) * self.sites[k]
            ).astype(np.int64)
            arrivals.append(
                Arrival(
                    self.nodes[k],
                    site,
                    unit[sel],
                    # The unit that seeds the node (lineage: docs/biopsy.md).
                    dict(
                        {c: rows[c][sel] for c in CARRIED},
                        seeded_by=unit[sel],
                    ),
                )
            )
            self.counts["arrested"][k] += int(sel.sum())
            self.counts["units_arrested"][k] += len(np.unique(unit[sel]))
        on = at_node & ~stop
        moving = {k: v[on] for k, v in rows.items()}
        moving["stage"] = moving["stage"] + 1
        moving["entered"] = np.full(int(on.sum()), step, dtype=np.int64)
        self.rows = {k: np.concatenate([self.rows[k], moving[k]]) for k in self.rows}
        out = ~at_node
        duct = None
        if out.any():
            duct = Duct(
                unit[out],
                {c: rows[c][out] for c in CARRIED},
            )
            self.counts["to_blood"] += int(out.sum())
            self.counts["units_to_blood"] += len(np.unique(unit[out]))
        return arrivals, duct

    def metrics(self) -> dict[str, int]:
        """The lymph's columns of metrics.csv: cells in transit, entered, stopped in the
        nodes and handed to the blood so far.
        """
        c = self.counts
        return {
            "lymph_cells": len(self),
            "lymph_entered": c["entered"],
            "lymph_arrested": int(sum(c["arrested"])),
            "lymph_to_blood": c["to_blood"],
        }

    def state(self) -> dict:
        """What a checkpoint keeps, as plain data."""
        return {"rows": dict(self.rows), "counts": dict(self.counts)}

    def check_state(self, c, state: dict) -> None:
        """Refuse (``c``: checkpoint.Check) a simulation state whose lymph ``state`` did not
        write.
        """
        K = len(self.nodes)
        spec: dict[str, tuple] = {
            "id": (np.uint64, (), None, None, False),
            "parent": (np.uint64, (), None, None, False),
            "phenotype": (np.int8, (), 0, 2, False),
            "clock": (np.float64, (), None, None, True),
            "unit": (np.uint64, (), None, None, False),
            "entered": (np.int64, (), 0, None, False),
            "stage": (np.int64, (), 0, K + 1, False),
            "founder": (np.uint64, (), None, None, False),
        }
        lymph = c.get(state, "lymph", "lymph", dict)
        c.columns(lymph, "rows", spec, "lymph")
        counts = c.get(lymph, "counts", "lymph.counts", dict)
        for k, v in self.counts.items():
            got = c.get(counts, k, f"lymph.counts.{k}", type(v))
            if isinstance(v, list) and (
                len(got) != K or not all(type(x) is int and x >= 0 for x in got)
            ):
                c.fail(f"lymph.counts.{k}", f"expected {K} counts, one per node")
            if isinstance(v, int) and got < 0:
                c.fail(f"lymph.counts.{k}", "negative")

    def load_state(self, state: dict) -> None:
        """Take back what ``state`` returned (checked first with ``check_state``)."""
        self.rows = dict(state["rows"])
        self.counts = {
            k: (list(v) if isinstance(v, list) else v) for k, v in state["counts"].items()
        }
