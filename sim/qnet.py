"""The quantized network: integer parameters of every layer (docs/fixed_point.md).

Arrays are numpy int64 in `sim/`; the quantized PyTorch model fills the same dataclasses with float64
tensors holding integer values (straight-through codes), so one set of step functions serves both.
"""
from dataclasses import dataclass, field

import numpy as np

FRAC_BITS = 12      # state fraction bits F of LTC / ALIF / readout layers
DECAY_BITS = 12     # decay codes (sigmoid outputs alpha, rho) are 12-bit fractions ...
DECAY_ONE = 1 << DECAY_BITS   # ... 4096 = 1.0
LUT_STEP_BITS = 4   # the sigmoid LUT samples z in steps of 2^-4 ...
LUT_HALF = 256      # ... with 256 entries on each side of z = 0: z in [-16, 16), 512 entries
# the largest F at which the LUT index clip implies sat(z, 24): (2^23 - 1) >> (F - 4) still reaches LUT_HALF - 1
LUT_SAT_IMPLIED_MAX_F = 23 - int(np.log2(LUT_HALF)) + LUT_STEP_BITS
WEIGHT_MAX = 127    # symmetric signed 8-bit weight codes
STATE_BITS = 24     # LTC / ALIF / readout states, gate pre-activations: saturated 24-bit words ...
STATE_MAX = (1 << (STATE_BITS - 1)) - 1   # ... sat(x, 24) clips to [-STATE_MAX, STATE_MAX]
# The piecewise-linear sigmoid of the loihi2 profile (docs/fixed_point.md, "The loihi2 profile"): for a = |z| on
# scale 2^-F, h(a) = min(PWL_CAP, min_k(offset_k + (a >> (shift_k + F - 12)))), the 12-bit code 4096 * sigmoid;
# slopes 2^-shift_k (1/4, 1/8, 1/32), breakpoints |z| = 1, 2.33, 5 (Amin, Curtis and Hayes-Gill 1997, "PLAN").
# z >= 0: min(h, DECAY_ONE - 1); z < 0: DECAY_ONE - h, which is 0 (a closed gate) for z <= -5.
PWL_SEGMENTS = ((2048, 2), (2560, 3), (3456, 5))
PWL_CAP = DECAY_ONE
ATRLIF_THETA_BITS = 12  # Lava ATRLIF's theta_0 and theta_step: 12-bit unsigned mantissas (lava/proc/atrlif/models.py)
SIGMOIDS = ("lut", "pwl")   # the gate sigmoid of a layer: the 512-entry table (host) or the PWL (loihi2)


@dataclass
class QSynapse:
    """One synaptic matrix (a Lava Dense): acc = shl(q @ x_src, shift). q [n_out, n_in], |q| <= 127.
    wide: the source sends 24-bit membrane values, so the int32 accumulate of Lava's Dense can wrap:
    acc = shl(wrap32(2 (q @ x_src)), shift - 1) (the same integers as above whenever nothing wraps)."""
    q: object
    shift: int
    source: str        # "input" (the layer below / the network input) | "self" (own previous spikes)
    wide: bool = False


@dataclass
class QLtc:
    """LTC, ALIF or readout layer. Parts: "d" (+ "m", "a" when gated; readout: "d", "m").

    syn[part]: synapses summed into that part; bias[part]: [n] on scale 2^-F.
    gated: mix[part] holds Q_mu / Q_ab codes ([n, n] dense or [n] diag) with exponent mix_shift[part], and the
    gate decays are sigmoid(z): the 512-entry LUT ("lut") or the piecewise-linear sigmoid ("pwl").
    not gated: alpha, rho are constant 12-bit codes [n]. theta0 on 2^-F, beta with 12 fraction bits.
    output: what a spiking layer sends to the layer above: "s" its spikes, or "u" its membrane after the reset
    (24-bit graded, read by a membrane readout).
    """
    kind: str                   # "ltc" | "alif" | "readout"
    n: int
    syn: dict
    bias: dict
    gated: bool
    spiking: bool = True
    mixing: str = "dense"       # "dense" | "diag" of the gate mixing matrices; "dense" on ungated layers
    mix: dict = field(default_factory=dict)
    mix_shift: dict = field(default_factory=dict)
    alpha: object = None
    rho: object = None
    theta0: int = 0
    beta: int = 0
    frac_bits: int = FRAC_BITS
    output: str = "s"
    sigmoid: str = "lut"        # "lut" | "pwl" (SIGMOIDS) of the gates; "lut" on ungated layers (no gate)


@dataclass
class QLif:
    """Lava LIF layer: one synaptic part; du, dv 12-bit, vth 17-bit mantissa, bias mantissa [n] << bias_exp.
    State scale 2^-frac_bits; synaptic input a_in on 2^-(frac_bits - 6)."""
    n: int
    syn: list
    du: int
    dv: int
    vth: int
    bias_mant: object
    bias_exp: int
    frac_bits: int
    kind: str = "lif"


@dataclass
class QAtrlif(QLif):
    """Lava's ATRLIF layer (lava.proc.atrlif, PyATRLIFModelFixed): a QLif whose threshold adapts and which is
    refractory instead of reset. du, dv, dtheta, dr: 12-bit decay codes (du with LIF's +1 offset); vth: the
    12-bit base threshold mantissa theta_0 (theta >= vth << 6 on 2^-frac_bits); theta_step: 12-bit mantissa of the
    threshold increase per spike (<< 6). State (i, v, s, theta, r)."""
    dtheta: int = 0
    dr: int = 0
    theta_step: int = 0
    kind: str = "atrlif"


@dataclass
class QNet:
    """Integer network. Input: x_int = clip(round(x * 2^input_frac), *input_range) per element."""
    input_shape: tuple
    input_frac: int
    input_range: tuple
    layers: list                # QLtc | QLif, bottom to top
    readout: QLtc
    lut: object                 # [256] sigmoid table, 12-bit codes
    task: dict = field(default_factory=dict)

    @property
    def n_out(self) -> int:
        return self.readout.n

    def encode_input(self, x) -> np.ndarray:
        """Float inputs [B, T, ...] -> int64 input codes (graded payload)."""
        lo, hi = self.input_range
        return np.clip(np.round(np.asarray(x, dtype=np.float64) * 2.0 ** self.input_frac), lo, hi).astype(np.int64)


def sends(layer) -> str:
    """What a layer sends to the layer above: "s" (spikes; the readout: its u) or "u" (its membrane, graded)."""
    return getattr(layer, "output", "s")


def sigmoid_lut() -> np.ndarray:
    """LUT[i] = min(round(4096 * sigmoid((i - 256 + 0.5) / 16)), 4095), i = 0..511: z in [-16, 16) in steps of
    1/16, 12-bit codes. The entries below z = -9 are 0: a gate driven there holds its state exactly."""
    z = (np.arange(2 * LUT_HALF) - LUT_HALF + 0.5) / 2.0**LUT_STEP_BITS
    return np.minimum(np.round(DECAY_ONE / (1.0 + np.exp(-z))), DECAY_ONE - 1).astype(np.int64)
