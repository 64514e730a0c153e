"""Loihi 2 resource report of an integer network, computed from the process graph that Lava runs.

    python hardware/resources.py model.nir [--json report.json] [--dt S] [--producer NAME]

The graph is `hardware.graph.mapped_graph` (the one `hardware.lava_net` instantiates) with the embedded_io
adapters of a Loihi 2 run (`hardware.graph.with_adapters`). Per layer: where it runs and why, neurons, synapses
held by its synapse processes (a Dense every entry, a Sparse its non-zero ones) and how many are non-zero, fan-in
(synapses into one neuron input; an unrolled convolution counts its kernel, not its input width), state words and
neuron-program length (`sim.neuron_program`), cores and per-core use. Then every process with its placement, what
runs on the host and why, and the host <-> chip traffic per time step. Limits and their sources:
hardware/loihi2.py. Errors name the layer that cannot fit; exit status 1 when anything cannot fit. Warnings name
every part (the readout's wide synapse included) whose worst-case synaptic sum can reach int32 (`sim.bounds`).
"""

if __name__ == "__main__":   # via ltcsn.commands: a Ctrl-C while the imports below load ends with one line
    from ltcsn.commands import resources
    raise SystemExit(resources())

import math

import numpy as np

from ltcsn.args import ArgumentParser, cli
from ltcsn.files import check_output, write_json
from ltcsn.hardware import loihi2
from ltcsn.hardware.graph import SYNAPSE_KINDS, loihi2_missing, mapped_graph, with_adapters
from ltcsn.sim import spec
from ltcsn.sim.bounds import overflow_warning, synaptic_sum_bounds
from ltcsn.sim.neuron_program import host_reason, neuron_program
from ltcsn.sim.qnet import QAtrlif, QLif

LIF_STATE_WORDS = 2     # Lava LIF: u, v (24-bit each; lava/proc/lif/process.py)
ATRLIF_STATE_WORDS = 4  # Lava ATRLIF: i, v (24-bit), theta, r (int32 in its fixed-point model; lava/proc/atrlif)


def _program(layer) -> tuple:
    """(state words per neuron, neuron-program length) of a layer: Lava's LIF has no program (a stock neuron);
    a layer that needs the host has neither (None, None)."""
    if isinstance(layer, QLif):
        return (ATRLIF_STATE_WORDS if isinstance(layer, QAtrlif) else LIF_STATE_WORDS), None
    if host_reason(layer) is not None:
        return None, None
    program = neuron_program(layer)
    return program.state_words, program.length


def _synapse_errors(name: str, syns: list) -> list:
    """Weight exponents outside the chip's range. (The int32 bound of the synaptic sums: `resource_report`'s
    warnings, from `sim.bounds.synaptic_sum_bounds`, for every part of every layer, the readout's wide synapse
    included; the spec wraps there exactly as Lava does, docs/fixed_point.md.)"""
    errors = []
    for p in syns:
        exp = p.params["weight_exp"]
        if not loihi2.WEIGHT_EXP_RANGE[0] <= exp <= loihi2.WEIGHT_EXP_RANGE[1]:
            errors.append(f"{name}: weight exponent {exp} of {p.name} outside {list(loihi2.WEIGHT_EXP_RANGE)}")
    return errors


