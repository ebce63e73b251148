"""Per-step scalar metrics as CSV, flushed line by line (survives a crash)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from types import TracebackType
from typing import Any

from mpi4py import MPI

from solver.io.folder import fault, replace


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(int(v))
    if isinstance(v, float) or getattr(getattr(v, "dtype", None), "kind", "") == "f":
        v = float(v)
        return repr(v) if math.isfinite(v) else str(v)  # repr: round-trips exactly
    s = str(v.item() if hasattr(v, "item") else v)
    return f'"{s}"' if ("," in s or '"' in s) else s


class MetricsWriter:
    """Rank 0 appends one CSV line per `row` call; other ranks do nothing.

    Values are meant to be already reduced (identical on all ranks).
    """

    def __init__(
        self,
        comm: MPI.Comm,
        path: Path | str,
        columns: list[str],
        *,
        resume_after: int | None = None,
    ) -> None:
        """``resume_after``: a restart's step: keep the file's rows up to that step (the
        ones after it are written again) and append.
        """
        self.comm, self.path, self.columns = comm, Path(path), list(columns)
        self._fh = None
        self.closed = False
        if comm.rank == 0:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            kept = []
            if resume_after is not None and self.path.exists():
                lines = self.path.read_text().splitlines()[1:]
                kept = [
                    ln for ln in lines if ln and int(float(ln.split(",", 1)[0])) <= resume_after
                ]
            # The header and the kept rows into a new file, synced, renamed over the old
            # one: a kill at any point leaves the old file or the new, never a cut one.
            tmp = self.path.with_name(self.path.name + ".tmp")
            with open(tmp, "w") as fh:
                fh.write("\n".join([",".join(self.columns)] + kept) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            fault("outputs", f"kept-{self.path.stem}", -1 if resume_after is None else resume_after)
            replace(tmp, self.path)
            self._fh = open(self.path, "a", buffering=1)  # line-buffered

    def row(self, values: dict[str, Any]) -> None:
        """Append one row (a missing column is left empty; an unknown one is a KeyError)."""
        if self.closed:
            raise ValueError(f"{self.path}: write to a closed MetricsWriter")
        unknown = set(values) - set(self.columns)
        if unknown:
            raise KeyError(f"unknown metric columns {sorted(unknown)}")
        if self._fh is not None:
            self._fh.write(",".join(_fmt(values.get(c)) for c in self.columns) + "\n")
            self._fh.flush()

    def close(self) -> None:
        """Close the file; later rows are refused."""
        self.closed = True
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> MetricsWriter:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
