"""Case-file schema (pydantic v2), loading, overrides and defaults with citations.

A case is one TOML file. Every key is declared with ``param``: what it is, its unit and the
source of its default (a citation, or a tag with the reason, e.g. ``illustrative: ...``).
The case reference (docs/case-reference.md, ``python -m solver.casedoc``) and the run
manifest's list of illustrative values a run used (``Case.illustrative``) are read from
this metadata.

Each table of the case file is a ``<Table>Spec`` class (``OrganSpec`` configures the
runtime ``organ.Organ``); the whole file is ``Case``.

Units (``UNITS``): lengths in units of ``scales.length_cm`` (L) and times in units of
``scales.time_s`` (T) (docs/model.md section 0). Franssen et al. (2019) use L = 0.2 cm and
T = L^2 / 1e-6 cm^2/s = 4e4 s.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from solver import expression

# Franssen, Lorenzi, Burgess, Chaplain (2019) Bull Math Biol 81:1965, Table 1
# (nondimensional; restated in MetaSpread's documentation). Cited values.
FRANSSEN = "Franssen et al. (2019) Bull Math Biol 81:1965, Table 1"
# Anderson & Chaplain (1998) Bull Math Biol 60:857, their nondimensional values (as in the
# re-implementation of Nardini et al. 2021 PLoS Comput Biol 17:e1009094), times 0.290 for
# these units (their tau = L^2 / 2.9e-7 cm^2/s with L = 0.2 cm, docs/model.md section 0).
AC1998 = "Anderson & Chaplain (1998) Bull Math Biol 60:857, x 0.290 for these units"
_AC = 4.0e4 / (0.2**2 / 2.9e-7)

NonNeg = Annotated[float, Field(ge=0.0)]
Pos = Annotated[float, Field(gt=0.0)]
Prob = Annotated[float, Field(ge=0.0, le=1.0)]
Count = Annotated[int, Field(ge=0)]
# An expression of x, y, z (solver/expression.py), checked when the case is loaded.
Expression = Annotated[str, AfterValidator(expression.check)]

# The unit of every key (the case reference prints this legend).
UNITS: dict[str, str] = {
    "L": "length, in units of scales.length_cm",
    "T": "time, in units of scales.time_s",
    "L^2/T": "diffusivity or taxis coefficient",
    "1/T": "rate (per unit of the density or level it multiplies, as the description says)",
    "1": "dimensionless: a fraction, probability, normalised level or factor",
    "46 mmHg": "oxygen level o, normalised to healthy tissue (o = 1 ~ 46 mmHg)",
    "cells": "number of cancer cells",
    "count": "a number of things (vessel sites, tips)",
    "steps": "time steps of time.dt",
    "elements": "mesh elements' worth of work",
    "L/STL unit": "case length units per unit of the STL file",
    "mm": "millimetres",
    "SUV": "standardised uptake value: activity concentration over injected activity per body mass",
    "HU": "Hounsfield units: CT attenuation relative to water (0) and air (-1000)",
    "MBq": "megabecquerel, injected activity",
    "min": "minutes",
    "ms": "milliseconds",
    "cm": "centimetres",
    "mL": "millilitres",
    "cells/cm^3": "cells per cubic centimetre of tumour",
    "s": "seconds",
    "-": "not a quantity: a switch, a choice, a name, a seed or solver options",
}
# What a source that is not a citation says (the word before the colon). A citation names
# its year. "illustrative" values are listed in the manifest when a run uses them.
TAGS: dict[str, str] = {
    "illustrative": "a value chosen for this model, no source (the manifest lists it when used)",
    "numerical": "a solver or discretisation setting",
    "setting": "a choice of the run: its length, outputs, seeds, schedules, switches",
    "off": "the effect is off by default; a case that models it sets it",
    "derived": "follows from other values or the units",
}


def param(
    default: Any = ...,
    *,
    unit: str,
    source: str,
    doc: str,
    factory: Any = None,
    when: dict[str, str] | None = None,
) -> Any:
    """A case key with its documentation, for the case reference and the manifest.

    Args:
        default: The default value (``...``: the key is required).
        unit: One of ``UNITS``.
        source: Where the default comes from: a citation with its year, or a tag of ``TAGS``
            with the reason (``"illustrative: ..."``); ``"setting"`` alone for a choice.
        doc: What the key is, one or two sentences.
        factory: Builds a mutable default (a list or a table) instead of ``default``.
        when: The key is used only when sibling keys have these values (``{"routing":
            "anatomical"}``): an illustrative default counts only then.
    """
    extra: dict[str, Any] = {"unit": unit, "source": source}
    if when:
        extra["when"] = when
    if factory is not None:
        return Field(default_factory=factory, description=doc, json_schema_extra=extra)
    return Field(default, description=doc, json_schema_extra=extra)


class CaseError(Exception):
    """A user error in a case file or in the command line: exit code 2, no traceback."""


class Failed(Exception):
    """A run failed numerically (a field step, even in sub-steps); the outputs up to the
    last good one stay valid (exit code 4).
    """


class Strict(BaseModel):
    """A table of the case file: unknown keys are errors, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
    # The [soil] switch that turns this table's process on (None: always on).
    process: ClassVar[str | None] = None


class ScalesSpec(Strict):
    """The units of the case: every length is in L = length_cm, every time in T = time_s."""

    length_cm: Pos = param(0.2, unit="cm", source=FRANSSEN, doc="L, the unit of length.")
    time_s: Pos = param(
        4.0e4,
        unit="s",
        source=FRANSSEN,
        doc="T, the unit of time: L^2 / D_ref with D_ref = 1e-6 cm^2/s.",
    )


class TimeSpec(Strict):
    """The time step of the cells and of the fast fields, and the run's length."""

    dt: Pos = param(1.0e-3, unit="T", source=FRANSSEN, doc="Time step.")
    steps: Count = param(100, unit="steps", source="setting", doc="Run length.")


class OutputSpec(Strict):
    """What a run writes, and how often."""

    every: Annotated[int, Field(ge=1)] = param(
        50,
        unit="steps",
        source="setting",
        doc="Steps between outputs of fields, cells and metrics.",
    )
    fields: bool = param(True, unit="-", source="setting", doc="Write the fields (XDMF).")
    cells: bool = param(True, unit="-", source="setting", doc="Write the cells (VTU point clouds).")
    vtx: bool = param(
        False,
        unit="-",
        source="setting",
        doc="Also write VTX .bp (ParaView >= 5.12 with ADIOS2) besides XDMF.",
    )
    checkpoint_every: Count = param(
        0,
        unit="steps",
        source="setting",
        doc="Steps between checkpoints; 0: only on SIGTERM or SIGUSR1.",
    )
    plots: bool = param(
        True,
        unit="-",
        source="setting",
        doc="`seedsoil run` writes OUTDIR/plots/*.png at the end (solver/plots.py).",
    )


class GeometrySpec(Strict):
    """The organ's tissue: a block or an organ shape from the Gmsh builders, a closed STL
    surface or a user mesh, with a tumour region and vessel sites.
    """

    kind: Literal["box", "liver", "lung", "bone", "brain", "lymph_node", "stl", "msh"] = param(
        "box",
        unit="-",
        source="setting; lymph_node: a bean, long axis along x (size[0] > the other sides; "
        "normal nodes long/short > 2, Steinkamp et al. 1995 Br J Radiol 68:266), the hilum "
        "notched into the y = 0 side, sites in the subcapsular sinus on the convex side (Das et "
        "al. 2013 J Exp Med 210:1509)",
        doc="A Gmsh builder (box, liver, lung, bone, brain, lymph_node), a closed surface (stl) or"
        " a user mesh (msh).",
    )
    dim: Literal[2, 3] = param(2, unit="-", source="setting", doc="Spatial dimension.")
    size: list[Pos] = param(
        unit="L",
        source=f"{FRANSSEN}: the unit square",
        factory=lambda: [1.0, 1.0],
        doc="Side lengths of the block (the bounding box of an organ shape).",
    )
    h: Pos = param(
        5.0e-3, unit="L", source=f"{FRANSSEN}: 201 x 201 nodes on [0, 1]^2", doc="Mesh size."
    )
    h_fine: Pos | None = param(
        None,
        unit="L",
        doc="Mesh size near the tumour and the vessels; unset: h.",
        source="illustrative: mesh size near tumour and vessels (numerical choice)",
    )
    tumour_centre: list[float] | None = param(
        None, unit="L", source="setting", doc="Centre of the tumour; unset: the block's centre."
    )
    tumour_radius: Pos = param(
        0.03,
        unit="L",
        source="illustrative: initial tumour region for meshing",
        doc="Radius of the tumour region refined in the mesh.",
    )
    # MetaSpread's documentation table states 2 normal + 8 ruptured; its code (the reference)
    # has 8 normal + 2 ruptured, as the Franssen cases (docs/fidelity.md).
    normal_vessels: Count = param(
        2,
        unit="count",
        source="Franssen et al. (2019), documentation table",
        doc="Normal vessel sites: a mesenchymal cell there triggers intravasation.",
    )
    ruptured_vessels: Count = param(
        8,
        unit="count",
        source="Franssen et al. (2019), documentation table",
        doc="Ruptured vessel sites: any cell there triggers intravasation.",
    )
    vessel_radius: Pos = param(
        5.0e-3,
        unit="L",
        source="illustrative: vessel site radius ~ one cell diameter",
        doc="Radius of a vessel site.",
    )
    vessel_min_distance: NonNeg = param(
        0.2,
        unit="L",
        source="illustrative: vessels placed away from the tumour",
        doc="Least distance of a randomly placed vessel site from the tumour.",
    )
    vessel_seed: int = param(
        0, unit="-", source="setting", doc="Seed of the random vessel placement."
    )
    vessel_centres: list[list[float]] | None = param(
        None,
        unit="L",
        source="setting",
        doc="Explicit ruptured vessel sites, instead of random placement.",
    )
    file: str | None = param(
        None,
        unit="-",
        source="setting",
        doc="kind = stl or msh: the file, relative to the case file.",
    )
    stl_scale: Pos = param(
        1.0,
        unit="L/STL unit",
        source="setting",
        doc="kind = stl: case length units per STL unit (0.5 for an STL in mm with L = 2 mm).",
    )

    @model_validator(mode="after")
    def _shape(self):
        if self.kind in ("msh", "stl") and self.file is None:
            raise ValueError(f"kind = '{self.kind}' needs file = 'path/to/organ.{self.kind}'")
        if self.kind == "stl" and self.dim != 3:
            raise ValueError("kind = 'stl' meshes the volume inside a closed surface: set dim = 3")
        if self.kind not in ("msh", "stl") and len(self.size) != self.dim:
            raise ValueError(
                f"size must have {self.dim} entries (one per dimension), got {len(self.size)}"
            )
        if (
            self.kind != "msh"
            and self.tumour_centre is not None
            and len(self.tumour_centre) != self.dim
        ):
            raise ValueError(f"tumour_centre must have {self.dim} entries")
        if self.kind == "lymph_node" and self.size[0] <= max(self.size[1:]):
            raise ValueError(
                f"kind = 'lymph_node' is a bean with its long axis along x: size[0] must exceed "
                f"the other sides, got size = {list(self.size)} (normal nodes: long/short > 2, "
                "Steinkamp et al. 1995)"
            )
        if self.kind not in ("msh", "stl") and self.h > min(self.size) / 2:
            raise ValueError(
                f"h = {self.h} is coarser than the tissue (smallest side {min(self.size)}): "
                f"use h <= {min(self.size) / 2:g}"
            )
        return self


class ECMSpec(Strict):
    """The extracellular matrix w, degraded by mesenchymal cells and MMP (docs/model.md
    section 1).
    """

    w0: Prob = param(1.0, unit="1", source=f"{FRANSSEN}: uniform", doc="Initial ECM density.")
    w0_groups: dict[str, Prob] = param(
        unit="1",
        source="setting",
        factory=dict,
        doc="Initial ECM density per physical group of the mesh.",
    )
    Gamma1: NonNeg = param(
        1.0, unit="1/T", source=FRANSSEN, doc="Degradation by mesenchymal cells."
    )
    Gamma2: NonNeg = param(1.0, unit="1/T", source=FRANSSEN, doc="Degradation by MMP.")


