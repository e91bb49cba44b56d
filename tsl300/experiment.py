"""``tsl300.train()`` and ``tsl300.test()``: what ``tsl300 train`` and ``tsl300 test`` do, as Python
calls. The commands only parse their arguments, call these and print the report (as
``tsl300 localize`` mirrors :func:`tsl300.localize`).

>>> import tsl300                                                                    # doctest: +SKIP
>>> report = tsl300.train("recipes/tsl300/flagship.yaml", "data/TSL300", "runs/flagship",
...                       seeds=[1, 2, 3], overrides=["schedule.steps=200"])         # doctest: +SKIP
>>> print(report.summary_table())                                                    # doctest: +SKIP
>>> tested = tsl300.test("runs/flagship/seed_1", "data/TSL300")                     # doctest: +SKIP
>>> tested["metrics"]["average_mAP"]                                                 # doctest: +SKIP
"""
from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import DataError, RecipeError, Tsl300Error
from .recipes import SELECT_CHOICES, Recipe, load_recipe


@dataclass
class SeedRun:
    """One trained seed: its run folder, what training returned and its test-split metrics
    (``None`` when it was not tested)."""

    seed: int
    run_dir: Path
    result: Any  # tsl300.engine.trainer.TrainResult
    metrics: dict[str, Any] | None = None


@dataclass
class TrainReport:
    """What :func:`train` did: one :class:`SeedRun` per seed, notes (e.g. why nothing was tested)
    and the ``summary.json`` written when the seeds were tested."""

    recipe: Recipe
    runs: list[SeedRun]
    notes: list[str] = field(default_factory=list)
    summary_path: Path | None = None

    def headline_rows(self) -> list[dict[str, float]]:
        """Average mAP, Recall, F2 and mAP per tIoU (percent) of each tested seed."""
        from .engine.runs import headline

        return [headline(r.metrics) for r in self.runs if r.metrics is not None]

    def summary_table(self) -> str | None:
        """Per-seed rows plus mean and sample std (the table ``tsl300 train`` prints); None untested."""
        from .engine.runs import format_summary

        tested = [r for r in self.runs if r.metrics is not None]
        if not tested:
            return None
        return format_summary([r.seed for r in tested], self.headline_rows(), self.recipe.select)


def train(recipe: str | os.PathLike | Recipe, data: str | os.PathLike, out: str | os.PathLike, *,
          seeds: Sequence[int] | None = None, select: str | None = None, overrides: Sequence[str] = (),
          resume: bool = False, test: bool = True, progress: bool = False, device: Any = "auto",
          time_limit_s: float | None = None) -> TrainReport:
    """Train ``recipe`` (a YAML path or a :class:`~tsl300.recipes.Recipe`) on the dataset folder
    ``data`` into ``out``; then, unless ``test=False``, test each seed on the test split.

    ``seeds``: several seeds train into ``out/seed_N`` each (default: the recipe's one seed,
    into ``out``). ``select``: model selection (val | last | test), default the recipe's.
    ``overrides``: ``KEY=VALUE`` recipe overrides (as ``--set``; only with a recipe path).
    ``device``: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda:N"`` or a ``torch.device``.
    """
    from .engine import runs
    from .engine.devices import configure
    from .engine.distributed import is_main_process

    recipe = _recipe(recipe, select, overrides)
    device = configure(device) if isinstance(device, str) else device
    seeds = _check_seeds(seeds, recipe.seed)
    out = Path(out)
    # one dataset for every seed: the point-annotator draw (data.point_source: random) uses the
    # recipe's seed, so all seeds see the same point labels and differ in init and batch order
    train_set = runs.open_split(data, "train", recipe)
    spec = runs.spec_from_dataset(train_set, recipe.data.modalities)
    train_videos = list(train_set)
    report = TrainReport(recipe, [])
    test_videos = None
    if test or recipe.select == "test":
        try:
            test_videos = list(runs.open_split(data, "test", recipe, with_points=False))
        except DataError as exc:
            if recipe.select == "test":
                raise
            report.notes.append(f"no test split to evaluate on ({exc}); training only")
    no_test = not test or not test_videos or not any(v.segments for v in test_videos)
    for seed in seeds:
        seeded = runs.with_seed(recipe, seed)
        run_dir = out / f"seed_{seed}" if len(seeds) > 1 else out
        result = runs.train_one(seeded, data, run_dir, resume=resume, progress=progress,
                                train_videos=train_videos, test_videos=test_videos, spec=spec, device=device,
                                time_limit_s=time_limit_s)
        run = SeedRun(seed, run_dir, result)
        report.runs.append(run)
        if no_test or not is_main_process():  # under torchrun rank 0 tests and writes
            continue
        run.metrics = runs.test_model(run_dir, data, videos=test_videos, device=device)["metrics"]
        (run_dir / "metrics_test.json").write_text(json.dumps(run.metrics, indent=2, default=float),
                                                   encoding="utf-8")
    tested = [r for r in report.runs if r.metrics is not None]
    if tested:
        report.summary_path = out / "summary.json"
        runs.write_summary(report.summary_path, recipe, [r.seed for r in tested], report.headline_rows(),
                           [r.result.seconds for r in tested], [r.result.steps for r in tested])
    return report


def test(model: str | os.PathLike, data: str | os.PathLike, *, split: str = "test",
         output: str | os.PathLike | None = None, batch_size: int | None = None,
         device: Any = "auto") -> dict[str, Any]:
    """Predict ``split`` of ``data`` with a trained model (run folder or checkpoint), write the
    results JSON (default ``RUN/predictions_SPLIT.json``) and evaluate it.

    Returns ``{"predictions_path", "metrics" (None without ground truth), "meta"}``.
    """
    from .engine.devices import configure
    from .engine.runs import test_model

    device = configure(device) if isinstance(device, str) else device
    return test_model(model, data, split=split, output=output, batch_size=batch_size, device=device)


test.__test__ = False  # a library function named "test", not a pytest test


def _recipe(recipe: str | os.PathLike | Recipe, select: str | None, overrides: Sequence[str]) -> Recipe:
    if select is not None and select not in SELECT_CHOICES:
        raise RecipeError(f"select must be one of {', '.join(SELECT_CHOICES)}, got {select!r}")
    if isinstance(recipe, Recipe):
        if overrides:
            raise RecipeError("overrides apply to a recipe file; change a Recipe with dataclasses.replace")
        return dataclasses.replace(recipe, select=select) if select else recipe
    extra = [f"select={select}"] if select else []
    return load_recipe(recipe, [*overrides, *extra])


def _check_seeds(seeds: Sequence[int] | None, default: int) -> list[int]:
    if seeds is None:
        return [default]
    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise Tsl300Error(f"seeds {seeds}: expected distinct integers")
    return seeds
