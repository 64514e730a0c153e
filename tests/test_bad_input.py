"""Bad input, faults and edge values (issue 18): a clean one-line error (exit 2), a warning, or an exact result;
never a traceback, a lost file or a silent wrong answer."""
import importlib
import os
from pathlib import Path
import signal
import subprocess
import sys
import textwrap
import warnings

from hypothesis import HealthCheck, given, settings, strategies as st
import numpy as np
import pytest

from ltcsn.args import ArgumentParser, cli, float_range, int_list, int_range, launch
from ltcsn.errors import InputError
from ltcsn.files import atomic_output, check_output, check_output_dir, write_json

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable


# ---------------------------------------------------------------------------------------------- shared helpers
def sigint_default():
    """In a child before it starts: SIGINT's default action, as a terminal starts a command (a suite run in the
    background by a non-interactive shell would pass SIGINT on ignored, and the Ctrl-C tests would test nothing)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _parser():
    p = ArgumentParser()
    p.add_argument("--n", type=int_range(1))
    p.add_argument("--x", type=float_range(0, 1, lo_open=True))
    p.add_argument("--h", type=int_list())
    return p


@pytest.mark.parametrize("argv", [["--n", "0"], ["--n", "-1"], ["--n", "1.5"], ["--x", "nan"], ["--x", "inf"],
                                  ["--x", "0"], ["--x", "1.01"], ["--h", "0"], ["--h", "4,x"], ["--h", ","],
                                  ["--nope"], ["--n"]])
def test_parser_errors_are_one_line_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as e:
        _parser().parse_args(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.startswith("error: ") and err.count("\n") == 1, err


def test_parser_types_accept_their_ranges():
    a = _parser().parse_args(["--n", "1", "--x", "1", "--h", "3,4"])
    assert (a.n, a.x, a.h) == (1, 1.0, [3, 4])


def test_cli_turns_input_errors_and_sigint_into_one_line(capsys):
    @cli
    def bad(argv=None):
        raise InputError("a\n  b")

    @cli
    def interrupted(argv=None):
        raise KeyboardInterrupt
    assert bad() == 2 and capsys.readouterr().err == "error: a b\n"
    assert interrupted() == 130 and capsys.readouterr().err.count("\n") == 1


def _import_fails(interrupt: bool):
    """Raise ImportError as CPython does for an extension module whose initialisation fails: with a KeyboardInterrupt
    (Ctrl-C during a lazy `import matplotlib`) or another error as its cause."""
    try:
        raise KeyboardInterrupt if interrupt else ValueError("bad module")
    except BaseException as e:
        raise ImportError("initialization failed") from e


def test_cli_and_launch_take_a_sigint_during_an_extension_import_as_the_interrupt(capsys, monkeypatch):
    @cli
    def imports(argv=None):
        _import_fails(interrupt=argv == "sigint")
    assert imports("sigint") == 130 and capsys.readouterr().err.startswith("interrupted")
    with pytest.raises(ImportError, match="initialization failed"):
        imports("other")
    for interrupt in (True, False):
        monkeypatch.setattr(importlib, "import_module", lambda name, interrupt=interrupt: _import_fails(interrupt))
        if interrupt:
            assert launch("sim.run") == 130 and capsys.readouterr().err.startswith("interrupted")
        else:
            with pytest.raises(ImportError, match="initialization failed"):
                launch("sim.run")


def test_check_output(tmp_path):
    inp = tmp_path / "model.nir"
    inp.write_text("x")
    assert check_output(tmp_path / "r.json", [inp]) == tmp_path / "r.json"
    for bad in (tmp_path / "missing" / "r.json", inp / "r.json", tmp_path):
        with pytest.raises(InputError):
            check_output(bad, [inp])
    for same in (inp, tmp_path / "." / "model.nir"):
        with pytest.raises(InputError, match="input of this command"):
            check_output(same, [inp])
    os.link(inp, tmp_path / "hard.nir")
    with pytest.raises(InputError, match="input of this command"):
        check_output(tmp_path / "hard.nir", [inp])
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if not os.access(ro, os.W_OK):       # root writes anywhere
            with pytest.raises(InputError, match="not writable"):
                check_output(ro / "r.json")
            with pytest.raises(InputError, match="not writable"):
                check_output_dir(ro / "sub")
    finally:
        ro.chmod(0o700)


def test_check_output_dir(tmp_path):
    ckpt = tmp_path / "run" / "ckpt.pt"
    ckpt.parent.mkdir()
    ckpt.write_text("x")
    assert check_output_dir(tmp_path / "new" / "deeper", [ckpt], ["ckpt.pt"])
    with pytest.raises(InputError, match="input of this command"):
        check_output_dir(tmp_path / "run", [ckpt], ["ckpt.pt"])
    with pytest.raises(InputError, match="not a folder"):
        check_output_dir(ckpt, [], ["ckpt.pt"])
    with pytest.raises(InputError, match="is a file"):
        check_output_dir(ckpt / "sub", [], ["ckpt.pt"])


def test_atomic_output_keeps_the_old_file_on_error_and_says_when_it_replaces(tmp_path, capsys):
    path = tmp_path / "out.json"
    write_json(path, {"a": 1})
    assert capsys.readouterr().err == ""
    with pytest.raises(KeyboardInterrupt):
        with atomic_output(path) as tmp:
            tmp.write_text("half")
            raise KeyboardInterrupt
    assert path.read_text() == '{\n  "a": 1\n}\n' and os.listdir(tmp_path) == ["out.json"]
    write_json(path, {"a": 2})
    assert "replaced" in capsys.readouterr().err and '"a": 2' in path.read_text()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_a_signal_during_an_atomic_write_leaves_the_previous_file(tmp_path, sig):
    """A real process killed while it writes: the final path holds the previous complete file."""
    path = tmp_path / "big.bin"
    path.write_bytes(b"old")
    code = textwrap.dedent(f"""
        import sys, time
        from ltcsn.args import cli
        from ltcsn.files import atomic_output
        @cli
        def main(argv=None):
            with atomic_output({str(path)!r}) as tmp:
                with open(tmp, "wb") as f:
                    f.write(b"new" * 1000); f.flush()
                    print("writing", flush=True)
                    time.sleep(60)
            return 0
        sys.exit(main())
    """)
    proc = subprocess.Popen([PY, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=sigint_default)
    assert proc.stdout.readline() == "writing\n"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert path.read_bytes() == b"old"
    if sig == signal.SIGINT:
        assert proc.returncode == 130 and err.count("\n") == 1 and "Traceback" not in err, err
        assert sorted(os.listdir(tmp_path)) == ["big.bin"]
    else:
        assert proc.returncode == -signal.SIGKILL


@pytest.mark.parametrize("form", ["script", "console script"])
def test_sigint_while_the_imports_load_ends_with_one_line(form):
    """Ctrl-C before main runs, while torch is still being imported (the import-time log says when: the first
    torch module done), ends as one inside main does: one line, exit 130, no traceback."""
    cmd = [PY, str(REPO / "sim" / "run.py")] if form == "script" else [str(Path(PY).parent / "ltcsn-sim")]
    proc = subprocess.Popen(cmd + ["--help"], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            env={**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}, preexec_fn=sigint_default)
    for line in proc.stderr:
        if line.startswith("import time:") and "torch" in line:
            proc.send_signal(signal.SIGINT)
            break
    rest = proc.stderr.read()
    proc.wait(timeout=60)
    said = [line for line in rest.splitlines() if not line.startswith("import time:")]
    assert proc.returncode == 130 and said == [
        "interrupted (SIGINT): stopped; every file written so far is complete, none is half-written"], rest[-2000:]


# ---------------------------------------------------------------------------------------------- the matrix
# Every case of issue 18 against the seven CLIs: main(argv) in this process (a traceback fails the test), a few
# through real subprocesses below. Classes: ERROR = one line "error: ..." on stderr, exit 2, no file written or
# changed; WARN = exit 0 with a "warning: ..." line naming the problem; OK = exit 0, nothing on stderr but notes.
ERROR, WARN, OK = "error", "warning", "ok"


def _mains():
    from ltcsn.export import nir_io, to_nir
    from ltcsn.hardware import resources, run_lava
    from ltcsn.sim import run as sim_run, verify
    from ltcsn.train import run as train_run
    return {"train": train_run.main, "export": to_nir.main, "nir_io": nir_io.main, "sim": sim_run.main,
            "verify": verify.main, "lava": run_lava.main, "resources": resources.main}


def _call(main, argv, capsys):
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as e:           # argparse
        rc = e.code
    out, err = capsys.readouterr()
    return rc, out, err


def _save(path, cfg, scale: float = 1.0, poison=None):
    """A checkpoint of an untrained network (rdigits); weights times scale; poison: a value put in one weight."""
    import torch
    from ltcsn.train.checkpoint import save_checkpoint
    from ltcsn.train.model import SpikingNet
    from ltcsn.train.tasks import get_task
    torch.manual_seed(0)
    model = SpikingNet(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "weight" in name or p.dim() == 2:
                p.mul_(scale)
        if poison is not None:
            next(p for p in model.parameters() if p.dim() == 2)[0, 0] = poison
    save_checkpoint(path, model, get_task("rdigits"), {}, {})
    return path


def _edit_nir(src, dst, edits):
    """Copy a NIR file and change datasets: edits maps an HDF5 path to its new value."""
    import shutil
    import h5py
    shutil.copy(src, dst)
    with h5py.File(dst, "r+") as f:
        for key, value in edits.items():
            del f[key]
            f[key] = value
    return dst


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Generated fixtures: a trained tiny checkpoint and its NIR file, damaged copies of both, extreme networks."""
    import math
    from ltcsn.export import to_nir
    from ltcsn.train import run as train_run
    from ltcsn.train.model import LayerConfig, NetConfig
    d = tmp_path_factory.mktemp("bad_input")
    assert train_run.main(["--epochs", "1", "--hidden", "8", "--out", str(d / "run"), "--quiet"]) == 0
    ckpt = d / "run" / "ckpt.pt"
    nir_file = d / "model.nir"
    assert to_nir.main([str(ckpt), "-o", str(nir_file), "--no-eval"]) == 0
    small = NetConfig((8,), 10, [LayerConfig(8)])
    f = {"dir": d, "ckpt": ckpt, "nir": nir_file,
         "ckpt_nan": _save(d / "nan.pt", small, poison=math.nan),
         "ckpt_inf": _save(d / "inf.pt", small, poison=math.inf),
         "ckpt_other": _save(d / "other.pt", NetConfig((8,), 10, [LayerConfig(5)])),
         "ckpt_lif_vth": _save(d / "lif.pt", NetConfig((8,), 10, [LayerConfig(8)], neuron="lif", vth=1e6)),
         "ckpt_overflow": _save(d / "loud.pt", NetConfig((8,), 10, [LayerConfig(16)], neuron="alif",
                                                         readout="membrane"), scale=1e3),
         "file": d / "a_file"}
    f["file"].write_text("not a folder")
    node = "node/nodes/layer0.neuron"
    meta = "node/metadata/ltcsn"
    for name, edits in {"nan_tau": {f"{node}/tau": np.full(8, np.nan)},
                        "nan_dt": {"node/metadata/dt": np.nan, f"{meta}/dt": np.nan},
                        "neg_theta": {f"{node}/metadata/ltcsn/theta0": -5},
                        "inverted_range": {f"{meta}/input/range": np.array([255, 0])},
                        "wide_bias": {f"{node}/metadata/ltcsn/bias/d": np.full(8, 2**30)},
                        "wide_code": {"node/nodes/layer0.syn_in/metadata/ltcsn/q": np.full((8, 8), 5000)},
                        "unknown_task": {f"{meta}/task/name": "no-such-task"}}.items():
        f[name] = _edit_nir(nir_file, d / f"{name}.nir", edits)
    return f


