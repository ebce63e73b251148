"""The niche's recruited cells (docs/niche-cells.md): lysyl oxidase (LOX) from hypoxic
primary cells through the plasma to the secondary organs, the matrix it cross-links there,
and the bone-marrow-derived myeloid cells that cross-linked matrix and the niche
conditioning N draw (Erler et al. 2009 Cancer Cell 15:35; Kaplan et al. 2005 Nature 438:820).

In each secondary organ, per dof and exactly per step (``_advance``, as ``ecm.relax``, with
the coefficients frozen over the step), with s the LOX the organ took up from the plasma,
spread where its vessels are (weight b0 + b, as the exosomes are):

    dL/dt = s - decay L                                  LOX in the tissue
    dX/dt = crosslink (1 - lox_block) L (1 - X) - crosslink_loss X    cross-linked matrix
    dR/dt = a (R_max - R) - death R,  a = by_lox X + by_niche (1 - vegfr1_block) N

R is one density for the CD11b+ myeloid cells (drawn by X) and the VEGFR1+ progenitors
(drawn by N): both are recruited from the blood, adhere to the modified matrix and raise the
same things, so one density with two recruitment terms. They do not diffuse: they adhere
(VLA-4 to fibronectin, CD11b to cross-linked collagen IV) and stay where they are recruited
over the days the model runs. The recruited and dead cells are integrated from the exact
solution, so recruited - died = the change of the integral of R holds to round-off
(``metrics``: ``recruits_balance``); likewise LOX taken up - decayed = LOX in the tissue.

Their effects on arrivals (cancer cells in a secondary): extravasation
p_ext = 1 - (1 - p0) exp(-epsilon N - epsilon_R R / R_max) (``extravasation``; with
``mediate_niche`` the epsilon N term is dropped: N acts through R), and division at
(1 + g R / R_max) times the rate (``speed``).
"""

from __future__ import annotations

from typing import Any

import dolfinx.fem as fem
import numpy as np
from mpi4py import MPI

from solver import config
from solver.circulation import ExosomePool

TOTALS = ("taken_up", "decayed", "recruited", "died")


class LOXPool(ExosomePool):
    """LOX in the plasma: dP/dt = release H - removal P with H the hypoxic primary cells,
    exact per step (the exosome pool's integration, ``ExosomePool``); each secondary takes
    ``uptake`` of the removal, the rest is cleared elsewhere.
    """

    KEY = "lox"

    def __init__(self, spec: config.RecruitsSpec, organs: int, dt: float):
        """``spec``: the [recruits] table; ``organs``: the number of secondary organs."""
        k = np.full(organs, spec.uptake * spec.removal)
        super().__init__(sigma=spec.release, removal=spec.removal, k_organs=k, dt=dt)

    def metrics(self) -> dict[str, float]:
        """The pool's columns of metrics.csv: LOX in the plasma, released by hypoxic
        primary cells, cleared and taken up by the secondaries so far, and the balance
        (released - plasma - cleared - taken up: round-off).
        """
        t = self.totals
        return {
            "lox_plasma": self.E,
            "lox_released": t["released"],
            "lox_cleared": t["cleared"],
            "lox_to_organs": float(t["taken_up"].sum()),
            "lox_pool_balance": self.balance(),
        }


def hypoxic_cells(organ: Any) -> float:
    """Cells of ``organ`` (an Organ with oxygen) where o < oxygen.hypoxia, discrete or
    continuum (the integral of the densities over h_ref^d), on every rank of the organ
    (collective).
    """
    o = organ.fields["o"].x.array
    hyp = organ.spec.oxygen.hypoxia
    if organ.continuum is None:
        local = float((o[organ.cells.pop.vertex] < hyp).sum())
    else:
        n = organ.n_owned
        c = organ._all_cells()[:n]
        local = float(organ.lumped[:n] @ (c * (o[:n] < hyp))) / organ.cells_cfg.h_ref**organ.dim
    return organ.comm.allreduce(local, op=MPI.SUM)


