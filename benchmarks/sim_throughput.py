"""Throughput of the integer simulator `sim/` next to float PyTorch inference of the same network.

    python benchmarks/sim_throughput.py                          # 2x256 dense, B 256, T 784, 2 threads
    python benchmarks/sim_throughput.py --mixing diag --json sim_throughput.json
    python benchmarks/sim_throughput.py --check-only             # the exactness check alone (~10 s)

Network: recurrent LTC layers (--hidden, default 256,256; --mixing dense|diag) and an LTC-gated readout
(--n-out 10), S-MNIST-like input (one graded value per step, random in [0, 1]), a random float `SpikingNet`
quantized with `export.quantize.quantize`. Measured, in one process, on the same inputs:
  sim:   `sim.simulate.simulate(qnet, x_int)` as it stands (numpy int64; `sim.ops.NumpyOps`);
  float: `SpikingNet.forward(x)` in float32 under torch.no_grad.
neuron-steps = batch * T * (sum of hidden neurons + readout neurons); target sim / float >= 0.5.

Fairness: torch intra-op threads and numpy's BLAS threads (threadpoolctl) are both set to --threads (numpy's
elementwise work is single-threaded whatever the setting; torch's is not). After a short warm-up the two
engines run alternately, --repeats times each, and the best (shortest) run of each is reported, the one least
disturbed by other processes; all runs and the medians are printed too. The CPU time other processes used
just before measuring is printed: on a shared machine, figures are only comparable when it is near zero.
--malloc tuned applies `sim.ops.tune_allocator` (glibc keeps freed memory instead of page-faulting it back in
every step) to the whole process, i.e. to both engines.

Exactness check (always run first): `simulate(..., record=True)` with `sim.ops.NumpyOps` against
`ReferenceOps` below (a verbatim copy of the original, unoptimised NumpyOps), every state of every layer at
every step compared with np.array_equal, on the benchmark network (first --check-steps steps) and on small
LTC (dense, diag), ALIF and LIF networks, then again after changing every weight matrix in place (the weight
cache must notice); plus `NumpyOps.matmul`, `NumpyOps.synaptic_inputs` and the elementwise primitives alone on
values at and beyond the float32 / float64 exactness bounds and the edges of their ranges.
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
from sim import integer as sim_integer  # noqa: E402
from sim.ops import NumpyOps, tune_allocator  # noqa: E402
from sim.qnet import QSynapse, sigmoid_lut  # noqa: E402
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
    p.add_argument("--malloc", default="default", choices=["default", "tuned"],
                   help="tuned: sim.ops.tune_allocator() for the whole process (both engines)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=None)
    return p.parse_args(argv)


def build(hidden, n_out: int, mixing: str, seed: int, n_train: int = 64, t_train: int = 64,
          neuron: str = "ltc", readout: str = "ltc"):
    """Random float SpikingNet and its quantized QNet (input encoding planned on random inputs in [0, 1])."""
    torch.manual_seed(seed)
    cfg = NetConfig(input_shape=(1,), n_out=n_out, layers=[LayerConfig(h) for h in hidden], neuron=neuron,
                    readout=readout)
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
            "max_abs_state": int(max(np.abs(v).max() for r in rec_ref for v in r.values()))}


def _matmul_cases(rng) -> list:
    """NumpyOps.matmul against a plain int64 product: around and beyond the float32 / float64 bounds, fan-in 1,
    binary / bool / 1-D / strided inputs, strided weights, and the weight cache: each weight used twice, then
    changed in place (must be noticed), then a new weight that may reuse the freed one's id."""
    cases = []
    for amax, bmax, k in ((1, 127, 256), (255, 127, 1), (2**23, 127, 512), (2**30, 127, 256),
                          (2**23 - 1, 2**23 - 1, 300), (1, 2**40, 1000), (2**62, 3, 1), (128, 127, 1031)):
        a = rng.integers(-amax, amax + 1, size=(8, k), dtype=np.int64)
        a[0, :] = amax      # force the extremes
        q = rng.integers(-bmax, bmax + 1, size=(16, k), dtype=np.int64)
        q[0, :] = bmax
        ok = all(np.array_equal(NumpyOps.matmul(a, q), a @ q.T) for _ in range(2))
        q[1, 0] -= 1                                    # in place: the cache must not be used any more
        ok &= np.array_equal(NumpyOps.matmul(a, q), a @ q.T)
        del q
        q = rng.integers(-bmax, bmax + 1, size=(16, k), dtype=np.int64)   # may get the freed id
        got = NumpyOps.matmul(a, q)
        cases.append(bool(ok and got.dtype == np.int64 and np.array_equal(got, a @ q.T)))
    s = rng.random((12, 256)) < 0.3
    q = rng.integers(-127, 128, size=(64, 512), dtype=np.int64)
    for x in (s, s.astype(np.int64), s.astype(np.int64)[::2], s.astype(np.int64)[3]):
        for qq in (q[:, :256], q[:, ::2], np.ascontiguousarray(q[:, ::2])):
            cases.append(bool(np.array_equal(NumpyOps.matmul(x, qq), x.astype(np.int64) @ qq.T)))
    return cases


