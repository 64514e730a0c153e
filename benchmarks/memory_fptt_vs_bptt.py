"""Peak training memory of FPTT (K = 1) versus BPTT on the Add task, for growing sequence length T.

What is measured: one training batch of `train.trainer.train_batch` on an LTC network with one recurrent layer
(Add-task settings: fixed threshold 0.5, adaptation off), FPTT with `FpttRegularizer` (one optimizer step per
time step over the whole sequence) and BPTT (one step on the whole sequence).

How: every (algorithm, T) runs in a fresh Python process (this script re-invoked with --worker), so that no
peak, allocator cache or lazily initialised buffer carries over. The worker builds model, optimizer,
regulariser and batch, then takes a baseline and trains one batch without any warm-up, so one-time
allocations (Adam state, gradients, library buffers) count for both algorithms:
  - CPU: peak resident set size (VmHWM, reset through /proc/self/clear_refs at the baseline) minus the resident
    size at the baseline (VmRSS). Allocator noise: right before the baseline, malloc_trim(0) returns free heap
    memory to the OS, so free memory left by building the batch (more for larger T) cannot be reused unseen;
    workers run with MALLOC_ARENA_MAX=1, a fixed mmap threshold (glibc's dynamic one depends on the batch's
    temporaries, hence on T) and a fixed thread count. The figure includes libtorch code pages first touched
    by training (about 8 MiB, the same for every T).
  - CUDA (--device cuda): torch.cuda.max_memory_allocated minus memory_allocated at the baseline.
  - Both: a second, deterministic figure from a second batch under torch.autograd.graph.saved_tensors_hooks:
    the peak of live bytes saved for backward (unique storages, parameters and the input batch excluded).
    It runs after the first figure is read, so the hooks' own overhead does not enter it.

    python benchmarks/memory_fptt_vs_bptt.py --plot mem.png --json mem.json
"""
import argparse
import ctypes
import json
import os
from pathlib import Path
import subprocess
import sys
import time

import torch
from tqdm import tqdm

from ltcsn.args import ArgumentParser
from ltcsn.train.fptt import FpttRegularizer
from ltcsn.train.model import LayerConfig, NetConfig, SpikingNet
from ltcsn.train.tasks.add import AddTask, add_batch
from ltcsn.train.trainer import TrainConfig, make_optimizer, train_batch

ALGOS = ("fptt", "bptt")
MIB = 2**20
GROWTH_TARGET_PCT = 5.0    # FPTT peak growth from the smallest to the largest T
RATIO_T = 2000
RATIO_TARGET = 10.0        # BPTT / FPTT peak at T = RATIO_T


def parse_args(argv=None):
    p = ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seq-lens", default="100,200,500,1000,2000,5000", help="comma-separated T values")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--hidden", type=int, default=128, help="neurons in the recurrent LTC layer")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads per worker (1: the [B, 128] ops gain nothing from more)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plot", type=Path, default=None, help="write a PNG of memory vs T")
    p.add_argument("--json", type=Path, default=None, help="write the results as JSON")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)   # "ALGO:T", internal
    args = p.parse_args(argv)
    args.seq_lens = sorted({int(t) for t in args.seq_lens.split(",") if t})
    if not args.seq_lens or args.seq_lens[0] < 2:
        p.error("--seq-lens needs values >= 2")
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda requested but CUDA is not available")
    return args


# ---------------------------------------------------------------- worker: one configuration in this process

def _proc_status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not found in /proc/self/status")


