"""Case-file schema (pydantic v2), loading, overrides and defaults with citations.

A case is one TOML file. Every parameter has a default; each default is either
cited (the reference sits beside it) or listed in ``ILLUSTRATIVE`` so that the
run manifest can say which illustrative values a run used.

Units: lengths in units of ``scales.length_cm`` and times in units of
``scales.time_s`` (docs/model.md section 0). Franssen et al. (2019) use
L = 0.2 cm and tau = L^2 / 1e-6 cm^2/s = 4e4 s.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator,
                      model_validator)
from pydantic_core import PydanticCustomError

from solver import expression

# Franssen, Lorenzi, Burgess, Chaplain (2019) Bull Math Biol 81:1965, Table 1
# (nondimensional; restated in MetaSpread's documentation). Cited values.
FRANSSEN = "Franssen et al. (2019) Bull Math Biol 81:1965, Table 1"

NonNeg = Annotated[float, Field(ge=0.0)]
Pos = Annotated[float, Field(gt=0.0)]
Prob = Annotated[float, Field(ge=0.0, le=1.0)]
# An expression of x, y, z (solver/expression.py), checked when the case is loaded.
Expression = Annotated[str, AfterValidator(expression.check)]

# Defaults that are not taken from a publication: the manifest lists the ones a run used.
# "organ." keys are every organ's (primary.<key>, secondary.<k>.<key>), "interventions." keys
# every intervention's (interventions.<k>.<key>), as error messages name them.
ILLUSTRATIVE: dict[str, str] = {
    "organ.geometry.h_fine": "mesh size near tumour and vessels (numerical choice)",
    "organ.geometry.vessel_radius": "vessel site radius ~ one cell diameter",
    "organ.geometry.vessel_min_distance": "vessels placed away from the tumour",
    "organ.geometry.tumour_radius": "initial tumour region for meshing",
    "lesions.detect_mm": "imaging-detection size ~1 mm (clinical MRI/CT resolution)",
    "circulation.arrest": "arrest in a capillary bed 0.8 (CTCs of 12-25 um vs 5-8 um capillaries)",
    # The soil (only when [soil] switches the process on).
    "organ.oxygen.supply": "oxygen supply per vessel density: a vascularised packed patch stays normoxic",
    "organ.oxygen.b0": "background capillaries: a packed colony's core goes hypoxic without new vessels",
    "organ.oxygen.necrosis": "anoxia ~1 mmHg",
    "organ.vegf.s_niche": "VEGF from conditioned tissue: v = 0.5 where N = 1",
    "organ.vegf.vessel_uptake": "VEGF uptake by perfused vessels ~ its decay",
    "organ.niche.D": "exosome diffusivity in tissue",
    "organ.niche.decay": "niche-factor decay",
    "organ.niche.uptake": "niche-factor uptake by resident cells",
    "organ.niche.loss": "loss of conditioning (weeks)",
    "organ.niche.wake": "wake-up gain of dormant cells in a conditioned niche",
    "exosomes.release": "exosome release per primary cell",
    "exosomes.uptake": "exosome uptake by an organ type without a measured fraction: 1 % of the removal",
    "organ.angiogenesis.branch": "tip branching probability per unit VEGF",
    "organ.angiogenesis.sprout_threshold": "VEGF level at which vessel sites sprout",
    "organ.angiogenesis.sprout_rate": "sprouting rate per unit VEGF excess",
    "organ.angiogenesis.escape": "no anastomosis within 56 um of a sprout's birth point",
    "exosomes.off_target": "uptake of integrin-tropic exosomes by non-target organs",
    "interventions.strength": "anti-VEGF sink ~10 x VEGF's decay rate",
}
_SOIL = {"oxygen": "oxygen", "vegf": "vegf", "niche": "niche", "exosomes": "niche",
         "angiogenesis": "angiogenesis"}  # key part -> switch


class CaseError(Exception):
    """A user error in a case file or in the command line: exit code 2, no traceback."""


class Failed(Exception):
    """A run failed numerically (a field step, even in sub-steps); the outputs up to the
    last good one stay valid (exit code 4)."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Scales(Strict):
    length_cm: Pos = 0.2  # Franssen et al. (2019): L = 0.2 cm
    time_s: Pos = 4.0e4  # Franssen et al. (2019): tau = L^2 / D_ref, D_ref = 1e-6 cm^2/s


