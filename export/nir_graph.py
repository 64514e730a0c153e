"""The structure of a NIR graph (Input -> linear chains and neuron layers -> Output) and its chains of linear
nodes (Affine, Linear, Conv2d, pooling, Flatten, Scale) composed into dense matrices, convolutions unrolled."""
import numpy as np
import torch
import torch.nn.functional as F

from ltcsn.export.nir_common import NirError, as_array, first_line, tname

LINEAR_TYPES = ("Affine", "Linear", "Conv2d", "SumPool2d", "AvgPool2d", "Flatten", "Scale")
NEURON_TYPES = ("LIF", "CubaLIF", "IF", "LI")
MAX_DENSE = 2**27             # largest dense matrix (entries) a chain of linear nodes may unroll to


def structure(graph, where: str) -> dict:
    """Input -> [linear nodes] -> neuron -> [linear nodes] -> neuron ... -> [linear nodes] -> Output, with
    optional recurrent cycles neuron -> [linear nodes] -> the same neuron. Traverses by edges (node order is
    not kept in files). Returns {"input", "layers": [(neuron, {"input": [paths], "self": [paths]})],
    "tail": [paths from the last neuron to the Output], "output"}; a path is a list of linear node names."""
    nodes = graph.nodes
    for name, node in nodes.items():
        t = tname(node)
        if t not in LINEAR_TYPES + NEURON_TYPES + ("Input", "Output"):
            raise NirError(f"{where}: node '{name}' of type {t} is not supported (supported: "
                           f"{', '.join(NEURON_TYPES + LINEAR_TYPES)}, Input, Output)")
    inputs = [k for k, n in nodes.items() if tname(n) == "Input"]
    outputs = [k for k, n in nodes.items() if tname(n) == "Output"]
    if len(inputs) != 1 or len(outputs) != 1:
        raise NirError(f"{where}: needs exactly one Input and one Output node, has {len(inputs)} and {len(outputs)}")
    preds = {k: [] for k in nodes}
    for a, b in graph.edges:
        if a not in nodes or b not in nodes:
            raise NirError(f"{where}: edge ({a}, {b}) names a node that does not exist")
        preds[b].append(a)

    def trace(first: str, dst: str):
        path, cur = [], first
        while tname(nodes[cur]) in LINEAR_TYPES:
            if cur in path:
                raise NirError(f"{where}: linear nodes form a cycle through '{cur}' without a neuron layer")
            path.insert(0, cur)
            if len(preds[cur]) != 1:
                raise NirError(f"{where}: linear node '{cur}' has {len(preds[cur])} inputs; only chains of "
                               f"single-input linear nodes between neuron layers are supported")
            cur = preds[cur][0]
        if tname(nodes[cur]) == "Output":
            raise NirError(f"{where}: the Output node '{cur}' feeds '{dst}'")
        return cur, path

    def sources(dst: str) -> dict:
        srcs = {}
        for p in preds[dst]:
            src, path = trace(p, dst)
            srcs.setdefault(src, []).append(path)
        return srcs

    neurons = [k for k, n in nodes.items() if tname(n) in NEURON_TYPES]
    srcs = {k: sources(k) for k in neurons}
    order, prev = [], inputs[0]
    while True:
        nxt = [k for k in neurons if prev in srcs[k] and k != prev]
        if not nxt:
            break
        if len(nxt) > 1:
            raise NirError(f"{where}: '{prev}' feeds several neuron layers ({', '.join(sorted(nxt))}); "
                           f"only a chain of layers is supported")
        k = nxt[0]
        if k in order:
            raise NirError(f"{where}: neuron layers form a cycle through '{k}' (only self-recurrence is supported)")
        other = set(srcs[k]) - {prev, k}
        earlier = sorted(s for s in other if s in order or s == inputs[0])
        if earlier:
            raise NirError(f"{where}: '{k}' reads from {', '.join(earlier)} besides '{prev}' "
                           f"(skip connections are not supported)")
        if other:
            later = sorted(other)
            raise NirError(f"{where}: '{later[0]}' feeds back into '{k}': a loop between two layers (only a "
                           f"layer's recurrence onto itself is supported)")
        order.append(k)
        prev = k
    missing = set(neurons) - set(order)
    if missing:
        raise NirError(f"{where}: neuron node(s) {', '.join(sorted(missing))} not on the path from the Input")
    if not order:
        raise NirError(f"{where}: no neuron layer (LIF, CubaLIF, IF, LI) between Input and Output")
    out_srcs = sources(outputs[0])
    if set(out_srcs) != {order[-1]}:
        raise NirError(f"{where}: the Output reads {', '.join(sorted(out_srcs)) or 'nothing'}, "
                       f"not the last neuron layer '{order[-1]}'")
    layers = [(k, {"input": srcs[k][order[j - 1] if j else inputs[0]], "self": srcs[k].get(k, [])})
              for j, k in enumerate(order)]
    used = {inputs[0], outputs[0], *order}
    for _, s in layers:
        used.update(n for paths in s.values() for path in paths for n in path)
    used.update(n for path in out_srcs[order[-1]] for n in path)
    unused = sorted(set(nodes) - used)
    return {"input": inputs[0], "layers": layers, "tail": out_srcs[order[-1]], "output": outputs[0],
            "unused": unused}


