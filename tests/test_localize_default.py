"""The shipped default model: present, small, documented, and better than chance end to end.

The accuracy test localizes real spliced speech through the CLI (decode -> extractors -> model ->
post-processing -> JSON) and scores it with the official-style evaluator against ground truth
computed from sample counts; chance is computed here on the same ground truth with the same
number of predictions. The streams are CREMA-D actor 1001, whose clips the model was trained on
(in new orders and with new background lengths): an in-distribution check. The cross-speaker
figures are in data_cards/model_default.md.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from conftest import REPO_ROOT, shared_path

import tsl300
from tsl300.chance import chance_map
from tsl300.cli import main
from tsl300.data.types import Segment
from tsl300.eval import evaluate_segments
from tsl300.types import LocalizationResult

RESOURCES = Path(tsl300.__file__).parent / "resources"
EXAMPLE = RESOURCES / "examples" / "crema_d_1001_example.mp4"


def test_default_model_is_shipped_small_and_documented():
    assert "default" in tsl300.available_models()
    weights = RESOURCES / "models" / "default" / "model.safetensors"
    meta = json.loads(weights.with_suffix(".json").read_text())
    assert weights.stat().st_size < 5_000_000
    assert meta["method"] == "flagship" and meta["classes"] == ["n", "p"]
    assert sorted(meta["spec"]["extractor_specs"]) == ["audio_prosody", "visual_stats"]
    assert meta["recipe_source"] == "recipes/default/default.yaml"
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    card = (REPO_ROOT / "data_cards" / "model_default.md").read_text()
    assert digest in card, "the model card must give the shipped weights' sha256"
    model = tsl300.load_model("default", device="cpu")
    assert model.sha256 == digest and model.modalities == ["visual_stats", "audio_prosody"]


@pytest.mark.slow
def test_default_model_beats_chance_on_spliced_speech(tmp_path, capsys):
    from tsl300.data.splice_dataset import make_stream

    fresh = make_stream(shared_path("media"), "crema_d_1001", tmp_path / "fresh_1001.mp4", seed=777001)
    recorded = json.loads(EXAMPLE.with_suffix(".gt.json").read_text())["stream"]
    truth = {EXAMPLE.stem: [Segment(**g) for g in recorded["segments"]],
             fresh.path.stem: fresh.segments}
    durations = {EXAMPLE.stem: recorded["duration"], fresh.path.stem: fresh.duration}

    out = tmp_path / "out"
    assert main(["localize", str(EXAMPLE), str(fresh.path), "-o", str(out), "-f", "json"]) == 0
    printed = capsys.readouterr().out
    assert "crema_d_1001_example.mp4:" in printed and "positive" in printed  # the segment listing

    predictions = {}
    for vid in truth:
        result = LocalizationResult.from_json(out / f"{vid}.json")
        assert result.metadata.model_name == "default" and not result.metadata.audio_missing
        predictions[vid] = [Segment(s.start, s.end, s.code, s.score) for s in result]
    model_map = evaluate_segments(truth, predictions)["average_mAP"]
    chance = chance_map(truth, durations, {v: len(p) for v, p in predictions.items()}, draws=50)
    assert model_map > chance["mean"] + 2 * chance["std"], (model_map, chance)
    assert model_map > 0.5
