"""NIR files of our networks, and NIR graphs of other tools read into our integer network.

Writing (`qnet_to_nir`, `write_nir`): standard NIR primitives only (Input, Flatten, Affine / Linear, LIF /
CubaLIF, LI, Output), so every NIR tool can open the file; the exact integer semantics of docs/fixed_point.md
(codes, shifts, exponents, LUT, bit widths, rounding, overflow, mixing, the gate synapses that have no
standard meaning) in each node's metadata under one versioned key, ``metadata["ltcsn"]``; dt, the
discretisation convention, producer, task and input encoding in the graph's ``metadata["ltcsn"]``.
The schema, the dt convention and how third-party graphs are read: docs/nir_schema.md.

Reading (`read_qnet`, `read_nir`): our files come back as exactly the QNet that was written (quantized files:
from the integer codes; float files: through the quantizer, under the stored plan). Third-party graphs of
LIF / CubaLIF / IF / LI / Affine / Linear / Conv2d / SumPool2d / AvgPool2d / Flatten / Scale nodes are turned
into float layer descriptions (`export.quantize.float_parts` form): every chain of linear nodes between two
neuron layers is composed into one dense matrix (convolutions and pooling unrolled), and quantized by
`export.quantize.quantize_parts`, the same code that quantizes checkpoints.
"""
import math
import os
from pathlib import Path
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

from export.quantize import DECAY_ONE, QuantizationError, input_encoding, model_parts, quantize_parts
from sim.qnet import QLif, QLtc, QNet, QSynapse, sigmoid_lut
from train.errors import InputError

SCHEMA_KEY = "ltcsn"          # the one metadata key of our nodes and graphs
SCHEMA_VERSION = 1            # bump on any incompatible change of the metadata below
SPEC_VERSION = 1              # docs/fixed_point.md
DEFAULT_DT = 1e-3             # s; dt of third-party graphs that carry none (norse's default)
PRODUCER = "ltcsn-deploy export/nir_io.py"
DISCRETISATION = ("forward-euler: tau*dv/dt = (v_leak - v) + r*I integrated at the stored dt, i.e. "
                  "v[t] = (1 - dt/tau) v[t-1] + (dt/tau) (v_leak + r I[t]); feed-forward edges within a step, "
                  "recurrent edges read the previous step; reset to 0 after a strict v > v_threshold")
MAX_DENSE = 2**27             # largest dense matrix (entries) a chain of linear nodes may unroll to
TAU_RTOL = 1e-5               # tolerance for "the same τ across a layer" (float32 files)

NIR_TYPES = {"Input", "Output", "Affine", "Linear", "Scale", "Delay", "Threshold", "I", "IF", "LI", "LIF",
             "CubaLI", "CubaLIF", "Conv1d", "Conv2d", "Flatten", "SumPool2d", "AvgPool2d", "NIRGraph"}


class NirError(InputError):
    """A NIR file or graph that cannot be read into our network (one line)."""


def _nir():
    import nir
    return nir


# ================================================================ small helpers
def _np(x, dtype=np.float64) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


def _py(obj):
    """Metadata as read back by nir/h5py -> plain Python (numpy scalars -> int/float/bool, bytes -> str)."""
    if isinstance(obj, dict):
        return {str(k): _py(v) for k, v in obj.items()}
    if isinstance(obj, bytes):
        return obj.decode("utf8")
    if isinstance(obj, np.ndarray) and obj.ndim == 0:
        return _py(obj[()])
    if isinstance(obj, np.ndarray) and obj.dtype.kind in "OS":
        return [_py(v) for v in obj.tolist()]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _clean(obj, where: str = "metadata"):
    """Metadata that nir.write stores and nir.read gives back: no None, no 0-d or empty arrays (h5py rejects
    compression on them), no lists of strings (they come back as byte arrays)."""
    if obj is None:
        raise ValueError(f"{where} is None (nir.write cannot store None)")
    if isinstance(obj, dict):
        return {str(k): _clean(v, f"{where}.{k}") for k, v in obj.items()}
    if isinstance(obj, torch.Tensor):
        obj = obj.detach().cpu().numpy()
    if isinstance(obj, (list, tuple)):
        if any(isinstance(v, str) for v in obj):
            raise ValueError(f"{where} is a list of strings (comes back as bytes); join it into one string")
        obj = np.asarray(obj)
    if isinstance(obj, np.ndarray):
        if obj.ndim == 0:
            return obj.item()
        if obj.size == 0:
            raise ValueError(f"{where} is an empty array (h5py cannot compress it)")
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, (bool, int, float, str)):
        return obj
    raise ValueError(f"{where} has type {type(obj).__name__}, which NIR metadata cannot hold")


def _codes(a, dtype=np.int64) -> np.ndarray:
    return np.atleast_1d(np.asarray(a)).astype(dtype)


