"""The continuum's taxis matrices on chosen rows, by numpy instead of a dolfinx assembly
(solver/fields/continuum.py, docs/numerics.md section 6).

The continuum density's transport needs T_ij = int phi_j grad w . grad phi_i and its
transpose at every step, because the ECM w changes every step; the density lives only near
the cells, so only the rows near them are needed. For P1 on simplices grad w and
grad phi_i are constant on an element e and int_e phi_j = vol_e / (d + 1) for each of its
vertices j, so

    T_ij = sum over the elements e holding i and j of t_e,i,
    t_e,i = vol_e / (d + 1) grad w_e . grad phi_i^e,

the same t_e,i for every j of e. The geometry (the barycentric gradients and volumes of this
rank's owned elements) and, for each contribution, its position in the MatrixCSR's data are
fixed once per mesh; a step computes t only on the elements that touch the wanted rows and
sums it into those rows' entries with a fixed 0/1 matrix (T: t_e,i at each (i, j) of e;
T^T: T at (j, i), the entry a_ji needs at the position of a_ij, also for ghost j).
Every entry is summed over its elements in the same (element) order whatever rows are
wanted, so a row comes out with the same bits on any subset that includes it. Memory:
the 0/1 matrix holds (d + 1)^2 entries per element at 5 bytes each (45 B per triangle,
80 B per tetrahedron), the geometry d (d + 1) + 1 floats per element.

Parallel: as dolfinx's assembly, owned elements only, then the ghost rows' sums are added to
their owners by the matrix's scatter_reverse. A caller must want a row on every rank that
holds it (owned or ghost): the rows come from a ghost-updated vector.
"""

from __future__ import annotations

import dolfinx.fem as fem
import numpy as np
import scipy.sparse as sp


