"""The time loop: builds the organ from a case, steps it, and hands state to the
writers on their schedule. It couples things and does nothing else.

Python API::

    from solver import config, simulation
    case = config.load("cases/demo.toml", overrides=["time.steps=200"])
    sim = simulation.Simulation(case, outdir="out/demo")
    sim.run(callback=lambda sim, n, t: None)   # called after every step
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Callable

import numpy as np
from mpi4py import MPI

from solver import config, geometry, partition, vessels
from solver.config import Failed
from solver.cells import rng
from solver.circulation import Blood, ExosomePool, exosome_uptake, extravasation_probability
from solver.io.cells import CellWriter
from solver.io import checkpoint, folder
from solver.io.fields import FieldWriter
from solver.io.manifest import Manifest, versions
from solver.io.metrics import MetricsWriter
from solver.organ import Organ, length_mm, scale_hours


class Stopped(Exception):
    """The run was asked to stop (SIGTERM/SIGUSR1 from a scheduler)."""


class Simulation:
    def __init__(self, case: config.Case, outdir: str | Path | None = None, comm: MPI.Comm = MPI.COMM_WORLD,
                 quiet: bool = False, resume: dict | None = None):
        """``resume``: a checkpoint's meta (Simulation.restart): the outputs written up to
        its step are kept and continued, and nothing is written at step 0."""
        self.case = case
        self.resume = resume
        self.comm = comm
        self.quiet = quiet
        self.outdir = Path(outdir if outdir is not None else Path("output") / case.name).resolve()
        self.t = 0.0
        self.n = 0
        self.last_output = (0, 0.0)  # (step, time) of the last output written
        self._signal = None
        self.wall = {"setup": 0.0, "steps": 0.0, "circulation": 0.0, "output": 0.0}
        t0 = time.perf_counter()
        folder.prepare(comm, self.outdir, [spec.name for spec in case.organs()], folder.expected_bytes(case))
        self.manifest = Manifest(comm, self.outdir, keep=resume is not None)
        if resume is not None:
            restarts = self.manifest.content.get("restarts", []) + [
                {"from_step": resume["step"], "from": resume.get("found", "checkpoint"), "ranks": comm.size,
                 "started": self.manifest.now}]
            self.manifest.write(restarts=restarts, complete=False, failed=None, stopped_by=None)
        self.manifest.write(
            case=case.model_dump(mode="json"),
            case_file=case.source,
            seed=case.seed,
            ranks=comm.size,
            versions=versions(),
            illustrative=case.illustrative(),
            petsc_command_line=case.petsc_command_line(),
            organs=[o.name for o in case.organs()],
            steps_done=0 if resume is None else resume["step"],
        )
        # Organs meet only in the blood. Each organ lives on a group of ranks (see
        # ``layout``); this rank builds and steps the organs of its group, ``organs``.
        specs = case.organs()
        self.group, first = layout(len(specs), comm.size, case.parallel.organs)
        colour = max(g for g, r in enumerate(first) if r <= comm.rank)
        self.leader = [first[g] for g in self.group]  # first rank of each organ's group
        self.organ_comm = comm.Split(colour, comm.rank) if len(first) > 1 else comm
        self.organs = []
        for k, spec in enumerate(specs):
            if self.group[k] == colour:
                where = "primary.geometry" if k == 0 else f"secondary.{k - 1}.geometry"
                msh = str(self.outdir / spec.name / f"{spec.name}.msh")
                om = geometry.organ_mesh(spec.geometry, self.organ_comm, msh, where, self._weights(k, spec))
                self.organs.append(Organ(spec, om, case, index=k))
        self.hosted = {o.index: o for o in self.organs}
        self.names = [o.name for o in specs]
        self.blood = None
        if len(specs) > 1:
            secondary = specs[1:]
            sites = self.everywhere(lambda o: len(o.site_x))
            self.blood = Blood(cfg=case.circulation, secondaries=self.names[1:],
                               sites=[sites[o.name] for o in secondary],
                               p_ext=[extravasation_probability(o.extravasation) for o in secondary],
                               seed=case.seed, dt=case.time.dt,
                               types=[o.organ_type() for o in secondary])
        self.exosomes = None
        self._blocked: set[str] = set()  # integrin profiles blocked now (interventions)
        self.types = [o.organ_type() for o in specs[1:]]
        if case.soil.niche and self.blood is not None:
            self.exosomes = ExosomePool(sigma=case.exosomes.release, removal=case.exosomes.removal,
                                        k_organs=exosome_uptake(case.exosomes, self.types),
                                        dt=case.time.dt)
        self.discrete = case.cells.mode == "discrete"
        initial = case.cells.initial.count + sum(o.colony for o in case.secondary)
        self.ledger = {"initial": initial, "failed_extravasation": 0}
        out = case.output
        # A restart writes its fields to a new series from its step on (fields_<step>.xdmf);
        # ORGAN/fields_series.xdmf shows the one history (solver/io/fields.py).
        series = "fields" if resume is None else f"fields_{resume['step']:06d}"
        self.field_writers = [FieldWriter(o.comm, self.outdir / o.name, o.mesh, list(o.fields.values()),
                                          name=series, vtx=out.vtx, index=True,
                                          resume_after=None if resume is None else resume["time"])
                              for o in self.organs] if out.fields else []
        after = None if resume is None else resume["time"]
        self.cell_writers = [CellWriter(o.comm, self.outdir / o.name, name="cells", resume_after=after)
                             for o in self.organs] if out.cells else []
        # Where the new vessels sprout, branch and fuse (solver/vessels.py), per organ.
        self.sprout_writers = {o.name: MetricsWriter(o.comm, self.outdir / o.name / "sprouts.csv",
                                                     ["step", "time", "event", *"xyz"[: o.mesh.topology.dim]],
                                                     resume_after=None if resume is None else resume["step"])
                               for o in self.organs if o.angio is not None}
        self.events = MetricsWriter(comm, self.outdir / "events.csv",
                                    ["step", "time", "hours", "event", "organ", "site", "unit", "cells", "cells_E", "cells_M"],
                                    resume_after=None if resume is None else resume["step"])
        self.metrics_writer = None
        self.detected = {}  # organ -> hours at which it first held a lesion of detect_mm
        self.wall["setup"] = time.perf_counter() - t0

    def _weights(self, k: int, spec: config.OrganSpec):
        """Element weights for the partition of organ k (parallel.balance = "cells"), each
        cancer cell worth parallel.cell_cost elements: the cells where they are in the
        checkpoint on a restart (the partition follows the tumours as they grew), else
        the organ's tumour or colony at the start."""
        case = self.case
        if case.parallel.balance != "cells" or case.cells.mode != "discrete":
            return None
        cost = case.parallel.cell_cost
        if self.resume is not None:
            # The input index of each saved cell's element.
            cell = checkpoint.saved_cells(Path(self.resume["folder"]), spec.name)
            cell = cell[cell >= 0]  # out-of-range indices weigh nothing here; checkpoint.load refuses them

            def from_checkpoint(mid, vol, centre):  # on the rank that holds the mesh's cells
                return 1.0 + cost * np.bincount(cell[cell < len(mid)], minlength=len(mid))

            return from_checkpoint
        count = case.cells.initial.count if k == 0 else spec.colony
        if not count:
            return None
        c = case.cells
        per_volume = c.capacity(spec.geometry.dim) / c.h_ref ** spec.geometry.dim
        return lambda mid, vol, centre: 1.0 + cost * partition.expected_cells(mid, vol, [(centre, count)], per_volume)

    def everywhere(self, fn: Callable[[Organ], object]) -> dict[str, object]:
        """``fn(organ)`` for every organ, evaluated (collectively) by the ranks that hold
        it, as {organ name: value} in case order on every rank."""
        mine = {o.name: fn(o) for o in self.organs}
        if self.organ_comm is self.comm:
            return mine
        parts = self.comm.allgather({o.name: mine[o.name] for o in self.organs if o.comm.rank == 0})
        merged = {k: v for part in parts for k, v in part.items()}
        return {name: merged[name] for name in self.names}

    # -- the blood ------------------------------------------------------------------
    def _event(self, kind: str, organ: str, site: int, unit: int, phenotype: np.ndarray):
        m = int((phenotype == 1).sum())
        self.events.row({"step": self.n, "time": self.t, "hours": scale_hours(self.t, self.case), "event": kind,
                         "organ": organ, "site": site, "unit": unit, "cells": len(phenotype),
                         "cells_E": len(phenotype) - m, "cells_M": m})

    def _circulate(self, n: int):
        """Intravasation from the primary, the blood, extravasation into the secondaries."""
        p = self.hosted.get(0)
        leaving = p.intravasate(n) if p is not None else None
        if self.organ_comm is not self.comm:  # the primary's group tells every rank
            leaving = self.comm.bcast(leaving, root=self.leader[0])
        for site, cells in leaving:
            if len(cells["id"]) == 0:
                continue
            unit = int(rng.hash64(self.case.seed, np.array([site]), n, rng.CLUSTER)[0])
            self.blood.enter(cells, np.full(len(cells["id"]), unit, dtype=np.uint64), n, origin=0)
            self._event("intravasation", self.names[0], site, unit, cells["phenotype"])
        dormant = self.case.dormancy.r_wake is not None
        if self.exosomes is not None and (self.blood.rows["entered"] + self.blood.transit <= n).any():
            self._niche_extravasation()  # only when someone leaves the blood: a collective
        arrivals = self.blood.leave(n)
        if not arrivals:
            return
        placed = np.zeros(len(arrivals), dtype=np.int64)
        for i, a in enumerate(arrivals):
            organ = self.hosted.get(1 + a.organ)
            if organ is not None:
                got = organ.extravasate(n, a.site, a.cells, dormant)
                placed[i] = got if organ.comm.rank == 0 or self.organ_comm is self.comm else 0
        if self.organ_comm is not self.comm:  # each arrival counted by its organ's first rank
            self.comm.Allreduce(MPI.IN_PLACE, placed, op=MPI.SUM)
        for a, k in zip(arrivals, placed):
            self.ledger["failed_extravasation"] += len(a.unit) - int(k)
            for u in np.unique(a.unit):
                sel = a.unit == u
                self._event("arrival", self.names[1 + a.organ], int(a.site[sel][0]), int(u), a.cells["phenotype"][sel])

    def _treat(self):
        """Interventions of the case at this step's time (docs/model.md; config.InterventionSpec)."""
        active = {k: [i for i in self.case.interventions if i.kind == k and i.active(self.t)]
                  for k in ("resection", "vegf_blockade", "exosome_release", "integrin")}
        if active["resection"] and not self.ledger.get("resected"):
            count = self._primary_cells()
            p = self.hosted.get(0)
            if p is not None:
                p.resect()
            self.ledger["resected"] = count if self.discrete else float(count)
            self._event("resection", self.names[0], -1, 0, np.zeros(int(round(count)), dtype=np.int8))
        sink = sum(i.strength for i in active["vegf_blockade"])
        for o in self.organs:
            if o.soil is not None:
                o.soil.blockade = sink
        if self.exosomes is not None:
            self.exosomes.releasing = not active["exosome_release"]
            blocked = {i.profile for i in active["integrin"]}
            if blocked != self._blocked:  # a dose starts or ends
                self._blocked = blocked
                self.exosomes.set_uptake(exosome_uptake(self.case.exosomes, self.types, blocked))

    def _exosomes(self) -> np.ndarray:
        """The plasma pool over this step: released by the primary's cells, taken up by
        each secondary organ (amounts, the same on every rank)."""
        if self.exosomes is None:
            return np.zeros(len(self.names) - 1)
        return self.exosomes.step(self._primary_cells(), self.exosomes.releasing)

    def _primary_cells(self) -> float:
        """The primary's cell count (continuum: the integral of its density), on every
        rank (collective)."""
        p = self.hosted.get(0)
        count = p.count() if p is not None else 0.0
        if self.organ_comm is not self.comm:
            count = self.comm.bcast(count, root=self.leader[0])
        return int(count) if self.discrete else float(count)

    def _niche_extravasation(self):
        """p_ext = 1 - (1 - p0) exp(-epsilon N) at each vessel site of each secondary."""
        def p_sites(o: Organ) -> np.ndarray:
            return extravasation_probability(o.spec.extravasation, o.site_values("N"))

        for name, p in self.everywhere(lambda o: p_sites(o) if o.index else None).items():
            if p is not None:
                self.blood.set_extravasation(self.names.index(name) - 1, p)

    def census(self) -> dict:
        """The ledger: alive in each organ + in blood + died in blood + failed extravasation
        + died in tissue = initial + born; ``ledger_error`` is the difference (zero). In
        continuum mode the tissue terms are real numbers (integrals of the densities) and
        the mass the clip at zero added back counts as born (``clip_removed``), so the
        error is round-off."""
        alive = list(self.everywhere(lambda o: o.count()).values())
        stats = list(self.everywhere(lambda o: o.tissue_stats()).values())
        born, died, clip = (sum(st[k] for st in stats) for k in ("born", "died", "clip_removed"))
        if self.discrete:
            alive, born, died = [int(a) for a in alive], int(born), int(died)
        b = self.blood
        blood = len(b) if b is not None else 0
        died_blood = b.counts["died"] if b is not None else 0
        failed = self.ledger["failed_extravasation"] + (b.counts["failed_extravasation"] if b is not None else 0)
        elsewhere = b.counts["elsewhere"] if b is not None else 0
        row = {"alive": sum(alive), "in_blood": blood, "died_in_blood": died_blood, "failed_extravasation": failed,
               "died_in_tissue": int(died), "arrested_elsewhere": elsewhere,
               "resected": self.ledger.get("resected", 0), "initial": self.ledger["initial"], "born": born}
        if not self.discrete:
            row["died_in_tissue"], row["clip_removed"] = died, clip
            born = born + clip
        row["ledger_error"] = (row["alive"] + blood + died_blood + failed + row["died_in_tissue"] + elsewhere
                               + row["resected"] - row["initial"] - born)
        if b is not None:
            row["ctc_single"], row["ctc_clusters"] = b.clusters()
            row["intravasated"] = b.counts["entered"]
            row["arrived"] = b.counts["arrived"]
        return row

    # -- outputs --------------------------------------------------------------------
    def _output(self):
        t0 = time.perf_counter()
        row = {"step": self.n, "time": self.t, "hours": scale_hours(self.t, self.case)}
        ledger = self.census()
        mm = length_mm(1.0, self.case)

        def report(o: Organ) -> dict:
            m = o.metrics()
            m["radius_max_mm"] = m["radius_max"] * mm
            m["radius_95_mm"] = m["radius_95"] * mm
            m.update(o.lesions(self.case.lesions, mm))
            return m

        for name, m in self.everywhere(report).items():
            if m["largest_lesion_mm"] >= self.case.lesions.detect_mm and name not in self.detected:
                self.detected[name] = row["hours"]
                self.manifest.write(detected_hours=dict(self.detected))
            m["detected"] = int(name in self.detected)
            row.update({f"{name}.{k}": v for k, v in m.items()})
        row["cells"] = ledger["alive"]
        row.update(ledger)
        if self.metrics_writer is None:
            self.metrics_writer = MetricsWriter(self.comm, self.outdir / "metrics.csv", list(row),
                                                resume_after=None if self.resume is None else self.resume["step"])
        self.metrics_writer.row(row)
        self._log_sprouts()
        for w in self.field_writers:
            w.write(self.t)
        if self.discrete:
            for o, w in zip(self.organs, self.cell_writers):
                pop = o.cells.pop
                w.write(self.t, pop.x, {
                    "id": pop.id, "parent": pop.parent, "phenotype": pop.phenotype, "state": pop.state,
                    "clock": pop.clock, "rank": np.full(len(pop), self.comm.rank, dtype=np.int32),
                })
        self.last = row
        self.last_output = (self.n, self.t)
        self.wall["output"] += time.perf_counter() - t0

    def _log_sprouts(self):
        """The angiogenesis events since the last call into ORGAN/sprouts.csv (collective
        in each organ)."""
        for o in self.organs:
            if o.angio is not None:
                w = self.sprout_writers[o.name]
                for row in o.angio.take_log():
                    w.row({"step": int(row[0]), "time": row[0] * self.case.time.dt,
                           "event": vessels.EVENTS[int(row[1])], **dict(zip("xyz", row[2:]))})

    def _progress(self, steps: int, t_start: float):
        if self.comm.rank or self.quiet:
            return
        wall = time.perf_counter() - t_start
        eta = wall / max(self.n, 1) * (steps - self.n)
        h = scale_hours(self.t, self.case)
        print(f"step {self.n}/{steps}  t = {self.t:.4g} ({h:.3g} h, {h / 24:.3g} d)  "
              f"cells {self.last.get('cells', 0):.0f}  wall {wall:.1f} s  ETA {eta:.0f} s", flush=True)

    def _on_signal(self, signum, frame):
        self._signal = signal.Signals(signum).name

    # -- the loop ---------------------------------------------------------------------
    def run(self, steps: int | None = None, callback: Callable | None = None) -> dict:
        steps = self.case.time.steps if steps is None else steps
        every = self.case.output.every
        old = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGUSR1)}
        t_start = time.perf_counter()
        try:
            if self.n == 0:
                self._output()
            self._progress(steps, t_start)
            for n in range(self.n + 1, steps + 1):
                t0 = time.perf_counter()
                self.n, self.t = n, n * self.case.time.dt
                self._treat()
                uptake = self._exosomes()
                for organ in self.organs:
                    organ.step(n, uptake[organ.index - 1] / self.case.time.dt if organ.index else 0.0)
                if self.blood is not None:
                    t1 = time.perf_counter()
                    self._circulate(n)
                    self.wall["circulation"] += time.perf_counter() - t1
                self.wall["steps"] += time.perf_counter() - t0
                if callback is not None:
                    callback(self, n, self.t)
                # Agreed across ranks so every rank stops at the same step boundary.
                failed = [o.failure for o in self.organs if o.failure]
                alarm = self.comm.allreduce(bool(failed) or self._signal is not None, op=MPI.LOR)
                if alarm:
                    failed = [w for ws in self.comm.allgather(failed) for w in ws]
                    if failed:
                        self._fail(n, failed[0])
                due = bool(self.case.output.checkpoint_every and n % self.case.output.checkpoint_every == 0)
                if n % every == 0 or n == steps:
                    self._output()
                    self._progress(steps, t_start)
                    self.manifest.write(steps_done=n, wall_s=dict(self.wall))
                if alarm or due:
                    self.checkpoint()
                if alarm:
                    if n % every and n != steps:
                        self._output()
                    self.manifest.write(steps_done=n, stopped_by=self._signal or "signal on another rank")
                    raise Stopped(f"stopped by {self._signal or 'a signal'} after step {n}; outputs up to "
                                  f"step {n} and a checkpoint are written (seedsoil restart {self.outdir}); "
                                  f"the manifest says complete: false")
        finally:
            for s, h in old.items():
                signal.signal(s, h)
            self.close()
        stats = self.everywhere(lambda o: {k: o.comm.allreduce(v, op=MPI.SUM) for k, v in o.cells.stats.items()}
                                if o.continuum is None else  # continuum: masses in cells (real numbers)
                                dict(o.tissue_stats(), woke=o.comm.allreduce(o.density_stats["woke"], op=MPI.SUM)))
        if self.blood is not None:
            stats["blood"] = dict(self.blood.counts)
        self.manifest.finish(steps_done=self.n, wall_s=dict(self.wall), stats=stats, final=self.last)
        return self.last

    # -- checkpoints (solver/io/checkpoint.py) -----------------------------------------
    def checkpoint(self) -> None:
        """Write the state at this step boundary to OUTDIR/checkpoint (collective)."""
        t0 = time.perf_counter()
        self._log_sprouts()  # the log then holds every event up to the checkpoint's step
        checkpoint.save(self, self.outdir / "checkpoint")
        self.manifest.write(checkpoint={"step": self.n, "time": self.t, "ranks": self.comm.size})
        self.wall["checkpoint"] = self.wall.get("checkpoint", 0.0) + time.perf_counter() - t0

    def snapshot(self) -> dict:
        """What the simulation holds besides its organs (the same on every rank), as plain
        data (solver/io/plain.py; checked on load by checkpoint.check_simulation)."""
        return {"n": self.n, "t": self.t, "ledger": self.ledger,
                "blood": None if self.blood is None else self.blood.state(),
                "exosomes": None if self.exosomes is None else self.exosomes.state(),
                "blocked": sorted(self._blocked), "last_output": list(self.last_output),
                "last": getattr(self, "last", None), "detected": self.detected, "wall": self.wall}

    def restore(self, state: dict) -> None:
        self.n, self.t, self.ledger = state["n"], state["t"], state["ledger"]
        if self.blood is not None:
            self.blood.load_state(state["blood"])
        if self.exosomes is not None:
            self.exosomes.load_state(state["exosomes"])
        self._blocked, self.last_output = set(state["blocked"]), tuple(state["last_output"])
        self.detected = state["detected"]
        if state["last"] is not None:
            self.last = state["last"]
        self.wall.update({k: v for k, v in state["wall"].items() if k != "setup"})

    @classmethod
    def restart(cls, outdir: str | Path, comm: MPI.Comm = MPI.COMM_WORLD, steps: int | None = None,
                quiet: bool = False, petsc: dict | None = None) -> Simulation:
        """A run continued from the newest complete checkpoint of OUTDIR (checkpoint.find),
        on any rank count: the same case (from the manifest, checked as a case file is),
        ``steps`` to extend it, ``petsc`` the user's own PETSc options (the first run's
        command line is not replayed)."""
        outdir = Path(outdir).resolve()
        found = checkpoint.find(outdir, comm)
        if found is None:
            raise config.CaseError(f"{outdir}: no checkpoint to restart from (run with --checkpoint-every N, "
                                   "or stop a run with SIGTERM/SIGUSR1)")
        where, info = checkpoint.settle(outdir, found[0], comm), found[1]
        data = comm.bcast(json.loads((outdir / "manifest.json").read_text()) if comm.rank == 0 else None, root=0)
        case = config.from_dict(data["case"], str(outdir / "manifest.json"))
        case.petsc(petsc or {})
        case.source = data.get("case_file")
        if steps is not None:
            if steps < info["step"]:
                raise config.CaseError(f"--steps {steps} is before the checkpoint's step {info['step']}")
            case.time.steps = steps
        if case.parallel.balance == "cells":  # read while partitioning: refuse a bad one on every rank first
            for spec in case.organs():
                checkpoint.saved_cells(where, spec.name)
        sim = cls(case, outdir, comm, quiet, resume=dict(info, folder=str(where), found=found[0].name))
        checkpoint.load(sim, where, info)
        return sim

    def _fail(self, n: int, why: str) -> None:
        good, t = self.last_output
        self.manifest.write(failed={"step": n, "why": why, "last_good_output_step": good})
        raise Failed(f"step {n} (t = {n * self.case.time.dt:g}): {why}. Outputs up to the last good one, step "
                     f"{good} (t = {t:g}), are written and valid; the manifest says complete: false")

    @property
    def organ(self) -> Organ | None:
        """The primary organ (the only one in single-organ cases); None on ranks that do not hold it."""
        return self.hosted.get(0)

    def close(self):
        for w in self.field_writers:
            w.close()
        self.field_writers = []


def layout(n_organs: int, size: int, mode: str) -> tuple[list[int], list[int]]:
    """Organs onto ranks: (group of each organ, first rank of each group). "all": one group
    of every rank. "split": min(size, n_organs) groups of consecutive ranks (sizes differ by
    at most one, larger first); the primary alone in group 0, the secondaries round-robin
    over the others. Measured against "all" by scripts/bench_mapping.py."""
    groups = 1 if mode == "all" else max(1, min(size, n_organs))
    organ_group = [0] + [1 + (k % (groups - 1)) if groups > 1 else 0 for k in range(n_organs - 1)]
    sizes = [size // groups + (g < size % groups) for g in range(groups)]
    first = [sum(sizes[:g]) for g in range(groups)]
    return organ_group, first
