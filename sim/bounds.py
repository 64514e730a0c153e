"""Bounds of the integer semantics: worst-case synaptic sums (where the spec's int32 wrap, Lava's Dense, can be
reached) and the widths every code must fit (`width_errors`, which the NIR reader enforces).

docs/fixed_point.md wraps every part's synaptic sum to int32 as Lava does, so sim/, QAT and Lava always agree; a
network whose sums can get there computes something its float model does not. `synaptic_sum_bounds` is the one
rule the resource report (hardware/resources.py) and the exporter's warning (export/to_nir.py) use.
"""
import numpy as np

from ltcsn.sim.qnet import QAtrlif, QLif, sends
from ltcsn.sim.spec import (ATRLIF_THETA_MAX, DECAY_ONE, INPUT_RANGE_BINARY, INPUT_RANGE_SIGNED, INPUT_RANGE_UNSIGNED,
                            INT32_BITS, INT32_MAX, LIF_BIAS_EXP_MAX, LIF_BIAS_MANT_MAX, LIF_BIAS_MANT_MIN, LIF_VTH_MAX,
                            LUT_STEP_BITS, STATE_BITS, STATE_MAX, WEIGHT_MAX, layer_name)

INT32_LIMIT = INT32_MAX + 1     # |value| >= this wraps in int32 (the spec's wrap32, Lava's Dense and in-port)
STATE_MAX_FRAC = STATE_BITS - 1  # fraction bits F of a 24-bit state: at most 23
SHIFT_RANGE = (2 - INT32_BITS, INT32_BITS - 1)   # shifts k in [-30, 31]: Lava's weight_exp k - 1 stays a defined int32 shift


def source_max(qnet, index: int, source: str) -> int:
    """The largest |x| a synapse of layer `index` (qnet.layers, then the readout) reads from `source`: the network's
    input codes (layer 0), the 24-bit membrane of a layer below that sends u, else spikes or the constant source
    (1)."""
    if source in ("self", "const"):
        return 1
    if index == 0:
        return max(abs(int(qnet.input_range[0])), abs(int(qnet.input_range[1])))
    below = (*qnet.layers, qnet.readout)[index - 1]
    return STATE_MAX if sends(below) == "u" else 1


def _row_abs(q) -> np.ndarray:
    return np.abs(np.asarray(q, dtype=np.int64)).sum(axis=1)


def synaptic_sum_bounds(qnet) -> list:
    """One dict per part of every layer (readout included): {"layer", "part", "worst", "wraps"}.
    worst: the largest |sum over synapses of shl(q @ x, k)| any neuron of the part can reach (exact, from each
    neuron's row of codes and the sources' largest values); wraps: whether int32 can be reached, by that sum or by
    a graded synapse's 2 q @ x (wrapped before its shift, as Lava's Dense does)."""
    out = []
    layers = (*qnet.layers, qnet.readout)
    for i, layer in enumerate(layers):
        name = layer_name(i, len(layers))
        parts = layer.syn if isinstance(layer.syn, dict) else {"d": layer.syn}
        for part, syns in parts.items():
            worst = [0] * layer.n                         # python ints: exact however large
            before_shift = 0
            for syn in syns:
                x_max = source_max(qnet, i, syn.source)
                m = [int(v) * x_max for v in _row_abs(syn.q)]           # max |q @ x| per neuron
                k = int(syn.shift)
                # |shl(a, k)| <= shl(|a|, k) rounded up (a floor right shift of a negative a rounds away from 0)
                worst = [w + (v << k if k >= 0 else -((-v) >> -k)) for w, v in zip(worst, m)]
                if x_max > 1:                                            # graded payload: Lava wraps 2 q @ x first
                    before_shift = max(before_shift, 2 * max(m, default=0))
            w = max(worst, default=0)
            out.append({"layer": name, "part": part, "worst": w,
                        "wraps": w >= INT32_LIMIT or before_shift >= INT32_LIMIT})
    return out


def overflow_warning(bound: dict) -> str:
    """The one sentence for a part whose synaptic sum can reach int32 (resources.py and export/to_nir.py say it)."""
    return (f"{bound['layer']} part {bound['part']}: worst-case synaptic sum {bound['worst']} can reach int32 "
            f"(2^31); it wraps there, identically in sim/, QAT and Lava (docs/fixed_point.md), but not in the float "
            f"network: smaller weights or inputs keep it exact")


def _outside(values, lo: int, hi: int) -> bool:
    a = np.asarray(values)
    return a.size > 0 and (int(a.min()) < lo or int(a.max()) > hi)


