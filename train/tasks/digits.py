"""scikit-learn's 1,797 real 8x8 handwritten digits (shipped inside the package, no download).

rdigits: row by row, 8 steps of 8 pixels. sdigits: pixel by pixel, 64 steps of 1 pixel.
Pixels scaled to [0, 1]; a fixed stratified 80/20 train/test split (1,437 / 360);
of the 1,437, n_val (default 143) are held out for validation.
"""
import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from ltcsn.train.tasks.base import TensorTask


def _digits(name: str, steps: int, n_val=None):
    data = load_digits()
    x = (data.data / 16.0).astype(np.float32).reshape(len(data.data), steps, 64 // steps)
    y = data.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)
    t = torch.from_numpy
    return TensorTask(name, "classification", 10, t(x_tr), t(y_tr), t(x_te), t(y_te), {}, n_val)


def make_rows(n_val=None) -> TensorTask:
    return _digits("rdigits", 8, n_val)


def make_pixels(n_val=None) -> TensorTask:
    return _digits("sdigits", 64, n_val)