# (case id, CLI, argv with {placeholders} from the fixtures, expected class, text the message must contain)
MATRIX = [
    # outputs that are inputs of the same command (data lost with exit 0 before)
    ("verify-json-is-model", "verify", ["{nir}", "--no-lava", "--samples", "1", "--json", "{nir}"], ERROR, "input"),
    ("resources-json-is-model", "resources", ["{nir}", "--json", "{nir}"], ERROR, "input"),
    ("export-out-is-ckpt", "export", ["{ckpt}", "-o", "{ckpt}", "--no-eval"], ERROR, "input"),
    ("train-init-in-out", "train", ["--init", "{ckpt}", "--out", "{ckpt.parent}", "--epochs", "1", "--quiet"], ERROR,
     "input"),
    # tracebacks before
    ("verify-samples-0", "verify", ["{nir}", "--samples", "0"], ERROR, "--samples"),
    ("verify-samples-neg", "verify", ["{nir}", "--samples", "-1"], ERROR, "--samples"),
    ("sim-samples-0", "sim", ["{nir}", "--samples", "0"], ERROR, "--samples"),
    ("sim-samples-neg", "sim", ["{nir}", "--samples", "-1"], ERROR, "--samples"),
    ("lava-samples-0", "lava", ["{nir}", "--samples", "0"], ERROR, "--samples"),
    ("lava-samples-neg", "lava", ["{nir}", "--samples", "-1"], ERROR, "--samples"),
    ("verify-json-missing-dir", "verify", ["{nir}", "--json", "{dir}/missing/r.json"], ERROR, "does not exist"),
    ("verify-json-readonly-dir", "verify", ["{nir}", "--json", "/proc/r.json"], ERROR, "not writable"),
    ("resources-json-missing-dir", "resources", ["{nir}", "--json", "{dir}/missing/r.json"], ERROR, "does not exist"),
    ("resources-json-readonly-dir", "resources", ["{nir}", "--json", "/proc/r.json"], ERROR, "not writable"),
    ("export-out-missing-dir", "export", ["{ckpt}", "-o", "{dir}/missing/m.nir"], ERROR, "does not exist"),
    ("export-out-readonly-dir", "export", ["{ckpt}", "-o", "/proc/m.nir"], ERROR, "not writable"),
    ("train-out-under-file", "train", ["--out", "{file}/run", "--epochs", "1"], ERROR, "is a file"),
    ("train-out-is-file", "train", ["--out", "{file}", "--epochs", "1"], ERROR, "not a folder"),
    ("train-out-readonly", "train", ["--out", "/proc/run", "--epochs", "1"], ERROR, "not writable"),
    ("train-epochs-0", "train", ["--epochs", "0"], ERROR, "--epochs"),
    ("train-seq-len-1", "train", ["--task", "add", "--seq-len", "1"], ERROR, "seq-len"),
    ("train-seq-len-neg", "train", ["--seq-len", "-5"], ERROR, "--seq-len"),
    ("train-seq-len-0", "train", ["--seq-len", "0"], ERROR, "--seq-len"),
    ("train-batch-0", "train", ["--batch-size", "0"], ERROR, "--batch-size"),
    ("train-threads-0", "train", ["--threads", "0"], ERROR, "--threads"),
    ("train-lr-nan", "train", ["--lr", "nan"], ERROR, "--lr"),
    ("train-lr-inf", "train", ["--lr", "inf"], ERROR, "--lr"),
    ("train-device-tpu", "train", ["--device", "tpu"], ERROR, "--device"),
    ("train-conv-on-vector", "train", ["--conv", "4:2", "--out", "{dir}/conv"], ERROR, "frame task"),
    ("train-conv-garbage", "train", ["--conv", "4:x"], ERROR, "--conv"),
    ("train-alpha-neg", "train", ["--alpha", "-1"], ERROR, "--alpha"),
    ("train-threshold-neg", "train", ["--threshold", "-0.5"], ERROR, "--threshold"),
    ("train-init-nan", "train", ["--init", "{ckpt_nan}", "--out", "{dir}/nan_run"], ERROR, "NaN"),
    ("train-init-missing", "train", ["--init", "{dir}/none.pt", "--out", "{dir}/none_run"], ERROR, "no such file"),
    ("export-inf-weight", "export", ["{ckpt_inf}", "-o", "{dir}/inf.nir"], ERROR, "Inf"),
    ("export-nan-weight", "export", ["{ckpt_nan}", "-o", "{dir}/nan.nir"], ERROR, "NaN"),
    ("export-dt-inf", "export", ["{ckpt}", "-o", "{dir}/dt.nir", "--dt", "inf"], ERROR, "--dt"),
    ("export-dt-0", "export", ["{ckpt}", "-o", "{dir}/dt.nir", "--dt", "0"], ERROR, "--dt"),
    ("export-samples-0", "export", ["{ckpt}", "-o", "{dir}/s.nir", "--samples", "0"], ERROR, "--samples"),
    ("export-nir-as-ckpt", "export", ["{nir}", "-o", "{dir}/x.nir"], ERROR, "HDF5"),
    ("verify-ckpt-other-net", "verify", ["{nir}", "--ckpt", "{ckpt_other}", "--no-lava"], ERROR, "another network"),
    ("verify-unknown-task", "verify", ["{unknown_task}", "--no-lava"], ERROR, "no-such-task"),
    ("lava-unknown-task", "lava", ["{unknown_task}"], ERROR, "no-such-task"),
    # multi-line errors before
    ("train-hidden-0", "train", ["--hidden", "0"], ERROR, "--hidden"),
    ("train-K-0", "train", ["--K", "0"], ERROR, "--K"),
    ("train-task-foo", "train", ["--task", "foo"], ERROR, "--task"),
    # silent fallback before
    ("train-data-dir-missing", "train", ["--task", "fmnist", "--data-dir", "{dir}/DOES_NOT_EXIST", "--out",
                                         "{dir}/fm"], ERROR, "apt-get install dataset-fashion-mnist"),
    ("train-data-dir-missing-smnist", "train", ["--task", "smnist", "--data-dir", "{dir}/DOES_NOT_EXIST", "--out",
                                                "{dir}/sm"], ERROR, "DOES_NOT_EXIST"),
    # NIR numeric nonsense, refused by the reader with the field named
    ("nir_io-nan-tau", "nir_io", ["{nan_tau}"], ERROR, "tau holds NaN"),
    ("verify-nan-tau", "verify", ["{nan_tau}", "--no-lava"], ERROR, "tau holds NaN"),
    ("nir_io-nan-dt", "nir_io", ["{nan_dt}"], ERROR, "dt"),
    ("verify-nan-dt", "verify", ["{nan_dt}", "--no-lava"], ERROR, "dt"),
    ("nir_io-neg-theta", "nir_io", ["{neg_theta}"], ERROR, "theta0"),
    ("verify-neg-theta", "verify", ["{neg_theta}", "--no-lava"], ERROR, "theta0"),
    ("nir_io-inverted-range", "nir_io", ["{inverted_range}"], ERROR, "input range"),
    ("sim-inverted-range", "sim", ["{inverted_range}"], ERROR, "input range"),
    ("nir_io-wide-bias", "nir_io", ["{wide_bias}"], ERROR, "bias"),
    ("nir_io-wide-code", "nir_io", ["{wide_code}"], ERROR, "[-127, 127]"),
    ("resources-wide-code", "resources", ["{wide_code}"], ERROR, "[-127, 127]"),
    ("nir_io-unknown-task", "nir_io", ["{unknown_task}"], ERROR, "no-such-task"),
    ("nir_io-dt-nan-flag", "nir_io", ["{nir}", "--dt", "nan"], ERROR, "--dt"),
    ("sim-workers-neg", "sim", ["{nir}", "--workers", "-3"], ERROR, "--workers"),
    ("nir_io-missing", "nir_io", ["{dir}/none.nir"], ERROR, "no such file"),
    # silent successes before: now a warning
    ("export-lif-vth-clipped", "export", ["{ckpt_lif_vth}", "-o", "{dir}/lif.nir", "--no-eval"], WARN,
     "clipped to 131071"),
    ("export-overflow", "export", ["{ckpt_overflow}", "-o", "{dir}/loud.nir", "--no-eval"], WARN, "int32"),
    ("train-K-beyond-T", "train", ["--K", "50", "--epochs", "1", "--hidden", "4", "--quiet", "--out", "{dir}/k50"],
     WARN, "exceeds the sequence length"),
    ("sim-samples-beyond-test-set", "sim", ["{nir}", "--samples", "100000", "--workers", "1"], WARN,
     "exceeds the 360 test samples"),
    ("export-replaces-existing", "export", ["{ckpt}", "-o", "{nir}", "--no-eval"], WARN, "replaced"),
    # exact successes
    ("nir_io-ok", "nir_io", ["{nir}", "--quiet"], OK, ""),
    ("resources-json-ok", "resources", ["{nir}", "--json", "{dir}/resources.json"], OK, ""),
    ("verify-ok", "verify", ["{nir}", "--no-lava", "--samples", "2", "--json", "{dir}/verify.json"], OK, ""),
]


