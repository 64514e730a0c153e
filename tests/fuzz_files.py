"""A structural fuzzer of our own files (issue 25): one field of a NIR file (an HDF5 dataset or group) or of a
checkpoint (a leaf of its nested dict, a tensor of its state dict) is changed, and every reader must either read the
file or refuse it with our InputError (one line, exit 2); any other exception, and any numpy warning, is a bug.

    mutants = nir_mutants(path, n, seed)        # [(field, mutation)], seeded
    mutate_nir(path, field, mutation, out)      # writes the mutated copy
    run_clis(kind, path, tmp)                   # every CLI that reads such a file, in this process

`python tests/fuzz_files.py nir|ckpt FILE N [--seed S]` runs N mutants of FILE through the CLIs and prints the counts.
"""
import contextlib
import io
import math
from pathlib import Path
import shutil
import sys
import traceback
import warnings

import numpy as np

# ------------------------------------------------------------------------------------------------ mutations
# every value mutation: (name, function of the old value -> new value, or None where it does not apply)
HUGE_INT, HUGE_FLOAT = 2**62, 1e300


def _num(v) -> bool:
    a = np.asarray(v)
    return a.dtype.kind in "biuf" and a.size > 0


def _as_float(v):
    return np.asarray(v, dtype=np.float64)


VALUE_MUTATIONS = {
    "nan": lambda v: np.full(np.shape(v), np.nan) if _num(v) else math.nan,
    "inf": lambda v: np.full(np.shape(v), np.inf) if _num(v) else math.inf,
    "-inf": lambda v: np.full(np.shape(v), -np.inf) if _num(v) else -math.inf,
    "huge": lambda v: (np.full(np.shape(v), HUGE_INT, np.int64) if np.asarray(v).dtype.kind in "biu"
                       else np.full(np.shape(v), HUGE_FLOAT)) if _num(v) else HUGE_INT,
    "huge-negative": lambda v: np.full(np.shape(v), -HUGE_INT, np.int64) if _num(v) else -HUGE_INT,
    "scaled-1e6": lambda v: _as_float(v) * 1e6 if _num(v) else None,
    "negative": lambda v: -np.asarray(v).astype(np.int64 if np.asarray(v).dtype.kind in "biu" else np.float64) - 1
    if _num(v) else -1,
    "zero": lambda v: np.zeros(np.shape(v), np.asarray(v).dtype if _num(v) else np.int64),
    "plus-one": lambda v: np.asarray(v).astype(np.int64 if np.asarray(v).dtype.kind in "biu" else np.float64) + 1
    if _num(v) else None,
    "plus-half": lambda v: _as_float(v) + 0.5 if _num(v) else None,
    "scalar-as-array": lambda v: np.full((3, 3), np.asarray(v).reshape(-1)[0]) if _num(v)
    else np.array([[1, 2], [3, 4]]),
    "array-as-scalar": lambda v: np.asarray(v).reshape(-1)[0] if _num(v) and np.ndim(v) > 0 else None,
    "number-as-string": lambda v: str(np.asarray(v).reshape(-1)[0]) if _num(v) else "12",
    "other-string": lambda v: "no-such-value",
    "bool": lambda v: True,
    "shorter": lambda v: np.asarray(v).reshape(-1)[:-1] if np.size(v) > 1 else None,
    "longer": lambda v: np.concatenate([np.asarray(v).reshape(-1), np.asarray(v).reshape(-1)[:1]])
    if _num(v) and np.size(v) > 0 else None,
    "transposed": lambda v: np.asarray(v).T if np.ndim(v) == 2 and np.shape(v)[0] != np.shape(v)[1] else None,
    "empty": lambda v: np.zeros((0,)),
    "int-as-float": lambda v: _as_float(v) if _num(v) and np.asarray(v).dtype.kind in "biu" else None,
}
STRUCTURE_MUTATIONS = ("delete", "group-as-number")   # a dataset or group removed; a group replaced by a number
MUTATIONS = (*VALUE_MUTATIONS, *STRUCTURE_MUTATIONS)


# ------------------------------------------------------------------------------------------------ NIR files
def nir_fields(path) -> dict:
    """{HDF5 path: "dataset" | "group"} of every dataset and group under node/ (the whole graph, metadata too)."""
    import h5py
    out = {}
    with h5py.File(path, "r") as f:
        f["node"].visititems(lambda name, obj: out.__setitem__(
            f"node/{name}", "group" if isinstance(obj, h5py.Group) else "dataset"))
    return out


