"""The soil of one organ (docs/model.md sections 2 and 5): oxygen o, VEGF v, the exosome-borne
niche factor x, the conditioning N and the perfused new-vessel density b. Their equations
are solver/fields/equations.py's OxygenEquation, VEGFEquation, NicheEquation and
ConditioningEquation.

o, v and x are implicit Euler with the lumped mass (ReactionDiffusion); their reaction
coefficients that change every step (c, b) go into the lumped diagonal, frozen over the
step, so the systems stay M-matrices and the fields non-negative, and o stays <= 1; N is
exact per step (ecm.relax). The colony displaces the background capillaries b0 it packs
(vessel co-option and regression), so its core goes anoxic unless new vessels b reach it:
angiogenic dormancy. What the organ takes up from the plasma over a step enters x with the
weight (b0 + b) normalised over the organ, so the exosome mass balance closes (ExosomePool,
test_soil).
"""

from __future__ import annotations

from typing import Any

import dolfinx.fem as fem
import numpy as np
from mpi4py import MPI
from petsc4py import PETSc

from solver import config
from solver.config import CaseError
from solver.expression import ExpressionError, compile_expression
from solver.fields.ecm import relax
from solver.fields.equations import (
    ConditioningEquation,
    NicheEquation,
    OxygenEquation,
    VEGFEquation,
)
from solver.fields.reaction_diffusion import ReactionDiffusion, integral, negative_part


def initial_values(V, expression: str, what: str) -> np.ndarray:
    """Dof values (owned + ghost) of an expression of the coordinates x, y, z
    (solver/expression.py: an allowlist, never Python's eval).
    """
    xyz = V.tabulate_dof_coordinates()
    try:
        f = compile_expression(expression)
    except ExpressionError as e:
        raise CaseError(
            f"key '{what}': cannot evaluate {expression!r} (an expression of x, y, z): {e}"
        ) from None
    return f(xyz[:, 0], xyz[:, 1], xyz[:, 2])


