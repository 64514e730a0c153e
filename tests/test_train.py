"""Training stage: surrogate, FPTT regulariser, FPTT vs BPTT, learning, CLI and checkpoints."""
import json
import math

import pytest
import torch

from ltcsn.train.checkpoint import CheckpointError, load_checkpoint
from ltcsn.train.fptt import FpttRegularizer
from ltcsn.train.layers import DiagGate
from ltcsn.train.model import LayerConfig, NetConfig, SpikingNet
from ltcsn.train.neurons import multi_gaussian_grad, spike
from ltcsn.train.run import parse_args, run
from ltcsn.train.tasks import TensorTask, get_task
from ltcsn.train.trainer import Trainer, TrainConfig, evaluate, fit, train_batch


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
    before, before_val = evaluate(net, task), evaluate(net, task, split="val")
    hist = fit(net, task, TrainConfig(algo="fptt", K=5, alpha=0.5, epochs=2, batch_size=64), progress=False)
    assert hist[-1]["val_mse"] < before_val and evaluate(net, task) < before
    assert 0 <= hist[-1]["val_mse"] < 1.0


def test_cosine_schedule_anneals_the_learning_rate():
    task = get_task("add", seq_len=10, n_train=128, n_test=64)
    net = SpikingNet(NetConfig((2,), 1, [LayerConfig(16)], b0=0.5, beta=0.0))
    for schedule, expected in (("constant", [4e-3, 4e-3, 4e-3, 4e-3]), ("cosine", [4e-3, 3.414e-3, 2e-3, 0.586e-3])):
        hist = fit(net, task, TrainConfig(epochs=4, batch_size=64, lr=4e-3, lr_schedule=schedule), progress=False)
        assert [h["lr"] for h in hist] == pytest.approx(expected, rel=1e-3)


@pytest.mark.parametrize("neuron,recurrent", [("ltc", False), ("alif", True), ("lif", False), ("atrlif", True)])
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
    assert metrics["val_accuracy"] == max(h["val_accuracy"] for h in metrics["history"])


