"""The blood: clusters of circulating tumour cells between intravasation and arrival in
a secondary organ (docs/model.md section 4).

Organs are coupled only here. The blood is small, so every rank keeps the same copy,
and every decision (break-away, survival, route, vessel site, extravasation) is drawn
from counter-based random numbers keyed by cell or cluster id: the same on every rank
and on every rank count.

Leaving the blood after T_V, with ``order = "disaggregate_first"`` (as Franssen's
reference implementation): each cell of a multicell cluster breaks away with P_d; then
each single cell survives with P_s and each remaining cluster (of two or more) with
P_C; or, with ``survival = "hazards"``, with the probability its hazards of death give over
its time in the blood (``survival_probability``, docs/survival.md). With ``survive_first``
the clusters first survive as they entered, then break up.
Survivors go to a secondary organ by the fixed split, to one of its vessel sites, and
extravasate with p_ext = 1 - (1 - p0) exp(-epsilon N) (N = 0 until the niche exists).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import least_squares

from solver import config
from solver.cells import rng

# What a cell carries between organs (through the blood or the lymph), then the blood's own.
CARRIED = ("id", "parent", "phenotype", "clock", "founder")
COLUMNS = CARRIED + ("cluster", "entered", "origin")


def carried(cells: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The ``CARRIED`` columns of ``cells``; a cell without a founder is its own (lineage:
    docs/biopsy.md).
    """
    return {k: cells[k] if k != "founder" else cells.get(k, cells["id"]) for k in CARRIED}


# Resting cardiac output to organs (fractions); Williams & Leggett (1989) Clin Phys Physiol
# Meas 10:187, as restated in docs/model.md section 4 (liver: hepatic artery only).
CARDIAC_OUTPUT = {
    "brain": 0.12,
    "kidney": 0.20,
    "liver": 0.065,
    "bone": 0.05,
    "muscle": 0.17,
    "skin": 0.05,
    "heart": 0.04,
    "gut": 0.20,
    "other": 0.105,
}
ARREST = 0.8  # illustrative default arrest probability in a capillary bed
LOG_MIN_AFFINITY = np.log(1e-12)  # a fitted affinity below 1e-12 of the best soil's: no fit


def extravasation_probability(spec: config.ExtravasationSpec, N: np.ndarray | float = 0.0) -> Any:
    """p_ext = 1 - (1 - p0) exp(-epsilon N) for the niche conditioning N at a vessel site
    (docs/model.md section 4): the arrivals' chance to leave the blood there.
    """
    return 1.0 - (1.0 - spec.p0) * np.exp(-spec.epsilon * N)


# Observed incidence of metastases by primary type (relative; patients with a metastasis in
# the organ). The default affinities are derived from these (``default_affinity``).
INCIDENCE: dict[str, dict[str, float]] = {
    # Wu et al. (2017) Oncotarget 8:27990, SEER 2010-2013, 243,896 patients (counts).
    "breast": {"bone": 8848, "lung": 4167, "liver": 3434, "brain": 1000},
    # Gandaglia et al. (2014) Prostate 74:210, 74,826 metastatic patients (%; thorax as lung).
    "prostate": {"bone": 84.0, "liver": 10.2, "lung": 9.1, "brain": 3.1},
    # Qiu et al. (2015) Oncotarget 6:38658, SEER 2010-2011 colon adenocarcinoma (%); brain
    # 0.21 % from their 0.1 % without and 3.1 % with lung metastases (lung 3.7 %).
    "colorectal": {"liver": 13.8, "lung": 3.7, "bone": 0.8, "brain": 0.21},
    # Li et al. (2019) J Cancer 10:3079, SEER 2010-2014 NSCLC with one metastatic site (%).
    "lung": {"bone": 22.3, "lung": 20.1, "brain": 15.4, "liver": 6.1},
}


