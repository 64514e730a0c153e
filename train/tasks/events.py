"""Event-camera / spiking-audio tasks read through tonic's dataset classes from a local folder (no download).

    dvsgesture  IBM DVS-Gesture (tonic.datasets.DVSGesture), 11 classes; frames [T, 2, H, W]
    nmnist      N-MNIST (tonic.datasets.NMNIST), 10 classes;           frames [T, 2, H, W]
    shd         Spiking Heidelberg Digits (tonic.datasets.SHD), 20 classes; [T, 700 // downsample]

`data_dir` (train/run.py --data-dir DIR) is the folder given to tonic as `save_to`; tonic reads each dataset from
its own subfolder named after the class (the layout tonic itself extracts downloads into):

    DIR/DVSGesture/ibmGestureTrain/userNN_<lighting>/<label>.npy   (and ibmGestureTest/...)
    DIR/NMNIST/Train/<digit>/<id>.bin                              (and Test/...)
    DIR/SHD/shd_train.h5, DIR/SHD/shd_test.h5

Nothing is ever downloaded: the classes used here are subclasses of tonic's (same names, so the same folders)
whose `download()` raises InputError, and whose existence check asks only for the extracted data (tonic's own
check also wants the downloaded archive next to it, and 100 / 10,000 files).

Each recording becomes `seq_len` frames with tonic.transforms.ToFrame(n_time_bins=seq_len) (equal time bins
between the recording's first and last event), after an optional tonic.transforms.Downsample by the integer
`downsample` factor (DVS: both spatial axes; SHD: the 700 channels). `encoding` "binary" (default) gives 1 where
a pixel / channel had at least one event in the bin (spike input), "count" the event count (clipped at 255).
Frames are built once: tonic.DiskCachedDataset keeps every recording's frames in HDF5 files under
`cache_dir` (default DIR/ltcsn-frames; train/run.py --cache-dir), in a folder named by task, seq_len, downsample
and encoding, so a later run with the same options reads them instead of rebuilding them (delete the folder when the
recordings change). Where that folder cannot be created, frames are built without a cache (a warning says so).
The frames of the whole (sub)set are held in memory as uint8 while training; batches are float32. Memory:
N x T x C x H x W bytes (full N-MNIST at T = 10, 34 x 34: 1.6 GB; use downsample = 2 or n_train / n_test subsets to
shrink it).
Options n_train / n_test take a fixed random subset (seed 0) of the recordings.
"""
import math
import os
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ltcsn.train.errors import InputError
from ltcsn.train.tasks.base import TensorTask

DEFAULTS = {"dvsgesture": {"seq_len": 20, "downsample": 4},
            "nmnist": {"seq_len": 10, "downsample": 1},
            "shd": {"seq_len": 100, "downsample": 1}}



def _abs(path) -> str:
    """The data folder as an absolute path (stored in checkpoints, which may be read from another directory)."""
    return str(Path(path).expanduser().resolve())

# ---------------------------------------------------------------- tonic classes that never download
def _dataset_classes():
    """tonic's DVSGesture, NMNIST, SHD subclassed: same class names (tonic's folder = DIR/<class name>),
    download() refused, existence = the extracted data only."""
    from tonic import datasets as td

    def refuse(self):
        raise InputError(missing_message(_NAME_OF[type(self).__name__], Path(self.location_on_system).parent))

    class DVSGesture(td.DVSGesture):
        download = refuse

        def _check_exists(self):
            return any(Path(self.location_on_system, self.folder_name).glob("*/*.npy"))

    class NMNIST(td.NMNIST):
        download = refuse

        def _check_exists(self):
            return any(Path(self.location_on_system, self.folder_name).glob("*/*.bin"))

    class SHD(td.SHD):
        download = refuse

        def _check_exists(self):
            return Path(self.location_on_system, self.data_filename).is_file()

    return {"dvsgesture": DVSGesture, "nmnist": NMNIST, "shd": SHD}


_NAME_OF = {"DVSGesture": "dvsgesture", "NMNIST": "nmnist", "SHD": "shd"}


