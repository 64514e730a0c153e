"""NIR export / import (export/nir_write.py, nir_read.py, nir_foreign.py, to_nir.py; schema in docs/nir_schema.md).

Round trips are exact (the same integers in every state variable at every step); interop with norse is
checked against norse's own simulation; third-party files from the NIR paper load, run, and the paper's
LIF neuron reproduces its Lava run's spike times.
"""
from dataclasses import fields, is_dataclass
import logging
import subprocess
import sys
import warnings
from pathlib import Path

import h5py
import nir
import numpy as np
import pytest
import torch

from ltcsn.export import to_nir
from ltcsn.export.load import load_qnet
from ltcsn.export.nir_common import SCHEMA_KEY, SCHEMA_VERSION
from ltcsn.export.nir_read import qnet_from_graph, read_nir, read_qnet
from ltcsn.export.nir_write import qnet_to_nir, write_nir
from ltcsn.train.quantize import make_plan, quantize, target_profile
from ltcsn.sim.neuron_program import host_reason, neuron_program
from ltcsn.sim import run as sim_run
from ltcsn.sim.simulate import simulate
from ltcsn.train.checkpoint import save_checkpoint
from ltcsn.train.errors import InputError
from ltcsn.train.model import LayerConfig, NetConfig, SpikingNet
from ltcsn.train.neurons import leaky_readout_step, lif_step
from ltcsn.train.tasks import get_task
from nir_graphs import GRAPHS, needs_graphs

REPO = Path(__file__).resolve().parents[1]
STANDARD = {"Input", "Output", "Affine", "Linear", "LIF", "CubaLIF", "LI", "Flatten"}


@pytest.fixture(autouse=True)
def _quiet():
    logging.getLogger().setLevel(logging.ERROR)   # norse's from_nir warns about r != 1 via logging
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@pytest.fixture(scope="module")
def task():
    return get_task("rdigits")


def _same(a, b, path="qnet"):
    """Deep equality of QNet dataclasses: same fields, arrays equal element for element."""
    if is_dataclass(a):
        assert type(a) is type(b), path
        for f in fields(a):
            _same(getattr(a, f.name), getattr(b, f.name), f"{path}.{f.name}")
    elif isinstance(a, dict):
        assert set(a) == set(b), path
        for k in a:
            _same(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (u, v) in enumerate(zip(a, b)):
            _same(u, v, f"{path}[{i}]")
    elif isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        assert np.asarray(a).dtype == np.asarray(b).dtype and np.array_equal(a, b), path
    else:
        assert a == b and type(a) is type(b), f"{path}: {a!r} != {b!r}"


def _records_equal(qa, qb, x_int):
    oa, ra = simulate(qa, x_int, record=True)
    ob, rb = simulate(qb, x_int, record=True)
    assert np.array_equal(oa, ob)
    assert len(ra) == len(rb)
    for la, lb in zip(ra, rb):
        assert la.keys() == lb.keys()
        for k in la:
            assert np.array_equal(la[k], lb[k]), k
    return ra


def _net(neuron, readout, seed=0, hidden=(16, 12), mixing="dense"):
    torch.manual_seed(seed)
    cfg = NetConfig((8,), 10, [LayerConfig(hidden[0]), LayerConfig(hidden[1], recurrent=False)],
                    neuron=neuron, readout=readout, mixing=mixing)
    model = SpikingNet(cfg)
    with torch.no_grad():      # random init, scaled so that every layer spikes on digit rows
        for layer in model.layers:
            layer.fc_x.weight.mul_(3.0 if neuron == "lif" else 1.5)
            if neuron == "lif":
                layer.bias.uniform_(-0.05, 0.05)
    return model


def _ckpt(tmp_path, model, task, extra=None, name="ckpt.pt"):
    path = tmp_path / name
    save_checkpoint(path, model, task, {}, {}, extra)
    return path


# ---------------------------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("neuron,readout,mixing,qat", [
    ("ltc", "ltc", "dense", False),
    ("ltc", "ltc", "diag", False),
    ("ltc", "ltc", "diag", True),      # the QAT plan stored in the checkpoint (diag) is used
    ("ltc", "ltc", "loihi2", False),   # the chip profile: diagonal mixing, piecewise-linear sigmoid
    ("ltc", "ltc", "loihi2", True),
    ("alif", "ltc", "loihi2", False),
    ("alif", "const", "dense", False),
    ("alif", "ltc", "diag", False),      # ungated hidden layers under a diag plan, gated readout
    ("alif", "const", "diag", False),    # no gated layer at all
    ("lif", "const", "dense", False),
    ("lif", "ltc", "dense", True),
    ("ltc", "membrane", "dense", False),   # the last layer sends its membrane u through wide synapses
    ("alif", "membrane", "dense", True),
])
def test_round_trip_is_exact(tmp_path, task, neuron, readout, mixing, qat):
    model = _net(neuron, readout)
    target = mixing if mixing == "loihi2" else None
    profile = target_profile(target, None if target else mixing)
    extra = {"quant_plan": make_plan(model, task.input_sample(), **profile)} if qat else None
    ckpt = _ckpt(tmp_path, model, task, extra)
    cli = [] if qat else ["--target", target] if target else ["--mixing", mixing]   # a QAT plan carries its own
    ref, _ = load_qnet(str(ckpt), None if target else mixing, target=target)     # ckpt -> sim
    if target:
        assert all(host_reason(layer) is None for layer in (*ref.layers, ref.readout))
        assert any(getattr(layer, "sigmoid", "") == "pwl" for layer in (*ref.layers, ref.readout))
    x_int = ref.encode_input(task.x_test[:48].numpy())
    for flag in ([], ["--float"]):
        out = tmp_path / f"model{'-float' if flag else ''}.nir"
        assert to_nir.main([str(ckpt), "-o", str(out), "--no-eval", *cli, *flag]) == 0
        q, info = read_nir(out)                             # ckpt -> NIR -> sim
        assert info["origin"] == "ltcsn" and info["quantized_file"] == (not flag)
        _same(ref, q)
        rec = _records_equal(ref, q, x_int)
        for r in rec[:-1]:
            assert r["s"].sum() > 0, "a layer never spikes: the comparison would be weak"
    assert load_qnet(str(tmp_path / "model.nir"))[0].task == ckpt_task(task)
    if mixing == "diag" and neuron == "ltc":
        assert ref.layers[0].mix["m"].ndim == 1
    if readout == "membrane":
        assert ref.layers[-1].output == "u" and ref.readout.syn["d"][0].wide


