"""Every derived rule of docs/fixed_point.md, written once: bit widths and ranges, the shifts and exponents
between scales, the sigmoid LUT, the input encoding, Lava's Dense and LIF conventions, the Lava window clock
and the layer names. The quantizer, the NIR writer and reader, the resource report, the Lava mapping and the
simulator all take them from here (tests/test_spec.py fails when one of these values is written again
elsewhere). No imports from the package: every stage may import this module.
"""
import numpy as np

SPEC_VERSION = 3    # of docs/fixed_point.md (2: the 512-entry sigmoid LUT, 2026-11-26; 3: a layer's gate sigmoid is
                    # the LUT or the loihi2 profile's piecewise-linear one, 2026-11-29)
READABLE_SPEC_VERSIONS = (2, 3)   # the same integers: a version-2 network is version 3 with every layer on the LUT

# ---------------------------------------------------------------- widths and ranges
FRAC_BITS = 12                              # state fraction bits F of LTC / ALIF / readout layers
DECAY_BITS = 12                             # decay codes (sigmoid outputs, LIF du / dv), beta's fraction bits
DECAY_ONE = 1 << DECAY_BITS                 # 4096 = 1.0
STATE_BITS = 24                             # u, d, z, b, LIF u / v
STATE_MAX = (1 << (STATE_BITS - 1)) - 1     # sat(x, 24) clips to [-STATE_MAX, STATE_MAX]
WEIGHT_BITS = 8                             # synaptic and mixing codes
WEIGHT_MAX = (1 << (WEIGHT_BITS - 1)) - 1   # symmetric codes |q| <= 127
WEIGHT_LO_BITS = 7                          # a split weight matrix W ~ q_hi 2^e + q_lo 2^(e-7): two synapses from one
SPLIT_WEIGHT_BITS = WEIGHT_BITS + WEIGHT_LO_BITS   # source (two Dense), |q_lo| <= 64: 15-bit weights
WEIGHT_PRECISIONS = (WEIGHT_BITS, SPLIT_WEIGHT_BITS)
INT32_BITS = 32                             # Lava's Dense accumulator and out-port, LIF arithmetic
INT32_MAX = (1 << (INT32_BITS - 1)) - 1


def sat_bound(bits: int) -> int:
    """The largest magnitude sat(x, bits) keeps: 2^(bits-1) - 1 (symmetric range)."""
    return (1 << (bits - 1)) - 1


# ---------------------------------------------------------------- input encoding
INPUT_BITS = 8                                              # graded input payload
INPUT_RANGE_BINARY = (0, 1)                                 # spike inputs, F_in = 0
INPUT_RANGE_UNSIGNED = (0, (1 << INPUT_BITS) - 1)           # [0, 255]: training inputs all >= 0
INPUT_RANGE_SIGNED = (-(1 << (INPUT_BITS - 1)), (1 << (INPUT_BITS - 1)) - 1)   # [-128, 127]


def encode_input(x, input_frac: int, input_range):
    """x_int = clip(round(x * 2^F_in), lo, hi): x a float64 numpy array or torch tensor (same type back)."""
    lo, hi = input_range
    return (x * 2.0 ** input_frac).round().clip(lo, hi)


def input_clipped(x, input_frac: int, input_range) -> int:
    """How many elements of x `encode_input` clips to its range."""
    lo, hi = input_range
    scaled = (x * 2.0 ** input_frac).round()
    return int(((scaled < lo) | (scaled > hi)).sum())


def decode_input(x_int, input_frac: int):
    """The float value x_int / 2^F_in of input codes (float64)."""
    return np.asarray(x_int, dtype=np.float64) * 2.0 ** -input_frac


def is_binary_input(input_frac: int, input_range) -> bool:
    return (int(input_frac), *(int(v) for v in input_range)) == (0, *INPUT_RANGE_BINARY)


# ---------------------------------------------------------------- the sigmoid LUT
LUT_STEP_BITS = 4           # the LUT samples z in steps of 2^-4 ...
LUT_HALF = 256              # ... with 256 entries on each side of z = 0: z in [-16, 16)
LUT_SIZE = 2 * LUT_HALF     # 512 entries
# the largest F at which the LUT index clip implies sat(z, 24): (2^23 - 1) >> (F - 4) still reaches LUT_HALF - 1
LUT_SAT_IMPLIED_MAX_F = (STATE_BITS - 1) - int(np.log2(LUT_HALF)) + LUT_STEP_BITS


def lut_index_shift(frac_bits: int) -> int:
    """The right shift that puts z (scale 2^-F) on the LUT's grid of 2^-4."""
    return frac_bits - LUT_STEP_BITS


