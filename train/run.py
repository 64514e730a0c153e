"""Train an LTC (or ALIF / LIF) spiking network with FPTT or BPTT.

    python train/run.py                       # LTC + FPTT on rdigits, the default
    python train/run.py --task add --seq-len 200 --algo bptt --out runs/add-bptt

    python train/run.py --quant --init runs/rdigits-ltc-fptt/ckpt.pt   # quantization-aware fine-tuning

Writes DIR/ckpt.pt, DIR/metrics.json and DIR/curve.png.
"""
import argparse
import json
from pathlib import Path
import sys
import time

import torch

from ltcsn.train.quantize import TARGETS, make_plan, plan_profile, target_profile
from ltcsn.train.checkpoint import load_checkpoint, save_checkpoint
from ltcsn.train.errors import InputError
from ltcsn.train.model import READOUTS, LayerConfig, NetConfig, SpikingNet
from ltcsn.train.tasks import TASKS, get_task
from ltcsn.train.quantized import QuantizedNet
from ltcsn.train.trainer import TrainConfig, evaluate, fit



def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--task", default="rdigits", choices=sorted(TASKS))
    p.add_argument("--neuron", default="ltc", choices=["ltc", "alif", "lif"])
    p.add_argument("--algo", default="fptt", choices=["fptt", "bptt"])
    p.add_argument("--K", type=int, default=1, help="FPTT: time steps per update (1..T)")
    p.add_argument("--alpha", type=float, default=0.1, help="FPTT regulariser strength")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--hidden", type=str, default="128",
                   help="hidden layer sizes, comma-separated (e.g. 256,256)")
    p.add_argument("--conv", default="",
                   help="conv LTC layers in front of the hidden layers (frame tasks): channels[:pool], "
                        "comma-separated (e.g. 16:2,32:2)")
    p.add_argument("--feedforward", action="store_true", help="no recurrent weights")
    p.add_argument("--readout", default="ltc", choices=list(READOUTS),
                   help="ltc: gated leaky integrator of the last layer's spikes; const: constant decay; "
                        "membrane: linear in the last layer's membrane u (the reference Add-task readout)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--optimizer", default="adam", choices=["adam", "adamax"])
    p.add_argument("--lr-schedule", default="constant", choices=["constant", "cosine"],
                   help="cosine: anneal the learning rate to 0 over the epochs")
    p.add_argument("--seq-len", type=int, default=None, help="sequence length (add task; event tasks: time bins)")
    p.add_argument("--data-dir", default=None,
                   help="dataset folder (MNIST IDX files, Fashion-MNIST, tonic event datasets; see train/tasks/)")
    p.add_argument("--threshold", type=float, default=None, help="base threshold b0 (default 0.1)")
    p.add_argument("--no-adapt", action="store_true", help="fixed threshold (beta = 0)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1,
                   help="CPU threads for torch (1 is fastest for small networks on 2 cores)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--out", default=None, help="output folder (default runs/TASK-NEURON-ALGO)")
    p.add_argument("--init", default=None, help="start from this checkpoint (its network and task)")
    p.add_argument("--quant", action="store_true",
                   help="quantization-aware training of the integer network (docs/fixed_point.md)")
    p.add_argument("--target", default=None, choices=sorted(TARGETS),
                   help="--quant: chip profile of the integer network: loihi2 (every layer a per-neuron Loihi 2 "
                        "neuron program: diagonal mixing, piecewise-linear sigmoid) or host (dense mixing, "
                        "sigmoid LUT; the default); docs/fixed_point.md")
    p.add_argument("--mixing", default=None, choices=["dense", "diag"],
                   help="--quant: LTC membrane/adaptation mixing, dense (host) or diagonal (neuron-local); "
                        "default: the target's")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    if args.K < 1:
        p.error("--K must be >= 1")
    try:
        args.hidden = [int(h) for h in args.hidden.split(",") if h]
    except ValueError:
        p.error(f"--hidden must be comma-separated integers, got {args.hidden!r}")
    if not args.hidden or min(args.hidden) < 1:
        p.error("--hidden needs at least one positive layer size")
    try:
        args.conv = [tuple(int(v) for v in (c.split(":") + ["1"])[:2]) for c in args.conv.split(",") if c]
    except ValueError:
        p.error(f"--conv must be comma-separated channels[:pool], got {args.conv!r}")
    if any(c < 1 or pool < 1 for c, pool in args.conv):
        p.error("--conv channels and pools must be positive")
    return args


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda requested but CUDA is not available")
    return torch.device(name)


