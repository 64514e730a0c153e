"""Third-party NIR graphs (norse, snnTorch, sinabs, rockpool, ...) of LIF / CubaLIF / IF / LI neurons and linear
nodes, read into float layer descriptions (`ltcsn.train.quantize.float_parts` form) and quantized by
`ltcsn.train.quantize.quantize_parts`, the code that quantizes checkpoints. Every chain of linear nodes between
two neuron layers becomes one dense matrix (export/nir_graph.py). dt and the producer's conventions (norse's
tau*dt export bug norse#411, norse's CubaLIF input, snnTorch's reset) come from export/nir_producers.py.
How such graphs are read: docs/nir_schema.md.
"""
import numpy as np
import torch

from ltcsn.export.nir_common import NirError, as_array, tname
from ltcsn.export.nir_graph import compose, input_shape, structure, unused_note
from ltcsn.export.nir_producers import V_LEAK_START, decide_dt, producer_of
from ltcsn.sim.spec import SPLIT_WEIGHT_BITS, WEIGHT_BITS
from ltcsn.train.quantize import QuantizationError, input_encoding, quantize_parts, target_profile

TAU_RTOL = 1e-5               # tolerance for "the same τ across a layer" (float32 files)


def _param(node, field: str, n: int, name: str, where: str) -> np.ndarray:
    a = as_array(getattr(node, field)).reshape(-1)
    if a.size == 1 and n != 1:
        a = np.full(n, a[0])
    if a.size != n:
        raise NirError(f"{where}: inconsistent shapes: '{name}' has {a.size} values of {field} for {n} neurons")
    return a


def _neuron_shape(node, fields=("v_threshold", "tau", "r")):
    for f in fields:
        if hasattr(node, f) and getattr(node, f) is not None:
            s = tuple(np.shape(as_array(getattr(node, f))))
            if s and int(np.prod(s)) > 1:
                return s
    return None


def _taus(node) -> dict:
    t = tname(node)
    fields = {"LIF": ("tau",), "LI": ("tau",), "CubaLIF": ("tau_syn", "tau_mem")}.get(t, ())
    return {f: as_array(getattr(node, f)).reshape(-1) for f in fields}


def _decide_norse411(graph, dt: float, norse411, producer, where: str) -> bool:
    """Whether the graph's time constants are tau*dt (norse#411): forced by norse411=True/False, else only for a
    producer that writes them so (norse) and only when some tau < dt/2 (impossible under forward Euler)."""
    taus = [v for n in graph.nodes.values() for v in _taus(n).values()]
    if not taus:
        return False
    allt = np.concatenate(taus)
    if np.any(~(allt > 0)):
        raise NirError(f"{where}: a time constant is <= 0 or NaN")
    if norse411 is None:
        return bool(producer.tau_times_dt and np.min(allt) < dt / 2)
    return bool(norse411)


def _delta(tau: np.ndarray, dt: float, field: str, name: str, where: str) -> np.ndarray:
    """Per-step fraction dt/τ (forward Euler); τ = inf gives 0. Raises if dt/τ > 1 (unstable)."""
    d = dt / tau
    if np.any(d > 1 + 1e-6):
        raise NirError(f"{where}: '{name}' has {field} = {float(np.min(tau)):.3g} s < dt = {dt:g} s: forward Euler "
                       f"is unstable at this dt; pass the dt the graph was made for (--dt), or --producer norse for a "
                       f"norse 1.1.0 export that wrote tau*dt (norse#411)")
    return np.minimum(d, 1.0)


def _uniform(d: np.ndarray, field: str, name: str, where: str) -> float:
    if d.size and not np.allclose(d, d.mean(), rtol=TAU_RTOL, atol=0):
        raise NirError(f"{where}: '{name}': {field} differs across its neurons (dt/{field} from {d.min():.4g} to "
                       f"{d.max():.4g}); our LIF layer, like Lava's, has one decay per layer")
    return float(d.mean()) if d.size else 0.0


