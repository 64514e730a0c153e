"""FPTT's dynamic regulariser (Kag & Saligrama 2021, as used by Yin et al. 2023).

Per parameter W it keeps a running average W_bar (init W) and a multiplier lam (init 0):

    R(W) = sum_W [ -<W, lam> + (alpha/2) ||W - W_bar||^2 ],   dR/dW = -lam + alpha (W - W_bar)
    after each optimizer step:  lam   <- lam - alpha (W - W_bar)
                                W_bar <- (1 - beta) W_bar + beta W - (beta/alpha) lam   (new lam)
    before evaluation / saving: W <- W_bar

The regulariser's gradient is added straight into .grad (same gradient as adding R to the loss, without
an autograd graph), and all updates are fused `torch._foreach_*` operations over the parameter list.
"""
import torch


class FpttRegularizer:
    def __init__(self, params, alpha: float, beta: float = 0.5):
        self.params = [p for p in params if p.requires_grad]
        self.alpha, self.beta = float(alpha), float(beta)
        with torch.no_grad():
            self.w_bar = [p.detach().clone() for p in self.params]
            self.lam = [torch.zeros_like(p) for p in self.params]
        for p in self.params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)

    @torch.no_grad()
    def value(self) -> float:
        """R(W), for logging."""
        inner = sum((p * l).sum() for p, l in zip(self.params, self.lam))
        sq = sum(((p - w) ** 2).sum() for p, w in zip(self.params, self.w_bar))
        return float(-inner + 0.5 * self.alpha * sq)

    @torch.no_grad()
    def add_grad(self):
        """p.grad += -lam + alpha (p - W_bar) (in place: no temporaries, one pass per term)."""
        grads = [p.grad for p in self.params]
        torch._foreach_add_(grads, self.params, alpha=self.alpha)
        torch._foreach_add_(grads, self.w_bar, alpha=-self.alpha)
        torch._foreach_sub_(grads, self.lam)

    @torch.no_grad()
    def update(self):
        """Update lam and W_bar after an optimizer step."""
        torch._foreach_add_(self.lam, self.params, alpha=-self.alpha)
        torch._foreach_add_(self.lam, self.w_bar, alpha=self.alpha)
        torch._foreach_mul_(self.w_bar, 1.0 - self.beta)
        torch._foreach_add_(self.w_bar, self.params, alpha=self.beta)
        if self.alpha > 0:  # with alpha = 0, lam stays 0 and the term vanishes
            torch._foreach_add_(self.w_bar, self.lam, alpha=-self.beta / self.alpha)

    @torch.no_grad()
    def load_average(self):
        """W <- W_bar (the evaluated and saved model)."""
        torch._foreach_copy_(self.params, self.w_bar)
