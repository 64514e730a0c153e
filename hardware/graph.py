"""The mapped process graph of an integer network, as data: one function (`mapped_graph`) decides every process
(its Lava class, shape, parameters, chip or host and why) and every connection. `hardware.lava_net` instantiates
Lava processes from it, `hardware.resources` reports on it, `hardware/run_lava.py --backend loihi2` checks it.

Mapping (docs/fixed_point.md):
- the synapses of a layer that share a source and a shift form one synapse process feeding the layer's input port
  (an LTC layer's parts d, m, a stacked by row); it is a Lava `Dense` (every entry held) or, when it leaves some
  part's rows empty (parts that do not share a shift) or at most half of its entries are non-zero (an unrolled
  convolution), a Lava `Sparse` (only the non-zero entries held); both hold 2q with weight_exp = shift - 1
  (`sim.lava_fixed.lava_dense_params`);
- LIF layers are Lava's `LIFReset`, ATRLIF layers Lava's own `ATRLIF` (lava.proc.atrlif, no reset: the run sets
  its Vars to the initial state at each window's hop of the layer, `hardware.lava_net.build_and_run`); recurrent
  ones have a `SpikeGate` on the recurrent path; LTC / ALIF / readout layers are `LtcNeuronProcess` (custom,
  hardware/lava_procs);
- the input comes from a host `RingBuffer` source, the output goes to a host `RingBuffer` sink (with recording:
  a sink on every layer's output and `Read` probes on its state); a bias into a LIF current (a synapse from the
  `const` source) comes from a second host source that sends 1 every step (a LIFReset starts each window at its
  hop from zero, so what the constant fed before it is gone, as in sim/);
- placement: LIF layers on chip (LIFReset, hardware/loihi2.py); an LTC / ALIF / readout layer on chip when its
  update is a Loihi 2 neuron program (`sim.neuron_program.host_reason` is None), else on the host with that
  reason; synapse processes (Dense, Sparse: stock Nc models) where the layer they feed is (a neuron core holds
  the synapses of its own neurons); SpikeGate, sources, sinks and probes on the host; every connection across the
  boundary gets a lava-loihi embedded_io adapter (PyToNxAdapter / NxToPyAdapter), listed but created only for
  Loihi 2 runs (the open wheel does not ship them).
"""
from dataclasses import dataclass, field

import numpy as np

from ltcsn.hardware import loihi2
from ltcsn.sim import spec
from ltcsn.sim.integer import LifState, ReadoutState, state_type
from ltcsn.sim.lava_fixed import lava_dense_params
from ltcsn.sim.neuron_program import host_reason
from ltcsn.sim.qnet import QAtrlif, QLif, sends

SYNAPSE_KINDS = ("Dense", "Sparse")


@dataclass
class Proc:
    """One Lava process. kind: its Lava class name; shape: its neuron / port shape; layer: the layer it belongs to
    ("layer0" .. "readout"; None for network I/O); role: "input" | "synapse" | "neuron" | "gate" | "output" |
    "record" | "adapter"; params: what the Lava constructor needs (synapses: weights [out, in] int64 (2q),
    weight_exp, num_message_bits; neurons: the sim.qnet layer and its hop)."""
    name: str
    kind: str
    shape: tuple
    layer: str | None
    role: str
    placement: str          # "chip" | "host" | "boundary" (the embedded_io adapters)
    reason: str
    params: dict = field(default_factory=dict)

    @property
    def held_synapses(self) -> int:
        """Synaptic entries the process holds: a Dense every entry of its matrix, a Sparse its non-zero ones."""
        if self.kind == "Dense":
            return int(np.size(self.params["q"]))
        if self.kind == "Sparse":
            return int(np.count_nonzero(self.params["q"]))
        return 0

    @property
    def nonzero_synapses(self) -> int:
        return int(np.count_nonzero(self.params["q"])) if self.kind in SYNAPSE_KINDS else 0

    def row_fan_in(self) -> np.ndarray:
        """[rows] synapses into each output row (one input of one neuron part): a Dense every column, a Sparse
        the non-zero entries of the row (an unrolled convolution: its kernel's fan-in, not the input width)."""
        q = self.params["q"]
        if self.kind == "Dense":
            return np.full(q.shape[0], q.shape[1])
        return np.count_nonzero(q, axis=1)


@dataclass
class Edge:
    """src.src_port -> dst.dst_port carrying `width` values per step of `payload_bits` bits (0: binary spikes).
    A Read probe's edge names the neuron Var it reads as src_port ("var:u")."""
    src: str
    src_port: str
    dst: str
    dst_port: str
    width: int
    payload_bits: int


@dataclass
class ProcessGraph:
    procs: list
    edges: list
    layer_names: list

    def proc(self, name: str) -> Proc:
        return next(p for p in self.procs if p.name == name)

    def of_layer(self, layer: str) -> list:
        return [p for p in self.procs if p.layer == layer]

    def crossings(self) -> list:
        """Edges between a host and a chip process (each needs an adapter), in graph order."""
        where = {p.name: p.placement for p in self.procs}
        return [e for e in self.edges if where[e.src] != where[e.dst] and not e.src_port.startswith("var:")]


