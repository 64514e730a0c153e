"""A loaded model (checkpoint or NIR file) run on the user's own inputs: its float reading and its integer network
(sim/), per-layer spikes of both, their agreement, and the .npz that holds them (sim/run.py and
hardware/run_lava.py --inputs; hardware/run_lava.py adds Lava's run).
"""
import numpy as np
import torch

from ltcsn.files import atomic_output
from ltcsn.sim import spec
from ltcsn.sim.inputs import fit_inputs, is_event_input, read_array_inputs, read_event_inputs
from ltcsn.sim.simulate import simulate
from ltcsn.train.parts_sim import can_simulate, simulate_parts


def load_with_inputs(args, load):
    """(QNet, float model or None, info or None, x [N, T, *input_shape]) for an .npz of arrays or tonic event
    files (`ltcsn.sim.inputs`). args: the command's options (`model` and those of `add_input_args`); --out is
    checked first. load(x_sample) loads the model
    (`export.load.load_model` with the command's options); NIR graphs and netx files get x as x_sample, so their input
    encoding fits these inputs (binary spikes stay binary, graded inputs get an 8-bit payload)."""
    from ltcsn.files import check_output
    model_path, inputs_path, key, frames, time_window = args.model, args.inputs, args.key, args.frames, args.time_window
    if args.out:
        check_output(args.out, [model_path, inputs_path], "--out")
    from ltcsn.export.netx_read import is_netx_file
    nir_file, loaded = str(model_path).endswith(".nir") or is_netx_file(model_path), None
    if is_event_input(inputs_path):
        loaded = load(None)                     # its input shape is the sensor size of the frames
        x = read_event_inputs(inputs_path, loaded[0].input_shape, frames, time_window)
    else:
        x = read_array_inputs(inputs_path, key)
    if loaded is None or nir_file:
        loaded = load(x if nir_file else None)
    qnet, model, info = loaded
    return qnet, model, info, fit_inputs(x, qnet.input_shape, inputs_path)


def add_input_args(parser) -> None:
    """--inputs, --key, --frames, --time-window, --out: run a model on the user's own inputs."""
    from ltcsn.args import float_range, int_range
    parser.add_argument("--inputs", default=None,
                        help="your inputs: an .npz of arrays [N, T, ...] (the array 'x', or its only one), or tonic "
                             "event arrays (.npy file or a folder of them) made into frames")
    parser.add_argument("--key", default=None, help="--inputs .npz: the array to use")
    parser.add_argument("--frames", type=int_range(1), default=None, help="event inputs: frames per recording")
    parser.add_argument("--time-window", type=float_range(0, lo_open=True), default=None,
                        help="event inputs: frame length (the events' time unit, tonic: us)")
    parser.add_argument("--out", default=None, help="--inputs: write outputs and per-layer spikes here (.npz)")


def layer_names(qnet, info) -> list:
    """One name per layer and the readout: the NIR node names of a third-party graph, else layerK:kind."""
    if info and info.get("origin") == "third-party":
        return [f"{name}:{layer.kind}" for name, layer in zip(info["layers"], qnet.layers)] + ["readout"]
    return [f"{name}:{layer.kind}" for name, layer in zip(qnet.layer_names(), qnet.layers)] + ["readout"]


def float_run(qnet, x, model=None, info=None):
    """(readout [N, T, n_out], [spikes [N, T, n] per spiking layer]) of the float network, or (None, reason)."""
    if model is not None:
        with torch.no_grad():
            outs, _, spikes = model(torch.as_tensor(x, dtype=torch.float32), record=True)
        return outs.double().numpy(), [s.double().numpy() for s in spikes]
    parts = (info or {}).get("parts")
    if parts is None:
        return None, ("a netx file holds only the integer network" if (info or {}).get("origin") == "netx" else
                      "a quantized NIR file holds only the integer network (its float model is not in it)")
    if not can_simulate(parts):
        return None, "the float parts hold LTC / ALIF layers (pass the checkpoint for the float model)"
    return simulate_parts(parts, x)


def run_inputs(qnet, x, model=None, info=None) -> dict:
    """Float and integer runs of x [N, T, *input_shape]. Returns {"names", "x_int", "clipped", "integer_out"
    (int64 codes on 2^-F), "integer_spikes", "float_out", "float_spikes" (None when there is no float reading),
    "float_missing" (why), "agreement" {layer: fraction of equal spike values}}."""
    x_int = qnet.encode_input(x)
    clipped = spec.input_clipped(np.asarray(x, dtype=np.float64), qnet.input_frac, qnet.input_range)
    outs, rec = simulate(qnet, x_int, record=True)
    spiking = [r["s"] for r in rec[:-1] if "s" in r]
    res = {"names": layer_names(qnet, info), "x_int": x_int, "clipped": clipped, "integer_out": outs,
           "integer_spikes": spiking, "float_out": None, "float_spikes": None, "float_missing": None,
           "agreement": {}}
    f_out, f_spikes = float_run(qnet, x, model, info)
    if f_out is None:
        res["float_missing"] = f_spikes
        return res
    res["float_out"], res["float_spikes"] = f_out, f_spikes
    res["agreement"] = {name: float((fs == s).mean())
                        for name, fs, s in zip(res["names"], f_spikes, spiking)}
    return res


def print_run(res: dict, qnet) -> None:
    n, T = res["x_int"].shape[:2]
    print(f"inputs: {n} sequences of {T} steps, shape {list(qnet.input_shape)}, encoded with frac "
          f"{qnet.input_frac}, range {list(qnet.input_range)}")
    if res["clipped"]:
        print(f"warning: {res['clipped']} input values lie outside the input encoding's range and were clipped")
    for name, s in zip(res["names"], res["integer_spikes"]):
        line = f"{name:24s} integer spikes {int(s.sum()):8d}"
        if res["float_spikes"] is not None:
            fs = res["float_spikes"][res["names"].index(name)]
            line += f"  float spikes {int(fs.sum()):8d}  float vs integer spike agreement {res['agreement'][name]:.4f}"
        print(line)
    if res["float_missing"]:
        print(f"float reading: not available: {res['float_missing']}")


def write_run(path, res: dict, qnet, lava: dict = None) -> None:
    """One .npz: layer_names; integer_out (int64 codes) and integer_out_real (codes / 2^F); integer_spikes_K per
    spiking layer K; float_out, float_spikes_K when there is a float reading; lava_out, lava_spikes_K (on sim/'s
    clock) when given; all [N, T, ...]."""
    arrays = {"layer_names": np.array(res["names"]), "integer_out": res["integer_out"],
              "integer_out_real": res["integer_out"] / float(1 << qnet.readout.frac_bits)}
    arrays.update({f"integer_spikes_{k}": s for k, s in enumerate(res["integer_spikes"])})
    if res["float_out"] is not None:
        arrays["float_out"] = res["float_out"]
        arrays.update({f"float_spikes_{k}": s for k, s in enumerate(res["float_spikes"])})
    for k, v in (lava or {}).items():
        arrays[k] = v
    with atomic_output(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
