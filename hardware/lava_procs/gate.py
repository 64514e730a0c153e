"""SpikeGate: passes spikes through in the same step, except those sent before window step `hop`.

On the recurrent path of a recurrent LIF layer (Lava's LIFReset), it stops the spikes of the layer's warm-up
steps (before its input arrives) from re-entering the layer after its reset: see sim.simulate.simulate_stream.
"""
import numpy as np

from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from ltcsn.sim import spec


class SpikeGate(AbstractProcess):
    """shape: (n,); hop: first window step whose spikes pass; window: steps per sample."""

    def __init__(self, shape, hop: int, window: int, name: str = None):
        super().__init__(hop=hop, window=window, name=name)
        self.s_in = InPort(shape=shape)
        self.s_out = OutPort(shape=shape)


class _SpikeGateModel(PyLoihiProcessModel):
    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.hop, self.window = proc_params["hop"], proc_params["window"]

    def run_spk(self):
        s = self.s_in.recv()
        if spec.warming_up(spec.lava_window_step(self.time_step, self.window), self.hop):
            s = np.zeros_like(s)
        self.s_out.send(s)


@implements(proc=SpikeGate, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PySpikeGateModelFixed(_SpikeGateModel):
    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=1)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=1)


@implements(proc=SpikeGate, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PySpikeGateModelFloat(_SpikeGateModel):
    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
