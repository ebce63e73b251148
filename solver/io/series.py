"""The one history of an organ's field outputs across restarts.

A run writes ``fields.xdmf``; each restart writes a new series ``fields_<step>.xdmf``.
``SeriesIndex`` (kept by the FieldWriter of a run) writes, next to them:
- ``fields_series.json``: each output time and the series file that holds it, and each
  field's long name and units (solver/fields/registry.py, also in the XDMF as
  ``Information`` elements). On a
  restart the times after its checkpoint are dropped (a later, abandoned run wrote them;
  the restart writes them again), and series files no kept time refers to are removed;
- ``fields_series.xdmf``: one XDMF temporal collection of exactly those times (each grid
  carries its own series' mesh, as a restart on another rank count writes the mesh in
  another order): what ParaView opens (scripts/paraview_state.py) and the figures show.
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from solver.fields.registry import FIELDS

INDEX, COMBINED = "fields_series.json", "fields_series.xdmf"
SERIES = re.compile(r"fields(_\d{6})?\.xdmf$")


def _key(t: float) -> str:
    return f"{t:.12g}"  # times as written (17 digits) and as held agree to 12


def _find(e: ET.Element, path: str) -> ET.Element:
    """The element ``path`` under ``e``, which a dolfinx XDMF file always has."""
    found = e.find(path)
    assert found is not None, f"no {path} in an XDMF {e.tag}"
    return found


def read_series(path: Path) -> tuple[list[str], dict[str, dict[str, ET.Element]]]:
    """The field names of a dolfinx XDMF file and, per name, its time grids by time
    key, each with the mesh's Topology and Geometry copied in (instead of an xi:include
    into this file), so that a grid can stand in another file of the same folder.
    """
    domain = _find(ET.parse(path).getroot(), "Domain")
    # The mesh grid; None in fields_series.xdmf, whose grids carry their own.
    mesh = domain.find("Grid[@GridType='Uniform']")
    parts = [] if mesh is None else [_find(mesh, "Topology"), _find(mesh, "Geometry")]
    names: list[str] = []
    grids: dict[str, dict[str, ET.Element]] = {}
    for coll in domain.findall("Grid[@GridType='Collection']"):
        names.append(coll.attrib["Name"])
        for g in coll.findall("Grid"):
            g = copy.deepcopy(g)
            for inc in [c for c in g if c.tag.endswith("}include")]:
                at = list(g).index(inc)
                g.remove(inc)
                for k, part in enumerate(parts):
                    g.insert(at + k, copy.deepcopy(part))
            grids.setdefault(coll.attrib["Name"], {})[
                _key(float(_find(g, "Time").attrib["Value"]))
            ] = g
    return names, grids


class SeriesIndex:
    """The continuous field history of one organ folder (rank 0 of its writer)."""

    def __init__(self, folder: Path, current: str, resume_after: float | None):
        self.folder, self.current = Path(folder), current
        self._cache: dict[str, tuple] = {}
        entries = history(self.folder)[0] if resume_after is not None else []
        cut = -math.inf if resume_after is None else resume_after * (1 + 1e-12) + 1e-300
        self.entries = sorted(
            ((t, f) for t, f in entries if t <= cut and f != current), key=lambda e: e[0]
        )
        # Series no time of the history refers to any more (a later restart's, or this
        # series' name from an earlier restart at the same step): stale, removed.
        keep = {f for _, f in self.entries} | {current}
        for p in self.folder.glob("fields*.xdmf"):
            if SERIES.fullmatch(p.name) and p.name not in keep:
                for stale in (p, p.with_suffix(".h5")):
                    stale.unlink(missing_ok=True)
        self._save()

    def add(self, t: float) -> None:
        """Record an output at time ``t`` in the current series (replacing any at or after
        ``t``) and rewrite the index and the combined XDMF.
        """
        self.entries = [e for e in self.entries if e[0] < t] + [(t, self.current)]
        self._save()

    def _grids(self, name: str):
        if name == self.current or name not in self._cache:  # the current series still grows
            self._cache[name] = read_series(self.folder / name)
        return self._cache[name]

    def _save(self) -> None:
        root = ET.Element("Xdmf", Version="3.0")
        domain = ET.SubElement(root, "Domain")
        colls = {}
        for t, f in self.entries:
            names, grids = self._grids(f)
            for n in names:
                if n not in colls:
                    colls[n] = ET.SubElement(
                        domain, "Grid", Name=n, GridType="Collection", CollectionType="Temporal"
                    )
                    for k, v in _meta(n).items():  # XDMF's own element for metadata
                        ET.SubElement(colls[n], "Information", Name=k, Value=v)
                g = grids.get(n, {}).get(_key(t))
                if g is not None:
                    colls[n].append(g)
        ET.indent(root)
        _atomic(
            self.folder / COMBINED,
            '<?xml version="1.0"?>\n' + ET.tostring(root, encoding="unicode") + "\n",
        )
        index = {
            "times": [[t, f] for t, f in self.entries],
            "fields": {n: _meta(n) for n in colls if _meta(n)},
        }  # long names and units
        _atomic(self.folder / INDEX, json.dumps(index, indent=1) + "\n")


def _meta(name: str) -> dict[str, str]:
    """Long name and units of a field from the registry (none for a name it lacks)."""
    found = FIELDS.get(name)
    return found.attributes() if found is not None else {}


def _atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def history(folder: Path) -> tuple[list[tuple[float, str]], Path | None]:
    """(time, series file) of every field output of an organ folder, in time order, and
    the file that shows them all (fields_series.xdmf; fields.xdmf for outputs written
    before the index existed, which have no restart).
    """
    folder = Path(folder)
    if (folder / INDEX).exists():
        return [
            (float(t), f) for t, f in json.loads((folder / INDEX).read_text())["times"]
        ], folder / COMBINED
    if (folder / "fields.xdmf").exists():
        names, grids = read_series(folder / "fields.xdmf")
        return sorted(
            (float(k), "fields.xdmf") for k in grids.get(names[0], {})
        ), folder / "fields.xdmf"
    return [], None


def last_fields(
    xdmf: Path, wanted: list[str]
) -> tuple[float, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """``fields_at`` the last time of the file."""
    return fields_at(xdmf, wanted)


def fields_at(
    xdmf: Path, wanted: list[str], time: float | None = None
) -> tuple[float, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """(time, vertex coordinates, cells, {name: values}) of the fields ``wanted`` at a stored
    ``time`` (None: the last) of a dolfinx XDMF file or a fields_series.xdmf, read from the
    HDF5 files its grids point to (each time's own mesh: a restart on another rank count
    numbers the vertices otherwise). Fields the file lacks are left out.

    Raises:
        KeyError: ``time`` is not one of the file's times (as held to 12 digits), or the
            file has none of ``wanted``.
    """
    import h5py

    names, grids = read_series(xdmf)
    names = [n for n in wanted if n in names]
    if not names:
        raise KeyError(f"{xdmf} holds none of the fields {wanted}")
    at = max(grids[names[0]], key=float) if time is None else _key(time)
    if at not in grids[names[0]]:
        raise KeyError(f"{xdmf} has no output at time {at}")

    def read(item: ET.Element) -> np.ndarray:
        assert item.text is not None
        file, dataset = item.text.strip().split(":", 1)
        with h5py.File(Path(xdmf).parent / file, "r") as f:
            return f[dataset][()]

    g = grids[names[0]][at]
    x, cells = read(_find(g, "Geometry/DataItem")), read(_find(g, "Topology/DataItem"))
    return (
        float(at),
        x,
        cells,
        {
            n: read(_find(grids[n][at], "Attribute/DataItem")).ravel()
            for n in names
            if at in grids[n]
        },
    )