class MMPSpec(Strict):
    """Matrix metalloproteinase m (docs/model.md section 1)."""

    D: NonNeg = param(1.0e-3, unit="L^2/T", source=FRANSSEN, doc="D_m, diffusivity.")
    Theta: NonNeg = param(
        0.195, unit="1/T", source=FRANSSEN, doc="Production by mesenchymal cells."
    )
    Lambda: NonNeg = param(0.1, unit="1/T", source=FRANSSEN, doc="Decay.")


class ExtravasationSpec(Strict):
    """A secondary organ's extravasation (no cell arrives in the primary): an arrival settles
    with p_ext = 1 - (1 - p0) exp(-epsilon N_local) (docs/model.md section 4).
    """

    p0: Prob = param(
        1.0,
        unit="1",
        source=f"{FRANSSEN}: arrivals settle wherever there is room",
        doc="Probability that an arrival extravasates into unconditioned tissue.",
    )
    epsilon: NonNeg = param(
        0.0,
        unit="1",
        source="off: a case that models the niche sets it",
        doc="Niche effect on extravasation, per unit conditioning N.",
    )


class OxygenSpec(Strict):
    """o, normalised to healthy tissue (o = 1 ~ 46 mmHg, the median normal-tissue pO2 in
    Vaupel's compilation, McKeown 2014 Br J Radiol 87:20130676, Table 2):
    do/dt = D lap o + supply (b0 (1 - regression min(c/Q, 1)) + b)(1 - o) - uptake c o
    (docs/model.md section 2; the regression factor: section 6).
    """

    process: ClassVar[str | None] = "oxygen"

    D: NonNeg = param(
        17.5,
        unit="L^2/T",
        source="Grote, Suesskind & Vaupel (1977) Pfluegers Arch 372:37",
        doc="Diffusivity: 1.75e-5 cm^2/s at 37 C.",
    )
    # o falls to the hypoxic level ~100 um and to anoxia ~200 um into packed tumour.
    uptake: NonNeg = param(
        9.3e3,
        unit="1/T",
        doc="Consumption per unit cell density: ~120 amol O2 per cell per second.",
        source="diffusion limit 120-140 um: Grote (1977), Lanzen et al. (2006) Cancer Res 66:2219;"
        " inside the range of Wagner et al. (2011) Free Radic Biol Med 51:700",
    )
    supply: NonNeg = param(
        3.7e4,
        unit="1/T",
        doc="Supply per unit vessel density.",
        source="illustrative: oxygen supply per vessel density: a vascularised packed patch stays "
        "normoxic",
    )
    b0: Prob = param(
        0.1,
        unit="1",
        doc="Density of the background capillaries.",
        source="illustrative: background capillaries: a packed colony's core goes hypoxic without "
        "new vessels",
    )
    regression: Prob = param(
        1.0,
        unit="1",
        source="Holash et al. (1999) Science 284:1994: co-opted vessels regress",
        doc="Fraction of the background capillaries a packed colony displaces, so that its core "
        "goes anoxic and dies unless new vessels reach it (angiogenic dormancy).",
    )
    hypoxia: Prob = param(
        0.22,
        unit="46 mmHg",
        doc="o_hyp: division stops below it (pO2 < 10 mmHg).",
        source="Hughes et al. (2019) Br J Radiol 92:20170955",
    )
    necrosis: Prob = param(
        0.02,
        unit="46 mmHg",
        source="illustrative: anoxia ~1 mmHg",
        doc="o_nec: cells die below it.",
    )


class VEGFSpec(Strict):
    """v, normalised to a packed hypoxic colony's steady level:
    dv/dt = D lap v + s_cells c H(o) + s_niche N - decay v - vessel_uptake b v.
    """

    process: ClassVar[str | None] = "vegf"

    D: NonNeg = param(
        0.29,
        unit="L^2/T",
        doc="Diffusivity: 2.9e-7 cm^2/s, the TAF diffusivity.",
        source="Anderson & Chaplain (1998) Bull Math Biol 60:857, their scaling",
    )
    decay: NonNeg = param(
        5.1,
        unit="1/T",
        doc="Decay: half-life 90 min.",
        source="Kleinheinz et al. (2010) Head Face Med 6:17",
    )
    s_cells: NonNeg = param(
        1.3,
        unit="1/T",
        doc="Production per unit hypoxic cell density.",
        source="derived: decay / 4 makes v = 1 in a packed hypoxic colony",
    )
    s_niche: NonNeg = param(
        2.5,
        unit="1/T",
        doc="Production by conditioned tissue, per unit N.",
        source="illustrative: VEGF from conditioned tissue: v = 0.5 where N = 1",
    )
    vessel_uptake: NonNeg = param(
        5.1,
        unit="1/T",
        doc="k_v, uptake per unit vessel density.",
        source="illustrative: VEGF uptake by perfused vessels ~ its decay",
    )
    hypoxia_width: Pos = param(
        0.02,
        unit="46 mmHg",
        doc="Width of the smoothed switch H(o) around o_hyp.",
        source="numerical: smooths the switch over a few % of o",
    )
    initial: Expression = param(
        "0",
        unit="1",
        source="setting",
        doc="v at t = 0: an expression of x, y, z (e.g. a benchmark's TAF profile).",
    )


class NicheSpec(Strict):
    """The exosome-borne niche factor x and the conditioning N (docs/model.md section 5):
    dx/dt = D lap x - (decay + uptake) x + (organ uptake from plasma, where vessels are);
    dN/dt = rate uptake x (1 - N) - loss N (pointwise, exact).
    """

    process: ClassVar[str | None] = "niche"

    D: NonNeg = param(
        0.01,
        unit="L^2/T",
        source="illustrative: exosome diffusivity in tissue",
        doc="Diffusivity: exosomes (~100 nm) barely diffuse in tissue.",
    )
    decay: NonNeg = param(
        1.0, unit="1/T", source="illustrative: niche-factor decay", doc="Decay of x."
    )
    uptake: NonNeg = param(
        1.0,
        unit="1/T",
        source="illustrative: niche-factor uptake by resident cells",
        doc="k_u, uptake of x by resident cells.",
    )
    rate: NonNeg = param(
        0.033,
        unit="1/T",
        source="Kaplan et al. (2005) Nature 438:820: niche before the cells",
        doc="k_N, conditioning rate: N reaches 63 % in ~14 days at x = 1.",
    )
    loss: NonNeg = param(
        0.015,
        unit="1/T",
        source="illustrative: loss of conditioning (weeks)",
        doc="delta_N, loss of conditioning: it lasts weeks (Peinado et al. 2012 Nat Med 18:883).",
    )
    deposition: NonNeg = param(
        0.0,
        unit="1/T",
        source="off: fibronectin deposition (Costa-Silva et al. 2015)",
        doc="mu_w, ECM deposition where N > 0, per unit N.",
    )
    wake: NonNeg = param(
        5.0,
        unit="1",
        source="illustrative: wake-up gain of dormant cells in a conditioned niche",
        doc="epsilon_w: dormant cells wake at r_wake (1 + wake N).",
    )


class AngiogenesisSpec(Strict):
    """Tip cells (solver/vessels.py): motility D, chemotaxis chi0 / (1 + alpha v), haptotaxis
    rho, fibronectin production beta and uptake gamma, VEGF uptake eta (A&C 1998).
    """

    process: ClassVar[str | None] = "angiogenesis"

    D: NonNeg = param(3.5e-4 * _AC, unit="L^2/T", source=AC1998, doc="Random motility of tips.")
    chi0: NonNeg = param(
        0.38 * _AC, unit="L^2/T", source=AC1998, doc="Chemotaxis chi0 / (1 + alpha v)."
    )
    alpha: NonNeg = param(
        0.6, unit="1", source="Anderson & Chaplain (1998)", doc="Chemotactic saturation."
    )
    rho: NonNeg = param(0.34 * _AC, unit="L^2/T", source=AC1998, doc="Haptotaxis up fibronectin.")
    beta: NonNeg = param(
        0.05 * _AC, unit="1/T", source=AC1998, doc="Fibronectin production by tips."
    )
    gamma: NonNeg = param(0.1 * _AC, unit="1/T", source=AC1998, doc="Fibronectin uptake by tips.")
    eta: NonNeg = param(0.1 * _AC, unit="1/T", source=AC1998, doc="VEGF uptake by tips.")
    psi: NonNeg = param(
        0.5 / _AC,
        unit="T",
        source=f"{AC1998} (their psi = 0.5)",
        doc="Least tip age before branching.",
    )
    branch: NonNeg = param(
        1.0,
        unit="1/T",
        source="illustrative: tip branching probability per unit VEGF",
        doc="Branching probability per unit time per unit v after psi.",
    )
    sprout_threshold: NonNeg = param(
        0.1,
        unit="1",
        source="illustrative: VEGF level at which vessel sites sprout",
        doc="VEGF above which a perfused vessel site sprouts.",
    )
    sprout_rate: NonNeg = param(
        2.0,
        unit="1/T",
        source="illustrative: sprouting rate per unit VEGF excess",
        doc="Sprouts per unit time per site per unit VEGF excess.",
    )
    max_tips: Annotated[int, Field(ge=1)] = param(
        20_000, unit="count", source="numerical: a memory cap", doc="Most tips per organ."
    )
    f_initial: Expression = param(
        "0", unit="1", source="setting", doc="Fibronectin at t = 0: an expression of x, y, z."
    )
    initial_tips: bool = param(
        False,
        unit="-",
        source="setting: Anderson & Chaplain (1998)'s start",
        doc="One tip from every vessel site at the first step.",
    )
    anastomosis: Literal["any", "active"] = param(
        "any",
        unit="-",
        source="setting: active is the rule of Nardini et al. (2021), scripts/ac1998_lattice.py",
        doc="A tip fuses on meeting the trail of any sprout (a vessel is a vessel), or only of a "
        "sprout whose tip is still active.",
    )
    # With 0.028 the A&C benchmark matches the lattice at h = 0.01 and 0.005.
    escape: NonNeg = param(
        0.028,
        unit="L",
        source="illustrative: no anastomosis within 56 um of a sprout's birth point",
        doc="No anastomosis within this distance of where either sprout was born (at least two "
        "mesh cells): a branch and its parent would otherwise re-cross each other's trails at "
        "once.",
    )


class ScanSpec(Strict):
    """How a scan sees the organ: the organ at its real size around the simulated domain
    (solver/clinic/background.py, docs/imaging.md).
    """

    background: str | None = param(
        None,
        unit="-",
        source="setting",
        doc="The organ of solver.clinic.background.ORGANS (liver, lung, bone, brain, breast, "
        "lymph_node) whose size and signal surround the domain; unset: the organ's type, and "
        "for the primary circulation.primary_type.",
    )
    at_mm: tuple[float, float, float] = param(
        (0.0, 0.0, 0.0),
        unit="mm",
        source="setting",
        doc="Where the domain's centre sits in that organ (x y z from the organ's centre).",
    )

    @model_validator(mode="after")
    def _known(self):
        from solver.clinic.background import ORGANS, Scene

        if self.background is not None and self.background not in ORGANS:
            raise ValueError(
                f"background {self.background!r} is not one of {', '.join(ORGANS)} "
                "(solver/clinic/background.py)"
            )
        if self.background is not None:
            Scene(ORGANS[self.background], (0.0, 0.0, 0.0), self.at_mm)  # at_mm inside it
        return self


class OrganSpec(Strict):
    """An organ: [primary], or one [[secondary]] table per secondary organ."""

    name: str = param(
        "primary", unit="-", source="setting", doc="The organ's name (its output folder)."
    )
    geometry: GeometrySpec = Field(default_factory=GeometrySpec)
    ecm: ECMSpec = Field(default_factory=ECMSpec)
    mmp: MMPSpec = Field(default_factory=MMPSpec)
    extravasation: ExtravasationSpec = Field(default_factory=ExtravasationSpec)
    oxygen: OxygenSpec = Field(default_factory=OxygenSpec)
    vegf: VEGFSpec = Field(default_factory=VEGFSpec)
    niche: NicheSpec = Field(default_factory=NicheSpec)
    angiogenesis: AngiogenesisSpec = Field(default_factory=AngiogenesisSpec)
    colony: Count = param(
        0,
        unit="cells",
        source="setting",
        doc="A secondary's cells at t = 0: a micrometastasis at its tumour centre.",
    )
    colony_per_place: Pos | None = param(
        None,
        unit="cells",
        source="setting",
        doc="The colony's cells per place; unset: the packed density (fill the places nearest "
        "the tumour centre).",
    )
    scan: ScanSpec = Field(default_factory=ScanSpec)
    type: str | None = param(
        None,
        unit="-",
        source="setting",
        doc="Organ type for anatomical routing and exosome uptake; unset: geometry.kind (liver, "
        "lung, ...) or else the name.",
    )
    regional: bool = param(
        True,
        unit="-",
        source="AJCC Cancer Staging Manual, 8th ed. (2017): regional nodes are N, other nodes M1",
        doc="A lymph_node organ: a regional node of the primary (counts towards N) or not "
        "(a distant node: counts towards M1). Only for organs of type lymph_node.",
    )

    def organ_type(self) -> str:
        """The organ type: ``type``, else the geometry kind (liver, lung, ...), else the name."""
        return self.type or (
            self.geometry.kind if self.geometry.kind not in ("box", "msh", "stl") else self.name
        )


