"""Primitive integer operations of docs/fixed_point.md on numpy int64 arrays (the `sim/` backend).

The step equations in `sim.integer` call only these methods, so the same equations also run on the
torch straight-through backend in `train.quantized` (same method names, float64 tensors).
"""
from dataclasses import replace

import numpy as np

from ltcsn.sim import lava_fixed as lf
from ltcsn.sim.spec import DECAY_BITS, INT32_BITS, INT32_MAX, STATE_BITS, lut_index, sigmoid_decay


def _exact(q) -> lf.ExactMatrix:
    return q if isinstance(q, lf.ExactMatrix) else lf.ExactMatrix(q)


class NumpyOps:
    """Exact int64 arithmetic; products in float32 / float64 BLAS under the exactness bounds."""
    dtype = np.int64         # numpy dtype of states and records

    @staticmethod
    def prepare(qnet):
        """The QNet with every product matrix (synapse codes, dense mixing) as a `lava_fixed.ExactMatrix`:
        bounds and float copies made once per run instead of once per step. A synapse with shift k > 0 (not wide)
        gets the codes q << k and shift 0: shl(q @ x, k) == (q << k) @ x, one operation less per step."""
        def synapse(syn):
            if syn.shift > 0 and not syn.wide and not isinstance(syn.q, lf.ExactMatrix):
                return replace(syn, q=lf.ExactMatrix(np.asarray(syn.q, dtype=np.int64) << syn.shift), shift=0)
            return replace(syn, q=_exact(syn.q))

        def layer(lay):
            syn = {p: [synapse(syn) for syn in syns] for p, syns in lay.syn.items()}
            if getattr(lay, "mixing", None) == "dense":
                return replace(lay, syn=syn, mix={p: _exact(m) for p, m in lay.mix.items()})
            return replace(lay, syn=syn)
        return replace(qnet, layers=[layer(lay) for lay in qnet.layers], readout=layer(qnet.readout))

    @staticmethod
    def operand(x):
        """x as the left operand of several products (`lava_fixed.ExactOperand`: bound and float copy made once)."""
        return lf.ExactOperand(x)

    @staticmethod
    def matmul(x, q):
        """x [B, n_in] (array or operand) @ q.T with q [n_out, n_in] (codes or an ExactMatrix) -> int64 [B, n_out],
        exact."""
        return _exact(q).rmatmul(x)

    @staticmethod
    def shl(x, k: int):
        """x << k (k >= 0) or arithmetic x >> -k (floor)."""
        if k == 0:
            return x
        return x << k if k > 0 else x >> -k

    @staticmethod
    def rshr(x, k: int):
        """Round half up: (x + 2^(k-1)) >> k."""
        return (x + (1 << (k - 1))) >> k

    @staticmethod
    def trunc12(x):
        """sign(x) * (|x| >> 12): rounds toward zero."""
        return lf.trunc_shift(x, DECAY_BITS)

    @staticmethod
    def sat(x, bits: int):
        """Clip to [-(2^(bits-1) - 1), 2^(bits-1) - 1]."""
        return lf.saturate(x, bits, symmetric=True)

    @staticmethod
    def wrap32(x):
        """Two's-complement wrap to int32 (what Lava's int32 arithmetic does). Values already in int32 are returned
        as they are (two reductions instead of three elementwise passes: synaptic sums rarely get there)."""
        x = np.asarray(x)
        if x.size == 0 or (-INT32_MAX - 1 <= x.min() and x.max() <= INT32_MAX):
            return x
        return lf.wrap(x, INT32_BITS)

    @staticmethod
    def wrap_once24(x):
        """Lava LIF's one-shot 24-bit wrap of u."""
        return lf.wrap_once(x, STATE_BITS)

    @staticmethod
    def lut(table, z, frac_bits: int):
        """table[clip((z >> (F - 4)) + 256, 0, 511)]: the 12-bit sigmoid of z on scale 2^-F."""
        return np.take(table, lut_index(NumpyOps, z, frac_bits))

    @staticmethod
    def minimum(x, y):
        """Elementwise min (y: array or int)."""
        return np.minimum(x, y)

    @staticmethod
    def where(cond, x, y):
        """x where cond else y (select)."""
        return np.where(cond, x, y)

    @staticmethod
    def spike(v, theta, frac_bits: int):
        """1 where v > theta (strict), else 0 (int64)."""
        return (v > theta).astype(np.int64)

    @staticmethod
    def zeros(batch: int, n: int):
        return np.zeros((batch, n), dtype=np.int64)


class FloatOps:
    """The same step equations without rounding, wrapping or saturation: the dequantized network, in the
    integer network's units (float64). Lava's floating_pt process models run on it."""
    dtype = np.float64

    @staticmethod
    def prepare(qnet):
        return qnet

    @staticmethod
    def operand(x):
        return x

    @staticmethod
    def matmul(x, q):
        return np.asarray(x, dtype=np.float64) @ np.asarray(q, dtype=np.float64).T

    @staticmethod
    def shl(x, k: int):
        return x * 2.0**k

    @staticmethod
    def rshr(x, k: int):
        return x * 2.0**-k

    @staticmethod
    def trunc12(x):
        return x * 2.0**-DECAY_BITS

    @staticmethod
    def sat(x, bits: int):
        return x

    @staticmethod
    def wrap32(x):
        return x

    @staticmethod
    def wrap_once24(x):
        return x

    @staticmethod
    def lut(table, z, frac_bits: int):
        """The exact sigmoid the LUT samples: 4096 * sigmoid(z / 2^F)."""
        return sigmoid_decay(z, frac_bits)

    minimum = NumpyOps.minimum
    where = NumpyOps.where

    @staticmethod
    def spike(v, theta, frac_bits: int):
        return (v > theta).astype(np.float64)

    @staticmethod
    def zeros(batch: int, n: int):
        return np.zeros((batch, n), dtype=np.float64)
