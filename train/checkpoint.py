"""Checkpoints: one file with the network config, weights, task, metrics and library versions.

Written atomically (`ltcsn.files.atomic_output`: temporary file, fsync, rename) so an interrupted save never leaves
a half-written file.
"""
import pickle
from pathlib import Path
import platform

import torch

from ltcsn.files import atomic_output
from ltcsn.schema import Arr, Bool, Each, Float, Info, Int, Opt, Rec, SchemaError, Str, check
from ltcsn.sim.qnet import SIGMOIDS
from ltcsn.sim.spec import (INT32_BITS, INPUT_RANGE_SIGNED, INPUT_RANGE_UNSIGNED, LIF_A_IN_SHIFT, LIF_BIAS_EXP_MAX,
                             WEIGHT_LO_BITS, WEIGHT_PRECISIONS)
from ltcsn.train.errors import InputError
from ltcsn.train.layers import MIXINGS, NEURONS
from ltcsn.train.model import READOUTS, NetConfig, SpikingNet
from ltcsn.train.quantize import LIF_CODES
from ltcsn.train.tasks import TASK_RECORD

FORMAT = "ltcsn-checkpoint"
VERSION = 1

# ---------------------------------------------------------------- the schema (ltcsn.schema), written and read
EXPONENT = Int(-2 * INT32_BITS, 2 * INT32_BITS)   # a weight exponent e (W = q 2^e): beyond any shift's reach
SIZE = Int(1, 1 << 16)           # neurons, channels, outputs, input dimensions
POSITIVE = Float(0, 1e6)
CONFIG = Rec({                   # NetConfig (train/model.py); fields with defaults may be absent
    "input_shape": Arr("int", (None,), 1, 1 << 16), "n_out": SIZE,
    "layers": Each(Rec({"size": SIZE, "kind": Opt(Str(("dense", "conv"))), "recurrent": Opt(Bool()),
                        "kernel": Opt(Int(1, 64)), "pool": Opt(Int(1, 64))}), 0, 64),
    "neuron": Opt(Str(NEURONS)), "readout": Opt(Str(READOUTS)), "b0": Opt(POSITIVE), "beta": Opt(POSITIVE),
    "vth": Opt(Float(0, 1e6, lo_open=True)), "theta_step": Opt(POSITIVE), "mixing": Opt(Str(MIXINGS)),
})
SOURCES = Rec({"input": Opt(EXPONENT), "self": Opt(EXPONENT), "const": Opt(EXPONENT)})
LO_BITS = Rec({src: Opt(Int(0, WEIGHT_LO_BITS)) for src in ("input", "self", "const")})
PLAN = Rec({                     # a quantization plan (train/quantize.py plan_from_parts): every exponent
    "mixing": Str(MIXINGS), "sigmoid": Opt(Str(SIGMOIDS)), "lif": Opt(Str(LIF_CODES)), "input_frac": Int(-32, 32),
    "input_range": Arr("int", (2,), INPUT_RANGE_SIGNED[0], INPUT_RANGE_UNSIGNED[1]),
    "weight_bits": Opt(Int(choices=WEIGHT_PRECISIONS)),
    "layers": Each(Rec({"syn": Rec({"d": SOURCES, "m": Opt(SOURCES), "a": Opt(SOURCES)}),
                        "mix": Rec({"m": Opt(EXPONENT), "a": Opt(EXPONENT)}), "src_frac": Int(-32, 32),
                        "frac_bits": Opt(Int(LIF_A_IN_SHIFT, 62)), "bias_exp": Opt(Int(0, LIF_BIAS_EXP_MAX)),
                        "lo_bits": Opt(Rec({"d": Opt(LO_BITS), "m": Opt(LO_BITS), "a": Opt(LO_BITS)}))}), 1, 65),
})
TRAIN = Rec({k: Opt(v) for k, v in {      # TrainConfig (train/trainer.py)
    "algo": Str(("fptt", "bptt")), "K": Int(1, 1 << 20), "alpha": POSITIVE, "beta": POSITIVE, "lr": POSITIVE,
    "optimizer": Str(("adam", "adamax")), "lr_schedule": Str(("constant", "cosine")), "epochs": Int(0, 1 << 20),
    "batch_size": Int(1, 1 << 20), "clip": POSITIVE, "seed": Int(), "warmup_epochs": Int(0, 1 << 20),
    "workers": Int(0, 1024)}.items()})
SCORE = Float(finite=False)       # a loss or score as training measured it (a diverged epoch's may be inf)
HISTORY = Each(Rec({"epoch": Int(0, 1 << 20), "train_loss": Opt(SCORE), "train_accuracy": Opt(SCORE),
                    "train_mse": Opt(SCORE), "val_accuracy": Opt(SCORE), "val_mse": Opt(SCORE)}, open=True))
METRICS = Rec({                  # what --init draws (history) and --resume continues; the rest is informational
    "history": Opt(HISTORY), "init_history": Opt(HISTORY), "train_seconds": Opt(Float(0)),
    "resumed": Opt(Each(Rec(open=True)))}, open=True)
CHECKPOINT = Rec({
    "format": Str((FORMAT,)), "version": Int(choices=(VERSION,)), "config": CONFIG,
    "state_dict": Rec(open=True),            # checked against the network the config builds (`check_state_dict`)
    "task": TASK_RECORD, "train": Opt(TRAIN), "quant_plan": Opt(PLAN),
    "metrics": Opt(METRICS), "versions": Info(Rec(open=True)),
    "args": Opt(Rec(open=True)), "resume": Opt(Rec(open=True)),   # --resume: the run's arguments and trainer state
})


