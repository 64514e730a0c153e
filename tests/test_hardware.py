"""Lava backend: real Lava runs of LTC, ALIF and LIF networks through the verifier, corruption is located,
the resource report and the command-line fronts."""
import copy
import json

import numpy as np
import pytest
import torch

from ltcsn.train.quantize import quantize, target_profile
from ltcsn.hardware import resources, run_lava
from ltcsn.hardware.lava_net import build_and_run
from ltcsn.sim import verify as verify_cli
from ltcsn.sim.qnet import QSynapse
from ltcsn.sim.simulate import simulate_stream
from ltcsn.sim.verify import compare_records, verify
from ltcsn.train.checkpoint import save_checkpoint
from ltcsn.train.model import LayerConfig, NetConfig, SpikingNet
from ltcsn.train.tasks import get_task
from ltcsn.train.trainer import TrainConfig, fit


def _qnet(neuron, recurrent, mixing="dense", readout="ltc", hidden=(12,), seed=0, train=False):
    task = get_task("rdigits")
    torch.manual_seed(seed)
    model = SpikingNet(NetConfig((8,), 10, [LayerConfig(h, recurrent=recurrent) for h in hidden],
                                 neuron=neuron, readout=readout))
    if train:
        small = copy.copy(task)
        small.x_train, small.y_train = task.x_train[:256], task.y_train[:256]
        fit(model, small, TrainConfig(epochs=1, batch_size=64), progress=False)
    with torch.no_grad():  # make every layer spike: scale up the input weights of untrained networks
        if not train:
            for layer in model.layers:
                layer.fc_x.weight.mul_(3.0)
    profile = target_profile("loihi2") if mixing == "loihi2" else {"mixing": mixing}   # the chip profile
    qnet, _, _ = quantize(model, task.x_train, task=task.describe(), **profile)
    return qnet, model, task


@pytest.mark.parametrize("neuron,recurrent,mixing,readout,hidden,train", [
    ("ltc", True, "dense", "ltc", (12,), True),
    ("ltc", False, "diag", "const", (10, 6), False),
    ("alif", True, "dense", "ltc", (12,), False),
    ("lif", True, "dense", "const", (12,), True),
    ("lif", False, "dense", "ltc", (10, 6), False),
    ("ltc", True, "dense", "membrane", (12,), False),
    ("alif", False, "diag", "membrane", (10, 6), False),
    ("ltc", True, "loihi2", "ltc", (12,), True),       # piecewise-linear sigmoid gates, diagonal mixing
])
def test_verify_is_bit_exact_on_lava(neuron, recurrent, mixing, readout, hidden, train):
    qnet, _, task = _qnet(neuron, recurrent, mixing, readout, hidden, train=train)
    x_int = qnet.encode_input(task.x_test[:3].numpy())
    report = verify(qnet, x_int, lava=True)
    assert [p["pair"] for p in report["pairs"]] == [
        "quantized-torch vs sim", "sim vs sim-lava-clock", "sim-lava-clock vs lava"]
    for p in report["pairs"]:
        assert p["mismatches"] == 0 and p["first"] is None, p["first"] and p["first"]["message"]
        assert p["values"] > 0
    assert report["bit_exact"]
    spikes = report["_sim_records"][0]["s"]
    assert 0 < spikes.mean() < 1, "the test network must spike, but not always"


def test_corrupted_parameter_is_caught_and_located():
    qnet, _, task = _qnet("ltc", True)
    x_int = qnet.encode_input(task.x_test[:2].numpy())
    broken = copy.deepcopy(qnet)
    broken.layers[0].bias["d"][5] += 3000  # one neuron's bias, on the Lava side only
    _, want = simulate_stream(qnet, x_int, record=True)
    got = build_and_run(broken, x_int, record=True).records
    res = compare_records(("sim-lava-clock", "lava"), want, got, qnet)
    assert res["mismatches"] > 0
    first = res["first"]
    assert (first["layer"], first["neuron"], first["var"]) == (0, 5, "u")
    assert first["step"] == 1 and first["batch"] == 0  # hop 1: the first step with input
    assert "sim-lava-clock vs lava" in first["message"] and "neuron 5" in first["message"]


