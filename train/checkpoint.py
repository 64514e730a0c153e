"""Checkpoints: one file with the network config, weights, task, metrics and library versions.

Written atomically (`ltcsn.files.atomic_output`: temporary file, fsync, rename) so an interrupted save never leaves a half-written file.
"""
import pickle
from pathlib import Path
import platform

import torch

from ltcsn.files import atomic_output
from ltcsn.train.errors import InputError
from ltcsn.train.model import NetConfig, SpikingNet

FORMAT = "ltcsn-checkpoint"
VERSION = 1


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
    for key in ("config", "state_dict", "task"):
        if key not in ckpt:
            raise CheckpointError(f"{path}: checkpoint lacks '{key}'")
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
        model = SpikingNet(NetConfig.from_dict(ckpt["config"]))
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: unknown or invalid model config ({e})") from None
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as e:
        raise CheckpointError(f"{path}: weights do not fit the stored config ({str(e).splitlines()[0]})") from None
    return model.to(device).eval(), ckpt