def build_config(args, task) -> NetConfig:
    layers = [LayerConfig(c, kind="conv", pool=pool) for c, pool in args.conv]
    layers += [LayerConfig(h, recurrent=not args.feedforward) for h in args.hidden]
    cfg = NetConfig(task.input_shape, task.n_out, layers, neuron=args.neuron, readout=args.readout)
    if args.threshold is not None:
        cfg.b0 = args.threshold
    if args.no_adapt:
        cfg.beta = 0.0
    return cfg


def plot_curve(history, metric_name: str, path: Path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    epochs = [h["epoch"] for h in history]
    fig, ax1 = plt.subplots(figsize=(6, 4))
    ax1.plot(epochs, [h["train_loss"] for h in history], "C0-o", ms=3, label="train loss")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("train loss", color="C0")
    ax2 = ax1.twinx()
    ax2.plot(epochs, [h[f"test_{metric_name}"] for h in history], "C1-s", ms=3, label=f"test {metric_name}")
    ax2.set_ylabel(f"test {metric_name}", color="C1")
    fig.suptitle(path.parent.name)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(args) -> dict:
    """Train as the arguments say; write ckpt.pt, metrics.json, curve.png. Returns the metrics dict."""
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    if args.init:
        model, init = load_checkpoint(args.init)
        task, cfg = get_task(**init["task"]), model.cfg
    else:
        init = {}
        task = get_task(args.task, seq_len=args.seq_len, data_dir=args.data_dir)
        cfg = build_config(args, task)
        model = SpikingNet(cfg)
    extra, trained = {}, model
    if not args.quant and (args.target or args.mixing):
        raise InputError("--target / --mixing choose the integer network: they need --quant")
    if args.quant:
        if init.get("quant_plan"):
            plan_profile(init["quant_plan"], args.target, args.mixing, where=str(args.init))
            plan = init["quant_plan"]
        else:
            plan = make_plan(model, task.input_sample(), **target_profile(args.target, args.mixing))
        trained, extra = QuantizedNet(model, plan), {"quant_plan": plan}
    tcfg = TrainConfig(algo=args.algo, K=args.K, alpha=args.alpha, lr=args.lr, optimizer=args.optimizer,
                       lr_schedule=args.lr_schedule, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed)
    out = Path(args.out or f"runs/{task.name}-{cfg.neuron}-{args.algo}{'-quant' if args.quant else ''}")
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    metrics = {"quantized": args.quant}
    if args.init:
        metrics["init"] = str(args.init)
    if args.quant:
        metrics[f"test_{task.metric_name}_before_qat"] = evaluate(trained, task, device=device)
        print(f"quantized {task.metric_name} before QAT: {metrics[f'test_{task.metric_name}_before_qat']:.4f}")

    def save(epoch, history):
        metrics.update({"task": task.describe(), "metric": task.metric_name, "epochs_done": epoch,
                        f"test_{task.metric_name}": history[-1][f"test_{task.metric_name}"],
                        "train_seconds": time.perf_counter() - t0, "device": str(device), "history": history})
        save_checkpoint(out / "ckpt.pt", model, task, tcfg.to_dict(), metrics, extra)
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
        plot_curve(history, task.metric_name, out / "curve.png")

    K = tcfg.K if tcfg.algo == "fptt" else task.seq_len
    print(f"training {'quantized ' if args.quant else ''}{cfg.neuron} {[lc.size for lc in cfg.layers]} on {task.name} "
          f"(T={task.seq_len}) with {tcfg.algo.upper()} (K={K}) on {device}")
    fit(trained, task, tcfg, device=device, on_epoch=save, progress=not args.quiet)
    print(f"test {task.metric_name}: {metrics[f'test_{task.metric_name}']:.4f}  "
          f"({metrics['train_seconds']:.0f} s)")
    print(f"wrote {out / 'ckpt.pt'}, {out / 'metrics.json'}, {out / 'curve.png'}")
    return metrics


def main(argv=None) -> int:
    try:
        run(parse_args(argv))
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
