"""The Add task: a sequence of (value, marker) pairs; the target is the sum of the two marked values.

Input [B, T, 2]: channel 0 values ~ U(0, 1), channel 1 the markers (one in each half of the sequence).
Target [B, 1]; predicting the mean gives MSE ~ 0.167 (chance). Training data is drawn fresh for every batch.
"""
import torch

from ltcsn.train.tasks.base import Task


def add_batch(batch: int, seq_len: int, generator: torch.Generator):
    values = torch.rand(batch, seq_len, generator=generator)
    half = seq_len // 2
    first = torch.randint(0, half, (batch,), generator=generator)
    second = torch.randint(half, seq_len, (batch,), generator=generator)
    markers = torch.zeros(batch, seq_len)
    rows = torch.arange(batch)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    y = (values[rows, first] + values[rows, second]).unsqueeze(-1)
    return torch.stack([values, markers], -1), y


class AddTask(Task):
    def __init__(self, seq_len: int = 100, n_train: int = 8192, n_test: int = 1024):
        if seq_len < 2:
            raise ValueError("the Add task needs --seq-len >= 2")
        super().__init__("add", "regression", (2,), 1, seq_len,
                         {"seq_len": seq_len, "n_train": n_train, "n_test": n_test})
        self.n_train = n_train
        self.x_test, self.y_test = add_batch(n_test, seq_len, torch.Generator().manual_seed(12345))

    def train_batches(self, batch_size: int, generator: torch.Generator):
        for _ in range(self.n_train_batches(batch_size)):
            yield add_batch(batch_size, self.seq_len, generator)

    def n_train_batches(self, batch_size: int) -> int:
        return -(-self.n_train // batch_size)

    def test_batches(self, batch_size: int, limit: int = None):
        n = len(self.x_test) if limit is None else min(limit, len(self.x_test))
        for i in range(0, n, batch_size):
            yield self.x_test[i:min(i + batch_size, n)], self.y_test[i:min(i + batch_size, n)]


def make(seq_len: int = None, **kw) -> AddTask:
    return AddTask(seq_len=seq_len or 100, **kw)