class Time(Strict):
    dt: Pos = 1.0e-3  # Franssen et al. (2019)
    steps: Annotated[int, Field(ge=0)] = 100  # run length (setting)


class Output(Strict):
    every: Annotated[int, Field(ge=1)] = 50  # steps between outputs (setting)
    fields: bool = True
    cells: bool = True
    vtx: bool = False  # VTX .bp (ParaView >= 5.12 with ADIOS2) besides XDMF
    # steps between checkpoints (setting; 0: only on SIGTERM/SIGUSR1)
    checkpoint_every: Annotated[int, Field(ge=0)] = 0
    plots: bool = True  # seedsoil run writes OUTDIR/plots/*.png at the end (solver/plots.py)


class Geometry(Strict):
    """The primary site: a tissue block with a tumour and vessel sites, or a user mesh."""

    kind: Literal["box", "liver", "lung", "bone", "brain", "stl", "msh"] = "box"  # Gmsh builders, STL, user mesh
    dim: Literal[2, 3] = 2
    size: list[Pos] = Field(default_factory=lambda: [1.0, 1.0])  # Franssen et al. (2019): [0, 1]^2
    h: Pos = 5.0e-3  # Franssen et al. (2019): 201 x 201 nodes on [0, 1]^2
    h_fine: Pos | None = None  # None: same as h (illustrative: a numerical choice)
    tumour_centre: list[float] | None = None  # None: block centre
    tumour_radius: Pos = 0.03  # initial tumour region for meshing (illustrative)
    # Franssen et al. (2019) as MetaSpread's documentation table states them; its code (the
    # reference) has 8 normal + 2 ruptured, as the Franssen cases (docs/fidelity.md)
    normal_vessels: Annotated[int, Field(ge=0)] = 2  # Franssen et al. (2019), documentation table
    ruptured_vessels: Annotated[int, Field(ge=0)] = 8  # Franssen et al. (2019), documentation table
    vessel_radius: Pos = 5.0e-3  # ~ one cell diameter (illustrative)
    vessel_min_distance: NonNeg = 0.2  # vessels away from the tumour (illustrative)
    vessel_seed: int = 0  # random vessel placement (setting)
    vessel_centres: list[list[float]] | None = None  # explicit ruptured sites (instead of random placement)
    file: str | None = None  # kind = "msh" or "stl": path, relative to the case file
    stl_scale: Pos = 1.0  # kind = "stl": case length units per STL unit (setting)

    @model_validator(mode="after")
    def _shape(self):
        if self.kind in ("msh", "stl") and self.file is None:
            raise ValueError(f"kind = '{self.kind}' needs file = 'path/to/organ.{self.kind}'")
        if self.kind == "stl" and self.dim != 3:
            raise ValueError("kind = 'stl' meshes the volume inside a closed surface: set dim = 3")
        if self.kind not in ("msh", "stl") and len(self.size) != self.dim:
            raise ValueError(f"size must have {self.dim} entries (one per dimension), got {len(self.size)}")
        if self.kind != "msh" and self.tumour_centre is not None and len(self.tumour_centre) != self.dim:
            raise ValueError(f"tumour_centre must have {self.dim} entries")
        if self.kind not in ("msh", "stl") and self.h > min(self.size) / 2:
            raise ValueError(f"h = {self.h} is coarser than the tissue (smallest side {min(self.size)}): "
                             f"use h <= {min(self.size) / 2:g}")
        return self


class ECM(Strict):
    w0: Prob = 1.0  # initial ECM density (Franssen et al. 2019: uniform)
    w0_groups: dict[str, Prob] = Field(default_factory=dict)  # per physical group
    Gamma1: NonNeg = 1.0  # degradation by mesenchymal cells; Franssen et al. (2019)
    Gamma2: NonNeg = 1.0  # degradation by MMP; Franssen et al. (2019)


class MMP(Strict):
    D: NonNeg = 1.0e-3  # D_m; Franssen et al. (2019)
    Theta: NonNeg = 0.195  # production by mesenchymal cells; Franssen et al. (2019)
    Lambda: NonNeg = 0.1  # decay; Franssen et al. (2019)


class Extravasation(Strict):
    """p_ext = 1 - (1 - p0) exp(-epsilon N_local) (docs/model.md section 4)."""

    p0: Prob = 1.0  # Franssen et al. (2019): arrivals settle wherever there is room
    epsilon: NonNeg = 0.0  # niche effect (off: a case that models the niche sets it)


