"""Throughput of the integer simulator `sim/` next to float PyTorch inference of the same network.

What is measured: neuron-steps per second of `sim.simulate.simulate(qnet, x_int)` (numpy int64, products in
float BLAS under the exactness bound) on a recurrent LTC network (default 2 x 256, S-MNIST-like: one graded
input per step, T = 784, batch 256), and of the float model it was quantized from (`SpikingNet.forward`,
float32, under torch.no_grad) on the same inputs, in the same process, on the same number of threads.
neuron-steps = batch * T * (sum of hidden neurons + readout neurons). Target: sim / float >= 0.5.

Fairness: torch intra-op threads and numpy's BLAS threads (threadpoolctl) are both set to --threads; the two
engines run alternately, --repeats times each after one short warm-up, and the best (shortest) time of each
is reported (the best is the least disturbed by other processes; the median is printed too). The load average
is printed before measuring: other processes on the machine distort the figures.

Exactness check (always on; --check-only runs just this): `simulate(..., record=True)` with the current
`sim.ops.NumpyOps` against `ReferenceOps` below (a verbatim copy of the original, unoptimised NumpyOps), on
the benchmark network for the first --check-steps steps and on small dense and diag networks, comparing every
recorded state with np.array_equal; plus `NumpyOps.matmul` against an int64 product on operands beyond the
float exactness bounds (the int64 fallback path).

    python benchmarks/sim_throughput.py                       # 2x256, B 256, T 784, 2 threads
    python benchmarks/sim_throughput.py --mixing diag --json sim_throughput.json
"""
import argparse
import json
import os
from pathlib import Path
import statistics
import sys
import time

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_info, threadpool_limits  # noqa: E402
import torch  # noqa: E402

from export.quantize import quantize  # noqa: E402
from sim import lava_fixed as lf  # noqa: E402
from sim.ops import NumpyOps  # noqa: E402
from sim.simulate import simulate  # noqa: E402
from train.model import LayerConfig, NetConfig, SpikingNet  # noqa: E402

TARGET_RATIO = 0.5


class ReferenceOps:
    """The original `sim.ops.NumpyOps` (before optimisation), kept verbatim as the exactness reference."""
    name = "numpy-reference"

    @staticmethod
    def matmul(x, q):
        return lf.exact_matmul(x, np.asarray(q).T)

    @staticmethod
    def shl(x, k: int):
        return x << k if k >= 0 else x >> -k

    @staticmethod
    def rshr(x, k: int):
        return (x + (1 << (k - 1))) >> k

    @staticmethod
    def trunc12(x):
        return lf.trunc_shift(x, 12)

    @staticmethod
    def sat(x, bits: int):
        return lf.saturate(x, bits, symmetric=True)

    @staticmethod
    def wrap32(x):
        return lf.wrap(x, 32)

    @staticmethod
    def wrap_once24(x):
        return lf.wrap_once(x, 24)

    @staticmethod
    def lut(table, z, frac_bits: int):
        return np.asarray(table)[np.clip((z >> (frac_bits - 4)) + 128, 0, 255)]

    @staticmethod
    def spike(v, theta, frac_bits: int):
        return (v > theta).astype(np.int64)

    @staticmethod
    def zeros(batch: int, n: int):
        return np.zeros((batch, n), dtype=np.int64)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--seq-len", type=int, default=784)
    p.add_argument("--hidden", default="256,256", help="comma-separated recurrent LTC layer sizes")
    p.add_argument("--n-out", type=int, default=10)
    p.add_argument("--threads", type=int, default=2, help="torch threads and numpy BLAS threads")
    p.add_argument("--mixing", default="dense", choices=["dense", "diag"])
    p.add_argument("--repeats", type=int, default=3, help="timed runs of each engine; the best is reported")
    p.add_argument("--check-steps", type=int, default=100, help="steps of the exactness check on the big net")
    p.add_argument("--check-only", action="store_true", help="run the exactness check only")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=None)
    return p.parse_args(argv)


