"""Trained float network -> integer network (`sim.qnet.QNet`), following docs/fixed_point.md.

Two steps: `make_plan` chooses every exponent (per synaptic matrix, per mixing matrix, the input encoding
and LIF state scales) from the float weights; `build_qnet` turns float parameters into integer codes under a
plan. `build_qnet` runs in torch so the quantized PyTorch model (QAT) calls it with straight-through rounding
every forward pass; `quantize` calls it once with plain rounding and returns numpy int64 arrays.
"""
from dataclasses import fields, is_dataclass
import math
import warnings

import numpy as np
import torch
import torch.nn.functional as F

from ltcsn.sim import spec
from ltcsn.sim.qnet import SIGMOIDS, QAtrlif, QLif, QLtc, QNet, QSynapse
from ltcsn.sim.spec import (ATRLIF_THETA_BITS, ATRLIF_THETA_MAX, DECAY_BITS, DECAY_ONE, FRAC_BITS, LAVA_NEURON_KINDS,
                            LIF_BIAS_EXP_MAX, LIF_BIAS_MANT_MAX, LIF_BIAS_MANT_MIN, LIF_DU_OFFSET, LIF_VTH_MAX,
                            STATE_BITS, STATE_MAX, SPLIT_WEIGHT_BITS, WEIGHT_BITS, WEIGHT_MAX, WEIGHT_PRECISIONS)
from ltcsn.train.errors import InputError
from ltcsn.train.layers import ConvLtcLayer, DenseSpikingLayer

LIF_V_HEADROOM_BITS = 1       # a LIF layer's 24-bit v holds +-2 vth (2^1 vth) at its F
ATRLIF_V_HEADROOM_BITS = 3    # an ATRLIF layer's v holds 8 theta_0 (its threshold rises with its spikes)


# Chip profiles (docs/fixed_point.md, "The loihi2 profile"): the gate mixing and the gate sigmoid of LTC layers,
# and the codes of LIF layers. loihi2: every update is per-neuron local (diagonal mixing) and a short straight-line
# integer program (piecewise-linear sigmoid, sim/neuron_program.py); host: dense mixing and the 512-entry LUT (host
# CPU); netx: LIF layers on the grid lava-dl netx holds (docs/netx.md; other layers as host).
TARGETS = {"loihi2": {"mixing": "diag", "sigmoid": "pwl", "lif": "lava"},
           "host": {"mixing": "dense", "sigmoid": "lut", "lif": "lava"},
           "netx": {"mixing": "dense", "sigmoid": "lut", "lif": "netx"}}
LIF_CODES = ("lava", "netx")   # lava: any Lava LIF codes; netx: shifts 0 / 1, bias exponent 6 (`_netx_lif_plan`)


class QuantizationError(InputError):
    """A network the integer semantics cannot express."""


def target_profile(target: str = None, mixing: str = None) -> dict:
    """{"mixing", "sigmoid", "lif"} of a chip profile (TARGETS); no target: today's host form with the given mixing
    (default dense). A --mixing that contradicts the target is an error, not silently overridden."""
    if target is None:
        return {"mixing": mixing or "dense", "sigmoid": "lut", "lif": "lava"}
    if target not in TARGETS:
        raise QuantizationError(f"unknown target {target!r}; expected one of {sorted(TARGETS)}")
    profile = dict(TARGETS[target])
    if mixing is not None and mixing != profile["mixing"]:
        raise QuantizationError(f"--target {target} has {profile['mixing']} mixing; --mixing {mixing} contradicts it")
    return profile


def plan_profile(plan: dict, target: str = None, mixing: str = None, where: str = "the checkpoint") -> dict:
    """The profile a stored quantization plan uses; a --target / --mixing that differs from it would be ignored,
    so it is an error."""
    stored = plan_target(plan)
    if target is not None or mixing is not None:
        wanted = target_profile(target, mixing)
        if any(wanted[k] != stored[k] for k in (("mixing", "sigmoid", "lif") if target else ("mixing",))):
            given = " ".join(f"--{k} {v}" for k, v in (("target", target), ("mixing", mixing)) if v)
            raise QuantizationError(f"{where}'s quantization plan has {stored['mixing']} mixing, the "
                                    f"{stored['sigmoid']} sigmoid and {stored['lif']} LIF codes; {given} would be "
                                    f"ignored")
    return stored


def plan_target(plan: dict) -> dict:
    """The profile {"mixing", "sigmoid", "lif"} a quantization plan was made under (plans before the netx target
    have no "lif": Lava's codes)."""
    return {"mixing": plan["mixing"], "sigmoid": plan.get("sigmoid", "lut"), "lif": plan.get("lif", "lava")}


class QuantizationWarning(UserWarning):
    """A value the integer network holds differently from the float one (clipped or saturated); CLIs print it as
    one line "warning: ..." (`ltcsn.args.cli`)."""


