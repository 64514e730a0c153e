"""A spiking network: a stack of spiking layers and a leaky readout, described by a `NetConfig`."""
from dataclasses import asdict, dataclass, field
import math

import torch
from torch import nn

from ltcsn.train.layers import MIXINGS, NEURONS, ConvLtcLayer, DenseSpikingLayer, Readout

READOUTS = ("ltc", "const", "membrane")


@dataclass
class LayerConfig:
    """One spiking layer: `size` neurons (dense) or channels (conv)."""
    size: int
    kind: str = "dense"        # "dense" | "conv"
    recurrent: bool = True     # dense only
    kernel: int = 3            # conv only
    pool: int = 1              # conv only


@dataclass
class NetConfig:
    """Everything needed to rebuild a network; stored in every checkpoint."""
    input_shape: tuple           # (D,) for vectors, (C, H, W) for frames
    n_out: int
    layers: list = field(default_factory=list)   # of LayerConfig
    neuron: str = "ltc"          # "ltc" | "alif" | "lif" | "atrlif" (dense layers; conv layers are LTC)
    readout: str = "ltc"         # "ltc" (gated) | "const" (constant decay) | "membrane" (W_o u_L + c_o)
    b0: float = 0.1              # base threshold
    beta: float = 1.8            # adaptation strength (0 = fixed threshold b0)
    vth: float = 1.0             # LIF threshold; ATRLIF base threshold theta_0
    theta_step: float = 0.75     # ATRLIF threshold increase per spike (Lava's default ratio 3.75 / 5)
    mixing: str = "dense"        # LTC gates: "dense" [d; u] mixing, or "diag" (own u / b only: the loihi2 form)

    def __post_init__(self):
        self.input_shape = tuple(int(v) for v in self.input_shape)
        self.layers = [lc if isinstance(lc, LayerConfig) else LayerConfig(**lc) for lc in self.layers]
        if self.neuron not in NEURONS:
            raise ValueError(f"unknown neuron type {self.neuron!r}; expected one of {NEURONS}")
        if self.readout not in READOUTS:
            raise ValueError(f"unknown readout {self.readout!r}; expected one of {READOUTS}")
        lava_neuron_last = self.layers and self.neuron in ("lif", "atrlif") and self.layers[-1].kind == "dense"
        if self.readout == "membrane" and (not self.layers or lava_neuron_last):
            raise ValueError("the membrane readout reads the last LTC / ALIF layer's membrane u; this network has none")
        for lc in self.layers:
            if lc.kind not in ("dense", "conv"):
                raise ValueError(f"unknown layer kind {lc.kind!r}")
        if self.mixing not in MIXINGS:
            raise ValueError(f"unknown mixing {self.mixing!r}; expected one of {MIXINGS}")
        if self.mixing == "diag" and any(lc.kind == "conv" for lc in self.layers):
            raise ValueError("diag mixing in the float model is for dense layers (conv layers: dense mixing, "
                             "the quantizer's diag keeps each channel's centre tap)")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["input_shape"] = list(self.input_shape)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "NetConfig":
        return cls(**d)


class SpikingNet(nn.Module):
    """Input [B, T, *input_shape] -> readout membrane [B, T, n_out].

    State: a list with one state NamedTuple per spiking layer plus the readout's (`ltcsn.sim.integer.state_type`).
    """

    def __init__(self, cfg: NetConfig):
        super().__init__()
        self.cfg = cfg
        shape = cfg.input_shape
        layers = []
        for lc in cfg.layers:
            if lc.kind == "conv":
                if len(shape) != 3:
                    raise ValueError(f"a conv layer needs (C, H, W) input, got shape {shape}")
                layer = ConvLtcLayer(shape, lc.size, lc.kernel, lc.pool, cfg.b0, cfg.beta)
                shape = layer.out_shape
            else:
                layer = DenseSpikingLayer(math.prod(shape), lc.size, cfg.neuron, lc.recurrent,
                                          cfg.b0, cfg.beta, cfg.vth, cfg.theta_step, cfg.mixing)
                shape = (lc.size,)
            layers.append(layer)
        self.layers = nn.ModuleList(layers)
        self.readout = Readout(math.prod(shape), cfg.n_out, cfg.readout, cfg.mixing)

    def init_state(self, batch: int, device=None):
        return [m.init_state(batch, device) for m in (*self.layers, self.readout)]

    def step(self, x, state, decays: bool = False):
        """One time step. x [B, *input_shape]. Returns (readout output [B, n_out], new state, spikes); with
        decays=True also every layer's decays of this step (readout last; `layers` module doc) as a 4th item."""
        new_state, spikes, codes = [], [], []
        for layer, st in zip(self.layers, state):
            if isinstance(layer, DenseSpikingLayer) and x.dim() > 2:
                x = x.flatten(1)
            x, st, *dec = layer.step(x, st, decays)
            new_state.append(st)
            spikes.append(x)
            codes += dec
        if self.cfg.readout == "membrane":
            x = new_state[-1].u           # the last spiking layer's membrane u (after its reset)
        out, st, *dec = self.readout.step(x.flatten(1), state[-1], decays)
        new_state.append(st)
        return (out, new_state, spikes, codes + dec) if decays else (out, new_state, spikes)

    def forward(self, x, state=None, record: bool = False):
        """x [B, T, ...] -> (outputs [B, T, n_out], final state[, per-layer spikes [B, T, ...]])."""
        if state is None:
            state = self.init_state(x.shape[0], x.device)
        outs, rec = [], []
        for t in range(x.shape[1]):
            out, state, spikes = self.step(x[:, t], state)
            outs.append(out)
            if record:
                rec.append(spikes)
        outs = torch.stack(outs, 1)
        if record:
            return outs, state, [torch.stack(z, 1) for z in zip(*rec)]
        return outs, state


def detach_state(state):
    """Every layer's state (a tuple or NamedTuple of tensors) detached, same types."""
    return [st._make(t.detach() for t in st) for st in state]
