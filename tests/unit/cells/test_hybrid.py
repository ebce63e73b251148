"""Hybrid cells in a whole run (cells.mode = "hybrid"; docs/hybrid.md): discrete cells and a
density in one organ, converted both ways; the ledger over both closes at every output, the
discrete cells' room is reduced by the density's cells, and the run is the same on 1 and 2
ranks and across a restart with both representations present.
"""

import csv
import sys
from pathlib import Path

import numpy as np
import pytest
from mpi4py import MPI

from solver import config

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fields"))
from test_continuum import cascade, events, run, tmpdir  # noqa: E402  (the continuum's set-up)

COMM = MPI.COMM_WORLD
pytestmark = pytest.mark.parallel


def hybrid(**extra):
    return cascade(mode="hybrid", **{"cells.crowded_transport": "true", **extra})


def rows(path: Path) -> list[dict[str, str]]:
    with open(path / "metrics.csv") as fh:
        return list(csv.DictReader(fh))


def test_hybrid_run_converts_both_ways_and_the_ledger_closes_at_every_output(tmp_path):
    """The packed core becomes density at once, the front's thin density comes back as
    discrete cells, clusters leave from both and arrive (discrete) in the liver; at every
    output discrete + density + blood + removed = initial + born to round-off; the same
    events and counts on 1 and 2 ranks."""
    out = tmpdir(tmp_path)
    sim = run(hybrid(**{"output.every": 10}), out / "world")
    table = rows(out / "world")
    for r in table:
        scale = float(r["initial"]) + float(r["born"])
        assert abs(float(r["ledger_error"])) < 1e-10 * scale, r["step"]
        assert float(r["primary.cells"]) == pytest.approx(
            float(r["primary.cells_discrete"]) + float(r["primary.cells_density"]), rel=1e-12
        )
    last = sim.last
    assert last["primary.absorbed"] >= 150 and last["primary.released"] > 50
    assert last["primary.cells_discrete"] > 10 and last["primary.cells_density"] > 50
    assert last["intravasated"] > 10 and last["liver.cells_discrete"] > 0
    assert last["clip_removed"] <= 1e-9 * last["alive"]
    if COMM.size == 1:  # on 2 ranks: each rank runs it alone too
        return
    alone = run(hybrid(**{"output.every": 10}), out / f"alone_{COMM.rank}", MPI.COMM_SELF)
    for kind in ("intravasation", "arrival"):
        assert events(out / f"alone_{COMM.rank}", kind) == events(out / "world", kind)
    for key in ("primary.cells_discrete", "primary.absorbed", "primary.released", "arrived"):
        assert alone.last[key] == last[key], key
    assert alone.last["primary.cells_density"] == pytest.approx(
        last["primary.cells_density"], rel=1e-9
    )


@pytest.mark.parametrize("room", [False, True])
def test_hybrid_restart_is_identical(tmp_path, room):
    """Restarted from a checkpoint holding discrete cells, density and clusters in the
    blood, the run continues exactly as the uninterrupted one (on 2 ranks with both organs
    partitioned; the density's born counter to round-off); with growth by room (Q = 2, so
    that ready cells wait at the checkpoint) too."""
    from solver.simulation import Simulation

    out = tmpdir(tmp_path)
    extra = {"cells.crowded_growth": "true", "cells.Q": 2.0} if room else {}
    every = {"output.checkpoint_every": 20, "output.every": 10, "parallel.organs": '"all"'}
    case = hybrid(steps=40, **every, **extra)  # on 2 ranks both organs partitioned
    run(case, out / "whole")
    part = Simulation(case, out / "part", quiet=True)
    part.run(steps=20)
    assert part.last["primary.cells_discrete"] > 0 and part.last["primary.cells_density"] > 0
    more = Simulation.restart(out / "part", quiet=True)
    more.run()
    if COMM.rank == 0:
        name = "events.csv"
        assert (out / "whole" / name).read_text() == (out / "part" / name).read_text(), name
        # Metrics: identical but for the density's counters (born, the floor's and clip's
        # corrections, and the ledger's error from them), which a restart sums in another
        # order when an organ is partitioned.
        for a, b in zip(rows(out / "whole"), rows(out / "part"), strict=True):
            for k in a:
                if k == "ledger_error":
                    assert abs(float(a[k]) - float(b[k])) <= 1e-12 * float(a["born"]), k
                elif k == "born" or k.endswith("clip_removed"):
                    assert float(a[k]) == pytest.approx(float(b[k]), rel=1e-12), k
                else:
                    assert a[k] == b[k], (a["step"], k)


