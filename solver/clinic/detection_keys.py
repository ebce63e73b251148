"""The keys of a run's ``detected_hours`` (manifest.json; docs/imaging.md): when each rule
first held. Written by ``follow_up.FollowUp.record``, read by the ensembles, sweeps and
figures, so that a typo in a key is told apart from a rule that never fired.

- ``ORGAN``: the size rule (a lesion of ``lesions.detect_mm``);
- ``ORGAN.pet``, ``ORGAN.ct``, ``ORGAN.mri``: the observer model's d' reached k;
- ``ORGAN.percist``: PET's PERCIST rule;
- ``M1.RULE``, ``N1.RULE`` (RULE one of ``RULES``): staging by that rule (N for regional
  lymph nodes, M for the other distant organs and for non-regional nodes, whose OrganSpec
  says ``regional = false``);
- ``ctc``: the liquid biopsy's count first reached the prognostic threshold;
- ``pN.CATEGORY``: the regional nodes' pathological N stage first reached CATEGORY
  (``staging.CATEGORIES``, AJCC 8th ed.).
"""

from __future__ import annotations

from typing import NamedTuple

from solver import config
from solver.clinic.staging import CATEGORIES

MODALITIES = ("pet", "ct", "mri")
RULES = ("size", *MODALITIES, "percist")
STAGES = ("M1", "N1")
STAGING = "staging"  # the family of the M1.*, N1.* and ctc keys

PATTERN = (
    "<organ>, <organ>.<pet|ct|mri|percist>, <M1|N1>.<size|pet|ct|mri|percist>, ctc or "
    "pN.<pN category>"
)


def organ_key(organ: str, rule: str) -> str:
    """The key of an organ's rule: the organ itself for the size rule."""
    return organ if rule == "size" else f"{organ}.{rule}"


def stage_key(stage: str, rule: str) -> str:
    """The key of a stage (M1, N1) by a rule."""
    return f"{stage}.{rule}"


def pn_key(category: str) -> str:
    """The key of a pathological N category (``pN1a`` -> ``pN.pN1a``)."""
    return f"pN.{category}"


class Key(NamedTuple):
    """A parsed key.

    Attributes:
        family: the organ, or ``STAGING`` for M1.*, N1.* and ctc.
        rule: one of ``RULES`` (``ctc`` for the liquid biopsy).
    """

    family: str
    rule: str


def parse(key: str, organs: list[str]) -> Key | None:
    """The family and rule of ``key``, or None if it has none of the contract's shapes.

    Args:
        key: a key of ``detected_hours``.
        organs: the run's organs (the manifest's ``organs``).
    """
    if key == "ctc":
        return Key(STAGING, "ctc")
    if key in organs:
        return Key(key, "size")
    head, dot, rule = key.rpartition(".")
    if not dot:
        return None
    if head in STAGES and rule in RULES:
        return Key(STAGING, rule)
    if head == "pN" and rule in CATEGORIES:
        return Key(STAGING, rule)
    if head in organs and rule in (*MODALITIES, "percist"):
        return Key(head, rule)
    return None


def check(key: str, organs: list[str], where: str) -> Key:
    """``parse``, or a CaseError naming ``where``, the pattern and the organs.

    Args:
        key: a key of ``detected_hours``.
        organs: the run's organs.
        where: what gave the key (a file, a command-line option).
    """
    parsed = parse(key, organs)
    if parsed is None:
        raise config.CaseError(
            f"{where}: no detection key {key!r}; the keys are {PATTERN} "
            f"(organs: {', '.join(organs)})"
        )
    return parsed
