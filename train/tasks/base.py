"""The task interface every task module implements.

A task hands out three `torch.utils.data` datasets of (x [T, *input_shape] float32, y) samples:
`train_set` (what the optimizer sees), `val_set` (held out of the training data; chooses the best epoch) and
`test_set` (scored once, at the end of a run). Training reads them through `torch.utils.data.DataLoader`.
"""
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Subset

from ltcsn.train.errors import InputError

VAL_SPLIT_SEED = 1    # the fixed permutation that picks the validation samples out of the training data


@dataclass
class Task:
    """A sequence task. Inputs [B, T, *input_shape] float32; targets class indices or [B, n_out] floats.

    Subclasses set `train_set`, `val_set` and `test_set` (map-style datasets).
    `options` are the keyword arguments that rebuild the task with `train.tasks.get_task`.
    """
    name: str
    kind: str                # "classification" | "regression"
    input_shape: tuple
    n_out: int
    seq_len: int
    options: dict

    def loss(self, out, y):
        """Task loss of readout output out [B, n_out]."""
        if self.kind == "classification":
            return F.cross_entropy(out, y)
        return F.mse_loss(out, y)

    def metric(self, out, y) -> float:
        """Sum over the batch of correct predictions (classification) or squared error (regression)."""
        if self.kind == "classification":
            return (out.argmax(-1) == y).sum().item()
        return ((out - y) ** 2).mean(-1).sum().item()

    @property
    def metric_name(self) -> str:
        return "accuracy" if self.kind == "classification" else "mse"

    def better(self, a: float, b: float) -> bool:
        """Is score a better than score b (higher accuracy, lower MSE)?"""
        return a > b if self.kind == "classification" else a < b

    def describe(self) -> dict:
        return {"name": self.name, "kind": self.kind, **self.options}

    def batches(self, split: str, batch_size: int, limit: int = None):
        """Batches (x [B, T, ...] float32, y) of the first `limit` samples of split "train" | "val" | "test",
        in order (DataLoader, main process)."""
        data = {"train": self.train_set, "val": self.val_set, "test": self.test_set}[split]
        if limit is not None and limit < len(data):
            data = Subset(data, range(limit))
        return iter(DataLoader(data, batch_size=batch_size, shuffle=False))

    def test_batches(self, batch_size: int, limit: int = None):
        return self.batches("test", batch_size, limit)

    def input_sample(self, n: int = 2048):
        """Up to n training inputs [n, T, ...] (for choosing the input encoding)."""
        raise NotImplementedError


class TensorSamples(Dataset):
    """Samples (x[i] as float32, y[i]) of in-memory tensors, optionally only those at `index`."""

    def __init__(self, x, y, index=None):
        self.x, self.y = x, y
        self.index = torch.arange(len(x)) if index is None else torch.as_tensor(index)

    def __len__(self):
        return len(self.index)

    def __getitem__(self, i):
        j = int(self.index[i])
        return self.x[j].float(), self.y[j]


def validation_count(n_train: int, n_val) -> int:
    """The number of training samples held out for validation: n_val, or 10 % of the training data."""
    if n_val is None:
        return n_train // 10
    if int(n_val) != n_val or n_val < 0 or n_val >= n_train:
        raise InputError(f"n_val (--n-val) must be an integer in 0..{n_train - 1} (the training set holds "
                         f"{n_train} samples), got {n_val!r}")
    return int(n_val)


class TensorTask(Task):
    """A task whose data sits in memory as tensors (x_train, y_train, x_test, y_test; inputs float32 or uint8,
    handed out as float32). `n_val` samples of x_train (default 10 %; a fixed permutation, seed
    VAL_SPLIT_SEED) form the validation set, the rest the training set."""

    def __init__(self, name, kind, n_out, x_train, y_train, x_test, y_test, options, n_val=None):
        super().__init__(name, kind, tuple(x_train.shape[2:]), n_out, x_train.shape[1], options)
        self.x_train, self.y_train, self.x_test, self.y_test = x_train, y_train, x_test, y_test
        n = validation_count(len(x_train), n_val)
        if n_val is not None:
            self.options["n_val"] = n
        order = torch.randperm(len(x_train), generator=torch.Generator().manual_seed(VAL_SPLIT_SEED))
        self.val_set = TensorSamples(x_train, y_train, order[:n].sort().values)
        self.train_set = TensorSamples(x_train, y_train, order[n:].sort().values)
        self.test_set = TensorSamples(x_test, y_test)

    def input_sample(self, n: int = 2048):
        order = torch.randperm(len(self.x_train), generator=torch.Generator().manual_seed(0))
        return self.x_train[order[:n]].float()