def _beds(cfg, affinity: dict[str, float]) -> dict[str, float]:
    """Fraction of surviving units that arrest in each capillary bed (by organ type).

    First pass: (prostate: Batson's plexus to bone with ``vertebral_bypass``) -> the first
    capillary bed (liver through the portal vein for colorectal primaries; the lungs for
    most others) -> the lungs -> the arteries by cardiac output. A lung primary drains
    into the pulmonary veins, so its units meet the arteries first and the lungs on the
    venous return. In each bed a unit arrests with min(1, arrest x affinity). What passes
    every bed returns through the veins and goes round again (lungs, arteries) until it
    arrests: a geometric series of circuits.
    """

    def circuit(frac: float, where: dict[str, float], first: bool) -> float:
        def visit(bed: str, f: float) -> float:
            p = f * min(1.0, cfg.arrest.get(bed, ARREST) * affinity.get(bed, 1.0))
            where[bed] = where.get(bed, 0.0) + p
            return f - p

        def arteries(f: float) -> float:
            return f - sum(f * q - visit(bed, f * q) for bed, q in CARDIAC_OUTPUT.items())

        if first and cfg.primary_type == "prostate" and cfg.vertebral_bypass > 0:
            frac = (1.0 - cfg.vertebral_bypass) * frac + visit("bone", cfg.vertebral_bypass * frac)
        if first and cfg.primary_type == "colorectal":
            frac = visit("liver", frac)
        if cfg.primary_type == "lung":
            return visit("lung", arteries(frac))
        return arteries(visit("lung", frac))

    where: dict[str, float] = {}
    rest = circuit(1.0, where, first=True)
    loop: dict[str, float] = {}
    passing = circuit(1.0, loop, first=False)  # per unit that enters a later circuit
    if rest > 0 and passing < 1.0:
        for bed, p in loop.items():
            where[bed] = where.get(bed, 0.0) + rest * p / (1.0 - passing)
    return where


def default_affinity(cfg) -> dict[str, float]:
    """The metastatic efficiency index (observed / flow-expected incidence; Weiss 1992,
    Scott et al. 2014) of each organ type for ``cfg.primary_type``: the affinities with
    which this routing (with the case's ``arrest``) reproduces the observed incidence shares
    in ``INCIDENCE``, scaled so that the most favoured organ has 1 (it arrests ``arrest`` of
    what reaches it, so flow is not counted twice). Derived without the vertebral bypass,
    which a case adds on top. Primary types without data (and organ types outside the
    table): 1. Raises ``config.CaseError`` when no affinities in (0, 1] reproduce the shares.
    """
    observed = INCIDENCE.get(cfg.primary_type)
    if not observed:
        return {}
    flow = cfg.model_copy(update={"vertebral_bypass": 0.0})
    # Organ types that arrest nothing (arrest 0 in the case) get no share whatever their
    # affinity: they keep 1 and the others are fitted to their observed incidence. Reach is
    # tested with small affinities: at 1, an arrest override 1.0 upstream would hide the rest.
    reach = _beds(flow, dict.fromkeys(observed, 1e-3))
    types = [t for t in observed if reach.get(t, 0.0) > 0]
    out = dict.fromkeys(observed, 1.0)
    if len(types) < 2:
        return out
    target = np.array([observed[t] for t in types], dtype=float)
    target /= target.sum()

    def shares(a: dict[str, float]) -> np.ndarray:
        where = _beds(flow, out | a)
        s = np.array([where[t] for t in types])
        return s / s.sum()

    # The most favoured type has affinity 1; try each type as that one and solve for the
    # log-affinities (<= 0) of the others: n - 1 unknowns, n - 1 independent shares.
    best = None
    for top in sorted(types, key=lambda t: -target[types.index(t)]):
        free = [t for t in types if t != top]

        def residual(x, top=top, free=free):
            return (shares({top: 1.0} | dict(zip(free, np.exp(x)))) - target)[
                [types.index(t) for t in free]
            ]

        fit = least_squares(
            residual,
            np.zeros(len(free)),
            bounds=(LOG_MIN_AFFINITY, 0.0),
            xtol=1e-15,
            ftol=1e-15,
            gtol=1e-15,
        )
        a = {top: 1.0} | dict(zip(free, np.exp(fit.x).tolist()))
        err = np.abs(shares(a) - target).max()
        if best is None or err < best[0]:
            best = (err, a)
        if err < 1e-9:
            return out | a
    assert best is not None  # types has two or more entries: the loop ran
    got = ", ".join(f"{t} {s:.3f}" for t, s in zip(types, shares(best[1])))
    want = ", ".join(f"{t} {s:.3f}" for t, s in zip(types, target))
    raise config.CaseError(
        f"key 'circulation.arrest' = {dict(cfg.arrest)}: no default affinities (0 < affinity <= 1) "
        f"reproduce the observed incidence of {cfg.primary_type} metastases ({want}); the closest "
        f"is {got}: an organ type whose arrest is too small for its share would need the others' "
        "affinities below 1e-12 of its own. Give 'circulation.affinity' for these organ types or "
        "change their 'circulation.arrest'."
    )


