"""Pathological N stage (pN) from the regional lymph nodes, by the AJCC Cancer Staging Manual,
8th ed. (Amin et al., eds., Springer 2017) rules of the case's primary (docs/imaging.md,
"Pathological N stage").

Each regional node organ (organ type ``lymph_node``, ``regional = true``) is one node; what
a pathologist would measure in it is its largest deposit: the diameter (mm) and the cells of
its largest lesion (``Organ.lesions``: ``largest_lesion_mm``, ``largest_lesion_cells``). The
deposit sizes are the case's ``lesions`` (``config.LesionsSpec``: isolated tumour cells up to
``micro_mm``, a micrometastasis above it and up to ``macro_mm``, a macrometastasis above
that).

- breast (chapter 48): the nodes are taken as axillary (level I-II); internal mammary and
  supraclavicular nodes (pN1b-c, pN2b, pN3b-c) are not modelled.
- colon and rectum (chapter 20): tumour deposits without a node (N1c) are not modelled.
- prostate (chapter 58): pN0 / pN1.
- other primaries: no pN rules here (a ``config.CaseError``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from solver import config

__all__ = [
    "CATEGORIES",
    "CHAPTERS",
    "ITC_MAX_CELLS",
    "NOT_MODELLED",
    "PN",
    "TYPES",
    "pathological_n",
]

# AJCC 8th ed., chapter 48 (breast), pN0(i+) / pN1mi: isolated tumour cells are clusters of
# at most 0.2 mm or of at most 200 cells in one cross-section; more cells make a
# micrometastasis even when the cluster is no wider than 0.2 mm.
ITC_MAX_CELLS = 200

TYPES = ("breast", "colorectal", "prostate")  # the primaries with pN rules here
# Every category pathological_n gives, over the three primaries.
CATEGORIES = ("pN0", "pN0(i+)", "pN1mi", "pN1", "pN1a", "pN1b", "pN2a", "pN2b", "pN3a")

CHAPTERS = {
    "breast": "AJCC 8th ed. chapter 48 (breast), axillary nodes",
    "colorectal": "AJCC 8th ed. chapter 20 (colon and rectum)",
    "prostate": "AJCC 8th ed. chapter 58 (prostate)",
}

# What the rules leave out, for the manifest. Non-regional nodes (a lymph_node organ with
# regional = false) are M1 in each chapter: follow_up.FollowUp counts them there, not here.
NOT_MODELLED = {
    "breast": "internal mammary and supraclavicular nodes (pN1b-c, pN2b, pN3b-c); the "
    "cells of a deposit are counted in the whole node, not in one cross-section",
    "colorectal": "tumour deposits without a node (N1c)",
    "prostate": "nothing beyond pN0 / pN1",
}


class PN(NamedTuple):
    """A pathological N stage.

    Attributes:
        category: e.g. ``pN0``, ``pN0(i+)``, ``pN1mi``, ``pN1a``, ``pN2b``.
        positive: the positive nodes counted for it (breast pN1mi: the nodes with a
            micrometastasis; ITC-only nodes never count).
    """

    category: str
    positive: int


def _by_count(n: int, bands: Sequence[tuple[int, str]], none: str) -> str:
    """The category of ``n`` positive nodes: the last band whose lower bound n reaches."""
    out = none
    for low, name in bands:
        if n >= low:
            out = name
    return out


def pathological_n(
    primary_type: str,
    nodes: Sequence[tuple[float, float]],
    lesions: config.LesionsSpec | None = None,
) -> PN:
    """The pN category of the regional nodes and the positive nodes counted for it.

    AJCC Cancer Staging Manual, 8th ed. (2017): breast chapter 48, colon and rectum
    chapter 20, prostate chapter 58.

    - breast: pN0 no tumour cells; pN0(i+) isolated tumour cells only (no deposit above
      ``micro_mm`` nor above ``ITC_MAX_CELLS`` cells); pN1mi micrometastases (above
      ``micro_mm`` or ``ITC_MAX_CELLS``), none above ``macro_mm``; with a macrometastasis,
      every node with a micro- or macrometastasis is positive: pN1a 1-3, pN2a 4-9, pN3a >= 10.
    - colorectal: a node is positive with a deposit above ``micro_mm`` (isolated tumour
      cells are N0): pN0, pN1a 1, pN1b 2-3, pN2a 4-6, pN2b >= 7.
    - prostate: pN0, pN1 (any node with a deposit above ``micro_mm``).

    Args:
        primary_type: ``circulation.primary_type``.
        nodes: per regional node, its largest deposit (diameter mm, cells); (0, 0): none.
        lesions: the case's deposit sizes (default ``config.LesionsSpec()``).

    Raises:
        config.CaseError: a primary type without pN rules here.
    """
    les = lesions if lesions is not None else config.LesionsSpec()
    if primary_type not in TYPES:
        raise config.CaseError(
            f"circulation.primary_type = {primary_type!r}: no pathological N (pN) rules "
            f"modelled for it (they are for {', '.join(TYPES)}; AJCC 8th ed.)"
        )
    beyond_itc = [mm > les.micro_mm or cells > ITC_MAX_CELLS for mm, cells in nodes]
    if primary_type == "breast":
        macro = [mm > les.macro_mm for mm, _ in nodes]
        counted = sum(beyond_itc)
        if any(macro):
            bands = [(1, "pN1a"), (4, "pN2a"), (10, "pN3a")]
            return PN(_by_count(counted, bands, "pN0"), counted)
        if counted:
            return PN("pN1mi", counted)
        if any(mm > 0.0 or cells > 0.0 for mm, cells in nodes):
            return PN("pN0(i+)", 0)
        return PN("pN0", 0)
    positive = sum(mm > les.micro_mm for mm, _ in nodes)
    if primary_type == "colorectal":
        bands = [(1, "pN1a"), (2, "pN1b"), (4, "pN2a"), (7, "pN2b")]
        return PN(_by_count(positive, bands, "pN0"), positive)
    return PN("pN1" if positive else "pN0", positive)
