"""What the result scripts share: the test module that defines the cases, and the table they write into a document
between two marker lines."""
import importlib
import logging
from pathlib import Path
import sys
import warnings

ROOT = Path(__file__).resolve().parents[1]


def case_module(name: str):
    """tests/<name>.py, imported quietly (norse's from_nir warns via logging; the tools' deprecation warnings)."""
    sys.path.insert(0, str(ROOT / "tests"))
    logging.getLogger().setLevel(logging.ERROR)
    warnings.simplefilter("ignore")
    return importlib.import_module(name)


def write_table(doc: Path, begin: str, end: str, table: str) -> None:
    """Replace what lies between the lines begin and end of doc with table."""
    text = doc.read_text()
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    doc.write_text(f"{head}{begin}\n{table}\n{end}{tail}")
