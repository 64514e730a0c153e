"""Training stage: surrogate, FPTT regulariser, FPTT vs BPTT, learning, CLI and checkpoints."""
import json
import math

import pytest
import torch

from ltcsn.train.checkpoint import CheckpointError, load_checkpoint
from ltcsn.train.fptt import FpttRegularizer
from ltcsn.train.model import LayerConfig, NetConfig, SpikingNet
from ltcsn.train.neurons import multi_gaussian_grad, spike
from ltcsn.train.run import parse_args, run
from ltcsn.train.tasks import TensorTask, get_task
from ltcsn.train.trainer import TrainConfig, evaluate, fit, train_batch


def test_surrogate_values():
    v = torch.tensor([0.0, 0.3, -0.3, 1.0, 2.0], requires_grad=True)
    s = spike(v)
    assert s.tolist() == [0.0, 1.0, 0.0, 1.0, 1.0]  # strict threshold: H(0) = 0
    s.sum().backward()

    def pdf(x, mu, sd):
        return math.exp(-((x - mu) ** 2) / (2 * sd * sd)) / (math.sqrt(2 * math.pi) * sd)

    for x, g in zip(v.tolist(), v.grad.tolist()):
        want = 0.5 * (1.15 * pdf(x, 0, 0.3) - 0.15 * pdf(x, 0.3, 1.8) - 0.15 * pdf(x, -0.3, 1.8))
        assert g == pytest.approx(want, rel=1e-6)
    assert multi_gaussian_grad(torch.tensor(0.0)).item() == pytest.approx(0.7318, abs=1e-4)
    assert multi_gaussian_grad(torch.tensor(1.5)).item() < 0  # negative side lobe


def test_fptt_update_matches_hand_computation():
    w = torch.nn.Parameter(torch.tensor([1.0]))
    reg = FpttRegularizer([w], alpha=0.5, beta=0.5)
    opt = torch.optim.SGD([w], lr=0.1)
    # step 1: task gradient 0.5; regulariser gradient -lam + alpha (W - W_bar) = 0
    for want_w, want_lam, want_bar in [(0.95, 0.025, 0.95), (0.9025, 0.04875, 0.8775)]:
        opt.zero_grad(set_to_none=False)
        (0.5 * w).sum().backward()
        reg.add_grad()
        opt.step()
        reg.update()
        assert w.item() == pytest.approx(want_w, abs=1e-7)
        assert reg.lam[0].item() == pytest.approx(want_lam, abs=1e-7)
        assert reg.w_bar[0].item() == pytest.approx(want_bar, abs=1e-7)
    # hand computation of step 2: grad = 0.5 - 0.025 + 0.5 (0.95 - 0.95) = 0.475 -> W = 0.95 - 0.0475
    # lam = 0.025 - 0.5 (0.9025 - 0.95) = 0.04875; W_bar = 0.5*0.95 + 0.5*0.9025 - (0.5/0.5)*0.04875
    reg.load_average()
    assert w.item() == pytest.approx(0.8775, abs=1e-7)


def _net(neuron="ltc", recurrent=True, n_in=8, n_out=10, hidden=(16,)):
    torch.manual_seed(0)
    return SpikingNet(NetConfig((n_in,), n_out, [LayerConfig(h, recurrent=recurrent) for h in hidden], neuron=neuron))


@pytest.mark.parametrize("neuron", ["ltc", "alif", "lif"])
def test_fptt_alpha0_full_window_equals_bptt(neuron):
    task = get_task("rdigits")
    x, y = task.x_train[:16], task.y_train[:16]
    nets = [_net(neuron), _net(neuron)]
    assert all(torch.equal(a, b) for a, b in zip(*(n.state_dict().values() for n in nets)))
    cfg_f = TrainConfig(algo="fptt", alpha=0.0, K=task.seq_len)
    cfg_b = TrainConfig(algo="bptt")
    opt_f = torch.optim.Adam(nets[0].parameters(), lr=1e-2)
    opt_b = torch.optim.Adam(nets[1].parameters(), lr=1e-2)
    reg = FpttRegularizer(nets[0].parameters(), alpha=0.0)
    before = [p.detach().clone() for p in nets[0].parameters()]
    train_batch(nets[0], x, y, task, opt_f, cfg_f, reg=reg)
    train_batch(nets[1], x, y, task, opt_b, cfg_b)
    for (name, pf), pb, p0 in zip(nets[0].named_parameters(), nets[1].parameters(), before):
        assert torch.equal(pf, pb), name
    assert any(not torch.equal(p, p0) for p, p0 in zip(nets[0].parameters(), before))


