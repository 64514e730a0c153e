"""Re-score the integer column of BENCHMARKS.md under the current spec, from the checkpoints' own configs.

    python benchmarks/rescore.py [--table BENCHMARKS.md] [--runs runs/bench] [--samples N] [--dry-run]

For every row of the results table, the checkpoint RUNS/NAME/ckpt.pt of the row's command (`--only NAME`) is
re-scored by the integer simulator (quantized on the fly under its stored QAT plan, on the task its config
names) when it exists and is the row's run (its algorithm and epochs done are the row's); the cell becomes
"0.xxxx (spec v2, re-scored)". A row whose checkpoint is gone keeps its number and says which spec version scored
it: "(spec v2)" (a version whose integers the current one keeps, `ltcsn.sim.spec.READABLE_SPEC_VERSIONS`), or for an
older version "(spec v1: 256-entry LUT, not re-scored: checkpoint gone; written 2026-11-23 at 06daccf)": a number
that cannot be re-measured says the date and commit of its row (`row_origin`). The version of an unmarked cell is
the one of the commit that wrote the row (git blame against SPEC_SINCE), so every row is marked once and keeps its
mark. Prints one line per row.
"""
import argparse
from pathlib import Path
import re
import subprocess
import sys

ROOT = Path(__file__).resolve().parent.parent
TABLE_END = "<!-- end of results table: train_benchmarks.py inserts rows above this line -->"
QUANT_COLUMN = 4            # "quantized (integer sim)"
ALGO_COLUMN, COMMAND_COLUMN = 2, 7
# the first commit that computed the integer network under spec version N (docs/fixed_point.md; version 1 is
# everything before), and what the older version computed differently
SPEC_SINCE = {2: "9213f85", 3: "9d98033"}
SPEC_DIFFERENCE = {1: "256-entry LUT"}
# versions whose integers equal the current one's for the networks they describe (ltcsn.sim.spec)
TAG = re.compile(r"\s*\(spec v(\d+)(?:[,:] ?([^)]*))?\)\s*$")
WRITTEN = re.compile(r"written (\d{4}-\d\d-\d\d) at ([0-9a-f]{7,40})")


def table_rows(text: str) -> list:
    """[(line index, cells)] of the results table's rows (the lines above TABLE_END after the header)."""
    lines = text.split("\n")
    end = next(i for i, line in enumerate(lines) if line.strip() == TABLE_END)
    start = end
    while start > 0 and lines[start - 1].startswith("|"):
        start -= 1
    return [(i, [c.strip() for c in lines[i].strip().strip("|").split("|")])
            for i in range(start + 2, end)]          # skip the header and its |---| line


def cell_version(cell: str) -> tuple:
    """(spec version, note) of an integer cell's mark, (None, "") when unmarked."""
    m = TAG.search(cell)
    return (int(m.group(1)), m.group(2) or "") if m else (None, "")


def _number(cell: str) -> str:
    return TAG.sub("", cell).strip()


def blame_versions(table: Path, lines) -> dict:
    """{line index: spec version} of the given lines of the table, from the commit that last wrote each (git blame;
    an uncommitted line: the current version)."""
    from ltcsn.sim.spec import SPEC_VERSION
    out = subprocess.run(["git", "blame", "--line-porcelain", table.name], cwd=table.parent, capture_output=True,
                         text=True, check=True).stdout
    commits, line = {}, None
    for row in out.splitlines():
        m = re.match(r"^([0-9a-f]{40}) \d+ (\d+)", row)
        if m:
            commit, line = m.group(1), int(m.group(2)) - 1
            commits[line] = commit
    versions = {}
    for line in lines:
        commit = commits[line]
        if set(commit) == {"0"}:
            versions[line] = SPEC_VERSION
            continue
        version = 1
        for v, since in sorted(SPEC_SINCE.items()):
            if subprocess.run(["git", "merge-base", "--is-ancestor", since, commit], cwd=table.parent).returncode == 0:
                version = v
        versions[line] = version
    return versions


def _row_run(cells: list) -> tuple:
    """(configuration name, epochs done, algorithm) that the row's command and algorithm cell name."""
    name = re.search(r"--only ([\w.-]+)", cells[COMMAND_COLUMN])
    epochs = re.search(r", (\d+) ep\b", cells[ALGO_COLUMN])
    return (name.group(1) if name else None, int(epochs.group(1)) if epochs else None,
            cells[ALGO_COLUMN].split()[0].lower())


