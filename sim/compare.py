"""Element-for-element comparison of recorded network states (sim/, quantized PyTorch, Lava).

A *record* is what ``sim.simulate.simulate(..., record=True)`` returns: a list with one dict per layer
(bottom to top, readout last) mapping each state variable name ("u", "s", "b"; "i", "v", "s"; ...) to its
values at every step, shape [B, T, *neuron_shape] (numpy arrays, torch tensors or anything ``np.asarray``
takes). ``first_divergence`` finds the first place two records differ.
"""
import numpy as np


def _as_array(x) -> np.ndarray:
    if hasattr(x, "detach"):  # torch tensor
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _value(x):
    """A plain Python number for the report (int when the value is integral)."""
    x = x.item() if hasattr(x, "item") else x
    if isinstance(x, float) and x.is_integer():
        return int(x)
    return x


def first_divergence(records_a, records_b, names=("a", "b"), layer_names=None):
    """The first element where two records differ, or None when they are equal element for element.

    records_a, records_b: lists of per-layer dicts {variable: array [B, T, ...]} (see the module doc).
    names: labels of the two records (e.g. ("sim", "torch")), used as keys of the two values and in the
    message. layer_names: optional labels per layer (default "layer<i>", the last one "layer<i>" too).

    "First" is causal order: the earliest step t; within a step the lowest layer; within a layer the
    variables in the order of records_a's dict; then the lowest batch index; then the lowest neuron (C order).
    Values are compared with ``!=`` after ``np.asarray`` (so int64 and integer-valued float64 compare equal).

    Returns None, or a dict:
        "layer":      int, layer index (0-based, readout last)
        "layer_name": str
        "var":        str, the state variable name
        "step":       int, time step (0-based); None for a structural mismatch
        "batch":      int, batch index; None for a structural mismatch
        "neuron":     int, flat neuron index (C order over the trailing dims); None for a structural mismatch
        "index":      tuple, the full neuron index (same as (neuron,) for [B, T, n] records)
        names[0]:     the value in records_a (Python int / float), or a description for a structural mismatch
        names[1]:     the value in records_b
        "message":    one line naming all of the above
    A structural mismatch (different number of layers, a variable missing on one side, different shapes) is
    reported with "var" set (None for a layer-count mismatch), step/batch/neuron None and the shapes or key
    sets as the two values.
    """
    na, nb = names
    lname = (lambda i: layer_names[i]) if layer_names is not None else (lambda i: f"layer{i}")
    recs_a, recs_b = list(records_a), list(records_b)

    def structural(layer, var, va, vb, what):
        return {"layer": layer, "layer_name": None if layer is None else lname(layer), "var": var,
                "step": None, "batch": None, "neuron": None, "index": None, na: va, nb: vb,
                "message": f"{what}: {na}={va} {nb}={vb}"}

    if len(recs_a) != len(recs_b):
        return structural(None, None, len(recs_a), len(recs_b), "number of layers differs")
    arrays = []
    for i, (ra, rb) in enumerate(zip(recs_a, recs_b)):
        if set(ra) != set(rb):
            return structural(i, None, sorted(ra), sorted(rb), f"{lname(i)}: state variables differ")
        layer = []
        for var in ra:
            a, b = _as_array(ra[var]), _as_array(rb[var])
            if a.shape != b.shape or a.ndim < 2:
                return structural(i, var, a.shape, b.shape, f"{lname(i)} {var}: shapes differ")
            layer.append((var, a, b))
        arrays.append(layer)
    if not arrays:
        return None
    steps = {a.shape[1] for layer in arrays for _, a, _ in layer}
    for t in range(max(steps, default=0)):
        for i, layer in enumerate(arrays):
            for var, a, b in layer:
                if t >= a.shape[1]:
                    continue
                at, bt = a[:, t], b[:, t]
                diff = at != bt
                if not diff.any():
                    continue
                pos = np.argwhere(diff)[0]          # lexicographic: batch first, then neuron index
                batch, index = int(pos[0]), tuple(int(p) for p in pos[1:])
                neuron = int(np.ravel_multi_index(index, at.shape[1:])) if index else 0
                va, vb = _value(at[tuple(pos)]), _value(bt[tuple(pos)])
                return {"layer": i, "layer_name": lname(i), "var": var, "step": t, "batch": batch,
                        "neuron": neuron, "index": index, na: va, nb: vb,
                        "message": (f"first divergence: layer {i} ({lname(i)}), variable {var!r}, step {t}, "
                                    f"batch {batch}, neuron {neuron}{'' if len(index) <= 1 else f' {index}'}: "
                                    f"{na}={va} {nb}={vb}")}
    return None