def extravasation(
    ext: config.ExtravasationSpec,
    spec: config.RecruitsSpec,
    N: np.ndarray | float,
    occupancy: np.ndarray,
) -> np.ndarray:
    """p_ext = 1 - (1 - p0) exp(-epsilon N - epsilon_R R / R_max) at each vessel site
    (``N``, ``occupancy``: their values at the sites); with ``mediate_niche`` N acts only
    through the recruited cells (its own term is dropped).
    """
    direct = 0.0 if spec.mediate_niche else ext.epsilon * np.asarray(N, dtype=float)
    return 1.0 - (1.0 - ext.p0) * np.exp(-direct - spec.extravasation * occupancy)


class Recruits:
    """LOX L, cross-linked matrix X and recruited cells R of one secondary organ (P1 fields
    stepped pointwise; see the module's docstring).

    Args:
        V: the organ's P1 space.
        lumped: its lumped mass (owned + ghost dofs).
        spec: the [recruits] table.
        b0: the organ's background capillary density (oxygen.b0), the weight of LOX's entry.
        dt: the step.
        cell_volume: h_ref^d (R is in cells per h_ref^d).
    """

    def __init__(
        self,
        *,
        V: fem.FunctionSpace,
        lumped: np.ndarray,
        spec: config.RecruitsSpec,
        b0: float,
        dt: float,
        cell_volume: float,
    ):
        self.spec, self.b0, self.dt, self.cell_volume = spec, b0, dt, cell_volume
        self.comm = V.mesh.comm
        self.n = V.dofmap.index_map.size_local
        self.lumped = lumped
        self.volume = self.comm.allreduce(float(lumped[: self.n].sum()), op=MPI.SUM)
        self.fields = {name: fem.Function(V, name=name) for name in ("L", "X", "R")}
        self.pending = 0.0  # LOX amount taken from the plasma for the next step
        self.block = {"vegfr1": 0.0, "lox": 0.0}  # fractions blocked now (interventions)
        self.local = dict.fromkeys(TOTALS, 0.0)  # this rank's share of the totals

    # -- one step -------------------------------------------------------------------
    def step(self, N: np.ndarray | None, b: np.ndarray | float) -> None:
        """One step with the niche conditioning ``N`` (owned + ghost, None without the
        niche) and the new-vessel density ``b`` (owned + ghost) frozen; uses and clears
        ``pending``. Collective only when LOX arrives (the weight's integral).
        """
        s, dt, n, m = self.spec, self.dt, self.n, self.lumped[: self.n]
        L, X, R = (self.fields[k].x.array for k in ("L", "X", "R"))
        source: np.ndarray | float = 0.0
        if self.pending > 0.0:
            weight = self.b0 + np.broadcast_to(np.asarray(b, dtype=float), L.shape)
            total = self.comm.allreduce(float(m @ weight[:n]), op=MPI.SUM)
            source = self.pending / dt * weight / total
            # The organ's share, counted per rank as the dofs it owns receive it.
            self.local["taken_up"] += float(m @ (dt * np.asarray(source)[:n]))
            self.pending = 0.0
        self.local["decayed"] += s.decay * float(m @ _mean(L, source, s.decay, dt)[:n]) * dt
        _advance(L, source, s.decay, dt)
        gain = s.crosslink * (1.0 - self.block["lox"]) * L
        _advance(X, gain, gain + s.crosslink_loss, dt)
        a = s.by_lox * X
        if N is not None:
            a = a + s.by_niche * (1.0 - self.block["vegfr1"]) * np.maximum(N, 0.0)
        gain_R = a * s.R_max
        mean_R = _mean(R, gain_R, a + s.death, dt)[:n]
        vol = self.cell_volume
        self.local["recruited"] += float(m @ (a[:n] * (s.R_max - mean_R))) * dt / vol
        self.local["died"] += s.death * float(m @ mean_R) * dt / vol
        _advance(R, gain_R, a + s.death, dt)

    def occupancy(self) -> np.ndarray:
        """R / R_max per dof (owned + ghost)."""
        return self.fields["R"].x.array / self.spec.R_max

    def speed(self) -> np.ndarray | None:
        """1 + g R / R_max per dof, the factor on cancer cells' division rate (None if
        g = 0).
        """
        g = self.spec.proliferation
        return None if g == 0 else 1.0 + g * self.occupancy()

    # -- what is reported -------------------------------------------------------------
    def totals(self) -> dict[str, float]:
        """LOX taken up and decayed, cells recruited and died so far (collective)."""
        vals = self.comm.allreduce(np.array([self.local[k] for k in TOTALS]), op=MPI.SUM)
        return dict(zip(TOTALS, (float(v) for v in vals)))

    def metrics(self) -> dict[str, float]:
        """The organ's columns (collective): LOX in the tissue, taken up, decayed and its
        balance; the mean and largest cross-linked fraction; the recruited cells present,
        recruited and died so far, their balance (recruited - died - present: round-off)
        and the largest occupancy.
        """
        t, m, n = self.totals(), self.lumped[: self.n], self.n

        def integral(name: str) -> float:
            return self.comm.allreduce(float(m @ self.fields[name].x.array[:n]), op=MPI.SUM)

        def largest(name: str) -> float:
            local = float(self.fields[name].x.array[:n].max(initial=0.0))
            return self.comm.allreduce(local, op=MPI.MAX)

        lox, present = integral("L"), integral("R") / self.cell_volume
        return {
            "lox_tissue": lox,
            "lox_taken_up": t["taken_up"],
            "lox_decayed": t["decayed"],
            "lox_balance": t["taken_up"] - t["decayed"] - lox,
            "crosslinked_mean": integral("X") / self.volume,
            "crosslinked_max": largest("X"),
            "recruits": present,
            "recruits_recruited": t["recruited"],
            "recruits_died": t["died"],
            "recruits_balance": t["recruited"] - t["died"] - present,
            "recruits_occupancy_max": largest("R") / self.spec.R_max,
        }

    # -- checkpoints --------------------------------------------------------------------
    def state(self) -> dict:
        """The totals and what is pending, as plain data (collective; the fields' values
        are in the organ's ``dofs``).
        """
        return {"totals": self.totals(), "pending": self.pending}

    def load_state(self, state: dict) -> None:
        """The inverse of ``state``: the totals go to the first rank's share."""
        first = self.comm.rank == 0
        self.local = {k: float(state["totals"][k]) if first else 0.0 for k in TOTALS}
        self.pending = float(state["pending"])

    def check_state(self, c, rest: dict) -> None:
        """Refuse (``c``: checkpoint.Check) an organ state whose ``recruits`` this did not
        write.
        """
        r = c.get(rest, "recruits", "recruits", dict)
        c.get(r, "pending", "recruits.pending", float, finite=True)
        t = c.get(r, "totals", "recruits.totals", dict)
        if set(t) != set(TOTALS):
            c.fail("recruits.totals", f"keys {sorted(t)}, expected {', '.join(TOTALS)}")
        for k in TOTALS:
            c.get(t, k, f"recruits.totals.{k}", float, finite=True)


