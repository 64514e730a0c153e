"""Pure functional neuron steps (state in, state out) in float arithmetic.

All tensors are [B, N] (or [B, C, H, W] for convolutional layers); one call is one time step.
Spikes are 0/1 floats produced by `spike`, whose backward is the multi-Gaussian surrogate.
The integer versions of these equations live in `sim/` and are specified in docs/fixed_point.md.
"""
import math

import torch

# Multi-Gaussian surrogate (Yin et al. 2023): gamma, sigma, h.
SURROGATE_GAMMA = 0.5
SURROGATE_SIGMA = 0.3
SURROGATE_H = 0.15


# exp's argument is clamped here: below it the density is < 1e-34, and exp of an argument whose result underflows
# to a subnormal or zero takes ~10x as long on CPU (measured: 230 vs 21 us per 128 x 256 tensor), which made the
# surrogate's backward a third of a training step (benchmarks/train_speed.py).
_EXP_ARG_MIN = -80.0


def _normal_pdf(x: torch.Tensor, mu: float, sigma: float) -> torch.Tensor:
    z = ((x - mu) ** 2).mul_(-1 / (2 * sigma**2)).clamp_min_(_EXP_ARG_MIN)
    return torch.exp_(z).mul_(1 / (math.sqrt(2 * math.pi) * sigma))


def multi_gaussian_grad(v: torch.Tensor) -> torch.Tensor:
    """ds/dv = gamma[(1+h) N(v;0,s) - h N(v;s,6s) - h N(v;-s,6s)]; 0.73 at v = 0."""
    s, h = SURROGATE_SIGMA, SURROGATE_H
    return SURROGATE_GAMMA * (
        (1 + h) * _normal_pdf(v, 0.0, s) - h * _normal_pdf(v, s, 6 * s) - h * _normal_pdf(v, -s, 6 * s)
    )


class _Spike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, v):
        ctx.save_for_backward(v)
        return (v > 0).to(v.dtype)

    @staticmethod
    def backward(ctx, grad_out):
        (v,) = ctx.saved_tensors
        return grad_out * multi_gaussian_grad(v)


def spike(v: torch.Tensor) -> torch.Tensor:
    """Heaviside H(v) = 1 if v > 0 (strict, as Lava compares), surrogate gradient backward."""
    return _Spike.apply(v)


def adaptive_step(d, u, s, b, alpha, rho, b0: float, beta: float):
    """One step of the adaptive-threshold spiking neuron shared by LTC and ALIF.

    d: synaptic current; u: membrane; s: previous spikes; b: adaptation trace;
    alpha, rho in (0, 1): per-step update fractions of u and b (input-dependent for LTC,
    constant per neuron for ALIF). Threshold b0 + beta * b, hard reset of u to 0.
    Returns (u, s, b) of this step.
    """
    b = rho * b + (1 - rho) * s
    theta = b0 + beta * b
    u_tilde = (1 - alpha) * u + alpha * d
    s = spike(u_tilde - theta)
    u = (1 - s) * u_tilde
    return u, s, b


def lif_step(a_in, i, v, du, dv, vth, bias):
    """One step of LIF in the discrete form Lava's LIF executes (reset to 0, strict threshold).

    a_in: synaptic input; i: current; v: voltage; du, dv in (0, 1): decay fractions;
    vth: threshold; bias: per-neuron constant added to v. Returns (i, v, s).
    """
    i = (1 - du) * i + a_in
    v = (1 - dv) * v + i + bias
    s = spike(v - vth)
    v = (1 - s) * v
    return i, v, s


def atrlif_step(a_in, i, v, theta, r, di, dv, dtheta, dr, theta0, theta_step, bias):
    """One step of the ATRLIF neuron in the discrete form of Lava's `lava.proc.atrlif.ATRLIF`: adaptive
    threshold and refractoriness instead of a reset.

    i = (1-di) i + a_in;  v = (1-dv) v + i + bias;  theta = (1-dtheta)(theta - theta0) + theta0;  r = (1-dr) r;
    s = H(v - r - theta) (Lava: v - r >= theta);  then r += 2 theta s;  theta += theta_step s  (v is not reset).
    di, dv, dtheta, dr in (0, 1): decay fractions (scalars); theta0, theta_step: base threshold and its increase
    per spike; bias per neuron on v. Returns (i, v, theta, r, s).
    """
    i = (1 - di) * i + a_in
    v = (1 - dv) * v + i + bias
    theta = (1 - dtheta) * (theta - theta0) + theta0
    r = (1 - dr) * r
    s = spike(v - r - theta)
    r = r + 2 * theta * s
    theta = theta + theta_step * s
    return i, v, theta, r, s


def leaky_readout_step(x, u, alpha):
    """Non-spiking leaky integrator: u = (1 - alpha) u + alpha x. Returns u (the output)."""
    return (1 - alpha) * u + alpha * x
