"""hardware/to_netx.py: a model's LIF layers as lava-dl netx HDF5, run by netx on Lava's CPU backend.

netx (`lava.lib.dl.netx.hdf5.Network`, lava-dl 0.6.0 installed without its dependencies by scripts/setup_env.sh)
builds its own Dense and LIF processes from the file; every layer's spikes must equal sim/'s on the Lava clock
(`simulate(..., lava_clock=True)`: one step of delay per Dense) with `==`, on random networks (binary and graded
input, recurrent layers, biases) and on a trained-and-quantized model exported through NIR and the CLI.
"""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from nir_graphs import GRAPHS, needs_graphs

from ltcsn.sim.compare import first_divergence
from ltcsn.sim.qnet import QAtrlif, QLif, QLtc, QNet, QSynapse, sigmoid_lut
from ltcsn.sim.simulate import simulate

ROOT = Path(__file__).resolve().parents[1]
TO_NETX = ROOT / "hardware" / "to_netx.py"


def assert_netx_equals_sim(path, qnet, x):
    from ltcsn.hardware.to_netx import input_message_bits, run_netx
    _, rec = simulate(qnet, x, record=True, lava_clock=True)
    got = run_netx(path, x, input_message_bits(qnet))
    sim_spikes = [{"s": r["s"]} for r in rec[:len(qnet.layers)]]
    netx_spikes = [{"s": s} for s in got]
    first = first_divergence(sim_spikes, netx_spikes, names=("sim-lava-clock", "netx"))
    assert first is None, first["message"]
    assert all(r["s"].sum() > 0 for r in sim_spikes), "a layer never spikes: the comparison would be weak"
    return got


def _readout(n_in: int) -> QLtc:
    return QLtc(kind="readout", n=2, syn={"d": [QSynapse(np.ones((2, n_in), np.int64), 0, "input")]},
                bias={"d": np.zeros(2, np.int64)}, gated=False, spiking=False, alpha=np.full(2, 4096))


def _random_lif_net(seed: int, graded: bool, sizes=(5, 7, 6)) -> tuple:
    rng = np.random.default_rng(seed)
    layers = []
    for i, (n_in, n) in enumerate(zip(sizes[:-1], sizes[1:])):
        syn = [QSynapse(rng.integers(-127, 128, (n, n_in)), int(rng.integers(0, 2)), "input")]
        if i == 0:
            syn.append(QSynapse(rng.integers(-127, 128, (n, n)), 1, "self"))   # q << 1 reaches netx's edge 254
        layers.append(QLif(n=n, syn={"d": syn}, du=int(rng.choice([0, 1, 700, 4095])),
                           dv=int(rng.choice([0, 300, 4095])),
                           vth=int(rng.integers(1, 80)), bias_mant=rng.integers(-40, 60, n) * 8, bias_exp=3,
                           frac_bits=12))
    qnet = QNet(input_shape=(sizes[0],), input_frac=0, input_range=(0, 255) if graded else (0, 1), layers=layers,
                readout=_readout(sizes[-1]), lut=sigmoid_lut())
    x = rng.integers(0, 256 if graded else 2, (1, 40, sizes[0]))
    return qnet, x


@pytest.mark.parametrize("seed,graded", [(0, False), (1, True), (2, True)])
def test_random_lif_networks_in_netx(tmp_path, seed, graded):
    from ltcsn.hardware.to_netx import write_netx
    qnet, x = _random_lif_net(seed, graded)
    path = tmp_path / "net.net"
    layers = write_netx(qnet, path, hidden_only=True)
    assert [e["type"] for e in layers] == ["dense_rec", "dense"]
    assert_netx_equals_sim(path, qnet, x)


def _time_stream(x) -> np.ndarray:
    """Samples [B, T, ...] one after another as one stream [1, B*T, ...] (netx runs one stream without resets)."""
    x = np.asarray(x)
    return x.reshape(1, x.shape[0] * x.shape[1], *x.shape[2:])


