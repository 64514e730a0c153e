"""The console scripts of pyproject.toml: each runs its command module's main through `ltcsn.args.launch`, which
imports the module itself, so that a Ctrl-C while torch loads ends with one line. The `python <folder>/<file>.py`
forms call these too."""
from functools import partial

from ltcsn.args import launch

train = partial(launch, "ltcsn.train.run")                 # ltcsn-train, python train/run.py
export = partial(launch, "ltcsn.export.to_nir")            # ltcsn-export, python export/to_nir.py
nir_info = partial(launch, "ltcsn.export.nir_io")          # ltcsn-nir-info, python export/nir_io.py
sim = partial(launch, "ltcsn.sim.run")                     # ltcsn-sim, python sim/run.py
verify = partial(launch, "ltcsn.sim.verify")               # ltcsn-verify, python sim/verify.py
resources = partial(launch, "ltcsn.hardware.resources")    # ltcsn-resources, python hardware/resources.py
lava = partial(launch, "ltcsn.hardware.run_lava")          # ltcsn-lava, python hardware/run_lava.py
netx = partial(launch, "ltcsn.hardware.to_netx")           # ltcsn-netx, python hardware/to_netx.py