class PeakMemory:
    """Peak memory above a baseline: RSS high-water mark on CPU, the caching allocator's peak on CUDA."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"

    def start(self):
        if self.cuda:
            torch.cuda.synchronize()
            self.base = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
        else:
            ctypes.CDLL("libc.so.6").malloc_trim(0)   # hand free heap memory back: reuse must show in RSS
            self.base = _proc_status_kib("VmRSS") * 1024
            with open("/proc/self/clear_refs", "w") as f:   # "5": reset VmHWM to the current RSS
                f.write("5")

    def peak(self) -> int:
        if self.cuda:
            torch.cuda.synchronize()
            return torch.cuda.max_memory_allocated() - self.base
        return _proc_status_kib("VmHWM") * 1024 - self.base


class SavedTensorPeak:
    """Context manager tracking live bytes saved for backward, counted once per storage; `peak` is the max."""

    class _Packed:
        def __init__(self, owner, tensor, key):
            self.owner, self.tensor, self.key = owner, tensor, key

        def __del__(self):
            self.owner._release(self.key)

    def __init__(self, exclude):
        self.exclude = {t.untyped_storage().data_ptr() for t in exclude}
        self.live = {}   # storage pointer -> [references, bytes]
        self.bytes = self.peak = 0
        self.hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, lambda packed: packed.tensor)

    def _pack(self, tensor):
        key = tensor.untyped_storage().data_ptr()
        if key in self.exclude:
            return self._Packed(self, tensor, None)
        if key in self.live:
            self.live[key][0] += 1
        else:
            nbytes = tensor.untyped_storage().nbytes()
            self.live[key] = [1, nbytes]
            self.bytes += nbytes
            self.peak = max(self.peak, self.bytes)
        return self._Packed(self, tensor, key)

    def _release(self, key):
        if key is None:
            return
        entry = self.live[key]
        entry[0] -= 1
        if entry[0] == 0:
            self.bytes -= entry[1]
            del self.live[key]

    def __enter__(self):
        self.hooks.__enter__()
        return self

    def __exit__(self, *exc):
        self.hooks.__exit__(*exc)


def run_worker(algo: str, T: int, args) -> dict:
    """Train one batch with `algo` on length-T Add sequences; return the memory figures and the time."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    model = SpikingNet(NetConfig((2,), 1, [LayerConfig(args.hidden)], neuron="ltc", b0=0.5, beta=0.0)).to(device)
    task = AddTask(seq_len=T, n_train=args.batch_size, n_test=1)
    cfg = TrainConfig(algo=algo, K=1, alpha=0.5, beta=0.5, lr=3e-3, optimizer="adam", clip=1.0)
    opt = make_optimizer(model, cfg)
    reg = FpttRegularizer(model.parameters(), cfg.alpha, cfg.beta) if algo == "fptt" else None
    x, y = add_batch(args.batch_size, T, torch.Generator().manual_seed(args.seed))
    x, y = x.to(device), y.to(device)
    # The Add task is a regression: no L_div term, as in train.trainer.fit (div=None).

    mem = PeakMemory(device)
    mem.start()
    t0 = time.perf_counter()
    train_batch(model, x, y, task, opt, cfg, reg, None)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    peak = mem.peak()

    with SavedTensorPeak(exclude=[*model.parameters(), x, y]) as saved:
        train_batch(model, x, y, task, opt, cfg, reg, None)
    return {"algo": algo, "T": T, "peak_bytes": peak, "saved_bytes": saved.peak, "seconds": seconds}


# ---------------------------------------------------------------- driver: fresh worker per configuration

