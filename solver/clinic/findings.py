"""``seedsoil image OUTDIR``: a finished run's organs imaged at stored outputs, as its own scans
would have imaged them (docs/imaging.md, "Imaging a run").

The case is the run's (manifest.json) with the command's choices written into its
[imaging] table (modalities, organs, ``--set imaging.*``, voxel and resolution) and the
backgrounds given on the command line, then validated like any case: a key the command
cannot honour is an error naming it. Each organ x modality x time goes through the run's
own path (``follow_up.FollowUp.look``: the same scanner, finding, writer and noise keyed by
seed, organ index, modality and step), so the run's image files and the command's are the
same for the same settings.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from solver import config
from solver.clinic import outputs
from solver.clinic.detection_keys import MODALITIES
from solver.clinic.follow_up import FollowUp

__all__ = ["Row", "image_run", "parse_modalities", "write_findings"]

COLUMNS = (
    "organ",
    "modality",
    "step",
    "hours",
    "dprime",
    "detected",
    "lesions",
    "suv_peak",
    "percist",
    "k",
)


@dataclass(frozen=True)
class Row:
    """What one modality found in one organ at one stored output (a row of findings.csv).

    Attributes:
        organ: The organ's name.
        modality: pet, ct or mri.
        step: The run's step of the output.
        hours: Its time in hours.
        dprime: The largest lesion's detectability index.
        detected: dprime >= k.
        lesions: Lesion regions in the image.
        suv_peak: PET: SULpeak over the lesions, else NaN.
        percist: PET: 1 / 0 by PERCIST, NaN where not applied.
        k: The detectability index for detection.
    """

    organ: str
    modality: str
    step: int
    hours: float
    dprime: float
    detected: bool
    lesions: int
    suv_peak: float
    percist: float
    k: float


def parse_modalities(items: list[str]) -> list[str]:
    """``--modality`` values (each one name or a comma list) in pet, ct, mri order."""
    chosen = {m.strip().lower() for item in items for m in item.split(",") if m.strip()}
    bad = sorted(chosen - set(MODALITIES))
    if bad:
        raise config.CaseError(f"--modality {', '.join(bad)}: not one of {', '.join(MODALITIES)}")
    return [m for m in MODALITIES if m in chosen]


def _case(
    outdir: Path,
    modalities: list[str],
    organs: list[str],
    sets: list[str],
    backgrounds: dict[str, str],
    voxel_mm: float | None,
    fwhm_mm: float | None,
) -> config.Case:
    """The run's case with the command's choices in [imaging] and the organs' scan tables."""
    raw, manifest = outputs.case_data(outdir)
    for item in sets:
        key = item.split("=", 1)[0].strip()
        if not key.startswith("imaging."):
            raise config.CaseError(
                f"--set {item!r}: seedsoil image changes only imaging.* keys (the run's other "
                "keys made its outputs)"
            )
    raw = config.apply_overrides(raw, sets, f"{manifest} with --set")
    imaging = raw.setdefault("imaging", {})
    names = [raw.get("primary", {}).get("name", "primary")]
    names += [o.get("name") for o in raw.get("secondary", [])]
    chosen_modalities = modalities or list(imaging.get("modalities") or MODALITIES)
    chosen = organs or list(imaging.get("organs") or names)
    unknown = sorted(set(chosen) - set(names)) + sorted(set(backgrounds) - set(names))
    if unknown:
        raise config.CaseError(
            f"{manifest}: no organ {', '.join(map(repr, unknown))} in this run; its organs are "
            f"{', '.join(names)}"
        )
    imaging["modalities"] = chosen_modalities
    imaging["organs"] = chosen
    for m in chosen_modalities:
        table = imaging.setdefault(m, {})
        if voxel_mm is not None:
            table["voxel_mm"] = voxel_mm
        if fwhm_mm is not None:
            table["fwhm_mm"] = fwhm_mm
    for name, organ in backgrounds.items():
        k = names.index(name)
        spec = raw["primary"] if k == 0 else raw["secondary"][k - 1]
        spec.setdefault("scan", {})["background"] = organ
    try:
        return config.from_dict(raw, str(manifest))
    except config.CaseError as err:
        if "scan.background" not in str(err):
            raise
        raise config.CaseError(
            f"{err}\n  (seedsoil image: give it with --background ORGAN=BACKGROUND, or leave "
            "the organ out of --organs)"
        ) from None


