"""The integer step equations of docs/fixed_point.md, written once against an `ops` backend.

`ops` is `sim.ops.NumpyOps` (int64, the reference simulator and the Lava process models) or
`train.quantized.SteOps` (float64 tensors with straight-through gradients, for QAT).
Shapes: [B, n] per layer; spikes are 0/1 in the backend's dtype. States are NamedTuples, one type per layer kind
(`state_type`): their fields are the state variables that `sim.simulate.simulate(record=True)` records; LTC / ALIF /
readout layers also have a decay type (`decay_type`): the 12-bit decay codes of one step, recorded with
`simulate(record=True, decays=True)`.
"""
from typing import NamedTuple

from ltcsn.sim.qnet import QAtrlif, QLif, QLtc
from ltcsn.sim.spec import (DECAY_BITS, DECAY_ONE, DENSE_WEIGHT_FACTOR, LIF_A_IN_SCALE, LIF_DU_OFFSET,
                            LUT_SAT_IMPLIED_MAX_F, PWL_CAP, STATE_BITS, dense_weight_exp, pwl_segments)


class SpikingState(NamedTuple):
    """LTC / ALIF layer: membrane u (24-bit, 2^-F, after the reset), spikes s (0/1), adaptation b (2^-F)."""
    u: object
    s: object
    b: object


class ReadoutState(NamedTuple):
    """Readout: membrane u (24-bit, 2^-F)."""
    u: object


class LifState(NamedTuple):
    """Lava LIF layer: current i (Lava's u, 24-bit wrapped), voltage v (24-bit saturated), spikes s (0/1)."""
    i: object
    v: object
    s: object


class AtrlifState(NamedTuple):
    """Lava ATRLIF layer: i, v, s as LifState, adaptive threshold theta and refractory state r (int32)."""
    i: object
    v: object
    s: object
    theta: object
    r: object


class SpikingDecays(NamedTuple):
    """LTC / ALIF decay codes of one step (12-bit, 0..4096; the decay is code / 4096): alpha of the membrane u,
    rho of the adaptation b. Input-dependent gates [B, n] on gated layers, constants [n] on ALIF layers."""
    alpha: object
    rho: object


class ReadoutDecays(NamedTuple):
    """Readout decay code alpha of one step (12-bit, as SpikingDecays.alpha)."""
    alpha: object


def decay_type(layer):
    """The NamedTuple type of a layer's decay codes, None for LIF / ATRLIF layers (their decays are parameters)."""
    if isinstance(layer, QLif):
        return None
    return SpikingDecays if layer.spiking else ReadoutDecays


def state_type(layer) -> type:
    """The NamedTuple type of a layer's state."""
    if isinstance(layer, QAtrlif):
        return AtrlifState
    if isinstance(layer, QLif):
        return LifState
    return SpikingState if layer.spiking else ReadoutState


def synaptic_input(ops, synapses, sources: dict):
    """One part's synaptic sum wrap32(sum over synapses of shl(q @ x_src, shift)) (wide sources:
    shl(wrap32(2 q @ x_src), shift - 1)): Lava's Dense sends int32 and its int32 in-port adds them, so the spec wraps
    where Lava wraps (docs/fixed_point.md; `sim.bounds` says which networks can get there).
    sources maps "input"/"self"/"const" to [B, n_in] arrays (or `ops.operand`s of them, shared by several products);
    "const" is a source of one value 1 every step (a bias into a LIF current: its synapse holds the bias codes)."""
    acc = 0
    for syn in synapses:
        m = ops.matmul(sources[syn.source], syn.q)
        acc = acc + (ops.shl(ops.wrap32(DENSE_WEIGHT_FACTOR * m), dense_weight_exp(syn.shift)) if syn.wide
                     else ops.shl(m, syn.shift))
    return ops.wrap32(acc) if synapses else acc


def _mix(ops, layer: QLtc, part: str, x):
    q = layer.mix[part]
    m = ops.matmul(x, q) if layer.mixing == "dense" else x * q
    return ops.shl(m, layer.mix_shift[part])


