"""Evaluate the integer network of a checkpoint or NIR file on its task's test set with `sim/`, or run it on your
own inputs.

    python sim/run.py runs/rdigits-ltc-fptt/ckpt.pt [--samples N] [--target loihi2|host] [--workers N]
    python sim/run.py model.nir [--dt S] [--producer NAME]
    python sim/run.py GRAPH.nir --inputs X.npz [--key x] [--out run.npz] [--dt S] [--producer NAME]
    python sim/run.py GRAPH.nir --inputs events/ --frames 20 [--out run.npz]
    python sim/run.py ckpt.pt --samples 256 --json sim.json --plot sample.png

--json: the test-set evaluation as JSON (task, metric, score, samples, seconds). --plot: one test sample as a figure
(`sim.plot.plot_sample`): spike rasters, state traces and the LTC decays (gates) alpha, rho, float network vs integer
network overlaid.

--inputs: arrays [N, T, ...] (or tonic event recordings made into frames) run through the float reading and the
integer network; prints spikes and float-vs-integer spike agreement per layer; --out writes outputs and every
layer's spikes (.npz, `export.run_inputs.write_run`).
"""

if __name__ == "__main__":   # via ltcsn.commands: a Ctrl-C while the imports below load ends with one line
    from ltcsn.commands import sim
    raise SystemExit(sim())

import os

from ltcsn.args import ArgumentParser, cli, int_range
from ltcsn.export.load import add_reading_args, load_model, reading_lines, reading_options
from ltcsn.export.run_inputs import add_input_args, load_with_inputs, print_run, run_inputs, write_run
from ltcsn.sim.simulate import evaluate_qnet


@cli
def main(argv=None) -> int:
    p = ArgumentParser(description="Evaluate a quantized network with the integer simulator.")
    p.add_argument("model", help="checkpoint (.pt), NIR file (.nir) or lava-dl netx file (.net)")
    p.add_argument("--samples", type=int_range(1), default=None, help="test samples (default: all)")
    p.add_argument("--target", default=None, choices=["host", "loihi2", "netx"],
                   help="checkpoints without a QAT plan: chip profile (default host; docs/fixed_point.md, "
                        "docs/netx.md)")
    p.add_argument("--mixing", default=None, choices=["dense", "diag"],
                   help="checkpoints without a QAT plan: LTC mixing mode (default: the target's)")
    p.add_argument("--workers", type=int_range(1), default=len(os.sched_getaffinity(0)),
                   help="processes sharing each batch (default: every core this process may use)")
    p.add_argument("--json", default=None, help="write the test-set evaluation here as JSON")
    p.add_argument("--plot", default=None,
                   help="write a PNG of one test sample: spikes, states and decays, float vs integer")
    add_reading_args(p)
    add_input_args(p)
    args = p.parse_args(argv)
    from ltcsn.files import check_output
    from ltcsn.train.errors import InputError
    from ltcsn.train.tasks import task_from_record, warn_samples

    def load(x_sample):
        return load_model(args.model, args.mixing, x_sample=x_sample, target=args.target, **reading_options(args))
    try:
        if args.out and not args.inputs:
            raise InputError("--out writes the run on --inputs; pass --inputs X.npz")
        if args.inputs and (args.json or args.plot):
            raise InputError("--json / --plot report the test-set evaluation; with --inputs, --out writes the run")
        for option, path in (("--json", args.json), ("--plot", args.plot)):
            if path:
                check_output(path, [args.model], option)
        if args.inputs:
            qnet, model, info, x = load_with_inputs(args, load)
        else:
            qnet, model, info = load(None)
            if not qnet.task.get("name"):
                raise InputError(f"{args.model}: no task recorded, nothing to evaluate on; run it on your own "
                                 f"inputs with --inputs X.npz")
            task = task_from_record(qnet.task, args.model, qnet.input_shape, qnet.n_out)
            warn_samples(task, args.samples)
    except ValueError as e:             # a reader's ValueError is bad input too (InputError: `cli` prints it)
        raise InputError(str(e)) from None
    for line in reading_lines(info):
        print(line)
    if args.inputs:
        res = run_inputs(qnet, x, model, info)
        print_run(res, qnet)
        if args.out:
            write_run(args.out, res, qnet)
            print(f"wrote {args.out}")
        return 0
    score, n, secs = evaluate_qnet(qnet, task, args.samples, workers=args.workers)
    print(f"{task.name}: integer {task.metric_name} {score:.4f} on {n} test samples "
          f"({secs:.2f} s, {n * task.seq_len / secs:.0f} sample-steps/s)")
    if args.json:
        from ltcsn.files import write_json
        write_json(args.json, {"model": args.model, "task": qnet.task, "metric": task.metric_name,
                               f"integer_{task.metric_name}": score, "samples": n, "seconds": secs,
                               "sample_steps_per_second": n * task.seq_len / secs, "reading": reading_lines(info)})
        print(f"wrote {args.json}")
    if args.plot:
        from ltcsn.sim.plot import plot_sample
        x, y = next(iter(task.test_batches(1)))
        title = f"{args.model}: {task.name} test sample 0 (label {y[0].tolist()})"
        plot_sample(qnet, model, x.numpy(), args.plot, title=title)
        print(f"wrote {args.plot}")
    return 0