def width_errors(qnet) -> list:
    """Every integer of a QNet outside the width docs/fixed_point.md gives it, as "where: what" strings (empty when
    all fit): input range, 8-bit weight and mixing codes, shifts, 24-bit biases and thresholds, 12-bit decays, and
    Lava LIF's du / dv (12 bit), vth (17-bit mantissa, >= 0), bias (13-bit mantissa, 3-bit exponent); ATRLIF's
    12-bit dtheta, dr, theta_0 and theta_step."""
    errors = []
    lo, hi = (int(v) for v in qnet.input_range)
    if lo > hi:
        errors.append(f"input range [{lo}, {hi}] is inverted")
    elif (lo, hi) != INPUT_RANGE_BINARY and not (INPUT_RANGE_SIGNED[0] <= lo and hi <= INPUT_RANGE_UNSIGNED[1]
                                                 and hi - lo <= INPUT_RANGE_UNSIGNED[1]):
        errors.append(f"input range [{lo}, {hi}] is not an 8-bit payload ([0, 255], [-128, 127] or spikes [0, 1])")
    layers = (*qnet.layers, qnet.readout)
    for i, layer in enumerate(layers):
        name = layer_name(i, len(layers))
        parts = layer.syn if isinstance(layer.syn, dict) else {"d": layer.syn}
        for part, syns in parts.items():
            for syn in syns:
                where = f"{name} synapse {part}.{syn.source}"
                if _outside(syn.q, -WEIGHT_MAX, WEIGHT_MAX):
                    errors.append(f"{where}: weight codes beyond 8 bits (|q| <= {WEIGHT_MAX})")
                if not SHIFT_RANGE[0] <= int(syn.shift) <= SHIFT_RANGE[1]:
                    errors.append(f"{where}: shift {syn.shift} outside {list(SHIFT_RANGE)}")
        if isinstance(layer, QLif):
            theta_max = ATRLIF_THETA_MAX
            fields = [("du", layer.du, (0, DECAY_ONE - 1)), ("dv", layer.dv, (0, DECAY_ONE - 1)),
                      ("vth", layer.vth, (0, theta_max if isinstance(layer, QAtrlif) else LIF_VTH_MAX)),
                      ("bias_mant", layer.bias_mant, (LIF_BIAS_MANT_MIN, LIF_BIAS_MANT_MAX)),
                      ("bias_exp", layer.bias_exp, (0, LIF_BIAS_EXP_MAX))]
            if isinstance(layer, QAtrlif):
                fields += [("dtheta", layer.dtheta, (0, DECAY_ONE - 1)), ("dr", layer.dr, (0, DECAY_ONE - 1)),
                           ("theta_step", layer.theta_step, (0, theta_max))]
            for field, value, (a, b) in fields:
                if _outside(value, a, b):
                    errors.append(f"{name} {field}: outside [{a}, {b}]")
            continue
        if not LUT_STEP_BITS <= int(layer.frac_bits) <= STATE_MAX_FRAC:
            errors.append(f"{name} frac_bits {layer.frac_bits}: outside [{LUT_STEP_BITS}, {STATE_MAX_FRAC}]")
        for part, bias in layer.bias.items():
            if _outside(bias, -STATE_MAX, STATE_MAX):
                errors.append(f"{name} bias.{part}: beyond 24 bits (|c| <= {STATE_MAX})")
        for part, q in layer.mix.items():
            if _outside(q, -WEIGHT_MAX, WEIGHT_MAX):
                errors.append(f"{name} mix.{part}: mixing codes beyond 8 bits (|q| <= {WEIGHT_MAX})")
        for part, shift in layer.mix_shift.items():
            if not SHIFT_RANGE[0] <= int(shift) <= SHIFT_RANGE[1]:
                errors.append(f"{name} mix.{part}: exponent {shift} outside {list(SHIFT_RANGE)}")
        for field in ("alpha", "rho"):
            value = getattr(layer, field)
            if value is not None and _outside(value, 0, DECAY_ONE):
                errors.append(f"{name} {field}: decay codes outside [0, {DECAY_ONE}]")
        if layer.spiking:
            if _outside(layer.theta0, 0, STATE_MAX):
                errors.append(f"{name} theta0 {int(layer.theta0)}: outside [0, {STATE_MAX}] (a threshold is "
                              f"non-negative and 24-bit)")
            if _outside(layer.beta, 0, STATE_MAX):
                errors.append(f"{name} beta {int(layer.beta)}: outside [0, {STATE_MAX}]")
    return errors