def test_discrete_room_is_reduced_by_the_density(tmp_path):
    """A move or division into a place is refused when the density fills it: with the
    density at Q everywhere no discrete cell changes place or divides; with none they do."""
    from solver.simulation import Simulation

    def moved_and_born(full: bool) -> tuple[int, int]:
        case = hybrid(steps=1)
        case.secondary = []  # the primary alone, on every rank
        sim = Simulation(case, tmpdir(tmp_path) / f"room{full}", quiet=True)
        o = sim.organ
        o.regimes.release(o.fields["u_E"], o.fields["u_M"], 1)  # everything back to cells
        cells = o.cells
        cells.pop.clock[:] = cells.doubling[cells.pop.phenotype]  # all due to divide

        def places() -> dict[int, int]:  # every rank's cells (they may change rank)
            parts = COMM.allgather(dict(zip(cells.pop.id.tolist(), cells.pop.place.tolist())))
            return {k: v for p in parts for k, v in p.items()}

        before = places()
        Q = o.cells_cfg.capacity(o.dim)
        cells.occupied = np.full(len(o.lumped), Q if full else 0.0)
        cells.step(1, o.fields["w"].x.array)
        after = places()
        moved = sum(after[k] != v for k, v in before.items())
        return moved, COMM.allreduce(cells.stats["divisions"], op=MPI.SUM)

    assert moved_and_born(True) == (0, 0)
    moved, born = moved_and_born(False)
    assert moved > 0 and born > 0


@pytest.mark.parametrize(
    "cells, message",
    [
        ({"mode": "hybrid"}, "crowded_transport"),
        ({"mode": "hybrid", "crowded_transport": True, "absorb": 0.2}, "release < absorb"),
        ({"mode": "discrete", "absorb": 0.5}, "no effect"),
        ({"mode": "hybrid", "crowded_transport": True, "division": "synchronous"}, "synchronous"),
    ],
)
def test_hybrid_keys_are_checked(cells, message):
    with pytest.raises(config.CaseError, match=message):
        config.from_dict({"cells": cells})


def primary_alone(tmp_path, name: str, **extra):
    from solver.simulation import Simulation

    case = hybrid(steps=1, **extra)
    case.secondary = []  # the primary alone, on every rank
    return Simulation(case, tmpdir(tmp_path) / name, quiet=True).organ


def test_clusters_leave_from_both_representations(tmp_path):
    """A fired vessel site takes the density within its reach (as continuum mode does) and
    its discrete cells within reach, as one cluster; the organ loses exactly the cells that
    leave."""
    o = primary_alone(tmp_path, "shed")
    o.cells.pop = o.cells.pop.take(np.zeros(0, dtype=np.int64))
    Q = o.cells_cfg.capacity(o.dim)
    o.fields["u_E"].x.array[:] = 0.5 * Q  # between the thresholds: nothing converts
    o._update_densities()
    before = o.count()
    units = o.intravasate(1)
    left = sum(len(c["id"]) for _, c in units)
    assert len(units) >= 3 and left > 0  # the 4 ruptured sites fire on the density
    assert o.count() == pytest.approx(before - left, rel=1e-12)


def test_ready_cells_convert_both_ways(tmp_path):
    """Growth by room: absorbed cells whose cycle is done join the density's ready cells
    (fraction 1 where all were due), and released cells come back ready with that
    fraction (clock = doubling time)."""
    o = primary_alone(tmp_path, "ready", **{"cells.crowded_growth": "true"})
    reg, u = o.regimes, (o.fields["u_E"], o.fields["u_M"])
    reg.hi, reg.lo = np.inf, np.inf
    reg.release(*u, 1)  # every cell discrete
    cells = o.cells
    cells.pop.clock[:] = cells.doubling[cells.pop.phenotype]  # every cycle done
    reg.hi, reg.lo = 0.0, -1.0
    reg.absorb(*u)
    for k in (0, 1):
        has = u[k].x.array > 0
        assert np.allclose(o.fields[("ready_E", "ready_M")[k]].x.array[has], 1.0, rtol=1e-12)
    reg.hi, reg.lo = np.inf, np.inf
    n = reg.release(*u, 2)
    pop = cells.pop
    assert n > 100 and np.array_equal(pop.clock, cells.doubling[pop.phenotype])


