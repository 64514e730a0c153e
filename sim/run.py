"""Evaluate the integer network of a checkpoint or NIR file on its task's test set with `sim/`.

    python sim/run.py runs/rdigits-ltc-fptt/ckpt.pt [--samples N] [--target loihi2|host] [--workers N]
    python sim/run.py model.nir [--dt S] [--producer NAME]
"""
import argparse
import os
import sys

from ltcsn.export.load import add_reading_args, load_model, reading_lines
from ltcsn.sim.simulate import evaluate_qnet


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Evaluate a quantized network with the integer simulator.")
    p.add_argument("model", help="checkpoint (.pt) or NIR file (.nir)")
    p.add_argument("--samples", type=int, default=None, help="test samples (default: all)")
    p.add_argument("--target", default=None, choices=["loihi2", "host"],
                   help="checkpoints without a QAT plan: chip profile (default host; docs/fixed_point.md)")
    p.add_argument("--mixing", default=None, choices=["dense", "diag"],
                   help="checkpoints without a QAT plan: LTC mixing mode (default: the target's)")
    p.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)),
                   help="processes sharing each batch (default: every core this process may use)")
    add_reading_args(p)
    args = p.parse_args(argv)
    from ltcsn.train.errors import InputError
    from ltcsn.train.tasks import get_task
    try:
        qnet, _, info = load_model(args.model, args.mixing, dt=args.dt, producer=args.producer,
                                   target=args.target)
        for line in reading_lines(info):
            print(line)
        if not qnet.task.get("name"):
            raise InputError(f"{args.model}: no task recorded, nothing to evaluate on")
        task = get_task(**qnet.task)
    except (InputError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    score, n, secs = evaluate_qnet(qnet, task, args.samples, workers=args.workers)
    print(f"{task.name}: integer {task.metric_name} {score:.4f} on {n} test samples "
          f"({secs:.2f} s, {n * task.seq_len / secs:.0f} sample-steps/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
