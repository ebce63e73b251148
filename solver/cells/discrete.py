"""Discrete cancer cells in an organ: haptotactic Euler-Maruyama moves with room on
places, division, and the densities they hand to the fields (docs/model.md section 3).

One step, from the start-of-step state:
  1. every cell proposes X + Phi grad(w) dt + sqrt(2 D dt) xi (reflected at the boundary);
  2. proposals into another place (lattice box of side h_ref) compete for its
     start-of-step room (hash rule); refused cells stay where they were;
  3. division (cells.division): "asynchronous", cells whose cycle clock has reached
     their doubling time divide if their place still has room (the same rule), refused
     ones try again next step; "synchronous" (the reference code's rule), all cells of a
     phenotype divide in the steps T + 1, 2T + 1, ... where their place has room.
Dormant cells and, with oxygen, hypoxic ones (o < o_hyp) are quiescent: arrested in
G0/G1 (Sosa et al. 2014; Gardner et al. 2001), their cycle clock stands still, so on
waking or re-oxygenation they resume the cycle where it stopped; dormant cells neither
move nor make MMP nor degrade the ECM (``active_M_density``; docs/model-decisions.md).
"""

from __future__ import annotations

import dolfinx.fem as fem
import dolfinx.la
import numpy as np
from mpi4py import MPI

from solver import config
from solver.cells import rng
from solver.cells.exchange import exchange
from solver.cells.locate import MeshWalker, claim
from solver.cells.population import DORMANT, EPITHELIAL, INVADING, MESENCHYMAL, Population
from solver.cells.room import Lattice
from solver.config import CaseError
from solver.io.checkpoint import gather_rows, input_cell_owner


def count_at_vertices(vec: dolfinx.la.Vector, vertices: np.ndarray) -> np.ndarray:
    """How many of the given (local) vertices fall on each P1 dof, summed over ranks, owned
    + ghost (collective; ``vec`` is the work vector).
    """
    vec.array[:] = np.bincount(vertices, minlength=len(vec.array))[: len(vec.array)]
    vec.scatter_reverse(dolfinx.la.InsertMode.add)
    vec.scatter_forward()
    return vec.array.copy()


