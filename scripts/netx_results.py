"""Measure every LIF configuration tried on lava-dl netx (tests/test_netx.py) and publish the table.

    python scripts/netx_results.py     # -> docs/results/netx.json and the table in docs/netx.md

Needs lava-dl and the dev extras (norse, snntorch). tests/test_netx.py measures the other tools' cases again
against the committed json and checks the document's table against the json.
"""
import json
import logging
from pathlib import Path
import sys
import tempfile
import warnings

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    sys.path.insert(0, str(ROOT / "tests"))
    import test_netx as tn
    logging.getLogger().setLevel(logging.ERROR)        # norse's from_nir warns via logging
    warnings.simplefilter("ignore")
    results = {}
    for cid in tn.netx_case_ids():
        with tempfile.TemporaryDirectory() as tmp:
            results[cid] = tn.measure_netx(cid, Path(tmp))
        print(cid, results[cid], flush=True)
    tn.NETX_RESULTS.parent.mkdir(parents=True, exist_ok=True)
    tn.NETX_RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    text = tn.NETX_DOC.read_text()
    head, rest = text.split(tn.NETX_TABLE_BEGIN, 1)
    _, tail = rest.split(tn.NETX_TABLE_END, 1)
    tn.NETX_DOC.write_text(f"{head}{tn.NETX_TABLE_BEGIN}\n{tn.netx_table(results)}\n{tn.NETX_TABLE_END}{tail}")
    print(f"wrote {tn.NETX_RESULTS.relative_to(ROOT)} and the table in {tn.NETX_DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
