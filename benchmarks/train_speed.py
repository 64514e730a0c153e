"""Training speed per time step, side by side in one process: this project's `lif` BPTT vs norse's
LIFRecurrentCell BPTT, and LTC FPTT (K = 1, K = 10) vs LTC BPTT; also the LTC with diagonal gate mixing (the float
form of the loihi2 profile, train/run.py --target loihi2).

    nice python benchmarks/train_speed.py                  # batch 128, T = 100, 28 inputs, 256 hidden, 1 thread
    python benchmarks/train_speed.py --json speed.json --rounds 5

Every case trains whole batches of a 10-class task (random inputs, random labels) with Adam and gradient
clipping, exactly as `train.trainer.train_batch` does (FPTT: one optimizer step and one regulariser update per
window of K steps, the output-divergence term warm). The norse case is the norse idiom for the same network:
LIFRecurrentCell (28 -> 256, recurrent) and an LICell readout of a Linear(256 -> 10) layer, BPTT over T steps,
cross-entropy on the last step. The cases run round-robin (one batch of each per round, after one warm-up batch
each), so a change of machine load hits all of them alike; the figure is the median batch time / T.
Targets (issue 21): `lif` BPTT <= 1.2x norse LIF; LTC BPTT <= 2.0x norse LIF; LTC FPTT K = 1 <= 1.2x LTC BPTT.
`--json FILE --doc docs/performance.md` keeps the result and rewrites the document's table from it (a test checks
that the table is the file's).
"""
import json
import os
from pathlib import Path
import statistics
import time

import torch

from ltcsn.args import ArgumentParser
from ltcsn.train.fptt import FpttRegularizer
from ltcsn.train.model import LayerConfig, NetConfig, SpikingNet
from ltcsn.train.tasks.base import Task
from ltcsn.train.trainer import OutputDivergence, TrainConfig, make_optimizer, train_batch

TARGETS = {("lif bptt", "norse lif bptt"): 1.2, ("ltc bptt", "norse lif bptt"): 2.0, ("ltc fptt K=1", "ltc bptt"): 1.2}
TABLE_BEGIN = "<!-- training speed: written by benchmarks/train_speed.py --doc from docs/results/train_speed.json -->"
TABLE_END = "<!-- end of training speed -->"
CASES = {"norse lif bptt": "norse LIFRecurrentCell + LICell, BPTT", "lif bptt": "this project's `lif`, BPTT",
         "ltc bptt": "LTC, BPTT", "ltc fptt K=10": "LTC, FPTT K = 10", "ltc fptt K=1": "LTC, FPTT K = 1",
         "ltc-diag bptt": "LTC diagonal gate mixing (`--target loihi2`), BPTT",
         "ltc-diag fptt K=1": "LTC diagonal gate mixing, FPTT K = 1"}


def macs(modules) -> int:
    """Multiply-adds per sample and time step: every weight matrix is used once per step, and so is a diagonal
    gate's per-neuron self weight (`DiagGate`, diag mixing)."""
    return sum(p.numel() for module in modules for name, p in module.named_parameters()
               if p.dim() >= 2 or name.endswith("self_weight"))


def project_case(neuron: str, algo: str, K: int, args, task: Task, mixing: str = "dense"):
    torch.manual_seed(0)
    model = SpikingNet(NetConfig((args.inputs,), 10, [LayerConfig(args.hidden)], neuron=neuron, mixing=mixing))
    cfg = TrainConfig(algo=algo, K=K)
    opt = make_optimizer(model, cfg)
    reg = FpttRegularizer(model.parameters(), cfg.alpha, cfg.beta) if algo == "fptt" else None
    div = OutputDivergence(args.seq_len, 10) if algo == "fptt" else None
    if div is not None:
        div.warm = True

    def step(x, y):
        train_batch(model, x, y, task, opt, cfg, reg, div)
    step.macs = macs([model])
    if reg is not None:
        params = [p for p in model.parameters() if p.requires_grad]

        def update():
            """The per-window parameter work of FPTT (what K = 1 repeats T times per batch)."""
            reg.add_grad()
            torch.nn.utils.clip_grad_norm_(params, cfg.clip)
            opt.step()
            reg.update()
        step.update = update
    return step