# ---------------------------------------------------------------- float parts of each layer
def float_parts(layer) -> dict:
    """A layer's float parameters regrouped as the integer layer needs them (differentiable torch ops).

    Returns {"kind", "syn": {part: {source: W}}, "bias": {part: c}, "mix": {part: W}, and
    "alpha"/"rho" (ALIF / const readout) or "du"/"dv"/"vth" (LIF); a membrane readout has alpha = 1 and
    "reads": "u" (its input is the membrane u of the layer below, not its spikes)}. The gate's d-part is folded into the
    synapses: W_md d = (W_md W_x) x + (W_md W_r) s + W_md c_x.
    """
    if isinstance(layer, ConvLtcLayer):
        return _conv_ltc_parts(layer)
    if not isinstance(layer, DenseSpikingLayer):  # the readout
        w_o, c_o = layer.fc.weight, layer.fc.bias
        parts = {"kind": "readout", "syn": {"d": {"input": w_o}}, "bias": {"d": c_o}, "mix": {}}
        if layer.kind == "membrane":   # u = W_o u_below + c_o: alpha = 1, fed with the membrane below
            parts.update(alpha=torch.ones(layer.n_out, dtype=w_o.dtype), reads="u")
        elif layer.gated:
            w_md, parts["mix"]["m"] = layer.gate.split()
            parts["syn"]["m"] = {"input": w_md @ w_o}
            parts["bias"]["m"] = layer.gate.bias + w_md @ c_o
        else:
            parts["alpha"] = torch.sigmoid(layer.tau)
        return parts
    sources = {"input": layer.fc_x.weight}
    if layer.recurrent:
        sources["self"] = layer.fc_r.weight
    if layer.neuron in LAVA_NEURON_KINDS:
        parts = {"kind": layer.neuron, "syn": {"d": sources}, "bias": {"v": layer.bias},
                 "du": torch.sigmoid(layer.du_logit), "dv": torch.sigmoid(layer.dv_logit), "vth": layer.vth}
        if layer.neuron == "atrlif":
            parts.update(dtheta=torch.sigmoid(layer.dtheta_logit), dr=torch.sigmoid(layer.dr_logit),
                         theta_step=layer.theta_step)
        return parts
    c_x = layer.fc_x.bias
    parts = {"kind": layer.neuron, "syn": {"d": sources}, "bias": {"d": c_x}, "mix": {}}
    if layer.neuron == "alif":
        parts["alpha"], parts["rho"] = torch.sigmoid(layer.tau_m), torch.sigmoid(layer.tau_a)
        return parts
    for part, gate in (("m", layer.gate_m), ("a", layer.gate_a)):
        w_gd, parts["mix"][part] = gate.split()
        parts["syn"][part] = {src: w_gd @ w for src, w in sources.items()}
        parts["bias"][part] = gate.bias + w_gd @ c_x
    return parts


def unrolled(linear_map, in_shape):
    """The matrix [n_out, n_in] of a linear map on inputs of in_shape (C-order flattening): the identity basis
    pushed through it. Differentiable in the map's weights; its size grows as n_in * n_out (small frames)."""
    n_in = math.prod(in_shape)
    basis = torch.eye(n_in).reshape(n_in, *in_shape)
    return linear_map(basis).reshape(n_in, -1).T


def _conv_ltc_parts(layer) -> dict:
    """A conv LTC layer as a dense LTC layer with dense mixing (host CPU): the convolutions unrolled,
    c = W_c x + c_b (conv_x, then average pooling), z_m = M_m (c + u) + b_m, z_a = M_a (c + b) + b_a."""
    def conv_x(z):
        c = F.conv2d(z, layer.conv_x.weight, None, padding=layer.conv_x.padding)
        return F.avg_pool2d(c, layer.pool) if layer.pool > 1 else c

    w_c = unrolled(conv_x, layer.in_shape)
    pixels = layer.out_shape[1] * layer.out_shape[2]
    c_b = layer.conv_x.bias.repeat_interleave(pixels)
    parts = {"kind": "ltc", "syn": {"d": {"input": w_c}}, "bias": {"d": c_b}, "mix": {}}
    for part, conv in (("m", layer.conv_m), ("a", layer.conv_a)):
        m = unrolled(lambda z, conv=conv: F.conv2d(z, conv.weight, None, padding=conv.padding), layer.out_shape)
        parts["syn"][part] = {"input": m @ w_c}
        parts["bias"][part] = conv.bias.repeat_interleave(pixels) + m @ c_b
        parts["mix"][part] = m
    return parts


# ---------------------------------------------------------------- exponents
def weight_codes(w, e: int, rnd=torch.round):
    """Symmetric 8-bit codes of w under exponent e: clip(round(w / 2^e), -127, 127)."""
    return torch.clamp(rnd(w * 2.0 ** -e), -WEIGHT_MAX, WEIGHT_MAX)


