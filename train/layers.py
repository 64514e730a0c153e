"""Thin nn.Modules around the functional steps in `train.neurons`.

Every layer has `init_state(batch, device)` and `step(x, state) -> (out, state)`; state is the NamedTuple of
its kind that the integer network uses too (`ltcsn.sim.integer`: SpikingState (u, s, b), LifState (i, v, s),
AtrlifState (i, v, s, theta, r), ReadoutState (u,)), of float tensors. Spiking layers output spikes; the readout
outputs its membrane (the logits / regression value).
`step(x, state, decays=True)` also returns the step's decays (in (0, 1)) in the integer network's decay types
(`SpikingDecays` (alpha, rho), `ReadoutDecays` (alpha,)), None for LIF / ATRLIF layers.
"""
import math

import torch
from torch import nn
import torch.nn.functional as F

from ltcsn.sim.integer import AtrlifState, LifState, ReadoutDecays, ReadoutState, SpikingDecays, SpikingState
from ltcsn.train.neurons import adaptive_step, atrlif_step, leaky_readout_step, lif_step

NEURONS = ("ltc", "alif", "lif", "atrlif")


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


MIXINGS = ("dense", "diag")


class DenseGate(nn.Linear):
    """Gate pre-activation z = W [d; state] + c ([B, n]) of n neurons, W [n, 2n]: dense mixing (host profile)."""

    def __init__(self, n: int, xavier: bool = True):
        super().__init__(2 * n, n)
        if xavier:
            nn.init.xavier_uniform_(self.weight)

    def forward(self, d, state):
        return super().forward(torch.cat([d, state], -1))

    def split(self) -> tuple:
        """(W_d [n, n] on d, the mixing matrix [n, n] on the state)."""
        n = self.out_features
        return self.weight[:, :n], self.weight[:, n:]


class DiagGate(nn.Module):
    """Gate pre-activation z = W_d d + w_s * state + c ([B, n]): each neuron's gate reads its own u / b (the loihi2
    profile's neuron-local form, docs/fixed_point.md). weight W_d [n, n], self_weight w_s [n], bias c [n].
    Drawn as the DenseGate of the same seed and cut to the parts it uses: one seed, one network under either mixing.
    """

    def __init__(self, n: int, xavier: bool = True):
        super().__init__()
        drawn = DenseGate(n, xavier)
        self.weight = nn.Parameter(drawn.weight.detach()[:, :n].clone())
        self.bias = drawn.bias
        self.self_weight = nn.Parameter(torch.diagonal(drawn.weight.detach()[:, n:]).clone())

    def forward(self, d, state):
        return F.linear(d, self.weight, self.bias) + state * self.self_weight

    def split(self) -> tuple:
        """(W_d [n, n] on d, the mixing matrix diag(w_s) [n, n] on the state)."""
        return self.weight, torch.diag(self.self_weight)


def make_gate(n: int, mixing: str, xavier: bool = True) -> nn.Module:
    """The gate of n neurons under a mixing ("dense" | "diag"); xavier: Xavier-uniform weights, else nn.Linear's."""
    return (DenseGate if mixing == "dense" else DiagGate)(n, xavier)