def lava_vars(layer) -> dict:
    """The Var of the layer's Lava neuron process that holds each of its state variables (the fields of its
    `state_type`): Lava's LIF calls the current i "u"."""
    if state_type(layer) is LifState:
        return {"i": "u", "v": "v", "s": "s"}
    return {k: k for k in state_type(layer)._fields}


def sink_field(layer) -> str:
    """The state variable the layer's output port carries: its spikes s, or its membrane u (the readout; a layer
    that sends u)."""
    return "u" if state_type(layer) is ReadoutState or sends(layer) == "u" else "s"


def synapse_groups(layer):
    """[(source, shift, q [parts*n, n_in], parts it feeds)]: one synapse process per source and shift, parts stacked
    by row (the order of layer.syn; LIF: its single part d); the rows of parts it does not feed are zero."""
    parts = list(layer.syn)
    n = layer.n
    groups, fed = {}, {}
    for p_index, part in enumerate(parts):
        for syn in layer.syn[part]:
            q = np.asarray(syn.q, dtype=np.int64)
            key = (syn.source, syn.shift)
            if key not in groups:
                groups[key], fed[key] = np.zeros((len(parts) * n, q.shape[1]), dtype=np.int64), set()
            groups[key][p_index * n:(p_index + 1) * n] += q
            fed[key].add(part)
    return [(src, shift, w, fed[(src, shift)]) for (src, shift), w in groups.items()]


def synapse_kind(q, parts_fed: int, parts: int) -> str:
    """"Dense" for a matrix that feeds every part and is more than half non-zero, else "Sparse" (an unrolled
    convolution; a matrix that leaves some parts' rows empty): a Sparse holds only its non-zero entries."""
    return "Dense" if parts_fed == parts and 2 * np.count_nonzero(q) > q.size else "Sparse"


def payload_bits(qnet, i: int, src: str) -> int:
    """Payload bits of what feeds layer i from src: 8 for graded network input, 24 for the membrane u that a
    layer with output "u" sends, 0 (binary spikes) otherwise."""
    if src != "input":
        return 0
    if i == 0:
        return spec.INPUT_BITS if tuple(qnet.input_range) != spec.INPUT_RANGE_BINARY else 0
    return loihi2.GRADED_PAYLOAD_BITS if sends(qnet.all_layers[i - 1]) == "u" else 0


def _chip(kind: str) -> str:
    if kind in loihi2.STOCK_CHIP_KINDS:
        return f"{kind}: Nc model shipped by lava-loihi"
    return f"{kind}: {loihi2.UNCONFIRMED_CHIP_KINDS[kind]}"


def mapped_graph(qnet, record: bool = False) -> ProcessGraph:
    """The process graph that `hardware.lava_net` runs and `hardware.resources` reports on.
    record: add the probes `sim/verify.py` reads (a sink on every layer's output, Read probes on its state)."""
    names = qnet.layer_names()
    layers = qnet.all_layers
    n_in = int(np.prod(qnet.input_shape))
    graph = ProcessGraph([], [], names)
    add, link = graph.procs.append, graph.edges.append
    add(Proc("input", "RingBuffer", (n_in,), None, "input", "host", "network input, streamed from the host"))
    if any(syn.source == "const" for layer in layers for syns in layer.syn.values() for syn in syns):
        add(Proc("const", "RingBuffer", (1,), None, "input", "host", "a 1 every step, streamed from the host: the "
                 "source of the synapses that carry a bias into a LIF current", {"constant": 1}))
    below, below_port, below_n = "input", "s_out", n_in
    for i, (name, layer) in enumerate(zip(names, layers)):
        hop = spec.layer_hop(i)
        neuron = f"{name}.neuron"
        if isinstance(layer, QLif):
            kind = "ATRLIF" if isinstance(layer, QAtrlif) else "LIFReset"
            add(Proc(neuron, kind, (layer.n,), name, "neuron", "chip", _chip(kind), {"layer": layer, "hop": hop}))
        else:
            reason = host_reason(layer)
            add(Proc(neuron, "LtcNeuronProcess", (layer.n,), name, "neuron", "host" if reason else "chip",
                     reason or "Loihi 2 neuron program (sim.neuron_program); its Nc model is not shipped by "
                                "lava-loihi and must be built with lava-loihi's microcode tools",
                     {"layer": layer, "hop": hop, "lut": qnet.lut}))
        recurrent, recurrent_port = neuron, "s_out"
        if isinstance(layer, QLif) and any(syn.source == "self" for syn in layer.syn["d"]):
            gate = f"{name}.gate"
            add(Proc(gate, "SpikeGate", (layer.n,), name, "gate", "host",
                     "custom Python process (stops a window's warm-up spikes); no Nc model", {"hop": hop}))
            link(Edge(neuron, "s_out", gate, "s_in", layer.n, 0))
            recurrent, recurrent_port = gate, "s_out"
        for src, shift, q, fed in synapse_groups(layer):
            weights, weight_exp = lava_dense_params(q, shift)
            kind = synapse_kind(q, len(fed), len(layer.syn))
            bits = payload_bits(qnet, i, src)
            syn = f"{name}.{kind.lower()}.{src}.k{shift}"
            on_chip = graph.proc(neuron).placement == "chip"
            add(Proc(syn, kind, q.shape, name, "synapse", "chip" if on_chip else "host",
                     _chip(kind) if on_chip else "feeds a host layer, so it runs there (Lava's Python model)",
                     {"q": q, "shift": shift, "weights": weights, "weight_exp": weight_exp,
                      "num_message_bits": bits, "source": src}))
            if src == "input":
                link(Edge(below, below_port, syn, "s_in", below_n, bits))
            elif src == "const":
                link(Edge("const", "s_out", syn, "s_in", 1, bits))
            else:
                link(Edge(recurrent, recurrent_port, syn, "s_in", layer.n, bits))
            link(Edge(syn, "a_out", neuron, "a_in", q.shape[0], 32))
        out_port = "u_out" if sends(layer) == "u" else "s_out"
        out_bits = 0 if isinstance(layer, QLif) or (layer.spiking and out_port == "s_out") \
            else loihi2.GRADED_PAYLOAD_BITS
        is_last = i == len(layers) - 1
        if is_last or record:
            sink = "output" if is_last else f"{name}.record"
            add(Proc(sink, "RingBuffer", (layer.n,), None if is_last else name, "output" if is_last else "record",
                     "host", "network output, read by the host" if is_last else "recording for sim/verify.py"))
            link(Edge(neuron, out_port, sink, "a_in", layer.n, out_bits))
        if record and not is_last:   # the state variables the sink does not carry, read from the neuron's Vars
            for field, var in lava_vars(layer).items():
                if field == sink_field(layer):
                    continue
                add(Proc(f"{name}.read.{field}", "Read", (layer.n,), name, "record", "host",
                         "recording for sim/verify.py", {"field": field}))
                link(Edge(neuron, f"var:{var}", f"{name}.read.{field}", "var", layer.n, loihi2.STATE_BITS))
        below, below_port, below_n = neuron, out_port, layer.n
    return graph


