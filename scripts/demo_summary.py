"""The summary of a `make demo` run, and the README results table made from it.

    python scripts/demo_summary.py runs/demo                      # -> runs/demo/summary.json
    python scripts/demo_summary.py runs/demo --publish            # and commit it: COMMITTED, README's table
    python scripts/demo_summary.py --check README.md --from SUMMARY.json   # exit 1 if the table differs

The summary collects what the demo's commands wrote (float/ and qat/ metrics.json and checkpoints, sim.json,
lava.json, verify.json, resources.json): float, integer and Lava accuracy, the verify result, and the seconds of
each stage. The README's results table (between the markers below) is rendered from a summary, never typed:
the committed copy of the last run's summary (COMMITTED), and tests/test_demo_summary.py checks that the README
says what it says.
"""
import argparse
import json
from pathlib import Path
import sys
import time

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = "docs/results/demo_summary.json"     # the committed copy of the last run's summary
BEGIN = "<!-- demo summary: written by scripts/demo_summary.py from the committed summary of the last make demo -->"
END = "<!-- end of demo summary -->"


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def summarize(run: Path) -> dict:
    """The summary of the demo run in folder `run`."""
    from ltcsn.train.checkpoint import read_checkpoint
    from ltcsn.train.quantize import TARGETS, plan_target
    float_m, qat_m = _load(run / "float" / "metrics.json"), _load(run / "qat" / "metrics.json")
    ckpt = read_checkpoint(run / "float" / "ckpt.pt")
    plan = read_checkpoint(run / "qat" / "ckpt.pt")["quant_plan"]
    profile = plan_target(plan)
    metric = float_m["metric"]
    sim, lava, verify = _load(run / "sim.json"), _load(run / "lava.json"), _load(run / "verify.json")
    resources = _load(run / "resources.json")
    cfg, train = ckpt["config"], ckpt["train"]
    started = run / "started"
    return {
        "command": "make demo",
        "task": float_m["task"]["name"], "metric": metric, "test_samples_total": sim["samples"],
        "network": {"neuron": cfg["neuron"], "layers": [lc["size"] for lc in cfg["layers"]],
                    "recurrent": [bool(lc.get("recurrent", True)) for lc in cfg["layers"]],
                    "readout": cfg.get("readout")},
        "training": {k: train.get(k) for k in ("algo", "K", "alpha", "optimizer", "lr", "epochs", "batch_size",
                                               "seed")},
        "float": {"score": float_m[f"test_{metric}"], "epochs": float_m["epochs_done"],
                  "train_seconds": float_m["train_seconds"]},
        "integer_before_qat": ({"score": qat_m[f"test_{metric}_before_qat"], "on": "test"}
                               if f"test_{metric}_before_qat" in qat_m else
                               {"score": qat_m[f"val_{metric}_before_qat"], "on": "validation"}),
        "qat": {"score": qat_m[f"test_{metric}"], "epochs": qat_m["epochs_done"],
                "train_seconds": qat_m["train_seconds"], **profile,
                "target": next((t for t, prof in TARGETS.items() if prof == profile), None)},
        "integer_sim": {"score": sim[f"integer_{metric}"], "samples": sim["samples"], "seconds": sim["seconds"]},
        "lava": {"score": lava[metric], "samples": lava["samples"], "ms_per_step": lava["ms_per_step"],
                 "seconds": lava["seconds"], "tag": lava["models"], "async_models": lava["async"]},
        "verify": {"bit_exact": verify["bit_exact"], "samples": verify["samples"], "steps": verify["steps"],
                   "pairs": [{k: p[k] for k in ("pair", "values", "mismatches")} for p in verify["pairs"]]},
        "resources": {"neurons": resources["neurons"], "cores": resources["cores"],
                      "errors": resources["errors"]},
        "wall_seconds": time.time() - float(started.read_text()) if started.exists() else None,
    }


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def render(s: dict) -> str:
    """The README's results table of summary s: a heading line, then one row per stage of the demo."""
    n, t = s["network"], s["training"]
    layers = " + ".join(f"{size}{'' if rec else ' feed-forward'}" for size, rec in zip(n["layers"], n["recurrent"]))
    algo = f"FPTT K = {t['K']}, α = {t['alpha']:g}" if t["algo"] == "fptt" else t["algo"].upper()
    mism = sorted({p["mismatches"] for p in s["verify"]["pairs"]})
    pairs = ", ".join(f"{p['pair']}: {p['mismatches']}" for p in s["verify"]["pairs"])
    verdict = "**0 mismatches in every stage pair**" if mism == [0] else f"mismatches {pairs}"
    wall = "" if s.get("wall_seconds") is None else f"{s['wall_seconds'] / 60:.1f} min, "
    lava, qat, sim, before, res = s["lava"], s["qat"], s["integer_sim"], s["integer_before_qat"], s["resources"]
    profile = (f"the {qat['target']} profile ({qat['mixing']} mixing, {qat['sigmoid']} sigmoid)"
               if qat.get("target") else f"{qat['mixing']} mixing, {qat['sigmoid']} sigmoid")
    metric = f"test {s['metric']}"
    rows = [
        ("float training", f"{n['neuron'].upper()} {layers}, {algo}, {t['optimizer'].capitalize()} {t['lr']:g}, "
                           f"{s['float']['epochs']} epochs, batch {t['batch_size']}",
         f"**{_pct(s['float']['score'])}** {metric}", f"{s['float']['train_seconds']:.0f} s"),
        ("integer network before QAT", "the float network's integer codes",
         f"**{_pct(before['score'])}** {before.get('on', 'test')} {s['metric']}", ""),
        ("quantization-aware FPTT", f"{qat['epochs']} epochs under {profile}", f"**{_pct(qat['score'])}** {metric}",
         f"{qat['train_seconds']:.0f} s"),
        ("integer simulator", f"its NIR file, {sim['samples']} test samples", f"**{_pct(sim['score'])}** {metric}",
         f"{sim['seconds']:.2f} s"),
        ("Lava CPU backend", f"{lava['tag']}, {'async' if lava['async_models'] else 'sync'} models, "
                             f"{lava['samples']} test samples", f"**{_pct(lava['score'])}** {metric}",
         f"{lava['ms_per_step']:.2f} ms/step"),
        ("Loihi 2 mapping", "the resource report of its NIR file",
         f"{res['neurons']} neurons, {res['cores']} cores"
         + (f", {len(res['errors'])} errors" if res["errors"] else ""), ""),
        ("verify", f"{s['verify']['samples']} samples, every variable of every layer at every step", verdict, ""),
    ]
    lines = [f"**`make demo`** ({wall}seed {t['seed']}, task {s['task']}; its `runs/demo/summary.json` is committed "
             f"in docs/results/):", "", "| stage | what ran | result | time |", "|---|---|---|---:|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def replace_table(text: str, table: str) -> str:
    if BEGIN not in text or END not in text:
        raise ValueError(f"the README lacks the markers {BEGIN!r} ... {END!r}")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{table}\n{END}{tail}"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("run", nargs="?", help="the demo's folder: writes RUN/summary.json")
    p.add_argument("--from", dest="source", default=None, help="a summary.json to render (default RUN/summary.json)")
    p.add_argument("--readme", default=None, help="rewrite the results table of this README")
    p.add_argument("--check", default=None, help="exit 1 if this README's results table differs from the summary")
    p.add_argument("--publish", action="store_true",
                   help=f"with RUN: copy RUN/summary.json to {COMMITTED} and rewrite README.md's results table")
    args = p.parse_args(argv)
    if args.run:
        summary = summarize(Path(args.run))
        out = Path(args.run) / "summary.json"
        out.write_text(json.dumps(summary, indent=2) + "\n")
        print(f"wrote {out}")
        print(render(summary))
    if args.publish:
        if not args.run:
            p.error("--publish needs RUN")
        (ROOT / COMMITTED).parent.mkdir(parents=True, exist_ok=True)
        (ROOT / COMMITTED).write_text((Path(args.run) / "summary.json").read_text())
        args.source, args.readme = str(ROOT / COMMITTED), str(ROOT / "README.md")
        print(f"wrote {COMMITTED}")
    source = Path(args.source) if args.source else (Path(args.run) / "summary.json" if args.run else None)
    if (args.readme or args.check) and source is None:
        p.error("--readme / --check need --from SUMMARY or RUN")
    if args.readme:
        path = Path(args.readme)
        path.write_text(replace_table(path.read_text(), render(_load(source))))
        print(f"rewrote the results table of {path}")
    if args.check:
        text = Path(args.check).read_text()
        if replace_table(text, render(_load(source))) != text:
            print(f"{args.check}: the results table differs from {source} (run: python scripts/demo_summary.py "
                  f"--readme {args.check} --from {source})", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