def missing_message(task: str, root) -> str:
    root = Path(root)
    if task == "dvsgesture":
        return (f"DVS-Gesture not found in {root / 'DVSGesture'}: expected "
                f"{root / 'DVSGesture' / 'ibmGestureTrain'}/userNN_<lighting>/<label>.npy and the same under "
                f"ibmGestureTest/ (tonic's layout). Nothing is downloaded here: fetch ibmGestureTrain.tar.gz and "
                f"ibmGestureTest.tar.gz (tonic.datasets.DVSGesture.train_url / test_url, figshare) elsewhere and "
                f"extract both into {root / 'DVSGesture'}/.")
    if task == "nmnist":
        return (f"N-MNIST not found in {root / 'NMNIST'}: expected {root / 'NMNIST' / 'Train'}/<digit>/*.bin and "
                f"{root / 'NMNIST' / 'Test'}/<digit>/*.bin (tonic's layout). Nothing is downloaded here: fetch "
                f"train.zip and test.zip (tonic.datasets.NMNIST.train_url / test_url, Mendeley Data) elsewhere and "
                f"extract both into {root / 'NMNIST'}/.")
    if task == "shd":
        return (f"SHD not found in {root / 'SHD'}: expected {root / 'SHD' / 'shd_train.h5'} and "
                f"{root / 'SHD' / 'shd_test.h5'} (tonic's layout). Nothing is downloaded here: fetch "
                f"shd_train.h5.zip and shd_test.h5.zip from https://zenkelab.org/datasets/ elsewhere and unzip "
                f"them into {root / 'SHD'}/.")
    raise ValueError(task)


def _present(task: str, root: Path, train: bool) -> bool:
    if task == "dvsgesture":
        return any((root / "DVSGesture" / ("ibmGestureTrain" if train else "ibmGestureTest")).glob("*/*.npy"))
    if task == "nmnist":
        return any((root / "NMNIST" / ("Train" if train else "Test")).glob("*/*.bin"))
    return (root / "SHD" / ("shd_train.h5" if train else "shd_test.h5")).is_file()


def open_dataset(task: str, data_dir, train: bool, transform=None):
    """tonic dataset object for one split, reading DIR/<ClassName>/. Raises InputError when absent."""
    if data_dir is None:
        raise InputError(f"{task} needs --data-dir DIR (the folder tonic reads from). " +
                         missing_message(task, "DIR"))
    root = Path(data_dir).expanduser()
    if not _present(task, root, train):
        raise InputError(missing_message(task, root))
    return _dataset_classes()[task](str(root), train=train, transform=transform)


# ---------------------------------------------------------------- events -> frames
SENSORS = {"dvsgesture": (128, 128, 2), "nmnist": (34, 34, 2), "shd": (700, 1, 1)}


def frame_shape(task: str, downsample: int) -> tuple:
    """Per-step input shape: (2, H, W) for DVS, (channels,) for SHD."""
    w, h, p = SENSORS[task]
    if task == "shd":
        return (math.ceil(w / downsample),)
    return (p, math.ceil(h / downsample), math.ceil(w / downsample))


class EventsToFrames:
    """tonic events (structured array x[, y], t, p) -> uint8 frames [T, *frame_shape] via tonic's Downsample and
    ToFrame(n_time_bins=T). Empty recordings give all-zero frames."""

    def __init__(self, task: str, seq_len: int, downsample: int = 1, encoding: str = "binary"):
        import tonic.transforms as tt
        if encoding not in ("binary", "count"):
            raise InputError(f"encoding must be 'binary' or 'count', got {encoding!r}")
        if int(downsample) != downsample or downsample < 1:
            raise InputError(f"downsample must be a positive integer, got {downsample!r}")
        if seq_len < 1:
            raise InputError(f"the number of time bins (--seq-len) must be >= 1, got {seq_len}")
        self.task, self.seq_len, self.downsample, self.encoding = task, int(seq_len), int(downsample), encoding
        self.shape = frame_shape(task, self.downsample)
        w, h, p = SENSORS[task]
        self.sensor = (math.ceil(w / self.downsample), 1 if task == "shd" else math.ceil(h / self.downsample), p)
        self.down = tt.Downsample(spatial_factor=1.0 / self.downsample) if self.downsample > 1 else None
        self.to_frame = tt.ToFrame(sensor_size=self.sensor, n_time_bins=self.seq_len)

    def __call__(self, events) -> np.ndarray:
        events = np.asarray(events)
        if len(events) == 0:
            return np.zeros((self.seq_len, *self.shape), np.uint8)
        if np.any(np.diff(events["t"]) < 0):
            events = events[np.argsort(events["t"], kind="stable")]
        if self.down is not None:
            events = self.down(events)
        frames = np.asarray(self.to_frame(events)).reshape(self.seq_len, *self.shape)
        if self.encoding == "binary":
            return (frames > 0).astype(np.uint8)
        return np.clip(frames, 0, 255).astype(np.uint8)


