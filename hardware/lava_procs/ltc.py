"""LtcNeuronProcess: an LTC / ALIF / readout population as a Lava Process, and its fixed-point ProcessModel.

The synaptic sums of all parts arrive stacked on one InPort `a_in` ([d; m; a] x n, from Lava Dense
processes), the population sends spikes (the readout: its membrane u) on `s_out` and its membrane u (after the
reset) on `u_out`, which a membrane readout reads as 24-bit graded payloads. The arithmetic is
`sim.integer.ltc_neuron_step`: on numpy int64 (fixed_pt: docs/fixed_point.md, bit for bit) or without rounding
(floating_pt: `sim.ops.FloatOps`, the dequantized network in the same units). Samples run as windows of
`window` steps; the population holds at zero until window step `hop` (the steps its input takes to arrive).
"""
import numpy as np

from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from ltcsn.sim import spec
from ltcsn.sim.integer import init_state, ltc_neuron_step, state_type
from ltcsn.sim.ops import FloatOps, NumpyOps


class LtcNeuronProcess(AbstractProcess):
    """layer: sim.qnet.QLtc; lut: [spec.LUT_SIZE] sigmoid codes (`spec.sigmoid_lut`); hop: first window step with
    input (`spec.layer_hop`); window: steps per sample (`spec.window_length`).
    Ports: a_in (len(layer.syn) * n,) int32, s_out (n,) and u_out (n,) int32. Vars: u, s, b (n,) 24-bit integers
    (a readout updates u only)."""

    def __init__(self, layer, lut, hop: int, window: int, name: str = None):
        n = layer.n
        super().__init__(layer=layer, lut=np.asarray(lut), hop=hop, window=window, name=name)
        self.a_in = InPort(shape=(len(layer.syn) * n,))
        self.s_out = OutPort(shape=(n,))
        self.u_out = OutPort(shape=(n,))
        self.u = Var(shape=(n,), init=0)
        self.s = Var(shape=(n,), init=0)
        self.b = Var(shape=(n,), init=0)


class _LtcNeuronModel(PyLoihiProcessModel):
    """The run_spk shared by both models; `ops` and the port / Var types are set by the subclasses."""
    ops = None

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.layer, self.lut = proc_params["layer"], proc_params["lut"]
        self.hop, self.window = proc_params["hop"], proc_params["window"]
        self.parts = list(self.layer.syn)

    def run_spk(self):
        dtype = self.ops.dtype
        a_in = self.a_in.recv().astype(dtype).reshape(len(self.parts), 1, -1)
        kind = state_type(self.layer)
        if spec.warming_up(spec.lava_window_step(self.time_step, self.window), self.hop):
            state = init_state(self.ops, self.layer, 1)
        else:
            state = kind(*(getattr(self, k).astype(dtype)[None] for k in kind._fields))
            _, state = ltc_neuron_step(self.ops, self.layer, dict(zip(self.parts, a_in)), state, self.lut)
        for k, v in state._asdict().items():
            getattr(self, k)[:] = v[0]
        self.s_out.send((self.s if self.layer.spiking else self.u).copy())
        self.u_out.send(self.u.copy())


@implements(proc=LtcNeuronProcess, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyLtcNeuronModelFixed(_LtcNeuronModel):
    ops = NumpyOps
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=32)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=spec.STATE_BITS)
    u_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=spec.STATE_BITS)
    u: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=spec.STATE_BITS)
    s: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=1)
    b: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=spec.STATE_BITS)


@implements(proc=LtcNeuronProcess, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyLtcNeuronModelFloat(_LtcNeuronModel):
    ops = FloatOps
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    u_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    u: np.ndarray = LavaPyType(np.ndarray, float)
    s: np.ndarray = LavaPyType(np.ndarray, float)
    b: np.ndarray = LavaPyType(np.ndarray, float)
