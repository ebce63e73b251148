"""Discrete cancer cells stored as arrays (one row a cell), never one object per cell."""

from __future__ import annotations

from typing import Any

import numpy as np

EPITHELIAL, MESENCHYMAL = 0, 1
INVADING, IN_BLOOD, DORMANT, PROLIFERATING, DEAD = 0, 1, 2, 3, 4
# ``seeded_by`` of cells that were in their organ at t = 0 (the primary's initial cells, a
# case's colony): no unit of the blood seeded them. Unit ids are 64-bit hashes, so a unit
# is 0 with chance 2^-64 (docs/biopsy.md, "Lineage").
NOT_SEEDED = 0

# name -> (dtype, trailing shape); "x" gets the spatial dimension.
COLUMNS: dict[str, tuple[type[np.generic], tuple[Any, ...]]] = {
    "id": (np.uint64, ()),
    "parent": (np.uint64, ()),
    "x": (np.float64, ("dim",)),
    "host": (np.int64, ()),  # local element index on the owning rank
    "place": (np.int64, ()),  # global lattice box (the room a cell takes)
    "vertex": (np.int32, ()),  # local P1 dof whose patch holds the cell (its density)
    "phenotype": (np.int8, ()),
    "state": (np.int8, ()),
    "clock": (np.float64, ()),  # time since the last division
    # Lineage (docs/biopsy.md): the initial cell it descends from (initial cells: their own
    # id; daughters inherit it), and the unit of the blood (cluster or single cell) that
    # seeded its organ (NOT_SEEDED for cells there from the start).
    "founder": (np.uint64, ()),
    "seeded_by": (np.uint64, ()),
}
# What travels between ranks (host and vertex are local, recomputed on arrival).
PORTABLE = ("id", "parent", "x", "place", "phenotype", "state", "clock", "founder", "seeded_by")


class Population:
    """Cells as columns of arrays (``COLUMNS``), one row a cell; ``pop.x`` is a column."""

    def __init__(self, dim: int, n: int = 0):
        self.dim = dim
        self.data = {
            k: np.zeros((n,) + tuple(dim if s == "dim" else s for s in shape), dtype=dt)
            for k, (dt, shape) in COLUMNS.items()
        }

    def __len__(self) -> int:
        return len(self.data["id"])

    def __getattr__(self, name):
        try:
            return self.__dict__["data"][name]
        except KeyError:
            raise AttributeError(name) from None

    def set(self, **columns):
        """Replace the given columns (converted to their dtypes)."""
        for k, v in columns.items():
            self.data[k] = np.ascontiguousarray(v, dtype=COLUMNS[k][0])

    def take(self, index) -> Population:
        """A new population of the rows ``index`` selects."""
        out = Population(self.dim)
        out.data = {k: v[index] for k, v in self.data.items()}
        return out

    def extend(self, other: Population):
        """Append the rows of ``other``."""
        self.data = {k: np.concatenate([v, other.data[k]]) for k, v in self.data.items()}

    def portable(self) -> dict[str, np.ndarray]:
        """The columns that travel between ranks (``PORTABLE``)."""
        return {k: self.data[k] for k in PORTABLE}

    @classmethod
    def from_columns(cls, dim: int, columns: dict[str, np.ndarray]) -> Population:
        """Takes the given arrays (no copy where the dtype matches); missing columns are zeros."""
        n = len(columns["id"])
        out = cls(dim)
        out.data = {
            k: np.ascontiguousarray(columns[k], dtype=dt)
            if k in columns
            else np.zeros((n,) + tuple(dim if s == "dim" else s for s in shape), dtype=dt)
            for k, (dt, shape) in COLUMNS.items()
        }
        return out


def join_rows(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Rows of cells from several sources (hybrid: discrete cells and a density's unit) as
    one set: the columns they all have, sorted by id.
    """
    keys = [k for k in parts[0] if all(k in c for c in parts)]
    rows = {k: np.concatenate([c[k] for c in parts]) for k in keys}
    order = np.argsort(rows["id"], kind="stable")
    return {k: v[order] for k, v in rows.items()}


def join_units(
    *lists: list[tuple[int, dict[str, np.ndarray]]],
) -> list[tuple[int, dict[str, np.ndarray]]]:
    """(site, cells) lists joined per site in site order (hybrid: a site's discrete cells
    and its unit of density), sites left without a cell dropped.
    """
    by_site: dict[int, list[dict[str, np.ndarray]]] = {}
    for entries in lists:
        for s, cells in entries:
            by_site.setdefault(s, []).append(cells)
    joined = [(s, join_rows(by_site[s])) for s in sorted(by_site)]
    return [(s, cells) for s, cells in joined if len(cells["id"])]
