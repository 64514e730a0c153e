"""Reading NIR files (`read_qnet`, `read_nir`, `qnet_from_graph`): our own files come back as exactly the QNet
that was written (quantized files: from the integer codes; float files: through the quantizer, under the
stored plan); third-party graphs go to export/nir_foreign.py.
"""
import math
from pathlib import Path

import numpy as np
import torch

from ltcsn.export.nir_common import (SCHEMA_KEY, SCHEMA_VERSION, NirError,
                                     as_array, codes, exponent, first_line, load_nir, mixing_of, plain, sigmoid_of,
                                     received_frac, source_frac, tname)
from ltcsn.export.nir_foreign import read_foreign
from ltcsn.export.nir_graph import drop_batch_dims, input_shape, structure
from ltcsn.export.nir_schema import check_file, check_standard_fields
from ltcsn.train.quantize import QuantizationError, quantize_parts, target_profile
from ltcsn.sim import spec
from ltcsn.sim.bounds import width_errors
from ltcsn.sim.neuron_program import host_reason, neuron_program
from ltcsn.sim.qnet import SIGMOIDS, QAtrlif, QLif, QLtc, QNet, QSynapse

NIR_TYPES = {"Input", "Output", "Affine", "Linear", "Scale", "Delay", "Threshold", "I", "IF", "LI", "LIF",
             "CubaLI", "CubaLIF", "Conv1d", "Conv2d", "Flatten", "SumPool2d", "AvgPool2d", "NIRGraph"}


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
            t = plain(group["type"][()]) if "type" in group else None
            if t is None:
                raise NirError(f"{path}: node '{prefix or '/'}' has no type")
            if t not in NIR_TYPES:
                raise NirError(f"{path}: node '{prefix}' has unknown type '{t}' (not a NIR primitive; "
                               f"nir.read cannot open this file)")
            if t != "NIRGraph":
                _check_node_group(group, prefix, path)
            if t == "NIRGraph":
                if "nodes" not in group or "edges" not in group:
                    raise NirError(f"{path}: graph '{prefix or '/'}' lacks nodes or edges")
                names = set(group["nodes"])
                edges = group["edges"][()] if isinstance(group["edges"], h5py.Dataset) else None
                if edges is None or edges.dtype.kind not in "OSU" or (edges.size and edges.shape[-1] != 2):
                    raise NirError(f"{path}: graph '{prefix or '/'}' edges are not pairs of node names")
                unknown = sorted({plain(v) for v in edges.reshape(-1)} - names)
                if unknown:
                    raise NirError(f"{path}: graph '{prefix or '/'}' has an edge to or from '{unknown[0]}', which is "
                                   f"not one of its nodes")
                for k, sub in group["nodes"].items():
                    scan(sub, f"{prefix}.{k}" if prefix else k)

        try:
            scan(f["node"], "")
        except NirError:
            raise
        except Exception as e:      # a damaged file: h5py objects of unexpected kinds
            raise NirError(f"{path}: not a readable NIR file ({type(e).__name__}: {first_line(e)})") from None


def _check_node_group(group, name: str, path: Path) -> None:
    """A node's HDF5 group as nir.read takes it: its fields numeric datasets, its metadata a group (nir.read fails
    with bare AttributeErrors on anything else)."""
    import h5py
    for key, item in group.items():
        if key == "type" or (key in ("input_type", "output_type") and isinstance(item, h5py.Group)):
            continue
        if key == "metadata":
            if not isinstance(item, h5py.Group):
                raise NirError(f"{path}: node '{name}' metadata is not a group of fields")
        elif not isinstance(item, h5py.Dataset) or item.dtype.kind not in ("iu" if key == "shape" else "biuf"):
            raise NirError(f"{path}: node '{name}' field {key}: expected {'integers' if key == 'shape' else 'numbers'}"
                           f", got {'a group' if isinstance(item, h5py.Group) else item.dtype}")


_GRAPH_ERRORS = (ValueError, KeyError, AssertionError, TypeError, IndexError, NotImplementedError, OSError)


def read_graph(path):
    """The NIR file as a nir.NIRGraph, not yet type checked (`qnet_from_graph` checks, after dropping batch
    dimensions)."""
    nir = load_nir()
    path = Path(path)
    _prescan(path)
    try:
        return nir.read(path, type_check=False)
    except _GRAPH_ERRORS as e:
        raise NirError(f"{path}: not a consistent NIR graph ({first_line(e) or type(e).__name__})") from None


