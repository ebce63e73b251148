"""Continuum (mean-field) cancer cells by explicit FEM-FCT (docs/numerics.md, numerics):
ContinuumEquation (solver/fields/equations.py) for c_E, c_M with zero flux on the boundary.

Transport: lumped-mass Galerkin M_L dc/dt = -A c with
A_ij = int D grad phi_j . grad phi_i - Phi phi_j grad w . grad phi_i (zero flux is the natural
condition). The columns of A sum to zero, so transport conserves mass. Kuzmin's algebraic flux
correction: the low-order operator L = A - Dart, with the symmetric zero-row-sum artificial
diffusion d_ij = max(0, a_ij, a_ji), has L_ij <= 0 off the diagonal, so one forward-Euler step
with dt <= m_i / L_ii is a convex combination (non-negative). The antidiffusive fluxes
f_ij = d_ij (c_i - c_j) give back the Galerkin scheme wherever Zalesak's limiter lets them
without leaving the local bounds of the low-order solution: non-negative, conservative, and
second order where the solution is smooth. The final max(., 0) only removes round-off below
zero; the mass it adds back is counted in ``stats["clip_removed"]`` (so a test can check the
scheme, not the clipped field). The step is sub-cycled in equal sub-steps below the
positivity bound (w changes every step, so the bound is recomputed every step).

Where the cells are: each sub-step moves density by at most one ring of dofs, so the
transport is computed only on the rows within ns + 1 rings of a dof with cells (``_plan``;
the others' patches hold nothing all step, and their result is exactly zero: the same bits
as on every row). Because an explicit scheme spreads every density a ring per sub-step at
values down to underflow, a density below ``FLOOR`` (1e-12 cells per h_ref^d) after a step
is set to zero and counted (``stats["floored"]``); without it the rows near cells would
soon be all rows.

Crowding in the transport (``crowded_transport``): the discrete room rule refuses a move
into a full place, and a place of capacity Q at mean density S is full with chance
S - (Q - 1) when its count is as even as it can be (0 below Q - 1). So the density moving
from j into i is blocked by g_i = min(max(Q - S_i, 0), 1) (S all cells, with ``occupied``).
As edge fluxes, m_i dc_i/dt = sum_j (-a_ij g_i c_j + a_ji g_j c_i): what enters i from j is
what leaves j for i, so mass is conserved for any g. The artificial diffusion and the
antidiffusive fluxes are built from the blocked coefficients at every sub-step, below a
sub-step bound that holds for every g in [0, 1]. docs/hybrid.md measures it against the
discrete cells.

Growth and sources are split off per sub-step with a linearly implicit (Patankar) update
c <- (c (1 + dt r) + dt s) / (1 + dt r S/Q), S = c_E + c_M: non-negative for s >= 0, and
S never crosses Q, whatever dt. ``grow`` (per dof) switches growth off where cells are hypoxic;
``occupied`` (per dof) is room taken by cells that do not move or divide (dormant ones).

Growth by room (``crowded_growth``, solver/fields/room_growth.py, docs/hybrid.md): each
density is split into cycling cells and ready ones (cycle done, waiting for room), both
transported alike (four FCT columns: cycling E, M, ready E, M); the ready fractions live in
``ready`` (fields ready_E, ready_M, checkpointed with the organ's), so that every other
process keeps acting on c_E, c_M and touches both compartments in proportion.

Parallel: matrices are dolfinx MatrixCSR in local indexing (owned rows x owned+ghost
columns after scatter_reverse); a_ji for ghost columns comes from assembling the transposed
form, which has the same sparsity pattern. Nodal values needed on neighbours (c, c^L, R+-)
are ghost-updated with scatter_forward. The matrices' column map extends V's ghosts (its extra
ghosts are dofs of off-rank cells that touch owned rows), so the state lives in work vectors
on that map during a step.
"""

from __future__ import annotations

import math

import dolfinx.fem as fem
import dolfinx.la
import numpy as np
import scipy.sparse as sp
import ufl
from mpi4py import MPI

from solver import config
from solver.fields import room_growth
from solver.fields.equations import ContinuumEquation


class _CSR:
    """A bilinear form assembled into a reusable dolfinx MatrixCSR, seen as scipy CSR."""

    def __init__(self, a):
        self.form = fem.form(a)
        self.mat = fem.create_matrix(self.form)
        self.assemble()

    def assemble(self) -> np.ndarray:
        self.mat.data[:] = 0.0
        fem.assemble_matrix(self.mat, self.form)
        self.mat.scatter_reverse()  # ghost-row contributions to the owners
        self.csr = self.mat.to_scipy()  # owned rows, shares memory with mat
        return self.csr.data


