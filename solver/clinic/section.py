"""An organ's cells and soil at one time, as a scanner needs them: the P1 nodes of its mesh
in millimetres, each with its share of the domain (the lumped mass), the tumour cells there
as a fraction of the packed density, whether they are hypoxic and how perfused the tissue is.

The same state comes from a running organ (``Organ.section``: the owned dofs of every rank,
gathered) and from a run's output (``seedsoil image``: the vertices of fields.xdmf), so both
go through ``from_fields``, the one place that says what each field means to a scanner:

- tumour: (c_E + c_M + d_E + d_M) / Q, the densities over the packed one (cells.capacity);
- hypoxic: o < oxygen.hypoxia, where the run has oxygen;
- vessels: (b0 (1 - regression min(c / Q, 1)) + b) / b0, the perfusion the oxygen equation
  supplies, relative to the healthy organ's b0, where the run has oxygen.

Nodes are kept in one canonical order (sorted by coordinates), so that the images, which sum
over nodes, are the same to the last bit on any rank count and from the output files.

A 2D run is a section through tissue: it is imaged as uniform through the slice
(``Section.tissue`` extrudes it across the grid's z), on an image one voxel thick.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from solver import config
from solver.clinic.tissue import NO_HYPOXIA, NO_VESSELS, Grid, Tissue, from_density
from solver.fields.equations import OxygenEquation

__all__ = ["DENSITIES", "SLICE_2D", "Section", "from_fields", "vertex_volumes"]

Array = NDArray[np.float64]

DENSITIES = ("c_E", "c_M", "d_E", "d_M")  # the cells' densities, cells per h_ref^d
SLICE_2D = "2D run: the section imaged as uniform through the slice thickness"


@dataclass(frozen=True)
class Section:
    """An organ at one time on the nodes of its mesh (see the module's note).

    Attributes:
        points_mm: Node coordinates, n x 3 (z = 0 in 2D), canonical order.
        volumes: Each node's share of the domain: mm^3 in 3D, mm^2 in 2D.
        tumour: Tumour cells at each node as a fraction of the packed density.
        hypoxic: 1 where the cells are hypoxic, else 0; None: the run has no oxygen.
        vessels: Perfusion relative to the healthy organ; None: the run has no oxygen.
        dim: 2 or 3.
    """

    points_mm: Array
    volumes: Array
    tumour: Array
    hypoxic: Array | None
    vessels: Array | None
    dim: int

    @property
    def bounds_mm(self) -> tuple[Array, Array]:
        """Lowest and highest node coordinates per axis."""
        return self.points_mm.min(axis=0), self.points_mm.max(axis=0)

    @property
    def centre_mm(self) -> Array:
        """Centre of the domain's bounding box."""
        lo, hi = self.bounds_mm
        return 0.5 * (lo + hi)

    @property
    def assumed(self) -> tuple[str, ...]:
        """What the image models assume for what the run did not model (for the manifest)."""
        return (
            (NO_HYPOXIA,) * (self.hypoxic is None)
            + (NO_VESSELS,) * (self.vessels is None)
            + (SLICE_2D,) * (self.dim == 2)
        )

    @property
    def tumour_volume(self) -> float:
        """Volume of the tumour cells packed: mm^3 (2D: mm^2 of the section)."""
        return float(self.volumes @ self.tumour)

    def tissue(self, grid: Grid) -> Tissue:
        """The section binned onto a grid; in 2D the same section at every z of the grid."""
        p, vol = self.points_mm, self.volumes
        if self.dim == 2:
            z = grid.centres(2)
            p = np.concatenate([np.c_[p[:, :2], np.full(len(p), zk)] for zk in z])
            vol = np.tile(vol * grid.spacing_mm[2], len(z))
        reps = len(p) // len(self.points_mm)

        def tile(a: Array | None) -> Array | None:
            return None if a is None else np.tile(a, reps)

        t = from_density(
            grid,
            p,
            vol,
            np.tile(self.tumour, reps),
            hypoxic=tile(self.hypoxic),
            vessels=tile(self.vessels),
        )
        return Tissue(t.grid, t.tumour, t.hypoxic, t.vessels, self.assumed)


def from_fields(
    points: Array,
    volumes: Array,
    fields: Mapping[str, Array],
    *,
    dim: int,
    mm: float,
    cells: config.CellsSpec,
    oxygen: config.OxygenSpec | None,
) -> Section:
    """A section from P1 field values at nodes (model units).

    Args:
        points: Node coordinates (n x 2 or n x 3), model units.
        volumes: Lumped mass of each node, model units^dim.
        fields: Field name -> value at each node: the cells' densities (cells per h_ref^d),
            and o and b where the run has oxygen.
        dim: The mesh's dimension.
        mm: Millimetres per model length unit.
        cells: The case's cells (the packed density Q = cells.capacity(dim)).
        oxygen: The organ's oxygen parameters where the run has oxygen, else None.
    """
    n = len(volumes)
    xyz = np.zeros((n, 3))
    xyz[:, :dim] = np.asarray(points, float)[:, :dim] * mm
    q = cells.capacity(dim)
    c = sum((np.asarray(fields[k], float) for k in DENSITIES if k in fields), np.zeros(n))
    hypoxic = vessels = None
    if oxygen is not None and "o" in fields:
        hypoxic = (np.asarray(fields["o"], float) < oxygen.hypoxia).astype(float)
        if oxygen.b0 > 0.0:
            b = np.asarray(fields["b"], float) if "b" in fields else np.zeros(n)
            vessels = OxygenEquation.of(oxygen, q).perfusion(c, b) / oxygen.b0
    order = np.lexsort(xyz.T[::-1])

    def pick(a: Array | None) -> Array | None:
        return None if a is None else np.ascontiguousarray(a[order])

    return Section(
        points_mm=xyz[order],
        volumes=np.asarray(volumes, float)[order] * mm**dim,
        tumour=c[order] / q,
        hypoxic=pick(hypoxic),
        vessels=pick(vessels),
        dim=dim,
    )


def vertex_volumes(points: Array, cells: NDArray[np.int64], dim: int) -> Array:
    """The lumped P1 mass of each vertex of a simplex mesh: each simplex gives 1 / (d + 1) of
    its volume to each of its vertices (what the solver's lumped mass holds).
    """
    x = np.asarray(points, float)[:, :dim]
    e = x[cells[:, 1:]] - x[cells[:, :1]]
    vol = np.abs(np.linalg.det(e)) / (2.0 if dim == 2 else 6.0)
    return np.bincount(cells.ravel(), np.repeat(vol / (dim + 1), dim + 1), len(x))
