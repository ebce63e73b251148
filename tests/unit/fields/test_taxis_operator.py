"""TaxisOperator (solver/fields/taxis_operator.py): T and T^T by numpy, on all rows or on
chosen ones, against dolfinx's assembly of the forms, on unstructured (Gmsh) meshes in 2D
and 3D. Comm-agnostic: the wanted rows are chosen by coordinates, the same on every rank.
"""

import functools

import dolfinx.fem as fem
import numpy as np
import pytest
import ufl
from mpi4py import MPI

from solver import config, geometry
from solver.fields.taxis_operator import TaxisOperator

COMM = MPI.COMM_WORLD
pytestmark = pytest.mark.parallel


@functools.cache
def space(dim):
    """A P1 space on a small Gmsh organ block (graded, vessel holes: unstructured)."""
    size, h, h_fine, r = ([1.0, 0.8], 0.08, 0.04, 0.1) if dim == 2 else ([1.0] * 3, 0.3, 0.2, 0.2)
    geo = config.GeometrySpec(
        dim=dim,
        size=size,
        h=h,
        h_fine=h_fine,
        tumour_radius=r,
        vessel_radius=0.08,
        normal_vessels=1,
        ruptured_vessels=1,
        vessel_min_distance=0.1 if dim == 2 else 0.05,
        vessel_seed=3,
    )
    return fem.functionspace(geometry.build(geo, COMM).mesh, ("Lagrange", 1))


def reference(V, w):
    """T and T^T by dolfinx (owned rows, ghost rows added to their owners)."""
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    gw = ufl.grad(w)
    out = []
    for a in (u * ufl.inner(gw, ufl.grad(v)) * ufl.dx, v * ufl.inner(gw, ufl.grad(u)) * ufl.dx):
        form = fem.form(a)
        A = fem.create_matrix(form)
        fem.assemble_matrix(A, form)
        A.scatter_reverse()
        out.append(A.to_scipy())
    return out


def gmax(x):
    return COMM.allreduce(float(np.max(np.abs(x), initial=0.0)), op=MPI.MAX)


@pytest.mark.parametrize("dim", [2, 3])
def test_taxis_matrices_match_dolfinx_on_all_rows_and_on_chosen_ones(dim):
    V = space(dim)
    w = fem.Function(V)
    w.interpolate(lambda x: np.sin(5 * x[0]) * np.cos(3 * x[1]) + x[0] ** 2 + 0.3 * x[dim - 1])
    T_ref, Tt_ref = reference(V, w)
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    op = TaxisOperator(V, fem.form(ufl.inner(ufl.grad(u), ufl.grad(v)) * ufl.dx))
    assert np.array_equal(op.indptr[: op.n + 1], T_ref.indptr)
    assert np.array_equal(op.mats[0].indices[: op.nnz_owned], T_ref.indices)
    scale = gmax(T_ref.data)
    assert scale > 0.0
    T, Tt = (x.copy() for x in op.assemble(w.x.array))
    assert gmax(T - T_ref.data) <= 1e-13 * scale and gmax(Tt - Tt_ref.data) <= 1e-13 * scale
    assert gmax(Tt - T) > 0.1 * scale  # T^T is not T: a_ji really is at ij
    # Rows in a ball, chosen by coordinates on every rank that holds them (owned or ghost).
    X = V.tabulate_dof_coordinates()
    rows = np.flatnonzero(np.linalg.norm(X[:, :dim] - 0.5, axis=1) < 0.3)
    n = op.n
    owned = rows[rows < n]
    assert COMM.allreduce(len(owned), op=MPI.SUM) < 0.5 * V.dofmap.index_map.size_global
    w.interpolate(lambda x: np.cos(4 * x[1]) * (1 + x[0]))  # a new w: nothing left over
    T_ref, Tt_ref = reference(V, w)
    sub = [x.copy() for x in op.assemble(w.x.array, rows)]
    full = [x.copy() for x in op.assemble(w.x.array)]
    for part, whole, ref in zip(sub, full, (T_ref, Tt_ref)):
        E = np.concatenate([np.arange(ref.indptr[i], ref.indptr[i + 1]) for i in owned] + [[]])
        E = E.astype(np.int64)
        assert gmax(part[E] - ref.data[E]) <= 1e-13 * scale
        assert np.array_equal(part[E], whole[E])  # the same bits on a subset
        assert gmax(part[E]) > 0.1 * scale