class DenseSpikingLayer(nn.Module):
    """Dense LTC / ALIF / LIF layer, recurrent or feed-forward.

    LTC:  d = W_x x + W_r s + c_x;  alpha = sig(W_m [d; u] + c_m);  rho = sig(W_a [d; b] + c_a) (mixing "diag":
          alpha = sig(W_m d + w_m * u + c_m), rho likewise; `DiagGate`).
    ALIF: the same with alpha = sig(tau_m), rho = sig(tau_a) learned per neuron.
    LIF:  Lava's discrete LIF: scalar learned decays du, dv, threshold vth, per-neuron bias on v.
    ATRLIF: Lava's ATRLIF (lava.proc.atrlif): LIF's learned du, dv and bias plus learned threshold and refractory
    decays dtheta, dr; base threshold vth, threshold step theta_step; no reset.
    State: LTC/ALIF (u, s, b); LIF (i, v, s); ATRLIF (i, v, s, theta, r). Shapes [B, n].
    """

    def __init__(self, n_in: int, n: int, neuron: str = "ltc", recurrent: bool = True,
                 b0: float = 0.1, beta: float = 1.8, vth: float = 1.0, theta_step: float = 0.75,
                 mixing: str = "dense"):
        super().__init__()
        if neuron not in NEURONS:
            raise ValueError(f"unknown neuron type {neuron!r}; expected one of {NEURONS}")
        if mixing not in MIXINGS:
            raise ValueError(f"unknown mixing {mixing!r}; expected one of {MIXINGS}")
        self.n, self.neuron, self.recurrent = n, neuron, recurrent
        self.b0, self.beta, self.vth, self.theta_step = b0, beta, vth, theta_step
        is_lif = neuron in ("lif", "atrlif")
        self.fc_x = nn.Linear(n_in, n, bias=not is_lif)
        nn.init.xavier_uniform_(self.fc_x.weight)
        if not is_lif:
            nn.init.zeros_(self.fc_x.bias)
        self.fc_r = nn.Linear(n, n, bias=False) if recurrent else None
        if recurrent:
            nn.init.orthogonal_(self.fc_r.weight)
        if neuron == "ltc":
            self.gate_m = make_gate(n, mixing)
            self.gate_a = make_gate(n, mixing)
        elif neuron == "alif":
            self.tau_m = nn.Parameter(torch.empty(n).uniform_(-2.0, 0.0))
            self.tau_a = nn.Parameter(torch.empty(n).uniform_(1.0, 3.0))
        else:
            self.du_logit = nn.Parameter(torch.tensor(_logit(0.2)))
            self.dv_logit = nn.Parameter(torch.tensor(_logit(0.1)))
            self.bias = nn.Parameter(torch.zeros(n))
        if neuron == "atrlif":      # Lava's ATRLIF defaults: delta_theta = delta_r = 0.2
            self.dtheta_logit = nn.Parameter(torch.tensor(_logit(0.2)))
            self.dr_logit = nn.Parameter(torch.tensor(_logit(0.2)))

    def init_state(self, batch: int, device=None):
        z = torch.zeros(batch, self.n, device=device)
        if self.neuron == "atrlif":     # i, v, s, theta = vth, r
            return AtrlifState(z, z.clone(), z.clone(), z + self.vth, z.clone())
        return (LifState if self.neuron == "lif" else SpikingState)(z, z.clone(), z.clone())

    def current(self, x, s_prev):
        """Synaptic current d = W_x x (+ c_x) + W_r s_prev."""
        d = self.fc_x(x)
        if self.recurrent:
            d = d + self.fc_r(s_prev)
        return d

    def step(self, x, state, decays: bool = False):
        if self.neuron in ("lif", "atrlif"):
            out = self._lava_step(x, state)
            return (*out, None) if decays else out
        u, s, b = state
        d = self.current(x, s)
        if self.neuron == "ltc":
            alpha = torch.sigmoid(self.gate_m(d, u))
            rho = torch.sigmoid(self.gate_a(d, b))
        else:
            alpha, rho = torch.sigmoid(self.tau_m), torch.sigmoid(self.tau_a)
        u, s, b = adaptive_step(d, u, s, b, alpha, rho, self.b0, self.beta)
        if decays:
            return s, SpikingState(u, s, b), SpikingDecays(alpha.expand_as(d), rho.expand_as(d))
        return s, SpikingState(u, s, b)

    def _lava_step(self, x, state):
        if self.neuron == "atrlif":
            i, v, s, theta, r = state
            i, v, theta, r, s = atrlif_step(self.current(x, s), i, v, theta, r, torch.sigmoid(self.du_logit),
                                            torch.sigmoid(self.dv_logit), torch.sigmoid(self.dtheta_logit),
                                            torch.sigmoid(self.dr_logit), self.vth, self.theta_step, self.bias)
            return s, AtrlifState(i, v, s, theta, r)
        i, v, s = state
        i, v, s = lif_step(self.current(x, s), i, v, torch.sigmoid(self.du_logit),
                           torch.sigmoid(self.dv_logit), self.vth, self.bias)
        return s, LifState(i, v, s)


