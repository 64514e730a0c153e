"""What the NIR writer and reader share: the metadata key and versions, NirError, the lazily imported nir
package, and small helpers (arrays, metadata values, the exponents of a QNet's synapses)."""
import numpy as np
import torch

from ltcsn.sim.qnet import QLif, QLtc, QSynapse, sends
from ltcsn.train.errors import InputError

SCHEMA_KEY = "ltcsn"          # the one metadata key of our nodes and graphs
SCHEMA_VERSION = 1            # bump on any incompatible change of that metadata (docs/nir_schema.md)
SPEC_VERSION = 3              # docs/fixed_point.md (2: the 512-entry sigmoid LUT, 2026-11-26; 3: a layer's gate
                              # sigmoid is the LUT or the loihi2 profile's piecewise-linear one, 2026-11-29)
READABLE_SPEC_VERSIONS = (2, 3)   # a version-2 file means version 3 with every layer on the LUT
DEFAULT_DT = 1e-3             # s; the step our exports are written at by default (third-party graphs: nir_producers.py)


class NirError(InputError):
    """A NIR file or graph that cannot be read into our network (one line)."""


def load_nir():
    import nir
    return nir


def as_array(x, dtype=np.float64) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


def plain(obj):
    """Metadata as read back by nir/h5py -> plain Python (numpy scalars -> int/float/bool, bytes -> str)."""
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, bytes):
        return obj.decode("utf8")
    if isinstance(obj, np.ndarray) and obj.ndim == 0:
        return plain(obj[()])
    if isinstance(obj, np.ndarray) and obj.dtype.kind in "OS":
        return [plain(v) for v in obj.tolist()]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def codes(a, dtype=np.int64) -> np.ndarray:
    return np.atleast_1d(np.asarray(a)).astype(dtype)


def first_line(e) -> str:
    return ((str(e).strip().splitlines() or [""])[0])[:200]


def tname(node) -> str:
    return type(node).__name__


def qnet_layers(qnet):
    return (*qnet.layers, qnet.readout)


def received_frac(prev_sends, prev_frac: int, input_frac: int) -> int:
    """Fraction bits of what a layer receives from the one before it (None for the network input): the
    input's, 0 for spikes ("s"), that layer's F for its membrane u ("u")."""
    if prev_sends is None:
        return int(input_frac)
    return int(prev_frac) if prev_sends == "u" else 0


def source_frac(layers, i: int, input_frac: int) -> int:
    """`received_frac` of layer i of a quantized network."""
    if i == 0:
        return received_frac(None, 0, input_frac)
    return received_frac(sends(layers[i - 1]), layers[i - 1].frac_bits, input_frac)


def _target_frac(layer) -> int:
    """The scale 2^-target the synaptic sum lands on: F (LTC / ALIF / readout) or F - 6 (LIF: a_in << 6)."""
    return layer.frac_bits - 6 if isinstance(layer, QLif) else layer.frac_bits


def exponent(syn: QSynapse, src_frac: int, layer) -> int:
    """The weight exponent e (W = q 2^e) of a synapse: shift = e - src_frac(input only) + target."""
    return int(syn.shift) + (src_frac if syn.source == "input" else 0) - _target_frac(layer)


def mixing_of(qnet) -> str:
    for layer in qnet_layers(qnet):
        if isinstance(layer, QLtc) and layer.gated:
            return layer.mixing
    return "dense"


def sigmoid_of(qnet) -> str:
    """The gate sigmoid of a network's gated layers ("lut" when none is gated)."""
    for layer in qnet_layers(qnet):
        if isinstance(layer, QLtc) and layer.gated:
            return layer.sigmoid
    return "lut"
