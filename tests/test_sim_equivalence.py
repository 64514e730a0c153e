"""sim/ (NumpyOps, int64) == the quantized PyTorch model (SteOps, float64), element for element.

Both sides run the step equations of sim/integer.py (docs/fixed_point.md); what differs is the backend:
int64 shifts / masks / clips against float64 floor / trunc / remainder / clamp with straight-through
gradients. Every layer's state variables are compared at every step, not only the readout:
  * sim: ``sim.simulate.simulate(qnet, x_int, record=True)``;
  * torch: ``sim.integer.net_step(SteOps, qnet_t, ...)`` on the same QNet with float64 tensors, recorded by
    ``train.quantized.simulate_torch`` (and, for quantized float models, ``QuantizedNet.forward(integer=True)``).
Networks come from two sources: QNets drawn directly as integer codes (``qnet_cases``; shifts and biases
span enough range that a good share of examples saturate the 24-bit LTC / ALIF / readout values and wrap /
saturate the LIF state, which ``test_random_qnets_hit_saturation_and_wrap`` asserts), and random float
SpikingNets quantized by ``export.quantize.quantize`` (``float_cases``).
A mismatch fails with ``sim.compare.first_divergence``'s message (layer, variable, step, batch, neuron, values).
"""
import collections
import dataclasses

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ltcsn.train.quantize import float_parts, quantize, target_profile, to_numpy
from ltcsn.sim.compare import first_divergence
from ltcsn.sim.integer import decay_type, gate_decay, init_state, layer_step, state_type, synaptic_input
from ltcsn.sim.ops import NumpyOps
from ltcsn.sim.qnet import DECAY_ONE, LUT_SAT_IMPLIED_MAX_F, QLif, QLtc, QNet, QSynapse, sends, sigmoid_lut
from ltcsn.sim.simulate import simulate, simulate_parallel
from ltcsn.train.model import LayerConfig, NetConfig, SpikingNet
from ltcsn.train.quantized import QuantizedNet, simulate_torch

SAT24 = 2**23 - 1
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ---------------------------------------------------------------------------------------------- helpers
def layer_names(qnet):
    return [f"layer{i}:{layer.kind}" for i, layer in enumerate(qnet.layers)] + ["readout"]


def assert_equivalent(qnet, x_int, what=""):
    """simulate (NumpyOps) vs net_step (SteOps): every state variable of every layer at every step."""
    out_np, rec_np = simulate(qnet, x_int, record=True)
    out_t, rec_t = simulate_torch(qnet, x_int)
    div = first_divergence(rec_np, rec_t, names=("sim", "torch"), layer_names=layer_names(qnet))
    assert div is None, f"{what}: {div['message']}"
    for r_np, r_t in zip(rec_np, rec_t):  # the explicit form of the check above
        assert all(np.array_equal(r_np[k], r_t[k]) for k in r_np)
    assert np.array_equal(out_np, out_t)
    return out_np, rec_np


def count_events(qnet, x_int):
    """Per layer, how often sat / wrap32 / wrap_once24 changed a value (NumpyOps with counters); a gate
    pre-activation z beyond 24 bits counts as "sat" too (the spec's sat(z, 24), implied by the LUT's clip)."""
    counters = []

    def counting_ops(counts):
        def counted(name, fn):
            def f(x, *args):
                y = fn(x, *args)
                counts[name] += int(np.count_nonzero(np.asarray(y) != np.asarray(x)))
                return y
            return staticmethod(f)

        def lut(table, z, frac_bits):
            counts["sat"] += int(np.count_nonzero(np.abs(z) > 2**23 - 1))
            return NumpyOps.lut(table, z, frac_bits)
        return type("CountingOps", (NumpyOps,), {"sat": counted("sat", NumpyOps.sat), "lut": staticmethod(lut),
                                                  "wrap32": counted("wrap32", NumpyOps.wrap32),
                                                  "wrap_once24": counted("wrap_once24", NumpyOps.wrap_once24)})

    layers = (*qnet.layers, qnet.readout)
    ops = []
    for _ in layers:
        counters.append(collections.Counter())
        ops.append(counting_ops(counters[-1]))
    x_int = np.asarray(x_int, dtype=np.int64)
    B, T = x_int.shape[:2]
    state = [init_state(NumpyOps, layer, B) for layer in layers]
    for t in range(T):
        x = x_int[:, t].reshape(B, -1)
        for i, layer in enumerate(layers):
            x, state[i] = layer_step(ops[i], layer, x, state[i], qnet.lut)
    return counters


