"""The body around the organs: the blood between them (solver/circulation.py), the exosome
pool in the plasma, the interventions of the case, the census of every cell and its
ledger, and when each organ first held a detectable lesion.

Organs meet only here. Every method is collective over the run's communicator and gives
the same result on every rank, whichever ranks hold which organ (solver/partition.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast, get_args

import numpy as np
from mpi4py import MPI

from solver import config, lineage, lymph
from solver.cells import rng
from solver.circulation import (
    Arrival,
    Blood,
    ExosomePool,
    exosome_uptake,
    extravasation_probability,
)
from solver.clinic.follow_up import FollowUp
from solver.fields import recruits
from solver.organ import Organ, length_mm, scale_hours
from solver.partition import Placement

INTERVENTIONS = get_args(config.InterventionKind)  # every kind, in the schema's order


class Body:
    """Blood, exosomes, interventions, census and ledger, detection times.

    Args:
        case: the case.
        placement: the organs on the ranks (built; this rank's organs added).
        log: called with each row of events.csv (intravasation, arrival, resection).
    """

    def __init__(
        self,
        *,
        case: config.Case,
        placement: Placement,
        log: Callable[[dict[str, Any]], None],
        follow_up: FollowUp,
    ) -> None:
        self.case = case
        self.follow_up = follow_up
        self.placement = placement
        self.log = log
        self.names = placement.names
        specs = case.organs()
        self.discrete = case.cells.mode == "discrete"
        self.types = [o.organ_type() for o in specs[1:]]
        self.blood: Blood | None = None
        if len(specs) > 1:
            secondary = specs[1:]
            sites = placement.everywhere(lambda o: len(o.site_x))
            self.blood = Blood(
                cfg=lymph.blood_routing(case),
                secondaries=self.names[1:],
                sites=[sites[o.name] for o in secondary],
                p_ext=[extravasation_probability(o.extravasation) for o in secondary],
                seed=case.seed,
                dt=case.time.dt,
                types=self.types,
                # Its units keep the integral of their coat over their time in the blood, so
                # the blood reads the schedule (circulation.coat_removed), not each step's dose.
                antiplatelet=[i for i in case.interventions if i.kind == "antiplatelet"],
                switching=case.cells.switching if case.cells.switching.on else None,
                duct_split=(
                    lymph.duct_split(case.circulation, self.types)
                    if case.lymph.basin and case.circulation.routing == "anatomical"
                    else None
                ),
            )
        # The lymph between the primary's lymphatics, its node basin and the blood.
        self.lymph: lymph.Lymph | None = None
        if case.lymph.basin:
            nodes = [self.names.index(b.node) for b in case.lymph.basin]
            self.lymph = lymph.Lymph(
                spec=case.lymph,
                nodes=[k - 1 for k in nodes],
                sites=[sites[self.names[k]] for k in nodes],
                seed=case.seed,
                dt=case.time.dt,
            )
        self.exosomes: ExosomePool | None = None
        if case.soil.niche and self.blood is not None:
            self.exosomes = ExosomePool(
                sigma=case.exosomes.release,
                removal=case.exosomes.removal,
                k_organs=exosome_uptake(case.exosomes, self.types),
                dt=case.time.dt,
            )
        self.lox: recruits.LOXPool | None = None  # LOX in the plasma (docs/niche-cells.md)
        if case.soil.recruits and self.blood is not None:
            self.lox = recruits.LOXPool(case.recruits, len(self.types), case.time.dt)
        self.blocked: set[str] = set()  # integrin profiles blocked now (interventions)
        initial = case.cells.initial.count + sum(o.colony for o in case.secondary)
        self.ledger: dict[str, int | float] = {"initial": initial, "failed_extravasation": 0}
        # rule -> hours at which it first held (clinic.follow_up.FollowUp.record): the organ's
        # name for its size rule, "ORGAN.MODALITY", "M1.RULE", "N1.RULE", "ctc"
        self.detected: dict[str, float] = {}

    # -- one step -------------------------------------------------------------------
    def _event(
        self,
        n: int,
        kind: str,
        organ: str,
        site: int,
        unit: int,
        phenotype: np.ndarray,
        founder: np.ndarray | None = None,
    ) -> None:
        m = int((phenotype == 1).sum())
        t = n * self.case.time.dt
        self.log(
            {
                "step": n,
                "time": t,
                "hours": scale_hours(t, self.case),
                "event": kind,
                "organ": organ,
                "site": site,
                "unit": unit,
                "cells": len(phenotype),
                "cells_E": len(phenotype) - m,
                "cells_M": m,
                "founders": "" if founder is None else lineage.founders_text(founder),
            }
        )

    def treat(self, n: int) -> None:
        """Interventions of the case at step ``n``'s time (docs/model.md;
        config.InterventionSpec). An anti-platelet one acts in the blood, which integrates
        its schedule over each unit's time there (circulation.Blood, docs/survival.md).
        """
        t = n * self.case.time.dt
        active = {
            k: [i for i in self.case.interventions if i.kind == k and i.active(t)]
            for k in INTERVENTIONS
        }
        if active["resection"] and not self.ledger.get("resected"):
            count = self.primary_cells()
            p = self.placement.hosted.get(0)
            if p is not None:
                p.resect()
            self.ledger["resected"] = count if self.discrete else float(count)
            cells = np.zeros(int(round(count)), dtype=np.int8)
            self._event(n, "resection", self.names[0], -1, 0, cells)
        sink = sum(i.strength for i in active["vegf_blockade"])
        for o in self.placement.organs:
            if o.soil is not None:
                o.soil.blockade = sink
        if self.exosomes is not None:
            self.exosomes.releasing = not active["exosome_release"]
            blocked = cast(set[str], {i.profile for i in active["integrin"]})  # never None (config)
            if blocked != self.blocked:  # a dose starts or ends
                self.blocked = blocked
                self.exosomes.set_uptake(exosome_uptake(self.case.exosomes, self.types, blocked))
        block = {
            "vegfr1": min(1.0, sum(i.strength for i in active["vegfr1_blockade"])),
            "lox": min(1.0, sum(i.strength for i in active["lox_inhibition"])),
        }
        for o in self.placement.organs:
            if o.recruits is not None:
                o.recruits.block = block

    def exosome_uptake(self) -> np.ndarray:
        """The plasma pool over this step: released by the primary's cells, taken up by
        each secondary organ (amounts, the same on every rank).
        """
        if self.exosomes is None:
            return np.zeros(len(self.names) - 1)
        return self.exosomes.step(self.primary_cells(), self.exosomes.releasing)

    def lox_uptake(self) -> None:
        """The plasma LOX pool over this step: released by the primary's hypoxic cells,
        taken up by each secondary, whose recruits receive it (collective).
        """
        if self.lox is None:
            return
        p = self.placement.hosted.get(0)
        hypoxic = self.placement.from_organ(0, recruits.hypoxic_cells(p) if p is not None else 0.0)
        amounts = self.lox.step(float(hypoxic))
        for o in self.placement.organs:
            if o.recruits is not None:
                o.recruits.pending += float(amounts[o.index - 1])

    def circulate(self, n: int) -> None:
        """Intravasation from the primary, the blood, extravasation into the secondaries (and,
        with a node basin, the lymph: ``_lymph``).
        """
        assert self.blood is not None
        where = self.placement
        p = where.hosted.get(0)
        leaving = where.from_organ(0, p.intravasate(n) if p is not None else None)
        for site, cells in leaving:
            if len(cells["id"]) == 0:
                continue
            unit = int(rng.hash64(self.case.seed, np.array([site]), n, rng.CLUSTER)[0])
            self.blood.enter(cells, np.full(len(cells["id"]), unit, dtype=np.uint64), n, origin=0)
            self._event(
                n,
                "intravasation",
                self.names[0],
                site,
                unit,
                cells["phenotype"],
                cells.get("founder", cells["id"]),
            )
        if self.lymph is not None:
            self._lymph(n)
        blood = self.blood
        niche = self.exosomes is not None or self.lox is not None
        if niche and (blood.rows["entered"] + blood.transit <= n).any():
            self._niche_extravasation()  # only when someone leaves the blood: a collective
        arrivals = self.blood.leave(n)
        if arrivals:
            self.ledger["failed_extravasation"] += self._arrive(n, arrivals, "arrival")

    def _arrive(self, n: int, arrivals: list[Arrival], event: str) -> int:
        """Settle ``arrivals`` (from the blood or the lymph) in their organs where there is
        room, one ``event`` row per unit; returns the cells that found none (collective).
        """
        where = self.placement
        dormant = self.case.dormancy.r_wake is not None
        placed = np.zeros(len(arrivals), dtype=np.int64)
        for i, a in enumerate(arrivals):
            organ = where.hosted.get(1 + a.organ)
            if organ is not None:
                got = organ.extravasate(n, a.site, a.cells, dormant)
                placed[i] = got if organ.comm.rank == 0 or not where.split else 0
        if where.split:  # each arrival counted by its organ's first rank
            where.comm.Allreduce(MPI.IN_PLACE, placed, op=MPI.SUM)
        failed = 0
        for a, k in zip(arrivals, placed):
            failed += len(a.unit) - int(k)
            for u in np.unique(a.unit):
                sel = a.unit == u
                self._event(
                    n,
                    event,
                    self.names[1 + a.organ],
                    int(a.site[sel][0]),
                    int(u),
                    a.cells["phenotype"][sel],
                    a.cells["founder"][sel],
                )
        return failed

    def _lymph(self, n: int) -> None:
        """Entry into the primary's lymphatics, the units that reach a node (they settle
        there, as arrivals from the blood do, where there is room) and those that leave the
        thoracic duct into the blood (solver/lymph.py).
        """
        assert self.lymph is not None and self.blood is not None
        where, ly = self.placement, self.lymph
        p = where.hosted.get(0)
        for site, cells in where.from_organ(0, p.lymph_enter(n) if p is not None else None):
            unit = lymph.entry_unit(self.case.seed, site, n)
            ly.enter(cells, np.full(len(cells["id"]), unit, dtype=np.uint64), n)
            self._event(
                n,
                "lymph_entry",
                self.names[0],
                site,
                unit,
                cells["phenotype"],
                cells.get("founder", cells["id"]),
            )
        arrivals, duct = ly.advance(n)
        ly.counts["failed_node"] += self._arrive(n, arrivals, "node_arrest")
        if duct is not None:
            self.blood.enter(duct.cells, duct.unit, n, origin=lymph.DUCT)
            for u in np.unique(duct.unit):
                sel = duct.unit == u
                self._event(
                    n,
                    "thoracic_duct",
                    "blood",
                    -1,
                    int(u),
                    duct.cells["phenotype"][sel],
                    duct.cells["founder"][sel],
                )

    def primary_cells(self) -> int | float:
        """The primary's cell count (continuum: the integral of its density), on every
        rank (collective).
        """
        p = self.placement.hosted.get(0)
        count = self.placement.from_organ(0, p.count() if p is not None else 0.0)
        return int(count) if self.discrete else float(count)

    def _niche_extravasation(self) -> None:
        """p_ext = 1 - (1 - p0) exp(-epsilon N) at each vessel site of each secondary; with
        recruited cells, also - epsilon_R R / R_max in the exponent (recruits.extravasation).
        """
        assert self.blood is not None

        def p_sites(o: Organ) -> np.ndarray:
            N = o.site_values("N") if "N" in o.fields else 0.0
            if o.recruits is not None:
                occupancy = o.site_values("R") / self.case.recruits.R_max
                return recruits.extravasation(
                    o.spec.extravasation, self.case.recruits, N, occupancy
                )
            return extravasation_probability(o.spec.extravasation, N)

        for name, p in self.placement.everywhere(lambda o: p_sites(o) if o.index else None).items():
            if p is not None:
                self.blood.set_extravasation(self.names.index(name) - 1, p)

    # -- what is reported -----------------------------------------------------------
    def census(self) -> dict:
        """The ledger: alive in each organ + in blood + died in blood + failed extravasation
        + died in tissue = initial + born; ``ledger_error`` is the difference (zero). In
        continuum mode the tissue terms are real numbers (integrals of the densities) and
        the mass the clip at zero added back counts as born (``clip_removed``), so the
        error is round-off.
        """
        alive = list(self.placement.everywhere(lambda o: o.count()).values())
        stats = list(self.placement.everywhere(lambda o: o.tissue_stats()).values())
        born, died, clip = (sum(st[k] for st in stats) for k in ("born", "died", "clip_removed"))
        if self.discrete:
            alive, born, died = [int(a) for a in alive], int(born), int(died)
        b = self.blood
        blood = len(b) if b is not None else 0
        died_blood = b.counts["died"] if b is not None else 0
        failed = self.ledger["failed_extravasation"]
        failed += b.counts["failed_extravasation"] if b is not None else 0
        elsewhere = b.counts["elsewhere"] if b is not None else 0
        ly = self.lymph
        in_lymph = len(ly) if ly is not None else 0
        failed_node = ly.counts["failed_node"] if ly is not None else 0
        row = {
            "alive": sum(alive),
            "in_blood": blood,
            "died_in_blood": died_blood,
            "failed_extravasation": failed,
            "died_in_tissue": int(died),
            "arrested_elsewhere": elsewhere,
            "resected": self.ledger.get("resected", 0),
            "initial": self.ledger["initial"],
            "born": born,
        }
        if ly is not None:  # the lymph: in transit, and what a node had no room for
            row["in_lymph"], row["failed_node"] = in_lymph, failed_node
        if not self.discrete:
            row["died_in_tissue"], row["clip_removed"] = died, clip
            born = born + clip
        row["ledger_error"] = (
            row["alive"]
            + blood
            + died_blood
            + failed
            + row["died_in_tissue"]
            + elsewhere
            + row["resected"]
            + in_lymph
            + failed_node
            - row["initial"]
            - born
        )
        if b is not None:
            row.update(b.metrics())
        if ly is not None:
            row.update(ly.metrics())
        return row

    def metrics(self, hours: float, step: int = 0, images: bool = False) -> dict:
        """Every organ's metrics (``ORGAN.key``, lengths also in mm, its lesions and whether
        one was detected by now, its scans), then the census, the exosomes and the liquid
        biopsy; records first detections (``FollowUp.record``) at ``hours``. ``images``:
        the scans write their image files.
        """
        ledger = self.census()
        mm = length_mm(1.0, self.case)

        def report(o: Organ) -> dict:
            m = o.metrics()
            m["radius_max_mm"] = m["radius_max"] * mm
            m["radius_95_mm"] = m["radius_95"] * mm
            m.update(o.lesions(self.case.lesions, mm))
            m["detected"] = 0  # FollowUp.record: by the size rule, by now
            m.update(self.follow_up.scan(o, step, images))
            return m

        row: dict[str, Any] = {}
        for name, m in self.placement.everywhere(report).items():
            row.update({f"{name}.{k}": v for k, v in m.items()})
        row["cells"] = ledger["alive"]
        row.update(ledger)
        if self.exosomes is not None:
            row.update(self.exosomes.metrics())
        if self.lox is not None:
            row.update(self.lox.metrics())
        if self.blood is not None:
            row.update(self.follow_up.biopsy(self.blood, step))
        self.follow_up.record(row, self.detected, hours)
        return row

    def stats(self) -> dict:
        """The run's totals for the manifest: each organ's cell (continuum: density)
        counters, the blood's (collective).
        """
        stats = self.placement.everywhere(
            lambda o: (
                {k: o.comm.allreduce(v, op=MPI.SUM) for k, v in o.cells.stats.items()}
                if o.continuum is None
                # continuum: masses in cells (real numbers)
                else dict(
                    o.tissue_stats(), woke=o.comm.allreduce(o.density_stats["woke"], op=MPI.SUM)
                )
                if o.regimes is None
                # hybrid: the discrete cells' counters beside both representations' totals
                else dict(
                    {
                        f"discrete_{k}": o.comm.allreduce(v, op=MPI.SUM)
                        for k, v in o.cells.stats.items()
                    },
                    **o.tissue_stats(),
                    **o.regimes.stats,
                )
            )
        )
        if self.blood is not None:
            stats["blood"] = dict(self.blood.counts)
        if self.lymph is not None:
            stats["lymph"] = dict(self.lymph.counts)
        return stats

    # -- checkpoints (solver/io/checkpoint.py) ----------------------------------------
    def state(self) -> dict:
        """The body's state as plain data, the same on every rank (the keys of the
        checkpoint's simulation.json that are the body's).
        """
        return {
            "ledger": self.ledger,
            "blood": None if self.blood is None else self.blood.state(),
            "exosomes": None if self.exosomes is None else self.exosomes.state(),
            "lox": None if self.lox is None else self.lox.state(),
            "blocked": sorted(self.blocked),
            "detected": self.detected,
            "lymph": None if self.lymph is None else self.lymph.state(),
        }

    def load_state(self, state: dict) -> None:
        """The inverse of ``state`` (checked first by checkpoint.check_simulation)."""
        self.ledger = state["ledger"]
        if self.blood is not None:
            self.blood.load_state(state["blood"])
        if self.exosomes is not None:
            self.exosomes.load_state(state["exosomes"])
        if self.lox is not None:
            self.lox.load_state(state["lox"])
        self.blocked = set(state["blocked"])
        self.detected = state["detected"]
        if self.lymph is not None:
            self.lymph.load_state(state["lymph"])
