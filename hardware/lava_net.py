"""Integer network (`sim.qnet.QNet`) -> Lava processes; run them on Lava's CPU backend and read them back.

The processes and their connections are `hardware.graph.mapped_graph` (the same graph the resource report
describes); this module only instantiates and runs it. Lava has no batch dimension: samples run one after another
as windows of P = T + H steps, the clock that `sim.simulate.simulate_stream` simulates (layer at hop h starts
every window at step h from zero state).
"""
from dataclasses import dataclass, field
import sys
import time

import numpy as np
from tqdm.auto import tqdm

from ltcsn.hardware.graph import lava_vars, mapped_graph, sink_field, with_adapters
from ltcsn.hardware.loihi2 import ADAPTER_MODULE
from ltcsn.sim import spec
from ltcsn.sim.integer import init_state, state_type
from ltcsn.sim.ops import FloatOps, NumpyOps
from ltcsn.sim.spec import DECAY_ONE
from ltcsn.sim.qnet import QLif

LAVA_FORK_MODULE = "lava.magma.runtime.message_infrastructure.multiprocessing"


def ensure_lava():
    """Import Lava. Its import calls multiprocessing.set_start_method('fork'), which raises when the method was
    already fixed: reset it when it is already 'fork', refuse otherwise."""
    if LAVA_FORK_MODULE in sys.modules:
        return
    import multiprocessing as mp
    method = mp.get_start_method(allow_none=True)
    if method == "fork":
        mp.set_start_method(None, force=True)
    elif method is not None:
        raise RuntimeError(f"multiprocessing start method is {method!r}; Lava needs 'fork'")
    import importlib
    importlib.import_module(LAVA_FORK_MODULE)


def loihi_available() -> bool:
    """Whether Intel's proprietary lava-loihi extension (needed for Loihi2HwCfg) is installed."""
    ensure_lava()
    from lava.utils import loihi
    return bool(loihi.is_installed())


@dataclass
class LavaRun:
    """Outputs of a Lava run, window-aligned: outs [B, P, n_out]; records: per layer {var: [B, P, n]}."""
    outs: np.ndarray
    records: list = field(default_factory=list)
    seconds: float = 0.0
    steps: int = 0
    processes: int = 0
    async_models: bool = False      # whether the models ran wrapped as async (ATRLIF networks and recording: never)

    @property
    def ms_per_step(self) -> float:
        return 1000.0 * self.seconds / max(self.steps, 1)


def build_processes(graph, data: np.ndarray, steps: int, window: int, tag: str = "fixed_pt",
                    skip: tuple = ()) -> dict:
    """Lava processes of a `hardware.graph.ProcessGraph`, connected: {process name: Lava process}.

    data: the input stream [n_in, steps] (network input codes); steps: sink buffer length; window: steps per
    sample (P). tag "floating_pt": float synapses (2^shift q, no exponent; x 64 into a LIF, whose float model
    adds a_in unshifted) and the float LIF parameters. The embedded_io adapters of a Loihi 2 graph
    (`graph.with_adapters`) import lava.proc.embedded_io, which only lava-loihi provides. skip: process kinds
    left out (with their connections).
    """
    ensure_lava()
    from lava.proc.atrlif.process import ATRLIF
    from lava.proc.dense.process import Dense
    from lava.proc.io.sink import Read, RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.lif.process import LIFReset
    from lava.proc.sparse.process import Sparse
    from ltcsn.hardware.lava_procs.gate import SpikeGate
    from ltcsn.hardware.lava_procs.ltc import LtcNeuronProcess

    def synapse(p):
        q, shift = p.params["q"], p.params["shift"]
        if tag == "fixed_pt":
            weights, weight_exp = p.params["weights"], p.params["weight_exp"]
        else:
            lif = isinstance(graph.proc(f"{p.layer}.neuron").params["layer"], QLif)
            weights, weight_exp = q * 2.0**shift * (spec.LIF_A_IN_SCALE if lif else 1), 0
        cls = Sparse if p.kind == "Sparse" else Dense
        return cls(weights=weights, weight_exp=weight_exp, num_weight_bits=spec.WEIGHT_BITS,
                   num_message_bits=p.params["num_message_bits"], name=p.name)

    made = {}
    for p in graph.procs:
        if p.kind in skip:
            continue
        if p.kind == "RingBuffer":
            if p.role != "input":
                made[p.name] = Sink(shape=p.shape, buffer=steps)
            else:   # the network input, or the constant source (1 every step)
                made[p.name] = Source(data=np.full((1, data.shape[1]), p.params["constant"], dtype=data.dtype)
                                      if "constant" in p.params else data)
        elif p.kind in ("Dense", "Sparse"):
            made[p.name] = synapse(p)
        elif p.kind == "LIFReset":
            layer, hop = p.params["layer"], p.params["hop"]      # LIFReset zeroes u, v at window step `hop`
            made[p.name] = LIFReset(shape=p.shape, **_lif_params(layer, tag), reset_interval=window,
                                    reset_offset=spec.lava_time_step_mod(hop, window), name=p.name)
        elif p.kind == "ATRLIF":
            made[p.name] = ATRLIF(shape=p.shape, **_atrlif_params(p.params["layer"], tag), name=p.name)
        elif p.kind == "LtcNeuronProcess":
            made[p.name] = LtcNeuronProcess(p.params["layer"], p.params["lut"], hop=p.params["hop"],
                                            window=window, name=p.name)
        elif p.kind == "SpikeGate":
            made[p.name] = SpikeGate(shape=p.shape, hop=p.params["hop"], window=window, name=p.name)
        elif p.kind == "Read":
            made[p.name] = Read(buffer=steps)
        else:  # the embedded_io adapters: lava-loihi only
            import importlib
            cls = getattr(importlib.import_module(ADAPTER_MODULE), p.kind)
            made[p.name] = cls(shape=p.shape, num_message_bits=p.params["num_message_bits"], name=p.name)
    for e in graph.edges:
        if e.src not in made or e.dst not in made:
            continue
        if e.src_port.startswith("var:"):
            made[e.dst].connect_var(getattr(made[e.src], e.src_port[4:]))
        else:
            getattr(made[e.src], e.src_port).connect(getattr(made[e.dst], e.dst_port))
    return made