def _type_check(graph, where: str) -> None:
    try:
        graph.infer_types()
        graph.check_types()
    except _GRAPH_ERRORS as e:
        raise NirError(f"{where}: not a consistent NIR graph ({first_line(e) or type(e).__name__})") from None


def read_qnet(path, dt: float = None, norse411: bool = None, x_sample=None,
              producer: str = None, weight_bits: int = None) -> QNet:
    """Any of our NIR files, or a third-party NIR graph, as a QNet for `sim/` (see `read_nir`)."""
    return read_nir(path, dt=dt, norse411=norse411, x_sample=x_sample, producer=producer, weight_bits=weight_bits)[0]


def read_nir(path, dt: float = None, norse411: bool = None, x_sample=None, producer: str = None,
             weight_bits: int = None, target: str = None):
    """NIR file -> (QNet, info). Raises InputError (NirError) with one line on anything it cannot use.

    Our files (graph metadata "ltcsn"): exactly the network that was written; dt must be None or the stored dt.
    Third-party graphs (export/nir_producers.py, docs/nir_schema.md): dt = the simulation step in s (None: the
    graph's stored dt, else its producer's convention; refused when neither decides and the reading depends on
    dt); producer: a name of export.nir_producers.PRODUCERS, or None to recognise it; norse411 = None undoes
    norse's τ·dt export bug on norse graphs (some τ < dt/2), True / False forces it; x_sample: float inputs
    [N, T, ...] for a graded input encoding (default: binary spikes); weight_bits: 8 (None) or 15 (each weight
    matrix as two synapses, `train.quantize.synapse_codes`); target: the chip profile (`train.quantize.TARGETS`)
    a float network is quantized under (None: a float file of ours under its stored plan, a third-party graph
    under the default profile); integer files keep their codes.
    info: {"origin": "ltcsn" | "third-party", "dt", "producer", "reading" (the lines every CLI prints),
    "norse411", "notes", "parts", "plan", "report", ...}.
    """
    graph = read_graph(path)
    return qnet_from_graph(graph, dt=dt, norse411=norse411, x_sample=x_sample, where=str(path),
                           producer=producer, weight_bits=weight_bits, target=target)


def qnet_from_graph(graph, dt: float = None, norse411: bool = None, x_sample=None, where: str = "graph",
                    producer: str = None, weight_bits: int = None, target: str = None):
    """`read_nir` on an in-memory nir.NIRGraph (batch dimensions of its Input / Output are dropped in place)."""
    nir = load_nir()
    if not isinstance(graph, nir.NIRGraph):
        raise NirError(f"{where}: not a NIR graph (a single {type(graph).__name__} node)")
    notes = drop_batch_dims(graph)
    _type_check(graph, where)
    _check_numbers(graph, where)
    gmeta = plain(graph.metadata or {})
    ours = SCHEMA_KEY in gmeta or any(SCHEMA_KEY in (n.metadata or {}) for n in graph.nodes.values())
    if ours:
        if weight_bits is not None:
            raise NirError(f"{where}: the file holds our integer network, codes and all; --weight-bits applies to "
                           f"graphs from other tools")
        qnet, info = _read_ours(graph, gmeta, dt, where, target)
        errors = width_errors(qnet)
        if errors:
            raise NirError(f"{where}: {errors[0]} (docs/fixed_point.md)"
                           + (f"; {len(errors) - 1} more such value(s)" if len(errors) > 1 else ""))
        return qnet, info
    return read_foreign(graph, gmeta, dt, norse411, x_sample, where, producer=producer, notes=notes,
                        weight_bits=weight_bits or spec.WEIGHT_BITS, target=target)


INF_MEANS_SOMETHING = {"tau", "tau_syn", "tau_mem", "v_threshold"}