class TaxisOperator:
    """T and T^T (as ``data`` arrays of a MatrixCSR with the P1 pattern) on chosen rows."""

    def __init__(self, V: fem.FunctionSpace, form: fem.Form):
        """Args:
        V: the P1 space on a simplex mesh (geometry of the same dimension as the mesh).
        form: any compiled bilinear form on V x V over the cells (its matrix's pattern, the
            P1 pattern, is the layout of the result).
        """
        msh = V.mesh
        tdim = msh.topology.dim
        if msh.geometry.dim != tdim and not np.allclose(msh.geometry.x[:, tdim:], 0.0):
            raise ValueError("TaxisOperator: a mesh embedded in a higher dimension")
        self.d = tdim
        nv = tdim + 1
        self.mats = (fem.create_matrix(form), fem.create_matrix(form))  # T, T^T
        mat = self.mats[0]
        self.indptr = np.asarray(mat.indptr, dtype=np.int64)
        indices = np.asarray(mat.indices, dtype=np.int64)
        rmap = mat.index_map(0)
        self.n = rmap.size_local
        self.n_rows = rmap.size_local + rmap.num_ghosts  # owned + ghost rows
        self.nnz_owned = int(self.indptr[self.n])
        ncols = mat.index_map(1).size_local + mat.index_map(1).num_ghosts
        n_cells = msh.topology.index_map(tdim).size_local  # owned elements, as dolfinx assembles
        self.dofs = np.asarray(V.dofmap.list[:n_cells], dtype=np.int64)
        X = V.tabulate_dof_coordinates()[:, :tdim]
        # Barycentric gradients: row a of J^-1 for a = 1..d, minus their sum for a = 0.
        J = np.stack([X[self.dofs[:, a]] - X[self.dofs[:, 0]] for a in range(1, nv)], axis=2)
        Jinv = np.linalg.inv(J)
        self.G = np.concatenate([-Jinv.sum(axis=1, keepdims=True), Jinv], axis=1)  # (e, a, x)
        self.scale = np.abs(np.linalg.det(J)) / (np.prod(np.arange(1.0, tdim + 1)) * nv)
        # Position in the CSR data of each element's (i, j) = (dofs[e, a], dofs[e, b]).
        key = np.repeat(np.arange(self.n_rows, dtype=np.int64), np.diff(self.indptr)) * ncols
        key += indices
        order = np.argsort(key, kind="stable")
        rows = np.repeat(self.dofs, nv, axis=1)  # (e, a*nv + b) -> dofs[e, a]
        cols = np.tile(self.dofs, (1, nv))  # -> dofs[e, b]
        wanted = rows * ncols + cols
        at = np.searchsorted(key, wanted, sorter=order)
        pos = order[np.minimum(at, len(key) - 1)]
        if not np.array_equal(key[pos], wanted):
            raise ValueError("TaxisOperator: the form's pattern lacks an element's pair")
        e = np.repeat(np.arange(n_cells, dtype=np.int64), nv * nv)
        a = np.tile(np.repeat(np.arange(nv), nv), n_cells)
        # T: t_e,a at each (a, b) of e; 0/1 entries stored as bool (a copy to float is made
        # only of the rows a call takes). Sorted columns: each entry sums its elements in
        # element order on any row subset.
        self.P = sp.csr_matrix(
            (np.ones(len(e), dtype=bool), (pos.ravel(), e * nv + a)),
            shape=(len(key), n_cells * nv),
        )
        self.P.sort_indices()
        # T^T at ij is T at ji, summed over the same elements in the same order: the position
        # of (j, i) for each (i, j) (-1 where j is no local row, or ji is absent: there no
        # local element holds both, and the local sum is 0).
        row_of = key // ncols
        col_of = key - row_of * ncols
        tkey = col_of * ncols + row_of
        at = np.searchsorted(key, tkey, sorter=order)
        tpos = order[np.minimum(at, len(key) - 1)]
        self.tpos = np.where((col_of < self.n_rows) & (key[tpos] == tkey), tpos, -1)
        # The owned elements holding each local dof (owned and ghost rows).
        self.cells_of = sp.csr_matrix(
            (np.ones(self.dofs.size), (self.dofs.ravel(), np.repeat(np.arange(n_cells), nv))),
            shape=(self.n_rows, n_cells),
        )
        self.t = np.zeros(n_cells * nv)  # t_e,a of the last call's elements

    def assemble(
        self, w: np.ndarray, rows: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """T and T^T for w on the wanted rows.

        Args:
            w: w at the local dofs, ghosts up to date.
            rows: the wanted local rows (owned and ghost indices; each must be wanted on every
                rank that holds it); None: all.

        Returns:
            The owned rows' data of T and T^T in the pattern's layout (views, overwritten by
            the next call): exact, to round-off, on the wanted owned rows; the other rows'
            entries are left over from earlier calls or hold partial sums.
        """
        nv = self.d + 1
        cells: slice | np.ndarray
        if rows is None:
            cells = slice(None)
            entries: slice | np.ndarray = slice(None)
        else:
            cells = np.unique(self.cells_of[rows].indices)
            lens = self.indptr[rows + 1] - self.indptr[rows]
            first = np.cumsum(lens) - lens
            entries = np.repeat(self.indptr[rows] - first, lens) + np.arange(lens.sum())
        G, dofs = self.G[cells], self.dofs[cells]
        # Element by element, with fixed-order elementwise sums: the same bits for an element
        # whatever the other elements of the call.
        gw = w[dofs[:, 0], None] * G[:, 0]
        for a in range(1, nv):
            gw = gw + w[dofs[:, a], None] * G[:, a]
        t = G[:, :, 0] * gw[:, None, 0]
        for x in range(1, self.d):
            t = t + G[:, :, x] * gw[:, None, x]
        t = t * self.scale[cells, None]
        if rows is None:
            self.t[:] = t.ravel()
        else:
            self.t.reshape(-1, nv)[cells] = t
        tpos = self.tpos[entries]
        there = tpos >= 0
        out = []
        for mat, at in zip(self.mats, (entries, tpos[there])):
            data = mat.data
            data[self.nnz_owned :] = 0.0  # ghost rows: only this call's sums go to the owners
            if mat is self.mats[0]:
                data[entries] = (self.P if rows is None else self.P[entries]) @ self.t
            else:
                local = np.zeros(len(tpos))
                local[there] = self.P[at] @ self.t
                data[entries] = local
            mat.scatter_reverse()
            out.append(data[: self.nnz_owned])
        return out[0], out[1]
