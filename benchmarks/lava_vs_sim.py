"""Lava's CPU backend vs sim/ on the same integer network and inputs, measured side by side in one run.

    python benchmarks/lava_vs_sim.py [--samples 100] [--hidden 128] [--seq-len 8]

Network: a recurrent LTC layer (--hidden) with an LTC-gated readout on rdigits-shaped inputs (random weights,
quantized with export.quantize). Figures: Lava ms/step with synchronous and async models (Loihi2SimCfg,
fixed_pt), sim/ on Lava's clock (batch 1 stream, the same steps) and sim/ batched over all samples; every
output is checked equal to sim/ before a time is printed.
"""
import time

import numpy as np
import torch

from ltcsn.args import ArgumentParser
from ltcsn.train.quantize import quantize
from ltcsn.hardware.lava_net import build_and_run
from ltcsn.sim.simulate import simulate, simulate_stream
from ltcsn.train.model import LayerConfig, NetConfig, SpikingNet


def main():
    p = ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--samples", type=int, default=100)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--seq-len", type=int, default=8)
    p.add_argument("--inputs", type=int, default=8)
    args = p.parse_args()
    torch.manual_seed(0)
    model = SpikingNet(NetConfig((args.inputs,), 10, [LayerConfig(args.hidden)]))
    x = torch.rand(args.samples, args.seq_len, args.inputs)
    qnet, _, _ = quantize(model, x)
    x_int = qnet.encode_input(x.numpy())
    rows = []
    t0 = time.perf_counter()
    want = simulate_stream(qnet, x_int)
    stream_s = time.perf_counter() - t0
    steps = want.shape[0] * want.shape[1]
    for label, async_models in (("Lava, sync models", False), ("Lava, async models", True)):
        run = build_and_run(qnet, x_int, async_models=async_models)
        assert np.array_equal(run.outs, want), f"{label}: outputs differ from sim/"
        rows.append((f"{label} ({run.processes} processes)", run.seconds, run.ms_per_step))
    rows.append(("sim/, Lava clock (batch 1 stream)", stream_s, 1000 * stream_s / steps))
    t0 = time.perf_counter()
    simulate(qnet, x_int)
    batched = time.perf_counter() - t0
    rows.append((f"sim/, batched ({args.samples} samples at once)", batched, 1000 * batched / steps))
    print(f"LTC {args.hidden} recurrent + gated readout, {args.samples} samples x {args.seq_len} steps "
          f"({steps} Lava steps incl. pipeline flush); outputs identical in every run")
    print(f"| {'run':52s} | {'seconds':>8s} | {'ms/step':>8s} | {'vs Lava async':>13s} |")
    print(f"|{'-' * 54}|{'-' * 10}|{'-' * 10}|{'-' * 15}|")
    ref = rows[1][2]
    for name, secs, ms in rows:
        print(f"| {name:52s} | {secs:8.3f} | {ms:8.3f} | {ref / ms:12.1f}x |")


if __name__ == "__main__":
    main()
