"""Batched integer simulation of a `QNet` (batch x time x neurons, vectorised over batch and neurons)."""
import multiprocessing
import time

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from ltcsn.sim import spec
from ltcsn.sim.integer import decay_type, init_state, layer_step, state_type
from ltcsn.sim.qnet import QLif
from ltcsn.sim.ops import NumpyOps


def _records(layers, shape: tuple, dtype, decays: bool = False) -> list:
    """Empty records: one dict per layer mapping each state variable (the fields of its state type; with decays,
    those of its decay type too) to an array [*shape, n]."""
    def fields(layer):
        return state_type(layer)._fields + (decay_type(layer)._fields if decays and decay_type(layer) else ())
    return [{k: np.empty((*shape, layer.n), dtype=dtype) for k in fields(layer)} for layer in layers]


def _store(records, state, t: int):
    """Write every layer's state variables (NamedTuples, or None for nothing) of step t into the records."""
    for rec, st in zip(records, state):
        for name, value in (st._asdict().items() if st is not None else ()):
            rec[name][:, t] = value


def simulate(qnet, x_int, record: bool = False, lava_clock: bool = False, ops=NumpyOps, decays: bool = False):
    """Run the integer network on input codes x_int [B, T, *input_shape] (int64).

    Returns readout u [B, T, n_out] (int64, scale 2^-F) and, with record=True, a list with one dict per
    layer (readout last) mapping each state variable name to its values [B, T, n] at every step; with
    decays=True as well, each LTC / ALIF / readout layer's dict also holds its decay codes of every step
    ("alpha", "rho"; readout "alpha": `sim.integer.decay_type`, 12-bit, decay = code / 4096).
    lava_clock=False: layer l at step t reads layer l-1 of the same step (docs/fixed_point.md).
    lava_clock=True: every synapse delays by one step, as Lava's Dense does: layer l at step t reads
    layer l-1 of step t-1 (the input of step t-1 for the first layer; zeros at t = 0).
    """
    x_int = np.asarray(x_int, dtype=np.int64)
    B, T = x_int.shape[:2]
    qnet = ops.prepare(qnet)
    layers = qnet.all_layers
    state = [init_state(ops, layer, B) for layer in layers]
    dtype = ops.dtype
    outs = np.empty((B, T, qnet.n_out), dtype=dtype)
    decays = record and decays
    rec = _records(layers, (B, T), dtype, decays) if record else None
    codes = [None] * len(layers)
    delivered = [ops.zeros(B, int(np.prod(qnet.input_shape)))] + [ops.zeros(B, layer.n) for layer in layers[:-1]]
    for t in range(T):
        x = x_int[:, t].reshape(B, -1)
        sent = [x]
        for i, layer in enumerate(layers):
            x_i = delivered[i] if lava_clock else sent[i]
            const = int(t > 0 or not lava_clock)     # the constant source's synapse delays by one step too
            if decays:
                out, state[i], codes[i] = layer_step(ops, layer, x_i, state[i], qnet.lut, decays=True, const=const)
            else:
                out, state[i] = layer_step(ops, layer, x_i, state[i], qnet.lut, const=const)
            sent.append(out)
        delivered = sent[:-1]
        outs[:, t] = out
        if record:
            _store(rec, state, t)
            _store(rec, codes, t)
    return (outs, rec) if record else outs


def _one_blas_thread():
    threadpool_limits(1)


def simulate_parallel(qnet, x_int, workers: int) -> np.ndarray:
    """`simulate(qnet, x_int)` with the batch split over `workers` forked processes, one BLAS thread each, so that
    numpy's elementwise integer work (one core per process) uses every core. Same readout u [B, T, n_out]."""
    x_int = np.asarray(x_int, dtype=np.int64)
    workers = min(workers, len(x_int))
    if workers <= 1:
        return simulate(qnet, x_int)
    with multiprocessing.get_context("fork").Pool(workers, initializer=_one_blas_thread) as pool:
        return np.concatenate(pool.starmap(simulate, [(qnet, part) for part in np.array_split(x_int, workers)]))


