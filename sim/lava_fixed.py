"""Numpy integer primitives of Lava's fixed-point arithmetic, and exact integer products.

The wrap / saturate / truncating-shift helpers of ``PyLifModelBitAcc`` (lava/proc/lif/models.py of
lava-nc 0.10.0), batched over a leading axis B that Lava does not have: int64 arrays holding the
values Lava holds (Lava's own storage is int32 for weights, a_out, u, v and int16 for
bias_mant/bias_exp); where Lava's int32 arithmetic wraps, these functions wrap the same way.
``ExactMatrix`` / ``ExactOperand``: exact integer products in float32 / float64 BLAS. ``lava_dense_params``:
the Lava Dense of one synapse of the spec. The LIF step itself is ``sim.integer.lif_neuron_step``;
tests/test_lava_bitacc.py checks it and the Dense mapping against real Lava runs (and against its
own model of Lava's Dense, tests/lava_reference.py) with exact equality.

Timing convention (verified there): each Dense delays by one step, so in a chain
source -> Dense -> LIF -> Dense -> LIF the l-th LIF layer at Lava step tau (0-based)
equals layer l of a delay-free simulation (layer l at step k consumes layer l-1 at step k)
at step tau - l; a recurrent Dense LIF -> same LIF delivers s[k-1] at step k.

No lava import here: importing lava sets the multiprocessing start method.
"""
from __future__ import annotations

from functools import cached_property

import numpy as np

from ltcsn.sim.spec import DENSE_WEIGHT_FACTOR, WEIGHT_MAX, dense_weight_exp

__all__ = [
    "wrap",
    "wrap_once",
    "saturate",
    "trunc_shift",
    "ExactMatrix",
    "ExactOperand",
    "exact_dtype",
    "lava_dense_params",
]

# every integer of magnitude below 2^(mantissa bits + 1) is exact in a float of that type
_F32_EXACT = 2 ** (np.finfo(np.float32).nmant + 1)
_F64_EXACT = 2 ** (np.finfo(np.float64).nmant + 1)


def wrap(x, bits: int) -> np.ndarray:
    """Two's-complement wrap of integers into signed ``bits`` bits: [-2^(b-1), 2^(b-1) - 1].

    x: int array of any shape (int64 or smaller; int64 overflow is not checked).
    Returns int64, same shape. ``wrap(x, 32)`` is what a cast to int32 does.
    """
    x = np.asarray(x, dtype=np.int64)
    if bits >= 64:
        return x
    half = np.int64(1) << (bits - 1)
    return ((x + half) & ((half << 1) - 1)) - half


def wrap_once(x, bits: int) -> np.ndarray:
    """Lava LIF's one-shot wrap of u (NOT a true modular wrap).

    x > 2^(b-1)  -> x - 2^b;  x <= -2^(b-1) -> x + 2^b;  otherwise unchanged.
    So 2^(b-1) stays 2^(b-1) and -2^(b-1) becomes +2^(b-1) (range (-2^(b-1), 2^(b-1)]),
    and values beyond 3 * 2^(b-1) in magnitude stay out of range. int64 in, int64 out.
    """
    x = np.asarray(x, dtype=np.int64)
    half = 1 << (bits - 1)
    full = 1 << bits
    return np.where(x > half, x - full, np.where(x <= -half, x + full, x))


def saturate(x, bits: int, symmetric: bool = False) -> np.ndarray:
    """Clip integers to signed ``bits`` bits.

    symmetric=False: [-2^(b-1), 2^(b-1) - 1]; symmetric=True: [-(2^(b-1) - 1), 2^(b-1) - 1]
    (Lava's LIF v uses the symmetric 24-bit range). int64 in, int64 out.
    """
    x = np.asarray(x, dtype=np.int64)
    hi = (1 << (bits - 1)) - 1
    lo = -hi if symmetric else -hi - 1
    return np.clip(x, lo, hi)


def trunc_shift(x, shift: int) -> np.ndarray:
    """Right shift rounding toward zero: sign(x) * (|x| >> shift). int64 in, int64 out."""
    x = np.asarray(x, dtype=np.int64)
    return np.sign(x) * (np.abs(x) >> shift)


def _max_abs(x) -> int:
    return max(int(x.max()), -int(x.min())) if x.size else 0