class CheckpointError(InputError):
    """A file that is not a readable checkpoint of this project."""


def _versions() -> dict:
    import numpy
    return {"python": platform.python_version(), "torch": str(torch.__version__), "numpy": str(numpy.__version__),
            "format_version": VERSION}


def save_checkpoint(path, model: SpikingNet, task, train_config: dict, metrics: dict, extra: dict = None):
    path = Path(path)
    ckpt = {
        "format": FORMAT, "version": VERSION,
        "config": model.cfg.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "task": task.describe(),
        "train": train_config,
        "metrics": metrics,
        "versions": _versions(),
        **(extra or {}),
    }
    try:
        check(ckpt, CHECKPOINT)
    except SchemaError as e:     # what we write, the reader reads: a failure here is our bug, not bad input
        raise ValueError(f"the checkpoint writer wrote what its reader refuses: {e}") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path, quiet_replace=True) as tmp:    # each epoch replaces the last: no note
        torch.save(ckpt, tmp)


def read_checkpoint(path) -> dict:
    """Load and validate the checkpoint dict (no model built). Raises CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for foreign / corrupt files
        detail = "" if isinstance(e, pickle.UnpicklingError) else f": {(str(e).splitlines() or [''])[0][:120]}"
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(e).__name__}{detail})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a {FORMAT} file (missing or foreign 'format' field)")
    if ckpt.get("version") != VERSION:
        raise CheckpointError(f"{path}: checkpoint version {ckpt.get('version')!r}, this code reads version {VERSION}")
    try:
        check(ckpt, CHECKPOINT)
    except SchemaError as e:
        raise CheckpointError(f"{path}: {e}") from None
    for name, t in ckpt["state_dict"].items():
        if isinstance(t, torch.Tensor) and t.is_floating_point() and not bool(torch.isfinite(t).all()):
            what = "NaN" if bool(torch.isnan(t).any()) else "Inf"
            raise CheckpointError(f"{path}: weight '{name}' holds {what} ({int((~torch.isfinite(t)).sum())} of "
                                  f"{t.numel()} values); a diverged or damaged network cannot be used")
    return ckpt


def load_checkpoint(path, device="cpu"):
    """Checkpoint file -> (SpikingNet in eval mode, checkpoint dict). Raises CheckpointError."""
    ckpt = read_checkpoint(path)
    try:
        cfg = NetConfig.from_dict(ckpt["config"])
        with torch.device("meta"):         # the shapes the config gives, nothing allocated
            shapes = SpikingNet(cfg).state_dict()
    except ValueError as e:
        raise CheckpointError(f"{path}: invalid model config ({e})") from None
    check_state_dict(ckpt["state_dict"], shapes, path)
    model = SpikingNet(cfg)
    model.load_state_dict(ckpt["state_dict"])
    if ckpt.get("quant_plan") is not None:
        check_plan(ckpt["quant_plan"], model, path)
    return model.to(device).eval(), ckpt


def check_state_dict(state: dict, want: dict, path):
    """The stored weights are exactly the tensors the config's network has: names, shapes, float dtypes."""
    missing, extra = sorted(set(want) - set(state)), sorted(set(state) - set(want))
    if missing or extra:
        raise CheckpointError(f"{path}: weights do not fit the stored config: state_dict "
                              + (f"lacks '{missing[0]}'" if missing else f"has an unknown '{extra[0]}'")
                              + f" ({len(missing)} missing, {len(extra)} unknown)")
    for name, w in want.items():
        t = state[name]
        if not isinstance(t, torch.Tensor) or t.dtype != w.dtype or t.shape != w.shape:
            got = f"{t.dtype} tensor {list(t.shape)}" if isinstance(t, torch.Tensor) else type(t).__name__
            raise CheckpointError(f"{path}: weights do not fit the stored config: state_dict.{name}: expected a "
                                  f"{w.dtype} tensor of shape {list(w.shape)}, got {got}")


def check_plan(plan: dict, model, path):
    """A stored quantization plan has an exponent for exactly the weights of the network (layers, parts, sources,
    mixing) and a fraction width for each Lava LIF / ATRLIF layer."""
    from ltcsn.train.quantize import model_parts
    parts = model_parts(model)
    if len(plan["layers"]) != len(parts):
        raise CheckpointError(f"{path}: quant_plan.layers: expected {len(parts)} layers (the network's), got "
                              f"{len(plan['layers'])}")
    for i, (p, lp) in enumerate(zip(parts, plan["layers"])):
        where = f"{path}: quant_plan.layers[{i}]"
        want = {part: sorted(srcs) for part, srcs in p["syn"].items()}
        got = {part: sorted(srcs) for part, srcs in lp["syn"].items()}
        if got != want:
            raise CheckpointError(f"{where}.syn: expected exponents of {want} (the network's synapses), got {got}")
        if sorted(lp["mix"]) != sorted(p.get("mix", {})):
            raise CheckpointError(f"{where}.mix: expected exponents of {sorted(p.get('mix', {}))}, got "
                                  f"{sorted(lp['mix'])}")
        if (p["kind"] in ("lif", "atrlif")) != ("frac_bits" in lp):
            raise CheckpointError(f"{where}.frac_bits: expected {'one' if 'frac_bits' not in lp else 'none'} for a "
                                  f"{p['kind']} layer")
