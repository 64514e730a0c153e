"""What the NIR writer and reader share: the metadata key and versions, NirError, the lazily imported nir
package, and small helpers (arrays, metadata values, the exponents of a QNet's synapses)."""
import numpy as np
import torch

from ltcsn.sim import spec
from ltcsn.sim.qnet import QLif, QLtc, QSynapse, sends
from ltcsn.sim.spec import READABLE_SPEC_VERSIONS, SPEC_VERSION  # noqa: F401  (the graph metadata's spec_version)
from ltcsn.train.errors import InputError

SCHEMA_KEY = "ltcsn"          # the one metadata key of our nodes and graphs
SCHEMA_VERSION = 1            # bump on any incompatible change of that metadata (docs/nir_schema.md)
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


def layer_target_frac(layer) -> int:
    """The scale 2^-target a layer's synaptic sum lands on (`spec.target_frac`)."""
    return spec.target_frac(layer.frac_bits, isinstance(layer, QLif))


def exponent(syn: QSynapse, src_frac: int, layer) -> int:
    """The weight exponent e (W = q 2^e) of a synapse (`spec.synapse_exponent`; src_frac counts for "input" only)."""
    return spec.synapse_exponent(syn.shift, src_frac if syn.source == "input" else 0, layer_target_frac(layer))


def mixing_of(qnet) -> str:
    for layer in qnet.all_layers:
        if isinstance(layer, QLtc) and layer.gated:
            return layer.mixing
    return "dense"


def sigmoid_of(qnet) -> str:
    """The gate sigmoid of a network's gated layers ("lut" when none is gated)."""
    for layer in qnet.all_layers:
        if isinstance(layer, QLtc) and layer.gated:
            return layer.sigmoid
    return "lut"