# ---------------------------------------------------------------------------------------------- strategies
def _log_int(rng, max_bits, size=None, signed=True):
    """Integers of log-uniform magnitude below 2^max_bits (small and huge values both occur)."""
    mag = np.floor(2.0 ** rng.uniform(0, max_bits, size)).astype(np.int64) - 1
    return mag * (rng.choice([-1, 1], size) if signed else 1)


def _codes(rng, shape, density):
    """Weight codes in [-127, 127], a fraction `density` of them non-zero (at least one)."""
    q = rng.integers(-127, 128, shape) * (rng.random(shape) < density)
    q.flat[rng.integers(q.size)] = rng.choice([-1, 1]) * rng.integers(1, 128)
    return q


LAYER_KINDS = ["lif", "ltc-dense", "alif", "ltc-diag"]


@st.composite
def qnet_cases(draw, kinds=None):
    """(QNet of int64 codes, input codes x_int [B, T, n_in]) drawn directly from the code space.

    Structure and exponents are drawn by hypothesis (so they shrink); array contents from a drawn seed.
    Synapse shifts reach 18 (LTC / ALIF / readout, so d and z saturate at 24 bits) and 22 (LIF, so u wraps,
    v saturates and a_in << 6 overflows int32); biases are log-uniform up to 2^23.
    """
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    graded = draw(st.booleans())
    input_range = draw(st.sampled_from([(0, 255), (-128, 127)])) if graded else (0, 1)
    n_in = draw(st.integers(1, 6))
    n_hidden = draw(st.integers(1, 2))
    density = draw(st.sampled_from([0.3, 1.0]))
    layers, n_src, first = [], n_in, True
    for _ in range(n_hidden):
        kind = draw(st.sampled_from(kinds or LAYER_KINDS))
        n = draw(st.integers(1, 6))
        recurrent = draw(st.booleans())
        loud = rng.random() < 0.5  # a loud layer: its synaptic sums mostly leave the 24-bit range
        in_bias = -8 if (first and graded) else 0  # graded sums are ~2^8 larger than spike counts

        def synapses(quiet, noisy):
            lo, hi = noisy if loud else quiet
            syn = [QSynapse(_codes(rng, (n, n_src), density), draw(st.integers(lo, hi)) + in_bias, "input")]
            if recurrent:
                syn.append(QSynapse(_codes(rng, (n, n), density), draw(st.integers(lo, hi)), "self"))
            return syn

        if kind == "lif":
            layers.append(QLif(n=n, syn={"d": synapses((-3, 12), (14, 22))},
                               du=int(rng.choice([0, 1, 300, 2048, 4000, 4095])),
                               dv=int(rng.choice([0, 1, 300, 2048, 4000, 4095])),
                               vth=int(_log_int(rng, 17, signed=False)), bias_mant=rng.integers(-4096, 4096, n)
                               * (rng.random(n) < 0.5), bias_exp=draw(st.integers(0, 7)),
                               frac_bits=draw(st.integers(6, 17))))
        else:
            gated = kind != "alif"
            mixing = "diag" if kind == "ltc-diag" else "dense"
            sigmoid = draw(st.sampled_from(["lut", "pwl"])) if mixing == "diag" else "lut"
            parts = ("d", "m", "a") if gated else ("d",)
            layer = QLtc(kind="ltc" if gated else "alif", n=n,
                         syn={p: synapses((-6, 12), (15, 22)) for p in parts},
                         bias={p: _log_int(rng, 23, n) * (rng.random(n) < 0.7) for p in parts},
                         gated=gated, mixing=mixing, sigmoid=sigmoid, theta0=int(_log_int(rng, 23, signed=False)),
                         beta=int(rng.integers(0, 2 * DECAY_ONE + 1)))
            if gated:
                for p in ("m", "a"):
                    layer.mix[p] = _codes(rng, (n, n) if mixing == "dense" else (n,), density)
                    layer.mix_shift[p] = draw(st.integers(-20, 2))
            else:
                layer.alpha = rng.choice([0, 1, 100, 2048, 4000, 4095, 4096], n)
                layer.rho = rng.choice([0, 1, 100, 2048, 4000, 4095, 4096], n)
            layers.append(layer)
        n_src, first = n, False
    n_out = draw(st.integers(1, 4))
    readout_gated = draw(st.booleans())
    loud = rng.random() < 0.5
    parts = ("d", "m") if readout_gated else ("d",)
    readout = QLtc(kind="readout", n=n_out,
                   syn={p: [QSynapse(_codes(rng, (n_out, n_src), density),
                                     draw(st.integers(*((15, 22) if loud else (-2, 12)))), "input")]
                        for p in parts},
                   bias={p: _log_int(rng, 23, n_out) * (rng.random(n_out) < 0.7) for p in parts},
                   gated=readout_gated, spiking=False, mixing=draw(st.sampled_from(["dense", "diag"])))
    if readout_gated and readout.mixing == "diag":
        readout.sigmoid = draw(st.sampled_from(["lut", "pwl"]))
    if readout_gated:
        readout.mix["m"] = _codes(rng, (n_out, n_out) if readout.mixing == "dense" else (n_out,), density)
        readout.mix_shift["m"] = draw(st.integers(-20, 2))
    else:
        readout.alpha = rng.choice([0, 1, 100, 2048, 4000, 4095, 4096], n_out)
    if isinstance(layers[-1], QLtc) and draw(st.booleans()):
        # membrane readout: the last layer sends its 24-bit u through wide synapses (int32 wrap before the shift)
        layers[-1].output = "u"
        for syns in readout.syn.values():
            syns[0].wide, syns[0].shift = True, draw(st.integers(*((0, 12) if loud else (-20, 0))))
    qnet = QNet(input_shape=(n_in,), input_frac=0 if not graded else 4, input_range=input_range,
                layers=layers, readout=readout, lut=sigmoid_lut())
    B, T = draw(st.integers(1, 3)), draw(st.integers(4, 16))
    lo, hi = input_range
    if graded:
        x = rng.integers(lo, hi + 1, (B, T, n_in)) * (rng.random((B, T, n_in)) < 0.7)
    else:
        x = (rng.random((B, T, n_in)) < rng.uniform(0.1, 0.9)).astype(np.int64)
    return qnet, x


