"""The ATRLIF baseline neuron: sim/'s `atrlif_neuron_step` against Lava's own ATRLIF process
(lava.proc.atrlif, PyATRLIFModelFixed) bit for bit, on random and edge inputs and parameters."""
import numpy as np
import pytest

from ltcsn.sim.integer import atrlif_neuron_step, init_state
from ltcsn.sim.ops import NumpyOps
from ltcsn.sim.qnet import QAtrlif

INT32 = (-2**31, 2**31 - 1)


@pytest.fixture(scope="module")
def lava():
    from ltcsn.hardware.lava_net import ensure_lava
    ensure_lava()
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.atrlif.process import ATRLIF
    from lava.proc.io.sink import Read, RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    return dict(RunSteps=RunSteps, Loihi2SimCfg=Loihi2SimCfg, ATRLIF=ATRLIF, Read=Read, Sink=Sink, Source=Source)


def run_lava_atrlif(lv, layer: QAtrlif, a_in: np.ndarray) -> dict:
    """Drive Lava's ATRLIF directly with int32 a_in [T, n] (a RingBuffer sends int32, as Lava's Dense does) and
    read every state variable after every step: {name: [T, n]} in sim's names."""
    from ltcsn.hardware.lava_net import _atrlif_params
    steps, n = a_in.shape
    source = lv["Source"](data=a_in.T.copy())
    neuron = lv["ATRLIF"](shape=(n,), **_atrlif_params(layer, "fixed_pt"))
    source.s_out.connect(neuron.a_in)
    sink = lv["Sink"](shape=(n,), buffer=steps)
    neuron.s_out.connect(sink.a_in)
    reads = {name: lv["Read"](buffer=steps) for name in ("i", "v", "theta", "r")}
    for name, read in reads.items():
        read.connect_var(getattr(neuron, name))
    try:
        source.run(condition=lv["RunSteps"](num_steps=steps), run_cfg=lv["Loihi2SimCfg"](select_tag="fixed_pt"))
        out = {"s": sink.data.get(), **{k: r.data.get() for k, r in reads.items()}}
    finally:
        source.stop()
    for k, a in out.items():
        assert np.array_equal(a, np.round(a)), f"non-integer {k} read from Lava"
    return {k: a.astype(np.int64).T for k, a in out.items()}


def run_sim_atrlif(layer: QAtrlif, a_in: np.ndarray) -> dict:
    state = init_state(NumpyOps, layer, 1)
    out = {k: np.zeros(a_in.shape, np.int64) for k in state._fields}
    for t in range(a_in.shape[0]):
        _, state = atrlif_neuron_step(NumpyOps, layer, a_in[t][None], state)
        for k, v in state._asdict().items():
            out[k][t] = v[0]
    return out


def assert_same(lava_rec: dict, sim_rec: dict, what: str):
    for k, a in lava_rec.items():
        b = sim_rec[k]
        if not np.array_equal(a, b):
            t, j = np.argwhere(a != b)[0]
            pytest.fail(f"{what}: first divergence at step {t}, neuron {j}, {k}: Lava {a[t, j]} sim {b[t, j]}")


def _log_ints(rng, shape, max_bits: int) -> np.ndarray:
    """Signed integers spread over magnitudes 2^0 .. 2^max_bits (log-uniform), zeros included."""
    mag = np.floor(2.0 ** rng.uniform(0, max_bits, shape)).astype(np.int64)
    return np.clip(mag * rng.choice([-1, 0, 1, 1], shape), *INT32)


def _layer(rng, n, **fixed) -> QAtrlif:
    codes = dict(du=int(rng.integers(0, 4096)), dv=int(rng.integers(0, 4096)), dtheta=int(rng.integers(0, 4096)),
                 dr=int(rng.integers(0, 4096)), vth=int(rng.integers(0, 4096)), theta_step=int(rng.integers(0, 4096)),
                 bias_mant=rng.integers(-4096, 4096, n), bias_exp=int(rng.integers(0, 8)))
    codes.update(fixed)
    return QAtrlif(n=n, syn={"d": []}, frac_bits=12, **codes)


EDGE_A_IN = np.array([INT32[1], INT32[0], 0, 1, -1, 2**25, -2**25, 2**25 - 1, 2**17 + 3, -(2**17) - 3,
                      2**26 + 2**25, 131071, -131072])

CASES = [
    ("random", {}),
    ("no decay", dict(du=0, dv=0, dtheta=0, dr=0)),
    ("full decay", dict(du=4095, dv=4095, dtheta=4095, dr=4095)),
    ("max thresholds", dict(vth=4095, theta_step=4095, dtheta=1, dr=1)),
    ("zero threshold", dict(vth=0, theta_step=0, bias_exp=7)),
    ("big bias", dict(bias_mant=np.full(6, 4095), bias_exp=7, vth=1, theta_step=4095, dtheta=0, dr=0)),
]


