"""docs/api.md: every ```python block runs, in order, in one namespace (the page is one notebook)."""
from pathlib import Path
import re

ROOT = Path(__file__).resolve().parents[1]


def blocks(path: Path) -> list:
    return re.findall(r"^```python\n(.*?)^```", path.read_text(), re.M | re.S)


def test_api_examples_run(capsys):
    code = blocks(ROOT / "docs/api.md")
    assert len(code) >= 6, "the page lost examples"
    namespace = {"__name__": "api_docs"}
    for i, block in enumerate(code):
        exec(compile(block, f"docs/api.md block {i + 1}", "exec"), namespace)
    out = capsys.readouterr().out
    assert "float test accuracy" in out and "integer test accuracy" in out and "BIT-EXACT" in out