# ---------------------------------------------------------------------------------------------- code-space QNets
@settings(max_examples=80, **SETTINGS)
@given(case=qnet_cases())
def test_random_qnets_sim_equals_torch(case):
    qnet, x = case
    assert_equivalent(qnet, x, f"random QNet {[layer.kind for layer in qnet.layers]}")


@settings(max_examples=30, **SETTINGS)
@given(case=qnet_cases())
def test_recorded_decays_are_the_codes_of_each_step(case):
    """simulate(record=True, decays=True): outputs and states as without decays; each LTC / ALIF / readout layer's
    "alpha" / "rho" at step t == sim.integer's gate_decay of that step's synaptic sums and the recorded state of
    step t - 1 (constants on ungated layers); the straight-through backend records the same codes."""
    from ltcsn.train.quantized import SteOps, to_torch
    qnet, x = case
    out, rec = simulate(qnet, x, record=True)
    out_d, rec_d = simulate(qnet, x, record=True, decays=True)
    assert np.array_equal(out, out_d)
    assert all(np.array_equal(r[k], rd[k]) for r, rd in zip(rec, rec_d) for k in r)
    _, rec_t = simulate(to_torch(qnet), x, record=True, ops=SteOps, decays=True)
    div = first_divergence(rec_d, rec_t, names=("sim", "torch"), layer_names=layer_names(qnet))
    assert div is None, div["message"]
    ops, prepared = NumpyOps, NumpyOps.prepare(qnet)
    layers = prepared.all_layers
    B, T = x.shape[:2]
    for i, layer in enumerate(layers):
        kind = decay_type(layer)
        assert set(rec_d[i]) == set(state_type(layer)._fields + (kind._fields if kind else ()))
        if kind is None:
            continue
        for t in range(T):
            fields = state_type(layer)._fields
            prev = (init_state(ops, layer, B) if t == 0 else
                    state_type(layer)(*(rec_d[i][k][:, t - 1] for k in fields)))
            below = x[:, t].reshape(B, -1) if i == 0 else rec_d[i - 1][sends(layers[i - 1])][:, t]
            sources = {"input": ops.operand(below), "self": ops.operand(prev.s) if "s" in fields else None}
            acc = {p: synaptic_input(ops, syns, sources) for p, syns in layer.syn.items()}
            want = {"alpha": gate_decay(ops, layer, "m", acc["m"], prev.u, qnet.lut) if layer.gated
                    else np.broadcast_to(layer.alpha, (B, layer.n))}
            if layer.spiking:
                want["rho"] = (gate_decay(ops, layer, "a", acc["a"], prev.b, qnet.lut) if layer.gated
                               else np.broadcast_to(layer.rho, (B, layer.n)))
            for name, code in want.items():
                assert np.array_equal(rec_d[i][name][:, t], code), f"layer {i} {name} step {t}"
                assert rec_d[i][name].dtype == np.int64 and 0 <= code.min() and code.max() <= DECAY_ONE