def test_loihi2_files_carry_sigmoid_and_program(tmp_path, task):
    """Under the loihi2 profile every LTC layer's node names its sigmoid and its neuron program (length, state
    words); the reader checks them; a version-2 file (no sigmoid) reads as the LUT; a tampered length is refused."""
    qnet, _, _ = quantize(_net("ltc", "ltc"), task.input_sample(), task=ckpt_task(task), **target_profile("loihi2"))
    g = qnet_to_nir(qnet)
    assert g.metadata[SCHEMA_KEY]["spec_version"] == 3 and g.metadata[SCHEMA_KEY]["sigmoid"] == "pwl"
    for i, layer in enumerate((*qnet.layers, qnet.readout)):
        m = g.nodes["readout.neuron" if layer is qnet.readout else f"layer{i}.neuron"].metadata[SCHEMA_KEY]
        prog = neuron_program(layer)
        assert m["sigmoid"] == "pwl" and "host_reason" not in m
        assert (m["program"]["length"], m["program"]["state_words"]) == (prog.length, prog.state_words)
    write_nir(tmp_path / "m.nir", g)
    _same(qnet, read_qnet(tmp_path / "m.nir"))
    bad = qnet_to_nir(qnet)
    bad.nodes["layer0.neuron"].metadata[SCHEMA_KEY]["program"]["length"] = 3
    with pytest.raises(InputError, match="program metadata"):
        qnet_from_graph(bad)
    host, _, _ = quantize(_net("ltc", "ltc"), task.input_sample(), task=ckpt_task(task))
    old = qnet_to_nir(host)
    assert "dense mixing" in old.nodes["layer0.neuron"].metadata[SCHEMA_KEY]["host_reason"]
    old.metadata[SCHEMA_KEY]["spec_version"] = 2
    for node in old.nodes.values():
        (node.metadata or {}).get(SCHEMA_KEY, {}).pop("sigmoid", None)
    _same(host, qnet_from_graph(old)[0])