def _fill(argv, files):
    out = []
    for a in argv:
        if a.startswith("{") and "}" in a:
            key, rest = a[1:].split("}", 1)
            base, _, attr = key.partition(".")
            value = files[base]
            out.append(str(getattr(value, attr) if attr else value) + rest)
        else:
            out.append(a)
    return out


def _snapshot(folder: Path) -> dict:
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("case,cli_name,argv,expected,text", MATRIX, ids=[m[0] for m in MATRIX])
def test_matrix(case, cli_name, argv, expected, text, files, capsys):
    before = _snapshot(files["dir"])
    rc, out, err = _call(_mains()[cli_name], _fill(argv, files), capsys)
    assert "Traceback" not in err and "Traceback" not in out, err
    if expected == ERROR:
        assert rc == 2, (rc, err)
        assert err.startswith("error: ") and err.count("\n") == 1, err
        assert text in err, err
        assert _snapshot(files["dir"]) == before, "an error changed or wrote a file"
    elif expected == WARN:
        assert rc == 0, (rc, err)
        lines = [line for line in err.splitlines() if line.startswith(("warning: ", "note: "))]
        assert any(text in line for line in lines), err
    else:
        assert rc == 0, (rc, err)
        assert all(line.startswith(("warning: ", "note: ")) or "%|" in line for line in err.splitlines()
                   if line.strip()), err


