"""What a user gets to read and look at (issue 16): --json of sim/run.py and hardware/run_lava.py, the sample
figure of sim/run.py --plot and the QAT-marked training curve; each file written and read back."""
import json
from pathlib import Path
import subprocess
import sys

import pytest

from ltcsn.train.run import parse_args, run

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def qat_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    base = ["--hidden", "8", "--batch-size", "128", "--quiet"]
    run(parse_args(base + ["--epochs", "1", "--out", str(root / "float")]))
    run(parse_args(base + ["--epochs", "1", "--quant", "--init", str(root / "float" / "ckpt.pt"),
                           "--out", str(root / "qat")]))
    return root / "qat"


def _png(path: Path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


def test_sim_run_json_and_plot(qat_run, tmp_path, capsys):
    from ltcsn.export.load import load_qnet
    from ltcsn.sim.run import main
    from ltcsn.sim.simulate import evaluate_qnet
    from ltcsn.train.tasks import get_task
    ckpt = str(qat_run / "ckpt.pt")
    assert main([ckpt, "--samples", "32", "--workers", "1", "--json", str(tmp_path / "sim.json"),
                 "--plot", str(tmp_path / "sample.png")]) == 0
    printed = capsys.readouterr()
    assert "\r" not in printed.out + printed.err       # not a terminal: no progress-bar frames
    report = json.loads((tmp_path / "sim.json").read_text())
    qnet, _ = load_qnet(ckpt)
    score, n, _ = evaluate_qnet(qnet, get_task(**qnet.task), 32)
    assert report["integer_accuracy"] == score and report["samples"] == n == 32 and report["metric"] == "accuracy"
    assert _png(tmp_path / "sample.png")
    assert main([ckpt, "--json", ckpt]) == 2              # an input is never an output


def test_sample_plot_draws_float_and_integer_gates(qat_run, tmp_path):
    """The sample figure's rows hold every LTC layer's decays alpha and rho and the readout's alpha, float and
    integer; the integer rows are the codes simulate(record=True, decays=True) records, / 4096."""
    import numpy as np
    from ltcsn.export.load import load_qnet
    from ltcsn.sim.plot import plot_sample
    from ltcsn.sim.simulate import simulate
    from ltcsn.sim.spec import DECAY_ONE
    from ltcsn.train.checkpoint import load_checkpoint
    from ltcsn.train.tasks import get_task
    ckpt = qat_run / "ckpt.pt"
    qnet, _ = load_qnet(str(ckpt))
    model, _ = load_checkpoint(ckpt)
    x = next(iter(get_task(**qnet.task).test_batches(1)))[0].numpy()
    rows = plot_sample(qnet, model, x, tmp_path / "sample.png")
    assert _png(tmp_path / "sample.png")
    _, rec = simulate(qnet, qnet.encode_input(x), record=True, decays=True)
    drawn = {(i, name): (integer, floats) for i, _, name, integer, floats in rows}
    gates = [(i, name) for i, layer in enumerate(qnet.all_layers) if layer.kind == "ltc"
             for name in ("alpha", "rho")] + [(len(qnet.layers), "alpha")]
    assert len(gates) >= 3
    for i, name in gates:
        integer, floats = drawn[(i, name)]
        assert np.array_equal(integer * DECAY_ONE, rec[i][name][0])          # the recorded 12-bit codes
        assert floats is not None and floats.shape == integer.shape == (x.shape[1], qnet.all_layers[i].n)
        assert ((floats > 0) & (floats < 1)).all() and len(np.unique(rec[i][name][0])) > 1


def test_run_lava_json(qat_run, tmp_path):
    out = tmp_path / "lava.json"
    done = subprocess.run([sys.executable, str(REPO / "hardware" / "run_lava.py"), str(qat_run / "ckpt.pt"),
                           "--samples", "2", "--json", str(out)], capture_output=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:].decode()
    # output to a pipe: no progress-bar frames (compared as bytes: text mode would turn a "\r" into "\n")
    assert b"\r" not in done.stdout + done.stderr
    report = json.loads(out.read_text())
    assert report["samples"] == 2 and report["backend"] == "cpu" and report["models"] == "fixed_pt"
    assert 0 <= report["accuracy"] <= 1 and report["ms_per_step"] > 0 and report["steps"] > 0


def test_qat_curve_marks_the_qat_epochs(qat_run):
    m = json.loads((qat_run / "metrics.json").read_text())
    assert len(m["init_history"]) == 1 and len(m["history"]) == 1 and m["quantized"]
    assert _png(qat_run / "curve.png")


def test_verify_plot_draws_the_first_divergence(qat_run, tmp_path, capsys):
    """Bit-exact stages: --plot says so and writes nothing; a record with one changed value: the figure of its
    first divergence is written."""
    from ltcsn.export.load import load_qnet
    from ltcsn.sim.compare import first_divergence
    from ltcsn.sim.plot import plot_divergence
    from ltcsn.sim.simulate import simulate
    from ltcsn.sim.verify import main
    from ltcsn.train.tasks import get_task
    fig = tmp_path / "div.png"
    assert main([str(qat_run / "ckpt.pt"), "--samples", "2", "--no-lava", "--plot", str(fig)]) == 0
    assert "no divergence" in capsys.readouterr().out and not fig.exists()
    qnet, _ = load_qnet(str(qat_run / "ckpt.pt"))
    x = next(iter(get_task(**qnet.task).test_batches(2)))[0].numpy()
    _, rec = simulate(qnet, qnet.encode_input(x), record=True)
    changed = [{k: v.copy() for k, v in layer.items()} for layer in rec]
    changed[0]["u"][1, 5, 3] += 1
    first = first_divergence(rec, changed, names=("sim", "changed"))
    assert (first["step"], first["batch"], first["neuron"], first["var"]) == (5, 1, 3, "u")
    plot_divergence(rec, changed, first, ("sim", "changed"), fig)
    assert _png(fig)


def test_to_nir_plots_the_quantization_error_histogram(qat_run, tmp_path):
    import numpy as np
    from ltcsn.export.to_nir import main
    from ltcsn.train.checkpoint import load_checkpoint
    from ltcsn.train.quantize import quantization_errors, quantization_report
    fig = tmp_path / "qerr.png"
    assert main([str(qat_run / "ckpt.pt"), "-o", str(tmp_path / "m.nir"), "--no-eval", "--plot", str(fig)]) == 0
    assert _png(fig) and (tmp_path / "m.nir").is_file()
    model, ckpt = load_checkpoint(qat_run / "ckpt.pt")
    errors = quantization_errors(model, ckpt["quant_plan"])
    rows = {r["tensor"]: r for r in quantization_report(model, ckpt["quant_plan"])}
    for name, err in errors.items():      # the histogram's data agrees with the printed report
        assert name in rows and (np.abs(err) > 0.5).mean() <= rows[name]["clipped"] + 1e-12
        if rows[name]["clipped"] == 0:
            assert np.abs(err).max() <= 0.5
