"""What a release carries: one version (pyproject.toml's) that `ltcsn.__version__`, `python -m ltcsn --version` and
the latest version section of CHANGELOG.md state, the BSD-3-Clause LICENSE the package metadata names, and a README
short enough to read."""
from importlib.metadata import metadata
from pathlib import Path
import re
import subprocess
import sys

import tomli

import ltcsn

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomli.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_one_version_everywhere():
    version = PROJECT["version"]
    assert ltcsn.__version__ == version
    r = subprocess.run([sys.executable, "-m", "ltcsn", "--version"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and r.stdout.strip() == f"{PROJECT['name']} {version}", r.stdout + r.stderr
    sections = re.findall(r"^## \[([^\]]+)\]", (ROOT / "CHANGELOG.md").read_text(), re.M)
    released = [s for s in sections if s != "Unreleased"]
    assert released and released[0] == version, sections


def test_python_m_ltcsn_lists_the_commands():
    r = subprocess.run([sys.executable, "-m", "ltcsn"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    for script, target in PROJECT["scripts"].items():
        assert re.search(rf"^  {re.escape(script)} +ltcsn\.", r.stdout, re.M), (script, r.stdout)
    r = subprocess.run([sys.executable, "-m", "ltcsn", "--no-such-option"], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and r.stderr.startswith("error: ")


def test_license_is_bsd3_and_the_metadata_says_so():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("BSD 3-Clause License") and "Neither the name of the copyright holder" in text
    assert PROJECT["license"] == "BSD-3-Clause" and PROJECT["license-files"] == ["LICENSE"]
    assert metadata(ltcsn.DIST_NAME)["License-Expression"] == "BSD-3-Clause"


def test_readme_is_short():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 150, len(lines)
