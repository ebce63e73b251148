"""Phenotype switching: EMT and MET (docs/emt.md).

Rates (per unit time) at a cell's place, from the start-of-step signals:
  r_EM = r_EM0 (1 + a_hyp [o < o_hyp] + a_T T / (T + 1))   (E -> M)
  r_ME = r_ME0 (1 + a_N N)                                  (M -> E)
with o oxygen, T active TGF-beta (in units of K_T) and N the niche conditioning; a
field the run does not have counts as 0 (no hypoxia without oxygen). Over a step a cell
switches with p = 1 - exp(-r dt), drawn with one keyed uniform per cell (rng.SWITCH), so
the waiting time is geometric with the rate's mean and the draw is the same on any rank
count. A switching cell keeps its cycle clock; it then divides at its new phenotype's
doubling time (the clock counts time since its last division, whichever phenotype it had).
Dormant cells do not switch (quiescent). In continuum mode the same p moves p c_E from
c_E to c_M and p c_M back at every dof: the mean field of the discrete rule.

In the blood (``platelet_emt``), the epithelial cells of platelet-coated units turn
mesenchymal with 1 - exp(-r_plt kept), kept the integral of the coat over their time in
the blood (Labelle et al. 2011). Whether a surviving unit is coated is drawn with its
probability given that it survived (Bayes: coated units die less under the hazards).
"""

from __future__ import annotations

import numpy as np
from mpi4py import MPI

from solver import config
from solver.cells import rng
from solver.cells.population import DORMANT, EPITHELIAL, MESENCHYMAL, Population
from solver.circulation import survival_probability


class Switching:
    """The switching rule of one organ, its discrete and continuum steps and its counters
    (``stats``: cells turned M and turned E so far, this rank's share).
    """

    def __init__(self, spec: config.SwitchingSpec, *, seed: int, dt: float, o_hyp: float):
        """Args:
        spec: the ``[cells.switching]`` parameters.
        seed, dt: the run's.
        o_hyp: the organ's hypoxic level (oxygen.hypoxia).
        """
        self.spec, self.seed, self.dt, self.o_hyp = spec, seed, dt, o_hyp
        self.stats = {"emt": 0.0, "met": 0.0}

    def rates(
        self, hypoxic: np.ndarray | bool, T: np.ndarray | float, N: np.ndarray | float
    ) -> tuple[np.ndarray, np.ndarray]:
        """(r_EM, r_ME) for the given hypoxia flags, TGF-beta and conditioning (negative
        undershoots of the fields count as 0).
        """
        s = self.spec
        T = np.maximum(np.asarray(T, dtype=float), 0.0)
        hyp = np.asarray(hypoxic, dtype=float)
        r_em = s.r_EM * (1.0 + s.hypoxia * hyp + s.tgfb * T / (T + 1.0))
        r_me = s.r_ME * (1.0 + s.niche * np.maximum(np.asarray(N, dtype=float), 0.0))
        return r_em, r_me

    def probabilities(
        self, hypoxic: np.ndarray | bool, T: np.ndarray | float, N: np.ndarray | float
    ) -> tuple[np.ndarray, np.ndarray]:
        """(p_EM, p_ME) = 1 - exp(-r dt): the chance to switch over one step."""
        r_em, r_me = self.rates(hypoxic, T, N)
        return -np.expm1(-r_em * self.dt), -np.expm1(-r_me * self.dt)

    def signals(
        self, where: np.ndarray | slice, o: np.ndarray | None, T: np.ndarray | None, N
    ) -> tuple[np.ndarray | bool, np.ndarray | float, np.ndarray | float]:
        """The signals at the dofs ``where`` (fields a run does not have: 0)."""
        return (
            False if o is None else o[where] < self.o_hyp,
            0.0 if T is None else T[where],
            0.0 if N is None else N[where],
        )

    def step_cells(
        self,
        pop: Population,
        n: int,
        o: np.ndarray | None,
        T: np.ndarray | None,
        N: np.ndarray | None,
    ) -> None:
        """Switch the cells of ``pop`` (local) in step ``n`` with the dof values ``o``, ``T``,
        ``N`` (owned + ghost) at their vertices.
        """
        if len(pop) == 0:
            return
        p_em, p_me = self.probabilities(*self.signals(pop.vertex, o, T, N))
        p = np.where(pop.phenotype == EPITHELIAL, p_em, p_me)
        flip = (pop.state != DORMANT) & (rng.uniform(self.seed, pop.id, n, rng.SWITCH) < p)
        to_m = flip & (pop.phenotype == EPITHELIAL)
        self.stats["emt"] += float(to_m.sum())
        self.stats["met"] += float((flip & ~to_m).sum())
        pop.phenotype[flip] = np.where(to_m[flip], MESENCHYMAL, EPITHELIAL)

    def step_densities(
        self,
        c_E: np.ndarray,
        c_M: np.ndarray,
        o: np.ndarray | None,
        T: np.ndarray | None,
        N: np.ndarray | None,
        weight: np.ndarray,
    ) -> None:
        """Move p_EM c_E to c_M and p_ME c_M to c_E at every dof (owned + ghost, in place:
        pointwise, so the ghosts stay consistent); ``weight``: the owned dofs' lumped mass
        over h_ref^d, to count the cells moved.
        """
        p_em, p_me = self.probabilities(*self.signals(slice(None), o, T, N))
        to_m = np.broadcast_to(p_em, c_E.shape) * c_E
        to_e = np.broadcast_to(p_me, c_M.shape) * c_M
        n = len(weight)
        self.stats["emt"] += float(weight @ to_m[:n])
        self.stats["met"] += float(weight @ to_e[:n])
        c_E += to_e - to_m
        c_M += to_m - to_e

    def totals(self, comm: MPI.Comm) -> dict[str, float]:
        """The counters summed over the organ's ranks (collective)."""
        return {k: comm.allreduce(v, op=MPI.SUM) for k, v in self.stats.items()}

    def load_state(self, state: dict, comm: MPI.Comm) -> None:
        """The counters of ``totals``, held by the first rank."""
        self.stats = {k: (float(state[k]) if comm.rank == 0 else 0.0) for k in self.stats}


