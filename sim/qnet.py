"""The quantized network: integer parameters of every layer (docs/fixed_point.md).

Arrays are numpy int64 in `sim/`; the quantized PyTorch model fills the same dataclasses with float64
tensors holding integer values (straight-through codes), so one set of step functions serves both.
"""
from dataclasses import dataclass, field

import numpy as np

from ltcsn.sim import spec
# the spec's constants most modules need, importable from here as well (their one home: sim/spec.py)
from ltcsn.sim.spec import (ATRLIF_THETA_BITS, DECAY_BITS, DECAY_ONE, FRAC_BITS, LUT_HALF,  # noqa: F401
                            LUT_SAT_IMPLIED_MAX_F, LUT_STEP_BITS, PWL_CAP, PWL_SEGMENTS, SIGMOIDS, STATE_BITS,
                            STATE_MAX, WEIGHT_MAX, sigmoid_lut)


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
    """Lava LIF layer: one synaptic part, syn["d"] (the same layout as QLtc.syn); du, dv 12-bit, vth 17-bit
    mantissa, bias mantissa [n] << bias_exp. State scale 2^-frac_bits; synaptic input a_in and vth on
    2^-(frac_bits - 6) (`spec.target_frac`)."""
    n: int
    syn: dict
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
    layers: list                # QLtc | QLif | QAtrlif, bottom to top
    readout: QLtc
    lut: object                 # [spec.LUT_SIZE] sigmoid table, 12-bit codes (spec.sigmoid_lut)
    task: dict = field(default_factory=dict)

    @property
    def n_out(self) -> int:
        return self.readout.n

    @property
    def all_layers(self) -> tuple:
        """Every layer, bottom to top, the readout last."""
        return (*self.layers, self.readout)

    def layer_names(self) -> list:
        """"layer0", "layer1", ..., "readout" (`spec.layer_name`)."""
        n = len(self.layers) + 1
        return [spec.layer_name(i, n) for i in range(n)]

    def window_length(self, seq_len: int) -> int:
        """Steps per sample on the Lava clock (`spec.window_length`)."""
        return spec.window_length(len(self.layers) + 1, seq_len)

    def encode_input(self, x) -> np.ndarray:
        """Float inputs [B, T, ...] -> int64 input codes (`spec.encode_input`)."""
        return spec.encode_input(np.asarray(x, dtype=np.float64), self.input_frac, self.input_range).astype(np.int64)


def sends(layer) -> str:
    """What a layer sends to the layer above: "s" (spikes; the readout: its u) or "u" (its membrane, graded)."""
    return getattr(layer, "output", "s")

