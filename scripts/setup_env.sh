#!/usr/bin/env bash
# Create .venv with Python 3.10 (Lava's pin) and install the project with its dev extras.
# Re-runs are cheap: it reinstalls only when pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/.."

find_python310() {
    if command -v python3.10 >/dev/null 2>&1 && python3.10 -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then
        command -v python3.10; return
    fi
    if command -v pyenv >/dev/null 2>&1; then
        local v; v=$(pyenv versions --bare 2>/dev/null | grep -E '^3\.10(\.|$)' | sort -V | tail -n 1 || true)
        if [ -n "$v" ]; then echo "$(pyenv root)/versions/$v/bin/python3.10"; return; fi
    fi
    local c
    for c in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.10*/bin/python3.10 /usr/bin/python3.10 /usr/local/bin/python3.10; do
        [ -x "$c" ] && { echo "$c"; return; }
    done
    return 1
}

if [ ! -x .venv/bin/python ]; then
    PY=$(find_python310) || { echo "error: Python 3.10 is required (Lava pins it); install it, e.g. 'pyenv install 3.10'" >&2; exit 1; }
    echo "creating .venv with $PY"
    "$PY" -m venv .venv
fi

stamp=.venv/.installed-$(sha1sum pyproject.toml | cut -c1-12)
if [ ! -f "$stamp" ]; then
    .venv/bin/python -m pip install -q --upgrade "pip>=23,<27"
    .venv/bin/python -m pip install -q -e ".[dev]"
    rm -f .venv/.installed-*
    touch "$stamp"
fi

# lava-dl's netx (dev/test: hardware/to_netx.py writes its HDF5 format, tests/test_netx.py runs the files in it).
# lava-dl 0.6.0 pins torch<2.4 (and torchvision, opencv, pytest<8), so it is installed without its dependencies:
# netx needs only what the project already has (lava-nc, h5py, numpy, scipy, torch, torchvision, pillow) plus
# opencv, which lava-dl's slayer imports at package import.
if ! .venv/bin/python -c 'import lava.lib.dl.netx' >/dev/null 2>&1; then
    .venv/bin/python -m pip install -q --no-deps "lava-dl==0.6.0" "opencv-python-headless>=4.8.1.78,<4.11"
fi

# Fashion-MNIST for the fmnist / rfmnist tasks: the Debian package dataset-fashion-mnist
# (files in /usr/share/datasets/fashion-mnist/). Installed when missing, apt-get exists and we are root;
# anything else only warns, so the rest of the set-up (and `make test`) works without it.
# Set LTCSN_NO_APT=1 to skip this step.
install_fashion_mnist() {
    local dir=/usr/share/datasets/fashion-mnist
    [ -f "$dir/train-images-idx3-ubyte.gz" ] && return 0
    [ "${LTCSN_NO_APT:-0}" = 1 ] && return 0
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "warning: Fashion-MNIST not installed and no apt-get here; the fmnist/rfmnist tasks need its IDX files" \
             "(pass --data-dir DIR)" >&2
        return 0
    fi
    if [ "$(id -u)" != 0 ]; then
        echo "warning: Fashion-MNIST not installed; run 'sudo apt-get install dataset-fashion-mnist' for the" \
             "fmnist/rfmnist tasks (or pass --data-dir DIR)" >&2
        return 0
    fi
    export DEBIAN_FRONTEND=noninteractive
    # refresh the package lists only when apt does not know the package yet
    if ! apt-cache policy dataset-fashion-mnist 2>/dev/null | grep -q 'Candidate: [0-9]'; then
        apt-get update -q >/dev/null 2>&1 || echo "warning: apt-get update failed" >&2
    fi
    if apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 && [ -f "$dir/train-images-idx3-ubyte.gz" ]; then
        echo "installed dataset-fashion-mnist ($dir)"
    else
        echo "warning: 'apt-get install dataset-fashion-mnist' failed; the fmnist/rfmnist tasks need its IDX files" \
             "(pass --data-dir DIR)" >&2
    fi
    return 0
}
install_fashion_mnist || true