def build(hidden, n_out: int, mixing: str, seed: int, n_train: int = 64, t_train: int = 64):
    """Random float SpikingNet and its quantized QNet (input encoding planned on random inputs in [0, 1])."""
    torch.manual_seed(seed)
    cfg = NetConfig(input_shape=(1,), n_out=n_out, layers=[LayerConfig(h) for h in hidden])
    model = SpikingNet(cfg).float().eval()
    x_train = torch.rand(n_train, t_train, 1)
    qnet, _, _ = quantize(model, x_train, mixing=mixing)
    return model, qnet


def inputs(batch: int, seq_len: int, seed: int):
    g = torch.Generator().manual_seed(seed + 1)
    return torch.rand(batch, seq_len, 1, generator=g)


# ---------------------------------------------------------------- exactness
def _compare(qnet, x_int, label: str) -> dict:
    out_new, rec_new = simulate(qnet, x_int, record=True, ops=NumpyOps)
    out_ref, rec_ref = simulate(qnet, x_int, record=True, ops=ReferenceOps)
    ok = np.array_equal(out_new, out_ref)
    for rn, rr in zip(rec_new, rec_ref):
        for k in rr:
            ok &= np.array_equal(rn[k], rr[k])
    rates = [float(r["s"].mean()) for r in rec_ref if "s" in r]
    return {"case": label, "identical": bool(ok), "spike_rates": rates,
            "max_abs_u": int(max(np.abs(r["u"]).max() for r in rec_ref))}


def _matmul_fallback_cases(rng) -> list:
    """NumpyOps.matmul versus a plain int64 product on operands around and beyond the float bounds."""
    cases = []
    for amax, bmax, k in ((1, 127, 256), (255, 127, 1), (2**23, 127, 512), (2**30, 127, 256),
                          (2**23 - 1, 2**23 - 1, 300), (1, 2**40, 1000)):
        a = rng.integers(-amax, amax + 1, size=(8, k), dtype=np.int64)
        a[0, :] = amax      # force the extremes
        q = rng.integers(-bmax, bmax + 1, size=(16, k), dtype=np.int64)
        q[0, :] = bmax
        want = a @ q.T
        got = NumpyOps.matmul(a, q)
        got2 = NumpyOps.matmul(a, q)          # again (cached paths)
        cases.append(bool(got.dtype == np.int64 and np.array_equal(got, want) and np.array_equal(got2, want)))
    s = (rng.random((8, 256)) < 0.3).astype(np.int64)   # spikes
    q = rng.integers(-127, 128, size=(64, 256), dtype=np.int64)
    cases.append(bool(np.array_equal(NumpyOps.matmul(s, q), s @ q.T)))
    return cases


def exactness_check(args, hidden, model_qnet) -> dict:
    rng = np.random.default_rng(args.seed)
    _, qnet = model_qnet
    x = inputs(args.batch, min(args.check_steps, args.seq_len), args.seed)
    cases = [_compare(qnet, qnet.encode_input(x.numpy()), f"bench net {hidden} {args.mixing} "
                      f"B={args.batch} T={x.shape[1]}")]
    for mixing in ("dense", "diag"):
        _, small = build([32, 24], 5, mixing, args.seed + 7)
        xs = inputs(6, 200, args.seed + 7)
        cases.append(_compare(small, small.encode_input(xs.numpy()), f"small net [32,24] {mixing} B=6 T=200"))
    fallback = _matmul_fallback_cases(rng)
    ok = all(c["identical"] for c in cases) and all(fallback)
    return {"passed": bool(ok), "cases": cases, "matmul_bound_cases": fallback}


# ---------------------------------------------------------------- timing
def time_sim(qnet, x_int):
    t0 = time.perf_counter()
    out = simulate(qnet, x_int)
    return time.perf_counter() - t0, out


def time_float(model, x):
    t0 = time.perf_counter()
    with torch.no_grad():
        out, _ = model(x)
    return time.perf_counter() - t0, out


