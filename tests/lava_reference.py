"""A model of Lava's bit-accurate Dense and LIF bias, written from lava-nc 0.10.0's source for the tests only:
``PyDenseModelBitAcc`` (lava/proc/dense/models.py, lava/utils/weightutils.py) and ``scale_bias`` of
``PyLifModelBitAcc`` (lava/proc/lif/models.py). tests/test_lava_bitacc.py checks it against real Lava runs and
uses it as an independent reference for the simulator (which maps every synapse to a Dense through
``ltcsn.sim.lava_fixed.lava_dense_params`` instead).
"""
import numpy as np

from ltcsn.sim.lava_fixed import ExactMatrix, wrap


def _shift(x: np.ndarray, e: int) -> np.ndarray:
    """x << e for e > 0, arithmetic x >> -e otherwise (numpy semantics for big counts)."""
    if e > 0:
        return x << e if e < 64 else np.zeros_like(x)
    return x >> min(-e, 63)


def exact_matmul(a_int, b_int) -> np.ndarray:
    """Exact integer product a @ b as int64 ([..., K] @ [K, M]), by the simulator's own exact product
    (``ExactMatrix``: float32 / float64 BLAS under the exactness bounds, int64 beyond)."""
    return ExactMatrix(np.asarray(b_int).T).rmatmul(np.asarray(a_int))


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
