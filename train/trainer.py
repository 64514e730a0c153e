"""FPTT and BPTT training loops over one model and one task, in one process or under torch.distributed.

A batch is processed in windows of K steps; the state is detached between windows and one optimizer step
is taken per window. The loss of the window ending at step p (0-based) is

    (p+1)/T * task_loss(o_p) + (1 - (p+1)/T) * L_div(o_p)      (classification; regression drops L_div)

plus, for FPTT, the dynamic regulariser (its gradient is added by `FpttRegularizer`).
BPTT is the same loop with K = T and no regulariser: one update on the last step's loss.

Data: the task's `train_set` through a DataLoader with a DistributedSampler (seed = TrainConfig.seed, reshuffled
per epoch; one process is the case world = 1). Under torch.distributed (torchrun) every process takes
batch_size / world samples of each global batch, DistributedDataParallel all-reduces (averages) the gradients of
every window, and the output-divergence table is updated from the statistics of the whole global batch, so all
processes hold the same weights, FPTT W_bar / lambda and table (checked after every epoch).
After each epoch the model (FPTT: W <- W_bar) is scored on the validation set; `Trainer.state_dict()` holds
everything a bit-identical resume needs.
"""
from dataclasses import asdict, dataclass
import sys
import time

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset
from torch.utils.data.distributed import DistributedSampler
from tqdm.auto import tqdm

from ltcsn.train.errors import InputError
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
    batch_size: int = 32      # the global batch (all processes together)
    clip: float = 1.0
    seed: int = 0
    warmup_epochs: int = 1    # epochs with a uniform L_div target
    workers: int = 0          # DataLoader worker processes (0: load in the training process)

    def to_dict(self):
        return asdict(self)


def world() -> tuple:
    """(rank, number of processes) of the torch.distributed group, (0, 1) without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class OutputDivergence:
    """L_div: KL(q || softmax(o)) against q = a running per-step, per-class estimate of the softmax output
    (uniform during warm-up). Table [T, C, C] updated as an exponential moving average of the global batch."""

    def __init__(self, seq_len: int, n_classes: int, momentum: float = 0.9, device=None):
        self.table = torch.full((seq_len, n_classes, n_classes), 1.0 / n_classes, device=device)
        self.momentum, self.warm = momentum, False

    def loss(self, out, y, step: int):
        q = self.table[step, y] if self.warm else torch.full_like(out, 1.0 / out.shape[-1])
        return (q * (q.clamp_min(1e-8).log() - F.log_softmax(out, -1))).sum(-1).mean()

    @torch.no_grad()
    def observe(self, out, y, step: int):
        n = self.table.shape[1]
        sums = torch.zeros(n, n + 1, device=out.device)
        sums[:, :n].index_add_(0, y, F.softmax(out, -1))
        sums[:, n] = torch.bincount(y, minlength=n).to(sums.dtype)
        if world()[1] > 1:
            dist.all_reduce(sums)
        counts = sums[:, n:]
        seen = counts.squeeze(-1) > 0
        mean = sums[seen, :n] / counts[seen]
        self.table[step, seen] = self.momentum * self.table[step, seen] + (1 - self.momentum) * mean


def train_batch(model, x, y, task, opt, cfg: TrainConfig, reg=None, div=None) -> tuple:
    """One batch x [B, T, ...] in windows of K steps (K = T for BPTT). Returns (the mean window loss, the
    batch's summed score at the last step: `task.metric` of the output the last window's weights gave, as training
    sees it online). `model` may be wrapped in DistributedDataParallel."""
    T = x.shape[1]
    K = T if cfg.algo == "bptt" else min(cfg.K, T)
    params = [p for p in model.parameters() if p.requires_grad]
    state = getattr(model, "module", model).init_state(x.shape[0], x.device)
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
    return total / n, task.metric(out.detach(), y)


@torch.no_grad()
def evaluate(model, task, batch_size: int = 256, device=None, limit: int = None, split: str = "test") -> float:
    """Run whole sequences of a split ("val" | "test") and score the last step: accuracy (0..1) or MSE.
    Under torch.distributed each process scores every world-th sample and the sums are all-reduced."""
    model = getattr(model, "module", model)
    was_training = model.training
    model.eval()
    data = {"val": task.val_set, "test": task.test_set, "train": task.train_set}[split]
    n = len(data) if limit is None else min(limit, len(data))
    rank, size = world()
    data = Subset(data, range(rank, n, size)) if (size > 1 or n < len(data)) else data
    score = torch.zeros(2, dtype=torch.float64)
    for x, y in DataLoader(data, batch_size=batch_size):
        x, y = x.to(device), y.to(device)
        outs, _ = model(x)
        score += torch.tensor([task.metric(outs[:, -1], y), len(x)], dtype=torch.float64)
    if size > 1:
        score = score.to(device)
        dist.all_reduce(score)
    model.train(was_training)
    if score[1] == 0:
        return float("nan")
    return float(score[0] / score[1])


def device_label(device) -> str:
    """What trained an epoch: "cpu" or the CUDA device's name (each epoch record says it: a run resumed on
    another machine keeps the record of both)."""
    device = torch.device(device if device is not None else "cpu")
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def make_optimizer(model, cfg: TrainConfig):
    """Adam as one fused kernel over all parameters (FPTT steps the optimizer once per window: on CPU the fused
    step takes about 1/6 of the per-parameter loop's time; benchmarks/train_speed.py), Adamax as foreach ops."""
    if cfg.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=cfg.lr, fused=True)
    return torch.optim.Adamax(model.parameters(), lr=cfg.lr, foreach=True)