def _subset_indices(n_all: int, n) -> np.ndarray:
    if n is None or n >= n_all:
        return np.arange(n_all)
    if n < 1:
        raise InputError(f"subset size must be >= 1, got {n}")
    return np.sort(np.random.default_rng(0).permutation(n_all)[:n])


def frames_cache(dataset, cache_dir: Path, split: str):
    """The dataset behind tonic's DiskCachedDataset in cache_dir/split (frames built once), or the dataset itself
    (with a warning) when that folder cannot be created."""
    import sys
    from tonic import DiskCachedDataset
    folder = Path(cache_dir) / split
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not os.access(folder, os.W_OK):
            raise PermissionError(f"{folder} is not writable")
    except OSError as e:
        print(f"warning: frame cache {folder} unusable ({e}); building frames without a cache", file=sys.stderr)
        return dataset
    return DiskCachedDataset(dataset, cache_path=str(folder))


def load_frames(dataset, n=None, desc: str = "frames", progress: bool = True):
    """Convert (a fixed subset of) a tonic dataset whose transform makes frames -> (uint8 [N, T, ...], int64 [N])."""
    idx = _subset_indices(len(dataset), n)
    if len(idx) == 0:
        raise InputError(f"{desc}: the dataset holds no recordings")
    xs, ys = [], []
    for i in tqdm(idx, desc=desc, leave=False, disable=None if progress else True):   # None: on a terminal only
        x, y = dataset[int(i)]
        xs.append(torch.from_numpy(np.ascontiguousarray(x)))
        ys.append(int(np.asarray(y).reshape(-1)[0]))
    return torch.stack(xs), torch.tensor(ys, dtype=torch.int64)


N_CLASSES = {"dvsgesture": 11, "nmnist": 10, "shd": 20}


def make_event_task(task: str, data_dir=None, seq_len=None, downsample=None, encoding: str = "binary",
                    n_train=None, n_test=None, progress: bool = True, n_val=None, cache_dir=None) -> TensorTask:
    seq_len = seq_len or DEFAULTS[task]["seq_len"]
    downsample = downsample or DEFAULTS[task]["downsample"]
    to_frames = EventsToFrames(task, seq_len, downsample, encoding)
    train = open_dataset(task, data_dir, True, to_frames)
    test = open_dataset(task, data_dir, False, to_frames)
    cache = Path(cache_dir or Path(data_dir).expanduser() / "ltcsn-frames") / \
        f"{task}-T{seq_len}-down{downsample}-{encoding}"
    train, test = frames_cache(train, cache, "train"), frames_cache(test, cache, "test")
    x_tr, y_tr = load_frames(train, n_train, f"{task} train", progress)
    x_te, y_te = load_frames(test, n_test, f"{task} test", progress)
    n_out = N_CLASSES[task]
    for split, y in (("train", y_tr), ("test", y_te)):
        if y.min() < 0 or y.max() >= n_out:
            raise InputError(f"{task} {split}: labels outside 0..{n_out - 1} in {data_dir}")
    options = {"data_dir": _abs(data_dir), "seq_len": seq_len, "downsample": downsample, "encoding": encoding}
    if n_train is not None:
        options["n_train"] = n_train
    if n_test is not None:
        options["n_test"] = n_test
    return TensorTask(task, "classification", n_out, x_tr, y_tr, x_te, y_te, options, n_val)


def make_dvsgesture(data_dir=None, seq_len=None, downsample=None, encoding: str = "binary", n_train=None,
                    n_test=None, progress: bool = True, n_val=None, cache_dir=None) -> TensorTask:
    return make_event_task("dvsgesture", data_dir, seq_len, downsample, encoding, n_train, n_test, progress, n_val,
                           cache_dir)


def make_nmnist(data_dir=None, seq_len=None, downsample=None, encoding: str = "binary", n_train=None,
                n_test=None, progress: bool = True, n_val=None, cache_dir=None) -> TensorTask:
    return make_event_task("nmnist", data_dir, seq_len, downsample, encoding, n_train, n_test, progress, n_val,
                           cache_dir)


def make_shd(data_dir=None, seq_len=None, downsample=None, encoding: str = "binary", n_train=None,
             n_test=None, progress: bool = True, n_val=None, cache_dir=None) -> TensorTask:
    return make_event_task("shd", data_dir, seq_len, downsample, encoding, n_train, n_test, progress, n_val,
                           cache_dir)