def norse_case(args):
    import norse.torch as norse
    torch.manual_seed(0)
    cell, fc = norse.LIFRecurrentCell(args.inputs, args.hidden), torch.nn.Linear(args.hidden, 10)
    readout = norse.LICell()
    params = [*cell.parameters(), *fc.parameters()]
    opt = torch.optim.Adam(params, lr=3e-3)

    def step(x, y):
        s, r = None, None
        for t in range(x.shape[1]):
            z, s = cell(x[:, t], s)
            out, r = readout(fc(z), r)
        loss = torch.nn.functional.cross_entropy(out, y)
        opt.zero_grad(set_to_none=False)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        loss.item()
    step.macs = macs([cell, fc])
    return step


def measure(args) -> dict:
    torch.set_num_threads(args.threads)
    task = Task("speed", "classification", (args.inputs,), 10, args.seq_len, {})
    cases = {"norse lif bptt": norse_case(args),
             "lif bptt": project_case("lif", "bptt", args.seq_len, args, task),
             "ltc bptt": project_case("ltc", "bptt", args.seq_len, args, task),
             "ltc fptt K=10": project_case("ltc", "fptt", 10, args, task),
             "ltc fptt K=1": project_case("ltc", "fptt", 1, args, task),
             # the float form of the loihi2 profile (train/run.py --target loihi2): gates read only their own state
             "ltc-diag bptt": project_case("ltc", "bptt", args.seq_len, args, task, "diag"),
             "ltc-diag fptt K=1": project_case("ltc", "fptt", 1, args, task, "diag")}
    gen = torch.Generator().manual_seed(0)
    x = (torch.rand(args.batch_size, args.seq_len, args.inputs, generator=gen) < 0.3).float()
    y = torch.randint(0, 10, (args.batch_size,), generator=gen)
    times = {name: [] for name in cases}
    for name, step in cases.items():      # warm-up
        step(x, y)
    for _ in range(args.rounds):
        for name, step in cases.items():
            t0 = time.perf_counter()
            step(x, y)
            times[name].append(time.perf_counter() - t0)
    ms = {name: 1e3 * statistics.median(t) / args.seq_len for name, t in times.items()}
    update, n = cases["ltc fptt K=1"].update, 20
    update()
    t0 = time.perf_counter()
    for _ in range(n):
        update()
    window_ms = 1e3 * (time.perf_counter() - t0) / n
    return {"ms_per_step": ms, "ratios": {f"{a} / {b}": ms[a] / ms[b] for a, b in BASES.items()},
            "targets": {f"{a} / {b}": {"max": lim, "met": ms[a] / ms[b] <= lim} for (a, b), lim in TARGETS.items()},
            "macs_per_sample_step": {name: step.macs for name, step in cases.items()},
            "fptt_window_update_ms": window_ms,
            "load_average": os.getloadavg(), "torch": torch.__version__,
            "setup": {k: getattr(args, k) for k in ("batch_size", "seq_len", "inputs", "hidden", "threads", "rounds")}}


# each case's ratio is measured against this one
BASES = {"lif bptt": "norse lif bptt", "ltc bptt": "norse lif bptt", "ltc fptt K=10": "ltc bptt",
         "ltc fptt K=1": "ltc bptt", "ltc-diag bptt": "norse lif bptt", "ltc-diag fptt K=1": "ltc-diag bptt"}
SHORT = {"norse lif bptt": "norse LIF", "ltc bptt": "LTC BPTT", "ltc-diag bptt": "its BPTT"}


