"""The `ltcsn` metadata of our NIR files as one declarative schema (docs/nir_schema.md), used by the writer (what it
writes must fit: `check_written`) and the reader (`check_file`, before any field is used), and the rule that every
standard field of a neuron node is what the writer derives from the codes (`check_standard_fields`).

Ranges are the widths of docs/fixed_point.md (sim/spec.py); exponents, sizes and fraction bits get bounds that keep
every shift and power of two defined. `Info` fields are informational: written, type-checked, never used.
"""
import numpy as np

from ltcsn.export.nir_common import SCHEMA_KEY, SCHEMA_VERSION, NirError, as_array, plain, tname
from ltcsn.schema import Arr, Bool, Float, Info, Int, Opt, Rec, SchemaError, Str, check, is_int
from ltcsn.sim import spec
from ltcsn.sim.bounds import SHIFT_RANGE, STATE_MAX_FRAC
from ltcsn.sim.qnet import SIGMOIDS
from ltcsn.train.checkpoint import EXPONENT
from ltcsn.train.tasks import TASK_RECORD

MIXINGS = ("dense", "diag")
KINDS = ("ltc", "alif", "readout", *spec.LAVA_NEURON_KINDS)
MAX_LAYERS = 1024
MAX_NEURONS = 1 << 20            # per layer
FRAC_BITS = {"ltc": Int(0, STATE_MAX_FRAC), "lif": Int(spec.LIF_A_IN_SHIFT, 62)}   # exact ranges: sim/bounds.py
DECAY = Int(0, spec.DECAY_ONE - 1)
CODE = spec.WEIGHT_MAX
STATE = spec.STATE_MAX

# ------------------------------------------------------------------------------------------------ the graph
GRAPH = Rec({
    "schema_version": Int(choices=(SCHEMA_VERSION,)),
    "producer": Info(Str()), "nir_version": Info(Str()), "spec": Info(Str()),
    "spec_version": Int(choices=spec.READABLE_SPEC_VERSIONS),
    "quantized": Bool(),
    "dt": Float(0, 1e6, lo_open=True),
    "time_unit": Info(Str()), "discretisation": Info(Str()), "timing": Info(Str()),
    "n_layers": Int(0, MAX_LAYERS),
    "mixing": Str(MIXINGS),
    "sigmoid": Opt(Str(SIGMOIDS)),              # spec version 2 files: none (the LUT)
    "input": Rec({"shape": Arr("int", (None,), 1, MAX_NEURONS), "frac": Int(-32, 32),
                  "range": Arr("int", (2,), spec.INPUT_RANGE_SIGNED[0], spec.INPUT_RANGE_UNSIGNED[1]),
                  "encoding": Info(Str()), "kind": Info(Str())}),
    "lut": Arr("int", (spec.LUT_SIZE,), 0, spec.DECAY_ONE),
    "task": Opt(TASK_RECORD),
})

# ------------------------------------------------------------------------------------------------ nodes
_NODE = {"schema_version": Int(choices=(SCHEMA_VERSION,)), "layer": Int(0, MAX_LAYERS)}


def _synapse(quantized: bool, shape) -> Rec:
    """A synapse: the standard node's metadata (shape "weight": its weight's), or a gate synapse in a neuron's."""
    codes = {"q": Arr("int", shape, -CODE, CODE), "shift": Int(*SHIFT_RANGE)} if quantized else \
        {"w": Arr("float", shape)}
    return Rec({"exponent": EXPONENT, "wide": Opt(Bool()), **codes})


# A LIF layer's synapses from the constant source (a third-party graph's bias into a CubaLIF current: the Affine
# bias of its input synapse; --weight-bits 15 splits it in two): {"0", "1": {q [outputs, 1], shift, exponent}}
CONST_SYNAPSES = Rec({str(k): Opt(Rec({"q": Arr("int", ("outputs", 1), -CODE, CODE), "shift": Int(*SHIFT_RANGE),
                                       "exponent": EXPONENT})) for k in range(2)})


def synapse_meta(quantized: bool) -> Rec:
    """A standard synapse node's metadata (context: weight, its weight's shape; outputs, its rows)."""
    s = _synapse(quantized, "weight")
    if quantized:
        s.fields["const"] = Opt(CONST_SYNAPSES)
    else:
        s.fields.pop("w")          # a float file's weight is the standard field itself
    return Rec({**_NODE, "role": Str(("synapse",)), "part": Str(("d",)), "source": Str(("input", "self")),
                "bits": Info(Int()), **s.fields})


def _parts(spec_of) -> Rec:
    """{m, a} of a gated layer (either may be absent)."""
    return Rec({part: Opt(spec_of) for part in ("m", "a")})