class ConvLtcLayer(nn.Module):
    """Convolutional LTC layer, sum-gated as in the reference DVS-Gesture model.

    c = AvgPool(Conv_x(x));  alpha = sig(Conv_m(c + u));  rho = sig(Conv_a(c + b)).
    Input [B, C_in, H, W]; state (u, s, b) each [B, C, H/pool, W/pool].
    """

    def __init__(self, in_shape, channels: int, kernel: int = 3, pool: int = 1,
                 b0: float = 0.1, beta: float = 1.8):
        super().__init__()
        c_in, h, w = in_shape
        if h % pool or w % pool:
            raise ValueError(f"pool {pool} does not divide the {h}x{w} feature map")
        pad = kernel // 2
        self.conv_x = nn.Conv2d(c_in, channels, kernel, padding=pad)
        self.conv_m = nn.Conv2d(channels, channels, kernel, padding=pad)
        self.conv_a = nn.Conv2d(channels, channels, kernel, padding=pad)
        self.pool, self.b0, self.beta = pool, b0, beta
        self.in_shape = tuple(in_shape)
        self.out_shape = (channels, h // pool, w // pool)

    def init_state(self, batch: int, device=None):
        z = torch.zeros(batch, *self.out_shape, device=device)
        return SpikingState(z, z.clone(), z.clone())

    def step(self, x, state, decays: bool = False):
        u, s, b = state
        c = self.conv_x(x)
        if self.pool > 1:
            c = F.avg_pool2d(c, self.pool)
        alpha = torch.sigmoid(self.conv_m(c + u))
        rho = torch.sigmoid(self.conv_a(c + b))
        u, s, b = adaptive_step(c, u, s, b, alpha, rho, self.b0, self.beta)
        return (s, SpikingState(u, s, b), SpikingDecays(alpha, rho)) if decays else (s, SpikingState(u, s, b))


class Readout(nn.Module):
    """Leaky-integrator readout: u = (1 - alpha) u + alpha (W_o x + c_o).

    kind "ltc": alpha = sig(W_om [d_o; u] + c) (LTC-gated); "const": alpha = sig(tau_o) per neuron;
    "membrane": alpha = 1 (u = W_o x + c_o), fed with the last spiking layer's membrane u instead of its
    spikes, as the reference Add-task model reads out (in the integer network that layer sends u as 24-bit
    graded payloads; docs/fixed_point.md). State (u,) [B, n_out]; output u.
    """

    def __init__(self, n_in: int, n_out: int, kind: str = "ltc", mixing: str = "dense"):
        super().__init__()
        self.n_out, self.kind, self.gated = n_out, kind, kind == "ltc"
        self.fc = nn.Linear(n_in, n_out)
        nn.init.xavier_uniform_(self.fc.weight)
        nn.init.zeros_(self.fc.bias)
        if kind == "ltc":
            self.gate = make_gate(n_out, mixing, xavier=False)
        elif kind == "const":
            self.tau = nn.Parameter(torch.zeros(n_out))

    def init_state(self, batch: int, device=None):
        return ReadoutState(torch.zeros(batch, self.n_out, device=device))

    def step(self, x, state, decays: bool = False):
        (u,) = state
        d = self.fc(x)
        if self.kind == "membrane":       # u = d: a full update, alpha = 1
            u, alpha = d, torch.ones_like(d)
        else:
            alpha = torch.sigmoid(self.gate(d, u) if self.gated else self.tau)
            u = leaky_readout_step(d, u, alpha)
        return (u, ReadoutState(u), ReadoutDecays(alpha.expand_as(d))) if decays else (u, ReadoutState(u))
