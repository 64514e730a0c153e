"""Prove that every stage computes the same integer network, and show what quantization cost.

    python sim/verify.py model.nir [--samples N] [--json report.json] [--ckpt float.pt] [--dt S] [--producer NAME]
    python sim/verify.py runs/demo/ckpt.pt

Stages, compared on every layer's state variables at every step with `==`:
  quantized PyTorch (straight-through backend, float64) vs sim/ (numpy int64)        same clock
  sim/ vs sim/ on the Lava clock (one step of delay per synapse, windows per sample)  shifted by each layer's hop
  sim/ on the Lava clock vs Lava (Loihi2SimCfg, fixed_pt, CPU)                        same clock
  sim/ on the Lava clock vs netx's own network (a netx file: its layers' spikes)       same clock, per sample
On a mismatch the first divergence is named: stage pair, layer, variable, step, sample, neuron, both values.
With the float checkpoint it also reports float vs integer accuracy and spike agreement.
Exit status 0 only when every pair is bit-exact.
"""

if __name__ == "__main__":   # via ltcsn.commands: a Ctrl-C while the imports below load ends with one line
    from ltcsn.commands import verify
    raise SystemExit(verify())

import numpy as np

from ltcsn.sim import spec
from ltcsn.args import ArgumentParser, cli, int_range
from ltcsn.files import check_output, write_json
from ltcsn.sim.compare import first_divergence
from ltcsn.sim.simulate import predict, simulate, simulate_stream


def layer_names(qnet) -> list:
    """Labels of the layers in reports: "layer0 (ltc)", ..., "readout"."""
    return [name if layer is qnet.readout else f"{name} ({layer.kind})"
            for name, layer in zip(qnet.layer_names(), qnet.all_layers)]


def compare_records(pair: tuple, records_a, records_b, qnet) -> dict:
    """{"pair", "values", "mismatches", "first"}: element counts and the first divergence (or None)."""
    values = mismatches = 0
    for ra, rb in zip(records_a, records_b):
        for k in ra:
            a, b = np.asarray(ra[k]), np.asarray(rb[k])
            values += a.size
            mismatches += int((a != b).sum()) if a.shape == b.shape else a.size
    first = first_divergence(records_a, records_b, names=pair, layer_names=layer_names(qnet))
    if first is not None:
        first["pair"] = f"{pair[0]} vs {pair[1]}"
        first["message"] = f"{first['pair']}: {first['message']}"
    return {"pair": f"{pair[0]} vs {pair[1]}", "values": values, "mismatches": mismatches, "first": first}


def align_stream(qnet, stream_records, seq_len: int) -> list:
    """Lava-clock records [B, P, n] -> our clock [B, T, n]: the layer at hop h sees our step t at window step t + h."""
    hops = [spec.layer_hop(i) for i in range(len(stream_records))]
    return [{k: v[:, hop:hop + seq_len] for k, v in rec.items()} for hop, rec in zip(hops, stream_records)]


def verify(qnet, x_int, lava: bool = True, netx_path=None) -> dict:
    """Run x_int [B, T, ...] through every stage and compare (netx_path: a netx file of qnet, also run by netx
    itself). Returns the report dict (see module doc)."""
    from ltcsn.train.quantized import simulate_torch
    T = x_int.shape[1]
    outs, sim_rec = simulate(qnet, x_int, record=True)
    _, torch_rec = simulate_torch(qnet, x_int)
    report = {"samples": int(x_int.shape[0]), "steps": int(T), "pairs": []}
    records = [(torch_rec, sim_rec)]
    report["pairs"].append(compare_records(("quantized-torch", "sim"), torch_rec, sim_rec, qnet))
    _, stream_rec = simulate_stream(qnet, x_int, record=True)
    records.append((sim_rec, align_stream(qnet, stream_rec, T)))
    report["pairs"].append(compare_records(("sim", "sim-lava-clock"), *records[-1], qnet))
    if lava:
        from ltcsn.hardware.lava_net import build_and_run
        run = build_and_run(qnet, x_int, record=True)
        records.append((stream_rec, run.records))
        report["pairs"].append(compare_records(("sim-lava-clock", "lava"), *records[-1], qnet))
        report["lava_ms_per_step"] = run.ms_per_step
    if netx_path is not None:
        from ltcsn.hardware.to_netx import input_message_bits, run_netx
        _, clock_rec = simulate(qnet, x_int, record=True, lava_clock=True)
        spikes = run_netx(netx_path, x_int, input_message_bits(qnet))
        records.append(([{"s": r["s"]} for r in clock_rec[:len(spikes)]], [{"s": s} for s in spikes]))
        report["pairs"].append(compare_records(("sim-lava-clock", "netx"), *records[-1], qnet))
    report["_pair_records"] = records
    report["bit_exact"] = all(p["mismatches"] == 0 for p in report["pairs"])
    report["_outs"], report["_sim_records"] = outs, sim_rec
    return report


def float_agreement(model, qnet, x, y, sim_outs, sim_rec, task) -> dict:
    """Float model vs integer network on the same samples: scores, prediction and spike agreement."""
    import torch
    with torch.no_grad():
        f_outs, _, f_spikes = model(torch.as_tensor(x, dtype=torch.float32), record=True)
    f_last = f_outs[:, -1].numpy()
    q_pred = predict(qnet, sim_outs)
    if task.kind == "classification":
        f_pred = f_last.argmax(-1)
        res = {"float_accuracy": float((f_pred == y).mean()), "integer_accuracy": float((q_pred == y).mean()),
               "prediction_agreement": float((f_pred == q_pred).mean())}
    else:
        res = {"float_mse": float(((f_last - y) ** 2).mean()), "integer_mse": float(((q_pred - y) ** 2).mean())}
    res["spike_agreement"] = {layer_names(qnet)[i]: float((fs.numpy() == rec["s"]).mean())
                              for i, (fs, rec) in enumerate(zip(f_spikes, sim_rec[:-1]))}
    return res