def rescore_checkpoint(ckpt_path: Path, samples=None) -> str:
    """The integer score of a checkpoint on its task's test set, as the cell shows it."""
    from ltcsn.export.load import load_qnet
    from ltcsn.sim.simulate import evaluate_qnet
    from ltcsn.train.checkpoint import read_checkpoint
    from ltcsn.train.tasks import get_task
    ckpt = read_checkpoint(ckpt_path)
    qnet, _ = load_qnet(str(ckpt_path))
    task = get_task(**ckpt["task"])
    score, n, _ = evaluate_qnet(qnet, task, samples)
    return f"{score:.4f}" + ("" if n == len(task.x_test) else f" ({n} test samples)")


def _matches(ckpt_path: Path, epochs, algo) -> bool:
    from ltcsn.train.checkpoint import read_checkpoint
    ckpt = read_checkpoint(ckpt_path)
    return ckpt.get("metrics", {}).get("epochs_done") == epochs and ckpt.get("train", {}).get("algo") == algo


def row_origin(table: Path, cells: list) -> str:
    """"written DATE at COMMIT": the first commit whose table held the row (its cells up to the integer one; git log
    -S), "written: unknown commit" outside a git checkout or when no commit has it."""
    prefix = "| " + " | ".join(cells[:QUANT_COLUMN]) + " | "
    out = subprocess.run(["git", "log", "--reverse", "--format=%h %ad", "--date=short", "-S", prefix, "--",
                          table.name], cwd=table.parent, capture_output=True, text=True).stdout.split()
    return f"written {out[1]} at {out[0]}" if len(out) >= 2 else "written: unknown commit"


def rescore(table: Path, runs: Path, samples=None, versions: dict = None, origins: dict = None) -> tuple:
    """(new text, one report line per row). versions: {line index: spec version} for unmarked cells
    (default: git blame); origins: {line index: "written DATE at COMMIT"} for rows marked not re-scored that do not
    say it yet (default: `row_origin`)."""
    from ltcsn.sim.spec import READABLE_SPEC_VERSIONS, SPEC_VERSION
    text = table.read_text()
    lines = text.split("\n")
    rows = table_rows(text)
    if versions is None and any(cell_version(cells[QUANT_COLUMN])[0] is None for _, cells in rows):
        versions = blame_versions(table, [i for i, cells in rows if cell_version(cells[QUANT_COLUMN])[0] is None])
    report = []
    for i, cells in rows:
        name, epochs, algo = _row_run(cells)
        ckpt = runs / name / "ckpt.pt" if name else None
        version, _ = cell_version(cells[QUANT_COLUMN])
        if version is None:
            version = (versions or {}).get(i)
        if ckpt is not None and ckpt.exists() and _matches(ckpt, epochs, algo):
            cell = f"{rescore_checkpoint(ckpt, samples)} (spec v{SPEC_VERSION}, re-scored)"
        elif version in READABLE_SPEC_VERSIONS:      # the same integers as the current spec
            cell = f"{_number(cells[QUANT_COLUMN])} (spec v{version})"
        else:
            # a number no one can re-measure: it says when and at which commit its row was written
            found = WRITTEN.search(cells[QUANT_COLUMN])
            origin = found.group(0) if found else (origins or {}).get(i) or row_origin(table, cells)
            head = ("spec version unknown" if version is None
                    else f"spec v{version}: {SPEC_DIFFERENCE.get(version, 'older spec')}")
            cell = f"{_number(cells[QUANT_COLUMN])} ({head}, not re-scored: checkpoint gone; {origin})"
        report.append(f"{name}, {epochs} ep: {cells[QUANT_COLUMN]} -> {cell}")
        cells[QUANT_COLUMN] = cell
        lines[i] = "| " + " | ".join(cells) + " |"
    return "\n".join(lines), report


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--table", default=str(ROOT / "BENCHMARKS.md"))
    p.add_argument("--runs", default=str(ROOT / "runs/bench"), help="folder of the benchmark runs (NAME/ckpt.pt)")
    p.add_argument("--samples", type=int, default=None, help="test samples per re-score (default: all)")
    p.add_argument("--dry-run", action="store_true", help="print, do not rewrite the table")
    args = p.parse_args(argv)
    table = Path(args.table)
    text, report = rescore(table, Path(args.runs), args.samples)
    print("\n".join(report))
    if not args.dry_run:
        table.write_text(text)
        print(f"rewrote {table}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