def synapse_codes(w, e: int, lo_bits: int = 0, rnd=torch.round) -> list:
    """[(codes, exponent)] of one weight matrix: its 8-bit codes under e, and with lo_bits > 0 (split weights,
    at most spec.WEIGHT_LO_BITS) the codes of the remainder under e - lo_bits (a second synapse from the same
    source, |codes| <= 2^(lo_bits - 1)) where the remainder rounds to anything but zero."""
    hi = weight_codes(w, e, rnd)
    if lo_bits <= 0:
        return [(hi, e)]
    lo = weight_codes(w - hi * 2.0**e, e - lo_bits, rnd)
    return [(hi, e)] + ([(lo, e - lo_bits)] if bool((lo != 0).any()) else [])


def weight_values(w, e: int, lo_bits: int = 0):
    """The weights the codes of w hold (`synapse_codes`): sum of codes * 2^exponent."""
    return sum(q * 2.0**k for q, k in synapse_codes(w, e, lo_bits))


def choose_exponent(w, lo_bits: int = 0) -> int:
    """Exponent e (W ~ q 2^e, |q| <= 127) with the least squared error, among the candidates around the
    one that just avoids clipping (smaller exponents trade clipped outliers for resolution); lo_bits: of split
    weights (`synapse_codes`), whose remainder does not hold what the 8-bit codes clip."""
    w = w.detach().double()
    m = w.abs().max().item()
    if m == 0:
        return 0
    e0 = math.ceil(math.log2(m / WEIGHT_MAX))
    return min(range(e0 - 2, e0 + 1), key=lambda e: ((weight_values(w, e, lo_bits) - w) ** 2).sum().item())


def _mix_matrix(w, mixing: str):
    return w if mixing == "dense" else torch.diagonal(w)


def input_encoding(x_train) -> tuple:
    """(input_frac, (lo, hi)) for the network input: binary inputs stay 0/1; graded inputs get an 8-bit
    payload, unsigned if all training inputs are >= 0, with the largest F_in that keeps max|x| in range."""
    x = torch.as_tensor(x_train).double()
    if bool(((x == 0) | (x == 1)).all()):
        return 0, spec.INPUT_RANGE_BINARY
    lo, hi = spec.INPUT_RANGE_UNSIGNED if x.min() >= 0 else spec.INPUT_RANGE_SIGNED
    m = x.abs().max().item()
    return (int(math.floor(math.log2(hi / m))) if m > 0 else 0), (lo, hi)


def model_parts(model) -> list:
    """float_parts of every layer of a SpikingNet, readout last."""
    return [float_parts(layer) for layer in (*model.layers, model.readout)]


def make_plan(model, x_train, mixing: str = "dense", sigmoid: str = "lut", lif: str = "lava") -> dict:
    """Choose all exponents of the integer network from the float model and sample inputs [N, T, ...]."""
    return plan_from_parts(model_parts(model), input_encoding(x_train), mixing, sigmoid, lif=lif)