def _reference_inputs(syn_by_part, sources) -> dict:
    """sim.integer.synaptic_input per part, on ReferenceOps."""
    out = {}
    for part, syns in syn_by_part.items():
        acc = 0
        for syn in syns:
            acc = acc + ReferenceOps.shl(ReferenceOps.matmul(sources[syn.source], syn.q), syn.shift)
        out[part] = acc
    return out


def _same_inputs(got: dict, want: dict) -> bool:
    return got.keys() == want.keys() and all(
        np.array_equal(got[p], want[p]) and np.asarray(got[p]).dtype == np.asarray(want[p]).dtype for p in want)


def _synaptic_inputs_cases(rng, qnet, x_int) -> list:
    """NumpyOps.synaptic_inputs (all parts of a layer in one folded product) against the per-synapse reference:
    the benchmark net's layers on real inputs, and synthetic layers with graded and binary sources, shifts from
    -2 to 31 and values that force the float32, float64 and int64 paths; each called twice, then with one
    weight changed in place and with one shift changed."""
    cases = []
    _, rec = simulate(qnet, x_int[:, :8], record=True)
    below = [x_int[:, 7].reshape(x_int.shape[0], -1)] + [r["s"][:, 7] for r in rec[:-1]]
    for layer, r, x in zip((*qnet.layers, qnet.readout), rec, below):
        syn = layer.syn if isinstance(layer.syn, dict) else {"d": layer.syn}
        src = {"input": x, "self": r["s"][:, 6] if "s" in r else None}
        cases.append(all(_same_inputs(NumpyOps.synaptic_inputs(syn, src), _reference_inputs(syn, src))
                         for _ in range(2)))
    for xmax, shifts in ((255, (0, 3, 7, -2, 12, 5)), (2**20, (0, 3, 7, -2, 12, 5)), (2**30, (31, 20, 3, -2, 0, 9)),
                         (1, (0, 3, 7, -2, 2, 5)), (1, (31, 0, 1, 2, 3, 4))):
        x = rng.integers(0, xmax + 1, size=(5, 64), dtype=np.int64)
        x[0] = xmax
        s = (rng.random((5, 32)) < 0.4).astype(np.int64)
        qs = [rng.integers(-127, 128, size=(n, k), dtype=np.int64) for n, k in ((16, 64), (16, 32), (8, 64),
                                                                             (8, 32), (16, 64), (16, 1))]
        syn = {"d": [QSynapse(qs[0], shifts[0], "input"), QSynapse(qs[1], shifts[1], "self")],
               "m": [QSynapse(qs[2], shifts[2], "input"), QSynapse(qs[3], shifts[3], "self")],
               "a": [QSynapse(qs[4], shifts[4], "input")], "e": [],
               "g": [QSynapse(qs[5], shifts[5], "one")]}
        src = {"input": x, "self": s, "one": x[:, :1]}
        ok = all(_same_inputs(NumpyOps.synaptic_inputs(syn, src), _reference_inputs(syn, src)) for _ in range(2))
        qs[2][3, 5] = -qs[2][3, 5] - 1                  # in place
        ok &= _same_inputs(NumpyOps.synaptic_inputs(syn, src), _reference_inputs(syn, src))
        syn["d"][1].shift += 1                          # a shift changed
        ok &= _same_inputs(NumpyOps.synaptic_inputs(syn, src), _reference_inputs(syn, src))
        cases.append(bool(ok))
    return cases


