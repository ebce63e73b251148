"""Tip-cell angiogenesis in one organ, Anderson & Chaplain (1998)'s hybrid model
(docs/model.md section 6), on the machinery of the cancer cells: arrays, the mesh walk across
ranks, counter-based random numbers.

Per step, from the start-of-step fields:
- sprouting: a perfused vessel site where VEGF exceeds ``sprout_threshold`` sprouts a tip
  with probability 1 - exp(-sprout_rate (v - threshold) dt) (decided from site means, the
  same on every rank);
- moving: X + (chi0 / (1 + alpha v) grad v + rho grad f) dt + sqrt(2 D dt) xi, reflected at
  the boundary, handed to the rank that owns the new element;
- anastomosis: a tip that reaches another tip's trail (its own parent's and siblings'
  included, as A&C's tip-to-sprout fusion; with ``anastomosis = "active"`` only trails of
  tips still active) or another vessel site fuses and stops; both
  paths back to their vessels then carry blood. Not within ``escape`` (a length, at
  least two mesh cells) of where either of the two sprouts was born: a daughter starts
  on its parent's trail (A&C put it on a free neighbouring site), parent and daughter
  drift alike and part only by diffusion, so without it they would re-cross each
  other's trails at once, and the more often the finer the mesh;
- branching: a tip older than ``psi`` branches with probability min(1, branch v dt);
- fibronectin f (pointwise, exact; equations.FibronectinEquation): df/dt = beta n - gamma n f;
  tips take up VEGF at eta n
  (n: tip density per vertex patch, tips per h_ref^d, as the cells);
- perfusion: b = 1 on those paths (b only grows).
Every sprout, branch and anastomosis is logged with its place (``take_log``; the
simulation writes ORGAN/sprouts.csv), so where the network branches and fuses (A&C's brush
border) can be read off.
"""

from __future__ import annotations

import dolfinx
import dolfinx.fem as fem
import numpy as np
from mpi4py import MPI

from solver import config
from solver.cells import rng
from solver.cells.discrete import count_at_vertices
from solver.cells.locate import MeshWalker, claim
from solver.fields.ecm import relax
from solver.fields.equations import FibronectinEquation
from solver.fields.soil import initial_values
from solver.io.checkpoint import gather_rows, input_cell_owner

ACTIVE, FUSED = 0, 1
EVENTS = ("sprout", "branch", "anastomosis")  # the event codes of the log


def _label(ids: np.ndarray) -> np.ndarray:
    """A tip's trail label: its id cut to 50 bits, + 1 (exact in a float64 field)."""
    return (np.asarray(ids, dtype=np.uint64) & np.uint64((1 << 50) - 1)).astype(np.int64) + 1