def predict(qnet, outs) -> np.ndarray:
    """Prediction from the last step: class index (argmax of u) or the regression value u / 2^F."""
    last = outs[:, -1]
    if qnet.task.get("kind", "classification") == "classification":
        return last.argmax(-1)
    return last / float(1 << qnet.readout.frac_bits)


def simulate_stream(qnet, x_int, record: bool = False, ops=NumpyOps):
    """The clock of the Lava mapping (hardware/), step for step: samples run one after another as windows of
    P = T + H steps (input zero-padded, H = number of layers incl. the readout), every synapse delays by one
    step, and the layer at hop h (layer index + 1) starts each window at window step h from zero state:
    LTC / ALIF / readout layers hold at zero before it; LIF layers are reset there (Lava's LIFReset; ATRLIF
    layers: their Vars are set to the initial state between runs, hardware/lava_net.py) and their
    recurrent synapses receive no spikes sent before it (hardware's SpikeGate).
    Layer at hop h, window step w then equals the same layer of `simulate` at step w - h (0 <= w - h < T).

    x_int [B, T, ...]. Returns outs [B, P, n_out] and, with record=True, per-layer dicts of [B, P, n].
    """
    x_int = np.asarray(x_int, dtype=np.int64)
    B, T = x_int.shape[:2]
    P = qnet.window_length(T)
    dtype = ops.dtype
    stream = spec.pad_windows(x_int, P, dtype).reshape(1, B * P, -1)
    qnet = ops.prepare(qnet)
    layers = qnet.all_layers
    state = [init_state(ops, layer, 1) for layer in layers]
    outs = np.empty((1, B * P, qnet.n_out), dtype=dtype)
    rec = _records(layers, (1, B * P), dtype) if record else None
    delivered = [np.zeros_like(stream[:, 0])] + [ops.zeros(1, layer.n) for layer in layers[:-1]]
    for tau in range(B * P):
        w = spec.window_step(tau, P)
        sent = [stream[:, tau]]
        for i, layer in enumerate(layers):
            hop = spec.layer_hop(i)
            st = state[i]
            if isinstance(layer, QLif):      # Lava's LIF and ATRLIF (LIFReset / its reset)
                if w == hop:         # every state variable but s back to its initial value
                    st = init_state(ops, layer, 1)._replace(s=st.s)
                if spec.warming_up(spec.window_step(tau - 1, P), hop):   # SpikeGate: no warm-up spikes recur
                    st = st._replace(s=0 * st.s)
                out, state[i] = layer_step(ops, layer, delivered[i], st, qnet.lut, const=int(tau > 0))
            elif spec.warming_up(w, hop):
                state[i] = init_state(ops, layer, 1)
                out = state[i].u if not layer.spiking else state[i].s
            else:
                out, state[i] = layer_step(ops, layer, delivered[i], st, qnet.lut, const=int(tau > 0))
            sent.append(out)
        delivered = sent[:-1]
        outs[:, tau] = out
        if record:
            _store(rec, state, tau)
    outs = outs.reshape(B, P, -1)
    if not record:
        return outs
    return outs, [{k: v.reshape(B, P, -1) for k, v in r.items()} for r in rec]


def evaluate_qnet(qnet, task, samples: int = None, batch_size: int = 256, workers: int = 1):
    """Test-set score of the integer network: accuracy (0..1) or MSE. Returns (score, samples, seconds).
    workers > 1: batches of batch_size * workers samples, each split over that many processes (`simulate_parallel`)."""
    t0, score, count = time.perf_counter(), 0.0, 0
    batch_size *= max(workers, 1)
    n_batches = -(-min(samples or len(task.x_test), len(task.x_test)) // batch_size)
    for x, y in tqdm(task.test_batches(batch_size, samples), total=n_batches, desc="sim", leave=False,
                     disable=None):     # None: a bar on a terminal only, never frames in a log file
        pred = predict(qnet, simulate_parallel(qnet, qnet.encode_input(x.numpy()), workers))
        y = y.numpy()
        score += float((pred == y).sum()) if task.kind == "classification" else float(((pred - y) ** 2).mean(-1).sum())
        count += len(x)
    return score / count, count, time.perf_counter() - t0