def plan_from_parts(parts: list, encoding: tuple, mixing: str = "dense", sigmoid: str = "lut",
                    weight_bits: int = WEIGHT_BITS, lif: str = "lava") -> dict:
    """Choose all exponents from the float parts of every layer (readout last, as `float_parts` returns
    them) and the input encoding (input_frac, (lo, hi)). `make_plan` on a model comes here; so do float
    networks read from NIR files (export/nir_read.py), so both are quantized by the same code. lif: "lava" (any
    codes of Lava's LIF) or "netx" (codes lava-dl netx holds, `_netx_lif_plan`; it may lower the graded input's
    fraction bits)."""
    if mixing not in ("dense", "diag"):
        raise ValueError(f"mixing must be 'dense' or 'diag', not {mixing!r}")
    if sigmoid not in SIGMOIDS:
        raise ValueError(f"sigmoid must be one of {SIGMOIDS}, not {sigmoid!r}")
    input_frac, input_range = encoding
    if weight_bits not in WEIGHT_PRECISIONS:
        raise ValueError(f"weight_bits must be one of {WEIGHT_PRECISIONS}, not {weight_bits!r}")
    if lif not in LIF_CODES:
        raise ValueError(f"lif must be one of {LIF_CODES}, not {lif!r}")
    split = weight_bits == SPLIT_WEIGHT_BITS
    if split and lif == "netx":
        raise QuantizationError(f"--weight-bits {weight_bits}: each weight matrix split into two synapses from one "
                                f"source; a netx layer holds one 8-bit weight matrix per source")
    lo_max = spec.WEIGHT_LO_BITS if split else 0
    plan = {"mixing": mixing, "sigmoid": sigmoid, "lif": lif, "input_frac": int(input_frac),
            "input_range": [int(v) for v in input_range], "weight_bits": weight_bits, "layers": []}
    src_frac = plan["input_frac"]
    x_range = [float(v) for v in spec.decode_input(input_range, input_frac)]
    for i, p in enumerate(parts):
        if p.get("reads") == "u":
            if i == 0 or parts[i - 1]["kind"] not in ("ltc", "alif"):
                raise QuantizationError("a membrane readout needs an LTC / ALIF layer below it")
            src_frac = FRAC_BITS   # the membrane u of the layer below, on 2^-F
        lp = {"syn": {part: {src: choose_exponent(w, lo_max) for src, w in srcs.items()}
                      for part, srcs in p["syn"].items()},
              "mix": {part: choose_exponent(_mix_matrix(w, mixing)) for part, w in p.get("mix", {}).items()},
              "src_frac": src_frac}
        if p["kind"] == "lif" and lif == "netx":
            if i == 0 and src_frac > 0:
                src_frac = plan["input_frac"] = _netx_input_frac(p, lp, src_frac)
                lp["src_frac"] = src_frac
            _netx_lif_plan(p, lp)
        elif p["kind"] in LAVA_NEURON_KINDS:
            # a_in on 2^-(F-6) with a zero shift for the input synapse, as far as v's headroom over vth allows:
            # LIF 2x (v resets on crossing vth; below -2 vth it saturates; a negative input shift would floor
            # every step's input, which at slow decays, small weights, shifts spike times), ATRLIF 8x (its
            # threshold rises with its spikes; theta_0, theta_step fit their 12-bit mantissas on 2^-(F-6))
            e_in = lp["syn"]["d"]["input"]
            if p["kind"] == "lif":
                headroom = STATE_BITS - 1 - LIF_V_HEADROOM_BITS - math.ceil(math.log2(max(p["vth"], 2.0**-20)))
            else:
                headroom = (STATE_BITS - 1 - ATRLIF_V_HEADROOM_BITS
                            - max(0, math.ceil(math.log2(max(p["vth"], 1e-9)))))
                top = max(p["vth"], p["theta_step"], 1e-9)
                headroom = min(headroom, spec.LIF_A_IN_SHIFT + math.floor(math.log2(ATRLIF_THETA_MAX / top)))
            zero_shift = -spec.synapse_shift(e_in, src_frac, spec.target_frac(0, lif=True))  # the shift grows with F
            F = int(max(spec.LIF_A_IN_SHIFT, min(zero_shift, headroom)))
            if split and p["kind"] == "lif":
                # split weights: up to 7 more fraction bits, so that the remainder's synapse needs no negative
                # shift, as far as a bound on the float v and i allows (they never reach the 24-bit limits)
                F = max(F, min(zero_shift + lo_max, headroom, _lif_frac_limit(p, x_range)))
            lp["frac_bits"] = F
        if "const" in lp["syn"].get("d", {}) and p["kind"] in LAVA_NEURON_KINDS:
            # a bias into the current (a synapse from a source of 1): a negative shift would floor the constant
            # every step; at shift 0 it is rounded once to a_in's grid
            lp["syn"]["d"]["const"] = max(lp["syn"]["d"]["const"],
                                          spec.synapse_exponent(0, 0, spec.target_frac(lp["frac_bits"], lif=True)))
        lp["syn"] = {part: {src: _chip_exponent(p, lp, src, e) for src, e in srcs.items()}
                     for part, srcs in lp["syn"].items()}
        if split:
            # the remainder's synapse only with a shift >= 0: a negative one floors every step's sum
            lp["lo_bits"] = {part: {src: max(0, min(lo_max, _synapse_shift(p, lp, src, e))) for src, e in srcs.items()}
                             for part, srcs in lp["syn"].items()}
        plan["layers"].append(lp)
        src_frac = 0  # every layer above the first receives binary spikes (or, membrane readout, u)
        x_range = (0, 1)
    return plan


def _source_fracs(lp: dict) -> dict:
    """{source: the scale 2^-frac its values are on}: the layer's input on src_frac, its own spikes on 2^0."""
    return {src: lp["src_frac"] if src == "input" else 0 for src in lp["syn"]["d"]}


def _netx_frac_limit(p: dict, lp: dict) -> int:
    """The largest F of LIF layer p at which netx holds its codes: every synapse's shift k = e - src_frac + F - 6 at
    most 1 (q << k within netx's [-256, 254]), vth within 17 bits and the bias within netx's 13-bit mantissa on
    a_in's scale (2^-(F-6)), v within 24 bits (2 vth, as Lava's codes)."""
    limits = [spec.NETX_MAX_SHIFT + spec.LIF_A_IN_SHIFT - e + _source_fracs(lp)[src]
              for src, e in lp["syn"]["d"].items()]
    vth = max(float(p["vth"]), 2.0**-20)
    limits.append(spec.LIF_A_IN_SHIFT + math.floor(math.log2(LIF_VTH_MAX / vth)))
    limits.append(STATE_BITS - 1 - LIF_V_HEADROOM_BITS - math.ceil(math.log2(vth)))
    b = float(torch.as_tensor(p["bias"]["v"]).detach().abs().max()) if len(p["bias"]["v"]) else 0.0
    if b > 0:
        limits.append(spec.LIF_A_IN_SHIFT + math.floor(math.log2(LIF_BIAS_MANT_MAX / b)))
    return min(limits)


