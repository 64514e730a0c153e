"""Loihi 2 neuron programs: the LTC / ALIF / readout update of docs/fixed_point.md as data.

A layer's neuron update is a short straight-line list of integer instructions of the kinds a Loihi 2 neuron
program has (docs/fixed_point.md, "The loihi2 profile"): read the synaptic input of a part, add, subtract,
multiply, shift, compare, select, min / clamp, send. `neuron_program(layer)` builds it from a layer's
integer parameters (shifts and constants as immediates, per-neuron codes as named parameters),
`run_program` interprets it on numpy int64 arrays ([B, n] per register), and tests check it against
`sim.integer.ltc_neuron_step` bit for bit. `host_reason(layer)` says why a layer is not a Loihi 2 neuron
program (None when it is one, or a stock Lava neuron).

Registers: the layer's state words (u, s, b; the readout: u), its per-neuron parameters (read only) and
temporaries. All arithmetic is exact (int64); the program saturates where the spec does, with `clamp`.
"""
from dataclasses import dataclass

import numpy as np

from ltcsn.sim.qnet import QLif, QLtc
from ltcsn.sim.spec import DECAY_BITS, DECAY_ONE, PWL_CAP, STATE_MAX, pwl_segments

# instruction kinds: dst = f(args); a str arg names a register or parameter, an int is an immediate
OPS = {
    "recv": "dst = synaptic input of part args[0] (the Dense sum delivered this step)",
    "add": "dst = a + b",
    "sub": "dst = a - b",
    "mul": "dst = a * b",
    "shl": "dst = a << k (k >= 0), a >> -k (k < 0, arithmetic: floor); k an immediate",
    "min": "dst = min(a, b)",
    "clamp": "dst = min(max(a, lo), hi)",
    "lt": "dst = 1 if a < b else 0",
    "gt": "dst = 1 if a > b else 0",
    "select": "dst = a if c else b",
    "send": "send a to the layer above (spike or graded payload)",
}


@dataclass(frozen=True)
class Instruction:
    op: str            # one of OPS
    dst: str           # register written ("" for send)
    args: tuple        # register / parameter names (str) or immediates (int)

    def __str__(self):
        return f"{self.op:6s} {self.dst + ', ' if self.dst else ''}{', '.join(str(a) for a in self.args)}"


@dataclass(frozen=True)
class NeuronProgram:
    """The neuron update of one layer. state: the persistent per-neuron registers (24-bit words; s holds
    0/1), params: the per-neuron constants the program reads (24-bit words), instructions: run in order
    once per time step."""
    kind: str
    instructions: tuple
    state: tuple
    params: tuple

    @property
    def length(self) -> int:
        """Instructions per neuron per time step."""
        return len(self.instructions)

    @property
    def state_words(self) -> int:
        """24-bit state words per neuron."""
        return len(self.state)

    @property
    def param_words(self) -> int:
        """Per-neuron parameter words (biases, mixing codes, constant decays, threshold)."""
        return len(self.params)

    def __str__(self):
        return "\n".join(str(ins) for ins in self.instructions)


def host_reason(layer) -> str | None:
    """None when the layer's update runs on a Loihi 2 neuron core (a neuron program of this module, or Lava's
    stock LIF), else a one-line reason it needs the host CPU."""
    if isinstance(layer, QLif):
        return None
    if layer.gated and layer.mixing == "dense":
        return "dense mixing reads other neurons' state"
    if layer.gated and layer.sigmoid == "lut":
        return ("its gates use the 512-entry sigmoid table; no public source shows table lookups in Loihi 2 "
                "neuron programs (the loihi2 profile uses the piecewise-linear sigmoid)")
    return None


class _Builder:
    """Appends instructions; temporaries are named t0, t1, ... (fresh per use)."""

    def __init__(self):
        self.code, self.n_tmp = [], 0

    def tmp(self) -> str:
        self.n_tmp += 1
        return f"t{self.n_tmp - 1}"

    def emit(self, op: str, dst: str, *args) -> str:
        self.code.append(Instruction(op, dst, tuple(int(a) if isinstance(a, (int, np.integer)) else a
                                                     for a in args)))
        return dst

    def rshr(self, dst: str, x: str, k: int) -> str:
        """Round half up: (x + 2^(k-1)) >> k."""
        self.emit("add", dst, x, 1 << (k - 1))
        return self.emit("shl", dst, dst, -k)

    def sat(self, dst: str, x: str) -> str:
        return self.emit("clamp", dst, x, -STATE_MAX, STATE_MAX)

    def pwl_sigmoid(self, dst: str, z: str, frac_bits: int) -> str:
        """`sim.integer.pwl_sigmoid`: a = |z|; h = min(cap, min_k(offset_k + shl(a, 12 - F - shift_k)));
        dst = z < 0 ? 4096 - h : min(h, 4095)."""
        neg, a, h, t = self.tmp(), self.tmp(), self.tmp(), self.tmp()
        self.emit("lt", neg, z, 0)
        self.emit("sub", a, 0, z)
        self.emit("select", a, neg, a, z)
        for i, (offset, k) in enumerate(pwl_segments(frac_bits)):
            target = h if i == 0 else t
            self.emit("shl", target, a, k)
            self.emit("add", target, target, offset)
            if i:
                self.emit("min", h, h, t)
        self.emit("min", h, h, PWL_CAP)
        self.emit("sub", t, DECAY_ONE, h)
        self.emit("min", h, h, DECAY_ONE - 1)
        return self.emit("select", dst, neg, t, h)

    def gate(self, dst: str, layer: QLtc, part: str, state_var: str) -> str:
        """Decay code of gate `part`: sigmoid(sat(acc + bias + shl(mix * state_var, e), 24))."""
        z, t = self.tmp(), self.tmp()
        self.emit("recv", z, part)
        self.emit("add", z, z, f"bias_{part}")
        self.emit("mul", t, state_var, f"mix_{part}")
        self.emit("shl", t, t, int(layer.mix_shift[part]))
        self.emit("add", z, z, t)
        self.sat(z, z)
        return self.pwl_sigmoid(dst, z, layer.frac_bits)

    def decay_toward(self, dst: str, x: str, target: str, decay: str) -> str:
        """dst = x + rshr(decay * (target - x), 12)."""
        t = self.tmp()
        self.emit("sub", t, target, x)
        self.emit("mul", t, decay, t)
        self.rshr(t, t, DECAY_BITS)
        return self.emit("add", dst, x, t)