class HazardsSpec(Strict):
    """Death in the blood as hazards (docs/survival.md), used with `circulation.survival =
    "hazards"`: a unit of n cells that spends tau in the blood survives with exp(-g(n) H),
    H the integral over tau of shear + natural-killer + baseline hazards, each lowered by
    its platelet shield when the unit is coated (with probability `coated`; an
    anti-platelet intervention removes part of the coat), g(1) = 1 and g(n) = cluster
    (n / 2)^-size_exponent for clusters. The rates assume T = 4e4 s (1/T = 0.09 per hour).
    """

    shear: NonNeg = param(
        2.0,
        unit="1/T",
        source="illustrative: 0.18 per hour at resting shear, below the >= 0.58 per hour "
        "(over 90 % necrotic in 4 h) at exercise-level 60 dyn/cm^2 of Regmi et al. (2017) Sci "
        "Rep 7:39975, who saw fewer deaths at the resting 15 dyn/cm^2",
        doc="Hazard of death by haemodynamic shear of a bare single cell.",
    )
    nk: NonNeg = param(
        4.0,
        unit="1/T",
        source="illustrative: 0.36 per hour, the largest of the three as natural-killer cells "
        "clear most uncoated tumour cells from the blood (Nieswandt et al. 1999 Cancer Res "
        "59:1295), no rate measured in man",
        doc="Hazard of death by natural-killer cells of a bare single cell.",
    )
    baseline: NonNeg = param(
        1.0,
        unit="1/T",
        source="illustrative: 0.09 per hour, anoikis and phagocytic clearance of detached "
        "epithelial cells over hours (Frisch & Francis 1994 J Cell Biol 124:619)",
        doc="Baseline hazard (the time term: anoikis, phagocytes) of a bare single cell.",
    )
    coated: Prob = param(
        0.5,
        unit="1",
        source="illustrative: half the units coated by platelets; platelets bind CTCs within "
        "minutes in the blood (Labelle et al. 2011 Cancer Cell 20:576), no coated fraction "
        "measured",
        doc="Probability that a unit is coated by platelets.",
    )
    shield_shear: Prob = param(
        0.5,
        unit="1",
        source="illustrative: platelets protect tumour cells from shear-induced damage (Egan et "
        "al. 2014 Clin Exp Metastasis 31:697), by half here",
        doc="Fraction of the shear hazard a platelet coat removes.",
    )
    shield_nk: Prob = param(
        0.9,
        unit="1",
        source="illustrative: platelet-coated cells escape NK lysis and platelet depletion "
        "restores it (Nieswandt et al. 1999 Cancer Res 59:1295), 90 % here",
        doc="Fraction of the natural-killer hazard a platelet coat removes.",
    )
    shield_baseline: Prob = param(
        0.0,
        unit="1",
        source="off: no cited protection of coated cells from anoikis in the blood",
        doc="Fraction of the baseline hazard a platelet coat removes.",
    )
    cluster: NonNeg = param(
        0.485,
        unit="1",
        source="derived: ln P_C / ln P_s of Franssen et al. (2019) (Table 1), clusters more "
        "resistant per cell and shorter in the blood (Aceto et al. 2014 Cell 158:1110)",
        doc="g(2): the hazard of a two-cell cluster relative to a single cell's.",
    )
    size_exponent: NonNeg = param(
        0.5,
        unit="1",
        source="illustrative: larger clusters hide more cells from shear and NK (Aceto et al. "
        "2014 Cell 158:1110), no size law measured",
        doc="g(n) = cluster (n / 2)^-size_exponent for a cluster of n >= 2 cells.",
    )


class CirculationSpec(Strict):
    """The blood (docs/model.md section 4); Franssen et al. (2019), Table 1 and section 2.4."""

    T_V: Pos = param(0.18, unit="T", source=FRANSSEN, doc="Time in the blood: 180 steps of 1e-3.")
    P_d: Prob = param(
        0.5, unit="1", source=FRANSSEN, doc="A cell breaks away from a multicell cluster."
    )
    P_s: Prob = param(5.0e-4, unit="1", source=FRANSSEN, doc="A single cell survives the blood.")
    P_C: Prob = param(2.5e-2, unit="1", source=FRANSSEN, doc="A cluster survives the blood.")
    survival: Literal["constant", "hazards"] = param(
        "constant",
        unit="-",
        source="setting",
        doc="constant: single cells survive with P_s, clusters with P_C; hazards: with the "
        "hazards of [circulation.hazards] over their time in the blood (docs/survival.md).",
    )
    hazards: HazardsSpec = Field(default_factory=HazardsSpec)
    order: Literal["disaggregate_first", "survive_first"] = param(
        "disaggregate_first",
        unit="-",
        source="Franssen et al. (2019), as the reference code (MetaSpread)",
        doc="Whether clusters break up before or after the survival draw.",
    )
    routing: Literal["split", "anatomical"] = param(
        "split",
        unit="-",
        source="setting",
        doc="split: arrivals go to the secondaries by `split`; anatomical: through the capillary "
        "beds (solver/circulation.py: first bed, lungs, then arteries).",
    )
    split: dict[str, Prob] = param(
        unit="1",
        source="setting",
        factory=dict,
        doc="Secondary organ -> fraction of the arrivals (sum 1); empty: equal.",
    )
    primary_type: Literal["colorectal", "breast", "prostate", "lung", "melanoma", "other"] = param(
        "other",
        unit="-",
        source="setting",
        doc="Anatomical routing: the primary's type, which sets the first bed.",
    )
    arrest: dict[str, Prob] = param(
        unit="1",
        factory=dict,
        when={"routing": "anatomical"},
        source="illustrative: arrest in a capillary bed 0.8 (CTCs of 12-25 um vs 5-8 um "
        "capillaries)",
        doc="Organ type -> probability of arrest in its capillary bed; default 0.8.",
    )
    affinity: dict[str, NonNeg] = param(
        unit="1",
        source="setting",
        factory=dict,
        doc="Organ type -> metastatic efficiency index; default: fitted to the incidence per "
        "primary type (solver/circulation.py).",
    )
    vertebral_bypass: Prob = param(
        0.0,
        unit="1",
        source="off: prostate cases set it (Batson's plexus)",
        doc="Prostate: fraction that reaches bone through Batson's plexus.",
    )

    @model_validator(mode="after")
    def _hazards_used(self):
        # Compared by value, not by the keys set: a restart's case sets every key.
        if self.survival == "constant" and self.hazards != HazardsSpec():
            raise ValueError(
                "key 'circulation.hazards' sets the hazards of death in the blood, and "
                "circulation.survival is 'constant' (P_s, P_C): set circulation.survival = "
                "'hazards' or drop the table"
            )
        return self

    @model_validator(mode="after")
    def _fit_affinities(self):
        # The default affinities are fitted to the case's arrest: refuse at load a case they
        # cannot fit.
        from .circulation import INCIDENCE, default_affinity

        if self.routing == "anatomical" and set(INCIDENCE.get(self.primary_type, ())) - set(
            self.affinity
        ):
            try:
                default_affinity(self)
            except CaseError as err:
                raise ValueError(str(err)) from None
        return self


# Tumour cells packed without stroma: 10^9 cells per cm^3 (1 g), the classic figure for cells of
# ~10 um; Del Monte (2009) Cell Cycle 8:505 argues that epithelial tumours, with their stroma,
# hold about an order of magnitude fewer. A packing ceiling, so the packed value.
PACKED_CELLS_PER_CM3 = 1.0e9


class LiquidBiopsySpec(Strict):
    """The liquid biopsy: CellSearch counts of circulating tumour cells in a blood sample of the
    patient, scaled up from the simulated blood (solver/clinic/liquid_biopsy.py,
    docs/liquid-biopsy.md).
    """

    volume_ml: Pos = param(
        7.5,
        unit="mL",
        source="Cristofanilli et al. (2004) N Engl J Med 351:781: the CellSearch sample",
        doc="Blood drawn for one test.",
    )
    blood_volume_ml: Pos = param(
        5000.0,
        unit="mL",
        source="ICRP Publication 89 (2002) Ann ICRP 32(3-4): reference adult 5.3 L (male), "
        "3.9 L (female); 5 L, the usual round adult value",
        doc="The patient's blood volume, over which the circulating cells are spread.",
    )
    capture_efficiency: Prob = param(
        0.85,
        unit="1",
        source="Allard et al. (2004) Clin Cancer Res 10:6897: ~80-85 % recovery of cancer cells "
        "spiked into 7.5 mL of blood",
        doc="Chance that an EpCAM-positive unit (a cell or a cluster) in the sample is captured "
        "and counted.",
    )
    epcam_E: Prob = param(
        1.0,
        unit="1",
        source="illustrative: epithelial CTCs taken as EpCAM-positive, like the spiked cell lines "
        "behind capture_efficiency",
        doc="Fraction of epithelial cells that carry EpCAM.",
    )
    epcam_M: Prob = param(
        0.1,
        unit="1",
        source="illustrative: most mesenchymal CTCs lose EpCAM and escape CellSearch (Gorges et "
        "al. 2012 BMC Cancer 12:178; Yu et al. 2013 Science 339:580), no fraction measured",
        doc="Fraction of mesenchymal cells that carry EpCAM.",
    )
    tumour_diameter_cm: Pos = param(
        2.0,
        unit="cm",
        source="illustrative: 2 cm, the T1/T2 boundary of breast cancer (AJCC Cancer Staging "
        "Manual, 8th ed., 2017)",
        doc="Diameter of the patient's primary when the run starts (a sphere).",
    )
    cells_per_cm3: Pos = param(
        PACKED_CELLS_PER_CM3,
        unit="cells/cm^3",
        source="derived: PACKED_CELLS_PER_CM3, 1e9 per cm^3 (Del Monte 2009 Cell Cycle 8:505; "
        "about 10 times fewer with the stroma)",
        doc="Tumour cells per cm^3 of the patient's primary.",
    )
    factor: Pos | None = param(
        None,
        unit="1",
        source="derived: unset, the patient's tumour cells (tumour_diameter_cm, cells_per_cm3) "
        "over the simulated primary's at t = 0",
        doc="Patient cells per simulated cell: the patient's blood holds factor times the "
        "simulated blood's cells.",
    )
    threshold: Annotated[int, Field(ge=1)] | None = param(
        None,
        unit="cells",
        source="derived: unset, the cited prognostic threshold of circulation.primary_type "
        "(THRESHOLDS in solver/clinic/liquid_biopsy.py)",
        doc="CTCs per sample at or above which the count is prognostic.",
    )


# Fraction of an intravenous dose of tumour exosomes found per organ at 4 h (B16BL6
# exosomes in mice; J Pharm Sci (2015) 104:705, Table/Fig.); other organ types: 1 % (illustrative).
EXOSOME_UPTAKE = {"liver": 0.28, "lung": 0.07, "spleen": 0.016}
EXOSOME_UPTAKE_OTHER = 0.01  # other organ types (illustrative; listed as exosomes.uptake)