def neuron_meta(quantized: bool, kind: str) -> Rec:
    """The metadata of a neuron node of this kind (context: n_in, the size of the layer's input)."""
    head = {**_NODE, "role": Str(("neuron",)), "kind": Str(KINDS), "n": Int(1, MAX_NEURONS),
            "frac_bits": FRAC_BITS["lif" if kind in spec.LAVA_NEURON_KINDS else "ltc"],
            "equations": Info(Str()), "rounding": Info(Str()), "overflow": Info(Str()), "bits": Info(Rec(open=True))}
    vector = Arr("int" if quantized else "float", ("n",))
    if kind in spec.LAVA_NEURON_KINDS:
        atrlif = kind == "atrlif"
        vth_max = spec.ATRLIF_THETA_MAX if atrlif else spec.LIF_VTH_MAX
        if quantized:
            return Rec({**head, "du": DECAY, "dv": DECAY, "vth": Int(0, vth_max),
                        "bias_mant": Arr("int", ("n",), spec.LIF_BIAS_MANT_MIN, spec.LIF_BIAS_MANT_MAX),
                        "bias_exp": Int(0, spec.LIF_BIAS_EXP_MAX),
                        **({"dtheta": DECAY, "dr": DECAY, "theta_step": Int(0, vth_max)} if atrlif else {})})
        fl = {"du": Float(0, 1, lo_open=True), "dv": Float(0, 1), "vth": Float(0, 1e12), "bias_v": Arr("float", ("n",)),
              **({"dtheta": Float(0, 1), "dr": Float(0, 1), "theta_step": Float(0, 1e12)} if atrlif else {})}
        return Rec({**head, "bias_exp": Opt(Int(0, spec.LIF_BIAS_EXP_MAX)), "float": Rec(fl)})
    sources = Rec({"input": Opt(_synapse(quantized, ("n", "n_in"))), "self": Opt(_synapse(quantized, ("n", "n")))})
    mix = Rec({"exponent": Int(*SHIFT_RANGE), "q": Arr("int", "mix", -CODE, CODE)}) if quantized else \
        Rec({"exponent": Int(*SHIFT_RANGE), "w": Arr("float", ("n", "n"))})
    body = {"gated": Bool(), "spiking": Bool(), "mixing": Str(MIXINGS), "sigmoid": Opt(Str(SIGMOIDS)),
            "output": Opt(Str(("s", "u"))), "host_reason": Info(Str()),
            "program": Opt(Rec({k: Int(0, 1 << 20) for k in ("length", "state_words", "param_words")})),
            "gate": Opt(_parts(sources)), "mix": Opt(_parts(mix))}
    if quantized:
        body.update({"bias": Rec({"d": Arr("int", ("n",), -STATE, STATE), "m": Opt(Arr("int", ("n",), -STATE, STATE)),
                                  "a": Opt(Arr("int", ("n",), -STATE, STATE))}),
                     **{k: Opt(Arr("int", ("n",), 0, spec.DECAY_ONE)) for k in ("alpha", "rho")},
                     "theta0": Opt(Int(0, STATE)), "beta": Opt(Int(0, STATE))})
    else:
        body["float"] = Rec({"bias": Opt(_parts(vector)), "alpha": Opt(Arr("float", ("n",), 0, 1)),
                             "rho": Opt(Arr("float", ("n",), 0, 1)), "b0": Opt(Float(0, 1e12)),
                             "beta": Opt(Float(0, 1e12))})
    return Rec({**head, **body})


# ------------------------------------------------------------------------------------------------ checks
def _ours(node) -> dict:
    return plain(node.metadata or {}).get(SCHEMA_KEY)


def _node_context(meta: dict, n_in: int) -> dict:
    n = meta.get("n")
    return {"n_in": n_in, "mix": (n, n) if isinstance(meta.get("mixing"), str) and meta["mixing"] == "dense" else (n,)}


