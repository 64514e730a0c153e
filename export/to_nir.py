"""Export a trained checkpoint to NIR (schema: docs/nir_schema.md).

    python export/to_nir.py runs/rdigits-ltc-fptt/ckpt.pt                 # quantized -> runs/.../model.nir
    python export/to_nir.py ckpt.pt -o model.nir --float                  # the float network
    python export/to_nir.py ckpt.pt --target loihi2 --samples 200         # the Loihi 2 chip profile

Prints a summary: layers, neurons, synapses, bit widths, clipping and quantization error per tensor, and the
float vs integer (sim/) score on the task's test set. Bad input: one line "error: ..." on stderr, exit 2,
nothing written.
"""

if __name__ == "__main__":   # via ltcsn.commands: a Ctrl-C while the imports below load ends with one line
    from ltcsn.commands import export
    raise SystemExit(export())

from pathlib import Path
import warnings

import numpy as np

from ltcsn.args import ArgumentParser, cli, float_range, int_range
from ltcsn.files import check_output


def _head(path: Path) -> bytes:
    with open(path, "rb") as f:
        return f.read(8)


def _summary(qnet, report, quantized: bool, dt: float, out: Path) -> str:
    from ltcsn.train.quantize import format_report
    from ltcsn.sim import spec
    from ltcsn.sim.qnet import QAtrlif, QLif
    lines = [f"wrote {out} ({'quantized' if quantized else 'float'} network, dt = {dt:g} s, "
             f"input {list(qnet.input_shape)} frac {qnet.input_frac} range {list(qnet.input_range)})"]
    neurons = synapses = 0
    for name, layer in zip(qnet.layer_names(), qnet.all_layers):
        syns = [s for ss in layer.syn.values() for s in ss]
        n_syn = sum(int(np.size(s.q)) for s in syns)
        n_mix = 0 if isinstance(layer, QLif) else sum(int(np.size(q)) for q in layer.mix.values())
        nz = sum(int(np.count_nonzero(s.q)) for s in syns)
        rec = any(s.source == "self" for s in syns)
        if isinstance(layer, QAtrlif):
            detail = (f"du {layer.du} dv {layer.dv} dtheta {layer.dtheta} dr {layer.dr} ({spec.DECAY_BITS} bit), "
                      f"theta_0 {layer.vth} step {layer.theta_step} ({spec.ATRLIF_THETA_BITS} bit), "
                      f"bias {spec.LIF_BIAS_MANT_BITS}+{spec.LIF_BIAS_EXP_BITS} bit, F = {layer.frac_bits}")
        elif isinstance(layer, QLif):
            detail = (f"du {layer.du} dv {layer.dv} ({spec.DECAY_BITS} bit), vth {layer.vth} ({spec.LIF_VTH_BITS} "
                      f"bit), bias {spec.LIF_BIAS_MANT_BITS}+{spec.LIF_BIAS_EXP_BITS} bit, F = {layer.frac_bits}")
        else:
            detail = (f"{'gated ' + layer.mixing + ' mixing' if layer.gated else 'constant decays'}, "
                      f"{spec.STATE_BITS}-bit state, F = {layer.frac_bits}")
        lines.append(f"  {name:8s} {layer.kind:7s} {layer.n:5d} neurons  {n_syn + n_mix:8d} synaptic weights "
                     f"({spec.WEIGHT_BITS} bit, {nz} non-zero{', recurrent' if rec else ''})  {detail}")
        neurons += layer.n
        synapses += n_syn + n_mix
    lines.append(f"  total    {neurons} neurons, {synapses} {spec.WEIGHT_BITS}-bit weights")
    lines.append(format_report(report))
    return "\n".join(lines)