class ExosomesSpec(Strict):
    """The plasma exosome pool E (docs/model.md section 5; solver/circulation.py ExosomePool)."""

    process: ClassVar[str | None] = "niche"

    release: NonNeg = param(
        1.0e-2,
        unit="1/T",
        source="illustrative: exosome release per primary cell",
        doc="sigma, release per primary cell: x ~ 1 in a primed organ of size 1 from ~1e4 cells.",
    )
    removal: Pos = param(
        231.0,
        unit="1/T",
        doc="k_clear + sum k_j: plasma half-life ~2 min.",
        source="Takahashi et al. (2013) J Biotechnol 165:77, as cited by Wiklander et al. (2015)",
    )
    uptake: dict[str, Prob] = param(
        unit="1",
        factory=dict,
        source="illustrative: exosome uptake by an organ type without a measured fraction: 1 % of "
        "the removal",
        doc="Organ type -> fraction of the removal; default: liver 0.28, lung 0.07, spleen 0.016 "
        "(J Pharm Sci (2015) 104:705), other types 0.01.",
    )
    tropism: Literal["none", "lung", "liver", "brain"] = param(
        "none",
        unit="-",
        source="setting: integrins after Hoshino et al. (2015) Nature 527:329",
        doc="none: uptake by the fractions above; otherwise the matching organ type keeps its "
        "fraction and the others are multiplied by off_target (alpha6beta4 -> lung, "
        "alphavbeta5 -> liver).",
    )
    off_target: Prob = param(
        0.15,
        unit="1",
        source="illustrative: uptake of integrin-tropic exosomes by non-target organs",
        doc="Uptake of tropic exosomes by non-target organs, as a factor (no affinities "
        "published).",
    )


KAPLAN = "Kaplan et al. (2005) Nature 438:820"
ERLER = "Erler et al. (2009) Cancer Cell 15:35"


class RecruitsSpec(Strict):
    """The niche's recruited cells (docs/niche-cells.md; solver/fields/recruits.py): lysyl
    oxidase (LOX) released by hypoxic primary cells into a plasma pool P,
    dP/dt = release H - removal P (H: hypoxic primary cells; each secondary takes
    ``uptake`` of the removal where its vessels are); in each secondary, LOX in the tissue
    dL/dt = (its uptake) - decay L, cross-linked matrix dX/dt = crosslink L (1 - X) - X_loss X,
    and recruited bone-marrow-derived myeloid cells (CD11b+ and VEGFR1+, one density)
    dR/dt = (by_lox X + by_niche N) (R_max - R) - death R, pointwise (no diffusion).
    """

    process: ClassVar[str | None] = "recruits"

    release: NonNeg = param(
        0.05,
        unit="1/T",
        source="illustrative: LOX release per hypoxic primary cell (L ~ 1 in a target organ "
        "of size 1 from ~1e3 hypoxic cells)",
        doc="LOX amount released into the plasma per hypoxic primary cell (o < oxygen.hypoxia; "
        "Erler et al. 2006 Nature 440:1222: hypoxia induces LOX) per unit time.",
    )
    removal: Pos = param(
        5.0,
        unit="1/T",
        source="illustrative: plasma half-life of LOX ~1.5 h (no measured value found)",
        doc="Removal rate of LOX from the plasma: clearance plus every organ's uptake.",
    )
    uptake: Prob = param(
        0.1,
        unit="1",
        source=f"illustrative: {ERLER} report LOX accumulating in the lungs, not its share",
        doc="Fraction of the plasma removal each secondary organ takes up (where its vessels "
        "are); the rest is cleared elsewhere.",
    )
    decay: NonNeg = param(
        0.1,
        unit="1/T",
        source="illustrative: turnover of LOX in the tissue (~4 days)",
        doc="Decay of LOX in the tissue.",
    )
    crosslink: NonNeg = param(
        1.0,
        unit="1/T",
        source=f"illustrative: {ERLER}: LOX cross-links collagen IV of the basement membrane",
        doc="Cross-linking rate of the matrix per unit LOX in the tissue.",
    )
    crosslink_loss: NonNeg = param(
        0.01,
        unit="1/T",
        source="illustrative: collagen turnover (weeks to months)",
        doc="Loss of cross-linked matrix (collagen turnover).",
    )
    R_max: Pos = param(
        1.0,
        unit="cells",
        source="illustrative: the saturation of recruited cells, per h_ref^d",
        doc="Saturation of the recruited density (cells per h_ref^d); R / R_max is the "
        "occupancy the effects read.",
    )
    by_lox: NonNeg = param(
        0.1,
        unit="1/T",
        source=f"illustrative: {ERLER}: CD11b+ cells adhere to LOX-cross-linked collagen IV",
        doc="Recruitment of CD11b+ myeloid cells per unit cross-linked matrix X.",
    )
    by_niche: NonNeg = param(
        0.1,
        unit="1/T",
        source=f"illustrative: {KAPLAN}: VEGFR1+ progenitors home to fibronectin-rich niches",
        doc="Recruitment of VEGFR1+ haematopoietic progenitors per unit niche conditioning N "
        "(with soil.niche).",
    )
    death: NonNeg = param(
        0.05,
        unit="1/T",
        source="illustrative: residence of recruited myeloid cells ~9 days",
        doc="Death or departure of recruited cells.",
    )
    extravasation: NonNeg = param(
        2.0,
        unit="1",
        source=f"illustrative: {KAPLAN}: clusters provide a permissive niche for incoming "
        "tumour cells",
        doc="epsilon_R: arrivals extravasate with p_ext = 1 - (1 - p0) exp(-epsilon N - "
        "epsilon_R R / R_max).",
    )
    proliferation: NonNeg = param(
        1.0,
        unit="1",
        source=f"illustrative: {ERLER}: LOX inhibition prevents metastatic growth",
        doc="g: cells in a secondary divide at their rate times (1 + g R / R_max) (continuum: "
        "growth rate; discrete: cycle clock; asynchronous division only).",
    )
    mediate_niche: bool = param(
        False,
        unit="-",
        source=f"setting: {KAPLAN}: without VEGFR1+ cells there is no niche and no metastasis",
        doc="true: the niche conditioning N acts on extravasation only through the recruited "
        "cells (its epsilon N term is dropped, R / R_max carries it).",
    )


# The intervention kinds: the case's ``kind`` and Body.treat's dispatch read this one list.
InterventionKind = Literal[
    "resection",
    "vegf_blockade",
    "exosome_release",
    "integrin",
    "antiplatelet",
    "vegfr1_blockade",
    "lox_inhibition",
]


class InterventionSpec(Strict):
    """A treatment in time: ``resection`` of the primary at ``start``; ``vegf_blockade``
    (an extra VEGF sink ``strength`` while a dose acts), ``exosome_release`` blocked (e.g.
    GW4869), ``integrin`` blocked (uptake by the ``profile`` organ type times
    ``exosomes.off_target``) from ``start`` to ``stop``, in doses of ``duration`` every
    ``every`` (0: continuous); ``antiplatelet`` (aspirin-like: a fraction ``strength`` of
    the platelet coat of circulating units removed, with ``circulation.survival =
    "hazards"``; docs/survival.md) over the same schedule; ``vegfr1_blockade`` (anti-VEGFR1
    antibody, Kaplan et al. 2005) and ``lox_inhibition`` (BAPN or an anti-LOX antibody, Erler
    et al. 2009) block a fraction ``strength`` of the recruitment of VEGFR1+ cells by N and of
    LOX's cross-linking (with soil.recruits; docs/niche-cells.md).
    """

    kind: InterventionKind = param(unit="-", source="setting", doc="The treatment (see above).")
    start: NonNeg = param(0.0, unit="T", source="setting", doc="Start.")
    stop: NonNeg | None = param(
        None, unit="T", source="setting", doc="Stop; unset: the end of the run."
    )
    every: NonNeg = param(0.0, unit="T", source="setting", doc="Dosing interval; 0: continuous.")
    duration: NonNeg = param(0.0, unit="T", source="setting", doc="How long each dose acts.")
    strength: NonNeg = param(
        50.0,
        unit="1/T",
        when={"kind": "vegf_blockade"},
        source="illustrative: anti-VEGF sink ~10 x VEGF's decay rate",
        doc="vegf_blockade: the extra VEGF sink (anti-VEGF binds free VEGF). For kind = "
        "'antiplatelet' it has no default and is the fraction of the platelet coat removed "
        "(unit 1, in [0, 1]); for 'vegfr1_blockade' and 'lox_inhibition' the fraction blocked "
        "(unit 1, in [0, 1], no default).",
    )
    profile: Literal["lung", "liver", "brain"] | None = param(
        None, unit="-", source="setting", doc="integrin: the blocked tropism."
    )

    @model_validator(mode="after")
    def _schedule(self):
        if self.stop is not None and self.stop < self.start:
            raise ValueError(f"stop ({self.stop}) is before start ({self.start})")
        if self.every and not 0 < self.duration <= self.every:
            raise ValueError("a dosing schedule needs 0 < duration <= every")
        if self.kind == "integrin" and self.profile is None:
            raise ValueError("kind = 'integrin' needs profile = 'lung', 'liver' or 'brain'")
        given = "strength" in self.model_fields_set
        if self.kind == "antiplatelet" and (not given or self.strength > 1.0):
            raise ValueError(
                "kind = 'antiplatelet' needs strength, the fraction of the platelet coat it "
                f"removes, in [0, 1] (got {self.strength if given else 'none'})"
            )
        if self.kind in ("vegfr1_blockade", "lox_inhibition") and (
            not given or self.strength > 1.0
        ):
            raise ValueError(
                f"kind = {self.kind!r} needs strength, the fraction it blocks, in [0, 1] "
                f"(got {self.strength if given else 'none'})"
            )
        return self

    def active(self, t: float) -> bool:
        """Whether the treatment acts at time ``t``: between start and stop, and within a
        dose when it is dosed.
        """
        if t < self.start or (self.stop is not None and t > self.stop):
            return False
        return not self.every or (t - self.start) % self.every < self.duration


def check_antiplatelet(circulation: CirculationSpec, interventions: list[InterventionSpec]) -> None:
    """Refuse an anti-platelet intervention when survival in the blood is constant: P_s and
    P_C know no platelets, so it would have no effect (ValueError naming the key).
    """
    for k, i in enumerate(interventions):
        if i.kind == "antiplatelet" and circulation.survival != "hazards":
            raise ValueError(
                f"key 'interventions.{k}.kind' = 'antiplatelet' lowers the platelet shield of "
                "the hazards of death in the blood, and circulation.survival is "
                f"{circulation.survival!r} (P_s and P_C know no platelets), so it would have no "
                "effect: set circulation.survival = 'hazards' or drop the intervention"
            )


class SoilSpec(Strict):
    """Which soil processes run (docs/model.md sections 2, 5, 6); all off: Franssen's
    invasion model.
    """

    oxygen: bool = param(
        False,
        unit="-",
        source="setting",
        doc="Oxygen field: division stops below o_hyp, cells die below o_nec.",
    )
    vegf: bool = param(
        False,
        unit="-",
        source="setting",
        doc="VEGF field, from hypoxic cells and conditioned tissue.",
    )
    niche: bool = param(
        False, unit="-", source="setting", doc="Plasma exosomes, niche factor x and conditioning N."
    )
    angiogenesis: bool = param(
        False,
        unit="-",
        source="setting",
        doc="Tip cells from vessel sites up VEGF gradients; perfused trails raise b.",
    )
    recruits: bool = param(
        False,
        unit="-",
        source="setting",
        doc="LOX from hypoxic primary cells and recruited myeloid cells in the secondaries "
        "([recruits], docs/niche-cells.md).",
    )
    # The error of sub-cycling is measured in tests/unit/fields/test_soil.py.
    every: Annotated[int, Field(ge=1)] = param(
        20,
        unit="steps",
        source="numerical: implicit steps, so stable; the splitting error is measured",
        doc="Oxygen, VEGF and the niche step every `every` cell steps, with that longer step.",
    )

    @model_validator(mode="after")
    def _needs(self):
        if self.angiogenesis and not self.vegf:
            raise ValueError("angiogenesis follows VEGF: set vegf = true too")
        return self


class LesionsSpec(Strict):
    """Lesion sizes for reporting; AJCC Cancer Staging Manual, 8th ed. (2017)."""

    micro_mm: Pos = param(
        0.2,
        unit="mm",
        source="AJCC Cancer Staging Manual, 8th ed. (2017)",
        doc="Micrometastasis above it (smaller: isolated tumour cells).",
    )
    macro_mm: Pos = param(
        2.0,
        unit="mm",
        source="AJCC Cancer Staging Manual, 8th ed. (2017)",
        doc="Macrometastasis above it.",
    )
    detect_mm: Pos = param(
        1.0,
        unit="mm",
        doc="Imaging-detection size.",
        source="illustrative: imaging-detection size ~1 mm (clinical MRI/CT resolution)",
    )


# What the clinic would see (solver/clinic, docs/imaging.md): the image models' parameters.
EARL = "Boellaard et al. (2015) Eur J Nucl Med Mol Imaging 42:328 (EANM FDG PET/CT guideline 2.0)"
EARL_RC = "EARL FDG-PET/CT accreditation specifications (Boellaard 2017, earl.eanm.org), Table 2"


