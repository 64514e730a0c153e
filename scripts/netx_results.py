"""Measure every LIF configuration tried on lava-dl netx (tests/test_netx.py) and publish the table.

    python scripts/netx_results.py     # -> docs/results/netx.json and the table in docs/netx.md

Needs lava-dl and the dev extras (norse, snntorch). tests/test_netx.py measures the other tools' cases again
against the committed json and checks the document's table against the json.
"""
import json
from pathlib import Path
import sys
import tempfile

from results_doc import ROOT, case_module, write_table


def main() -> int:
    tn = case_module("test_netx")
    results = {}
    for cid in tn.netx_case_ids():
        with tempfile.TemporaryDirectory() as tmp:
            results[cid] = tn.measure_netx(cid, Path(tmp))
        print(cid, results[cid], flush=True)
    tn.NETX_RESULTS.parent.mkdir(parents=True, exist_ok=True)
    tn.NETX_RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    write_table(tn.NETX_DOC, tn.NETX_TABLE_BEGIN, tn.NETX_TABLE_END, tn.netx_table(results))
    print(f"wrote {tn.NETX_RESULTS.relative_to(ROOT)} and the table in {tn.NETX_DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
