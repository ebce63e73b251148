"""``seedsoil image OUTDIR``: a finished run imaged from its output files finds what the run's
own scans found (d' to 1e-9, the same image files), in 3D and 2D and on 2 ranks; a lesion at
known coordinates is at its place in the NIfTI (nibabel) and in ParaView (.vti through
pvpython); bad inputs exit 2 naming the file or key."""

import csv
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from mpi4py import MPI

from solver import config
from solver.cli import main

ROOT = Path(__file__).resolve().parents[2]
COMM = MPI.COMM_WORLD
MODALITIES = ("pet", "ct", "mri")
# A tiny 3D primary (0.4 mm block, coarse mesh) imaged by every modality in a breast.
TINY_3D = [
    "time.steps=20",
    "output.every=10",
    "output.plots=false",
    "primary.geometry.size=[0.2, 0.2, 0.2]",
    "primary.geometry.h=0.04",
    "primary.geometry.vessel_min_distance=0.03",
    'imaging.modalities=["pet", "ct", "mri"]',
    'primary.scan.background="breast"',
]
# The 2D demo, small: oxygen and new vessels on; imaged in a liver (CT: perfusion moves the
# tumour's contrast), hypoxia below o = 0.6 (the nodule's centre is hypoxic at once: PET).
SMALL_2D = [
    "time.steps=10",
    "output.every=5",
    "output.plots=false",
    "primary.geometry.size=[0.2, 0.2]",
    "primary.geometry.h=0.01",
    "primary.geometry.tumour_radius=0.02",
    "primary.geometry.vessel_min_distance=0.05",
    "primary.geometry.vessel_radius=0.006",
]
IMAGED_2D = [
    'imaging.modalities=["pet", "ct", "mri"]',
    'imaging.organs=["primary"]',
    'primary.scan.background="liver"',
    "primary.oxygen.hypoxia=0.6",
]


def _sets(items):
    return [a for s in items for a in ("--set", s)]


def _rows(path):
    return list(csv.DictReader(open(path)))


def _run(case, out, sets):
    code = main(["run", str(ROOT / "cases" / case), "-o", str(out), *_sets(sets)])
    assert code == 0
    return out


@pytest.fixture(scope="module")
def run3d(tmp_path_factory):
    return _run("primary_3d.toml", tmp_path_factory.mktemp("im") / "r3", TINY_3D)


@pytest.fixture(scope="module")
def run2d(tmp_path_factory):
    return _run("demo.toml", tmp_path_factory.mktemp("im") / "r2", SMALL_2D + IMAGED_2D)


def _agrees(out, folder, organ, step):
    """findings.csv's d' and SULpeak against the run's metrics.csv at ``step``."""
    metrics = next(r for r in _rows(out / "metrics.csv") if int(r["step"]) == step)
    found = {r["modality"]: r for r in _rows(folder / "findings.csv") if r["organ"] == organ}
    assert sorted(found) == sorted(MODALITIES)
    for m in MODALITIES:
        assert int(found[m]["step"]) == step
        run, cmd = float(metrics[f"{organ}.dprime_{m}"]), float(found[m]["dprime"])
        assert run > 0.0 and cmd == pytest.approx(run, rel=1e-9), m
    assert float(found["pet"]["suv_peak"]) == pytest.approx(
        float(metrics[f"{organ}.suv_peak"]), rel=1e-9
    )
    return found


@pytest.mark.parametrize("which", ["run3d", "run2d"])
def test_the_command_finds_what_the_run_found(which, request, capsys):
    out = request.getfixturevalue(which)
    folder = out / "again"
    assert main(["image", str(out), "-o", str(folder)]) == 0
    text = capsys.readouterr().out
    assert "dprime" in text and str(folder) in text
    last = int(_rows(out / "metrics.csv")[-1]["step"])
    _agrees(out, folder, "primary", last)
    # The same noise (seed, organ, modality, step): the run's image files, byte for byte.
    for m in MODALITIES:
        for suffix in (".nii.gz", ".vti"):
            name = f"primary_{m}_{last:06d}{suffix}"
            assert (folder / name).read_bytes() == (out / "imaging" / name).read_bytes(), name
    notes = json.loads((folder / "imaging.json").read_text())["assumed"]["primary"]
    assert any("2D run" in n for n in notes) == (which == "run2d")


