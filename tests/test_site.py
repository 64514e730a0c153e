"""The documentation site builds (MkDocs, Material, mkdocstrings) with warnings as errors, as `make docs` builds it:
every page of the nav, every link and anchor between pages, the pages the README's sections are included into, and
the API reference generated from the docstrings (read from the sources by griffe through the link tree of
scripts/docs_hooks.py; nothing is imported)."""
import html
import json
import os
from pathlib import Path
import re
import subprocess
import sys

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import demo_summary  # noqa: E402
import docs_hooks  # noqa: E402


def _text(page: Path) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page.read_text())).split())


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)], cwd=ROOT,
                       capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"}, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "WARNING" not in r.stderr, r.stderr[-3000:]
    return out


def test_every_page_is_built(site):
    import yaml

    def pages(nav):
        for item in nav:
            value = next(iter(item.values())) if isinstance(item, dict) else item
            yield from (pages(value) if isinstance(value, list) else [value])

    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=yaml.BaseLoader)
    listed = set(pages(config["nav"]))
    on_disk = {str(p.relative_to(ROOT / "docs")) for p in (ROOT / "docs").rglob("*.md")}
    assert listed == on_disk, "pages on disk and in the nav differ"
    for page in listed:
        built = page[:-len("index.md")] if page.endswith("index.md") else page[:-3] + "/"
        assert (site / built / "index.html").is_file(), page


def test_home_page_holds_the_readme_sections_and_the_results_table(site):
    home = _text(site / "index.html")
    summary = json.loads((ROOT / demo_summary.COMMITTED).read_text())
    for cell in re.findall(r"\*\*([^*]+)\*\*", demo_summary.render(summary).split("\n", 1)[1]):
        assert cell in home, cell
    assert "make demo" in home and "make test" in home and "sim/verify.py" in home


def test_api_reference_is_generated_from_the_docstrings(site):
    from ltcsn.sim import integer
    from ltcsn.train import fptt
    page = site / "reference" / "sim" / "index.html"
    assert 'id="ltcsn.sim.integer.ltc_neuron_step"' in page.read_text()
    assert " ".join(integer.ltc_neuron_step.__doc__.split()[:8]) in _text(page)
    assert " ".join(fptt.__doc__.split()[:6]) in _text(site / "reference" / "train" / "index.html")


def test_link_tree_lays_the_package_out_as_installed(tmp_path):
    tree = docs_hooks.link_package_tree(tree=tmp_path / "api")
    assert (tree / "ltcsn" / "__init__.py").resolve() == ROOT / "ltcsn" / "__init__.py"
    assert (tree / "ltcsn" / "train" / "tasks" / "mnist.py").resolve() == ROOT / "train" / "tasks" / "mnist.py"
    assert (tree / "ltcsn" / "hardware" / "lava_procs").resolve() == ROOT / "hardware" / "lava_procs"
    assert not (tree / "ltcsn" / "__pycache__").exists()
