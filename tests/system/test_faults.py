"""Numerical faults: a field solve that diverges is retried in sub-steps; NaN and
negative values (on an M-matrix) that sub-steps cannot cure stop the run with a message
naming organ, field, step and the last good output, exit code 4, and a manifest that
says complete: false, with the outputs written so far intact; serial and on 2 ranks."""

import csv
import json
from pathlib import Path

import dolfinx.fem as fem
import dolfinx.mesh as dmesh
import numpy as np
import pytest
from mpi4py import MPI

from solver.cli import main
from solver.fields.reaction_diffusion import FieldError, ReactionDiffusion, lumped_mass, stiffness

COMM = MPI.COMM_WORLD
ROOT = Path(__file__).resolve().parents[2]


def _field(n=24):
    msh = dmesh.create_unit_square(COMM, n, n)
    V = fem.functionspace(msh, ("Lagrange", 1))
    u = fem.Function(V)
    u.interpolate(lambda x: np.exp(-200 * ((x[0] - 0.3) ** 2 + (x[1] - 0.6) ** 2)))
    return V, u


def _rd(V, u, dt, **options):
    return ReactionDiffusion(
        u=u,
        K=stiffness(V),
        lumped=lumped_mass(V),
        D=1.0,
        decay=0.0,
        dt=dt,
        name="probe",
        options=dict({"pc_type": "jacobi"}, **options),
        rtol=1e-10,
        positive=True,
    )


@pytest.mark.parallel
def test_a_diverging_solve_is_retried_in_sub_steps():
    dt = 1.0  # very stiff: Jacobi-CG needs many more iterations than at dt / 2
    V, u = _field()
    start = u.x.array.copy()
    half = _rd(V, u, dt / 2)
    its = []
    for _ in range(2):
        half.step()
        its.append(half.iterations)
    reference = u.x.array.copy()
    u.x.array[:] = start
    full = _rd(V, u, dt)
    full.step()
    assert full.iterations > max(its)
    u.x.array[:] = start
    limited = _rd(V, u, dt, ksp_max_it=max(its))  # the full step cannot converge in time
    limited.step()
    assert limited.retries == 1
    assert np.allclose(u.x.array, reference, rtol=0, atol=1e-8)


@pytest.mark.parallel
def test_nan_and_negative_values_raise_field_error_and_keep_the_last_values():
    V, u = _field()
    start = u.x.array.copy()
    rd = _rd(V, u, 1e-3)
    with pytest.raises(FieldError, match="field 'probe': a value is not finite .* in 8 sub-steps"):
        rd.step(source=np.full(len(rd.m), np.nan))
    assert np.array_equal(u.x.array, start)
    with pytest.raises(FieldError, match="below zero"):
        rd.step(source=-1e3)


def _fails(tmp: Path, capsys) -> tuple[int, str]:
    """The demo's primary alone with a NaN in its initial VEGF: the first VEGF solve fails."""
    sets = [
        "primary.geometry.size=[0.2, 0.2]",
        "primary.geometry.h=0.01",
        "primary.geometry.tumour_radius=0.02",
        "primary.geometry.vessel_min_distance=0.02",
        "primary.geometry.vessel_radius=0.006",
        "primary.geometry.normal_vessels=1",
        "primary.geometry.ruptured_vessels=2",
        "secondary=[]",
        "circulation.split={}",
        "soil.vegf=true",
        "soil.niche=false",
        "soil.angiogenesis=false",
        "soil.every=5",
        'primary.vegf.initial="np.nan * x"',
        "time.steps=20",
        "output.every=2",
    ]
    code = main(
        ["run", str(ROOT / "cases" / "demo.toml"), "-o", str(tmp / "out")]
        + [a for s in sets for a in ("--set", s)]
    )
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.mark.parallel
def test_a_failed_field_stops_the_run_cleanly(tmp_path, capsys):
    tmp = Path(COMM.bcast(str(tmp_path), root=0))
    code, out = _fails(tmp, capsys)
    assert code == 4 and "Traceback" not in out
    if COMM.rank == 0:
        for part in (
            "step 5 ",
            "organ 'primary'",
            "field 'vegf'",
            "not finite",
            "last good one, step 4",
            "complete: false",
        ):
            assert part in out, (part, out)
        manifest = json.loads((tmp / "out" / "manifest.json").read_text())
        assert manifest["complete"] is False and manifest["failed"]["step"] == 5
        assert manifest["failed"]["last_good_output_step"] == 4
        rows = list(csv.DictReader(open(tmp / "out" / "metrics.csv")))
        assert [int(r["step"]) for r in rows] == [0, 2, 4]