def _elementwise_cases(rng) -> list:
    """The elementwise primitives against ReferenceOps on random values and the edges of their ranges."""
    edges = np.array([0, 1, -1, 2047, 2048, 4095, 4096, -4095, -4096, -4097, 2**23 - 1, 2**23, -2**23,
                      -2**23 + 1, 2**24, 2**31 - 1, 2**31, -2**31, -2**31 - 1, 2**32 + 5, -2**40, 2**50,
                      2**62, -2**62], dtype=np.int64)
    x = np.concatenate([edges, rng.integers(-2**40, 2**40, 5000), rng.integers(-2**25, 2**25, 5000),
                        rng.integers(-9000, 9000, 5000)]).reshape(-1, 16)
    x_copy = x.copy()
    lut = sigmoid_lut()
    pairs = [(NumpyOps.rshr(x, 12), ReferenceOps.rshr(x, 12)), (NumpyOps.rshr(x, 1), ReferenceOps.rshr(x, 1)),
             (NumpyOps.trunc12(x), ReferenceOps.trunc12(x)), (NumpyOps.sat(x, 24), ReferenceOps.sat(x, 24)),
             (NumpyOps.wrap32(x), ReferenceOps.wrap32(x)), (NumpyOps.wrap_once24(x), ReferenceOps.wrap_once24(x)),
             (NumpyOps.lut(lut, x, 12), ReferenceOps.lut(lut, x, 12)),
             (NumpyOps.lut(lut, x, 8), ReferenceOps.lut(lut, x, 8)),
             (NumpyOps.spike(x, x[::-1], 12), ReferenceOps.spike(x, x[::-1], 12))]
    for k in (-13, -1, 0, 3):
        pairs.append((NumpyOps.shl(x, k), ReferenceOps.shl(x, k)))
    ok = [bool(a.dtype == b.dtype and np.array_equal(a, b)) for a, b in pairs]
    ok.append(bool(np.array_equal(x, x_copy)))          # no argument modified
    return ok


def exactness_check(args, hidden, model_qnet) -> dict:
    rng = np.random.default_rng(args.seed)
    _, qnet = model_qnet
    x = inputs(args.batch, min(args.check_steps, args.seq_len), args.seed)
    cases = [_compare(qnet, qnet.encode_input(x.numpy()), f"bench net {hidden} {args.mixing} "
                      f"B={args.batch} T={x.shape[1]}")]
    small = [("ltc", "dense", "ltc"), ("ltc", "diag", "ltc"), ("alif", "dense", "const"), ("lif", "dense", "ltc")]
    for neuron, mixing, readout in small:
        _, net = build([32, 24], 5, mixing, args.seed + 7, neuron=neuron, readout=readout)
        xs = inputs(6, 200, args.seed + 7)
        cases.append(_compare(net, net.encode_input(xs.numpy()),
                              f"small {neuron} net [32,24] {mixing} readout {readout} B=6 T=200"))
        for lay in (*net.layers, net.readout):          # change every weight matrix in place, run again
            for syn in (lay.syn if isinstance(lay.syn, list) else [x for v in lay.syn.values() for x in v]):
                syn.q[0] = -syn.q[0]
            for m in getattr(lay, "mix", {}).values():
                m[0] = -m[0]
        cases.append(_compare(net, net.encode_input(xs.numpy()),
                              f"small {neuron} net [32,24] {mixing} readout {readout} B=6 T=200, weights changed"))
    matmul = _matmul_cases(rng)
    fused = _synaptic_inputs_cases(rng, qnet, qnet.encode_input(x.numpy()))
    elementwise = _elementwise_cases(rng)
    ok = all(c["identical"] for c in cases) and all(matmul) and all(fused) and all(elementwise)
    return {"passed": bool(ok), "cases": cases, "matmul_cases": matmul, "synaptic_inputs_cases": fused,
            "elementwise_cases": elementwise}


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


def other_cpu_busy(seconds: float = 2.0) -> float:
    """Fraction of all CPUs busy over `seconds` while this process sleeps (i.e. used by other processes)."""
    def sample():
        with open("/proc/stat") as f:
            v = [int(t) for t in f.readline().split()[1:]]
        return sum(v), v[3] + v[4]
    try:
        t0, i0 = sample()
        time.sleep(seconds)
        t1, i1 = sample()
        return 1.0 - (i1 - i0) / max(1, t1 - t0)
    except OSError:
        return float("nan")