def test_loihi2_qat_cli(tmp_path, capsys):
    """--target loihi2: the float network is trained with diagonal gate mixing, QAT under the profile (real training
    steps) keeps it; the plan carries the profile, every layer is a Loihi 2 neuron program, and the metrics are the
    integer network's (sim/ agrees). A --target / --mixing that would be ignored or contradicts: one line, exit 2."""
    from ltcsn.export.load import load_qnet
    from ltcsn.sim.neuron_program import host_reason
    from ltcsn.sim.simulate import evaluate_qnet
    from ltcsn.train.quantize import quantization_report, make_plan
    from ltcsn.train.run import main
    base = ["--hidden", "16", "--quiet", "--batch-size", "64"]
    run(parse_args(["--epochs", "1", "--target", "loihi2", "--out", str(tmp_path / "float"), *base]))
    model, _ = load_checkpoint(tmp_path / "float" / "ckpt.pt")
    assert model.cfg.mixing == "diag"
    assert all(isinstance(g, DiagGate) for g in (model.layers[0].gate_m, model.layers[0].gate_a, model.readout.gate))
    rows = quantization_report(model, make_plan(model, get_task("rdigits").input_sample(), "diag"))
    assert [r["rel_error"] for r in rows if r["tensor"].endswith("offdiag_dropped")] == [0.0] * 3
    out = tmp_path / "qat"
    metrics = run(parse_args(["--quant", "--target", "loihi2", "--init", str(tmp_path / "float" / "ckpt.pt"),
                              "--epochs", "1", "--out", str(out), *base]))
    _, ckpt = load_checkpoint(out / "ckpt.pt")
    assert (ckpt["quant_plan"]["mixing"], ckpt["quant_plan"]["sigmoid"]) == ("diag", "pwl")
    qnet, _ = load_qnet(str(out / "ckpt.pt"))
    assert all(host_reason(layer) is None for layer in (*qnet.layers, qnet.readout))
    assert evaluate_qnet(qnet, get_task("rdigits"), workers=1)[0] == metrics["test_accuracy"]
    capsys.readouterr()
    for argv in (["--init", str(tmp_path / "float" / "ckpt.pt"), "--target", "host"],
                 ["--init", str(tmp_path / "float" / "ckpt.pt"), "--mixing", "dense"],
                 ["--quant", "--target", "host", "--init", str(out / "ckpt.pt")],
                 ["--quant", "--target", "loihi2", "--mixing", "dense"]):
        assert main([*argv, "--epochs", "1", "--out", str(tmp_path / "x"), *base]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1, err


def test_diag_mixing_gates_read_only_their_own_state():
    """A diag-mixing network holds only the gate weights it uses (W_d and the diagonal w_s), drawn as the dense
    network of the same seed cut to those parts, and computes the dense network with the state half of W made
    diagonal; every weight it holds gets a gradient."""
    torch.manual_seed(0)
    diag = SpikingNet(NetConfig((5,), 3, [LayerConfig(6)], mixing="diag"))
    torch.manual_seed(0)
    dense = SpikingNet(NetConfig((5,), 3, [LayerConfig(6)]))
    gates = ((dense.layers[0].gate_m, diag.layers[0].gate_m), (dense.layers[0].gate_a, diag.layers[0].gate_a),
             (dense.readout.gate, diag.readout.gate))
    with torch.no_grad():
        for full, cut in gates:
            n = full.out_features
            assert torch.equal(cut.weight, full.weight[:, :n]) and torch.equal(cut.bias, full.bias)
            assert torch.equal(cut.self_weight, torch.diagonal(full.weight[:, n:]))
            full.weight[:, n:] = torch.diag(torch.diagonal(full.weight[:, n:]))
    assert sum(p.numel() for p in dense.parameters()) - sum(p.numel() for p in diag.parameters()) == 2 * 30 + 6
    x = torch.rand(4, 7, 5)
    out = diag(x)[0]
    assert torch.allclose(out, dense(x)[0], atol=1e-6)
    out.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in diag.parameters())


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
    with pytest.raises(CheckpointError, match="config.neuron: expected one of"):
        load_checkpoint(bad)
    torch.save({"format": "ltcsn-checkpoint", "version": 1, "config": {"input_shape": [8], "n_out": 10,
                "layers": [{"size": 17}]}, "state_dict": net.state_dict(), "task": {"name": "rdigits"}}, bad)
    with pytest.raises(CheckpointError, match="do not fit"):
        load_checkpoint(bad)


def _load(path):
    return torch.load(path, weights_only=True)


def test_killed_run_resumes_bit_identically(tmp_path):
    """A run killed (SIGKILL) after its 2nd epoch and resumed from last.pt ends with exactly the weights, FPTT
    state, divergence table, optimizer state and history of an uninterrupted run. Its log (a file, not a
    terminal) holds plain lines: no progress-bar frames, one line per epoch."""
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path
    script = str(Path(__file__).resolve().parents[1] / "train" / "run.py")
    common = ["--hidden", "16", "--batch-size", "64", "--epochs", "4", "--lr-schedule", "cosine"]
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    run(parse_args(common + ["--out", str(whole), "--quiet"]))
    with open(tmp_path / "log.txt", "w") as log:
        proc = subprocess.Popen([sys.executable, script, *common, "--out", str(cut)], stdout=log, stderr=log)
        last, deadline = cut / "last.pt", time.monotonic() + 300
        while proc.poll() is None and time.monotonic() < deadline:
            if last.exists() and _load(last)["resume"]["epoch"] >= 2:
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.02)
        proc.wait()
    stopped = _load(last)["resume"]["epoch"]
    assert proc.returncode == -signal.SIGKILL and 2 <= stopped < 4 and not (cut / "ckpt.pt").exists()
    # SIGKILL can land inside a write: a temporary file may stay behind, but every named file is whole
    assert json.loads((cut / "metrics.json").read_text())["epochs_done"] >= stopped - 1
    raw = (tmp_path / "log.txt").read_bytes()    # bytes: read_text() would turn a "\r" into "\n"
    lines = raw.decode().splitlines()
    assert b"\r" not in raw and lines[0].startswith("training ltc [16] on rdigits (T=8; 1294 train / 143 validation")
    assert [line.split(":")[0] for line in lines[1:stopped + 1]] == [f"epoch {e}/4" for e in range(1, stopped + 1)]
    resumed = run(parse_args(["--resume", str(cut), "--quiet"]))
    a, b = _load(whole / "last.pt"), _load(cut / "last.pt")
    for key in a["state_dict"]:
        assert torch.equal(a["state_dict"][key], b["state_dict"][key]), key
    ra, rb = a["resume"], b["resume"]
    assert all(torch.equal(x, y) for x, y in zip(ra["fptt"]["w_bar"] + ra["fptt"]["lam"],
                                                 rb["fptt"]["w_bar"] + rb["fptt"]["lam"]))
    assert torch.equal(ra["divergence"], rb["divergence"]) and torch.equal(ra["torch_rng"], rb["torch_rng"])
    assert ra["scheduler"] == rb["scheduler"]
    for sa, sb in zip(ra["optimizer"]["state"].values(), rb["optimizer"]["state"].values()):
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    drop = lambda hist: [{k: v for k, v in h.items() if k != "epoch_seconds"} for h in hist]
    assert drop(ra["history"]) == drop(rb["history"]) and len(rb["history"]) == 4
    assert resumed["test_accuracy"] == json.loads((whole / "metrics.json").read_text())["test_accuracy"]
    assert resumed["resumed"][0]["from_epoch"] == stopped