def lut_index(ops, z, frac_bits: int):
    """idx = clip((z >> (F - 4)) + 256, 0, 511): ops.shl is the backend's floor shift (numpy int64 arrays or
    float64 tensors holding integers; both have .clip)."""
    return (ops.shl(z, -lut_index_shift(frac_bits)) + LUT_HALF).clip(0, LUT_SIZE - 1)


def sigmoid_lut() -> np.ndarray:
    """LUT[i] = min(round(4096 * sigmoid((i - 256 + 0.5) / 16)), 4095), i = 0..511: z in [-16, 16) in steps of
    1/16, 12-bit codes. The entries below z = -9 are 0: a gate driven there holds its state exactly."""
    z = (np.arange(LUT_SIZE) - LUT_HALF + 0.5) / 2.0**LUT_STEP_BITS
    return np.minimum(np.round(DECAY_ONE / (1.0 + np.exp(-z))), DECAY_ONE - 1).astype(np.int64)


# The piecewise-linear sigmoid of the loihi2 profile (docs/fixed_point.md, "The loihi2 profile"): for a = |z| on
# scale 2^-F, h(a) = min(PWL_CAP, min_k(offset_k + (a >> (shift_k + F - 12)))), the 12-bit code 4096 * sigmoid;
# slopes 2^-shift_k (1/4, 1/8, 1/32), breakpoints |z| = 1, 2.33, 5 (Amin, Curtis and Hayes-Gill 1997, "PLAN").
# z >= 0: min(h, DECAY_ONE - 1); z < 0: DECAY_ONE - h, which is 0 (a closed gate) for z <= -5.
PWL_SEGMENTS = ((2048, 2), (2560, 3), (3456, 5))
PWL_CAP = DECAY_ONE
SIGMOIDS = ("lut", "pwl")   # the gate sigmoid of a layer: the 512-entry table (host) or the PWL (loihi2)


def pwl_segments(frac_bits: int) -> list:
    """The PWL's segments for z on scale 2^-F: (offset_k, k), candidate code offset_k + shl(|z|, k) with
    k = 12 - F - shift_k (the code rises 2^k per unit of z's integer)."""
    return [(offset, DECAY_BITS - frac_bits - shift) for offset, shift in PWL_SEGMENTS]