class PETSpec(Strict):
    """FDG PET: uptake of viable tumour cells against the organ's, a Gaussian resolution and the
    noise of a clinical scanner scaled to the injected activity and scan time.
    """

    tumour_suv: Pos = param(
        10.0,
        unit="SUV",
        source="illustrative: packed viable tumour cells without stroma; of the order of the "
        "SUVmax of large primaries, e.g. 14-16 in colorectal adenocarcinoma (Hong & Lim 2012 "
        "World J Gastroenterol 18:168), which include stroma and partial volume",
        doc="SUV of normoxic tumour cells at the packed density.",
    )
    hypoxia_factor: Annotated[float, Field(ge=1.0)] = param(
        1.5,
        unit="1",
        source="illustrative: hypoxia raises FDG uptake of cancer cells through HIF-1 "
        "(GLUT1, PFKFB3), Clavo et al. 1995 J Nucl Med 36:1625, Smith et al. 2013 Nucl Med "
        "Biol 40:858; the factor depends on the cell line and on how long the hypoxia lasts",
        doc="Uptake of a hypoxic tumour cell over a normoxic one.",
    )
    fwhm_mm: Pos = param(
        7.0,
        unit="mm",
        source=f"derived: {EARL_RC}: with 4 mm voxels a 7 mm Gaussian gives RCmax of the 10 to "
        "37 mm spheres inside the EARL1 bands (docs/imaging.md); clinical 4-7 mm",
        doc="Resolution of the reconstructed image (Gaussian FWHM); preclinical about 1.5 mm "
        "(Inveon: Bao et al. 2009 J Nucl Med 50:401).",
    )
    voxel_mm: Pos = param(
        4.0,
        unit="mm",
        source=f"{EARL}: whole-body reconstructions on voxels of about 4 mm",
        doc="Edge of the cubic image voxel.",
    )
    liver_cov: Pos = param(
        0.10,
        unit="1",
        source="illustrative: voxel coefficient of variation in a uniform liver at the reference "
        "activity and time; the EANM guideline (Boellaard et al. 2015) sets the dosage so "
        "that image quality is adequate, 10-15 % liver COV being the usual level",
        doc="Noise SD over mean of one voxel in the liver at the reference activity and time.",
    )
    liver_suv_ref: Pos = param(
        2.0,
        unit="SUV",
        source=f"{EARL}: mean liver SUV expected between 1.3 and 3.0; 1.85-1.89 measured in 343 "
        "patients (Liu et al. 2019 Iran J Radiol 16:e84881)",
        doc="Liver SUV at which liver_cov is stated (the noise scales as sqrt(SUV / this)).",
    )
    activity_MBq: Pos = param(
        250.0, unit="MBq", source="setting", doc="Injected FDG activity of this scan."
    )
    minutes: Pos = param(2.5, unit="min", source="setting", doc="Scan time per bed position.")
    reference_activity_MBq: Pos = param(
        250.0,
        unit="MBq",
        source=f"illustrative: a 75 kg adult at a few MBq/kg, as the dosage of {EARL}",
        doc="Injected activity at which liver_cov holds.",
    )
    reference_minutes: Pos = param(
        2.5,
        unit="min",
        source=f"{EARL}: 2-3 min per bed position",
        doc="Scan time per bed at which liver_cov holds.",
    )
    noise_fwhm_mm: Pos | None = param(
        None,
        unit="mm",
        source="illustrative: the reconstruction's smoothing correlates the noise over about "
        "the resolution",
        doc="FWHM of the noise's autocorrelation; unset: fwhm_mm.",
    )


class CTSpec(Strict):
    """CT, portal-venous phase: the scanner's noise and resolution (the tumour's HU in each
    organ is in solver.clinic.background.ORGANS).
    """

    noise_hu: Pos = param(
        15.0,
        unit="HU",
        source="Image noise and liver lesion detection with MDCT (2011) AJR Am J Roentgenol "
        "197:437: noise index 15 HU or less found every 6-10 mm lesion",
        doc="Noise SD in HU (routine abdominal dose).",
    )
    fwhm_mm: Pos = param(
        1.0,
        unit="mm",
        source="illustrative: multidetector CT with a standard soft-tissue kernel resolves "
        "about 0.6-1 mm in plane and 1 mm slices",
        doc="Resolution (Gaussian FWHM).",
    )
    voxel_mm: Pos = param(1.0, unit="mm", source="setting", doc="Edge of the cubic voxel.")
    noise_fwhm_mm: Pos = param(
        1.0,
        unit="mm",
        source="illustrative: filtered back-projection noise is correlated over about the "
        "kernel's resolution",
        doc="FWHM of the noise's autocorrelation.",
    )


class MRISpec(Strict):
    """MRI, T2-weighted spin echo: S = exp(-TE / T2), signal normalised to the organ's."""

    tumour_t2_ms: Pos = param(
        76.0,
        unit="ms",
        source="Radiology (1994) 193:43, PMID 8090920: T2 of malignant liver tumours 76 +/- 11 "
        "ms at 1.5 T",
        doc="T2 of packed tumour.",
    )
    te_ms: Pos = param(
        90.0,
        unit="ms",
        source="illustrative: a T2-weighted turbo spin echo's effective echo time, 80-100 ms",
        doc="Echo time.",
    )
    snr: Pos = param(
        20.0,
        unit="1",
        source="illustrative: organ signal over noise SD of a clinical T2-weighted liver image "
        "at about 1 mm",
        doc="Organ signal over the noise SD of each of the real and imaginary channels.",
    )
    voxel_mm: Pos = param(1.0, unit="mm", source="setting", doc="Edge of the cubic voxel.")
    fwhm_mm: Pos | None = param(
        None,
        unit="mm",
        source="derived: Fourier imaging's sinc point spread has FWHM 1.21 voxel (Haacke et "
        "al. 1999, Magnetic Resonance Imaging: Physical Principles and Sequence Design)",
        doc="Resolution (Gaussian FWHM); unset: 1.21 voxel_mm.",
    )


class ImagingSpec(Strict):
    """Synthetic scans of every organ and what they detect (solver/clinic, docs/imaging.md).
    A run images its organs at every output with each of ``modalities``; ``seedsoil image
    OUTDIR`` images a finished run with the same parameters.
    """

    modalities: list[Literal["pet", "ct", "mri"]] = param(
        unit="-",
        factory=list,
        source="setting",
        doc="Modalities that image the organs at every output of a run (metrics.csv, first "
        "detection times, staging); empty: none during the run.",
    )
    organs: list[str] = param(
        unit="-",
        factory=list,
        source="setting",
        doc="Names of the organs to image; empty: every organ.",
    )
    images: Literal["none", "final", "every"] = param(
        "final",
        unit="-",
        source="setting",
        doc="Image files (NIfTI, .vti, PNG) a run writes to OUTDIR/imaging: at its last "
        "output, at every output, or none.",
    )
    k: Pos = param(
        5.0,
        unit="1",
        source="Rose (1948) J Opt Soc Am 38:196: an SNR of about 5 for certain detection",
        doc="Detectability index a lesion must reach to be detected.",
    )
    supersample: Annotated[int, Field(ge=1, le=16)] = param(
        4,
        unit="-",
        source="numerical: sub-voxels per voxel edge for the voxel averages",
        doc="Sub-voxels per voxel edge.",
    )
    pet: PETSpec = Field(default_factory=PETSpec)
    ct: CTSpec = Field(default_factory=CTSpec)
    mri: MRISpec = Field(default_factory=MRISpec)

    @field_validator("modalities")
    @classmethod
    def _once(cls, v):
        if len(set(v)) != len(v):
            raise ValueError(f"a modality is listed twice: {v}")
        return v


class DormancySpec(Strict):
    """Cellular dormancy of arrivals (docs/model.md section 6)."""

    r_wake: NonNeg | None = param(
        None,
        unit="1/T",
        source="off: a case that models dormancy sets it",
        doc="Arrivals are dormant and wake at this rate; unset: active at once.",
    )


class InitialCellsSpec(Strict):
    """The primary's cells at t = 0, around its tumour centre."""

    count: Count = param(388, unit="cells", source=FRANSSEN, doc="Number of cells.")
    fraction_M: Prob = param(0.6, unit="1", source=FRANSSEN, doc="Mesenchymal fraction.")
    per_place: Pos | None = param(
        None,
        unit="cells",
        source="setting",
        doc="Cells per place; unset: Q (fill the places nearest the tumour centre).",
    )


class TGFBetaSpec(Strict):
    """Active TGF-beta, T, normalised to K_T (docs/emt.md), with `cells.switching.on`:
    dT/dt = D lap T - decay T + s_cells (c_E + c_M + d_E + d_M) + s_stroma w
    (zero flux; implicit, lumped: solver/fields/tgfb.py). Tumour cells secrete it, the
    stroma (the fibroblasts of the matrix, taken where the ECM w is) too.
    """

    D: NonNeg = param(
        0.1,
        unit="L^2/T",
        source="illustrative: 1e-7 cm^2/s for a 25 kDa protein held by the matrix, a tenth of "
        "the ~1.5e-6 cm^2/s of small growth factors in a dilute gel (Nauman et al. 2007 Biophys "
        "J 92:4444)",
        doc="Diffusivity of active TGF-beta.",
    )
    decay: NonNeg = param(
        185.0,
        unit="1/T",
        source="illustrative: a half-life of 2.5 min, that of active TGF-beta1 in rat plasma "
        "(2-3 min, Wakefield et al. 1990 J Clin Invest 86:1976); none measured in tissue",
        doc="Decay (uptake and degradation) of active TGF-beta.",
    )
    s_cells: NonNeg = param(
        46.25,
        unit="1/T",
        source="derived: decay / Q, so that a packed colony (c = Q = 4) holds T = K_T",
        doc="Secretion per unit cell density (cells per h_ref^d).",
    )
    s_stroma: NonNeg = param(
        18.5,
        unit="1/T",
        source="illustrative: intact stroma (w = 1) holds T = 0.1 K_T, a tenth of a packed "
        "colony's",
        doc="Secretion by the stroma per unit ECM density w.",
    )


class SwitchingSpec(Strict):
    """EMT and MET: phenotype switching (docs/emt.md). Per cell and step, an epithelial cell
    turns mesenchymal with p = 1 - exp(-r_EM dt), a mesenchymal one epithelial with
    1 - exp(-r_ME dt), where
    r_EM = r_EM (1 + hypoxia [o < o_hyp] + tgfb T / (T + 1)) and r_ME = r_ME (1 + niche N);
    in the blood, the epithelial cells of platelet-coated units turn mesenchymal at
    `platelet`. In continuum mode the same probabilities move density between c_E and c_M.
    Dormant cells do not switch. Rates assume T = 4e4 s (1/T = 0.09 per hour).
    """

    on: bool = param(
        False,
        unit="-",
        source="setting",
        doc="Cells switch phenotype (EMT and MET) and the organs hold a TGF-beta field; off: "
        "a cell keeps the phenotype it was born with (Franssen et al. 2019).",
    )
    r_EM: NonNeg = param(
        0.05,
        unit="1/T",
        source="illustrative: basal EMT, one in ~9 days without signals, slower than the "
        "induced EMT of days (Ocana et al. 2012 Cancer Cell 22:709)",
        doc="Basal EMT rate of an epithelial cell (normoxic, no TGF-beta).",
    )
    hypoxia: NonNeg = param(
        3.0,
        unit="1",
        source="illustrative: hypoxia (o < o_hyp) drives TWIST through HIF-1a and EMT (Yang et al. "
        "2008 Nat Cell Biol 10:295); rate x4, EMT in ~2 days",
        doc="Gain of the EMT rate where o < oxygen.hypoxia.",
    )
    tgfb: NonNeg = param(
        6.0,
        unit="1",
        source="illustrative: TGF-beta induces EMT over 1-3 days in culture; x(1 + 6/2) at "
        "T = K_T, ~x7 saturated",
        doc="Gain of the EMT rate by TGF-beta, times T / (T + 1) (T in units of K_T).",
    )
    r_ME: NonNeg = param(
        0.2,
        unit="1/T",
        source="illustrative: MET once the inducing signal is gone, over ~2 days (Twist1 "
        "switched off: Tsai et al. 2012 Cancer Cell 22:725); 0 blocks MET",
        doc="Basal MET rate of a mesenchymal cell; 0 blocks MET (Twist1 kept on).",
    )
    niche: NonNeg = param(
        4.0,
        unit="1",
        source="illustrative: the conditioned niche favours MET and colonisation (Ocana et al. "
        "2012 Cancer Cell 22:709); rate x5 at N = 1",
        doc="Gain of the MET rate by the niche conditioning N.",
    )
    platelet: NonNeg = param(
        0.28,
        unit="1/T",
        source="illustrative: one EMT per ~40 h of platelet contact, the pretreatment after "
        "which Labelle et al. (2011) Cancer Cell 20:576 saw platelet TGF-beta induce EMT",
        doc="EMT rate of an epithelial cell in a platelet-coated unit in the blood, over the "
        "coat it keeps (circulation.hazards.coated, shields and anti-platelet doses).",
    )
    colonise_M: Prob = param(
        0.1,
        unit="1",
        source="illustrative: mesenchymal (Twist1-on) arrivals form few macrometastases (Tsai "
        "et al. 2012 Cancer Cell 22:725); a tenth of their primary division rate",
        doc="Division rate of mesenchymal cells in secondary organs, as a fraction of 1 / T_M: "
        "arrivals that do not revert grow poorly.",
    )
    tgfb_field: TGFBetaSpec = Field(default_factory=TGFBetaSpec)

    @model_validator(mode="after")
    def _used(self):
        # Compared by value, not by the keys set: a restart's case sets every key.
        if not self.on and self.model_dump(exclude={"on"}) != SwitchingSpec.model_construct(
            on=False
        ).model_dump(exclude={"on"}):
            raise ValueError(
                "the table sets the rates of EMT and MET, and cells.switching.on is false: set "
                "on = true or drop the table"
            )
        return self


