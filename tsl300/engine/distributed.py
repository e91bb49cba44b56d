"""Data-parallel training under ``torchrun``: one process per rank, DistributedDataParallel.

``torchrun --nproc_per_node N -m tsl300 train RECIPE ...`` sets ``RANK``/``WORLD_SIZE``/
``LOCAL_RANK``/``MASTER_ADDR``; :func:`context` sees them and joins the process group (gloo on
CPU, NCCL on CUDA, each rank on ``cuda:LOCAL_RANK``). Without them everything here is a no-op,
so one-process training is untouched.

What keeps N processes equal to one process with the same global batch:

- the *sampler*: every rank draws the same seeded global batch of step ``s`` (the trainer's
  per-epoch permutation, as in one process) and keeps its contiguous share (:func:`shard`), the
  job torch's ``DistributedSampler`` does, but with the one-process order, so a run's batches do
  not depend on the number of ranks; the recipe's ``batch_size`` is the *global* batch and must
  divide by the number of ranks;
- DDP averages the gradients of the ranks' per-video mean losses: the gradient of the global
  mean (exact when every loss term is a mean over videos);
- BatchNorm: plain BatchNorm normalises each rank's share with its own statistics (the usual
  DDP behaviour); a recipe with ``schedule.sync_batchnorm: true`` converts every BatchNorm to
  :class:`torch.nn.SyncBatchNorm`, whose statistics span the whole global batch as in one process;
- only rank 0 writes (recipe copy, logs, TensorBoard, checkpoints, ``model.*``, predictions);
  the loss it logs is the mean over ranks. Resume: every rank reads ``checkpoints/last``.
"""
from __future__ import annotations

import atexit
import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from ..errors import Tsl300Error


@dataclass(frozen=True)
class Context:
    """Where this process stands: rank ``rank`` of ``world_size`` (1: not distributed)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


SINGLE = Context()


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.strip().isdigit() else default


def context(device: torch.device | str = "cpu") -> Context:
    """The rank of this process, joining the process group on first use under torchrun."""
    world = _env_int("WORLD_SIZE", 1)
    if world <= 1:
        return SINGLE
    ctx = Context(rank=_env_int("RANK", 0), world_size=world, local_rank=_env_int("LOCAL_RANK", 0))
    if not dist.is_initialized():
        backend = "nccl" if torch.device(device).type == "cuda" else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(ctx.local_rank)
        dist.init_process_group(backend=backend, rank=ctx.rank, world_size=ctx.world_size)
        atexit.register(_shutdown)
    return ctx


def is_main_process() -> bool:
    """True on rank 0 and in a one-process run (what decides who writes outside the trainer)."""
    return _env_int("RANK", 0) == 0 or _env_int("WORLD_SIZE", 1) <= 1


def _shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def rank_device(device: torch.device, ctx: Context) -> torch.device:
    """``cuda`` means this rank's GPU (``cuda:LOCAL_RANK``) under torchrun."""
    if ctx.active and device.type == "cuda":
        return torch.device("cuda", ctx.local_rank)
    return device


def check_batch(batch_size: int, ctx: Context) -> None:
    if ctx.active and batch_size % ctx.world_size:
        raise Tsl300Error(f"batch_size {batch_size} (the global batch) does not divide over "
                          f"{ctx.world_size} processes; use a multiple of {ctx.world_size}")


def shard(indices: np.ndarray, ctx: Context) -> np.ndarray:
    """This rank's contiguous share of a global batch (all of it in one process)."""
    if not ctx.active:
        return indices
    per_rank = len(indices) // ctx.world_size
    return indices[ctx.rank * per_rank:(ctx.rank + 1) * per_rank]


def wrap(module: torch.nn.Module, ctx: Context, sync_batchnorm: bool = False) -> torch.nn.Module:
    """``module`` for the forward pass: DDP around it when distributed (its BatchNorms made
    synchronized in place when asked), else the module itself."""
    if not ctx.active:
        return module
    cuda = next(module.parameters()).is_cuda
    if sync_batchnorm:
        convert_sync_batchnorm(module, cuda)
    return torch.nn.parallel.DistributedDataParallel(module, device_ids=[ctx.local_rank] if cuda else None)


