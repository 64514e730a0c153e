"""The float network given by its float parts (`train.quantize.float_parts` form: LIF layers, then a readout with
constant decays, as third-party NIR graphs are read by export/nir_foreign.py), run in float64 with the float
model's own step functions (train/neurons.py). It is the float reading that the integer runs (sim/, Lava) are
compared with.
"""
import numpy as np
import torch

from ltcsn.train.neurons import leaky_readout_step, lif_step


def can_simulate(parts) -> bool:
    """True when every layer is LIF and the readout has constant decays (what third-party graphs read into)."""
    return (bool(parts) and all(p["kind"] == "lif" for p in parts[:-1]) and parts[-1]["kind"] == "readout"
            and not parts[-1].get("mix") and "alpha" in parts[-1] and parts[-1].get("reads", "s") == "s")


def simulate_parts(parts, x):
    """x [B, T, ...] float inputs -> (readout u [B, T, n_out], [spikes [B, T, n] of every LIF layer]), numpy
    float64. Layer l at step t reads layer l-1 of step t and its own spikes of step t-1 (docs/fixed_point.md)."""
    x = torch.as_tensor(np.asarray(x), dtype=torch.float64)
    B, T = x.shape[:2]
    layers, ro = parts[:-1], parts[-1]
    state = [(torch.zeros(B, len(p["bias"]["v"]), dtype=torch.float64),) * 3 for p in layers]   # (i, v, s)
    u = torch.zeros(B, len(ro["bias"]["d"]), dtype=torch.float64)
    spikes, outs = [[] for _ in layers], []
    with torch.no_grad():
        for t in range(T):
            h = x[:, t].reshape(B, -1)
            for j, p in enumerate(layers):
                i, v, s = state[j]
                a = h @ p["syn"]["d"]["input"].double().T
                if "self" in p["syn"]["d"]:
                    a = a + s @ p["syn"]["d"]["self"].double().T
                if "const" in p["syn"]["d"]:        # a bias into the current: a source of 1 every step
                    a = a + p["syn"]["d"]["const"].double()[:, 0]
                i, v, h = lif_step(a, i, v, p["du"].double(), p["dv"].double(), p["vth"], p["bias"]["v"].double())
                state[j] = (i, v, h)
                spikes[j].append(h)
            u = leaky_readout_step(h @ ro["syn"]["d"]["input"].double().T + ro["bias"]["d"].double(), u,
                                   ro["alpha"].double())
            outs.append(u)
    return torch.stack(outs, 1).numpy(), [torch.stack(s, 1).numpy() for s in spikes]
