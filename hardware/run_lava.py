"""Run test samples of a model's task on Lava and print accuracy and speed.

    python hardware/run_lava.py model.nir [--samples N] [--backend cpu|loihi2] [--dt S] [--producer NAME]
    python hardware/run_lava.py GRAPH.nir --inputs X.npz [--out run.npz] [--dt S] [--producer NAME]

--inputs (an .npz of arrays [N, T, ...], or tonic event recordings with --frames / --time-window): the float
reading, sim/ and Lava's CPU backend (fixed_pt) on your inputs; prints spikes and float-vs-integer agreement per
layer and whether Lava equals sim/ bit for bit; --out writes outputs and every layer's spikes (.npz).

cpu: Lava's CPU backend (Loihi2SimCfg, fixed_pt), bit-exact to sim/ (proved by sim/verify.py).
loihi2: builds the graph a Loihi 2 run needs (`hardware.graph.with_adapters`: chip processes, host processes and
lava-loihi's embedded_io adapters at the boundary), creates every process open Lava provides, prints each with its
placement, then runs it with Loihi2HwCfg, or stops with one line naming what is missing (lava-loihi; Nc models
no release ships, such as the LTC neuron programs) and exit status 2.
"""

if __name__ == "__main__":   # via ltcsn.commands: a Ctrl-C while the imports below load ends with one line
    from ltcsn.commands import lava
    raise SystemExit(lava())

import numpy as np

from ltcsn.args import ArgumentParser, cli, int_range


@cli
def main(argv=None) -> int:
    p = ArgumentParser(description="Run a NIR model (or checkpoint) on Lava.")
    p.add_argument("model", help="NIR file (.nir) or checkpoint (.pt)")
    p.add_argument("--samples", type=int_range(1), default=100, help="test samples (default 100)")
    p.add_argument("--backend", default="cpu", choices=["cpu", "loihi2"])
    p.add_argument("--sync", action="store_true", help="Lava's synchronous models (default: async, same outputs)")
    p.add_argument("--json", default=None, help="write the result (score, samples, ms/step, backend) here as JSON")
    p.add_argument("--float", action="store_true",
                   help="Lava's floating_pt models: the dequantized network without rounding (default fixed_pt)")
    from ltcsn.export.load import add_reading_args, load_model, reading_lines, reading_options
    from ltcsn.export.run_inputs import add_input_args, load_with_inputs
    add_reading_args(p)
    add_input_args(p)
    args = p.parse_args(argv)
    from ltcsn.files import check_output
    from ltcsn.hardware.graph import loihi2_missing, mapped_graph, with_adapters
    from ltcsn.hardware.lava_net import build_and_run, build_processes, input_stream, loihi_available
    from ltcsn.hardware.loihi2 import CHIP_TO_HOST, HOST_TO_CHIP
    from ltcsn.sim.simulate import predict
    from ltcsn.train.errors import InputError
    from ltcsn.train.tasks import task_from_record, warn_samples
    def load(x_sample):
        return load_model(args.model, x_sample=x_sample, **reading_options(args))
    if args.out and not args.inputs:
        raise InputError("--out writes the run on --inputs; pass --inputs X.npz")
    if args.json:
        if args.inputs:
            raise InputError("--json reports the test-set run; with --inputs, --out writes the run")
        check_output(args.json, [args.model], "--json")
    if args.inputs and (args.float or args.backend != "cpu"):
        raise InputError("--inputs runs Lava's fixed_pt CPU models (compared with sim/ bit for bit); "
                         "drop --float / --backend loihi2")
    if args.inputs:
        qnet, model, info, x = load_with_inputs(args, load)
    else:
        qnet, model, info = load(None)
        if not qnet.task.get("name") and args.backend != "loihi2":
            raise InputError(f"{args.model}: no task recorded; run it on your own inputs with --inputs X.npz "
                             f"(or on random ones with sim/verify.py)")
        task = (task_from_record(qnet.task, args.model, qnet.input_shape, qnet.n_out) if qnet.task.get("name")
                else None)
        if task is not None:
            warn_samples(task, args.samples)
    for line in reading_lines(info):
        print(line)
    if args.inputs:
        return _run_inputs(args, qnet, model, info, x)
    if task is not None:
        x, y = next(iter(task.test_batches(args.samples)))
        x_int = qnet.encode_input(x.numpy())
    else:   # --backend loihi2 on a graph without a task: its process graph, built on one silent step
        x_int = np.zeros((1, 1, *qnet.input_shape), dtype=np.int64)
    if args.backend == "loihi2":
        graph = with_adapters(mapped_graph(qnet))
        data, P = input_stream(qnet, x_int)
        built = build_processes(graph, data, data.shape[1], P, skip=(HOST_TO_CHIP, CHIP_TO_HOST))
        print(f"Loihi 2 graph: {len(graph.procs)} processes ({len(built)} built with open Lava; the "
              f"{len(graph.procs) - len(built)} embedded_io adapters need lava-loihi)")
        for proc in graph.procs:
            print(f"  {proc.placement:8s} {proc.kind:16s} {proc.name}: {proc.reason}")
        missing = loihi2_missing(graph, loihi_available())
        if missing:
            raise InputError(f"--backend loihi2 cannot run here; missing: {'; '.join(missing)} "
                             f"(use --backend cpu)")
        if task is None:
            raise InputError(f"{args.model}: no task recorded; nothing to score on Loihi 2")
    tag = "floating_pt" if args.float else "fixed_pt"
    run = build_and_run(qnet, x_int, backend=args.backend, async_models=not args.sync,
                        progress=True, tag=tag)
    last = qnet.window_length(task.seq_len) - 1        # the readout's last input step of each window
    pred = predict(qnet, run.outs[:, :last + 1])
    y = y.numpy()
    score = float((pred == y).mean()) if task.kind == "classification" else float(((pred - y) ** 2).mean())
    print(f"{task.name} on Lava ({args.backend}, {tag}, {'async' if run.async_models else 'sync'} models, "
          f"{run.processes} processes): {task.metric_name} {score:.4f} on {len(y)} samples, "
          f"{run.ms_per_step:.2f} ms/step ({run.steps} steps in {run.seconds:.1f} s)")
    if args.json:
        from ltcsn.files import write_json
        write_json(args.json, {"model": args.model, "task": qnet.task, "metric": task.metric_name,
                               task.metric_name: score, "samples": int(len(y)), "backend": args.backend,
                               "models": tag, "async": bool(run.async_models), "processes": run.processes,
                               "steps": run.steps, "seconds": run.seconds, "ms_per_step": run.ms_per_step})
        print(f"wrote {args.json}")
    return 0