def _tau(delta, dt: float) -> np.ndarray:
    """τ = dt / δ for a per-step update fraction δ (δ = 0: no leak, τ = inf)."""
    delta = np.asarray(delta, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.where(delta > 0, dt / np.where(delta > 0, delta, 1.0), np.inf)


# ================================================================ writer
def _layers(qnet):
    return (*qnet.layers, qnet.readout)


def _layer_name(i: int, qnet) -> str:
    return "readout" if i == len(qnet.layers) else f"layer{i}"


def _target_frac(layer) -> int:
    """The scale 2^-target the synaptic sum lands on: F (LTC / ALIF / readout) or F - 6 (LIF: a_in << 6)."""
    return layer.frac_bits - 6 if isinstance(layer, QLif) else layer.frac_bits


def _exponent(syn: QSynapse, src_frac: int, layer) -> int:
    """The weight exponent e (W = q 2^e) of a synapse: shift = e - src_frac(input only) + target."""
    return int(syn.shift) + (src_frac if syn.source == "input" else 0) - _target_frac(layer)


def _nominal_alpha(layer: QLtc, lut, fparts=None) -> np.ndarray:
    """Per-step decay fraction α for the standard τ field: constant α (ALIF / const readout), or the
    gate's value at rest (u = d = 0, zero input) for LTC-gated layers: LUT[z = bias_m] (float: σ(bias_m))."""
    if fparts is not None:
        if "alpha" in fparts:
            return _np(fparts["alpha"]) * np.ones(layer.n)
        return 1.0 / (1.0 + np.exp(-_np(fparts["bias"]["m"])))
    if not layer.gated:
        return _codes(layer.alpha) / DECAY_ONE * np.ones(layer.n)
    F_ = layer.frac_bits
    z = np.clip(_codes(layer.bias["m"]), -(2**23 - 1), 2**23 - 1)
    idx = np.clip((z >> (F_ - 4)) + 128, 0, 255)
    return np.asarray(lut)[idx] / DECAY_ONE


def _lif_floats(layer: QLif, fparts=None) -> dict:
    """δu, δv, v_th, bias (on v) of a LIF layer as floats: the codes' exact values, or the float model's."""
    if fparts is not None:
        return {"du": float(_np(fparts["du"])), "dv": float(_np(fparts["dv"])), "vth": float(fparts["vth"]),
                "bias": _np(fparts["bias"]["v"])}
    F_ = layer.frac_bits
    return {"du": (int(layer.du) + 1) / DECAY_ONE, "dv": int(layer.dv) / DECAY_ONE,
            "vth": int(layer.vth) * 2.0 ** -(F_ - 6),
            "bias": _codes(layer.bias_mant) * 2.0 ** (int(layer.bias_exp) - F_)}


def _neuron_node(layer, i: int, qnet, dt: float, fparts, meta: dict):
    """The standard neuron node of a layer (τ, r, thresholds under the dt convention) with its metadata."""
    nir = _nir()
    n = layer.n
    ones, zeros = np.ones(n), np.zeros(n)
    if isinstance(layer, QLif):
        # Lava LIF: i = (1-δu) i + a;  v = (1-δv) v + i + bias  ==  CubaLIF integrated by forward Euler with
        # τ_syn = dt/δu, w_in = 1/δu (so δu·w_in = 1), τ_mem = dt/δv, r = 1/δv (δv·r = 1), v_leak = bias/δv.
        f = _lif_floats(layer, fparts)
        du, dv = f["du"], f["dv"]
        dv_eff = dv if dv > 0 else 2.0**-24   # no leak: a nominal, tiny leak keeps r and v_leak finite
        return nir.CubaLIF(tau_syn=_tau(du, dt) * ones, tau_mem=_tau(dv_eff, dt) * ones, r=ones / dv_eff,
                           v_leak=f["bias"] / dv_eff * ones, v_threshold=f["vth"] * ones, v_reset=zeros.copy(),
                           w_in=ones / du, metadata=meta)
    alpha = _nominal_alpha(layer, qnet.lut, fparts)
    # u = (1-α) u + α d  ==  τ du/dt = -u + r d with dt/τ = α and r = 1 (the input is already α-weighted)
    if not layer.spiking:
        return nir.LI(tau=_tau(alpha, dt), r=ones.copy(), v_leak=zeros.copy(), metadata=meta)
    theta = (layer.theta0 * 2.0**-layer.frac_bits) if fparts is None else float(fparts["b0"])
    return nir.LIF(tau=_tau(alpha, dt), r=ones.copy(), v_leak=zeros.copy(), v_threshold=theta * ones,
                   v_reset=zeros.copy(), metadata=meta)


def _semantics(layer) -> dict:
    if isinstance(layer, QLif):
        return {"equations": "lif_step (docs/fixed_point.md): u = wrap24(trunc12(u*(4096-(du+1))) + (a_in<<6)); "
                             "v = sat24(trunc12(v*(4096-dv)) + u + (bias_mant<<bias_exp)); s = v > (vth<<6); "
                             "v = 0 where s",
                "rounding": "trunc12 rounds toward zero; synapses shl(q@x, shift), floor for negative shifts",
                "overflow": "u wraps to 24 bits, v saturates to 24 bits, a_in int32"}
    eq = {"ltc": "ltc_step: input-dependent decays alpha = LUT[z_m], rho = LUT[z_a]; adaptive threshold "
                 "theta0 + rshr(beta*b, 12); hard reset",
          "alif": "ltc_step with constant per-neuron alpha, rho codes; adaptive threshold; hard reset",
          "readout": "readout: u = sat24(rshr((4096-alpha)*u + alpha*d, 12)), no spikes"}[layer.kind]
    return {"equations": eq + " (docs/fixed_point.md)",
            "rounding": "rshr = round half up; synapses shl(q@x, shift), floor for negative shifts",
            "overflow": "d, z, u saturate to 24 bits; synaptic sums int64 (Lava Dense int32)"}


def qnet_to_nir(qnet: QNet, float_model=None, dt: float = DEFAULT_DT, quantized: bool = True):
    """The NIR graph of an integer network (quantized=True: standard fields hold the dequantized values,
    exactly on the integer grid) or of its float model (quantized=False: float_model required; standard
    fields hold the float weights; the metadata keeps the float gate parts and the exponents of the
    quantization plan, so `read_qnet` re-quantizes it to exactly `qnet`). Returns a nir.NIRGraph."""
    nir = _nir()
    if not dt > 0:
        raise ValueError(f"dt must be > 0, got {dt}")
    parts = None
    if not quantized:
        if float_model is None:
            raise ValueError("quantized=False writes the float network: pass float_model")
        with torch.no_grad():
            parts = model_parts(float_model)
        if len(parts) != len(_layers(qnet)):
            raise ValueError("float_model and qnet have different numbers of layers")
    shape = tuple(int(v) for v in qnet.input_shape)
    nodes = {"input": nir.Input(input_type={"input": np.array(shape)})}
    edges = []
    prev = "input"
    if len(shape) > 1:
        nodes["input.flatten"] = nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0, end_dim=-1)
        edges.append(("input", "input.flatten"))
        prev = "input.flatten"
    for i, layer in enumerate(_layers(qnet)):
        name = _layer_name(i, qnet)
        fp = None if parts is None else parts[i]
        if fp is not None and fp["kind"] != layer.kind:
            raise ValueError(f"{name}: float model layer is {fp['kind']}, integer layer {layer.kind}")
        if fp is not None and layer.kind in ("ltc", "alif"):
            fp = {**fp, "b0": float(float_model.cfg.b0)}
        src_frac = int(qnet.input_frac) if i == 0 else 0
        is_lif = isinstance(layer, QLif)
        F_ = layer.frac_bits
        neuron = f"{name}.neuron"
        syn_parts = {"d": layer.syn} if is_lif else layer.syn
        # ---- part d: the standard synapse nodes
        for syn in syn_parts["d"]:
            e = _exponent(syn, src_frac, layer)
            smeta = {"schema_version": SCHEMA_VERSION, "role": "synapse", "layer": i, "part": "d",
                     "source": syn.source, "exponent": e, "bits": 8}
            if parts is None:
                w = _codes(syn.q).astype(np.float64) * 2.0**e
                smeta.update({"q": _codes(syn.q, np.int8), "shift": int(syn.shift)})
            else:
                w = _np(fp["syn"]["d"][syn.source], np.float32)
            smeta = {SCHEMA_KEY: smeta}
            if syn.source == "input":
                sname = f"{name}.syn_in"
                if is_lif:
                    nodes[sname] = nir.Linear(weight=w, metadata=smeta)
                else:
                    b = (_codes(layer.bias["d"]) * 2.0**-F_) if parts is None else _np(fp["bias"]["d"], np.float32)
                    nodes[sname] = nir.Affine(weight=w, bias=b, metadata=smeta)
                edges += [(prev, sname), (sname, neuron)]
            elif syn.source == "self":
                sname = f"{name}.syn_rec"
                nodes[sname] = nir.Linear(weight=w, metadata=smeta)
                edges += [(neuron, sname), (sname, neuron)]
            else:
                raise ValueError(f"{name}: unknown synapse source {syn.source!r}")
        # ---- the neuron node and its exact semantics
        meta = {"schema_version": SCHEMA_VERSION, "role": "neuron", "layer": i, "kind": layer.kind,
                "n": int(layer.n), "frac_bits": int(F_), **_semantics(layer)}
        if is_lif:
            if parts is None:
                meta.update({"du": int(layer.du), "dv": int(layer.dv), "vth": int(layer.vth),
                             "bias_mant": _codes(layer.bias_mant), "bias_exp": int(layer.bias_exp),
                             "bits": {"du": 12, "dv": 12, "vth": 17, "bias_mant": 13, "bias_exp": 3, "u": 24,
                                      "v": 24}})
            else:
                meta["float"] = {"du": float(_np(fp["du"])), "dv": float(_np(fp["dv"])), "vth": float(fp["vth"]),
                                 "bias_v": _np(fp["bias"]["v"], np.float32) * np.ones(layer.n, np.float32)}
        else:
            meta.update({"gated": bool(layer.gated), "spiking": bool(layer.spiking), "mixing": layer.mixing})
            gate = {}
            for part, syns in layer.syn.items():
                if part == "d":
                    continue
                gate[part] = {}
                for syn in syns:
                    g = {"exponent": _exponent(syn, src_frac, layer)}
                    if parts is None:
                        g.update({"q": _codes(syn.q, np.int8), "shift": int(syn.shift)})
                    else:
                        g["w"] = _np(fp["syn"][part][syn.source], np.float32)
                    gate[part][syn.source] = g
            if gate:
                meta["gate"] = gate
            mix = {}
            for part in layer.mix:
                m = {"exponent": int(layer.mix_shift[part])}
                if parts is None:
                    m["q"] = _codes(layer.mix[part], np.int8)
                else:
                    m["w"] = _np(fp["mix"][part], np.float32)   # the full matrix; diag mode keeps its diagonal
                mix[part] = m
            if mix:
                meta["mix"] = mix
            if parts is None:
                meta["bias"] = {part: _codes(c) for part, c in layer.bias.items()}
                for k in ("alpha", "rho"):
                    if getattr(layer, k) is not None:
                        meta[k] = _codes(getattr(layer, k))
                if layer.spiking:
                    meta.update({"theta0": int(layer.theta0), "beta": int(layer.beta)})
                meta["bits"] = {"weights": 8, "decay": 12, "state": 24, "beta_frac": 12}
            else:
                fl = {"bias": {part: _np(c, np.float32) for part, c in fp["bias"].items() if part != "d"}}
                for k in ("alpha", "rho"):
                    if k in fp:
                        fl[k] = _np(fp[k], np.float32)
                if layer.spiking:
                    fl.update({"b0": float(float_model.cfg.b0), "beta": float(float_model.cfg.beta)})
                meta["float"] = {k: v for k, v in fl.items() if not (isinstance(v, dict) and not v)}
        nodes[neuron] = _neuron_node(layer, i, qnet, dt, fp, {SCHEMA_KEY: meta})
        prev = neuron
    nodes["output"] = nir.Output(output_type={"output": np.array([int(qnet.n_out)])})
    edges.append((prev, "output"))
    lo, hi = (int(v) for v in qnet.input_range)
    gmeta = {
        "schema_version": SCHEMA_VERSION, "producer": PRODUCER, "nir_version": str(nir.version),
        "spec": "docs/fixed_point.md", "spec_version": SPEC_VERSION, "quantized": bool(quantized),
        "dt": float(dt), "time_unit": "s", "discretisation": DISCRETISATION,
        "timing": "every layer once per step, bottom to top; layer l at step t reads layer l-1 of step t and its "
                  "own spikes of step t-1; initial state zero",
        "n_layers": len(qnet.layers), "mixing": _mixing(qnet),
        "input": {"shape": np.array(shape), "frac": int(qnet.input_frac), "range": np.array([lo, hi]),
                  "encoding": "x_int = clip(round(x * 2^frac), range[0], range[1])",
                  "kind": "binary spikes" if (qnet.input_frac, lo, hi) == (0, 0, 1) else "graded 8-bit"},
        "lut": _codes(qnet.lut),
        "task": {k: v for k, v in dict(qnet.task or {}).items() if v is not None},
    }
    if not gmeta["task"]:
        del gmeta["task"]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={SCHEMA_KEY: _clean(gmeta, "graph.ltcsn"), "dt": float(dt)},
                        type_check=True)