class Oxygen(Strict):
    """o, normalised to healthy tissue (o = 1 ~ 46 mmHg, the median normal-tissue pO2 in
    Vaupel's compilation, McKeown 2014 Br J Radiol 87:20130676, Table 2):
    do/dt = D lap o + supply (b0 (1 - regression min(c/Q, 1)) + b)(1 - o) - uptake c o
    (docs/model.md section 2; the regression factor: section 6)."""

    D: NonNeg = 17.5  # 1.75e-5 cm^2/s at 37 C; Grote, Suesskind & Vaupel (1977) Pfluegers Arch 372:37
    # Per unit cell density: o falls to the hypoxic level ~100 um and to anoxia ~200 um into
    # packed tumour (diffusion limit 120-140 um: Grote 1977; Lanzen et al. 2006 Cancer Res
    # 66:2219); ~120 amol O2/cell/s, inside the range of Wagner et al. 2011 FRBM 51:700.
    uptake: NonNeg = 9.3e3
    supply: NonNeg = 3.7e4  # per unit vessel density (illustrative: a fully vascularised packed patch stays normoxic)
    b0: Prob = 0.1  # background capillaries (illustrative: a packed colony's core goes hypoxic without new vessels)
    # Fraction of the background capillaries a packed colony displaces: tumours co-opt the
    # host vessels and the co-opted vessels regress (Holash et al. 1999 Science 284:1994), so
    # a colony's core goes anoxic and dies unless new vessels reach it (angiogenic dormancy).
    regression: Prob = 1.0
    hypoxia: Prob = 0.22  # o_hyp: pO2 < 10 mmHg (Hughes et al. 2019 Br J Radiol 92:20170955), / 46 mmHg
    necrosis: Prob = 0.02  # o_nec: ~1 mmHg (illustrative), / 46 mmHg


class VEGF(Strict):
    """v, normalised to a packed hypoxic colony's steady level:
    dv/dt = D lap v + s_cells c H(o) + s_niche N - decay v - vessel_uptake b v."""

    D: NonNeg = 0.29  # 2.9e-7 cm^2/s, the TAF diffusivity of Anderson & Chaplain (1998)'s scaling
    decay: NonNeg = 5.1  # half-life 90 min; Kleinheinz et al. (2010) Head Face Med 6:17
    s_cells: NonNeg = 1.3  # per hypoxic cell density (derived: decay / 4 makes v = 1 in a packed hypoxic colony)
    s_niche: NonNeg = 2.5  # conditioned tissue (illustrative: v = 0.5 where N = 1)
    vessel_uptake: NonNeg = 5.1  # k_v (illustrative: a perfused patch halves VEGF's lifetime)
    hypoxia_width: Pos = 0.02  # width of the smoothed switch H(o) around o_hyp (numerical)
    initial: Expression = "0"  # v at t = 0: an expression of x, y, z (e.g. a benchmark's TAF profile)


class Niche(Strict):
    """The exosome-borne niche factor x and the conditioning N (docs/model.md section 5):
    dx/dt = D lap x - (decay + uptake) x + (organ uptake from plasma, where vessels are);
    dN/dt = rate uptake x (1 - N) - loss N (pointwise, exact)."""

    D: NonNeg = 0.01  # exosomes (~100 nm) barely diffuse in tissue (illustrative)
    decay: NonNeg = 1.0  # illustrative
    uptake: NonNeg = 1.0  # k_u, by resident cells (illustrative)
    rate: NonNeg = 0.033  # k_N: N reaches 63 % in ~14 days at x = 1 (niche before the cells; Kaplan et al. 2005 Nature 438:820)
    loss: NonNeg = 0.015  # delta_N: conditioning lasts weeks (Peinado et al. 2012 Nat Med 18:883) (illustrative)
    deposition: NonNeg = 0.0  # mu_w: ECM deposition where N > 0 (per unit N; fibronectin, Costa-Silva 2015) (off)
    wake: NonNeg = 5.0  # epsilon_w: wake-up rate r_wake (1 + wake N) (illustrative)


# Anderson & Chaplain (1998) Bull Math Biol 60:857, their nondimensional values (as in the
# re-implementation of Nardini et al. 2021 PLoS Comput Biol 17:e1009094), times 0.290 for
# these units (their tau = L^2 / 2.9e-7 cm^2/s with L = 0.2 cm, docs/model.md section 0).
_AC = 4.0e4 / (0.2**2 / 2.9e-7)