def _decay(p: "_Builder", layer, params: list, name: str, part: str, state_var: str) -> str:
    """The decay code `name`: the gate of synaptic part `part` on `state_var` (gated layers; its bias and mixing
    become parameters) or a constant per-neuron parameter (ungated layers). Appends to params."""
    if layer.gated:
        params += [f"bias_{part}", f"mix_{part}"]
        return p.gate(name, layer, part, state_var)
    params.append(name)
    return name


def neuron_program(layer) -> NeuronProgram:
    """The Loihi 2 neuron program of an LTC / ALIF / readout layer (sim.qnet.QLtc) with neuron-local updates:
    diagonal (or no) mixing and the piecewise-linear sigmoid. Raises ValueError for a layer that is not one
    (`host_reason` says why; LIF layers run Lava's stock LIF neuron)."""
    if isinstance(layer, QLif):
        raise ValueError("LIF layers run Lava's stock LIF neuron (lava.proc.lif), not a neuron program")
    reason = host_reason(layer)
    if reason is not None:
        raise ValueError(f"{layer.kind} layer is not a Loihi 2 neuron program: {reason}")
    p = _Builder()
    params = ["bias_d"]
    d = p.emit("recv", "d", "d")
    p.emit("add", d, d, "bias_d")
    p.sat(d, d)
    alpha = _decay(p, layer, params, "alpha", "m", "u")
    u_new = "u" if not layer.spiking else "u_tilde"
    p.sat(u_new, p.decay_toward(u_new, "u", d, alpha))
    if not layer.spiking:
        p.emit("send", "", "u")
        return NeuronProgram(layer.kind, tuple(p.code), ("u",), tuple(params))
    rho = _decay(p, layer, params, "rho", "a", "b")
    s_scaled = p.emit("shl", "s_scaled", "s", layer.frac_bits)
    p.decay_toward("b", s_scaled, "b", rho)            # b = S + rshr(rho (b - S), 12)
    theta = p.emit("mul", "theta", "beta", "b")
    p.rshr(theta, theta, DECAY_BITS)
    p.emit("add", theta, theta, "theta0")
    params += ["theta0", "beta"]
    p.emit("gt", "s", u_new, theta)
    p.emit("select", "u", "s", 0, u_new)
    p.emit("send", "", "u" if layer.output == "u" else "s")
    return NeuronProgram(layer.kind, tuple(p.code), ("u", "s", "b"), tuple(params))


def program_parameters(layer: QLtc, program: NeuronProgram) -> dict:
    """The per-neuron parameter values [n] (int64) a layer's program reads, by name."""
    n = layer.n
    values = {f"bias_{part}": c for part, c in layer.bias.items()}
    values.update({f"mix_{part}": q for part, q in layer.mix.items()})
    values.update(alpha=layer.alpha, rho=layer.rho, theta0=layer.theta0, beta=layer.beta)
    return {name: np.broadcast_to(np.asarray(values[name], dtype=np.int64), (n,)) for name in program.params}


def run_program(program: NeuronProgram, params: dict, state: dict, inputs: dict):
    """Interpret one time step. params: name -> [n]; state: name -> [B, n]; inputs: part -> [B, n] synaptic
    sums. Returns (what the program sent [B, n], new state dict). int64 throughout."""
    regs = {**{k: np.asarray(v, dtype=np.int64) for k, v in params.items()},
            **{k: np.asarray(v, dtype=np.int64) for k, v in state.items()}}

    def val(a):
        return np.int64(a) if isinstance(a, int) else regs[a]

    sent = None
    for ins in program.instructions:
        a = ins.args
        if ins.op == "recv":
            out = np.asarray(inputs[a[0]], dtype=np.int64)
        elif ins.op == "add":
            out = val(a[0]) + val(a[1])
        elif ins.op == "sub":
            out = val(a[0]) - val(a[1])
        elif ins.op == "mul":
            out = val(a[0]) * val(a[1])
        elif ins.op == "shl":
            out = val(a[0]) << a[1] if a[1] >= 0 else val(a[0]) >> -a[1]
        elif ins.op == "min":
            out = np.minimum(val(a[0]), val(a[1]))
        elif ins.op == "clamp":
            out = np.clip(val(a[0]), a[1], a[2])
        elif ins.op == "lt":
            out = (val(a[0]) < val(a[1])).astype(np.int64)
        elif ins.op == "gt":
            out = (val(a[0]) > val(a[1])).astype(np.int64)
        elif ins.op == "select":
            out = np.where(val(a[0]) != 0, val(a[1]), val(a[2]))
        elif ins.op == "send":
            sent = val(a[0])
            continue
        else:
            raise ValueError(f"unknown instruction {ins.op!r}")
        regs[ins.dst] = out
    return sent, {k: regs[k] for k in program.state}