def main(argv=None):
    args = parse_args(argv)
    hidden = [int(h) for h in args.hidden.split(",")]
    torch.set_num_threads(args.threads)
    limits = threadpool_limits(limits=args.threads, user_api="blas")
    blas = [(i["internal_api"], i["num_threads"]) for i in threadpool_info() if i["user_api"] == "blas"]
    print(f"threads: torch {torch.get_num_threads()}, numpy BLAS {blas}; load average "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())} on {os.cpu_count()} cores")

    model, qnet = build(hidden, args.n_out, args.mixing, args.seed)
    check = exactness_check(args, hidden, (model, qnet))
    for c in check["cases"]:
        print(f"exactness: {c['case']}: {'identical' if c['identical'] else 'DIFFERENT'} "
              f"(spike rates {', '.join(f'{r:.3f}' for r in c['spike_rates'])}; max|u| {c['max_abs_u']})")
    print(f"exactness: matmul bound / fallback cases {check['matmul_bound_cases']}")
    print(f"exactness check: {'PASS' if check['passed'] else 'FAIL'}")
    if args.check_only:
        return 0 if check["passed"] else 1

    x = inputs(args.batch, args.seq_len, args.seed)
    x_int = qnet.encode_input(x.numpy())
    # warm-up (BLAS thread pools, allocator) on a short prefix
    time_sim(qnet, x_int[:, :20])
    time_float(model, x[:, :20])
    t_sim, t_float = [], []
    for _ in range(args.repeats):
        dt, out_sim = time_sim(qnet, x_int)
        t_sim.append(dt)
        dt, out_float = time_float(model, x)
        t_float.append(dt)
    neurons = sum(hidden) + args.n_out
    steps = args.batch * args.seq_len * neurons
    best_sim, best_float = min(t_sim), min(t_float)
    rate_sim, rate_float = steps / best_sim, steps / best_float
    ratio = rate_sim / rate_float
    net = f"{'x'.join(map(str, hidden))} LTC rec + {args.n_out} ro ({args.mixing})"
    print(f"sim ran the whole sequence: sim output {tuple(out_sim.shape)} {out_sim.dtype}, "
          f"float output {tuple(out_float.shape)} {out_float.dtype} (expected ({args.batch}, {args.seq_len}, "
          f"{args.n_out}))")
    print(f"best of {args.repeats} runs each (median sim {statistics.median(t_sim):.2f} s, "
          f"float {statistics.median(t_float):.2f} s); all sim {[round(t, 2) for t in t_sim]}, "
          f"float {[round(t, 2) for t in t_float]}")
    hdr = f"| {'network':<34} | batch | T    | threads | sim s  | float s | sim n-steps/s | float n-steps/s | sim/float |"
    print(hdr)
    print("|" + "|".join("-" * (len(c)) for c in hdr.split("|")[1:-1]) + "|")
    print(f"| {net:<34} | {args.batch:>5} | {args.seq_len:>4} | {args.threads:>7} | {best_sim:>6.2f} | "
          f"{best_float:>7.2f} | {rate_sim:>13.3e} | {rate_float:>15.3e} | {ratio:>9.3f} |")
    passed = ratio >= TARGET_RATIO and check["passed"]
    print(f"{'PASS' if passed else 'FAIL'}: sim/float = {ratio:.3f} (target >= {TARGET_RATIO}); "
          f"exactness {'PASS' if check['passed'] else 'FAIL'}")
    if args.json:
        args.json.write_text(json.dumps({
            "network": net, "hidden": hidden, "n_out": args.n_out, "mixing": args.mixing, "batch": args.batch,
            "seq_len": args.seq_len, "threads": args.threads, "blas": blas, "repeats": args.repeats,
            "neuron_steps": steps, "sim_s": t_sim, "float_s": t_float, "best_sim_s": best_sim,
            "best_float_s": best_float, "sim_neuron_steps_per_s": rate_sim,
            "float_neuron_steps_per_s": rate_float, "ratio": ratio, "target_ratio": TARGET_RATIO,
            "exactness": check, "passed": passed, "loadavg_before": os.getloadavg()}, indent=2))
    limits.restore_original_limits()
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
