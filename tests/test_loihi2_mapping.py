"""The mapped process graph (hardware/graph.py): the resource report and the Lava processes built from the same
graph agree (kinds, counts, synapses, connections) and run bit-exact; Loihi 2 placement, host <-> chip traffic,
and what `--backend loihi2` names as missing."""
from pathlib import Path

import numpy as np
import pytest

from ltcsn.hardware import loihi2
from ltcsn.hardware.graph import loihi2_missing, mapped_graph, with_adapters
from ltcsn.hardware.lava_net import build_and_run, build_processes, input_stream, loihi_available
from ltcsn.hardware.resources import resource_report
from ltcsn.sim.simulate import simulate_stream
from nir_graphs import GRAPHS, needs_graphs
from test_hardware import _qnet

ROOT = Path(__file__).resolve().parents[1]


def _held(lava_proc) -> tuple:
    """(held entries, non-zero entries) of a Lava Dense (ndarray) or Sparse (csr) weights Var."""
    w = lava_proc.weights.init
    if hasattr(w, "nnz"):
        return w.nnz, int(np.count_nonzero(w.toarray()))
    return w.size, int(np.count_nonzero(w))


@pytest.mark.parametrize("neuron,recurrent,mixing,readout,hidden", [
    ("ltc", True, "loihi2", "ltc", (12,)),          # every layer a neuron program: all on chip
    ("lif", True, "dense", "ltc", (12,)),           # SpikeGate on the host, dense-mixing readout on the host
    ("alif", False, "loihi2", "membrane", (10, 6)),  # 24-bit membrane payloads into the readout
])
def test_report_and_lava_graph_agree_and_run_bit_exact(neuron, recurrent, mixing, readout, hidden):
    qnet, _, task = _qnet(neuron, recurrent, mixing, readout, hidden)
    x_int = qnet.encode_input(task.x_test[:3].numpy())
    report = resource_report(qnet)
    data, P = input_stream(qnet, x_int)
    made = build_processes(mapped_graph(qnet), data, data.shape[1], P)
    listed = [p for p in report["processes"] if p["role"] != "adapter"]
    assert sorted(made) == sorted(p["name"] for p in listed)
    for p in listed:
        lava = made[p["name"]]
        assert type(lava).__name__ == p["kind"]
        if "synapses" in p:
            assert _held(lava) == (p["synapses"], p["nonzero_synapses"])
            assert lava.proc_params["weight_exp"] == p["weight_exp"]
            neuron_proc = made[f"{p['layer']}.neuron"]
            assert [c.process for c in lava.a_out.out_connections] == [neuron_proc]
    for row in report["layers"]:
        syn = [made[n] for n in row["processes"] if type(made[n]).__name__ in ("Dense", "Sparse")]
        assert row["synapses"] == sum(_held(s)[0] for s in syn)
        assert row["nonzero_synapses"] == sum(_held(s)[1] for s in syn)
        assert made[f"{row['layer']}.neuron"].s_out.shape == (row["neurons"],)
    assert report["synapses"] == sum(_held(m)[0] for m in made.values() if hasattr(m, "weights"))
    run = build_and_run(qnet, x_int)        # the same graph, run: bit-exact with sim/
    assert run.processes == len(made)
    assert np.array_equal(run.outs, simulate_stream(qnet, x_int))


def test_all_on_chip_network_traffic_and_verdict():
    qnet, _, _ = _qnet("ltc", True, "loihi2", "ltc", (12,))
    rep = resource_report(qnet)
    assert rep["layers_on_chip"] == rep["layers_total"] == 2
    assert rep["verdict"].startswith("fits on one Loihi 2 chip")
    assert [h["process"] for h in rep["host"]] == ["input", "output"]
    n_in = int(np.prod(qnet.input_shape))
    assert rep["traffic_per_step"] == {"host -> chip": {"messages": n_in, "bits": n_in * 8},  # graded 8-bit input
                                       "chip -> host": {"messages": 10, "bits": 10 * 24}}  # readout u, 24-bit
    for row in rep["layers"]:
        assert row["program_length"] > 0 and row["state_words"] == (3 if row["layer"] == "layer0" else 1)
        assert row["cores"] == 1 and row["neurons_per_core"] == row["neurons"]
    # the same network with dense mixing: its hidden layer needs the host, and the report says so
    dense, _, _ = _qnet("ltc", True, "dense", "ltc", (12,))
    rep = resource_report(dense)
    assert rep["layers_on_chip"] == 0 and rep["cores"] == 0
    assert rep["verdict"] == ("0 of 2 layers on chip; host part: layer0 (dense mixing reads other neurons' state); "
                              "readout (dense mixing reads other neurons' state)")


