"""The documents' Python examples run: every ```python block of docs/api.md, in order, in one namespace (the page is
one notebook), and the README's example."""
from pathlib import Path
import re

ROOT = Path(__file__).resolve().parents[1]


def blocks(path: Path) -> list:
    return re.findall(r"^```python\n(.*?)^```", path.read_text(), re.M | re.S)


def run_blocks(path: Path) -> None:
    namespace = {"__name__": path.stem}
    for i, block in enumerate(blocks(path)):
        exec(compile(block, f"{path.relative_to(ROOT)} block {i + 1}", "exec"), namespace)


def test_api_examples_run(capsys):
    assert len(blocks(ROOT / "docs/api.md")) >= 6, "the page lost examples"
    run_blocks(ROOT / "docs/api.md")
    out = capsys.readouterr().out
    assert "float test accuracy" in out and "integer test accuracy" in out and "BIT-EXACT" in out


def test_readme_example_runs(capsys):
    assert len(blocks(ROOT / "README.md")) == 1
    run_blocks(ROOT / "README.md")
    assert re.fullmatch(r"integer network: \d+\.\d% of 360 test samples\n", capsys.readouterr().out)
