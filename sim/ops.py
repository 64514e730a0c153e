"""Primitive integer operations of docs/fixed_point.md on numpy int64 arrays (the `sim/` backend).

The step equations in `sim.integer` call only these methods, so the same equations also run on the
torch straight-through backend in `train.quantized` (same method names, float64 tensors).

Speed (benchmarks/sim_throughput.py); every result is bit-identical to the plain int64 definition:
- `matmul` runs in float32 BLAS when max|x| * max|q| * fan_in < 2^24 (every product and every partial sum is
  then an integer that float32 holds exactly, whatever the summation order), in float64 BLAS below 2^53,
  else in int64. Binary spikes times 8-bit weights stay below 2^24 up to fan-in 132 000 (float32 BLAS is twice
  as fast as float64); the u / b mixing products (24-bit states) take float64. Fan-in 1 (one graded input
  per step) is a broadcast int64 product, without BLAS.
- Per weight matrix q, max|q| and the float32 / float64 copies are cached (`_WeightCache`) and reused only
  while q provably holds the same values: q is the same live object and byte-identical to a snapshot taken
  with the copies (one memcmp, a quarter of the cost of converting q again). A weight changed in place (or
  through shared memory) is therefore picked up on the next call.
- `synaptic_inputs` computes the synaptic sums of all parts of a layer in one product with the shifts folded
  into a cached weight matrix (used by `sim.integer` when it offers the hook; see that method).
- Temporaries: float operands and BLAS outputs live in per-thread scratch buffers; the elementwise helpers
  work in place on their own temporaries only. No argument is modified; every result is a new int64 array.
- `tune_allocator` (opt-in, process-wide): stops glibc from handing freed heap memory back to the OS after
  every step, which otherwise makes the next step's [B, n] temporaries page-fault in again.
"""
import ctypes
import ctypes.util
import itertools
import threading
import weakref

import numpy as np

from sim import lava_fixed as lf

_F32_EXACT = 2**24
_F64_EXACT = 2**53
_clip = np.core.umath.clip           # the ufunc behind np.clip, without np.clip's Python-level dispatch
_CACHE_BYTES = 1 << 30               # cached copies beyond this are dropped (all at once) and rebuilt on use

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
_memcmp = _libc.memcmp
_memcmp.restype = ctypes.c_int
_memcmp.argtypes = (ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)


def _absmax(a: np.ndarray) -> int:
    """max |a| as a Python int; two reductions, no temporary."""
    return max(int(a.max()), -int(a.min()))


def _same_bytes(a: np.ndarray, b: np.ndarray) -> bool:
    """a and b (C-contiguous, same shape and dtype) hold the same bytes."""
    return _memcmp(a.__array_interface__["data"][0], b.__array_interface__["data"][0], a.nbytes) == 0


class _WeightCache:
    """Derived data of integer weight matrices, keyed by id(q): {"ref": weakref to q, "snap": a copy of q,
    "max": max|snap|, dtype: snap.astype(dtype), "version": a number that changes on every rebuild}.
    An entry is valid while ref() is q, q is C-contiguous with the same shape and dtype, and q's bytes equal
    snap's; it is dropped when q is garbage collected, so an id is never matched to another array."""

    def __init__(self):
        self.entries = {}
        self.nbytes = 0
        self.versions = itertools.count()

    def _drop(self, key, ref):
        e = self.entries.get(key)
        if e is not None and e["ref"] is ref:
            del self.entries[key]
            self.nbytes -= e["nbytes"]

    def _add_bytes(self, e: dict, n: int):
        if self.nbytes + n > _CACHE_BYTES:
            self.entries.clear()
            self.nbytes = 0
        e["nbytes"] += n
        self.nbytes += n

    def get(self, q: np.ndarray):
        """The valid entry of q (rebuilt if q changed), or None when q cannot be cached (not C-contiguous)."""
        key = id(q)
        e = self.entries.get(key)
        contiguous = q.flags.c_contiguous
        if (e is not None and contiguous and e["ref"]() is q and e["snap"].shape == q.shape
                and e["snap"].dtype == q.dtype and _same_bytes(q, e["snap"])):
            return e
        if e is not None:
            self._drop(key, e["ref"])
        if not contiguous:
            return None
        snap = q.copy()
        e = {"ref": weakref.ref(q, lambda r, key=key: self._drop(key, r)), "snap": snap, "max": _absmax(snap),
             "version": next(self.versions), "nbytes": 0}
        self._add_bytes(e, snap.nbytes)
        self.entries[key] = e
        return e

    def copy(self, e: dict, dtype) -> np.ndarray:
        qf = e.get(dtype)
        if qf is None:
            qf = e[dtype] = e["snap"].astype(dtype)
            self._add_bytes(e, qf.nbytes)
        return qf