def coated_given_survival(
    cfg: config.CirculationSpec, size: np.ndarray, tau: np.ndarray, kept: np.ndarray | float
) -> np.ndarray:
    """The chance that a unit that survived the blood is coated by platelets: with hazards,
    c S_coated / (c S_coated + (1 - c) S_bare) (Bayes), c = hazards.coated; with constant
    survival (independent of the coat), c.
    """
    h = cfg.hazards
    if cfg.survival != "hazards":
        return np.full(len(size), h.coated)
    s_c = survival_probability(h.model_copy(update={"coated": 1.0}), size, tau, kept)
    s_b = survival_probability(h.model_copy(update={"coated": 0.0}), size, tau, kept)
    den = h.coated * s_c + (1.0 - h.coated) * s_b
    return np.where(den > 0, h.coated * s_c / np.where(den > 0, den, 1.0), h.coated)


def platelet_emt(
    spec: config.SwitchingSpec,
    cfg: config.CirculationSpec,
    seed: int,
    step: int,
    rows: dict[str, np.ndarray],
    unit: np.ndarray,
    tau: np.ndarray,
    kept: np.ndarray | float,
) -> np.ndarray:
    """The phenotypes of surviving cells ``rows`` after their time in the blood: a unit
    (``unit``: the id each cell survived in) is coated with its probability given that it
    survived (one keyed uniform per unit, rng.COAT); an epithelial cell of a coated unit
    turns mesenchymal with 1 - exp(-platelet kept) (one keyed uniform per cell,
    rng.SWITCH_BLOOD). ``tau``, ``kept``: per cell, its time in the blood and the integral
    of the coat it kept (Blood._kept).
    """
    phen = rows["phenotype"].copy()
    if len(phen) == 0:
        return phen
    _, inv, size = np.unique(unit, return_inverse=True, return_counts=True)
    coated = rng.uniform(seed, unit, step, rng.COAT) < coated_given_survival(
        cfg, size[inv], tau, kept
    )
    p = -np.expm1(-spec.platelet * np.broadcast_to(np.asarray(kept, dtype=float), phen.shape))
    u = rng.uniform(seed, rows["id"], step, rng.SWITCH_BLOOD)
    phen[coated & (phen == EPITHELIAL) & (u < p)] = MESENCHYMAL
    return phen