def measure(algo: str, T: int, args) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    env.setdefault("MALLOC_ARENA_MAX", "1")
    env.setdefault("MALLOC_MMAP_THRESHOLD_", str(128 * 1024))   # glibc's default, but fixed (not dynamic)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", f"{algo}:{T}",
           "--batch-size", str(args.batch_size), "--hidden", str(args.hidden), "--threads", str(args.threads),
           "--device", args.device, "--seed", str(args.seed)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"worker {algo} T={T} failed (exit {proc.returncode}):\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def report(results: dict, args) -> dict:
    """Print the table and the checks; return the summary."""
    Ts = args.seq_lens
    peak_name = "CUDA max_memory_allocated" if args.device == "cuda" else "peak RSS increase"
    print(f"\nAdd task, LTC {args.hidden} neurons, batch {args.batch_size}, device {args.device}"
          f" ({args.threads} thread(s)); peak = {peak_name} over the baseline after building model, optimizer"
          f" and batch; saved = peak live tensors saved for backward. FPTT runs K = 1 over the full sequence"
          f" (T optimizer steps per batch).\n")
    print("| T | FPTT peak MiB | BPTT peak MiB | BPTT/FPTT | FPTT saved-activation MiB | BPTT saved-activation MiB "
          "| FPTT s/batch | BPTT s/batch |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for T in Ts:
        f, b = results["fptt", T], results["bptt", T]
        print(f"| {T} | {f['peak_bytes'] / MIB:.2f} | {b['peak_bytes'] / MIB:.2f} "
              f"| {b['peak_bytes'] / f['peak_bytes']:.1f}x | {f['saved_bytes'] / MIB:.3f} "
              f"| {b['saved_bytes'] / MIB:.1f} | {f['seconds']:.1f} | {b['seconds']:.1f} |")

    lo, hi = results["fptt", Ts[0]], results["fptt", Ts[-1]]
    growth = 100 * (hi["peak_bytes"] - lo["peak_bytes"]) / lo["peak_bytes"]
    saved_growth = 100 * (hi["saved_bytes"] - lo["saved_bytes"]) / lo["saved_bytes"]
    growth_ok = growth <= GROWTH_TARGET_PCT
    print(f"\nFPTT peak growth T={Ts[0]} -> T={Ts[-1]}: {growth:+.1f} % (target <= {GROWTH_TARGET_PCT:g} %): "
          f"{'PASS' if growth_ok else 'FAIL'}   [saved-activation growth {saved_growth:+.1f} %]")
    summary = {"fptt_growth_pct": growth, "fptt_saved_growth_pct": saved_growth, "growth_pass": growth_ok}
    if RATIO_T in Ts:
        f, b = results["fptt", RATIO_T], results["bptt", RATIO_T]
        ratio = b["peak_bytes"] / f["peak_bytes"]
        ratio_ok = ratio >= RATIO_TARGET
        print(f"BPTT/FPTT peak at T={RATIO_T}: {ratio:.1f}x (target >= {RATIO_TARGET:g}x): "
              f"{'PASS' if ratio_ok else 'FAIL'}   [saved activations "
              f"{b['saved_bytes'] / f['saved_bytes']:.0f}x]")
        summary.update(ratio_at_2000=ratio, ratio_pass=ratio_ok)
    else:
        print(f"BPTT/FPTT peak at T={RATIO_T}: not measured (T={RATIO_T} not in --seq-lens)")
    return summary


def plot(results: dict, args, path: Path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    Ts = args.seq_lens
    fig, ax = plt.subplots(figsize=(6, 4))
    for algo, color in zip(ALGOS, ("C0", "C3")):
        ax.plot(Ts, [results[algo, T]["peak_bytes"] / MIB for T in Ts], f"{color}-o", label=f"{algo.upper()} peak")
        ax.plot(Ts, [results[algo, T]["saved_bytes"] / MIB for T in Ts], f"{color}--s", ms=4,
                label=f"{algo.upper()} saved activations")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("sequence length T")
    ax.set_ylabel("MiB")
    ax.set_title(f"Add task, LTC {args.hidden}, batch {args.batch_size}, {args.device}")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        algo, T = args.worker.split(":")
        print(json.dumps(run_worker(algo, int(T), args)))
        return
    configs = [(algo, T) for T in args.seq_lens for algo in ALGOS]
    results = {}
    for algo, T in tqdm(configs, desc="configurations", disable=None):     # None: a bar on a terminal only
        r = measure(algo, T, args)
        results[algo, T] = r
        tqdm.write(f"{algo.upper()} T={T}: peak {r['peak_bytes'] / MIB:.2f} MiB, "
                   f"saved {r['saved_bytes'] / MIB:.2f} MiB, {r['seconds']:.1f} s")
    summary = report(results, args)
    if args.plot:
        plot(results, args, args.plot)
        print(f"wrote {args.plot}")
    if args.json:
        settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "worker"}
        args.json.write_text(json.dumps({"settings": settings, "summary": summary,
                                         "results": list(results.values())}, indent=2))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