# ---------------------------------------------------------------------------------------------- random networks

@st.composite
def extreme_networks(draw):
    """A float network at an extreme scale, as the issue's 405 random networks: ltc / alif / lif, 1-3 layers,
    recurrent or not, dense or diagonal mixing, gated / constant / membrane readout, weights scaled by 10^-2..10^3,
    gates forced open or closed, thresholds that never or always fire; graded or spike inputs.
    Returns a dict of the draws (the test builds the network from it)."""
    neuron = draw(st.sampled_from(["ltc", "alif", "lif"]))
    return {"neuron": neuron,
            "sizes": draw(st.lists(st.integers(2, 10), min_size=1, max_size=3)),
            "recurrent": draw(st.booleans()),
            "readout": draw(st.sampled_from(["ltc", "const"] + (["membrane"] if neuron != "lif" else []))),
            "mixing": draw(st.sampled_from(["dense", "diag"])),
            "scale": 10.0 ** draw(st.integers(-2, 3)),
            "gates": draw(st.sampled_from(["free", "open", "closed"])),
            "threshold": draw(st.sampled_from(["normal", "never", "always"])),
            "graded": draw(st.booleans()),
            "seed": draw(st.integers(0, 2**16))}


def _build_extreme(net):
    """(QNet, input codes [2, 12, n_in]) of an `extreme_networks` draw, through the project's quantizer."""
    import torch
    from ltcsn.train.model import LayerConfig, NetConfig, SpikingNet
    from ltcsn.train.quantize import quantize
    torch.manual_seed(net["seed"])
    b0, vth = {"normal": (0.1, 1.0), "never": (1e4, 1e6), "always": (0.0, 1e-3)}[net["threshold"]]
    n_in = 5
    cfg = NetConfig((n_in,), 3, [LayerConfig(s, recurrent=net["recurrent"]) for s in net["sizes"]],
                    neuron=net["neuron"], readout=net["readout"], b0=b0, vth=vth)
    model = SpikingNet(cfg)
    gate_bias = {"free": None, "open": 60.0, "closed": -60.0}[net["gates"]]
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 2:
                p.mul_(net["scale"])
            if gate_bias is not None and (name.endswith(("gate_m.bias", "gate_a.bias", "tau_m", "tau_a"))):
                p.fill_(gate_bias)
    g = torch.Generator().manual_seed(net["seed"])
    x = torch.rand(64, 12, n_in, generator=g)
    if not net["graded"]:
        x = (x < 0.4).float()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # clipped thresholds, saturated theta0: expected at these scales
        qnet, _, _ = quantize(model, x, net["mixing"])
    return qnet, qnet.encode_input(x[:2].numpy())


