"""The quantized PyTorch model: the integer network of docs/fixed_point.md, trainable (QAT).

Every forward pass rebuilds the integer codes from the float ("shadow") parameters with a straight-through
round (`ltcsn.train.quantize.build_qnet`) and runs the integer step equations of `sim.integer` on `SteOps`:
float64 tensors whose forward values are exactly the integers `sim/` computes, and whose backward passes
gradients straight through roundings, shifts and wraps, through the sigmoid for the LUT and through the
float model's surrogate for spikes. Output: the readout u divided by 2^F (float scale).
"""
import dataclasses

import numpy as np
import torch
from torch import nn

from ltcsn.train.quantize import build_qnet
from ltcsn.sim import spec
from ltcsn.sim.lava_fixed import exact_dtype
from ltcsn.sim.integer import init_state, net_step
from ltcsn.sim.simulate import simulate
from ltcsn.train.neurons import spike


class _StraightThrough(torch.autograd.Function):
    """Forward: `exact`; backward: the gradient goes to `surrogate` unchanged."""

    @staticmethod
    def forward(ctx, surrogate, exact):
        return exact.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad, None


def _ste(surrogate, exact):
    return _StraightThrough.apply(surrogate, exact.detach())


def round_ste(x):
    return _ste(x, torch.round(x))


def _max_abs(x) -> int:
    return int(x.detach().abs().max()) if x.numel() else 0


class SteOperand:
    """A float64 tensor of integers in several products (`SteOps.matmul`): the spikes a layer reads in three
    synaptic parts, or a synapse's transposed codes q.T [n_in, n_out] in every step of a forward pass. max|x| and
    the float32 copy are made once, not per product."""

    def __init__(self, x):
        self.values = x
        self.max_abs = _max_abs(x)
        self._float32 = None

    def float32(self):
        if self._float32 is None:
            self._float32 = self.values.float()
        return self._float32


class SteOps:
    """The primitives of `sim.ops.NumpyOps` on float64 tensors with straight-through gradients."""
    device = None
    dtype = np.float64       # numpy dtype of records: the float64 tensors hold the integers

    @staticmethod
    def prepare(qnet):
        """The QNet with every synapse's codes q, and every dense mixing matrix, as the `SteOperand` of its transpose
        (bound and float32 copy made once per pass, not once per step), as `NumpyOps.prepare` does for sim/."""
        def layer(lay):
            syn = {part: [dataclasses.replace(syn, q=SteOperand(syn.q.T)) for syn in syns]
                   for part, syns in lay.syn.items()}
            if getattr(lay, "mixing", None) == "dense":
                return dataclasses.replace(lay, syn=syn, mix={p: SteOperand(m.T) for p, m in lay.mix.items()})
            return dataclasses.replace(lay, syn=syn)
        return dataclasses.replace(qnet, layers=[layer(lay) for lay in qnet.layers], readout=layer(qnet.readout))

    @classmethod
    def operand(cls, x):
        return SteOperand(torch.as_tensor(x, dtype=torch.float64, device=cls.device))

    @classmethod
    def matmul(cls, x, q):
        """x [B, n_in] @ q.T, q [n_out, n_in] (tensors; or x an operand and q the operand of q.T, `prepare`): exact
        integers in float64. In float32 where `lava_fixed.exact_dtype` says every partial sum is exact there (spikes
        times 8-bit codes), a cheaper product; the gradients then are float32's."""
        x = x if isinstance(x, SteOperand) else cls.operand(x)
        q_t = q if isinstance(q, SteOperand) else SteOperand(q.T)
        if exact_dtype(x.max_abs * q_t.max_abs * q_t.values.shape[0]) is np.float32:
            return (x.float32() @ q_t.float32()).double()
        return x.values @ q_t.values

    @staticmethod
    def shl(x, k: int):
        y = x * 2.0**k
        return y if k >= 0 else _ste(y, torch.floor(y))

    @staticmethod
    def rshr(x, k: int):
        y = x * 2.0**-k
        return _ste(y, torch.floor(y + 0.5))

    @staticmethod
    def trunc12(x):
        y = x * 2.0**-spec.DECAY_BITS
        return _ste(y, torch.trunc(y))

    @staticmethod
    def sat(x, bits: int):
        m = float(spec.sat_bound(bits))
        return torch.clamp(x, -m, m)

    @staticmethod
    def wrap32(x):
        half = 2.0 ** (spec.INT32_BITS - 1)
        return _ste(x, torch.remainder(x + half, 2 * half) - half)

    @staticmethod
    def wrap_once24(x):
        half = 2.0 ** (spec.STATE_BITS - 1)
        return _ste(x, torch.where(x > half, x - 2 * half, torch.where(x <= -half, x + 2 * half, x)))

    @staticmethod
    def lut(table, z, frac_bits: int):
        table = torch.as_tensor(table, dtype=z.dtype, device=z.device)
        idx = spec.lut_index(SteOps, z.detach(), frac_bits).long()
        return _ste(spec.sigmoid_decay(z, frac_bits, torch.sigmoid), table[idx])

    @staticmethod
    def minimum(x, y):
        return torch.minimum(x, torch.as_tensor(y, dtype=x.dtype, device=x.device))

    @staticmethod
    def where(cond, x, y):
        return torch.where(cond, x, y)

    @staticmethod
    def spike(v, theta, frac_bits: int):
        return spike((v - theta) * 2.0**-frac_bits)

    @classmethod
    def zeros(cls, batch: int, n: int):
        return torch.zeros(batch, n, dtype=torch.float64, device=cls.device)