def exact_dtype(bound: int):
    """float32 when every product and partial sum of magnitude < bound is exact in it, else float64, else None.
    bound = max|a| * max|b| * K for a product a @ b over K terms (any summation order: every partial sum is an
    integer below the bound). float32 covers binary spikes times 8-bit codes up to fan-in 132,000; float64 is
    ~25x faster than an int64 matmul."""
    for dtype, exact in ((np.float32, _F32_EXACT), (np.float64, _F64_EXACT)):
        if bound < exact:
            return dtype
    return None


class ExactOperand:
    """An integer array x used as the left operand of several exact products (`ExactMatrix.rmatmul`), e.g. the
    spikes a layer reads in three synaptic parts: max|x| and each float copy are computed once, not per product.
    The array must not change while the operand is in use."""

    def __init__(self, x):
        self.values = np.asarray(x)
        self._copies = {}

    @cached_property
    def max_abs(self) -> int:
        """max|x|, computed at the first product (a source no synapse reads costs nothing)."""
        return _max_abs(self.values)

    def astype(self, dtype) -> np.ndarray:
        if dtype not in self._copies:
            self._copies[dtype] = self.values.astype(dtype, copy=False)
        return self._copies[dtype]


class ExactMatrix:
    """Integer codes q [n_out, n_in] prepared once for many exact products x @ q.T (`exact_dtype`'s rule):
    max|q| is computed once and the transposed codes are kept in each float dtype the products need."""

    def __init__(self, q):
        self.codes = np.asarray(q, dtype=np.int64)
        self.qmax = _max_abs(self.codes)
        self._transposed = {}

    def rmatmul_dtype(self, x):
        """The dtype `rmatmul(x)` computes in: float32, float64 or None (int64)."""
        x_max = x.max_abs if isinstance(x, ExactOperand) else _max_abs(x)
        return exact_dtype(x_max * self.qmax * self.codes.shape[1])

    def rmatmul(self, x) -> np.ndarray:
        """x [..., n_in] integer-valued (an array or an ExactOperand) -> x @ q.T, int64 [..., n_out], exact."""
        if not isinstance(x, ExactOperand):
            x = ExactOperand(x)
        dtype = self.rmatmul_dtype(x)
        if dtype is None:
            return x.astype(np.int64) @ self.codes.T
        if dtype not in self._transposed:
            self._transposed[dtype] = np.ascontiguousarray(self.codes.T.astype(dtype))
        return (x.astype(dtype) @ self._transposed[dtype]).astype(np.int64)


def lava_dense_params(q, shift: int):
    """The Lava Dense that implements one synapse of docs/fixed_point.md: ``acc = shl(q @ x, shift)``.

    q: symmetric 8-bit codes [n_out, n_in], |q| <= 127 (numpy or anything np.asarray takes);
    shift: the synapse's exponent k (any int). Returns (weights, weight_exp) = (2q as int64, k - 1):
    Lava's mixed-sign 8-bit grid holds even values only (Lava's weight truncation floors odd ones), so the
    Dense holds 2q, which every sign mode keeps unchanged (|2q| <= 254), and one less exponent.

    Exactness, for every k (tests/test_lava_bitacc.py::test_lava_dense_params_equal_spec_synapse):
      k >= 1: (2q@x) << (k-1) = (q@x) << k.
      k <= 0: Lava shifts right by 1 - k = m + 1 with m = -k >= 0 (floor): (2a) >> (m+1) = floor(2a / 2^(m+1))
              = floor(a / 2^m) = a >> m for every integer a = q@x, odd or even, of either sign; so
              ``shl(q@x, k)`` (floor) is reproduced exactly, k = 0 included ((2a) >> 1 = a).
    Lava's out-port is int32, so the Dense sends ``wrap(shl(q@x, k), 32)``: the spec's int64 sum while that
    fits int32 (sim's LIF step wraps its a_in to int32 as well). One caveat, graded payloads only
    (num_message_bits > 0):
    Lava wraps the dot product 2q@x to int32 *before* a right shift, so for k <= 0 the result is exact
    while |2 q@x| < 2^31: always for 8-bit payloads (|2 q@x| <= 2 * 127 * 255 * fan_in) with fan-in
    < 33 000; binary spikes are summed in int64 and shifted before the int32 cast, so they have no caveat.
    """
    q = np.asarray(q)
    if q.size and int(np.abs(q).max()) > WEIGHT_MAX:
        raise ValueError(f"synapse codes must satisfy |q| <= {WEIGHT_MAX}")
    return DENSE_WEIGHT_FACTOR * q.astype(np.int64), dense_weight_exp(shift)
