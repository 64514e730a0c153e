"""Integer network (NIR file or checkpoint) -> lava-dl netx HDF5, for the layers netx runs exactly.

    python hardware/to_netx.py model.nir -o net.net [--hidden-only] [--dt S] [--producer NAME]

netx (lava-dl 0.6.0, `lava.lib.dl.netx.hdf5.Network`) builds each dense layer as Lava's Dense (or a recurrent
pair) into Lava's LIF, with `du = iDecay - 1`, `dv = vDecay`, `vth = vThMant` and `bias_mant = bias` at the fixed
bias exponent 6; it chooses the Dense's weight exponent itself from the weights, so a file weight w contributes
exactly w to the synaptic sum. A layer maps exactly when it is a LIF layer (docs/fixed_point.md, Lava's LIF)
whose synapses have shifts k >= 0 with `q << k` within netx's weight range [-256, 254] and whose bias
`bias_mant << bias_exp` is a multiple of 2^6 whose multiple is a 13-bit mantissa. A float checkpoint or float NIR
file is quantized for `--target netx` (train/quantize.py: codes netx holds, docs/netx.md); a QAT checkpoint and an
integer NIR file keep their codes. Everything else (LTC / ALIF / ATRLIF layers, the
leaky-integrator readout) has no netx layer and is refused with one line naming it; `--hidden-only` writes the
spiking layers and leaves the readout to the host (its integer step is sim/'s). Conv layers of this project
are LTC layers, so none maps.

The file runs on Lava's CPU backend as `Network(net_config=path, input_message_bits=...)`; its layer l at Lava
step tau equals `sim.simulate.simulate(..., lava_clock=True)` of the same network at tau (tests/test_netx.py).
Needs lava-dl only to run the file, not to write it (h5py).
"""

if __name__ == "__main__":   # via ltcsn.commands: a Ctrl-C while the imports below load ends with one line
    from ltcsn.commands import netx
    raise SystemExit(netx())

import numpy as np

from ltcsn.args import ArgumentParser, cli
from ltcsn.errors import InputError
from ltcsn.files import atomic_output, check_output
from ltcsn.sim import spec



class NetxError(InputError):
    """A layer netx cannot run exactly."""


def _layer_name(qnet, i: int) -> str:
    name = qnet.layer_names()[i]
    return name if i == len(qnet.layers) else f"{name} ({qnet.layers[i].kind})"


def _weights(name: str, syn) -> np.ndarray:
    """The netx file weights of a spec synapse shl(q @ x, k): q << k (k >= 0), within netx's range."""
    if syn.shift < 0 or syn.wide:
        raise NetxError(f"{name}: its {syn.source} synapse shifts the sum right by {-syn.shift} "
                        f"(netx's Dense has no exponent in the file; quantize for --target netx)" if not syn.wide else
                        f"{name}: graded membrane input, which netx's CUBA layers do not send")
    w = np.asarray(syn.q, dtype=np.int64) << syn.shift
    lo, hi = spec.NETX_WEIGHT_MIN, spec.NETX_WEIGHT_MAX
    if w.size and (w.min() < lo or w.max() > hi):
        raise NetxError(f"{name}: {syn.source} weights q << {syn.shift} reach [{w.min()}, {w.max()}], "
                        f"outside netx's [{lo}, {hi}]; export with --target netx "
                        f"(or give this tool the checkpoint or float NIR file)")
    return w


def netx_layers(qnet, hidden_only: bool = False) -> list:
    """One dict per netx layer: {"type": "dense" | "dense_rec", "shape", "weight", ["weight_rec"], "bias",
    "neuron": {...}}. Raises NetxError naming the first layer netx cannot run exactly."""
    out = []
    for i, layer in enumerate(qnet.layers):
        name = _layer_name(qnet, i)
        if layer.kind != "lif":
            raise NetxError(f"{name}: netx has no {layer.kind.upper()} neuron (it runs CUBA LIF, sigma-delta "
                            f"and resonate-and-fire layers)")
        if any(s.source == "const" for s in layer.syn["d"]):
            raise NetxError(f"{name}: a bias into its current (a synapse from a constant source, e.g. a CubaLIF after "
                            f"a biased Linear); netx's CUBA layers have their bias on v and no constant source")
        syn = {s.source: s for s in layer.syn["d"]}
        if len(syn) < len(layer.syn["d"]):
            raise NetxError(f"{name}: its weights are split into two synapses from one source (--weight-bits 15); "
                            f"a netx layer holds one 8-bit weight matrix")
        entry = {"type": "dense_rec" if "self" in syn else "dense", "shape": [layer.n],
                 "weight": _weights(name, syn["input"])}
        if "self" in syn:
            entry["weight_rec"] = _weights(name, syn["self"])
        bias = np.asarray(layer.bias_mant, dtype=np.int64) * (1 << int(layer.bias_exp))
        if np.any(bias % (1 << spec.NETX_BIAS_EXP)) or not spec.lif_bias_fits(bias >> spec.NETX_BIAS_EXP, 0):
            raise NetxError(f"{name}: bias mant << {int(layer.bias_exp)} is not 2^{spec.NETX_BIAS_EXP} times a "
                            f"{spec.LIF_BIAS_MANT_BITS}-bit mantissa (netx's CUBA neuron adds bias_mant << "
                            f"{spec.NETX_BIAS_EXP}); quantize for --target netx")
        entry["bias"] = bias >> spec.NETX_BIAS_EXP
        entry["neuron"] = {"type": "CUBA", "iDecay": int(layer.du) + spec.LIF_DU_OFFSET, "vDecay": int(layer.dv),
                           "vThMant": int(layer.vth), "refDelay": 1, "gradedSpike": False}
        out.append(entry)
    if not hidden_only:
        raise NetxError(f"{_layer_name(qnet, len(qnet.layers))}: netx has no non-spiking leaky-integrator layer; "
                        f"pass --hidden-only to write the spiking layers (the readout stays on the host)")
    return out