def _nonfinite(value, path: str, inf_ok: bool = False):
    """The first 'path' (field, metadata key) in value holding NaN (or, where infinite means nothing, Inf), or None.
    tau = inf is a neuron without leak (NIR's own convention) and v_threshold = inf one that never spikes."""
    if isinstance(value, dict):
        for k, v in value.items():
            bad = _nonfinite(v, f"{path}.{k}", str(k) in INF_MEANS_SOMETHING)
            if bad:
                return bad
        return None
    if isinstance(value, (list, tuple)):
        value = np.asarray(value) if all(isinstance(v, (int, float, np.number)) for v in value) else None
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, (float, np.floating)) or (isinstance(value, np.ndarray) and value.dtype.kind == "f"):
        a = np.asarray(value, dtype=np.float64)
        if np.isnan(a).any():
            return f"{path} holds NaN"
        if np.isinf(a).any() and not inf_ok:
            return f"{path} holds Inf"
    return None


def _check_numbers(graph, where: str):
    """Refuse NaN (and meaningless Inf) in any node field or metadata, and a non-finite or non-positive dt."""
    for name, node in graph.nodes.items():
        for f in getattr(node, "__dataclass_fields__", {}):
            if f in ("input_type", "output_type"):
                continue
            value = plain(getattr(node, f)) if f == "metadata" else getattr(node, f)
            bad = _nonfinite(value, f"node '{name}' {f}", f in INF_MEANS_SOMETHING)
            if bad:
                raise NirError(f"{where}: {bad}")
        tau = getattr(node, "tau", None)
        if tau is not None and (np.asarray(tau, dtype=np.float64) <= 0).any():
            raise NirError(f"{where}: node '{name}' tau has a value <= 0 (a time constant is > 0)")
    bad = _nonfinite(plain(graph.metadata or {}), "graph metadata")
    if bad:
        raise NirError(f"{where}: {bad}")
    for key in ("dt",):
        for meta in (plain(graph.metadata or {}), plain(graph.metadata or {}).get(SCHEMA_KEY, {})):
            if isinstance(meta, dict) and key in meta:
                try:
                    v = float(meta[key])
                except (TypeError, ValueError):
                    raise NirError(f"{where}: graph metadata {key} = {meta[key]!r} is not a number") from None
                if not (math.isfinite(v) and v > 0):
                    raise NirError(f"{where}: graph metadata {key} = {v} (a time step is finite and > 0)")


# ================================================================ our files
def _meta(node, name: str, where: str, role: str) -> dict:
    m = plain(node.metadata or {}).get(SCHEMA_KEY)
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