class Angiogenesis(Strict):
    """Tip cells (solver/vessels.py): motility D, chemotaxis chi0 / (1 + alpha v), haptotaxis
    rho, fibronectin production beta and uptake gamma, VEGF uptake eta (A&C 1998)."""

    D: NonNeg = 3.5e-4 * _AC  # A&C (1998), as all from here to psi
    chi0: NonNeg = 0.38 * _AC  # A&C (1998)
    alpha: NonNeg = 0.6  # A&C (1998)
    rho: NonNeg = 0.34 * _AC  # A&C (1998)
    beta: NonNeg = 0.05 * _AC  # A&C (1998)
    gamma: NonNeg = 0.1 * _AC  # A&C (1998)
    eta: NonNeg = 0.1 * _AC  # A&C (1998)
    psi: NonNeg = 0.5 / _AC  # minimum tip age before branching (A&C 1998: their psi = 0.5)
    branch: NonNeg = 1.0  # branching probability per unit time per unit v after psi (illustrative)
    sprout_threshold: NonNeg = 0.1  # VEGF above which a perfused vessel site sprouts (illustrative)
    sprout_rate: NonNeg = 2.0  # sprouts per unit time per site per unit VEGF excess (illustrative)
    max_tips: Annotated[int, Field(ge=1)] = 20_000  # a cap on tips per organ (numerical)
    f_initial: Expression = "0"  # fibronectin at t = 0: an expression of x, y, z
    initial_tips: bool = False  # one tip from every vessel site at the first step (A&C's start)
    # A tip fuses on meeting the trail of any sprout ("any": a vessel is a vessel), or only
    # of a sprout whose tip is still active (the rule of the A&C re-implementation of
    # Nardini et al. 2021, scripts/ac1998_lattice.py).
    anastomosis: Literal["any", "active"] = "any"
    # No anastomosis within this distance of where either sprout was born (at least two mesh
    # cells): a branch and its parent start together and would otherwise re-cross each
    # other's trails at once, more often the finer the mesh. 0.028 = 56 um, a few cell
    # lengths (illustrative; with it the A&C benchmark matches the lattice at h = 0.01 and 0.005).
    escape: NonNeg = 0.028


class Organ(Strict):
    name: str = "primary"
    geometry: Geometry = Field(default_factory=Geometry)
    ecm: ECM = Field(default_factory=ECM)
    mmp: MMP = Field(default_factory=MMP)
    extravasation: Extravasation = Field(default_factory=Extravasation)
    oxygen: Oxygen = Field(default_factory=Oxygen)
    vegf: VEGF = Field(default_factory=VEGF)
    niche: Niche = Field(default_factory=Niche)
    angiogenesis: Angiogenesis = Field(default_factory=Angiogenesis)
    # a secondary's cells at t = 0 (setting: a micrometastasis at its tumour centre)
    colony: Annotated[int, Field(ge=0)] = 0
    type: str | None = None  # organ type for anatomical routing; default: geometry.kind (liver, lung, ...)

    def organ_type(self) -> str:
        return self.type or (self.geometry.kind if self.geometry.kind not in ("box", "msh", "stl") else self.name)


class Circulation(Strict):
    """The blood (docs/model.md section 4); Franssen et al. (2019), Table 1 and section 2.4."""

    T_V: Pos = 0.18  # time in the blood: 180 steps of 1e-3; Franssen et al. (2019), as P_d, P_s, P_C
    P_d: Prob = 0.5  # a cell breaks away from a multicell cluster (Franssen 2019)
    P_s: Prob = 5.0e-4  # a single cell survives the blood (Franssen 2019)
    P_C: Prob = 2.5e-2  # a cluster survives the blood (Franssen 2019)
    order: Literal["disaggregate_first", "survive_first"] = "disaggregate_first"  # as the reference code
    routing: Literal["split", "anatomical"] = "split"
    split: dict[str, Prob] = Field(default_factory=dict)  # secondary organ -> fraction (sum 1); {} = equal
    # Anatomical routing (solver/circulation.py): first capillary bed, lungs, then arteries.
    primary_type: Literal["colorectal", "breast", "prostate", "lung", "melanoma", "other"] = "other"
    # organ type -> arrest in its bed (default 0.8, illustrative)
    arrest: dict[str, Prob] = Field(default_factory=dict)
    affinity: dict[str, NonNeg] = Field(default_factory=dict)  # organ type -> metastatic efficiency index
    vertebral_bypass: Prob = 0.0  # prostate: fraction that reaches bone through Batson's plexus (off)

    @model_validator(mode="after")
    def _fit_affinities(self):
        # The default affinities are fitted to the case's arrest: refuse at load a case they cannot fit.
        from .circulation import INCIDENCE, default_affinity

        if self.routing == "anatomical" and set(INCIDENCE.get(self.primary_type, ())) - set(self.affinity):
            try:
                default_affinity(self)
            except CaseError as err:
                raise ValueError(str(err)) from None
        return self


