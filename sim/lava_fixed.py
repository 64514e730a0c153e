"""Numpy integer primitives that reproduce Lava's fixed-point Dense and LIF bit for bit.

Mirrors ``PyDenseModelBitAcc`` (lava/proc/dense/models.py, lava/utils/weightutils.py) and the
arithmetic helpers of ``PyLifModelBitAcc`` (lava/proc/lif/models.py) of lava-nc 0.10.0, batched
over a leading axis B that Lava does not have. Every function takes and returns int64 arrays
holding the values Lava holds (Lava's own storage is int32 for weights, a_out, u, v and int16 for
bias_mant/bias_exp); where Lava's int32 arithmetic wraps, these functions wrap the same way.
The LIF step itself is ``sim.integer.lif_neuron_step`` (the project's one LIF step, built on
these primitives through ``sim.ops.NumpyOps``); tests/test_lava_bitacc.py checks it and the
Dense primitives here against real Lava runs with exact equality.

Timing convention (verified there): each Dense delays by one step, so in a chain
source -> Dense -> LIF -> Dense -> LIF the l-th LIF layer at Lava step tau (0-based)
equals layer l of a delay-free simulation (layer l at step k consumes layer l-1 at step k)
at step tau - l; a recurrent Dense LIF -> same LIF delivers s[k-1] at step k.

No lava import here: importing lava sets the multiprocessing start method.
"""
from __future__ import annotations

from functools import cached_property

import numpy as np

__all__ = [
    "wrap",
    "wrap_once",
    "saturate",
    "trunc_shift",
    "exact_matmul",
    "ExactMatrix",
    "ExactOperand",
    "sign_mode_of",
    "dense_weights",
    "dense_output",
    "lif_bias",
    "lava_dense_params",
]

_F32_EXACT = 2**24
_F64_EXACT = 2**53


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


def _shift(x: np.ndarray, e: int) -> np.ndarray:
    """x << e for e > 0, arithmetic x >> -e otherwise (numpy semantics for big counts)."""
    if e > 0:
        return x << e if e < 64 else np.zeros_like(x)
    return x >> min(-e, 63)


def _max_abs(x) -> int:
    return max(int(x.max()), -int(x.min())) if x.size else 0


def _exact_dtype(bound: int):
    """float32 when every product and partial sum of magnitude < bound is exact in it, else float64, else None."""
    for dtype, exact in ((np.float32, _F32_EXACT), (np.float64, _F64_EXACT)):
        if bound < exact:
            return dtype
    return None


def exact_matmul(a_int, b_int) -> np.ndarray:
    """Exact integer product a @ b as int64.

    a_int: [..., K], b_int: [K, M] integer-valued arrays (any int/bool/float dtype holding
    integers). When max|a| * max|b| * K < 2^24 (binary spikes times 8-bit weights up to fan-in
    132,000) every product and partial sum is an integer that float32 holds exactly, whatever
    the summation order, so the product runs in float32 BLAS; below 2^53 the same holds for
    float64 (~25x faster than an int64 matmul). Either result is cast back without error.
    Otherwise it falls back to an int64 matmul, which is exact while the true result fits int64
    (else it wraps modulo 2^64, which still gives the right value modulo 2^32 for callers that
    wrap to int32).
    """
    a = np.asarray(a_int)
    b = np.asarray(b_int)
    dtype = _exact_dtype(_max_abs(a) * _max_abs(b) * a.shape[-1])
    if dtype is None:
        return a.astype(np.int64) @ b.astype(np.int64)
    return (a.astype(dtype, copy=False) @ b.astype(dtype)).astype(np.int64)


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
    """Integer codes q [n_out, n_in] prepared once for many exact products x @ q.T (`exact_matmul`'s rule):
    max|q| is computed once and the transposed codes are kept in each float dtype the products need."""

    def __init__(self, q):
        self.codes = np.asarray(q, dtype=np.int64)
        self.qmax = _max_abs(self.codes)
        self._transposed = {}

    def rmatmul_dtype(self, x):
        """The dtype `rmatmul(x)` computes in: float32, float64 or None (int64)."""
        x_max = x.max_abs if isinstance(x, ExactOperand) else _max_abs(x)
        return _exact_dtype(x_max * self.qmax * self.codes.shape[1])

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


def sign_mode_of(w) -> str:
    """Lava's ``determine_sign_mode`` on a whole matrix: 'excitatory' if all w >= 0,
    else 'inhibitory' if all w <= 0, else 'mixed'."""
    w = np.asarray(w)
    if w.min() >= 0:
        return "excitatory"
    if w.max() <= 0:
        return "inhibitory"
    return "mixed"


