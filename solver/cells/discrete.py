"""Discrete cancer cells in an organ: haptotactic Euler-Maruyama moves with room on
places, division, and the densities they hand to the fields (MODEL.md section 3).

One step, from the start-of-step state:
  1. every cell proposes X + Phi grad(w) dt + sqrt(2 D dt) xi (reflected at the boundary);
  2. proposals into another place compete for its start-of-step room (hash rule);
     refused cells stay where they were;
  3. cells whose cycle clock has reached their doubling time divide if their place
     still has room (the same rule); refused ones try again next step.
"""

from __future__ import annotations

import numpy as np
from mpi4py import MPI

from solver.cells import rng
from solver.cells.exchange import exchange
from solver.cells.locate import MeshWalker
from solver.cells.population import EPITHELIAL, MESENCHYMAL, Population
from solver.cells.room import Places


class DiscreteCells:
    def __init__(self, V, lumped: np.ndarray, params, seed: int, dt: float):
        self.V = V
        self.comm = V.mesh.comm
        self.dim = V.mesh.topology.dim
        self.p = params
        self.seed = seed
        self.dt = dt
        self.walker = MeshWalker(V)
        self.per_volume = params.capacity(self.dim) / params.h_ref**self.dim
        self.places = Places(V, lumped, self.per_volume)
        # Doubling times in whole steps so the clock is exact.
        self.doubling = np.array([round(params.T_E / dt), round(params.T_M / dt)], dtype=np.float64)
        self.D = np.array([params.D_E, params.D_M])
        self.Phi = np.array([params.Phi_E, params.Phi_M])
        self.pop = Population(self.dim)
        self.stats = {"refused_moves": 0, "divisions": 0, "refused_divisions": 0, "migrated": 0}

    # -- initial state -------------------------------------------------------------
    def seed_initial(self, centre: np.ndarray, count: int, fraction_M: float, per_place: float):
        """``count`` cells on the places nearest ``centre``, ``per_place`` on each."""
        w = self.walker
        n_places = int(np.ceil(count / per_place))
        nd = self.places.n_owned
        # Vertex coordinates and mesh-file indices per dof, exactly as in the mesh
        # (tabulated dof coordinates carry partition-dependent round-off).
        geom = self.V.mesh.geometry
        n_dofs = self.places.n_owned + self.places.imap.num_ghosts
        coords = np.empty((n_dofs, self.dim))
        coords[w.dofs.ravel()] = geom.x[w.nodes.ravel(), : self.dim]
        inp = np.empty(n_dofs, dtype=np.int64)
        inp[w.dofs.ravel()] = np.asarray(geom.input_global_indices)[w.nodes.ravel()]
        dist = np.linalg.norm(coords[:nd] - centre, axis=1)
        k = min(n_places, nd)
        near = np.lexsort((inp[:nd], dist))[:k]  # ties broken by mesh-file index, as globally
        cand = np.concatenate(self.comm.allgather(np.stack([dist[near], inp[near].astype(np.float64)], axis=1)))
        chosen = cand[np.lexsort((cand[:, 1], cand[:, 0]))][:n_places, 1].astype(np.int64)
        rank_of = {int(v): j for j, v in enumerate(chosen)}  # vertex -> order of filling
        mine = [d for d in near if int(inp[d]) in rank_of]
        ids, at = [], []
        for d in mine:
            j = rank_of[int(inp[d])]
            first = int(round(j * per_place))
            last = min(count, int(round((j + 1) * per_place)))
            ids.extend(range(first, last))
            at.extend([d] * (last - first))
        ids = np.array(ids, dtype=np.uint64)
        at = np.array(at, dtype=np.int64)

        all_ids = np.arange(count, dtype=np.uint64)
        n_M = int(round(fraction_M * count))
        M_ids = all_ids[np.argsort(rng.hash64(self.seed, all_ids, 0, rng.INIT_PHENOTYPE), kind="stable")[:n_M]]
        phen = np.where(np.isin(ids, M_ids), MESENCHYMAL, EPITHELIAL).astype(np.int8)
        clock = np.floor(rng.uniform(self.seed, ids, 0, rng.INIT_CLOCK) * self.doubling[phen])
        # A small jitter so that each cell lies inside one element, not on a vertex.
        jitter = 0.05 * self.p.h_ref * rng.normal(self.seed, ids, 0, rng.INIT, self.dim)
        x = coords[at] + jitter
        dof_cell = np.empty(len(coords), dtype=np.int64)
        dof_cell[w.dofs.ravel()] = np.repeat(np.arange(len(w.dofs)), self.dim + 1)
        cols = {"id": ids, "parent": ids, "phenotype": phen, "state": np.zeros(len(ids), np.int8), "clock": clock}
        x, host, place, cols = w.locate(x, dof_cell[at], x.copy(), cols)
        self.pop = Population.from_columns(self.dim, dict(cols, x=x, host=host, place=place))

    # -- one step ------------------------------------------------------------------
    def step(self, n: int, w_values: np.ndarray):
        """Advance the cells by one step ``n`` in the ECM field ``w`` (P1 dof values,
        owned + ghost, from the start of the step)."""
        self._move(n, w_values)
        if self.p.proliferation:
            self._divide(n)

    def _move(self, n: int, w_values: np.ndarray):
        pop, w, dt = self.pop, self.walker, self.dt
        room = self.places.capacity - self.places.occupancy(pop.place)
        ph = pop.phenotype
        drift = (self.Phi[ph] * dt)[:, None] * w.gradient(w_values, pop.host)
        noise = np.sqrt(2.0 * self.D[ph] * dt)[:, None] * rng.normal(self.seed, pop.id, n, rng.MOVE, self.dim)
        x_new = pop.x + drift + noise
        carry = dict(
            pop.portable(),
            _x0=pop.x,
            _h0=w.cell_global[pop.host],
            _p0=self.places.glob[pop.place],
            _r0=np.full(len(pop), self.comm.rank, dtype=np.int32),
        )
        x_new, host, place, carry = w.locate(x_new, pop.host.copy(), pop.x.copy(), carry)
        moving = self.places.glob[place] != carry["_p0"]
        ok = np.ones(len(host), dtype=bool)
        ids = carry["id"][moving]
        ok[moving] = self.places.grant(
            place[moving],
            rng.hash64(self.seed, ids, n, rng.ROOM),
            ids,
            rng.uniform(self.seed, ids, n, rng.ROOM_FRACTION),
            room,
        )
        self.stats["refused_moves"] += int((~ok).sum())
        self.stats["migrated"] += int((carry["_r0"] != self.comm.rank).sum())
        # Refused cells go back to where they were, on the rank that owns that element.
        home = carry["_r0"] == self.comm.rank
        here = ok | home
        cols = {k: v for k, v in carry.items() if not k.startswith("_")}
        back = ~ok & home
        x_new[back] = carry["_x0"][back]
        host[back] = w.to_local(carry["_h0"][back])
        place[back] = w.place(host[back], x_new[back])
        parts = [dict(cols, x=x_new, host=host, place=place)]
        if not here.all():
            parts = [{k: v[here] for k, v in parts[0].items()}]
        if self.comm.size > 1:
            away = ~here
            got = exchange(self.comm, carry["_r0"][away],
                           dict({k: v[away] for k, v in cols.items()}, x=carry["_x0"][away], _h=carry["_h0"][away]))
            h = w.to_local(got.pop("_h"))
            parts.append(dict(got, host=h, place=w.place(h, got["x"])))
        merged = parts[0] if len(parts) == 1 else {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        # Kept in host order: neighbouring cells then touch neighbouring memory.
        order = np.argsort(merged["host"], kind="stable")
        self.pop = Population.from_columns(self.dim, {k: v[order] for k, v in merged.items()})

    def _divide(self, n: int):
        pop = self.pop
        pop.data["clock"] = pop.clock + 1.0
        ready = np.flatnonzero(pop.clock >= self.doubling[pop.phenotype])
        room = self.places.capacity - self.places.occupancy(pop.place)
        ids = pop.id[ready]
        ok = self.places.grant(
            pop.place[ready],
            rng.hash64(self.seed, ids, n, rng.DIVIDE),
            ids,
            rng.uniform(self.seed, ids, n, rng.DIVIDE_FRACTION),
            room,
        )
        born = ready[ok]
        self.stats["divisions"] += len(born)
        self.stats["refused_divisions"] += int((~ok).sum())
        if len(born) == 0:
            return
        pop.clock[born] = 0.0
        kids = pop.take(born)
        kids.set(id=rng.daughter_id(pop.id[born], n), parent=pop.id[born])
        pop.extend(kids)

    # -- what the fields see ----------------------------------------------------------
    def counts(self) -> tuple[np.ndarray, np.ndarray]:
        """Cells per place by phenotype (E, M), summed over ranks, owned + ghost dofs."""
        pop = self.pop
        m = pop.phenotype == MESENCHYMAL
        return self.places.occupancy(pop.place[~m]), self.places.occupancy(pop.place[m])

    def densities(self, lumped: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """c_E, c_M in cells per h_ref^d: count * h_ref^d / patch volume (MODEL.md section 0)."""
        nE, nM = self.counts()
        scale = self.p.h_ref**self.dim / lumped[: len(nE)]
        return nE * scale, nM * scale

    def total(self) -> tuple[int, int]:
        m = int((self.pop.phenotype == MESENCHYMAL).sum())
        e, m = self.comm.allreduce(np.array([len(self.pop) - m, m]), op=MPI.SUM)
        return int(e), int(m)