def test_an_earlier_time_and_one_modality(run3d, capsys):
    """--times in hours picks the stored output nearest (step 10 of 0, 10, 20) within half an
    interval; the fields read at that time are those the run imaged then."""
    hours = float(_rows(run3d / "metrics.csv")[1]["hours"])
    folder = run3d / "mid"
    args = ["image", str(run3d), "-o", str(folder), "--modality", "ct", "--modality", "pet,mri"]
    assert main(args + ["--times", f"{hours * 1.3:.6g}"]) == 0
    _agrees(run3d, folder, "primary", 10)
    assert (folder / "primary_ct_000010.vti").exists()


def _lesion_section(dim):
    """A packed tumour sphere of radius 2.5 mm at known off-centre coordinates in a 24 mm
    domain of nodes on a 0.5 mm lattice (mm = 1); in 2D the disc in z = 0.
    """
    from solver.clinic.section import Section

    axis = np.arange(-12.0, 12.0 + 1e-9, 0.5)
    grids = np.meshgrid(*([axis] * dim), indexing="ij")
    pts = np.zeros((grids[0].size, 3))
    for a in range(dim):
        pts[:, a] = grids[a].ravel()
    lesion = np.array([3.25, -2.75, 1.25 if dim == 3 else 0.0])  # lattice-symmetric
    tumour = (np.linalg.norm(pts - lesion, axis=1) <= 2.5).astype(float)
    volumes = np.full(len(pts), 0.5**dim)
    return Section(pts, volumes, tumour, None, None, dim), lesion


