"""Any model file -> its integer network: a checkpoint (quantized on the fly) or a NIR file; and the
command-line options and lines that say how a NIR file was read (every CLI that reads one uses them)."""
from ltcsn.args import float_range
from ltcsn.export.nir_producers import PRODUCERS
from ltcsn.sim.spec import WEIGHT_PRECISIONS
from ltcsn.train.errors import InputError


def load_qnet(path: str, mixing: str = None, dt: float = None, producer: str = None, target: str = None):
    """Checkpoint (.pt, quantized on the fly under the chip profile `target` / `mixing`, reusing a stored QAT plan)
    or NIR file -> (QNet, float model or None)."""
    return load_model(path, mixing, dt, producer, target=target)[:2]


def load_model(path: str, mixing: str = None, dt: float = None, producer: str = None, x_sample=None,
               target: str = None, weight_bits: int = None, default_target: str = None):
    """(QNet, float model or None, info or None). NIR files: `export.nir_read.read_nir` with dt, producer
    (None / "auto": recognised), weight_bits (None: 8) and x_sample (float inputs [N, T, ...] for a graded input
    encoding); info says how it was read. Checkpoints: dt, producer and weight_bits do not apply (InputError if
    given). A target / mixing that would be ignored (a NIR file carries its own; so does a QAT plan of another
    profile) is an InputError. default_target: the chip profile of a float network that carries none (a float
    checkpoint without a QAT plan, a float NIR file; e.g. "netx" for hardware/to_netx.py)."""
    from ltcsn.export.netx_read import is_netx_file
    if is_netx_file(path):
        if target is not None or mixing is not None or dt is not None or producer not in (None, "auto") \
                or weight_bits is not None:
            raise InputError(f"{path}: a netx file holds its integer network; --target, --mixing, --dt, --producer "
                             f"and --weight-bits do not apply")
        from ltcsn.export.netx_read import read_netx
        qnet, info = read_netx(path, x_sample=x_sample)
        return qnet, None, info
    if str(path).endswith(".nir"):
        if target is not None or mixing is not None:
            raise InputError(f"{path}: a NIR file carries its integer network; --target / --mixing do not apply")
        from ltcsn.export.nir_read import read_nir
        qnet, info = read_nir(path, dt=dt, producer=producer, x_sample=x_sample, weight_bits=weight_bits,
                              target=default_target)
        return qnet, None, info
    if dt is not None or producer not in (None, "auto") or weight_bits is not None:
        raise InputError(f"{path}: --dt, --producer and --weight-bits apply to NIR files only (a checkpoint knows "
                         f"its network)")
    from ltcsn.train.quantize import plan_profile, quantize, target_profile
    from ltcsn.train.checkpoint import load_checkpoint
    from ltcsn.train.tasks import task_from_record
    model, ckpt = load_checkpoint(path)
    task = task_from_record(ckpt["task"], path, model.cfg.input_shape, model.cfg.n_out)
    plan = ckpt.get("quant_plan")
    if plan is not None:
        plan_profile(plan, target, mixing, where=str(path))
    profile = target_profile(target or (default_target if plan is None and mixing is None else None), mixing)
    qnet, _, _ = quantize(model, task.input_sample(), plan=plan, task=ckpt["task"], **profile)
    return qnet, model, None


def add_reading_args(parser) -> None:
    """--dt, --producer and --weight-bits: how a NIR graph from another tool is read (docs/nir_schema.md,
    "Third-party graphs"); `reading_options` passes them on."""
    parser.add_argument("--dt", type=float_range(0, lo_open=True), default=None,
                        help="NIR graphs: time step in s (default: the graph's stored dt, else its producer's "
                             "convention; refused when neither decides)")
    parser.add_argument("--producer", default="auto", choices=["auto", *PRODUCERS],
                        help="NIR graphs: the tool that wrote it (default: recognised from the graph)")
    parser.add_argument("--weight-bits", type=int, choices=WEIGHT_PRECISIONS, default=None,
                        help="NIR graphs from other tools: 8 (default: one Dense per weight matrix, Loihi 2's weight "
                             "width) or 15 (a second Dense adds each 8-bit code's remainder: twice the synapses)")


def reading_options(args) -> dict:
    """The keyword arguments of `load_model` / `read_nir` that `add_reading_args` parsed."""
    return {"dt": args.dt, "producer": args.producer, "weight_bits": args.weight_bits}


def reading_lines(info) -> list:
    """How a NIR file was read: producer, dt and its rule, then every note (printed on every run)."""
    if not info:
        return []
    return list(info.get("reading", [])) + [f"note: {n}" for n in info.get("notes", [])]
