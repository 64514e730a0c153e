"""A user's own input sequences for a network: an .npz of arrays [N, T, ...], or tonic event recordings (one
structured event array per .npy file, a file or a folder of them) turned into frames by tonic's ToFrame.

Events are tonic's structured arrays with fields x, t, p (1-d sensors) or x, y, t, p (2-d sensors; frames
[T, p, y, x]); the sensor size comes from the network's input shape: (W, H, C) for an input [C, H, W],
(n, 1, 1) for an input [n].
"""
from pathlib import Path

import numpy as np

from ltcsn.errors import InputError


def is_event_input(path) -> bool:
    """True for a .npy event file or a folder of them (tonic events), False for an .npz of arrays."""
    path = Path(path)
    return path.is_dir() or path.suffix == ".npy"


def read_array_inputs(path, key: str = None) -> np.ndarray:
    """Float inputs [N, T, ...] from an .npz: the array `key`, else "x", else its only array."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            keys = list(f.keys())
            name = key or ("x" if "x" in keys else (keys[0] if len(keys) == 1 else None))
            if name is None or name not in keys:
                raise InputError(f"{path}: name the input array with --key (arrays: {', '.join(keys) or 'none'})")
            x = f[name]
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: not a readable .npz of input arrays ({' '.join(str(e).split())[:120]})") from None
    if x.ndim < 3 or x.dtype.kind not in "biuf":
        raise InputError(f"{path}: '{name}' is {x.dtype}{list(x.shape)}; inputs are numbers [N, T, ...]")
    x = x.astype(np.float64)
    if not np.isfinite(x).all():
        raise InputError(f"{path}: '{name}' holds NaN or Inf")
    return x


def _sensor_size(input_shape: tuple) -> tuple:
    if len(input_shape) == 1:
        return (int(input_shape[0]), 1, 1)
    if len(input_shape) == 3:
        c, h, w = input_shape
        return (int(w), int(h), int(c))
    raise InputError(f"event inputs need a network input [n] or [C, H, W], not {list(input_shape)}")


def read_event_inputs(path, input_shape: tuple, frames: int = None, time_window: float = None) -> np.ndarray:
    """Event counts per frame [N, T, *input_shape] from tonic event arrays (.npy, or a folder of them, sorted by
    name): tonic.transforms.ToFrame(sensor_size, n_time_bins=frames) or (time_window=us); every sample is cut or
    zero-padded to the longest one's frame count."""
    import tonic.transforms
    path = Path(path)
    files = sorted(path.glob("*.npy")) if path.is_dir() else [path]
    if not files:
        raise InputError(f"{path}: no .npy event files")
    if (frames is None) == (time_window is None):
        raise InputError("event inputs need exactly one of --frames N and --time-window US")
    to_frame = tonic.transforms.ToFrame(sensor_size=_sensor_size(tuple(input_shape)), n_time_bins=frames,
                                        time_window=time_window)
    samples = []
    for f in files:
        try:
            ev = np.load(f, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise InputError(f"{f}: not a readable .npy event array ({' '.join(str(e).split())[:120]})") from None
        if ev.dtype.names is None or not {"x", "t", "p"} <= set(ev.dtype.names):
            raise InputError(f"{f}: not a tonic event array (a structured array with fields x, [y,] t, p)")
        try:
            fr = to_frame(ev)
        except (IndexError, ValueError) as e:
            raise InputError(f"{f}: events do not fit the sensor {_sensor_size(tuple(input_shape))} of the network "
                             f"input {list(input_shape)} ({' '.join(str(e).split())[:100]})") from None
        samples.append(fr.reshape(len(fr), *input_shape).astype(np.float64))
    T = max(len(s) for s in samples)
    x = np.zeros((len(samples), T, *input_shape))
    for i, s in enumerate(samples):
        x[i, :len(s)] = s
    return x


def fit_inputs(x: np.ndarray, input_shape: tuple, where: str) -> np.ndarray:
    """x [N, T, ...] reshaped to [N, T, *input_shape] (same number of values per step), else InputError."""
    if int(np.prod(x.shape[2:])) != int(np.prod(input_shape)):
        raise InputError(f"{where}: inputs of shape {list(x.shape[2:])} per step; the network takes "
                         f"{list(input_shape)}")
    return x.reshape(*x.shape[:2], *input_shape)
