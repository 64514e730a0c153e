"""Run test samples of a model's task on Lava and print accuracy and speed.

    python hardware/run_lava.py model.nir [--samples N] [--backend cpu|loihi2] [--dt S] [--producer NAME]

cpu: Lava's CPU backend (Loihi2SimCfg, fixed_pt), bit-exact to sim/ (proved by sim/verify.py).
loihi2: builds the graph a Loihi 2 run needs (`hardware.graph.with_adapters`: chip processes, host processes and
lava-loihi's embedded_io adapters at the boundary), creates every process open Lava provides, prints each with its
placement, then runs it with Loihi2HwCfg, or stops with one line naming what is missing (lava-loihi; Nc models
no release ships, such as the LTC neuron programs) and exit status 2.
"""
import argparse
import sys



def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Run a NIR model (or checkpoint) on Lava.")
    p.add_argument("model", help="NIR file (.nir) or checkpoint (.pt)")
    p.add_argument("--samples", type=int, default=100, help="test samples (default 100)")
    p.add_argument("--backend", default="cpu", choices=["cpu", "loihi2"])
    p.add_argument("--sync", action="store_true", help="Lava's synchronous models (default: async, same outputs)")
    p.add_argument("--float", action="store_true",
                   help="Lava's floating_pt models: the dequantized network without rounding (default fixed_pt)")
    from ltcsn.export.load import add_reading_args, load_model, reading_lines
    add_reading_args(p)
    args = p.parse_args(argv)
    from ltcsn.hardware.graph import loihi2_missing, mapped_graph, with_adapters
    from ltcsn.hardware.lava_net import build_and_run, build_processes, input_stream, loihi_available
    from ltcsn.hardware.loihi2 import CHIP_TO_HOST, HOST_TO_CHIP
    from ltcsn.sim.simulate import predict, window_length
    from ltcsn.train.errors import InputError
    from ltcsn.train.tasks import get_task
    try:
        qnet, _, info = load_model(args.model, dt=args.dt, producer=args.producer)
        if not qnet.task.get("name"):
            raise InputError(f"{args.model}: no task recorded; run it with sim/verify.py (random inputs)")
        task = get_task(**qnet.task)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for line in reading_lines(info):
        print(line)
    x, y = next(iter(task.test_batches(args.samples)))
    if args.backend == "loihi2":
        graph = with_adapters(mapped_graph(qnet))
        data, P = input_stream(qnet, qnet.encode_input(x.numpy()))
        built = build_processes(graph, data, data.shape[1], P, skip=(HOST_TO_CHIP, CHIP_TO_HOST))
        print(f"Loihi 2 graph: {len(graph.procs)} processes ({len(built)} built with open Lava; the "
              f"{len(graph.procs) - len(built)} embedded_io adapters need lava-loihi)")
        for proc in graph.procs:
            print(f"  {proc.placement:8s} {proc.kind:16s} {proc.name}: {proc.reason}")
        missing = loihi2_missing(graph, loihi_available())
        if missing:
            print(f"error: --backend loihi2 cannot run here; missing: {'; '.join(missing)} (use --backend cpu)",
                  file=sys.stderr)
            return 2
    tag = "floating_pt" if args.float else "fixed_pt"
    run = build_and_run(qnet, qnet.encode_input(x.numpy()), backend=args.backend, async_models=not args.sync,
                        progress=True, tag=tag)
    last = window_length(qnet, task.seq_len) - 1        # the readout's last input step of each window
    pred = predict(qnet, run.outs[:, :last + 1])
    y = y.numpy()
    score = float((pred == y).mean()) if task.kind == "classification" else float(((pred - y) ** 2).mean())
    print(f"{task.name} on Lava ({args.backend}, {tag}, {'sync' if args.sync else 'async'} models, {run.processes} "
          f"processes): {task.metric_name} {score:.4f} on {len(y)} samples, {run.ms_per_step:.2f} ms/step "
          f"({run.steps} steps in {run.seconds:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