def check_file(graph, gmeta: dict, layers: list, in_size: int, where: str):
    """Check the graph's and every layer's `ltcsn` metadata against the schema, in edge order (each layer's input
    size is the one below it). layers: [(neuron node name, {"input": [paths], "self": [paths]})] as
    `nir_graph.structure` finds them. Raises NirError naming the file, node and field."""
    def run(value, schema, ctx, what):
        try:
            check(value, schema, ctx)
        except SchemaError as e:
            raise NirError(f"{where}: {what} {SCHEMA_KEY} metadata: {e}") from None
    for key, readable, what in (("schema_version", (SCHEMA_VERSION,), f"{SCHEMA_KEY} schema version"),
                                ("spec_version", spec.READABLE_SPEC_VERSIONS, "integer semantics version")):
        v = gmeta.get(key)
        if not (is_int(v) and v in readable):     # a newer (or damaged) file: say which versions we read
            raise NirError(f"{where}: {what} {v!r}; this reader reads version "
                           f"{' or '.join(map(str, readable))} (docs/nir_schema.md, docs/fixed_point.md)")
    run(gmeta, GRAPH, {}, "graph")
    copy = plain(graph.metadata or {}).get("dt", gmeta["dt"])
    if copy != gmeta["dt"]:
        raise NirError(f"{where}: graph metadata dt = {copy!r} differs from its {SCHEMA_KEY} dt = {gmeta['dt']!r}")
    quantized = bool(gmeta["quantized"])
    n_in = in_size
    for name, srcs in layers:
        meta = _ours(graph.nodes[name])
        if not isinstance(meta, dict):
            raise NirError(f"{where}: node '{name}' lacks its '{SCHEMA_KEY}' metadata")
        kind = meta.get("kind")
        if not (isinstance(kind, str) and kind in KINDS):
            raise NirError(f"{where}: node '{name}' {SCHEMA_KEY} metadata: kind: expected one of {list(KINDS)}, "
                           f"got {kind!r}")
        run(meta, neuron_meta(quantized, kind), _node_context(meta, n_in), f"node '{name}'")
        if kind not in spec.LAVA_NEURON_KINDS:
            gated = bool(meta["gated"])
            want = sorted({"m"} if kind == "readout" else {"m", "a"}) if gated else []
            bias = meta["bias"] if quantized else {"d": 0, **dict(meta["float"].get("bias", {}))}
            for field, parts in (("gate", meta.get("gate", {})), ("mix", meta.get("mix", {})), ("bias", bias)):
                got = sorted(p for p, v in dict(parts).items() if v is not None and p != "d")
                if got != want:
                    raise NirError(f"{where}: node '{name}' {SCHEMA_KEY} metadata: {field}: expected parts {want} "
                                   f"(a{' gated' if gated else 'n ungated'} {kind} layer), got {got}")
        sources = sorted(src for src in ("input", "self") if srcs[src])
        for part, syns in dict(meta.get("gate", {})).items():
            if sorted(s for s in syns if syns[s] is not None) != sources:
                raise NirError(f"{where}: node '{name}' {SCHEMA_KEY} metadata: gate.{part}: expected synapses from "
                               f"{sources} (the layer's sources by the edges), got {sorted(syns)}")
        for path in (*srcs["input"], *srcs["self"]):
            sname = path[-1] if path else None
            if sname is None or not hasattr(graph.nodes[sname], "weight"):
                continue          # the reader refuses the structure
            weight = np.shape(graph.nodes[sname].weight)
            bias = getattr(graph.nodes[sname], "bias", None)
            if bias is not None and np.shape(bias) != weight[:1]:
                raise NirError(f"{where}: node '{sname}' bias: expected shape {list(weight[:1])} (its weight's "
                               f"outputs), got {list(np.shape(bias))}")
            run(_ours(graph.nodes[sname]), synapse_meta(quantized), {"weight": weight, "outputs": weight[0]},
                f"node '{sname}'")
        n_in = meta["n"]
    if gmeta["n_layers"] != len(layers) - 1:
        raise NirError(f"{where}: graph {SCHEMA_KEY} metadata: n_layers: expected {len(layers) - 1} (the spiking "
                       f"layers by the edges), got {gmeta['n_layers']}")


def check_written(graph):
    """What qnet_to_nir wrote fits the schema the reader checks (a failure is a bug of the writer: ValueError)."""
    from ltcsn.export.nir_graph import input_shape, structure
    st = structure(graph, "written graph")
    try:
        check_file(graph, plain(graph.metadata)[SCHEMA_KEY], st["layers"],
                   int(np.prod(input_shape(graph, st["input"], "written graph"))), "written graph")
    except NirError as e:
        raise ValueError(f"the NIR writer wrote metadata its reader refuses: {e}") from None


STANDARD_FIELDS = {"LIF": ("tau", "r", "v_leak", "v_threshold", "v_reset"), "LI": ("tau", "r", "v_leak"),
                   "CubaLIF": ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset", "w_in")}


def check_standard_fields(graph, qnet, parts, dt: float, names: list, b0: float, where: str):
    """Every standard field of every neuron node must be what our writer derives from the codes (quantized files)
    or the float parts (float files; parts[i], b0 the LTC threshold): thresholds, decays (τ, also the nominal τ of
    an LTC layer), r, v_leak, w_in. Raises NirError naming the node and field."""
    from ltcsn.export.nir_write import neuron_node as written
    for i, (name, layer) in enumerate(zip(names, qnet.all_layers)):
        fp = None
        if parts is not None:
            fp = parts[i] if parts[i]["kind"] not in ("ltc", "alif") else {**parts[i], "b0": b0}
        want = written(layer, qnet, dt, fp, {})
        node = graph.nodes[name]
        for f in STANDARD_FIELDS[tname(want)]:
            got, exp = as_array(getattr(node, f)), as_array(getattr(want, f))
            if got.shape != exp.shape or not np.array_equal(got, exp):
                raise NirError(f"{where}: node '{name}': the standard field {f} differs from what the "
                               f"{'codes' if parts is None else 'float parameters'} in its {SCHEMA_KEY} metadata give "
                               f"(edited by another tool?); expected {_few(exp)}, got {_few(got)}")


def _few(a: np.ndarray) -> str:
    flat = a.reshape(-1)
    return "[" + ", ".join(f"{v:.6g}" for v in flat[:3]) + (", ...]" if flat.size > 3 else "]")