def test_random_qnets_hit_saturation_and_wrap():
    """A fixed (derandomized) sample of qnet_cases: equivalence, and a good share of the examples really
    saturate the LTC / ALIF / readout 24-bit values and wrap / saturate the LIF state."""
    stats = collections.Counter()

    @settings(max_examples=100, derandomize=True, database=None, **SETTINGS)
    @given(case=qnet_cases())
    def run(case):
        qnet, x = case
        assert_equivalent(qnet, x, "saturation sample")
        counts = count_events(qnet, x)
        layers = (*qnet.layers, qnet.readout)
        ltc = [c for c, layer in zip(counts, layers) if isinstance(layer, QLtc)]
        lif = [c for c, layer in zip(counts, layers) if isinstance(layer, QLif)]
        stats["examples"] += 1
        stats["ltc_sat"] += any(c["sat"] for c in ltc)       # every example has a readout (a QLtc)
        stats["membrane_readout"] += sends(qnet.layers[-1]) == "u"
        if lif:
            stats["with_lif"] += 1
            stats["lif_u_wrap"] += any(c["wrap_once24"] for c in lif)
            stats["lif_v_sat"] += any(c["sat"] for c in lif)
            stats["lif_int32_wrap"] += any(c["wrap32"] for c in lif)

    run()
    assert stats["ltc_sat"] >= 0.25 * stats["examples"], stats
    assert stats["with_lif"] >= 20, stats
    assert stats["lif_u_wrap"] >= 0.2 * stats["with_lif"], stats
    assert stats["lif_v_sat"] >= 0.2 * stats["with_lif"], stats
    assert stats["lif_int32_wrap"] >= 1, stats
    assert stats["membrane_readout"] >= 10, stats


def _syn(q, shift, source="input"):
    return QSynapse(np.asarray(q, dtype=np.int64), shift, source)


