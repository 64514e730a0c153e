"""Plots of the benchmark results, for BENCHMARKS.md.

    python benchmarks/plot_results.py [--table BENCHMARKS.md] [--runs runs/bench] [--out docs/figures]

Writes
- add_mse_vs_T.png: Add-task float test MSE against T, one series per algorithm (FPTT with its alpha, BPTT) and
  readout, from the rows of the results table (so the committed table alone reproduces it), with the chance
  level Var(target) = 1/6 (the target is the sum of two U(0, 1) values) and the 0.01 target;
- learning_curves.png: test accuracy (classification runs) and test MSE (Add runs) per epoch of every run folder
  under --runs (runs/bench/NAME/metrics.json, written after every epoch, so a run still going shows its epochs);
  a run continued from another's checkpoint (--init) starts at the epoch that checkpoint had reached.
Each point is labelled with its epoch count. Prints the numbers it plots.
"""
import argparse
import json
from pathlib import Path
import re

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt   # noqa: E402

from train_benchmarks import CONFIGS, TABLE, init_epochs   # noqa: E402

ADD_CHANCE_MSE = 1 / 6
ADD_ROW = re.compile(r"add \(Add task, T = (\d+)\)")
# algorithm, FPTT alpha, epochs, and the epochs of the checkpoint a continued run (--init) started from
ADD_ALGO = re.compile(r"(FPTT|BPTT)(?: K=\d+ α=([\d.]+))?.*?, (\d+) ep(?:, after (\d+) ep of .*)?$")


def read_runs(root: Path) -> dict:
    """NAME -> metrics.json content, for every benchmark configuration with a run folder under root."""
    runs = {}
    for name in CONFIGS:
        path = root / name / "metrics.json"
        if path.exists():
            runs[name] = json.loads(path.read_text())
    return runs


def read_add_rows(table: Path) -> dict:
    """Add-task rows of the BENCHMARKS.md table -> {series: [(T, float MSE, epochs)]}, T ascending. A series is the
    algorithm (FPTT with its alpha, or BPTT) and the readout; a later row replaces an earlier one of the same T."""
    points = {}
    for line in table.read_text().splitlines() if table.exists() else []:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        hit = ADD_ROW.match(cells[0]) if len(cells) > 3 else None
        if not hit:
            continue
        algo = ADD_ALGO.match(cells[2])
        mse = re.match(r"([\d.]+) \(MSE\)", cells[3])
        if not (algo and mse):
            continue
        readout = "membrane readout" if "membrane readout" in cells[1] else "spiking readout"
        series = ("BPTT" if algo[1] == "BPTT" else f"FPTT K = T/10, α = {algo[2]}") + f", {readout}"
        points.setdefault(series, {})[int(hit[1])] = (float(mse[1]), int(algo[3]) + int(algo[4] or 0))
    return {series: [(T, *v) for T, v in sorted(pts.items())] for series, pts in points.items()}


def plot_add_vs_T(points: dict, path: Path) -> bool:
    if not points:
        return False
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, (series, pts) in enumerate(sorted(points.items())):
        Ts, mses, _ = zip(*pts)
        style = "-o" if "membrane" in series else "--s"
        ax.plot(Ts, mses, style, color=f"C{i}", label=series)
        for T, mse, ep in pts:
            ax.annotate(f"{ep} ep", (T, mse), textcoords="offset points", xytext=(4, 4), fontsize=7, color=f"C{i}")
        print(f"{series}: Add test MSE by T: " + ", ".join(f"T={T}: {mse:.4f} ({ep} epochs)" for T, mse, ep in pts))
    ax.axhline(ADD_CHANCE_MSE, color="gray", ls="--", label="chance (predict 1.0)")
    ax.axhline(0.01, color="gray", ls=":", label="target 0.01")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("sequence length T")
    ax.set_ylabel("test MSE (float model, last epoch)")
    ax.set_title("Add task, LTC 128, batch 128 (BENCHMARKS.md rows)")
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def plot_learning_curves(runs: dict, path: Path) -> bool:
    if not runs:
        return False
    fig, (acc_ax, mse_ax) = plt.subplots(1, 2, figsize=(11, 4))
    for name, m in sorted(runs.items()):
        # validation score per epoch (train/run.py scores the test set once, at the end; older runs: test)
        key = next(k for k in (f"val_{m['metric']}", f"test_{m['metric']}") if k in m["history"][0])
        ax = mse_ax if m["metric"] == "mse" else acc_ax
        before = init_epochs(m) or 0     # a continued run is drawn from the epoch its checkpoint had reached
        epochs = [before + h["epoch"] for h in m["history"]]
        ax.plot(epochs, [h[key] for h in m["history"]], "-o", ms=2,
                label=f"{name} ({m['epochs_done']} ep" + (f" after {before})" if before else ")"))
        print(f"{name}: {key.split('_')[0]} {m['metric']} at epochs {epochs[0]}..{epochs[-1]}: {m['history'][-1][key]:.4f}")
    acc_ax.set_ylabel("validation (older runs: test) accuracy")
    mse_ax.set_ylabel("validation (older runs: test) MSE")
    mse_ax.set_yscale("log")
    for ax in (acc_ax, mse_ax):
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=Path, default=Path("runs/bench"), help="train_benchmarks.py's --out-root")
    p.add_argument("--table", type=Path, default=TABLE, help="the results table (Add-task MSE vs T)")
    p.add_argument("--out", type=Path, default=Path("docs/figures"), help="folder for the PNG files")
    args = p.parse_args(argv)
    runs = read_runs(args.runs)
    print(f"runs in {args.runs}: " + (", ".join(f"{n} ({m['epochs_done']} epochs)" for n, m in sorted(runs.items()))
                                      or "none"))
    args.out.mkdir(parents=True, exist_ok=True)
    for fname, fn, data in (("add_mse_vs_T.png", plot_add_vs_T, read_add_rows(args.table)),
                            ("learning_curves.png", plot_learning_curves, runs)):
        if fn(data, args.out / fname):
            print(f"wrote {args.out / fname}")
        else:
            print(f"nothing to plot for {fname}")


if __name__ == "__main__":
    main()
