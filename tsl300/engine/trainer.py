"""Seeded, deterministic training of any registered method from a recipe.

One step = one padded batch of ``batch_size`` videos, one forward, one backward, one optimizer
update. The batch order of step ``s`` depends only on the seed and ``s`` (a per-epoch seeded
permutation), and the torch RNG state is saved with every checkpoint, so a resumed run
continues exactly as an uninterrupted one.

Model selection (``select``):

- ``last``: the weights after the final step;
- ``val``: a seeded share (``data.val_fraction``) of the *training* videos is held out; every
  ``eval_every`` steps the model is scored on them (average mAP when they carry ground-truth
  segments, else the negative validation loss) and the best is kept;
- ``test``: as ``val`` but on the test split: the official TSL-Net protocol, optimistic, and
  labelled as such in every output.

Outputs in the run folder: ``recipe.yaml``, ``train_log.csv``, ``eval_log.csv``,
``tensorboard/``, ``checkpoints/{last,best}.*`` and ``model.*`` (the selected weights).
"""
from __future__ import annotations

import csv
import io
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.utils.deterministic
from tqdm.auto import tqdm

from ..data.io import atomic_write_text
from ..data.types import Video
from ..errors import CheckpointError, Tsl300Error
from ..methods.base import TrainingContext
from ..methods.registry import ModelSpec, build_method
from ..recipes import Recipe, dump_recipe
from .batching import collate, epoch_batches, random_crop
from .checkpoint import (atomic_copy_pending, checkpoint_paths, finish_interrupted_save,
                         load_checkpoint, save_checkpoint)
from .inference import evaluate_method, evaluation_pass, validation_loss
from .optim import build_optimizer, set_lr
from .runlock import claim_run_folder

SELECTION_NOTE = {
    "last": "final step",
    "val": "best on a held-out share of the training videos",
    "test": "best on the TEST split (official TSL-Net protocol; optimistic)",
}


class TrainingDiverged(Tsl300Error, RuntimeError):
    """The loss became NaN or infinite; no checkpoint of that state is written."""


@dataclass
class TrainResult:
    run_dir: Path
    model_path: Path
    selected_step: int
    select: str
    selection_metric: float | None
    steps: int
    seconds: float
    history: list[dict] = field(default_factory=list)


def seed_everything(seed: int) -> None:
    """Seed torch (CPU and CUDA) and numpy's legacy RNG; make CPU kernels deterministic."""
    torch.manual_seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.use_deterministic_algorithms(True, warn_only=True)
    # deterministic mode also NaN-fills every new tensor, which costs ~10% of a CPU step and
    # changes no result: our kernels never read uninitialised memory
    torch.utils.deterministic.fill_uninitialized_memory = False


def checkpoint_meta(recipe: Recipe, spec: ModelSpec, step: int | None, metrics: dict | None = None) -> dict:
    """The sidecar fields every model checkpoint carries (what ``load_trained`` rebuilds it from)."""
    return {"recipe": recipe.to_dict(), "recipe_source": recipe.source, "spec": spec.to_json(),
            "classes": list(spec.classes), "method": recipe.method, "step": step, "select": recipe.select,
            "selection_note": SELECTION_NOTE[recipe.select], "metrics": metrics or {}}