def anatomical_split(cfg, types: list[str]) -> np.ndarray:
    """Probability that a surviving unit arrests in each organ (by type; organs of one type
    share it) and, last, that it arrests in an organ the case does not model (counted as
    elsewhere). Affinities: the case's, else ``default_affinity``.
    """
    fitted = set(INCIDENCE.get(cfg.primary_type, ())) - set(cfg.affinity)
    where = _beds(cfg, (default_affinity(cfg) if fitted else {}) | dict(cfg.affinity))
    probs = np.zeros(len(types) + 1)
    for j, t in enumerate(types):
        probs[j] = where.get(t, 0.0) / types.count(t)
    probs[-1] = 1.0 - probs[:-1].sum()
    return probs


def survival_probability(
    h: config.HazardsSpec, size: np.ndarray, tau: np.ndarray, kept: np.ndarray | float
) -> np.ndarray:
    """The chance that a unit survives the blood under the hazards ``h`` (docs/survival.md).

    A bare unit of n cells dies at the rate g(n) (shear + nk + baseline), a coated one at
    g(n) times each rate lowered by its shield times the coat it keeps; over its time in the
    blood ``tau`` the bare unit survives with exp(-g(n) H_bare) and the coated one with
    exp(-g(n) H_coated). A unit is coated with probability ``h.coated``, so its chance is the
    mixture of the two. g(1) = 1, g(n) = cluster (n / 2)^-size_exponent for n >= 2.

    Args:
        h: the hazards.
        size: cells in each unit.
        tau: each unit's time in the blood (T).
        kept: the integral over that time of the fraction of the coat kept (1 - the fraction an
            anti-platelet intervention removes): ``tau`` without one.
    """
    size = np.asarray(size, dtype=float)
    g = np.where(size > 1, h.cluster * (np.maximum(size, 2.0) / 2.0) ** -h.size_exponent, 1.0)
    total = (h.shear + h.nk + h.baseline) * np.asarray(tau, dtype=float)
    shield = (h.shield_shear * h.shear + h.shield_nk * h.nk + h.shield_baseline * h.baseline) * kept
    return h.coated * np.exp(-g * (total - shield)) + (1.0 - h.coated) * np.exp(-g * total)


def coat_removed(antiplatelet: list[config.InterventionSpec], t: float) -> float:
    """The fraction of the platelet coat that the anti-platelet interventions active at
    time ``t`` remove (their strengths add, at most the whole coat).
    """
    return min(1.0, sum(i.strength for i in antiplatelet if i.active(t)))


@dataclass
class Arrival:
    """Cells that leave the blood into ``organ`` (index among the secondaries) at
    vessel site ``site``; one row per cell, ``unit`` is the cluster (or single) id.
    """

    organ: int
    site: np.ndarray
    unit: np.ndarray
    cells: dict[str, np.ndarray]


