"""A lava-dl netx HDF5 file (`.net`) as our integer network: another reading of the network netx builds from it.

netx (lava-dl 0.6.0, `lava.lib.dl.netx.hdf5.Network`) builds each CUBA dense layer as Lava's Dense (a file weight w
adds exactly w for w in [-256, 254]) into Lava's LIF with du = iDecay - 1, dv = vDecay, vth = vThMant and
bias_mant = bias at bias exponent 6: our LIF layer (docs/fixed_point.md) with F = 6 (a_in, bias and threshold on
2^0), each weight matrix as 8-bit codes q << k (k = 0, or 1 where a weight needs 9 bits: netx's own files, as
hardware/to_netx.py and SLAYER's 8-bit quantization write them, hold even weights there). The file has no readout:
a readout with alpha = 1 reports the last layer's spikes every step (as for a NIR graph without an LI node). The
input is binary spikes, or graded 8-bit integers (netx's input_message_bits = 8) when the inputs are not 0 / 1.
Read: `input`, `dense`, `dense_rec` and `conv` layers of CUBA neurons and `flatten`; anything else (netx itself
refuses `pool`) with one line naming it. A conv block becomes a dense matrix: each input unit pushed through Lava's
own convolution (`lava.proc.conv.utils.conv`) with the kernel as netx transforms it; shapes are the file's (c, y, x),
flattened in C-order as netx's flatten sends them. (Lava's fixed-point Conv clamps its sums to 24 bits, reached only
beyond a fan-in of 2^15 spikes at the largest weights.)
"""
from pathlib import Path

import numpy as np

from ltcsn.sim import spec
from ltcsn.sim.qnet import QLif, QLtc, QNet, QSynapse
from ltcsn.train.errors import InputError

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
NETX_FRAC_BITS = spec.LIF_A_IN_SHIFT    # F = 6: the file's integers are a_in, bias and threshold on 2^0


class NetxReadError(InputError):
    """A netx file, or a part of one, this reader cannot take."""


def is_netx_file(path) -> bool:
    """Whether path is an HDF5 file laid out as netx writes (a top-level "layer" group)."""
    path = Path(path)
    if not path.is_file():
        return False
    with open(path, "rb") as f:
        if f.read(8) != HDF5_MAGIC:
            return False
    import h5py
    with h5py.File(path, "r") as f:
        return "layer" in f and isinstance(f["layer"], h5py.Group)


def _codes(name: str, w: np.ndarray) -> tuple:
    """File weights w [n_out, n_in] as 8-bit codes and shift (q, k) with q << k == w, k in {0, 1}."""
    w = np.asarray(w, dtype=np.int64)
    if w.size and (w.min() < spec.NETX_WEIGHT_MIN or w.max() > spec.NETX_WEIGHT_MAX):
        raise NetxReadError(f"{name}: weights reach [{w.min()}, {w.max()}], outside [{spec.NETX_WEIGHT_MIN}, "
                            f"{spec.NETX_WEIGHT_MAX}] (netx clips them)")
    for k in range(spec.NETX_MAX_SHIFT + 1):
        if not np.any(w % (1 << k)) and (not w.size or np.abs(w >> k).max() <= spec.WEIGHT_MAX):
            return w >> k, k
    raise NetxReadError(f"{name}: odd weights beyond +-{spec.WEIGHT_MAX}: not 8-bit codes times 2^k")


def _dataset(group, key: str, name: str):
    if key not in group:
        raise NetxReadError(f"{name}: no '{key}'")
    return group[key][()]


def _text(value) -> str:
    value = value[0] if np.ndim(value) else value
    return value.decode("ascii") if isinstance(value, bytes) else str(value)


def _pair(value) -> tuple:
    """A file's (y, x) pair or scalar as netx takes it: (x, y) (`netx.hdf5.Network.create_conv`'s expand)."""
    return (int(value), int(value)) if np.isscalar(value) or np.ndim(value) == 0 else tuple(int(v) for v in value[::-1])