@pytest.mark.parametrize("dim", [3, 2])
def test_a_lesion_at_known_coordinates_is_there_in_nifti_and_paraview(dim, tmp_path):
    """PET (2 mm voxels, 4 mm FWHM, an activity that makes the noise small against the
    lesion) of a lesion in a liver: the brightest voxel of the written NIfTI, through its
    affine, and the brightest point of the .vti as ParaView places it, are within half a
    voxel of the lesion's centre."""
    nib = pytest.importorskip("nibabel")
    from solver.clinic import images
    from solver.clinic.background import ORGANS, Scene
    from solver.clinic.follow_up import image_generator, write_images
    from solver.clinic.scan import Scanner

    section, lesion = _lesion_section(dim)
    spec = config.ImagingSpec(
        pet=config.PETSpec(voxel_mm=2.0, fwhm_mm=4.0, activity_MBq=25000.0, minutes=25.0)
    )
    scene = Scene(ORGANS["liver"], tuple(section.centre_mm), (0.0, 0.0, 0.0))
    sc = Scanner(images.model_of(spec, "pet"), scene, section, k=5.0)
    expected = sc.expected(section)
    write_images(tmp_path, "lesion", sc, expected, image_generator(1, 0, "pet", 0))
    half = np.asarray(sc.grid.spacing_mm) / 2

    back = nib.load(str(tmp_path / "lesion.nii.gz"))
    data = np.asarray(back.dataobj)
    assert data.shape == sc.grid.shape and (dim == 3 or data.shape[2] == 1)
    ijk = np.unravel_index(int(np.argmax(data)), data.shape)
    world = nib.affines.apply_affine(back.affine, ijk)
    assert np.all(np.abs(world - lesion) <= half), (world, lesion)

    if shutil.which("pvpython") is None:
        if os.environ.get("CI"):
            pytest.fail("pvpython missing on CI: .ci/run installs it (python3-paraview)")
        pytest.skip("pvpython not installed (apt-get install paraview python3-paraview)")
    r = subprocess.run(
        ["pvpython", str(ROOT / "scripts" / "paraview_image.py"), str(tmp_path / "lesion.vti")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    seen = json.loads(r.stdout.strip().splitlines()[-1])
    assert seen["dimensions"] == list(sc.grid.shape) and seen["array"] == "SUV"
    assert np.all(np.abs(np.asarray(seen["point_mm"]) - lesion) <= half), seen
    assert np.allclose(seen["point_mm"], world)


@pytest.mark.parallel
def test_image_of_a_run_on_two_ranks_is_the_run_on_one(tmp_path):
    """The run on every rank of the job and on one rank give the same metrics (counts exactly,
    the rest to 1e-9: the field solves sum in another order); the reader's sections of the
    first give the d' both runs recorded. Rank 0 compares, every rank asserts (no rank is
    left waiting when one fails).
    """
    from solver.clinic import outputs
    from solver.clinic.follow_up import FollowUp
    from solver.simulation import Simulation

    tmp = Path(COMM.bcast(str(tmp_path), root=0))
    case = config.load(ROOT / "cases" / "primary_3d.toml", TINY_3D + ['imaging.images="none"'])
    Simulation(case, tmp / "many", quiet=True).run()
    pairs: list | None = None
    if COMM.rank == 0:
        Simulation(case, tmp / "one", comm=MPI.COMM_SELF, quiet=True).run()
        many, one = _rows(tmp / "many" / "metrics.csv"), _rows(tmp / "one" / "metrics.csv")
        keys = [k for k in many[0] if k.startswith("primary.") or k in ("step", "cells")]
        pairs = [(f"{r['step']} {k}", r[k], s[k]) for r, s in zip(many, one) for k in keys]
        pairs.append(("outputs", len(many), len(one)))
        read = outputs.read_case(tmp / "many")
        follow = FollowUp(read, tmp / "unused")
        for t, row in zip(outputs.stored_times(tmp / "many", read, 0), many):
            section = outputs.section_at(tmp / "many", read, 0, t)
            for m in MODALITIES:
                f = follow.scanner(0, m, section).find(section)
                pairs.append(
                    (f"read {row['step']} {m}", repr(f.dprime), row[f"primary.dprime_{m}"])
                )
    pairs = COMM.bcast(pairs, root=0)
    assert pairs and len(pairs) > 3 * 3 * 3
    for what, a, b in pairs:
        if isinstance(a, str) and a and not a.lstrip("-").isdigit():
            assert float(a) == pytest.approx(float(b), rel=1e-9, abs=1e-300), what
        else:
            assert a == b, what


def _error(args, capsys):
    code = main(args)
    return code, capsys.readouterr().out


def test_bad_inputs_exit_2_naming_the_file_or_key(run3d, tmp_path, capsys):
    code, text = _error(["image", str(tmp_path)], capsys)
    assert code == 2 and "no manifest.json" in text and str(tmp_path) in text
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "manifest.json").write_text("{")
    code, text = _error(["image", str(bad)], capsys)
    assert code == 2 and "manifest.json: not valid JSON" in text
    r3 = str(run3d)
    for args, named in (
        (["--organs", "liver"], "no organ 'liver'"),
        (["--background", "lung=liver"], "no organ 'lung'"),
        (["--background", "primary=kidney"], "key 'primary.scan': background 'kidney'"),
        (["--times", "0.28"], "stored times (h): 0, 0.111111, 0.222222"),  # > half of 0.111 h
        (["--times", "soon"], "--times 'soon'"),
        (["--modality", "xray"], "--modality xray"),
        (["--set", "time.dt=1"], "only imaging.* keys"),
        (["--set", "imaging.pet.fwhm=3"], "imaging.pet.fwhm"),
        (["--voxel-mm", "0"], "--voxel-mm must be positive"),
    ):
        code, text = _error(["image", r3, "-o", str(tmp_path / "x"), *args], capsys)
        assert code == 2 and named in text, (args, text)


def test_no_background_and_no_fields_are_named(tmp_path, capsys):
    """A run without imaging or fields: its primary has no background organ (named with the
    option that gives one), and once given, no stored fields (named: output.fields)."""
    out = _run("demo.toml", tmp_path / "bare", SMALL_2D + ["time.steps=1", "output.fields=false"])
    code, text = _error(["image", str(out), "--organs", "primary"], capsys)
    assert code == 2 and "primary.scan.background" in text and "--background" in text
    code, text = _error(
        ["image", str(out), "--organs", "primary", "--background", "primary=breast"], capsys
    )
    assert code == 2 and "output.fields" in text and str(out / "primary") in text
