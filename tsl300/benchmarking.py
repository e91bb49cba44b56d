"""``tsl300 bench``: train and test several recipes on one dataset, one results table.

Every recipe runs through the same trainer, post-processing and evaluator, with the same
seeds and selection rule, so the table compares methods on equal terms. The table is written
as markdown and CSV (pandas) with one row per recipe: supervision, mAP per tIoU, average mAP,
Recall, F2 (TSL-300 paper columns, mean +- std over seeds) and training time.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .data.io import atomic_write_text
from .errors import RecipeError
from .recipes import load_recipe
from .suggest import did_you_mean, missing_path_hint

MAIN_RECIPE_NAMES = ("{folder}.yaml", "flagship.yaml")
"""Which YAML in ``recipes/<folder>/`` is that method's main recipe (the others are variants)."""

SKIP_IN_ALL = ("default", "ablations")
"""Folders that ``--recipes all`` leaves out: the shipped default model's recipe trains on
other features, and ablations are run explicitly."""


def default_recipes_dir() -> Path:
    """``recipes/`` of the source checkout (editable install) or of the current folder."""
    here = Path(__file__).resolve().parents[1] / "recipes"
    return here if here.is_dir() else Path.cwd() / "recipes"


def main_recipe(folder: Path) -> Path | None:
    for pattern in MAIN_RECIPE_NAMES:
        candidate = folder / pattern.format(folder=folder.name)
        if candidate.is_file():
            return candidate
    return None


def resolve_recipes(names: Sequence[str], recipes_dir: Path) -> list[Path]:
    """``all``, method folder names (``lacp``) or YAML paths -> recipe files, in order."""
    out: list[Path] = []
    for name in names:
        if name == "all":
            if not recipes_dir.is_dir():
                raise RecipeError(f"{recipes_dir}: recipes folder not found")
            for folder in sorted(p for p in recipes_dir.iterdir() if p.is_dir()):
                if folder.name in SKIP_IN_ALL:
                    continue
                found = main_recipe(folder)
                if found is not None:
                    out.append(found)
            continue
        path = Path(name)
        if path.suffix in (".yaml", ".yml"):
            if not path.is_file():
                raise RecipeError(f"{path}: recipe file not found{missing_path_hint(path)}")
            out.append(path)
            continue
        found = main_recipe(recipes_dir / name) if (recipes_dir / name).is_dir() else None
        if found is None:
            known = sorted(p.name for p in recipes_dir.iterdir() if p.is_dir()) if recipes_dir.is_dir() else []
            raise RecipeError(f"no recipe named {name!r} in {recipes_dir}{did_you_mean(name, known)} "
                              f"(known: {', '.join(known)})")
        out.append(found)
    if not out:
        raise RecipeError(f"no recipes selected from {recipes_dir}")
    return list(dict.fromkeys(out))


@dataclass
class BenchRow:
    recipe: str
    method: str
    supervision: str
    per_seed: list[dict[str, float]]
    train_seconds: list[float]

    def summary(self) -> dict[str, object]:
        row: dict[str, object] = {"recipe": self.recipe, "method": self.method, "supervision": self.supervision,
                                  "seeds": len(self.per_seed)}
        for key in self.per_seed[0]:
            values = np.array([r[key] for r in self.per_seed], dtype=float)
            row[key] = float(values.mean())
            row[f"{key}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        row["train_s"] = float(np.mean(self.train_seconds))
        return row


def overrides_for(recipe_path: Path, overrides: Sequence[str]) -> list[str]:
    """The ``--set`` items that apply to one recipe: ``KEY=VALUE`` applies to every recipe,
    ``NAME:KEY=VALUE`` only to recipes whose file or folder name starts with NAME."""
    mine = []
    for item in overrides:
        key = item.split("=", 1)[0]
        if ":" in key:
            prefix, item = item.split(":", 1)
            if not (recipe_path.stem.startswith(prefix) or recipe_path.parent.name.startswith(prefix)):
                continue
        mine.append(item)
    return mine


def run_seed(recipe_path: Path, seed: int, data: Path, out: Path, overrides: Sequence[str], device,
             progress: bool, threads: int | None = None) -> tuple[dict[str, float], float]:
    """Train one seed of one recipe and test it on the test split: (headline numbers, train s).

    A top-level function so that ``--jobs`` can run it in worker processes."""
    from .engine import runs

    if threads:
        import torch

        torch.set_num_threads(threads)
    recipe = runs.with_seed(load_recipe(recipe_path, overrides_for(recipe_path, overrides)), seed)
    run_dir = out / recipe_path.parent.name / recipe_path.stem / f"seed_{seed}"
    started = time.perf_counter()
    runs.train_one(recipe, data, run_dir, progress=progress, device=device)
    seconds = time.perf_counter() - started
    tested = runs.test_model(run_dir, data, device=device)
    if tested["metrics"] is None:
        raise RecipeError(f"{data}: the test split has no ground-truth segments to evaluate")
    return runs.headline(tested["metrics"]), seconds


def bench_row(recipe_path: Path, overrides: Sequence[str], results: Sequence[tuple[dict, float]]) -> BenchRow:
    """One table row from the per-seed results of a recipe."""
    from .methods.registry import get_method

    recipe = load_recipe(recipe_path, overrides_for(recipe_path, overrides))
    name = recipe.name or f"{recipe_path.parent.name}/{recipe_path.stem}"
    supervision = getattr(get_method(recipe.method), "supervision", "?")
    return BenchRow(name, recipe.method, supervision, [r for r, _ in results], [t for _, t in results])


def results_table(rows: Sequence[BenchRow]) -> pd.DataFrame:
    return pd.DataFrame([r.summary() for r in rows])


def to_markdown(table: pd.DataFrame, caption: str) -> str:
    """Markdown with ``mean ± std`` cells; written by hand to avoid the optional tabulate dep."""
    metric_cols = [c for c in table.columns if c.startswith("mAP@") and not c.endswith("_std")]
    metric_cols += ["avg_mAP", "Recall", "F2"]
    header = ["recipe", "supervision", *metric_cols, "train time (s)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, row in table.iterrows():
        cells = [str(row["recipe"]), str(row["supervision"])]
        for col in metric_cols:
            std = row[f"{col}_std"]
            cells.append(f"{row[col]:.2f} ± {std:.2f}" if row["seeds"] > 1 else f"{row[col]:.2f}")
        cells.append(f"{row['train_s']:.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    return caption + "\n\n" + "\n".join(lines) + "\n"


def write_table(table: pd.DataFrame, out: Path, caption: str) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = out / "results.csv", out / "results.md"
    atomic_write_text(csv_path, table.to_csv(index=False, float_format="%.4f"))
    atomic_write_text(md_path, to_markdown(table, caption))
    return md_path, csv_path