class CellsSpec(Strict):
    """The cancer cells: epithelial (E) and mesenchymal (M), on a lattice of boxes h_ref^d
    (docs/model.md section 1).
    """

    mode: Literal["discrete", "continuum", "hybrid"] = param(
        "discrete",
        unit="-",
        source="setting",
        doc="Discrete cells, a continuum density (docs/continuum.md), or both: discrete where "
        "sparse, a density where dense (docs/hybrid.md).",
    )
    D_E: NonNeg = param(5.0e-5, unit="L^2/T", source=FRANSSEN, doc="Diffusivity of E cells.")
    D_M: NonNeg = param(1.0e-4, unit="L^2/T", source=FRANSSEN, doc="Diffusivity of M cells.")
    Phi_E: NonNeg = param(5.0e-4, unit="L^2/T", source=FRANSSEN, doc="Haptotaxis of E cells.")
    Phi_M: NonNeg = param(5.0e-4, unit="L^2/T", source=FRANSSEN, doc="Haptotaxis of M cells.")
    T_E: Pos = param(
        3.0, unit="T", source=FRANSSEN, doc="Doubling time of E cells: 3000 steps of 1e-3."
    )
    T_M: Pos = param(
        2.0, unit="T", source=FRANSSEN, doc="Doubling time of M cells: 2000 steps of 1e-3."
    )
    Q: Pos = param(4.0, unit="cells", source=FRANSSEN, doc="Cells per lattice box h_ref^2 (2D).")
    capacity_3d: Pos | None = param(
        None,
        unit="cells",
        source="derived: PACKED_CELLS_PER_CM3, 1e9 per cm^3 (Del Monte 2009 Cell Cycle 8:505)",
        doc="Cells per lattice box h_ref^3 (3D); unset: packed tumour cells, 1 per (10 um)^3.",
    )
    h_ref: Pos = param(
        5.0e-3, unit="L", source=FRANSSEN, doc="Lattice spacing: 10 um with L = 0.2 cm."
    )
    proliferation: bool = param(True, unit="-", source="setting", doc="Cells divide.")
    division: Literal["synchronous", "asynchronous"] = param(
        "asynchronous",
        unit="-",
        source="setting: synchronous is the reference code's rule (MetaSpread)",
        doc="synchronous: every cell of a phenotype divides at once when the step count reaches a "
        "multiple of its doubling time; asynchronous: each cell has its own cycle clock "
        "(docs/fidelity.md says why one would choose each).",
    )
    crowded_transport: bool = param(
        False,
        unit="-",
        source="setting: the room rule's mean field (docs/hybrid.md, 'At the interface'); off, "
        "the continuum's linear transport",
        doc="Continuum and hybrid modes (hybrid: required): a density's move into a vertex patch "
        "is blocked as the room rule "
        "blocks a cell's move into a full place, by min(max(Q - S, 0), 1) (S all cells per "
        "h_ref^d).",
    )
    absorb: Prob = param(
        0.75,
        unit="1",
        source="numerical: a patch three quarters full (docs/hybrid.md)",
        doc="Hybrid mode: a vertex patch whose cells (both kinds) reach absorb x Q per h_ref^d "
        "takes its active discrete cells into the density.",
    )
    release: Prob = param(
        0.25,
        unit="1",
        source="numerical: one cell per place at Q = 4 (docs/hybrid.md)",
        doc="Hybrid mode: a vertex patch below release x Q per h_ref^d gives its density's "
        "whole cells back as discrete cells (release < absorb: hysteresis).",
    )
    crowded_growth: bool = param(
        False,
        unit="-",
        source="setting: the room rule's mean field (docs/hybrid.md, 'Growth by room'); off, the "
        "continuum's logistic growth",
        doc="Continuum and hybrid modes: a density grows as the discrete cells divide under the "
        "room rule: "
        "cycling cells become ready at ln 2 / T, ready ones divide as far as the room Q - S "
        "allows and wait otherwise (fields ready_E, ready_M hold the ready fractions).",
    )
    initial: InitialCellsSpec = Field(default_factory=InitialCellsSpec)
    switching: SwitchingSpec = Field(default_factory=SwitchingSpec)

    _length_cm: float = PrivateAttr(default=0.2)  # the case's scales.length_cm (set by Case)

    def capacity(self, dim: int) -> float:
        """Cells per lattice box h_ref^d: Q in 2D; in 3D capacity_3d, by default the packed
        density in cells per cm^3 times the box's volume in cm^3.
        """
        if dim == 2:
            return self.Q
        if self.capacity_3d is not None:
            return self.capacity_3d
        return PACKED_CELLS_PER_CM3 * (self.h_ref * self._length_cm) ** 3

    @model_validator(mode="after")
    def _division(self):
        if self.mode != "discrete" and self.division == "synchronous":
            raise ValueError(
                "division = 'synchronous' divides discrete cells at once; a continuum "
                "density grows at a rate: use division = 'asynchronous' (the default)"
            )
        if self.mode == "hybrid":
            if not 0.0 < self.release < self.absorb:
                raise ValueError(
                    f"keys 'cells.release' ({self.release}) and 'cells.absorb' ({self.absorb}): "
                    "hybrid cells need 0 < release < absorb (the band between them is the "
                    "hysteresis)"
                )
            if not self.crowded_transport:
                raise ValueError(
                    "key 'cells.crowded_transport': the hybrid density is where cells are "
                    "crowded and must move as the room rule lets them (docs/hybrid.md): set "
                    "crowded_transport = true"
                )
        default = CellsSpec.model_fields
        if self.mode != "hybrid" and (self.absorb, self.release) != (
            default["absorb"].default,
            default["release"].default,
        ):  # compared by value: a restart's case sets every key
            raise ValueError(
                "keys 'cells.absorb' and 'cells.release' are the hybrid conversion's "
                f"thresholds; with mode = '{self.mode}' they have no effect: drop them"
            )
        if self.mode == "discrete" and self.crowded_transport:
            raise ValueError(
                "crowded_transport blocks a density's moves; discrete cells follow the room "
                "rule itself: set it with mode = 'continuum'"
            )
        if self.mode == "discrete" and self.crowded_growth:
            raise ValueError(
                "crowded_growth is a density's growth law; discrete cells divide by the room "
                "rule itself: set it with mode = 'continuum'"
            )
        if self.crowded_growth and not self.crowded_transport:
            raise ValueError(
                "crowded_growth is the room rule's mean field together with crowded_transport "
                "(a density that divides by room but moves freely is neither: docs/hybrid.md): "
                "set crowded_transport = true"
            )
        return self


# PETSc options a case file may set (docs/reliability.md): solver settings only, an allowlist.
# Everything else is refused, above all what writes files or runs code: viewers (*_view),
# monitors, -log_view, -options_file, debuggers, -malloc_dump, python types. The command
# line (--petsc-option) is the user's own and stays open.
PETSC_FIELDS = ("mmp_", "oxygen_", "vegf_", "niche_")  # per-field prefixes (reaction_diffusion.py)
_LEVEL = (
    r"(ksp_type|pc_type|ksp_max_it|ksp_rtol|ksp_atol|pc_factor_levels|pc_factor_mat_solver_type"
    r"|pc_sor_its)"
)
PETSC_ALLOWED = re.compile(
    r"""
    ksp_type | pc_type
  | ksp_(rtol|atol|divtol|max_it|min_it|norm_type|pc_side|initial_guess_nonzero|cg_single_reduction)
  | ksp_gmres_(restart|modifiedgramschmidt|classicalgramschmidt|cgs_refinement_type)
  | ksp_chebyshev_(eigenvalues|esteig) | ksp_richardson_scale
  | pc_jacobi_(type|abs|fixdiagonal) | pc_bjacobi_blocks | pc_asm_(overlap|type)
  | pc_sor_(omega|its|lits|symmetric|forward|backward|local_symmetric)
  | pc_factor_(levels|fill|mat_ordering_type|shift_type|shift_amount|diagonal_fill|reuse_ordering
               |mat_solver_type|nonzeros_along_diagonal|zeropivot|pivot_in_blocks)
  | pc_hypre_type
  | pc_hypre_boomeramg_(max_iter|tol|strong_threshold|coarsen_type|interp_type|relax_type_(all|up|down|coarse)
                        |agg_nl|agg_num_paths|max_levels|truncfactor|p_max|grid_sweeps_(all|up|down|coarse)
                        |relax_weight_all|nodal_coarsen|vec_interp_variant|max_row_sum|no_cf)
  | pc_gamg_(type|agg_nsmooths|threshold|threshold_scale|square_graph|sym_graph|coarse_eq_limit
             |process_eq_limit|reuse_interpolation|esteig_ksp_type|esteig_ksp_max_it|repartition
             |use_parallel_coarse_grid_solver|aggressive_coarsening|agg_type|low_memory_threshold_filter)
  | pc_mg_(levels|cycle_type|type|smoothup|smoothdown|galerkin)
  | (sub|mg_levels|mg_coarse)_"""  # noqa: E501 (a verbose regex: rewrapping would change its text)
    + _LEVEL,
    re.X | re.I,
)
# A PETSc option's value: a number, a type name, a boolean; no paths, no spaces.
_PETSC_VALUE = re.compile(r"[A-Za-z0-9_.+-]{1,64}")


def check_petsc(options: dict) -> dict:
    """Case-file PETSc options, without leading dashes, if every key is an allowed solver
    setting (``PETSC_ALLOWED``, optionally after a field prefix) with a plain value.
    """
    out = {}
    for key, value in options.items():
        k = key.lstrip("-")
        field = next((p for p in PETSC_FIELDS if k.lower().startswith(p)), "")
        if not PETSC_ALLOWED.fullmatch(k[len(field) :]):
            raise PydanticCustomError(
                "petsc_option",
                "not a solver setting that a case file may pass to PETSc (allowed: Krylov and "
                "preconditioner types, tolerances, iteration limits and the like, see "
                "docs/reliability.md; viewers, monitors, logs, debuggers and options files are "
                "refused); your own options go on the command line: --petsc-option -{key}=VALUE",
                {"key": key},
            )
        if isinstance(value, str) and (
            not _PETSC_VALUE.fullmatch(value) or "python" in value.lower()
        ):
            raise PydanticCustomError(
                "petsc_option",
                "the value '{value}' is not allowed (a number, a type name or "
                "a boolean; no paths, spaces or python types)",
                {"key": key, "value": value},
            )
        out[k.lower()] = value  # PETSc's option names ignore case
    return out