def _trained_lif(graded: bool, recurrent: bool, readout: str, steps: int = 3) -> tuple:
    """(model, x [16, 20, 6]): two LIF layers of 10 and 8 with biases, trained a few steps on random labels."""
    from ltcsn.train.model import LayerConfig, NetConfig, SpikingNet
    torch.manual_seed(0)
    model = SpikingNet(NetConfig((6,), 3, [LayerConfig(10, recurrent=recurrent), LayerConfig(8, recurrent=recurrent)],
                                 neuron="lif", readout=readout))
    with torch.no_grad():
        for layer in model.layers:
            layer.fc_x.weight.mul_(3.0)
            layer.bias.normal_(0.0, 0.2)
    x = torch.rand(16, 20, 6) if graded else (torch.rand(16, 20, 6) < 0.4).float()
    y = torch.randint(0, 3, (16,))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        out, _ = model(x)
        loss = torch.nn.functional.cross_entropy(out[:, -1], y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model, x


@pytest.mark.parametrize("graded,recurrent,readout", [(False, False, "const"), (True, True, "ltc")])
def test_trained_lif_model_through_nir_and_cli(tmp_path, graded, recurrent, readout):
    """Two LIF layers with biases, trained a few steps, quantized for --target netx, written to NIR, converted by the
    CLI and run by netx equal to sim/ (the readout stays on the host: without --hidden-only, refused)."""
    from ltcsn.export.nir_write import qnet_to_nir, write_nir
    from ltcsn.train.quantize import quantize, target_profile
    model, x = _trained_lif(graded, recurrent, readout)
    qnet, plan, report = quantize(model, x, **target_profile("netx"))
    assert plan["lif"] == "netx" and {r["tensor"] for r in report} >= {"layer0.bias", "layer1.vth"}
    assert all(lp["bias_exp"] == 6 and all(0 <= s.shift <= 1 for s in layer.syn["d"])
               for lp, layer in zip(plan["layers"], qnet.layers))
    nir_path = tmp_path / "model.nir"
    write_nir(nir_path, qnet_to_nir(qnet))
    out = tmp_path / "net.net"
    cli = [sys.executable, str(TO_NETX), str(nir_path), "-o", str(out)]
    refused = subprocess.run(cli, capture_output=True, text=True, cwd=ROOT)
    assert refused.returncode == 2 and not out.exists()
    assert refused.stderr.startswith("error: readout:") and refused.stderr.count("\n") == 1, refused.stderr
    done = subprocess.run(cli + ["--hidden-only"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "2 netx layers" in done.stdout
    assert_netx_equals_sim(out, qnet, _time_stream(qnet.encode_input(x[:4].numpy())))


def test_defaults_trained_lif_network_goes_to_netx(tmp_path):
    """The issue's network: `train/run.py --task rdigits --neuron lif --epochs 1 --hidden 32` (recurrent, biases,
    graded input, the LTC readout). to_netx.py quantizes the checkpoint for netx itself; `to_nir.py --target netx`
    writes an integer file it takes too; the integer file of the default target (Lava's codes) is refused, naming
    the way out; a QAT run keeps its netx target. netx runs the layer equal to sim/ on 16 test samples."""
    from ltcsn.export.load import load_model
    from ltcsn.train.checkpoint import read_checkpoint
    from ltcsn.train.tasks import get_task
    run = tmp_path / "D"
    py = [sys.executable]
    train = py + [str(ROOT / "train" / "run.py"), "--task", "rdigits", "--neuron", "lif", "--epochs", "1",
                  "--hidden", "32", "--seed", "1", "--quiet"]
    assert subprocess.run(train + ["--out", str(run)], capture_output=True, cwd=ROOT).returncode == 0
    ckpt = run / "ckpt.pt"
    r = subprocess.run(py + [str(TO_NETX), str(ckpt), "-o", str(tmp_path / "a.net"), "--hidden-only"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and "1 netx layers (dense_rec 32)" in r.stdout, r.stderr
    export = py + [str(ROOT / "export" / "to_nir.py"), str(ckpt), "--no-eval"]
    assert subprocess.run(export + ["-o", str(tmp_path / "lava.nir")], capture_output=True, cwd=ROOT).returncode == 0
    r = subprocess.run(py + [str(TO_NETX), str(tmp_path / "lava.nir"), "-o", str(tmp_path / "b.net"), "--hidden-only"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and "export with --target netx" in r.stderr and not (tmp_path / "b.net").exists()
    assert subprocess.run(export + ["-o", str(tmp_path / "netx.nir"), "--target", "netx"],
                          capture_output=True, cwd=ROOT).returncode == 0
    r = subprocess.run(py + [str(TO_NETX), str(tmp_path / "netx.nir"), "-o", str(tmp_path / "c.net"), "--hidden-only"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    qnet, _, _ = load_model(str(ckpt), default_target="netx")
    assert load_model(str(tmp_path / "netx.nir"))[0].layers[0].frac_bits == qnet.layers[0].frac_bits
    task = get_task(**qnet.task)
    assert_netx_equals_sim(tmp_path / "a.net", qnet, _time_stream(qnet.encode_input(task.x_test[:16])))
    qat = subprocess.run(train + ["--out", str(tmp_path / "Q"), "--init", str(ckpt), "--quant", "--target", "netx"],
                         capture_output=True, text=True, cwd=ROOT)
    assert qat.returncode == 0, qat.stderr
    assert read_checkpoint(tmp_path / "Q" / "ckpt.pt")["quant_plan"]["lif"] == "netx"
    r = subprocess.run(py + [str(TO_NETX), str(tmp_path / "Q" / "ckpt.pt"), "-o", str(tmp_path / "q.net"),
                             "--hidden-only"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr


def test_refusals_name_the_layer(tmp_path):
    from ltcsn.hardware.to_netx import NetxError, write_netx
    qnet, _ = _random_lif_net(0, False)
    path = tmp_path / "net.net"
    bad_bias = QNet(**{**qnet.__dict__, "layers": [qnet.layers[0], QLif(**{**qnet.layers[1].__dict__,
                                                                         "bias_mant": np.full(6, 3), "bias_exp": 0})]})
    with pytest.raises(NetxError, match=r"^layer1 \(lif\): bias"):
        write_netx(bad_bias, path, hidden_only=True)
    right_shift = QNet(**{**qnet.__dict__, "layers": [QLif(**{**qnet.layers[0].__dict__, "syn": {"d": [
        QSynapse(np.ones((7, 5), np.int64), -1, "input")]}}), qnet.layers[1]]})
    with pytest.raises(NetxError, match=r"^layer0 \(lif\): its input synapse shifts"):
        write_netx(right_shift, path, hidden_only=True)
    atrlif = QNet(**{**qnet.__dict__, "layers": [QAtrlif(**{**qnet.layers[0].__dict__, "kind": "atrlif"})]})
    with pytest.raises(NetxError, match=r"^layer0 \(atrlif\): netx has no ATRLIF neuron"):
        write_netx(atrlif, path, hidden_only=True)
    ltc = QNet(**{**qnet.__dict__, "layers": [QLtc(kind="ltc", n=7, syn={}, bias={}, gated=True)]})
    with pytest.raises(NetxError, match=r"^layer0 \(ltc\): netx has no LTC neuron"):
        write_netx(ltc, path, hidden_only=True)
    assert not path.exists()


def test_cli_bad_input(tmp_path):
    r = subprocess.run([sys.executable, str(TO_NETX), str(tmp_path / "missing.nir"), "-o", str(tmp_path / "n.net")],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and r.stderr.startswith("error:") and r.stderr.count("\n") == 1, r.stderr


# ---------------------------------------------------------------------------------------------- the table
# Every LIF configuration tried on netx (docs/netx.md): networks trained here and other tools' graphs, each quantized
# for --target netx, written by to_netx, run by netx on Lava's CPU backend and compared with sim/ on the Lava clock.
# scripts/netx_results.py measures every case into docs/results/netx.json and renders the table; the tests below
# measure the other tools' cases again and check the table.
NETX_RESULTS = ROOT / "docs" / "results" / "netx.json"
NETX_DOC = ROOT / "docs" / "netx.md"
NETX_TABLE_BEGIN = "<!-- netx table: written by scripts/netx_results.py from docs/results/netx.json -->"
NETX_TABLE_END = "<!-- end of netx table -->"
OUR_CASES = ["rdigits defaults (1 recurrent layer of 32, LTC readout)", "the same after QAT --target netx",
             "2 feed-forward layers, biases, const readout, binary input",
             "2 recurrent layers, biases, LTC readout, graded input"]
TOOL_CASES = [("norse", k) for k in ("LIF", "LIF+bias+v_leak", "IF", "LI", "CubaLIF", "CubaLIF+bias")] + \
             [("snntorch", k) for k in ("LIF", "CubaLIF", "CubaLIF+bias", "recurrent", "conv+pool+flatten")]
# (tool, file, dt, steps, input spike probability): the one-neuron graphs under a constant drive, long enough that
# the first layer fires (the NIR paper's second neuron stays below its threshold)
FILE_CASES = [("norse", "lif_norse.nir", 1e-4, 400, 1.0), ("NIR paper", "two_lif_neurons.nir", 1e-4, 400, 1.0),
              ("sinabs", "cnn_sinabs.nir", None, 40, 0.3)]


def netx_case_ids() -> list:
    return ([f"ours: {c}" for c in OUR_CASES] + [f"{t}: {k}" for t, k in TOOL_CASES]
            + [f"{t}: {f}" for t, f, *_ in FILE_CASES])


def _our_case(name: str, tmp: Path):
    """(qnet for --target netx, input stream [1, T, ...]) of one of OUR_CASES, trained in tmp."""
    from ltcsn.export.load import load_model
    from ltcsn.train.quantize import quantize, target_profile
    from ltcsn.train.tasks import get_task
    if name in OUR_CASES[:2]:
        train = [sys.executable, str(ROOT / "train" / "run.py"), "--task", "rdigits", "--neuron", "lif", "--epochs",
                 "1", "--hidden", "32", "--seed", "1", "--quiet"]
        subprocess.run(train + ["--out", str(tmp / "D")], check=True, capture_output=True, cwd=ROOT)
        ckpt = tmp / "D" / "ckpt.pt"
        if name == OUR_CASES[1]:
            subprocess.run(train + ["--out", str(tmp / "Q"), "--init", str(ckpt), "--quant", "--target", "netx"],
                           check=True, capture_output=True, cwd=ROOT)
            ckpt = tmp / "Q" / "ckpt.pt"
        qnet, _, _ = load_model(str(ckpt), default_target="netx")
        return qnet, _time_stream(qnet.encode_input(get_task(**qnet.task).x_test[:16]))
    model, x = _trained_lif("graded" in name, "recurrent" in name, "ltc" if "LTC" in name else "const")
    qnet, _, _ = quantize(model, x, **target_profile("netx"))
    return qnet, _time_stream(qnet.encode_input(x[:4].numpy()))


def _tool_case(tool: str, kind: str):
    """(nir graph, dt to read it at, input stream [1, T, ...], the tool's own spikes of every layer) at dt = 1e-3."""
    import test_conformance as tc
    graph, x, net, run = (tc._norse_case if tool == "norse" else tc._snntorch_case)(kind, 1e-3)
    want, _ = run(net, x, v0=True) if kind == "LIF+bias+v_leak" else run(net, x)
    return graph, None, x[:1].numpy(), [w[:1] for w in want]


def measure_netx(case_id: str, tmp: Path) -> dict:
    """One case: {"accepted", "refusal", "layers", "values" (spike values compared), "spikes" (of them, sim/'s
    spikes: the comparison is not of silent layers), "mismatches" (netx vs sim/),
    "tool_agreement" (sim/'s spikes equal to the tool's own run, per layer; other tools' generated cases)}."""
    from ltcsn.export.nir_read import qnet_from_graph, read_nir
    from ltcsn.hardware.to_netx import NetxError, input_message_bits, run_netx, write_netx
    from ltcsn.train.errors import InputError
    source, name = case_id.split(": ", 1)
    want = None
    try:
        if source == "ours":
            qnet, x = _our_case(name, tmp)
        elif (source, name) in TOOL_CASES:
            graph, dt, x, want = _tool_case(source, name)
            qnet, _ = qnet_from_graph(graph, dt=dt, target="netx")
        else:
            dt, steps, p = next(c[2:] for c in FILE_CASES if c[1] == name)
            qnet, _ = read_nir(GRAPHS / name, dt=dt, target="netx")
            x = (np.random.default_rng(0).random((1, steps, *qnet.input_shape)) < p).astype(np.int64)
        path = tmp / "case.net"
        write_netx(qnet, path, hidden_only=True)
    except (NetxError, InputError) as e:
        return {"accepted": False, "refusal": str(e).split(": ", 1)[-1], "layers": None, "values": 0, "spikes": 0,
                "mismatches": 0, "tool_agreement": None}
    _, rec = simulate(qnet, x, record=True, lava_clock=True)
    got = run_netx(path, x, input_message_bits(qnet))
    values = sum(int(r["s"].size) for r in rec[:len(qnet.layers)])
    mismatches = sum(int((r["s"] != g).sum()) for r, g in zip(rec, got))
    agreement = None
    if want is not None:
        _, ours = simulate(qnet, x, record=True)
        agreement = [round(float((r["s"] == w).mean()), 4) for r, w in zip(ours, want)]
    return {"accepted": True, "refusal": None, "layers": len(qnet.layers), "values": values,
            "spikes": [int(r["s"].sum()) for r in rec[:len(qnet.layers)]], "mismatches": mismatches,
            "tool_agreement": agreement}


def netx_table(results: dict) -> str:
    """The markdown table of docs/netx.md from the results (case id -> measure_netx)."""
    lines = ["| configuration | LIF layers | to_netx | netx == sim/ (spike values) | spikes per layer "
             "| sim/ agrees with the tool |", "|---|---|---|---|---|---|"]
    for cid in netx_case_ids():
        r = results[cid]
        if not r["accepted"]:
            lines.append(f"| {cid} | | refused: {r['refusal']} | | | |")
            continue
        agree = ", ".join(f"{a:.3f}" for a in r["tool_agreement"]) if r["tool_agreement"] else ""
        equal = f"{r['values'] - r['mismatches']} / {r['values']}"
        spikes = ", ".join(str(v) for v in r["spikes"])
        lines.append(f"| {cid} | {r['layers']} | accepted | {equal} | {spikes} | {agree} |")
    accepted = [r for r in results.values() if r["accepted"]]
    lines.append(f"\n{len(accepted)} of {len(results)} configurations accepted; netx equal to sim/ in "
                 f"{sum(r['mismatches'] == 0 for r in accepted)} of {len(accepted)} "
                 f"({sum(r['values'] for r in accepted)} spike values compared).")
    return "\n".join(lines)


def test_netx_table_is_the_results():
    import json
    results = json.loads(NETX_RESULTS.read_text())
    assert list(results) == netx_case_ids()
    text = NETX_DOC.read_text()
    assert f"{NETX_TABLE_BEGIN}\n{netx_table(results)}\n{NETX_TABLE_END}" in text
    assert all(r["mismatches"] == 0 and r["spikes"][0] > 0 for r in results.values() if r["accepted"])


@pytest.mark.parametrize("case", [f"{t}: {k}" for t, k in TOOL_CASES]
                         + [pytest.param(f"{t}: {f}", marks=needs_graphs) for t, f, *_ in FILE_CASES[:2]])
def test_netx_tool_cases(tmp_path, case):
    """Other tools' LIF graphs quantized for netx: what the committed table says (accepted, equal to sim/ on every
    spike, the agreement with the tool)."""
    import json
    assert measure_netx(case, tmp_path) == json.loads(NETX_RESULTS.read_text())[case]


def test_netx_file_read_back_by_every_command(tmp_path):
    """A netx file written by to_netx.py is another reading of the same integer network: read_netx gives the
    same integers (weights q << k, decays, threshold, bias on a_in's scale) and sim/ the same spikes; sim/run.py,
    sim/verify.py (sim/ == Lava == netx's own run) and hardware/resources.py take it."""
    from ltcsn.export.load import load_model
    from ltcsn.hardware.to_netx import write_netx
    qnet, x = _random_lif_net(1, graded=True)
    path = tmp_path / "net.net"
    write_netx(qnet, path, hidden_only=True)
    back, _, info = load_model(str(path), x_sample=x)
    assert info["origin"] == "netx" and tuple(back.input_range) == (0, 255)
    for a, b in zip(qnet.layers, back.layers):
        assert (a.du, a.dv, a.vth) == (b.du, b.dv, b.vth)
        assert np.array_equal(a.bias_mant << a.bias_exp, b.bias_mant << b.bias_exp)
        assert [(s.source, (np.asarray(s.q) << s.shift).tolist()) for s in a.syn["d"]] == \
            [(s.source, (np.asarray(s.q) << s.shift).tolist()) for s in b.syn["d"]]
    _, rec_a = simulate(qnet, x, record=True)
    _, rec_b = simulate(back, x, record=True)
    assert all(np.array_equal(ra["s"], rb["s"]) for ra, rb in zip(rec_a[:2], rec_b[:2])) and rec_a[1]["s"].any()
    np.savez(tmp_path / "x.npz", x=x.astype(np.float64))
    cmd = [sys.executable, str(ROOT / "sim" / "run.py"), str(path), "--inputs", str(tmp_path / "x.npz"),
           "--out", str(tmp_path / "run.npz")]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and "graded 8-bit" in r.stdout, r.stderr
    with np.load(tmp_path / "run.npz") as run:
        spikes = [run[k] for k in sorted(run.files) if k.startswith("spikes")]
    assert all(np.array_equal(s, r["s"]) for s, r in zip(spikes, rec_a))
    r = subprocess.run([sys.executable, str(ROOT / "sim" / "verify.py"), str(path), "--samples", "2"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and "sim-lava-clock vs netx" in r.stdout and "BIT-EXACT" in r.stdout, r.stdout + r.stderr
    r = subprocess.run([sys.executable, str(ROOT / "hardware" / "resources.py"), str(path)],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and "netx file: 2 CUBA layers" in r.stdout, r.stdout + r.stderr
    bad = tmp_path / "bad.net"
    import h5py
    with h5py.File(bad, "w") as f:
        f.create_group("layer/0").create_dataset("type", data=b"input")
        f["layer/0"].create_dataset("shape", data=[5])
        f.create_group("layer/1").create_dataset("type", data=b"pool")
    r = subprocess.run([sys.executable, str(ROOT / "sim" / "run.py"), str(bad), "--inputs", str(tmp_path / "x.npz")],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and r.stderr.startswith("error: ") and "'pool' block" in r.stderr, r.stderr


@pytest.mark.parametrize("conv", [False, True])
def test_netx_file_built_with_lava_dl(tmp_path, conv):
    """A netx file written by lava-dl's own SLAYER export (`export_hdf5` of `slayer.block.cuba` blocks: Dense, Dense;
    or Conv, Flatten, Dense on a 1 x 6 x 7 frame) reads as our integer network (the conv block unrolled through
    Lava's own convolution), and sim/ on the Lava clock equals netx's own run of the file."""
    import h5py
    from ltcsn.export.load import load_model
    from ltcsn.hardware.to_netx import input_message_bits
    import lava.lib.dl.slayer as slayer
    torch.manual_seed(0)
    params = {"threshold": 1.0, "current_decay": 0.25, "voltage_decay": 0.03}
    if conv:
        shape, sizes = (1, 6, 7), [2 * 4 * 5, 3]
        blocks = [slayer.block.cuba.Conv(params, 1, 2, 3), slayer.block.cuba.Flatten(),
                  slayer.block.cuba.Dense(params, sizes[0], 3)]
    else:
        shape, sizes = (5,), [4, 3]
        blocks = [slayer.block.cuba.Dense(params, 5, 4), slayer.block.cuba.Dense(params, 4, 3)]
    x = (torch.rand(1, *shape, 40) < 0.5).float()     # SLAYER's layout [N, C, (H, W,) T]
    with torch.no_grad():
        h = x
        for block in blocks:
            if hasattr(block, "synapse"):
                block.synapse.weight.mul_(4.0)
            h = block(h)                               # a forward pass gives the blocks their shapes
    path = tmp_path / "slayer.net"
    with h5py.File(path, "w") as f:
        layer = f.create_group("layer")
        layer.create_group("0").create_dataset("type", data=b"input")
        layer["0"].create_dataset("shape", data=list(shape))
        for i, block in enumerate(blocks):
            block.export_hdf5(layer.create_group(str(i + 1)))
    qnet, _, info = load_model(str(path))
    assert info["origin"] == "netx" and [layer.n for layer in qnet.layers] == sizes
    assert qnet.input_shape == shape and input_message_bits(qnet) == 0
    assert_netx_equals_sim(path, qnet, np.moveaxis(x.numpy(), -1, 1).astype(np.int64))