def test_targeted_saturation_and_wrap_edges():
    """Hand-built network in which every overflow path is taken, checked on both backends."""
    n_in = 3
    lif = QLif(n=3, syn={"d": [_syn([[127, 0, 0], [0, 127, 0], [0, 0, -127]], 17),
                               _syn(np.eye(3, dtype=np.int64) * 127, 19, "self")]},
               du=0, dv=4095, vth=2**17 - 1, bias_mant=np.array([4095, -4096, 0]), bias_exp=7, frac_bits=12)
    ltc = QLtc(kind="ltc", n=3, syn={"d": [_syn(np.full((3, 3), 127), 16)], "m": [_syn(np.full((3, 3), -127), 17)],
                                     "a": [_syn(np.eye(3, dtype=np.int64) * 100, 12)]},
               bias={"d": np.array([-SAT24, SAT24, 0]), "m": np.array([0, 2**22, -(2**22)]),
                     "a": np.zeros(3, np.int64)}, gated=True, mixing="dense",
               mix={"m": np.full((3, 3), 127), "a": np.full((3, 3), -127)}, mix_shift={"m": 0, "a": -2},
               theta0=2**22, beta=4096)
    alif = QLtc(kind="alif", n=2, syn={"d": [_syn([[127, -127, 127], [-127, -127, -127]], 18)]},
                bias={"d": np.array([SAT24, -SAT24])}, gated=False, alpha=np.array([4096, 1]),
                rho=np.array([0, 4096]), theta0=2**22, beta=0)
    readout = QLtc(kind="readout", n=2, syn={"d": [_syn([[127, 127], [-127, -127]], 18)],
                                             "m": [_syn([[1, 1], [1, 1]], 20)]},
                   # gate biases: z = +2^23 (saturates) and z = -8 (alpha = 1/4096; below -9 the gate would hold u)
                   bias={"d": np.array([SAT24, -SAT24]), "m": np.array([SAT24, -(2**15)])}, gated=True,
                   spiking=False, mixing="diag", mix={"m": np.array([127, -127])}, mix_shift={"m": 4})
    qnet = QNet(input_shape=(n_in,), input_frac=0, input_range=(0, 1), layers=[lif, ltc, alif],
                readout=readout, lut=sigmoid_lut())
    rng = np.random.default_rng(0)
    x = (rng.random((2, 24, n_in)) < 0.6).astype(np.int64)
    _, rec = assert_equivalent(qnet, x, "targeted")
    counts = count_events(qnet, x)
    assert counts[0]["wrap_once24"] > 0 and counts[0]["sat"] > 0 and counts[0]["wrap32"] > 0, counts[0]
    assert counts[1]["sat"] > 0 and counts[2]["sat"] > 0 and counts[3]["sat"] > 0, counts
    assert (rec[3]["u"] == SAT24).any() and (rec[3]["u"] == -SAT24).any(), "readout u never saturated"
    assert (np.abs(rec[0]["v"]) == SAT24).any(), "LIF v never saturated"
    assert rec[0]["s"].any() and rec[1]["s"].any() and rec[2]["s"].any()
    # Lava's one-shot u wrap at its edges (du = 4095: i = wrap_once(a_in << 6)): a_in << 6 = 2^23 stays 2^23,
    # -2^23 becomes +2^23, 2^24 becomes 0, 3 * 2^23 becomes 3 * 2^23 - 2^24 = 2^23
    edge = QLif(n=4, syn={"d": [_syn([[64, 0, 0], [-64, 0, 0], [64, 64, 0], [64, 64, 64]], 11)]}, du=4095, dv=0,
                vth=2**17 - 1, bias_mant=np.zeros(4, np.int64), bias_exp=0, frac_bits=12)
    qnet = dataclasses.replace(qnet, layers=[edge])
    qnet.readout = dataclasses.replace(readout, syn={p: [_syn(np.ones((2, 4), np.int64), 12)] for p in ("d", "m")})
    x = np.array([[[1, 0, 0], [1, 1, 0], [1, 1, 1], [0, 0, 0]]])
    _, rec = assert_equivalent(qnet, x, "u wrap edges")
    assert rec[0]["i"][0, :3].tolist() == [[2**23] * 4, [2**23, 2**23, 0, 0], [2**23, 2**23, 0, 2**23]]


def test_first_divergence_names_the_first_mismatch():
    qnet = QNet(input_shape=(2,), input_frac=0, input_range=(0, 1),
                layers=[QLtc(kind="alif", n=2, syn={"d": [_syn([[100, 0], [0, 100]], 12)]},
                             bias={"d": np.zeros(2, np.int64)},
                             gated=False, alpha=np.array([2048, 2048]), rho=np.array([4000, 4000]), theta0=4096,
                             beta=4096)],
                readout=QLtc(kind="readout", n=1, syn={"d": [_syn([[50, 50]], 10)]}, bias={"d": np.zeros(1, np.int64)},
                             gated=False, spiking=False, alpha=np.array([1000])), lut=sigmoid_lut())
    x = np.ones((2, 5, 2), np.int64)
    _, rec = simulate(qnet, x, record=True)
    assert first_divergence(rec, rec) is None
    bad = [{k: v.copy() for k, v in r.items()} for r in rec]
    bad[0]["b"][1, 3, 1] += 1
    bad[1]["u"][0, 4, 0] += 7   # later step: not the first
    d = first_divergence(rec, bad, names=("sim", "torch"), layer_names=layer_names(qnet))
    assert {k: d[k] for k in ("layer", "var", "step", "batch", "neuron")} == \
        {"layer": 0, "var": "b", "step": 3, "batch": 1, "neuron": 1}
    assert d["torch"] == d["sim"] + 1 and "step 3" in d["message"] and "layer 0" in d["message"]
    assert first_divergence(rec, rec[:1])["message"].startswith("number of layers differs")