def test_mmp_source_counts_each_cell_once(tmp_path):
    """The MMP source and the ECM's contact degradation read the active M cells of both
    representations, each once: the discrete cells' density plus u_M (c_M already holds
    u_M, so adding it again would double the density's MMP)."""
    o = primary_alone(tmp_path, "mmp")
    o.fields["u_M"].x.array[:] += 0.3  # density and discrete cells both present
    o._update_densities()
    _, discrete_M = o.cells.densities(o.lumped)
    assert np.any(discrete_M > 0) and np.any(o.fields["u_M"].x.array > 0)
    expected = discrete_M + o.fields["u_M"].x.array
    assert np.allclose(o.active_M(), expected, rtol=1e-12, atol=1e-12)


def test_where_everything_is_dense_the_hybrid_is_the_continuum(tmp_path):
    """Dense everywhere (0.8 Q to Q over the whole organ, never below the release
    threshold): nothing converts, and the hybrid's density, MMP and ECM follow continuum
    mode's to round-off over 15 steps (the same equations, every process counted once)."""
    from solver.simulation import Simulation

    def dense(mode: str):
        case = cascade(
            mode=mode,
            steps=1,
            **{"cells.crowded_transport": "true", "cells.crowded_growth": "true"},
        )
        case.secondary = []  # the primary alone, on every rank
        o = Simulation(case, tmpdir(tmp_path) / mode, quiet=True).organ
        o.cells.pop = o.cells.pop.take(np.zeros(0, dtype=np.int64))
        Q = o.cells_cfg.capacity(o.dim)
        x = o.V.tabulate_dof_coordinates()[:, 0]
        uE, uM = (o.fields[k].x.array for k in o.density_names)
        uE[:] = Q * (0.5 + 0.2 * (x - x.min()) / np.ptp(x))  # a gradient: the density moves
        uM[:] = 0.3 * Q
        for r in o.continuum.ready:
            r.x.array[:] = 0.0
        if mode == "hybrid":
            o._update_densities()
            o.regimes.stats.update(absorbed=0, released=0)  # the initial tumour's
        for n in range(1, 16):
            o.step(n)
        return o

    h, c = dense("hybrid"), dense("continuum")
    assert h.regimes.stats["absorbed"] == h.regimes.stats["released"] == 0
    assert len(h.cells.pop) == 0
    for k in ("c_E", "c_M", "m", "w"):
        a, b = h.fields[k].x.array, c.fields[k].x.array
        assert np.allclose(a, b, rtol=1e-12, atol=1e-14 * np.abs(b).max()), k
    assert not np.allclose(c.fields["c_E"].x.array[: c.n_owned], 0.0)
    assert h.count() == pytest.approx(c.count(), rel=1e-12)


def test_biopsy_of_a_hybrid_run(tmp_path):
    """``seedsoil biopsy`` of a hybrid run reads both representations: the discrete cells
    (cells.pvd) and the density u_E, u_M (fields) with its composition (lineage.json); the
    lineage accounts for every tumour cell in the core."""
    from solver.clinic.biopsy import run_biopsy

    out = tmpdir(tmp_path) / "biopsy"
    run(hybrid(steps=20, **{"output.every": 20, "output.fields": "true"}), out)
    if COMM.rank == 0:
        rep = run_biopsy(out, "primary", "0.1,0.1")
        assert rep["mode"] == "hybrid" and rep["tumour_present"]
        assert sum(rep["lineage"]["founders"].values()) == pytest.approx(
            rep["tumour_cells"], rel=1e-9
        )
        assert "discrete cells" in rep["lineage"]["note"] and "density" in rep["lineage"]["note"]