def test_resume_and_init_refuse_contradicting_flags(tmp_path, capsys):
    from ltcsn.train.run import main
    out = tmp_path / "r"
    run(parse_args(["--epochs", "1", "--hidden", "8", "--quiet", "--out", str(out), "--batch-size", "128"]))
    assert main(["--init", str(out / "ckpt.pt"), "--hidden", "64", "--task", "add", "--neuron", "lif",
                 "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and all(s in err for s in ("--hidden [64] (checkpoint: [8])",
                                                             "--neuron 'lif' (checkpoint: 'ltc')",
                                                             "--task 'add' (checkpoint: 'rdigits')"))
    assert main(["--resume", str(out), "--lr", "0.1", "--K", "2"]) == 2
    assert "contradict it: --K, --lr" in capsys.readouterr().err
    assert main(["--resume", str(tmp_path / "none")]) == 2 and "no such file" in capsys.readouterr().err
    # the flags that agree with the checkpoint are accepted; a resumed run may be extended
    more = run(parse_args(["--resume", str(out), "--epochs", "2", "--hidden", "8", "--quiet"]))
    assert more["epochs_done"] == 2 and [h["epoch"] for h in more["history"]] == [1, 2]


def test_quiet_prints_the_final_line_and_metrics_say_how_the_run_was_made(tmp_path, capsys):
    args = ["--task", "add", "--seq-len", "6", "--n-train", "256", "--n-val", "64", "--n-test", "64", "--hidden",
            "8", "--epochs", "2", "--batch-size", "32", "--out", str(tmp_path)]
    run(parse_args(args))
    loud = capsys.readouterr()
    assert [line.split(":")[0] for line in loud.out.splitlines()[1:3]] == ["epoch 1/2", "epoch 2/2"]
    run(parse_args(args + ["--quiet"]))
    quiet = capsys.readouterr()
    assert quiet.out.count("\n") == 1 and quiet.out.startswith("best epoch ") and "test mse" in quiet.out
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert m["argv"][1:] == args + ["--quiet"]
    assert m["config"]["args"]["n_train"] == 256 and m["config"]["train"]["batch_size"] == 32
    assert m["config"]["task"] == {"name": "add", "kind": "regression", "seq_len": 6, "n_train": 256,
                                   "n_test": 64, "n_val": 64}
    assert m["sizes"] == {"train": 256, "val": 64, "test": 64} and m["seed"] == 0 and m["device"] == "cpu"
    assert m["versions"]["torch"] == torch.__version__.split("+")[0] and "git_revision" in m
    assert m["val_mse"] == min(h["val_mse"] for h in m["history"]) and m["best_epoch"] in (1, 2)
    assert 0 <= m["test_mse"] < 1 and m["epochs_done"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt", "ckpt.pt", "curve.png", "last.pt",
                                                          "metrics.json"]


