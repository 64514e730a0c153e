"""Declarative schemas of the files this project writes and reads (checkpoints: train/checkpoint.py; the `ltcsn`
metadata of NIR files: export/nir_schema.py). A schema is a tree of the small specs below; `check` walks a value
against it and raises SchemaError naming the field and what was expected. Writers check what they write (a failure
there is our bug: a ValueError), readers what they read (a bad file: the reader's InputError, one line).

    NODE = Rec({"n": Int(1, 2**20), "q": Arr("int", ("n", "n_in"), -127, 127), "note": Info(Str())})
    check(meta, NODE, {"n_in": 8})      # names in shapes: other fields of the record, or the context
"""
from dataclasses import dataclass, field
import math

import numpy as np

from ltcsn.errors import InputError


class SchemaError(InputError):
    """A value that does not fit its schema: `field` (a dotted path) and `expected` (what would)."""

    def __init__(self, field: str, expected: str, got=None):
        self.field, self.expected = field, expected
        super().__init__(f"{field or '(top)'}: expected {expected}, got {_short(got)}")


def _short(v) -> str:
    if isinstance(v, np.ndarray):
        return f"{v.dtype} array of shape {list(v.shape)}"
    if hasattr(v, "shape") and hasattr(v, "dtype"):        # a torch tensor
        return f"{v.dtype} tensor of shape {list(v.shape)}"
    s = repr(v)
    return s if len(s) <= 40 else s[:37] + "..."


def is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def is_number(v) -> bool:
    return is_int(v) or isinstance(v, (float, np.floating))


def _range_text(lo, hi) -> str:
    return " in [" + ("-inf" if lo is None else f"{lo:g}") + ", " + ("inf" if hi is None else f"{hi:g}") + "]"


@dataclass(frozen=True)
class Int:
    """An integer (not a bool) in [lo, hi], or one of `choices`."""
    lo: int = None
    hi: int = None
    choices: tuple = None

    def check(self, v, path, ctx):
        if self.choices is not None:
            if not (is_int(v) and int(v) in self.choices):
                raise SchemaError(path, f"one of {list(self.choices)}", v)
        elif not (is_int(v) and (self.lo is None or v >= self.lo) and (self.hi is None or v <= self.hi)):
            raise SchemaError(path, "an integer" + _range_text(self.lo, self.hi), v)


@dataclass(frozen=True)
class Float:
    """A finite number (int or float) in [lo, hi] (lo_open: > lo); finite=False: any number, NaN and inf too."""
    lo: float = None
    hi: float = None
    lo_open: bool = False
    finite: bool = True

    def check(self, v, path, ctx):
        ok = is_number(v) and (math.isfinite(float(v)) or not self.finite)
        if ok and self.lo is not None:
            ok = v > self.lo if self.lo_open else v >= self.lo
        if ok and self.hi is not None:
            ok = v <= self.hi
        if not ok:
            lo = "" if self.lo is None else f" {'>' if self.lo_open else '>='} {self.lo:g}"
            hi = "" if self.hi is None else f" <= {self.hi:g}"
            what = "a finite number" if self.finite else "a number"
            raise SchemaError(path, f"{what}{lo}{' and' if lo and hi else ''}{hi}", v)


@dataclass(frozen=True)
class Bool:
    def check(self, v, path, ctx):
        if not isinstance(v, (bool, np.bool_)):
            raise SchemaError(path, "true or false", v)


@dataclass(frozen=True)
class Str:
    """A string, one of `choices` if given."""
    choices: tuple = None

    def check(self, v, path, ctx):
        if not isinstance(v, str) or (self.choices is not None and v not in self.choices):
            raise SchemaError(path, "a string" if self.choices is None else f"one of {list(self.choices)}", v)


