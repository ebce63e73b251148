"""The follow-up of a run's patient: at every output, the scans of each imaged organ, a
liquid biopsy of the blood, and when each test first found the disease (docs/imaging.md,
docs/liquid-biopsy.md).

``body.Body`` calls it from its metrics, with the run's collectives:

- ``scan(organ, step)``: on the organ's ranks, its section gathered on the organ's first
  rank (``Organ.section``), one ``scan.Scanner`` per modality built at the first scan (its
  grid and the organ's background are fixed for the run), the findings broadcast;
- ``biopsy(blood, step)``: one CellSearch test of the blood (the same on every rank: the
  blood is);
- ``record(row, detected, hours)``: the first hour at which each rule held, into the body's
  ``detected`` (checkpointed): the size rule (lesions.detect_mm), each modality's observer,
  PERCIST, the stage (M1: a distant organ, or a lymph node with ``regional = false``,
  detected; N1: a regional lymph node, organ type lymph_node) by each rule, and the biopsy's
  threshold; and the pathological N stage of the regional nodes (``staging.pathological_n``,
  AJCC 8th ed.): ``pN_positive_nodes`` in the row, the first hour of each pN category as
  ``pN.CATEGORY``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from solver import config
from solver.cells import rng
from solver.clinic import export, images, liquid_biopsy, staging
from solver.clinic.background import ORGANS, Scene
from solver.clinic.detection_keys import MODALITIES, organ_key, pn_key, stage_key
from solver.clinic.scan import Finding, Scanner
from solver.clinic.section import Section

if TYPE_CHECKING:
    from solver.circulation import Blood
    from solver.organ import Organ

__all__ = ["FollowUp", "LYMPH_NODE", "image_generator", "write_images"]

LYMPH_NODE = "lymph_node"  # the organ type of regional nodes: N, not M
NOT_APPLIED = "PERCIST not applied: the organ's own uptake reaches the liver threshold"


def image_generator(seed: int, organ: int, modality: str, step: int) -> np.random.Generator:
    """The noise of one image: Philox keyed by a hash of (seed, rng.IMAGING, organ index,
    modality, step), the same on any rank count.
    """
    words = [int(seed), rng.IMAGING, int(organ), MODALITIES.index(modality), int(step)]
    key = np.random.SeedSequence(words).generate_state(2, dtype=np.uint64)
    return np.random.Generator(np.random.Philox(key=key))


def write_images(
    folder: Path, stem: str, scanner: Scanner, expected: np.ndarray, gen: np.random.Generator
) -> list[Path]:
    """One noisy image of ``expected`` as ``stem``.nii.gz, .vti and .png in ``folder``, each
    written whole under a temporary name and then renamed (a kill leaves no half file).
    """
    folder.mkdir(parents=True, exist_ok=True)
    image = scanner.realise(gen, expected)
    unit = scanner.model.unit
    title = f"{stem}: {type(scanner.model).__name__.removesuffix('Model')} ({unit})"
    # CT shows a hypodense liver lesion: a minimum projection; PET and MRI hot ones: maximum.
    cold = float((expected - scanner.background).sum()) < 0.0
    out = []
    for suffix, write in (
        (".nii.gz", lambda p: export.write_nifti(p, image, scanner.grid, description=title)),
        (".vti", lambda p: export.write_vti(p, image, scanner.grid, name=unit or "image")),
        (
            ".png",
            lambda p: export.write_png(
                p,
                image,
                scanner.grid,
                _centre(scanner),
                title=title,
                unit=unit,
                projection="min" if cold else "max",
            ),
        ),
    ):
        path = folder / f"{stem}{suffix}"
        part = folder / f"{stem}.part{suffix}"
        write(part)
        os.replace(part, path)
        out.append(path)
    return out


def _value(x: float) -> float | None:
    """A metrics.csv value: None (an empty cell) for what is undefined (NaN)."""
    return None if math.isnan(x) else x


def _centre(scanner: Scanner) -> np.ndarray:
    return np.array([scanner.grid.centres(a).mean() for a in range(3)])


class FollowUp:
    """The scans and blood tests of a run (see the module's note).

    Args:
        case: The case.
        outdir: Where image files go (OUTDIR/imaging).
    """

    def __init__(self, case: config.Case, outdir: Path) -> None:
        self.case, self.folder = case, outdir
        self.modalities = list(case.imaging.modalities)
        self.imaged = set(case.imaged()) if self.modalities else set()
        self.scanners: dict[tuple[int, str], Scanner] = {}
        self.assumed: dict[str, list[str]] = {}  # organ -> what its scans assumed
        self.types = [o.organ_type() for o in case.organs()]
        self.factor = math.nan
        self.threshold: int | None = None
        self.threshold_why = ""
        # The pathological N stage: regional node organs and the primary's pN rules.
        names = [o.name for o in case.organs()]
        # Regional nodes count towards N; non-regional ones (regional = false) towards M1.
        self.regional = [
            t == LYMPH_NODE and o.regional for t, o in zip(self.types, case.organs(), strict=True)
        ]
        self.nodes = [n for k, n in enumerate(names[1:], 1) if self.regional[k]]
        self.pn_why = ""
        if self.nodes:
            try:
                staging.pathological_n(case.circulation.primary_type, [], case.lesions)
            except config.CaseError as err:
                self.pn_why = str(err)
        if case.secondary:
            lb = case.liquid_biopsy
            initial = float(case.cells.initial.count)
            self.factor = liquid_biopsy.scale_factor(lb, initial)
            try:
                self.threshold = liquid_biopsy.threshold(lb, case.circulation.primary_type)
            except config.CaseError as err:
                self.threshold_why = str(err)

    # -- what the manifest says -------------------------------------------------------
    def manifest(self) -> dict[str, Any]:
        """What the follow-up assumed and the liquid biopsy's scale, for the manifest."""
        out: dict[str, Any] = {}
        if self.modalities:
            out["imaging"] = {
                "modalities": self.modalities,
                "organs": {
                    self.case.organs()[k].name: self.case.background(k) for k in sorted(self.imaged)
                },
                "assumed": self.assumed,
            }
        if self.case.secondary:
            lb = self.case.liquid_biopsy
            out["liquid_biopsy"] = {
                "factor": self.factor,
                "copies_per_sample": liquid_biopsy.copies_per_sample(lb, self.factor),
                "threshold": self.threshold,
                "threshold_missing": self.threshold_why or None,
            }
        if self.nodes:
            if self.pn_why:
                out["stage"] = {"pN": None, "pN_missing": self.pn_why}
            else:
                kind = self.case.circulation.primary_type
                out["stage"] = {
                    "pN": "detected_hours: pN.CATEGORY, the first hour of each category",
                    "pN_rules": staging.CHAPTERS[kind],
                    "pN_not_modelled": staging.NOT_MODELLED[kind],
                    "pN_nodes": list(self.nodes),
                }
        return out

    # -- the scans ----------------------------------------------------------------------
    def scan(self, organ: Organ, step: int, write: bool) -> dict[str, float | None]:
        """The findings of every modality in one organ (collective on the organ): per
        modality ``dprime_<m>`` and ``detected_<m>`` (found now, 0/1); PET also
        ``suv_peak`` and ``detected_percist``. Image files when ``write``.
        """
        if organ.index not in self.imaged:
            return {}
        mm = self.case.scales.length_cm * 10.0
        section = organ.section(mm)
        out: dict[str, float | None] | None = None
        if organ.comm.rank == 0:
            assert section is not None
            out = self._scan(organ.index, organ.name, section, step, write)
        return organ.comm.bcast(out, root=0)

    def scanner(self, index: int, modality: str, section: Section) -> Scanner:
        """The scanner of organ ``index`` by ``modality`` (built at its first section)."""
        key = (index, modality)
        if key not in self.scanners:
            spec = self.case.organs()[index]
            background = self.case.background(index)
            assert background is not None  # config.Case checks it
            scene = Scene(ORGANS[background], tuple(section.centre_mm), spec.scan.at_mm)
            model = images.model_of(self.case.imaging, modality)
            self.scanners[key] = Scanner(model, scene, section, k=self.case.imaging.k)
        return self.scanners[key]

    def look(
        self, index: int, name: str, section: Section, step: int, write: bool
    ) -> dict[str, Finding]:
        """What each modality finds in organ ``index`` (``name``) at ``step``, and its image
        files when ``write``: the one path of a run's scans and of ``seedsoil image``.
        """
        out: dict[str, Finding] = {}
        for m in self.modalities:
            sc = self.scanner(index, m, section)
            expected = sc.expected(section)
            out[m] = sc.find(section, expected)
            if write:
                gen = image_generator(self.case.seed, index, m, step)
                write_images(self.folder, f"{name}_{m}_{step:06d}", sc, expected, gen)
        return out

    def _scan(
        self, index: int, name: str, section: Section, step: int, write: bool
    ) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        for m, f in self.look(index, name, section, step, write).items():
            out[f"dprime_{m}"] = f.dprime
            out[f"detected_{m}"] = float(f.detected)
            if m == "pet":
                out["suv_peak"] = _value(f.suv_peak)
                out["detected_percist"] = _value(f.percist)
        notes = list(section.assumed)
        if "pet" in self.modalities and out["detected_percist"] is None:
            notes.append(NOT_APPLIED)
        self.assumed[name] = notes
        return out

    # -- the blood ----------------------------------------------------------------------
    def biopsy(self, blood: Blood, step: int) -> dict[str, float | None]:
        """One CellSearch test of the patient's blood at this output: the expected count,
        a drawn one (generator keyed by the seed and the step) and the share of the drawn
        count in clusters; the threshold and whether the count reached it.
        """
        lb = self.case.liquid_biopsy
        units = liquid_biopsy.Units.from_blood(blood.rows["cluster"], blood.rows["phenotype"])
        mean = liquid_biopsy.expected(lb, units, self.factor)
        drawn = liquid_biopsy.sample(lb, units, self.factor, seed=self.case.seed, index=step)
        out: dict[str, float | None] = {
            "ctc_expected": mean.cells,
            "ctc_count": drawn.cells,
            "ctc_cluster_fraction": _value(drawn.cluster_fraction),
        }
        if self.threshold is not None:
            out["ctc_threshold"] = float(self.threshold)
            out["ctc_positive"] = float(drawn.cells >= self.threshold)
        return out

    # -- first detections -------------------------------------------------------------
    def record(self, row: dict[str, Any], detected: dict[str, float], hours: float) -> None:
        """The first hour of every rule that holds in this metrics row into ``detected``;
        each organ's ``detected`` columns become "detected by now", and the stage columns
        ``M_<rule>`` and ``N_<rule>`` are added (1: M1 / N1 by now). With regional node
        organs and a primary with pN rules, ``pN_positive_nodes`` is added and the first
        hour of the pN category of the nodes' largest deposits goes into ``detected`` as
        ``pN.CATEGORY``.
        """
        names = [o.name for o in self.case.organs()]
        rules = ["size", *self.modalities] + (["percist"] if "pet" in self.modalities else [])
        for name in names:
            found = {"size": row[f"{name}.largest_lesion_mm"] >= self.case.lesions.detect_mm}
            for r in rules[1:]:
                found[r] = row.get(f"{name}.detected_{r}", 0.0) == 1.0
            for r, now in found.items():
                key = organ_key(name, r)
                if now and key not in detected:
                    detected[key] = hours
            row[f"{name}.detected"] = int(name in detected)
            for r in rules[1:]:
                if f"{name}.detected_{r}" in row:
                    row[f"{name}.detected_{r}"] = int(organ_key(name, r) in detected)
        for r in rules:
            for stage, nodes in (("M", False), ("N", True)):
                organs = [n for k, n in enumerate(names[1:], 1) if self.regional[k] == nodes]
                if not organs:
                    continue
                hit = any(organ_key(n, r) in detected for n in organs)
                key = stage_key(f"{stage}1", r)
                if hit and key not in detected:
                    detected[key] = hours
                row[f"{stage}_{r}"] = int(key in detected)
        if row.get("ctc_positive") == 1.0 and "ctc" not in detected:
            detected["ctc"] = hours
        if self.nodes and not self.pn_why:
            # Body's rows have both columns; a row without the cells (built by hand) is
            # graded by the deposit's size alone.
            deposits = [
                (
                    float(row[f"{n}.largest_lesion_mm"]),
                    float(row.get(f"{n}.largest_lesion_cells", 0.0)),
                )
                for n in self.nodes
            ]
            pn = staging.pathological_n(
                self.case.circulation.primary_type, deposits, self.case.lesions
            )
            row["pN_positive_nodes"] = pn.positive
            key = pn_key(pn.category)
            if key not in detected:
                detected[key] = hours
