"""scripts/ac1998_lattice.py, the lattice reference of the A&C 1998 benchmark: both its
schemes run, sprouts climb the gradient, and the upwinded scheme (with a smaller step)
has far fewer negative move probabilities than the code it follows."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(tmp_path, *args):
    out = tmp_path / f"ac{len(list(tmp_path.iterdir()))}.json"
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "ac1998_lattice.py"), "--replicates", "2",
                        "--t-max", "2", "--json", str(out), *args], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(out.read_text())


def test_lattice_reference_schemes(tmp_path):
    code = _run(tmp_path)
    upwind = _run(tmp_path, "--scheme", "upwind", "--dt", "0.005")
    for res in (code, upwind):
        for rep in res["replicates"]:
            assert 0.1 < rep["front_x"]["2"] < 0.6  # five sprouts from x = 0 climb towards x = 1
            assert rep["sprouts_end"] >= 5
    assert upwind["summary"]["frac_neg_p"]["mean"] < 0.1 * code["summary"]["frac_neg_p"]["mean"]