def _bit_exact_through_lava(net):
    from ltcsn.sim.verify import verify
    qnet, x_int = _build_extreme(net)
    report = verify(qnet, x_int, lava=True)
    first = next((p["first"]["message"] for p in report["pairs"] if p["first"]), None)
    assert report["bit_exact"], f"{net}: {first}"


EXTREMES = [  # always run: saturated membrane readout, never-spiking with closed gates, all-spiking LIF
    {"neuron": "alif", "sizes": [16], "recurrent": True, "readout": "membrane", "mixing": "dense", "scale": 1000.0,
     "gates": "free", "threshold": "normal", "graded": True, "seed": 425},
    {"neuron": "ltc", "sizes": [6, 4], "recurrent": True, "readout": "ltc", "mixing": "diag", "scale": 100.0,
     "gates": "closed", "threshold": "never", "graded": False, "seed": 3},
    {"neuron": "lif", "sizes": [5], "recurrent": True, "readout": "const", "mixing": "dense", "scale": 10.0,
     "gates": "open", "threshold": "always", "graded": True, "seed": 7},
]


@pytest.mark.parametrize("net", EXTREMES, ids=["membrane-saturated", "never-spiking-closed", "lif-all-spiking"])
def test_extreme_networks_bit_exact_through_lava(net):
    _bit_exact_through_lava(net)