def unused_note(graph, names: list) -> str:
    """What the nodes that no path from the Input to the Output uses are: they do not change the output and are
    dropped (a note says so)."""
    cyc = [k for k in names if any(a in names and b == k for a, b in graph.edges)]
    what = "a cycle of linear nodes" if cyc and len(cyc) == len(names) else "nodes"
    return (f"dropped {what} not on any path from the Input to the Output (they cannot change the output): "
            f"{', '.join(f'{k} ({tname(graph.nodes[k])})' for k in names)}")


def drop_batch_dims(graph) -> list:
    """Drop a leading size-1 (batch) dimension from the Input and Output types when the node they connect to
    takes exactly one dimension fewer (norse's `to_nir(model, torch.zeros(1, N))` writes Input [1, N]), before any
    type check. Edits the graph in place; returns one note per dropped dimension."""
    notes = []
    succ = {k: [b for a, b in graph.edges if a == k] for k in graph.nodes}
    pred = {k: [a for a, b in graph.edges if b == k] for k in graph.nodes}
    ends = [(k, n) for t in ("Input", "Output") for k, n in graph.nodes.items() if tname(n) == t]
    for name, node in ends:
        t = tname(node)
        if t == "Output":        # after the Input's drop: scalar neurons take the shape that feeds them
            _broadcast_scalar_neurons(graph, pred)
        key = "input" if t == "Input" else "output"
        types = node.input_type if t == "Input" else node.output_type
        shape = None if not types or types.get(key) is None else list(np.atleast_1d(as_array(types[key], np.int64)))
        others = succ[name] if t == "Input" else pred[name]
        if shape is None or len(others) != 1:
            continue
        want = _ndim(graph.nodes[others[0]], "input" if t == "Input" else "output")
        new = shape[1:] if want is not None and len(shape) == want + 1 and shape[0] == 1 else list(shape)
        if new != shape:
            a = np.array(new, dtype=np.int64)
            node.input_type, node.output_type = {"input": a}, {"output": a}
            notes.append(f"{t} '{name}' {shape} read as {new}: a leading batch dimension dropped")
    return notes


def _shape_of(types, key):
    v = None if not types else types.get(key)
    return None if v is None or np.size(v) == 0 else np.atleast_1d(as_array(v, np.int64))


def _broadcast_scalar_neurons(graph, pred: dict) -> None:
    """A neuron node with scalar parameters (norse's default LIBoxCell writes LI(tau=0-d, ...)) has the empty
    type []; it takes the shape of what feeds it (set here, so the type check sees the broadcast)."""
    changed = True
    while changed:
        changed = False
        for name, node in graph.nodes.items():
            if tname(node) not in NEURON_TYPES or _shape_of(node.input_type, "input") is not None:
                continue
            shapes = [_shape_of(graph.nodes[p].output_type, "output") for p in pred[name]]
            shapes = [s for s in shapes if s is not None]
            if shapes:
                node.input_type, node.output_type = {"input": shapes[0]}, {"output": shapes[0]}
                changed = True


def _ndim(node, side: str):
    """Dimensions the node takes (side "input") or gives ("output"): its declared type, else its kind's."""
    types = node.input_type if side == "input" else node.output_type
    v = None if not types else types.get(side)
    if v is not None and np.size(v):
        return int(np.size(v))
    t = tname(node)
    if t in ("Affine", "Linear"):
        return 1
    if t in ("Conv2d", "SumPool2d", "AvgPool2d"):
        return 3
    if t in NEURON_TYPES:
        shapes = [np.shape(as_array(getattr(node, f))) for f in ("v_threshold", "tau", "r") if
                  getattr(node, f, None) is not None]
        shapes = [s for s in shapes if len(s)]
        return len(shapes[0]) if shapes else None
    return None


def input_shape(graph, name: str, where: str) -> tuple:
    it = graph.nodes[name].input_type
    shape = None if it is None else it.get("input")
    if shape is None:
        raise NirError(f"{where}: the Input node '{name}' has no shape")
    return tuple(int(v) for v in np.atleast_1d(as_array(shape, np.int64)))


# ================================================================ linear chains -> dense matrices
def _fit(x, ndim: int, what: str, where: str):
    """x [N, *shape]: drop leading size-1 dims (a batch dim written by traced graphs) down to ndim dims."""
    shape = tuple(x.shape[1:])
    while len(shape) > ndim and shape[0] == 1:
        shape = shape[1:]
    if len(shape) != ndim:
        raise NirError(f"{where}: inconsistent shapes: {what} expects a {ndim}-d input, gets shape {list(x.shape[1:])}")
    return x.reshape(x.shape[0], *shape)


