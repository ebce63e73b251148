"""A finished run's outputs read back as scanners see them: its case from manifest.json, the
times at which each organ's fields were stored, and the organ at one of them as a
``section.Section`` (``seedsoil image``).

The run's own scans take the organ's owned dofs with their lumped mass (``Organ.section``);
here the same P1 values come from ORGAN/fields*.xdmf at the mesh's vertices, with the lumped
mass from the topology (``section.vertex_volumes``), through the same ``section.from_fields``
and its canonical node order: the images, and what is found in them, are the run's own.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from solver import config
from solver.clinic.section import DENSITIES, Section, from_fields, vertex_volumes
from solver.io.series import fields_at, history

__all__ = ["case_data", "read_case", "section_at", "stored_times"]

SOIL = ("o", "b")  # oxygen and new vessels, where the run has them


def case_data(outdir: Path) -> tuple[dict[str, Any], Path]:
    """The raw case of a run (manifest.json's "case", every key as the run resolved it) and
    the manifest's path.

    Raises:
        config.CaseError: no manifest.json, not JSON, or no case in it.
    """
    manifest = Path(outdir) / "manifest.json"
    if not manifest.is_file():
        raise config.CaseError(f"{outdir}: not a seedsoil output folder (no manifest.json)")
    try:
        data = json.loads(manifest.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise config.CaseError(f"{manifest}: not valid JSON: {err}") from None
    if not isinstance(data, dict) or not isinstance(data.get("case"), dict):
        raise config.CaseError(f"{manifest}: no key 'case' (the run's case) to image it with")
    return copy.deepcopy(data["case"]), manifest


def read_case(outdir: Path) -> config.Case:
    """The case a run was made with (``case_data`` validated)."""
    raw, manifest = case_data(outdir)
    return config.from_dict(raw, str(manifest))


def stored_times(outdir: Path, case: config.Case, index: int) -> list[float]:
    """The model times at which organ ``index``'s fields were stored, in order (all series
    across restarts, solver/io/series.py).

    Raises:
        config.CaseError: the organ has no stored fields (naming output.fields where the run
            did not write them).
    """
    name = case.organs()[index].name
    folder = Path(outdir) / name
    entries, xdmf = history(folder)
    if not entries or xdmf is None:
        why = (
            "the run did not write them (key 'output.fields' = false)"
            if not case.output.fields
            else "no fields_series.json or fields.xdmf there"
        )
        raise config.CaseError(f"{folder}: organ {name!r} has no stored fields: {why}")
    return [t for t, _ in entries]


def section_at(outdir: Path, case: config.Case, index: int, time: float) -> Section:
    """Organ ``index`` at the stored model time ``time`` (one of ``stored_times``).

    Raises:
        config.CaseError: no fields at that time, or none of the cells' densities stored.
    """
    spec = case.organs()[index]
    folder = Path(outdir) / spec.name
    _, xdmf = history(folder)
    if xdmf is None:
        raise config.CaseError(f"{folder}: organ {spec.name!r} has no stored fields")
    try:
        _, x, cells, values = fields_at(xdmf, [*DENSITIES, *SOIL], time)
    except KeyError as err:
        raise config.CaseError(f"{xdmf}: {err.args[0]}") from None
    if not any(k in values for k in DENSITIES):
        raise config.CaseError(f"{xdmf}: none of the cells' densities {DENSITIES} is stored")
    dim = cells.shape[1] - 1  # simplices: triangles or tetrahedra
    return from_fields(
        x,
        vertex_volumes(x, cells.astype(int), dim),
        values,
        dim=dim,
        mm=case.scales.length_cm * 10.0,
        cells=case.cells,
        oxygen=spec.oxygen if "o" in values else None,
    )
