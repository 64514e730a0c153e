"""ltcsn: train LTC spiking networks with FPTT, export them to NIR with integer codes, run them on Lava, verify.

The stages are subpackages (folders of the repository): `ltcsn.train`, `ltcsn.export`, `ltcsn.sim`,
`ltcsn.hardware`. Import them directly; this module imports nothing (Lava is imported only where it is used).
"""
from importlib.metadata import PackageNotFoundError, version

DIST_NAME = "ltcsn-deploy"    # the distribution (pyproject.toml's project name) that installs `ltcsn`
try:
    __version__ = version(DIST_NAME)      # pyproject.toml's version, as installed
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "unknown"
