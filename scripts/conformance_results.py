"""Measure the third-party NIR conformance cases (tests/test_conformance.py) and publish the numbers.

    python scripts/conformance_results.py     # -> docs/results/conformance.json and the table in docs/nir_schema.md

Needs the dev extras (norse, snntorch). tests/test_conformance.py checks every case's numbers against the committed
json and the document's table against the json.
"""
import json
import logging
from pathlib import Path
import sys
import warnings

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    sys.path.insert(0, str(ROOT / "tests"))
    import test_conformance as tc
    logging.getLogger().setLevel(logging.ERROR)        # norse's from_nir warns via logging
    warnings.simplefilter("ignore")
    results = {}
    for tool, kind in tc.CASES:
        for dt in (1e-3, 1e-4):
            for bits in (8, 15):
                results[tc.case_id(tool, kind, dt, bits)] = tc.measure(tool, kind, dt, bits)["numbers"]
                print(tc.case_id(tool, kind, dt, bits), results[tc.case_id(tool, kind, dt, bits)], flush=True)
    tc.RESULTS.parent.mkdir(parents=True, exist_ok=True)
    tc.RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    doc = ROOT / "docs" / "nir_schema.md"
    text = doc.read_text()
    head, rest = text.split(tc.TABLE_BEGIN, 1)
    _, tail = rest.split(tc.TABLE_END, 1)
    doc.write_text(f"{head}{tc.TABLE_BEGIN}\n{tc.conformance_table(results)}\n{tc.TABLE_END}{tail}")
    print(f"wrote {tc.RESULTS.relative_to(ROOT)} and the table in {doc.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