def layer_row(graph, name: str, bounds: list) -> dict:
    """One layer's row: its neuron process, the synapse processes feeding it, its helpers."""
    neuron = graph.proc(f"{name}.neuron")
    layer = neuron.params["layer"]
    procs = graph.of_layer(name)
    syns = [p for p in procs if p.kind in SYNAPSE_KINDS]
    held = sum(p.held_synapses for p in syns)
    rows = np.sum([p.row_fan_in() for p in syns], axis=0) if syns else np.zeros(1, dtype=np.int64)
    parts = len(layer.syn)
    fan_in = int(rows.max(initial=0))
    on_chip = all(p.placement == "chip" for p in procs if p.role in ("neuron", "synapse", "gate"))
    state_words, program_length = _program(layer)
    errors = _synapse_errors(name, syns)
    if fan_in > loihi2.MAX_FAN_IN:
        errors.append(f"{name}: fan-in {fan_in} exceeds {loihi2.MAX_FAN_IN}")
    if isinstance(layer, QLif):
        vth_bits = spec.ATRLIF_THETA_BITS if isinstance(layer, QAtrlif) else spec.LIF_VTH_BITS
        if layer.vth >= 2**vth_bits or getattr(layer, "theta_step", 0) >= 2**vth_bits:
            errors.append(f"{name}: threshold mantissa {layer.vth} exceeds {vth_bits} bits")
        if not spec.lif_bias_fits(layer.bias_mant, layer.bias_exp):
            errors.append(f"{name}: bias does not fit a {spec.LIF_BIAS_MANT_BITS}-bit signed mantissa "
                          f"[{spec.LIF_BIAS_MANT_MIN}, {spec.LIF_BIAS_MANT_MAX}] / "
                          f"{spec.LIF_BIAS_EXP_BITS}-bit exponent")
    cores = max(math.ceil(layer.n / loihi2.NEURONS_PER_CORE), math.ceil(held / loihi2.SYNAPSES_PER_CORE)) \
        if on_chip else 0
    host = [p.reason if p.role == "neuron" else f"{p.kind}: {p.reason}"
            for p in procs if p.placement == "host" and p.role in ("neuron", "gate")]
    return {"layer": name, "kind": layer.kind, "placement": "chip" if on_chip else "host",
            "reason": "; ".join(host) or neuron.reason,
            "neurons": layer.n, "parts": parts, "synapses": held,
            "nonzero_synapses": sum(p.nonzero_synapses for p in syns), "fan_in": fan_in,
            "weight_exp": [min(p.params["weight_exp"] for p in syns), max(p.params["weight_exp"] for p in syns)],
            "state_words": state_words, "program_length": program_length, "cores": cores,
            "neurons_per_core": math.ceil(layer.n / cores) if cores else 0,
            "synapses_per_core": math.ceil(held / cores) if cores else 0,
            "worst_synaptic_sum": {b["part"]: b["worst"] for b in bounds if b["layer"] == name},
            "processes": [p.name for p in procs], "errors": errors}


def traffic(graph) -> list:
    """Host <-> chip connections per time step, one per adapter: at most `messages` values (one per neuron; binary
    spikes only when the neuron spikes), each `payload_bits` wide (0: a binary spike, counted as 1 bit)."""
    rows = []
    for adapter in (p for p in graph.procs if p.role == "adapter"):
        feeds = [e for e in graph.edges if e.src == adapter.name]
        into = next(e for e in graph.edges if e.dst == adapter.name)
        width, bits = into.width, into.payload_bits
        rows.append({"adapter": adapter.name, "kind": adapter.kind,
                     "direction": "host -> chip" if adapter.kind == loihi2.HOST_TO_CHIP else "chip -> host",
                     "from": f"{into.src}.{into.src_port}", "to": [f"{e.dst}.{e.dst_port}" for e in feeds],
                     "messages": width, "payload_bits": bits, "bits": width * max(bits, 1)})
    return rows


def resource_report(qnet) -> dict:
    graph = with_adapters(mapped_graph(qnet))
    bounds = synaptic_sum_bounds(qnet)
    rows = [layer_row(graph, name, bounds) for name in graph.layer_names]
    procs = [{"name": p.name, "kind": p.kind, "shape": list(p.shape), "layer": p.layer, "role": p.role,
              "placement": p.placement, "reason": p.reason,
              **({"synapses": p.held_synapses, "nonzero_synapses": p.nonzero_synapses,
                  "weight_exp": p.params["weight_exp"], "num_message_bits": p.params["num_message_bits"]}
                 if p.kind in SYNAPSE_KINDS else {}),
              **({"num_message_bits": p.params["num_message_bits"]} if p.role == "adapter" else {})}
             for p in graph.procs]
    flows = traffic(graph)
    cores = sum(r["cores"] for r in rows)
    errors = [e for r in rows for e in r["errors"]]
    if cores > loihi2.CORES_PER_CHIP:
        errors.append(f"network needs {cores} cores, more than one chip's {loihi2.CORES_PER_CHIP}")
    on_chip = [r for r in rows if r["placement"] == "chip"]
    host = [p for p in graph.procs if p.placement == "host"]
    needs = loihi2_missing(graph, lava_loihi_installed=True)
    if errors:
        verdict = "does NOT fit as mapped"
    elif len(on_chip) == len(rows):
        verdict = "fits on one Loihi 2 chip" + (" (every layer on chip; what a chip run still needs: the "
                                                "'needs lava-loihi' lines)" if needs else "")
    else:
        verdict = (f"{len(on_chip)} of {len(rows)} layers on chip; host part: "
                   + "; ".join(f"{r['layer']} ({r['reason']})" for r in rows if r["placement"] == "host"))
    total = {d: {"messages": sum(f["messages"] for f in flows if f["direction"] == d),
                 "bits": sum(f["bits"] for f in flows if f["direction"] == d)}
             for d in ("host -> chip", "chip -> host")}
    return {"layers": rows, "processes": procs, "host": [{"process": p.name, "kind": p.kind, "reason": p.reason}
                                                         for p in host],
            "traffic": flows, "traffic_per_step": total, "neurons": sum(r["neurons"] for r in rows),
            "synapses": sum(r["synapses"] for r in rows),
            "nonzero_synapses": sum(r["nonzero_synapses"] for r in rows), "cores": cores,
            "layers_on_chip": len(on_chip), "layers_total": len(rows), "needs_lava_loihi": needs,
            "limits": {"cores_per_chip": loihi2.CORES_PER_CHIP, "neurons_per_core": loihi2.NEURONS_PER_CORE,
                       "synapses_per_core": loihi2.SYNAPSES_PER_CORE, "max_fan_in": loihi2.MAX_FAN_IN,
                       "weight_bits": loihi2.WEIGHT_BITS, "weight_exp_range": list(loihi2.WEIGHT_EXP_RANGE),
                       "sources": "hardware/loihi2.py"},
            "verdict": verdict, "errors": errors, "warnings": [overflow_warning(b) for b in bounds if b["wraps"]]}