@pytest.mark.parametrize("algo,K", [("fptt", 1), ("fptt", 3), ("bptt", 1)])
def test_short_run_lowers_loss(algo, K):
    full = get_task("rdigits")
    task = TensorTask("rdigits", "classification", 10, full.x_train[:320], full.y_train[:320],
                      full.x_test, full.y_test, {})
    net = _net(hidden=(64,))

    def test_loss():
        with torch.no_grad():
            return task.loss(net(task.x_test)[0][:, -1], task.y_test).item()

    before = test_loss()
    fit(net, task, TrainConfig(algo=algo, K=K, epochs=3, batch_size=32, lr=1e-2), progress=False)
    assert test_loss() < before - 0.2


def test_add_task_trains_and_scores_mse():
    task = get_task("add", seq_len=20, n_train=512, n_test=256)
    torch.manual_seed(0)
    net = SpikingNet(NetConfig((2,), 1, [LayerConfig(32)], b0=0.5, beta=0.0))
    before = evaluate(net, task)
    hist = fit(net, task, TrainConfig(algo="fptt", K=5, alpha=0.5, epochs=2, batch_size=64), progress=False)
    assert hist[-1]["test_mse"] < before
    assert 0 <= hist[-1]["test_mse"] < 1.0


def test_cosine_schedule_anneals_the_learning_rate():
    task = get_task("add", seq_len=10, n_train=128, n_test=64)
    net = SpikingNet(NetConfig((2,), 1, [LayerConfig(16)], b0=0.5, beta=0.0))
    for schedule, expected in (("constant", [4e-3, 4e-3, 4e-3, 4e-3]), ("cosine", [4e-3, 3.414e-3, 2e-3, 0.586e-3])):
        hist = fit(net, task, TrainConfig(epochs=4, batch_size=64, lr=4e-3, lr_schedule=schedule), progress=False)
        assert [h["lr"] for h in hist] == pytest.approx(expected, rel=1e-3)


@pytest.mark.parametrize("neuron,recurrent", [("ltc", False), ("alif", True), ("lif", False)])
def test_layer_types_forward_backward(neuron, recurrent):
    net = _net(neuron, recurrent, hidden=(12, 6))
    x = torch.rand(4, 5, 8)
    out, state, spikes = net(x, record=True)
    assert out.shape == (4, 5, 10) and [s.shape for s in spikes] == [(4, 5, 12), (4, 5, 6)]
    assert set(torch.cat([s.flatten() for s in spikes]).tolist()) <= {0.0, 1.0}
    out[:, -1].sum().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_conv_ltc_layer():
    torch.manual_seed(0)
    cfg = NetConfig((2, 8, 8), 3, [LayerConfig(4, kind="conv", pool=2), LayerConfig(10)])
    net = SpikingNet(cfg)
    out, _, spikes = net(torch.rand(2, 3, 2, 8, 8) * 4, record=True)
    assert out.shape == (2, 3, 3) and spikes[0].shape == (2, 3, 4, 4, 4)
    out.sum().backward()
    assert net.layers[0].conv_m.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="pool"):
        SpikingNet(NetConfig((2, 7, 7), 3, [LayerConfig(4, kind="conv", pool=2)]))


