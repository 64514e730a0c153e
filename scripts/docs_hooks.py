"""MkDocs hook (mkdocs.yml `hooks:`): lays the package `ltcsn` out as it is installed, for the API pages.

pyproject.toml maps the package's stages to the repository's folders (`ltcsn.train` is train/, `ltcsn.sim` is sim/,
...). griffe, which reads the sources for mkdocstrings without importing them, follows a package's own folder only;
so before every build this writes the installed layout as symbolic links into build/api/ (the python handler's
`paths` in mkdocs.yml). Nothing is imported, nothing is copied.
"""
from pathlib import Path
import shutil

import tomli

ROOT = Path(__file__).resolve().parents[1]
TREE = ROOT / "build" / "api"


def link_package_tree(root: Path = ROOT, tree: Path = TREE) -> Path:
    """One folder per package of pyproject.toml's package-dir under `tree`, holding links to its folder's entries."""
    package_dir = tomli.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    shutil.rmtree(tree, ignore_errors=True)
    for name, folder in sorted(package_dir.items()):
        here = tree.joinpath(*name.split("."))
        here.mkdir(parents=True)
        for entry in sorted((root / folder).iterdir()):
            if entry.name != "__pycache__":
                (here / entry.name).symlink_to(entry)
    return tree


def on_startup(command: str, dirty: bool) -> None:
    link_package_tree()