_weights = _WeightCache()
_plans = {}
_scratch = threading.local()


def _buffer(slot: str, shape: tuple, dtype) -> np.ndarray:
    """A per-thread scratch array (contents undefined), reused while slot, shape and dtype stay the same."""
    buf = getattr(_scratch, slot, None)
    if buf is None or buf.shape != shape or buf.dtype != dtype:
        buf = np.empty(shape, dtype=dtype)
        setattr(_scratch, slot, buf)
    return buf


def _fresh(y) -> bool:
    """y (a temporary this module just computed, never an argument) can be modified in place."""
    return isinstance(y, np.ndarray) and y.ndim > 0


def _float_dtype(bound: int):
    return np.float32 if bound < _F32_EXACT else np.float64 if bound < _F64_EXACT else None


class NumpyOps:
    """Exact int64 arithmetic; products in float32 / float64 BLAS under the exactness bounds."""
    name = "numpy"

    @staticmethod
    def matmul(x, q):
        """x [..., n_in] @ q.T with q [n_out, n_in] -> int64 [..., n_out], exact."""
        x = np.asarray(x)
        q = np.asarray(q)
        if (q.ndim != 2 or x.ndim == 0 or x.shape[-1] != q.shape[1] or x.size == 0 or q.size == 0
                or x.dtype.kind not in "biu" or q.dtype.kind not in "iu"):
            return lf.exact_matmul(x, q.T)
        k = x.shape[-1]
        if k == 1:                                   # outer product: one broadcast int64 multiply
            return x.astype(np.int64, copy=False) * q[:, 0].astype(np.int64, copy=False)
        entry = _weights.get(q)
        dtype = _float_dtype(_absmax(x) * (entry["max"] if entry is not None else _absmax(q)) * k)
        if dtype is None:                            # beyond float: int64 (wraps modulo 2^64 past int64)
            return x.astype(np.int64) @ q.T.astype(np.int64)
        qf = q.astype(dtype) if entry is None else _weights.copy(entry, dtype)
        xf = _buffer("x" + dtype.__name__, x.shape, dtype)
        np.copyto(xf, x, casting="unsafe")
        out = _buffer("o" + dtype.__name__, x.shape[:-1] + (q.shape[0],), dtype)
        np.matmul(xf, qf.T, out=out)
        return out.astype(np.int64)

    @staticmethod
    def synaptic_inputs(syn_by_part: dict, sources: dict) -> dict:
        """{part: sum over syn_by_part[part] of shl(matmul(sources[syn.source], syn.q), syn.shift)}, bit for bit:
        the synaptic sums of all parts of a layer (sim.integer.synaptic_input, once per part) in one product.

        The synapses with 0 <= shift < 32 and fan-in > 1 are folded into one matrix W [sum of part sizes, sum
        of source widths] holding q << shift in each (part, source) block, cached while every q is unchanged
        (`_WeightCache`), and computed as [x_src1, x_src2, ...] @ W.T. Exact: (q @ x) << k = (q << k) @ x in
        integers (also modulo 2^64), and the float bound is checked on the folded weights, as the sum over
        sources of max|x_src| * max|W_src| * width_src. The other synapses (negative shifts, fan-in 1) run one
        by one, as do all synapses when something is not foldable.
        """
        plan = _fused_plan(syn_by_part)
        if plan is None:
            return {part: _synaptic_input(syns, sources) for part, syns in syn_by_part.items()}
        srcs, widths, w, wmax, slices, rest = plan
        xs = [np.asarray(sources[src]) if sources.get(src) is not None else None for src in srcs]
        if any(x is None or x.ndim == 0 or x.shape[-1] != n or x.dtype.kind not in "biu" or x.size == 0
               or x.shape[:-1] != xs[0].shape[:-1] for x, n in zip(xs, widths)):
            return {part: _synaptic_input(syns, sources) for part, syns in syn_by_part.items()}
        lead = xs[0].shape[:-1]
        dtype = _float_dtype(sum(_absmax(x) * m * n for x, m, n in zip(xs, wmax, widths))) or np.int64
        wf = w.get(dtype)
        if wf is None:
            wf = w[dtype] = w[np.int64].astype(dtype)
        xf = _buffer("fx" + dtype.__name__, lead + (sum(widths),), dtype)
        off = 0
        for x, n in zip(xs, widths):
            np.copyto(xf[..., off:off + n], x, casting="unsafe")
            off += n
        if dtype is np.int64:
            big = xf @ wf.T
        else:
            out = _buffer("fo" + dtype.__name__, lead + (wf.shape[0],), dtype)
            np.matmul(xf, wf.T, out=out)
            big = out.astype(np.int64)
        acc = {}
        for part, syns in syn_by_part.items():
            a = big[..., slices[part]] if part in slices else 0
            for syn in rest[part]:
                a = a + NumpyOps.shl(NumpyOps.matmul(sources[syn.source], syn.q), syn.shift)
            acc[part] = a
        return acc

    @staticmethod
    def shl(x, k: int):
        """x << k (k >= 0) or arithmetic x >> -k (floor)."""
        return x << k if k >= 0 else x >> -k

    @staticmethod
    def rshr(x, k: int):
        """Round half up: (x + 2^(k-1)) >> k."""
        y = x + (1 << (k - 1))
        if _fresh(y):
            return np.right_shift(y, k, out=y)
        return y >> k

    @staticmethod
    def trunc12(x):
        """sign(x) * (|x| >> 12): rounds toward zero, computed as (x + (4095 if x < 0 else 0)) >> 12."""
        if not (isinstance(x, np.ndarray) and x.dtype == np.int64 and x.ndim):
            return lf.trunc_shift(x, 12)
        y = x >> 63                                  # -1 where x < 0, else 0
        y &= 4095
        y += x
        y >>= 12
        return y

    @staticmethod
    def sat(x, bits: int):
        """Clip to [-(2^(bits-1) - 1), 2^(bits-1) - 1]."""
        if isinstance(x, np.ndarray) and x.dtype == np.int64:
            hi = (1 << (bits - 1)) - 1
            return _clip(x, -hi, hi)
        return lf.saturate(x, bits, symmetric=True)

    @staticmethod
    def wrap32(x):
        """Two's-complement wrap to int32 (what Lava's int32 arithmetic does)."""
        if not (isinstance(x, np.ndarray) and x.dtype == np.int64 and x.ndim):
            return lf.wrap(x, 32)
        y = x + (1 << 31)
        y &= (1 << 32) - 1
        y -= 1 << 31
        return y

    @staticmethod
    def wrap_once24(x):
        """Lava LIF's one-shot 24-bit wrap of u."""
        return lf.wrap_once(x, 24)

    @staticmethod
    def lut(table, z, frac_bits: int):
        """table[clip((z >> (F - 4)) + 128, 0, 255)]: the 12-bit sigmoid of z on scale 2^-F."""
        table = np.asarray(table)
        idx = np.right_shift(z, frac_bits - 4)
        if table.shape != (256,) or not _fresh(idx):
            return table[np.clip(idx + 128, 0, 255)]
        idx += 128
        return table.take(idx, mode="clip")         # mode="clip": indices clipped to [0, 255]

    @staticmethod
    def spike(v, theta, frac_bits: int):
        """1 where v > theta (strict), else 0 (int64)."""
        return (v > theta).astype(np.int64)

    @staticmethod
    def zeros(batch: int, n: int):
        return np.zeros((batch, n), dtype=np.int64)