def table(r: dict) -> str:
    """The document's table of a result: ms per step, the ratio each case is measured against, multiply-adds."""
    ms, s = r["ms_per_step"], r["setup"]
    lines = [f"Batch {s['batch_size']}, T = {s['seq_len']}, {s['inputs']} inputs, {s['hidden']} hidden, "
             f"{s['threads']} torch thread(s), median of {s['rounds']} batches; load average "
             f"{r['load_average'][0]:.1f}; torch {r['torch']}; FPTT per-window parameter work "
             f"{r['fptt_window_update_ms']:.2f} ms.", "",
             "| case | ms / step | ratio | target | weight multiply-adds / sample / step |", "|---|---:|---|---|---:|"]
    for name, label in CASES.items():
        ratio, target = "", ""
        if name in BASES:
            key = f"{name} / {BASES[name]}"
            ratio = f"{ms[name] / ms[BASES[name]]:.2f}x {SHORT[BASES[name]]}"
            t = r["targets"].get(key)
            target = f"<= {t['max']}x: {'met' if t['met'] else 'NOT met'}" if t else ""
        lines.append(f"| {label} | {ms[name]:.3f} | {ratio} | {target} | {r['macs_per_sample_step'][name]:,d} |")
        if name == "ltc fptt K=1":
            bound, lim = k1_without_update(r), TARGETS[("ltc fptt K=1", "ltc bptt")]
            ratio = bound / ms["ltc bptt"]
            lines.append(f"| ... less its per-window parameter work (the most fusing it could save) | {bound:.3f} | "
                         f"{ratio:.2f}x LTC BPTT | <= {lim}x: {'met' if ratio <= lim else 'NOT met'} | |")
    return "\n".join(lines)


def k1_without_update(r: dict) -> float:
    """ms per step of LTC FPTT K = 1 with its per-window parameter work (one window per step) taken away: what a
    fused pass over the parameters costing nothing would leave."""
    return r["ms_per_step"]["ltc fptt K=1"] - r["fptt_window_update_ms"]


def main(argv=None) -> int:
    p = ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--seq-len", type=int, default=100)
    p.add_argument("--inputs", type=int, default=28)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=5, help="timed batches per case (round-robin)")
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--doc", type=Path, default=None, help="rewrite this document's training-speed table")
    p.add_argument("--from", dest="source", type=Path, default=None,
                   help="a result (--json) to print and write into --doc instead of measuring")
    args = p.parse_args(argv)
    r = json.loads(args.source.read_text()) if args.source else measure(args)
    s = r["setup"]
    print(f"batch {s['batch_size']}, T = {s['seq_len']}, {s['inputs']} inputs, {s['hidden']} hidden, "
          f"{s['threads']} thread(s), median of {s['rounds']} batches; load average {r['load_average'][0]:.1f}")
    for name, v in r["ms_per_step"].items():
        print(f"  {name:18s} {v:8.3f} ms / step   {r['macs_per_sample_step'][name]:8,d} weight multiply-adds "
              f"per sample and step")
    for name, v in r["ratios"].items():
        t = r["targets"].get(name)
        met = f"   target <= {t['max']}x: {'met' if t['met'] else 'NOT met'}" if t else ""
        print(f"  {name:38s} {v:5.2f}x{met}")
    base = r["macs_per_sample_step"]["norse lif bptt"]
    print(f"  multiply-adds ltc / norse lif: {r['macs_per_sample_step']['ltc bptt'] / base:.2f}x; FPTT per-window "
          f"parameter work (regulariser gradient, clipping, Adam step, W_bar/lambda update): "
          f"{r['fptt_window_update_ms']:.2f} ms, done T / K times per batch; K = 1 without it: "
          f"{k1_without_update(r) / r['ms_per_step']['ltc bptt']:.2f}x LTC BPTT")
    if args.json:
        args.json.write_text(json.dumps(r, indent=2) + "\n")
    if args.doc:
        text = args.doc.read_text()
        head, rest = text.split(TABLE_BEGIN, 1)
        args.doc.write_text(f"{head}{TABLE_BEGIN}\n{table(r)}\n{TABLE_END}{rest.split(TABLE_END, 1)[1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