def test_float_network_trained_in_the_loihi2_form_round_trips(tmp_path, task):
    """A float network with diagonal gate mixing (train/run.py --target loihi2): its float NIR file holds the
    mixing it computes with (diagonal matrices) and reads back to exactly the checkpoint's loihi2 QNet."""
    model = _net("ltc", "ltc", mixing="diag")
    ckpt = _ckpt(tmp_path, model, task)
    ref, _ = load_qnet(str(ckpt), target="loihi2")
    for flag in ([], ["--float"]):
        out = tmp_path / f"m{'-float' if flag else ''}.nir"
        assert to_nir.main([str(ckpt), "-o", str(out), "--no-eval", "--target", "loihi2", *flag]) == 0
        q, info = read_nir(out)
        _same(ref, q)
        _records_equal(ref, q, ref.encode_input(task.x_test[:16].numpy()))
    mix = np.asarray(nir.read(tmp_path / "m-float.nir").nodes["layer0.neuron"].metadata[SCHEMA_KEY]["mix"]["m"]["w"])
    assert np.array_equal(mix, np.diag(np.diagonal(mix)))


def test_target_where_it_would_be_ignored_is_an_error(tmp_path, task, capsys):
    """--target / --mixing that would be ignored or contradict each other: one line on stderr, exit 2."""
    model = _net("ltc", "ltc")
    ckpt = _ckpt(tmp_path, model, task, {"quant_plan": make_plan(model, task.input_sample(),
                                                                 **target_profile("loihi2"))})
    out = tmp_path / "m.nir"
    for argv in (["--target", "host"], ["--mixing", "dense"]):
        assert to_nir.main([str(ckpt), "-o", str(out), "--no-eval", *argv]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "would be ignored" in err and not out.exists()
    plain_ckpt = _ckpt(tmp_path, model, task, None, name="plain.pt")
    assert to_nir.main([str(plain_ckpt), "-o", str(out), "--no-eval", "--target", "loihi2", "--mixing", "dense"]) == 2
    assert "contradicts" in capsys.readouterr().err
    assert to_nir.main([str(ckpt), "-o", str(out), "--no-eval", "--target", "loihi2"]) == 0
    assert sim_run.main([str(out), "--target", "loihi2"]) == 2
    assert "do not apply" in capsys.readouterr().err


def test_membrane_readout_flags_are_checked(task):
    """A NIR file whose readout synapse disagrees with what the layer below sends is refused."""
    qnet, _, _ = quantize(_net("ltc", "membrane"), task.input_sample(), task=ckpt_task(task))
    for node, key, value, message in (("readout.syn_in", "wide", False, "not wide"),
                                      ("layer1.neuron", "output", "s", "is wide")):
        g = qnet_to_nir(qnet)
        g.nodes[node].metadata[SCHEMA_KEY][key] = value
        with pytest.raises(InputError, match=message):
            qnet_from_graph(g)


def test_round_trip_frame_input(tmp_path):
    """A (C, H, W) input goes through a Flatten node before the first synapse; still exact."""
    torch.manual_seed(2)
    model = SpikingNet(NetConfig((2, 3, 4), 3, [LayerConfig(10)], neuron="alif", readout="ltc"))
    x = torch.rand(16, 5, 2, 3, 4) * 2 - 1                        # graded, signed
    qnet, _, _ = quantize(model, x, "dense")
    assert qnet.input_range == (-128, 127)
    for quantized in (True, False):
        g = qnet_to_nir(qnet, model, dt=5e-4, quantized=quantized)
        assert "input.flatten" in g.nodes
        q = read_qnet(write_nir(tmp_path / f"frame{quantized}.nir", g))
        _same(qnet, q)
        _records_equal(qnet, q, qnet.encode_input(x.numpy()))


def ckpt_task(task):
    return {k: v for k, v in task.describe().items() if v is not None}


def test_exported_graph_is_plain_nir(tmp_path, task):
    import norse.torch as norse
    model = _net("ltc", "ltc")
    qnet, _, _ = quantize(model, task.input_sample(), "dense", task=task.describe())
    path = write_nir(tmp_path / "ltc.nir", qnet_to_nir(qnet, dt=1e-3))
    g = nir.read(path)                                      # plain nir, type-checked
    assert {type(n).__name__ for n in g.nodes.values()} <= STANDARD
    assert all("/" not in k for k in g.nodes)
    assert g.metadata[SCHEMA_KEY]["schema_version"] == SCHEMA_VERSION
    assert g.metadata[SCHEMA_KEY]["dt"] == 1e-3
    assert set(g.edges) >= {("layer0.neuron", "layer0.syn_rec"), ("layer0.syn_rec", "layer0.neuron")}
    # standard fields sit exactly on the integer grid
    syn = g.nodes["layer0.syn_in"]
    m = syn.metadata[SCHEMA_KEY]
    assert np.array_equal(syn.weight, m["q"].astype(np.float64) * 2.0 ** int(m["exponent"]))
    net = norse.from_nir(g, dt=1e-3)
    state = None
    for t in range(3):
        out, state = net(task.x_test[:4, t].float(), state)
    assert out.shape == (4, 10)


def _norse_run(net, x, names):
    state, rec = None, {k: [] for k in names}
    with torch.no_grad():
        for t in range(x.shape[1]):
            _, state = net(x[:, t], state)
            for k in names:
                rec[k].append(state.cache[k])
    return {k: torch.stack(v, 1) for k, v in rec.items()}


def test_norse_simulates_our_float_lif_graph_exactly(tmp_path):
    """Our float LIF (i = (1-du) i + a; v = (1-dv) v + i + bias; s = v > vth; v = 0 on spike) exported as
    CubaLIF(tau_syn = dt/du, w_in = 1/du, tau_mem = dt/dv, r = 1/dv): norse's forward Euler at the same dt
    gives the same spikes (bias = 0: norse 1.1.0 also feeds v_leak into its synapse, see docs/nir_schema.md)."""
    import norse.torch as norse
    dt = 1e-3
    torch.manual_seed(1)
    model = SpikingNet(NetConfig((8,), 4, [LayerConfig(20), LayerConfig(12)], neuron="lif", readout="const"))
    with torch.no_grad():
        for layer in model.layers:
            layer.fc_x.weight.mul_(3.0)
            layer.du_logit.fill_(-1.0)
    x = (torch.rand(3, 60, 8) < 0.3).float()
    qnet, _, _ = quantize(model, x, "dense")
    path = write_nir(tmp_path / "float.nir", qnet_to_nir(qnet, model, dt=dt, quantized=False))
    net = norse.from_nir(nir.read(path), dt=dt)
    got = _norse_run(net, x, ["layer0_neuron", "layer1_neuron"])
    with torch.no_grad():
        _, _, spikes = model(x, record=True)
    for k, want in zip(got, spikes):
        assert want.sum() > 50
        assert torch.equal(got[k], want), k


def _norse_lif_net(n_in, n, n_out, dt):
    import norse.torch as norse
    torch.manual_seed(0)
    net = norse.SequentialState(
        torch.nn.Linear(n_in, n),
        norse.LIFBoxCell(norse.LIFBoxParameters(tau_mem_inv=torch.full((n,), 100.0), v_th=torch.full((n,), 0.3),
                                                v_leak=torch.zeros(n)), dt=dt),
        torch.nn.Linear(n, n_out),
        norse.LIBoxCell(norse.LIBoxParameters(tau_mem_inv=torch.full((n_out,), 50.0), v_leak=torch.zeros(n_out)),
                        dt=dt))
    with torch.no_grad():
        net[0].weight.mul_(8.0)
    return net


def _float_sim(parts, x):
    """Our float semantics of third-party parts (LIF layers + readout) in float64."""
    B = x.shape[0]
    state = [(torch.zeros(B, len(p["bias"]["v"]), dtype=torch.float64),) * 2 for p in parts[:-1]]
    ro = parts[-1]
    u = torch.zeros(B, len(ro["bias"]["d"]), dtype=torch.float64)
    spikes, outs = [[] for _ in parts[:-1]], []
    s_prev = [torch.zeros(B, len(p["bias"]["v"]), dtype=torch.float64) for p in parts[:-1]]
    for t in range(x.shape[1]):
        h = x[:, t].double().reshape(B, -1)
        for j, p in enumerate(parts[:-1]):
            a = h @ p["syn"]["d"]["input"].T
            if "self" in p["syn"]["d"]:
                a = a + s_prev[j] @ p["syn"]["d"]["self"].T
            i, v = state[j]
            i, v, h = lif_step(a, i, v, p["du"], p["dv"], p["vth"], p["bias"]["v"])
            state[j], s_prev[j] = (i, v), h
            spikes[j].append(h)
        u = leaky_readout_step(h @ ro["syn"]["d"]["input"].T + ro["bias"]["d"], u, ro["alpha"])
        outs.append(u)
    return [torch.stack(s, 1) for s in spikes], torch.stack(outs, 1)


def test_norse_export_is_read_and_simulated(tmp_path):
    """norse 1.1.0's to_nir writes tau*dt (norse#411): the loader detects it (every tau < dt/2) and
    recovers tau; our float reading then equals norse's own simulation, the integer one is close."""
    import norse.torch as norse
    dt, T = 1e-3, 100
    net = _norse_lif_net(4, 10, 3, dt)
    path = tmp_path / "norse.nir"
    nir.write(path, norse.to_nir(net, torch.zeros(4), dt=dt))
    assert nir.read(path).nodes["1"].tau[0] == pytest.approx(1e-5)    # the bug: 10 ms * 1 ms
    q, info = read_nir(path, dt=dt)
    assert info["norse411"] and info["origin"] == "third-party"
    assert q.layers[0].dv == round(4096 * 0.1) and q.layers[0].du == 4095
    x = (torch.rand(2, T, 4, generator=torch.Generator().manual_seed(3)) < 0.3).float()
    z_ref, o_ref = [], []
    state = [None] * 4
    with torch.no_grad():
        for t in range(T):
            z, state[1] = net[1](net[0](x[:, t]), state[1])
            o, state[3] = net[3](net[2](z), state[3])
            z_ref.append(z)
            o_ref.append(o)
    z_ref, o_ref = torch.stack(z_ref, 1), torch.stack(o_ref, 1)
    (z_f,), o_f = _float_sim(info["parts"], x)
    assert z_ref.sum() > 50
    assert torch.equal(z_f, z_ref.double())
    assert torch.allclose(o_f, o_ref.double(), atol=1e-5)
    out, rec = simulate(q, q.encode_input(x.numpy()), record=True)
    assert np.mean(rec[0]["s"] != z_ref.numpy()) < 0.02            # quantization flips a few spikes
    assert np.abs(out / 2.0 ** q.readout.frac_bits - o_ref.numpy()).max() < 0.05
    with pytest.raises(InputError, match="unstable"):
        read_qnet(path, dt=dt, norse411=False)


def test_third_party_cubalif_matches_norse():
    """A CubaLIF graph (tau_syn, tau_mem, r, w_in): our reading equals norse's forward Euler."""
    import norse.torch as norse
    dt, n, T = 1e-3, 6, 80
    rng = np.random.default_rng(0)
    g = nir.NIRGraph(nodes={
        "in": nir.Input(input_type={"input": np.array([3])}),
        "w": nir.Linear(weight=rng.normal(0, 2.0, (n, 3))),
        "lif": nir.CubaLIF(tau_syn=np.full(n, 4e-3), tau_mem=np.full(n, 2e-2), r=np.full(n, 2.0),
                           v_leak=np.zeros(n), v_threshold=np.full(n, 0.2), v_reset=np.zeros(n), w_in=np.full(n, 1.5)),
        "rec": nir.Linear(weight=rng.normal(0, 0.3, (n, n))),
        "out": nir.Output(output_type={"output": np.array([n])})},
        edges=[("in", "w"), ("w", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "out")])
    q, info = qnet_from_graph(g, dt=dt)
    assert not info["norse411"] and "no LI readout" in info["notes"][0]
    x = (torch.rand(2, T, 3, generator=torch.Generator().manual_seed(1)) < 0.3).float()
    want = _norse_run(norse.from_nir(g, dt=dt), x, ["lif"])["lif"]
    (got,), out = _float_sim(info["parts"], x)
    assert want.sum() > 20
    assert torch.equal(got, want.double())
    assert torch.equal(out, got)                           # the appended readout passes the spikes through
    _, rec = simulate(q, q.encode_input(x.numpy()), record=True)
    assert np.mean(rec[0]["s"] != want.numpy()) < 0.05


def test_third_party_mapping_rules():
    def graph(**lif):
        kw = dict(tau=np.full(2, 1e-2), r=np.ones(2), v_leak=np.zeros(2), v_threshold=np.ones(2), v_reset=np.zeros(2))
        kw.update(lif)
        return nir.NIRGraph(nodes={"in": nir.Input(input_type={"input": np.array([2])}),
                                   "w": nir.Affine(weight=np.eye(2) * 0.5, bias=np.array([0.1, 0.0])),
                                   "lif": nir.LIF(**kw),
                                   "li_w": nir.Linear(weight=np.ones((1, 2))),
                                   "li": nir.LI(tau=np.array([5e-3]), r=np.array([2.0]), v_leak=np.array([0.25])),
                                   "out": nir.Output(output_type={"output": np.array([1])})},
                            edges=[("in", "w"), ("w", "lif"), ("lif", "li_w"), ("li_w", "li"), ("li", "out")])
    _, info = qnet_from_graph(graph(v_leak=np.array([0.5, 0.0])), dt=1e-3)
    lif, ro = info["parts"]
    # LIF: du = 1, dv = dt/tau, weights * r dt/tau, bias on v = dt/tau (v_leak + r b)
    assert float(lif["dv"]) == pytest.approx(0.1) and float(lif["du"]) == 1.0
    assert np.allclose(lif["syn"]["d"]["input"].numpy(), np.eye(2) * 0.05)
    assert np.allclose(lif["bias"]["v"].numpy(), [0.1 * (0.5 + 0.1), 0.0])
    # LI readout: alpha = dt/tau, W_o = r W, c = r b + v_leak
    assert np.allclose(ro["alpha"].numpy(), [0.2]) and np.allclose(ro["syn"]["d"]["input"].numpy(), [[2.0, 2.0]])
    assert np.allclose(ro["bias"]["d"].numpy(), [0.25])
    # per-neuron thresholds are folded into the weights
    _, info = qnet_from_graph(graph(v_threshold=np.array([1.0, 2.0])), dt=1e-3)
    assert info["parts"][0]["vth"] == 1.0 and any("thresholds" in n for n in info["notes"])
    assert np.allclose(info["parts"][0]["syn"]["d"]["input"].numpy(), np.diag([0.05, 0.025]))
    with pytest.raises(InputError, match="differs across its neurons"):
        qnet_from_graph(graph(tau=np.array([1e-2, 2e-2])), dt=1e-3)
    with pytest.raises(InputError, match="v_reset"):
        qnet_from_graph(graph(v_reset=np.array([0.1, 0.1])), dt=1e-3)
    with pytest.raises(InputError, match="unstable"):
        qnet_from_graph(graph(tau=np.full(2, 1e-3)), dt=2e-3)       # dt/tau = 2, no norse#411 (>= dt/2)


# ---------------------------------------------------------------------------------------------- third-party
@needs_graphs
def test_paper_lif_norse_reproduces_the_lava_run():
    """lif_norse.nir (tau 2.5 ms, dt 1e-4) quantized by our quantizer, driven by the paper's input train:
    the same output spike steps as the paper's Lava fixed-point run. Our quantization differs (vth 205 at
    F = 17, weight code 82 * 2^-11 vs their 25 << 6 and 256), so voltages agree only up to scale: we allow
    +-1 step per spike and the same spike count. lava_clock=True gives Lava's one-step Dense delay."""
    csv = np.loadtxt(GRAPHS / "lif_lava_cpu_fixed.csv", delimiter=",")
    q, info = read_nir(GRAPHS / "lif_norse.nir", dt=1e-4)
    assert (q.layers[0].du, q.layers[0].dv) == (4095, round(4096 * 0.04)) and not info["norse411"]
    _, rec = simulate(q, csv[:, 0].reshape(1, -1, 1).astype(np.int64), record=True, lava_clock=True)
    ours = np.flatnonzero(rec[0]["s"][0, :, 0])
    lava = np.flatnonzero(csv[:, 2])
    assert len(ours) == len(lava) == 4
    assert np.abs(ours - lava).max() <= 1
    # voltages up to the scale: ours on 2^-17, Lava's on 2^-14 (v_th 0.1 -> 1600 = 25 << 6)
    v_ours = rec[0]["v"][0, :, 0] * 2.0**-17
    v_lava = csv[:, 1] * 0.1 / 1600
    assert np.abs(v_ours - v_lava).max() < 0.01


@needs_graphs
def test_paper_graphs_load_and_run():
    q, info = read_nir(GRAPHS / "two_lif_neurons.nir", dt=1e-4)
    assert [layer.kind for layer in q.layers] == ["lif", "lif"]
    assert q.layers[0].bias_mant[0] > 0                     # v_leak = 1.2 became a bias on v
    out, rec = simulate(q, np.zeros((1, 400, 1), dtype=np.int64), record=True)
    first = np.flatnonzero(rec[0]["s"][0, :, 0])
    # v -> 1.2 with dt/tau = 0.01: crosses 1 after ln(6) / 0.01 = 179 steps, then every 179 steps
    assert len(first) == 2 and abs(first[0] - 178) <= 2 and abs(np.diff(first)[0] - 179) <= 2
    assert out.shape == (1, 400, 1)


@pytest.fixture(scope="module")
def cnn():
    return read_nir(GRAPHS / "cnn_sinabs.nir", dt=1e-3)


@needs_graphs
def test_paper_cnn_loads_and_runs(cnn):
    q, info = cnn
    assert q.input_shape == (2, 34, 34)
    assert [layer.n for layer in q.layers] == [4096, 4096, 512, 256, 10]
    assert all(layer.dv == 0 and layer.du == 4095 for layer in q.layers)   # IF: no leak, instantaneous current
    x = (np.random.default_rng(0).random((2, 6, 2, 34, 34)) < 0.15).astype(np.int64)
    out1, rec = simulate(q, x, record=True)
    out2 = simulate(q, x)
    assert out1.shape == (2, 6, 10) and np.array_equal(out1, out2)
    assert rec[0]["s"].sum() > 0


@needs_graphs
def test_paper_cnn_conv_unrolling_is_exact(cnn):
    """The first layer's dense matrix (unrolled Conv2d) equals torch's conv on a random frame."""
    _, info = cnn
    node = nir.read(GRAPHS / "cnn_sinabs.nir").nodes["0"]
    x = torch.rand(1, 2, 34, 34, dtype=torch.float64)
    want = torch.nn.functional.conv2d(x, torch.from_numpy(node.weight).double(), torch.from_numpy(node.bias).double(),
                                      stride=tuple(node.stride), padding=tuple(node.padding))
    W = info["parts"][0]["syn"]["d"]["input"]               # r = 1, IF: weights unscaled
    assert torch.allclose(x.reshape(1, -1) @ W.T, want.reshape(1, -1), atol=1e-12)


@needs_graphs
def test_paper_cnn_resources_count_kernels_and_lava_runs_the_same_graph(cnn):
    """The resource report counts the CNN's convolutions by their kernels (Lava Sparse processes holding the
    non-zero synapses), not as unrolled dense matrices, docs/loihi2.md states its figures, and Lava runs that graph
    bit-exact with sim/."""
    from ltcsn.hardware.lava_net import build_and_run
    from ltcsn.hardware.resources import resource_report
    from ltcsn.sim.simulate import simulate_stream
    q, _ = cnn
    rep = resource_report(q)
    conv = nir.read(GRAPHS / "cnn_sinabs.nir").nodes["0"]
    first = rep["layers"][0]
    assert first["fan_in"] == int(np.prod(conv.weight.shape[1:]))           # C_in x kh x kw, not 2 x 34 x 34
    assert first["synapses"] == first["nonzero_synapses"] < q.layers[0].n * int(np.prod(conv.weight.shape[1:]))
    unrolled = (sum(int(np.size(s.q)) for layer in q.layers for s in layer.syn["d"])
                + int(np.size(q.readout.syn["d"][0].q)))
    assert unrolled > 9_000_000 and rep["synapses"] < unrolled / 8
    readme = " ".join((REPO / "docs" / "loihi2.md").read_text().split())
    assert f"holds {rep['synapses']:,} synapses instead of {unrolled / 1e6:.2f} M unrolled entries" in readme
    first_unrolled = int(np.size(q.layers[0].syn["d"][0].q))
    assert (f"first convolution holds {first['synapses']:,} instead of {first_unrolled / 1e6:.2f} M and has fan-in "
            f"{first['fan_in']} = 2 channels x 5 x 5") in readme and conv.weight.shape[1:] == (2, 5, 5)
    x = (np.random.default_rng(0).random((1, 6, 2, 34, 34)) < 0.15).astype(np.int64)
    run = build_and_run(q, x)
    want = simulate_stream(q, x)
    assert want.any() and np.array_equal(run.outs, want)


@needs_graphs
def test_malformed_rockpool_file_is_a_clear_error():
    with pytest.raises(InputError, match=r"lif_rockpool.nir: not a consistent NIR graph \(Type inference"):
        read_qnet(GRAPHS / "lif_rockpool.nir")


# ---------------------------------------------------------------------------------------------- bad input
def _one_line_error(capsys, rc):
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert err.startswith("error: ") and "\n" not in err, err
    return err


def test_cli_bad_checkpoints(tmp_path, task, capsys):
    out = tmp_path / "model.nir"
    junk = tmp_path / "junk.pt"
    junk.write_text("not a checkpoint")
    assert "not a readable checkpoint" in _one_line_error(capsys, to_nir.main([str(junk), "-o", str(out)]))
    assert "no such file" in _one_line_error(capsys, to_nir.main([str(tmp_path / "none.pt"), "-o", str(out)]))
    ckpt = _ckpt(tmp_path, _net("ltc", "ltc"), task)
    bad = torch.load(ckpt, weights_only=True)
    bad["config"]["neuron"] = "hodgkin-huxley"
    torch.save(bad, tmp_path / "unknown.pt")
    rc = to_nir.main([str(tmp_path / "unknown.pt"), "-o", str(out)])
    assert "config.neuron: expected one of" in _one_line_error(capsys, rc)
    assert "does not exist" in _one_line_error(capsys, to_nir.main([str(ckpt), "-o", str(tmp_path / "no" / "m.nir")]))
    assert not out.exists() and list(tmp_path.glob("*.tmp")) == []


def _edit(path, fn):
    with h5py.File(path, "r+") as f:
        fn(f)


@pytest.fixture
def good_nir(tmp_path, task):
    model = _net("alif", "const")
    qnet, _, _ = quantize(model, task.input_sample(), task=task.describe())
    return write_nir(tmp_path / "good.nir", qnet_to_nir(qnet))


def _copy(good, tmp_path, name):
    dst = tmp_path / name
    dst.write_bytes(good.read_bytes())
    return dst


@pytest.mark.parametrize("case,match", [
    ("not_hdf5", "not a NIR file"),
    ("unknown_type", "node 'layer0.neuron' has unknown type 'LtcNeuron'"),
    ("missing_node_meta", "node 'layer0.neuron' lacks its 'ltcsn' metadata"),
    ("missing_graph_meta", "the graph's is missing"),
    ("wrong_version", "schema version 2; this reader reads version 1"),
    ("inconsistent_shapes", "not a consistent NIR graph"),
    ("edited_weights", "differs from its integer codes"),
])
def test_bad_nir_files(tmp_path, good_nir, capsys, case, match):
    path = _copy(good_nir, tmp_path, f"{case}.nir")
    node = "node/nodes/layer0.neuron"
    if case == "not_hdf5":
        path.write_text("hello")
    elif case == "unknown_type":
        def fn(f):
            del f[node]["type"]
            f[node].create_dataset("type", data="LtcNeuron", dtype=h5py.string_dtype())
        _edit(path, fn)
    elif case == "missing_node_meta":
        _edit(path, lambda f: f[node].__delitem__("metadata"))
    elif case == "missing_graph_meta":
        _edit(path, lambda f: f["node"].__delitem__("metadata"))
    elif case == "wrong_version":
        _edit(path, lambda f: f["node/metadata/ltcsn/schema_version"].write_direct(np.array(2)))
    elif case == "inconsistent_shapes":
        def fn(f):
            w = f["node/nodes/layer0.syn_in/weight"][()]
            del f["node/nodes/layer0.syn_in/weight"]
            f["node/nodes/layer0.syn_in"].create_dataset("weight", data=w[:, :-1])
        _edit(path, fn)
    elif case == "edited_weights":
        _edit(path, lambda f: f["node/nodes/readout.syn_in/weight"].write_direct(
            f["node/nodes/readout.syn_in/weight"][()] + 1e-3))
    with pytest.raises(InputError, match=match):
        read_qnet(path)
    assert match.split("(")[0] in _one_line_error(capsys, sim_run.main([str(path)]))


def test_write_nir_is_atomic(tmp_path, good_nir):
    g = nir.read(good_nir)
    before = good_nir.read_bytes()
    g.metadata["bad"] = {"x": None}
    with pytest.raises(InputError, match="None"):
        write_nir(good_nir, g)
    assert good_nir.read_bytes() == before and list(tmp_path.glob(".*tmp")) == []


def test_cli_end_to_end(tmp_path, task):
    """The real command: summary with bit widths, quantization error and float vs integer accuracy; a bad
    input exits 2 with one line on stderr."""
    ckpt = _ckpt(tmp_path, _net("lif", "const"), task)
    run = subprocess.run([sys.executable, "export/to_nir.py", str(ckpt), "--samples", "64"], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "model.nir").is_file()
    for text in ("layer0", "8 bit", "rel.err", "clipped", "float", "integer (sim/)"):
        assert text in run.stdout
    bad = subprocess.run([sys.executable, "export/to_nir.py", str(tmp_path / "model.nir"), "-o",
                          str(tmp_path / "x.nir")], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and bad.stderr.startswith("error: ")
    assert not (tmp_path / "x.nir").exists()