@pytest.mark.parametrize("case", range(len(CASES)), ids=[c[0] for c in CASES])
def test_atrlif_step_equals_lava_atrlif(lava, case):
    name, fixed = CASES[case]
    rng = np.random.default_rng(case)
    n, steps = 6, 60
    layer = _layer(rng, n, **fixed)
    a_in = _log_ints(rng, (steps, n), 31)
    a_in[rng.random((steps, n)) < 0.3] = 0
    a_in[::7] = rng.choice(EDGE_A_IN, (len(a_in[::7]), n))
    lava_rec = run_lava_atrlif(lava, layer, a_in)
    sim_rec = run_sim_atrlif(layer, a_in)
    assert_same(lava_rec, sim_rec, f"ATRLIF {name} {layer}")
    assert lava_rec["s"].any() and not lava_rec["s"].all(), "every or no step spikes: a weak comparison"


# ---------------------------------------------------------------------------------------- the whole pipeline
@pytest.fixture(scope="module")
def trained():
    """An ATRLIF network (recurrent layer + feed-forward layer + constant-decay readout) trained with FPTT on a
    slice of rdigits, then a few steps of quantization-aware FPTT. Returns (model, plan, task, losses)."""
    import torch
    from ltcsn.train.model import LayerConfig, NetConfig, SpikingNet
    from ltcsn.train.quantize import make_plan
    from ltcsn.train.quantized import QuantizedNet
    from ltcsn.train.tasks import TensorTask, get_task
    from ltcsn.train.trainer import TrainConfig, fit
    full = get_task("rdigits")
    task = TensorTask("rdigits", "classification", 10, full.x_train[:256], full.y_train[:256],
                      full.x_test[:128], full.y_test[:128], {})
    torch.manual_seed(0)
    model = SpikingNet(NetConfig(full.input_shape, 10, [LayerConfig(24), LayerConfig(16, recurrent=False)],
                                 neuron="atrlif", readout="const"))

    def loss(net):
        with torch.no_grad():
            return task.loss(net(task.x_test)[0][:, -1], task.y_test).item()

    losses = [loss(model)]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)        # small tensors: one thread is faster on a busy 2-core machine
    try:
        fit(model, task, TrainConfig(algo="fptt", K=4, epochs=2, batch_size=32, lr=1e-2), progress=False)
        losses.append(loss(model))
        plan = make_plan(model, task.x_train)
        qmodel = QuantizedNet(model, plan)
        before = {n: p.detach().clone() for n, p in model.named_parameters()}
        qtask = TensorTask("rdigits", "classification", 10, task.x_train[:64], task.y_train[:64], task.x_test[:32],
                           task.y_test[:32], {})
        fit(qmodel, qtask, TrainConfig(algo="fptt", K=4, epochs=1, batch_size=32, lr=1e-3), progress=False)
    finally:
        torch.set_num_threads(threads)
    moved = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    return model, plan, task, losses, moved


def test_training_steps_learn_every_atrlif_parameter(trained):
    model, _, _, losses, moved = trained
    assert losses[1] < losses[0] - 0.1, losses
    for name in ("du_logit", "dv_logit", "dtheta_logit", "dr_logit", "bias", "fc_x.weight"):
        assert f"layers.0.{name}" in moved, f"QAT did not update layers.0.{name}"
    assert "layers.0.fc_r.weight" in moved


def test_quantized_torch_sim_and_lava_atrlif_bit_exact_through_nir(tmp_path, lava, trained):
    """The trained network quantized (its QAT plan), written to NIR (integer and float files) and read back: the
    same QNet; then sim/verify.py's stages: quantized torch == sim/ == sim/ on the Lava clock == Lava, whose
    ATRLIF layers are Lava's own `ATRLIF` process (3 samples: the Vars are reset at every window)."""
    from ltcsn.export.nir_read import read_nir
    from ltcsn.export.nir_write import qnet_to_nir, write_nir
    from ltcsn.sim.verify import verify
    from ltcsn.train.quantize import quantize
    model, plan, task, _, _ = trained
    qnet, _, _ = quantize(model, task.x_train, plan=plan)
    assert [type(layer).__name__ for layer in qnet.layers] == ["QAtrlif", "QAtrlif"]
    x_int = qnet.encode_input(task.x_test[:3].numpy())
    for quantized in (True, False):
        path = tmp_path / f"model-{quantized}.nir"
        write_nir(path, qnet_to_nir(qnet, model, quantized=quantized))
        q2, info = read_nir(path)
        assert info["quantized_file"] == quantized
        assert all(type(a) is type(b) and a.kind == b.kind for a, b in zip(qnet.layers, q2.layers))
        for a, b in zip(qnet.layers, q2.layers):
            for f in ("du", "dv", "dtheta", "dr", "vth", "theta_step", "bias_exp", "frac_bits"):
                assert int(getattr(a, f)) == int(getattr(b, f)), f
            assert np.array_equal(a.bias_mant, b.bias_mant)
            assert all(np.array_equal(sa.q, sb.q) and sa.shift == sb.shift for sa, sb in zip(a.syn["d"], b.syn["d"]))
    report = verify(q2, x_int, lava=True)
    for pair in report["pairs"]:
        assert pair["mismatches"] == 0, pair["first"]["message"]
    assert [p["pair"] for p in report["pairs"]][-1] == "sim-lava-clock vs lava"
    rec = report["_sim_records"]
    for r in rec[:-1]:
        assert r["s"].sum() > 0 and (r["theta"] > r["theta"].min()).any() and r["r"].any(), \
            "spikes, threshold adaptation and refractoriness must all occur"
