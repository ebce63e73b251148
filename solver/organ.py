"""An organ: its mesh and tags, P1 space, fields, cancer cells and parameters.

One step of an organ (operator splitting, data flowing one way):
cells move, divide (and, with oxygen, stop dividing when hypoxic and die when anoxic) in
the start-of-step fields -> cell densities -> MMP (implicit) -> ECM (exact) -> the soil
(oxygen, VEGF, niche factor: implicit; conditioning: exact).
"""

from __future__ import annotations

import time

import dolfinx.fem as fem
import numpy as np
from mpi4py import MPI

from solver import config, lesions
from solver.cells import rng
from solver.cells.discrete import DiscreteCells
from solver.cells.locate import claim
from solver.cells.population import DORMANT, INVADING, MESENCHYMAL, Population
from solver.fields import ecm
from solver.fields.reaction_diffusion import FieldError, ReactionDiffusion, lumped_mass, stiffness
from solver.fields.soil import Soil
from solver.vessels import Angiogenesis
from solver.geometry import OrganMesh


NORMAL, RUPTURED = 1, 2  # vessel kinds
PLACE_TRIES = 8  # draws of an arrival's position inside the organ before its site's centre


class Organ:
    def __init__(self, spec: config.Organ, om: OrganMesh, case: config.Case, index: int = 0):
        """``index``: 0 for the primary (which holds the initial tumour), k for the k-th secondary."""
        self.spec = spec
        self.name = spec.name
        self.index = index
        self.failure: str | None = None  # what failed in the last step (see step)
        self.seed = case.seed
        self.om = om
        self.mesh = om.mesh
        self.comm = om.mesh.comm
        self.dim = om.mesh.topology.dim
        self.dt = case.time.dt
        self.cells_cfg = case.cells
        self.wall = {"cells": 0.0, "fields": 0.0}  # seconds spent in each phase of step()
        V = fem.functionspace(self.mesh, ("Lagrange", 1))
        self.V = V
        self.n_owned = V.dofmap.index_map.size_local
        self.lumped = lumped_mass(V)
        self.fields = {}
        for name in ("w", "m", "c_E", "c_M"):
            f = fem.Function(V, name=name)
            self.fields[name] = f
        self._initial_ecm()
        m_matrix = case.solver.m_matrix if case.solver.m_matrix is not None else self.dim == 2
        K = stiffness(V, m_matrix)
        self.mmp = ReactionDiffusion(self.fields["m"], K, self.lumped, spec.mmp.D, spec.mmp.Lambda, self.dt,
                                     "mmp", case.solver.petsc, case.solver.rtol, positive=m_matrix)
        self.soil = None
        if case.soil.oxygen or case.soil.vegf or case.soil.niche:
            self.soil = Soil(V, K, self.lumped, spec, case.soil, self.dt * case.soil.every, case.solver.petsc,
                             case.solver.rtol, case.cells.capacity(V.mesh.topology.dim), case.solver.soil_rtol,
                             positive=m_matrix)
            self.soil_every, self._uptake = case.soil.every, 0.0
            self.fields.update(self.soil.fields)
        self.volume = self.comm.allreduce(self.lumped[: self.n_owned].sum(), op=MPI.SUM)
        self.w_initial = self._integral(self.fields["w"].x.array)

        cc = case.cells
        # The discrete cells also define the continuum's initial density, so that the
        # continuum mode is the mean field of the same initial state.
        self.cells = DiscreteCells(V, self.lumped, cc, case.seed, self.dt, r_wake=case.dormancy.r_wake)
        self.initial_cells = 0
        if index == 0:
            self.seed_tumour(cc.initial.count, cc.initial.fraction_M, cc.initial.per_place)
        elif spec.colony:
            self.seed_tumour(spec.colony, cc.initial.fraction_M)
        self._update_densities()
        self.pristine = True  # no cell has been here yet: m = 0 and w = w0 exactly
        self._had_cells = True
        self.pristine_cells = True  # no cell has been here yet (the soil at rest stays so)
        self._vessels(spec.geometry.vessel_radius + cc.h_ref)
        self.continuum = None
        if cc.mode == "continuum":
            from solver.fields.continuum import ContinuumCells

            self.continuum = ContinuumCells(V, self.lumped, cc, self.dt, self.fields["c_E"], self.fields["c_M"])
            self.cells.pop = self.cells.pop.take(np.zeros(0, dtype=np.int64))
        self.angio = None
        self.origin_sites = self.site_x.copy()  # before any new perfused vessel
        if case.soil.angiogenesis:
            self.angio = Angiogenesis(V, self.cells.walker, self.lumped, spec.angiogenesis, cc.h_ref, case.seed,
                                      self.dt, self.site_x, spec.geometry.vessel_radius, index, self.soil.b)
            self.fields.update(f=self.angio.f, tips=self.angio.n)
        if self.soil is not None:
            self.soil.equilibrate(self.fields["c_E"].x.array[: self.n_owned] + self.fields["c_M"].x.array[: self.n_owned])

    def seed_tumour(self, count: int, fraction_M: float, per_place: float | None = None) -> None:
        """A tumour of ``count`` cells around the organ's tumour centre (collective): the
        primary's initial state, or a seeded state of any organ (benchmarks, studies)."""
        per_place = per_place or self.cells_cfg.capacity(self.dim)
        self.cells.seed_initial(self.om.tumour_centre, count, fraction_M, per_place, first_id=self.index << 48)
        self.initial_cells = count
        self._update_densities()

    def site_values(self, name: str) -> np.ndarray:
        """Mean of field ``name`` over the dofs of each vessel site (within its radius, at
        least the nearest dof), the same on every rank of the organ (collective)."""
        if not hasattr(self, "_site_dofs"):
            xy = self.V.tabulate_dof_coordinates()[: self.n_owned, : self.dim]
            r = self.spec.geometry.vessel_radius
            self._site_dofs = [np.flatnonzero(np.linalg.norm(xy - c, axis=1) <= r) for c in self.site_x]
        values = self.fields[name].x.array
        sums = np.array([[values[d].sum(), len(d)] for d in self._site_dofs], dtype=float).reshape(-1, 2)
        self.comm.Allreduce(MPI.IN_PLACE, sums, op=MPI.SUM)
        return sums[:, 0] / np.maximum(sums[:, 1], 1.0)

    def add_site(self, x: np.ndarray, kind: int) -> None:
        """A new vessel site at ``x`` (the same on every rank): its elements (within the
        vessel radius of x) take ``kind``."""
        self.site_x = np.vstack([self.site_x, x[None, :]])
        self.site_kind = np.r_[self.site_kind, kind]
        if self.angio is not None:  # a perfused vessel: it may sprout in turn
            self.angio.site_x = self.site_x
        w = self.cells.walker
        near = np.linalg.norm(w.X.mean(axis=1) - x, axis=1) <= self.spec.geometry.vessel_radius
        self.element_kind[near & (self.element_kind == 0)] = kind
        if hasattr(self, "_site_dofs"):
            del self._site_dofs

    def _vessels(self, reach: float):
        """Vessel sites (normal first, then ruptured) and the kind of each local element."""
        sites = self.om.vessel_sites
        self.site_x = np.concatenate([sites["normal"], sites["ruptured"]]).reshape(-1, self.dim)
        self.site_kind = np.r_[np.full(len(sites["normal"]), NORMAL), np.full(len(sites["ruptured"]), RUPTURED)]
        self.reach = reach
        n = len(self.cells.walker.cell_global)
        self.element_kind = np.zeros(n, dtype=np.int8)
        for kind, group in ((NORMAL, "vessel_normal"), (RUPTURED, "vessel_ruptured")):
            if group in self.om.groups:
                self.element_kind[self.om.cell_tags.find(self.om.groups[group][1])] = kind

    def intravasate(self, n: int) -> list[tuple[int, dict[str, np.ndarray]]]:
        """Cells that have moved onto a vessel site leave with the cells around it
        (within the site's radius plus h_ref) as one cluster (MODEL.md section 4):
        any cell triggers a ruptured vessel, only a mesenchymal one a normal vessel.
        Returns (site, cells) per triggered site, the same on every rank (collective)."""
        pop = self.cells.pop
        if len(self.site_x) == 0 or self.continuum is not None:
            return []
        kind = self.element_kind[pop.host]
        active = pop.state != DORMANT
        trig = active & ((kind == RUPTURED) | ((kind == NORMAL) & (pop.phenotype == MESENCHYMAL)))
        near = np.argmin(np.linalg.norm(pop.x[trig, None, :] - self.site_x[None], axis=2), axis=1) if trig.any() \
            else np.zeros(0, dtype=np.int64)
        fired = np.unique(np.concatenate(self.comm.allgather(near)))
        if len(fired) == 0:
            return []
        dist = np.linalg.norm(pop.x[:, None, :] - self.site_x[fired][None], axis=2)
        within = dist <= self.reach
        site = np.where(within.any(axis=1), fired[np.argmax(within, axis=1)], -1)
        gone = self.cells.remove(site >= 0, extra={"site": site})
        return [(int(s), {k: v[gone["site"] == s] for k, v in gone.items() if k != "site"}) for s in fired]

    def extravasate(self, n: int, site: np.ndarray, cells: dict[str, np.ndarray], dormant: bool) -> int:
        """Arrivals settle at their vessel sites where there is room; returns how many
        were placed (the rest die). Rows are the same on every rank (collective).

        Each lands at its site's centre plus a normal jitter of half the vessel radius. One
        that lands outside the organ (a site near the boundary) draws again, up to
        ``PLACE_TRIES`` times (counter-based draws: the same on every rank), then takes the
        site's centre: geometry never kills an arrival, only the room does."""
        ids = cells["id"]
        spread = 0.5 * self.spec.geometry.vessel_radius
        x = self.site_x[site] + rng.normal(self.seed, ids, n, rng.PLACE, self.dim) * spread
        for attempt in range(1, PLACE_TRIES + 1):
            out = np.flatnonzero(claim(self.cells.walker, self.mesh, x)[0] < 0)
            if len(out) == 0:
                break
            if attempt == PLACE_TRIES:
                x[out] = self.site_x[site[out]]
            else:
                key = (PLACE_TRIES + 1) * n + attempt  # a stream per (step, attempt)
                x[out] = self.site_x[site[out]] + rng.normal(self.seed, ids[out], key, rng.PLACE_AGAIN, self.dim) * spread
        state = np.full(len(ids), DORMANT if dormant else INVADING, dtype=np.int8)
        cols = {"id": ids, "parent": cells["parent"], "phenotype": cells["phenotype"], "clock": cells["clock"],
                "state": state}
        placed = self.cells.insert(x, cols, n, rng.ARRIVE)
        return int(placed.sum())

    def _initial_ecm(self):
        w = self.fields["w"]
        w.x.array[:] = self.spec.ecm.w0
        tags = self.om.cell_tags
        for group, value in self.spec.ecm.w0_groups.items():
            if group not in self.om.groups:
                raise config.CaseError(
                    f"key 'primary.ecm.w0_groups.{group}': no physical group {group!r} in the mesh"
                    f" (groups: {', '.join(sorted(self.om.groups))})"
                )
            cells = tags.find(self.om.groups[group][1])
            dofs = np.unique(self.V.dofmap.list[cells])
            w.x.array[dofs] = value
        w.x.scatter_forward()

    def _update_densities(self):
        cE, cM = self.cells.densities(self.lumped)
        self.fields["c_E"].x.array[:] = cE
        self.fields["c_M"].x.array[:] = cM

    def solvers(self) -> dict:
        """The organ's implicit field solvers by field name (MMP and the soil's)."""
        return {"m": self.mmp, **(self.soil.solvers if self.soil is not None else {})}

    def _integral(self, values: np.ndarray) -> float:
        return self.comm.allreduce(float(self.lumped[: self.n_owned] @ values[: self.n_owned]), op=MPI.SUM)

    # -- time stepping ----------------------------------------------------------------
    def step(self, n: int, uptake: float = 0.0) -> None:
        """One step; ``uptake``: the exosome amount per unit time this organ takes from
        the plasma over the step (niche). A field that fails (FieldError, raised on every
        rank of the organ) leaves ``failure`` set for the simulation to stop on."""
        try:
            self._step(n, uptake)
        except FieldError as err:
            self.failure = f"organ '{self.name}', {err}"

    def _step(self, n: int, uptake: float) -> None:
        f = self.fields
        t0 = time.perf_counter()
        if self.continuum is None:
            # An organ without cells (a secondary before any arrival) skips the cell
            # step and its collectives; densities are refreshed once after it empties.
            present = self.comm.allreduce(len(self.cells.pop) > 0, op=MPI.LOR)
            if present:
                ox, N = f.get("o"), f.get("N")
                self.cells.step(n, f["w"].x.array, None if ox is None else ox.x.array,
                                (self.spec.oxygen.hypoxia, self.spec.oxygen.necrosis),
                                None if N is None else N.x.array, self.spec.niche.wake)
            if present or self._had_cells:
                self._update_densities()
            self.pristine_cells = self.pristine_cells and not present
            self._had_cells = present
        else:
            self.continuum.step(f["w"])
            self.pristine_cells = False
        t1 = time.perf_counter()
        c_M = f["c_M"].x.array if self.continuum is not None else self.cells.active_M_density(self.lumped, f["c_M"].x.array)
        deposition = self.spec.niche.deposition * f["N"].x.array if "N" in f and self.spec.niche.deposition else 0.0
        # An organ that has never held a cell (nor a conditioned niche) has m = 0 and no
        # source: its MMP and ECM steps are exactly the identity, so skip them (most of an
        # empty secondary's cost).
        if self.pristine:
            here = max(float(c_M[: self.n_owned].max(initial=0.0)), float(np.max(deposition, initial=0.0)))
            self.pristine = self.comm.allreduce(here, op=MPI.MAX) == 0.0
        if not self.pristine:
            self.mmp.step(self.spec.mmp.Theta * c_M[: self.n_owned])
            e = self.spec.ecm
            ecm.step(f["w"].x.array, self.dt, c_M, f["m"].x.array, e.Gamma1, e.Gamma2, deposition)
        if self.angio is not None:
            self.angio.step(n, f["v"].x.array, self.site_values("v"))
            self.soil.tip_uptake = self.angio.vegf_uptake()
            if self.index == 0:  # new perfused vessels in the primary are ruptured sites
                for x in self.angio.take_new_sites():
                    self.add_site(x, RUPTURED)
        if self.soil is not None:  # sub-cycled: every soil_every steps, with the mean uptake
            self._uptake += uptake
            if n % self.soil_every == 0:
                self.soil.step(f["c_M"].x.array[: self.n_owned] + f["c_E"].x.array[: self.n_owned], self._uptake / self.soil_every,
                               not self.pristine_cells)
                self._uptake = 0.0
        self.wall["cells"] += t1 - t0
        self.wall["fields"] += time.perf_counter() - t1

    # -- checkpoints (solver/io/checkpoint.py) -----------------------------------------
    def snapshot(self) -> tuple[dict[str, np.ndarray], dict | None]:
        """Owned values of every P1 field, and the rest of the organ on its first rank
        (None elsewhere): cells and tips with the input index of their element, counters,
        flags and vessel sites (collective on the organ)."""
        n = self.n_owned
        dofs = {name: f.x.array[:n].copy() for name, f in self.fields.items()}
        orig = self.mesh.topology.original_cell_index
        pop = self.cells.pop
        rest = {"cells": _gather(self.comm, dict(pop.portable(), cell=orig[pop.host])),
                "cell_stats": {k: self.comm.allreduce(v, op=MPI.SUM) for k, v in self.cells.stats.items()},
                "flags": {k: getattr(self, k) for k in ("pristine", "_had_cells", "pristine_cells", "initial_cells")},
                "sites": (self.site_x, self.site_kind), "uptake": getattr(self, "_uptake", 0.0)}
        if self.soil is not None:
            rest["soil"] = {"rest": dict(self.soil.rest), "taken_up": self.soil.taken_up, "consumed": self.soil.consumed}
        a = self.angio
        if a is not None:
            dofs["_trail"] = a.trail.array[:n].copy()
            tips = {k: v for k, v in a.tips.items() if k not in ("host", "vertex")}
            rest["angio"] = {"tips": _gather(self.comm, dict(tips, cell=orig[a.tips["host"]])),
                             "stats": {k: self.comm.allreduce(v, op=MPI.SUM) for k, v in a.stats.items()},
                             "parent": a.parent, "birth": a.birth, "perfused": a.perfused_labels,
                             "sprouted": a.sprouted,
                             "new_sites": a.new_sites}
        return dofs, rest if self.comm.rank == 0 else None

    def restore(self, dofs: dict[str, np.ndarray], rest: dict) -> None:
        """The inverse of ``snapshot`` on any partition of the same mesh (collective)."""
        n = self.n_owned
        for name, f in self.fields.items():
            f.x.array[:n] = dofs[name]
            f.x.scatter_forward()
        for k, v in rest["flags"].items():
            setattr(self, k, v)
        self._uptake = rest["uptake"]
        site_x, site_kind = rest["sites"]
        for x, kind in zip(site_x[len(self.site_x):], site_kind[len(self.site_kind):]):
            self.add_site(x, int(kind))  # new perfused vessels: their elements take the kind
        host_of = self._owned_cells()
        cols = rest["cells"]
        mine, host = host_of(cols.pop("cell"))
        cols = {k: v[mine] for k, v in cols.items()}
        self.cells.pop = Population.from_columns(self.dim, dict(cols, host=host, vertex=self.cells.walker.place(host, cols["x"])))
        self.cells.stats = {k: (v if self.comm.rank == 0 else 0) for k, v in rest["cell_stats"].items()}
        if self.soil is not None:
            for k, v in rest["soil"].items():
                setattr(self.soil, k, v)
        a = self.angio
        if a is not None:
            a.trail.array[:n] = dofs["_trail"]
            a.trail.scatter_forward()
            st = rest["angio"]
            tips = st["tips"]
            mine, host = host_of(tips.pop("cell"))
            a.tips = dict({k: v[mine] for k, v in tips.items()}, host=host,
                          vertex=a.walker.place(host, tips["x"][mine]))
            a.stats = {k: (v if self.comm.rank == 0 else 0) for k, v in st["stats"].items()}
            a.parent, a.birth, a.perfused_labels, a.sprouted, a.new_sites = st["parent"], st["birth"], \
                st["perfused"], st["sprouted"], st["new_sites"]
            self.soil.tip_uptake = a.vegf_uptake()

    def _owned_cells(self):
        """A function: input cell indices -> (which of them this rank owns, their local index)."""
        orig = self.mesh.topology.original_cell_index[: self.cells.walker.n_owned]
        order = np.argsort(orig)
        sorted_orig = orig[order]

        def host_of(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            pos = np.minimum(np.searchsorted(sorted_orig, cells), max(len(sorted_orig) - 1, 0))
            mine = (sorted_orig[pos] == cells) if len(sorted_orig) else np.zeros(len(cells), dtype=bool)
            return mine, order[pos[mine]].astype(np.int64)

        return host_of

    # -- what is reported ---------------------------------------------------------------
    def metrics(self) -> dict:
        f = self.fields
        n = self.n_owned
        w = f["w"].x.array
        if self.continuum is None:
            nE, nM = self.cells.total()
        else:
            scale = 1.0 / self.cells_cfg.h_ref**self.dim  # c is in cells per h_ref^d
            nE = self._integral(f["c_E"].x.array) * scale
            nM = self._integral(f["c_M"].x.array) * scale
        degraded = self.comm.allreduce(float(self.lumped[:n] @ (w[:n] < 0.5)), op=MPI.SUM) / self.volume
        r = self.invasion_radius()
        return {
            "cells_E": nE,
            "cells_M": nM,
            "cells": nE + nM,
            "ecm_lost_fraction": 1.0 - self._integral(w) / self.w_initial if self.w_initial > 0 else 0.0,
            "ecm_degraded_area_fraction": degraded,
            "mmp_max": self.comm.allreduce(float(f["m"].x.array[:n].max(initial=0.0)), op=MPI.MAX),
            "mmp_min": self.comm.allreduce(float(f["m"].x.array[:n].min(initial=0.0)), op=MPI.MIN),
            "radius_max": r[0],
            "radius_95": r[1],
            "mmp_iterations": self.mmp.iterations,
            **(self._soil_metrics() if self.soil is not None else {}),
        }

    def _soil_metrics(self) -> dict:
        f, n = self.fields, self.n_owned
        out = {}

        def extreme(name, op):
            values = f[name].x.array[:n]
            local = (values.min(initial=np.inf) if op is MPI.MIN else values.max(initial=-np.inf))
            return self.comm.allreduce(float(local), op=op)

        if "o" in f:
            out["o_min"] = extreme("o", MPI.MIN)
            hyp = f["o"].x.array[:n] < self.spec.oxygen.hypoxia
            out["hypoxic_fraction"] = self.comm.allreduce(float(self.lumped[:n] @ hyp), op=MPI.SUM) / self.volume
        if "v" in f:
            out["vegf_max"] = extreme("v", MPI.MAX)
        if "x" in f:
            out["niche_factor"] = self._integral(f["x"].x.array)
            out["niche_max"] = extreme("N", MPI.MAX)
            out["niche_mean"] = self._integral(f["N"].x.array) / self.volume
            out["exosomes_taken_up"] = self.soil.taken_up
        if self.angio is not None:
            out.update(self.angio.metrics(self.origin_sites, self.volume))
        return out

    def lesions(self, les, mm_per_unit: float) -> dict:
        """Lesions in this organ (connected occupied places) and their sizes in mm."""
        cells, boxes = lesions.find(self.cells.lattice, self.cells.pop.place, self.comm)
        d = lesions.diameters(boxes, self.cells_cfg.h_ref * mm_per_unit, self.dim)
        return {"lesions": len(cells), "micro": int(((d > les.micro_mm) & (d <= les.macro_mm)).sum()),
                "macro": int((d > les.macro_mm).sum()), "largest_lesion_mm": float(d.max(initial=0.0)),
                "largest_lesion_cells": float(cells.max(initial=0.0))}

    def invasion_radius(self) -> tuple[float, float]:
        """Largest and 95th-percentile distance of cells from the tumour centre."""
        if self.continuum is None:
            d = np.linalg.norm(self.cells.pop.x - self.om.tumour_centre, axis=1)
            weights = np.ones_like(d)
        else:
            coords = self.V.tabulate_dof_coordinates()[: self.n_owned, : self.dim]
            d = np.linalg.norm(coords - self.om.tumour_centre, axis=1)
            c = self.fields["c_E"].x.array[: self.n_owned] + self.fields["c_M"].x.array[: self.n_owned]
            weights = c * self.lumped[: self.n_owned]
            keep = c > 1e-3  # a density below ~1/1000 cell per place is not tumour
            d, weights = d[keep], weights[keep]
        d_all = self.comm.gather(d, root=0)
        wt_all = self.comm.gather(weights, root=0)
        out = (0.0, 0.0)
        if self.comm.rank == 0:
            d, wt = np.concatenate(d_all), np.concatenate(wt_all)
            if len(d):
                o = np.argsort(d)
                cw = np.cumsum(wt[o])
                out = (float(d[o][-1]), float(d[o][np.searchsorted(cw, 0.95 * cw[-1])]))
        return self.comm.bcast(out, root=0)


def scale_hours(t: float, case: config.Case) -> float:
    return t * case.scales.time_s / 3600.0


def length_mm(x: float, case: config.Case) -> float:
    return x * case.scales.length_cm * 10.0


def _gather(comm: MPI.Comm, cols: dict[str, np.ndarray]) -> dict[str, np.ndarray] | None:
    """Rows of every rank concatenated in rank order on rank 0 (None elsewhere)."""
    parts = comm.gather(cols, root=0)
    return {k: np.concatenate([p[k] for p in parts]) for k in cols} if comm.rank == 0 else None
