"""One sample as a picture: spike rasters and state traces of the float network and the integer network overlaid.

    plot_sample(qnet, model, x, "sample.png")        # x [1, T, *input_shape] float; model: the float network or None
    plot_divergence(records_a, records_b, first, ("sim", "lava"), "divergence.png")   # sim/verify.py --plot

Rows: per spiking layer a raster (float spikes as dots, integer spikes as rings; a dot without a ring or a ring
without a dot is a spike only one of them made) and the layer's non-spike state variables (LTC / ALIF: membrane u
and adaptation b; LIF: current i and voltage v) of its first `neurons` neurons, then (LTC / ALIF) its decays:
alpha of the membrane (the LTC gate sigmoid(W_m [d; u] + c_m)) and rho of the adaptation; then the readout's
output u and decay alpha. Integer states are drawn as values (code * 2^-frac_bits, the scale docs/fixed_point.md
gives them), integer decays as code / 4096 (`DECAY_ONE`).
"""
import numpy as np

from ltcsn.sim.integer import decay_type, state_type
from ltcsn.sim.simulate import simulate
from ltcsn.sim.spec import DECAY_ONE


def float_states(model, x) -> list:
    """Run the float network step by step (its `init_state` / `step(..., decays=True)`): one dict per layer
    (readout last) mapping each state variable and decay name ("alpha", "rho") to its values [T, n] for sample 0."""
    import torch
    layers = (*model.layers, model.readout)
    rec = [dict() for _ in layers]
    with torch.no_grad():
        xt = torch.as_tensor(x[:1], dtype=torch.float32)
        state = model.init_state(1)
        for t in range(xt.shape[1]):
            _, state, _, decays = model.step(xt[:, t], state, decays=True)
            for r, st, dec in zip(rec, state, decays):
                for name, v in (*st._asdict().items(), *(dec._asdict().items() if dec is not None else ())):
                    r.setdefault(name, []).append(v[0].flatten().double().numpy())
    return [{k: np.stack(v) for k, v in r.items()} for r in rec]


def plot_sample(qnet, model, x, path, neurons: int = 4, title: str = ""):
    """Write the figure of sample 0 of x [N, T, *input_shape] to path (PNG). Returns its rows, top to bottom:
    (layer index, layer kind, variable name, integer values [T, n] as drawn, float values [T, n] or None)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from ltcsn.files import atomic_output
    x = np.asarray(x, dtype=np.float64)[:1]
    _, rec = simulate(qnet, qnet.encode_input(x), record=True, decays=True)
    fl = float_states(model, x) if model is not None else None
    layers = (*qnet.layers, qnet.readout)
    rows = []
    for i, layer in enumerate(layers):
        decays = decay_type(layer)._fields if decay_type(layer) else ()
        for name in state_type(layer)._fields + decays:
            integer = rec[i][name][0]
            scale = 1.0 if name == "s" else 1 / DECAY_ONE if name in decays else 2.0 ** -layer.frac_bits
            floats = fl[i].get(name) if fl is not None else None
            rows.append((i, layer.kind, name, integer * scale, floats))
    fig, axes = plt.subplots(len(rows), 1, figsize=(8, 1.6 * len(rows) + 0.6), sharex=True, squeeze=False)
    for ax, (i, kind, name, integer, floats) in zip(axes[:, 0], rows):
        where = "readout" if i == len(layers) - 1 else f"layer {i} ({kind})"
        if name == "s":
            t, n = np.nonzero(integer)
            ax.scatter(t, n, s=18, facecolors="none", edgecolors="C1", linewidths=0.8, label="integer")
            if floats is not None:
                t, n = np.nonzero(floats)
                ax.scatter(t, n, s=4, color="C0", label="float")
            ax.set_ylabel(f"{where}\nspikes (neuron)", fontsize=7)
        else:
            for j in range(min(neurons, integer.shape[1])):
                ax.plot(integer[:, j], color=f"C{j}", ls="--", lw=1, label="integer" if j == 0 else None)
                if floats is not None:
                    ax.plot(floats[:, j], color=f"C{j}", lw=0.8, alpha=0.7, label="float" if j == 0 else None)
            ax.set_ylabel(f"{where}\n{name}", fontsize=7)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6, loc="upper right")
    axes[-1, 0].set_xlabel("time step")
    fig.suptitle(title or "one sample: float (solid / dots) vs integer (dashed / rings)", fontsize=8)
    fig.tight_layout()
    with atomic_output(path, quiet_replace=True) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return rows


def plot_divergence(records_a, records_b, first: dict, names, path, neighbours: int = 3):
    """The first divergence of two records (`sim.compare.first_divergence`'s dict): the diverging variable of
    that sample over all steps for both stages, the step marked, and the same variable of the nearest neurons."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from ltcsn.files import atomic_output
    layer, var, b, n, t = first["layer"], first["var"], first["batch"], first["neuron"], first["step"]
    if t is None:
        raise ValueError(f"a structural mismatch has no trace to draw: {first['message']}")
    a = np.asarray(records_a[layer][var])[b].reshape(np.asarray(records_a[layer][var]).shape[1], -1)
    c = np.asarray(records_b[layer][var])[b].reshape(a.shape[0], -1)
    around = [j for j in range(max(0, n - neighbours), min(a.shape[1], n + neighbours + 1))]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 5.5), sharex=True)
    top.plot(a[:, n], "C0-", lw=1.2, label=names[0])
    top.plot(c[:, n], "C1--", lw=1.2, label=names[1])
    top.axvline(t, color="C3", lw=0.8)
    top.annotate(f"step {t}: {names[0]} {a[t, n]:g}, {names[1]} {c[t, n]:g}", (t, a[t, n]), fontsize=7,
                 xytext=(5, 5), textcoords="offset points")
    top.set_ylabel(f"{first['layer_name']} {var}\nneuron {n}, sample {b}", fontsize=8)
    top.legend(fontsize=7)
    for j in around:
        bottom.plot(c[:, j] - a[:, j], lw=1, label=f"neuron {j}")
    bottom.axvline(t, color="C3", lw=0.8)
    bottom.set_ylabel(f"{names[1]} - {names[0]}", fontsize=8)
    bottom.set_xlabel("time step")
    bottom.legend(fontsize=6, ncol=2)
    fig.suptitle(first["message"], fontsize=7)
    fig.tight_layout()
    with atomic_output(path, quiet_replace=True) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
