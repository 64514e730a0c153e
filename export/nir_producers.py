"""How other tools' NIR graphs are meant to be read: one table of producer conventions (with the producer's own
code or issue as evidence), how a producer is recognised from a graph, and how dt is decided.

NIR's neurons are continuous-time; a graph without a stored dt is read at the step its producer assumed. The
rules (docs/nir_schema.md, "Third-party graphs"): --dt wins; else a dt stored in the graph; else the producer's
convention below; a graph whose reading does not depend on dt (IF and linear nodes only) needs none; anything
else is refused with the flag to pass.
"""
from dataclasses import dataclass

import numpy as np

from ltcsn.export.nir_common import NirError, as_array, tname

DT_NODES = ("LIF", "LI", "CubaLIF")     # neuron nodes whose forward-Euler reading depends on dt
TIMED_FIELDS = {"LIF": ("tau",), "LI": ("tau",), "CubaLIF": ("tau_syn", "tau_mem")}
SNNTORCH_DT = 1e-4                      # snntorch/export_nir.py `_extract_snntorch_module`: `dt = 1e-4`
NORSE_TAU_DT_MAX = 5e-5                 # a written tau below this is norse 1.1.0's tau*dt (see the norse row)
MATCH_RTOL = 1e-4                       # float32 files: r = tau/dt holds to about 1e-7
V_LEAK_START = ("its neurons start at v = v_leak; a NIR graph has no initial state and runs from v = 0, so the "
                "first steps differ")


@dataclass(frozen=True)
class Producer:
    """One tool's NIR conventions. dt: the step its exporter assumes when the graph stores none (None: no rule);
    tau_times_dt: it writes tau*dt instead of tau; cuba_input: "nir" (I += dt/tau_syn (w_in x - I), NIR's
    definition) or "direct" (I = (1 - dt/tau_syn) I + w_in x, the input jumps into the current);
    warning: a behaviour of the tool that NIR cannot express (printed on every run, never guessed);
    starts_at_v_leak: its neurons start at v = v_leak, not 0 (warned when a graph has v_leak != 0)."""
    name: str
    label: str
    dt: float = None
    tau_times_dt: bool = False
    cuba_input: str = "nir"
    warning: str = None
    starts_at_v_leak: bool = False
    recognised_by: str = ""
    evidence: str = ""


PRODUCERS = {p.name: p for p in (
    Producer(
        "norse", "norse 1.1.0", dt=1e-3, tau_times_dt=True, cuba_input="direct", starts_at_v_leak=True,
        recognised_by="r = 1 and w_in = 1 on every neuron and a time constant below 5e-5 s (tau*dt, norse#411)",
        evidence="norse/torch/utils/export_nir.py `to_nir(..., dt=0.001)` and the cells' `dt=0.001`; "
                 "`_extract_norse_module` writes `tau=dt / module.p.tau_mem_inv` = tau*dt (norse issue #411) and "
                 "no w_in for LIFCell; norse/torch/functional/lif.py `lif_feed_forward_step`: "
                 "`i_new = state.i + input_spikes` (the input jumps into the current), reset to v_reset; "
                 "norse/torch/module/lif_box.py and lif.py `initial_state`: `v=clone_tensor(self.p.v_leak)`"),
    Producer(
        "snntorch", "snnTorch 1.0.0", dt=SNNTORCH_DT,
        warning="snnTorch resets by subtracting the threshold by default (reset_mechanism='subtract'); NIR's "
                "LIF/CubaLIF reset to v_reset, which is what runs here. Only reset_mechanism='zero' runs as NIR "
                "does (Synaptic and RLeaky also with reset_delay=False: their delayed zero reset drops the input "
                "of the step after a spike)",
        recognised_by="r = tau/1e-4 on every LIF/CubaLIF (and w_in = tau_syn/1e-4): its exporter's fixed dt",
        evidence="snntorch/export_nir.py `_extract_snntorch_module`: `dt = 1e-4`, `tau_mem = dt / (1 - beta)`, "
                 "`r = tau_mem / dt`, `w_in = tau_syn / dt` (so dt/tau = 1 - beta, r dt/tau = 1); "
                 "snntorch/_neurons/leaky.py `reset_mechanism=\"subtract\"` default, `_base_sub`; "
                 "snntorch/_neurons/synaptic.py and rleaky.py `_base_zero` (the whole state, input included, "
                 "subtracted the step after a spike)"),
    Producer(
        "sinabs", "sinabs",
        recognised_by="IF neurons only (as sinabs writes them; norse's IAFCell too): IF reads the same for every "
                      "producer and needs no dt",
        evidence="sinabs/nir.py `iaf_from_nir` / to_nir: IAF <-> nir.IF (v += r I per step); the NIR paper's "
                 "cnn_sinabs.nir holds only IF neurons"),
    Producer(
        "rockpool", "Rockpool",
        recognised_by="never (no fingerprint); choose it with --producer, then pass --dt",
        evidence="rockpool/nn/modules/torch/nir.py `_extract_rockpool_module`: ExpSynTorch -> LI with "
                 "r = tau exp(-dt/tau)/dt (exponential Euler) and LIFTorch -> CubaLIF, the module's dt not "
                 "written to the graph: no rule decides dt"),
    Producer(
        "lava-dl", "Lava-DL", dt=1e-4,
        recognised_by="never (no fingerprint); choose it with --producer",
        evidence="Lava-DL has no NIR exporter; the NIR paper's importer (neuromorphs/NIR paper/nir_to_lava.py, "
                 "`ImportConfig.dt = 1e-4`) reads graphs for Lava at dt = 1e-4"),
    Producer(
        "unknown", "unknown producer",
        recognised_by="anything else",
        evidence="no convention: a dt stored in the graph, or --dt"),
)}