def pwl_sigmoid(ops, z, frac_bits: int):
    """The loihi2 profile's piecewise-linear sigmoid: 12-bit code in [0, 4095] of z on scale 2^-F.
    a = |z|; h = min(PWL_CAP, min_k(offset_k + shl(a, 12 - F - shift_k))); z >= 0: min(h, 4095); z < 0: 4096 - h
    (0, a closed gate, for z <= -5)."""
    negative = z < 0
    a = ops.where(negative, -z, z)
    h = PWL_CAP
    for offset, k in pwl_segments(frac_bits):
        h = ops.minimum(offset + ops.shl(a, k), h)
    return ops.where(negative, DECAY_ONE - h, ops.minimum(h, DECAY_ONE - 1))


def gate_decay(ops, layer: QLtc, part: str, pre, state_var, lut):
    """12-bit decay sigmoid(sat(z, 24)) of gate `part` ("m": alpha from u, "a": rho from b), z = pre + bias + mix:
    LUT[z] (layer.sigmoid "lut") or `pwl_sigmoid(z)` ("pwl"). For the LUT the sat is implied while F <= 19 (skipped
    there): the index (z >> (F - 4)) + 256 is clipped to [0, 511], which every |z| >= 2^23 - 1 already reaches
    (`LUT_SAT_IMPLIED_MAX_F`)."""
    z = pre + layer.bias[part] + _mix(ops, layer, part, state_var)
    if layer.sigmoid == "pwl":
        return pwl_sigmoid(ops, ops.sat(z, STATE_BITS), layer.frac_bits)
    return ops.lut(lut, z if layer.frac_bits <= LUT_SAT_IMPLIED_MAX_F else ops.sat(z, STATE_BITS), layer.frac_bits)


def ltc_decays(ops, layer: QLtc, acc: dict, state, lut):
    """The decay codes of one step (`decay_type`) from the synaptic sums acc[part] and the state before the step:
    gated layers alpha = `gate_decay` "m" of u, rho = `gate_decay` "a" of b; ungated ones their constants."""
    if not layer.gated:
        return SpikingDecays(layer.alpha, layer.rho) if layer.spiking else ReadoutDecays(layer.alpha)
    alpha = gate_decay(ops, layer, "m", acc["m"], state.u, lut)
    if not layer.spiking:
        return ReadoutDecays(alpha)
    return SpikingDecays(alpha, gate_decay(ops, layer, "a", acc["a"], state.b, lut))


def ltc_neuron_step(ops, layer: QLtc, acc: dict, state, lut, decays=None):
    """LTC / ALIF / readout neuron update from the synaptic sums acc[part] ([B, n] each).

    state: SpikingState, or ReadoutState for the readout. decays: this step's `ltc_decays` where the caller
    has them (computed here otherwise). Returns (output, new state): the spikes (or, with layer.output == "u",
    the membrane u after the reset) of spiking layers, u for the readout.
    """
    F = layer.frac_bits
    u = state.u
    d = ops.sat(acc["d"] + layer.bias["d"], STATE_BITS)
    decays = ltc_decays(ops, layer, acc, state, lut) if decays is None else decays
    alpha = decays.alpha
    # rshr((4096 - alpha) u + alpha d, 12) == u + rshr(alpha (d - u), 12): 4096 u is a multiple of 2^12
    u_tilde = ops.sat(u + ops.rshr(alpha * (d - u), DECAY_BITS), STATE_BITS)
    if not layer.spiking:
        return u_tilde, ReadoutState(u_tilde)
    s_prev, b, rho = state.s, state.b, decays.rho
    # rshr(rho b + (4096 - rho) S, 12) == S + rshr(rho (b - S), 12) with S = s_prev 2^F (same reason)
    s_scaled = s_prev * (1 << F)
    b = s_scaled + ops.rshr(rho * (b - s_scaled), DECAY_BITS)
    theta = layer.theta0 + ops.rshr(layer.beta * b, DECAY_BITS)
    s = ops.spike(u_tilde, theta, F)
    u = u_tilde * (1 - s)
    return (u if layer.output == "u" else s), SpikingState(u, s, b)