def _synaptic_input(synapses, sources):
    """sim.integer.synaptic_input on NumpyOps (one matmul and shift per synapse)."""
    acc = 0
    for syn in synapses:
        acc = acc + NumpyOps.shl(NumpyOps.matmul(sources[syn.source], syn.q), syn.shift)
    return acc


def _fused_plan(syn_by_part: dict):
    """(sources, widths, {dtype: W}, max|W| per source block, {part: row slice}, {part: unfolded synapses})
    for `NumpyOps.synaptic_inputs`, or None when fewer than two synapses fold. Cached per synapse set
    (weight ids and shifts) and rebuilt when a weight's cache entry was rebuilt (its values changed)."""
    entries, sig = [], []
    for part, syns in syn_by_part.items():
        for syn in syns:
            q = syn.q
            if not (isinstance(q, np.ndarray) and q.ndim == 2 and q.dtype.kind in "iu" and q.size):
                return None
            e = _weights.get(q)
            if e is None:
                return None
            entries.append(e)
            sig.append((part, syn.source, id(q), int(syn.shift)))
    sig = tuple(sig)
    versions = tuple(e["version"] for e in entries)
    hit = _plans.get(sig)
    if hit is not None and hit[0] == versions:
        return hit[1]
    fold = [(part, syn) for part, syns in syn_by_part.items() for syn in syns
            if 0 <= syn.shift < 32 and syn.q.shape[1] > 1]
    plan = None
    if len(fold) > 1:
        srcs, widths, rows = [], [], {}
        for part, syn in fold:
            if syn.source not in srcs:
                srcs.append(syn.source)
                widths.append(syn.q.shape[1])
            rows.setdefault(part, syn.q.shape[0])
        ok = all(syn.q.shape == (rows[part], widths[srcs.index(syn.source)]) for part, syn in fold)
        if ok:
            parts = list(rows)
            r0 = np.cumsum([0] + [rows[p] for p in parts])
            c0 = np.cumsum([0] + widths)
            w = np.zeros((int(r0[-1]), int(c0[-1])), dtype=np.int64)
            for part, syn in fold:
                i, j = parts.index(part), srcs.index(syn.source)
                w[r0[i]:r0[i + 1], c0[j]:c0[j + 1]] += syn.q.astype(np.int64) << syn.shift
            folded = {id(syn) for _, syn in fold}
            rest = {part: [syn for syn in syns if id(syn) not in folded] for part, syns in syn_by_part.items()}
            slices = {p: slice(int(r0[i]), int(r0[i + 1])) for i, p in enumerate(parts)}
            wmax = [_absmax(w[:, c0[j]:c0[j + 1]]) for j in range(len(srcs))]
            plan = (srcs, widths, {np.int64: w}, wmax, slices, rest)
    if len(_plans) >= 64:
        _plans.clear()
    _plans[sig] = (versions, plan)
    return plan