def _neurons(graph):
    return [n for n in graph.nodes.values() if tname(n) in ("LIF", "LI", "CubaLIF", "IF")]


def _field(node, f):
    v = getattr(node, f, None)
    return None if v is None else as_array(v).reshape(-1)


def _is_snntorch(neurons) -> bool:
    timed = [n for n in neurons if tname(n) in ("LIF", "CubaLIF")]
    if not timed or len(timed) != len(neurons):
        return False
    for n in timed:
        tau = _field(n, "tau" if tname(n) == "LIF" else "tau_mem")
        if not np.allclose(_field(n, "r") * SNNTORCH_DT, tau, rtol=MATCH_RTOL, atol=0):
            return False
        if tname(n) == "CubaLIF" and not np.allclose(_field(n, "w_in") * SNNTORCH_DT, _field(n, "tau_syn"),
                                                     rtol=MATCH_RTOL, atol=0):
            return False
    return True


def _is_norse(neurons) -> bool:
    if not all(np.all(_field(n, "r") == 1) for n in neurons):
        return False
    if not all(np.all(_field(n, "w_in") == 1) for n in neurons if tname(n) == "CubaLIF"):
        return False
    taus = [_field(n, f) for n in neurons for f in TIMED_FIELDS.get(tname(n), ())]
    return bool(taus) and float(np.min(np.concatenate(taus))) < NORSE_TAU_DT_MAX


def recognise(graph) -> Producer:
    """The producer whose fingerprint (`recognised_by`) the graph's neuron nodes carry, else "unknown"."""
    neurons = _neurons(graph)
    if neurons and all(tname(n) == "IF" for n in neurons):
        return PRODUCERS["sinabs"]
    if _is_snntorch(neurons):
        return PRODUCERS["snntorch"]
    if _is_norse(neurons):
        return PRODUCERS["norse"]
    return PRODUCERS["unknown"]


def producer_of(graph, name: str = None) -> tuple:
    """(Producer, how it was chosen): `name` (--producer) if given, else `recognise`."""
    if name is not None and name != "auto":
        if name not in PRODUCERS:
            raise NirError(f"unknown producer {name!r} (known: {', '.join(PRODUCERS)})")
        return PRODUCERS[name], "--producer"
    p = recognise(graph)
    return p, ("not recognised" if p.name == "unknown" else f"recognised: {p.recognised_by}")


def depends_on_dt(graph) -> bool:
    return any(tname(n) in DT_NODES for n in graph.nodes.values())


def decide_dt(graph, stored, dt, producer: Producer, where: str) -> tuple:
    """(dt in s, or None when the reading does not depend on it; the rule that decided, one line)."""
    if dt is not None:
        if not dt > 0:
            raise NirError(f"{where}: dt must be > 0, got {dt}")
        note = f" (overrides the graph's stored dt = {stored:g} s)" if stored is not None and stored != dt else ""
        return float(dt), f"--dt{note}"
    if stored is not None:
        if not stored > 0:
            raise NirError(f"{where}: the graph's stored dt is {stored}, not > 0; pass --dt SECONDS")
        over = (f"; it wins over the {producer.label} convention dt = {producer.dt:g} s"
                if producer.dt is not None and producer.dt != stored else "")
        return float(stored), f"stored in the graph{over}"
    if not depends_on_dt(graph):
        return None, "not used: no LIF / LI / CubaLIF node (IF integrates per step)"
    if producer.dt is not None:
        return producer.dt, f"{producer.label} convention"
    raise NirError(f"{where}: the graph stores no dt and no producer convention decides one ({producer.label}); "
                   f"its LIF / LI / CubaLIF nodes read differently at every dt: pass --dt SECONDS (the NIR paper's "
                   f"files: --dt 1e-4), or --producer NAME ({', '.join(p for p in PRODUCERS if p != 'unknown')})")


CUBA_INPUT_TEXT = {"direct": "I = (1-dt/tau_syn) I + w_in x", "nir": "NIR: I += dt/tau_syn (w_in x - I)"}


def producer_table() -> str:
    """The table as Markdown (docs/nir_schema.md holds a copy; tests/test_conformance.py checks it is current)."""
    rows = ["| producer | dt without a stored one | tau | CubaLIF input | warning | recognised by | evidence |",
            "|---|---|---|---|---|---|---|"]
    for p in PRODUCERS.values():
        rows.append(f"| `{p.name}` ({p.label}) | {'refused: pass --dt' if p.dt is None else f'{p.dt:g} s'} | "
                    f"{'tau*dt written (divided by dt)' if p.tau_times_dt else 'tau'} | "
                    f"{CUBA_INPUT_TEXT[p.cuba_input]} | "
                    f"{p.warning or ('with v_leak != 0: ' + V_LEAK_START if p.starts_at_v_leak else '-')} | "
                    f"{p.recognised_by} | {p.evidence} |")
    return "\n".join(rows)