def _lava_current_voltage(ops, layer: QLif, a_in, i, v):
    """The i and v updates shared by Lava's LIF and ATRLIF fixed-point models (a_in int32, shifted << 6)."""
    a_in = ops.wrap32(a_in)
    i = ops.wrap_once24(ops.wrap32(ops.wrap32(ops.trunc12(i * (DECAY_ONE - (layer.du + LIF_DU_OFFSET))))
                                   + ops.wrap32(a_in * LIF_A_IN_SCALE)))
    bias = layer.bias_mant * (1 << layer.bias_exp)
    v = ops.sat(ops.wrap32(ops.wrap32(ops.trunc12(v * (DECAY_ONE - layer.dv))) + i + bias), STATE_BITS)
    return i, v


def lif_neuron_step(ops, layer: QLif, a_in, state):
    """Lava's PyLifModelBitAcc: state LifState [B, n] each; a_in the summed synaptic input (int32).
    Returns (spikes, new state)."""
    i, v = _lava_current_voltage(ops, layer, a_in, state.i, state.v)
    s = ops.spike(v, layer.vth * LIF_A_IN_SCALE, layer.frac_bits)
    v = v * (1 - s)
    return s, LifState(i, v, s)


def atrlif_neuron_step(ops, layer: QAtrlif, a_in, state):
    """Lava's PyATRLIFModelFixed (lava/proc/atrlif/models.py): state (i, v, s, theta, r) [B, n]; a_in int32.
    theta decays toward theta_0 = vth << 6, r toward 0 (trunc12 products, int32 wraps); a spike where
    wrap32(v - r) >= theta, after which r += 2 theta and theta += theta_step << 6 (v is not reset).
    Returns (spikes, new state)."""
    i, v = _lava_current_voltage(ops, layer, a_in, state.i, state.v)
    theta0 = layer.vth * LIF_A_IN_SCALE
    theta = ops.wrap32(ops.wrap32(ops.trunc12(ops.wrap32(state.theta - theta0) * (DECAY_ONE - layer.dtheta))) + theta0)
    r = ops.wrap32(ops.trunc12(state.r * (DECAY_ONE - layer.dr)))
    s = 1 - ops.spike(theta, ops.wrap32(v - r), layer.frac_bits)      # v - r >= theta  ==  not (theta > v - r)
    r = ops.wrap32(r + ops.wrap32(2 * theta) * s)
    theta = ops.wrap32(theta + layer.theta_step * LIF_A_IN_SCALE * s)
    return s, AtrlifState(i, v, s, theta, r)


def layer_step(ops, layer, x, state, lut, decays: bool = False, const: int = 1):
    """One step of any layer: synapses then neuron. x [B, n_in] input codes or spikes; const: what the constant
    source delivers (1; 0 on the Lava clock's first step, before its synapse has delivered anything). Returns
    (output, new state); with decays=True (output, new state, this step's decay codes (`decay_type`; None for LIF /
    ATRLIF layers))."""
    sources = {"input": ops.operand(x), "self": ops.operand(state.s) if hasattr(state, "s") else None,
               "const": ops.operand(ops.zeros(x.shape[0], 1) + const)}
    acc = {part: synaptic_input(ops, syns, sources) for part, syns in layer.syn.items()}
    if isinstance(layer, QLif):
        step = atrlif_neuron_step if isinstance(layer, QAtrlif) else lif_neuron_step
        out, state = step(ops, layer, acc["d"], state)
        return (out, state, None) if decays else (out, state)
    if not decays:
        return ltc_neuron_step(ops, layer, acc, state, lut)
    codes = ltc_decays(ops, layer, acc, state, lut)
    return (*ltc_neuron_step(ops, layer, acc, state, lut, codes), codes)


def init_state(ops, layer, batch: int):
    """The initial state of a layer (`state_type`), [batch, n] per variable: zeros, but an ATRLIF threshold
    theta starts at theta_0 = vth << 6."""
    kind = state_type(layer)
    state = kind(*(ops.zeros(batch, layer.n) for _ in kind._fields))
    if kind is AtrlifState:
        state = state._replace(theta=state.theta + layer.vth * LIF_A_IN_SCALE)
    return state


def net_step(ops, qnet, x, state):
    """One time step of the whole network (layer l reads layer l-1 of the same step).
    x [B, n_in] input codes. Returns (readout u, new state)."""
    new_state = []
    for layer, st in zip(qnet.all_layers, state):
        x, st = layer_step(ops, layer, x, st, qnet.lut)
        new_state.append(st)
    return x, new_state
