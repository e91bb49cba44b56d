"""One tiny training run through the real trainer, for the methods' end-to-end tests: a
synthetic TSL-300-shaped dataset, a recipe with small overrides, the train log's rows."""
from __future__ import annotations

import csv
from pathlib import Path

from tsl300.data.synth import generate
from tsl300.engine import runs
from tsl300.engine.trainer import Trainer
from tsl300.recipes import load_recipe

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def tiny_synth(root: Path, seed: int) -> Path:
    """6 training and 3 test videos of about 40 snippets."""
    generate(root, n_train=6, n_test=3, seed=seed, snippets_mean=40)
    return root


def train_tiny(recipe: str, overrides: list[str], data: Path, out: Path) -> tuple[Trainer, list[dict]]:
    """Train ``recipes/<recipe>`` on ``data`` into ``out``; return the trainer and its log rows."""
    loaded = load_recipe(RECIPES / recipe, overrides)
    dataset = runs.open_split(data, "train", loaded)
    spec = runs.spec_from_dataset(dataset, loaded.data.modalities)
    trainer = Trainer(loaded, list(dataset), spec, out, progress=False, tensorboard=False)
    trainer.fit()
    with open(out / "train_log.csv", newline="") as handle:
        return trainer, list(csv.DictReader(handle))
