"""Resuming the baselines that keep state of their own between steps gives the uninterrupted run.

SF-Net's expanded frame labels, LACP's searched pseudo labels and feature-sampling generator,
and RefineLoc's pseudo ground truth and dropping generator live in the method, not in its
weights; a run stopped after they were made and resumed from its checkpoint must end with the
same weights as a run that never stopped.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tsl300.data.synth import generate
from tsl300.engine import runs
from tsl300.engine.trainer import Trainer
from tsl300.recipes import load_recipe

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
STOP, STEPS = 5, 8
CASES = {  # narrow layers; each method's own schedule fires before the stop and after it
    "sfnet": ("sfnet/sfnet_cpu.yaml", ["model.audio_dim=8", "model.hidden=16", "model.t_max=40",
                                       "model.t_max_long=60", "model.expand_step=4"]),
    "lacp": ("lacp/lacp_cpu.yaml", ["model.audio_dim=8", "model.search_freq=3"]),
    "refineloc": ("refineloc/refineloc.yaml", ["model.audio_dim=8", "loss.round_steps=3"]),
    "sfnet_no_expansion": ("sfnet/sfnet_cpu.yaml", ["model.audio_dim=8", "model.hidden=16", "model.t_max=40",
                                                    "model.t_max_long=60", "model.expand_step=0"]),
}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synth")
    generate(root, n_train=6, n_test=2, seed=5, snippets_mean=40)
    return root


def _trainer(name: str, data: Path, run_dir: Path, steps: int) -> Trainer:
    recipe_file, extra = CASES[name]
    recipe = load_recipe(RECIPES / recipe_file, extra + [f"schedule.steps={steps}", "schedule.log_every=1",
                                                         "schedule.eval_every=0", "batch_size=3"])
    dataset = runs.open_split(data, "train", recipe)
    spec = runs.spec_from_dataset(dataset, recipe.data.modalities)
    return Trainer(recipe, list(dataset), spec, run_dir, progress=False, tensorboard=False)


@pytest.mark.parametrize("name", sorted(CASES))
def test_resume_after_the_methods_own_schedule_matches_a_straight_run(name, data, tmp_path):
    torch.set_num_threads(1)
    straight = _trainer(name, data, tmp_path / "straight", STEPS)
    straight.fit()
    _trainer(name, data, tmp_path / "part", STOP).fit()
    resumed = _trainer(name, data, tmp_path / "part", STEPS)
    resumed.fit(resume=True)
    made = {"sfnet": "expanded", "lacp": "dense", "refineloc": "pseudo"}.get(name)
    if made:  # the state the method made before the stop was really there to restore
        assert resumed.method.training_state()[made]
    want, got = straight.method.state_dict(), resumed.method.state_dict()
    different = [k for k in want if not torch.equal(want[k], got[k])]
    assert not different, f"{name}: resumed weights differ in {different[:5]}"


def test_training_state_round_trips_through_a_checkpoint_exactly(tmp_path):
    import numpy as np

    from tsl300.engine.checkpoint import load_checkpoint, save_checkpoint
    from tsl300.methods.base import numpy_generator_state, restore_numpy_generator

    rng = np.random.RandomState(3)
    rng.standard_normal(5)  # leaves a cached gaussian behind
    state = {"counter": 7, "labels": {"v/1": np.array([-1, 0, 1], dtype=np.int64)},
             "dense": np.linspace(0, 1, 6, dtype=np.float32).reshape(3, 2), "flags": np.array([True, False]),
             "rng": numpy_generator_state(rng), "pairs": [["v1", {"t-start": 0.1, "label": 1}]]}
    model = torch.nn.Linear(2, 2)
    save_checkpoint(tmp_path / "ck", model, {"step": 1}, torch.optim.SGD(model.parameters(), lr=0.1), state)
    back = load_checkpoint(tmp_path / "ck", with_optimizer=True).extra["method_state"]
    assert back["counter"] == 7 and back["pairs"] == state["pairs"]
    for key in ("dense", "flags"):
        assert back[key].dtype == state[key].dtype and np.array_equal(back[key], state[key])
    assert np.array_equal(back["labels"]["v/1"], state["labels"]["v/1"])
    assert back["rng"]["keys"].dtype == np.uint32
    restored = np.random.RandomState(0)
    restore_numpy_generator(restored, back["rng"])
    assert np.array_equal(restored.standard_normal(4), rng.standard_normal(4))
    assert load_checkpoint(tmp_path / "ck").extra == {}  # loading for inference reads none of it