def sigmoid(t):
    """The logistic function 1 / (1 + e^-t) in float64 (numpy); e^-t overflows to inf for t < -709, which gives the
    exact limit 0 (numpy's overflow warning would say nothing to a user, so it is off)."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-np.asarray(t, dtype=np.float64)))


def sigmoid_decay(z, frac_bits: int, sigmoid=sigmoid):
    """The float decay the LUT samples: 4096 * sigmoid(z / 2^F) (sigmoid: numpy's by default, or torch.sigmoid)."""
    return DECAY_ONE * sigmoid(z * 2.0**-frac_bits)


# ---------------------------------------------------------------- synapses: exponent <-> shift, Lava Dense
def synapse_shift(exponent: int, src_frac: int, target_frac: int) -> int:
    """Shift k of a synapse with weights W = q 2^e reading a source on 2^-src_frac (0 for spikes) into a sum
    on 2^-target_frac: k = e - src_frac + target_frac."""
    return int(exponent) - int(src_frac) + int(target_frac)


def synapse_exponent(shift: int, src_frac: int, target_frac: int) -> int:
    """The inverse of `synapse_shift`: e = k + src_frac - target_frac."""
    return int(shift) + int(src_frac) - int(target_frac)


DENSE_WEIGHT_FACTOR = 2     # Lava's mixed-sign 8-bit Dense grid is even: it holds 2q ...


def dense_weight_exp(shift: int) -> int:
    """... with weight_exp = k - 1 (shl(2q @ x, k - 1) = shl(q @ x, k), docs/fixed_point.md)."""
    return int(shift) - 1


# The Dense weight exponents every plan keeps to, assumed for Loihi 2: Loihi 1's signed 4-bit weight exponent
# (Lava's CPU Dense accepts any; no public Loihi 2 figure was found: lava-loihi or silicon would confirm it)
WEIGHT_EXP_RANGE = (-8, 7)
CHIP_SHIFT_RANGE = (WEIGHT_EXP_RANGE[0] + 1, WEIGHT_EXP_RANGE[1] + 1)   # synapse shifts k = weight_exp + 1


GRADED_MESSAGE_BITS = STATE_BITS    # payload of a membrane u sent to a membrane readout

# ---------------------------------------------------------------- Lava's LIF
LIF_A_IN_SHIFT = 6                          # Lava's LIF adds a_in << 6 and compares v with vth << 6
LIF_A_IN_SCALE = 1 << LIF_A_IN_SHIFT
LIF_DU_OFFSET = 1                           # Lava decays u by du + 1 (du = round(4096 delta_u) - 1)
LIF_VTH_BITS = 17                           # unsigned threshold mantissa
LIF_VTH_MAX = (1 << LIF_VTH_BITS) - 1
LIF_BIAS_MANT_BITS = 13                     # signed bias mantissa: [-4096, 4095], as Lava stores it
LIF_BIAS_MANT_MIN = -(1 << (LIF_BIAS_MANT_BITS - 1))
LIF_BIAS_MANT_MAX = (1 << (LIF_BIAS_MANT_BITS - 1)) - 1
LIF_BIAS_EXP_BITS = 3                       # unsigned bias exponent [0, 7]
LIF_BIAS_EXP_MAX = (1 << LIF_BIAS_EXP_BITS) - 1
ATRLIF_THETA_BITS = 12                      # Lava's ATRLIF: theta_0 and theta_step unsigned mantissas (<< 6)
ATRLIF_THETA_MAX = (1 << ATRLIF_THETA_BITS) - 1
LAVA_NEURON_KINDS = ("lif", "atrlif")       # Lava's own neurons: one synaptic part, a_in << 6, bias on v


# lava-dl netx (`lava.lib.dl.netx.hdf5.Network`, lava-dl 0.6.0): a CUBA layer is Lava's LIF with bias_exp 6 and a
# Dense whose weight exponent netx chooses itself from the file's integer weights (`netx.utils.optimize_weight_bits`)
NETX_WEIGHT_MIN, NETX_WEIGHT_MAX = -256, 254    # file weights netx's Dense holds exactly (a weight w adds w)
NETX_BIAS_EXP = 6                               # netx's CUBA neuron: bias_mant << 6 (the bias on a_in's scale)
NETX_MAX_SHIFT = 1                              # q << k within [-256, 254] for every 8-bit code q: k in {0, 1}


def target_frac(frac_bits: int, lif: bool) -> int:
    """The scale 2^-target a layer's synaptic sum lands on: F, or F - 6 for Lava's LIF / ATRLIF (lif=True: they
    add a_in << 6). Their threshold mantissas are on the same scale (v > vth << 6)."""
    return int(frac_bits) - LIF_A_IN_SHIFT if lif else int(frac_bits)


def lif_bias_fits(bias_mant, bias_exp) -> bool:
    """Whether a LIF bias is a 13-bit signed mantissa with a 3-bit exponent."""
    m = np.asarray(bias_mant)
    return bool(m.size == 0 or (m.min() >= LIF_BIAS_MANT_MIN and m.max() <= LIF_BIAS_MANT_MAX)) \
        and 0 <= int(bias_exp) <= LIF_BIAS_EXP_MAX


def lif_decay_fractions(du, dv) -> tuple:
    """(delta_u, delta_v): the per-step decay fractions of LIF codes du, dv."""
    return (du + LIF_DU_OFFSET) / DECAY_ONE, dv / DECAY_ONE


# ---------------------------------------------------------------- layers and the Lava window clock
def layer_name(index: int, n_layers: int) -> str:
    """The name of layer `index` of a network of n_layers (readout included, last): "layer<i>" or "readout"."""
    return "readout" if index == n_layers - 1 else f"layer{index}"


def layer_hop(index: int) -> int:
    """Synaptic hops (one step of delay each on Lava) between the network input and layer `index` (0-based)."""
    return index + 1


def window_length(n_layers: int, seq_len: int) -> int:
    """Steps per sample on Lava: T input steps plus one step per hop (n_layers, readout included) to flush."""
    return seq_len + n_layers


def window_step(step: int, window: int) -> int:
    """0-based step within its window of a 0-based global step."""
    return step % window


def lava_window_step(time_step: int, window: int) -> int:
    """`window_step` of a Lava process model's time_step, which counts from 1."""
    return window_step(time_step - 1, window)


def warming_up(w: int, hop: int) -> bool:
    """Whether window step w lies before the layer at `hop` receives its first input (it holds at zero)."""
    return w < hop


def lava_time_step_mod(w: int, window: int) -> int:
    """Lava's time_step % window at 0-based window step w (LIFReset's reset_offset): the inverse of
    `lava_window_step`."""
    return (w + 1) % window


def pad_windows(x_int, window: int, dtype=np.int64) -> np.ndarray:
    """Input codes [B, T, ...] -> the zero-padded input stream of the Lava clock [B, window, n_in]."""
    x_int = np.asarray(x_int)
    B, T = x_int.shape[:2]
    stream = np.zeros((B, window, int(np.prod(x_int.shape[2:], dtype=np.int64))), dtype=dtype)
    stream[:, :T] = x_int.reshape(B, T, -1)
    return stream