@pytest.mark.parametrize("mixing", ["dense", "loihi2"])
def test_chip_side_processes_of_the_demo_network_have_nc_models_or_are_named(mixing):
    """The demo network (recurrent LTC + gated readout, rdigits): every chip-side process is a kind lava-loihi
    ships an Nc model for (hardware/loihi2.py gives the sources), or is named in what a Loihi 2 run lacks; every
    host-side process carries its reason. Without lava-loihi the adapters cannot even be created."""
    qnet, _, task = _qnet("ltc", True, mixing, "ltc", (12,))
    graph = with_adapters(mapped_graph(qnet))
    missing = loihi2_missing(graph, lava_loihi_installed=True)
    for p in graph.procs:
        if p.placement == "chip" and p.kind not in loihi2.STOCK_CHIP_KINDS:
            assert any(m.startswith(f"an Nc model for {p.kind} (") and p.layer in m for m in missing), p.name
        assert p.reason
    chip = {p.kind for p in graph.procs if p.placement == "chip"}
    assert ("LtcNeuronProcess" in chip and chip <= {"Dense", "Sparse", "LtcNeuronProcess"} if mixing == "loihi2"
            else chip == set())
    kinds = [p.kind for p in graph.procs if p.role == "adapter"]
    assert kinds == [loihi2.HOST_TO_CHIP, loihi2.CHIP_TO_HOST] if mixing == "loihi2" else kinds == []
    if mixing == "loihi2" and not loihi_available():
        assert loihi2_missing(graph, False)[0].startswith("Intel's lava-loihi (not installed")
        data, P = input_stream(qnet, qnet.encode_input(task.x_test[:1].numpy()))
        with pytest.raises(ImportError, match="embedded_io"):
            build_processes(graph, data, P, P)


def test_loihi2_page_figures_come_from_the_report():
    """docs/loihi2.md states the demo configuration's figures (recurrent LTC 128 + gated readout on rdigits,
    loihi2 profile) as the report computes them; they depend on the shapes only (two seeds give the same figures),
    so they hold for the trained demo network."""
    section = (ROOT / "docs" / "loihi2.md").read_text()
    reports = [resource_report(_qnet("ltc", True, "loihi2", "ltc", (128,), seed=s)[0]) for s in (0, 1)]
    figures = [(r["traffic_per_step"], r["verdict"], r["host"],
                [(x["layer"], x["kind"], x["placement"], x["neurons"], x["state_words"], x["program_length"],
                  x["cores"]) for x in r["layers"]]) for r in reports]
    assert figures[0] == figures[1]
    traffic, verdict, host, rows = figures[0]
    for direction, v in traffic.items():
        assert f"{direction}: {v['messages']} messages, {v['bits']} bits per step" in section
    for row in rows:
        line = "| " + " | ".join(str(v) for v in row) + " |"
        assert line in section, line
    assert verdict.split(" (")[0] in section
    for h in host:
        assert f"`{h['process']}`" in section
    dense = resource_report(_qnet("ltc", True, "dense", "ltc", (128,))[0])["verdict"]
    assert f'"{dense}"' in " ".join(section.split())
    assert "Loihi2HwCfg" in section and "lava-loihi" in section


def test_command_line_on_a_loihi2_profile_nir_file(tmp_path, capsys):
    """A loihi2-profile network written to NIR and read back: the report places every layer on chip, and
    `run_lava.py --backend loihi2` builds the graph, prints every process with its placement and stops with one
    line naming what is missing (exit 2, no traceback)."""
    from ltcsn.export.nir_write import qnet_to_nir, write_nir
    from ltcsn.hardware import resources, run_lava
    qnet, _, _ = _qnet("ltc", True, "loihi2", "ltc", (12,))
    path = write_nir(tmp_path / "m.nir", qnet_to_nir(qnet))
    assert resources.main([str(path), "--json", str(tmp_path / "r.json")]) == 0
    assert "fits on one Loihi 2 chip" in capsys.readouterr().out
    assert run_lava.main([str(path), "--backend", "loihi2", "--samples", "2"]) == 2
    out, err = capsys.readouterr()
    assert "chip     LtcNeuronProcess layer0.neuron" in out and "boundary PyToNxAdapter" in out
    assert err.count("\n") == 1 and err.startswith("error: --backend loihi2 cannot run here; missing: ")
    assert "an Nc model for LtcNeuronProcess (layer0, readout)" in err
    if not loihi_available():
        assert "Intel's lava-loihi (not installed" in err


@needs_graphs
def test_loihi2_backend_on_a_third_party_graph_without_task(capsys):
    """A NIR file written by another tool (no task recorded): --backend loihi2 still builds and prints its graph
    and names what is missing; LIF layers are LIFReset, whose Nc model no public source shows."""
    from ltcsn.hardware import run_lava
    assert run_lava.main([str(GRAPHS / "two_lif_neurons.nir"), "--dt", "1e-4", "--backend", "loihi2"]) == 2
    out, err = capsys.readouterr()
    assert "chip     LIFReset         layer0.neuron" in out and "chip     Dense            layer0.dense" in out
    assert err.count("\n") == 1 and "an Nc model for LIFReset (layer0, layer1)" in err