def main(argv=None):
    args = parse_args(argv)
    hidden = [int(h) for h in args.hidden.split(",")]
    torch.set_num_threads(args.threads)
    limits = threadpool_limits(limits=args.threads, user_api="blas")
    blas = [f"{i['internal_api']} {i['num_threads']}" for i in threadpool_info() if i["user_api"] == "blas"]
    malloc = "tuned (sim.ops.tune_allocator)" if args.malloc == "tuned" and tune_allocator() else "glibc default"
    fused = hasattr(sim_integer, "synaptic_inputs")
    print(f"threads: torch {torch.get_num_threads()}, numpy BLAS {', '.join(blas)}; {os.cpu_count()} cores; "
          f"malloc {malloc}; sim.integer folds synapses through NumpyOps.synaptic_inputs: {fused}")

    model, qnet = build(hidden, args.n_out, args.mixing, args.seed)
    check = exactness_check(args, hidden, (model, qnet))
    for c in check["cases"]:
        print(f"exactness: {c['case']}: {'identical' if c['identical'] else 'DIFFERENT'} "
              f"(spike rates {', '.join(f'{r:.3f}' for r in c['spike_rates'])}; max|state| {c['max_abs_state']})")
    print(f"exactness: matmul cases {sum(check['matmul_cases'])}/{len(check['matmul_cases'])} identical, "
          f"synaptic_inputs cases {sum(check['synaptic_inputs_cases'])}/{len(check['synaptic_inputs_cases'])}, "
          f"elementwise primitives {sum(check['elementwise_cases'])}/{len(check['elementwise_cases'])}")
    print(f"exactness check: {'PASS' if check['passed'] else 'FAIL'}")
    if args.check_only:
        return 0 if check["passed"] else 1

    x = inputs(args.batch, args.seq_len, args.seed)
    x_int = qnet.encode_input(x.numpy())
    time_sim(qnet, x_int[:, :20])                 # warm-up: BLAS thread pools, allocator, weight cache
    time_float(model, x[:, :20])
    busy = other_cpu_busy()
    print(f"other processes used {100 * busy:.0f} % of the CPUs just before measuring; load average "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}")
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
    net = f"{'x'.join(map(str, hidden))} LTC rec + {args.n_out} ro, {args.mixing}"
    whole = tuple(out_sim.shape) == (args.batch, args.seq_len, args.n_out) == tuple(out_float.shape)
    print(f"sim ran the whole sequence: {whole} (sim output {tuple(out_sim.shape)} {out_sim.dtype}, "
          f"float output {tuple(out_float.shape)} {out_float.dtype}; sim's last-step readout nonzero in "
          f"{int(np.count_nonzero(out_sim[:, -1]))} of {out_sim[:, -1].size} entries)")
    print(f"runs (s): sim {[round(t, 2) for t in t_sim]}, float {[round(t, 2) for t in t_float]}; "
          f"medians {statistics.median(t_sim):.2f} / {statistics.median(t_float):.2f}; "
          f"reported: the best of {args.repeats} each; neuron-steps {args.batch} x {args.seq_len} x {neurons}")
    hdr = (f"| {'network':<31} | batch |    T | threads | sim s  | float s | sim neuron-steps/s "
           f"| float neuron-steps/s | sim/float |")
    print(hdr)
    print("|" + "|".join("-" * len(c) for c in hdr.split("|")[1:-1]) + "|")
    print(f"| {net:<31} | {args.batch:>5} | {args.seq_len:>4} | {args.threads:>7} | {best_sim:>6.2f} | "
          f"{best_float:>7.2f} | {rate_sim:>18.3e} | {rate_float:>20.3e} | {ratio:>9.3f} |")
    passed = ratio >= TARGET_RATIO and check["passed"] and whole
    print(f"{'PASS' if passed else 'FAIL'}: sim/float = {ratio:.3f} (target >= {TARGET_RATIO}); "
          f"exactness {'PASS' if check['passed'] else 'FAIL'}")
    if args.json:
        args.json.write_text(json.dumps({
            "network": net, "hidden": hidden, "n_out": args.n_out, "mixing": args.mixing, "batch": args.batch,
            "seq_len": args.seq_len, "threads": args.threads, "blas": blas, "malloc": malloc,
            "sim_integer_folds_synapses": fused, "repeats": args.repeats, "neuron_steps": steps,
            "sim_s": t_sim, "float_s": t_float, "best_sim_s": best_sim, "best_float_s": best_float,
            "sim_neuron_steps_per_s": rate_sim, "float_neuron_steps_per_s": rate_float, "ratio": ratio,
            "target_ratio": TARGET_RATIO, "whole_sequence": whole, "other_cpu_busy_before": busy,
            "exactness": check, "passed": passed}, indent=2))
    limits.restore_original_limits()
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