def print_report(report: dict):
    print(f"{'stage pair':38s} {'samples':>7s} {'steps':>5s} {'values':>10s} {'mismatches':>10s}")
    for p in report["pairs"]:
        print(f"{p['pair']:38s} {report['samples']:7d} {report['steps']:5d} {p['values']:10d} {p['mismatches']:10d}")
    for p in report["pairs"]:
        if p["first"] is not None:
            print(p["first"]["message"])
    if "lava_ms_per_step" in report:
        print(f"Lava (recording every variable): {report['lava_ms_per_step']:.1f} ms/step")
    if "float" in report:
        f = report["float"]
        print("float vs integer: " + ", ".join(f"{k} {v:.4f}" for k, v in f.items() if not isinstance(v, dict)))
        print("spike agreement float vs integer: " +
              ", ".join(f"{k} {v:.2%}" for k, v in f["spike_agreement"].items()))
    print("BIT-EXACT: every stage computes the same integers" if report["bit_exact"]
          else "NOT BIT-EXACT: see the first divergence above")


def check_same_network(model, qnet, ckpt_path, model_path):
    """Refuse a float checkpoint (--ckpt) that is not the network of the integer model: input shape, layer kinds
    and sizes, outputs must agree. Raises InputError."""
    from ltcsn.train.errors import InputError
    cfg = model.cfg
    float_layers = [lc.size for lc in cfg.layers]
    int_layers = [layer.n for layer in qnet.layers]
    conv = any(lc.kind == "conv" for lc in cfg.layers)
    same = (tuple(cfg.input_shape) == tuple(qnet.input_shape) and cfg.n_out == qnet.n_out
            and len(float_layers) == len(int_layers) and (conv or float_layers == int_layers)
            and all(cfg.neuron == layer.kind for layer, lc in zip(qnet.layers, cfg.layers) if lc.kind == "dense"))
    if not same:
        raise InputError(f"--ckpt {ckpt_path} is another network ({cfg.neuron} {float_layers}, input "
                         f"{list(cfg.input_shape)}, {cfg.n_out} outputs) than {model_path} "
                         f"({[f'{layer.kind} {layer.n}' for layer in qnet.layers]}, input {list(qnet.input_shape)}, "
                         f"{qnet.n_out} outputs)")


@cli
def main(argv=None) -> int:
    p = ArgumentParser(description="Verify quantized PyTorch == sim/ == Lava, bit for bit.")
    p.add_argument("model", help="NIR file (.nir), checkpoint (.pt) or lava-dl netx file (.net)")
    p.add_argument("--samples", type=int_range(1), default=8, help="test samples to run (default 8)")
    p.add_argument("--json", default=None, help="write the report here")
    p.add_argument("--ckpt", default=None, help="float checkpoint, for float vs integer agreement")
    p.add_argument("--no-lava", action="store_true", help="skip the Lava stage")
    p.add_argument("--seed", type=int_range(0), default=0, help="seed for random inputs (graphs without a task)")
    p.add_argument("--plot", default=None,
                   help="where there is a divergence: write a PNG of the first one (both stages' traces)")
    from ltcsn.export.load import add_reading_args, load_model, reading_lines, reading_options
    add_reading_args(p)
    args = p.parse_args(argv)
    from ltcsn.train.tasks import task_from_record, warn_samples
    for option, path in (("--json", args.json), ("--plot", args.plot)):
        if path:
            check_output(path, [args.model, args.ckpt], option)
    qnet, model, info = load_model(args.model, **reading_options(args))
    if args.ckpt:
        from ltcsn.train.checkpoint import load_checkpoint
        model, _ = load_checkpoint(args.ckpt)
        check_same_network(model, qnet, args.ckpt, args.model)
    for line in reading_lines(info):
        print(line)
    task = task_from_record(qnet.task, args.model, qnet.input_shape, qnet.n_out) if qnet.task.get("name") else None
    if task is not None:
        warn_samples(task, args.samples)
    if task is not None:
        x, y = next(iter(task.test_batches(args.samples)))
        x, y = x.numpy(), y.numpy()
    else:  # a third-party graph: random inputs within the input encoding
        rng = np.random.default_rng(args.seed)
        x = rng.integers(qnet.input_range[0], qnet.input_range[1] + 1, (args.samples, 32, *qnet.input_shape))
        x, y = spec.decode_input(x, qnet.input_frac), None
        print(f"no task recorded: {args.samples} random input sequences of 32 steps")
    x_int = qnet.encode_input(x)
    report = verify(qnet, x_int, lava=not args.no_lava,
                    netx_path=args.model if (info or {}).get("origin") == "netx" else None)
    if model is not None and task is not None:
        report["float"] = float_agreement(model, qnet, x, y, report["_outs"], report["_sim_records"], task)
    print_report(report)
    if args.plot:
        from ltcsn.sim.plot import plot_divergence
        diverged = [(p, recs) for p, recs in zip(report["pairs"], report["_pair_records"]) if p["first"] is not None]
        if diverged:
            (pair, (rec_a, rec_b)), names = diverged[0], diverged[0][0]["pair"].split(" vs ")
            plot_divergence(rec_a, rec_b, pair["first"], names, args.plot)
            print(f"wrote {args.plot} (the first divergence, {pair['pair']})")
        else:
            print(f"no divergence: {args.plot} not written")
    if args.json:
        write_json(args.json, {k: v for k, v in report.items() if not k.startswith("_")})
        print(f"wrote {args.json}")
    return 0 if report["bit_exact"] else 1

