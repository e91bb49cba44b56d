"""Engine training loop: seeded determinism, exact resume, loss goes down, divergence guard,
validation hold-out and model selection."""
from __future__ import annotations

import pytest
import torch

from test_engine import CLASSES, MODALITIES, flagship_recipe, spec_of, videos  # noqa: F401 (fixture)
from tsl300.engine.batching import collate
from tsl300.engine.checkpoint import load_checkpoint
from tsl300.engine.trainer import Trainer, TrainingDiverged, split_validation
from tsl300.methods.base import Method
from tsl300.methods.registry import ModelSpec, register_method
from tsl300.recipes import recipe_from_dict





def train(videos, run_dir, **over):
    recipe = flagship_recipe(**over)
    trainer = Trainer(recipe, videos, spec_of(videos), run_dir, progress=False, tensorboard=False)
    return trainer, trainer.fit()


def test_seeded_runs_give_identical_weights(tmp_path, videos):
    train_videos = [v for v in videos if v.subset == "train"]
    a, _ = train(train_videos, tmp_path / "a")
    b, _ = train(train_videos, tmp_path / "b")
    c, _ = train(train_videos, tmp_path / "c", seed=6)
    sa, sb, sc = a.method.state_dict(), b.method.state_dict(), c.method.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_resume_continues_exactly(tmp_path, videos):
    train_videos = [v for v in videos if v.subset == "train"]
    straight, _ = train(train_videos, tmp_path / "straight", schedule={"steps": 6, "checkpoint_every": 3})
    part, _ = train(train_videos, tmp_path / "part", schedule={"steps": 3})
    resumed = Trainer(flagship_recipe(), train_videos, spec_of(train_videos), tmp_path / "part",
                      progress=False, tensorboard=False)
    resumed.fit(resume=True)
    sa, sb = straight.method.state_dict(), resumed.method.state_dict()
    assert all(torch.allclose(sa[k], sb[k], atol=1e-6) for k in sa)
    rows = (tmp_path / "part" / "train_log.csv").read_text().strip().splitlines()
    assert rows[0].startswith("step,loss") and [r.split(",")[0] for r in rows[1:]] == ["2", "3", "4", "6"]


def test_training_reduces_the_loss(tmp_path, videos):
    train_videos = [v for v in videos if v.subset == "train"]
    recipe = flagship_recipe(schedule={"steps": 30})
    trainer = Trainer(recipe, train_videos, spec_of(train_videos), tmp_path, progress=False, tensorboard=False)

    def full_loss():
        trainer.method.eval()
        with torch.no_grad():
            batch = collate(train_videos, MODALITIES, CLASSES)
            return float(trainer.method.compute_loss(trainer.method(batch), batch, 0)[0])

    before = full_loss()
    trainer.fit()
    after = full_loss()
    assert after < 0.8 * before, (before, after)
    assert (tmp_path / "model.safetensors").exists() and (tmp_path / "recipe.yaml").exists()


@register_method("test_diverging")
class DivergingMethod(Method):
    """Loss becomes NaN at step 2."""

    def __init__(self, model, loss, spec):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(1))

    def forward(self, batch):
        return {"x": self.weight * batch["features"]["rgb"].mean()}

    def compute_loss(self, outputs, batch, step):
        loss = outputs["x"] ** 2 if step < 2 else outputs["x"] * float("nan")
        return loss, {"x": float(outputs["x"].detach())}


def test_divergence_stops_with_message_and_no_nan_checkpoint(tmp_path, videos):
    train_videos = [v for v in videos if v.subset == "train"]
    recipe = recipe_from_dict({"method": "test_diverging", "batch_size": 2,
                               "data": {"modalities": ["rgb"]},
                               "schedule": {"steps": 5, "checkpoint_every": 1}}, "test")
    trainer = Trainer(recipe, train_videos, ModelSpec({"rgb": (16,)}, CLASSES), tmp_path,
                      progress=False, tensorboard=False)
    with pytest.raises(TrainingDiverged, match="step 2"):
        trainer.fit()
    ckpt = load_checkpoint(tmp_path / "checkpoints" / "last")
    assert ckpt.meta["step"] == 2 and torch.isfinite(ckpt.state_dict["weight"]).all()


def test_validation_split_is_seeded_and_disjoint(videos):
    fit_a, val_a = split_validation(videos, 0.25, seed=1)
    fit_b, val_b = split_validation(videos, 0.25, seed=1)
    _, val_c = split_validation(videos, 0.25, seed=2)
    assert (fit_a, val_a) == (fit_b, val_b) and val_a != val_c
    assert len(val_a) == 4 and not set(fit_a) & set(val_a) and len(fit_a) + len(val_a) == len(videos)


def test_select_val_keeps_best_checkpoint(tmp_path, videos):
    train_videos = [v for v in videos if v.subset == "train"]
    trainer, result = train(train_videos, tmp_path, select="val",
                            schedule={"steps": 6, "eval_every": 2}, data={"val_fraction": 0.25})
    assert len(trainer.val_videos) == 3 and len(trainer.train_videos) == 9
    assert [row["step"] for row in result.history] == [2, 4, 6]
    best = max(result.history, key=lambda r: r["selection_metric"])
    assert result.selected_step == best["step"]
    assert load_checkpoint(tmp_path / "model").meta["step"] == best["step"]


def test_time_limit_stops_early_and_says_so(tmp_path, videos):
    train_videos = [v for v in videos if v.subset == "train"]
    trainer = Trainer(flagship_recipe(), train_videos, spec_of(train_videos), tmp_path, progress=False,
                      tensorboard=False, time_limit_s=0.0)
    result = trainer.fit()
    assert result.steps == 1 and result.selected_step == 1
    meta = load_checkpoint(tmp_path / "model").meta
    assert meta["step"] == 1 and meta["stopped_early"]["of"] == 6