class DiscreteCells:
    """The discrete cancer cells of one organ: their population, moves, room and divisions,
    and the densities c_E, c_M they hand to the fields.
    """

    def __init__(
        self,
        *,
        V: fem.FunctionSpace,
        lumped: np.ndarray,
        params: config.CellsSpec,
        seed: int,
        dt: float,
        r_wake: float | None = None,
    ):
        """Args:
        V, lumped: the organ's P1 space and lumped mass.
        params: the ``[cells]`` parameters; seed, dt: the run's.
        r_wake: the wake-up rate of dormant cells (None: they stay dormant).
        """
        self.V = V
        self.comm = V.mesh.comm
        self.dim = V.mesh.topology.dim
        self.p = params
        self.seed = seed
        self.dt = dt
        self.lumped = lumped
        self.walker = MeshWalker(V)
        self.lattice = Lattice(self.walker, params.h_ref, params.capacity(self.dim))
        self._vertex_count = dolfinx.la.vector(V.dofmap.index_map)
        # Doubling times in whole steps so the clock is exact.
        self.doubling = np.array([round(params.T_E / dt), round(params.T_M / dt)], dtype=np.float64)
        self.D = np.array([params.D_E, params.D_M])
        self.Phi = np.array([params.Phi_E, params.Phi_M])
        self.pop = Population(self.dim)
        # Hybrid cells (solver/cells/regime.py): the density's cells per h_ref^d at each dof
        # (owned + ghost), room that discrete cells cannot take; None without a density.
        self.occupied: np.ndarray | None = None
        # Dormant cells neither move nor divide; they wake at rate r_wake (docs/model.md section 6).
        self.p_wake = 0.0 if r_wake is None else -np.expm1(-r_wake * dt)
        self.stats = {
            "refused_moves": 0,
            "divisions": 0,
            "refused_divisions": 0,
            "migrated": 0,
            "woke": 0,
            "died": 0,
        }

    # -- checkpoints (solver/io/checkpoint.py) ---------------------------------------
    def state(self) -> dict | None:
        """The cells (keyed by the input index of their element: any partition can take
        them) and the counters, as plain data on the first rank (None elsewhere;
        collective). Checked on load by checkpoint.check_organ.
        """
        orig = self.V.mesh.topology.original_cell_index
        pop = self.pop
        cells = gather_rows(self.comm, dict(pop.portable(), cell=orig[pop.host]))
        stats = {k: self.comm.allreduce(v, op=MPI.SUM) for k, v in self.stats.items()}
        return {"cells": cells, "cell_stats": stats} if self.comm.rank == 0 else None

    def load_state(self, state: dict) -> None:
        """The inverse of ``state`` on any partition of the same mesh (collective)."""
        cols = dict(state["cells"])
        mine, host = input_cell_owner(self.V.mesh, self.walker.n_owned)(cols.pop("cell"))
        cols = {k: v[mine] for k, v in cols.items()}
        vertex = self.walker.place(host, cols["x"])
        self.pop = Population.from_columns(self.dim, dict(cols, host=host, vertex=vertex))
        self.stats = {k: (v if self.comm.rank == 0 else 0) for k, v in state["cell_stats"].items()}

    # -- initial state -------------------------------------------------------------
    def seed_initial(
        self, centre: np.ndarray, count: int, fraction_M: float, per_place: float, first_id: int = 0
    ):
        """``count`` cells in the places nearest ``centre``, ``per_place`` in each
        (Franssen: 388 cells, 4 on each of the 97 grid nodes nearest the centre), with ids
        from ``first_id`` (distinct per organ, so that no two cells share random streams).
        """
        lat, d = self.lattice, self.dim
        n_boxes = int(np.ceil(count / per_place))
        # Candidate boxes around the centre; their room is asked of their keepers.
        reach = int(np.ceil((n_boxes ** (1.0 / d)) * 1.2)) + 2
        while True:
            c_idx = np.floor((centre - lat.origin) / lat.h).astype(np.int64)
            axes = [
                np.arange(max(c_idx[j] - reach, 0), min(c_idx[j] + reach + 1, lat.shape[j]))
                for j in range(d)
            ]
            idx = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, d)
            mid = lat.origin + (idx + 0.5) * lat.h
            boxes = lat.box(mid)
            cap = lat.capacity_of(boxes if self.comm.rank == 0 else boxes[:0])
            cap = self.comm.bcast(cap, root=0)
            dist = np.linalg.norm(mid - centre, axis=1)
            usable = np.flatnonzero(cap > 0)
            if len(usable) >= n_boxes or reach > max(lat.shape):
                break
            reach *= 2
        if len(usable) < n_boxes:
            raise CaseError(
                f"cells.initial.count = {count} does not fit in the organ at {per_place} per place"
            )
        chosen = usable[np.lexsort((boxes[usable], dist[usable]))][:n_boxes]
        ids = np.arange(count, dtype=np.uint64) + np.uint64(first_id)
        box_of = (np.arange(count, dtype=np.float64) // per_place).astype(np.int64)
        box_of = np.minimum(box_of, n_boxes - 1)
        # A small jitter so that no cell sits on a box or element boundary.
        x = mid[chosen[box_of]] + 0.05 * lat.h * rng.normal(self.seed, ids, 0, rng.INIT, d)

        mine, start = claim(self.walker, self.V.mesh, x)
        if (mine < 0).any():
            raise CaseError(
                "the initial tumour cells do not all lie inside the organ: check "
                "primary.geometry.tumour_centre and cells.initial.count"
            )
        mine = mine == 1
        ids, x, start = ids[mine], x[mine], start[mine]

        n_M = int(round(fraction_M * count))
        all_ids = np.arange(count, dtype=np.uint64) + np.uint64(first_id)
        M_ids = all_ids[
            np.argsort(rng.hash64(self.seed, all_ids, 0, rng.INIT_PHENOTYPE), kind="stable")[:n_M]
        ]
        phen = np.where(np.isin(ids, M_ids), MESENCHYMAL, EPITHELIAL).astype(np.int8)
        clock = np.floor(rng.uniform(self.seed, ids, 0, rng.INIT_CLOCK) * self.doubling[phen])
        cols = {
            "id": ids,
            "parent": ids,
            "phenotype": phen,
            "state": np.zeros(len(ids), np.int8),
            "clock": clock,
            "place": lat.box(x),
            "founder": ids,  # an initial cell founds its own clone
        }
        x, host, vertex, cols = self.walker.locate(x, start, cols)
        self.pop = Population.from_columns(d, dict(cols, x=x, host=host, vertex=vertex))

    def insert(
        self, x: np.ndarray, cols: dict[str, np.ndarray], n: int, purpose: int
    ) -> np.ndarray:
        """Cells arriving from elsewhere (rows known on every rank): each takes room in
        its place if there is any (hash rule, ``purpose`` stream). Returns, on every
        rank, which rows were placed (collective).
        """
        lat = self.lattice
        where, start = claim(self.walker, self.V.mesh, x)
        mine = where == 1
        lat.census(self.pop.place)
        ids = cols["id"][mine]
        boxes = lat.box(x[mine])
        ok = lat.grant(
            boxes,
            rng.hash64(self.seed, ids, n, purpose),
            ids,
            rng.uniform(self.seed, ids, n, purpose + 1),
            None
            if self.occupied is None
            else self.occupied[self.walker.place(start[mine], x[mine])],
        )
        take = np.flatnonzero(mine)[ok]
        self._extend(x, start, take, cols, boxes[ok])
        placed = np.zeros(len(x), dtype=np.int32)
        placed[take] = 1
        self.comm.Allreduce(MPI.IN_PLACE, placed, op=MPI.SUM)
        return placed > 0

    def put(self, x: np.ndarray, cols: dict[str, np.ndarray]) -> None:
        """Cells that take no room decision, as a density released as cells already held its
        room (solver/cells/regime.py): rows known on every rank, each joining the rank whose
        element holds it (collective).

        Raises:
            RuntimeError: a point outside the organ.
        """
        where, start = claim(self.walker, self.V.mesh, x)
        if (where < 0).any():
            raise RuntimeError(f"put: {int((where < 0).sum())} point(s) outside the organ")
        take = np.flatnonzero(where == 1)
        self._extend(x, start, take, cols, self.lattice.box(x[take]))

    def _extend(
        self,
        x: np.ndarray,
        start: np.ndarray,
        take: np.ndarray,
        cols: dict[str, np.ndarray],
        boxes: np.ndarray,
    ) -> None:
        """Add rows ``take`` of (x, cols), found in elements ``start``, in lattice ``boxes``."""
        new = {k: np.asarray(v)[take] for k, v in cols.items()}
        xs, host, vertex, new = self.walker.locate(x[take], start[take], dict(new, place=boxes))
        self.pop.extend(
            Population.from_columns(self.dim, dict(new, x=xs, host=host, vertex=vertex))
        )

    def remove(
        self, mask: np.ndarray, extra: dict[str, np.ndarray] | None = None
    ) -> dict[str, np.ndarray]:
        """Take the masked cells out of the organ; returns their portable columns (and
        ``extra`` ones), gathered from all ranks and sorted by id (collective).
        """
        sel = np.flatnonzero(mask)
        gone = dict(self.pop.take(sel).portable(), **{k: v[sel] for k, v in (extra or {}).items()})
        self.pop = self.pop.take(np.flatnonzero(~mask))
        parts = self.comm.allgather(gone)
        out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        order = np.argsort(out["id"], kind="stable")
        return {k: v[order] for k, v in out.items()}

    # -- one step ------------------------------------------------------------------
    def step(
        self,
        n: int,
        w_values: np.ndarray,
        o_values: np.ndarray | None = None,
        limits: tuple[float, float] = (0.0, 0.0),
        N_values: np.ndarray | None = None,
        wake_gain: float = 0.0,
        speed: np.ndarray | None = None,
    ):
        """Advance the cells by one step ``n`` in the ECM field ``w`` (P1 dof values,
        owned + ghost, from the start of the step). With oxygen ``o_values``: below
        ``limits[0]`` (o_hyp) no division and the cycle clock stands still, death below
        ``limits[1]`` (o_nec). With the niche conditioning ``N_values``: dormant cells wake
        at r_wake (1 + wake_gain N). ``speed`` (per dof, None: 1): the cycle clock advances
        by it per step (recruited niche cells, solver/fields/recruits.py).
        """
        self._move(n, w_values)
        if o_values is not None:
            dead = o_values[self.pop.vertex] < limits[1]
            if dead.any():  # local: the dead need not go anywhere
                self.pop = self.pop.take(np.flatnonzero(~dead))
                self.stats["died"] += int(dead.sum())
        if self.p.proliferation:
            self._divide(
                n,
                None if o_values is None else o_values[self.pop.vertex] >= limits[0],
                None if speed is None else speed[self.pop.vertex],
            )
        dormant = np.flatnonzero(self.pop.state == DORMANT)
        if len(dormant):
            p = self.p_wake
            if N_values is not None and wake_gain > 0 and self.p_wake > 0:
                p = -np.expm1(
                    np.log1p(-self.p_wake) * (1.0 + wake_gain * N_values[self.pop.vertex[dormant]])
                )
            wake = dormant[rng.uniform(self.seed, self.pop.id[dormant], n, rng.WAKE) < p]
            self.pop.state[wake] = INVADING
            self.stats["woke"] += len(wake)

    def _move(self, n: int, w_values: np.ndarray):
        pop, w, lat, dt = self.pop, self.walker, self.lattice, self.dt
        lat.census(pop.place)
        # In place where it can be: a step's memory peak is set by the temporaries per cell.
        still = pop.state == DORMANT
        x_new = w.gradient(w_values, pop.host)
        x_new *= (np.where(still, 0.0, self.Phi[pop.phenotype]) * dt)[:, None]
        x_new += pop.x
        noise = rng.normal(self.seed, pop.id, n, rng.MOVE, self.dim)
        noise *= np.sqrt(2.0 * np.where(still, 0.0, self.D[pop.phenotype]) * dt)[:, None]
        x_new += noise
        del noise, still
        # "x" travels as the start-of-step position: where refused or unsettled cells go back.
        carry = dict(
            pop.portable(),
            _h0=w.cell_global[pop.host],
            _r0=np.full(len(pop), self.comm.rank, dtype=np.int32),
        )
        x_new, host, vertex, carry = w.locate(x_new, pop.host, carry, fallback="x")
        place = lat.box(x_new)
        moving = place != carry["place"]
        ok = np.ones(len(host), dtype=bool)
        ids = carry["id"][moving]
        ok[moving] = lat.grant(
            place[moving],
            rng.hash64(self.seed, ids, n, rng.ROOM),
            ids,
            rng.uniform(self.seed, ids, n, rng.ROOM_FRACTION),
            None if self.occupied is None else self.occupied[vertex[moving]],
        )
        self.stats["refused_moves"] += int((~ok).sum())
        self.stats["migrated"] += int((carry["_r0"] != self.comm.rank).sum())
        carry["place"] = np.where(ok, place, carry["place"])
        # Refused cells go back to where they were, on the rank that owns that element.
        home = carry["_r0"] == self.comm.rank
        back = ~ok & home
        x_new[back] = carry["x"][back]
        host[back] = w.to_local(carry["_h0"][back])
        vertex[back] = w.place(host[back], x_new[back])
        cols = {k: v for k, v in carry.items() if not k.startswith("_")}
        parts = [dict(cols, x=x_new, host=host, vertex=vertex)]
        here = ok | home
        if not here.all():
            parts = [{k: v[here] for k, v in parts[0].items()}]
        if self.comm.size > 1:
            away = ~here
            got = exchange(
                self.comm,
                carry["_r0"][away],
                dict({k: v[away] for k, v in cols.items()}, _h=carry["_h0"][away]),
            )
            h = w.to_local(got.pop("_h"))
            parts.append(dict(got, host=h, vertex=w.place(h, got["x"])))
        merged = (
            parts[0]
            if len(parts) == 1
            else {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        )
        # Kept in host order: neighbouring cells then touch neighbouring memory. Column by
        # column, each old column freed as its sorted copy is made (the old population's
        # columns are among them), so the old and the new population never coexist whole.
        order = np.argsort(merged["host"], kind="stable")
        del parts, cols, carry, pop, x_new, host, vertex
        del self.pop
        self.pop = Population.from_columns(
            self.dim, {k: merged.pop(k)[order] for k in list(merged)}
        )

    def _divide(self, n: int, allowed: np.ndarray | None = None, speed: np.ndarray | None = None):
        pop, lat = self.pop, self.lattice
        cycling = pop.state != DORMANT if allowed is None else (pop.state != DORMANT) & allowed
        # Quiescent cells (dormant, hypoxic) keep their clock: the cycle halts in G0/G1.
        pop.data["clock"] = pop.clock + (cycling if speed is None else cycling * speed)
        if self.p.division == "synchronous":
            # Franssen's reference code (MetaSpread 2024.0.6 cancermodel.py, step and
            # proliferate): when the count of completed steps n - 1 reaches a multiple of a
            # phenotype's doubling time, all its cells divide, mesenchymal before epithelial;
            # a cell without room (or quiescent) waits for the next period.
            due = [
                p for p in (MESENCHYMAL, EPITHELIAL) if n > 1 and (n - 1) % self.doubling[p] == 0
            ]
            if not due:  # the same on every rank: no collective this step
                return
            ready = cycling & np.isin(pop.phenotype, due)
            groups = [pop.phenotype == p for p in due]
        else:
            ready = (pop.clock >= self.doubling[pop.phenotype]) & cycling
            groups = [True]
        granted: list[np.ndarray] = []
        for g in groups:  # a group's daughters take room before the next group asks
            sel = np.flatnonzero(ready & g)
            lat.census(np.concatenate([pop.place] + [pop.place[b] for b in granted]))
            ids = pop.id[sel]
            ok = lat.grant(
                pop.place[sel],
                rng.hash64(self.seed, ids, n, rng.DIVIDE),
                ids,
                rng.uniform(self.seed, ids, n, rng.DIVIDE_FRACTION),
                None if self.occupied is None else self.occupied[pop.vertex[sel]],
            )
            granted.append(sel[ok])
            self.stats["refused_divisions"] += int((~ok).sum())
        born = np.concatenate(granted)
        self.stats["divisions"] += len(born)
        if len(born) == 0:
            return
        pop.clock[born] = 0.0
        kids = pop.take(born)
        # Daughters keep every other column: founder and seeded_by are inherited.
        kids.set(id=rng.daughter_id(pop.id[born], n), parent=pop.id[born])
        pop.extend(kids)

    # -- what the fields see ----------------------------------------------------------
    def vertex_counts(self, select: np.ndarray | None = None) -> np.ndarray:
        """Cells per vertex patch, summed over ranks, owned + ghost dofs (collective)."""
        return count_at_vertices(
            self._vertex_count, self.pop.vertex if select is None else self.pop.vertex[select]
        )

    def densities(self, lumped: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """c_E, c_M in cells per h_ref^d: count * h_ref^d / patch volume (docs/model.md
        section 0).
        """
        m = self.pop.phenotype == MESENCHYMAL
        nE, nM = self.vertex_counts(~m), self.vertex_counts(m)
        scale = self.p.h_ref**self.dim / lumped[: len(nE)]
        return nE * scale, nM * scale

    def active_M_density(self, lumped: np.ndarray, c_M: np.ndarray) -> np.ndarray:
        """The density of mesenchymal cells that are not dormant: the MMP source and contact
        degradation of the ECM (dormant cells are quiescent: docs/model-decisions.md).
        ``c_M``: the density of all of them, returned as is when none is dormant (collective).
        """
        still = (self.pop.phenotype == MESENCHYMAL) & (self.pop.state == DORMANT)
        if not self.comm.allreduce(bool(still.any()), op=MPI.LOR):
            return c_M
        n = self.vertex_counts((self.pop.phenotype == MESENCHYMAL) & ~still)
        return n * self.p.h_ref**self.dim / lumped[: len(n)]

    def total(self) -> tuple[int, int]:
        """(epithelial, mesenchymal) cells in the organ, summed over ranks (collective)."""
        m = int((self.pop.phenotype == MESENCHYMAL).sum())
        e, m = self.comm.allreduce(np.array([len(self.pop) - m, m]), op=MPI.SUM)
        return int(e), int(m)

    def metrics(self) -> dict[str, int]:
        """The cells' columns of metrics.csv (collective)."""
        e, m = self.total()
        return {"cells_E": e, "cells_M": m, "cells": e + m}