class QuantizedNet(nn.Module):
    """Wraps a float SpikingNet and a quantization plan; same interface as SpikingNet
    (init_state, forward(x, state) -> (outputs [B, T, n_out], state)), so the FPTT/BPTT trainers run on it."""

    def __init__(self, model, plan: dict):
        super().__init__()
        self.model, self.plan, self.cfg = model, plan, model.cfg

    def qnet(self):
        """The integer network of the current float parameters (float64 tensors, straight-through codes)."""
        return build_qnet(self.model, self.plan, rnd=round_ste)

    def encode_input(self, x):
        return spec.encode_input(x.double(), self.plan["input_frac"], self.plan["input_range"])

    def init_state(self, batch: int, device=None):
        ops = self._ops(device)
        q = self.qnet()
        return [init_state(ops, layer, batch) for layer in q.all_layers]

    @staticmethod
    def _ops(device):
        ops = type("SteOpsOn", (SteOps,), {"device": device})
        return ops

    def forward(self, x, state=None, integer: bool = False):
        """x [B, T, ...] float inputs -> readout u / 2^F [B, T, n_out] (or the raw integers with integer=True)."""
        ops = self._ops(x.device)
        q = ops.prepare(self.qnet())
        if state is None:
            state = [init_state(ops, layer, x.shape[0]) for layer in q.all_layers]
        x_int = self.encode_input(x).flatten(2)
        outs = []
        for t in range(x.shape[1]):
            out, state = net_step(ops, q, x_int[:, t], state)
            outs.append(out)
        outs = torch.stack(outs, 1)
        scale = 1.0 if integer else 2.0 ** -q.readout.frac_bits
        return (outs * scale).float() if not integer else outs, state


def to_torch(obj):
    """A copy of a numpy QNet (or part of one) with every array as a float64 tensor (ints stay ints)."""
    if isinstance(obj, np.ndarray):
        return torch.as_tensor(obj.astype(np.float64))
    if isinstance(obj, np.integer):
        return int(obj)
    if dataclasses.is_dataclass(obj):
        return dataclasses.replace(obj, **{f.name: to_torch(getattr(obj, f.name)) for f in dataclasses.fields(obj)
                                           if f.name != "lut"})
    if isinstance(obj, dict):
        return {k: to_torch(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [to_torch(v) for v in obj]
    return obj


@torch.no_grad()
def simulate_torch(qnet, x_int):
    """The quantized PyTorch stage of a QNet (numpy, or the torch codes of `QuantizedNet.qnet()`):
    `sim.simulate.simulate` on the straight-through backend.
    Returns (readout u [B, T, n_out], records in simulate's format), float64 numpy holding the integers."""
    outs, records = simulate(to_torch(qnet), x_int, record=True, ops=SteOps)
    return outs, records
