"""Batched integer simulation of a `QNet` (batch x time x neurons, vectorised over batch and neurons)."""
import multiprocessing
import time

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from ltcsn.sim.integer import init_state, layer_step
from ltcsn.sim.ops import NumpyOps

STATE_NAMES = {"ltc": ("u", "s", "b"), "alif": ("u", "s", "b"), "lif": ("i", "v", "s"),
               "atrlif": ("i", "v", "s", "theta", "r"), "readout": ("u",)}


def state_names(layer) -> tuple:
    return STATE_NAMES[layer.kind]


def _store(records, layers, state, t: int):
    """Write every layer's state variables of step t into the records (one dict per layer)."""
    for rec, layer, st in zip(records, layers, state):
        for name, value in zip(state_names(layer), st):
            rec[name][:, t] = value


def simulate(qnet, x_int, record: bool = False, lava_clock: bool = False, ops=NumpyOps):
    """Run the integer network on input codes x_int [B, T, *input_shape] (int64).

    Returns readout u [B, T, n_out] (int64, scale 2^-F) and, with record=True, a list with one dict per
    layer (readout last) mapping each state variable name to its values [B, T, n] at every step.
    lava_clock=False: layer l at step t reads layer l-1 of the same step (docs/fixed_point.md).
    lava_clock=True: every synapse delays by one step, as Lava's Dense does: layer l at step t reads
    layer l-1 of step t-1 (the input of step t-1 for the first layer; zeros at t = 0).
    """
    x_int = np.asarray(x_int, dtype=np.int64)
    B, T = x_int.shape[:2]
    qnet = ops.prepare(qnet)
    layers = (*qnet.layers, qnet.readout)
    state = [init_state(ops, layer, B) for layer in layers]
    dtype = ops.dtype
    outs = np.empty((B, T, qnet.n_out), dtype=dtype)
    rec = [{k: np.empty((B, T, layer.n), dtype=dtype) for k in state_names(layer)} for layer in layers] \
        if record else None
    delivered = [ops.zeros(B, int(np.prod(qnet.input_shape)))] + [ops.zeros(B, layer.n) for layer in layers[:-1]]
    for t in range(T):
        x = x_int[:, t].reshape(B, -1)
        sent = [x]
        for i, layer in enumerate(layers):
            out, state[i] = layer_step(ops, layer, delivered[i] if lava_clock else sent[i], state[i], qnet.lut)
            sent.append(out)
        delivered = sent[:-1]
        outs[:, t] = out
        if record:
            _store(rec, layers, state, t)
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


def window_length(qnet, seq_len: int) -> int:
    """Steps per sample on Lava: T input steps plus one step per synaptic hop to flush the pipeline."""
    return seq_len + len(qnet.layers) + 1


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
    P = window_length(qnet, T)
    dtype = ops.dtype
    stream = np.zeros((B, P, int(np.prod(qnet.input_shape))), dtype=dtype)
    stream[:, :T] = x_int.reshape(B, T, -1)
    stream = stream.reshape(1, B * P, -1)
    qnet = ops.prepare(qnet)
    layers = (*qnet.layers, qnet.readout)
    state = [init_state(ops, layer, 1) for layer in layers]
    outs = np.empty((1, B * P, qnet.n_out), dtype=dtype)
    rec = [{k: np.empty((1, B * P, layer.n), dtype=dtype) for k in state_names(layer)} for layer in layers] \
        if record else None
    delivered = [np.zeros_like(stream[:, 0])] + [ops.zeros(1, layer.n) for layer in layers[:-1]]
    for tau in range(B * P):
        w = tau % P
        sent = [stream[:, tau]]
        for i, layer in enumerate(layers):
            hop = i + 1
            if layer.kind in ("lif", "atrlif"):
                if w == hop:    # every state variable but s back to its initial value
                    state[i] = (*init_state(ops, layer, 1)[:2], state[i][2], *init_state(ops, layer, 1)[3:])
                gated = state[i] if (w - 1) % P >= hop else (*state[i][:2], 0 * state[i][2], *state[i][3:])
                out, state[i] = layer_step(ops, layer, delivered[i], gated, qnet.lut)
            elif w < hop:
                state[i] = init_state(ops, layer, 1)
                out = state[i][1] if layer.spiking else state[i][0]
            else:
                out, state[i] = layer_step(ops, layer, delivered[i], state[i], qnet.lut)
            sent.append(out)
        delivered = sent[:-1]
        outs[:, tau] = out
        if record:
            _store(rec, layers, state, tau)
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
