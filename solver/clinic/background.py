"""Each organ at its real size, and the simulated domain placed inside it.

A simulated organ section of a few mm is one voxel of a clinical PET scan: what a scanner
shows of it depends on what surrounds it. Each organ is an ellipsoid of its reference
volume (ICRP Publication 89 masses over the tissue densities of ICRP Publication 110), or of
cited axes where a reference phantom gives them, filled with the organ's background signal
per modality and surrounded by soft tissue. The simulated domain's centre sits at a stated
point of the organ (``Scene.at_mm``, organ frame: the organ's centre is 0), so partial
volume with the organ's edge is the patient's.

World coordinates are the simulation's, in mm (x, y, z read as R, A, S by the exporters).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from solver.clinic.tissue import Grid

__all__ = ["Organ", "ORGANS", "SURROUND", "Scene", "Signal"]

Array = NDArray[np.float64]

ICRP89 = "ICRP Publication 89 (2002) Ann ICRP 32, reference adult organ masses"
ICRP110 = "ICRP Publication 110 (2009) Ann ICRP 39(2) Table A.1, tissue densities"
BAZELAIRE = "de Bazelaire et al. (2004) Radiology 230:652, T2 at 3.0 T"
RECIST = "Eisenhauer et al. (2009) Eur J Cancer 45:228 (RECIST 1.1): normal node short axis < 10 mm"


@dataclass(frozen=True)
class Signal:
    """A tissue's background signal per modality.

    Attributes:
        suv: FDG SUV.
        hu: CT attenuation (portal-venous phase), HU.
        t2_ms: T2, ms (T2-weighted MRI signal exp(-TE / T2), same proton density).
    """

    suv: float
    hu: float
    t2_ms: float


# Around every organ: soft tissue (muscle). PET, CT illustrative; muscle T2 from BAZELAIRE.
SURROUND = Signal(suv=0.7, hu=50.0, t2_ms=29.0)


@dataclass(frozen=True)
class Organ:
    """An organ: an ellipsoid with its background signal and what a tumour looks like on CT.

    Attributes:
        name: Key in ORGANS.
        semi_axes_mm: Semi-axes along x y z.
        tissue: Background signal per modality.
        ct_tumour_hu: HU of packed, unperfused tumour in this organ.
        ct_enhancing: The CT contrast is one of enhancement (perfused tumour takes up contrast
            medium like the organ and its contrast fades with the vessel density); False: a
            structural contrast (tumour tissue against air or bone).
        sources: Where each value comes from.
    """

    name: str
    semi_axes_mm: tuple[float, float, float]
    tissue: Signal
    ct_tumour_hu: float
    ct_enhancing: bool
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def volume_mm3(self) -> float:
        """Volume of the ellipsoid."""
        a, b, c = self.semi_axes_mm
        return 4.0 / 3.0 * math.pi * a * b * c


def _axes(mass_g: float, density: float, ratios: tuple[float, float, float]) -> tuple:
    """Semi-axes (mm) of an ellipsoid of volume mass / density with the given proportions."""
    volume_mm3 = mass_g / density * 1000.0
    k = (volume_mm3 * 3.0 / (4.0 * math.pi * math.prod(ratios))) ** (1.0 / 3.0)
    return tuple(float(k * r) for r in ratios)


ORGANS: dict[str, Organ] = {
    "liver": Organ(
        "liver",
        _axes(1800.0, 1.05, (1.0, 0.75, 0.6)),
        Signal(suv=2.0, hu=100.0, t2_ms=44.0),
        ct_tumour_hu=80.0,
        ct_enhancing=True,
        sources={
            "size": f"{ICRP89}: 1800 g (male); 1.05 g/cm^3 ({ICRP110})",
            "shape": "illustrative: an ellipsoid of proportions 1 : 0.75 : 0.6 (19 x 15 x 12 cm)",
            "suv": "Boellaard et al. (2015) Eur J Nucl Med Mol Imaging 42:328: mean liver SUV "
            "1.3-3.0; Liu et al. (2019) Iran J Radiol 16:e84881: 1.85-1.89",
            "hu": "illustrative: portal-venous liver about 100 HU",
            "ct_tumour_hu": "Image noise and liver lesion detection with MDCT (2011) AJR Am J "
            "Roentgenol 197:437: hypoattenuating lesions 20 HU below liver",
            "t2_ms": "Meloni et al. (2024) MAGMA 37:93: normal liver T2 35-54 ms at 1.5 T in 100 "
            "volunteers (34 ms at 3 T, de Bazelaire et al. 2004)",
        },
    ),
    "lung": Organ(
        "lung",
        _axes(642.0, 0.382, (1.0, 1.5, 2.4)),
        Signal(suv=0.5, hu=-850.0, t2_ms=20.0),
        ct_tumour_hu=40.0,
        ct_enhancing=False,
        sources={
            "size": f"{ICRP89}: right lung with blood 642 g (male); 0.382 g/cm^3 ({ICRP110})",
            "shape": "illustrative: an ellipsoid of proportions 1 : 1.5 : 2.4",
            "suv": "illustrative: normal lung parenchyma SUV about 0.5",
            "hu": "illustrative: aerated lung about -850 HU",
            "ct_tumour_hu": "illustrative: a solid nodule has soft-tissue attenuation, 40 HU",
            "t2_ms": "illustrative: lung gives little signal (short T2*), T2 20 ms stands for it",
        },
    ),
    "bone": Organ(
        "bone",
        (22.0, 17.0, 13.0),
        Signal(suv=1.5, hu=200.0, t2_ms=49.0),
        ct_tumour_hu=40.0,
        ct_enhancing=False,
        sources={
            "size": "illustrative: a lumbar vertebral body, about 45 x 35 x 27 mm",
            "shape": "illustrative: an ellipsoid",
            "suv": "illustrative: red marrow SUV about 1.5",
            "hu": "illustrative: trabecular bone about 200 HU",
            "ct_tumour_hu": "illustrative: a lytic metastasis has soft-tissue attenuation, 40 HU",
            "t2_ms": f"{BAZELAIRE}: bone marrow of L4 49 ms",
        },
    ),
    "brain": Organ(
        "brain",
        (60.0, 90.0, 65.0),
        Signal(suv=7.0, hu=30.0, t2_ms=69.0),
        ct_tumour_hu=20.0,
        ct_enhancing=True,
        sources={
            "size": "Cristy & Eckerman (1987) ORNL/TM-8381: adult phantom brain ellipsoid "
            "6 x 9 x 6.5 cm semi-axes (1470 cm^3; ICRP 89: 1450 g)",
            "shape": "Cristy & Eckerman (1987) ORNL/TM-8381: an ellipsoid",
            "suv": "illustrative: cortex about 7 (FDG uptake of the brain is high)",
            "hu": "illustrative: brain parenchyma about 30 HU",
            "ct_tumour_hu": "illustrative: 10 HU below brain",
            "t2_ms": "Stanisz et al. (2005) Magn Reson Med 54:507: white matter 69 ms at 3 T",
        },
    ),
    "breast": Organ(
        "breast",
        _axes(500.0, 1.02, (1.0, 1.0, 0.6)),
        Signal(suv=0.6, hu=-50.0, t2_ms=60.0),
        ct_tumour_hu=40.0,
        ct_enhancing=False,
        sources={
            "size": f"{ICRP89}: breast 500 g (female); 1.02 g/cm^3 ({ICRP110})",
            "shape": "illustrative: an ellipsoid of proportions 1 : 1 : 0.6",
            "suv": "illustrative: normal breast SUV about 0.6",
            "hu": "illustrative: mixed fatty-fibroglandular breast about -50 HU",
            "ct_tumour_hu": "illustrative: a solid tumour has soft-tissue attenuation, 40 HU",
            "t2_ms": "illustrative: fibroglandular tissue about 60 ms",
        },
    ),
    "lymph_node": Organ(
        "lymph_node",
        (8.0, 4.5, 4.5),
        Signal(suv=1.0, hu=40.0, t2_ms=80.0),
        ct_tumour_hu=40.0,
        ct_enhancing=False,
        sources={
            "size": f"{RECIST}; a 16 x 9 x 9 mm node",
            "shape": "illustrative: an ellipsoid",
            "suv": "illustrative: a normal node SUV about 1",
            "hu": "illustrative: node about 40 HU",
            "ct_tumour_hu": "illustrative: no CT contrast in a node (size is the criterion)",
            "t2_ms": "illustrative: about 80 ms",
        },
    ),
}


@dataclass(frozen=True)
class Scene:
    """The simulated domain inside its organ.

    Attributes:
        organ: The organ.
        domain_centre_mm: Centre of the simulated domain, world coordinates.
        at_mm: Where that centre sits in the organ (organ frame, organ centre 0).
    """

    organ: Organ
    domain_centre_mm: tuple[float, float, float]
    at_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def __post_init__(self) -> None:
        r = np.asarray(self.at_mm) / np.asarray(self.organ.semi_axes_mm)
        if float(np.sum(r**2)) >= 1.0:
            raise ValueError(f"at_mm {self.at_mm} is outside the {self.organ.name}")

    @property
    def organ_centre_mm(self) -> Array:
        """The organ's centre in world coordinates."""
        return np.asarray(self.domain_centre_mm, float) - np.asarray(self.at_mm, float)

    def inside(self, grid: Grid) -> Array:
        """1 where a voxel centre is inside the organ, else 0."""
        semi = self.organ.semi_axes_mm
        q = sum((o / semi[a]) ** 2 for a, o in enumerate(grid.offsets(self.organ_centre_mm)))
        return np.broadcast_to(q < 1.0, grid.shape).astype(float)

    def depth_mm(self, point_mm: ArrayLike) -> float:
        """How far inside the organ a world point is, roughly (mm; < 0 outside): the distance
        to the surface along the ray from the centre.
        """
        d = np.asarray(point_mm, float) - self.organ_centre_mm
        r = float(np.sqrt(np.sum((d / np.asarray(self.organ.semi_axes_mm)) ** 2)))
        n = float(np.linalg.norm(d))
        if n == 0.0:
            return float(min(self.organ.semi_axes_mm))
        return n / max(r, 1e-12) - n