def _foreign_layer(name: str, node, W, b, Ws, bs, dt: float, scale_tau: float, last: bool, producer,
                   notes: list, where: str) -> dict:
    """Float parts (ltcsn.train.quantize.float_parts form) of one third-party neuron layer fed by W x + b (+ the
    recurrent Ws s + bs)."""
    t = tname(node)
    n = W.shape[0]
    W = W.numpy()
    b = b.numpy()
    Ws = None if Ws is None else Ws.numpy()
    bias_in = b + (0 if bs is None else bs.numpy())
    if t in ("LIF", "CubaLIF", "IF"):
        if t == "IF":
            r = _param(node, "r", n, name, where)
            gain, leak, du, dv = r, 0.0, 1.0, 0.0     # v[t] = v[t-1] + r I[t] (per step, as sinabs and norse)
        elif t == "LIF":
            tau = _param(node, "tau", n, name, where) / scale_tau
            r = _param(node, "r", n, name, where)
            d = _delta(tau, dt, "tau", name, where)
            dv = _uniform(d, "tau", name, where)
            gain, leak, du = d * r, d * _param(node, "v_leak", n, name, where), 1.0
        else:
            ts = _param(node, "tau_syn", n, name, where) / scale_tau
            tm = _param(node, "tau_mem", n, name, where) / scale_tau
            r = _param(node, "r", n, name, where)
            w_in = _param(node, "w_in", n, name, where)
            ds = _delta(ts, dt, "tau_syn", name, where)
            dm = _delta(tm, dt, "tau_mem", name, where)
            du, dv = _uniform(ds, "tau_syn", name, where), _uniform(dm, "tau_mem", name, where)
            # NIR: I += ds (w_in x - I); the producer's "direct" convention (norse): I = (1 - ds) I + w_in x
            gain = dm * r * w_in * (1.0 if producer.cuba_input == "direct" else ds)
            leak = dm * _param(node, "v_leak", n, name, where)
        v_reset = _param(node, "v_reset", n, name, where) if getattr(node, "v_reset", None) is not None else 0
        if np.any(np.asarray(v_reset) != 0):
            raise NirError(f"{where}: '{name}': v_reset != 0 is not supported (our neurons reset to 0)")
        thr = _param(node, "v_threshold", n, name, where)
        if np.any(~(thr > 0)):
            raise NirError(f"{where}: '{name}': v_threshold must be > 0")
        # a bias into a current that decays (du < 1) is no bias on v: a synapse from a source of 1 every step
        # carries it into the current (du = 1: the current has no memory, so it is the same as a bias on v)
        into_current = du < 1 and np.any(bias_in != 0)
        bias = leak + (0 if into_current else gain * bias_in)
        rows = gain
        vth = float(thr[0])
        if not np.allclose(thr, thr[0], rtol=1e-7, atol=0):
            # spikes are unchanged when a neuron's v is divided by its threshold: scale its inputs instead
            rows, bias, vth = gain / thr, bias / thr, 1.0
            notes.append(f"{name}: per-neuron thresholds folded into the weights (v_th = 1)")
        syn = {"input": torch.from_numpy(W * rows[:, None])}
        if Ws is not None:
            syn["self"] = torch.from_numpy(Ws * rows[:, None])
        if into_current:
            syn["const"] = torch.from_numpy((bias_in * rows)[:, None])
        return {"kind": "lif", "syn": {"d": syn}, "bias": {"v": torch.from_numpy(bias * np.ones(n))},
                "du": torch.tensor(du, dtype=torch.float64), "dv": torch.tensor(dv, dtype=torch.float64),
                "vth": vth}
    # LI: the readout
    if not last:
        raise NirError(f"{where}: LI node '{name}' is not the last neuron layer (hidden layers must spike)")
    if Ws is not None:
        raise NirError(f"{where}: LI node '{name}' is recurrent; our readout has no recurrent synapses")
    tau = _param(node, "tau", n, name, where) / scale_tau
    r = _param(node, "r", n, name, where)
    alpha = _delta(tau, dt, "tau", name, where)
    # v = (1-α) v + α (v_leak + r (W x + b)): our readout with W_o = r W, c = r b + v_leak
    return {"kind": "readout", "syn": {"d": {"input": torch.from_numpy(W * r[:, None])}},
            "bias": {"d": torch.from_numpy(r * b + _param(node, "v_leak", n, name, where))}, "mix": {},
            "alpha": torch.from_numpy(alpha)}


def _stored_dt(gmeta: dict):
    v = gmeta.get("dt")
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _weights_line(weight_bits: int, report: list) -> str:
    """How the weights are coded, with the largest relative RMS error of a weight matrix (the report's rows)."""
    rows = [r for r in report if r["tensor"].rsplit(".", 1)[-1] in ("input", "self")]
    worst = max(rows, key=lambda r: r["rel_error"])
    error = f"largest relative error {worst['rel_error']:.3%}: {worst['tensor']}"
    if weight_bits == SPLIT_WEIGHT_BITS:
        return (f"weights: 8-bit codes and a second Dense for their remainder, up to {weight_bits} bits where the "
                f"layer's scale has room ({error})")
    return (f"weights: {weight_bits}-bit codes, one Dense per weight matrix ({error}); --weight-bits "
            f"{SPLIT_WEIGHT_BITS} adds a Dense for the codes' remainder")


