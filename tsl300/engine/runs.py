"""The steps of :func:`tsl300.train` / :func:`tsl300.test`: open data, train a seed, predict and
evaluate a split with a trained model (loaded by :mod:`tsl300.engine.loader`), summarise seeds."""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.io import atomic_write_text
from ..data.types import Video
from ..errors import SpecMismatchError
from ..methods.registry import ModelSpec
from ..recipes import Recipe
from .inference import evaluate_predictions, predict, write_results
from .loader import load_trained
from .trainer import SELECTION_NOTE, Trainer, TrainResult


def open_split(data: str | Path, split: str, recipe: Recipe, with_points: bool = True):
    """``tsl300.data.load_dataset`` with the recipe's modalities, point source and options."""
    from ..data.dataset import load_dataset

    options = dict(recipe.data.loader_options)
    points = (recipe.data.point_source or "random") if with_points else "none"
    return load_dataset(data, split, modalities=list(recipe.data.modalities), points=points,
                        seed=recipe.seed, **options)


def spec_from_dataset(dataset, modalities: Sequence[str]) -> ModelSpec:
    shapes = {m: tuple(int(x) for x in dataset.modality_shapes[m]) for m in modalities}
    specs = {m: dataset.specs.get(m, {}) for m in modalities} if getattr(dataset, "specs", None) else {}
    return ModelSpec(modality_shapes=shapes, classes=tuple(dataset.classes),
                     extractor_specs={k: v for k, v in specs.items() if v})


def check_spec(saved: ModelSpec, dataset, modalities: Sequence[str], where: str) -> None:
    """A checkpoint only runs on features with the shapes and extractor specs it was trained on."""
    have = spec_from_dataset(dataset, modalities)
    for m in modalities:
        if tuple(saved.modality_shapes.get(m, ())) != tuple(have.modality_shapes[m]):
            raise SpecMismatchError(
                f"{where}: modality {m!r} was trained on per-snippet shape {saved.modality_shapes.get(m)} "
                f"but {dataset.root} has {have.modality_shapes[m]}")
        a, b = saved.extractor_specs.get(m), have.extractor_specs.get(m)
        if a and b and a != b:
            raise SpecMismatchError(f"{where}: modality {m!r} was trained with extractor spec {a} "
                                    f"but {dataset.root} was extracted with {b}")
    if tuple(saved.classes) != tuple(have.classes):
        raise SpecMismatchError(f"{where}: trained on classes {saved.classes}, data has {have.classes}")


def train_one(recipe: Recipe, data: str | Path, run_dir: str | Path, resume: bool = False,
              progress: bool = True, train_videos: Sequence[Video] | None = None,
              test_videos: Sequence[Video] | None = None, spec: ModelSpec | None = None,
              device: str | torch.device = "cpu", time_limit_s: float | None = None) -> TrainResult:
    """Train one seed of ``recipe`` on ``data`` into ``run_dir``."""
    if train_videos is None:
        dataset = open_split(data, "train", recipe)
        spec = spec_from_dataset(dataset, recipe.data.modalities)
        train_videos = list(dataset)
    if recipe.select == "test" and test_videos is None:
        test_videos = list(open_split(data, "test", recipe, with_points=False))
    trainer = Trainer(recipe, train_videos, spec, run_dir, test_videos=test_videos, progress=progress,
                      device=device, time_limit_s=time_limit_s)
    return trainer.fit(resume=resume)


