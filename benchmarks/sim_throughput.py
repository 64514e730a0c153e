"""Throughput of the integer simulator `sim/` next to float PyTorch inference of the same network, one run.

    python benchmarks/sim_throughput.py [--batch 256] [--seq-len 784] [--hidden 256,256] [--threads 2] [--workers 2]

Network: recurrent LTC layers (default 2 x 256, dense mixing) and an LTC-gated readout of 10, S-MNIST-like
input (one graded value per step, random in [0, 1]); quantized with export.quantize. Measured: seconds of
`sim.simulate.simulate(qnet, x_int)` (numpy int64, products in float32 / float64 BLAS under the exactness
bounds) and of `SpikingNet.forward` (float32, torch.no_grad) on the same inputs, each the best of --repeats
runs, torch and BLAS limited to --threads; and of `sim.simulate.simulate_parallel` with the batch split over
--workers processes (one BLAS thread each), the way `python sim/run.py` uses every core.
neuron-steps = batch * T * (hidden neurons + readout).
Also measured, in one more sim run: the seconds spent inside the exact products (`NumpyOps.matmul`, conversions
included), and the products' floating-point work in units of one [batch x n] @ [n x n] float32 product
(float64 counted as two), next to the same count for the float network.
Target: sim / float >= 0.5.
"""
import json
import time

import numpy as np

from threadpoolctl import threadpool_limits
import torch

from ltcsn.args import ArgumentParser
from ltcsn.train.quantize import quantize
from ltcsn.sim.ops import NumpyOps
from ltcsn.sim.simulate import simulate, simulate_parallel
from ltcsn.train.model import LayerConfig, NetConfig, SpikingNet


def best_time(fn, repeats: int):
    """(seconds, result) of the fastest of `repeats` calls."""
    best = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        took = time.perf_counter() - t0
        if best is None or took < best[0]:
            best = (took, out)
    return best


class TimedOps(NumpyOps):
    """NumpyOps that adds up the seconds spent in products and their work (multiply-adds, float64 x 2)."""
    seconds = 0.0
    work = 0

    @classmethod
    def run(cls, qnet, x_int):
        """simulate() with fresh counters; returns (seconds in products, work)."""
        cls.seconds, cls.work = 0.0, 0
        simulate(qnet, x_int, ops=cls)
        return cls.seconds, cls.work

    @classmethod
    def matmul(cls, x, q):
        t0 = time.perf_counter()
        out = NumpyOps.matmul(x, q)
        cls.seconds += time.perf_counter() - t0
        double = 2 if q.rmatmul_dtype(x) == np.float64 else 1
        cls.work += double * out.shape[0] * q.codes.shape[0] * q.codes.shape[1]
        return out


def float_work(model, batch: int) -> int:
    """Multiply-adds of one float step: every nn.Linear weight times the batch."""
    return batch * sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))


def main():
    p = ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--seq-len", type=int, default=784)
    p.add_argument("--hidden", default="256,256")
    p.add_argument("--mixing", default="dense", choices=["dense", "diag"])
    p.add_argument("--threads", type=int, default=2, help="torch and BLAS threads")
    p.add_argument("--workers", type=int, default=2, help="processes of the simulate_parallel row (1: no row)")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    hidden = [int(h) for h in args.hidden.split(",")]
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    model = SpikingNet(NetConfig((1,), 10, [LayerConfig(h) for h in hidden])).eval()
    x = torch.rand(args.batch, args.seq_len, 1)
    qnet, _, _ = quantize(model, x[:64], args.mixing)
    x_int = qnet.encode_input(x.numpy())
    with threadpool_limits(args.threads), torch.no_grad():
        out = simulate(qnet, x_int)
        assert out.shape == (args.batch, args.seq_len, 10)
        sim_s, (product_s, work) = best_time(lambda: TimedOps.run(qnet, x_int), args.repeats)
        float_s, _ = best_time(lambda: model(x), args.repeats)
        par_s, par_out = best_time(lambda: simulate_parallel(qnet, x_int, args.workers), args.repeats) \
            if args.workers > 1 else (None, out)
    assert np.array_equal(par_out, out)
    unit = args.batch * hidden[-1] * hidden[-1]      # one [B x n] @ [n x n] product
    sim_work, fl_work = work / args.seq_len / unit, float_work(model, args.batch) / unit
    steps = args.batch * args.seq_len * (sum(hidden) + 10)
    res = {"network": f"{'x'.join(map(str, hidden))} LTC ({args.mixing}) + 10 readout", "batch": args.batch,
           "T": args.seq_len, "threads": args.threads, "sim_s": sim_s, "float_s": float_s,
           "sim_neuron_steps_per_s": steps / sim_s, "float_neuron_steps_per_s": steps / float_s,
           "ratio": float_s / sim_s, "sim_product_s": product_s,
           "sim_products_per_step": sim_work, "float_products_per_step": fl_work,
           "workers": args.workers, "sim_parallel_s": par_s, "ratio_parallel": par_s and float_s / par_s}
    print("| network | batch | T | threads | sim s | float s | sim neuron-steps/s | float neuron-steps/s | sim/float |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {res['network']} | {args.batch} | {args.seq_len} | {args.threads} | {sim_s:.2f} | {float_s:.2f} | "
          f"{res['sim_neuron_steps_per_s']:.3g} | {res['float_neuron_steps_per_s']:.3g} | {res['ratio']:.2f} |")
    if par_s:
        print(f"| {res['network']}, sim/ in {args.workers} processes | {args.batch} | {args.seq_len} "
              f"| {args.threads} | "
              f"{par_s:.2f} | {float_s:.2f} | {steps / par_s:.3g} | {res['float_neuron_steps_per_s']:.3g} | "
              f"{res['ratio_parallel']:.2f} |")
    print(f"sim: {product_s:.2f} s of {sim_s:.2f} s in exact products ({100 * product_s / sim_s:.0f} %, conversions"
          f" included); work per step in [B x n] @ [n x n] float32 products: sim {sim_work:.1f}, float {fl_work:.1f}"
          f" (work ratio float/sim {fl_work / sim_work:.2f})")
    best = max(res["ratio"], res["ratio_parallel"] or 0)
    print(f"{'PASS' if best >= 0.5 else 'FAIL'}: sim/float = {best:.2f} (target >= 0.5)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