def _dash(v) -> str:
    return "-" if v is None else str(v)


def print_resources(report: dict):
    print(f"{'layer':8s} {'kind':7s} {'where':5s} {'neurons':>7s} {'synapses':>9s} {'nonzero':>9s} {'fan-in':>6s} "
          f"{'w.exp':>8s} {'words':>5s} {'prog':>4s} {'cores':>5s} {'n/core':>6s} {'syn/core':>8s}")
    for r in report["layers"]:
        print(f"{r['layer']:8s} {r['kind']:7s} {r['placement']:5s} {r['neurons']:7d} {r['synapses']:9d} "
              f"{r['nonzero_synapses']:9d} {r['fan_in']:6d} {str(r['weight_exp']):>8s} "
              f"{_dash(r['state_words']):>5s} {_dash(r['program_length']):>4s} {r['cores']:5d} "
              f"{r['neurons_per_core']:6d} {r['synapses_per_core']:8d}")
        print(f"{'':8s} {r['reason']}")
    print("processes:")
    for p in report["processes"]:
        extra = (f", {p['synapses']} synapses ({p['nonzero_synapses']} non-zero), weight_exp {p['weight_exp']}, "
                 f"{p['num_message_bits']}-bit payload" if "synapses" in p else "")
        print(f"  {p['placement']:8s} {p['kind']:16s} {p['name']} {tuple(p['shape'])}{extra}")
    print("on the host:")
    for h in report["host"]:
        print(f"  {h['process']} ({h['kind']}): {h['reason']}")
    print("host <-> chip traffic per time step (at most; binary spikes count 1 bit):")
    for f in report["traffic"]:
        print(f"  {f['direction']}: {f['from']} -> {', '.join(f['to'])} via {f['kind']}: {f['messages']} messages "
              f"x {f['payload_bits']}-bit payload = {f['bits']} bits")
    for d, t in report["traffic_per_step"].items():
        print(f"  total {d}: {t['messages']} messages, {t['bits']} bits per step")
    lim = report["limits"]
    print(f"total: {report['neurons']} neurons, {report['synapses']} synapses ({report['nonzero_synapses']} "
          f"non-zero), {report['cores']} of {lim['cores_per_chip']} cores (limits per core: "
          f"{lim['neurons_per_core']} neurons, {lim['synapses_per_core']} synapses, fan-in {lim['max_fan_in']}; "
          f"sources: {lim['sources']})")
    for n in report["needs_lava_loihi"]:
        print(f"needs lava-loihi: {n}")
    for w in report["warnings"]:
        print(f"warning: {w}")
    for e in report["errors"]:
        print(f"error: {e}")
    print(report["verdict"])


@cli
def main(argv=None) -> int:
    p = ArgumentParser(description="Loihi 2 resource report of a NIR model or checkpoint.")
    p.add_argument("model", help="NIR file (.nir), checkpoint (.pt) or lava-dl netx file (.net)")
    p.add_argument("--json", default=None, help="write the report here")
    from ltcsn.export.load import add_reading_args, load_model, reading_lines, reading_options
    add_reading_args(p)
    args = p.parse_args(argv)
    if args.json:
        check_output(args.json, [args.model], "--json")
    qnet, _, info = load_model(args.model, **reading_options(args))
    for line in reading_lines(info):
        print(line)
    report = resource_report(qnet)
    print_resources(report)
    if args.json:
        write_json(args.json, report)
    return 1 if report["errors"] else 0