def test_lava_run_outputs_match_sim_on_long_stream():
    qnet, _, task = _qnet("ltc", True, train=True)
    x_int = qnet.encode_input(task.x_test[:40].numpy())
    run = build_and_run(qnet, x_int)  # async models, no recording
    assert np.array_equal(run.outs, simulate_stream(qnet, x_int))
    assert run.ms_per_step > 0 and run.steps == 40 * 10


def test_resource_report_and_errors(capsys):
    qnet, _, _ = _qnet("lif", True)
    rep = resources.resource_report(qnet)
    assert rep["errors"] == [] and rep["neurons"] == 22 and rep["cores"] == 0
    assert rep["layers"][0]["placement"] == "host" and "SpikeGate" in rep["layers"][0]["reason"]
    assert rep["layers"][1]["placement"] == "host" and "dense mixing" in rep["layers"][1]["reason"]
    assert rep["verdict"].startswith("0 of 2 layers on chip; host part: layer0 (SpikeGate")
    wide = copy.deepcopy(qnet)
    wide.layers[0].syn["d"].append(QSynapse(np.ones((12, 5000), dtype=np.int64), 3, "input"))
    wide.layers[0].vth = 2**17
    errors = resources.resource_report(wide)["errors"]
    assert any(e.startswith("layer0: fan-in 5020 exceeds 4096") for e in errors)
    assert any("layer0: threshold mantissa" in e for e in errors)


@pytest.fixture(scope="module")
def trained_ckpt(tmp_path_factory):
    qnet, model, task = _qnet("ltc", True, train=True)
    path = tmp_path_factory.mktemp("hw") / "ckpt.pt"
    save_checkpoint(path, model, task, {}, {})
    return path


def test_plans_keep_every_synapse_shift_in_the_chips_weight_exponents():
    """Weights whose own exponent would need a shift beyond the chip's weight_exp range (here recurrent weights of
    ~100 and input weights of ~1e-5 into an LTC layer) get the nearest exponent the chip holds: every Dense of the
    quantized network fits, and the resource report has no weight-exponent error."""
    from ltcsn.sim import spec
    from ltcsn.train.quantize import _synapse_shift, choose_exponent, make_plan, model_parts
    task = get_task("rdigits")
    torch.manual_seed(0)
    model = SpikingNet(NetConfig((8,), 10, [LayerConfig(12)], mixing="diag"))
    with torch.no_grad():
        model.layers[0].fc_r.weight.mul_(300.0)
        model.layers[0].fc_x.weight.mul_(1e-5)
    p = model_parts(model)[0]
    plan = make_plan(model, task.x_train, **target_profile("loihi2"))
    lp = plan["layers"][0]
    own = [_synapse_shift(p, lp, src, choose_exponent(w)) for srcs in p["syn"].values() for src, w in srcs.items()]
    lo, hi = spec.CHIP_SHIFT_RANGE
    assert max(own) > hi and min(own) < lo
    qnet, _, _ = quantize(model, task.x_train, task=task.describe(), **target_profile("loihi2"))
    shifts = [s.shift for layer in (*qnet.layers, qnet.readout) for syns in layer.syn.values() for s in syns]
    assert lo <= min(shifts) and max(shifts) <= hi and hi in shifts and lo in shifts
    assert not any("weight exponent" in e for e in resources.resource_report(qnet)["errors"])