def dense_weights(w_int, num_weight_bits: int = 8, sign_mode=None) -> np.ndarray:
    """The weight matrix Lava's bit-accurate Dense actually uses.

    w_int: [out, in] integers (Lava first stores them as int32, so non-integers truncate
    toward zero). sign_mode: None (derived from the whole matrix, as Lava does), a string
    'mixed' / 'excitatory' / 'inhibitory', or Lava's SignMode enum.
    Steps (weightutils.clip_weights, truncate_weights):
      clip   MIXED [-256, 255], EXCITATORY [0, 255], INHIBITORY [-255, 0];
      truncate k = 8 - num_weight_bits + (1 if MIXED) low bits: w = (w >> k) << k (floor,
      so MIXED weights become even, 3 -> 2, -3 -> -4); INHIBITORY truncates the magnitude
      (-3 -> -2 for k = 1).
    Returns int64 [out, in].
    """
    w = wrap(np.asarray(w_int).astype(np.int64), 32)
    if sign_mode is None:
        mode = sign_mode_of(w)
    else:
        mode = getattr(sign_mode, "name", sign_mode)
        mode = str(mode).lower()
    if mode not in ("mixed", "excitatory", "inhibitory"):
        raise ValueError(f"unsupported sign mode {sign_mode!r}")
    mixed = mode == "mixed"
    if mode == "inhibitory":
        w = -w
    w = np.clip(w, -256 if mixed else 0, 255)
    k = 8 - num_weight_bits + int(mixed)
    w = (w >> k) << k
    if mode == "inhibitory":
        w = -w
    return w


def dense_output(w, s_in, weight_exp: int = 0, num_message_bits: int = 0) -> np.ndarray:
    """Synaptic output of Lava's bit-accurate Dense for a batch of inputs (no delay applied).

    w: int64 [out, in] from ``dense_weights``; s_in: [B, in] (or [in]).
    num_message_bits == 0 (binary spikes): any nonzero s_in counts as a spike;
      acc = s @ w.T in int64 (Lava: ``weights[:, s].sum(axis=1)`` promotes int32 to int64),
      then acc << weight_exp (or arithmetic acc >> -weight_exp) in int64, then the int32 cast
      of Lava's out-port (``wrap(., 32)``).
    num_message_bits > 0 (graded spikes): s_in is the int32 payload, not clipped to the
      message width; Lava computes ``weights.dot(s_in)`` in int32, so acc wraps to int32
      *before* the shift; the shift is also int32 (left shift wraps).
    Returns int64 [B, out] (or [out]) holding the int32 values Lava sends one step later.
    """
    s = np.asarray(s_in)
    e = int(weight_exp)
    if num_message_bits == 0:
        acc = exact_matmul(s != 0, np.asarray(w).T)
        return wrap(_shift(acc, e), 32)
    acc = wrap(exact_matmul(wrap(s, 32), np.asarray(w).T), 32)
    if e > 0:
        return wrap(acc << e, 32) if e < 32 else np.zeros_like(acc)
    return acc >> min(-e, 31)


def lif_bias(bias_mant, bias_exp) -> np.ndarray:
    """Effective LIF bias, as Lava's ``scale_bias``: bias_mant is stored as int16 (wraps),
    promoted to int32, then << bias_exp (or >> -bias_exp), in int32. Not shifted by 6.
    Per-neuron arrays [N] or scalars; returns int64."""
    mant = wrap(wrap(bias_mant, 16), 32)
    ex = wrap(bias_exp, 16)
    left = wrap(mant << np.clip(ex, 0, 63), 32)
    right = mant >> np.clip(-ex, 0, 63)
    return np.where(ex >= 0, left, right)


def lava_dense_params(q, shift: int):
    """The Lava Dense that implements one synapse of docs/fixed_point.md: ``acc = shl(q @ x, shift)``.

    q: symmetric 8-bit codes [n_out, n_in], |q| <= 127 (numpy or anything np.asarray takes);
    shift: the synapse's exponent k (any int). Returns (weights, weight_exp) = (2q as int64, k - 1):
    Lava's mixed-sign 8-bit grid holds even values only (``dense_weights`` floors odd ones), so the
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
    if q.size and int(np.abs(q).max()) > 127:
        raise ValueError("synapse codes must satisfy |q| <= 127")
    return 2 * q.astype(np.int64), int(shift) - 1