class Blood:
    """The circulating cells, as rows replicated on every rank, and their fate after T_V:
    break-up, survival, route and extravasation into a secondary organ.
    """

    def __init__(
        self,
        *,
        cfg: config.CirculationSpec,
        secondaries: list[str],
        sites: list[int],
        p_ext: list[float],
        seed: int,
        dt: float,
        types: list[str] | None = None,
        antiplatelet: list[config.InterventionSpec] | None = None,
        switching: config.SwitchingSpec | None = None,
        duct_split: np.ndarray | None = None,
    ):
        """Args:
        cfg: the ``[circulation]`` parameters.
        secondaries: the secondary organs' names.
        sites: number of vessel sites per secondary organ.
        p_ext: the probability of extravasation per secondary organ (p0 with N = 0).
        seed, dt: the run's.
        types: organ types for anatomical routing (default: the names).
        antiplatelet: the case's anti-platelet interventions (``survival = "hazards"``): they
            thin the platelet coat of the units in the blood while they act.
        switching: EMT by platelets for the survivors (cells.switching on; docs/emt.md).
        duct_split: where units the thoracic duct brings (origin ``lymph.DUCT``) arrest
            (solver/lymph.py: lungs first); default: the split of every other unit.
        """
        self.cfg = cfg
        self.seed = seed
        self.dt = dt
        self.antiplatelet = list(antiplatelet or [])
        self.switching = switching
        self.transit = max(int(round(cfg.T_V / dt)), 1)
        self.sites = np.asarray(sites)
        # Probability of extravasation per secondary organ and vessel site (set_extravasation).
        self.p_ext = [np.full(int(k), float(p)) for k, p in zip(sites, p_ext)]
        if cfg.routing == "anatomical":
            # Its last entry: the organs that are not modelled.
            split = anatomical_split(cfg, list(types or secondaries))
        else:
            split = (
                np.array([cfg.split.get(name, 0.0) for name in secondaries])
                if cfg.split
                else np.ones(len(secondaries))
            )
            split = np.r_[split / split.sum(), 0.0] if len(secondaries) else np.zeros(1)
        self.split = split
        self.cumulative = np.cumsum(split)
        self.duct_cumulative = np.cumsum(duct_split) if duct_split is not None else self.cumulative
        self.rows: dict[str, np.ndarray] = {
            k: np.zeros(
                0, dtype=np.uint64 if k in ("id", "parent", "cluster", "founder") else np.int64
            )
            for k in COLUMNS
        }
        self.rows["clock"] = np.zeros(0)
        self.rows["phenotype"] = np.zeros(0, dtype=np.int8)
        self.counts = {
            "entered": 0,
            "clusters_entered": 0,
            "died": 0,
            "failed_extravasation": 0,
            "arrived": 0,
            "elsewhere": 0,
        }
        self.last: dict[str, Any] = {}  # what happened in the last ``leave`` with cells due
        if switching is not None:
            self.counts["emt"] = 0  # cells turned mesenchymal by platelets (docs/emt.md)

    def __len__(self) -> int:
        return len(self.rows["id"])

    def state(self) -> dict:
        """What a checkpoint keeps, as plain data (the rest follows from the case)."""
        return {"rows": dict(self.rows), "counts": dict(self.counts), "p_ext": list(self.p_ext)}

    def check_state(self, c, state: dict) -> None:
        """Refuse (``c``: checkpoint.Check) a simulation state whose blood ``state`` did not
        write.
        """
        spec: dict[str, tuple] = {
            k: (v.dtype, v.shape[1:], {"entered": 0, "origin": -1}.get(k), None, k == "clock")
            for k, v in self.rows.items()
        }
        spec["phenotype"] = (np.int8, (), 0, 2, False)
        c.columns(c.get(state, "blood", "blood", dict), "rows", spec, "blood")
        c.counters(state["blood"], "counts", "blood")
        p = c.get(state["blood"], "p_ext", "blood.p_ext", list)
        if len(p) != len(self.p_ext):
            c.fail("blood.p_ext", f"{len(p)} organs, the case has {len(self.p_ext)}")
        for j, a in enumerate(p):
            c.array(a, f"blood.p_ext[{j}]", np.float64, (None,), 0.0, 1.0 + 1e-12, finite=True)

    def load_state(self, state: dict) -> None:
        """Take back what ``state`` returned (checked first with ``check_state``)."""
        self.rows, self.counts, self.p_ext = (
            dict(state["rows"]),
            dict(state["counts"]),
            list(state["p_ext"]),
        )

    def metrics(self) -> dict[str, int]:
        """The blood's columns of metrics.csv: single cells and clusters in it now, cells
        that entered and that arrived in an organ so far.
        """
        single, clusters = self.clusters()
        return {
            "ctc_single": single,
            "ctc_clusters": clusters,
            "intravasated": self.counts["entered"],
            "arrived": self.counts["arrived"],
        }

    def set_extravasation(self, organ: int, p_sites: np.ndarray) -> None:
        """Per-site probabilities of extravasation of secondary ``organ`` (niche: they
        rise with the conditioning N at each site).
        """
        self.p_ext[organ] = np.asarray(p_sites, dtype=float)

    def clusters(self) -> tuple[int, int]:
        """(single cells, multicell clusters) now in the blood."""
        _, size = np.unique(self.rows["cluster"], return_counts=True)
        return int((size == 1).sum()), int((size > 1).sum())

    def enter(
        self, cells: dict[str, np.ndarray], cluster: np.ndarray, step: int, origin: int
    ) -> None:
        """Add cells (portable columns, the same on every rank) as clusters; a cell without
        a ``founder`` column is its own founder.
        """
        n = len(cluster)
        if n == 0:
            return
        new = {
            **carried(cells),
            "cluster": np.asarray(cluster, dtype=np.uint64),
            "entered": np.full(n, step, dtype=np.int64),
            "origin": np.full(n, origin, dtype=np.int64),
        }
        self.rows = {
            k: np.concatenate([self.rows[k], np.asarray(new[k], dtype=self.rows[k].dtype)])
            for k in COLUMNS
        }
        self.counts["entered"] += n
        self.counts["clusters_entered"] += len(np.unique(cluster))

    def leave(self, step: int) -> list[Arrival]:
        """Cells whose transit ends now leave: break-away, survival, route, extravasation."""
        due = self.rows["entered"] + self.transit <= step
        if not due.any():
            return []
        out = {k: v[due] for k, v in self.rows.items()}
        self.rows = {k: v[~due] for k, v in self.rows.items()}
        seed, c = self.seed, self.cfg
        last = self.last = {"cells": int(due.sum())}
        if c.order == "survive_first":
            alive = self._survive(out["cluster"], step, out["entered"])
            out = {k: v[alive] for k, v in out.items()}
            unit = self._disaggregate(out, step)
        else:
            unit = self._disaggregate(out, step)
            alive = self._survive(unit, step, out["entered"])
            out = {k: v[alive] for k, v in out.items()}
            unit = unit[alive]
        if self.switching is not None:  # the units as they survived: clusters or the split ones
            self._platelet_emt(out, out["cluster"] if c.order == "survive_first" else unit, step)
        self.counts["died"] += last["cells"] - len(unit)
        if len(unit) == 0 or len(self.sites) == 0:
            self.counts["died"] += len(unit)
            return []
        organ = np.searchsorted(
            self.cumulative, rng.uniform(seed, unit, step, rng.ROUTE), side="right"
        )
        duct = out["origin"] < 0  # lymph.DUCT: from the thoracic duct, the lungs first
        if duct.any():
            organ[duct] = np.searchsorted(
                self.duct_cumulative, rng.uniform(seed, unit[duct], step, rng.ROUTE), side="right"
            )
        organ = np.minimum(organ, len(self.cumulative) - 1)
        gone = organ == len(self.sites)  # arrested in an organ the case does not model
        self.counts["elsewhere"] += int(gone.sum())
        out = {k: v[~gone] for k, v in out.items()}
        unit, organ = unit[~gone], organ[~gone]
        site = np.floor(rng.uniform(seed, unit, step, rng.SITE) * self.sites[organ]).astype(
            np.int64
        )
        p = np.zeros(len(unit))
        for j in np.unique(organ):
            sel = organ == j
            if self.sites[j] > 0:
                p[sel] = self.p_ext[j][site[sel]]
        ok = (self.sites[organ] > 0) & (rng.uniform(seed, unit, step, rng.EXTRAVASATE) < p)
        self.counts["failed_extravasation"] += int((~ok).sum())
        u, first = np.unique(unit, return_index=True)
        last.update(
            units=len(u),
            units_to=np.bincount(organ[first], minlength=len(self.sites)).tolist(),
            units_extravasated=np.bincount(
                organ[first][ok[first]], minlength=len(self.sites)
            ).tolist(),
        )
        arrivals = []
        for j in np.unique(organ[ok]):
            sel = ok & (organ == j)
            # Each arrival's seeding unit travels with it into the organ (docs/biopsy.md).
            cells = dict({k: v[sel] for k, v in out.items()}, seeded_by=unit[sel])
            arrivals.append(Arrival(int(j), site[sel], unit[sel], cells))
        self.counts["arrived"] += int(ok.sum())
        return arrivals

    def _disaggregate(self, rows: dict[str, np.ndarray], step: int) -> np.ndarray:
        """The unit each cell leaves in: its cluster, or itself if it breaks away."""
        cluster = rows["cluster"]
        _, inv, size = np.unique(cluster, return_inverse=True, return_counts=True)
        multi = size[inv] > 1
        away = multi & (rng.uniform(self.seed, rows["id"], step, rng.DISAGGREGATE) < self.cfg.P_d)
        self.last.update(in_clusters=int(multi.sum()), broken_away=int(away.sum()))
        unit = cluster.copy()
        unit[away] = rng.hash64(self.seed, rows["id"][away], step, rng.SINGLE)
        return unit

    def _survive(self, unit: np.ndarray, step: int, entered: np.ndarray) -> np.ndarray:
        """Per cell: whether its unit survives: P_s for single cells, P_C for clusters; with
        hazards, ``survival_probability`` over the unit's time in the blood (from the step it
        ``entered`` to ``step``). Either way one keyed uniform per unit below the chance.
        """
        _, inv, size = np.unique(unit, return_inverse=True, return_counts=True)
        if self.cfg.survival == "hazards":
            p = survival_probability(
                self.cfg.hazards, size[inv], (step - entered) * self.dt, self._kept(entered, step)
            )
        else:
            p = np.where(size[inv] > 1, self.cfg.P_C, self.cfg.P_s)
        alive = rng.uniform(self.seed, unit, step, rng.SURVIVE) < p
        u, first = np.unique(unit, return_index=True)
        multi = size > 1
        self.last.update(
            singles=int((~multi).sum()),
            clusters=int(multi.sum()),
            singles_survived=int((~multi & alive[first]).sum()),
            clusters_survived=int((multi & alive[first]).sum()),
        )
        return alive

    def _platelet_emt(self, out: dict[str, np.ndarray], unit: np.ndarray, step: int) -> None:
        """EMT of surviving cells in platelet-coated units (solver/cells/switching.py)."""
        from solver.cells.switching import platelet_emt  # switching reads the hazards here

        assert self.switching is not None
        tau = (step - out["entered"]) * self.dt
        kept = self._kept(out["entered"], step)
        phen = platelet_emt(self.switching, self.cfg, self.seed, step, out, unit, tau, kept)
        self.counts["emt"] += int((phen != out["phenotype"]).sum())
        out["phenotype"] = phen

    def _kept(self, entered: np.ndarray, step: int) -> np.ndarray | float:
        """Per cell: the integral of the platelet coat kept over its time in the blood, the
        steps after the one it ``entered`` up to ``step`` (Body.treat's time of each step).
        """
        if not self.antiplatelet:
            return (step - entered) * self.dt
        kept = np.empty(len(entered))
        for e in np.unique(entered):
            removed = [coat_removed(self.antiplatelet, k * self.dt) for k in range(e + 1, step + 1)]
            kept[entered == e] = self.dt * (len(removed) - sum(removed))
        return kept


