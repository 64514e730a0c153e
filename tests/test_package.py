"""Packaging: one import name (`ltcsn`), console scripts, and stage imports that flow one way.

The stages are layered: ltcsn/ (the package root: helpers every stage may use, importing no stage) <- sim/ (the
integer semantics and the simulator) <- train/ (which runs that semantics in QAT) <- export/ <- hardware/. A library module imports only its own stage and the stages below it; the
command-line modules (the console scripts of pyproject.toml) sit above all four and are imported by no library
module.
"""
import ast
import os
from pathlib import Path
import subprocess
import sys
import zipfile

import pytest
import tomli

from ltcsn import commands

REPO = Path(__file__).resolve().parents[1]
STAGES = ("sim", "train", "export", "hardware")        # bottom to top; modules of ltcsn/ itself sit below them
PYPROJECT = tomli.loads((REPO / "pyproject.toml").read_text())
SCRIPTS = PYPROJECT["project"]["scripts"]
# each console script runs a command module's main through ltcsn.commands (ltcsn.args.launch imports the module)
CLI_MODULES = {getattr(commands, target.split(":")[1]).args[0] for target in SCRIPTS.values()}


def _module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    return ".".join(parts if parts[0] == "ltcsn" else ["ltcsn", *parts])


def _ltcsn_imports(path: Path) -> set:
    """Every `ltcsn.*` module a file imports, at module level or inside a function."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ltcsn."):
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)   # `from ltcsn.sim import ops`
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("ltcsn."))
    return out


def _level(module: str) -> int:
    """0 for the package root's own modules, then 1, 2, ... for the stages bottom to top."""
    stage = (module.split(".") + [""])[1]
    return STAGES.index(stage) + 1 if stage in STAGES else 0


def _library_modules():
    for stage in ("ltcsn", *STAGES):
        for path in sorted((REPO / stage).rglob("*.py")):
            yield _module_name(path), path


def test_stage_imports_flow_one_way():
    assert all(target.startswith("ltcsn.commands:") for target in SCRIPTS.values())
    modules = dict(_library_modules())
    assert CLI_MODULES <= set(modules), "every console script names a module of the four stages"
    wrong = []
    for name, path in modules.items():
        for imported in _ltcsn_imports(path):
            if imported not in modules and imported.rsplit(".", 1)[0] in modules:
                continue            # `from ltcsn.sim.qnet import QLif`: the module is the part before the name
            if imported in CLI_MODULES and name not in CLI_MODULES:
                wrong.append(f"{name} imports the command-line module {imported}")
            elif name not in CLI_MODULES and _level(imported) > _level(name):
                wrong.append(f"{name} imports {imported}, a later stage")
    assert not wrong, "\n".join(wrong)


def test_the_layer_check_sees_a_wrong_import(tmp_path):
    """The check above reads imports inside functions too (where the old cycles hid)."""
    f = tmp_path / "m.py"
    f.write_text("def f():\n    from ltcsn.export.load import load_qnet\n")
    assert "ltcsn.export.load" in _ltcsn_imports(f)


def test_user_files_named_like_stages_do_not_shadow_the_package(tmp_path):
    """A user's own train.py / sim.py in the working directory (the old top-level names) changes nothing."""
    for name in STAGES:
        (tmp_path / f"{name}.py").write_text("raise RuntimeError('the user file was imported')\n")
    code = "import ltcsn.train.run, ltcsn.sim.simulate, ltcsn.export.to_nir, ltcsn.hardware.resources; print('ok')"
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
    # the editable install of this checkout maps the stages to the repository's folders
    r = subprocess.run([sys.executable, "-c", "import ltcsn.train.run as m; print(m.__file__)"], cwd=tmp_path,
                       capture_output=True, text=True)
    assert Path(r.stdout.strip()) == REPO / "train" / "run.py"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out),
                    str(REPO)], check=True, capture_output=True)
    (path,) = out.glob("ltcsn_deploy-*.whl")
    return path


def test_wheel_adds_one_top_level_name_and_the_console_scripts(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"ltcsn"}
    for stage in STAGES:
        assert f"ltcsn/{stage}/__init__.py" in names
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    for script, target in SCRIPTS.items():
        assert f"{script} = {target}" in entry_points


def test_wheel_installs_into_a_fresh_venv_and_its_scripts_run(wheel, tmp_path):
    """A fresh venv (its dependencies borrowed from this one through a .pth line), the wheel installed without
    them: each console script answers --help, run from a directory holding a user's train.py."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    deps = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
    (site / "deps.pth").write_text("\n".join(deps) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps", str(wheel)],
                   check=True, capture_output=True)
    installed = {p.name for p in site.iterdir()} - {"deps.pth", "_distutils_hack", "distutils-precedence.pth"}
    assert {n for n in installed if not n.endswith(".dist-info") and n != "__pycache__"} == {"ltcsn"}
    (tmp_path / "train.py").write_text("raise RuntimeError('the user file was imported')\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    for script in SCRIPTS:
        r = subprocess.run([str(venv / "bin" / script), "--help"], cwd=tmp_path, capture_output=True, text=True,
                           env=env)
        assert r.returncode == 0 and r.stdout.startswith("usage: " + script), (script, r.stderr[-500:])
    r = subprocess.run([str(py), "-c", "import ltcsn.sim; print(ltcsn.sim.__file__)"], cwd=tmp_path,
                       capture_output=True, text=True, env=env)
    assert r.stdout.strip().startswith(str(site / "ltcsn" / "sim"))
