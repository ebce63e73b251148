"""Lineage: which initial cell each cell descends from (its founder) and which unit of the
blood seeded its organ (docs/biopsy.md, "Lineage").

Discrete cells carry both as columns (solver/cells/population.py: ``founder``,
``seeded_by``); daughters inherit them, clusters carry them through the blood, and an
arrival takes the id of the unit it arrived in. A clone is one founder's descendants.

Continuum densities have no cells to label. Their lineage is a stated approximation
(``Composition``): each organ's density is a well-mixed pool whose founder composition is
that of the cells that entered it (the initial cells, one each, and the arrivals that
settled), with every clone growing and dying alike (the densities have one growth law).
A cell the continuum primary sheds takes its founder from that composition by a keyed draw
(purpose ``rng.LINEAGE_FOUNDER``), so the founders of the shed cells are a sample of it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from solver import config
from solver.cells import rng
from solver.cells.population import NOT_SEEDED

__all__ = [
    "NOT_SEEDED",
    "Composition",
    "clones",
    "founders_text",
    "parse_founders",
    "read_composition",
    "write_composition",
]


def founders_text(founder: np.ndarray) -> str:
    """The founders of a group of cells as ``"id:cells;id:cells"``, by founder id (the
    ``founders`` column of events.csv).
    """
    ids, counts = np.unique(np.asarray(founder, dtype=np.uint64), return_counts=True)
    return ";".join(f"{int(i)}:{int(c)}" for i, c in zip(ids, counts))


def parse_founders(text: str, where: str = "founders") -> dict[int, int]:
    """The inverse of ``founders_text``.

    Raises:
        config.CaseError: not of the form ``id:cells;...`` (``where`` names the field).
    """
    out: dict[int, int] = {}
    for item in filter(None, (text or "").split(";")):
        f, sep, c = item.partition(":")
        if not (sep and f.strip().isdigit() and c.strip().isdigit()):
            raise config.CaseError(f"{where}: {item!r} is not founder:cells")
        out[int(f)] = out.get(int(f), 0) + int(c)
    return out


def clones(
    founder: np.ndarray, seeded_by: np.ndarray, weight: np.ndarray | None = None
) -> dict[str, dict[int, float]]:
    """What sequencing of these cells would show: cells per founder (clone), per seeding
    unit, and per (unit, founder) pair as ``"unit/founder"`` keys; ``weight``: cells each row
    stands for (continuum: real numbers), default 1.
    """
    founder = np.asarray(founder, dtype=np.uint64)
    seeded_by = np.asarray(seeded_by, dtype=np.uint64)
    w = np.ones(len(founder)) if weight is None else np.asarray(weight, dtype=float)

    def tally(keys) -> dict:
        out: dict = {}
        for k, v in zip(keys, w):
            out[k] = out.get(k, 0.0) + float(v)
        return dict(sorted(out.items()))

    return {
        "founders": tally(int(f) for f in founder),
        "units": tally(int(u) for u in seeded_by),
        "pairs": tally(f"{int(u)}/{int(f)}" for u, f in zip(seeded_by, founder)),
    }


class Composition:
    """The founder composition of a continuum organ's density (well mixed: see the module's
    note): cells that entered it per (seeding unit, founder), real numbers. The same on every
    rank (every entry is a decision made the same on every rank).
    """

    def __init__(self) -> None:
        self.seeded_by = np.zeros(0, dtype=np.uint64)
        self.founder = np.zeros(0, dtype=np.uint64)
        self.cells = np.zeros(0)

    def __len__(self) -> int:
        return len(self.founder)

    def add(self, seeded_by: np.ndarray, founder: np.ndarray) -> None:
        """Cells that entered the density, one row each (merged with the rows of the same
        unit and founder). The rows stay sorted by (unit, founder), so the new ones are
        merged into them: a step that absorbs k cells into a composition of N rows costs
        O(N + k log k), not the O(N log N) of sorting all of them again (a hybrid primary of
        10^6 initial cells holds 10^6 founders; docs/performance.md).
        """
        u = np.asarray(seeded_by, dtype=np.uint64)
        f = np.asarray(founder, dtype=np.uint64)
        U, F = self.seeded_by, self.founder
        if len(U) > 1 and not ((U[1:] > U[:-1]) | ((U[1:] == U[:-1]) & (F[1:] > F[:-1]))).all():
            self._add_sorting(u, f)  # rows not in order (a hand-made state): sort them all
            return
        at = self._position(u, f)
        old = at < len(U)
        old[old] = (U[at[old]] == u[old]) & (F[at[old]] == f[old])
        self.cells = self.cells.astype(float)  # a copy: np.add.at adds in the rows' order,
        np.add.at(self.cells, at[old], 1.0)  # one cell at a time, as the sort's bincount did
        pairs, counts = np.unique(np.column_stack([u[~old], f[~old]]), axis=0, return_counts=True)
        at = self._position(pairs[:, 0], pairs[:, 1])
        self.seeded_by = np.insert(U, at, pairs[:, 0])
        self.founder = np.insert(F, at, pairs[:, 1])
        self.cells = np.insert(self.cells, at, counts.astype(float))

    def _position(self, u: np.ndarray, f: np.ndarray) -> np.ndarray:
        """Where each (unit, founder) goes in the sorted rows (the first row not below it)."""
        at = np.empty(len(u), dtype=np.int64)
        for unit in np.unique(u):  # a few units: within each, the founders are sorted
            lo = int(np.searchsorted(self.seeded_by, unit, side="left"))
            hi = int(np.searchsorted(self.seeded_by, unit, side="right"))
            mine = u == unit
            at[mine] = lo + np.searchsorted(self.founder[lo:hi], f[mine], side="left")
        return at

    def _add_sorting(self, seeded_by: np.ndarray, founder: np.ndarray) -> None:
        """``add`` by sorting every row again (rows out of order)."""
        u = np.r_[self.seeded_by, seeded_by]
        f = np.r_[self.founder, founder]
        c = np.r_[self.cells, np.ones(len(founder))]
        pairs, inv = np.unique(np.column_stack([u, f]), axis=0, return_inverse=True)
        self.seeded_by, self.founder = pairs[:, 0].copy(), pairs[:, 1].copy()
        self.cells = np.bincount(inv.ravel(), weights=c, minlength=len(pairs)).astype(float)

    def fractions(self) -> np.ndarray:
        """Each row's share of the density (zeros if nothing entered)."""
        total = self.cells.sum()
        return self.cells / total if total > 0 else np.zeros(len(self.cells))

    def draw(self, seed: int, ids: np.ndarray, step: int) -> np.ndarray:
        """Founders of cells leaving the density (ids ``ids`` at ``step``): each row chosen
        with its share, by one keyed uniform per cell (the same on any rank count). Cells
        of an organ nothing entered are their own founders.
        """
        return self.draw_pairs(seed, ids, step)[1]

    def draw_pairs(self, seed: int, ids: np.ndarray, step: int) -> tuple[np.ndarray, np.ndarray]:
        """(seeding unit, founder) of cells leaving the density, drawn as ``draw`` draws:
        cells of an organ nothing entered are their own founders, seeded by no unit.
        """
        ids = np.asarray(ids, dtype=np.uint64)
        if len(self) == 0 or self.cells.sum() <= 0:
            return np.full(len(ids), NOT_SEEDED, dtype=np.uint64), ids.copy()
        cum = np.cumsum(self.fractions())
        u = rng.uniform(seed, ids, step, rng.LINEAGE_FOUNDER)
        row = np.minimum(np.searchsorted(cum, u, side="right"), len(cum) - 1)
        return self.seeded_by[row], self.founder[row]

    def state(self) -> dict[str, np.ndarray]:
        """Plain data for a checkpoint."""
        return {"seeded_by": self.seeded_by, "founder": self.founder, "cells": self.cells}

    def check_state(self, c, rest: Mapping, where: str = "lineage") -> None:
        """Refuse (``c``: checkpoint.Check) a composition ``state`` did not write."""
        c.columns(
            rest,
            where,
            {
                "seeded_by": (np.uint64, (), None, None, False),
                "founder": (np.uint64, (), None, None, False),
                "cells": (np.float64, (), 0.0, None, True),
            },
        )

    def load_state(self, state: Mapping) -> None:
        """The inverse of ``state``."""
        self.seeded_by = np.asarray(state["seeded_by"], dtype=np.uint64)
        self.founder = np.asarray(state["founder"], dtype=np.uint64)
        self.cells = np.asarray(state["cells"], dtype=float)