def test_torchrun_two_processes_match_one(tmp_path):
    """torchrun with 2 CPU processes (gloo, DistributedDataParallel, DistributedSampler, 32 samples each of a global
    batch of 64) ends with the weights of one process training on the same global batches (fp tolerance: the
    all-reduce sums in another order); the run checks after every epoch that both processes hold bit-identical
    weights, FPTT W_bar / lambda and divergence table (it stops with an error otherwise). Resuming under torchrun
    continues the same way. Only rank 0 writes files and logs."""
    import os
    import subprocess
    import sys
    from pathlib import Path
    script = str(Path(__file__).resolve().parents[1] / "train" / "run.py")
    common = ["--hidden", "16", "--batch-size", "64", "--quiet"]
    one, two = tmp_path / "one", tmp_path / "two"
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", script]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for epochs, extra in (("1", ["--out", str(two)]), ("2", ["--resume", str(two)])):
        done = subprocess.run(torchrun + common + ["--epochs", epochs] + extra, capture_output=True, text=True,
                              env=env, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        assert done.stdout.count("best epoch") == 1        # rank 0 alone prints
        run(parse_args(common + ["--epochs", epochs] + (["--out", str(one)] if epochs == "1" else ["--resume", str(one)])))
        a, b = _load(one / "last.pt"), _load(two / "last.pt")
        for key in a["state_dict"]:
            torch.testing.assert_close(a["state_dict"][key], b["state_dict"][key], rtol=0, atol=1e-4)
        ha, hb = a["resume"]["history"], b["resume"]["history"]
        assert [h["val_accuracy"] for h in ha] == [h["val_accuracy"] for h in hb] and len(hb) == int(epochs)
        assert [h["train_accuracy"] for h in ha] == [h["train_accuracy"] for h in hb]   # both halves counted
        assert b["metrics"]["world_size"] == 2 and a["metrics"]["world_size"] == 1
    assert sorted(p.name for p in two.iterdir()) == ["best.pt", "ckpt.pt", "curve.png", "last.pt", "metrics.json"]


def test_dataloader_workers_give_the_same_run(tmp_path):
    """Batches come from a DataLoader: with 2 worker processes (the Add task draws every epoch's samples from
    (seed, epoch, index)) training ends with exactly the weights of loading in the training process."""
    args = ["--task", "add", "--seq-len", "6", "--n-train", "256", "--n-val", "64", "--n-test", "64", "--hidden", "8",
            "--epochs", "2", "--batch-size", "32", "--quiet"]
    run(parse_args(args + ["--out", str(tmp_path / "w0")]))
    run(parse_args(args + ["--out", str(tmp_path / "w2"), "--workers", "2"]))
    a, b = _load(tmp_path / "w0" / "last.pt")["state_dict"], _load(tmp_path / "w2" / "last.pt")["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    data = get_task("add", seq_len=6).train_set           # fresh samples each epoch, the same for every process
    data.set_epoch(1)
    one = data[5][0]
    data.set_epoch(2)
    assert not torch.equal(one, data[5][0])
    data.set_epoch(1)
    assert torch.equal(one, data[5][0])


def test_an_epoch_records_the_train_score_it_saw():
    """With lr = 0 the weights stay put, so the epoch's online train accuracy is the accuracy of the network on the
    whole training set, as `evaluate` scores it; with training it lies in [0, 1] beside the validation score."""
    task = get_task("rdigits")
    torch.manual_seed(0)
    model = SpikingNet(NetConfig(input_shape=(8,), n_out=10, layers=[LayerConfig(16)], neuron="ltc"))
    still = Trainer(model, task, TrainConfig(algo="fptt", K=2, lr=0.0, epochs=1, batch_size=32))
    record = still.train_epoch(progress=False)
    assert record["train_accuracy"] == evaluate(model, task, split="train")
    lines = []
    fit(model, task, TrainConfig(algo="fptt", K=2, epochs=2, batch_size=32), progress=False, log=lines.append)
    assert all(" train accuracy " in line and " val accuracy " in line for line in lines) and len(lines) == 2
