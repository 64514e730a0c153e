"""Writing NIR files of our networks (`qnet_to_nir`, `write_nir`).

Standard NIR primitives only (Input, Flatten, Affine / Linear, LIF / CubaLIF, LI, Output), so every NIR tool
can open the file; the exact integer semantics of docs/fixed_point.md (codes, shifts, exponents, LUT, bit
widths, rounding, overflow, mixing, the gate synapses that have no standard meaning) in each node's metadata
under one versioned key, ``metadata["ltcsn"]``; dt, the discretisation convention, producer, task and input
encoding in the graph's ``metadata["ltcsn"]``. The schema and the dt convention: docs/nir_schema.md.
"""
from pathlib import Path

import numpy as np
import torch

from ltcsn.export.nir_common import (DEFAULT_DT, SCHEMA_KEY, SCHEMA_VERSION, SPEC_VERSION, as_array, codes, exponent,
                               first_line, load_nir, mixing_of, sigmoid_of, source_frac)
from ltcsn.export.nir_schema import check_written
from ltcsn.train.quantize import model_parts
from ltcsn.sim import spec
from ltcsn.sim.integer import lif_neuron_step, ltc_neuron_step
from ltcsn.sim.neuron_program import host_reason, neuron_program
from ltcsn.sim.ops import NumpyOps
from ltcsn.sim.qnet import QAtrlif, QLif, QLtc, QNet, sends
from ltcsn.files import atomic_output
from ltcsn.sim.spec import DECAY_BITS, DECAY_ONE, STATE_BITS, WEIGHT_BITS
from ltcsn.train.errors import InputError

PRODUCER = f"ltcsn-deploy {__name__}"   # the graph metadata's producer: this module
DISCRETISATION = ("forward-euler: tau*dv/dt = (v_leak - v) + r*I integrated at the stored dt, i.e. "
                  "v[t] = (1 - dt/tau) v[t-1] + (dt/tau) (v_leak + r I[t]); feed-forward edges within a step, "
                  "recurrent edges read the previous step; reset to 0 after a strict v > v_threshold")


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