def read_foreign(graph, gmeta: dict, dt, norse411, x_sample, where: str, producer: str = None,
                 notes: list = (), weight_bits: int = WEIGHT_BITS, target: str = None):
    """A third-party graph -> (QNet, info). dt: --dt (None: the graph's stored dt, else the producer's
    convention, export/nir_producers.py); producer: a PRODUCERS name or None/"auto" (recognised from the graph);
    notes: lines already due (e.g. a dropped batch dimension); weight_bits: 8 or 15 (`train.quantize.synapse_codes`);
    target: the chip profile it is quantized under (`train.quantize.TARGETS`; None: the default)."""
    prod, how = producer_of(graph, producer)
    dt, rule = decide_dt(graph, _stored_dt(gmeta), dt, prod, where)
    st = structure(graph, where)
    reading = [f"producer: {prod.label} ({how})",
               f"read at dt = {dt:g} s: {rule}" if dt is not None else f"dt: {rule}"]
    if prod.warning:
        reading.append(f"warning: {prod.warning}")
    if prod.starts_at_v_leak and any(np.any(as_array(getattr(n, "v_leak", 0)) != 0) for n in graph.nodes.values()
                                     if tname(n) in ("LIF", "LI", "CubaLIF")):
        reading.append(f"warning: {prod.label}: {V_LEAK_START}")
    notes = list(notes)
    if st["unused"]:
        notes.append(unused_note(graph, st["unused"]))
    n411 = _decide_norse411(graph, dt, norse411, prod, where)
    scale_tau = dt if n411 else 1.0
    if n411:
        notes.append(f"norse#411: time constants read as tau*dt (divided by dt = {dt:g} s)")
    if prod.cuba_input == "direct" and any(tname(n) == "CubaLIF" for n in graph.nodes.values()):
        notes.append(f"{prod.label} CubaLIF: the input jumps into the current (I = (1 - dt/tau_syn) I + w_in x)")
    in_shape = input_shape(graph, st["input"], where)
    shape = in_shape
    parts, names = [], []
    for j, (name, srcs) in enumerate(st["layers"]):
        node = graph.nodes[name]
        W, b, _ = compose(graph, srcs["input"], shape, where)
        n = W.shape[0]
        own = _neuron_shape(node)
        if own is not None and int(np.prod(own)) != n:
            raise NirError(f"{where}: inconsistent shapes: '{name}' has {int(np.prod(own))} neurons, its input "
                           f"gives {n}")
        Ws = bs = None
        out_shape = own or (n,)
        if srcs["self"]:
            Ws, bs, _ = compose(graph, srcs["self"], out_shape, where)
            if Ws.shape != (n, n):
                raise NirError(f"{where}: inconsistent shapes: recurrent weights of '{name}' are {list(Ws.shape)}")
        last = j == len(st["layers"]) - 1
        parts.append(_foreign_layer(name, node, W, b, Ws, bs, dt, scale_tau, last, prod, notes, where))
        names.append(name)
        shape = out_shape
    if parts[-1]["kind"] != "readout":
        # no LI readout: the readout reports the last layer's output (its spikes, through any trailing linear
        # nodes) every step, with α = 1 (u = W s + b on scale 2^-F)
        W, b, _ = compose(graph, st["tail"], shape, where)
        parts.append({"kind": "readout", "syn": {"d": {"input": W}}, "bias": {"d": b}, "mix": {},
                      "alpha": torch.ones(W.shape[0], dtype=torch.float64)})
        notes.append("no LI readout: a readout with alpha = 1 passes the last layer's output "
                     f"({'through the trailing linear nodes' if st['tail'] != [[]] else 'identity'})")
    elif st["tail"] != [[]]:
        raise NirError(f"{where}: linear nodes after the LI readout '{names[-1]}' are not supported")
    enc = input_encoding(torch.as_tensor(np.asarray(x_sample))) if x_sample is not None else (0, (0, 1))
    try:
        qnet, plan, report = quantize_parts(parts, in_shape, encoding=enc, weight_bits=weight_bits,
                                            **target_profile(target))
    except QuantizationError as e:
        raise NirError(f"{where}: {e}") from None
    reading.append(_weights_line(weight_bits, report))
    if target is not None:
        reading.append(f"quantized for --target {target}")
    info = {"origin": "third-party", "dt": dt, "producer": prod.name, "reading": reading, "norse411": n411,
            "notes": notes, "layers": names, "parts": parts, "plan": plan, "report": report,
            "quantized_file": False}
    return qnet, info