def write_composition(path: Path, t: float, comp: Composition) -> None:
    """Add ``comp`` at time ``t`` to the history in ``path`` (ORGAN/lineage.json, continuum
    runs), dropping entries at ``t`` and later (a restart writes them again); atomic.
    """
    entries = []
    if path.exists():
        try:
            entries = [e for e in json.loads(path.read_text())["entries"] if e["time"] < t]
        except (ValueError, KeyError, TypeError):
            entries = []  # a torn file of this run's own: written again from here
    entries.append(
        {
            "time": float(t),
            "seeded_by": [int(u) for u in comp.seeded_by],
            "founder": [int(f) for f in comp.founder],
            "cells": [float(c) for c in comp.cells],
        }
    )
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"entries": entries}))
    os.replace(tmp, path)


def read_composition(path: Path, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(seeded_by, founder, cells) at time ``t`` from ``write_composition``'s file.

    Raises:
        config.CaseError: no such file, not the format, or no entry at ``t``.
    """
    try:
        entries = json.loads(Path(path).read_text())["entries"]
        for e in entries:
            if abs(float(e["time"]) - t) <= 1e-9 * max(abs(t), 1.0):
                u = np.array([int(v) for v in e["seeded_by"]], dtype=np.uint64)
                f = np.array([int(v) for v in e["founder"]], dtype=np.uint64)
                c = np.array([float(v) for v in e["cells"]], dtype=float)
                if not (len(u) == len(f) == len(c)) or (c < 0).any() or not np.isfinite(c).all():
                    raise ValueError("columns of different lengths or bad cell counts")
                return u, f, c
    except FileNotFoundError:
        raise config.CaseError(f"{path}: missing (a continuum run's lineage)") from None
    except (ValueError, KeyError, TypeError, OverflowError) as err:
        raise config.CaseError(f"{path}: key 'entries': not a lineage history ({err})") from None
    raise config.CaseError(f"{path}: key 'entries': no entry at time {t}")