def _applies(mutation: str, kind: str, value) -> bool:
    if mutation in STRUCTURE_MUTATIONS:
        return mutation == "delete" or kind == "group"
    if kind == "group":
        return False
    try:
        return VALUE_MUTATIONS[mutation](value) is not None
    except (TypeError, ValueError):
        return False


def _stored(value):
    """A value as h5py stores it (strings as UTF-8 bytes)."""
    if isinstance(value, str):
        return value.encode()
    return value


def _read_value(f, key):
    v = f[key][()]
    if isinstance(v, bytes):
        return v.decode("utf8", "replace")
    return v


def mutate_nir(src, key: str, mutation: str, dst) -> Path:
    """Copy src to dst with the dataset or group `key` changed by `mutation`."""
    import h5py
    shutil.copy(src, dst)
    with h5py.File(dst, "r+") as f:
        if mutation == "delete":
            del f[key]
        elif mutation == "group-as-number":
            del f[key]
            f[key] = 7
        else:
            new = VALUE_MUTATIONS[mutation](_read_value(f, key))
            del f[key]
            f[key] = _stored(new)
    return Path(dst)


def nir_mutants(path, n: int, seed: int) -> list:
    """n (field, mutation) pairs drawn with a seeded generator: every field in turn (shuffled), each with a mutation
    that applies to it."""
    import h5py
    rng = np.random.default_rng(seed)
    fields = nir_fields(path)
    keys = sorted(fields)
    out = []
    with h5py.File(path, "r") as f:
        while len(out) < n:
            for key in rng.permutation(keys):
                value = _read_value(f, key) if fields[key] == "dataset" else None
                options = [m for m in MUTATIONS if _applies(m, fields[key], value)]
                out.append((str(key), str(rng.choice(options))))
                if len(out) == n:
                    break
    return out


# ------------------------------------------------------------------------------------------------ checkpoints
def _leaves(obj, prefix=()):
    """(path tuple, value) of every leaf of a nested dict / list (tensors are leaves), and of every dict itself."""
    if isinstance(obj, dict):
        yield prefix, obj
        for k, v in obj.items():
            yield from _leaves(v, (*prefix, k))
    elif isinstance(obj, list) and obj and any(isinstance(v, (dict, list)) for v in obj):
        yield prefix, obj
        for i, v in enumerate(obj):
            yield from _leaves(v, (*prefix, i))
    else:
        yield prefix, obj


def _torch_value(new, old):
    """A mutated value in the form a checkpoint holds it: tensors stay tensors (of the new dtype and shape)."""
    import torch
    if isinstance(old, torch.Tensor) and not isinstance(new, str):
        a = np.asarray(new)
        with np.errstate(over="ignore"):       # 1e300 as float32: inf
            a = a.astype(np.float32) if a.dtype.kind == "f" and old.is_floating_point() else a.copy()
        return torch.from_numpy(a)
    if isinstance(new, np.ndarray):
        return new.tolist() if new.ndim else new.item()
    if isinstance(new, np.generic):
        return new.item()
    return new


def ckpt_mutants(ckpt: dict, n: int, seed: int) -> list:
    """n (path, mutation) pairs over every field of a checkpoint dict (config, quant_plan, task, train, state_dict,
    metrics, ...), drawn with a seeded generator."""
    rng = np.random.default_rng(seed)
    fields = [(p, v) for p, v in _leaves(ckpt) if p]
    out = []
    while len(out) < n:
        for i in rng.permutation(len(fields)):
            path, value = fields[i]
            if isinstance(value, (dict, list)) and not _num(value):
                options = ["delete", "group-as-number", "other-string", "empty"]
            else:
                old = value.numpy() if hasattr(value, "numpy") else value
                options = [m for m in VALUE_MUTATIONS if _applies(m, "dataset", old)] + ["delete"]
            out.append((path, str(rng.choice(options))))
            if len(out) == n:
                break
    return out


def mutate_ckpt(ckpt: dict, path: tuple, mutation: str, dst) -> Path:
    """Save a copy of the checkpoint dict with the field at `path` changed by `mutation`."""
    import copy
    import torch
    c = copy.deepcopy(ckpt)
    parent = c
    for k in path[:-1]:
        parent = parent[k]
    key = path[-1]
    old = parent[key]
    if mutation == "delete":
        if isinstance(parent, dict):
            del parent[key]
        else:
            parent.pop(key)
    elif mutation == "group-as-number":
        parent[key] = 7
    else:
        v = old.numpy() if isinstance(old, torch.Tensor) else old
        parent[key] = _torch_value(VALUE_MUTATIONS[mutation](v), old)
    torch.save(c, dst)
    return Path(dst)