def exosome_uptake(
    cfg, types: list[str], blocked: set[str] | frozenset[str] = frozenset()
) -> np.ndarray:
    """k_j of each secondary organ (by type): the pool's removal rate times the fraction
    its organ type takes (shared by organs of one type), times ``off_target`` for the types
    the exosomes' integrins do not target (Hoshino et al. 2015) and for ``blocked`` ones
    (an integrin-blocking intervention); the rest of the removal is the mononuclear
    phagocyte system elsewhere.
    """
    from solver.config import EXOSOME_UPTAKE, EXOSOME_UPTAKE_OTHER

    k = np.zeros(len(types))
    for j, t in enumerate(types):
        frac = cfg.uptake.get(t, EXOSOME_UPTAKE.get(t, EXOSOME_UPTAKE_OTHER))
        if (cfg.tropism != "none" and t != cfg.tropism) or t in blocked:
            frac *= cfg.off_target
        k[j] = cfg.removal * frac / types.count(t)
    return k


class ExosomePool:
    """The plasma exosome pool E (docs/model.md section 5), an amount replicated on every rank.

    It obeys

        dE/dt = sigma N_T - (k_clear + sum_j k_j) E

    with the primary's cell count N_T frozen over a step, integrated exactly. ``step``
    returns what each organ took up over the step (k_j times the integral of E), so that
    release = change of E + cleared + sum of uptakes holds to round-off; the organs put
    their uptake into their niche factor where their vessels are.
    """

    KEY = "exosomes"  # its key in the simulation's state (checkpoints)

    def __init__(self, *, sigma: float, removal: float, k_organs, dt: float):
        """``sigma``: release per primary cell; ``removal``: k_clear + sum k_j (from the
        plasma half-life); ``k_organs``: k_j.
        """
        self.sigma, self.removal, self.dt = sigma, removal, dt
        self.releasing = True  # False while release is blocked (an intervention)
        self.set_uptake(k_organs)
        self.E = 0.0
        self.totals: dict[str, Any] = {
            "released": 0.0,
            "cleared": 0.0,
            "taken_up": np.zeros(len(self.k)),
        }

    def state(self) -> dict:
        """What a checkpoint keeps, as plain data."""
        return {"E": self.E, "releasing": self.releasing, "k": self.k, "totals": dict(self.totals)}

    def check_state(self, c, state: dict) -> None:
        """Refuse (``c``: checkpoint.Check) a simulation state whose pool ``state`` did not
        write.
        """
        name = self.KEY
        s = c.get(state, name, name, dict)
        c.get(s, "E", f"{name}.E", float, finite=True)
        c.get(s, "releasing", f"{name}.releasing", bool)
        k = c.array(
            c.get(s, "k", f"{name}.k"), f"{name}.k", np.float64, self.k.shape, 0.0, finite=True
        )
        if k.sum() > self.removal * (1 + 1e-12):
            c.fail(f"{name}.k", "uptake rates exceed the removal rate")
        t = c.get(s, "totals", f"{name}.totals", dict)
        for key in ("released", "cleared"):
            c.get(t, key, f"{name}.totals.{key}", float, finite=True)
        c.array(
            c.get(t, "taken_up", f"{name}.totals.taken_up"),
            f"{name}.totals.taken_up",
            np.float64,
            self.k.shape,
            finite=True,
        )

    def load_state(self, state: dict) -> None:
        """Take back what ``state`` returned (checked first with ``check_state``)."""
        self.E, self.releasing, self.totals = state["E"], state["releasing"], dict(state["totals"])
        self.set_uptake(state["k"])

    def set_uptake(self, k_organs) -> None:
        """The organs' uptake rates k_j; the mononuclear phagocyte system takes the rest of
        the removal rate (the plasma half-life does not change).
        """
        self.k = np.asarray(k_organs, dtype=float)
        self.k_clear = self.removal - self.k.sum()
        if self.k_clear < 0:
            raise ValueError(
                f"organ uptake {self.k.sum()} exceeds the total removal rate {self.removal}"
            )

    def step(self, n_primary: float, release: bool = True) -> np.ndarray:
        """Advance E by one step from ``n_primary`` primary cells (no release if ``release``
        is false); returns each organ's uptake over the step.
        """
        src = self.sigma * n_primary if release else 0.0
        k = self.k_clear + self.k.sum()
        if k == 0.0:  # no sink: E grows linearly
            self.E += src * self.dt
            self.totals["released"] += src * self.dt
            return np.zeros(len(self.k))
        E_inf = src / k
        decay = np.exp(-k * self.dt)
        # The integral of E over the step.
        integral = E_inf * self.dt + (self.E - E_inf) * -np.expm1(-k * self.dt) / k
        self.E = E_inf + (self.E - E_inf) * decay
        uptake = self.k * integral
        self.totals["released"] += src * self.dt
        self.totals["cleared"] += self.k_clear * integral
        self.totals["taken_up"] = self.totals["taken_up"] + uptake
        return uptake

    def metrics(self) -> dict[str, float]:
        """The pool's columns of metrics.csv: the amount in the plasma, what the primary
        released, the clearance removed and the organs took up so far, and the balance.
        """
        t = self.totals
        return {
            "exosomes_plasma": self.E,
            "exosomes_released": t["released"],
            "exosomes_cleared": t["cleared"],
            "exosomes_taken_up": float(t["taken_up"].sum()),
            "exosomes_balance": self.balance(),
        }

    def balance(self) -> float:
        """Released - E - cleared - taken up: zero up to round-off."""
        t = self.totals
        return t["released"] - self.E - t["cleared"] - float(t["taken_up"].sum())
