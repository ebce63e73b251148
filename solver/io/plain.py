"""Plain data on disk: nested dicts and lists of int, float, str, bool, None and numpy
arrays, as ``<stem>.json`` (the structure and the scalars) and ``<stem>.npz`` (the arrays,
written with np.savez, read with np.load, whose default refuses object arrays: the
object-array test in tests/unit/io/test_checkpoint_format.py holds it to that). Nothing read here
can run code: JSON has no objects, and an object array in the .npz is refused.

In the JSON an array is ``{"__array__": "a<k>"}`` (a key of the .npz) and a dict with
integer keys is ``{"__int_keys__": [[k, v], ...]}``; tuples come back as lists, numpy
scalars as Python scalars. Non-finite floats are written as JSON's NaN/Infinity tokens
(Python's json reads them back); the reader checks finiteness where it matters.
"""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path
from typing import Any, cast

import numpy as np

from solver import config
from solver.io.folder import fsync

ARRAY, INT_KEYS = "__array__", "__int_keys__"


def encode(obj, arrays: dict[str, np.ndarray], where: str = ""):
    """``obj`` as JSON-able data; its arrays go into ``arrays`` (TypeError on anything
    that is not plain data, with its key).
    """
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, np.generic):
        return encode(obj.item(), arrays, where)
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return float(obj)
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in "biuf":
            raise TypeError(f"{where}: arrays of dtype {obj.dtype} are not plain data")
        key = f"a{len(arrays)}"
        arrays[key] = obj
        return {ARRAY: key}
    if isinstance(obj, (list, tuple)):
        return [encode(v, arrays, f"{where}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj):
            if ARRAY in obj or INT_KEYS in obj:
                raise TypeError(f"{where}: the keys {ARRAY!r} and {INT_KEYS!r} are reserved")
            return {k: encode(v, arrays, f"{where}.{k}" if where else k) for k, v in obj.items()}
        if all(isinstance(k, (int, np.integer)) and not isinstance(k, bool) for k in obj):
            return {
                INT_KEYS: [[int(k), encode(v, arrays, f"{where}[{k}]")] for k, v in obj.items()]
            }
        raise TypeError(f"{where}: dict keys must be all str or all int")
    raise TypeError(f"{where}: {type(obj).__name__} is not plain data (use lists, dicts, arrays)")


def decode(data, arrays, bad, where: str = ""):
    """The inverse of encode; ``bad(key, why)`` raises for a malformed document."""
    if isinstance(data, list):
        return [decode(v, arrays, bad, f"{where}[{i}]") for i, v in enumerate(data)]
    if isinstance(data, dict):
        if ARRAY in data:
            name = data[ARRAY]
            if len(data) != 1 or not isinstance(name, str) or name not in arrays:
                bad(where, f"refers to an array {name!r} that the .npz does not hold")
            return arrays[name]
        if INT_KEYS in data:
            pairs = data[INT_KEYS]
            if (
                len(data) != 1
                or not isinstance(pairs, list)
                or not all(isinstance(p, list) and len(p) == 2 and type(p[0]) is int for p in pairs)
            ):
                bad(where, "malformed integer-keyed dict")
            return {k: decode(v, arrays, bad, f"{where}[{k}]") for k, v in pairs}
        return {k: decode(v, arrays, bad, f"{where}.{k}" if where else k) for k, v in data.items()}
    return data


def write(folder: Path, stem: str, obj) -> None:
    """``folder/<stem>.json`` and ``folder/<stem>.npz``, both synced to disk."""
    arrays: dict[str, np.ndarray] = {}
    doc = encode(obj, arrays)
    npz = folder / f"{stem}.npz"
    with open(npz, "wb") as fh:
        np.savez(fh, **cast(dict[str, Any], arrays))  # keys "a<k>": never a savez option
    fsync(npz)
    js = folder / f"{stem}.json"
    js.write_text(json.dumps(doc) + "\n")
    fsync(js)


def read(folder: Path, stem: str):
    """What ``write`` wrote, or config.CaseError naming the file and the key."""
    js, npz = folder / f"{stem}.json", folder / f"{stem}.npz"
    for p in (js, npz):
        if not p.is_file():
            raise config.CaseError(f"{p}: missing from the checkpoint")
    try:
        doc = json.loads(js.read_text(), parse_constant=lambda c: float(c))
    except (ValueError, UnicodeDecodeError) as e:
        raise config.CaseError(f"{js}: not valid JSON ({e})") from None
    arrays = {}
    try:
        z = np.load(npz)  # never with Python objects (numpy's default since 1.16.3)
        if not isinstance(z, np.lib.npyio.NpzFile):
            raise ValueError("a single array, not an archive")
        with z:
            for k in z.files:
                try:
                    arrays[k] = z[k]
                except ValueError:
                    raise config.CaseError(f"{npz}: key {k!r}: an object array, refused") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise config.CaseError(f"{npz}: not a valid .npz ({e})") from None
    for k, a in arrays.items():
        if a.dtype.kind not in "biuf":
            raise config.CaseError(f"{npz}: key {k!r}: dtype {a.dtype} is not plain data")

    def bad(key, why):
        raise config.CaseError(f"{js}: key {key!r}: {why}")

    return decode(doc, arrays, bad)


def finite(x) -> bool:
    """Whether a float or a float array is finite everywhere."""
    if isinstance(x, np.ndarray):
        return bool(np.isfinite(x).all()) if x.dtype.kind == "f" else True
    return math.isfinite(x)
