"""Third-party NIR graphs run as the tool that wrote them meant (issue 15; docs/nir_schema.md, "Third-party graphs").

Reading rules: dt (--dt, a stored dt, the producer's convention, or a refusal naming the flag), the producer
table, batch dimensions, loops and unused nodes, on every CLI that reads a NIR file.
"""
import logging
import warnings
from pathlib import Path

import nir
import numpy as np
import pytest
import torch

from ltcsn.export import nir_io
from ltcsn.export.load import reading_lines
from ltcsn.export.nir_producers import PRODUCERS, producer_table
from ltcsn.export.nir_read import qnet_from_graph, read_nir
from ltcsn.hardware import resources
from ltcsn.sim import verify
from ltcsn.train.errors import InputError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _quiet():
    logging.getLogger().setLevel(logging.ERROR)   # norse's from_nir warns via logging
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _lif_graph(metadata=None, **lif):
    kw = dict(tau=np.full(2, 1e-2), r=np.ones(2), v_leak=np.zeros(2), v_threshold=np.ones(2), v_reset=np.zeros(2))
    kw.update(lif)
    return nir.NIRGraph(nodes={"in": nir.Input(input_type={"input": np.array([2])}),
                               "w": nir.Linear(weight=np.eye(2)),
                               "lif": nir.LIF(**kw),
                               "out": nir.Output(output_type={"output": np.array([2])})},
                        edges=[("in", "w"), ("w", "lif"), ("lif", "out")], metadata=metadata or {})


def _norse_graph(dt, n_in=2, n=3):
    import norse.torch as norse
    net = norse.SequentialState(
        torch.nn.Linear(n_in, n, bias=False),
        norse.LIFBoxCell(norse.LIFBoxParameters(tau_mem_inv=torch.full((n,), 100.0), v_th=torch.full((n,), 0.3),
                                                v_leak=torch.zeros(n)), dt=dt),
        torch.nn.Linear(n, 2), norse.LIBoxCell(dt=dt))
    return norse.to_nir(net, torch.zeros(1, n_in), dt=dt)


def _snntorch_synaptic_graph(alpha=0.5, beta=0.9, n=3):
    import snntorch as snn
    from snntorch.export_nir import export_to_nir
    net = torch.nn.Sequential(torch.nn.Linear(2, n, bias=False),
                              snn.Synaptic(alpha=torch.full((n,), alpha), beta=torch.full((n,), beta),
                                           threshold=torch.ones(n), init_hidden=True, output=True))
    return export_to_nir(net, torch.zeros(1, 2), ignore_dims=[0])


# ---------------------------------------------------------------------------------------------- the rules
def test_producer_table_is_documented():
    """docs/nir_schema.md holds the table of export/nir_producers.py as it is, each row with its evidence."""
    assert producer_table() in (REPO / "docs" / "nir_schema.md").read_text()
    assert set(PRODUCERS) == {"norse", "snntorch", "sinabs", "rockpool", "lava-dl", "unknown"}
    assert all(p.evidence for p in PRODUCERS.values())
    assert "norse issue #411" in PRODUCERS["norse"].evidence


def test_dt_rules():
    # no stored dt, no producer rule, the reading depends on dt: refused, naming the flag
    with pytest.raises(InputError, match=r"stores no dt .* pass --dt SECONDS"):
        qnet_from_graph(_lif_graph())
    # --dt decides
    q, info = qnet_from_graph(_lif_graph(), dt=1e-3)
    assert info["reading"][1] == "read at dt = 0.001 s: --dt" and q.layers[0].dv == round(4096 * 0.1)
    # a stored dt is used, and wins over a producer's convention with a note; --dt overrides it, saying so
    q, info = qnet_from_graph(_lif_graph({"dt": 5e-4}), producer="snntorch")
    assert q.layers[0].dv == round(4096 * 0.05)
    assert info["reading"][1] == ("read at dt = 0.0005 s: stored in the graph; it wins over the snnTorch 1.0.0 "
                                  "convention dt = 0.0001 s")
    _, info = qnet_from_graph(_lif_graph({"dt": 5e-4}), dt=1e-3)
    assert "overrides the graph's stored dt = 0.0005 s" in info["reading"][1]
    # a producer's convention (chosen with --producer here) decides when nothing is stored
    _, info = qnet_from_graph(_lif_graph(), producer="lava-dl")
    assert info["reading"][1] == "read at dt = 0.0001 s: Lava-DL convention"
    with pytest.raises(InputError, match="stores no dt"):
        qnet_from_graph(_lif_graph(), producer="rockpool")
    # IF graphs do not depend on dt
    g = _lif_graph()
    g.nodes["lif"] = nir.IF(r=np.ones(2), v_threshold=np.ones(2))
    _, info = qnet_from_graph(g)
    assert info["dt"] is None and info["reading"][1].startswith("dt: not used")