def _netx_lif_plan(p: dict, lp: dict) -> None:
    """The netx codes of LIF layer p, in its plan lp: F = `_netx_frac_limit` (at least 6), the bias exponent 6
    (netx's), and each synapse's
    exponent moved into the two netx holds, k in {0, 1} (a coarser one where its own would need k < 0: fewer
    bits; a finer one where F is held at 6: clipped codes; the report says what each costs)."""
    F = max(spec.LIF_A_IN_SHIFT, _netx_frac_limit(p, lp))
    fracs = _source_fracs(lp)
    for src, e in lp["syn"]["d"].items():
        lowest = spec.synapse_exponent(0, fracs[src], spec.target_frac(F, lif=True))
        lp["syn"]["d"][src] = int(min(max(e, lowest), lowest + spec.NETX_MAX_SHIFT))
    lp["frac_bits"] = int(F)
    lp["bias_exp"] = spec.NETX_BIAS_EXP


def _netx_input_frac(p: dict, lp: dict, input_frac: int) -> int:
    """The graded input's fraction bits for a first LIF layer under netx: netx's input Dense cannot shift its sum
    right, so when the layer's F leaves the input weights D bits short of their own exponent, the input codes give
    half of them (D // 2 fewer fraction bits, at least 0) and the weights keep the rest."""
    F = max(spec.LIF_A_IN_SHIFT, _netx_frac_limit(p, lp))
    short = spec.synapse_exponent(0, input_frac, spec.target_frac(F, lif=True)) - lp["syn"]["d"]["input"]
    return max(0, input_frac - max(0, short) // 2)


def _lif_frac_limit(p: dict, x_range) -> int:
    """The largest F at which the float LIF layer p's v (on 2^-F) and current i (on 2^-(F-6)) stay within 24 bits
    for any input in x_range per element (and its own spikes): each is bounded by the steady state of the largest
    drive of either sign, v from above by vth plus one step's drive (-1, no bound, when a decay is 0)."""
    W = p["syn"]["d"]["input"].detach().double()
    lo, hi = x_range
    a_max = torch.maximum(W * lo, W * hi).sum(1)
    a_min = torch.minimum(W * lo, W * hi).sum(1)
    for src in ("self", "const"):            # own spikes and the constant source: values in {0, 1}
        if src in p["syn"]["d"]:
            Ws = p["syn"]["d"][src].detach().double()
            a_max, a_min = a_max + Ws.clamp(min=0).sum(1), a_min + Ws.clamp(max=0).sum(1)
    du, dv = float(p["du"]), float(p["dv"])
    b = torch.as_tensor(p["bias"]["v"]).double()
    if du <= 0 or dv <= 0:
        return -1
    i_max, i_min = a_max.clamp(min=0) / du, a_min.clamp(max=0) / du
    v_bound = max(float((p["vth"] + (i_max + b).clamp(min=0)).max()), float((-(i_min + b) / dv).max()), 1e-30)
    i_bound = max(float(i_max.max()), float((-i_min).max()), 1e-30)
    return min(math.floor(math.log2(STATE_MAX / v_bound)),
               spec.LIF_A_IN_SHIFT + math.floor(math.log2(STATE_MAX / i_bound)))


# ---------------------------------------------------------------- codes under a plan
def _lif_bias_exp(scaled) -> int:
    """The smallest 3-bit exponent under which the bias (on 2^-F) rounds into the 13-bit signed mantissa range
    [-4096, 4095] (the largest one if none does; the mantissa then clips)."""
    bias_exp = 0
    while bias_exp < LIF_BIAS_EXP_MAX:
        m = torch.round(scaled.detach() / 2**bias_exp)
        if m.numel() == 0 or (m.min().item() >= LIF_BIAS_MANT_MIN and m.max().item() <= LIF_BIAS_MANT_MAX):
            break
        bias_exp += 1
    return bias_exp


def lo_bits_of(lp: dict, part: str, src: str) -> int:
    """Bits of the remainder's synapse of a split weight matrix under the plan (0: not split)."""
    return lp.get("lo_bits", {}).get(part, {}).get(src, 0)


def _synapse_shift(p: dict, lp: dict, src: str, e: int) -> int:
    """Shift of a synapse of layer p (plan lp) from src with exponent e; Lava's LIF / ATRLIF add a_in << 6."""
    target = spec.target_frac(lp.get("frac_bits", FRAC_BITS), lif=p["kind"] in LAVA_NEURON_KINDS)
    return spec.synapse_shift(e, lp["src_frac"] if src == "input" else 0, target)


def _chip_exponent(p: dict, lp: dict, src: str, e: int) -> int:
    """Exponent e of layer p's synapse from src moved where its shift is one the chip's Dense holds
    (`spec.CHIP_SHIFT_RANGE`): a finer exponent clips the largest weights, a coarser one rounds small weights
    to fewer levels; QAT trains under the moved one."""
    k = _synapse_shift(p, lp, src, e)
    lo, hi = spec.CHIP_SHIFT_RANGE
    return int(e + min(max(k, lo), hi) - k)


def _build_layer(p: dict, lp: dict, plan: dict, rnd):
    F = lp.get("frac_bits", FRAC_BITS)
    target = spec.target_frac(F, lif=p["kind"] in LAVA_NEURON_KINDS)   # vth and theta_step are on a_in's scale
    syn = {}
    for part, srcs in p["syn"].items():
        syn[part] = [QSynapse(q, _synapse_shift(p, lp, src, e), src, wide=src == "input" and p.get("reads") == "u")
                     for src, w in srcs.items()
                     for q, e in synapse_codes(w, lp["syn"][part][src], lo_bits_of(lp, part, src), rnd)]
    if p["kind"] in LAVA_NEURON_KINDS:
        scaled = p["bias"]["v"] * 2.0**F
        bias_exp = int(lp["bias_exp"]) if "bias_exp" in lp else _lif_bias_exp(scaled)   # netx: its fixed 6
        vth_max = ATRLIF_THETA_MAX if p["kind"] == "atrlif" else LIF_VTH_MAX
        codes = dict(n=len(p["bias"]["v"]), syn=syn,
                     du=torch.clamp(rnd(DECAY_ONE * p["du"]) - LIF_DU_OFFSET, 0, DECAY_ONE - 1),
                     dv=torch.clamp(rnd(DECAY_ONE * p["dv"]), 0, DECAY_ONE - 1),
                     vth=int(min(round(p["vth"] * 2.0 ** target), vth_max)),
                     bias_mant=torch.clamp(rnd(scaled / 2**bias_exp), LIF_BIAS_MANT_MIN, LIF_BIAS_MANT_MAX),
                     bias_exp=bias_exp, frac_bits=F)
        if p["kind"] == "lif":
            return QLif(**codes)
        return QAtrlif(**codes, dtheta=torch.clamp(rnd(DECAY_ONE * p["dtheta"]), 0, DECAY_ONE - 1),
                       dr=torch.clamp(rnd(DECAY_ONE * p["dr"]), 0, DECAY_ONE - 1),
                       theta_step=int(min(round(p["theta_step"] * 2.0 ** target), ATRLIF_THETA_MAX)))
    bias = {part: torch.clamp(rnd(c * 2.0**F), -STATE_MAX, STATE_MAX) for part, c in p["bias"].items()}
    kind = p["kind"]
    gated = bool(p["mix"])          # an ungated layer (constant decays) has no mixing: labelled "dense"
    layer = QLtc(kind=kind, n=len(bias["d"]), syn=syn, bias=bias, gated=gated,
                 spiking=kind != "readout", mixing=plan["mixing"] if gated else "dense", frac_bits=F,
                 sigmoid=plan.get("sigmoid", "lut") if gated else "lut")
    for part, w in p["mix"].items():
        layer.mix[part] = weight_codes(_mix_matrix(w, layer.mixing), lp["mix"][part], rnd)
        layer.mix_shift[part] = lp["mix"][part]
    for name in ("alpha", "rho"):
        if name in p:
            setattr(layer, name, rnd(DECAY_ONE * p[name]))
    return layer


def _double(obj):
    if isinstance(obj, torch.Tensor):
        return obj.double()
    if isinstance(obj, dict):
        return {k: _double(v) for k, v in obj.items()}
    return obj


def build_qnet(model, plan: dict, rnd=torch.round) -> QNet:
    """Integer network of `model` under `plan`, with torch float64 tensors holding the integer codes.
    rnd: the rounding function (torch.round, or a straight-through round for QAT)."""
    cfg = model.cfg
    return build_qnet_from_parts(model_parts(model), plan, cfg.input_shape, cfg.b0, cfg.beta, rnd)


def build_qnet_from_parts(parts: list, plan: dict, input_shape, b0: float = 0.1, beta: float = 1.8,
                          rnd=torch.round) -> QNet:
    """Integer network from the float parts of every layer (readout last) under `plan`; b0, beta: the
    threshold parameters of LTC / ALIF layers (NetConfig.b0, .beta)."""
    if len(parts) != len(plan["layers"]):
        raise QuantizationError(f"the plan has {len(plan['layers'])} layers, the network {len(parts)}")
    if not (math.isfinite(b0) and b0 >= 0 and math.isfinite(beta) and beta >= 0):
        raise QuantizationError(f"threshold b0 = {b0} and adaptation beta = {beta} must be finite and >= 0")
    layers = []
    for i, (p, lp) in enumerate(zip(parts, plan["layers"])):
        q = _build_layer(_double(p), lp, plan, rnd)
        name = spec.layer_name(i, len(parts))
        if isinstance(q, QLtc) and q.spiking:
            q.theta0 = int(round(b0 * 2**q.frac_bits))
            if q.theta0 > STATE_MAX:    # a 24-bit u never exceeds it: saturating keeps "never spikes" exactly
                warnings.warn(f"{name}: threshold b0 = {b0:g} is beyond the 24-bit state ({q.theta0} > {STATE_MAX}); "
                              f"saturated to {STATE_MAX}: the layer never spikes", QuantizationWarning)
                q.theta0 = STATE_MAX
            q.beta = int(round(beta * DECAY_ONE))
        if isinstance(q, QLif) and q.vth == LIF_VTH_MAX:
            raw = float(p["vth"]) * 2.0 ** (q.frac_bits - spec.LIF_A_IN_SHIFT)
            if round(raw) > LIF_VTH_MAX:
                warnings.warn(f"{name}: LIF threshold {float(p['vth']):g} needs the mantissa {round(raw)}, beyond 17 "
                              f"bits: clipped to {LIF_VTH_MAX} (the integer layer spikes at a lower threshold than "
                              f"the float one)", QuantizationWarning)
        layers.append(q)
    if parts[-1].get("reads") == "u":
        layers[-2].output = "u"
    return QNet(input_shape=tuple(int(v) for v in input_shape), input_frac=plan["input_frac"],
                input_range=tuple(plan["input_range"]), layers=layers[:-1], readout=layers[-1],
                lut=spec.sigmoid_lut())


def to_numpy(obj):
    """Recursively turn the torch tensors of a QNet into int64 numpy arrays (and 0-d ones into ints)."""
    if isinstance(obj, torch.Tensor):
        a = obj.detach().cpu().numpy()
        if not np.array_equal(a, np.round(a)):
            raise QuantizationError("a code is not an integer")
        a = a.astype(np.int64)
        return int(a) if a.ndim == 0 else a
    if is_dataclass(obj):
        for f in fields(obj):
            setattr(obj, f.name, to_numpy(getattr(obj, f.name)))
        return obj
    if isinstance(obj, dict):
        return {k: to_numpy(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_numpy(v) for v in obj)
    return obj


# ---------------------------------------------------------------- the quantizer
def quantize(model, x_train, mixing: str = "dense", plan: dict = None, task: dict = None, sigmoid: str = "lut",
             lif: str = "lava"):
    """Float model -> (QNet with int64 numpy arrays, plan, report rows). A given plan is reused as is; mixing,
    sigmoid and lif (a `target_profile`) choose a new one."""
    plan = plan or make_plan(model, x_train, mixing, sigmoid, lif)
    with torch.no_grad():
        qnet = to_numpy(build_qnet(model, plan))
        report = quantization_report(model, plan)
    qnet.task = dict(task or {})
    return qnet, plan, report


def quantize_parts(parts: list, input_shape, encoding: tuple = (0, (0, 1)), mixing: str = "dense",
                   plan: dict = None, task: dict = None, b0: float = 0.1, beta: float = 1.8, sigmoid: str = "lut",
                   weight_bits: int = WEIGHT_BITS, lif: str = "lava"):
    """`quantize` for a float network given as float parts (e.g. read from a NIR file) instead of a torch
    module: the same plan, codes and report. encoding: (input_frac, (lo, hi)) of the network input
    (default binary spikes); weight_bits: 8, or 15 (`synapse_codes`: each weight matrix as two synapses).
    Returns (QNet with int64 numpy arrays, plan, report rows)."""
    with torch.no_grad():
        plan = plan or plan_from_parts(parts, encoding, mixing, sigmoid, weight_bits, lif)
        qnet = to_numpy(build_qnet_from_parts(parts, plan, input_shape, b0, beta))
        report = report_from_parts(parts, plan)
    qnet.task = dict(task or {})
    return qnet, plan, report


def quantization_report(model, plan: dict) -> list:
    """One row per quantized tensor: name, bits, exponent, fraction clipped, relative RMS error; and one per 12-bit
    decay (LIF du, dv; constant alpha, rho): its worst neuron's signed relative error."""
    return report_from_parts(model_parts(model), plan)


def weight_tensors(parts: list, plan: dict):
    """Every weight tensor of the plan: (layer index, "layerK.part.src" name, float weights (float64), exponent e,
    lo_bits: of a split synaptic matrix, else 0); its codes are synapse_codes(w, e, lo_bits)."""
    for i, (p, lp) in enumerate(zip(parts, plan["layers"])):
        name = spec.layer_name(i, len(parts))
        tensors = [(f"{part}.{src}", w, lp["syn"][part][src], lo_bits_of(lp, part, src))
                   for part, srcs in p["syn"].items() for src, w in srcs.items()]
        tensors += [(f"mix.{part}", _mix_matrix(w, plan["mixing"]), lp["mix"][part], 0)
                    for part, w in p.get("mix", {}).items()]
        for tname, w, e, lo_bits in tensors:
            yield i, f"{name}.{tname}", w.detach().double(), e, lo_bits


def quantization_errors(model, plan: dict) -> dict:
    """{tensor name: (code * 2^e - w) / 2^e}: each weight's rounding error in quantization steps (within
    +-0.5 unless clipped at the 8-bit range), float64 numpy."""
    return {name: ((weight_values(w, e, lo_bits) - w) * 2.0**-e).numpy()
            for _, name, w, e, lo_bits in weight_tensors(model_parts(model), plan)}


def report_from_parts(parts: list, plan: dict) -> list:
    """`quantization_report` from the float parts of every layer (readout last)."""
    rows, tensors = [], list(weight_tensors(parts, plan))
    for i, p in enumerate(parts):
        name = spec.layer_name(i, len(parts))
        for _, tname, w, e, lo_bits in (t for t in tensors if t[0] == i):
            err = ((weight_values(w, e, lo_bits) - w).norm() / w.norm().clamp_min(1e-30)).item()
            clipped = ((w * 2.0**-e).round().abs() > WEIGHT_MAX).double().mean().item()
            rows.append({"tensor": tname, "bits": WEIGHT_BITS + lo_bits, "exponent": e, "clipped": clipped,
                         "rel_error": err})
        rows += _decay_rows(name, p)
        if p["kind"] in LAVA_NEURON_KINDS:
            rows += _lif_code_rows(name, p, plan["layers"][i], plan)
        if plan["mixing"] == "diag":
            for part, w in p.get("mix", {}).items():
                w = w.detach().double()
                off = (w - torch.diag(torch.diagonal(w))).norm() / w.norm().clamp_min(1e-30)
                rows.append({"tensor": f"{name}.mix.{part}.offdiag_dropped", "bits": 0, "exponent": 0,
                             "clipped": 0.0, "rel_error": off.item()})
    return rows


def _lif_code_rows(name: str, p: dict, lp: dict, plan: dict) -> list:
    """A LIF / ATRLIF layer's bias (13-bit mantissa, its exponent on 2^-F) and threshold (17 / 12-bit mantissa on
    2^-(F-6)) codes: relative RMS error of the bias, signed relative error of the threshold, and what clipped."""
    p = _double(p)
    q = _build_layer(p, lp, plan, torch.round)
    b = p["bias"]["v"].detach().reshape(-1)
    e_b = int(q.bias_exp) - int(q.frac_bits)
    b_code = torch.as_tensor(q.bias_mant).double() * 2.0**e_b
    e_v = -spec.target_frac(q.frac_bits, lif=True)
    vth = float(p["vth"])
    vth_code = int(q.vth) * 2.0**e_v
    return [{"tensor": f"{name}.bias", "bits": spec.LIF_BIAS_MANT_BITS, "exponent": e_b,
             "clipped": ((b * 2.0**-e_b).round() != torch.as_tensor(q.bias_mant).double()).double().mean().item()
             if b.numel() else 0.0,
             "rel_error": ((b_code - b).norm() / b.norm().clamp_min(1e-30)).item()},
            {"tensor": f"{name}.vth", "bits": ATRLIF_THETA_BITS if p["kind"] == "atrlif" else spec.LIF_VTH_BITS,
             "exponent": e_v, "clipped": float(round(vth * 2.0**-e_v) != int(q.vth)),
             "rel_error": (vth_code - vth) / vth if vth > 0 else 0.0}]


def _decay_rows(name: str, p: dict) -> list:
    """The 12-bit decay codes' error: one row per decay (LIF du, dv; constant alpha, rho), the signed relative
    error (code/4096 - d)/d of its worst neuron (e.g. dv = 0.005 -> 20/4096: -0.0234)."""
    if p["kind"] == "lif":
        decays = {"du": (p["du"], (torch.clamp(torch.round(DECAY_ONE * p["du"]) - 1, 0, DECAY_ONE - 1) + 1)),
                  "dv": (p["dv"], torch.clamp(torch.round(DECAY_ONE * p["dv"]), 0, DECAY_ONE - 1))}
    else:
        decays = {k: (p[k], torch.round(DECAY_ONE * p[k])) for k in ("alpha", "rho") if k in p}
    rows = []
    for k, (d, code) in decays.items():
        d = torch.as_tensor(d).detach().double().reshape(-1)
        rel = (torch.as_tensor(code).double().reshape(-1) / DECAY_ONE - d) / d.clamp_min(1e-30)
        rel = torch.where(d > 0, rel, torch.zeros_like(rel))
        worst = rel[rel.abs().argmax()].item() if rel.numel() else 0.0
        rows.append({"tensor": f"{name}.{k}", "bits": DECAY_BITS, "exponent": -DECAY_BITS, "clipped": 0.0,
                     "rel_error": worst})
    return rows


def format_report(rows) -> str:
    lines = [f"{'tensor':32s} {'bits':>4s} {'exp':>4s} {'clipped':>8s} {'rel.err':>8s}"]
    lines += [f"{r['tensor']:32s} {r['bits']:4d} {r['exponent']:4d} {r['clipped']:8.2%} {r['rel_error']:8.4f}"
              for r in rows]
    return "\n".join(lines)