def _phi(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """phi1 = (1 - e^-x) / x and phi2 = (x - 1 + e^-x) / x^2 (1 and 1/2 at x = 0), without
    cancellation for small x (series below 1e-4).
    """
    small = x < 1e-4
    y = np.where(small, 1.0, x)
    phi1 = np.where(small, 1.0 - x / 2 + x * x / 6, -np.expm1(-y) / y)
    phi2 = np.where(small, 0.5 - x / 6 + x * x / 24, (y + np.expm1(-y)) / (y * y))
    return phi1, phi2


def _mean(u: np.ndarray, gain, total, dt: float) -> np.ndarray:
    """The mean over a step of du/dt = gain - total u (frozen): u + (gain - total u) dt
    phi2(total dt), exact also where total = 0 (u + gain dt / 2).
    """
    total = np.broadcast_to(np.asarray(total, dtype=float), u.shape)
    _, phi2 = _phi(total * dt)
    return u + (gain - total * u) * dt * phi2


def _advance(u: np.ndarray, gain, total, dt: float) -> None:
    """du/dt = gain - total u over one step, exactly and in place: u e^(-total dt) + gain dt
    phi1(total dt) (``ecm.relax``'s solution, also where total = 0: u + gain dt), >= 0 for
    u, gain >= 0.
    """
    total = np.broadcast_to(np.asarray(total, dtype=float), u.shape)
    phi1, _ = _phi(total * dt)
    u[:] = u * np.exp(-total * dt) + np.asarray(gain) * dt * phi1
