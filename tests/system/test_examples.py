"""The literate examples of docs/examples/ run as a user runs them, on 1 rank and on 2, and
print the same thing on both (the cells and the cascade are rank-count independent)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
EXAMPLES = sorted((ROOT / "docs" / "examples").glob("*.py"))


def _run(example: Path, ranks: int, outdir: Path) -> str:
    cmd = [sys.executable, str(example), str(outdir)]
    if ranks > 1:
        cmd = [str(BIN / "mpirun"), "-n", str(ranks)] + cmd
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, cwd=outdir.parent)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def _multiorgan(out: str, folder: Path) -> None:
    """What docs/examples/multiorgan.py says it shows: cells arrive in the secondaries
    during the run, every organ's fields and cells are read, and the figure is written."""
    arrived = [int(n) for n in re.findall(r"(\d+) arrived", out)]
    assert len(arrived) == 3 and arrived[-1] > 0, out
    for organ in ("primary", "liver", "lung"):
        oxygen = rf"^{organ} oxygen \[1 = 46 mmHg\]: integral [\d.e+-]+, range"
        assert re.search(oxygen, out, re.M), out
        assert re.search(rf"^{organ}: \d+ cells, \d+ mesenchymal$", out, re.M), out
    assert (folder / "multiorgan_example.png").stat().st_size > 20000


CHECKS = {"multiorgan": _multiorgan}


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs_on_one_and_two_ranks(example, tmp_path):
    one = _run(example, 1, tmp_path / "one")
    two = _run(example, 2, tmp_path / "two")
    assert one.replace(str(tmp_path / "one"), "OUT") == two.replace(str(tmp_path / "two"), "OUT")
    CHECKS[example.stem](one, tmp_path / "one")  # each example says what it shows
