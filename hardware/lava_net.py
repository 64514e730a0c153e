"""Integer network (`sim.qnet.QNet`) -> Lava process graph; run it on Lava's CPU backend and read it back.

Mapping (docs/fixed_point.md):
- every synaptic matrix is a Lava `Dense` (holding 2q, weight_exp = shift - 1); the parts of an LTC layer that
  share a source and a shift are stacked into one Dense feeding the layer's stacked `a_in` port;
- LIF layers are Lava's own `LIFReset` (recurrent ones with a `SpikeGate` on the recurrent path);
  LTC / ALIF / readout layers are `LtcNeuronProcess` (custom processes in hardware/lava_procs);
- input: a source RingBuffer; output: a sink RingBuffer on the readout (and, when recording, on every layer's
  spikes plus `Read` probes on the internal state).
Lava has no batch dimension: samples run one after another as windows of P = T + H steps, the clock that
`sim.simulate.simulate_stream` simulates (layer at hop h starts every window at step h from zero state).
"""
from dataclasses import dataclass, field
import sys
import time

import numpy as np
from tqdm.auto import tqdm

from ltcsn.sim.lava_fixed import lava_dense_params
from ltcsn.sim.qnet import QLif, sends
from ltcsn.sim.simulate import state_names, window_length

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

    @property
    def ms_per_step(self) -> float:
        return 1000.0 * self.seconds / max(self.steps, 1)


def _dense_groups(layer):
    """[(source, shift, weights [parts*n, n_in])]: one Dense per source and shift, parts stacked by row."""
    parts = list(layer.syn) if not isinstance(layer, QLif) else ["d"]
    syns = {"d": layer.syn} if isinstance(layer, QLif) else layer.syn
    n = layer.n
    groups = {}
    for p_index, part in enumerate(parts):
        for syn in syns[part]:
            q = np.asarray(syn.q, dtype=np.int64)
            key = (syn.source, syn.shift)
            if key not in groups:
                groups[key] = np.zeros((len(parts) * n, q.shape[1]), dtype=np.int64)
            groups[key][p_index * n:(p_index + 1) * n] = q
    return [(src, shift, w) for (src, shift), w in groups.items()]


