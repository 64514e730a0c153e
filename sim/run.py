"""Evaluate the integer network of a checkpoint or NIR file on its task's test set with `sim/`.

    python sim/run.py runs/rdigits-ltc-fptt/ckpt.pt [--samples N] [--mixing dense|diag] [--workers N]
    python sim/run.py model.nir
"""
import argparse
import os
import sys
import time

from sim.simulate import predict, simulate_parallel


def load_qnet(path: str, mixing: str = "dense"):
    """Checkpoint (.pt, quantized on the fly, reusing a stored QAT plan) or NIR file -> (QNet, float model or None)."""
    if str(path).endswith(".nir"):
        from export.nir_read import read_qnet
        return read_qnet(path), None
    from export.quantize import quantize
    from train.checkpoint import load_checkpoint
    from train.tasks import get_task
    model, ckpt = load_checkpoint(path)
    task = get_task(**ckpt["task"])
    qnet, _, _ = quantize(model, task.input_sample(), mixing, plan=ckpt.get("quant_plan"), task=ckpt["task"])
    return qnet, model


def evaluate_qnet(qnet, task, samples: int = None, batch_size: int = 256, workers: int = 1):
    """Test-set score of the integer network: accuracy (0..1) or MSE. Returns (score, samples, seconds).
    workers > 1: batches of batch_size * workers samples, each split over that many processes (`simulate_parallel`)."""
    from tqdm.auto import tqdm
    t0, score, count = time.perf_counter(), 0.0, 0
    batch_size *= max(workers, 1)
    n_batches = -(-min(samples or len(task.x_test), len(task.x_test)) // batch_size)
    for x, y in tqdm(task.test_batches(batch_size, samples), total=n_batches, desc="sim", leave=False):
        pred = predict(qnet, simulate_parallel(qnet, qnet.encode_input(x.numpy()), workers))
        y = y.numpy()
        score += float((pred == y).sum()) if task.kind == "classification" else float(((pred - y) ** 2).mean(-1).sum())
        count += len(x)
    return score / count, count, time.perf_counter() - t0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Evaluate a quantized network with the integer simulator.")
    p.add_argument("model", help="checkpoint (.pt) or NIR file (.nir)")
    p.add_argument("--samples", type=int, default=None, help="test samples (default: all)")
    p.add_argument("--mixing", default="dense", choices=["dense", "diag"], help="checkpoints: LTC mixing mode")
    p.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)),
                   help="processes sharing each batch (default: every core this process may use)")
    args = p.parse_args(argv)
    from train.errors import InputError
    from train.tasks import get_task
    try:
        qnet, _ = load_qnet(args.model, args.mixing)
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