def _read_ours(graph, gmeta: dict, dt, where: str, target: str = None):
    g = gmeta.get(SCHEMA_KEY)
    if not isinstance(g, dict):
        raise NirError(f"{where}: nodes carry '{SCHEMA_KEY}' metadata but the graph's is missing")
    st = structure(graph, where)
    check_file(graph, g, st["layers"], int(np.prod(input_shape(graph, st["input"], where))), where)
    if dt is not None and not math.isclose(float(dt), float(g["dt"]), rel_tol=1e-9):
        raise NirError(f"{where}: the file was exported at dt = {g['dt']:g} s; dt = {dt:g} does not apply")
    quantized = bool(g["quantized"])
    inp = g["input"]
    in_shape = tuple(int(v) for v in np.atleast_1d(_need(inp, "shape", "(graph input)", where)))
    if in_shape != input_shape(graph, st["input"], where):
        raise NirError(f"{where}: inconsistent shapes: Input node {list(input_shape(graph, st['input'], where))} "
                       f"vs metadata {list(in_shape)}")
    input_frac = int(_need(inp, "frac", "(graph input)", where))
    input_range = tuple(int(v) for v in np.atleast_1d(_need(inp, "range", "(graph input)", where)))
    lut = codes(g["lut"])
    if not np.array_equal(lut, spec.sigmoid_lut()):
        raise NirError(f"{where}: the stored sigmoid LUT differs from docs/fixed_point.md's")
    n_layers = len(st["layers"])
    if n_layers < 1 or st["tail"] != [[]]:
        raise NirError(f"{where}: not the structure this exporter writes (layers ... readout -> Output)")
    layers, parts, lps = [], [], []
    n_prev, prev_output, prev_frac = int(np.prod(in_shape)), "s", 0
    for i, (name, srcs) in enumerate(st["layers"]):
        node = graph.nodes[name]
        m = _meta(node, name, where, "neuron")
        if int(_need(m, "layer", name, where)) != i:
            raise NirError(f"{where}: node '{name}' says layer {m['layer']}, but is layer {i} by its edges")
        kind = _need(m, "kind", name, where)
        readout = i == n_layers - 1
        if readout != (kind == "readout"):
            raise NirError(f"{where}: node '{name}' of kind {kind!r} at position {i} of {n_layers}")
        want = {"lif": "CubaLIF", "atrlif": "CubaLIF", "readout": "LI"}.get(kind, "LIF")
        if tname(node) != want:
            raise NirError(f"{where}: node '{name}' of kind {kind!r} is a {tname(node)}, expected {want}")
        output = m.get("output", "s")
        if output not in ("s", "u") or (output == "u" and (kind not in ("ltc", "alif") or readout)):
            raise NirError(f"{where}: node '{name}' of kind {kind!r} cannot send {output!r} (spiking LTC / ALIF "
                           f"layers send 's' or their membrane 'u')")
        src_frac = received_frac(prev_output if i else None, prev_frac, input_frac)
        n = int(_need(m, "n", name, where))
        syns = []
        for source, paths in (("input", srcs["input"]), ("self", srcs["self"])):
            for path in paths:
                sname = path[-1] if path else None
                if sname is None or tname(graph.nodes[sname]) not in ("Affine", "Linear"):
                    raise NirError(f"{where}: '{name}' is fed by a path without an Affine/Linear synapse node")
                for extra in path[:-1]:
                    if tname(graph.nodes[extra]) != "Flatten" or i or source != "input":
                        raise NirError(f"{where}: unexpected node '{extra}' before synapse '{sname}'")
                sm = _meta(graph.nodes[sname], sname, where, "synapse")
                if sm.get("source") != source or int(sm.get("layer", -1)) != i or sm.get("part") != "d":
                    raise NirError(f"{where}: synapse '{sname}' metadata (layer {sm.get('layer')}, "
                                   f"{sm.get('source')}) does not match its edges (layer {i}, {source})")
                w = as_array(graph.nodes[sname].weight)
                if w.shape != (n, n_prev if source == "input" else n):
                    raise NirError(f"{where}: inconsistent shapes: '{sname}' weight {list(w.shape)} for a layer "
                                   f"of {n} fed by {n_prev if source == 'input' else n}")
                syns.append((source, sname, sm, graph.nodes[sname]))
        if [s[0] for s in syns].count("input") != 1 or [s[0] for s in syns].count("self") > 1:
            raise NirError(f"{where}: '{name}' needs one input synapse and at most one recurrent one")
        syns.sort(key=lambda s: s[0] != "input")
        if kind in spec.LAVA_NEURON_KINDS:
            syns += _const_synapses(syns[0], quantized, where)
        for source, sname, sm, _ in syns:
            if bool(sm.get("wide", False)) != (source == "input" and prev_output == "u"):
                raise NirError(f"{where}: synapse '{sname}' is {'' if sm.get('wide') else 'not '}wide, but its "
                               f"source sends {'u' if source == 'input' and prev_output == 'u' else 'spikes'}")
        if quantized:
            layers.append(_q_layer(name, m, syns, src_frac, where))
        else:
            p, lp = _f_layer(name, m, syns, src_frac, where)
            if prev_output == "u":
                if not readout:
                    raise NirError(f"{where}: '{name}' reads a membrane u; only a readout can (a membrane readout)")
                p["reads"] = "u"
            parts.append(p)
            lps.append(lp)
        n_prev, prev_output, prev_frac = n, output, int(m.get("frac_bits", 0))
    task = dict(g.get("task", {}))      # checked by the schema; rebuilt by `train.tasks.task_from_record`
    info = {"origin": "ltcsn", "dt": float(g["dt"]), "norse411": False, "notes": [], "quantized_file": quantized,
            "reading": [f"producer: this project ({g.get('producer')}, schema {SCHEMA_KEY} v{SCHEMA_VERSION})",
                        f"read at dt = {float(g['dt']):g} s: stored in the graph"],
            "layers": [k for k, _ in st["layers"]], "producer": g.get("producer")}
    if quantized:
        qnet = QNet(input_shape=in_shape, input_frac=input_frac, input_range=input_range, layers=layers[:-1],
                    readout=layers[-1], lut=lut, task=task)
        check_standard_fields(graph, qnet, None, float(g["dt"]), info["layers"], None, where)
        info.update({"parts": None, "plan": _plan_of(qnet), "report": None})
        return qnet, info
    plan = {"mixing": g["mixing"], "sigmoid": _sigmoid(g, "(graph)", where), "input_frac": input_frac,
            "input_range": list(input_range), "layers": lps}
    fl = [p for p in parts if p["kind"] in ("ltc", "alif")]
    b0 = fl[0].pop("_b0") if fl else 0.1
    beta = fl[0].pop("_beta") if fl else 1.8
    for p in fl:
        p.pop("_b0", None)
        p.pop("_beta", None)
    if target is not None:      # quantized anew under the target's profile (the stored plan is another's)
        info["reading"].append(f"quantized for --target {target} (not under the file's stored plan)")
        how = dict(encoding=(input_frac, input_range), **target_profile(target))
    else:
        how = {"plan": plan}
    try:
        qnet, plan, report = quantize_parts(parts, in_shape, task=task, b0=b0, beta=beta, **how)
    except QuantizationError as e:
        raise NirError(f"{where}: {e}") from None
    check_standard_fields(graph, qnet, parts, float(g["dt"]), info["layers"], b0, where)
    info.update({"parts": parts, "plan": plan, "report": report})
    return qnet, info


