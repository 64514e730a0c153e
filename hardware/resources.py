"""Loihi 2 resource report of an integer network, before mapping.

    python hardware/resources.py model.nir [--json report.json] [--dt S] [--producer NAME]

Per layer: neurons, synapses, fan-in, bit widths, cores needed, and where it can run: chip-native (Lava's LIF),
a custom neuron program (LTC / ALIF / readout with neuron-local terms only: needs Intel's lava-loihi microcode),
or host CPU only (dense membrane mixing reads other neurons' state). Errors name the layer that cannot fit.
Exit status 1 when anything cannot fit.

Per-core limits (stated assumptions, from Intel's published Loihi 2 figures: 128 cores, up to 1 M neurons and
120 M synapses per chip): 8,192 neurons and 937,500 synapses (120 M / 128) per core, fan-in <= 4,096 per neuron,
Dense weight exponent in [-8, 7]; state widths from lava.md (u, v 24-bit; decays 12-bit; threshold mantissa
17-bit; bias 13-bit mantissa + 3-bit exponent; 8-bit weights).
"""
import argparse
import json
import math
import sys

import numpy as np

from ltcsn.sim.qnet import LUT_HALF, QLif, sends

CORES_PER_CHIP = 128
NEURONS_PER_CORE = 8192
SYNAPSES_PER_CORE = 120_000_000 // 128
MAX_FAN_IN = 4096
WEIGHT_EXP_RANGE = (-8, 7)
INT32_MAX = 2**31 - 1


def layer_resources(layer, name: str, input_max: int) -> dict:
    """One layer's row of the report; input_max: the largest input value of its "input" synapses."""
    syns = layer.syn if isinstance(layer, QLif) else [s for part in layer.syn.values() for s in part]
    parts = 1 if isinstance(layer, QLif) else len(layer.syn)
    fan_in = sum(np.shape(s.q)[1] for s in syns) // parts
    synapses = sum(int(np.size(s.q)) for s in syns)
    nonzero = sum(int(np.count_nonzero(s.q)) for s in syns)
    weight_exps = [s.shift - 1 for s in syns]
    errors = []
    if fan_in > MAX_FAN_IN:
        errors.append(f"{name}: fan-in {fan_in} exceeds {MAX_FAN_IN}")
    bad_exp = [e for e in weight_exps if not WEIGHT_EXP_RANGE[0] <= e <= WEIGHT_EXP_RANGE[1]]
    if bad_exp:
        errors.append(f"{name}: Dense weight exponent {bad_exp[0]} outside {list(WEIGHT_EXP_RANGE)}")
    for s in syns:  # worst case of Lava's int32 synaptic sum: 2q * x * fan-in, shifted
        if s.wide:      # 24-bit membrane payloads: the spec wraps this sum as Lava does (docs/fixed_point.md)
            continue
        x_max = input_max if s.source == "input" else 1
        worst = 2 * int(np.abs(s.q).max(initial=0)) * x_max * np.shape(s.q)[1] * 2 ** max(s.shift - 1, 0)
        if worst > INT32_MAX:
            errors.append(f"{name}: worst-case synaptic sum {worst} overflows int32 (source {s.source})")
    if isinstance(layer, QLif):
        placement, state = "chip-native (Lava LIF)", "u 24, v 24, du/dv 12, vth 17, bias 13+3"
        if layer.vth >= 2**17:
            errors.append(f"{name}: threshold mantissa {layer.vth} exceeds 17 bits")
        if np.abs(layer.bias_mant).max(initial=0) > 4095 or not 0 <= layer.bias_exp <= 7:
            errors.append(f"{name}: bias does not fit 13-bit mantissa / 3-bit exponent")
    else:
        state = f"u 24, b 24, z 24, decay 12 (LUT {2 * LUT_HALF}x12)" if layer.spiking else "u 24, z 24, decay 12"
        if sends(layer) == "u":
            state += "; sends u as 24-bit graded spikes"
        if layer.gated and layer.mixing == "dense":
            placement = "host CPU only (dense mixing reads other neurons' state)"
        else:
            placement = "custom neuron program (lava-loihi microcode), else host CPU"
    cores = max(math.ceil(layer.n / NEURONS_PER_CORE), math.ceil(synapses / SYNAPSES_PER_CORE))
    return {"layer": name, "kind": layer.kind, "neurons": layer.n, "synapses": synapses,
            "nonzero_synapses": nonzero, "fan_in": fan_in, "weight_bits": 8,
            "weight_exp": [min(weight_exps), max(weight_exps)], "state_bits": state,
            "cores": cores, "placement": placement, "errors": errors}


def resource_report(qnet) -> dict:
    layers = (*qnet.layers, qnet.readout)
    rows = []
    input_max = max(abs(qnet.input_range[0]), abs(qnet.input_range[1]))
    for i, layer in enumerate(layers):
        name = "readout" if i == len(layers) - 1 else f"layer{i}"
        rows.append(layer_resources(layer, name, input_max if i == 0 else 1))
    cores = sum(r["cores"] for r in rows)
    errors = [e for r in rows for e in r["errors"]]
    if cores > CORES_PER_CHIP:
        errors.append(f"network needs {cores} cores, more than one chip's {CORES_PER_CHIP}")
    return {"layers": rows, "neurons": sum(r["neurons"] for r in rows),
            "synapses": sum(r["synapses"] for r in rows), "cores": cores, "errors": errors}


def print_resources(report: dict):
    print(f"{'layer':8s} {'kind':7s} {'neurons':>7s} {'synapses':>9s} {'fan-in':>6s} {'w.exp':>8s} {'cores':>5s}  "
          "placement")
    for r in report["layers"]:
        print(f"{r['layer']:8s} {r['kind']:7s} {r['neurons']:7d} {r['synapses']:9d} {r['fan_in']:6d} "
              f"{str(r['weight_exp']):>8s} {r['cores']:5d}  {r['placement']}")
        print(f"{'':8s} state bits: {r['state_bits']}; weights 8-bit")
    print(f"total: {report['neurons']} neurons, {report['synapses']} synapses, {report['cores']} of "
          f"{CORES_PER_CHIP} cores (limits per core: {NEURONS_PER_CORE} neurons, {SYNAPSES_PER_CORE} synapses, "
          f"fan-in {MAX_FAN_IN})")
    for e in report["errors"]:
        print(f"error: {e}")
    print("fits on one Loihi 2 chip" if not report["errors"] else "does NOT fit as mapped")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Loihi 2 resource report of a NIR model or checkpoint.")
    p.add_argument("model", help="NIR file (.nir) or checkpoint (.pt)")
    p.add_argument("--json", default=None, help="write the report here")
    from ltcsn.export.load import add_reading_args, load_model, reading_lines
    add_reading_args(p)
    args = p.parse_args(argv)
    from ltcsn.train.errors import InputError
    try:
        qnet, _, info = load_model(args.model, dt=args.dt, producer=args.producer)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for line in reading_lines(info):
        print(line)
    report = resource_report(qnet)
    print_resources(report)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    return 1 if report["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