def build_and_run(qnet, x_int, record: bool = False, async_models: bool = True, backend: str = "cpu",
                  progress: bool = False, chunk_samples: int = 25, tag: str = "fixed_pt") -> LavaRun:
    """Map qnet to Lava, run the input codes x_int [B, T, ...] through it and read back.

    tag: "fixed_pt" (bit-exact to sim/) or "floating_pt" (Lava's float Dense / LIF models and our float LTC
    model: the dequantized network without rounding, equal to `simulate_stream(..., ops=FloatOps)` up to
    float64 rounding).

    backend: "cpu" (Loihi2SimCfg) or "loihi2" (Loihi2HwCfg; needs Intel's lava-loihi, see `loihi_available`).
    async_models: wrap the models with PyLoihiModelToPyAsyncModel (2-3x faster, same outputs, measured by
    benchmarks/lava_vs_sim.py). Recording needs the synchronous models (Lava's Read probes work only there).
    Synchronous runs proceed in chunks of chunk_samples windows (a progress bar with progress=True); the async
    models support one run() call only, so an async run is one chunk.
    """
    ensure_lava()
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.dense.process import Dense
    from lava.proc.io.sink import Read, RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.lif.process import LIFReset
    from ltcsn.hardware.lava_procs.gate import SpikeGate
    from ltcsn.hardware.lava_procs.ltc import LtcNeuronProcess

    x_int = np.asarray(x_int, dtype=np.int64)
    B, T = x_int.shape[:2]
    P = window_length(qnet, T)
    steps = B * P
    stream = np.zeros((B, P, int(np.prod(qnet.input_shape))), dtype=np.int64)
    stream[:, :T] = x_int.reshape(B, T, -1)
    source = Source(data=stream.reshape(B * P, -1).T.copy())
    graded = tuple(qnet.input_range) != (0, 1)
    procs, probes = [source], []
    below = source.s_out
    layers = (*qnet.layers, qnet.readout)
    for i, layer in enumerate(layers):
        hop = i + 1
        if isinstance(layer, QLif):
            neuron = LIFReset(shape=(layer.n,), **_lif_params(layer, tag), reset_interval=P,
                              reset_offset=(hop + 1) % P)
        else:
            neuron = LtcNeuronProcess(layer, qnet.lut, hop=hop, window=P)
        procs.append(neuron)
        recurrent_out = neuron.s_out
        if isinstance(layer, QLif) and any(syn.source == "self" for syn in layer.syn):
            gate = SpikeGate(shape=(layer.n,), hop=hop, window=P)
            neuron.s_out.connect(gate.s_in)
            recurrent_out = gate.s_out
            procs.append(gate)
        for src, shift, w in _dense_groups(layer):
            if tag == "fixed_pt":
                weights, weight_exp = lava_dense_params(w, shift)
            else:  # float Dense has no exponent; Lava's float LIF adds a_in without the << 6
                weights, weight_exp = w * 2.0**shift * (64 if isinstance(layer, QLif) else 1), 0
            dense = Dense(weights=weights, weight_exp=weight_exp, num_weight_bits=8,
                          num_message_bits=_message_bits(layers, i, src, graded))
            (below if src == "input" else recurrent_out).connect(dense.s_in)
            dense.a_out.connect(neuron.a_in)
            procs.append(dense)
        is_last = i == len(layers) - 1
        out_port = neuron.u_out if sends(layer) == "u" else neuron.s_out
        if record or is_last:
            sink = Sink(shape=(layer.n,), buffer=steps)
            out_port.connect(sink.a_in)
            reads = {}
            if record and not is_last:
                for var in (("u", "v") if isinstance(layer, QLif) else
                            ("s", "b") if sends(layer) == "u" else ("u", "b")):
                    reads[var] = Read(buffer=steps)
                    reads[var].connect_var(getattr(neuron, var))
            probes.append((layer, sink, reads))
            procs += [sink, *reads.values()]
        below = out_port

    use_async = async_models and not record and backend == "cpu"
    if backend == "loihi2":
        from lava.magma.core.run_configs import Loihi2HwCfg
        run_cfg = Loihi2HwCfg(select_tag=tag)
    else:
        run_cfg = _async_cfg(Loihi2SimCfg, tag) if use_async else Loihi2SimCfg(select_tag=tag)
    if use_async:
        chunk_samples = B
    t0 = time.perf_counter()
    try:
        with tqdm(total=B, desc=f"lava {backend}", unit="sample", disable=not progress, leave=False) as bar:
            for start in range(0, B, chunk_samples):
                n = min(chunk_samples, B - start)
                source.run(condition=RunSteps(num_steps=n * P), run_cfg=run_cfg)
                bar.update(n)
        seconds = time.perf_counter() - t0
        read = [(layer, sink.data.get(), {k: r.data.get() for k, r in reads.items()})
                for layer, sink, reads in probes]
    finally:
        source.stop()

    def window(a):  # Lava buffers are [n, steps] float64 (holding exact integers for fixed_pt)
        a = np.asarray(a)
        if tag == "fixed_pt":
            if not np.array_equal(a, np.round(a)):
                raise RuntimeError("Lava returned a non-integer value")
            a = a.astype(np.int64)
        return a.T.reshape(B, P, -1)

    outs = window(read[-1][1])
    records = []
    if record:
        for layer, spikes, reads in read:
            names = state_names(layer)
            rec = {"u" if layer.kind == "readout" or sends(layer) == "u" else "s": window(spikes)}
            if layer.kind == "lif":
                rec.update(i=window(reads["u"]), v=window(reads["v"]))
            elif layer.kind != "readout":
                rec.update({k: window(r) for k, r in reads.items()})
            records.append({k: rec[k] for k in names})
    return LavaRun(outs=outs, records=records, seconds=seconds, steps=steps, processes=len(procs))


def _message_bits(layers, i: int, src: str, graded_input: bool) -> int:
    """Payload bits of the Dense feeding layer i from src: 8 for graded network input, 24 for the membrane u
    that a layer with output "u" sends, 0 (binary spikes) otherwise."""
    if src != "input":
        return 0
    if i == 0:
        return 8 if graded_input else 0
    return 24 if sends(layers[i - 1]) == "u" else 0


def _lif_params(layer, tag: str) -> dict:
    """LIFReset parameters: the integer codes (fixed_pt), or the same LIF in float units (floating_pt:
    decays as fractions, threshold and bias in the integer network's units, a_in unshifted)."""
    if tag == "fixed_pt":
        return dict(du=int(layer.du), dv=int(layer.dv), vth=int(layer.vth),
                    bias_mant=np.asarray(layer.bias_mant), bias_exp=int(layer.bias_exp))
    return dict(du=(layer.du + 1) / 4096, dv=layer.dv / 4096, vth=float(layer.vth * 64),
                bias_mant=np.asarray(layer.bias_mant, dtype=float) * 2.0**layer.bias_exp, bias_exp=0)


def _async_cfg(cfg_class, tag: str):
    """A fixed_pt run config whose selected models are wrapped by Lava's PyLoihiModelToPyAsyncModel: each process
    runs its steps without the per-step phase handshake (same outputs; channels still order the data)."""
    from lava.magma.core.model.py.model import PyLoihiModelToPyAsyncModel

    class AsyncSimCfg(cfg_class):
        def select(self, process, proc_models):
            return PyLoihiModelToPyAsyncModel(super().select(process, proc_models))

    return AsyncSimCfg(select_tag=tag)