class Soil:
    """The soil's fields of one organ and their steps (equations: solver/fields/equations.py)."""

    def __init__(
        self,
        *,
        V: fem.FunctionSpace,
        K: PETSc.Mat,
        lumped: np.ndarray,
        spec: config.OrganSpec,
        flags: config.SoilSpec,
        dt: float,
        petsc: dict,
        rtol: float,
        capacity: float = 4.0,
        rtol_ov: float | None = None,
        positive: bool = False,
    ):
        """Args:
        V, K, lumped: the organ's P1 space, stiffness matrix and lumped mass.
        spec: the organ's config (oxygen, vegf, niche tables).
        flags: which processes run (config.SoilSpec).
        dt: the soil's step (its sub-cycle).
        petsc, rtol: PETSc options and the Krylov tolerance (ReactionDiffusion).
        capacity: the packed cell density Q.
        rtol_ov: the solver tolerance of o and v (default ``rtol``).
        positive: K is an M-matrix (ReactionDiffusion).
        """
        rtol_ov = rtol_ov or rtol
        self.spec, self.flags, self.dt, self.capacity = spec, flags, dt, capacity
        self.oxygen = OxygenEquation.of(spec.oxygen, capacity)
        self.vegf = VEGFEquation.of(spec.vegf, spec.oxygen.hypoxia)
        self.niche = NicheEquation.of(spec.niche)
        self.conditioning = ConditioningEquation.of(spec.niche)
        self.comm = V.mesh.comm
        self.n = V.dofmap.index_map.size_local
        self.lumped = lumped
        self.volume = self.comm.allreduce(lumped[: self.n].sum(), op=MPI.SUM)
        self.fields: dict[str, fem.Function] = {}
        self.b = fem.Function(V, name="b")  # perfused new vessels: zero until angiogenesis
        self.solvers: dict[str, ReactionDiffusion] = {}
        common: dict[str, Any] = dict(
            K=K, lumped=lumped, dt=dt, organ=spec.name, options=petsc, positive=positive
        )
        if flags.oxygen:
            o = self._field(V, "o", 1.0)  # the steady state without cells
            self.solvers["o"] = ReactionDiffusion(
                u=o, D=self.oxygen.D, decay=self.oxygen.decay, name="oxygen", rtol=rtol_ov, **common
            )
        if flags.vegf:
            v = self._field(V, "v", 0.0)
            v.x.array[:] = initial_values(V, spec.vegf.initial, f"{spec.name}.vegf.initial")
            self.solvers["v"] = ReactionDiffusion(
                u=v, D=self.vegf.D, decay=self.vegf.decay, name="vegf", rtol=rtol_ov, **common
            )
        if flags.niche:
            x = self._field(V, "x", 0.0)
            self._field(V, "N", 0.0)
            self.solvers["x"] = ReactionDiffusion(
                u=x, D=self.niche.D, decay=self.niche.decay, name="niche", rtol=rtol, **common
            )
        if flags.oxygen or flags.vegf:
            self.fields["b"] = self.b
        # Fields at rest (o = 1, v = x = N = 0, nothing to change them) skip their solves,
        # which are then exactly the identity (most of an empty organ's cost).
        self.rest = {"o": True, "v": True, "x": True}
        if "v" in self.fields:  # a case may start with VEGF (a benchmark's TAF profile)
            self.rest["v"] = self.comm.allreduce(not np.any(self.fields["v"].x.array), op=MPI.LAND)
        self.blockade = 0.0  # extra VEGF sink while an anti-VEGF dose acts (interventions)
        self.tip_uptake: np.ndarray | float = 0.0  # VEGF uptake by tip cells (angiogenesis)
        self.taken_up = 0.0  # exosome amount received from the plasma so far
        self.consumed = 0.0  # ... and removed from x by decay and by resident cells (into N)

    def _field(self, V, name: str, value: float) -> fem.Function:
        f = fem.Function(V, name=name)
        f.x.array[:] = value
        self.fields[name] = f
        return f

    def state(self) -> dict:
        """What a checkpoint keeps besides the fields' values (in the organ's ``dofs``):
        which fields are at rest and the exosome balance, as plain data (the same on every
        rank of the organ; checked on load by checkpoint.check_organ).
        """
        return {"rest": dict(self.rest), "taken_up": self.taken_up, "consumed": self.consumed}

    def load_state(self, state: dict) -> None:
        """The inverse of ``state``."""
        self.rest = dict(state["rest"])
        self.taken_up, self.consumed = state["taken_up"], state["consumed"]

    def metrics(self, pending: float = 0.0) -> dict[str, float]:
        """The soil's columns of metrics.csv (collective): each field's negative part, the
        least oxygen and the hypoxic share of the organ, the most VEGF, the niche factor's
        integral, the conditioning's mean and maximum, and the exosome amounts received so
        far and ``pending`` (taken from the plasma, not yet delivered to x).
        """
        f, n, comm = self.fields, self.n, self.comm
        lumped = self.lumped[:n]

        def extreme(name: str, op: MPI.Op) -> float:
            values = f[name].x.array[:n]
            local = values.min(initial=np.inf) if op is MPI.MIN else values.max(initial=-np.inf)
            return comm.allreduce(float(local), op=op)

        out: dict[str, float] = {}
        # Without the M-matrix (3D default) o, v and x can undershoot below zero, and where
        # they are used (cells' hypoxia, tips' chemotaxis and branching, conditioning) the
        # negative part counts as zero: what that clip removes, relative to the field's mass.
        for name in ("o", "v", "x"):
            if name in f:
                out[f"{name}_negative"] = negative_part(lumped, f[name].x.array, comm)
        if "o" in f:
            out["o_min"] = extreme("o", MPI.MIN)
            hyp = f["o"].x.array[:n] < self.spec.oxygen.hypoxia
            out["hypoxic_fraction"] = comm.allreduce(float(lumped @ hyp), op=MPI.SUM) / self.volume
        if "v" in f:
            out["vegf_max"] = extreme("v", MPI.MAX)
        if "x" in f:
            out["niche_factor"] = integral(lumped, f["x"].x.array, comm)
            out["niche_max"] = extreme("N", MPI.MAX)
            out["niche_mean"] = integral(lumped, f["N"].x.array, comm) / self.volume
            out["exosomes_taken_up"] = self.taken_up
            out["exosomes_pending"] = pending
        return out

    def vessels(self) -> np.ndarray:
        """b0 + b per owned dof: where oxygen and exosomes leave the blood."""
        return self.spec.oxygen.b0 + self.b.x.array[: self.n]

    def step(
        self,
        c: np.ndarray,
        uptake: float = 0.0,
        cells: bool = True,
        forcing: dict[str, np.ndarray] | None = None,
    ) -> None:
        """One step with the cell density ``c`` (c_E + c_M, owned dofs) frozen, and the
        exosome uptake rate ``uptake`` (amount per unit time, the step's mean) of this organ;
        ``cells``: whether any rank of the organ has cells or had them last step (the same
        on every rank). ``forcing``: extra sources per field (manufactured solutions).
        """
        n, b = self.n, self.b.x.array[: self.n]
        extra = forcing or {}
        if cells or extra:
            self.rest["o"] = self.rest["v"] = False
        if extra:
            self.rest["x"] = False
        if uptake > 0:
            self.rest["x"] = False
            self.rest["v"] = self.rest["v"] and self.spec.vegf.s_niche == 0
        if "o" in self.solvers and not self.rest["o"]:
            self._oxygen(c, extra.get("o", 0.0))
        if "v" in self.solvers and not self.rest["v"]:
            N = self.fields["N"].x.array[:n] if "N" in self.fields else None
            source = self.vegf.source(c, self._hypoxia(), N)
            rate = self.vegf.rate(b, self.blockade, self.tip_uptake)
            self.solvers["v"].step(source + extra.get("v", 0.0), rate)
        if "x" in self.solvers and not self.rest["x"]:
            weight = self.vessels()
            total = integral(self.lumped[:n], weight, self.comm)
            self.solvers["x"].step(self.niche.source(uptake, weight, total) + extra.get("x", 0.0))
            x = self.fields["x"].x.array
            # Lumped implicit Euler conserves exactly:
            # d(int x) = dt (uptake - (delta + k_u) int x_new).
            self.taken_up += uptake * self.dt
            self.consumed += self.dt * self.niche.decay * integral(self.lumped[:n], x, self.comm)
            gain, total = self.conditioning.terms(x)
            relax(self.fields["N"].x.array, gain, total, self.dt)  # owned + ghost: x is scattered

    def equilibrate(self, c: np.ndarray, steps: int = 40) -> None:
        """Oxygen at its steady state with the cells ``c`` (docs/model.md: the initial state).
        Oxygen relaxes at rate >= supply b0 per unit time, so a few implicit steps reach
        round-off; the other fields keep their values.
        """
        if "o" not in self.solvers:
            return
        for _ in range(steps):
            self._oxygen(c)

    def _oxygen(self, c: np.ndarray, forcing: np.ndarray | float = 0.0) -> None:
        """One oxygen step: supply from the capillaries the cells leave and the new vessels,
        uptake c o by cells.
        """
        source, rate = self.oxygen.terms(c, self.b.x.array[: self.n])
        self.solvers["o"].step(source + forcing, rate)

    def _hypoxia(self) -> np.ndarray:
        """H(o) per owned dof; without an oxygen field every cell counts as normoxic."""
        if "o" not in self.fields:
            return np.zeros(self.n)
        return self.vegf.hypoxic(self.fields["o"].x.array[: self.n])

    def amounts(self) -> dict[str, float]:
        """Integrals of the fields over the organ (collective), e.g. exosome mass in x."""
        m = self.lumped[: self.n]
        return {name: integral(m, f.x.array, self.comm) for name, f in self.fields.items()}