def _pick(times_h: list[float], wanted: str | None, interval_h: float, organ: str) -> list[int]:
    """Indices of the stored outputs asked for: "all", hours (comma list) each matched to the
    nearest stored output within half an output interval, or None: the last.
    """
    if wanted is None:
        return [len(times_h) - 1]
    if wanted.strip().lower() == "all":
        return list(range(len(times_h)))
    out = []
    for item in (w for w in wanted.split(",") if w.strip()):
        try:
            h = float(item)
        except ValueError:
            raise config.CaseError(f"--times {item!r}: hours (a number), or 'all'") from None
        k = min(range(len(times_h)), key=lambda i: abs(times_h[i] - h))
        if not abs(times_h[k] - h) <= 0.5 * interval_h * (1.0 + 1e-9):
            stored = ", ".join(f"{t:.6g}" for t in times_h)
            raise config.CaseError(
                f"--times {item}: organ {organ!r} has no output within half an output interval "
                f"({0.5 * interval_h:.6g} h) of {h:g} h; its stored times (h): {stored}"
            )
        out.append(k)
    return sorted(set(out))


def image_run(
    outdir: Path,
    *,
    modalities: list[str] | None = None,
    organs: list[str] | None = None,
    times: str | None = None,
    voxel_mm: float | None = None,
    fwhm_mm: float | None = None,
    sets: list[str] | None = None,
    backgrounds: dict[str, str] | None = None,
    folder: Path | None = None,
) -> tuple[Path, list[Row]]:
    """Image a finished run (see the module's note) and write findings.csv and imaging.json.

    Args:
        outdir: The run's output folder.
        modalities: pet, ct, mri; None: the case's imaging.modalities, else all three.
        organs: Organ names; None: the case's imaged organs.
        times: "all", hours as a comma list, or None: the last stored output.
        voxel_mm: The voxel edge of every chosen modality (None: the case's).
        fwhm_mm: The resolution of every chosen modality (None: the case's).
        sets: ``imaging.KEY=VALUE`` overrides (TOML values).
        backgrounds: Organ name -> background organ (solver.clinic.background.ORGANS).
        folder: Where the files go (None: OUTDIR/imaging).

    Returns:
        The folder written to and the findings, by organ, modality, time.
    """
    outdir = Path(outdir)
    case = _case(
        outdir, modalities or [], organs or [], sets or [], backgrounds or {}, voxel_mm, fwhm_mm
    )
    folder = Path(folder) if folder is not None else outdir / "imaging"
    follow = FollowUp(case, folder)
    hours_per_t = case.scales.time_s / 3600.0
    interval_h = case.output.every * case.time.dt * hours_per_t
    found: list[Row] = []
    notes: dict[str, list[str]] = {}
    for index in case.imaged():
        name = case.organs()[index].name
        stored = outputs.stored_times(outdir, case, index)
        for j in _pick([t * hours_per_t for t in stored], times, interval_h, name):
            t = stored[j]
            step = round(t / case.time.dt)
            section = outputs.section_at(outdir, case, index, t)
            notes[name] = list(section.assumed)
            for m, f in follow.look(index, name, section, step, write=True).items():
                found.append(
                    Row(
                        name,
                        m,
                        step,
                        t * hours_per_t,
                        f.dprime,
                        f.detected,
                        f.lesions,
                        f.suv_peak,
                        f.percist,
                        case.imaging.k,
                    )
                )
    write_findings(folder / "findings.csv", found)
    settings: dict[str, Any] = {
        "run": str(outdir.resolve()),
        "imaging": case.imaging.model_dump(mode="json"),
        "backgrounds": {case.organs()[k].name: case.background(k) for k in case.imaged()},
        "assumed": notes,
    }
    (folder / "imaging.json").write_text(json.dumps(settings, indent=1) + "\n")
    return folder, found


def _cell(x: float | bool | int | str) -> str:
    """A CSV cell: NaN (not applicable) as empty, as in metrics.csv."""
    if isinstance(x, bool):
        return str(int(x))
    if isinstance(x, float):
        return "" if math.isnan(x) else repr(x)
    return str(x)


def write_findings(path: Path, found: list[Row]) -> Path:
    """findings.csv: one row per organ, modality and time (``COLUMNS``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for r in found:
            w.writerow([_cell(getattr(r, c)) for c in COLUMNS])
    return path


def table(found: list[Row]) -> str:
    """The findings as a short fixed-width table for the terminal."""
    head = f"{'organ':12s} {'mod':4s} {'step':>7s} {'hours':>9s} {'dprime':>10s} det lesions"
    head += f" {'SULpeak':>8s} PERCIST"
    lines = [head]
    for r in found:
        suv = "" if math.isnan(r.suv_peak) else f"{r.suv_peak:.3g}"
        per = "" if math.isnan(r.percist) else str(int(r.percist))
        lines.append(
            f"{r.organ:12s} {r.modality:4s} {r.step:7d} {r.hours:9.4g} {r.dprime:10.4g} "
            f"{int(r.detected):3d} {r.lesions:7d} {suv:>8s} {per:>7s}"
        )
    return "\n".join(lines)