class Trainer:
    """Everything a run updates: weights, optimizer, LR schedule, FPTT W_bar / lambda, divergence table,
    epoch, history, best validation epoch and RNG state. `state_dict()` / `load_state_dict()` resume exactly."""

    def __init__(self, model, task, cfg: TrainConfig, device=None):
        self.rank, self.world = world()
        if cfg.batch_size % self.world:
            raise InputError(f"--batch-size {cfg.batch_size} (the global batch) must be divisible by the number "
                             f"of processes ({self.world})")
        self.model, self.task, self.cfg, self.device = model.to(device).train(), task, cfg, device
        self.net = model
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel
            ids = [device] if device is not None and torch.device(device).type == "cuda" else None
            self.net = DistributedDataParallel(model, device_ids=ids)
        self.opt = make_optimizer(model, cfg)
        self.sched = (torch.optim.lr_scheduler.CosineAnnealingLR(self.opt, cfg.epochs)
                      if cfg.lr_schedule == "cosine" else None)
        self.reg = FpttRegularizer(model.parameters(), cfg.alpha, cfg.beta) if cfg.algo == "fptt" else None
        self.div = (OutputDivergence(task.seq_len, task.n_out, device=device)
                    if cfg.algo == "fptt" and task.kind == "classification" else None)
        self.sampler = DistributedSampler(task.train_set, num_replicas=self.world, rank=self.rank, shuffle=True,
                                          seed=cfg.seed)
        cuda = device is not None and torch.device(device).type == "cuda"
        self.loader = DataLoader(task.train_set, batch_size=cfg.batch_size // self.world, sampler=self.sampler,
                                 num_workers=cfg.workers, pin_memory=cuda)
        self.epoch, self.history, self.best = 0, [], None   # best: {"epoch", "score"}

    # ------------------------------------------------------------ state
    def state_dict(self) -> dict:
        state = {"epoch": self.epoch, "optimizer": self.opt.state_dict(), "history": self.history,
                 "best": self.best, "torch_rng": torch.get_rng_state()}
        if self.sched is not None:
            state["scheduler"] = self.sched.state_dict()
        if self.reg is not None:
            state["fptt"] = {"w_bar": [w.cpu() for w in self.reg.w_bar], "lam": [l.cpu() for l in self.reg.lam]}
        if self.div is not None:
            state["divergence"] = self.div.table.cpu()
        if torch.cuda.is_available():
            state["cuda_rng"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state: dict):
        """Continue from `state_dict()` (the weights are loaded into the model separately)."""
        self.epoch, self.history, self.best = state["epoch"], list(state["history"]), state["best"]
        self.opt.load_state_dict(state["optimizer"])
        if self.sched is not None:
            self.sched.load_state_dict(state["scheduler"])
        if self.reg is not None:
            with torch.no_grad():
                torch._foreach_copy_(self.reg.w_bar, [w.to(self.device) for w in state["fptt"]["w_bar"]])
                torch._foreach_copy_(self.reg.lam, [l.to(self.device) for l in state["fptt"]["lam"]])
        if self.div is not None:
            self.div.table.copy_(state["divergence"])
        torch.set_rng_state(state["torch_rng"])
        if "cuda_rng" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])

    def check_ranks_agree(self):
        """Raise unless every process holds bit-identical weights, FPTT W_bar / lambda and divergence table."""
        if self.world == 1:
            return
        mine = [p.detach().flatten() for p in self.model.parameters()]
        if self.reg is not None:
            mine += [t.flatten() for t in self.reg.w_bar + self.reg.lam]
        if self.div is not None:
            mine.append(self.div.table.flatten())
        flat = torch.cat(mine).double()
        lo, hi = flat.clone(), flat.clone()
        dist.all_reduce(lo, op=dist.ReduceOp.MIN)
        dist.all_reduce(hi, op=dist.ReduceOp.MAX)
        if not (torch.equal(lo, flat) and torch.equal(hi, flat)):
            raise RuntimeError(f"epoch {self.epoch}: training state differs between processes")

    # ------------------------------------------------------------ training
    def train_epoch(self, progress: bool) -> dict:
        """One epoch over the training set, then (FPTT) W <- W_bar and the validation score."""
        self.epoch += 1
        cfg, epoch = self.cfg, self.epoch
        if self.div is not None:
            self.div.warm = epoch > cfg.warmup_epochs
        self.sampler.set_epoch(epoch)
        if hasattr(self.task.train_set, "set_epoch"):
            self.task.train_set.set_epoch(epoch)
        t0, losses, lr = time.perf_counter(), [], self.opt.param_groups[0]["lr"]
        scored = torch.zeros(2, dtype=torch.float64)      # summed train score, samples
        bar = tqdm(self.loader, desc=f"epoch {epoch}/{cfg.epochs}", leave=False,
                   disable=not (progress and self.rank == 0 and sys.stderr.isatty()))
        for x, y in bar:
            x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
            loss, score = train_batch(self.net, x, y, self.task, self.opt, cfg, self.reg, self.div)
            losses.append(loss)
            scored += torch.tensor([score, len(x)], dtype=torch.float64)
            bar.set_postfix(loss=f"{loss:.4f}")
        if self.reg is not None:
            self.reg.load_average()
        if self.sched is not None:
            self.sched.step()
        train_time = time.perf_counter() - t0
        self.check_ranks_agree()
        val = evaluate(self.model, self.task, device=self.device, split="val")
        name = self.task.metric_name
        sums = torch.tensor([sum(losses) / len(losses), *scored], dtype=torch.float64)
        if self.world > 1:            # every process's mean loss, summed scores and samples
            sums = sums.to(self.device)
            dist.all_reduce(sums)
            sums = sums.cpu() / torch.tensor([self.world, 1, 1], dtype=torch.float64)
        record = {"epoch": epoch, "train_loss": float(sums[0]), f"train_{name}": float(sums[1] / sums[2]),
                  f"val_{name}": val, "epoch_seconds": train_time, "lr": lr, "device": device_label(self.device)}
        self.history.append(record)
        if self.best is None or (val == val and self.task.better(val, self.best["score"])):
            self.best = {"epoch": epoch, "score": val}
        return record

    def fit(self, on_epoch=None, progress: bool = True, log=None) -> list:
        """Train up to cfg.epochs (from self.epoch). After each epoch call on_epoch(self) and log(line)."""
        name = self.task.metric_name
        while self.epoch < self.cfg.epochs:
            r = self.train_epoch(progress)
            if log is not None:
                log(f"epoch {r['epoch']}/{self.cfg.epochs}: loss {r['train_loss']:.4f}  train {name} "
                    f"{r[f'train_{name}']:.4f}  val {name} "
                    f"{r[f'val_{name}']:.4f}  lr {r['lr']:.3g}  ({r['epoch_seconds']:.1f} s)"
                    + ("  best" if self.best["epoch"] == r["epoch"] else ""))
            if on_epoch is not None:
                on_epoch(self)
        return self.history


def fit(model, task, cfg: TrainConfig, device=None, on_epoch=None, progress: bool = True, log=None) -> list:
    """Train a fresh run for cfg.epochs; returns the history (per-epoch dicts with the validation score)."""
    return Trainer(model, task, cfg, device).fit(on_epoch, progress, log)