class SolverSpec(Strict):
    """The linear solves of the fields."""

    rtol: Pos = param(
        1.0e-10,
        unit="1",
        source="numerical: the fields' mass balances close to round-off",
        doc="Relative tolerance of the MMP and niche-factor solves.",
    )
    # A tighter solve costs 2x the iterations for nothing (scripts/bench_soil.py); the niche
    # factor keeps rtol: its exosome mass balance closes to round-off.
    soil_rtol: Pos = param(
        1.0e-6,
        unit="1",
        source="numerical: below the ~1 % splitting error of sub-cycling",
        doc="Relative tolerance of the oxygen and VEGF solves.",
    )
    m_matrix: bool | None = param(
        None,
        unit="-",
        source="numerical: non-negative fields on obtuse elements, at some accuracy cost",
        doc="Discrete diffusion on positive off-diagonal stiffness entries; unset: on in 2D, off "
        "in 3D.",
    )
    petsc: dict[str, str | int | float | bool] = param(
        unit="-",
        source="setting",
        factory=dict,
        doc="PETSc options of the field solvers (an allowlist of solver settings, optionally after"
        " a field prefix mmp_, oxygen_, vegf_, niche_; docs/reliability.md).",
    )

    @field_validator("petsc")
    @classmethod
    def _petsc(cls, options):
        return check_petsc(options)


class ParallelSpec(Strict):
    """How organs map onto MPI ranks (docs/performance.md: measured by scripts/bench_mapping.py)."""

    organs: Literal["split", "all"] = param(
        "split",
        unit="-",
        source="setting",
        doc="split: the ranks form one group per organ (up to the number of organs), the primary "
        "alone in the first group, the secondaries shared round-robin by the others; all: "
        "every organ distributed over every rank.",
    )
    balance: Literal["elements", "cells"] = param(
        "elements",
        unit="-",
        source="setting",
        doc="How an organ's mesh is cut among its ranks: elements (dolfinx's graph partitioner) or"
        " cells: weighted by the cancer cells each element holds at the start "
        "(solver/partition.py).",
    )
    # 3D, measured by scripts/scaling.py: a cell ~1 us per step against ~35 ns for an
    # element's fields.
    cell_cost: NonNeg = param(
        30.0,
        unit="elements",
        source="numerical: measured by scripts/scaling.py",
        doc="balance = cells: the work of one cancer cell, in elements' field work.",
    )


class LymphNodeSpec(Strict):
    """One node of the primary's basin (solver/lymph.py, docs/lymphatics.md), in the order lymph
    meets them: the sentinel node first.
    """

    node: str = param(unit="-", source="setting", doc="A secondary organ of type lymph_node.")
    transit: Pos = param(
        0.05,
        unit="T",
        source="illustrative: ~30 min from the afferent vessel to this node's sinus (lymph flows "
        "two to three orders of magnitude slower than blood: Swartz & Skobe 2001 Microsc Res "
        "Tech 55:92), no transit time of tumour cells measured",
        doc="Time from the previous node (the primary for the sentinel) to this node.",
    )
    arrest: Prob = param(
        0.8,
        unit="1",
        source="illustrative: most lymph-borne cells stop in the first node they meet (the "
        "sentinel-node concept), no per-node probability measured",
        doc="Probability that a unit reaching this node stops in it (the rest pass on).",
    )


class LymphSpec(Strict):
    """The lymphatic route (solver/lymph.py, docs/lymphatics.md): lymphatic vessel sites around
    the primary, entry into them, the node basin and the thoracic duct into the venous blood.
    Off while `basin` is empty.
    """

    basin: list[LymphNodeSpec] = param(
        unit="-",
        source="off: a case that models the lymph names its nodes",
        factory=list,
        doc="The primary's node basin, sentinel node first ([[lymph.basin]] tables).",
    )
    sites: Count = param(
        4,
        unit="count",
        source="illustrative: a few initial lymphatics in the peritumoral stroma",
        doc="Lymphatic vessel sites of the primary, placed at random in the ring inner..outer "
        "around its tumour centre.",
    )
    centres: list[list[float]] | None = param(
        None, unit="L", source="setting", doc="Explicit lymphatic sites instead of `sites`."
    )
    inner: NonNeg = param(
        0.05,
        unit="L",
        source="illustrative: peritumoral, just outside the initial tumour (Padera et al. 2002 "
        "Science 296:1883: functional lymphatics only at the margin)",
        doc="Least distance of a randomly placed lymphatic site from the tumour centre.",
    )
    outer: Pos = param(
        0.1,
        unit="L",
        source="illustrative: within a few cell diameters of the margin",
        doc="Largest distance of a randomly placed lymphatic site from the tumour centre.",
    )
    entry: NonNeg = param(
        20.0,
        unit="1/T",
        source="illustrative: ~2 per hour; lymphatic capillaries have no continuous basement "
        "membrane and open junctions (Swartz & Skobe 2001 Microsc Res Tech 55:92), no rate "
        "measured",
        doc="Rate at which an open lymphatic site with cells within reach takes them: per step "
        "1 - exp(-entry dt).",
    )
    closed_above: Prob = param(
        0.5,
        unit="1",
        source="illustrative: intratumoral lymphatics are compressed and do not drain (Padera "
        "et al. 2002 Science 296:1883); the density at which they close is not measured",
        doc="A lymphatic site whose mean cell density within reach exceeds this fraction of the "
        "capacity is inside the tumour: closed.",
    )
    lymphangiogenesis: NonNeg = param(
        0.0,
        unit="1/T",
        source="off: VEGF-C-driven lymphangiogenesis (Skobe et al. 2001 Nat Med 7:192); a case "
        "that models it sets the rate",
        doc="New lymphatic sites per T per cell-equivalent of VEGF-C in the margin band: each "
        "step adds a "
        "Poisson number with mean lymphangiogenesis x (integral of C over r_95..r_95 + margin) "
        "/ h_ref^d x dt, each at a mesh vertex of the band chosen with probability proportional "
        "to its lumped mass x C. On (> 0), the primary holds the VEGF-C field C.",
    )
    margin: Pos = param(
        0.02,
        unit="L",
        source="illustrative: new lymphatics in the peritumoral rim (Karpanen et al. 2001 Cancer "
        "Res 61:1786: at the tumour periphery)",
        doc="New sites lie between r_95 and r_95 + margin from the tumour centre.",
    )
    vegfc_D: NonNeg = param(
        0.29,
        unit="L^2/T",
        source="illustrative: no VEGF-C diffusivity in tissue measured; that of VEGF-A (the TAF "
        "diffusivity 2.9e-7 cm^2/s, Anderson & Chaplain 1998 Bull Math Biol 60:857), a "
        "growth factor of similar size",
        doc="Diffusivity of VEGF-C, C: dC/dt = D lap C - decay C + decay c (with "
        "lymphangiogenesis).",
    )
    vegfc_decay: Pos = param(
        5.1,
        unit="1/T",
        source="illustrative: no VEGF-C half-life in tissue measured; that of VEGF-A, 90 min "
        "(Kleinheinz et al. 2010 Head Face Med 6:17)",
        doc="Decay of VEGF-C; the secretion per unit cell density equals it, so that a uniform "
        "density of c cells per h_ref^d holds C = c.",
    )
    max_sites: Count = param(
        40,
        unit="count",
        source="numerical: bounds the sites an organ tracks",
        doc="Most lymphatic sites (initial and new) of the primary.",
    )
    duct_transit: Pos = param(
        0.05,
        unit="T",
        source="illustrative: ~30 min from the last node through the thoracic duct to the "
        "venous angle, no transit time of tumour cells measured",
        doc="Time from the last node of the basin to the venous blood.",
    )


def check_lymph(case: Case) -> None:
    """Refuse a [lymph] table that names what the case lacks or would have no effect
    (ValueError naming the key).
    """
    from solver.lymph import REGIONAL_NODES

    lymph = case.lymph
    types = {o.name: o.organ_type() for o in case.secondary}
    for k, o in enumerate(case.secondary):
        if not o.regional and o.organ_type() != "lymph_node":
            raise ValueError(
                f"key 'secondary.{k}.regional' tells regional from distant lymph nodes, and "
                f"organ {o.name!r} has type {o.organ_type()!r}: set type = 'lymph_node' or drop it"
            )
    if not lymph.basin:
        if lymph != LymphSpec():  # by value: a restart's case sets every key
            raise ValueError(
                "the [lymph] table sets the lymphatics and lymph.basin is empty: name the "
                "basin's nodes ([[lymph.basin]] node = ...) or drop the table"
            )
        return
    names = [b.node for b in lymph.basin]
    for j, b in enumerate(lymph.basin):
        if types.get(b.node) != "lymph_node":
            raise ValueError(
                f"key 'lymph.basin.{j}.node' = {b.node!r}: not a secondary organ of type "
                f"'lymph_node' (secondaries: {types})"
            )
    if len(set(names)) != len(names):
        raise ValueError(f"lymph.basin names a node twice: {names}")
    size = REGIONAL_NODES.get(case.circulation.primary_type)
    if size is not None and size.most is not None and len(names) > size.most:
        raise ValueError(
            f"lymph.basin has {len(names)} nodes, more than the {size.most} regional nodes of a "
            f"{case.circulation.primary_type} primary ({size.source})"
        )
    if case.lymph.centres is not None:
        dim = case.primary.geometry.dim
        if any(len(c) != dim for c in case.lymph.centres):
            raise ValueError(f"lymph.centres: each centre needs {dim} coordinates")
    if lymph.inner > lymph.outer:
        raise ValueError(f"lymph.inner = {lymph.inner} exceeds lymph.outer = {lymph.outer}")
    for o in case.secondary:
        g = o.geometry
        if (
            o.name in names
            and g.kind != "msh"
            and not (g.normal_vessels or g.ruptured_vessels or g.vessel_centres)
        ):
            raise ValueError(
                f"lymph node {o.name!r} has no vessel sites: arrivals from the lymph settle at "
                "them (give it normal_vessels, ruptured_vessels or vessel_centres)"
            )
    circ = case.circulation
    if circ.routing == "split" and not circ.split and set(types) <= set(names):
        raise ValueError(
            "the thoracic duct hands lymph-borne cells to the blood, and with the fixed split "
            "and no secondary organ outside the node basin the blood would route them back to "
            "the nodes: add a secondary organ (the lung) or set circulation.split or "
            "circulation.routing = 'anatomical'"
        )


