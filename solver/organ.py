"""An organ: its mesh and tags, P1 space, fields, cancer cells and parameters.

One step of an organ (operator splitting, data flowing one way):
cells move, divide (and, with oxygen, stop dividing when hypoxic and die when anoxic) in
the start-of-step fields -> cell densities -> MMP (implicit) -> ECM (exact) -> the soil
(oxygen, VEGF, niche factor: implicit; conditioning: exact).

In continuum mode (cells.mode = "continuum") the same processes act on the densities
c_E, c_M (and d_E, d_M for dormant arrivals): docs/continuum.md says what each switch does.
In hybrid mode both act: discrete cells where sparse, a density u_E, u_M where dense, the
fields reading their sum c_E, c_M, converted at the end of each cell step (docs/hybrid.md).
"""

from __future__ import annotations

import math
import time
from typing import cast

import dolfinx.fem as fem
import numpy as np
import scipy.sparse as sp
from mpi4py import MPI

from solver import config, lesions
from solver.cells import rng
from solver.cells.discrete import DiscreteCells
from solver.cells.locate import near
from solver.cells.population import DORMANT, INVADING, MESENCHYMAL, join_units
from solver.cells.switching import Switching
from solver.clinic.section import DENSITIES, Section, from_fields
from solver.fields import ecm
from solver.fields.equations import ECMEquation, MMPEquation
from solver.fields.reaction_diffusion import (
    FieldError,
    ReactionDiffusion,
    integral,
    lumped_mass,
    negative_part,
    stiffness,
)
from solver.fields.soil import Soil
from solver.fields.tgfb import TGFBeta
from solver.geometry import OrganMesh
from solver.lineage import NOT_SEEDED, Composition
from solver.vessels import Angiogenesis

NORMAL, RUPTURED = 1, 2  # vessel kinds
# Gmsh puts nodes on the vessel circle/sphere: distances are compared with a relative
# tolerance, so that a node on it is in (or out) whatever round-off the partition brings.
_EDGE = 1.0 + 1e-9
PLACE_TRIES = 8  # draws of an arrival's position inside the organ before its site's centre


