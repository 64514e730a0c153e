"""The NIR paper's third-party graphs (GitHub neuromorphs/NIR, folder paper/: norse, sinabs, rockpool files), for the
tests that read them: $LTCSN_NIR_GRAPHS, else shared/nir_graphs/ inside or beside the checkout. Without them those
tests skip."""
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_PLACES = [os.environ.get("LTCSN_NIR_GRAPHS"), ROOT / "shared" / "nir_graphs", ROOT.parent / "shared" / "nir_graphs"]
GRAPHS = next((Path(p) for p in _PLACES if p and Path(p).is_dir()), ROOT / "shared" / "nir_graphs")

needs_graphs = pytest.mark.skipif(not GRAPHS.is_dir(),
                                  reason="third-party NIR graphs not available (shared/nir_graphs, $LTCSN_NIR_GRAPHS)")