def test_producers_are_recognised_and_norse411_is_gated_to_norse():
    """norse 1.1.0's export (tau*dt, Input [1, N], scalar LI) is recognised, read at its dt = 1e-3 with tau
    recovered; snnTorch's Synaptic with alpha = 0.5 (tau_syn = 2e-4 < dt/2 at 1e-3) is NOT taken for norse#411:
    it is read at snnTorch's dt = 1e-4 with its own decays."""
    q, info = qnet_from_graph(_norse_graph(1e-3))
    assert info["producer"] == "norse" and info["norse411"] and info["dt"] == 1e-3
    assert q.input_shape == (2,) and q.layers[0].dv == round(4096 * 0.1)
    assert any("Input 'input' [1, 2] read as [2]" in n for n in info["notes"])
    q, info = qnet_from_graph(_snntorch_synaptic_graph())
    assert info["producer"] == "snntorch" and not info["norse411"] and info["dt"] == 1e-4
    assert (q.layers[0].du, q.layers[0].dv) == (2047, round(4096 * 0.1))
    assert info["reading"][2].startswith("warning: snnTorch resets by subtracting the threshold")
    # r = 1 and tau = 1e-5 s is norse's fingerprint; with r = 2 the graph is no norse export, and a tau below dt
    # is an error naming the flags, unless --producer norse says it is one
    assert qnet_from_graph(_lif_graph(tau=np.full(2, 1e-5)), dt=1e-3)[1]["producer"] == "norse"
    with pytest.raises(InputError, match="unstable at this dt.*--producer norse"):
        qnet_from_graph(_lif_graph(tau=np.full(2, 1e-5), r=np.full(2, 2.0)), dt=1e-3)
    q, info = qnet_from_graph(_lif_graph(tau=np.full(2, 1e-5), r=np.full(2, 2.0)), dt=1e-3, producer="norse")
    assert info["norse411"] and q.layers[0].dv == round(4096 * 0.1)


def test_loops_and_unused_nodes_are_named():
    g = _lif_graph()
    g.nodes.update({"lif2": nir.LIF(tau=np.full(2, 1e-2), r=np.ones(2), v_leak=np.zeros(2),
                                    v_threshold=np.ones(2), v_reset=np.zeros(2)),
                    "w2": nir.Linear(weight=np.eye(2)), "back": nir.Linear(weight=np.eye(2))})
    g.edges = [("in", "w"), ("w", "lif"), ("lif", "w2"), ("w2", "lif2"), ("lif2", "back"), ("back", "lif"),
               ("lif2", "out")]
    with pytest.raises(InputError, match="'lif2' feeds back into 'lif': a loop between two layers"):
        qnet_from_graph(g, dt=1e-3, where="g")
    g = _lif_graph()
    g.nodes.update({"c1": nir.Linear(weight=np.eye(2)), "c2": nir.Linear(weight=np.eye(2))})
    g.edges += [("c1", "c2"), ("c2", "c1")]
    _, info = qnet_from_graph(g, dt=1e-3)
    assert any(n.startswith("dropped a cycle of linear nodes not on any path") and "c1 (Linear), c2 (Linear)" in n
               for n in info["notes"])


def test_every_nir_cli_takes_dt_and_prints_the_rule(tmp_path, capsys):
    path = tmp_path / "lif.nir"
    nir.write(path, _lif_graph())
    for main, extra in ((nir_io.main, ["--quiet"]), (resources.main, []), (verify.main, ["--no-lava", "--samples", "2"])):
        assert main([str(path), *extra]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and "pass --dt SECONDS" in err and err.count("\n") == 1
        assert main([str(path), *extra, "--dt", "1e-3"]) in (0, 1)
        assert "read at dt = 0.001 s: --dt" in capsys.readouterr().out
    _, info = read_nir(path, dt=1e-3)
    assert reading_lines(info)[:2] == ["producer: unknown producer (not recognised)", "read at dt = 0.001 s: --dt"]