def _mixing(qnet) -> str:
    for layer in _layers(qnet):
        if isinstance(layer, QLtc) and layer.gated:
            return layer.mixing
    return "dense"


def write_nir(path, graph) -> Path:
    """nir.write to a temporary file next to `path`, check that nir.read opens it, then rename: an error
    leaves no file (and no half-written one) at `path`. Raises InputError on failure."""
    nir = _nir()
    path = Path(path)
    for name, node in graph.nodes.items():
        if "/" in name:
            raise InputError(f"node name {name!r} contains '/', which NIR files cannot hold")
        try:
            node.metadata = _clean(node.metadata or {}, f"node {name} metadata")
        except ValueError as e:
            raise InputError(str(e)) from None
    try:
        graph.metadata = _clean(graph.metadata or {}, "graph metadata")
    except ValueError as e:
        raise InputError(str(e)) from None
    if not path.parent.is_dir():
        raise InputError(f"{path}: folder {path.parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        nir.write(tmp, graph)
        nir.read(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)    # mkstemp made it 0600; give it the mode a plain open() would
        os.replace(tmp, path)
    except Exception as e:
        raise InputError(f"{path}: could not write NIR ({type(e).__name__}: {_first_line(e)})") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _first_line(e) -> str:
    return ((str(e).strip().splitlines() or [""])[0])[:200]


# ================================================================ reading files
def _prescan(path: Path) -> None:
    """Open with h5py and check the node types before nir.read (which dies on an unknown type with a bare
    AssertionError). Raises NirError naming the file and node."""
    import h5py
    if not path.is_file():
        raise NirError(f"{path}: no such file")
    try:
        f = h5py.File(path, "r")
    except OSError:
        raise NirError(f"{path}: not a NIR file (not HDF5)") from None
    with f:
        if "node" not in f or not isinstance(f["node"], h5py.Group) or "type" not in f["node"]:
            raise NirError(f"{path}: HDF5 but not a NIR file (no 'node' group)")

        def scan(group, prefix):
            t = _py(group["type"][()]) if "type" in group else None
            if t is None:
                raise NirError(f"{path}: node '{prefix or '/'}' has no type")
            if t not in NIR_TYPES:
                raise NirError(f"{path}: node '{prefix}' has unknown type '{t}' (not a NIR primitive; "
                               f"nir.read cannot open this file)")
            if t == "NIRGraph":
                if "nodes" not in group or "edges" not in group:
                    raise NirError(f"{path}: graph '{prefix or '/'}' lacks nodes or edges")
                for k, sub in group["nodes"].items():
                    scan(sub, f"{prefix}.{k}" if prefix else k)

        try:
            scan(f["node"], "")
        except NirError:
            raise
        except Exception as e:      # a damaged file: h5py objects of unexpected kinds
            raise NirError(f"{path}: not a readable NIR file ({type(e).__name__}: {_first_line(e)})") from None


def _read_graph(path):
    nir = _nir()
    path = Path(path)
    _prescan(path)
    try:
        return nir.read(path)
    except (ValueError, KeyError, AssertionError, TypeError, IndexError, NotImplementedError, OSError) as e:
        msg = _first_line(e) or type(e).__name__
        raise NirError(f"{path}: not a consistent NIR graph ({msg})") from None


def read_qnet(path, dt: float = None, norse411: bool = None, x_sample=None, mixing: str = "dense") -> QNet:
    """Any of our NIR files, or a third-party NIR graph, as a QNet for `sim/` (see `read_nir`)."""
    return read_nir(path, dt=dt, norse411=norse411, x_sample=x_sample, mixing=mixing)[0]


def read_nir(path, dt: float = None, norse411: bool = None, x_sample=None, mixing: str = "dense"):
    """NIR file -> (QNet, info). Raises InputError (NirError) with one line on anything it cannot use.

    Our files (graph metadata "ltcsn"): exactly the network that was written; dt must be None or the stored dt.
    Third-party graphs: dt = the simulation step in s (default: the graph's metadata "dt", else 1e-3);
    norse411 = None detects norse's τ·dt export bug (every τ < dt/2 in a graph is impossible under forward
    Euler, so the graph's τ are taken as τ·dt and divided by dt), True / False forces it; x_sample: float
    inputs [N, T, ...] for a graded input encoding (default: binary spikes); mixing is irrelevant for them.
    info: {"origin": "ltcsn" | "third-party", "dt", "norse411", "notes", "parts", "plan", "report", ...}.
    """
    graph = _read_graph(path)
    return qnet_from_graph(graph, dt=dt, norse411=norse411, x_sample=x_sample, mixing=mixing, where=str(path))


def qnet_from_graph(graph, dt: float = None, norse411: bool = None, x_sample=None, mixing: str = "dense",
                    where: str = "graph"):
    """`read_nir` on an in-memory nir.NIRGraph."""
    nir = _nir()
    if not isinstance(graph, nir.NIRGraph):
        raise NirError(f"{where}: not a NIR graph (a single {type(graph).__name__} node)")
    gmeta = _py(graph.metadata or {})
    ours = SCHEMA_KEY in gmeta or any(SCHEMA_KEY in (n.metadata or {}) for n in graph.nodes.values())
    if ours:
        return _read_ours(graph, gmeta, dt, where)
    return _read_foreign(graph, gmeta, dt, norse411, x_sample, where)


# ================================================================ graph structure (both kinds)
LINEAR_TYPES = ("Affine", "Linear", "Conv2d", "SumPool2d", "AvgPool2d", "Flatten", "Scale")
NEURON_TYPES = ("LIF", "CubaLIF", "IF", "LI")


def _tname(node) -> str:
    return type(node).__name__


def _structure(graph, where: str) -> dict:
    """Input -> [linear nodes] -> neuron -> [linear nodes] -> neuron ... -> [linear nodes] -> Output, with
    optional recurrent cycles neuron -> [linear nodes] -> the same neuron. Traverses by edges (node order is
    not kept in files). Returns {"input", "layers": [(neuron, {"input": [paths], "self": [paths]})],
    "tail": [paths from the last neuron to the Output], "output"}; a path is a list of linear node names."""
    nodes = graph.nodes
    for name, node in nodes.items():
        t = _tname(node)
        if t not in LINEAR_TYPES + NEURON_TYPES + ("Input", "Output"):
            raise NirError(f"{where}: node '{name}' of type {t} is not supported (supported: "
                           f"{', '.join(NEURON_TYPES + LINEAR_TYPES)}, Input, Output)")
    inputs = [k for k, n in nodes.items() if _tname(n) == "Input"]
    outputs = [k for k, n in nodes.items() if _tname(n) == "Output"]
    if len(inputs) != 1 or len(outputs) != 1:
        raise NirError(f"{where}: needs exactly one Input and one Output node, has {len(inputs)} and {len(outputs)}")
    preds = {k: [] for k in nodes}
    for a, b in graph.edges:
        if a not in nodes or b not in nodes:
            raise NirError(f"{where}: edge ({a}, {b}) names a node that does not exist")
        preds[b].append(a)

    def trace(first: str, dst: str):
        path, cur = [], first
        while _tname(nodes[cur]) in LINEAR_TYPES:
            if cur in path:
                raise NirError(f"{where}: linear nodes form a cycle through '{cur}' without a neuron layer")
            path.insert(0, cur)
            if len(preds[cur]) != 1:
                raise NirError(f"{where}: linear node '{cur}' has {len(preds[cur])} inputs; only chains of "
                               f"single-input linear nodes between neuron layers are supported")
            cur = preds[cur][0]
        if _tname(nodes[cur]) == "Output":
            raise NirError(f"{where}: the Output node '{cur}' feeds '{dst}'")
        return cur, path

    def sources(dst: str) -> dict:
        srcs = {}
        for p in preds[dst]:
            src, path = trace(p, dst)
            srcs.setdefault(src, []).append(path)
        return srcs

    neurons = [k for k, n in nodes.items() if _tname(n) in NEURON_TYPES]
    srcs = {k: sources(k) for k in neurons}
    order, prev = [], inputs[0]
    while True:
        nxt = [k for k in neurons if prev in srcs[k] and k != prev]
        if not nxt:
            break
        if len(nxt) > 1:
            raise NirError(f"{where}: '{prev}' feeds several neuron layers ({', '.join(sorted(nxt))}); "
                           f"only a chain of layers is supported")
        k = nxt[0]
        if k in order:
            raise NirError(f"{where}: neuron layers form a cycle through '{k}' (only self-recurrence is supported)")
        other = set(srcs[k]) - {prev, k}
        if other:
            raise NirError(f"{where}: '{k}' reads from {', '.join(sorted(other))} besides '{prev}' "
                           f"(skip connections are not supported)")
        order.append(k)
        prev = k
    missing = set(neurons) - set(order)
    if missing:
        raise NirError(f"{where}: neuron node(s) {', '.join(sorted(missing))} not on the path from the Input")
    if not order:
        raise NirError(f"{where}: no neuron layer (LIF, CubaLIF, IF, LI) between Input and Output")
    out_srcs = sources(outputs[0])
    if set(out_srcs) != {order[-1]}:
        raise NirError(f"{where}: the Output reads {', '.join(sorted(out_srcs)) or 'nothing'}, "
                       f"not the last neuron layer '{order[-1]}'")
    layers = [(k, {"input": srcs[k][order[j - 1] if j else inputs[0]], "self": srcs[k].get(k, [])})
              for j, k in enumerate(order)]
    return {"input": inputs[0], "layers": layers, "tail": out_srcs[order[-1]], "output": outputs[0]}


def _input_shape(graph, name: str, where: str) -> tuple:
    it = graph.nodes[name].input_type
    shape = None if it is None else it.get("input")
    if shape is None:
        raise NirError(f"{where}: the Input node '{name}' has no shape")
    return tuple(int(v) for v in np.atleast_1d(_np(shape, np.int64)))


# ================================================================ linear chains -> dense matrices
def _fit(x, ndim: int, what: str, where: str):
    """x [N, *shape]: drop leading size-1 dims (a batch dim written by traced graphs) down to ndim dims."""
    shape = tuple(x.shape[1:])
    while len(shape) > ndim and shape[0] == 1:
        shape = shape[1:]
    if len(shape) != ndim:
        raise NirError(f"{where}: inconsistent shapes: {what} expects a {ndim}-d input, gets shape {list(x.shape[1:])}")
    return x.reshape(x.shape[0], *shape)


def _pair(v, name: str, where: str) -> tuple:
    a = np.atleast_1d(_np(v, np.int64))
    if a.size == 1:
        return (int(a[0]),) * 2
    if a.size != 2:
        raise NirError(f"{where}: {name} {a.tolist()} is not a pair")
    return tuple(int(u) for u in a)


def _apply(name: str, node, x, where: str, bias: bool = True):
    """One linear NIR node on a batch x [N, *shape] (float64); bias=False: its linear part only."""
    t = _tname(node)
    w_ = f"{where}: node '{name}' ({t})"
    if t in ("Affine", "Linear"):
        w = torch.from_numpy(_np(node.weight))
        if w.ndim != 2:
            raise NirError(f"{w_}: weight of shape {list(w.shape)} (only 2-d weights are supported)")
        x = _fit(x, 1, t, where)
        if x.shape[1] != w.shape[1]:
            raise NirError(f"{where}: inconsistent shapes: '{name}' takes {w.shape[1]} inputs, gets {x.shape[1]}")
        y = x @ w.T
        if t == "Affine" and bias:
            b = _np(node.bias).reshape(-1)
            if b.size != w.shape[0]:
                raise NirError(f"{w_}: bias of size {b.size} for {w.shape[0]} outputs")
            y = y + torch.from_numpy(b)
        return y
    if t == "Scale":
        s = torch.from_numpy(_np(node.scale))
        if s.numel() == 1:
            return x * s.reshape(())
        if tuple(x.shape[1:]) != tuple(s.shape):
            x = _fit(x, s.ndim, t, where)
            if tuple(x.shape[1:]) != tuple(s.shape):
                raise NirError(f"{where}: inconsistent shapes: '{name}' scales {list(s.shape)}, "
                               f"gets {list(x.shape[1:])}")
        return x * s
    if t == "Flatten":
        shape = tuple(x.shape[1:])
        nd = len(shape)
        s, e = int(node.start_dim), int(node.end_dim)
        s, e = (s + nd if s < 0 else s), (e + nd if e < 0 else e)
        if not (0 <= s <= e < nd):
            raise NirError(f"{w_}: dims {node.start_dim}..{node.end_dim} do not fit input shape {list(shape)}")
        return x.flatten(s + 1, e + 1)
    x = _fit(x, 3, t, where)
    if t == "Conv2d":
        w = torch.from_numpy(_np(node.weight))
        b = torch.from_numpy(_np(node.bias).reshape(-1)) if bias and node.bias is not None else None
        groups = int(np.asarray(node.groups))
        if w.ndim != 4 or x.shape[1] != w.shape[1] * groups:
            raise NirError(f"{where}: inconsistent shapes: '{name}' takes {w.shape[1] * groups} channels, "
                           f"gets input {list(x.shape[1:])}")
        pad = node.padding
        pad = pad if isinstance(pad, str) else _pair(pad, "padding", w_)
        try:
            return F.conv2d(x, w, b, _pair(node.stride, "stride", w_), pad, _pair(node.dilation, "dilation", w_),
                            groups)
        except RuntimeError as e:
            raise NirError(f"{w_}: {_first_line(e)}") from None
    if t in ("SumPool2d", "AvgPool2d"):
        k = _pair(node.kernel_size, "kernel_size", w_)
        s = _pair(node.stride, "stride", w_)
        p = _pair(node.padding, "padding", w_)
        try:
            y = F.avg_pool2d(x, k, s, p, ceil_mode=False, count_include_pad=True)
        except RuntimeError as e:
            raise NirError(f"{w_}: {_first_line(e)}") from None
        return y * (k[0] * k[1]) if t == "SumPool2d" else y
    raise NirError(f"{w_}: not a linear node")  # pragma: no cover


def _compose(graph, paths: list, in_shape: tuple, where: str):
    """Sum over paths of the composed affine maps: (W [n_out, n_in], b [n_out], out shape), in float64.
    W: the identity basis pushed through the chain's linear parts (each entry of an unrolled convolution is
    a single weight, exact); b: zero pushed through the whole chain. An empty path is the identity."""
    n_in = int(np.prod(in_shape))
    W = b = out_shape = None
    for path in paths:
        x = torch.eye(n_in, dtype=torch.float64).reshape(n_in, *in_shape)
        z = torch.zeros(1, *in_shape, dtype=torch.float64)
        for name in path:
            x = _apply(name, graph.nodes[name], x, where, bias=False)
            z = _apply(name, graph.nodes[name], z, where)
            if x[0].numel() * n_in > MAX_DENSE:
                raise NirError(f"{where}: unrolling up to '{name}' needs a {x[0].numel()} x {n_in} matrix "
                               f"(more than {MAX_DENSE} entries)")
        shape = tuple(x.shape[1:])
        bp, Wp = z.reshape(-1), x.reshape(n_in, -1).T
        if W is None:
            W, b, out_shape = Wp, bp, shape
        elif Wp.shape != W.shape:
            raise NirError(f"{where}: inconsistent shapes: parallel paths into one node give {list(Wp.shape)} "
                           f"and {list(W.shape)}")
        else:
            W, b = W + Wp, b + bp
    return W, b, out_shape


# ================================================================ third-party graphs
def _param(node, field: str, n: int, name: str, where: str) -> np.ndarray:
    a = _np(getattr(node, field)).reshape(-1)
    if a.size == 1 and n != 1:
        a = np.full(n, a[0])
    if a.size != n:
        raise NirError(f"{where}: inconsistent shapes: '{name}' has {a.size} values of {field} for {n} neurons")
    return a


def _neuron_shape(node, fields=("v_threshold", "tau", "r")):
    for f in fields:
        if hasattr(node, f) and getattr(node, f) is not None:
            s = tuple(np.shape(_np(getattr(node, f))))
            if s and int(np.prod(s)) > 1:
                return s
    return None


def _taus(node) -> dict:
    t = _tname(node)
    fields = {"LIF": ("tau",), "LI": ("tau",), "CubaLIF": ("tau_syn", "tau_mem")}.get(t, ())
    return {f: _np(getattr(node, f)).reshape(-1) for f in fields}


def _decide_norse411(graph, dt: float, norse411, where: str) -> bool:
    taus = [v for n in graph.nodes.values() for v in _taus(n).values()]
    if not taus:
        return False
    allt = np.concatenate(taus)
    if np.any(~(allt > 0)):
        raise NirError(f"{where}: a time constant is <= 0 or NaN")
    if norse411 is None:
        return bool(np.min(allt) < dt / 2)
    return bool(norse411)


def _delta(tau: np.ndarray, dt: float, field: str, name: str, where: str) -> np.ndarray:
    """Per-step fraction dt/τ (forward Euler); τ = inf gives 0. Raises if dt/τ > 1 (unstable)."""
    d = dt / tau
    if np.any(d > 1 + 1e-6):
        raise NirError(f"{where}: '{name}' has {field} = {float(np.min(tau)):.3g} s < dt = {dt:g} s: forward Euler "
                       f"is unstable at this dt; pass the dt the graph was made for (or norse411=True for a "
                       f"norse export that wrote tau*dt)")
    return np.minimum(d, 1.0)


def _uniform(d: np.ndarray, field: str, name: str, where: str) -> float:
    if d.size and not np.allclose(d, d.mean(), rtol=TAU_RTOL, atol=0):
        raise NirError(f"{where}: '{name}': {field} differs across its neurons (dt/{field} from {d.min():.4g} to "
                       f"{d.max():.4g}); our LIF layer, like Lava's, has one decay per layer")
    return float(d.mean()) if d.size else 0.0


def _foreign_layer(graph, name: str, node, W, b, Ws, bs, dt: float, scale_tau: float, last: bool,
                   notes: list, where: str) -> dict:
    """Float parts (export.quantize.float_parts form) of one third-party neuron layer fed by W x + b (+ the
    recurrent Ws s + bs)."""
    t = _tname(node)
    n = W.shape[0]
    W = W.numpy()
    b = b.numpy()
    Ws = None if Ws is None else Ws.numpy()
    bias_in = b + (0 if bs is None else bs.numpy())
    if t in ("LIF", "CubaLIF", "IF"):
        if t == "IF":
            r = _param(node, "r", n, name, where)
            gain, leak, du, dv = r, 0.0, 1.0, 0.0     # v[t] = v[t-1] + r I[t] (per step, as sinabs and norse)
        elif t == "LIF":
            tau = _param(node, "tau", n, name, where) / scale_tau
            r = _param(node, "r", n, name, where)
            d = _delta(tau, dt, "tau", name, where)
            dv = _uniform(d, "tau", name, where)
            gain, leak, du = d * r, d * _param(node, "v_leak", n, name, where), 1.0
        else:
            ts = _param(node, "tau_syn", n, name, where) / scale_tau
            tm = _param(node, "tau_mem", n, name, where) / scale_tau
            r = _param(node, "r", n, name, where)
            w_in = _param(node, "w_in", n, name, where)
            ds = _delta(ts, dt, "tau_syn", name, where)
            dm = _delta(tm, dt, "tau_mem", name, where)
            du, dv = _uniform(ds, "tau_syn", name, where), _uniform(dm, "tau_mem", name, where)
            gain, leak = dm * r * ds * w_in, dm * _param(node, "v_leak", n, name, where)
            if np.any(bias_in != 0) and du < 1:
                raise NirError(f"{where}: '{name}': a bias into a CubaLIF current with tau_syn > dt cannot be "
                               f"mapped (our LIF has its bias on v only)")
        v_reset = _param(node, "v_reset", n, name, where) if getattr(node, "v_reset", None) is not None else 0
        if np.any(np.asarray(v_reset) != 0):
            raise NirError(f"{where}: '{name}': v_reset != 0 is not supported (our neurons reset to 0)")
        thr = _param(node, "v_threshold", n, name, where)
        if np.any(~(thr > 0)):
            raise NirError(f"{where}: '{name}': v_threshold must be > 0")
        bias = leak + gain * bias_in
        rows = gain
        vth = float(thr[0])
        if not np.allclose(thr, thr[0], rtol=1e-7, atol=0):
            # spikes are unchanged when a neuron's v is divided by its threshold: scale its inputs instead
            rows, bias, vth = gain / thr, bias / thr, 1.0
            notes.append(f"{name}: per-neuron thresholds folded into the weights (v_th = 1)")
        syn = {"input": torch.from_numpy(W * rows[:, None])}
        if Ws is not None:
            syn["self"] = torch.from_numpy(Ws * rows[:, None])
        return {"kind": "lif", "syn": {"d": syn}, "bias": {"v": torch.from_numpy(bias * np.ones(n))},
                "du": torch.tensor(du, dtype=torch.float64), "dv": torch.tensor(dv, dtype=torch.float64),
                "vth": vth}
    # LI: the readout
    if not last:
        raise NirError(f"{where}: LI node '{name}' is not the last neuron layer (hidden layers must spike)")
    if Ws is not None:
        raise NirError(f"{where}: LI node '{name}' is recurrent; our readout has no recurrent synapses")
    tau = _param(node, "tau", n, name, where) / scale_tau
    r = _param(node, "r", n, name, where)
    alpha = _delta(tau, dt, "tau", name, where)
    # v = (1-α) v + α (v_leak + r (W x + b)): our readout with W_o = r W, c = r b + v_leak
    return {"kind": "readout", "syn": {"d": {"input": torch.from_numpy(W * r[:, None])}},
            "bias": {"d": torch.from_numpy(r * b + _param(node, "v_leak", n, name, where))}, "mix": {},
            "alpha": torch.from_numpy(alpha)}


def _read_foreign(graph, gmeta: dict, dt, norse411, x_sample, where: str):
    if dt is None:
        dt = float(gmeta["dt"]) if isinstance(gmeta.get("dt"), (int, float)) else DEFAULT_DT
    if not dt > 0:
        raise NirError(f"{where}: dt must be > 0, got {dt}")
    st = _structure(graph, where)
    notes = []
    n411 = _decide_norse411(graph, dt, norse411, where)
    scale_tau = dt if n411 else 1.0
    if n411:
        notes.append(f"norse#411: time constants read as tau*dt (divided by dt = {dt:g} s)")
    in_shape = _input_shape(graph, st["input"], where)
    shape = in_shape
    parts, names = [], []
    for j, (name, srcs) in enumerate(st["layers"]):
        node = graph.nodes[name]
        W, b, _ = _compose(graph, srcs["input"], shape, where)
        n = W.shape[0]
        own = _neuron_shape(node)
        if own is not None and int(np.prod(own)) != n:
            raise NirError(f"{where}: inconsistent shapes: '{name}' has {int(np.prod(own))} neurons, its input "
                           f"gives {n}")
        Ws = bs = None
        out_shape = own or (n,)
        if srcs["self"]:
            Ws, bs, _ = _compose(graph, srcs["self"], out_shape, where)
            if Ws.shape != (n, n):
                raise NirError(f"{where}: inconsistent shapes: recurrent weights of '{name}' are {list(Ws.shape)}")
        last = j == len(st["layers"]) - 1
        parts.append(_foreign_layer(graph, name, node, W, b, Ws, bs, dt, scale_tau, last, notes, where))
        names.append(name)
        shape = out_shape
    if parts[-1]["kind"] != "readout":
        # no LI readout: the readout reports the last layer's output (its spikes, through any trailing linear
        # nodes) every step, with α = 1 (u = W s + b on scale 2^-F)
        W, b, _ = _compose(graph, st["tail"], shape, where)
        parts.append({"kind": "readout", "syn": {"d": {"input": W}}, "bias": {"d": b}, "mix": {},
                      "alpha": torch.ones(W.shape[0], dtype=torch.float64)})
        notes.append("no LI readout: a readout with alpha = 1 passes the last layer's output "
                     f"({'through the trailing linear nodes' if st['tail'] != [[]] else 'identity'})")
    elif st["tail"] != [[]]:
        raise NirError(f"{where}: linear nodes after the LI readout '{names[-1]}' are not supported")
    enc = input_encoding(torch.as_tensor(np.asarray(x_sample))) if x_sample is not None else (0, (0, 1))
    in_shape = _squeeze_input(in_shape, graph, st)
    try:
        qnet, plan, report = quantize_parts(parts, in_shape, encoding=enc)
    except QuantizationError as e:
        raise NirError(f"{where}: {e}") from None
    info = {"origin": "third-party", "dt": dt, "norse411": n411, "notes": notes, "layers": names,
            "parts": parts, "plan": plan, "report": report, "quantized_file": False}
    return qnet, info


def _squeeze_input(shape: tuple, graph, st) -> tuple:
    """The input shape our simulator takes: the Input node's shape minus leading size-1 dims that the first
    linear node drops (a traced batch dimension)."""
    first = st["layers"][0][1]["input"][0] if st["layers"][0][1]["input"] else []
    if not first:
        return shape
    t = _tname(graph.nodes[first[0]])
    nd = {"Affine": 1, "Linear": 1, "Conv2d": 3, "SumPool2d": 3, "AvgPool2d": 3}.get(t)
    while nd is not None and len(shape) > nd and shape[0] == 1:
        shape = shape[1:]
    return shape


# ================================================================ our files
def _meta(node, name: str, where: str, role: str) -> dict:
    m = _py(node.metadata or {}).get(SCHEMA_KEY)
    if not isinstance(m, dict):
        raise NirError(f"{where}: node '{name}' lacks its '{SCHEMA_KEY}' metadata")
    v = m.get("schema_version")
    if v != SCHEMA_VERSION:
        raise NirError(f"{where}: node '{name}' has {SCHEMA_KEY} schema version {v!r}; this reader reads "
                       f"version {SCHEMA_VERSION}")
    if m.get("role") != role:
        raise NirError(f"{where}: node '{name}' is a {m.get('role')!r} in the {SCHEMA_KEY} metadata, expected {role}")
    return m


def _need(m: dict, key: str, name: str, where: str):
    if key not in m:
        raise NirError(f"{where}: node '{name}': {SCHEMA_KEY} metadata lacks '{key}'")
    return m[key]


def _read_ours(graph, gmeta: dict, dt, where: str):
    g = gmeta.get(SCHEMA_KEY)
    if not isinstance(g, dict):
        raise NirError(f"{where}: nodes carry '{SCHEMA_KEY}' metadata but the graph's is missing")
    if g.get("schema_version") != SCHEMA_VERSION:
        raise NirError(f"{where}: {SCHEMA_KEY} schema version {g.get('schema_version')!r}; this reader reads "
                       f"version {SCHEMA_VERSION}")
    for key in ("dt", "quantized", "input", "lut", "mixing", "spec_version"):
        _need(g, key, "(graph)", where)
    if g["spec_version"] != SPEC_VERSION:
        raise NirError(f"{where}: integer semantics version {g['spec_version']!r}; this code implements "
                       f"version {SPEC_VERSION} (docs/fixed_point.md)")
    if dt is not None and not math.isclose(float(dt), float(g["dt"]), rel_tol=1e-9):
        raise NirError(f"{where}: the file was exported at dt = {g['dt']:g} s; dt = {dt:g} does not apply")
    quantized = bool(g["quantized"])
    st = _structure(graph, where)
    inp = g["input"]
    in_shape = tuple(int(v) for v in np.atleast_1d(_need(inp, "shape", "(graph input)", where)))
    if in_shape != _input_shape(graph, st["input"], where):
        raise NirError(f"{where}: inconsistent shapes: Input node {list(_input_shape(graph, st['input'], where))} "
                       f"vs metadata {list(in_shape)}")
    input_frac = int(_need(inp, "frac", "(graph input)", where))
    input_range = tuple(int(v) for v in np.atleast_1d(_need(inp, "range", "(graph input)", where)))
    lut = _codes(g["lut"])
    if lut.shape != (256,) or not np.array_equal(lut, sigmoid_lut()):
        raise NirError(f"{where}: the stored sigmoid LUT differs from docs/fixed_point.md's")
    n_layers = len(st["layers"])
    if n_layers < 1 or st["tail"] != [[]]:
        raise NirError(f"{where}: not the structure this exporter writes (layers ... readout -> Output)")
    layers, parts, lps = [], [], []
    n_prev = int(np.prod(in_shape))
    for i, (name, srcs) in enumerate(st["layers"]):
        node = graph.nodes[name]
        m = _meta(node, name, where, "neuron")
        if int(_need(m, "layer", name, where)) != i:
            raise NirError(f"{where}: node '{name}' says layer {m['layer']}, but is layer {i} by its edges")
        kind = _need(m, "kind", name, where)
        readout = i == n_layers - 1
        if readout != (kind == "readout"):
            raise NirError(f"{where}: node '{name}' of kind {kind!r} at position {i} of {n_layers}")
        want = {"lif": "CubaLIF", "readout": "LI"}.get(kind, "LIF")
        if _tname(node) != want:
            raise NirError(f"{where}: node '{name}' of kind {kind!r} is a {_tname(node)}, expected {want}")
        src_frac = input_frac if i == 0 else 0
        n = int(_need(m, "n", name, where))
        syns = []
        for source, paths in (("input", srcs["input"]), ("self", srcs["self"])):
            for path in paths:
                sname = path[-1] if path else None
                if sname is None or _tname(graph.nodes[sname]) not in ("Affine", "Linear"):
                    raise NirError(f"{where}: '{name}' is fed by a path without an Affine/Linear synapse node")
                for extra in path[:-1]:
                    if _tname(graph.nodes[extra]) != "Flatten" or i or source != "input":
                        raise NirError(f"{where}: unexpected node '{extra}' before synapse '{sname}'")
                sm = _meta(graph.nodes[sname], sname, where, "synapse")
                if sm.get("source") != source or int(sm.get("layer", -1)) != i or sm.get("part") != "d":
                    raise NirError(f"{where}: synapse '{sname}' metadata (layer {sm.get('layer')}, "
                                   f"{sm.get('source')}) does not match its edges (layer {i}, {source})")
                w = _np(graph.nodes[sname].weight)
                if w.shape != (n, n_prev if source == "input" else n):
                    raise NirError(f"{where}: inconsistent shapes: '{sname}' weight {list(w.shape)} for a layer "
                                   f"of {n} fed by {n_prev if source == 'input' else n}")
                syns.append((source, sname, sm, graph.nodes[sname]))
        if [s[0] for s in syns].count("input") != 1 or [s[0] for s in syns].count("self") > 1:
            raise NirError(f"{where}: '{name}' needs one input synapse and at most one recurrent one")
        syns.sort(key=lambda s: s[0] != "input")
        if quantized:
            layers.append(_q_layer(name, node, m, syns, src_frac, g, where))
        else:
            p, lp = _f_layer(name, node, m, syns, src_frac, where)
            parts.append(p)
            lps.append(lp)
        n_prev = n
    task = {k: v for k, v in dict(g.get("task", {})).items()}
    info = {"origin": "ltcsn", "dt": float(g["dt"]), "norse411": False, "notes": [], "quantized_file": quantized,
            "layers": [k for k, _ in st["layers"]], "producer": g.get("producer")}
    if quantized:
        qnet = QNet(input_shape=in_shape, input_frac=input_frac, input_range=input_range, layers=layers[:-1],
                    readout=layers[-1], lut=lut, task=task)
        info.update({"parts": None, "plan": _plan_of(qnet), "report": None})
        return qnet, info
    plan = {"mixing": g["mixing"], "input_frac": input_frac, "input_range": list(input_range), "layers": lps}
    fl = [p for p in parts if p["kind"] in ("ltc", "alif")]
    b0 = fl[0].pop("_b0") if fl else 0.1
    beta = fl[0].pop("_beta") if fl else 1.8
    for p in fl:
        p.pop("_b0", None)
        p.pop("_beta", None)
    try:
        qnet, plan, report = quantize_parts(parts, in_shape, plan=plan, task=task, b0=b0, beta=beta)
    except QuantizationError as e:
        raise NirError(f"{where}: {e}") from None
    info.update({"parts": parts, "plan": plan, "report": report})
    return qnet, info


def _arr(m: dict, key: str, n: int, name: str, where: str, dtype=np.int64) -> np.ndarray:
    a = np.atleast_1d(np.asarray(_need(m, key, name, where)))
    if a.size != n:
        raise NirError(f"{where}: inconsistent shapes: node '{name}' {key} has {a.size} values for {n} neurons")
    if dtype is np.int64 and a.dtype.kind not in "iu":
        raise NirError(f"{where}: node '{name}' {key} is not an integer code array")
    return a.reshape(n).astype(dtype)


def _q_synapse(sm: dict, sname: str, shape: tuple, src_frac: int, target: int, source: str, where: str,
               std_weight=None) -> QSynapse:
    q = np.asarray(_need(sm, "q", sname, where))
    if q.shape != shape or q.dtype.kind not in "iu":
        raise NirError(f"{where}: node '{sname}': integer codes of shape {list(q.shape)}, expected {list(shape)}")
    q = q.astype(np.int64)
    if np.abs(q).max(initial=0) > 127:
        raise NirError(f"{where}: node '{sname}': weight codes outside [-127, 127]")
    shift = int(_need(sm, "shift", sname, where))
    e = int(_need(sm, "exponent", sname, where))
    if e != shift + (src_frac if source == "input" else 0) - target:
        raise NirError(f"{where}: node '{sname}': exponent {e} and shift {shift} disagree")
    if std_weight is not None and not np.array_equal(_np(std_weight), q * 2.0**e):
        raise NirError(f"{where}: node '{sname}': the standard weight differs from its integer codes q*2^e "
                       f"(edited by another tool?)")
    return QSynapse(q, shift, source)


def _q_layer(name, node, m, syns, src_frac, g, where):
    kind = m["kind"]
    n = int(m["n"])
    F_ = int(_need(m, "frac_bits", name, where))
    if kind == "lif":
        target = F_ - 6
        syn = [_q_synapse(sm, sname, tuple(_np(sn.weight).shape), src_frac, target, src, where, sn.weight)
               for src, sname, sm, sn in syns]
        return QLif(n=n, syn=syn, du=int(_need(m, "du", name, where)), dv=int(_need(m, "dv", name, where)),
                    vth=int(_need(m, "vth", name, where)), bias_mant=_arr(m, "bias_mant", n, name, where),
                    bias_exp=int(_need(m, "bias_exp", name, where)), frac_bits=F_)
    target = F_
    bias = {part: _arr(m["bias"], part, n, name, where) for part in _need(m, "bias", name, where)}
    if "d" not in bias:
        raise NirError(f"{where}: node '{name}': {SCHEMA_KEY} metadata lacks bias.d")
    syn = {"d": []}
    for src, sname, sm, sn in syns:
        syn["d"].append(_q_synapse(sm, sname, tuple(_np(sn.weight).shape), src_frac, target, src, where, sn.weight))
        if _tname(sn) == "Affine" and not np.array_equal(_np(sn.bias), bias["d"] * 2.0**-F_):
            raise NirError(f"{where}: node '{sname}': the standard bias differs from its integer codes")
    shapes = {s.source: tuple(np.shape(s.q)) for s in syn["d"]}
    for part, srcs in dict(m.get("gate", {})).items():
        syn[part] = [_q_synapse(srcs[src], f"{name}.gate.{part}.{src}", shapes[src], src_frac, target, src, where)
                     for src in ("input", "self") if src in srcs]
        if set(srcs) - set(shapes):
            raise NirError(f"{where}: node '{name}': gate part {part} has synapses from "
                           f"{sorted(set(srcs) - set(shapes))}")
    gated = bool(_need(m, "gated", name, where))
    layer = QLtc(kind=kind, n=n, syn=syn, bias=bias, gated=gated, spiking=bool(_need(m, "spiking", name, where)),
                 mixing=str(_need(m, "mixing", name, where)), frac_bits=F_)
    for part, mm in dict(m.get("mix", {})).items():
        q = np.asarray(_need(mm, "q", f"{name}.mix.{part}", where))
        want = (n, n) if layer.mixing == "dense" else (n,)
        if q.shape != want or q.dtype.kind not in "iu":
            raise NirError(f"{where}: node '{name}': mix.{part} codes of shape {list(q.shape)}, expected {list(want)}")
        layer.mix[part] = q.astype(np.int64)
        layer.mix_shift[part] = int(_need(mm, "exponent", f"{name}.mix.{part}", where))
    if gated and set(layer.mix) != set(syn) - {"d"}:
        raise NirError(f"{where}: node '{name}': gate parts {sorted(set(syn) - {'d'})} vs mixing parts "
                       f"{sorted(layer.mix)}")
    if set(bias) != set(syn):
        raise NirError(f"{where}: node '{name}': bias parts {sorted(bias)} vs synapse parts {sorted(syn)}")
    for k in ("alpha", "rho"):
        if k in m:
            setattr(layer, k, _arr(m, k, n, name, where))
    if not gated and layer.alpha is None or (not gated and layer.spiking and layer.rho is None):
        raise NirError(f"{where}: node '{name}': a layer with constant decays needs alpha (and rho) codes")
    if layer.spiking:
        layer.theta0 = int(_need(m, "theta0", name, where))
        layer.beta = int(_need(m, "beta", name, where))
    return layer


def _f_layer(name, node, m, syns, src_frac, where):
    """Float parts and plan entry of one layer of our float file."""
    kind = m["kind"]
    n = int(m["n"])
    fl = _need(m, "float", name, where)
    lp = {"syn": {"d": {}}, "mix": {}, "src_frac": src_frac}
    if kind == "lif":
        lp["frac_bits"] = int(_need(m, "frac_bits", name, where))
    d = {}
    for src, sname, sm, sn in syns:
        d[src] = torch.from_numpy(np.array(sn.weight))
        lp["syn"]["d"][src] = int(_need(sm, "exponent", sname, where))
    if kind == "lif":
        # du, dv were float32 scalars (sigmoids of the model's logits), stored exactly as float64
        p = {"kind": "lif", "syn": {"d": d},
             "bias": {"v": torch.from_numpy(_arr(fl, "bias_v", n, name, where, np.float32))},
             "du": torch.tensor(np.float32(_need(fl, "du", name, where))),
             "dv": torch.tensor(np.float32(_need(fl, "dv", name, where))),
             "vth": float(_need(fl, "vth", name, where))}
        return p, lp
    affine = syns[0][3]
    p = {"kind": kind, "syn": {"d": d}, "bias": {"d": torch.from_numpy(np.array(affine.bias))}, "mix": {}}
    for part, srcs in dict(m.get("gate", {})).items():
        p["syn"][part] = {src: torch.from_numpy(np.array(_need(srcs[src], "w", f"{name}.gate.{part}", where)))
                          for src in ("input", "self") if src in srcs}
        lp["syn"][part] = {src: int(_need(srcs[src], "exponent", f"{name}.gate.{part}", where))
                           for src in ("input", "self") if src in srcs}
    for part, c in dict(fl.get("bias", {})).items():
        p["bias"][part] = torch.from_numpy(np.array(c))
    for part, mm in dict(m.get("mix", {})).items():
        p["mix"][part] = torch.from_numpy(np.array(_need(mm, "w", f"{name}.mix.{part}", where)))
        lp["mix"][part] = int(_need(mm, "exponent", f"{name}.mix.{part}", where))
    for k in ("alpha", "rho"):
        if k in fl:
            p[k] = torch.from_numpy(np.array(fl[k]))
    if kind in ("ltc", "alif"):
        p["_b0"] = float(_need(fl, "b0", name, where))
        p["_beta"] = float(_need(fl, "beta", name, where))
    return p, lp


def _plan_of(qnet) -> dict:
    """The quantization plan (exponents) a QNet was built under."""
    layers = []
    for i, layer in enumerate(_layers(qnet)):
        src_frac = int(qnet.input_frac) if i == 0 else 0
        syn_parts = {"d": layer.syn} if isinstance(layer, QLif) else layer.syn
        lp = {"syn": {part: {s.source: _exponent(s, src_frac, layer) for s in syns}
                      for part, syns in syn_parts.items()},
              "mix": {} if isinstance(layer, QLif) else {p: int(e) for p, e in layer.mix_shift.items()},
              "src_frac": src_frac}
        if isinstance(layer, QLif):
            lp["frac_bits"] = int(layer.frac_bits)
        layers.append(lp)
    return {"mixing": _mixing(qnet), "input_frac": int(qnet.input_frac),
            "input_range": [int(v) for v in qnet.input_range], "layers": layers}


__all__ = ["qnet_to_nir", "write_nir", "read_qnet", "read_nir", "qnet_from_graph", "describe", "NirError",
           "SCHEMA_KEY", "SCHEMA_VERSION", "DEFAULT_DT"]


# ================================================================ a readable listing (docs, debugging)
def _short(v, width: int = 60) -> str:
    if isinstance(v, np.ndarray):
        flat = v.reshape(-1)
        body = ", ".join(f"{u:.6g}" if isinstance(u, float) else str(u) for u in flat[:4].tolist())
        return f"{v.dtype}{list(v.shape)} [{body}{', ...' if flat.size > 4 else ''}]"
    s = repr(v)
    return s if len(s) <= width else s[:width - 3] + "..."


def _lines(d: dict, indent: str) -> list:
    out = []
    for k, v in d.items():
        if isinstance(v, dict):
            out.append(f"{indent}{k}:")
            out += _lines(v, indent + "  ")
        else:
            out.append(f"{indent}{k}: {_short(v)}")
    return out


def describe(graph) -> str:
    """Nodes in edge order (Input first) with their standard fields and metadata, then the graph metadata."""
    nodes = graph.nodes
    succ = {k: [] for k in nodes}
    for a, b in graph.edges:
        succ[a].append(b)
    order, todo = [], [k for k, n in nodes.items() if _tname(n) == "Input"]
    while todo:
        k = todo.pop(0)
        if k not in order:
            order.append(k)
            todo += [s for s in succ[k] if s not in order]
    order += [k for k in nodes if k not in order]
    out = ["edges: " + ", ".join(f"{a} -> {b}" for a, b in graph.edges)]
    skip = {"metadata", "input_type", "output_type"}
    for k in order:
        n = nodes[k]
        fields = {f: getattr(n, f) for f in getattr(n, "__dataclass_fields__", {}) if f not in skip}
        out.append(f"node {k}: {_tname(n)}")
        out += _lines({f: _np(v) if isinstance(v, (np.ndarray, torch.Tensor)) else v for f, v in fields.items()},
                      "    ")
        if n.metadata:
            out.append("    metadata:")
            out += _lines(_py(n.metadata), "      ")
    if graph.metadata:
        out.append("graph metadata:")
        out += _lines(_py(graph.metadata), "  ")
    return "\n".join(out)


def main(argv=None) -> int:
    """python export/nir_io.py FILE.nir [--dt S] [--norse411 auto|yes|no]: list the graph and how it reads."""
    import argparse
    import sys
    p = argparse.ArgumentParser(description=main.__doc__)
    p.add_argument("path")
    p.add_argument("--dt", type=float, default=None, help="third-party graphs: time step in s")
    p.add_argument("--norse411", default="auto", choices=["auto", "yes", "no"])
    p.add_argument("--quiet", action="store_true", help="only how it reads, not the listing")
    args = p.parse_args(argv)
    try:
        graph = _read_graph(args.path)
        n411 = {"auto": None, "yes": True, "no": False}[args.norse411]
        qnet, info = qnet_from_graph(graph, dt=args.dt, norse411=n411, where=args.path)
    except InputError as e:
        print("error: " + " ".join(str(e).split()), file=sys.stderr)
        return 2
    if not args.quiet:
        print(describe(_read_graph(args.path)))
    layers = ", ".join(f"{layer.kind} {layer.n}" for layer in (*qnet.layers, qnet.readout))
    print(f"reads as ({info['origin']}, dt = {info['dt']:g} s): input {list(qnet.input_shape)} -> {layers}")
    for note in info["notes"]:
        print(f"  note: {note}")
    return 0


if __name__ == "__main__":
    import sys
    sys.exit(main())