class Organ:
    """One organ: its mesh, P1 fields, cancer cells, vessels, soil and new vessels.

    Args:
        spec: the organ's part of the case.
        om: its mesh (geometry.organ_mesh), on the organ's ranks.
        case: the case.
        index: 0 for the primary (which holds the initial tumour), k for the k-th secondary.
    """

    def __init__(self, spec: config.OrganSpec, om: OrganMesh, case: config.Case, *, index: int = 0):
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
        self.regimes = None  # hybrid: the conversion between the two (solver/cells/regime.py)
        # The continuum's density fields: c_E, c_M themselves, or (hybrid) its part u_E, u_M.
        hybrid = case.cells.mode == "hybrid"
        self.density_names = ("u_E", "u_M") if hybrid else ("c_E", "c_M")
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
        self.mmp_equation = MMPEquation.of(spec.mmp)
        self.ecm_equation = ECMEquation.of(spec.ecm, spec.niche)
        mmp = self.mmp_equation
        self.mmp = ReactionDiffusion(
            u=self.fields["m"],
            K=K,
            lumped=self.lumped,
            D=mmp.D,
            decay=mmp.decay,
            dt=self.dt,
            name="mmp",
            organ=self.name,
            options=case.petsc(),
            rtol=case.solver.rtol,
            positive=m_matrix,
        )
        self.soil = None
        self.soil_every = case.soil.every  # the soil's sub-cycle, steps
        self._uptake = 0.0  # exosome uptake per unit time summed over the open sub-cycle
        if case.soil.oxygen or case.soil.vegf or case.soil.niche:
            self.soil = Soil(
                V=V,
                K=K,
                lumped=self.lumped,
                spec=spec,
                flags=case.soil,
                dt=self.dt * case.soil.every,
                petsc=case.petsc(),
                rtol=case.solver.rtol,
                capacity=case.cells.capacity(self.dim),
                rtol_ov=case.solver.soil_rtol,
                positive=m_matrix,
            )
            self.fields.update(self.soil.fields)
        # What a secreted field (TGF-beta, VEGF-C: solver/fields/secreted.py) takes of the organ.
        secreted = dict(
            V=V,
            K=K,
            lumped=self.lumped,
            dt=self.dt,
            organ=self.name,
            petsc=case.petsc(),
            rtol=case.solver.rtol,
            positive=m_matrix,
        )
        # EMT and MET (docs/emt.md): the switching rule and its TGF-beta field.
        self.switching: Switching | None = None
        self.tgfb: TGFBeta | None = None
        if case.cells.switching.on:
            sw = case.cells.switching
            self.switching = Switching(sw, seed=case.seed, dt=self.dt, o_hyp=spec.oxygen.hypoxia)
            self.tgfb = TGFBeta(spec=sw.tgfb_field, **secreted)
            self.fields["tgfb"] = self.tgfb.T
        self.recruits = None  # LOX and recruited niche cells (secondaries; docs/niche-cells.md)
        if case.soil.recruits and index > 0:
            from solver.fields.recruits import Recruits

            self.recruits = Recruits(
                V=V,
                lumped=self.lumped,
                spec=case.recruits,
                b0=spec.oxygen.b0,
                dt=self.dt,
                cell_volume=case.cells.h_ref**self.dim,
            )
            self.fields.update(self.recruits.fields)
        self.volume = self.comm.allreduce(self.lumped[: self.n_owned].sum(), op=MPI.SUM)
        self.w_initial = self._integral(self.fields["w"].x.array)

        cc = case.cells
        # The discrete cells also define the continuum's initial density, so that the
        # continuum mode is the mean field of the same initial state.
        self.cells = DiscreteCells(
            V=V,
            lumped=self.lumped,
            params=cc,
            seed=case.seed,
            dt=self.dt,
            r_wake=case.dormancy.r_wake,
        )
        self.initial_cells = 0
        if index == 0:
            self.seed_tumour(cc.initial.count, cc.initial.fraction_M, cc.initial.per_place)
        elif spec.colony:
            self.seed_tumour(spec.colony, cc.initial.fraction_M, spec.colony_per_place)
        self._update_densities()
        if self.switching is not None and index > 0:
            # Mesenchymal cells that do not revert colonise poorly (Tsai et al. 2012): in a
            # secondary organ they divide at colonise_M / T_M (set after seeding: the initial
            # clocks are drawn over the primary's doubling times).
            frac = case.cells.switching.colonise_M
            self.cells.doubling[MESENCHYMAL] = (
                round(cc.T_M / (frac * self.dt)) if frac > 0 else np.inf
            )
        self.pristine = True  # no cell has been here yet: m = 0 and w = w0 exactly
        self._had_cells = True
        self.pristine_cells = True  # no cell has been here yet (the soil at rest stays so)
        self.site_x: np.ndarray  # vessel sites (normal, ruptured, then new) and their kinds,
        self.site_kind: np.ndarray  # and the kind of each local element: set by _vessels
        self.element_kind: np.ndarray
        self._vessels(spec.geometry.vessel_radius + cc.h_ref)
        # Dofs near each vessel site, built when first needed and again when sites are added.
        self._site_dofs: list[np.ndarray] | None = None  # site_values: within the radius
        self._regions: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # _site_regions
        self._trigger: sp.csr_matrix | None = None  # _on_vessels, for _trigger_sites sites
        self._trigger_sites = -1
        self.continuum = None
        self._coarsening: int | None = None  # _lesion_coarsening, found at the first call
        self.r_wake = case.dormancy.r_wake
        # Continuum: this rank's share of the cells (real numbers) that died in the tissue and woke.
        self.density_stats = {"died": 0.0, "woke": 0.0}
        self.lineage = Composition()  # continuum only (discrete cells carry their own)
        if cc.mode != "discrete":
            from solver.fields.continuum import ContinuumCells

            for name in self.density_names:
                self.fields.setdefault(name, fem.Function(V, name=name))
            self.continuum = ContinuumCells(
                V=V,
                lumped=self.lumped,
                params=cc,
                dt=self.dt,
                c_E=self.fields[self.density_names[0]],
                c_M=self.fields[self.density_names[1]],
            )
            if self.continuum.ready is not None:  # growth by room: checkpointed with the fields
                self.fields.update({f.name: f for f in self.continuum.ready})
            if self.switching is not None and index > 0:  # as the discrete M cells above
                r = self.continuum.r
                self.continuum.r = (r[0], r[1] * case.cells.switching.colonise_M)
        if cc.mode == "hybrid":
            from solver.cells.regime import Regimes
            from solver.io.checkpoint import input_index

            self.regimes = Regimes(
                self.cells,
                self.lumped,
                cc.capacity(self.dim),
                input_index(V),
                self.lineage,
                absorb=cc.absorb,
                release=cc.release,
                ready=None if self.continuum is None else self.continuum.ready,
            )
            self._convert(0)  # the initial tumour's packed core becomes density
        if cc.mode == "continuum":
            self.cells.pop = self.cells.pop.take(np.zeros(0, dtype=np.int64))
            # Lineage of the density, well mixed (solver/lineage.py): its initial cells.
            first = np.uint64(index << 48)  # seed_initial's ids
            self.lineage.add(
                np.full(self.initial_cells, NOT_SEEDED, dtype=np.uint64),
                first + np.arange(self.initial_cells, dtype=np.uint64),
            )
            if self.r_wake is not None:  # dormant arrivals: densities that neither move nor divide
                for name in ("d_E", "d_M"):
                    self.fields[name] = fem.Function(V, name=name)
        self.angio = None
        self.origin_sites = self.site_x.copy()  # before any new perfused vessel
        if case.soil.angiogenesis:
            assert self.soil is not None  # angiogenesis follows VEGF (config.SoilSpec)
            self.angio = Angiogenesis(
                V=V,
                walker=self.cells.walker,
                lumped=self.lumped,
                cfg=spec.angiogenesis,
                h_ref=cc.h_ref,
                seed=case.seed,
                dt=self.dt,
                site_x=self.site_x,
                site_radius=spec.geometry.vessel_radius,
                organ_index=index,
                b=self.soil.b,
            )
            self.fields.update(f=self.angio.f, tips=self.angio.n)
        if self.soil is not None:
            self.soil.equilibrate(self._all_cells()[: self.n_owned])
        if self.tgfb is not None:  # T at its steady state with the initial cells, as oxygen
            self.tgfb.equilibrate(self._all_cells(), self.fields["w"].x.array)
        # Lymphatic vessel sites (solver/lymph.py): the primary's, when the case has a basin.
        self.lymphatics = None
        if index == 0 and case.lymph.basin:
            from solver.lymph import Lymphatics

            self.lymphatics = Lymphatics(self, case.lymph)
        self.vegfc = None  # VEGF-C, the primary's signal of lymphangiogenesis (docs/lymphatics.md)
        if self.lymphatics is not None and case.lymph.lymphangiogenesis > 0:
            from solver.fields.vegfc import VEGFC

            self.vegfc = VEGFC(spec=case.lymph, **secreted)
            self.fields["vegfc"] = self.vegfc.C
            self.vegfc.equilibrate(self._all_cells())  # at steady state with the initial cells

    def _densities(self) -> list[str]:
        """The names of the cell-density fields (continuum mode: active, then dormant)."""
        return [k for k in DENSITIES if k in self.fields]

    def _all_cells(self) -> np.ndarray:
        """Density of all cells (active and dormant), owned + ghost dofs."""
        return cast(np.ndarray, sum(self.fields[k].x.array for k in self._densities()))

    def _continuum_densities(self) -> list[str]:
        """The density fields the continuum steps: c_E, c_M (and the dormant d_E, d_M), or
        in hybrid mode u_E, u_M.
        """
        if self.regimes is not None:
            return list(self.density_names)
        return self._densities()

    def count(self) -> float:
        """Cells in the organ, on every rank (collective): discrete, a whole number;
        continuum, the integral of the densities over h_ref^d; hybrid, their sum.
        """
        discrete = float(sum(self.cells.total())) if self.continuum is None or self.regimes else 0.0
        if self.continuum is None:
            return discrete
        dens = sum(self.fields[k].x.array for k in self._continuum_densities())
        return discrete + self._integral(cast(np.ndarray, dens)) / self.cells_cfg.h_ref**self.dim

    def tissue_stats(self) -> dict[str, float]:
        """Cells born, died and (continuum) added back by the clip at zero in this organ so
        far, on every rank of the organ (collective); hybrid: both representations'.
        """
        local = np.zeros(3)
        if self.continuum is None or self.regimes is not None:
            st = self.cells.stats
            local += [st["divisions"], st["died"], 0.0]
        if self.continuum is not None:
            vol = self.cells_cfg.h_ref**self.dim
            cs = self.continuum.stats
            # The floor's removal (negligible densities, ContinuumCells.FLOOR) nets off the
            # clip's additions: both are corrections the scheme's bookkeeping counts.
            clip = (cs["clip_removed"] - cs["floored"]) / vol
            local += [cs["born"] / vol, self.density_stats["died"], clip]
        born, died, clip = self.comm.allreduce(local, op=MPI.SUM)
        return {"born": born, "died": died, "clip_removed": clip}

    def resect(self) -> None:
        """Remove every cell (surgery on the primary)."""
        self.cells.pop = self.cells.pop.take(np.zeros(0, dtype=np.int64))
        if self.continuum is not None:
            for k in {*self._densities(), *self._continuum_densities()}:
                self.fields[k].x.array[:] = 0.0

    def seed_tumour(self, count: int, fraction_M: float, per_place: float | None = None) -> None:
        """A tumour of ``count`` cells around the organ's tumour centre (collective): the
        primary's initial state, or a seeded state of any organ (benchmarks, studies).
        """
        per_place = per_place or self.cells_cfg.capacity(self.dim)
        self.cells.seed_initial(
            self.om.tumour_centre, count, fraction_M, per_place, first_id=self.index << 48
        )
        self.initial_cells = count
        self._update_densities()

    def site_values(self, name: str) -> np.ndarray:
        """Mean of field ``name`` over the dofs of each vessel site (within its radius, at
        least the nearest dof), the same on every rank of the organ (collective).
        """
        if self._site_dofs is None:
            xy = self.V.tabulate_dof_coordinates()[: self.n_owned, : self.dim]
            r = self.spec.geometry.vessel_radius
            self._site_dofs = [
                np.flatnonzero(np.linalg.norm(xy - c, axis=1) <= r * _EDGE) for c in self.site_x
            ]
        values = self.fields[name].x.array
        sums = np.array([[values[d].sum(), len(d)] for d in self._site_dofs], dtype=float).reshape(
            -1, 2
        )
        self.comm.Allreduce(MPI.IN_PLACE, sums, op=MPI.SUM)
        return sums[:, 0] / np.maximum(sums[:, 1], 1.0)

    def add_site(self, x: np.ndarray, kind: int) -> None:
        """A new vessel site at ``x`` (the same on every rank): its elements (within the
        vessel radius of x) take ``kind``.
        """
        self.site_x = np.vstack([self.site_x, x[None, :]])
        self.site_kind = np.r_[self.site_kind, kind]
        if self.angio is not None:  # a perfused vessel: it may sprout in turn
            self.angio.site_x = self.site_x
        w = self.cells.walker
        near = np.linalg.norm(w.X.mean(axis=1) - x, axis=1) <= self.spec.geometry.vessel_radius
        self.element_kind[near & (self.element_kind == 0)] = kind
        self._site_dofs = None

    def _vessels(self, reach: float) -> None:
        """Vessel sites (normal first, then ruptured) and the kind of each local element."""
        sites = self.om.vessel_sites
        self.site_x = np.concatenate([sites["normal"], sites["ruptured"]]).reshape(-1, self.dim)
        self.site_kind = np.r_[
            np.full(len(sites["normal"]), NORMAL), np.full(len(sites["ruptured"]), RUPTURED)
        ]
        self.reach = reach
        n = len(self.cells.walker.cell_global)
        self.element_kind = np.zeros(n, dtype=np.int8)
        for kind, group in ((NORMAL, "vessel_normal"), (RUPTURED, "vessel_ruptured")):
            if group in self.om.groups:
                self.element_kind[self.om.cell_tags.find(self.om.groups[group][1])] = kind

    def intravasate(self, n: int) -> list[tuple[int, dict[str, np.ndarray]]]:
        """Cells that have moved onto a vessel site leave with the cells around it
        (within the site's radius plus h_ref) as one cluster (docs/model.md section 4):
        any cell triggers a ruptured vessel, only a mesenchymal one a normal vessel.
        Returns (site, cells) per triggered site, the same on every rank (collective).
        """
        pop = self.cells.pop
        if len(self.site_x) == 0:
            return []
        if self.regimes is not None:
            return self._intravasate_both(n)
        if self.continuum is not None:
            return self._shed(n)
        fired = self._fired(pop)
        if len(fired) == 0:
            return []
        return self._take_clusters(fired)

    def _fired(self, pop) -> np.ndarray:
        """The sites a discrete cell triggers (sorted, the same on every rank; collective)."""
        kind = self.element_kind[pop.host]
        active = pop.state != DORMANT
        trig = active & ((kind == RUPTURED) | ((kind == NORMAL) & (pop.phenotype == MESENCHYMAL)))
        near = (
            np.argmin(np.linalg.norm(pop.x[trig, None, :] - self.site_x[None], axis=2), axis=1)
            if trig.any()
            else np.zeros(0, dtype=np.int64)
        )
        return np.unique(np.concatenate(self.comm.allgather(near)))

    def _take_clusters(self, fired: np.ndarray) -> list[tuple[int, dict[str, np.ndarray]]]:
        """The discrete cells within reach of each fired site (the first such site if
        several), removed as that site's cluster (collective).
        """
        pop = self.cells.pop
        dist = np.linalg.norm(pop.x[:, None, :] - self.site_x[fired][None], axis=2)
        within = dist <= self.reach
        site = np.where(within.any(axis=1), fired[np.argmax(within, axis=1)], -1)
        gone = self.cells.remove(site >= 0, extra={"site": site})
        return [
            (int(s), {k: v[gone["site"] == s] for k, v in gone.items() if k != "site"})
            for s in fired
        ]

    def _intravasate_both(self, n: int) -> list[tuple[int, dict[str, np.ndarray]]]:
        """Hybrid: a site fires if a discrete cell triggers it or the density's keyed draw
        does (probability 1 - exp(-N), N the density's triggering cells on it: ``_shed``);
        a fired site takes both its discrete cells within reach and a unit of the density
        within reach, as one cluster (collective).
        """
        fired_d = self._fired(self.cells.pop)
        fired_c, units = self._shed_draw(n)
        fired = np.union1d(fired_d, fired_c)
        if len(fired) == 0:
            return []
        taken = self._take_clusters(fired)
        for s in fired_d[~np.isin(fired_d, fired_c)]:  # the density within reach goes too
            unit = self._shed_one(n, int(s))
            if unit is not None:
                units[int(s)] = unit
        self._scatter_densities()
        return join_units(taken, list(units.items()))

    def lymph_enter(self, n: int) -> list[tuple[int, dict[str, np.ndarray]]]:
        """Cells that enter a lymphatic site at step ``n`` (solver/lymph.py): (site, cells)
        per site that takes a unit, the same on every rank (collective).
        """
        return [] if self.lymphatics is None else self.lymphatics.enter(n)

    def extravasate(
        self, n: int, site: np.ndarray, cells: dict[str, np.ndarray], dormant: bool
    ) -> int:
        """Arrivals settle at their vessel sites where there is room; returns how many
        were placed (the rest die). Rows are the same on every rank (collective).

        Each lands at its site's centre plus a normal jitter of half the vessel radius. One
        that lands outside the organ (a site near the boundary) draws again, up to
        ``PLACE_TRIES`` times (counter-based draws: the same on every rank), then takes the
        site's centre: geometry never kills an arrival, only the room does.
        """
        if self.continuum is not None and self.regimes is None:  # hybrid: arrivals are discrete
            return self._settle(n, site, cells, dormant)
        ids = cells["id"]
        spread = 0.5 * self.spec.geometry.vessel_radius
        x = near(
            self.cells.walker,
            self.mesh,
            self.site_x[site],
            self.seed,
            ids,
            n,
            spread,
            rng.PLACE,
            rng.PLACE_AGAIN,
            PLACE_TRIES,
        )
        state = np.full(len(ids), DORMANT if dormant else INVADING, dtype=np.int8)
        cols = {
            "id": ids,
            "parent": cells["parent"],
            "phenotype": cells["phenotype"],
            "clock": cells["clock"],
            "state": state,
            # Lineage (docs/biopsy.md); rows without it: their own founders, no unit.
            "founder": cells.get("founder", ids),
            "seeded_by": cells.get("seeded_by", np.full(len(ids), NOT_SEEDED, np.uint64)),
        }
        if self.regimes is not None:  # hybrid: the density's cells hold room too
            self.cells.occupied = self.fields["u_E"].x.array + self.fields["u_M"].x.array
        placed = self.cells.insert(x, cols, n, rng.ARRIVE)
        self.cells.occupied = None
        return int(placed.sum())

    # -- continuum cells at the vessel sites -------------------------------------------------
    def _site_regions(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per vessel site, owned dofs within the vessel radius (at least the organ's nearest
        dof), within the reach (radius + h_ref) and in the annulus reach < d <= 2 reach.
        """
        regions = self._regions
        xy = self.V.tabulate_dof_coordinates()[: self.n_owned, : self.dim]
        r_v = self.spec.geometry.vessel_radius
        for x in self.site_x[len(regions) :]:
            d = np.linalg.norm(xy - x, axis=1)
            nearest = self.comm.allreduce(float(d.min(initial=np.inf)), op=MPI.MIN)
            r, reach = max(r_v, nearest) * _EDGE, self.reach * _EDGE
            regions.append(
                (
                    np.flatnonzero(d <= r),
                    np.flatnonzero(d <= reach),
                    np.flatnonzero((d > reach) & (d <= 2.0 * reach)),
                )
            )
        self._regions = regions
        return regions

    def _on_vessels(self) -> np.ndarray:
        """Cells on each site's vessel elements (the discrete rule's trigger area: owned
        elements of a vessel kind, each given to its nearest site), per phenotype, summed
        over ranks: (sites, 2). Lumped: an element holds volume / (d + 1) of each vertex's
        density.
        """
        if self._trigger_sites != len(self.site_x):  # rebuilt when vessels are added
            w = self.cells.walker
            own = np.flatnonzero(self.element_kind[: w.n_owned] > 0)
            X = w.X[own]
            J = np.stack([X[:, k + 1] - X[:, 0] for k in range(self.dim)], axis=2)
            vol = np.abs(np.linalg.det(J)) / math.factorial(self.dim)
            site = (
                np.argmin(
                    np.linalg.norm(X.mean(axis=1)[:, None, :] - self.site_x[None], axis=2), axis=1
                )
                if len(own)
                else np.zeros(0, dtype=np.int64)
            )
            dofs = self.V.dofmap.list[own]
            rows = np.repeat(site, self.dim + 1)
            self._trigger = sp.csr_matrix(
                (np.repeat(vol / (self.dim + 1), self.dim + 1), (rows, dofs.ravel())),
                shape=(len(self.site_x), len(self.fields["c_E"].x.array)),
            )
            self._trigger_sites = len(self.site_x)
        assert self._trigger is not None
        vol = self.cells_cfg.h_ref**self.dim
        out = np.column_stack(
            [self._trigger @ self.fields[k].x.array / vol for k in self.density_names]
        )
        return self.comm.allreduce(out, op=MPI.SUM)

    def _masses(self, names: list[str], dofs: list[np.ndarray]) -> np.ndarray:
        """Cells of each density field in each dof set, summed over ranks: (sets, fields)."""
        m, vol = self.lumped, self.cells_cfg.h_ref**self.dim
        out = np.array(
            [[m[d] @ self.fields[k].x.array[d] / vol for k in names] for d in dofs], dtype=float
        )
        return self.comm.allreduce(out.reshape(len(dofs), len(names)), op=MPI.SUM)

    def _shed(self, n: int) -> list[tuple[int, dict[str, np.ndarray]]]:
        """Continuum intravasation, the mean field of the discrete rule (docs/continuum.md):
        a site fires with the probability that at least one triggering cell (any active
        cell at a ruptured site, a mesenchymal one at a normal site) lies on it, 1 - exp(-N),
        N = the cells on its vessel elements (Poisson); it sheds one cluster of the cells within its
        reach, a stochastic rounding of that mass per phenotype (expected size = the mass),
        taken from the density there (from the annulus reach < d <= 2 reach for the
        rounding's last cell), so that mass is conserved. Rank-independent: draws keyed by
        site and step, ids from the counter-based hash. Collective; the same on every rank.
        """
        fired, units = self._shed_draw(n)
        if len(fired):
            self._scatter_densities()
        return [(s, units[s]) for s in sorted(units)]

    def _shed_draw(self, n: int) -> tuple[np.ndarray, dict[int, dict[str, np.ndarray]]]:
        """The sites the density fires at step ``n`` and the unit each sheds (none if its
        unit rounds to no cell); the caller scatters the densities (collective).
        """
        self._site_regions()
        on = self._on_vessels()
        trig = np.where(self.site_kind == RUPTURED, on.sum(axis=1), on[:, 1])
        sites = np.arange(len(self.site_x), dtype=np.uint64)
        fired = np.flatnonzero(rng.uniform(self.seed, sites, n, rng.SHED) < -np.expm1(-trig))
        units = {}
        for s in fired:  # one at a time: the regions of neighbouring sites may overlap
            cells = self._shed_one(n, int(s))
            if cells is not None:
                units[int(s)] = cells
        return fired, units

    def _shed_one(self, n: int, s: int) -> dict[str, np.ndarray] | None:
        """The density's unit at fired site ``s`` (``shed_unit`` with the blood's keys)."""
        _, reach, ring = self._site_regions()[s]
        keys = np.array([2 * s, 2 * s + 1], dtype=np.uint64)
        return self.shed_unit(n, s, reach, ring, self.site_x[s], keys, rng.SHED_ROUND, rng.SHED_ID)

    def _scatter_densities(self) -> None:
        """Ghost values of the continuum's densities after units were taken from them."""
        for name in self.density_names:
            self.fields[name].x.scatter_forward()

    def shed_unit(
        self,
        n: int,
        s: int,
        reach: np.ndarray,
        ring: np.ndarray,
        x: np.ndarray,
        keys: np.ndarray,
        round_purpose: int,
        id_purpose: int,
    ) -> dict[str, np.ndarray] | None:
        """Continuum: one unit leaving the density at site ``s`` (at ``x``) into a vessel,
        blood or lymphatic: a stochastic rounding of the mass within ``reach`` per phenotype
        (expected size = the mass; draws keyed by ``keys``, one per phenotype), taken from
        the density there and, for the rounding's last cell, from the annulus ``ring``, so
        that mass is conserved. Its cells' ids hash (site, index); their founders are drawn
        from the organ's lineage. None if it rounds to no cell. The caller scatters the
        densities forward after its last unit.
        """
        near, far = self._masses(list(self.density_names), [reach, ring])
        # Expected size = the mass within reach, so the expected shed mass is the discrete
        # rule's at the same density (adding the Poisson excess of triggering cells given a
        # firing, lam / (e^lam - 1), sheds 13 % too much: docs/continuum.md).
        u = rng.uniform(self.seed, keys, n, round_purpose)
        k = np.floor(near) + (u < near - np.floor(near))
        k = np.where(k - near > far, np.floor(near + far), k)  # no more than the annulus holds
        for j, name in enumerate(self.density_names):
            c = self.fields[name].x.array
            if k[j] <= near[j]:
                c[reach] *= 1.0 - k[j] / near[j] if near[j] > 0 else 1.0
            else:
                c[reach] = 0.0
                c[ring] *= 1.0 - (k[j] - near[j]) / far[j]
        nE, nM = int(k[0]), int(k[1])
        if nE + nM == 0:
            return None
        ids = rng.hash64(
            self.seed,
            (np.uint64(s) << np.uint64(32)) + np.arange(nE + nM, dtype=np.uint64),
            n,
            id_purpose,
        )
        phen = np.r_[np.zeros(nE, np.int8), np.ones(nM, np.int8)]
        order = np.argsort(ids, kind="stable")
        return {
            "id": ids[order],
            "parent": ids[order],
            "x": np.repeat(np.asarray(x)[None], nE + nM, axis=0),
            "phenotype": phen[order],
            "state": np.zeros(nE + nM, np.int8),
            "clock": np.zeros(nE + nM),
            "founder": self.lineage.draw(self.seed, ids[order], n),
        }

    def _settle(self, n: int, site: np.ndarray, cells: dict[str, np.ndarray], dormant: bool) -> int:
        """Continuum extravasation: arrivals join the density (dormant ones the dormant
        density) on the dofs of their vessel site, spread in proportion to the room each dof
        has left (Q - all cells), so that no dof exceeds Q; as many whole cells as the
        site has room for settle (in the order of a hash of their ids), the rest die.
        Returns how many settled (collective; rows the same on every rank).
        """
        regions = self._site_regions()
        Q, vol = self.cells_cfg.capacity(self.dim), self.cells_cfg.h_ref**self.dim
        placed = 0
        for s in np.unique(site):
            rows = np.flatnonzero(site == s)
            rows = rows[
                np.argsort(rng.hash64(self.seed, cells["id"][rows], n, rng.ARRIVE), kind="stable")
            ]
            dofs = regions[s][0]
            room = np.maximum(Q - self._all_cells()[dofs], 0.0)
            total = self.comm.allreduce(float(self.lumped[dofs] @ room) / vol, op=MPI.SUM)
            take = rows[: min(len(rows), int(np.floor(total + 1e-9)))]
            if len(take) == 0:
                continue
            placed += len(take)
            unit = cells.get("seeded_by", np.full(len(site), NOT_SEEDED, np.uint64))
            self.lineage.add(unit[take], cells.get("founder", cells["id"])[take])
            for j, name in enumerate(("d_E", "d_M") if dormant else ("c_E", "c_M")):
                k = int((cells["phenotype"][take] == j).sum())
                self.fields[name].x.array[dofs] += k * room / total
        for name in self._densities():
            self.fields[name].x.scatter_forward()
        return placed

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
        if self.regimes is not None:  # hybrid: the fields see both representations
            cE = cE + self.fields["u_E"].x.array
            cM = cM + self.fields["u_M"].x.array
        self.fields["c_E"].x.array[:] = cE
        self.fields["c_M"].x.array[:] = cM

    def _convert(self, n: int) -> None:
        """Hybrid: dense patches absorb their discrete cells, sparse ones release whole
        cells of density (solver/cells/regime.py), then the fields' c_E, c_M (collective).
        """
        assert self.regimes is not None
        u = (self.fields["u_E"], self.fields["u_M"])
        self.regimes.absorb(*u)
        self.regimes.release(*u, n)
        self._update_densities()

    def solvers(self) -> dict:
        """The organ's implicit field solvers by field name (MMP and the soil's)."""
        return {"m": self.mmp, **(self.soil.solvers if self.soil is not None else {})}

    def _integral(self, values: np.ndarray) -> float:
        return integral(self.lumped[: self.n_owned], values, self.comm)

    # -- time stepping ----------------------------------------------------------------
    def step(self, n: int, uptake: float = 0.0) -> None:
        """One step; ``uptake``: the exosome amount per unit time this organ takes from
        the plasma over the step (niche). A field that fails (FieldError, raised on every
        rank of the organ) leaves ``failure`` set for the simulation to stop on.
        """
        try:
            self._step(n, uptake)
        except FieldError as err:
            self.failure = f"organ '{self.name}', {err}"

    def _soil_step(self) -> None:
        """The soil over its sub-cycle of soil_every steps, with their mean uptake (until
        then the uptake is pending: ``exosomes_pending``).
        """
        assert self.soil is not None
        self.soil.step(
            self._all_cells()[: self.n_owned],
            self._uptake / self.soil_every,
            not self.pristine_cells,
        )
        self._uptake = 0.0

    def _step(self, n: int, uptake: float) -> None:
        f = self.fields
        t0 = time.perf_counter()
        if self.regimes is not None:
            self._hybrid_step(n)
        elif self.continuum is None:
            # An organ without cells (a secondary before any arrival) skips the cell
            # step and its collectives; densities are refreshed once after it empties.
            present = self._discrete_step(n)
            if present or self._had_cells:
                self._update_densities()
            self.pristine_cells = self.pristine_cells and not present
            self._had_cells = present
        else:
            self._continuum_step(n)
        t1 = time.perf_counter()
        c_M = self.active_M()
        ecm_eq = self.ecm_equation
        deposition = 0.0
        if "N" in f and ecm_eq.deposition_rate:
            deposition = ecm_eq.deposition(f["N"].x.array)
        # An organ that has never held a cell (nor a conditioned niche) has m = 0 and no
        # source: its MMP and ECM steps are exactly the identity, so skip them (most of an
        # empty secondary's cost).
        if self.pristine:
            here = max(
                float(c_M[: self.n_owned].max(initial=0.0)), float(np.max(deposition, initial=0.0))
            )
            self.pristine = self.comm.allreduce(here, op=MPI.MAX) == 0.0
        if not self.pristine:
            self.mmp.step(self.mmp_equation.source(c_M[: self.n_owned]))
            ecm.step(f["w"].x.array, self.dt, ecm_eq, c_M, f["m"].x.array, deposition)
        if self.tgfb is not None:
            self.tgfb.step(self._all_cells(), f["w"].x.array)
        if self.angio is not None:
            self.angio.step(n, f["v"].x.array, self.site_values("v"))
            assert self.soil is not None
            self.soil.tip_uptake = self.angio.vegf_uptake()
            if self.index == 0:  # new perfused vessels in the primary are ruptured sites
                for x in self.angio.take_new_sites():
                    self.add_site(x, RUPTURED)
        if self.vegfc is not None:
            self.vegfc.step(self._all_cells())
        if self.lymphatics is not None:  # VEGF-C-driven lymphangiogenesis
            self.lymphatics.grow(n)
        if self.soil is not None:  # sub-cycled: every soil_every steps, with the mean uptake
            self._uptake += uptake
            if n % self.soil_every == 0:
                self._soil_step()
        if self.recruits is not None:
            assert self.soil is not None  # recruits need oxygen (config.check_recruits)
            N = f.get("N")
            self.recruits.step(None if N is None else N.x.array, self.soil.b.x.array)
        self.wall["cells"] += t1 - t0
        self.wall["fields"] += time.perf_counter() - t1

    def active_M(self) -> np.ndarray:
        """The density of active mesenchymal cells, owned + ghost: the MMP source and the
        ECM's contact degradation. Continuum: c_M (its dormant cells are d_M); discrete: the
        cells that are not dormant; hybrid: those of the discrete cells plus all of u_M (the
        density holds no dormant cell), each counted once (collective).
        """
        c_M = self.fields["c_M"].x.array
        if self.regimes is not None:
            u_M = self.fields["u_M"].x.array
            return self.cells.active_M_density(self.lumped, c_M - u_M) + u_M
        if self.continuum is not None:
            return c_M
        return self.cells.active_M_density(self.lumped, c_M)

    def _hybrid_step(self, n: int) -> None:
        """Both representations over one step from the start-of-step fields: the discrete
        cells (their room reduced by the density's cells: ``DiscreteCells.occupied``) and
        switching, then the density (its room reduced by the discrete cells), then the
        conversion between them.
        """
        f = self.fields
        present = self._discrete_step(n, occupied=f["u_E"].x.array + f["u_M"].x.array)
        self.pristine_cells = self.pristine_cells and not present
        dE, dM = self.cells.densities(self.lumped)
        self._continuum_step(n, occupied=dE + dM)
        self._convert(n)

    def _discrete_step(self, n: int, occupied: np.ndarray | None = None) -> bool:
        """The discrete cells over one step and their EMT and MET in the start-of-step
        signals, skipped (with its collectives) while the organ holds none; ``occupied``:
        the density's cells, room the discrete cells cannot take (hybrid). Returns whether
        any cell was there (collective).
        """
        present = self.comm.allreduce(len(self.cells.pop) > 0, op=MPI.LOR)
        if present:
            f = self.fields
            ox, N = f.get("o"), f.get("N")
            self.cells.occupied = occupied
            self.cells.step(
                n,
                f["w"].x.array,
                None if ox is None else ox.x.array,
                (self.spec.oxygen.hypoxia, self.spec.oxygen.necrosis),
                None if N is None else N.x.array,
                self.spec.niche.wake,
                speed=None if self.recruits is None else self.recruits.speed(),
            )
            self.cells.occupied = None
            if self.switching is not None:
                self.switching.step_cells(self.cells.pop, n, *self._signals())
        return present

    def _continuum_step(self, n: int, occupied: np.ndarray | None = None) -> None:
        """The densities over one step, skipped while the organ holds no cell: transport,
        growth (none where o < o_hyp: hypoxic arrest), then death of every cell where
        o < o_nec (the discrete rule's probability 1 per step), then waking of dormant cells
        at r_wake (1 + wake N), exactly per step (the discrete rule's probability).
        """
        f = self.fields
        names = self._continuum_densities()
        here = max(float(f[k].x.array[: self.n_owned].max(initial=0.0)) for k in names)
        if self.comm.allreduce(here, op=MPI.MAX) == 0.0:
            return
        self.pristine_cells = False
        ox = f.get("o")
        dormant = f["d_E"].x.array + f["d_M"].x.array if "d_E" in f else None
        assert self.continuum is not None
        self.continuum.step(
            f["w"],
            grow=None if ox is None else ox.x.array >= self.spec.oxygen.hypoxia,
            occupied=dormant if occupied is None else occupied,
            speed=None if self.recruits is None else self.recruits.speed(),
        )
        n_own, vol = self.n_owned, self.cells_cfg.h_ref**self.dim
        if ox is not None:
            dead = ox.x.array < self.spec.oxygen.necrosis
            if self.comm.allreduce(bool(dead.any()), op=MPI.LOR):
                for k in names:
                    c = f[k].x.array
                    self.density_stats["died"] += (
                        float(self.lumped[:n_own] @ (c[:n_own] * dead[:n_own])) / vol
                    )
                    c[dead] = 0.0
        if dormant is not None:
            gain = self.spec.niche.wake * f["N"].x.array if "N" in f else 0.0
            assert self.r_wake is not None  # dormant densities exist only with r_wake
            p = -np.expm1(-self.r_wake * self.dt * (1.0 + gain))
            for d, a in (("d_E", "c_E"), ("d_M", "c_M")):
                moved = p * f[d].x.array
                self.density_stats["woke"] += float(self.lumped[:n_own] @ moved[:n_own]) / vol
                f[a].x.array[:] += moved
                f[d].x.array[:] -= moved
        if self.switching is not None:  # the discrete rule's probabilities, applied exactly
            uE, uM = (f[k].x.array for k in self.density_names)
            self.switching.step_densities(uE, uM, *self._signals(), self.lumped[:n_own] / vol)

    def _signals(self) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
        """The dof values of oxygen, TGF-beta and the conditioning N that switching reads
        (None for a field the run does not have).
        """
        o, T, N = (self.fields[k].x.array if k in self.fields else None for k in ("o", "tgfb", "N"))
        return o, T, N

    # -- checkpoints (solver/io/checkpoint.py) -----------------------------------------
    def state(self) -> dict:
        """``dofs``: the owned values of every P1 field (and of the new vessels' trail);
        ``rest``: the rest of the organ on its first rank (None elsewhere): cells and tips
        with the input index of their element, counters, flags and vessel sites
        (collective on the organ). Plain data only (solver/io/plain.py);
        solver/io/checkpoint.check_organ checks it on load.
        """
        n = self.n_owned
        dofs = {name: f.x.array[:n].copy() for name, f in self.fields.items()}
        cells = self.cells.state()
        rest = {
            "cells": None if cells is None else cells["cells"],
            "cell_stats": None if cells is None else cells["cell_stats"],
            "flags": {
                "pristine": self.pristine,
                "_had_cells": self._had_cells,
                "pristine_cells": self.pristine_cells,
                "initial_cells": self.initial_cells,
            },
            "sites": (self.site_x, self.site_kind),
            "uptake": self._uptake,
        }
        if self.continuum is not None:
            rest["lineage"] = self.lineage.state()
            rest["continuum"] = {
                k: self.comm.allreduce(v, op=MPI.SUM)
                for k, v in {**self.continuum.stats, **self.density_stats}.items()
            }
        if self.regimes is not None:  # conversions: the same on every rank
            rest["regimes"] = dict(self.regimes.stats)
        if self.soil is not None:
            rest["soil"] = self.soil.state()
        if self.switching is not None:
            rest["switching"] = self.switching.totals(self.comm)
        if self.recruits is not None:
            rest["recruits"] = self.recruits.state()
        if self.angio is not None:
            angio = self.angio.state()
            dofs.update(angio["dofs"])
            rest["angio"] = angio["rest"]
        if self.lymphatics is not None:
            rest["lymph"] = self.lymphatics.state()
        return {"dofs": dofs, "rest": rest if self.comm.rank == 0 else None}

    def load_state(self, state: dict) -> None:
        """The inverse of ``state`` on any partition of the same mesh (collective); ``rest``
        on every rank.
        """
        dofs, rest = state["dofs"], state["rest"]
        n = self.n_owned
        for name, f in self.fields.items():
            f.x.array[:n] = dofs[name]
            f.x.scatter_forward()
        flags = rest["flags"]
        self.pristine, self._had_cells = flags["pristine"], flags["_had_cells"]
        self.pristine_cells, self.initial_cells = flags["pristine_cells"], flags["initial_cells"]
        self._uptake = rest["uptake"]
        site_x, site_kind = rest["sites"]
        for x, kind in zip(site_x[len(self.site_x) :], site_kind[len(self.site_kind) :]):
            self.add_site(x, int(kind))  # new perfused vessels: their elements take the kind
        self.cells.load_state({"cells": rest["cells"], "cell_stats": rest["cell_stats"]})
        if self.continuum is not None:
            st = {
                k: (float(v) if self.comm.rank == 0 else 0.0) for k, v in rest["continuum"].items()
            }
            self.continuum.stats = {k: st[k] for k in self.continuum.stats}
            self.lineage.load_state(rest["lineage"])
            self.density_stats = {k: st[k] for k in self.density_stats}
        if self.regimes is not None:
            self.regimes.stats = {k: int(rest["regimes"][k]) for k in self.regimes.stats}
        if self.soil is not None:
            self.soil.load_state(rest["soil"])
        if self.switching is not None:
            self.switching.load_state(rest["switching"], self.comm)
        if self.recruits is not None:
            self.recruits.load_state(rest["recruits"])
        if self.angio is not None:
            self.angio.load_state({"dofs": {"_trail": dofs["_trail"]}, "rest": rest["angio"]})
            assert self.soil is not None
            self.soil.tip_uptake = self.angio.vegf_uptake()
        if self.lymphatics is not None:
            self.lymphatics.load_state(rest["lymph"])

    # -- what is reported ---------------------------------------------------------------
    def metrics(self) -> dict:
        """The organ's scalar metrics, the same on every rank (collective): cell counts, ECM
        loss and degradation, MMP extremes, invasion radii, and the soil's.
        """
        f = self.fields
        n = self.n_owned
        w = f["w"].x.array
        extra: dict[str, float] = {}
        cells: dict[str, float]
        if self.continuum is None:
            cells = dict(self.cells.metrics())
        elif self.regimes is not None:
            cells = self._hybrid_metrics()
            extra["clip_removed"] = self.tissue_stats()["clip_removed"]
        else:
            scale = 1.0 / self.cells_cfg.h_ref**self.dim  # c is in cells per h_ref^d
            nE = sum(self._integral(f[k].x.array) for k in ("c_E", "d_E") if k in f) * scale
            nM = sum(self._integral(f[k].x.array) for k in ("c_M", "d_M") if k in f) * scale
            cells = {"cells_E": nE, "cells_M": nM, "cells": nE + nM}
            if "d_E" in f:
                extra["cells_dormant"] = (
                    self._integral(f["d_E"].x.array) + self._integral(f["d_M"].x.array)
                ) * scale
            # Mass the clip at zero added back (cumulative, cells): round-off if the scheme is
            # right.
            extra["clip_removed"] = self.tissue_stats()["clip_removed"]
        degraded = (
            self.comm.allreduce(float(self.lumped[:n] @ (w[:n] < 0.5)), op=MPI.SUM) / self.volume
        )
        r = self.invasion_radius()
        return {
            **cells,
            "ecm_lost_fraction": 1.0 - self._integral(w) / self.w_initial
            if self.w_initial > 0
            else 0.0,
            "ecm_degraded_area_fraction": degraded,
            "mmp_max": self.comm.allreduce(float(f["m"].x.array[:n].max(initial=0.0)), op=MPI.MAX),
            "mmp_min": self.comm.allreduce(float(f["m"].x.array[:n].min(initial=0.0)), op=MPI.MIN),
            "mmp_negative": self.negative_part("m"),
            "radius_max": r[0],
            "radius_95": r[1],
            "mmp_iterations": self.mmp.iterations,
            **extra,
            **(self._soil_metrics() if self.soil is not None else {}),
            **(self._switching_metrics() if self.switching is not None else {}),
            **(self.recruits.metrics() if self.recruits is not None else {}),
            **(self.lymphatics.metrics() if self.lymphatics is not None else {}),
        }

    def _hybrid_metrics(self) -> dict[str, float]:
        """Hybrid: cells by phenotype over both representations, and by representation:
        discrete, density, and the conversions so far (collective).
        """
        assert self.regimes is not None
        scale = 1.0 / self.cells_cfg.h_ref**self.dim
        dE, dM = self.cells.total()
        uE, uM = (self._integral(self.fields[k].x.array) * scale for k in self.density_names)
        return {
            "cells_E": dE + uE,
            "cells_M": dM + uM,
            "cells": dE + dM + uE + uM,
            "cells_discrete": float(dE + dM),
            "cells_density": uE + uM,
            "absorbed": float(self.regimes.stats["absorbed"]),
            "released": float(self.regimes.stats["released"]),
        }

    def _switching_metrics(self) -> dict[str, float]:
        """Cells turned mesenchymal (emt) and epithelial (met) in this organ so far, and the
        most TGF-beta (collective).
        """
        assert self.switching is not None
        T = self.fields["tgfb"].x.array[: self.n_owned]
        top = self.comm.allreduce(float(T.max(initial=0.0)), op=MPI.MAX)
        return {**self.switching.totals(self.comm), "tgfb_max": top}

    def _soil_metrics(self) -> dict:
        assert self.soil is not None
        # Taken from the plasma in the open sub-cycle, delivered to x at its end: an output
        # between soil steps holds it as pending, so the balance closes at any step.
        out = self.soil.metrics(pending=self._uptake * self.dt)
        if self.angio is not None:
            out.update(self.angio.metrics(self.origin_sites, self.volume))
        return out

    def negative_part(self, name: str) -> float:
        """Int max(-u, 0) / int |u| of field ``name`` (lumped): the share of its mass that
        a clip at zero removes (0 for a field kept non-negative).
        """
        return negative_part(self.lumped[: self.n_owned], self.fields[name].x.array, self.comm)

    def lesions(self, les, mm_per_unit: float) -> dict:
        """Lesions in this organ (connected occupied places) and their sizes in mm; in
        continuum mode a place is occupied when the density puts more than half a cell in it
        (each dof's cells counted in the place that holds the dof).
        """
        lattice = self.cells.lattice.boxes
        if self.continuum is None:
            cells, boxes = lesions.find(lattice, self.cells.pop.place, self.comm)
        else:
            n = self.n_owned
            xy = self.V.tabulate_dof_coordinates()[:n, : self.dim]
            dens = cast(
                np.ndarray, sum(self.fields[k].x.array for k in self._continuum_densities())
            )
            mass = self.lumped[:n] * dens[:n] / self.cells_cfg.h_ref**self.dim
            # On a mesh coarser than the places, boxes of twice the longest element so that
            # every box inside a tumour holds a dof and its boxes touch; occupied when they
            # hold more than half a cell per place, as a place is.
            k = self._lesion_coarsening()
            lattice = lattice.coarsened(k)
            where = lattice.box(xy)
            if self.regimes is not None:  # hybrid: each discrete cell in the box that holds it
                pop = self.cells.pop
                where = np.r_[where, lattice.box(pop.x)]
                mass = np.r_[mass, np.ones(len(pop))]
            cells, boxes = lesions.find(
                lattice, where, self.comm, weights=mass, min_cells=0.5 * k**self.dim
            )
        d = lesions.diameters(boxes, lattice.h * mm_per_unit, self.dim)
        return {
            "lesions": len(cells),
            "micro": int(((d > les.micro_mm) & (d <= les.macro_mm)).sum()),
            "macro": int((d > les.macro_mm).sum()),
            "largest_lesion_mm": float(d.max(initial=0.0)),
            "largest_lesion_cells": float(cells.max(initial=0.0)),
        }

    def section(self, mm: float) -> Section | None:
        """The organ's cells and soil as a scanner needs them (solver/clinic/section.py), on
        its first rank, None on the others (collective on the organ): the owned dofs of every
        rank with their lumped mass, cell densities, and oxygen and new vessels where the run
        has them. ``mm``: millimetres per model length unit.
        """
        n = self.n_owned
        names = [*self._densities(), *(k for k in ("o", "b") if k in self.fields)]
        local = np.column_stack(
            [
                self.V.tabulate_dof_coordinates()[:n],
                self.lumped[:n],
                *(self.fields[k].x.array[:n] for k in names),
            ]
        )
        parts = self.comm.gather(local, root=0)
        if self.comm.rank != 0:
            return None
        a = np.concatenate(parts)
        return from_fields(
            a[:, :3],
            a[:, 3],
            dict(zip(names, a[:, 4:].T)),
            dim=self.dim,
            mm=mm,
            cells=self.cells_cfg,
            oxygen=self.spec.oxygen if "o" in self.fields else None,
        )

    def _lesion_coarsening(self) -> int:
        """Places per lesion box edge in continuum mode: 1 on a mesh no coarser than the
        places, else twice the longest element over h_ref (collective once, then kept).
        """
        if self._coarsening is None:
            X = self.cells.walker.X[: self.cells.walker.n_owned]
            edge = float(np.ptp(X, axis=1).max()) if len(X) else 0.0
            edge = self.comm.allreduce(edge, op=MPI.MAX)
            h = self.cells_cfg.h_ref
            self._coarsening = 1 if edge <= h else int(math.ceil(2.0 * edge / h - 1e-9))
        return self._coarsening

    def invasion_radius(self) -> tuple[float, float]:
        """Largest and 95th-percentile distance of cells from the tumour centre."""
        if self.continuum is None:
            d = np.linalg.norm(self.cells.pop.x - self.om.tumour_centre, axis=1)
            weights = np.ones_like(d)
        else:
            coords = self.V.tabulate_dof_coordinates()[: self.n_owned, : self.dim]
            d = np.linalg.norm(coords - self.om.tumour_centre, axis=1)
            dens = sum(self.fields[k].x.array for k in self._continuum_densities())
            c = cast(np.ndarray, dens)[: self.n_owned]
            weights = c * self.lumped[: self.n_owned]
            keep = c > 1e-3  # a density below ~1/1000 cell per place is not tumour
            d, weights = d[keep], weights[keep]
            if self.regimes is not None:  # hybrid: and each discrete cell, of weight one
                weights = weights / self.cells_cfg.h_ref**self.dim
                x = self.cells.pop.x
                d = np.r_[d, np.linalg.norm(x - self.om.tumour_centre, axis=1)]
                weights = np.r_[weights, np.ones(len(x))]
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
    """Time ``t`` (in units of scales.time_s) in hours."""
    return t * case.scales.time_s / 3600.0


def length_mm(x: float, case: config.Case) -> float:
    """Length ``x`` (in units of scales.length_cm) in millimetres."""
    return x * case.scales.length_cm * 10.0
