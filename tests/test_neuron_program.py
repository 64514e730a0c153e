"""The Loihi 2 neuron programs (sim/neuron_program.py) are the integer update of sim/integer.py, bit for bit."""
import numpy as np
import pytest

from ltcsn.sim.integer import ltc_neuron_step, pwl_sigmoid, state_type
from ltcsn.sim.neuron_program import OPS, host_reason, neuron_program, program_parameters, run_program
from ltcsn.sim.ops import NumpyOps
from ltcsn.sim.qnet import DECAY_ONE, PWL_SEGMENTS, QLif, QLtc, QSynapse, sigmoid_lut

STATE_MAX = 2**23 - 1


def _edgy(rng, shape, lo, hi):
    """Random integers in [lo, hi] with a quarter of them at (or next to) the edges and at 0."""
    x = rng.integers(lo, hi + 1, size=shape)
    edges = np.array([lo, lo + 1, hi - 1, hi, 0, -1, 1])
    edges = edges[(edges >= lo) & (edges <= hi)]
    pick = rng.random(shape) < 0.25
    x[pick] = rng.choice(edges, size=int(pick.sum()))
    return x.astype(np.int64)


def _layer(rng, kind: str, n: int, gated: bool, output: str = "s") -> QLtc:
    spiking = kind != "readout"
    parts = ("d", "m", "a") if gated and spiking else ("d", "m") if gated else ("d",)
    layer = QLtc(kind=kind, n=n, syn={p: [QSynapse(np.zeros((n, 1)), 0, "input")] for p in parts},
                 bias={p: _edgy(rng, n, -STATE_MAX, STATE_MAX) // rng.choice([1, 64, 4096]) for p in parts},
                 gated=gated, spiking=spiking, mixing="diag" if gated else "dense",
                 sigmoid="pwl" if gated else "lut", output=output)
    if gated:
        for p in parts[1:]:
            layer.mix[p] = _edgy(rng, n, -127, 127)
            layer.mix_shift[p] = int(rng.integers(-6, 8))
    else:
        layer.alpha = _edgy(rng, n, 0, DECAY_ONE)
        if spiking:
            layer.rho = _edgy(rng, n, 0, DECAY_ONE)
    if spiking:
        layer.theta0 = int(rng.integers(0, 2**20))
        layer.beta = int(rng.integers(0, 2**14))
    return layer


CASES = [("ltc", True, "s"), ("ltc", True, "u"), ("alif", False, "s"), ("alif", False, "u"),
         ("readout", True, "s"), ("readout", False, "s")]


@pytest.mark.parametrize("kind,gated,output", CASES)
@pytest.mark.parametrize("seed", range(4))
def test_program_equals_sim_integer(kind, gated, output, seed):
    """Random layers, states and synaptic inputs (edge values included: saturated states and inputs, closed and
    open gates, zero and full decays): the interpreted program == ltc_neuron_step, outputs and every state word."""
    rng = np.random.default_rng(seed)
    B, n = 64, 16
    layer = _layer(rng, kind, n, gated, output)
    prog = neuron_program(layer)
    assert prog.length == len(prog.instructions) and {i.op for i in prog.instructions} <= set(OPS)
    params = program_parameters(layer, prog)
    spiking = layer.spiking
    state = {"u": _edgy(rng, (B, n), -STATE_MAX, STATE_MAX)}
    if spiking:
        state["s"] = rng.integers(0, 2, (B, n))
        state["b"] = _edgy(rng, (B, n), 0, 1 << layer.frac_bits)
    for step in range(6):
        big = 2**rng.integers(8, 30)
        acc = {p: _edgy(rng, (B, n), -big, big) for p in layer.syn}
        sim_state = state_type(layer)(**state)
        out, new = ltc_neuron_step(NumpyOps, layer, acc, sim_state, sigmoid_lut())
        sent, got = run_program(prog, params, state, acc)
        for name, want in zip(prog.state, new):
            bad = np.argwhere(got[name] != want)
            assert bad.size == 0, (f"{kind} step {step}: state {name} differs first at {tuple(bad[0])}: "
                                   f"program {got[name][tuple(bad[0])]}, sim {want[tuple(bad[0])]}")
        assert np.array_equal(sent, out)
        state = got


def test_pwl_sigmoid_closes_opens_and_is_monotone():
    """The PWL sigmoid is 0 (a gate that holds its state exactly) for z <= -5, 4095 for z >= 5, 2048 at 0,
    monotone, within 0.019 of 4096 sigmoid(z), and saturates every 24-bit input."""
    F = 12
    z = np.arange(-6 * 2**F, 6 * 2**F)
    y = pwl_sigmoid(NumpyOps, z, F)
    assert np.all(np.diff(y) >= 0) and y.min() == 0 and y.max() == DECAY_ONE - 1
    assert np.all(y[z <= -5 * 2**F] == 0) and np.all(y[z > -5 * 2**F] > 0) and np.all(y[z >= 5 * 2**F] == 4095)
    assert y[z == 0][0] == 2048
    assert np.abs(y - DECAY_ONE / (1 + np.exp(-z / 2**F))).max() < 0.019 * DECAY_ONE
    assert [s for _, s in PWL_SEGMENTS] == [2, 3, 5]
    assert list(pwl_sigmoid(NumpyOps, np.array([-STATE_MAX, STATE_MAX]), F)) == [0, 4095]


def test_host_reasons():
    rng = np.random.default_rng(0)
    layer = _layer(rng, "ltc", 4, True)
    assert host_reason(layer) is None
    layer.sigmoid = "lut"
    assert "table" in host_reason(layer)
    layer.mixing = "dense"
    assert host_reason(layer) == "dense mixing reads other neurons' state"
    with pytest.raises(ValueError, match="dense mixing"):
        neuron_program(layer)
    lif = QLif(n=3, syn={"d": []}, du=0, dv=0, vth=1, bias_mant=np.zeros(3), bias_exp=0, frac_bits=12)
    assert host_reason(lif) is None
    assert host_reason(_layer(rng, "alif", 4, False)) is None
    prog = neuron_program(_layer(rng, "ltc", 4, True))
    assert prog.state_words == 3 and prog.length < 80
    assert neuron_program(_layer(rng, "readout", 4, False)).state_words == 1
