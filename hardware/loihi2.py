"""What this project assumes about Loihi 2 and Intel's lava-loihi, each figure with its source.

Sources: [lava] the lava-nc 0.10.0 wheel (paths relative to its `lava/` package); [intel] Intel's published Loihi 2
figures (public product brief: up to 1 M neurons and 120 M synapses per chip, 128 neuro-cores), not measured here;
[issue829] github.com/lava-nc/lava/issues/829 (Lava maintainers on "the Loihi 2 process model for LIF": an
NcProcessModel); [netx] lava-dl 0.6.0 `lava/lib/dl/netx/blocks/process.py` (netx builds its networks from Dense,
Sparse and Conv synapses and LIF neurons). Whatever needs lava-loihi (closed, INRC members only) or silicon to check
is named as such; nothing here was run on a chip.
"""

from ltcsn.sim import spec

CORES_PER_CHIP = 128                 # [lava] magma/compiler/subcompilers/constants.py: NUM_VIRTUAL_CORES_L2 = 128
NEURONS_PER_CORE = 8192              # [intel] 1 M neurons / 128 cores (public figure, an upper bound)
SYNAPSES_PER_CORE = 120_000_000 // CORES_PER_CHIP   # [intel] 120 M synapses per chip / 128 cores (public figure)
MAX_FAN_IN = 4096                    # stated assumption (no public per-neuron fan-in figure; needs lava-loihi)
WEIGHT_BITS = spec.WEIGHT_BITS       # [lava] proc/dense/models.py: weights LavaPyType precision=8
WEIGHT_EXP_RANGE = spec.WEIGHT_EXP_RANGE   # stated assumption (Loihi 1 figure; the Lava CPU models accept any)
STATE_BITS = spec.STATE_BITS         # [lava] proc/lif/models.py: u, v wrap / saturate at 24 bits
GRADED_PAYLOAD_BITS = spec.GRADED_MESSAGE_BITS   # [lava] proc/graded, gradedvecnetwork.py: num_message_bits=24
INT32_MAX = spec.INT32_MAX           # [lava] proc/dense/models.py: a_buff int32

# Process kinds (Lava class names) lava-loihi ships a chip (Nc) model for, with the evidence.
STOCK_CHIP_KINDS = {
    "Dense": "[lava] networks/gradedvecnetwork.py: with loihi2=True only the network's input and output get "
             "embedded_io adapters, Dense sits on chip between them; [netx] Dense synapses",
    "Sparse": "[lava] networks/gradedvecnetwork.py (Sparse between the adapters); [netx] sparse_synapse=True",
    "LIF": "[issue829] Loihi 2 NcProcessModel for LIF; [lava] networks/gradedvecnetwork.py (LIFVec on chip)",
}
# Stock Lava kinds placed on chip whose Nc model no public source shows: needs lava-loihi to confirm.
UNCONFIRMED_CHIP_KINDS = {
    "LIFReset": "a LIF subclass (lava.proc.lif.process) with a periodic state reset; no public source shows its Nc "
                "model: needs lava-loihi to confirm",
    "ATRLIF": "lava.proc.atrlif (lava-nc 0.10.0) ships CPU models only (models.py: PyATRLIFModelFloat, "
              "PyATRLIFModelFixed, 'bit-by-bit mimicking the fixed-point computation behavior of Loihi 2'); no "
              "public source shows its Nc model: needs lava-loihi to confirm",
}
# The chip boundary: C processes on the chip's embedded CPUs, shipped by lava-loihi as lava.proc.embedded_io (the
# open lava-nc 0.10.0 wheel imports them only under loihi2=True, networks/gradedvecnetwork.py, and does not ship
# them: `import lava.proc.embedded_io` fails without lava-loihi).
ADAPTER_MODULE = "lava.proc.embedded_io.spike"
HOST_TO_CHIP = "PyToNxAdapter"       # ports inp (host side), out (chip side); num_message_bits
CHIP_TO_HOST = "NxToPyAdapter"       # ports inp (chip side), out (host side); num_message_bits