# Fraction of an intravenous dose of tumour exosomes found per organ at 4 h (B16BL6
# exosomes in mice; J Pharm Sci (2015) 104:705, Table/Fig.); other organ types: 1 % (illustrative).
EXOSOME_UPTAKE = {"liver": 0.28, "lung": 0.07, "spleen": 0.016}
EXOSOME_UPTAKE_OTHER = 0.01  # other organ types (illustrative; listed as exosomes.uptake)


class Exosomes(Strict):
    """The plasma exosome pool E (docs/model.md section 5; solver/circulation.py ExosomePool)."""

    release: NonNeg = 1.0e-2  # sigma per primary cell (illustrative: x ~ 1 in a primed organ of size 1 from ~1e4 cells)
    removal: Pos = 231.0  # k_clear + sum k_j: plasma half-life ~2 min (Takahashi et al. 2013 J Biotechnol 165:77, as cited by Wiklander et al. 2015)
    # organ type -> fraction of the removal (default EXOSOME_UPTAKE, else EXOSOME_UPTAKE_OTHER, illustrative)
    uptake: dict[str, Prob] = Field(default_factory=dict)
    # Hoshino et al. (2015) Nature 527:329: integrin alpha6beta4 -> lung, alphavbeta5 -> liver,
    # brain-tropic EVs. "none": uptake by the fractions above; otherwise the matching organ
    # type keeps its fraction and the others are multiplied by off_target.
    tropism: Literal["none", "lung", "liver", "brain"] = "none"
    off_target: Prob = 0.15  # illustrative (no quantitative affinities published)


class Intervention(Strict):
    """A treatment in time (simulation units): ``resection`` of the primary at ``start``;
    ``vegf_blockade`` (an extra VEGF sink ``strength`` per unit time while a dose acts),
    ``exosome_release`` blocked (e.g. GW4869), ``integrin`` blocked (uptake by the
    ``profile`` organ type times ``exosomes.off_target``) from ``start`` to ``stop``, in
    doses of ``duration`` every ``every`` (0: continuous)."""

    kind: Literal["resection", "vegf_blockade", "exosome_release", "integrin"]
    start: NonNeg = 0.0  # the schedule (setting), as stop, every and duration
    stop: NonNeg | None = None  # None: to the end of the run
    every: NonNeg = 0.0  # (setting)
    duration: NonNeg = 0.0  # (setting)
    strength: NonNeg = 50.0  # vegf_blockade: ~10 x VEGF's decay rate (illustrative; anti-VEGF binds free VEGF)
    profile: Literal["lung", "liver", "brain"] | None = None  # integrin: the blocked tropism

    @model_validator(mode="after")
    def _schedule(self):
        if self.stop is not None and self.stop < self.start:
            raise ValueError(f"stop ({self.stop}) is before start ({self.start})")
        if self.every and not 0 < self.duration <= self.every:
            raise ValueError("a dosing schedule needs 0 < duration <= every")
        if self.kind == "integrin" and self.profile is None:
            raise ValueError("kind = 'integrin' needs profile = 'lung', 'liver' or 'brain'")
        return self

    def active(self, t: float) -> bool:
        if t < self.start or (self.stop is not None and t > self.stop):
            return False
        return not self.every or (t - self.start) % self.every < self.duration


class Soil(Strict):
    """Which soil processes run (docs/model.md sections 2, 5, 6); off: Franssen's invasion model."""

    oxygen: bool = False  # oxygen field; division stops below o_hyp, cells die below o_nec
    vegf: bool = False  # VEGF field (from hypoxic cells and conditioned tissue)
    niche: bool = False  # plasma exosomes, niche factor x and conditioning N
    angiogenesis: bool = False  # tip cells from vessel sites up VEGF gradients; perfused trails raise b
    # Oxygen, VEGF and the niche step every `every` cell steps with that longer step
    # (implicit, so stable; the error of sub-cycling is measured in tests/test_soil.py).
    every: Annotated[int, Field(ge=1)] = 20  # (numerical)

    @model_validator(mode="after")
    def _needs(self):
        if self.angiogenesis and not self.vegf:
            raise ValueError("angiogenesis follows VEGF: set vegf = true too")
        return self