def _run_inputs(args, qnet, model, info, x) -> int:
    """Float reading, sim/ and Lava (fixed_pt, CPU) on the user's inputs: spikes per layer, float-vs-integer
    agreement, Lava == sim/ on every spike and the readout; --out gets all of it (Lava's on sim/'s clock).
    Exit status 1 when Lava and sim/ differ."""
    from ltcsn.export.run_inputs import print_run, run_inputs, write_run
    from ltcsn.hardware.lava_net import build_and_run
    from ltcsn.sim.verify import align_stream
    res = run_inputs(qnet, x, model, info)
    print_run(res, qnet)
    run = build_and_run(qnet, res["x_int"], record=True, async_models=False, progress=True)
    lava = align_stream(qnet, run.records, x.shape[1])
    lava_spikes = [r["s"] for r in lava[:-1] if "s" in r]
    lava_out = lava[-1]["u"]
    same = [np.array_equal(a, b) for a, b in zip(lava_spikes, res["integer_spikes"])]
    same_out = np.array_equal(lava_out, res["integer_out"])
    for name, ok, s in zip(res["names"], same, lava_spikes):
        print(f"{name:24s} Lava spikes {int(s.sum()):8d}  Lava == sim/: {'yes' if ok else 'NO'}")
    print(f"readout: Lava == sim/: {'yes' if same_out else 'NO'} ({run.steps} Lava steps in {run.seconds:.1f} s, "
          f"Lava's CPU backend, fixed_pt)")
    if args.out:
        write_run(args.out, res, qnet, {"lava_out": lava_out,
                                        **{f"lava_spikes_{k}": s for k, s in enumerate(lava_spikes)}})
        print(f"wrote {args.out}")
    return 0 if all(same) and same_out else 1