def input_stream(qnet, x_int) -> tuple:
    """(data [n_in, B * P], P): the input codes x_int [B, T, ...] as the source's stream, one window of P steps per
    sample (zero-padded after T)."""
    x_int = np.asarray(x_int, dtype=np.int64)
    B, T = x_int.shape[:2]
    P = qnet.window_length(T)
    return spec.pad_windows(x_int, P).reshape(B * P, -1).T.copy(), P


def build_and_run(qnet, x_int, record: bool = False, async_models: bool = True, backend: str = "cpu",
                  progress: bool = False, chunk_samples: int = 25, tag: str = "fixed_pt") -> LavaRun:
    """Map qnet to Lava (`hardware.graph.mapped_graph`), run the input codes x_int [B, T, ...] through it and
    read back.

    tag: "fixed_pt" (bit-exact to sim/) or "floating_pt" (Lava's float Dense / LIF models and our float LTC
    model: the dequantized network without rounding, equal to `simulate_stream(..., ops=FloatOps)` up to
    float64 rounding).

    backend: "cpu" (Loihi2SimCfg) or "loihi2" (Loihi2HwCfg with the embedded_io adapters; needs Intel's
    lava-loihi, see `loihi_available`).
    async_models: wrap the models with PyLoihiModelToPyAsyncModel (2-3x faster, same outputs, measured by
    benchmarks/lava_vs_sim.py). Recording needs the synchronous models (Lava's Read probes work only there).
    Synchronous runs proceed in chunks of chunk_samples windows (a progress bar with progress=True); the async
    models support one run() call only, so an async run is one chunk. A network with ATRLIF layers runs
    synchronously, pausing at window step `hop` of each ATRLIF layer in every window to set its Vars (i, v, theta,
    r) to the initial state, as `sim.simulate.simulate_stream` resets it (Lava's ATRLIF has no reset).
    """
    ensure_lava()
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg

    B = len(x_int)
    data, P = input_stream(qnet, x_int)
    steps = B * P
    graph = mapped_graph(qnet, record=record)
    if backend == "loihi2":
        graph = with_adapters(graph)
    made = build_processes(graph, data, steps, P, tag)
    source = made["input"]
    sinks = [p for p in graph.procs if p.role in ("output", "record") and p.kind == "RingBuffer"]

    resets = {}     # step -> [(ATRLIF process, {Var: initial value})], set after that many steps have run
    for p in graph.procs:
        if p.kind == "ATRLIF":     # every state variable but s back to its initial value (`sim.integer.init_state`)
            start = init_state(NumpyOps if tag == "fixed_pt" else FloatOps, p.params["layer"], 1)._asdict()
            initial = {lava_vars(p.params["layer"])[k]: np.asarray(v[0], dtype=float) for k, v in start.items()
                       if k != "s"}
            for k in range(B):
                resets.setdefault(k * P + p.params["hop"], []).append((made[p.name], initial))
    use_async = async_models and not record and backend == "cpu" and not resets
    if backend == "loihi2":
        from lava.magma.core.run_configs import Loihi2HwCfg
        run_cfg = Loihi2HwCfg(select_tag=tag)
    else:
        run_cfg = _async_cfg(Loihi2SimCfg, tag) if use_async else Loihi2SimCfg(select_tag=tag)
    if use_async:
        chunk_samples = B
    cuts = sorted(set(range(chunk_samples * P, steps, chunk_samples * P)) | set(resets) | {steps})
    t0 = time.perf_counter()
    try:
        with tqdm(total=B, desc=f"lava {backend}", unit="sample", disable=None if progress else True,
                  leave=False) as bar:     # None: on a terminal only
            done = 0
            for cut in cuts:
                if cut > done:
                    source.run(condition=RunSteps(num_steps=cut - done), run_cfg=run_cfg)
                    done = cut
                    bar.update(done // P - bar.n)
                for neuron, initial in resets.get(cut, []):
                    for var, value in initial.items():
                        getattr(neuron, var).set(value)
        seconds = time.perf_counter() - t0
        read = {p.name: made[p.name].data.get() for p in sinks + [p for p in graph.procs if p.kind == "Read"]}
    finally:
        source.stop()

    def window(a):  # Lava buffers are [n, steps] float64 (holding exact integers for fixed_pt)
        a = np.asarray(a)
        if tag == "fixed_pt":
            if not np.array_equal(a, np.round(a)):
                raise RuntimeError("Lava returned a non-integer value")
            a = a.astype(np.int64)
        return a.T.reshape(B, P, -1)

    outs = window(read["output"])
    records = []
    if record:
        for name, layer in zip(graph.layer_names, qnet.all_layers):
            sunk = read["output" if name == "readout" else f"{name}.record"]
            rec = {sink_field(layer): window(sunk), **{p.params["field"]: window(read[p.name])
                                                       for p in graph.of_layer(name) if p.kind == "Read"}}
            records.append({k: rec[k] for k in state_type(layer)._fields})
    return LavaRun(outs=outs, records=records, seconds=seconds, steps=steps, processes=len(made),
                   async_models=use_async)


def _lif_params(layer, tag: str) -> dict:
    """LIFReset parameters: the integer codes (fixed_pt), or the same LIF in float units (floating_pt:
    decays as fractions, threshold and bias in the integer network's units, a_in unshifted)."""
    if tag == "fixed_pt":
        return dict(du=int(layer.du), dv=int(layer.dv), vth=int(layer.vth),
                    bias_mant=np.asarray(layer.bias_mant), bias_exp=int(layer.bias_exp))
    du, dv = spec.lif_decay_fractions(layer.du, layer.dv)
    return dict(du=du, dv=dv, vth=float(layer.vth * spec.LIF_A_IN_SCALE),
                bias_mant=np.asarray(layer.bias_mant, dtype=float) * 2.0**layer.bias_exp, bias_exp=0)


def _atrlif_params(layer, tag: str) -> dict:
    """Parameters of Lava's own ATRLIF process (lava.proc.atrlif) for a QAtrlif layer. fixed_pt: its model takes
    the decays as fractions delta = code / 4096 (exact in float64: delta * 4096 gives the code back), theta_0 and
    theta_step as the 12-bit mantissas it shifts << 6. floating_pt: the same neuron in the integer network's units
    (decays with the +1 offset of i, thresholds << 6, bias mant << exp, a_in unshifted)."""
    codes = {name: int(getattr(layer, attr)) for name, attr in
             (("delta_i", "du"), ("delta_v", "dv"), ("delta_theta", "dtheta"), ("delta_r", "dr"))}
    if tag == "fixed_pt":
        return dict(**{k: c / DECAY_ONE for k, c in codes.items()}, theta_0=int(layer.vth),
                    theta=int(layer.vth) * spec.LIF_A_IN_SCALE,
                    theta_step=int(layer.theta_step), bias_mant=np.asarray(layer.bias_mant),
                    bias_exp=int(layer.bias_exp))
    codes["delta_i"] += spec.LIF_DU_OFFSET
    return dict(**{k: c / DECAY_ONE for k, c in codes.items()}, theta_0=float(layer.vth * spec.LIF_A_IN_SCALE),
                theta=float(layer.vth * spec.LIF_A_IN_SCALE), theta_step=float(layer.theta_step * spec.LIF_A_IN_SCALE),
                bias_mant=np.asarray(layer.bias_mant, dtype=float) * 2.0**layer.bias_exp, bias_exp=0)


def _async_cfg(cfg_class, tag: str):
    """A fixed_pt run config whose selected models are wrapped by Lava's PyLoihiModelToPyAsyncModel: each process
    runs its steps without the per-step phase handshake (same outputs; channels still order the data)."""
    from lava.magma.core.model.py.model import PyLoihiModelToPyAsyncModel

    class AsyncSimCfg(cfg_class):
        def select(self, process, proc_models):
            return PyLoihiModelToPyAsyncModel(super().select(process, proc_models))

    return AsyncSimCfg(select_tag=tag)
