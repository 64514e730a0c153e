"""Every derived rule of docs/fixed_point.md has one home, ltcsn.sim.spec: the rules are enumerated here, each with
the spec symbols that hold it and a detector for a second copy (a literal value or an expression pattern), and an
AST scan of the package fails when a copy appears outside sim/spec.py. Each detector is shown to fire on a planted
copy, so the scan can fail."""
import ast
import functools
from dataclasses import dataclass
from pathlib import Path
import typing as ty

import numpy as np
import pytest

from ltcsn.sim import spec

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("sim", "train", "export", "hardware")
# modules that hold no integer semantics (data sets)
SKIP = {Path("train/tasks")}
# a value that coincides with a spec value but means something else: (file, enclosing name) -> why
ALLOWED = {
    ("hardware/loihi2.py", "MAX_FAN_IN"): "Loihi 2's fan-in limit per neuron (4096), not the decay scale",
    ("hardware/loihi2.py", "CORES_PER_CHIP"): "Loihi 2 cores per chip",
    ("train/neurons.py", "multi_gaussian_grad"): "the float surrogate's side Gaussians have width 6 sigma",
    ("sim/compare.py", "first_divergence"): "generic labels of any records (they need not end in a readout)",
}


def _const(node) -> ty.Optional[object]:
    """The number a node spells: a literal, -literal, or 2 ** literal / 1 << literal (None otherwise)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        v = _const(node.operand)
        return None if v is None else -v
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Pow, ast.LShift)):
        a, b = _const(node.left), _const(node.right)
        if a is not None and b is not None:
            return a ** b if isinstance(node.op, ast.Pow) else int(a) << int(b)
    return None


def _names(node) -> set:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} | \
        {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)}


def _values(*values):
    def detect(node):
        v = _const(node)
        return v is not None and v in values and not isinstance(getattr(node, "parent", None), ast.UnaryOp)
    return detect


def _binop(op, side_names=(), side_values=()):
    """A binary operation `op` one of whose operands is a name in side_names or a number in side_values."""
    def detect(node):
        if not (isinstance(node, ast.BinOp) and isinstance(node.op, op)):
            return False
        for side in (node.left, node.right):
            if _const(side) in side_values and _const(side) is not None:
                return True
            if isinstance(side, (ast.Name, ast.Attribute)) and (_names(side) & set(side_names)):
                return True
        return False
    return detect


def _layer_fstring(node):
    return (isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant)
            and str(node.values[0].value).endswith("layer") and len(node.values) > 1
            and isinstance(node.values[1], ast.FormattedValue))


def _pow_of_input_frac(node):
    return isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow) and "input_frac" in _names(node.right)


def _time_step_minus_one(node):
    return isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub) and "time_step" in _names(node.left) \
        and _const(node.right) == 1


def _shift_minus_one(node):
    return isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub) and _const(node.right) == 1 \
        and isinstance(node.left, (ast.Name, ast.Attribute)) and "shift" in _names(node.left)


def _pad_slice(node):
    """x[:, :T] = ...: the zero-padded window of the Lava clock."""
    return isinstance(node, ast.Assign) and any(
        isinstance(t, ast.Subscript) and isinstance(t.slice, ast.Tuple) and len(t.slice.elts) == 2
        and isinstance(t.slice.elts[1], ast.Slice) and isinstance(t.slice.elts[1].upper, ast.Name)
        and t.slice.elts[1].lower is None for t in node.targets)


def _assigns(name):
    def detect(node):
        return isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
    return detect


def _exp_call(node):
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "exp" \
        and _names(node.func.value) & {"np", "numpy"}


@dataclass
class Rule:
    name: str
    symbols: tuple          # what sim/spec.py defines for it
    detect: ty.Callable     # AST node -> True for a second copy
    planted: str            # a line that copies the rule (the detector must fire on it)


RULES = [
    Rule("12-bit decay codes, 4096 = 1.0, rshr / trunc by 12", ("DECAY_BITS", "DECAY_ONE"),
         _values(12, 4096, 4095, 4096.0, 2 ** -12, 1 / 4096), "alpha = round(4096 * a)"),
    Rule("24-bit states: sat(., 24), wrap_once(., 24)", ("STATE_BITS", "STATE_MAX", "sat_bound"),
         _values(24, 23, 2 ** 23 - 1, 2 ** 23, 2 ** 24, 2.0 ** 23, 2.0 ** 24, 2.0 ** -24), "u = ops.sat(u, 24)"),
    Rule("int32 of Lava's Dense and LIF", ("INT32_BITS", "INT32_MAX"),
         _values(31, 2 ** 31, 2 ** 31 - 1, 2.0 ** 31, 2.0 ** 32), "wrap = x % 2**32"),
    Rule("8-bit symmetric weight codes", ("WEIGHT_BITS", "WEIGHT_MAX"), _values(127, -127), "q = clip(q, -127, 127)"),
    Rule("8-bit input payloads", ("INPUT_BITS", "INPUT_RANGE_UNSIGNED", "INPUT_RANGE_SIGNED"),
         _values(255, -128), "lo, hi = 0, 255"),
    Rule("input encoding x_int = clip(round(x 2^F_in))", ("encode_input", "decode_input"), _pow_of_input_frac,
         "x = np.round(x * 2.0 ** qnet.input_frac)"),
    Rule("sigmoid LUT: 512 entries over [-16, 16), index (z >> (F - 4)) + 256", (
        "LUT_STEP_BITS", "LUT_HALF", "LUT_SIZE", "lut_index", "lut_index_shift", "sigmoid_lut"),
         lambda n: _values(512, 511)(n) or _binop((ast.Add, ast.Sub), ("LUT_HALF", "LUT_STEP_BITS"), (256,))(n),
         "idx = (z >> (F - LUT_STEP_BITS)) + 256"),
    Rule("the float sigmoid", ("sigmoid", "sigmoid_decay"), _exp_call, "a = 1 / (1 + np.exp(-z))"),
    Rule("Lava LIF adds a_in << 6, threshold vth << 6", ("LIF_A_IN_SHIFT", "LIF_A_IN_SCALE", "target_frac"),
         _binop((ast.Mult, ast.Sub, ast.LShift, ast.Add), (), (6, 64, 64.0)), "target = F - 6"),
    Rule("LIF du + 1", ("LIF_DU_OFFSET", "lif_decay_fractions"),
         lambda n: isinstance(n, ast.BinOp) and isinstance(n.op, (ast.Add, ast.Sub)) and "du" in _names(n)
         and _const(n.right) == 1, "frac = (layer.du + 1) / DECAY_ONE"),
    Rule("LIF 17-bit threshold, 13-bit bias mantissa, 3-bit exponent", (
        "LIF_VTH_BITS", "LIF_VTH_MAX", "LIF_BIAS_MANT_BITS", "LIF_BIAS_MANT_MIN", "LIF_BIAS_MANT_MAX",
        "LIF_BIAS_EXP_BITS", "LIF_BIAS_EXP_MAX", "lif_bias_fits"),
         _values(17, 13, 2 ** 17, 2 ** 17 - 1, 4096, -4096, 8191), "ok = abs(bias_mant).max() <= 4095 and vth < 2**17"),
    Rule("exponent <-> shift of a synapse", ("synapse_shift", "synapse_exponent"),
         lambda n: isinstance(n, ast.BinOp) and isinstance(n.op, (ast.Add, ast.Sub)) and "src_frac" in _names(n)
         and bool(_names(n) & {"shift", "target", "e", "exponent"}), "e = shift + src_frac - target"),
    Rule("Lava Dense holds 2q with weight_exp = k - 1", ("DENSE_WEIGHT_FACTOR", "dense_weight_exp"),
         _shift_minus_one, "weight_exp = syn.shift - 1"),
    Rule("Lava window clock: hops, window length, warm-up, 1-based time_step", (
        "layer_hop", "window_length", "window_step", "lava_window_step", "warming_up", "lava_time_step_mod"),
         lambda n: _time_step_minus_one(n) or _binop(ast.Mod, ("window", "P"))(n),
         "if (self.time_step - 1) % self.window < self.hop: pass"),
    Rule("stream padding of the Lava clock", ("pad_windows",), _pad_slice, "stream[:, :T] = x"),
    Rule("layer names", ("layer_name",), _layer_fstring, 'name = f"layer{i}"'),
    Rule("spec version", ("SPEC_VERSION",), _assigns("SPEC_VERSION"), "SPEC_VERSION = 2"),
]


@functools.lru_cache(maxsize=None)
def _modules() -> list:
    """(path, AST) of every module of the four stages but sim/spec.py and the data sets, parsed once."""
    out = []
    for stage in STAGES:
        for path in sorted((ROOT / stage).rglob("*.py")):
            rel = path.relative_to(ROOT)
            if rel == Path("sim/spec.py") or any(s in rel.parents for s in SKIP):
                continue
            out.append((rel, ast.parse(path.read_text(), str(rel))))
    return out


@functools.lru_cache(maxsize=None)
def _enclosing_names(tree) -> dict:
    """node -> the name of the top-level assignment / function / class it sits in."""
    owner = {}
    for top in tree.body:
        if isinstance(top, ast.Assign):
            name = next((t.id for t in top.targets if isinstance(t, ast.Name)), None)
        else:
            name = getattr(top, "name", None)
        for n in ast.walk(top):
            owner[n] = name
            for child in ast.iter_child_nodes(n):
                child.parent = n
    return owner


def copies(rule: Rule, tree, rel: Path) -> list:
    owner = _enclosing_names(tree)
    found = []
    for n in ast.walk(tree):
        if rule.detect(n) and (str(rel), owner.get(n)) not in ALLOWED:
            found.append(f"{rel}:{n.lineno}: {ast.unparse(n)[:80]}")
    return found


@pytest.mark.parametrize("rule", RULES, ids=[r.name for r in RULES])
def test_rule_has_one_home(rule):
    missing = [s for s in rule.symbols if not hasattr(spec, s)]
    assert not missing, f"sim/spec.py lacks {missing} ({rule.name})"
    found = [c for rel, tree in _modules() for c in copies(rule, tree, rel)]
    assert not found, f"a second copy of the rule '{rule.name}' (use ltcsn.sim.spec: {rule.symbols}):\n" + \
        "\n".join(found)


@pytest.mark.parametrize("rule", RULES, ids=[r.name for r in RULES])
def test_detector_finds_a_planted_copy(rule):
    tree = ast.parse(rule.planted)
    assert copies(rule, tree, Path("planted.py")), f"the detector of '{rule.name}' misses {rule.planted!r}"


def test_spec_values_follow_the_document():
    """The derived values, from the widths docs/fixed_point.md states."""
    assert (spec.DECAY_ONE, spec.STATE_MAX, spec.WEIGHT_MAX) == (4096, 2**23 - 1, 127)
    assert (spec.LIF_BIAS_MANT_MIN, spec.LIF_BIAS_MANT_MAX, spec.LIF_BIAS_EXP_MAX, spec.LIF_VTH_MAX) == \
        (-4096, 4095, 7, 2**17 - 1)
    assert spec.LUT_SIZE == len(spec.sigmoid_lut()) == 512 and spec.LUT_SAT_IMPLIED_MAX_F == 19
    assert spec.target_frac(12, lif=True) == 6 and spec.target_frac(12, lif=False) == 12
    assert spec.WEIGHT_EXP_RANGE == (-8, 7) and spec.CHIP_SHIFT_RANGE == (-7, 8)
    assert [spec.dense_weight_exp(k) for k in spec.CHIP_SHIFT_RANGE] == list(spec.WEIGHT_EXP_RANGE)
    for e, src, tgt in [(-7, 0, 12), (3, 8, 6), (0, 12, 12)]:
        assert spec.synapse_exponent(spec.synapse_shift(e, src, tgt), src, tgt) == e
    # the Lava clock: window step w of the 1-based time_step, and LIFReset's offset at window step w
    P = 7
    for w in range(P):
        for sample in range(3):
            assert spec.lava_window_step(sample * P + w + 1, P) == w
        assert (w + 1 + 2 * P) % P == spec.lava_time_step_mod(w, P)
    assert [spec.warming_up(w, spec.layer_hop(1)) for w in range(4)] == [True, True, False, False]
    assert spec.window_length(3, 10) == 13
    x = np.array([[[0.3], [-2.0]]])
    assert spec.encode_input(x, 4, spec.INPUT_RANGE_SIGNED).tolist() == [[[5.0], [-32.0]]]
    assert spec.pad_windows(np.ones((2, 3, 2), np.int64), 5).tolist() == [[[1, 1]] * 3 + [[0, 0]] * 2] * 2
    assert [spec.layer_name(i, 3) for i in range(3)] == ["layer0", "layer1", "readout"]
    assert spec.lif_bias_fits([-4096, 0, 4095], 7) and not spec.lif_bias_fits([-4097], 0) \
        and not spec.lif_bias_fits([4096], 0) and not spec.lif_bias_fits([0], 8)