@pytest.mark.slow
@settings(max_examples=200, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(net=extreme_networks())
def test_random_extreme_networks_bit_exact_through_lava(net):
    """>= 200 random networks per run (hypothesis draws 200 examples), each bit-exact through verify, Lava included."""
    _bit_exact_through_lava(net)


# ---------------------------------------------------------------------------------------------- real processes
def _run(args, **kw):
    return subprocess.run([PY, *[str(a) for a in args]], capture_output=True, text=True, cwd=REPO, timeout=300, **kw)


@pytest.mark.parametrize("script,argv", [
    ("train/run.py", ["--epochs", "0"]),
    ("export/to_nir.py", ["{ckpt}", "-o", "{ckpt}"]),
    ("export/nir_io.py", ["{nan_tau}"]),
    ("sim/run.py", ["{nir}", "--samples", "0"]),
    ("sim/verify.py", ["{nir}", "--json", "{nir}"]),
    ("hardware/run_lava.py", ["{unknown_task}"]),
    ("hardware/resources.py", ["{nir}", "--json", "{dir}/missing/r.json"]),
], ids=lambda v: v if isinstance(v, str) else None)
def test_every_cli_as_a_process_says_one_line(script, argv, files):
    """The `python folder/file.py` form of each CLI: one line on stderr, exit 2, the files untouched."""
    before = _snapshot(files["dir"])
    proc = _run([REPO / script, *_fill(argv, files)])
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert _snapshot(files["dir"]) == before


UNBUFFERED = {**os.environ, "PYTHONUNBUFFERED": "1"}


def _wait_for(proc, text: str, timeout: float = 240) -> str:
    """Read proc's stdout lines until one contains text; returns everything read."""
    import time
    seen, t0 = "", time.monotonic()
    while time.monotonic() - t0 < timeout:
        line = proc.stdout.readline()
        if not line:
            break
        seen += line
        if text in line:
            return seen
    raise AssertionError(f"{text!r} never printed: {seen}")


def _epochs_done(folder: Path) -> int:
    """Epochs the run in folder has finished, from its metrics.json (written atomically each epoch); 0 before."""
    import json
    try:
        return int(json.loads((folder / "metrics.json").read_text()).get("epochs_done", 0))
    except FileNotFoundError:
        return 0


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_a_signal_during_training_keeps_the_checkpoint_loadable(sig, files, tmp_path):
    """A real training run killed while it trains (and saves every epoch): ckpt.pt is a complete checkpoint;
    SIGINT ends with one line and exit 130, and no temporary file is left."""
    import shutil
    import time
    from ltcsn.train.checkpoint import load_checkpoint
    out = tmp_path / "run"
    out.mkdir()
    shutil.copy(files["ckpt"], out / "ckpt.pt")
    with open(tmp_path / "stderr", "w") as err_file:
        proc = subprocess.Popen([PY, REPO / "train/run.py", "--epochs", "200", "--hidden", "8", "--out", out],
                                stdout=subprocess.DEVNULL, stderr=err_file, cwd=REPO, preexec_fn=sigint_default)
        t0 = time.monotonic()
        while _epochs_done(out) < 2 and proc.poll() is None and time.monotonic() - t0 < 300:
            time.sleep(0.05)            # two epochs (two checkpoint saves) of this run
        time.sleep(0.3)
        proc.send_signal(sig)
        proc.wait(timeout=120)
    err = (tmp_path / "stderr").read_text().split("\r")[-1]    # after the last progress-bar redraw, if any
    load_checkpoint(out / "ckpt.pt")
    assert _epochs_done(out) >= 2
    if sig == signal.SIGINT:
        assert proc.returncode == 130 and "Traceback" not in err and err.strip().count("\n") == 0, err
        assert err.strip().startswith("interrupted"), err
        assert not [p.name for p in out.iterdir() if p.name.startswith(".") or p.name.endswith(".tmp")]
    else:
        assert proc.returncode == -signal.SIGKILL


def test_sigint_during_export_leaves_a_complete_file(files, tmp_path):
    """Export writes model.nir, then evaluates; SIGINT there ends with one line, and the file reads back."""
    from ltcsn.export.nir_read import read_qnet
    out = tmp_path / "model.nir"
    proc = subprocess.Popen([PY, REPO / "export/to_nir.py", files["ckpt"], "-o", out], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=REPO, env=UNBUFFERED, preexec_fn=sigint_default)
    _wait_for(proc, "wrote")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode in (0, 130) and "Traceback" not in err, err
    if proc.returncode == 130:
        assert err.count("\n") == 1, err
    read_qnet(out)
    assert [p.name for p in tmp_path.iterdir()] == ["model.nir"]
