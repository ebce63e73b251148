"""The registry of fields: every P1 field an organ can hold and every attribute of the cell
outputs, with its symbol (the name on disk), long name and units.

The outputs keep the symbols as array names (ParaView states and scripts select them); the
long names and units go into ``ORGAN/fields_series.json`` (solver/io/series.py), onto the
figures' colour bars (solver/plots.py) and into ``docs/fields.md``, which this module
writes::

    python -m solver.fields.registry            # rewrite docs/fields.md
    python -m solver.fields.registry --check    # exit 1 if docs/fields.md is stale

Units follow docs/model.md section 0: lengths in ``scales.length_cm``, times in
``scales.time_s``, cell densities in cells per reference volume ``h_ref^d``; the other
fields are normalised as their equations say (docs/model.md sections 2, 5, 6).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CELL_ATTRIBUTES", "FIELDS", "FieldInfo", "info", "label", "markdown"]


@dataclass(frozen=True)
class FieldInfo:
    """One field (or cell attribute) of the outputs.

    Attributes:
        symbol: the name on disk (XDMF/VTX/VTU array name) and in ``Organ.fields``.
        long_name: what it is, in words.
        units: its units or normalisation, short enough for a colour-bar label.
        present: when an organ holds it (the case keys that switch it on).
        model: where docs/model.md states its equation or rule.
    """

    symbol: str
    long_name: str
    units: str
    present: str
    model: str

    def label(self) -> str:
        """``long name [units]``: an axis or colour-bar label."""
        return f"{self.long_name} [{self.units}]"

    def attributes(self) -> dict[str, str]:
        """The metadata an output file carries for this field."""
        return {"long_name": self.long_name, "units": self.units}


_DENSITY = "cells per h_ref^d"
FIELDS: dict[str, FieldInfo] = {
    f.symbol: f
    for f in (
        FieldInfo("w", "ECM density", "1 = intact matrix", "always", "section 2"),
        FieldInfo("m", "MMP concentration", "nondimensional, Franssen 2019", "always", "section 2"),
        FieldInfo("c_E", "epithelial cell density", _DENSITY, "always", "sections 0, 3"),
        FieldInfo("c_M", "mesenchymal cell density", _DENSITY, "always", "sections 0, 3"),
        FieldInfo(
            "d_E",
            "dormant epithelial cell density",
            _DENSITY,
            'cells.mode = "continuum" with dormancy.r_wake',
            "section 6",
        ),
        FieldInfo(
            "d_M",
            "dormant mesenchymal cell density",
            _DENSITY,
            'cells.mode = "continuum" with dormancy.r_wake',
            "section 6",
        ),
        FieldInfo(
            "u_E",
            "epithelial cells held as a density (c_E is both representations)",
            _DENSITY,
            'cells.mode = "hybrid"',
            "docs/hybrid.md",
        ),
        FieldInfo(
            "u_M",
            "mesenchymal cells held as a density (c_M is both representations)",
            _DENSITY,
            'cells.mode = "hybrid"',
            "docs/hybrid.md",
        ),
        FieldInfo(
            "ready_E",
            "ready fraction of the epithelial density (cycle done, waiting for room)",
            "0 to 1",
            'cells.mode = "continuum" or "hybrid" with cells.crowded_growth',
            "docs/hybrid.md",
        ),
        FieldInfo(
            "ready_M",
            "ready fraction of the mesenchymal density (cycle done, waiting for room)",
            "0 to 1",
            'cells.mode = "continuum" or "hybrid" with cells.crowded_growth',
            "docs/hybrid.md",
        ),
        FieldInfo("o", "oxygen", "1 = 46 mmHg", "soil.oxygen", "section 2"),
        FieldInfo("v", "VEGF", "1 = packed hypoxic colony", "soil.vegf", "section 2"),
        FieldInfo(
            "b",
            "perfused new-vessel density",
            "1 = fully perfused",
            "soil.oxygen or soil.vegf",
            "sections 2, 6",
        ),
        FieldInfo(
            "x",
            "exosome-borne niche factor",
            "exosome amount per volume",
            "soil.niche",
            "section 5",
        ),
        FieldInfo("N", "niche conditioning", "0 to 1", "soil.niche", "section 5"),
        FieldInfo(
            "f",
            "fibronectin",
            "nondimensional, Anderson & Chaplain 1998",
            "soil.angiogenesis",
            "section 6",
        ),
        FieldInfo("tips", "tip-cell density", "tips per h_ref^d", "soil.angiogenesis", "section 6"),
        FieldInfo(
            "tgfb",
            "active TGF-beta",
            "1 = K_T, half the maximal EMT gain",
            "cells.switching.on",
            "section 3 (docs/emt.md)",
        ),
        FieldInfo(
            "vegfc",
            "VEGF-C",
            "cell-equivalents per h_ref^d",
            "lymph.lymphangiogenesis > 0 (the primary)",
            "docs/lymphatics.md",
        ),
        FieldInfo(
            "L",
            "lysyl oxidase (LOX) in the tissue",
            "LOX amount per volume",
            "soil.recruits (secondary organs)",
            "section 6, docs/niche-cells.md",
        ),
        FieldInfo(
            "X",
            "LOX-cross-linked matrix",
            "0 to 1",
            "soil.recruits (secondary organs)",
            "section 6, docs/niche-cells.md",
        ),
        FieldInfo(
            "R",
            "recruited myeloid cells (CD11b+, VEGFR1+)",
            "cells per h_ref^d",
            "soil.recruits (secondary organs)",
            "section 6, docs/niche-cells.md",
        ),
    )
}

# The point data of ORGAN/cells/*.vtu (discrete cells; solver/cells/population.py).
CELL_ATTRIBUTES: dict[str, FieldInfo] = {
    f.symbol: f
    for f in (
        FieldInfo("id", "cell id", "unique in the run", "discrete cells", "section 3"),
        FieldInfo(
            "parent", "parent's id", "an initial cell's own id", "discrete cells", "section 3"
        ),
        FieldInfo(
            "phenotype", "phenotype", "0 epithelial, 1 mesenchymal", "discrete cells", "section 3"
        ),
        FieldInfo(
            "state",
            "state",
            "0 invading, 2 dormant (solver/cells/population.py)",
            "discrete cells",
            "sections 3, 6",
        ),
        FieldInfo(
            "clock", "time since the last division", "scales.time_s", "discrete cells", "section 3"
        ),
        FieldInfo(
            "founder",
            "founder: the initial cell whose clone it is",
            "an initial cell's own id; daughters inherit it",
            "discrete cells",
            "docs/biopsy.md",
        ),
        FieldInfo(
            "seeded_by",
            "the unit of the blood (cluster or single cell) that seeded its organ",
            "unit id; 0 for cells there from the start",
            "discrete cells",
            "docs/biopsy.md",
        ),
        FieldInfo("rank", "MPI rank that held the cell", "rank", "discrete cells", "-"),
    )
}


def info(symbol: str) -> FieldInfo:
    """The registry entry of a field or cell attribute.

    Raises:
        KeyError: ``symbol`` is in neither registry (a new field must be added here).
    """
    found = FIELDS.get(symbol) or CELL_ATTRIBUTES.get(symbol)
    if found is None:
        raise KeyError(
            f"{symbol!r} is not in solver/fields/registry.py: add it there "
            "(symbol, long name, units)"
        )
    return found


def label(symbol: str) -> str:
    """``long name [units]`` of a field or cell attribute; the symbol itself if unknown."""
    try:
        return info(symbol).label()
    except KeyError:
        return symbol


def markdown() -> str:
    """docs/fields.md: the registry as tables."""
    head = "| symbol | long name | units | present | docs/model.md |\n|---|---|---|---|---|\n"

    def table(entries: dict[str, FieldInfo]) -> str:
        rows = (
            f"| `{f.symbol}` | {f.long_name} | {f.units} | {f.present} | {f.model} |\n"
            for f in entries.values()
        )
        return head + "".join(rows)

    return (
        "# Fields and cell attributes\n\n"
        "<!-- Generated by `python -m solver.fields.registry` from solver/fields/registry.py;"
        " do not edit (tests/unit/fields/test_registry.py fails when it is stale). -->\n\n"
        "Every field an organ can hold, by the name it has in the outputs (XDMF/VTX arrays,\n"
        "`Organ.fields`), with its long name and units. Lengths are in `scales.length_cm`, times\n"
        "in `scales.time_s`, cell densities in cells per reference volume `h_ref^d`\n"
        "(docs/model.md section 0). The long names and units are also in each organ's\n"
        "`fields_series.json` and on the figures' colour bars.\n\n"
        "## Fields (ORGAN/fields_series.xdmf)\n\n"
        + table(FIELDS)
        + "\n## Cell attributes (ORGAN/cells.pvd, discrete cells)\n\n"
        + table(CELL_ATTRIBUTES)
    )


DOC = Path(__file__).resolve().parents[2] / "docs" / "fields.md"


def main(argv: list[str] | None = None) -> int:
    """Write docs/fields.md (or, with ``--check``, exit 1 if it differs from the registry)."""
    p = argparse.ArgumentParser(prog="python -m solver.fields.registry", description=main.__doc__)
    p.add_argument("--check", action="store_true", help="only check that docs/fields.md is current")
    p.add_argument("--output", type=Path, default=DOC, help="the page (default docs/fields.md)")
    args = p.parse_args(argv)
    text = markdown()
    if args.check:
        current = args.output.read_text() if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is stale: run python -m solver.fields.registry", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(text)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