def split_validation(videos: Sequence[Video], fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Seeded (fit, val) index lists; at least one video on each side when fraction > 0."""
    n = len(videos)
    if fraction <= 0 or n < 2:
        return list(range(n)), []
    n_val = min(n - 1, max(1, int(round(n * fraction))))
    order = np.random.default_rng([seed, 7]).permutation(n)
    return sorted(order[n_val:].tolist()), sorted(order[:n_val].tolist())


class Trainer:
    """Train ``recipe``'s method on ``train_videos``; ``test_videos`` only for ``select: test``."""

    def __init__(self, recipe: Recipe, train_videos: Sequence[Video], spec: ModelSpec, run_dir: str | Path,
                 test_videos: Sequence[Video] | None = None, progress: bool = True,
                 device: str | torch.device = "cpu", tensorboard: bool = True,
                 time_limit_s: float | None = None):
        self.recipe = recipe
        self.spec = spec
        self.run_dir = Path(run_dir)
        self.device = torch.device(device)
        self.progress = progress
        self.tensorboard = tensorboard
        self.time_limit_s = time_limit_s
        self.stopped_early_at: int | None = None
        self.modalities = list(recipe.data.modalities)
        missing = [m for m in self.modalities if m not in spec.modality_shapes]
        if missing:
            raise Tsl300Error(f"recipe {recipe.source}: modality {missing[0]!r} is not in the data "
                              f"(have {', '.join(spec.modality_shapes)})")
        fit_idx, val_idx = (split_validation(train_videos, recipe.data.val_fraction, recipe.seed)
                            if recipe.select == "val" else (list(range(len(train_videos))), []))
        self.train_videos = [train_videos[i] for i in fit_idx] if val_idx else train_videos
        self.val_videos = [train_videos[i] for i in val_idx]
        if recipe.select == "test" and not test_videos:
            raise Tsl300Error("select 'test' needs the test split")
        self.select_videos = self.val_videos if recipe.select == "val" else (test_videos or [])
        if len(self.train_videos) == 0:
            raise Tsl300Error("no training videos")
        seed_everything(recipe.seed)
        self.method = build_method(recipe, spec).to(self.device)
        self.optimizer = build_optimizer(self.method, recipe.optimizer)

    # ------------------------------------------------------------------ batches

    def batch_indices(self, step: int) -> np.ndarray:
        """Video indices of ``step``: position in the seeded permutation of its epoch."""
        n = len(self.train_videos)
        size = min(self.recipe.batch_size, n)
        per_epoch = max(1, n // size)
        epoch, position = divmod(step, per_epoch)
        rng = np.random.default_rng([self.recipe.seed, epoch])
        batches = list(epoch_batches(n, size, rng))
        return batches[position]

    def make_batch(self, step: int) -> dict:
        rng = np.random.default_rng([self.recipe.seed, step, 1])
        videos = [random_crop(self.train_videos[i], self.recipe.data.max_snippets, rng)
                  for i in self.batch_indices(step)]
        return collate(videos, self.modalities, self.spec.classes, self.device)

    # ------------------------------------------------------------------ checkpoints

    def _meta(self, step: int, metrics: dict | None = None) -> dict:
        return checkpoint_meta(self.recipe, self.spec, step, metrics)

    def save(self, name: str, step: int, metrics: dict | None = None, with_optimizer: bool = True) -> Path:
        meta = self._meta(step, metrics)
        meta["torch_rng"] = torch.get_rng_state().tolist() if with_optimizer else None
        if with_optimizer and self.device.type == "cuda":
            meta["cuda_rng"] = torch.cuda.get_rng_state(self.device).tolist()
        meta["best"] = {"metric": self.best_metric, "step": self.best_step}
        if self.stopped_early_at is not None or (self.time_limit_s is not None and step < self.recipe.schedule.steps):
            meta["stopped_early"] = {"step": step, "of": self.recipe.schedule.steps, "time_limit_s": self.time_limit_s}
        return save_checkpoint(self.run_dir / "checkpoints" / name, self.method, meta,
                               self.optimizer if with_optimizer else None,
                               self.method.training_state() if with_optimizer else None)

    def resume(self) -> int:
        """Load ``checkpoints/last``; returns the step to continue from."""
        path = self.run_dir / "checkpoints" / "last"
        ckpt = load_checkpoint(path, with_optimizer=True)
        saved, now = dict(ckpt.meta.get("recipe") or {}), json.loads(json.dumps(self.recipe.to_dict()))
        for recipe in (saved, now):  # a resumed run may extend its step count, nothing else
            recipe["schedule"] = {k: v for k, v in dict(recipe.get("schedule") or {}).items() if k != "steps"}
        if saved != now:
            diff = sorted(k for k in set(saved) | set(now) if saved.get(k) != now.get(k))
            raise CheckpointError(f"{checkpoint_paths(path)[1]}: saved with a different recipe (differs in "
                                  f"{', '.join(diff)}); resume needs the same recipe and overrides")
        self.method.load_state_dict(ckpt.state_dict)
        self.method.load_training_state(ckpt.extra.get("method_state") or {})
        if ckpt.optimizer_state is not None:
            self.optimizer.load_state_dict(ckpt.optimizer_state)
        if ckpt.meta.get("torch_rng") is not None:
            torch.set_rng_state(torch.tensor(ckpt.meta["torch_rng"], dtype=torch.uint8))
        if ckpt.meta.get("cuda_rng") is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state(torch.tensor(ckpt.meta["cuda_rng"], dtype=torch.uint8), self.device)
        best = ckpt.meta.get("best", {})
        self.best_metric, self.best_step = best.get("metric"), best.get("step")
        return int(ckpt.meta["step"])

    # ------------------------------------------------------------------ evaluation

    def selection_metric(self) -> tuple[float, dict]:
        """Higher is better. mAP when the selection videos carry segments, else -val loss."""
        videos = self.select_videos
        if any(v.segments for v in videos):
            metrics = evaluate_method(self.method, videos, self.modalities, self.spec.classes,
                                      self.recipe.postprocess, self.recipe.batch_size, self.device)
            return float(metrics["average_mAP"]), metrics
        loss = validation_loss(self.method, videos, self.modalities, self.spec.classes,
                               self.recipe.batch_size, self.device)
        return -loss, {"val_loss": loss}

    def hook_context(self) -> TrainingContext:
        """The narrow view of training that :meth:`Method.on_step_end` gets."""
        def predict(videos):
            return evaluation_pass(self.method, videos, self.modalities, self.spec.classes,
                                   self.recipe.batch_size, self.device)

        return TrainingContext(videos=self.train_videos, total_steps=self.recipe.schedule.steps, predict=predict,
                               reset_optimizer=self.optimizer.state.clear)

    # ------------------------------------------------------------------ loop

    def fit(self, resume: bool = False) -> TrainResult:
        """Train (or resume) into ``run_dir``, which this process claims for the whole run."""
        with claim_run_folder(self.run_dir):
            return self._fit(resume)

    def _fit(self, resume: bool) -> TrainResult:
        schedule = self.recipe.schedule
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "recipe.yaml").write_text(dump_recipe(self.recipe), encoding="utf-8")
        self.best_metric, self.best_step = None, None
        start = self.resume() if resume else 0
        mode = "a" if resume else "w"
        if resume:  # rows logged after the checkpoint (the run died before the next save)
            for name in ("train_log.csv", "eval_log.csv"):
                _drop_rows_after(self.run_dir / name, start)
        history: list[dict] = []
        writer = _tensorboard_writer(self.run_dir / "tensorboard") if self.tensorboard else None
        train_log = MetricLog(self.run_dir / "train_log.csv", mode, "train", writer)
        eval_log = MetricLog(self.run_dir / "eval_log.csv", mode, self.recipe.select, writer)
        hook_context = self.hook_context()
        began = time.perf_counter()
        bar = tqdm(total=schedule.steps, initial=start, disable=not self.progress, desc=self.recipe.name or "train",
                   unit="step", dynamic_ncols=True)
        try:
            for step in range(start, schedule.steps):
                self.method.train()
                factor = set_lr(self.optimizer, step, schedule)
                batch = self.make_batch(step)
                outputs = None
                try:
                    outputs = self.method(batch)
                    loss, terms = self.method.compute_loss(outputs, batch, step)
                except RuntimeError as exc:  # e.g. BCE refusing the NaN probabilities of huge weights
                    bad = _first_nan(self.method.named_parameters(), outputs)
                    if bad is None:
                        raise
                    raise TrainingDiverged(
                        f"training diverged at step {step}: {bad} is NaN "
                        f"({str(exc).splitlines()[0]}); last good checkpoint: "
                        f"{self.run_dir / 'checkpoints' / 'last.safetensors'} "
                        "(lower optimizer.lr or set schedule.grad_clip)") from None
                if not torch.isfinite(loss):
                    raise TrainingDiverged(
                        f"training diverged at step {step}: loss is {loss.item()} "
                        f"(terms: {', '.join(f'{k}={v:.4g}' for k, v in terms.items())}); "
                        f"last good checkpoint: {self.run_dir / 'checkpoints' / 'last.safetensors'} "
                        "(lower optimizer.lr or set schedule.grad_clip)")
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                grad_norm = None
                if schedule.grad_clip:
                    grad_norm = float(torch.nn.utils.clip_grad_norm_(self.method.parameters(), schedule.grad_clip))
                    if not math.isfinite(grad_norm):
                        raise TrainingDiverged(f"training diverged at step {step}: gradient norm is {grad_norm}")
                self.optimizer.step()
                self.method.on_step_end(step, hook_context)
                done = step + 1
                bar.update(1)
                if done % max(1, schedule.log_every) == 0 or done == schedule.steps:
                    row = {"step": done, "loss": float(loss.detach()), "lr": self.optimizer.param_groups[0]["lr"],
                           "lr_factor": factor, "grad_norm": grad_norm if grad_norm is not None else "",
                           "elapsed_s": round(time.perf_counter() - began, 3),
                           **{k: float(v) for k, v in terms.items()}}
                    train_log.write(row, done)
                    bar.set_postfix(loss=f"{float(loss.detach()):.4f}")
                at_eval = schedule.eval_every and done % schedule.eval_every == 0
                if self.recipe.select != "last" and (at_eval or done == schedule.steps):
                    metric, metrics = self.selection_metric()
                    row = {"step": done, "split": self.recipe.select, "selection_metric": metric, **metrics}
                    row = {k: v for k, v in row.items() if isinstance(v, (int, float, str))}
                    history.append(row)
                    eval_log.write(row, done)
                    if self.best_metric is None or metric > self.best_metric:
                        self.best_metric, self.best_step = metric, done
                        self.save("best", done, metrics, with_optimizer=False)
                out_of_time = self.time_limit_s is not None and time.perf_counter() - began > self.time_limit_s
                at_ckpt = (schedule.checkpoint_every and done % schedule.checkpoint_every == 0) or at_eval
                if at_ckpt or done == schedule.steps or out_of_time:
                    self.save("last", done)
                if out_of_time and done < schedule.steps:
                    self.stopped_early_at = done
                    bar.write(f"time limit reached: stopped at step {done} of {schedule.steps}")
                    break
        finally:
            bar.close()
            train_log.close()
            eval_log.close()
            if writer is not None:
                writer.close()
        chosen = "last" if self.recipe.select == "last" or self.best_step is None else "best"
        last_step = self.stopped_early_at or schedule.steps
        selected_step = last_step if chosen == "last" else int(self.best_step)
        model_path = self._publish(chosen)
        return TrainResult(run_dir=self.run_dir, model_path=model_path, selected_step=selected_step,
                           select=self.recipe.select, selection_metric=self.best_metric, steps=last_step,
                           seconds=time.perf_counter() - began, history=history)

    def _publish(self, name: str) -> Path:
        """Copy the selected checkpoint (weights + sidecar, no optimizer) to ``model.*``.

        Both copies go through the checkpoint's two-phase save (``.pending`` files, sidecar
        last, then renames), so a crash never pairs new weights with an old sidecar.
        """
        src_w, src_j, _ = checkpoint_paths(self.run_dir / "checkpoints" / name)
        model = self.run_dir / "model"
        dst_w, dst_j, _ = checkpoint_paths(model)
        finish_interrupted_save(model)
        for src, dst in ((src_w, dst_w), (src_j, dst_j)):
            atomic_copy_pending(src, dst)
        finish_interrupted_save(model)
        return dst_w


class MetricLog:
    """One CSV log (columns from its first row; appended to on resume) that also sends each
    float to TensorBoard as ``tag/name``."""

    def __init__(self, path: Path, mode: str, tag: str, writer: Any):
        self.handle = open(path, mode, newline="", encoding="utf-8")
        self.tag, self.writer, self.table = tag, writer, None

    def write(self, row: dict, step: int) -> None:
        if self.table is None:
            self.table = _csv_writer(self.handle, row, write_header=self.handle.tell() == 0)
        self.table.writerow({k: row.get(k, "") for k in self.table.fieldnames})
        self.handle.flush()
        if self.writer is not None:
            for key, value in row.items():
                if key != "step" and isinstance(value, float):
                    self.writer.add_scalar(f"{self.tag}/{key}", value, step)

    def close(self) -> None:
        self.handle.close()


def _first_nan(parameters, outputs) -> str | None:
    """Name of the first parameter (non-finite) or model output (NaN) that shows divergence."""
    for name, value in parameters:
        if not torch.isfinite(value).all():
            return f"parameter '{name}'"
    items = outputs.items() if isinstance(outputs, dict) else ()
    for name, value in items:
        if torch.is_tensor(value) and value.is_floating_point() and torch.isnan(value).any():
            return f"model output '{name}'"
    return None


def _drop_rows_after(path: Path, step: int) -> None:
    """Keep the header and the rows of steps <= ``step`` of a log CSV (atomically)."""
    if not path.is_file():
        return
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    if len(rows) < 2 or "step" not in rows[0]:
        return
    column = rows[0].index("step")
    kept = [rows[0]] + [r for r in rows[1:] if len(r) > column and r[column].isdigit() and int(r[column]) <= step]
    if len(kept) == len(rows):
        return
    text = io.StringIO(newline="")
    csv.writer(text).writerows(kept)
    atomic_write_text(path, text.getvalue())


def _csv_writer(handle, row: dict, write_header: bool) -> csv.DictWriter:
    writer = csv.DictWriter(handle, fieldnames=list(row), extrasaction="ignore")
    if write_header:
        writer.writeheader()
    return writer


def _tensorboard_writer(path: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is a dependency, but a stripped install still trains
        return None
    return SummaryWriter(log_dir=str(path))