def tune_allocator(trim_threshold: int = 1 << 30, mmap_threshold: int = 32 << 20) -> bool:
    """Process-wide glibc malloc settings for simulation loops (opt-in; returns False where not glibc).

    glibc gives freed memory at the top of the heap back to the OS once it exceeds M_TRIM_THRESHOLD, and
    serves blocks above M_MMAP_THRESHOLD by fresh mmap; either way the [B, n] temporaries of the next step
    page-fault in again. Raising both keeps freed memory for reuse (at most trim_threshold bytes retained).
    """
    try:
        m_trim_threshold, m_mmap_threshold = -1, -3
        return bool(_libc.mallopt(m_mmap_threshold, mmap_threshold)) and \
            bool(_libc.mallopt(m_trim_threshold, trim_threshold))
    except AttributeError:
        return False


class FloatOps:
    """The same step equations without rounding, wrapping or saturation: the dequantized network, in the
    integer network's units (float64). Lava's floating_pt process models run on it."""
    name = "float"

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
        return x / 4096.0

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
        return 4096.0 / (1.0 + np.exp(-z * 2.0**-frac_bits))

    @staticmethod
    def spike(v, theta, frac_bits: int):
        return (v > theta).astype(np.float64)

    @staticmethod
    def zeros(batch: int, n: int):
        return np.zeros((batch, n), dtype=np.float64)