def test_cli_writes_loadable_checkpoint(tmp_path):
    out = tmp_path / "run"
    run(parse_args(["--epochs", "1", "--hidden", "16", "--out", str(out), "--quiet", "--batch-size", "64"]))
    metrics = json.loads((out / "metrics.json").read_text())
    assert (out / "curve.png").stat().st_size > 1000
    model, ckpt = load_checkpoint(out / "ckpt.pt")
    assert ckpt["task"]["name"] == "rdigits" and ckpt["train"]["algo"] == "fptt"
    task = get_task(**ckpt["task"])
    assert evaluate(model, task) == metrics["test_accuracy"]


def test_loihi2_qat_cli(tmp_path, capsys):
    """QAT under the loihi2 chip profile (real training steps): the plan carries the profile, every layer is a
    Loihi 2 neuron program, and the metrics are the integer network's (sim/ agrees). --target without --quant,
    or a different one on a QAT checkpoint, is one line and exit 2."""
    from ltcsn.export.load import load_qnet
    from ltcsn.sim.neuron_program import host_reason
    from ltcsn.sim.simulate import evaluate_qnet
    from ltcsn.train.run import main
    base = ["--hidden", "16", "--quiet", "--batch-size", "64"]
    run(parse_args(["--epochs", "1", "--out", str(tmp_path / "float"), *base]))
    out = tmp_path / "qat"
    metrics = run(parse_args(["--quant", "--target", "loihi2", "--init", str(tmp_path / "float" / "ckpt.pt"),
                              "--epochs", "1", "--out", str(out), *base]))
    _, ckpt = load_checkpoint(out / "ckpt.pt")
    assert (ckpt["quant_plan"]["mixing"], ckpt["quant_plan"]["sigmoid"]) == ("diag", "pwl")
    qnet, _ = load_qnet(str(out / "ckpt.pt"))
    assert all(host_reason(layer) is None for layer in (*qnet.layers, qnet.readout))
    assert evaluate_qnet(qnet, get_task("rdigits"), workers=1)[0] == metrics["test_accuracy"]
    capsys.readouterr()
    for argv in (["--target", "loihi2"], ["--mixing", "diag"],
                 ["--quant", "--target", "host", "--init", str(out / "ckpt.pt")],
                 ["--quant", "--target", "loihi2", "--mixing", "dense"]):
        assert main([*argv, "--epochs", "1", "--out", str(tmp_path / "x"), *base]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1, err


def test_same_seed_same_result(tmp_path):
    args = ["--task", "add", "--seq-len", "6", "--epochs", "1", "--hidden", "8", "--quiet", "--batch-size", "256"]
    a = run(parse_args(args + ["--out", str(tmp_path / "a")]))
    b = run(parse_args(args + ["--out", str(tmp_path / "b")]))
    assert a["test_mse"] == b["test_mse"]
    sa = torch.load(tmp_path / "a" / "ckpt.pt")["state_dict"]
    sb = torch.load(tmp_path / "b" / "ckpt.pt")["state_dict"]
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_bad_checkpoints_give_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        load_checkpoint(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00garbage" * 50)
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(junk)
    foreign = tmp_path / "foreign.pt"
    torch.save({"model": torch.zeros(3)}, foreign)
    with pytest.raises(CheckpointError, match="not a ltcsn-checkpoint"):
        load_checkpoint(foreign)
    net = _net()
    bad = tmp_path / "bad.pt"
    torch.save({"format": "ltcsn-checkpoint", "version": 1, "config": {"input_shape": [8], "n_out": 10,
                "layers": [{"size": 16}], "neuron": "quantum"}, "state_dict": net.state_dict(), "task": {}}, bad)
    with pytest.raises(CheckpointError, match="unknown or invalid model config"):
        load_checkpoint(bad)
    torch.save({"format": "ltcsn-checkpoint", "version": 1, "config": {"input_shape": [8], "n_out": 10,
                "layers": [{"size": 17}]}, "state_dict": net.state_dict(), "task": {}}, bad)
    with pytest.raises(CheckpointError, match="do not fit"):
        load_checkpoint(bad)
