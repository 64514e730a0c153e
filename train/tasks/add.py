"""The Add task: a sequence of (value, marker) pairs; the target is the sum of the two marked values.

Input [B, T, 2]: channel 0 values ~ U(0, 1), channel 1 the markers (one in each half of the sequence).
Target [B, 1]; predicting the mean gives MSE ~ 0.167 (chance). Training samples are drawn fresh every epoch
(sample i of epoch e is a function of (seed, e, i), so any number of processes draws the same data); the
validation (n_val, seed 54321) and test (n_test, seed 12345) sets are fixed.
"""
import torch
from torch.utils.data import Dataset

from ltcsn.train.errors import InputError
from ltcsn.train.tasks.base import Task, TensorSamples

TEST_SEED, VAL_SEED = 12345, 54321


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


class FreshAddSamples(Dataset):
    """n Add-task samples, new ones every epoch (`set_epoch`): sample i of epoch e is drawn from a generator
    seeded with (seed, e, i)."""

    def __init__(self, n: int, seq_len: int, seed: int = 0):
        self.n, self.seq_len, self.seed, self.epoch = n, seq_len, seed, 0

    def set_epoch(self, epoch: int):
        self.epoch = epoch

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        gen = torch.Generator().manual_seed(((self.seed * 1_000_003 + self.epoch) * 1_000_000_007 + i) % 2**63)
        x, y = add_batch(1, self.seq_len, gen)
        return x[0], y[0]


class AddTask(Task):
    def __init__(self, seq_len: int = 100, n_train: int = 8192, n_test: int = 1024, n_val: int = 1024):
        if seq_len < 2:
            raise InputError("the Add task needs --seq-len >= 2")
        for name, n in (("n_train", n_train), ("n_test", n_test), ("n_val", n_val)):
            if int(n) != n or n < (0 if name == "n_val" else 1):
                raise InputError(f"the Add task's {name} must be a {'non-negative' if name == 'n_val' else 'positive'} "
                                 f"integer, got {n!r}")
        super().__init__("add", "regression", (2,), 1, seq_len,
                         {"seq_len": seq_len, "n_train": n_train, "n_test": n_test, "n_val": n_val})
        self.x_test, self.y_test = add_batch(n_test, seq_len, torch.Generator().manual_seed(TEST_SEED))
        self.train_set = FreshAddSamples(n_train, seq_len)
        self.val_set = TensorSamples(*add_batch(n_val, seq_len, torch.Generator().manual_seed(VAL_SEED)))
        self.test_set = TensorSamples(self.x_test, self.y_test)

    def input_sample(self, n: int = 2048):
        return add_batch(n, self.seq_len, torch.Generator().manual_seed(0))[0]


def make(seq_len: int = None, n_train: int = 8192, n_test: int = 1024, n_val: int = 1024) -> AddTask:
    return AddTask(seq_len=100 if seq_len is None else seq_len, n_train=n_train, n_test=n_test, n_val=n_val)