def _conv_matrix(g, name: str, in_shape: tuple, out_shape: tuple) -> np.ndarray:
    """The integer matrix [n_out, n_in] of a netx conv block (inputs and outputs flattened in (c, y, x) C-order, as
    netx's flatten feeds a dense block): each input unit pushed through Lava's own convolution with the kernel as
    netx transforms it (`Network.create_conv`). Exact: the convolution is linear in its input."""
    from lava.proc.conv import utils as conv_utils
    w = np.asarray(_dataset(g, "weight", name))
    weight = w[:, :, ::-1, ::-1].reshape(w.shape[:4]).transpose((0, 3, 2, 1)).astype(np.int64)
    xyc = tuple(reversed(in_shape))
    n_in = int(np.prod(in_shape))
    matrix = np.zeros((int(np.prod(out_shape)), n_in), dtype=np.int64)
    for i in range(n_in):
        unit = np.zeros(n_in, dtype=np.int64)
        unit[i] = 1
        try:
            out = conv_utils.conv(unit.reshape(in_shape).transpose(2, 1, 0), weight, weight.shape[1:3],
                                  _pair(_dataset(g, "stride", name)), _pair(_dataset(g, "padding", name)),
                                  _pair(_dataset(g, "dilation", name)), int(_dataset(g, "groups", name)))
        except Exception as e:      # Lava's convolution raises a bare Exception on inconsistent sizes
            raise NetxReadError(f"{name}: Lava's convolution of an input {list(xyc)} (x, y, c) fails: "
                                f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
        if out.shape != tuple(reversed(out_shape)):
            raise NetxReadError(f"{name}: its convolution of an input {list(xyc)} (x, y, c) gives "
                                f"{list(out.shape)}, not its shape {list(out_shape)} (c, y, x)")
        matrix[:, i] = out.transpose(2, 1, 0).reshape(-1)
    return matrix


def _layer(f, key: str, in_shape: tuple) -> QLif:
    """One netx block as our LIF layer: dense / dense_rec (weights as they are), conv (unrolled, `_conv_matrix`)."""
    g = f["layer"][key]
    name = f"layer {key}"
    kind = _text(_dataset(g, "type", name))
    if kind not in ("dense", "dense_rec", "conv"):
        raise NetxReadError(f"{name}: a '{kind}' block; this reader takes dense, dense_rec and conv CUBA layers "
                            f"and flatten")
    shape = tuple(int(v) for v in np.atleast_1d(_dataset(g, "shape", name)))
    n, n_in = int(np.prod(shape)), int(np.prod(in_shape))
    if "neuron" not in g or _text(_dataset(g["neuron"], "type", name)) not in ("CUBA", "LOIHI"):
        raise NetxReadError(f"{name}: not a CUBA neuron layer")
    neuron = g["neuron"]
    if "gradedSpike" in neuron and bool(neuron["gradedSpike"][()]):
        raise NetxReadError(f"{name}: graded output spikes; this reader takes binary spiking CUBA layers")
    if kind == "conv":
        if len(in_shape) != 3 or len(shape) != 3:
            raise NetxReadError(f"{name}: a conv block needs (c, y, x) shapes, has {list(in_shape)} -> {list(shape)}")
        weights = {"input": _conv_matrix(g, name, in_shape, shape)}
    else:
        weights = {"input": np.asarray(_dataset(g, "weight", name)).reshape(n, -1)}
        if kind == "dense_rec":
            weights["self"] = np.asarray(_dataset(g, "weight_rec", name)).reshape(n, -1)
    syn = []
    for src, w in weights.items():
        if w.shape != (n, n_in if src == "input" else n):
            raise NetxReadError(f"{name}: {src} weights are {list(w.shape)}, expected [{n}, "
                                f"{n_in if src == 'input' else n}]")
        q, k = _codes(f"{name} {src} weights", w)
        syn.append(QSynapse(q, k, src))
    du = int(_dataset(neuron, "iDecay", name)) - spec.LIF_DU_OFFSET
    dv = int(_dataset(neuron, "vDecay", name))
    if not (0 <= du < spec.DECAY_ONE and 0 <= dv < spec.DECAY_ONE):
        raise NetxReadError(f"{name}: iDecay {du + spec.LIF_DU_OFFSET}, vDecay {dv}: outside [1, 4096] and "
                            f"[0, 4095], the decays of our LIF layer")
    bias = np.asarray(g["bias"][()] if "bias" in g else np.zeros(1), dtype=np.int64).reshape(-1)
    if kind == "conv" and bias.size == shape[0]:       # one bias per channel, as netx broadcasts it
        bias = np.repeat(bias, n // shape[0])
    bias = np.broadcast_to(bias, (n,)).copy()
    if not spec.lif_bias_fits(bias, spec.NETX_BIAS_EXP):
        raise NetxReadError(f"{name}: bias beyond the {spec.LIF_BIAS_MANT_BITS}-bit mantissa")
    return QLif(n=n, syn={"d": syn}, du=du, dv=dv, vth=int(_dataset(neuron, "vThMant", name)), bias_mant=bias,
                bias_exp=spec.NETX_BIAS_EXP, frac_bits=NETX_FRAC_BITS), shape


def read_netx(path, x_sample=None):
    """netx file -> (QNet, info). x_sample: inputs [N, T, ...] (graded 8-bit input when they are not all 0 / 1).
    Raises InputError (one line) on anything it cannot read."""
    import h5py
    path = Path(path)
    if not is_netx_file(path):
        raise NetxReadError(f"{path}: not a netx HDF5 file (no 'layer' group)")
    with h5py.File(path, "r") as f:
        keys = sorted(f["layer"], key=int)
        first = f["layer"][keys[0]] if keys else None
        if first is None or _text(_dataset(first, "type", "layer 0")) != "input":
            raise NetxReadError(f"{path}: its first layer is not an 'input' layer")
        if "neuron" in first:
            raise NetxReadError(f"{path}: an input layer with neurons (netx's Input block); this reader takes "
                                f"the shape-only input layer")
        in_shape = tuple(int(v) for v in np.atleast_1d(_dataset(first, "shape", "layer 0")))   # (c, y, x)
        layers, shape = [], in_shape
        try:
            for key in keys[1:]:
                if _text(_dataset(f["layer"][key], "type", f"layer {key}")) == "flatten":
                    shape = (int(np.prod(shape)),)      # (c, y, x) C-order: what netx's flatten sends
                    continue
                layer, shape = _layer(f, key, shape)
                layers.append(layer)
        except NetxReadError as e:
            raise NetxReadError(f"{path}: {e}") from None
    if not layers:
        raise NetxReadError(f"{path}: no layers after the input")
    graded = x_sample is not None and not np.isin(np.asarray(x_sample), (0, 1)).all()
    if graded:
        input_range = spec.INPUT_RANGE_UNSIGNED if np.min(x_sample) >= 0 else spec.INPUT_RANGE_SIGNED
    else:
        input_range = spec.INPUT_RANGE_BINARY
    n = layers[-1].n
    # u = (s << 6) << (F - 6) = s on 2^-F: codes and shift within Lava's Dense (weight exponent 5)
    one = QSynapse(np.eye(n, dtype=np.int64) << spec.LIF_A_IN_SHIFT, spec.FRAC_BITS - spec.LIF_A_IN_SHIFT, "input")
    readout = QLtc(kind="readout", n=n, syn={"d": [one]},
                   bias={"d": np.zeros(n, np.int64)}, gated=False, spiking=False,
                   alpha=np.full(n, spec.DECAY_ONE, np.int64))
    qnet = QNet(input_shape=in_shape, input_frac=0, input_range=tuple(input_range), layers=layers, readout=readout,
                lut=spec.sigmoid_lut())
    info = {"origin": "netx", "reading": [
        f"netx file: {len(layers)} CUBA layers ({', '.join(f'{layer.n}' for layer in layers)} neurons), input "
        f"{list(in_shape)} {'graded 8-bit (input_message_bits 8)' if graded else 'binary spikes'}",
        "readout: the last layer's spikes, every step (the file has none)"], "notes": []}
    return qnet, info
