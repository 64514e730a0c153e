"""FPTT and BPTT training loops over one model and one task.

A batch is processed in windows of K steps; the state is detached between windows and one optimizer step
is taken per window. The loss of the window ending at step p (0-based) is

    (p+1)/T * task_loss(o_p) + (1 - (p+1)/T) * L_div(o_p)      (classification; regression drops L_div)

plus, for FPTT, the dynamic regulariser (its gradient is added by `FpttRegularizer`).
BPTT is the same loop with K = T and no regulariser: one update on the last step's loss.
"""
from dataclasses import asdict, dataclass
import time

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ltcsn.train.fptt import FpttRegularizer
from ltcsn.train.model import detach_state


@dataclass
class TrainConfig:
    algo: str = "fptt"        # "fptt" | "bptt"
    K: int = 1                # FPTT window (steps per update); BPTT ignores it
    alpha: float = 0.1        # FPTT regulariser strength
    beta: float = 0.5         # FPTT running-average rate
    lr: float = 3e-3
    optimizer: str = "adam"   # "adam" | "adamax"
    lr_schedule: str = "constant"   # "constant" | "cosine" (lr annealed to 0 over the epochs, stepped per epoch)
    epochs: int = 30
    batch_size: int = 32
    clip: float = 1.0
    seed: int = 0
    warmup_epochs: int = 1    # epochs with a uniform L_div target

    def to_dict(self):
        return asdict(self)


class OutputDivergence:
    """L_div: KL(q || softmax(o)) against q = a running per-step, per-class estimate of the softmax output
    (uniform during warm-up). Table [T, C, C] updated as an exponential moving average."""

    def __init__(self, seq_len: int, n_classes: int, momentum: float = 0.9, device=None):
        self.table = torch.full((seq_len, n_classes, n_classes), 1.0 / n_classes, device=device)
        self.momentum, self.warm = momentum, False

    def loss(self, out, y, step: int):
        q = self.table[step, y] if self.warm else torch.full_like(out, 1.0 / out.shape[-1])
        return (q * (q.clamp_min(1e-8).log() - F.log_softmax(out, -1))).sum(-1).mean()

    @torch.no_grad()
    def observe(self, out, y, step: int):
        n = self.table.shape[1]
        sums = torch.zeros(n, n, device=out.device).index_add_(0, y, F.softmax(out, -1))
        counts = torch.bincount(y, minlength=n).unsqueeze(-1)
        seen = counts.squeeze(-1) > 0
        mean = sums[seen] / counts[seen]
        self.table[step, seen] = self.momentum * self.table[step, seen] + (1 - self.momentum) * mean


def train_batch(model, x, y, task, opt, cfg: TrainConfig, reg=None, div=None) -> float:
    """One batch x [B, T, ...] in windows of K steps (K = T for BPTT). Returns the mean window loss."""
    T = x.shape[1]
    K = T if cfg.algo == "bptt" else min(cfg.K, T)
    params = [p for p in model.parameters() if p.requires_grad]
    state = model.init_state(x.shape[0], x.device)
    total, n = 0.0, 0
    for start in range(0, T, K):
        end = min(start + K, T)
        state = detach_state(state)
        outs, state = model(x[:, start:end], state)
        out, w = outs[:, -1], end / T
        loss = w * task.loss(out, y)
        if div is not None and w < 1:
            loss = loss + (1 - w) * div.loss(out, y, end - 1)
            div.observe(out.detach(), y, end - 1)
        opt.zero_grad(set_to_none=False)
        loss.backward()
        if reg is not None:
            reg.add_grad()
        if cfg.clip:
            torch.nn.utils.clip_grad_norm_(params, cfg.clip)
        opt.step()
        if reg is not None:
            reg.update()
        total, n = total + loss.item(), n + 1
    return total / n


@torch.no_grad()
def evaluate(model, task, batch_size: int = 256, device=None, limit: int = None) -> float:
    """Run whole test sequences and score the last step: accuracy (0..1) or MSE."""
    model.eval()
    score, count = 0.0, 0
    for x, y in task.test_batches(batch_size, limit):
        x, y = x.to(device), y.to(device)
        outs, _ = model(x)
        score += task.metric(outs[:, -1], y)
        count += len(x)
    model.train()
    return score / count


def make_optimizer(model, cfg: TrainConfig):
    cls = {"adam": torch.optim.Adam, "adamax": torch.optim.Adamax}[cfg.optimizer]
    return cls(model.parameters(), lr=cfg.lr)


def fit(model, task, cfg: TrainConfig, device=None, on_epoch=None, progress: bool = True):
    """Train for cfg.epochs. After each epoch (FPTT: W <- W_bar first) evaluate and call
    on_epoch(epoch, history). Returns the history: a list of per-epoch dicts."""
    model.to(device).train()
    opt = make_optimizer(model, cfg)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.epochs) if cfg.lr_schedule == "cosine" else None
    reg = FpttRegularizer(model.parameters(), cfg.alpha, cfg.beta) if cfg.algo == "fptt" else None
    div = (OutputDivergence(task.seq_len, task.n_out, device=device)
           if cfg.algo == "fptt" and task.kind == "classification" else None)
    gen = torch.Generator().manual_seed(cfg.seed)
    history = []
    for epoch in range(1, cfg.epochs + 1):
        if div is not None:
            div.warm = epoch > cfg.warmup_epochs
        t0, losses, lr = time.perf_counter(), [], opt.param_groups[0]["lr"]
        bar = tqdm(task.train_batches(cfg.batch_size, gen), total=task.n_train_batches(cfg.batch_size),
                   desc=f"epoch {epoch}/{cfg.epochs}", disable=not progress, leave=False)
        for x, y in bar:
            losses.append(train_batch(model, x.to(device), y.to(device), task, opt, cfg, reg, div))
            bar.set_postfix(loss=f"{losses[-1]:.4f}")
        if reg is not None:
            reg.load_average()
        if sched is not None:
            sched.step()
        train_time = time.perf_counter() - t0
        test = evaluate(model, task, device=device)
        history.append({"epoch": epoch, "train_loss": sum(losses) / len(losses),
                        f"test_{task.metric_name}": test, "epoch_seconds": train_time, "lr": lr})
        if progress:
            tqdm.write(f"epoch {epoch}: loss {history[-1]['train_loss']:.4f}  "
                       f"test {task.metric_name} {test:.4f}  ({train_time:.1f} s)")
        if on_epoch is not None:
            on_epoch(epoch, history)
    return history
