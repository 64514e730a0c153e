"""The README's results table is rendered from a summary of a `make demo` run (scripts/demo_summary.py), never
typed: --check catches a table that differs from its summary, --readme writes it, and the README says what the
committed summary of the last run (docs/results/demo_summary.json) says."""
import json
from pathlib import Path
import re
import subprocess
import sys

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts/demo_summary.py"
sys.path.insert(0, str(ROOT / "scripts"))
import demo_summary  # noqa: E402

SUMMARY = {  # the fields summarize() writes (values of a hand-made run, for the mechanism only)
    "command": "make demo", "task": "rdigits", "metric": "accuracy", "test_samples_total": 360,
    "network": {"neuron": "ltc", "layers": [128], "recurrent": [True], "readout": "ltc"},
    "training": {"algo": "fptt", "K": 1, "alpha": 0.1, "optimizer": "adam", "lr": 0.003, "epochs": 30,
                 "batch_size": 32, "seed": 0},
    "float": {"score": 0.95, "epochs": 30, "train_seconds": 91.0},
    "integer_before_qat": {"score": 0.9},
    "qat": {"score": 0.944, "epochs": 8, "train_seconds": 60.0, "mixing": "diag", "sigmoid": "pwl", "target": "loihi2"},
    "integer_sim": {"score": 0.944, "samples": 360, "seconds": 1.0},
    "lava": {"score": 0.944, "samples": 360, "ms_per_step": 1.37, "seconds": 4.0, "tag": "fixed_pt",
             "async_models": True},
    "verify": {"bit_exact": True, "samples": 16, "steps": 8,
               "pairs": [{"pair": "quantized-torch vs sim", "values": 100, "mismatches": 0}]},
    "resources": {"neurons": 138, "cores": 2, "errors": []}, "wall_seconds": 300.0,
}


def _cli(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True)


def test_readme_table_is_written_and_checked(tmp_path):
    summary = tmp_path / "summary.json"
    summary.write_text(json.dumps(SUMMARY))
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{demo_summary.BEGIN}\nold numbers **95.6 %**\n{demo_summary.END}\n\nrest\n")
    assert _cli("--check", str(readme), "--from", str(summary)).returncode == 1       # stale paragraph
    r = _cli("--readme", str(readme), "--from", str(summary))
    assert r.returncode == 0, r.stderr
    text = readme.read_text()
    assert "**95.0 %** test accuracy" in text and "**94.4 %**" in text and "1.37 ms/step" in text
    assert "0 mismatches in every stage pair" in text and text.endswith("\n\nrest\n")
    assert "| stage | what ran | result | time |" in text and "| Lava CPU backend | fixed_pt, async models" in text
    assert _cli("--check", str(readme), "--from", str(summary)).returncode == 0
    readme.write_text(text.replace("**94.4 %**", "**94.5 %**", 1))                    # a number typed by hand
    r = _cli("--check", str(readme), "--from", str(summary))
    assert r.returncode == 1 and "differs" in r.stderr


@pytest.mark.skipif(not (ROOT / demo_summary.COMMITTED).exists(),
                    reason="no committed demo summary yet: make demo, then scripts/demo_summary.py runs/demo --publish")
def test_readme_demo_numbers_are_the_committed_summary():
    r = _cli("--check", str(ROOT / "README.md"), "--from", str(ROOT / demo_summary.COMMITTED))
    assert r.returncode == 0, r.stderr
    assert re.search(r"\*\*\d+\.\d %\*\*", demo_summary.render(json.loads((ROOT / demo_summary.COMMITTED).read_text())))