class Case(Strict):
    """The case file: the tables below, each optional."""

    name: str = param(
        "case", unit="-", source="setting", doc="The case's name (the default output folder)."
    )
    seed: Annotated[int, Field(ge=0, lt=2**63)] = param(
        1, unit="-", source="setting", doc="Seed of the random streams."
    )
    scales: ScalesSpec = Field(default_factory=ScalesSpec)
    time: TimeSpec = Field(default_factory=TimeSpec)
    output: OutputSpec = Field(default_factory=OutputSpec)
    primary: OrganSpec = Field(default_factory=OrganSpec)
    secondary: list[OrganSpec] = Field(default_factory=list)
    circulation: CirculationSpec = Field(default_factory=CirculationSpec)
    dormancy: DormancySpec = Field(default_factory=DormancySpec)
    soil: SoilSpec = Field(default_factory=SoilSpec)
    exosomes: ExosomesSpec = Field(default_factory=ExosomesSpec)
    recruits: RecruitsSpec = Field(default_factory=RecruitsSpec)
    interventions: list[InterventionSpec] = Field(default_factory=list)
    lesions: LesionsSpec = Field(default_factory=LesionsSpec)
    imaging: ImagingSpec = Field(default_factory=ImagingSpec)
    liquid_biopsy: LiquidBiopsySpec = Field(default_factory=LiquidBiopsySpec)
    cells: CellsSpec = Field(default_factory=CellsSpec)
    solver: SolverSpec = Field(default_factory=SolverSpec)
    parallel: ParallelSpec = Field(default_factory=ParallelSpec)
    lymph: LymphSpec = Field(default_factory=LymphSpec)

    @model_validator(mode="after")
    def _organs(self):
        self.cells._length_cm = self.scales.length_cm  # the 3D capacity is a density in cm^-3
        names = [self.primary.name] + [o.name for o in self.secondary]
        if len(set(names)) != len(names):
            raise ValueError(f"organ names must differ, got {names}")
        if self.primary.colony or self.primary.colony_per_place is not None:
            raise ValueError(
                "primary.colony seeds a secondary organ; the primary's cells are cells.initial"
            )
        for k, o in enumerate(self.secondary):
            if o.colony_per_place is not None and not o.colony:
                raise ValueError(
                    f"key 'secondary.{k}.colony_per_place' spreads a colony, and "
                    f"secondary.{k}.colony is 0: set the colony or drop the key"
                )
        split = self.circulation.split
        if split:
            unknown = sorted(set(split) - set(names[1:]))
            if unknown:
                raise ValueError(
                    f"circulation.split names {unknown}, which are not secondary organs {names[1:]}"
                )
            if abs(sum(split.values()) - 1.0) > 1e-9:
                raise ValueError(
                    f"circulation.split fractions must sum to 1, got {sum(split.values())}"
                )
        if (
            self.primary.extravasation != ExtravasationSpec()
        ):  # compared by value: a restart's case sets every key
            raise ValueError(
                "key 'primary.extravasation': no cell arrives in the primary (arrivals settle in "
                "the secondary organs), so it has no effect: set [secondary.extravasation] instead"
            )
        self._clinic(names)
        check_antiplatelet(self.circulation, self.interventions)
        check_recruits(self)
        check_lymph(self)
        # The one switch without meaning for a density (docs/continuum.md lists every switch).
        if self.cells.mode != "discrete" and self.parallel.balance == "cells":
            raise ValueError(
                "key 'parallel.balance' = 'cells' weights elements by the discrete cells they "
                f"hold; with cells.mode = '{self.cells.mode}' the dense cells are a field that "
                "costs the same on every element: use 'elements'"
            )
        return self

    def organs(self) -> list[OrganSpec]:
        """The primary, then the secondary organs."""
        return [self.primary] + list(self.secondary)

    def _clinic(self, names: list[str]) -> None:
        """[imaging] and [liquid_biopsy] keys that would have no effect are errors."""
        from solver.clinic.background import ORGANS, Scene

        im = self.imaging
        unknown = sorted(set(im.organs) - set(names))
        if unknown:
            raise ValueError(f"imaging.organs names {unknown}, which are not organs {names}")
        # Compared by value, not by the keys set: a restart's or a sweep's case sets every key.
        if not im.modalities and im.images != ImagingSpec().images:
            raise ValueError(
                "key 'imaging.images' writes the images of imaging.modalities during a run, "
                "and imaging.modalities is empty: list the modalities or drop the key"
            )
        for k in self.imaged() if im.modalities else []:
            where = "primary" if k == 0 else f"secondary.{k - 1}"
            organ = self.background(k)
            if organ is None:
                spec = self.organs()[k]
                raise ValueError(
                    f"key '{where}.scan.background': organ {spec.name!r} (type "
                    f"{spec.organ_type()!r}) has no background organ to be imaged in; set it "
                    f"to one of {', '.join(ORGANS)}, or leave the organ out of imaging.organs"
                )
            Scene(ORGANS[organ], (0.0, 0.0, 0.0), self.organs()[k].scan.at_mm)
        if self.liquid_biopsy != LiquidBiopsySpec() and not self.secondary:
            raise ValueError(
                "the [liquid_biopsy] table samples the blood between the organs, and this case "
                "has one organ and no blood: add a [[secondary]] organ or drop the table"
            )

    def imaged(self) -> list[int]:
        """Indices (case order) of the organs the scans image: imaging.organs, else all."""
        names = [o.name for o in self.organs()]
        chosen = self.imaging.organs or names
        return [k for k, n in enumerate(names) if n in chosen]

    def background(self, index: int) -> str | None:
        """The organ of solver.clinic.background.ORGANS around organ ``index`` on a scan:
        its scan.background, else its type, else (the primary) circulation.primary_type;
        None if none is one.
        """
        from solver.clinic.background import ORGANS

        spec = self.organs()[index]
        primary = self.circulation.primary_type if index == 0 else None
        for name in (spec.scan.background, spec.organ_type(), primary):
            if name in ORGANS:
                return name
        return None

    # Where the case came from (for relative mesh paths and error messages).
    source: str | None = Field(default=None, exclude=True)
    # PETSc options from the command line (--petsc-option): the user's own, so not checked
    # against the allowlist; not part of the case (a restart does not replay them).
    _petsc_command_line: dict = PrivateAttr(default_factory=dict)

    def petsc(self, command_line: dict | None = None) -> dict:
        """The PETSc options of the field solvers: the case's, then the command line's
        (``command_line``, if given, replaces the stored ones).
        """
        if command_line is not None:
            self._petsc_command_line = dict(command_line)
        return {**self.solver.petsc, **self._petsc_command_line}

    def petsc_command_line(self) -> dict:
        """A copy of the PETSc options given on the command line (``--petsc-option``)."""
        return dict(self._petsc_command_line)

    def illustrative(self) -> dict[str, str]:
        """The illustrative defaults that this case relies on (not set by the user, in a
        process that runs), by the keys that error messages use, with the reason (the
        ``source`` of each key after ``illustrative: ``).
        """
        used: dict[str, str] = {}
        # Tables a run does not use: scans of modalities it does not image, the liquid
        # biopsy without blood.
        unused = [f"imaging.{m}." for m in ("pet", "ct", "mri") if m not in self.imaging.modalities]
        unused += [] if self.secondary else ["liquid_biopsy."]
        unused += [] if self.circulation.survival == "hazards" else ["circulation.hazards."]
        unused += [] if self.cells.switching.on else ["cells.switching."]
        unused += [] if self.lymph.basin else ["lymph."]
        unused += [] if self.lymph.lymphangiogenesis else ["lymph.margin", "lymph.vegfc_"]
        unused += (
            [] if self.lymph.centres is None else ["lymph.sites", "lymph.inner", "lymph.outer"]
        )
        for key, table, name, info in leaves(self):
            why = info["source"].removeprefix("illustrative: ")
            if why == info["source"] or (table.process and not getattr(self.soil, table.process)):
                continue
            if key.startswith(tuple(unused)):
                continue
            if any(getattr(table, k) != v for k, v in info.get("when", {}).items()):
                continue
            if key == "exosomes.uptake":  # the 1 % applies per organ type without a value
                types = (
                    {o.organ_type() for o in self.secondary}
                    - set(EXOSOME_UPTAKE)
                    - set(self.exosomes.uptake)
                )
                if types:
                    used[key] = f"{why} ({', '.join(sorted(types))})"
            elif name not in table.model_fields_set:
                used[key] = why
        return used


def check_recruits(case: Case) -> None:
    """Refuse what the recruited cells cannot do (ValueError naming the key): their
    interventions without them, LOX without hypoxia or without a blood to carry it, and a
    proliferation gain with the discrete synchronous division (which has no rate to raise).
    """
    on = case.soil.recruits
    for k, i in enumerate(case.interventions):
        if i.kind in ("vegfr1_blockade", "lox_inhibition") and not on:
            raise ValueError(
                f"key 'interventions.{k}.kind' = {i.kind!r} blocks the recruitment of niche cells, "
                "and soil.recruits is false (no recruited cells), so it would have no effect: set "
                "soil.recruits = true or drop the intervention"
            )
    if not on:
        return
    if not case.soil.oxygen:
        raise ValueError(
            "key 'soil.recruits': LOX comes from hypoxic primary cells (o < oxygen.hypoxia), and "
            "soil.oxygen is false: set soil.oxygen = true"
        )
    if not case.secondary:
        raise ValueError(
            "key 'soil.recruits': LOX reaches the secondary organs through the blood, and the "
            "case has none: add a [[secondary]] organ"
        )
    if case.recruits.uptake * len(case.secondary) > 1.0:
        raise ValueError(
            f"key 'recruits.uptake': {len(case.secondary)} secondary organs taking "
            f"{case.recruits.uptake} of the removal each take more than all of it"
        )
    if (
        case.recruits.proliferation > 0
        and case.cells.mode == "discrete"
        and case.cells.division == "synchronous"
    ):
        raise ValueError(
            "key 'recruits.proliferation': it speeds each cell's cycle clock, and cells.division "
            "= 'synchronous' divides all cells at fixed steps: use 'asynchronous' or set "
            "recruits.proliferation = 0"
        )


def meta(model: type[BaseModel], name: str) -> dict[str, Any]:
    """A key's metadata: ``description``, ``unit``, ``source`` (and ``when`` if it has one)."""
    field = model.model_fields[name]
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    return {"description": field.description, **extra}


def tables(model: type[BaseModel]) -> dict[str, type[Strict]]:
    """The sub-tables of a table class, by key: a table or a list of tables."""
    out: dict[str, type[Strict]] = {}
    for name, field in model.model_fields.items():
        args = (field.annotation, *getattr(field.annotation, "__args__", ()))
        sub = next((a for a in args if isinstance(a, type) and issubclass(a, Strict)), None)
        if sub is not None:
            out[name] = sub
    return out


def leaves(table: Strict, prefix: str = "") -> Iterator[tuple[str, Strict, str, dict[str, Any]]]:
    """(key, table, name, metadata) of every leaf key of a case (or of one of its tables), in
    schema order, keys as error messages name them (``secondary.0.oxygen.D``).
    """
    subs = tables(type(table))
    for name, field in type(table).model_fields.items():
        if field.exclude:
            continue
        value = getattr(table, name)
        if name not in subs:
            yield f"{prefix}{name}", table, name, meta(type(table), name)
        elif isinstance(value, list):
            for k, item in enumerate(value):
                yield from leaves(item, f"{prefix}{name}.{k}.")
        else:
            yield from leaves(value, f"{prefix}{name}.")


def _short(text: str, n: int = 120) -> str:
    return text if len(text) <= n else f"{text[:n]}... ({len(text)} characters)"


def _format_errors(source: str, err: ValidationError) -> str:
    lines = [f"{source}: invalid case file"]
    for e in err.errors():
        loc = ".".join(
            str(p) for p in e["loc"] + ((e["ctx"]["key"],) if e["type"] == "petsc_option" else ())
        )
        loc = loc or "(top level)"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; see `seedsoil validate --help`)"
        if e["type"] == "value_error":
            msg = msg.removeprefix("Value error, ")
        got = e.get("input")
        got_s = "" if isinstance(got, dict) else f" (got {_short(repr(got))})"
        lines.append(f"  key '{loc}': {msg}{got_s}")
    return "\n".join(lines)


def _parse_value(text: str):
    """A --set value: a TOML value if it parses as one, else a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def split_overrides(text: str) -> list[str]:
    """``key=value,key=value`` as a list, commas inside brackets, braces or quotes kept
    (``interventions=[{kind="resection",start=2.0}],seed=3``).
    """
    parts, depth, quote, start = [], 0, None, 0
    for i, ch in enumerate(text):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p for p in parts if p]


def apply_overrides(data: dict, overrides: list[str], source: str) -> dict:
    """Apply ``key.path=value`` overrides (TOML values) to raw case data."""
    for item in overrides:
        if "=" not in item:
            raise CaseError(f"{source}: --set expects key.path=value, got {item!r}")
        key, text = item.split("=", 1)
        parts = key.strip().split(".")
        node = data
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise CaseError(f"{source}: --set {key}: '{p}' is not a table")
        node[parts[-1]] = _parse_value(text.strip())
    return data


def from_dict(data: dict, source: str = "<dict>") -> Case:
    """Validate raw case data into a Case; mesh and STL paths are resolved against the case
    file ``source`` and must exist. Errors are CaseError naming ``source`` and the key.
    """
    try:
        case = Case.model_validate(data)
    except ValidationError as err:
        raise CaseError(_format_errors(source, err)) from None
    case.source = source
    for k, organ in enumerate(case.organs()):
        geo = organ.geometry
        if geo.kind not in ("msh", "stl"):
            continue
        key = "primary" if k == 0 else f"secondary.{k - 1}"
        assert geo.file is not None  # GeometrySpec requires it for msh and stl
        path = Path(geo.file)
        if not path.is_absolute() and source and Path(source).exists():
            path = Path(source).resolve().parent / path
        if not path.is_file():
            raise CaseError(
                f"{source}: key '{key}.geometry.file': {geo.kind} file {str(path)!r} does not exist"
                " (paths are relative to the case file)"
            )
        geo.file = str(path.resolve())
    return case


def load(path: str | Path, overrides: list[str] | None = None) -> Case:
    """Read, override and validate a case file; user errors raise CaseError."""
    path = Path(path)
    if not path.is_file():
        raise CaseError(f"{path}: case file not found")
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise CaseError(f"{path}: not valid TOML: {err}") from None
    if not data:  # a wrong or truncated file must not run as a case of all defaults
        raise CaseError(
            f"{path}: the case file sets no key (it is empty or holds only comments); the smallest "
            'case names itself, e.g. name = "my_case", and every key it leaves out takes its '
            "default"
        )
    data = apply_overrides(data, overrides or [], str(path))
    return from_dict(data, str(path))