class Angiogenesis:
    """Tip cells, their trails, fibronectin f and tip density n of one organ."""

    def __init__(
        self,
        *,
        V: fem.FunctionSpace,
        walker: MeshWalker,
        lumped: np.ndarray,
        cfg: config.AngiogenesisSpec,
        h_ref: float,
        seed: int,
        dt: float,
        site_x: np.ndarray,
        site_radius: float,
        organ_index: int,
        b: fem.Function,
    ):
        """Args:
        V, lumped: the organ's P1 space and lumped mass.
        walker: the organ's mesh walker (shared with its cancer cells).
        cfg: the organ's ``[angiogenesis]`` parameters.
        h_ref: the cell length (tip density per h_ref^d); seed, dt: the run's.
        site_x, site_radius: the vessel sites (perfused: they sprout) and their radius.
        organ_index: the organ's index (part of the sprouts' random keys).
        b: the perfused new-vessel density (the soil's), set where blood flows.
        """
        self.V, self.cfg, self.seed, self.dt = V, cfg, seed, dt
        self.comm = V.mesh.comm
        self.dim = V.mesh.topology.dim
        self.walker = walker
        self.lumped = lumped
        self.h_ref = h_ref
        self.site_x, self.site_radius = site_x, site_radius
        self.organ = organ_index
        self.b = b
        self.fibronectin = FibronectinEquation.of(cfg)
        self.f = fem.Function(V, name="f")  # fibronectin
        self.f.x.array[:] = initial_values(V, cfg.f_initial, "angiogenesis.f_initial")
        self.n = fem.Function(V, name="tips")  # tip density
        # The label of the first tip that visited each vertex (0: none; of two tips at once,
        # the smaller label); owners decide, ghosts copy. A label is the tip's id cut to 50
        # bits, + 1 (exact in a float); ``parent`` maps each label to its parent's (0: a
        # sprout).
        self.trail = dolfinx.la.vector(V.dofmap.index_map)
        self._marks, self._count = (dolfinx.la.vector(V.dofmap.index_map) for _ in range(2))
        self.parent: dict[int, int] = {}
        self.birth: dict[int, np.ndarray] = {}  # label -> where the sprout was born
        self.perfused_labels: set[int] = set()
        self.n_owned = V.dofmap.index_map.size_local
        self.sprouted = False
        cols = {
            "id": np.uint64,
            "label": np.int64,
            "root": np.int64,
            "host": np.int64,
            "vertex": np.int32,
            "age": np.float64,
            "state": np.int8,
        }
        self.tips = {k: np.zeros(0, dtype=t) for k, t in cols.items()} | {
            "x": np.zeros((0, self.dim)),
            "x0": np.zeros((0, self.dim)),
        }
        msh = V.mesh
        cells = np.arange(msh.topology.index_map(self.dim).size_local, dtype=np.int32)
        cell = self.comm.allreduce(float(msh.h(self.dim, cells).max(initial=0.0)), op=MPI.MAX)
        self.escape = max(cfg.escape, 2.0 * cell)  # no fusion nearer where either sprout was born
        self.stats = {"sprouts": 0, "branches": 0, "anastomoses": 0}
        self.new_sites: list[np.ndarray] = []  # where tips fused this step
        self._log: list[
            np.ndarray
        ] = []  # rows (step, event code, x...) on this rank since take_log

    def __len__(self) -> int:
        return len(self.tips["id"])

    def metrics(self, site_x: np.ndarray, volume: float) -> dict:
        """Tips (active, fused), events, the perfused fraction and the reach: the largest
        distance of a tip from the nearest of ``site_x`` (collective).
        """
        t = self.tips
        act = int((t["state"] == ACTIVE).sum())
        reach = (
            np.linalg.norm(t["x"][:, None, :] - site_x[None], axis=2).min(axis=1).max(initial=0.0)
            if len(site_x)
            else 0.0
        )
        m = self.n_owned
        sums = self.comm.allreduce(
            np.array([act, len(self), float(self.lumped[:m] @ self.b.x.array[:m])]), op=MPI.SUM
        )
        return {
            "tips_active": int(sums[0]),
            "tips_fused": int(sums[1] - sums[0]),
            **{k: self.comm.allreduce(v, op=MPI.SUM) for k, v in self.stats.items()},
            "perfused_fraction": float(sums[2]) / volume,
            "tip_reach": self.comm.allreduce(float(reach), op=MPI.MAX),
        }

    # -- checkpoints (solver/io/checkpoint.py) ---------------------------------------
    def state(self) -> dict:
        """``dofs``: the trail labels at the owned vertices (every rank); ``rest``: the
        tips (keyed by the input index of their element), counters, the label tree,
        where sprouts were born, perfused labels and pending new sites, as plain data on
        the first rank (None elsewhere). Collective; checked on load by
        checkpoint.check_organ.
        """
        orig = self.V.mesh.topology.original_cell_index
        tips = {k: v for k, v in self.tips.items() if k not in ("host", "vertex")}
        rest = {
            "tips": gather_rows(self.comm, dict(tips, cell=orig[self.tips["host"]])),
            "stats": {k: self.comm.allreduce(v, op=MPI.SUM) for k, v in self.stats.items()},
            "parent": self.parent,
            "birth": self.birth,
            "perfused": sorted(self.perfused_labels),
            "sprouted": self.sprouted,
            "new_sites": self.new_sites,
        }
        return {
            "dofs": {"_trail": self.trail.array[: self.n_owned].copy()},
            "rest": rest if self.comm.rank == 0 else None,
        }

    def load_state(self, state: dict) -> None:
        """The inverse of ``state`` on any partition of the same mesh (collective)."""
        self.trail.array[: self.n_owned] = state["dofs"]["_trail"]
        self.trail.scatter_forward()
        st = state["rest"]
        tips = dict(st["tips"])
        mine, host = input_cell_owner(self.V.mesh, self.walker.n_owned)(tips.pop("cell"))
        self.tips = dict(
            {k: v[mine] for k, v in tips.items()},
            host=host,
            vertex=self.walker.place(host, tips["x"][mine]),
        )
        self.stats = {k: (v if self.comm.rank == 0 else 0) for k, v in st["stats"].items()}
        self.parent, self.birth = st["parent"], st["birth"]
        self.perfused_labels = set(st["perfused"])
        self.sprouted, self.new_sites = st["sprouted"], list(st["new_sites"])

    # -- one step ------------------------------------------------------------------
    def step(self, n: int, v: np.ndarray, site_v: np.ndarray) -> None:
        """``v``: VEGF dof values (owned + ghost); ``site_v``: mean VEGF at each vessel
        site (the same on every rank).
        """
        self._sprout(n, site_v)
        if not self.comm.allreduce(bool((self.tips["state"] == ACTIVE).any()), op=MPI.LOR):
            return  # nothing grows: the density is already zero and f, the trails and b stay
        self._move(n, v)
        self._fuse_and_mark(n)
        self._branch(n, v)
        self._density()
        at = np.flatnonzero(self.n.x.array)  # f changes only under tips (owned + ghost)
        tips, f = self.n.x.array[at], self.f.x.array[at]
        relax(f, *self.fibronectin.terms(tips), self.dt)
        self.f.x.array[at] = f
        self.tips["age"] = self.tips["age"] + self.dt

    def take_log(self) -> np.ndarray:
        """The events since the last call as rows (step, event code, x...), sorted, on
        the organ's first rank (empty elsewhere; collective).
        """
        rows = self.comm.gather(
            np.concatenate(self._log) if self._log else np.zeros((0, 2 + self.dim)), root=0
        )
        self._log = []
        if self.comm.rank:
            return np.zeros((0, 2 + self.dim))
        rows = np.concatenate(rows)
        return rows[np.lexsort(rows.T[::-1])]

    def _record(self, n: int, event: str, x: np.ndarray) -> None:
        if len(x):
            lead = np.tile([float(n), float(EVENTS.index(event))], (len(x), 1))
            self._log.append(np.hstack([lead, x]))

    def take_new_sites(self) -> list[np.ndarray]:
        """Fusion points since the last call (the same on every rank, sorted)."""
        out, self.new_sites = self.new_sites, []
        return out

    def vegf_uptake(self) -> np.ndarray:
        """The tips' VEGF uptake rate eta n per owned dof (into VEGF's lumped diagonal)."""
        return self.cfg.eta * self.n.x.array[: self.n_owned]

    def _sprout(self, n: int, site_v: np.ndarray) -> None:
        c = self.cfg
        keys = np.arange(len(site_v), dtype=np.uint64) + np.uint64(self.organ << 20)
        if c.initial_tips and not self.sprouted:
            go = np.arange(len(site_v))
        else:
            excess = np.maximum(site_v - c.sprout_threshold, 0.0)
            if not excess.any() or self.comm.allreduce(len(self), op=MPI.SUM) >= c.max_tips:
                return
            p = -np.expm1(-c.sprout_rate * excess * self.dt)
            go = np.flatnonzero(rng.uniform(self.seed, keys, n, rng.SPROUT) < p)
        if len(go) == 0:
            return
        ids = rng.hash64(self.seed, keys[go], n, rng.SPROUT + 1)
        self.sprouted = True
        # Start on the rim of the vessel site, towards a random direction.
        direction = rng.normal(self.seed, ids, n, rng.TIP_PLACE, self.dim)
        direction /= np.linalg.norm(direction, axis=1)[:, None]
        x = self.site_x[go] + 0.9 * self.site_radius * direction
        for lbl, at in zip(_label(ids), x):
            self.parent[int(lbl)], self.birth[int(lbl)] = 0, at
        where, start = claim(self.walker, self.V.mesh, x)
        mine = np.flatnonzero(where == 1)
        self.stats["sprouts"] += len(mine)  # summed over ranks in metrics
        self._record(n, "sprout", x[mine])
        if len(mine):
            host = start[mine]
            self._add(ids[mine], go[mine], x[mine], host, self.walker.place(host, x[mine]))

    def _add(self, ids, root, x, host, vertex) -> None:
        t = self.tips
        new = {
            "id": ids,
            "label": _label(ids),
            "root": root,
            "x": x,
            "x0": x,
            "host": host,
            "vertex": vertex,
            "age": np.zeros(len(ids)),
            "state": np.zeros(len(ids), dtype=np.int8),
        }
        self.tips = {k: np.concatenate([t[k], np.asarray(new[k], dtype=t[k].dtype)]) for k in t}

    def _move(self, n: int, v: np.ndarray) -> None:
        t, c, w = self.tips, self.cfg, self.walker
        act = t["state"] == ACTIVE
        vh = v[w.place(t["host"], t["x"])] if len(self) else np.zeros(0)
        chem = (c.chi0 / (1.0 + c.alpha * np.maximum(vh, 0.0)))[:, None] * w.gradient(v, t["host"])
        drift = (chem + c.rho * w.gradient(self.f.x.array, t["host"])) * self.dt
        xi = rng.normal(self.seed, t["id"], n, rng.TIP_MOVE, self.dim)
        noise = np.sqrt(2.0 * c.D * self.dt) * xi
        x_new = np.where(act[:, None], t["x"] + drift + noise, t["x"])
        payload = {k: t[k] for k in ("id", "label", "root", "age", "state", "x0", "x")}
        x, host, vertex, payload = w.locate(x_new, t["host"], payload, fallback="x")
        self.tips = dict(payload, x=x, host=host, vertex=vertex)

    def _fuse_and_mark(self, n: int) -> None:
        """Anastomosis where a tip (away from its birth point) meets another tip's trail or a
        vessel site other than its own; both paths back to their vessels then carry blood
        (b = 1 on them). Then every tip marks its vertex.
        """
        t = self.tips
        trail = self.trail.array
        act = np.flatnonzero(t["state"] == ACTIVE)
        other = np.rint(trail[t["vertex"][act]]).astype(np.int64)  # 0: none
        grown = np.linalg.norm(t["x"][act] - t["x0"][act], axis=1) > self.escape
        into_trail = grown & (other != 0) & (other != t["label"][act])
        if self.cfg.anastomosis == "active":  # only into the trails of tips still growing
            into_trail &= np.isin(other, np.concatenate(self.comm.allgather(t["label"][act])))
        for i in np.flatnonzero(
            into_trail & (other > 0)
        ):  # nor near where the other sprout was born
            into_trail[i] = (
                np.linalg.norm(t["x"][act[i]] - self.birth.get(int(other[i]), np.inf)) > self.escape
            )
        into_site = np.zeros(len(act), dtype=bool)
        if len(self.site_x):  # another site than the one the tip's tree sprouted from
            inside = (
                np.linalg.norm(t["x"][act, None, :] - self.site_x[None, :, :], axis=2)
                < self.site_radius
            )
            inside[np.arange(len(act)), t["root"][act]] = False
            into_site = grown & inside.any(axis=1)
        fuse = into_trail | into_site
        t["state"][act[fuse]] = FUSED
        self.stats["anastomoses"] += int(fuse.sum())
        self._record(n, "anastomosis", t["x"][act[fuse]])
        joined = np.concatenate([t["label"][act[fuse]], other[into_trail & fuse & (other > 0)]])
        for lbl in np.unique(np.concatenate(self.comm.allgather(joined))):
            self._perfuse(int(lbl))
        where = np.concatenate(self.comm.allgather(t["x"][act[fuse]])).reshape(-1, self.dim)
        self.new_sites += list(where[np.lexsort(where.T[::-1])]) if len(where) else []
        # Trails: the first tip to reach a vertex keeps it; of several at once, the smallest
        # label (not a "mixed" mark that any tip could fuse into, bypassing ``escape``).
        for vec in (self._marks, self._count):
            vec.array[:] = 0.0
        np.add.at(self._marks.array, t["vertex"], t["label"].astype(float))
        np.add.at(self._count.array, t["vertex"], 1.0)
        for vec in (self._marks, self._count):
            vec.scatter_reverse(dolfinx.la.InsertMode.add)
        self._count.scatter_forward()  # the owners' totals to the ghosts
        m = self.n_owned
        s1, k = self._marks.array[:m], self._count.array
        tie = (trail[t["vertex"]] == 0) & (k[t["vertex"]] > 1)
        if self.comm.allreduce(bool(tie.any()), op=MPI.LOR):  # (global vertex, label) of tied tips
            imap = self.V.dofmap.index_map
            g = imap.local_to_global(t["vertex"][tie].astype(np.int32))
            pairs = np.concatenate(self.comm.allgather(np.stack([g, t["label"][tie]], axis=1)))
            r0, r1 = imap.local_range
            pairs = pairs[(pairs[:, 0] >= r0) & (pairs[:, 0] < r1)]
            first = s1.copy()
            first[pairs[:, 0] - r0] = np.inf
            np.minimum.at(first, pairs[:, 0] - r0, pairs[:, 1].astype(float))
            s1 = first
        fresh = (trail[:m] == 0) & (k[:m] > 0)
        trail[:m] = np.where(fresh, s1, trail[:m])
        self.trail.scatter_forward()
        if self.perfused_labels:
            on = np.isin(
                np.rint(trail).astype(np.int64), np.fromiter(self.perfused_labels, dtype=np.int64)
            )
            self.b.x.array[on] = 1.0

    def _perfuse(self, label: int) -> None:
        """A label and its ancestors back to the vessel carry blood."""
        while label > 0 and label not in self.perfused_labels:
            self.perfused_labels.add(label)
            label = self.parent.get(label, 0)

    def _branch(self, n: int, v: np.ndarray) -> None:
        """Tips older than psi branch with probability min(1, branch v dt); every rank
        learns the new labels' parents.
        """
        t, c = self.tips, self.cfg
        if self.comm.allreduce(len(self), op=MPI.SUM) >= c.max_tips:
            return
        old = np.flatnonzero((t["state"] == ACTIVE) & (t["age"] >= c.psi))
        p = np.minimum(1.0, c.branch * np.maximum(v[t["vertex"][old]], 0.0) * self.dt)
        go = old[rng.uniform(self.seed, t["id"][old], n, rng.BRANCH) < p]
        born = self._spawn(n, go)
        for kid, parent, *at in np.concatenate(self.comm.allgather(born)).reshape(-1, 2 + self.dim):
            self.parent[int(kid)], self.birth[int(kid)] = int(parent), np.array(at)

    def _spawn(self, n: int, go: np.ndarray) -> np.ndarray:
        t = self.tips
        self.stats["branches"] += len(go)
        self._record(n, "branch", t["x"][go])
        t["age"][go] = 0.0
        kids = rng.daughter_id(t["id"][go], n)
        born = (
            np.hstack([np.stack([_label(kids), t["label"][go]], axis=1), t["x"][go]])
            if len(go)
            else np.zeros((0, 2 + self.dim))
        )
        self._add(kids, t["root"][go], t["x"][go], t["host"][go], t["vertex"][go])
        return born

    def _density(self) -> None:
        """Tips per vertex patch, in tips per h_ref^d (as the cancer cells' density)."""
        counts = count_at_vertices(self.n.x, self.tips["vertex"][self.tips["state"] == ACTIVE])
        self.n.x.array[:] = counts * self.h_ref**self.dim / self.lumped