def write_netx(qnet, path: str, hidden_only: bool = False) -> list:
    """Write qnet's layers as a netx HDF5 file at path, atomically (nothing is written when a layer is refused).
    Returns the layer dicts written."""
    import h5py
    layers = netx_layers(qnet, hidden_only)
    with atomic_output(path) as tmp, h5py.File(tmp, "w") as f:
        group = f.create_group("layer")
        entries = [{"type": "input", "shape": list(qnet.input_shape)}] + layers  # (c, y, x): netx reverses it
        for i, entry in enumerate(entries):
            g = group.create_group(str(i))
            for key, value in entry.items():
                if key == "neuron":
                    n = g.create_group("neuron")
                    for k, v in value.items():
                        n.create_dataset(k, data=v.encode("ascii") if isinstance(v, str) else v)
                elif key == "type":
                    g.create_dataset(key, data=value.encode("ascii"))
                else:
                    g.create_dataset(key, data=np.asarray(value))
    return layers


def run_netx(path, x_int, message_bits: int) -> list:
    """Run netx's own network of the file at path on Lava's CPU backend (Loihi2SimCfg, fixed_pt), one sample at a
    time (netx's Network has no reset between samples): x_int [B, T, ...] integer inputs. Returns each netx layer's
    output spikes [B, T, n] (int64), on the Lava clock (layer l one step later per synapse)."""
    from ltcsn.hardware.lava_net import ensure_lava
    ensure_lava()
    from lava.lib.dl.netx.hdf5 import Network
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    x_int = np.asarray(x_int)
    B, T = x_int.shape[:2]
    per_sample = []
    for b in range(B):
        net = Network(net_config=str(path), input_message_bits=message_bits)
        xyc = net.inp.shape                     # netx's ports are (x, y, c); ours (c, y, x) in C-order
        source = Source(data=np.moveaxis(x_int[b].reshape(T, *reversed(xyc)), 0, -1).transpose(
            *range(len(xyc) - 1, -1, -1), len(xyc)).copy())
        source.s_out.connect(net.inp)
        sinks = []
        for layer in net.layers:
            sinks.append(Sink(shape=layer.out.shape, buffer=T))
            layer.out.connect(sinks[-1].a_in)
        try:
            net.run(condition=RunSteps(num_steps=T), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
            spikes = [np.rint(sink.data.get()).astype(np.int64) for sink in sinks]
        finally:
            net.stop()
        per_sample.append([np.moveaxis(s, -1, 0).transpose(0, *range(s.ndim - 1, 0, -1)).reshape(T, -1)
                           for s in spikes])
    return [np.stack([s[i] for s in per_sample]) for i in range(len(per_sample[0]))]


def input_message_bits(qnet) -> int:
    """netx's input_message_bits for the network input: 0 for binary spikes, 8 for graded 8-bit codes."""
    return 0 if tuple(qnet.input_range) == (0, 1) else 8


@cli
def main(argv=None) -> int:
    p = ArgumentParser(description="Write a model's LIF layers as a lava-dl netx HDF5 file.")
    p.add_argument("model", help="NIR file (.nir) or checkpoint (.pt)")
    p.add_argument("-o", "--out", required=True, help="netx HDF5 file to write (e.g. net.net)")
    p.add_argument("--hidden-only", action="store_true",
                   help="write the spiking layers only (netx has no leaky-integrator readout)")
    from ltcsn.export.load import add_reading_args, load_model, reading_lines, reading_options
    add_reading_args(p)
    args = p.parse_args(argv)
    check_output(args.out, inputs=[args.model], option="-o")
    try:
        qnet, _, info = load_model(args.model, default_target="netx", **reading_options(args))
    except OSError as e:
        raise InputError(f"{args.model}: {e}") from None
    for line in reading_lines(info):
        print(line)
    layers = write_netx(qnet, args.out, args.hidden_only)
    kinds = ", ".join(f"{e['type']} {e['shape'][0]}" for e in layers)
    print(f"wrote {args.out}: {len(layers)} netx layers ({kinds}); "
          f"run it with lava.lib.dl.netx.hdf5.Network(net_config={args.out!r}, "
          f"input_message_bits={input_message_bits(qnet)})")
    return 0

