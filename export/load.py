"""Any model file -> its integer network: a checkpoint (quantized on the fly) or a NIR file."""


def load_qnet(path: str, mixing: str = "dense"):
    """Checkpoint (.pt, quantized on the fly, reusing a stored QAT plan) or NIR file -> (QNet, float model or None)."""
    if str(path).endswith(".nir"):
        from ltcsn.export.nir_read import read_qnet
        return read_qnet(path), None
    from ltcsn.train.quantize import quantize
    from ltcsn.train.checkpoint import load_checkpoint
    from ltcsn.train.tasks import get_task
    model, ckpt = load_checkpoint(path)
    task = get_task(**ckpt["task"])
    qnet, _, _ = quantize(model, task.input_sample(), mixing, plan=ckpt.get("quant_plan"), task=ckpt["task"])
    return qnet, model
