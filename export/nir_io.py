"""`python export/nir_io.py FILE.nir [--dt S] [--producer NAME] [--norse411 auto|yes|no] [--quiet]`: list a NIR
file (nodes, fields, metadata) and how it reads into our network (producer, dt and the rule that decided it).

The NIR code itself: nir_write.py (our networks -> NIR files), nir_read.py (NIR files -> QNet),
nir_foreign.py (third-party graphs), nir_graph.py (graph structure, linear chains), nir_common.py (shared by all).
"""

if __name__ == "__main__":   # via ltcsn.commands: a Ctrl-C while the imports below load ends with one line
    from ltcsn.commands import nir_info
    raise SystemExit(nir_info())

import numpy as np
import torch

from ltcsn.export.load import add_reading_args, reading_lines, reading_options
from ltcsn.export.nir_common import as_array, plain, tname
from ltcsn.export.nir_read import qnet_from_graph, read_graph
from ltcsn.args import ArgumentParser, cli


def _short(v, width: int = 60) -> str:
    if isinstance(v, np.ndarray):
        flat = v.reshape(-1)
        body = ", ".join(f"{u:.6g}" if isinstance(u, float) else str(u) for u in flat[:4].tolist())
        return f"{v.dtype}{list(v.shape)} [{body}{', ...' if flat.size > 4 else ''}]"
    s = repr(v)
    return s if len(s) <= width else s[:width - 3] + "..."


def _lines(d: dict, indent: str) -> list:
    out = []
    for k, v in d.items():
        if isinstance(v, dict):
            out.append(f"{indent}{k}:")
            out += _lines(v, indent + "  ")
        else:
            out.append(f"{indent}{k}: {_short(v)}")
    return out


def describe(graph) -> str:
    """Nodes in edge order (Input first) with their standard fields and metadata, then the graph metadata."""
    nodes = graph.nodes
    succ = {k: [] for k in nodes}
    for a, b in graph.edges:
        succ[a].append(b)
    order, todo = [], [k for k, n in nodes.items() if tname(n) == "Input"]
    while todo:
        k = todo.pop(0)
        if k not in order:
            order.append(k)
            todo += [s for s in succ[k] if s not in order]
    order += [k for k in nodes if k not in order]
    out = ["edges: " + ", ".join(f"{a} -> {b}" for a, b in graph.edges)]
    skip = {"metadata", "input_type", "output_type"}
    for k in order:
        n = nodes[k]
        fields = {f: getattr(n, f) for f in getattr(n, "__dataclass_fields__", {}) if f not in skip}
        out.append(f"node {k}: {tname(n)}")
        out += _lines({f: as_array(v) if isinstance(v, (np.ndarray, torch.Tensor)) else v for f, v in fields.items()},
                      "    ")
        if n.metadata:
            out.append("    metadata:")
            out += _lines(plain(n.metadata), "      ")
    if graph.metadata:
        out.append("graph metadata:")
        out += _lines(plain(graph.metadata), "  ")
    return "\n".join(out)


@cli
def main(argv=None) -> int:
    """`python export/nir_io.py FILE.nir [--dt S] [--producer NAME] [--norse411 auto|yes|no]`: list the graph and
    how it reads."""
    p = ArgumentParser(description=main.__doc__)
    p.add_argument("path")
    add_reading_args(p)
    p.add_argument("--norse411", default="auto", choices=["auto", "yes", "no"],
                   help="time constants written as tau*dt (norse#411); auto: on norse graphs with some tau < dt/2")
    p.add_argument("--quiet", action="store_true", help="only how it reads, not the listing")
    args = p.parse_args(argv)
    graph = read_graph(args.path)
    n411 = {"auto": None, "yes": True, "no": False}[args.norse411]
    qnet, info = qnet_from_graph(graph, norse411=n411, where=args.path, **reading_options(args))
    if not args.quiet:
        print(describe(read_graph(args.path)))
    layers = ", ".join(f"{layer.kind} {layer.n}" for layer in (*qnet.layers, qnet.readout))
    print(f"reads as ({info['origin']}): input {list(qnet.input_shape)} -> {layers}")
    for line in reading_lines(info):
        print(f"  {line}")
    if info.get("report"):
        from ltcsn.train.quantize import format_report
        print(format_report(info["report"]))
    return 0