def test_model(path: str | Path, data: str | Path, split: str = "test", output: str | Path | None = None,
               batch_size: int | None = None, videos: Sequence[Video] | None = None,
               device: str | torch.device = "cpu") -> dict[str, Any]:
    """Predict ``split`` with a trained model, write the results JSON and evaluate it.

    Returns ``{"predictions_path", "metrics" (None without ground truth), "meta"}``.
    """
    method, recipe, spec, meta, weights = load_trained(path, device)
    if videos is None:
        dataset = open_split(data, split, recipe, with_points=False)
        check_spec(spec, dataset, recipe.data.modalities, str(weights))
        videos = list(dataset)
    predictions = predict(method, videos, recipe.data.modalities, spec.classes, recipe.postprocess,
                          batch_size or recipe.batch_size, device)
    run = Path(path) if Path(path).is_dir() else Path(path).parent
    if run.name == "checkpoints":
        run = run.parent
    out = Path(output) if output else run / f"predictions_{split}.json"
    write_results(out, predictions, {"recipe": recipe.name, "method": recipe.method, "step": meta.get("step"),
                                     "selection": meta.get("selection_note", SELECTION_NOTE.get(recipe.select))})
    metrics = evaluate_predictions(videos, predictions) if any(v.segments for v in videos) else None
    return {"predictions_path": out, "metrics": metrics, "meta": meta}


SUMMARY_KEYS = ("average_mAP", "average_recall", "average_F2")


def headline(metrics: dict[str, Any]) -> dict[str, float]:
    """Average mAP, Recall, F2 (TSL-300 paper columns) and mAP per tIoU, in percent."""
    out = {"avg_mAP": 100 * float(metrics["average_mAP"]),
           "Recall": 100 * float(np.mean(metrics["recall_curve_mean"])),
           "F2": 100 * float(np.mean(metrics["F2"]))}
    for t, value in zip(metrics["tiou_thresholds"], metrics["mAP"]):
        out[f"mAP@{t:g}"] = 100 * float(value)
    return out


def summarise(rows: Sequence[dict[str, float]]) -> dict[str, tuple[float, float]]:
    """Mean and sample std (ddof=1; 0 for one seed) of each headline column."""
    keys = list(rows[0])
    out = {}
    for key in keys:
        values = np.array([r[key] for r in rows], dtype=float)
        out[key] = (float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0)
    return out


def format_summary(seeds: Sequence[int], rows: Sequence[dict[str, float]], select: str) -> str:
    keys = list(rows[0])
    width = max(9, max(len(k) for k in keys) + 1)
    lines = [f"{'seed':<8}" + "".join(f"{k:>{width}}" for k in keys)]
    for seed, row in zip(seeds, rows):
        lines.append(f"{seed:<8}" + "".join(f"{row[k]:>{width}.2f}" for k in keys))
    stats = summarise(rows)
    if len(rows) > 1:
        lines.append(f"{'mean':<8}" + "".join(f"{stats[k][0]:>{width}.2f}" for k in keys))
        lines.append(f"{'std':<8}" + "".join(f"{stats[k][1]:>{width}.2f}" for k in keys))
    lines.append(f"(percent; model selection: {SELECTION_NOTE[select]}; "
                 f"mean +- sample std over {len(rows)} seed{'s' if len(rows) > 1 else ''})")
    return "\n".join(lines)


def write_summary(path: Path, recipe: Recipe, seeds: Sequence[int], rows: Sequence[dict[str, float]],
                  seconds: Sequence[float], steps: Sequence[int] | None = None) -> None:
    stats = summarise(rows)
    data = {"recipe": recipe.name, "method": recipe.method, "select": recipe.select,
            "selection_note": SELECTION_NOTE[recipe.select], "seeds": list(seeds),
            "per_seed": [dict(r, seed=s, train_seconds=t, steps=n)
                         for s, r, t, n in zip(seeds, rows, seconds, steps or [recipe.schedule.steps] * len(seeds))],
            "recipe_steps": recipe.schedule.steps,
            "mean": {k: v[0] for k, v in stats.items()}, "std": {k: v[1] for k, v in stats.items()},
            "train_seconds_mean": float(np.mean(seconds))}
    atomic_write_text(path, json.dumps(data, indent=2))


def with_seed(recipe: Recipe, seed: int) -> Recipe:
    return dataclasses.replace(recipe, seed=seed)

