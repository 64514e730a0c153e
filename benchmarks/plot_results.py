"""Plots of the finished benchmark runs (the folders train_benchmarks.py writes), for BENCHMARKS.md.

    python benchmarks/plot_results.py [--runs runs/bench] [--out docs/figures]

Writes
- add_mse_vs_T.png: Add-task test MSE (last epoch of each finished run) against T, FPTT and BPTT, with the
  chance level Var(target) = 1/6 (the target is the sum of two U(0, 1) values);
- learning_curves.png: test accuracy (classification runs) and test MSE (Add runs) per epoch of every run.
Reads only runs/bench/NAME/metrics.json (written after every epoch, so a run still going shows its epochs so far;
each point is labelled with its epoch count). Prints the numbers it plots.
"""
import argparse
import json
from pathlib import Path
import re

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt   # noqa: E402

from train_benchmarks import CONFIGS   # noqa: E402

ADD_CHANCE_MSE = 1 / 6
# T, algorithm, FPTT alpha if not 0.5, membrane readout
ADD_RUN = re.compile(r"add(\d+)-ltc-(fptt|bptt)(?:-a([\d.]+))?(-mem)?$")


def read_runs(root: Path) -> dict:
    """NAME -> metrics.json content, for every benchmark configuration with a run folder under root."""
    runs = {}
    for name in CONFIGS:
        path = root / name / "metrics.json"
        if path.exists():
            runs[name] = json.loads(path.read_text())
    return runs


def plot_add_vs_T(runs: dict, path: Path) -> bool:
    points = {}
    for name, m in runs.items():
        hit = ADD_RUN.match(name)
        if hit:
            series = ("BPTT" if hit[2] == "bptt" else f"FPTT K = T/10, α = {hit[3] or 0.5}") + \
                (", membrane readout" if hit[4] else "")
            points.setdefault(series, []).append((int(hit[1]), m["test_mse"], m["epochs_done"]))
    if not points:
        return False
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, (series, pts) in enumerate(sorted(points.items())):
        pts = sorted(pts)
        Ts, mses, _ = zip(*pts)
        ax.plot(Ts, mses, f"C{i}-o", label=series)
        for T, mse, ep in pts:
            ax.annotate(f"{ep} ep", (T, mse), textcoords="offset points", xytext=(4, 4), fontsize=7, color=f"C{i}")
        print(f"{series}: Add test MSE by T: " + ", ".join(f"T={T}: {mse:.4f} ({ep} epochs)" for T, mse, ep in pts))
    ax.axhline(ADD_CHANCE_MSE, color="gray", ls="--", label="chance (predict 1.0)")
    ax.axhline(0.01, color="gray", ls=":", label="target 0.01")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("sequence length T")
    ax.set_ylabel("test MSE (last epoch)")
    ax.set_title("Add task, LTC 128, batch 128")
    ax.legend(fontsize=8)
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
        key = f"test_{m['metric']}"
        ax = mse_ax if m["metric"] == "mse" else acc_ax
        ax.plot([h["epoch"] for h in m["history"]], [h[key] for h in m["history"]], "-o", ms=2,
                label=f"{name} ({m['epochs_done']} ep)")
    acc_ax.set_ylabel("test accuracy")
    mse_ax.set_ylabel("test MSE")
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
    p.add_argument("--out", type=Path, default=Path("docs/figures"), help="folder for the PNG files")
    args = p.parse_args(argv)
    runs = read_runs(args.runs)
    print(f"runs in {args.runs}: " + (", ".join(f"{n} ({m['epochs_done']} epochs)" for n, m in sorted(runs.items()))
                                      or "none"))
    args.out.mkdir(parents=True, exist_ok=True)
    for fname, fn in (("add_mse_vs_T.png", plot_add_vs_T), ("learning_curves.png", plot_learning_curves)):
        if fn(runs, args.out / fname):
            print(f"wrote {args.out / fname}")
        else:
            print(f"no finished runs for {fname}")


if __name__ == "__main__":
    main()