# ---------------------------------------------------------------------------------------------- float models
@st.composite
def float_cases(draw):
    """(SpikingNet with perturbed random parameters, float inputs [B, T, D], x_train for the plan, mixing)."""
    neuron = draw(st.sampled_from(["lif", "ltc", "alif"]))
    n_in = draw(st.integers(1, 6))
    hidden = [draw(st.integers(1, 8)) for _ in range(draw(st.integers(1, 2)))]
    recurrent = draw(st.booleans())
    cfg = NetConfig((n_in,), draw(st.integers(1, 4)), [LayerConfig(h, recurrent=recurrent) for h in hidden],
                    neuron=neuron, readout=draw(st.sampled_from(["ltc", "const"] if neuron == "lif" else
                                                                 ["ltc", "const", "membrane"])),
                    b0=draw(st.sampled_from([0.05, 0.1, 0.5])), beta=draw(st.sampled_from([0.0, 1.8])),
                    vth=draw(st.sampled_from([0.2, 1.0, 3.0])))
    seed = draw(st.integers(0, 2**31 - 1))
    torch.manual_seed(seed)
    model = SpikingNet(cfg).to(draw(st.sampled_from([torch.float32, torch.float64])))
    gain = draw(st.sampled_from([0.5, 1.0, 4.0, 32.0, 4096.0]))  # 4096: drives the 24-bit states to saturation
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.add_(0.5 * torch.randn_like(p))
            if name.endswith("weight"):
                p.mul_(gain)
    rng = np.random.default_rng(seed)
    B, T = draw(st.integers(1, 3)), draw(st.integers(3, 12))
    kind = draw(st.sampled_from(["binary", "unsigned", "signed"]))
    if kind == "binary":
        x_train = (rng.random((8, T, n_in)) < 0.5).astype(np.float64)
        x = (rng.random((B, T, n_in)) < 0.5).astype(np.float64)
    else:
        scale = float(2.0 ** draw(st.integers(-3, 4)))
        lo = 0.0 if kind == "unsigned" else -1.0
        x_train = rng.uniform(lo, 1.0, (8, T, n_in)) * scale
        x = rng.uniform(lo, 1.2, (B, T, n_in)) * scale   # a little beyond the training range: clipped codes
    dtype = next(model.parameters()).dtype
    return model, torch.as_tensor(x, dtype=dtype), torch.as_tensor(x_train, dtype=dtype), \
        draw(st.sampled_from([{"mixing": "dense"}, {"mixing": "diag"}, target_profile("loihi2")]))


