"""Files malformed inside never crash a reader (issue 25): our own NIR files (every kind of layer, quantized and
float) and checkpoints (float and QAT), one field changed at a time (tests/fuzz_files.py: NaN, inf, huge,
negative, zero, off by one, a scalar as an array, a number as a string, a field deleted, a group replaced, ...),
run through every CLI that reads them, in this process: each reads the file or refuses it with our one-line
InputError (exit 2); any other exception or numpy warning fails. `make test`: a few hundred seeded cases;
`make test-slow`: >= 1000 of each kind. The counts are printed."""
from pathlib import Path
import shutil
import warnings

import numpy as np
import pytest
import torch

import fuzz_files as fz
from ltcsn.export import to_nir
from ltcsn.export.nir_read import read_nir
from ltcsn.train.checkpoint import save_checkpoint
from ltcsn.train.model import LayerConfig, NetConfig, SpikingNet
from ltcsn.train.quantize import make_plan, target_profile
from ltcsn.train.tasks import get_task

# (name, NetConfig options, QAT plan profile or None, export options)
NETWORKS = [
    ("ltc-loihi2-qat", {"mixing": "diag"}, "loihi2", []),
    ("ltc-host", {}, None, []),
    ("ltc-float-file", {}, None, ["--float"]),
    ("alif-const", {"neuron": "alif", "readout": "const"}, None, []),
    ("alif-membrane", {"neuron": "alif", "readout": "membrane"}, None, []),
    ("lif", {"neuron": "lif", "readout": "const"}, None, []),
    ("atrlif", {"neuron": "atrlif", "readout": "const"}, None, []),
]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """{name: (checkpoint, NIR file)} of small untrained rdigits networks, written by our own writers."""
    d = tmp_path_factory.mktemp("fuzz")
    task = get_task("rdigits")
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, (name, options, qat, export) in enumerate(NETWORKS):
            torch.manual_seed(i)
            model = SpikingNet(NetConfig((8,), 10, [LayerConfig(6)], **options))
            extra = None
            if qat:
                extra = {"quant_plan": make_plan(model, task.input_sample(), **target_profile(qat))}
            ckpt = d / f"{name}.pt"
            save_checkpoint(ckpt, model, task, {"epochs": 1, "lr": 1e-3}, {}, extra)
            nir_file = d / f"{name}.nir"
            assert to_nir.main([str(ckpt), "-o", str(nir_file), "--no-eval", *export]) == 0
            read_nir(nir_file)
            out[name] = (ckpt, nir_file)
    return out