def _const_synapses(input_syn: tuple, quantized: bool, where: str) -> list:
    """A LIF layer's synapses from the constant source (a bias into its current; integer files only): kept in its
    input synapse node's metadata "const" ({"0": {q, shift, exponent}, ...}), their sum the node's standard Affine
    bias. Returns [("const", name, metadata, node with .weight [n, 1])] as the other synapses."""
    from types import SimpleNamespace
    _, sname, sm, node = input_syn
    consts = [dict(c) for _, c in sorted(dict(sm.get("const", {})).items())]
    bias = as_array(node.bias).reshape(-1) if tname(node) == "Affine" else np.zeros(0)
    if not consts:
        if np.any(bias != 0):
            raise NirError(f"{where}: node '{sname}': an Affine bias into a LIF current without its {SCHEMA_KEY} "
                           f"metadata 'const'")
        return []
    if not quantized:
        raise NirError(f"{where}: node '{sname}': a float file has no synapse from the constant source")
    weights = [np.asarray(_need(c, "q", sname, where), np.float64) * 2.0 ** int(_need(c, "exponent", sname, where))
               for c in consts]
    if not np.array_equal(sum(w.reshape(-1) for w in weights), bias):
        raise NirError(f"{where}: node '{sname}': the standard bias differs from its integer codes (metadata "
                       f"'const')")
    return [("const", f"{sname}.const{k}", c, SimpleNamespace(weight=w))
            for k, (c, w) in enumerate(zip(consts, weights))]


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
    if np.abs(q).max(initial=0) > spec.WEIGHT_MAX:
        raise NirError(f"{where}: node '{sname}': weight codes outside [-{spec.WEIGHT_MAX}, {spec.WEIGHT_MAX}]")
    shift = int(_need(sm, "shift", sname, where))
    e = int(_need(sm, "exponent", sname, where))
    if e != spec.synapse_exponent(shift, src_frac if source == "input" else 0, target):
        raise NirError(f"{where}: node '{sname}': exponent {e} and shift {shift} disagree")
    if std_weight is not None and not np.array_equal(as_array(std_weight), q * 2.0**e):
        raise NirError(f"{where}: node '{sname}': the standard weight differs from its integer codes q*2^e "
                       f"(edited by another tool?)")
    return QSynapse(q, shift, source, wide=bool(sm.get("wide", False)))