def _pair(v, name: str, where: str) -> tuple:
    a = np.atleast_1d(as_array(v, np.int64))
    if a.size == 1:
        return (int(a[0]),) * 2
    if a.size != 2:
        raise NirError(f"{where}: {name} {a.tolist()} is not a pair")
    return tuple(int(u) for u in a)


def _apply(name: str, node, x, where: str, bias: bool = True):
    """One linear NIR node on a batch x [N, *shape] (float64); bias=False: its linear part only."""
    t = tname(node)
    w_ = f"{where}: node '{name}' ({t})"
    if t in ("Affine", "Linear"):
        w = torch.from_numpy(as_array(node.weight))
        if w.ndim != 2:
            raise NirError(f"{w_}: weight of shape {list(w.shape)} (only 2-d weights are supported)")
        x = _fit(x, 1, t, where)
        if x.shape[1] != w.shape[1]:
            raise NirError(f"{where}: inconsistent shapes: '{name}' takes {w.shape[1]} inputs, gets {x.shape[1]}")
        y = x @ w.T
        if t == "Affine" and bias:
            b = as_array(node.bias).reshape(-1)
            if b.size != w.shape[0]:
                raise NirError(f"{w_}: bias of size {b.size} for {w.shape[0]} outputs")
            y = y + torch.from_numpy(b)
        return y
    if t == "Scale":
        s = torch.from_numpy(as_array(node.scale))
        if s.numel() == 1:
            return x * s.reshape(())
        if tuple(x.shape[1:]) != tuple(s.shape):
            x = _fit(x, s.ndim, t, where)
            if tuple(x.shape[1:]) != tuple(s.shape):
                raise NirError(f"{where}: inconsistent shapes: '{name}' scales {list(s.shape)}, "
                               f"gets {list(x.shape[1:])}")
        return x * s
    if t == "Flatten":
        shape = tuple(x.shape[1:])
        nd = len(shape)
        s, e = int(node.start_dim), int(node.end_dim)
        s, e = (s + nd if s < 0 else s), (e + nd if e < 0 else e)
        if not (0 <= s <= e < nd):
            raise NirError(f"{w_}: dims {node.start_dim}..{node.end_dim} do not fit input shape {list(shape)}")
        return x.flatten(s + 1, e + 1)
    x = _fit(x, 3, t, where)
    if t == "Conv2d":
        w = torch.from_numpy(as_array(node.weight))
        b = torch.from_numpy(as_array(node.bias).reshape(-1)) if bias and node.bias is not None else None
        groups = int(np.asarray(node.groups))
        if w.ndim != 4 or x.shape[1] != w.shape[1] * groups:
            raise NirError(f"{where}: inconsistent shapes: '{name}' takes {w.shape[1] * groups} channels, "
                           f"gets input {list(x.shape[1:])}")
        pad = node.padding
        pad = pad if isinstance(pad, str) else _pair(pad, "padding", w_)
        try:
            return F.conv2d(x, w, b, _pair(node.stride, "stride", w_), pad, _pair(node.dilation, "dilation", w_),
                            groups)
        except RuntimeError as e:
            raise NirError(f"{w_}: {first_line(e)}") from None
    if t in ("SumPool2d", "AvgPool2d"):
        k = _pair(node.kernel_size, "kernel_size", w_)
        s = _pair(node.stride, "stride", w_)
        p = _pair(node.padding, "padding", w_)
        try:
            y = F.avg_pool2d(x, k, s, p, ceil_mode=False, count_include_pad=True)
        except RuntimeError as e:
            raise NirError(f"{w_}: {first_line(e)}") from None
        return y * (k[0] * k[1]) if t == "SumPool2d" else y
    raise NirError(f"{w_}: not a linear node")  # pragma: no cover


def compose(graph, paths: list, in_shape: tuple, where: str):
    """Sum over paths of the composed affine maps: (W [n_out, n_in], b [n_out], out shape), in float64.
    W: the identity basis pushed through the chain's linear parts (each entry of an unrolled convolution is
    a single weight, exact); b: zero pushed through the whole chain. An empty path is the identity."""
    n_in = int(np.prod(in_shape))
    W = b = out_shape = None
    for path in paths:
        x = torch.eye(n_in, dtype=torch.float64).reshape(n_in, *in_shape)
        z = torch.zeros(1, *in_shape, dtype=torch.float64)
        for name in path:
            x = _apply(name, graph.nodes[name], x, where, bias=False)
            z = _apply(name, graph.nodes[name], z, where)
            if x[0].numel() * n_in > MAX_DENSE:
                raise NirError(f"{where}: unrolling up to '{name}' needs a {x[0].numel()} x {n_in} matrix "
                               f"(more than {MAX_DENSE} entries)")
        shape = tuple(x.shape[1:])
        bp, Wp = z.reshape(-1), x.reshape(n_in, -1).T
        if W is None:
            W, b, out_shape = Wp, bp, shape
        elif Wp.shape != W.shape:
            raise NirError(f"{where}: inconsistent shapes: parallel paths into one node give {list(Wp.shape)} "
                           f"and {list(W.shape)}")
        else:
            W, b = W + Wp, b + bp
    return W, b, out_shape
