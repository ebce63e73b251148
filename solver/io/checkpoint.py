"""Checkpoints (``seedsoil run --checkpoint-every N``, and on SIGTERM/SIGUSR1) and
restarts (``seedsoil restart OUTDIR``), on the same or a different rank count.
docs/reliability.md describes the format, the write protocol and the fault injector.

``OUTDIR/checkpoint/``, all plain data (nothing in it can run code when read):
- ``<organ>.dofs``: every P1 field of the organ as one float64 table, a row per mesh
  vertex in the order of the mesh's input indices (the Gmsh node order, the same for any
  partition), written collectively with MPI-IO by the organ's ranks, each at its rows;
- ``<organ>.json`` + ``<organ>.npz`` (solver/io/plain.py): the rest of the organ (cells
  and tip cells, keyed by the input index of their element; counters; new vessel sites),
  from the organ's first rank;
- ``simulation.json`` + ``simulation.npz``: the blood, the exosome pool, the ledger, the
  clock, from rank 0;
- ``meta.json`` (format, version, step, time, ranks, organs), written last: a checkpoint
  is complete when its meta.json is there.
Random numbers are counter-based (seed, id, step): they have no state to save.

Writing (``save``): everything goes into ``checkpoint.tmp`` and is synced; then the old
checkpoint becomes ``checkpoint.prev``, the new one ``checkpoint``, and only then is the
old one removed. A kill at any point leaves at least one complete checkpoint, and
``find`` picks the newest complete one of the three folders.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
from mpi4py import MPI

from solver import config
from solver.cells.population import DEAD, PORTABLE
from solver.io import plain
from solver.io.folder import fault, fsync

FORMAT, VERSION = "seedsoil-checkpoint", 2
# Version 2 added the lineage columns (founder, seeded_by) to the cells and the blood
# (docs/biopsy.md). A version 1 checkpoint's cells have no founder, and no default would be
# true (a cell's founder cannot be told from its parent id), so it is refused by name.
LINEAGE_VERSION = 2
# Where a kill can be injected (SEEDSOIL_FAULT=checkpoint:<stage>[@<step>]), in write order.
STAGES = ("created", "dofs", "organs", "simulation", "meta", "moved", "renamed", "cleaned")


def input_index(V) -> np.ndarray:
    """The mesh input index of each owned P1 dof (its vertex's Gmsh node)."""
    msh = V.mesh
    dofs = V.dofmap.list
    node = np.empty(V.dofmap.index_map.size_local + V.dofmap.index_map.num_ghosts, dtype=np.int64)
    node[dofs.ravel()] = msh.geometry.dofmaps[0].ravel()  # P1 on a linear mesh: same local layout
    return np.asarray(msh.geometry.input_global_indices, dtype=np.int64)[
        node[: V.dofmap.index_map.size_local]
    ]


def _view(fh: MPI.File, rows: np.ndarray, width: int) -> MPI.Datatype:
    ftype = MPI.DOUBLE.Create_indexed_block(width, (rows * width).tolist()).Commit()
    fh.Set_view(0, MPI.DOUBLE, ftype)
    return ftype


def write_table(comm: MPI.Intracomm, path: Path, rows: np.ndarray, values: np.ndarray) -> None:
    """``values`` (n, width) at rows ``rows`` of a float64 table (collective)."""
    order = np.argsort(rows, kind="stable")
    fh = MPI.File.Open(comm, str(path), MPI.MODE_WRONLY | MPI.MODE_CREATE)
    ftype = _view(fh, rows[order], values.shape[1])
    fh.Write_all(np.ascontiguousarray(values[order], dtype=np.float64))
    fh.Sync()  # on disk before meta.json says the checkpoint is complete
    ftype.Free()
    fh.Close()


def read_table(comm: MPI.Intracomm, path: Path, rows: np.ndarray, width: int) -> np.ndarray:
    """The rows ``rows`` of a table written by write_table (collective)."""
    order = np.argsort(rows, kind="stable")
    out = np.empty((len(rows), width))
    fh = MPI.File.Open(comm, str(path), MPI.MODE_RDONLY)
    ftype = _view(fh, rows[order], width)
    fh.Read_all(out)
    ftype.Free()
    fh.Close()
    back = np.empty_like(out)
    back[order] = out
    return back


def gather_rows(comm: MPI.Comm, cols: dict[str, np.ndarray]) -> dict[str, np.ndarray] | None:
    """Rows of every rank concatenated in rank order on rank 0 (None elsewhere): a
    component's table (cells, tips) for its ``state()``.
    """
    parts = comm.gather(cols, root=0)
    return {k: np.concatenate([p[k] for p in parts]) for k in cols} if parts is not None else None


def input_cell_owner(mesh, n_owned: int):
    """A function: input (Gmsh) element indices -> (which of them this rank owns, their
    local index), for a component's ``load_state`` on any partition of the mesh;
    ``n_owned``: the rank's owned elements.
    """
    orig = mesh.topology.original_cell_index[:n_owned]
    order = np.argsort(orig)
    sorted_orig = orig[order]

    def host_of(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pos = np.minimum(np.searchsorted(sorted_orig, cells), max(len(sorted_orig) - 1, 0))
        mine = (sorted_orig[pos] == cells) if len(sorted_orig) else np.zeros(len(cells), dtype=bool)
        return mine, order[pos[mine]].astype(np.int64)

    return host_of


def _sibling(folder: Path, suffix: str) -> Path:
    return folder.with_name(folder.name + suffix)


def _write_json(path: Path, data: dict) -> None:
    """``path`` complete or absent: written beside it, synced, renamed."""
    part = _sibling(path, ".part")
    part.write_text(json.dumps(data, indent=2) + "\n")
    fsync(part)
    os.replace(part, path)


def save(sim, folder: Path) -> None:
    """Write the simulation's checkpoint into ``folder`` (collective); the previous one
    stays until the new one is complete and synced.
    """
    comm, step = sim.comm, sim.n
    tmp, prev = _sibling(folder, ".tmp"), _sibling(folder, ".prev")
    if comm.rank == 0:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    comm.barrier()
    fault("checkpoint", "created", step)
    organs, states = {}, []
    for organ in sim.organs:
        state = organ.state()
        dofs, rest = state["dofs"], state["rest"]
        names = sorted(dofs)
        write_table(
            organ.comm,
            tmp / f"{organ.name}.dofs",
            input_index(organ.V),
            np.stack([dofs[k] for k in names], axis=1),
        )
        states.append((organ, rest))
        organs[organ.name] = {
            "fields": names,
            "vertices": organ.V.dofmap.index_map.size_global,
            "elements": organ.mesh.topology.index_map(organ.dim).size_global,
        }
    fault("checkpoint", "dofs", step)
    for organ, rest in states:
        if organ.comm.rank == 0:
            plain.write(tmp, organ.name, rest)
    fault("checkpoint", "organs", step)
    organs = {k: v for part in comm.allgather(organs) for k, v in part.items()}
    if comm.rank == 0:
        plain.write(tmp, "simulation", sim.state())
    fault("checkpoint", "simulation", step)
    comm.barrier()  # every rank's files are written and synced
    if comm.rank == 0:
        _write_json(
            tmp / "meta.json",
            {
                "format": FORMAT,
                "version": VERSION,
                "step": sim.n,
                "time": sim.t,
                "ranks": comm.size,
                "organs": {k: organs[k] for k in sim.names},
            },
        )
        fsync(tmp)
    fault("checkpoint", "meta", step)
    if comm.rank == 0:
        if folder.exists():
            shutil.rmtree(prev, ignore_errors=True)
            folder.rename(prev)
            fsync(folder.parent)
        fault("checkpoint", "moved", step)
        tmp.rename(folder)
        fsync(folder.parent)
        fault("checkpoint", "renamed", step)
        shutil.rmtree(prev, ignore_errors=True)
        fsync(folder.parent)
        fault("checkpoint", "cleaned", step)
    comm.barrier()


def _read_meta(folder: Path) -> dict:
    """A complete checkpoint's meta.json, checked (config.CaseError if it is not ours)."""
    path = folder / "meta.json"
    try:
        data = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise config.CaseError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise config.CaseError(f"{path}: not a checkpoint's meta.json")
    old = sorted(p.name for p in folder.glob("*.pkl"))
    if data.get("format") != FORMAT or "version" not in data:
        why = (
            f" and holds Python-object state ({', '.join(old)}), which is never loaded"
            if old
            else ""
        )
        raise config.CaseError(
            f"{path}: key 'format'/'version': not a {FORMAT} version {VERSION} checkpoint "
            f"(written by an older seedsoil?){why}; refused"
        )
    if isinstance(data["version"], int) and 1 <= data["version"] < LINEAGE_VERSION:
        raise config.CaseError(
            f"{path}: key 'version': {data['version']} is a checkpoint from before lineage "
            f"(version {LINEAGE_VERSION}: every cell's founder and seeding unit); its cells "
            "have no founder to continue with; refused (run the case again from the start)"
        )
    if data["version"] != VERSION:
        raise config.CaseError(
            f"{path}: key 'version': {data['version']!r} is not a version this seedsoil "
            f"reads ({VERSION}); refused"
        )
    if old:
        raise config.CaseError(
            f"{folder / old[0]}: Python-object (.pkl) state in a checkpoint; refused"
        )
    for key, kind in (("step", int), ("time", float), ("ranks", int), ("organs", dict)):
        v = data.get(key)
        if (
            not isinstance(v, kind)
            and not (kind is float and isinstance(v, int))
            or isinstance(v, bool)
        ):
            raise config.CaseError(f"{path}: key {key!r}: missing or not {kind.__name__}")
    if data["step"] < 0 or not np.isfinite(data["time"]):
        raise config.CaseError(f"{path}: key 'step'/'time': out of range")
    for name, o in data["organs"].items():
        if not (
            isinstance(o, dict)
            and isinstance(o.get("fields"), list)
            and all(isinstance(f, str) for f in o["fields"])
            and all(type(o.get(k)) is int and o[k] > 0 for k in ("vertices", "elements"))
        ):
            raise config.CaseError(
                f"{path}: key 'organs.{name}': needs fields (names), vertices, elements"
            )
    return data


def find(outdir: Path, comm: MPI.Comm) -> tuple[Path, dict] | None:
    """The newest complete checkpoint of OUTDIR (``checkpoint``, or what a kill while
    writing left: ``checkpoint.tmp`` with its meta.json, ``checkpoint.prev``) and its
    meta, or None if there is none (collective).
    """
    found: tuple[str, dict] | str | None = None
    if comm.rank == 0:
        try:
            best = None
            for folder in (
                outdir / "checkpoint",
                outdir / "checkpoint.tmp",
                outdir / "checkpoint.prev",
            ):
                if (folder / "meta.json").is_file():
                    data = _read_meta(folder)
                    if best is None or data["step"] > best[1]["step"]:
                        best = (str(folder), data)
            found = best
        except config.CaseError as e:
            found = str(e)
    found = comm.bcast(found, root=0)
    if isinstance(found, str):
        raise config.CaseError(found)
    return None if found is None else (Path(found[0]), found[1])


def settle(outdir: Path, chosen: Path, comm: MPI.Comm) -> Path:
    """Finish what a killed writer left (collective): the chosen checkpoint (``find``)
    becomes OUTDIR/checkpoint, the older and the incomplete ones go. Returns its path.
    """
    folder = outdir / "checkpoint"
    tmp, prev = _sibling(folder, ".tmp"), _sibling(folder, ".prev")
    if comm.rank == 0 and chosen != folder:
        if folder.exists():
            shutil.rmtree(prev if chosen != prev else tmp, ignore_errors=True)
            folder.rename(prev if chosen != prev else tmp)
            fsync(outdir)
        chosen.rename(folder)
        fsync(outdir)
    if comm.rank == 0:
        for other in (tmp, prev):
            if other.exists():
                shutil.rmtree(other)
        fsync(outdir)
    comm.barrier()
    return folder


class Check:
    """Checks of plain data read from ``path``: each failure is a config.CaseError that
    names the file and the key.
    """

    def __init__(self, path: Path):
        self.path = path

    def fail(self, key: str, why: str):
        """Raise the CaseError for ``key`` (a dotted path) with the reason ``why``."""
        raise config.CaseError(f"{self.path}: key {key!r}: {why}; refused")

    def get(self, d, key: str, where: str, kind=None, finite: bool = False):
        """``d[key]``, which must exist, be of ``kind`` (float accepts int; bool only when
        asked) and finite where asked; ``where`` names it in errors.
        """
        if not isinstance(d, dict) or key not in d:
            self.fail(where, "missing")
        v = d[key]
        if kind is not None:
            kinds = (int, float) if kind is float else kind
            if not isinstance(v, kinds) or (isinstance(v, bool) and kind is not bool):
                self.fail(
                    where, f"expected {getattr(kind, '__name__', kind)}, found {type(v).__name__}"
                )
            if finite and not plain.finite(v):
                self.fail(where, "not finite")
        return v

    def array(
        self, v, where: str, dtype, shape: tuple, lo=None, hi=None, finite=False
    ) -> np.ndarray:
        """``v`` an array of exactly ``dtype`` and ``shape`` (None: any length), values
        in [lo, hi) and finite where asked.
        """
        if not isinstance(v, np.ndarray):
            self.fail(where, f"expected an array, found {type(v).__name__}")
        if v.dtype != np.dtype(dtype):
            self.fail(where, f"dtype {v.dtype}, expected {np.dtype(dtype)}")
        if v.ndim != len(shape) or any(s is not None and s != n for s, n in zip(shape, v.shape)):
            self.fail(
                where, f"shape {v.shape}, expected {tuple('n' if s is None else s for s in shape)}"
            )
        if finite and not plain.finite(v):
            self.fail(where, "not finite")
        if v.size and ((lo is not None and v.min() < lo) or (hi is not None and v.max() >= hi)):
            self.fail(where, f"values outside [{lo}, {hi})")
        return v

    def columns(self, d, key: str, spec: dict, where: str = "") -> dict:
        """A table: a dict of arrays of one length; ``spec`` name -> (dtype, trailing
        shape, lo, hi, finite); ``where`` the dotted path of ``d``.
        """
        key = f"{where}.{key}" if where else key
        cols = self.get(d, key.rsplit(".", 1)[-1], key, dict)
        n = None
        for name, (dtype, shape, lo, hi, fin) in spec.items():
            a = self.array(
                self.get(cols, name, f"{key}.{name}"),
                f"{key}.{name}",
                dtype,
                (n, *shape),
                lo,
                hi,
                fin,
            )
            n = len(a)
        return cols

    def counters(self, d, key: str, where: str = "") -> dict:
        """``d[key]``: a dict of int counters."""
        path = f"{where}.{key}" if where else key
        v = self.get(d, key, path, dict)
        for k in v:
            self.get(v, k, f"{path}.{k}", int)
        return v


def check_organ(path: Path, rest, organ, elements: int) -> dict:
    """The organ's state as written by Organ.state, checked against the organ."""
    c, dim = Check(path), organ.dim
    cell = (np.int64, (), 0, elements, False)
    if not isinstance(rest, dict):
        c.fail("", "not a dict")
    cols = {
        "cell": cell,
        "id": (np.uint64, (), None, None, False),
        "parent": (np.uint64, (), None, None, False),
        "x": (np.float64, (dim,), None, None, True),
        "place": (np.int64, (), None, None, False),
        "phenotype": (np.int8, (), 0, 2, False),
        "state": (np.int8, (), 0, DEAD + 1, False),
        "clock": (np.float64, (), None, None, True),
        "founder": (np.uint64, (), None, None, False),
        "seeded_by": (np.uint64, (), None, None, False),
    }
    assert set(cols) == set(PORTABLE) | {"cell"}
    cells = c.columns(rest, "cells", cols)
    if len(np.unique(cells["id"])) != len(cells["id"]):
        c.fail("cells.id", "repeated cell ids")
    c.counters(rest, "cell_stats")
    flags = c.get(rest, "flags", "flags", dict)
    for k in ("pristine", "_had_cells", "pristine_cells"):
        c.get(flags, k, f"flags.{k}", bool)
    c.get(flags, "initial_cells", "flags.initial_cells", int)
    if len(flags) != 4:  # restored with setattr: only these
        c.fail(
            "flags",
            f"unknown flags {sorted(set(flags) - {'pristine', '_had_cells', 'pristine_cells'})}",
        )
    sites = c.get(rest, "sites", "sites", list)
    if len(sites) != 2:
        c.fail("sites", "expected [positions, kinds]")
    x = c.array(sites[0], "sites[0]", np.float64, (None, dim), finite=True)
    c.array(sites[1], "sites[1]", np.int64, (len(x),), 1, 3)  # organ.NORMAL, organ.RUPTURED
    if len(x) < len(organ.site_x):
        c.fail("sites", f"{len(x)} vessel sites, fewer than the case's {len(organ.site_x)}")
    c.get(rest, "uptake", "uptake", float, finite=True)
    if organ.switching is not None:  # EMT and MET counters (Organ.state)
        sw = c.get(rest, "switching", "switching", dict)
        for k in organ.switching.stats:
            c.get(sw, k, f"switching.{k}", float, finite=True)
    if organ.continuum is not None:  # the densities' counters (Organ.state)
        cont = c.get(rest, "continuum", "continuum", dict)
        for k in (*organ.continuum.stats, *organ.density_stats):
            c.get(cont, k, f"continuum.{k}", float, finite=True)
        organ.lineage.check_state(c, rest)
    if organ.regimes is not None:  # hybrid: the conversions so far (Organ.state)
        reg = c.get(rest, "regimes", "regimes", dict)
        for k in organ.regimes.stats:
            c.get(reg, k, f"regimes.{k}", int)
    if organ.soil is not None:
        soil = c.get(rest, "soil", "soil", dict)
        if set(soil) != {"rest", "taken_up", "consumed"}:  # restored with setattr: only these
            c.fail("soil", f"keys {sorted(soil)}, expected rest, taken_up, consumed")
        for k in ("taken_up", "consumed"):
            c.get(soil, k, f"soil.{k}", float, finite=True)
        for k, _v in c.get(soil, "rest", "soil.rest", dict).items():
            c.get(soil["rest"], k, f"soil.rest.{k}", bool)
    if organ.recruits is not None:
        organ.recruits.check_state(c, rest)
    if organ.angio is not None:
        a = c.get(rest, "angio", "angio", dict)
        any_int = (np.int64, (), None, None, False)
        c.columns(
            a,
            "tips",
            {
                "cell": cell,
                "id": (np.uint64, (), None, None, False),
                "label": any_int,
                "root": any_int,
                "age": (np.float64, (), None, None, True),
                "state": (np.int8, (), None, None, False),
                "x": (np.float64, (dim,), None, None, True),
                "x0": (np.float64, (dim,), None, None, True),
            },
            "angio",
        )
        c.counters(a, "stats", "angio")
        for k, v in c.get(a, "parent", "angio.parent", dict).items():
            if type(k) is not int or type(v) is not int:
                c.fail(f"angio.parent[{k}]", "expected int -> int")
        for k, v in c.get(a, "birth", "angio.birth", dict).items():
            c.array(v, f"angio.birth[{k}]", np.float64, (dim,), finite=True)
        if not all(type(v) is int for v in c.get(a, "perfused", "angio.perfused", list)):
            c.fail("angio.perfused", "expected a list of ints")
        c.get(a, "sprouted", "angio.sprouted", bool)
        for i, v in enumerate(c.get(a, "new_sites", "angio.new_sites", list)):
            c.array(v, f"angio.new_sites[{i}]", np.float64, (dim,), finite=True)
    if organ.lymphatics is not None:  # solver/lymph.py, Lymphatics.state
        ly = c.get(rest, "lymph", "lymph", dict)
        x = c.array(c.get(ly, "x", "lymph.x"), "lymph.x", np.float64, (None, dim), finite=True)
        born = c.get(ly, "born", "lymph.born", list)
        if len(born) != len(x) or not all(type(b) is int and b >= 0 for b in born):
            c.fail("lymph.born", f"expected {len(x)} steps, one per lymphatic site")
        c.counters(ly, "stats", "lymph")
    return rest


def check_simulation(path: Path, state, sim, step: int) -> dict:
    """The simulation's state as written by Simulation.state, checked against it."""
    c = Check(path)
    if c.get(state, "n", "n", int) != step:
        c.fail("n", f"{state['n']} is not meta.json's step {step}")
    c.get(state, "t", "t", float, finite=True)
    c.counters(state, "ledger")
    blocked = c.get(state, "blocked", "blocked", list)
    if not all(isinstance(b, str) for b in blocked):
        c.fail("blocked", "expected a list of integrin profiles")
    last = c.get(state, "last_output", "last_output", list)
    if len(last) != 2 or type(last[0]) is not int or not isinstance(last[1], (int, float)):
        c.fail("last_output", "expected [step, time]")
    if state.get("last") is not None:
        for k, v in c.get(state, "last", "last", dict).items():
            if v is not None and not isinstance(v, (int, float, str)):
                c.fail(f"last.{k}", "expected a number or a string")
    for k in c.get(state, "detected", "detected", dict):
        c.get(state["detected"], k, f"detected.{k}", float, finite=True)
    c.get(state, "wall", "wall", dict)
    body = sim.body
    for key, have in (("blood", body.blood), ("exosomes", body.exosomes), ("lox", body.lox)):
        # lox: absent from the checkpoints of versions before the recruited cells
        given = c.get(state, key, key) if key != "lox" else state.get(key)
        if (given is None) != (have is None):
            c.fail(
                key,
                f"the case {'has' if have is not None else 'has no'} {key}, the checkpoint "
                "disagrees",
            )
    if body.blood is not None:
        body.blood.check_state(c, state)
    if body.exosomes is not None:
        body.exosomes.check_state(c, state)
    if body.lox is not None:
        body.lox.check_state(c, state)
    if body.lymph is not None:  # solver/lymph.py
        body.lymph.check_state(c, state)
    elif "lymph" in state:
        c.fail("lymph", "the case has no lymph, the checkpoint has")
    return state


def load(sim, folder: Path, info: dict) -> None:
    """Put the checkpoint in ``folder`` (with meta ``info``) into a simulation built
    from the same case (collective; any rank count). Everything is read and checked
    before anything is restored; a bad checkpoint raises config.CaseError on every rank.
    """
    err, staged, state = None, [], None
    try:
        for organ in sim.organs:
            where = f"{folder / 'meta.json'}: key 'organs.{organ.name}'"
            o = info["organs"].get(organ.name)
            if o is None:
                raise config.CaseError(f"{where}: missing")
            size = (
                organ.V.dofmap.index_map.size_global,
                organ.mesh.topology.index_map(organ.dim).size_global,
            )
            if (o["vertices"], o["elements"]) != size:
                raise config.CaseError(
                    f"{where}: a mesh of {o['vertices']} vertices and {o['elements']} "
                    f"elements, this case's has {size[0]} and {size[1]}"
                )
            names = o["fields"]
            need = set(organ.fields) | ({"_trail"} if organ.angio is not None else set())
            if set(names) != need:
                raise config.CaseError(f"{where}.fields: {sorted(names)}, expected {sorted(need)}")
            dofs = folder / f"{organ.name}.dofs"
            if not dofs.is_file() or dofs.stat().st_size != 8 * size[0] * len(names):
                raise config.CaseError(
                    f"{dofs}: missing or not {size[0]} x {len(names)} float64 values"
                )
            table = read_table(organ.comm, dofs, input_index(organ.V), len(names))
            bad = organ.comm.allreduce(
                [k for j, k in enumerate(names) if not np.isfinite(table[:, j]).all()], op=MPI.SUM
            )
            if bad:
                raise config.CaseError(f"{dofs}: key {sorted(set(bad))[0]!r}: not finite; refused")
            rest = check_organ(
                folder / f"{organ.name}.json", plain.read(folder, organ.name), organ, size[1]
            )
            staged.append((organ, {k: table[:, j] for j, k in enumerate(names)}, rest))
        state = check_simulation(
            folder / "simulation.json", plain.read(folder, "simulation"), sim, info["step"]
        )
    except config.CaseError as e:
        err = str(e)
    errors = [e for e in sim.comm.allgather(err) if e]
    if errors:
        raise config.CaseError(errors[0])
    for organ, values, rest in staged:
        organ.load_state({"dofs": values, "rest": rest})
    sim.load_state(state)


def saved_cells(folder: Path, name: str) -> np.ndarray:
    """The input index of each saved cell's element in organ ``name`` (for the
    partition of a restart; checked again, fully, by ``load``).
    """
    state = plain.read(folder, name)
    cells = state.get("cells") if isinstance(state, dict) else None
    cell = cells.get("cell") if isinstance(cells, dict) else None
    if not isinstance(cell, np.ndarray) or cell.dtype != np.int64 or cell.ndim != 1:
        raise config.CaseError(
            f"{folder / (name + '.json')}: key 'cells.cell': missing or not int64; refused"
        )
    return cell