def test_command_line_fronts(trained_ckpt, capsys, tmp_path):
    assert run_lava.main([str(trained_ckpt), "--samples", "20"]) == 0
    out = capsys.readouterr().out
    assert "rdigits on Lava (cpu, fixed_pt, async models" in out and "ms/step" in out
    assert run_lava.main([str(trained_ckpt), "--backend", "loihi2"]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "missing: Intel's lava-loihi (not installed" in captured.err
    assert "host     LtcNeuronProcess layer0.neuron: dense mixing" in captured.out
    assert resources.main([str(trained_ckpt), "--json", str(tmp_path / "res.json")]) == 0
    out = capsys.readouterr().out
    saved = json.loads((tmp_path / "res.json").read_text())      # --json carries the whole report
    assert saved["verdict"] in out and saved["layers"][0]["reason"] in out
    assert {"processes", "host", "traffic", "traffic_per_step", "needs_lava_loihi", "limits"} <= set(saved)
    report = tmp_path / "verify.json"
    assert verify_cli.main([str(trained_ckpt), "--samples", "2", "--json", str(report)]) == 0
    assert "BIT-EXACT" in capsys.readouterr().out and report.stat().st_size > 100
    junk = tmp_path / "junk.pt"
    junk.write_text("not a checkpoint")
    for cli in (run_lava.main, resources.main, verify_cli.main):
        assert cli([str(junk)]) == 2
        assert capsys.readouterr().err.startswith("error: ")


@pytest.mark.parametrize("neuron,recurrent", [("ltc", True), ("lif", True), ("alif", False), ("atrlif", True)])
def test_floating_pt_models_run_the_dequantized_network(neuron, recurrent):
    """Lava's floating_pt models (float Dense / LIFReset / ATRLIF, our float LTC model) compute the integer network
    without rounding: sim/'s FloatOps backend on the same clock (float64, so compared with a tolerance)."""
    from ltcsn.sim.ops import FloatOps
    qnet, _, task = _qnet(neuron, recurrent)
    x_int = qnet.encode_input(task.x_test[:3].numpy())
    want = simulate_stream(qnet, x_int, ops=FloatOps)
    run = build_and_run(qnet, x_int, tag="floating_pt")
    assert run.outs.dtype == np.float64
    np.testing.assert_allclose(run.outs, want, rtol=1e-12, atol=1e-9)
    assert not np.array_equal(want, simulate_stream(qnet, x_int))  # rounding does change the integer network


def test_lif_bias_mantissa_edges_round_trip(tmp_path):
    """The 13-bit signed bias mantissa's whole range [-4096, 4095] (docs/fixed_point.md, `spec.LIF_BIAS_MANT_*`):
    the quantizer emits both ends at exponent 0, the NIR file keeps them, the resource report says they fit, and
    Lava runs the network bit-exactly."""
    from ltcsn.export.nir_read import read_qnet
    from ltcsn.export.nir_write import qnet_to_nir, write_nir
    from ltcsn.sim import spec
    qnet, model, task = _qnet("lif", True, hidden=(4,))
    F = qnet.layers[0].frac_bits
    with torch.no_grad():
        model.layers[0].bias.copy_(torch.tensor([spec.LIF_BIAS_MANT_MIN, 0, spec.LIF_BIAS_MANT_MAX, -4095.6])
                                   * 2.0**-F)
    qnet, _, _ = quantize(model, task.x_train, task=task.describe())
    lif = qnet.layers[0]
    assert lif.frac_bits == F and lif.bias_exp == 0
    assert lif.bias_mant.tolist() == [spec.LIF_BIAS_MANT_MIN, 0, spec.LIF_BIAS_MANT_MAX, spec.LIF_BIAS_MANT_MIN]
    write_nir(tmp_path / "edge.nir", qnet_to_nir(qnet))
    back = read_qnet(tmp_path / "edge.nir")
    assert back.layers[0].bias_mant.tolist() == lif.bias_mant.tolist() and back.layers[0].bias_exp == 0
    assert resources.resource_report(back)["errors"] == []
    report = verify(back, back.encode_input(task.x_test[:2].numpy()), lava=True)
    assert report["bit_exact"], [p["first"]["message"] for p in report["pairs"] if p["first"]]
    assert report["_sim_records"][0]["s"][:, :, 2].any(), "the +4095 bias neuron must spike"
    # one beyond either end does not fit
    for mant in (spec.LIF_BIAS_MANT_MIN - 1, spec.LIF_BIAS_MANT_MAX + 1):
        bad = copy.deepcopy(back)
        bad.layers[0].bias_mant = np.array([mant, 0, 0, 0])
        assert any("bias does not fit" in e for e in resources.resource_report(bad)["errors"])