class ContinuumCells:
    """c_E, c_M advanced by dt per ``step(w)``; ``substeps`` and ``limited`` report the last
    step.
    """

    # Transport skips the rows far from every cell when at most this fraction of the rows is
    # near one (``_plan``); 0 never skips, 1 always does: the results are the same.
    restrict = 0.5
    # A density below FLOOR cells per h_ref^d after a step is set to zero (and counted in
    # ``stats["floored"]``): an explicit scheme spreads every density by a ring of
    # dofs per sub-step, at values down to underflow that no cell corresponds to, and the
    # rows near cells (``_plan``) would soon be every row.
    FLOOR = 1e-12

    def __init__(
        self,
        *,
        V: fem.FunctionSpace,
        lumped: np.ndarray,
        params: config.CellsSpec,
        dt: float,
        c_E: fem.Function,
        c_M: fem.Function,
        safety: float = 0.9,
    ):
        """Args:
        V, lumped: the P1 space and its lumped mass.
        params: the ``[cells]`` parameters (ContinuumEquation.of).
        dt: the step (sub-cycled below the positivity bound).
        c_E, c_M: the densities, stepped in place.
        safety: the sub-step as a fraction of the positivity bound.
        """
        self.V, self.dt, self.c, self.safety = V, float(dt), (c_E, c_M), safety
        self.comm = V.mesh.comm
        imap = V.dofmap.index_map
        self.n = imap.size_local
        self.m = np.asarray(lumped)[: self.n]
        self.equation = ContinuumEquation.of(params, V.mesh.topology.dim)
        eq = self.equation
        self.Q, self.D, self.Phi, self.r = eq.Q, eq.D, eq.Phi, eq.r

        u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
        self._w = fem.Function(V)  # w is copied in, so the taxis forms compile once
        gw = ufl.grad(self._w)
        self._K = _CSR(ufl.inner(ufl.grad(u), ufl.grad(v)) * ufl.dx)  # w-independent: once
        # T_ij = int phi_j grad w . grad phi_i
        self._T = _CSR(u * ufl.inner(gw, ufl.grad(v)) * ufl.dx)
        # (T^T)_ij = T_ji, also for ghost j
        self._Tt = _CSR(v * ufl.inner(gw, ufl.grad(u)) * ufl.dx)
        K = self._K.csr
        for other in (self._T.csr, self._Tt.csr):  # same pattern -> .data arrays align
            assert np.array_equal(K.indices, other.indices) and np.array_equal(
                K.indptr, other.indptr
            )
        self.indptr, self.cols = K.indptr, K.indices
        self.rows = np.repeat(np.arange(self.n, dtype=self.cols.dtype), np.diff(self.indptr))
        self.offd = self.rows != self.cols
        self.diag = np.flatnonzero(~self.offd)
        assert len(self.diag) == self.n
        # Low-order operators (one per phenotype) reuse the pattern; only .data changes.
        self.L = [
            sp.csr_matrix((np.zeros_like(K.data), self.cols, self.indptr), shape=K.shape)
            for _ in range(2)
        ]
        self.d = np.zeros((len(K.data), 2))
        # Ghosted work vectors on the column map, blocked over the phenotypes: one scatter
        # serves both.
        cmap = self._K.mat.index_map(1)
        assert np.array_equal(cmap.ghosts[: imap.num_ghosts], imap.ghosts)  # V's ghosts come first
        self.nV = self.n + imap.num_ghosts
        # Columns transported: c_E, c_M, or with growth by room cycling E, M and ready E, M;
        # a column moves with its phenotype's coefficients.
        self.by_room = params.crowded_growth
        self.ncol = 4 if self.by_room else 2
        self.kmap = np.array([0, 1, 0, 1][: self.ncol])
        self.ready: tuple[fem.Function, fem.Function] | None = None
        if self.by_room:  # the ready fraction of each density (0 where there is none)
            self.ready = (fem.Function(V, name="ready_E"), fem.Function(V, name="ready_M"))
        self._c = dolfinx.la.vector(cmap, bs=self.ncol)
        self._cL = dolfinx.la.vector(cmap, bs=self.ncol)
        self._R_ = dolfinx.la.vector(cmap, bs=2 * self.ncol)  # (R+ per column, R- per column)
        self.crowded = params.crowded_transport
        self._g = dolfinx.la.vector(cmap)  # crowding: the room factor on the column map
        # Where the density is: rows outside every sub-step's reach of it have all-zero
        # patches, so their transport is exactly zero and is skipped (``_plan``).
        self._near = dolfinx.la.vector(cmap)
        self._pattern = sp.csr_matrix(
            (np.ones(len(self.cols)), self.cols, self.indptr), shape=K.shape
        )
        self.a = np.zeros((len(K.data), 2))  # a_ij and a_ji at ij, per phenotype (crowded)
        self.at = np.zeros((len(K.data), 2))
        self.substeps = 0
        # This rank's share (owned dofs) of the mass, in cells x h_ref^d per unit volume
        # integrated: born by growth, and added back by the clip at zero (round-off).
        self.stats = {"born": 0.0, "clip_removed": 0.0, "floored": 0.0}
        self.limited = (
            0.0  # fraction of non-zero antidiffusive fluxes cut by the limiter (last step)
        )

    def _operators(self, w: fem.Function) -> float:
        """Assemble L_k for the current w; return the positivity bound min m_i / L_ii."""
        self._w.x.array[:] = w.x.array
        self._w.x.scatter_forward()
        K = self._K.csr.data
        T, Tt = self._T.assemble(), self._Tt.assemble()
        bound = np.inf
        for k in range(2):
            a = self.D[k] * K - self.Phi[k] * T
            at = self.D[k] * K - self.Phi[k] * Tt  # a_ji at the position of a_ij
            d = np.where(self.offd, np.maximum(0.0, np.maximum(a, at)), 0.0)
            Ld = a - d
            Ld[self.diag] += np.add.reduceat(d, self.indptr[:-1])  # zero row sums of Dart
            self.L[k].data[:] = Ld
            self.d[:, k] = d
            diag = Ld[self.diag]
            if self.crowded:
                self.a[:, k], self.at[:, k] = a, at
                # For any g in [0, 1]: d'_ij - a'_ji <= max(a_ij, 0) + max(-a_ji, 0).
                b = np.where(self.offd, np.maximum(a, 0.0) + np.maximum(-at, 0.0), 0.0)
                diag = np.add.reduceat(b, self.indptr[:-1])
            rate = float(np.max(diag / self.m, initial=0.0))  # L_ii <= 0: no constraint
            if rate > 0.0:
                bound = min(bound, 1.0 / rate)
        return self.comm.allreduce(bound, op=MPI.MIN)

    def step(
        self,
        w: fem.Function,
        source_E: np.ndarray | None = None,
        source_M: np.ndarray | None = None,
        grow: np.ndarray | None = None,
        occupied: np.ndarray | None = None,
        speed: np.ndarray | None = None,
    ) -> None:
        """Advance c_E, c_M by dt; sources per dof (owned or owned+ghost), per unit time;
        ``grow``: where cells may divide (bool per dof, default everywhere); ``occupied``:
        density of cells that take room but neither move nor divide; ``speed``: a factor on the
        growth rate per dof (recruited niche cells, solver/fields/recruits.py).
        """
        bound = self._operators(w)
        ns = (
            1
            if not np.isfinite(bound)
            else max(1, math.ceil(self.dt / (self.safety * bound) - 1e-12))
        )
        self.substeps = ns
        tau = self.dt / ns
        src = [
            None if s is None else np.asarray(s, dtype=float)[: self.n]
            for s in (source_E, source_M)
        ]
        self._grow = None if grow is None else np.asarray(grow, dtype=bool)[: self.n]
        self._occupied = None if occupied is None else np.asarray(occupied, dtype=float)[: self.n]
        self._speed = None if speed is None else np.asarray(speed, dtype=float)[: self.n]
        c = self._c.array.reshape(-1, self.ncol)
        for k in range(2):
            c[: self.n, k] = self.c[k].x.array[: self.n]
        if self.ready is not None:  # split: other processes changed c_E, c_M in proportion
            for k in range(2):
                c[: self.n, 2 + k] = c[: self.n, k] * self.ready[k].x.array[: self.n]
                c[: self.n, k] -= c[: self.n, 2 + k]
        self._c.scatter_forward()
        self._plan(ns, src)
        counts = np.zeros(2)
        for _ in range(ns):
            counts += self._transport(tau)
            if self.by_room:
                self._react_room(tau, src)
            else:
                self._react(tau, src)
            self._c.scatter_forward()
        tiny = (c[: self.n] < self.FLOOR) & (c[: self.n] > 0.0)
        if tiny.any():
            self.stats["floored"] += float(self.m @ np.where(tiny, c[: self.n], 0.0).sum(axis=1))
            c[: self.n][tiny] = 0.0
        self._c.scatter_forward()
        for k in range(2):
            self.c[k].x.array[:] = c[: self.nV, k]  # ghosts included: V's ghosts are a prefix
        if self.ready is not None:
            for k in range(2):
                total = c[: self.nV, k] + c[: self.nV, 2 + k]
                self.c[k].x.array[:] = total
                self.ready[k].x.array[:] = np.divide(
                    c[: self.nV, 2 + k], total, out=np.zeros(self.nV), where=total > 0.0
                )
        tot = self.comm.allreduce(counts, op=MPI.SUM)
        self.limited = float(tot[0] / tot[1]) if tot[1] > 0 else 0.0

    def _plan(self, ns: int, src) -> None:
        """The rows a step of ``ns`` sub-steps can change: those within ns + 1 rings (of the
        matrix's pattern) of a dof with cells or a source: ``_R`` (the rows), ``_E`` (their
        entries) and ``_starts`` (each row's first entry in ``_E``); slices, no copies, when
        that is most rows.
        Skipping the others changes nothing: their patches hold no cells all step, so every
        flux into or out of them is zero. The same rows on any partition (collective).
        """
        n = self.n
        near = self._near.array
        c = self._c.array.reshape(-1, self.ncol)
        near[:] = c.max(axis=1) > 0.0
        for s_ in src:
            if s_ is not None:
                near[:n] = np.maximum(near[:n], s_ != 0.0)
        self._near.scatter_forward()
        for _ in range(ns + 1):
            near[:n] = (self._pattern @ near) > 0.0
            self._near.scatter_forward()
        act = np.flatnonzero(near[:n])
        if len(act) == 0:  # no cell near this rank's rows: one of them (its result is zero)
            act = np.zeros(min(n, 1), dtype=np.int64)
        if len(act) > self.restrict * n:  # most rows: the whole arrays, as views
            self._R: slice | np.ndarray = slice(0, n)
            self._E: slice | np.ndarray = slice(None)
            self._starts = self.indptr[:-1]
            self._L = self.L
            return
        lens = np.diff(self.indptr)[act]
        self._starts = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(self.indptr.dtype)
        self._E = np.repeat(self.indptr[act] - self._starts, lens) + np.arange(lens.sum())
        self._R = act
        self._L = [L[act] for L in self.L]
        # Rows not updated keep no cells and no limiter: c^L = 0 and R = 1 there.
        self._cL.array[:] = 0.0
        self._R_.array[:] = 1.0

    def _transport(self, tau: float) -> np.ndarray:
        """One FCT sub-step for both phenotypes (columns of the (dofs, 2) arrays), on the
        rows of ``_plan``.
        """
        R, E, starts = self._R, self._E, self._starts
        rows, cols, offd = self.rows[E], self.cols[E], self.offd[E]
        mt = (tau / self.m[R])[:, None]
        c = self._c.array.reshape(-1, self.ncol)
        cL = self._cL.array.reshape(-1, self.ncol)
        ci, cj = np.take(c, rows, axis=0), np.take(c, cols, axis=0)
        if self.crowded:
            d = self._crowded(c, rows, cols, offd, E)
            # Low order: m_i dc_i/dt = sum_j ((d_ij - a'_ij) c_j + (a'_ji - d_ij) c_i).
            flow = np.where(offd[:, None], (d - self._ab) * cj + (self._atb - d) * ci, 0.0)
            cL[R] = c[R] + mt * np.add.reduceat(flow, starts)
        else:
            d = (self.d if self.ncol == 2 else self.d[:, self.kmap])[E]
            cL[R] = c[R] - mt * np.column_stack(
                [self._L[k] @ c[:, j] for j, k in enumerate(self.kmap)]
            )
        self._cL.scatter_forward()
        # Raw antidiffusive fluxes f_ij = d_ij (c_i - c_j) = -f_ji (np.take: faster than 2D
        # fancy indexing).
        f = d * (ci - cj)
        nb = np.take(cL, cols, axis=0)  # bounds: c^L over each node's patch (itself included)
        P = (
            np.add.reduceat(np.maximum(f, 0.0), starts),
            np.add.reduceat(np.minimum(f, 0.0), starts),
        )
        Qb = (np.maximum.reduceat(nb, starts) - cL[R], np.minimum.reduceat(nb, starts) - cL[R])
        Rl = self._R_.array.reshape(-1, 2, self.ncol)  # [:, 0] = R+, [:, 1] = R-
        for s in range(2):
            r = np.ones_like(Qb[s])
            with np.errstate(over="ignore"):  # |P| tiny: R = inf, clipped to 1 below
                np.divide(Qb[s], mt * P[s], out=r, where=P[s] != 0.0)
            Rl[R, s] = np.minimum(r, 1.0)
        self._R_.scatter_forward()
        Rp, Rm = Rl[:, 0], Rl[:, 1]
        # Symmetric alpha_ij = alpha_ji keeps the limited fluxes conservative.
        Rpi, Rmi = np.take(Rp, rows, axis=0), np.take(Rm, rows, axis=0)
        Rpj, Rmj = np.take(Rp, cols, axis=0), np.take(Rm, cols, axis=0)
        alpha = np.where(f > 0, np.minimum(Rpi, Rmj), np.minimum(Rmi, Rpj))
        # max(., 0) only removes round-off below zero (the bounds are >= 0): counted, not hidden.
        new = cL[R] + mt * np.add.reduceat(alpha * f, starts)
        self.stats["clip_removed"] += float(self.m[R] @ np.maximum(-new, 0.0).sum(axis=1))
        c[R] = np.maximum(new, 0.0)
        nz = f != 0.0
        return np.array([np.count_nonzero(nz & (alpha < 1.0 - 1e-12)), np.count_nonzero(nz)])

    def _crowded(self, c: np.ndarray, rows, cols, offd, E) -> np.ndarray:
        """The blocked coefficients a'_ij = a_ij g_i (j into i), a'_ji = a_ji g_j (i into j)
        at each ij (kept for the low-order flow) and their artificial diffusion d'_ij, with
        g = min(max(Q - S, 0), 1): the chance that a place at mean density S has room, when
        its count is as even as it can be (full only for S above Q - 1).
        """
        n = self.n
        S = c[:n].sum(axis=1)
        if self._occupied is not None:
            S = S + self._occupied
        self._g.array[:n] = np.clip(self.Q - S, 0.0, 1.0)
        self._g.scatter_forward()
        g = self._g.array
        a, at = (
            (self.a[E], self.at[E])
            if self.ncol == 2
            else (self.a[E][:, self.kmap], self.at[E][:, self.kmap])
        )
        self._ab = a * np.take(g, rows)[:, None]
        self._atb = at * np.take(g, cols)[:, None]
        return np.where(offd[:, None], np.maximum(0.0, np.maximum(self._ab, self._atb)), 0.0)

    def _react(self, tau: float, src) -> None:
        n = self.n
        c = self._c.array.reshape(-1, 2).T
        S = c[0][:n] + c[1][:n]
        if self._occupied is not None:
            S = S + self._occupied
        for k in range(2):
            a: float | np.ndarray = tau * self.r[k]
            if self._speed is not None and a != 0.0:
                a = a * self._speed  # niche cells raise the growth rate (recruits.py)
            if self._grow is not None and np.any(a != 0.0):
                a = np.where(self._grow, a, 0.0)  # hypoxic arrest: no division, no crowding term
            if np.any(a != 0.0) or src[k] is not None:
                num = c[k][:n] * (1.0 + a)
                if src[k] is not None:
                    num = num + tau * src[k]
                # Patankar-type: positive for s >= 0; a negative source cannot remove more than
                # is there
                new = num / (1.0 + a * S / self.Q)
                self.stats["clip_removed"] += float(self.m @ np.maximum(-new, 0.0))
                new = np.maximum(new, 0.0)
                # Growth, crowding and sources.
                self.stats["born"] += float(self.m @ (new - c[k][:n]))
                c[k][:n] = new

    def _react_room(self, tau: float, src) -> None:
        """Growth by room over one sub-step (room_growth.step) and the sources: newcomers
        join the cycling cells; a negative source takes cycling and ready cells in proportion,
        never more than is there (the rest is counted in ``clip_removed``).
        """
        n, m = self.n, self.m
        c = self._c.array.reshape(-1, 4)
        cyc, ready = c[:n, :2], c[:n, 2:]
        before = float(m @ c[:n].sum(axis=1))
        for k in range(2):
            if src[k] is None:
                continue
            s = tau * src[k]
            cyc[:, k] += np.maximum(s, 0.0)
            total = cyc[:, k] + ready[:, k]
            left = total + np.minimum(s, 0.0)
            self.stats["clip_removed"] += float(m @ np.maximum(-left, 0.0))
            keep = np.divide(np.maximum(left, 0.0), total, out=np.zeros(n), where=total > 0.0)
            cyc[:, k] *= keep
            ready[:, k] *= keep
        rates = np.array(self.r, dtype=float)
        room_growth.step(
            cyc,
            ready,
            tau * rates,
            self.Q,
            grow=self._grow,
            occupied=self._occupied,
            speed=self._speed,
        )
        self.stats["born"] += float(m @ c[:n].sum(axis=1)) - before