@dataclass(frozen=True)
class Arr:
    """An array (numpy, list, torch tensor) of integers ("int") or finite floats ("float"; inf_ok: +-inf allowed)
    with values in [lo, hi] and the given shape: a tuple of sizes, each an int, the name of an integer in the
    record or the context, or None (any); or a string naming a shape tuple in the context."""
    kind: str
    shape: object = None
    lo: float = None
    hi: float = None
    inf_ok: bool = False

    def shape_of(self, ctx) -> tuple:
        if isinstance(self.shape, str):
            return tuple(ctx[self.shape])
        return tuple(ctx[d] if isinstance(d, str) else d for d in self.shape)

    def check(self, v, path, ctx):
        if hasattr(v, "detach"):
            v = v.detach().cpu().numpy()
        if isinstance(v, (list, tuple)) and all(is_number(u) for u in v):
            v = np.asarray(v)
        want_kinds = "iu" if self.kind == "int" else "iuf"
        if not isinstance(v, np.ndarray) or v.dtype.kind not in want_kinds or v.ndim == 0:
            raise SchemaError(path, f"an array of {'integers' if self.kind == 'int' else 'numbers'}", v)
        if self.shape is not None:
            want = self.shape_of(ctx)
            if len(want) != v.ndim or any(w is not None and w != s for w, s in zip(want, v.shape)):
                raise SchemaError(path, f"shape {[w if w is not None else '*' for w in want]}", v)
        if v.size == 0:
            return
        a = v.astype(np.float64) if v.dtype.kind == "f" else v
        if v.dtype.kind == "f" and (np.isnan(a).any() or (np.isinf(a).any() and not self.inf_ok)):
            raise SchemaError(path, "finite values" if not self.inf_ok else "no NaN", v)
        if (self.lo is not None and a.min() < self.lo) or (self.hi is not None and a.max() > self.hi):
            raise SchemaError(path, "values" + _range_text(self.lo, self.hi),
                              f"values in [{a.min():g}, {a.max():g}]")


@dataclass(frozen=True)
class Info:
    """An informational field (written for people and other tools; the reader does not use it): present or not,
    any value of `spec`'s type."""
    spec: object

    def check(self, v, path, ctx):
        self.spec.check(v, path, ctx)


@dataclass(frozen=True)
class Opt:
    """A field that may be absent (or None, as a checkpoint stores an unset option)."""
    spec: object

    def check(self, v, path, ctx):
        if v is not None:
            self.spec.check(v, path, ctx)


@dataclass(frozen=True)
class Rec:
    """A dict with these fields (name -> spec; Opt(...) / Info(...) may be absent, others are required); other keys
    are refused unless open. Integer fields are in the context of the fields after them (shapes name them)."""
    fields: dict = field(default_factory=dict)
    open: bool = False

    def check(self, v, path, ctx):
        if not isinstance(v, dict):
            raise SchemaError(path, "a group of fields" + (f" ({', '.join(self.fields)})" if self.fields else ""), v)
        ctx = dict(ctx)
        for name, spec in self.fields.items():
            sub = f"{path}.{name}" if path else name
            if name not in v:
                if not isinstance(spec, (Opt, Info)):
                    raise SchemaError(sub, _describe(spec), "nothing (missing)")
                continue
            spec.check(v[name], sub, ctx)
            if is_int(v[name]):
                ctx.setdefault(name, int(v[name]))
        if not self.open:
            extra = sorted(set(map(str, v)) - set(self.fields))
            if extra:
                raise SchemaError(f"{path}.{extra[0]}" if path else extra[0],
                                  f"no such field (known: {', '.join(self.fields)})", v[extra[0]])


@dataclass(frozen=True)
class Each:
    """A list (or dict) whose items all have one spec; length in [lo, hi]."""
    spec: object
    lo: int = 0
    hi: int = None

    def check(self, v, path, ctx):
        if not isinstance(v, (list, tuple)) or len(v) < self.lo or (self.hi is not None and len(v) > self.hi):
            raise SchemaError(path, f"a list of {self.lo}{'' if self.hi is None else '..' + str(self.hi)}+ items", v)
        for i, item in enumerate(v):
            self.spec.check(item, f"{path}[{i}]", ctx)


def _describe(spec) -> str:
    return {Int: "an integer", Float: "a number", Bool: "true or false", Str: "a string", Arr: "an array",
            Rec: "a group of fields", Each: "a list"}.get(type(spec), "a value")


def check(value, spec, ctx: dict = None, path: str = ""):
    """Check value against spec; raises SchemaError (an InputError: `field: expected ..., got ...`)."""
    spec.check(value, path, dict(ctx or {}))


def informational(spec, path: str = "") -> list:
    """The dotted paths of the Info fields of a schema (the document lists them)."""
    out = []
    if isinstance(spec, Info):
        return [path]
    if isinstance(spec, Opt):
        return informational(spec.spec, path)
    if isinstance(spec, Each):
        return informational(spec.spec, path + "[]")
    if isinstance(spec, Rec):
        for name, sub in spec.fields.items():
            out += informational(sub, f"{path}.{name}" if path else name)
    return out