class Lesions(Strict):
    """Lesion sizes for reporting; AJCC Cancer Staging Manual, 8th ed. (2017)."""

    micro_mm: Pos = 0.2  # AJCC (2017): micrometastasis > 0.2 mm (smaller: isolated tumour cells)
    macro_mm: Pos = 2.0  # AJCC (2017): macrometastasis > 2 mm
    detect_mm: Pos = 1.0  # imaging-detection size (illustrative: ~ clinical MRI/CT resolution)


class Dormancy(Strict):
    """Cellular dormancy of arrivals (docs/model.md section 6); None: arrivals are active at once."""

    r_wake: NonNeg | None = None


# Tumour cells packed without stroma: 10^9 cells per cm^3 (1 g), the classic figure for cells of
# ~10 um; Del Monte (2009) Cell Cycle 8:505 argues that epithelial tumours, with their stroma,
# hold about an order of magnitude fewer. A packing ceiling, so the packed value.
PACKED_CELLS_PER_CM3 = 1.0e9


class InitialCells(Strict):
    count: Annotated[int, Field(ge=0)] = 388  # Franssen et al. (2019)
    fraction_M: Prob = 0.6  # Franssen et al. (2019): 60 % mesenchymal
    per_place: Pos | None = None  # None: Q (fill the places nearest the tumour centre)


class Cells(Strict):
    mode: Literal["discrete", "continuum"] = "discrete"
    D_E: NonNeg = 5.0e-5  # Franssen et al. (2019)
    D_M: NonNeg = 1.0e-4  # Franssen et al. (2019)
    Phi_E: NonNeg = 5.0e-4  # haptotaxis; Franssen et al. (2019)
    Phi_M: NonNeg = 5.0e-4  # Franssen et al. (2019)
    T_E: Pos = 3.0  # doubling time, 3000 steps of 1e-3; Franssen et al. (2019)
    T_M: Pos = 2.0  # 2000 steps of 1e-3; Franssen et al. (2019)
    Q: Pos = 4.0  # cells per reference volume h_ref^d, 2D; Franssen et al. (2019)
    # 3D: cells per h_ref^3; None: packed tumour cells, PACKED_CELLS_PER_CM3 in h_ref^3 (1 cell
    # per (10 um)^3, 8 per (20 um)^3).
    capacity_3d: Pos | None = None
    h_ref: Pos = 5.0e-3  # Franssen et al. (2019)'s grid spacing (10 um with L = 0.2 cm)
    proliferation: bool = True
    # "synchronous": the reference code's rule (MetaSpread cancermodel.py, step/proliferate):
    # every cell of a phenotype divides at once, in the steps after the step count reaches a
    # multiple of its doubling time; "asynchronous": each cell has its own cycle clock
    # (docs/fidelity.md says why one would choose each).
    division: Literal["synchronous", "asynchronous"] = "asynchronous"
    initial: InitialCells = Field(default_factory=InitialCells)

    _length_cm: float = PrivateAttr(default=0.2)  # the case's scales.length_cm (set by Case)

    def capacity(self, dim: int) -> float:
        """Cells per lattice box h_ref^d: Q in 2D; in 3D capacity_3d, by default the packed
        density in cells per cm^3 times the box's volume in cm^3."""
        if dim == 2:
            return self.Q
        if self.capacity_3d is not None:
            return self.capacity_3d
        return PACKED_CELLS_PER_CM3 * (self.h_ref * self._length_cm) ** 3

    @model_validator(mode="after")
    def _division(self):
        if self.mode == "continuum" and self.division == "synchronous":
            raise ValueError("division = 'synchronous' divides discrete cells at once; a continuum "
                             "density grows at a rate: use division = 'asynchronous' (the default)")
        return self