def _q_layer(name, m, syns, src_frac, where):
    kind = m["kind"]
    n = int(m["n"])
    F_ = int(_need(m, "frac_bits", name, where))
    target = spec.target_frac(F_, lif=kind in spec.LAVA_NEURON_KINDS)
    if kind in spec.LAVA_NEURON_KINDS:
        syn = {"d": [_q_synapse(sm, sname, tuple(as_array(sn.weight).shape), src_frac, target, src, where, sn.weight)
                     for src, sname, sm, sn in syns]}
        codes = dict(n=n, syn=syn, du=int(_need(m, "du", name, where)), dv=int(_need(m, "dv", name, where)),
                     vth=int(_need(m, "vth", name, where)), bias_mant=_arr(m, "bias_mant", n, name, where),
                     bias_exp=int(_need(m, "bias_exp", name, where)), frac_bits=F_)
        if kind == "lif":
            return QLif(**codes)
        return QAtrlif(**codes, **{k: int(_need(m, k, name, where)) for k in ("dtheta", "dr", "theta_step")})
    bias = {part: _arr(m["bias"], part, n, name, where) for part in _need(m, "bias", name, where)}
    if "d" not in bias:
        raise NirError(f"{where}: node '{name}': {SCHEMA_KEY} metadata lacks bias.d")
    syn = {"d": []}
    for src, sname, sm, sn in syns:
        syn["d"].append(_q_synapse(sm, sname, tuple(as_array(sn.weight).shape), src_frac, target, src, where,
                                   sn.weight))
        if tname(sn) == "Affine" and not np.array_equal(as_array(sn.bias), bias["d"] * 2.0**-F_):
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
                 mixing=str(_need(m, "mixing", name, where)), frac_bits=F_, output=m.get("output", "s"),
                 sigmoid=_sigmoid(m, name, where))
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
    if "program" in m:
        prog = neuron_program(layer) if host_reason(layer) is None else None
        stored = dict(m["program"])
        if prog is None or {k: stored.get(k) for k in ("length", "state_words", "param_words")} != {
                "length": prog.length, "state_words": prog.state_words, "param_words": prog.param_words}:
            raise NirError(f"{where}: node '{name}': its program metadata {stored} does not match the layer's "
                           f"neuron program ({'none: ' + host_reason(layer) if prog is None else prog.length})")
    return layer


def _sigmoid(m: dict, name: str, where: str) -> str:
    """A layer's (or the graph's) gate sigmoid; files of spec version 2 carry none: the LUT."""
    sigmoid = str(m.get("sigmoid", "lut"))
    if sigmoid not in SIGMOIDS:
        raise NirError(f"{where}: node '{name}': sigmoid {sigmoid!r}, expected one of {list(SIGMOIDS)}")
    return sigmoid


def _f_layer(name, m, syns, src_frac, where):
    """Float parts and plan entry of one layer of our float file."""
    kind = m["kind"]
    n = int(m["n"])
    fl = _need(m, "float", name, where)
    lp = {"syn": {"d": {}}, "mix": {}, "src_frac": src_frac}
    if kind in ("lif", "atrlif"):
        lp["frac_bits"] = int(_need(m, "frac_bits", name, where))
        if "bias_exp" in m:     # the plan's bias exponent (netx's fixed 6); files before it: the quantizer's rule
            lp["bias_exp"] = int(m["bias_exp"])
    d = {}
    for src, sname, sm, sn in syns:
        d[src] = torch.from_numpy(np.array(sn.weight))
        lp["syn"]["d"][src] = int(_need(sm, "exponent", sname, where))
    if kind in ("lif", "atrlif"):
        # du, dv (dtheta, dr) were float32 scalars (sigmoids of the model's logits), stored exactly as float64
        p = {"kind": kind, "syn": {"d": d},
             "bias": {"v": torch.from_numpy(_arr(fl, "bias_v", n, name, where, np.float32))},
             **{k: torch.tensor(np.float32(_need(fl, k, name, where)))
                for k in ("du", "dv", *(("dtheta", "dr") if kind == "atrlif" else ()))},
             "vth": float(_need(fl, "vth", name, where))}
        if kind == "atrlif":
            p["theta_step"] = float(_need(fl, "theta_step", name, where))
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
    for i, layer in enumerate(qnet.all_layers):
        src_frac = source_frac(qnet.all_layers, i, qnet.input_frac)
        lp = {"syn": {part: {s.source: exponent(s, src_frac, layer) for s in syns}
                      for part, syns in layer.syn.items()},
              "mix": {} if isinstance(layer, QLif) else {p: int(e) for p, e in layer.mix_shift.items()},
              "src_frac": src_frac}
        if isinstance(layer, QLif):
            lp["frac_bits"] = int(layer.frac_bits)
        layers.append(lp)
    return {"mixing": mixing_of(qnet), "sigmoid": sigmoid_of(qnet), "input_frac": int(qnet.input_frac),
            "input_range": [int(v) for v in qnet.input_range], "layers": layers}