_PLAIN_BATCHNORMS = (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d, torch.nn.BatchNorm3d)


def convert_sync_batchnorm(module: torch.nn.Module, cuda: bool) -> int:
    """Replace plain BatchNorm children in place (the top module keeps its class and methods):
    torch's SyncBatchNorm on GPUs, :class:`SyncBatchNormCPU` on the CPU (torch's refuses CPU
    tensors). Subclasses such as per-group BatchNorms keep their own statistics. Returns the
    number replaced; state-dict names do not change."""
    replaced = 0
    for name, child in module.named_children():
        if type(child) in _PLAIN_BATCHNORMS:
            if cuda:
                new = torch.nn.SyncBatchNorm.convert_sync_batchnorm(child)
            else:
                new = SyncBatchNormCPU(child.num_features, child.eps, child.momentum, child.affine,
                                       child.track_running_stats)
                new.load_state_dict(child.state_dict())
                new.train(child.training)
            setattr(module, name, new)
            replaced += 1
        else:
            replaced += convert_sync_batchnorm(child, cuda)
    return replaced


class SyncBatchNormCPU(torch.nn.modules.batchnorm._BatchNorm):
    """BatchNorm whose training statistics span every rank's batch, on the CPU (gloo).

    Per channel, the ranks sum (count, sum, sum of squares) with a differentiable all-reduce,
    so the backward pass also flows through the other ranks' inputs, as in torch's
    SyncBatchNorm. Evaluation, or a run that is not distributed, is plain BatchNorm.
    """

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized()):
            return super().forward(input)
        from torch.distributed.nn.functional import all_reduce

        self._check_input_dim(input)
        dims = [d for d in range(input.dim()) if d != 1]
        count = torch.full((input.shape[1],), input.numel() / max(1, input.shape[1]),
                           dtype=input.dtype, device=input.device)
        stats = all_reduce(torch.stack([count, input.sum(dims), (input * input).sum(dims)]))
        total = stats[0]
        mean = stats[1] / total
        var = (stats[2] / total - mean * mean).clamp_min(0.0)  # biased, what normalises
        if self.track_running_stats and self.running_mean is not None:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                factor = (1.0 / float(self.num_batches_tracked)) if self.momentum is None else self.momentum
                unbiased = var * total / (total - 1).clamp_min(1.0)
                self.running_mean.mul_(1 - factor).add_(factor * mean.detach())
                self.running_var.mul_(1 - factor).add_(factor * unbiased.detach())
        shape = [1, -1] + [1] * (input.dim() - 2)
        out = (input - mean.reshape(shape)) * torch.rsqrt(var.reshape(shape) + self.eps)
        if self.affine:
            out = out * self.weight.reshape(shape) + self.bias.reshape(shape)
        return out


def mean_over_ranks(values: dict[str, float], ctx: Context) -> dict[str, float]:
    """The mean of each value over the ranks (a collective: every rank must call it)."""
    if not ctx.active or not values:
        return values
    keys = list(values)  # the same order on every rank (same code path)
    tensor = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=_collective_device(ctx))
    dist.all_reduce(tensor)
    return {k: float(v) / ctx.world_size for k, v in zip(keys, tensor.tolist())}


def any_rank(flag: bool, ctx: Context) -> bool:
    """True when ``flag`` is true on any rank (so all ranks stop together)."""
    if not ctx.active:
        return flag
    tensor = torch.tensor([1 if flag else 0], dtype=torch.int64, device=_collective_device(ctx))
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return bool(tensor.item())


def _collective_device(ctx: Context) -> torch.device:
    """NCCL reduces GPU tensors only; gloo CPU ones."""
    return torch.device("cuda", ctx.local_rank) if dist.get_backend() == "nccl" else torch.device("cpu")


def barrier(ctx: Context) -> None:
    if ctx.active:
        dist.barrier()
