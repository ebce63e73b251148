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

Where the cells are: each sub-step moves density by at most one ring of dofs, so a step's
work is done only on the rows within ns + 1 rings of a dof with cells or a source
(``_plan``): the taxis matrices (by numpy on the elements touching those rows,
solver/fields/taxis_operator.py), the low-order operators, the positivity bound, the
transport and the growth. The others' patches hold nothing all step, and their result is
exactly zero: the same bits as on every row. The bound is taken over those rows only,
which settles its circularity (the rows depend on ns, ns on the bound) by a rule of the
mesh and the density alone: ns is the smallest n >= 1 whose sub-step dt / n is below
``safety`` x min m_i / L_ii over the rows within n + 1 rings. That keeps positivity: the
low-order update of a row is a convex combination when tau <= m_i / L_ii, and is
non-negative without it where c_i = 0 (L_ij <= 0 off the diagonal); a row holds density at
the start of a sub-step only within ns - 1 rings of the cells, inside the rows bounded.
A steep ECM far from every cell thus no longer shortens the sub-steps (before, the bound
was over every row, so results differ from then by more than round-off where that ECM
set it). Because an explicit scheme spreads every density a ring per sub-step at
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
columns after scatter_reverse); a_ji for ghost columns is the transposed taxis matrix at
ij, which has the same sparsity pattern. The ring distances are ghost-updated ring by ring,
so the rows and ns are the same on any partition. Nodal values needed on neighbours (c, c^L, R+-)
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
from solver.fields.taxis_operator import TaxisOperator


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

    # Rows far from every cell are skipped when on every rank at most this fraction of the
    # rows is near one (``_plan``); 0 never skips, 1 always does: the results are the same
    # (the sub-steps follow the same rule either way).
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
        self._w = fem.Function(V)  # w with its ghosts up to date
        self._K = _CSR(ufl.inner(ufl.grad(u), ufl.grad(v)) * ufl.dx)  # w-independent: once
        # T_ij = int phi_j grad w . grad phi_i and T^T (T_ji at ij, also for ghost j), on the
        # rows near cells only (solver/fields/taxis_operator.py)
        self.taxis = TaxisOperator(V, self._K.form)
        K = self._K.csr
        assert np.array_equal(self.taxis.indptr[: self.n + 1], K.indptr)
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
        # Where the density is: each dof's distance in rings (of the matrix's pattern) from
        # the dofs with cells or a source, on the column map (``_plan``).
        self._level = dolfinx.la.vector(cmap)
        pattern = sp.csr_matrix((np.ones(len(self.cols)), self.cols, self.indptr), shape=K.shape)
        self._adjacent = pattern.T.tocsr()  # a dof -> the owned rows whose patch holds it
        self._front = np.zeros(0, dtype=np.int64)  # the dofs of the last ring reached
        self._reached = 0
        self._hint = 1  # the last step's sub-steps: where the search for ns starts (cost only)
        self.a = np.zeros((len(K.data), 2))  # a_ij and a_ji at ij, per phenotype (crowded)
        self.at = np.zeros((len(K.data), 2))
        self.substeps = 0
        self.operator_rows = 0  # owned rows whose operators the last step computed
        # This rank's share (owned dofs) of the mass, in cells x h_ref^d per unit volume
        # integrated: born by growth, and added back by the clip at zero (round-off).
        self.stats = {"born": 0.0, "clip_removed": 0.0, "floored": 0.0}
        self.limited = (
            0.0  # fraction of non-zero antidiffusive fluxes cut by the limiter (last step)
        )

    def _operators(self, rows: np.ndarray | None) -> tuple[slice | np.ndarray, np.ndarray]:
        """L_k (and d_k, a_k, a^T_k) for the current w on the owned rows among ``rows`` (local
        dofs, sorted, ghosts included; None: all rows). Returns those rows and each one's
        positivity rate max_k L_ii / m_i (crowded: the bound for every g in [0, 1]); a rate
        <= 0 sets no constraint.
        """
        T, Tt = self.taxis.assemble(self._w.x.array, rows)
        R: slice | np.ndarray
        E: slice | np.ndarray
        if rows is None:
            R, E, starts, diag = slice(0, self.n), slice(None), self.indptr[:-1], self.diag
        else:
            R = rows[: np.searchsorted(rows, self.n)]
            lens = np.diff(self.indptr)[R]
            starts = np.cumsum(lens) - lens
            E = np.repeat(self.indptr[R] - starts, lens) + np.arange(lens.sum())
            diag = self.diag[R] - self.indptr[R] + starts
        K, offd, T, Tt = self._K.csr.data[E], self.offd[E], T[E], Tt[E]
        m = self.m[R]
        self.operator_rows = len(m)
        rate = np.zeros(len(m))
        for k in range(2):
            a = self.D[k] * K - self.Phi[k] * T
            at = self.D[k] * K - self.Phi[k] * Tt  # a_ji at the position of a_ij
            d = np.where(offd, np.maximum(0.0, np.maximum(a, at)), 0.0)
            Ld = a - d
            if len(starts):
                Ld[diag] += np.add.reduceat(d, starts)  # zero row sums of Dart
            self.L[k].data[E] = Ld
            self.d[E, k] = d
            dg = Ld[diag]
            if self.crowded:
                self.a[E, k], self.at[E, k] = a, at
                # For any g in [0, 1]: d'_ij - a'_ji <= max(a_ij, 0) + max(-a_ji, 0).
                b = np.where(offd, np.maximum(a, 0.0) + np.maximum(-at, 0.0), 0.0)
                dg = np.add.reduceat(b, starts) if len(starts) else dg
            rate = dg / m if k == 0 else np.maximum(rate, dg / m)
        return R, rate

    def _substeps(self, rate: float) -> int:
        """Sub-steps of dt below ``safety`` x the positivity bound 1 / rate."""
        if not rate > 0.0:
            return 1
        bound = 1.0 / rate
        return max(1, math.ceil(self.dt / (self.safety * bound) - 1e-12))

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
        self._w.x.array[:] = w.x.array
        self._w.x.scatter_forward()
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
        ns = self._plan(src)
        self.substeps = ns
        tau = self.dt / ns
        counts = np.zeros(2)
        for _ in range(ns):
            counts += self._transport(tau)
            if self.by_room:
                self._react_room(tau, src)
            else:
                self._react(tau, src)
            self._c.scatter_forward()
        R = self._R  # the other rows hold nothing
        cR = c[R]
        tiny = (cR < self.FLOOR) & (cR > 0.0)
        if tiny.any():
            self.stats["floored"] += float(self.m[R] @ np.where(tiny, cR, 0.0).sum(axis=1))
            cR[tiny] = 0.0
            c[R] = cR
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

    def _plan(self, src) -> int:
        """The step's sub-steps ns and the rows it can change: those within ns + 1 rings (of
        the matrix's pattern) of a dof with cells or a source: ``_R`` (the rows), ``_E``
        (their entries) and ``_starts`` (each row's first entry in ``_E``); slices, no copies,
        when that is most rows. The operators are computed on those rows only.

        ns is the smallest n >= 1 whose sub-step dt / n is below ``safety`` x the positivity
        bound of the rows within n + 1 rings: a rule of the mesh and the density alone, the
        same on any partition and whatever ``_hint`` (it only saves work). The search
        computes the operators on the rings within the last step's ns + 2 and recomputes
        them on more rings when ns needs more.

        Skipping the other rows changes nothing: the density spreads by at most one ring per
        sub-step, so their patches hold no cells all step and every flux into or out of
        them is zero; and positivity needs the bound only where a row holds density at the
        start of a sub-step, within ns - 1 rings. Collective.
        """
        n = self.n
        lev = self._level.array
        lev[:] = np.inf
        c = self._c.array.reshape(-1, self.ncol)
        seed = c[:n, 0] > 0.0  # column by column: a max along the short axis is slow
        for j in range(1, self.ncol):
            seed |= c[:n, j] > 0.0
        for s_ in src:
            if s_ is not None:
                seed |= s_ != 0.0
        lev[:n][seed] = 0.0
        self._level.scatter_forward()
        self._front, self._reached = np.flatnonzero(lev == 0.0), 0
        K = max(self._hint, 1) + 1
        while True:
            self._rings(K + 1)
            # Most rows near cells on some rank: whole arrays (the same bits, less indexing).
            near = max(int(np.count_nonzero(lev[:n] <= K + 1)), 1)
            whole = self.comm.allreduce(near > self.restrict * n, op=MPI.LOR)
            rows = None if whole else np.flatnonzero(lev[: self.nV] <= K + 1)
            R, rate = self._operators(rows)
            ring = lev[R]
            inside = ring <= K + 1
            top = np.zeros(K + 2)  # the largest rate at each ring
            np.maximum.at(top, ring[inside].astype(np.int64), rate[inside])
            self.comm.Allreduce(MPI.IN_PLACE, top, op=MPI.MAX)
            top = np.maximum.accumulate(top)  # within each number of rings
            ns = next((k for k in range(1, K + 1) if self._substeps(top[k + 1]) <= k), 0)
            if ns:
                ns = self._substeps(top[ns + 1])
                break
            K = max(self._substeps(top[K + 1]), K + 1)  # more rings: recompute
        self._hint = ns
        act = np.flatnonzero(lev[:n] <= ns + 1) if not whole else None
        if act is not None and len(act) == 0:  # nothing near: one row (its result is zero)
            act = np.zeros(min(n, 1), dtype=np.int64)
        if act is None:  # whole arrays, as views
            self._R: slice | np.ndarray = slice(0, n)
            self._E: slice | np.ndarray = slice(None)
            self._starts = self.indptr[:-1]
            self._L = self.L
            return ns
        lens = np.diff(self.indptr)[act]
        self._starts = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(self.indptr.dtype)
        self._E = np.repeat(self.indptr[act] - self._starts, lens) + np.arange(lens.sum())
        self._R = act
        self._L = [L[act] for L in self.L]
        # Rows not updated keep no cells and no limiter: c^L = 0 and R = 1 there.
        self._cL.array[:] = 0.0
        self._R_.array[:] = 1.0
        return ns

    def _rings(self, upto: int) -> None:
        """Extend the ring distances in ``_level`` to ``upto`` rings (breadth first from the
        last ring reached; one ghost update per ring). Collective.
        """
        lev, n = self._level.array, self.n
        for ring in range(self._reached + 1, upto + 1):
            cand = self._adjacent[self._front].indices
            new = np.unique(cand[lev[cand] > ring])
            lev[new] = ring
            self._level.scatter_forward()
            self._front = np.concatenate([new, n + np.flatnonzero(lev[n:] == ring)])
        self._reached = max(self._reached, upto)

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

    def _local(self, x: np.ndarray | None) -> np.ndarray | None:
        """A per-dof array on the step's rows (``_R``)."""
        return None if x is None else x[self._R]

    def _react(self, tau: float, src) -> None:
        """Growth and sources (Patankar) on the step's rows: the others hold no cells and
        no source, and would stay zero.
        """
        R = self._R
        cR = self._c.array.reshape(-1, 2)[R]
        c = cR.T
        m, speed, grow, occupied = (
            self.m[R],
            *map(self._local, (self._speed, self._grow, self._occupied)),
        )
        S = c[0] + c[1]
        if occupied is not None:
            S = S + occupied
        for k in range(2):
            a: float | np.ndarray = tau * self.r[k]
            if speed is not None and a != 0.0:
                a = a * speed  # niche cells raise the growth rate (recruits.py)
            if grow is not None and np.any(a != 0.0):
                a = np.where(grow, a, 0.0)  # hypoxic arrest: no division, no crowding term
            if np.any(a != 0.0) or src[k] is not None:
                num = c[k] * (1.0 + a)
                if src[k] is not None:
                    num = num + tau * src[k][R]
                # Patankar-type: positive for s >= 0; a negative source cannot remove more than
                # is there
                new = num / (1.0 + a * S / self.Q)
                self.stats["clip_removed"] += float(m @ np.maximum(-new, 0.0))
                new = np.maximum(new, 0.0)
                # Growth, crowding and sources.
                self.stats["born"] += float(m @ (new - c[k]))
                c[k] = new
        self._c.array.reshape(-1, 2)[R] = cR

    def _react_room(self, tau: float, src) -> None:
        """Growth by room over one sub-step (room_growth.step) and the sources, on the step's
        rows (the others hold no cells and no source): newcomers join the cycling cells; a
        negative source takes cycling and ready cells in proportion, never more than is there
        (the rest is counted in ``clip_removed``).
        """
        R = self._R
        m = self.m[R]
        cR = self._c.array.reshape(-1, 4)[R]
        cyc, ready = cR[:, :2], cR[:, 2:]
        before = float(m @ cR.sum(axis=1))
        for k in range(2):
            if src[k] is None:
                continue
            s = tau * src[k][R]
            cyc[:, k] += np.maximum(s, 0.0)
            total = cyc[:, k] + ready[:, k]
            left = total + np.minimum(s, 0.0)
            self.stats["clip_removed"] += float(m @ np.maximum(-left, 0.0))
            keep = np.divide(np.maximum(left, 0.0), total, out=np.zeros(len(m)), where=total > 0.0)
            cyc[:, k] *= keep
            ready[:, k] *= keep
        rates = np.array(self.r, dtype=float)
        room_growth.step(
            cyc,
            ready,
            tau * rates,
            self.Q,
            grow=self._local(self._grow),
            occupied=self._local(self._occupied),
            speed=self._local(self._speed),
        )
        self.stats["born"] += float(m @ cR.sum(axis=1)) - before
        self._c.array.reshape(-1, 4)[R] = cR