def _assert_same_codes(a, b, path="qnet"):
    """Field-by-field equality of two numpy QNets (the quantizer's and the QAT model's rebuilt codes)."""
    if dataclasses.is_dataclass(a):
        assert type(a) is type(b), path
        for f in dataclasses.fields(a):
            _assert_same_codes(getattr(a, f.name), getattr(b, f.name), f"{path}.{f.name}")
    elif isinstance(a, dict):
        assert set(a) == set(b), path
        for k in a:
            _assert_same_codes(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (u, v) in enumerate(zip(a, b)):
            _assert_same_codes(u, v, f"{path}[{i}]")
    else:
        assert np.array_equal(np.asarray(a), np.asarray(b)), f"{path}: {a!r} != {b!r}"


@settings(max_examples=40, **SETTINGS)
@given(case=float_cases())
def test_quantized_float_models_sim_equals_torch(case):
    model, x, x_train, profile = case
    qnet, plan, _ = quantize(model, x_train, **profile)
    x_int = qnet.encode_input(x.numpy())
    qmodel = QuantizedNet(model, plan)
    # the QAT model rebuilds exactly the quantizer's codes and input encoding
    _assert_same_codes(to_numpy(qmodel.qnet()), qnet)
    assert np.array_equal(qmodel.encode_input(x).numpy(), x_int)
    # every state of every layer at every step: sim vs net_step(SteOps) on the QAT model's own (STE) codes
    out_np, rec_np = simulate(qnet, x_int, record=True)
    out_t, rec_t = simulate_torch(qmodel.qnet(), x_int)
    div = first_divergence(rec_np, rec_t, names=("sim", "torch"), layer_names=layer_names(qnet))
    assert div is None, f"quantized {model.cfg.neuron} net: {div['message']}"
    # and the QAT forward pass itself (integer outputs)
    with torch.no_grad():
        out_q, _ = qmodel(x, integer=True)
    assert out_q.dtype == torch.float64
    assert np.array_equal(out_q.numpy(), out_np) and np.array_equal(out_t, out_np)
    assert_equivalent(qnet, x_int, "quantized (numpy codes)")


@pytest.mark.parametrize("pool,mixing", [(1, "dense"), (2, "dense"), (2, "diag")])
def test_conv_ltc_models_quantize_and_agree(pool, mixing):
    """Conv LTC layers become dense LTC layers (unrolled convolutions, conv gates as mixing matrices):
    sim == quantized torch on every state, and the float model's unrolled form equals its convolutions."""
    torch.manual_seed(0)
    model = SpikingNet(NetConfig((2, 6, 6), 3, [LayerConfig(3, kind="conv", pool=pool), LayerConfig(5)]))
    for conv in (model.layers[0].conv_x, model.layers[0].conv_m):
        conv.weight.data.mul_(3.0)
    x = (torch.rand(4, 6, 2, 6, 6) < 0.4).float()
    parts = float_parts(model.layers[0])
    c = model.layers[0].conv_x(x[:, 0])
    c = torch.nn.functional.avg_pool2d(c, pool) if pool > 1 else c
    want = (parts["syn"]["d"]["input"] @ x[:, 0].flatten(1).T).T + parts["bias"]["d"]
    assert torch.allclose(want, c.flatten(1), atol=1e-5)
    qnet, plan, _ = quantize(model, x, mixing)
    assert qnet.input_range == (0, 1) and qnet.layers[0].n == 3 * (6 // pool) ** 2
    x_int = qnet.encode_input(x.numpy())
    out_np, rec = assert_equivalent(qnet, x_int, f"conv pool {pool} {mixing}")
    assert 0 < rec[0]["s"].mean() < 1
    with torch.no_grad():
        out_q, _ = QuantizedNet(model, plan)(x, integer=True)
    assert np.array_equal(out_q.numpy(), out_np)


@pytest.mark.parametrize("batch,workers", [(7, 2), (3, 5), (4, 1)])
def test_simulate_parallel_equals_simulate(batch, workers):
    """The batch split over forked processes gives the same integers as one process (uneven splits too)."""
    torch.manual_seed(0)
    model = SpikingNet(NetConfig((3,), 4, [LayerConfig(12), LayerConfig(6)]))
    x = torch.rand(batch, 9, 3)
    qnet, _, _ = quantize(model, x, "dense")
    x_int = qnet.encode_input(x.numpy())
    out = simulate_parallel(qnet, x_int, workers)
    assert out.dtype == np.int64 and np.array_equal(out, simulate(qnet, x_int))
    assert np.abs(out).max() > 0


# ---------------------------------------------------------------------------------------------- QAT gradients
@pytest.mark.parametrize("neuron,readout,recurrent,mixing", [
    ("ltc", "ltc", True, "dense"), ("ltc", "const", False, "diag"), ("alif", "ltc", True, "dense"),
    ("lif", "const", True, "dense"), ("ltc", "membrane", True, "dense"), ("ltc", "ltc", True, "loihi2")])
def test_qat_gradients_reach_every_shadow_parameter(neuron, readout, recurrent, mixing):
    """mixing "loihi2": the chip profile (diagonal mixing, gradients through the piecewise-linear sigmoid)."""
    torch.manual_seed(1)
    cfg = NetConfig((4,), 3, [LayerConfig(16, recurrent=recurrent), LayerConfig(8, recurrent=recurrent)],
                    neuron=neuron, readout=readout, vth=0.3)
    model = SpikingNet(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("weight"):
                p.mul_(2.0)
        if neuron == "lif":
            for layer in model.layers:
                layer.bias.uniform_(-0.1, 0.3)
    x = torch.rand(8, 12, 4)
    y = torch.randint(0, 3, (8,))
    _, plan, _ = quantize(model, x, **(target_profile("loihi2") if mixing == "loihi2" else {"mixing": mixing}))
    qmodel = QuantizedNet(model, plan)
    out, _ = qmodel(x)
    assert out.dtype == torch.float32 and out.shape == (8, 12, 3)
    loss = torch.nn.functional.cross_entropy(out[:, -1], y) + out.pow(2).mean()
    loss.backward()
    for name, p in qmodel.named_parameters():
        assert p.grad is not None, f"{name}: no gradient"
        assert torch.isfinite(p.grad).all(), f"{name}: non-finite gradient"
        assert p.grad.abs().sum() > 0, f"{name}: gradient is zero"
    # and a step on the shadow parameters moves the integer codes
    before = to_numpy(qmodel.qnet())
    torch.optim.SGD(qmodel.parameters(), lr=0.5).step()
    after = to_numpy(qmodel.qnet())
    with pytest.raises(AssertionError):
        _assert_same_codes(before, after)


@pytest.mark.parametrize("amax,bmax,k", [(1, 127, 256), (255, 127, 1), (2**10, 2**7, 2**7 - 1),
                                         (2**10, 2**7, 2**7 + 1), (2**23, 127, 512), (2**40, 2**12, 3)])
def test_exact_matmul_every_path_equals_int64(amax, bmax, k):
    """float32 below 2^24, float64 below 2^53, int64 beyond: all equal to the int64 product, at the bounds."""
    from lava_reference import exact_matmul     # ExactMatrix.rmatmul, the simulator's exact product
    rng = np.random.default_rng(k)
    a = rng.integers(-amax, amax + 1, size=(7, k), dtype=np.int64)
    b = rng.integers(-bmax, bmax + 1, size=(k, 9), dtype=np.int64)
    a[0], b[:, 0] = amax, bmax  # the extreme products
    got = exact_matmul(a, b)
    assert got.dtype == np.int64 and np.array_equal(got, a @ b)


@pytest.mark.parametrize("F", [4, 8, 12, 16, 19, 20])
def test_gate_lut_implies_the_24_bit_saturation_up_to_F_19(F):
    """sim.integer.gate_decay skips sat(z, 24) for F <= 19 because LUT[sat(z, 24)] == LUT[z] for every z there;
    at F = 20 the saturation changes the LUT entry (so the bound is tight and the skip must stop there)."""
    assert LUT_SAT_IMPLIED_MAX_F == 19
    rng = np.random.default_rng(F)
    edges = np.array([2**23 - 1, 2**23, -(2**23 - 1), -(2**23), 2**40, -(2**40), 0, 1, -1])
    z = np.concatenate([edges, rng.integers(-(2**40), 2**40, 2000), rng.integers(-(2**25), 2**25, 2000)])
    lut = sigmoid_lut()
    same = NumpyOps.lut(lut, NumpyOps.sat(z, 24), F) == NumpyOps.lut(lut, z, F)
    assert same.all() == (F <= 19)


def test_sigmoid_lut_holds_below_minus_9_and_stays_12_bit():
    """The 512-entry LUT: 0 (an exact hold of u or b) where 4096 sigmoid(z) < 0.5, never above 4095, and equal
    to round(4096 sigmoid(z)) at every sampled z in between."""
    lut = sigmoid_lut()
    z = (np.arange(512) - 256 + 0.5) / 16
    exact = 4096 / (1 + np.exp(-z))
    assert lut.shape == (512,) and lut.min() == 0 and lut.max() == 4095 and np.all(np.diff(lut) >= 0)
    assert np.array_equal(lut == 0, exact < 0.5) and z[lut == 0].max() < -9
    assert np.array_equal(lut[lut < 4095], np.round(exact)[lut < 4095])
    # an LTC neuron whose gate is driven below z = -9 keeps u exactly; the 256-entry LUT had a floor of 1 / 4096
    assert NumpyOps.lut(lut, np.array([-10 * 2**12]), 12)[0] == 0


def test_ste_matmul_runs_in_float32_only_where_it_is_exact():
    """SteOps.matmul takes float32 where lava_fixed.exact_dtype allows it (spikes times 8-bit codes: cheaper than
    float64) and float64 for wide operands (24-bit membranes), whose float32 products round; both equal int64's, and
    the gradient reaches the float64 codes."""
    from ltcsn.train.quantized import SteOperand, SteOps
    rng = np.random.default_rng(0)
    q = rng.integers(-127, 128, size=(40, 600))
    spikes = rng.integers(0, 2, size=(8, 600))
    wide = rng.integers(-SAT24, SAT24 + 1, size=(8, 600))
    for x, in_float32 in ((spikes, True), (wide, False)):
        codes = torch.tensor(q, dtype=torch.float64, requires_grad=True)
        codes_t = SteOperand(codes.T)
        y = SteOps.matmul(SteOps.operand(x), codes_t)
        assert y.dtype == torch.float64 and np.array_equal(y.detach().numpy().astype(np.int64), x @ q.T)
        assert (codes_t._float32 is not None) == in_float32
        y.sum().backward()
        assert codes.grad.dtype == torch.float64 and np.array_equal(codes.grad.numpy(), np.tile(x.sum(0), (40, 1)))
    in_float32 = (torch.as_tensor(wide, dtype=torch.float32) @ torch.as_tensor(q, dtype=torch.float32).T).double()
    assert not np.array_equal(in_float32.numpy().astype(np.int64), wide @ q.T)     # why wide operands take float64