@cli
def main(argv=None) -> int:
    p = ArgumentParser(description="Export a checkpoint to NIR (quantized by default).")
    p.add_argument("checkpoint", help="checkpoint written by train/run.py (ckpt.pt)")
    p.add_argument("-o", "--out", default=None, help="output file (default: model.nir next to the checkpoint)")
    p.add_argument("--float", dest="float_", action="store_true", help="write the float network")
    p.add_argument("--target", default=None, choices=["host", "loihi2", "netx"],
                   help="chip profile: loihi2 (every layer a per-neuron Loihi 2 neuron program: diagonal mixing, "
                        "piecewise-linear sigmoid), host (dense mixing, sigmoid LUT; the default) or netx (LIF "
                        "layers on the codes lava-dl netx holds, docs/netx.md). A QAT "
                        "checkpoint carries its own; a different one is an error")
    p.add_argument("--mixing", default=None, choices=["dense", "diag"],
                   help="LTC membrane/adaptation mixing (default: the target's; a QAT checkpoint carries its own)")
    p.add_argument("--dt", type=float_range(0, lo_open=True), default=1e-3, help="time step in s recorded in the file (default 1e-3)")
    p.add_argument("--samples", type=int_range(1), default=None, help="test samples for the accuracy (default: all)")
    p.add_argument("--no-eval", action="store_true", help="skip the float vs integer test-set evaluation")
    p.add_argument("--plot", default=None,
                   help="write a PNG histogram of every weight tensor's rounding error (in quantization steps)")
    args = p.parse_args(argv)
    from ltcsn.export.nir_write import qnet_to_nir, write_nir
    from ltcsn.train.quantize import plan_profile, quantize, target_profile
    from ltcsn.train.checkpoint import load_checkpoint
    from ltcsn.train.errors import InputError
    from ltcsn.train.tasks import task_from_record, warn_samples
    from ltcsn.sim.bounds import overflow_warning, synaptic_sum_bounds
    ckpt_path = Path(args.checkpoint)
    out = check_output(Path(args.out) if args.out else ckpt_path.with_name("model.nir"), [ckpt_path],
                       "-o" if args.out else "output (model.nir next to the checkpoint)")
    if args.plot:
        check_output(args.plot, [ckpt_path, out], "--plot")
    if ckpt_path.is_file() and _head(ckpt_path) == b"\x89HDF\r\n\x1a\n":
        raise InputError(f"{ckpt_path}: an HDF5 (NIR?) file, not a checkpoint; to read a NIR file: "
                         f"python export/nir_io.py {ckpt_path}")
    model, ckpt = load_checkpoint(ckpt_path)
    task = task_from_record(ckpt["task"], ckpt_path, model.cfg.input_shape, model.cfg.n_out)
    if not args.no_eval:
        warn_samples(task, args.samples)
    plan = ckpt.get("quant_plan")
    if plan is not None:
        plan_profile(plan, args.target, args.mixing, where=str(ckpt_path))
    profile = target_profile(args.target, args.mixing)
    try:
        qnet, plan, report = quantize(model, task.input_sample(), plan=plan, task=ckpt["task"], **profile)
    except ValueError as e:      # a network the integer semantics cannot express
        raise InputError(f"{ckpt_path}: {e}") from None
    for bound in synaptic_sum_bounds(qnet):
        if bound["wraps"]:
            warnings.warn(overflow_warning(bound))
    graph = qnet_to_nir(qnet, model, dt=args.dt, quantized=not args.float_)
    write_nir(out, graph)
    print(_summary(qnet, report, not args.float_, args.dt, out), flush=True)
    if args.plot:
        from ltcsn.train.quantize import quantization_errors
        plot_quantization_errors(quantization_errors(model, plan), args.plot, f"{ckpt_path}: 8-bit weight codes")
        print(f"wrote {args.plot}")
    if not args.no_eval:
        from ltcsn.sim.simulate import evaluate_qnet
        from ltcsn.train.trainer import evaluate
        try:
            n = min(args.samples or len(task.x_test), len(task.x_test))
            f_score = evaluate(model, task, limit=args.samples)
            q_score, _, _ = evaluate_qnet(qnet, task, args.samples)
            print(f"{task.name} test {task.metric_name} on {n} samples: float {f_score:.4f}, "
                  f"integer (sim/) {q_score:.4f}")
        except (OSError, RuntimeError, AttributeError) as e:   # no test data available
            print(f"(no test-set evaluation: {type(e).__name__}: {e})")
    return 0


def plot_quantization_errors(errors: dict, path, title: str = ""):
    """One histogram per weight tensor of (code * 2^e - w) / 2^e: rounding error in quantization steps."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from ltcsn.files import atomic_output
    cols = min(3, len(errors))
    rows = -(-len(errors) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.2 * rows), squeeze=False)
    for ax, (name, err) in zip(axes.flat, errors.items()):
        err = np.asarray(err).ravel()
        ax.hist(err, bins=np.linspace(-0.5, 0.5, 41) if np.abs(err).max() <= 0.5 else 40, color="C0")
        outside = int((np.abs(err) > 0.5).sum())
        ax.set_title(f"{name} ({err.size} w" + (f", {outside} clipped)" if outside else ")"), fontsize=7)
        ax.tick_params(labelsize=6)
    for ax in list(axes.flat)[len(errors):]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("rounding error (steps)", fontsize=7)
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    with atomic_output(path, quiet_replace=True) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)

