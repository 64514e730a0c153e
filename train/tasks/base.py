"""The task interface every task module implements."""
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class Task:
    """A sequence task. Inputs [B, T, *input_shape] float32; targets class indices or [B, n_out] floats.

    Subclasses provide the data through `train_batches` and `test_batches`.
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

    def describe(self) -> dict:
        return {"name": self.name, "kind": self.kind, **self.options}

    def input_sample(self, n: int = 2048):
        """Up to n training inputs [n, T, ...] (for choosing the input encoding)."""
        return next(iter(self.train_batches(n, torch.Generator().manual_seed(0))))[0]


class TensorTask(Task):
    """A task whose data sits in memory as tensors (x_train, y_train, x_test, y_test)."""

    def __init__(self, name, kind, n_out, x_train, y_train, x_test, y_test, options):
        super().__init__(name, kind, tuple(x_train.shape[2:]), n_out, x_train.shape[1], options)
        self.x_train, self.y_train, self.x_test, self.y_test = x_train, y_train, x_test, y_test

    def train_batches(self, batch_size: int, generator: torch.Generator):
        order = torch.randperm(len(self.x_train), generator=generator)
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            yield self.x_train[idx], self.y_train[idx]

    def n_train_batches(self, batch_size: int) -> int:
        return -(-len(self.x_train) // batch_size)

    def test_batches(self, batch_size: int, limit: int = None):
        n = len(self.x_test) if limit is None else min(limit, len(self.x_test))
        for i in range(0, n, batch_size):
            yield self.x_test[i:min(i + batch_size, n)], self.y_test[i:min(i + batch_size, n)]
