"""Minibatch optimal-transport pairing of noise and data (OT-CFM)."""

from __future__ import annotations

import torch
from torch import Tensor


def sinkhorn_plan(cost: Tensor, epsilon: float, iterations: int = 50) -> Tensor:
    """Entropic optimal transport plan between two uniform sets, in the log domain.

    Parameters
    ----------
    cost : Tensor
        Pairwise costs, shape (n, m).
    epsilon : float
        Entropic regularisation, in units of cost; smaller is closer to exact OT.
    """
    n, m = cost.shape
    log_a = torch.full((n,), -float(torch.log(torch.tensor(float(n)))), device=cost.device)
    log_b = torch.full((m,), -float(torch.log(torch.tensor(float(m)))), device=cost.device)
    kernel = -cost / epsilon
    f = torch.zeros(n, device=cost.device)
    g = torch.zeros(m, device=cost.device)
    for _ in range(iterations):
        f = log_a - torch.logsumexp(kernel + g[None, :], dim=1)
        g = log_b - torch.logsumexp(kernel + f[:, None], dim=0)
    return torch.exp(kernel + f[:, None] + g[None, :])


def ot_pair(noise: Tensor, data: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Reorder ``noise`` so that row i is paired with ``data[i]`` under a minibatch OT plan.

    Each data point draws its noise partner from its column of the Sinkhorn plan, so the
    straight lines noise -> data cross less and the learned flow is straighter.
    """
    cost = torch.cdist(noise, data).square()
    plan = sinkhorn_plan(cost, epsilon=0.05 * float(cost.mean()))
    partners = torch.multinomial(plan.T, 1, generator=generator).squeeze(1)
    return noise[partners]