# PETSc options a case file may set (docs/reliability.md): solver settings only, an allowlist.
# Everything else is refused, above all what writes files or runs code: viewers (*_view),
# monitors, -log_view, -options_file, debuggers, -malloc_dump, python types. The command
# line (--petsc-option) is the user's own and stays open.
PETSC_FIELDS = ("mmp_", "oxygen_", "vegf_", "niche_")  # per-field prefixes (reaction_diffusion.py)
_LEVEL = r"(ksp_type|pc_type|ksp_max_it|ksp_rtol|ksp_atol|pc_factor_levels|pc_factor_mat_solver_type|pc_sor_its)"
PETSC_ALLOWED = re.compile(r"""
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
  | (sub|mg_levels|mg_coarse)_""" + _LEVEL, re.X | re.I)
_PETSC_VALUE = re.compile(r"[A-Za-z0-9_.+-]{1,64}")  # a number, a type name, a boolean: no paths, no spaces


def check_petsc(options: dict) -> dict:
    """Case-file PETSc options, without leading dashes, if every key is an allowed solver
    setting (``PETSC_ALLOWED``, optionally after a field prefix) with a plain value."""
    out = {}
    for key, value in options.items():
        k = key.lstrip("-")
        field = next((p for p in PETSC_FIELDS if k.lower().startswith(p)), "")
        if not PETSC_ALLOWED.fullmatch(k[len(field):]):
            raise PydanticCustomError(
                "petsc_option", "not a solver setting that a case file may pass to PETSc (allowed: Krylov and "
                "preconditioner types, tolerances, iteration limits and the like, see docs/reliability.md; viewers, "
                "monitors, logs, debuggers and options files are refused); your own options go on the command "
                "line: --petsc-option -{key}=VALUE", {"key": key})
        if isinstance(value, str) and (not _PETSC_VALUE.fullmatch(value) or "python" in value.lower()):
            raise PydanticCustomError("petsc_option", "the value '{value}' is not allowed (a number, a type name or "
                                      "a boolean; no paths, spaces or python types)", {"key": key, "value": value})
        out[k.lower()] = value  # PETSc's option names ignore case
    return out


class Solver(Strict):
    rtol: Pos = 1.0e-10  # (numerical)
    # Oxygen and VEGF: their steps are sub-cycled (a splitting error ~1 %), so a tighter
    # solve buys nothing and costs 2x the iterations (scripts/bench_soil.py). The niche
    # factor keeps rtol: its exosome mass balance closes to round-off.
    soil_rtol: Pos = 1.0e-6  # (numerical)
    # Discrete diffusion on positive off-diagonal stiffness entries (obtuse elements):
    # guaranteed non-negative fields at some accuracy cost. None: on in 2D, off in 3D.
    m_matrix: bool | None = None
    petsc: dict[str, str | int | float | bool] = Field(default_factory=dict)  # checked: check_petsc

    @field_validator("petsc")
    @classmethod
    def _petsc(cls, options):
        return check_petsc(options)


class Parallel(Strict):
    """How organs map onto MPI ranks (docs/performance.md: measured by scripts/bench_mapping.py)."""

    # "split": the ranks form one group per organ (up to the number of organs), the primary
    # alone in the first group, the secondaries shared round-robin by the others;
    # "all": every organ distributed over every rank.
    organs: Literal["split", "all"] = "split"
    # How an organ's mesh is cut among its ranks: "elements" (dolfinx's graph partitioner)
    # or "cells": weighted by the cancer cells each element holds at the start, each
    # costing ``cell_cost`` elements' field work (solver/partition.py; 3D, measured by
    # scripts/scaling.py: a cell ~1 us per step against ~35 ns for an element's fields).
    balance: Literal["elements", "cells"] = "elements"
    cell_cost: NonNeg = 30.0  # (numerical, measured)