def with_adapters(graph: ProcessGraph) -> ProcessGraph:
    """The graph a Loihi 2 run builds: every host <-> chip connection goes through a lava-loihi embedded_io adapter
    (one per source port and direction, shared by the connections it feeds)."""
    where = {p.name: p.placement for p in graph.procs}
    procs, edges, made, crossings = list(graph.procs), [], {}, graph.crossings()
    for e in graph.edges:
        if e in crossings:
            to_chip = where[e.dst] == "chip"
            key = (e.src, e.src_port)
            if key not in made:
                kind = loihi2.HOST_TO_CHIP if to_chip else loihi2.CHIP_TO_HOST
                made[key] = f"{e.src}.{e.src_port}.{kind}"
                procs.append(Proc(made[key], kind, (e.width,), None, "adapter",
                                  "boundary",
                                  f"lava-loihi {loihi2.ADAPTER_MODULE}.{kind}: "
                                  f"{'host -> chip' if to_chip else 'chip -> host'}",
                                  {"num_message_bits": e.payload_bits}))
                edges.append(Edge(e.src, e.src_port, made[key], "inp", e.width, e.payload_bits))
            edges.append(Edge(made[key], "out", e.dst, e.dst_port, e.width, e.payload_bits))
        else:
            edges.append(e)
    return ProcessGraph(procs, edges, graph.layer_names)


def loihi2_missing(graph: ProcessGraph, lava_loihi_installed: bool) -> list:
    """What a Loihi 2 run of `graph` (with its adapters) lacks, one item per missing piece: lava-loihi itself
    (Loihi2HwCfg, the embedded_io adapters, the Nc models of the stock chip kinds), and the Nc models that no
    release ships (custom processes placed on chip; stock kinds whose Nc model no public source shows)."""
    def count(kinds):
        found = {}
        for p in graph.procs:
            if p.kind in kinds:
                found[p.kind] = found.get(p.kind, 0) + 1
        return ", ".join(f"{n} {k}" for k, n in found.items())

    missing = []
    if not lava_loihi_installed:
        adapters = count((loihi2.HOST_TO_CHIP, loihi2.CHIP_TO_HOST))
        stock = count(loihi2.STOCK_CHIP_KINDS)
        missing.append(f"Intel's lava-loihi (not installed; INRC members only): Loihi2HwCfg, {loihi2.ADAPTER_MODULE} "
                       f"({adapters}) and the Nc models of {stock}")
    custom = [p for p in graph.procs if p.placement == "chip" and p.kind not in loihi2.STOCK_CHIP_KINDS]
    by_kind = {}
    for p in custom:
        by_kind.setdefault(p.kind, []).append(p.layer)
    for kind, layers in by_kind.items():
        what = ("a Loihi 2 neuron program (sim/neuron_program.py) that no release ships as an Nc model; build it "
                "with lava-loihi's microcode tools" if kind == "LtcNeuronProcess" else
                loihi2.UNCONFIRMED_CHIP_KINDS.get(kind, "no Nc model"))
        missing.append(f"an Nc model for {kind} ({', '.join(layers)}): {what}")
    return missing