# ------------------------------------------------------------------------------------------------ the readers
def _mains():
    from ltcsn.export import nir_io, to_nir
    from ltcsn.hardware import resources
    from ltcsn.sim import run as sim_run, verify
    from ltcsn.train import run as train_run
    return {"nir_io": nir_io.main, "export": to_nir.main, "sim": sim_run.main, "verify": verify.main,
            "resources": resources.main, "train": train_run.main}


def cli_runs(kind: str, path, tmp, train: bool = True) -> list:
    """(CLI name, argv) of every command that reads a file of this kind ("nir" or "ckpt")."""
    path, tmp = str(path), Path(tmp)
    common = [("sim", [path, "--samples", "2", "--workers", "1"]), ("verify", [path, "--no-lava", "--samples", "2"]),
              ("resources", [path])]
    if kind == "nir":
        return [("nir_io", [path, "--quiet"]), *common]
    runs = [("export", [path, "-o", str(tmp / "x.nir"), "--no-eval"]), *common]
    if train:
        runs.append(("train", ["--init", path, "--quant", "--epochs", "1", "--algo", "bptt", "--batch-size", "4096",
                               "--quiet", "--out", str(tmp / "run")]))
    return runs


class Crash(AssertionError):
    """A reader ended in an exception other than our InputError (or let a numpy warning through)."""


def run_cli(name: str, argv: list) -> tuple:
    """Run one CLI in this process: (exit status, stderr). Raises Crash with the traceback on anything but a clean
    exit (0, 1 = a resource report with errors, 2 = our one-line error)."""
    main = _mains()[name]
    err = io.StringIO()
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err), warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)     # numpy's overflow / invalid-value warnings
            rc = main(argv)
    except SystemExit as e:
        rc = e.code
    except BaseException as e:          # noqa: BLE001 - the fuzzer reports every escape
        if isinstance(e, KeyboardInterrupt):
            raise
        raise Crash(f"{name} {' '.join(argv)}: {type(e).__name__}: {e}\n{traceback.format_exc()}") from None
    text = err.getvalue()
    if rc not in (0, 1, 2) or (rc == 2 and len([ln for ln in text.splitlines() if ln.startswith("error:")]) != 1):
        raise Crash(f"{name} {' '.join(argv)}: exit {rc}, stderr {text!r}")
    return rc, text


def main(argv=None) -> int:
    import argparse
    import tempfile
    import torch
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("kind", choices=["nir", "ckpt"])
    p.add_argument("file")
    p.add_argument("n", type=int)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--no-train", action="store_true", help="checkpoints: skip train/run.py --init")
    args = p.parse_args(argv)
    crashes, counts = [], {}
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        if args.kind == "nir":
            mutants = nir_mutants(args.file, args.n, args.seed)
        else:
            ckpt = torch.load(args.file, map_location="cpu", weights_only=True)
            mutants = ckpt_mutants(ckpt, args.n, args.seed)
        for i, (field, mutation) in enumerate(mutants):
            f = d / f"m{i}.{args.kind if args.kind == 'nir' else 'pt'}"
            if args.kind == "nir":
                mutate_nir(args.file, field, mutation, f)
            else:
                mutate_ckpt(ckpt, field, mutation, f)
            for name, cli_argv in cli_runs(args.kind, f, d, train=not args.no_train):
                try:
                    rc, _ = run_cli(name, cli_argv)
                    counts[(name, rc)] = counts.get((name, rc), 0) + 1
                except Crash as e:
                    crashes.append(f"{field} {mutation}: {e}")
                    counts[(name, "crash")] = counts.get((name, "crash"), 0) + 1
                    print(crashes[-1].splitlines()[0][:300], flush=True)
            f.unlink()
            shutil.rmtree(d / "run", ignore_errors=True)
    print(f"{args.n} mutated {args.kind} files (seed {args.seed}): "
          + ", ".join(f"{k[0]} exit {k[1]}: {v}" for k, v in sorted(counts.items(), key=str)))
    print(f"tracebacks: {len(crashes)}")
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    raise SystemExit(main())