class Case(Strict):
    name: str = "case"
    seed: Annotated[int, Field(ge=0, lt=2**63)] = 1  # random streams (setting)
    scales: Scales = Field(default_factory=Scales)
    time: Time = Field(default_factory=Time)
    output: Output = Field(default_factory=Output)
    primary: Organ = Field(default_factory=Organ)
    secondary: list[Organ] = Field(default_factory=list)
    circulation: Circulation = Field(default_factory=Circulation)
    dormancy: Dormancy = Field(default_factory=Dormancy)
    soil: Soil = Field(default_factory=Soil)
    exosomes: Exosomes = Field(default_factory=Exosomes)
    interventions: list[Intervention] = Field(default_factory=list)
    lesions: Lesions = Field(default_factory=Lesions)
    cells: Cells = Field(default_factory=Cells)
    solver: Solver = Field(default_factory=Solver)
    parallel: Parallel = Field(default_factory=Parallel)

    @model_validator(mode="after")
    def _organs(self):
        self.cells._length_cm = self.scales.length_cm  # the 3D capacity is a density in cm^-3
        names = [self.primary.name] + [o.name for o in self.secondary]
        if len(set(names)) != len(names):
            raise ValueError(f"organ names must differ, got {names}")
        if self.primary.colony:
            raise ValueError("primary.colony seeds a secondary organ; the primary's cells are cells.initial")
        split = self.circulation.split
        if split:
            unknown = sorted(set(split) - set(names[1:]))
            if unknown:
                raise ValueError(f"circulation.split names {unknown}, which are not secondary organs {names[1:]}")
            if abs(sum(split.values()) - 1.0) > 1e-9:
                raise ValueError(f"circulation.split fractions must sum to 1, got {sum(split.values())}")
        if self.primary.extravasation != Extravasation():  # compared by value: a restart's case sets every key
            raise ValueError("key 'primary.extravasation': no cell arrives in the primary (arrivals settle in the "
                             "secondary organs), so it has no effect: set [secondary.extravasation] instead")
        # The one switch without meaning for a density (docs/continuum.md lists every switch).
        if self.cells.mode == "continuum" and self.parallel.balance == "cells":
            raise ValueError("key 'parallel.balance' = 'cells' weights elements by the discrete cells they hold; "
                             "with cells.mode = 'continuum' the cells are a field that costs the same on every "
                             "element: use 'elements'")
        return self

    def organs(self) -> list[Organ]:
        return [self.primary] + list(self.secondary)

    # Where the case came from (for relative mesh paths and error messages).
    source: str | None = Field(default=None, exclude=True)
    # PETSc options from the command line (--petsc-option): the user's own, so not checked
    # against the allowlist; not part of the case (a restart does not replay them).
    _petsc_command_line: dict = PrivateAttr(default_factory=dict)

    def petsc(self, command_line: dict | None = None) -> dict:
        """The PETSc options of the field solvers: the case's, then the command line's
        (``command_line``, if given, replaces the stored ones)."""
        if command_line is not None:
            self._petsc_command_line = dict(command_line)
        return {**self.solver.petsc, **self._petsc_command_line}

    def petsc_command_line(self) -> dict:
        return dict(self._petsc_command_line)

    def illustrative(self) -> dict[str, str]:
        """The illustrative defaults that this case relies on (not set by the user, in a
        process that runs), by the keys that error messages use."""
        organs = [("primary", self.primary)] + [(f"secondary.{k}", o) for k, o in enumerate(self.secondary)]
        blockades = [(f"interventions.{k}", iv) for k, iv in enumerate(self.interventions)
                     if iv.kind == "vegf_blockade"]
        used = {}
        for key, why in ILLUSTRATIVE.items():
            head, *parts = key.split(".")
            switch = next((_SOIL[p] for p in key.split(".") if p in _SOIL), None)
            if switch and not getattr(self.soil, switch):
                continue
            if key == "circulation.arrest" and self.circulation.routing != "anatomical":
                continue
            if key == "exosomes.uptake":  # the 1 % applies per organ type without a value
                types = {o.organ_type() for o in self.secondary} - set(EXOSOME_UPTAKE) - set(self.exosomes.uptake)
                if types:
                    used[key] = f"{why} ({', '.join(sorted(types))})"
                continue
            groups = {"organ": organs, "interventions": blockades}
            places = groups[head] if head in groups else [(head, getattr(self, head))]
            for prefix, obj in places:
                *parents, leaf = parts
                for p in parents:
                    obj = getattr(obj, p)
                if leaf not in obj.model_fields_set:
                    used[".".join([prefix, *parts])] = why
        return used


def _short(text: str, n: int = 120) -> str:
    return text if len(text) <= n else f"{text[:n]}... ({len(text)} characters)"


def _format_errors(source: str, err: ValidationError) -> str:
    lines = [f"{source}: invalid case file"]
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"] + ((e["ctx"]["key"],) if e["type"] == "petsc_option" else ()))
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
    (``interventions=[{kind="resection",start=2.0}],seed=3``)."""
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
        raise CaseError(f"{path}: the case file sets no key (it is empty or holds only comments); the smallest "
                        "case names itself, e.g. name = \"my_case\", and every key it leaves out takes its default")
    data = apply_overrides(data, overrides or [], str(path))
    return from_dict(data, str(path))