def _tau(delta, dt: float) -> np.ndarray:
    """τ = dt / δ for a per-step update fraction δ (δ = 0: no leak, τ = inf)."""
    delta = np.asarray(delta, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.where(delta > 0, dt / np.where(delta > 0, delta, 1.0), np.inf)


def _nominal_alpha(layer: QLtc, lut, fparts=None) -> np.ndarray:
    """Per-step decay fraction α for the standard τ field: constant α (ALIF / const readout), or the
    gate's value at rest (u = d = 0, zero input) for LTC-gated layers: LUT[z = bias_m] (float: σ(bias_m))."""
    if fparts is not None:
        if "alpha" in fparts:
            return as_array(fparts["alpha"]) * np.ones(layer.n)
        return spec.sigmoid(as_array(fparts["bias"]["m"]))
    if not layer.gated:
        return codes(layer.alpha) / DECAY_ONE * np.ones(layer.n)
    return NumpyOps.lut(np.asarray(lut), NumpyOps.sat(codes(layer.bias["m"]), STATE_BITS), layer.frac_bits) / DECAY_ONE


def _lif_floats(layer: QLif, fparts=None) -> dict:
    """δu, δv, v_th, bias (on v) of a LIF layer as floats: the codes' exact values, or the float model's."""
    if fparts is not None:
        return {"du": float(as_array(fparts["du"])), "dv": float(as_array(fparts["dv"])), "vth": float(fparts["vth"]),
                "bias": as_array(fparts["bias"]["v"])}
    du, dv = spec.lif_decay_fractions(int(layer.du), int(layer.dv))
    return {"du": du, "dv": dv, "vth": int(layer.vth) * 2.0 ** -spec.target_frac(layer.frac_bits, lif=True),
            "bias": codes(layer.bias_mant) * 2.0 ** (int(layer.bias_exp) - layer.frac_bits)}


def _const_synapses(consts: list, layer) -> tuple:
    """(the standard Affine bias [n]: the values the codes hold, q 2^e summed; metadata {"0", "1", ...: {q, shift,
    exponent}}) of a LIF layer's synapses from the constant source (third-party graphs' bias into a CubaLIF current;
    a model of ours has none, so a float file has none)."""
    meta, values = {}, 0.0
    for k, syn in enumerate(consts):
        e = exponent(syn, 0, layer)
        values = values + codes(syn.q)[:, 0].astype(np.float64) * 2.0**e
        meta[str(k)] = {"q": codes(syn.q, np.int8), "shift": int(syn.shift), "exponent": e}
    return values, meta


def neuron_node(layer, qnet, dt: float, fparts, meta: dict):
    """The standard neuron node of a layer (τ, r, thresholds under the dt convention) with its metadata."""
    nir = load_nir()
    n = layer.n
    ones, zeros = np.ones(n), np.zeros(n)
    if isinstance(layer, QLif):
        # Lava LIF: i = (1-δu) i + a;  v = (1-δv) v + i + bias  ==  CubaLIF integrated by forward Euler with
        # τ_syn = dt/δu, w_in = 1/δu (so δu·w_in = 1), τ_mem = dt/δv, r = 1/δv (δv·r = 1), v_leak = bias/δv.
        f = _lif_floats(layer, fparts)
        du, dv = f["du"], f["dv"]
        dv_eff = dv if dv > 0 else 2.0**-STATE_BITS   # no leak: a nominal, tiny leak keeps r and v_leak finite
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


def _step_name(fn) -> str:
    """The step function's importable name, as the equation strings cite it (e.g. ltcsn.sim.integer.ltc_neuron_step)."""
    return f"{fn.__module__}.{fn.__name__}"


def _semantics(layer) -> dict:
    if isinstance(layer, QAtrlif):
        return {"equations": "atrlif_step (docs/fixed_point.md; Lava's lava.proc.atrlif PyATRLIFModelFixed): LIF's "
                             "u, v updates; theta = wrap32(trunc12((theta - (vth<<6))*(4096-dtheta)) + (vth<<6)); "
                             "r = wrap32(trunc12(r*(4096-dr))); s = wrap32(v - r) >= theta; then r += 2*theta, "
                             "theta += theta_step<<6 where s; no reset of v",
                "rounding": "trunc12 rounds toward zero; synapses shl(q@x, shift), floor for negative shifts",
                "overflow": "u wraps to 24 bits, v saturates to 24 bits, theta and r wrap to 32 bits, a_in int32"}
    if isinstance(layer, QLif):
        return {"equations": f"{_step_name(lif_neuron_step)} (docs/fixed_point.md): u = wrap24(trunc12(u*(4096-(du+1)))"
                             " + (a_in<<6)); v = sat24(trunc12(v*(4096-dv)) + u + (bias_mant<<bias_exp)); "
                             "s = v > (vth<<6); v = 0 where s",
                "rounding": "trunc12 rounds toward zero; synapses shl(q@x, shift), floor for negative shifts",
                "overflow": "u wraps to 24 bits, v saturates to 24 bits, a_in int32"}
    sig = "PWL" if layer.sigmoid == "pwl" else "LUT"    # the gate sigmoid (docs/fixed_point.md)
    ltc = _step_name(ltc_neuron_step)
    eq = {"ltc": f"{ltc}: input-dependent decays alpha = {sig}[z_m], rho = {sig}[z_a]; adaptive threshold "
                 "theta0 + rshr(beta*b, 12); hard reset",
          "alif": f"{ltc} with constant per-neuron alpha, rho codes; adaptive threshold; hard reset",
          "readout": f"{ltc} as readout: u = sat24(rshr((4096-alpha)*u + alpha*d, 12)), no spikes"}[layer.kind]
    if sends(layer) == "u":
        eq += "; sends its membrane u after the reset (24-bit graded) to the layer above, not its spikes"
    return {"equations": eq + " (docs/fixed_point.md)",
            "rounding": "rshr = round half up; synapses shl(q@x, shift), floor for negative shifts",
            "overflow": "d, z, u saturate to 24 bits; each part's synaptic sum wraps to int32 (Lava Dense), wide "
                        "synapses (from a membrane u) shl(wrap32(2 q@x), shift - 1)"}


def qnet_to_nir(qnet: QNet, float_model=None, dt: float = DEFAULT_DT, quantized: bool = True):
    """The NIR graph of an integer network (quantized=True: standard fields hold the dequantized values,
    exactly on the integer grid) or of its float model (quantized=False: float_model required; standard
    fields hold the float weights; the metadata keeps the float gate parts and the exponents of the
    quantization plan, so `read_qnet` re-quantizes it to exactly `qnet`). Returns a nir.NIRGraph."""
    nir = load_nir()
    if not dt > 0:
        raise ValueError(f"dt must be > 0, got {dt}")
    parts = None
    if not quantized:
        if float_model is None:
            raise ValueError("quantized=False writes the float network: pass float_model")
        with torch.no_grad():
            parts = model_parts(float_model)
        if len(parts) != len(qnet.all_layers):
            raise ValueError("float_model and qnet have different numbers of layers")
    shape = tuple(int(v) for v in qnet.input_shape)
    nodes = {"input": nir.Input(input_type={"input": np.array(shape)})}
    edges = []
    prev = "input"
    if len(shape) > 1:
        nodes["input.flatten"] = nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0, end_dim=-1)
        edges.append(("input", "input.flatten"))
        prev = "input.flatten"
    for i, layer in enumerate(qnet.all_layers):
        name = spec.layer_name(i, len(qnet.all_layers))
        fp = None if parts is None else parts[i]
        if fp is not None and fp["kind"] != layer.kind:
            raise ValueError(f"{name}: float model layer is {fp['kind']}, integer layer {layer.kind}")
        if fp is not None and layer.kind in ("ltc", "alif"):
            fp = {**fp, "b0": float(float_model.cfg.b0)}
        src_frac = source_frac(qnet.all_layers, i, qnet.input_frac)
        is_lif = isinstance(layer, QLif)
        F_ = layer.frac_bits
        neuron = f"{name}.neuron"
        # ---- part d: the standard synapse nodes (a LIF layer's synapses from the constant source: the input
        # node's Affine bias, the bias into the current that NIR's Affine -> CubaLIF means)
        consts = [syn for syn in layer.syn["d"] if syn.source == "const"]
        for syn in layer.syn["d"]:
            if syn.source == "const":
                continue
            e = exponent(syn, src_frac, layer)
            smeta = {"schema_version": SCHEMA_VERSION, "role": "synapse", "layer": i, "part": "d",
                     "source": syn.source, "exponent": e, "bits": WEIGHT_BITS, "wide": bool(syn.wide)}
            if parts is None:
                w = codes(syn.q).astype(np.float64) * 2.0**e
                smeta.update({"q": codes(syn.q, np.int8), "shift": int(syn.shift)})
            else:
                w = as_array(fp["syn"]["d"][syn.source], np.float32)
            smeta = {SCHEMA_KEY: smeta}
            if syn.source == "input":
                sname = f"{name}.syn_in"
                if is_lif and consts:
                    b, smeta[SCHEMA_KEY]["const"] = _const_synapses(consts, layer)
                    nodes[sname] = nir.Affine(weight=w, bias=b, metadata=smeta)
                elif is_lif:
                    nodes[sname] = nir.Linear(weight=w, metadata=smeta)
                else:
                    b = (codes(layer.bias["d"]) * 2.0**-F_) if parts is None else as_array(fp["bias"]["d"], np.float32)
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
            atrlif = isinstance(layer, QAtrlif)
            if parts is None:
                meta.update({"du": int(layer.du), "dv": int(layer.dv), "vth": int(layer.vth),
                             "bias_mant": codes(layer.bias_mant), "bias_exp": int(layer.bias_exp),
                             "bits": {"du": DECAY_BITS, "dv": DECAY_BITS,
                                      "vth": spec.ATRLIF_THETA_BITS if atrlif else spec.LIF_VTH_BITS,
                                      "bias_mant": spec.LIF_BIAS_MANT_BITS, "bias_exp": spec.LIF_BIAS_EXP_BITS,
                                      "u": STATE_BITS, "v": STATE_BITS}})
                if atrlif:
                    meta.update({"dtheta": int(layer.dtheta), "dr": int(layer.dr),
                                 "theta_step": int(layer.theta_step)})
                    meta["bits"].update({"dtheta": DECAY_BITS, "dr": DECAY_BITS, "theta_step": spec.ATRLIF_THETA_BITS,
                                         "theta": spec.INT32_BITS, "r": spec.INT32_BITS})
            else:
                meta["bias_exp"] = int(layer.bias_exp)
                meta["float"] = {"du": float(as_array(fp["du"])), "dv": float(as_array(fp["dv"])),
                                 "vth": float(fp["vth"]),
                                 "bias_v": as_array(fp["bias"]["v"], np.float32) * np.ones(layer.n, np.float32)}
                if atrlif:
                    meta["float"].update({"dtheta": float(as_array(fp["dtheta"])), "dr": float(as_array(fp["dr"])),
                                          "theta_step": float(fp["theta_step"])})
        else:
            meta.update({"gated": bool(layer.gated), "spiking": bool(layer.spiking), "mixing": layer.mixing,
                         "sigmoid": layer.sigmoid, "output": sends(layer)})
            reason = host_reason(layer)
            if reason is None:
                prog = neuron_program(layer)
                meta["program"] = {"length": prog.length, "state_words": prog.state_words,
                                   "param_words": prog.param_words}
            else:
                meta["host_reason"] = reason
            gate = {}
            for part, syns in layer.syn.items():
                if part == "d":
                    continue
                gate[part] = {}
                for syn in syns:
                    g = {"exponent": exponent(syn, src_frac, layer), "wide": bool(syn.wide)}
                    if parts is None:
                        g.update({"q": codes(syn.q, np.int8), "shift": int(syn.shift)})
                    else:
                        g["w"] = as_array(fp["syn"][part][syn.source], np.float32)
                    gate[part][syn.source] = g
            if gate:
                meta["gate"] = gate
            mix = {}
            for part in layer.mix:
                m = {"exponent": int(layer.mix_shift[part])}
                if parts is None:
                    m["q"] = codes(layer.mix[part], np.int8)
                else:
                    m["w"] = as_array(fp["mix"][part], np.float32)   # the full matrix; diag mode keeps its diagonal
                mix[part] = m
            if mix:
                meta["mix"] = mix
            if parts is None:
                meta["bias"] = {part: codes(c) for part, c in layer.bias.items()}
                for k in ("alpha", "rho"):
                    if getattr(layer, k) is not None:
                        meta[k] = codes(getattr(layer, k))
                if layer.spiking:
                    meta.update({"theta0": int(layer.theta0), "beta": int(layer.beta)})
                meta["bits"] = {"weights": WEIGHT_BITS, "decay": DECAY_BITS, "state": STATE_BITS,
                                "beta_frac": DECAY_BITS}
            else:
                fl = {"bias": {part: as_array(c, np.float32) for part, c in fp["bias"].items() if part != "d"}}
                for k in ("alpha", "rho"):
                    if k in fp:
                        fl[k] = as_array(fp[k], np.float32)
                if layer.spiking:
                    fl.update({"b0": float(float_model.cfg.b0), "beta": float(float_model.cfg.beta)})
                meta["float"] = {k: v for k, v in fl.items() if not (isinstance(v, dict) and not v)}
        nodes[neuron] = neuron_node(layer, qnet, dt, fp, {SCHEMA_KEY: meta})
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
        "n_layers": len(qnet.layers), "mixing": mixing_of(qnet), "sigmoid": sigmoid_of(qnet),
        "input": {"shape": np.array(shape), "frac": int(qnet.input_frac), "range": np.array([lo, hi]),
                  "encoding": "x_int = clip(round(x * 2^frac), range[0], range[1])",
                  "kind": "binary spikes" if spec.is_binary_input(qnet.input_frac, (lo, hi))
                  else f"graded {spec.INPUT_BITS}-bit"},
        "lut": codes(qnet.lut),
        "task": {k: v for k, v in dict(qnet.task or {}).items() if v is not None},
    }
    if not gmeta["task"]:
        del gmeta["task"]
    graph = nir.NIRGraph(nodes=nodes, edges=edges, metadata={SCHEMA_KEY: _clean(gmeta, "graph.ltcsn"),
                                                             "dt": float(dt)}, type_check=True)
    check_written(graph)
    return graph


def write_nir(path, graph) -> Path:
    """nir.write to a temporary file next to `path`, check that nir.read opens it, then rename: an error
    leaves no file (and no half-written one) at `path`. Raises InputError on failure."""
    nir = load_nir()
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
    try:
        with atomic_output(path) as tmp:
            nir.write(tmp, graph)
            nir.read(tmp)
    except Exception as e:
        raise InputError(f"{path}: could not write NIR ({type(e).__name__}: {first_line(e)})") from None
    return path