def _fuzz(kind: str, sources: list, n: int, seed: int, tmp: Path, train_every: int = 0) -> dict:
    """n mutants spread over the source files through every CLI; returns the counts; fails on any crash."""
    crashes, counts = [], {}
    per = -(-n // len(sources))
    for j, src in enumerate(sources):
        ckpt = torch.load(src, map_location="cpu", weights_only=True) if kind == "ckpt" else None
        mutants = (fz.nir_mutants(src, per, seed + j) if kind == "nir" else fz.ckpt_mutants(ckpt, per, seed + j))
        for i, (field, mutation) in enumerate(mutants):
            f = tmp / ("m.nir" if kind == "nir" else "m.pt")
            if kind == "nir":
                fz.mutate_nir(src, field, mutation, f)
            else:
                fz.mutate_ckpt(ckpt, field, mutation, f)
            train = bool(train_every) and i % train_every == 0
            for name, argv in fz.cli_runs(kind, f, tmp, train=train):
                try:
                    rc, _ = fz.run_cli(name, argv)
                except fz.Crash as e:
                    crashes.append(f"{src.name} {field} {mutation}: {e}")
                    rc = "crash"
                counts[(name, rc)] = counts.get((name, rc), 0) + 1
            counts["files"] = counts.get("files", 0) + 1
    assert not crashes, f"{len(crashes)} crashes: " + " | ".join(c.splitlines()[0][-300:] for c in crashes)
    return counts


def _say(capsys, kind: str, seed: int, counts: dict):
    with capsys.disabled():
        print(f"\n{counts.pop('files')} mutated {kind} files (seed {seed}), 0 tracebacks: "
              + ", ".join(f"{k[0]} exit {k[1]}: {v}" for k, v in sorted(counts.items(), key=str)))


def test_fuzzed_nir_files(files, tmp_path, capsys):
    counts = _fuzz("nir", [f for _, f in files.values()], 280, 25, tmp_path)
    assert counts["files"] >= 280 and counts[("nir_io", 2)] > counts["files"] // 2
    _say(capsys, "NIR", 25, counts)


def test_fuzzed_checkpoints(files, tmp_path, capsys):
    sources = [files["ltc-loihi2-qat"][0], files["lif"][0], files["alif-membrane"][0]]
    counts = _fuzz("ckpt", sources, 120, 25, tmp_path, train_every=10)
    assert counts["files"] >= 120 and counts[("train", 0)] + counts.get(("train", 2), 0) >= 12
    _say(capsys, "checkpoint", 25, counts)


@pytest.mark.slow
def test_fuzzed_nir_files_slow(files, tmp_path, capsys):
    counts = _fuzz("nir", [f for _, f in files.values()], 1050, 2500, tmp_path)
    _say(capsys, "NIR", 2500, counts)


@pytest.mark.slow
def test_fuzzed_checkpoints_slow(files, tmp_path, capsys):
    sources = [c for c, _ in files.values()]
    counts = _fuzz("ckpt", sources, 1050, 2500, tmp_path, train_every=1)
    _say(capsys, "checkpoint", 2500, counts)


def test_standard_fields_must_agree_with_the_codes(files, tmp_path):
    """docs/nir_schema.md: a standard field the codes define, edited alone, is refused with the node and field."""
    import h5py
    from ltcsn.train.errors import InputError
    cases = [("ltc-host", "layer0.neuron/v_threshold", -1.0, 0), ("ltc-host", "layer0.neuron/tau", 1e6, 0),
             ("ltc-host", "readout.neuron/tau", 1e3, 0), ("lif", "layer0.neuron/v_leak", 1, 1e-3),
             ("lif", "layer0.neuron/w_in", 2.0, 0), ("ltc-float-file", "layer0.neuron/tau", 1e6, 0),
             ("atrlif", "layer0.neuron/tau_syn", 0.5, 0), ("alif-const", "layer0.neuron/v_threshold", 1, 1e-9)]
    for name, field, scale, offset in cases:
        f = tmp_path / "x.nir"
        shutil.copy(files[name][1], f)
        with h5py.File(f, "r+") as h:
            value = h[f"node/nodes/{field}"][()] * scale + offset
            del h[f"node/nodes/{field}"]
            h[f"node/nodes/{field}"] = value
        node, std = field.split("/")
        with pytest.raises(InputError, match=f"node '{node}': the standard field {std} differs"):
            read_nir(f)


def test_numpy_warnings_do_not_reach_users():
    """A gate bias far beyond the sigmoid's range: the exact limit, no numpy overflow warning."""
    from ltcsn.sim import spec
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert spec.sigmoid(np.array([-1e6, 0.0, 1e6])).tolist() == [0.0, 0.5, 1.0]


def test_document_says_which_fields_are_informational():
    """docs/nir_schema.md lists exactly the schema's Info fields, and its bounds are the schema's."""
    import re
    from ltcsn.export.nir_schema import GRAPH, KINDS, neuron_meta, synapse_meta
    from ltcsn.schema import informational
    from ltcsn.sim.bounds import SHIFT_RANGE
    from ltcsn.train.checkpoint import CHECKPOINT, EXPONENT
    text = " ".join((Path(__file__).resolve().parents[1] / "docs" / "nir_schema.md").read_text().split())
    para = re.search(r"\*\*Informational\*\* \(.*?\): graph (.*?); node (.*?)\. "
                     r"Checkpoints .*? informational record, (.*?)\.", text)
    listed = [set(re.findall(r"`([\w.]+)`", group)) for group in para.groups()]
    nodes = {f for q in (True, False) for s in (*(neuron_meta(q, k) for k in KINDS), synapse_meta(q))
             for f in informational(s)}
    assert listed == [set(informational(GRAPH)), nodes, set(informational(CHECKPOINT))]
    assert f"exponents within ±{EXPONENT.hi}" in text and -EXPONENT.lo == EXPONENT.hi
    assert f"shifts in [{SHIFT_RANGE[0]}, {SHIFT_RANGE[1]}]" in text
