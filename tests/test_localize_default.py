"""The shipped default model: present, small, documented, gated, and what its card and the
README say it is.

- The README's main command prints what the README shows (segments within 0.1 s, scores
  within 0.03: feature values move in the last digits across numpy/librosa versions).
- The speech gate: silent tracks and synthetic music give no segment and say so in metadata.
- The card's held-out claim: on fresh streams of the model's validation speakers (never trained
  on), the gated model beats chance computed on the same ground truth and prediction counts.
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO_ROOT, shared_path

import tsl300
from tsl300.chance import chance_map
from tsl300.cli import main
from tsl300.data.types import Segment
from tsl300.eval import evaluate_segments
from tsl300.speech_gate import NO_SPEECH_OR_FACE_WARNING

RESOURCES = Path(tsl300.__file__).parent / "resources"
EXAMPLE = RESOURCES / "examples" / "crema_d_1001_example.mp4"
CARD = REPO_ROOT / "data_cards" / "model_default.md"


def _meta(name: str) -> dict:
    return json.loads((RESOURCES / "models" / name / "model.json").read_text())


def test_default_model_is_shipped_small_gated_calibrated_and_documented():
    assert {"default", "shipok"} <= set(tsl300.available_models())
    weights = RESOURCES / "models" / "default" / "model.safetensors"
    meta = _meta("default")
    assert weights.stat().st_size < 5_000_000
    assert meta["method"] == "flagship" and meta["classes"] == ["n", "p"]
    assert sorted(meta["spec"]["extractor_specs"]) == ["audio_prosody", "egemaps_lld"]
    assert meta["recipe_source"] == "recipes/default/default.yaml"
    extras = meta["localize"]
    assert extras["speech_gate"]["name"] == "speech_activity"
    assert extras["calibration"]["kind"] == "platt" and extras["calibration"]["a"] > 0
    assert 0.0 < extras["threshold"] < 1.0 and extras["validation_groups"]
    card = CARD.read_text()
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    assert digest in card, "the model card must give the shipped weights' sha256"
    assert f"{extras['threshold']:.3f}" in card, "the card must state the default threshold"
    model = tsl300.load_model("default", device="cpu")
    assert model.sha256 == digest and model.modalities == ["audio_prosody", "egemaps_lld"]
    old = _meta("shipok")
    assert sorted(old["spec"]["extractor_specs"]) == ["audio_prosody", "visual_stats"]
    assert "localize" not in old and old["recipe_source"] == "recipes/default/shipok.yaml"
    shipok_digest = hashlib.sha256((RESOURCES / "models" / "shipok" / "model.safetensors").read_bytes()).hexdigest()
    assert shipok_digest in card


def _readme_output() -> list[str]:
    text = (REPO_ROOT / "README.md").read_text()
    block = re.search(r"<!-- localize-output -->\s*```text\n(.*?)```", text, re.S)
    assert block, "README.md must show the main command's printed output after <!-- localize-output -->"
    return block.group(1).rstrip("\n").splitlines()


SEGMENT_LINE = re.compile(r"^\s*([\d.]+) -\s+([\d.]+) s\s+(\w+)\s+([\d.]+)$")


@pytest.mark.slow
def test_readme_main_command_prints_what_the_readme_shows(tmp_path, capsys):
    assert main(["localize", str(EXAMPLE), "-o", str(tmp_path), "-f", "json"]) == 0
    printed = [ln for ln in capsys.readouterr().out.splitlines() if ln.strip()]
    expected = _readme_output()
    assert printed[0].split(": ", 1)[1] == expected[0].split(": ", 1)[1]     # count, duration, model
    got = [SEGMENT_LINE.match(ln).groups() for ln in printed[1:]]
    want = [SEGMENT_LINE.match(ln).groups() for ln in expected[1:]]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g[2] == w[2]
        np.testing.assert_allclose([float(g[0]), float(g[1])], [float(w[0]), float(w[1])], atol=0.1)
        assert float(g[3]) == pytest.approx(float(w[3]), abs=0.03)


def test_silence_gives_no_segment_and_a_warning():
    model = tsl300.load_model("default", device="cpu")
    for name in ("cockatoo_silent_track.mp4",):
        result = model.localize(shared_path("media", "clips", name))
        assert len(result) == 0, result
        assert result.metadata.speech_fraction == 0.0 and result.metadata.calibrated
        assert result.metadata.warnings == [NO_SPEECH_OR_FACE_WARNING]
        assert "warning" in str(result)


@pytest.mark.slow
def test_card_claim_beats_chance_on_unheard_validation_speakers(tmp_path):
    from tsl300.data.more_speech import speaker_sources
    from tsl300.data.speaker_streams import FPS, make_streams, stream_features
    from tsl300.data.types import Video
    from tsl300.extractors import build_extractors

    folder = shared_path("media", "more_speech")
    model = tsl300.load_model("default", device="cpu")
    groups = model.extras["validation_groups"][:4]
    sources = speaker_sources(folder)
    extractors = build_extractors(["audio_prosody", "egemaps_lld", "speech_activity"])
    truth, predictions, durations = {}, {}, {}
    for g in groups:
        for s in make_streams(sources[g], 2, seed=424242):            # fresh plans, not the cache's
            video = Video(vid=s.vid, fps=FPS, features=stream_features(s.audio, extractors),
                          duration=s.duration, subset="test")
            result = model.localize_features(video, all_proposals=True)
            truth[s.vid], durations[s.vid] = s.segments, s.duration
            predictions[s.vid] = [Segment(x.start, x.end, x.code, x.score) for x in result]
    model_map = evaluate_segments(truth, predictions)["average_mAP"]
    chance = chance_map(truth, durations, {v: len(p) for v, p in predictions.items()}, draws=50)
    assert model_map > chance["mean"] + chance["std"], (model_map, chance)


def test_default_threshold_is_applied_recorded_and_a_rerun_resumes(tmp_path, capsys):
    model = tsl300.load_model("default", device="cpu")
    result = model.localize(EXAMPLE)
    assert result.metadata.threshold is None
    assert result.metadata.applied_threshold == model.extras["threshold"]
    assert all(s.score >= model.extras["threshold"] for s in result)
    full = model.localize(EXAMPLE, all_proposals=True)
    assert full.metadata.applied_threshold is None and len(full) > len(result)
    args = ["localize", str(EXAMPLE), "-o", str(tmp_path), "-f", "json"]
    assert main(args) == 0 and main(args) == 0
    assert "already done" in capsys.readouterr().err     # the default threshold does not defeat resume
