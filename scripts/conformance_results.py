"""Measure the third-party NIR conformance cases (tests/test_conformance.py) and publish the numbers.

    python scripts/conformance_results.py     # -> docs/results/conformance.json and the table in docs/nir_schema.md

Needs the dev extras (norse, snntorch). tests/test_conformance.py checks every case's numbers against the committed
json and the document's table against the json.
"""
import json
import sys

from results_doc import ROOT, case_module, write_table


def main() -> int:
    tc = case_module("test_conformance")
    results = {}
    for tool, kind in tc.CASES:
        for dt in (1e-3, 1e-4):
            for bits in (8, 15):
                results[tc.case_id(tool, kind, dt, bits)] = tc.measure(tool, kind, dt, bits)["numbers"]
                print(tc.case_id(tool, kind, dt, bits), results[tc.case_id(tool, kind, dt, bits)], flush=True)
    tc.RESULTS.parent.mkdir(parents=True, exist_ok=True)
    tc.RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    doc = ROOT / "docs" / "nir_schema.md"
    write_table(doc, tc.TABLE_BEGIN, tc.TABLE_END, tc.conformance_table(results))
    print(f"wrote {tc.RESULTS.relative_to(ROOT)} and the table in {doc.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
