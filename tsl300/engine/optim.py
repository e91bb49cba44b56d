"""Optimizer and learning-rate schedule from a recipe."""
from __future__ import annotations

import math

import torch

from ..errors import RecipeError
from ..recipes import OptimizerConfig, ScheduleConfig


def parameter_groups(model: torch.nn.Module, config: OptimizerConfig) -> list[dict]:
    """One group per ``lr_multipliers`` prefix (first matching prefix wins) plus the rest."""
    prefixes = list(config.lr_multipliers)
    groups = {p: [] for p in prefixes}
    rest = []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        match = next((p for p in prefixes if name == p or name.startswith(p + ".")), None)
        (groups[match] if match is not None else rest).append(param)
    unused = [p for p in prefixes if not groups[p]]
    if unused:
        raise RecipeError(f"optimizer.lr_multipliers: no parameter name starts with {unused[0]!r}")
    out = [{"params": rest, "lr": config.lr, "name": "default"}] if rest else []
    out += [{"params": groups[p], "lr": config.lr * config.lr_multipliers[p], "name": p} for p in prefixes]
    return out


def build_optimizer(model: torch.nn.Module, config: OptimizerConfig) -> torch.optim.Optimizer:
    groups = parameter_groups(model, config)
    if config.name == "adam":  # L2 penalty added to the gradient (torch Adam, as TSL-Net)
        return torch.optim.Adam(groups, lr=config.lr, betas=config.betas, weight_decay=config.weight_decay)
    if config.name == "adamw":
        return torch.optim.AdamW(groups, lr=config.lr, betas=config.betas, weight_decay=config.weight_decay)
    if config.name == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    raise RecipeError(f"unknown optimizer {config.name!r}")


def lr_factor(step: int, config: ScheduleConfig) -> float:
    """Multiplier on each group's base lr at ``step`` (0-based): linear warmup then the decay."""
    if config.warmup_steps and step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    span = max(1, config.steps - config.warmup_steps)
    progress = min(1.0, (step - config.warmup_steps) / span)
    floor = config.min_lr_ratio
    if config.kind == "cosine":
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))
    if config.kind == "linear":
        return floor + (1 - floor) * (1 - progress)
    return 1.0


def set_lr(optimizer: torch.optim.Optimizer, step: int, config: ScheduleConfig) -> float:
    """Apply the schedule for ``step``; returns the factor. Base lrs are kept in ``initial_lr``."""
    factor = lr_factor(step, config)
    for group in optimizer.param_groups:
        group.setdefault("initial_lr", group["lr"])
        group["lr"] = group["initial_lr"] * factor
    return factor
