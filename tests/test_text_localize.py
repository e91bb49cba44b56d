"""Text as a third modality end to end: real features of real clips (visual_stats, audio_prosody,
text from sidecar subtitles), a flagship trained on all three, then ``localize`` with and without
subtitles or from a transcript folder (``metadata.text_missing``)."""
from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

CLIPS = Path(__file__).resolve().parents[2] / "shared" / "media" / "clips"
NAMES = ("1001_DFA_HAP_XX.flv", "1001_DFA_ANG_XX.flv", "1001_DFA_NEU_XX.flv")

RECIPE = """\
inherit: {flagship}
seed: 1
batch_size: 3
data: {{modalities: [visual_stats, audio_prosody, text]}}
model: {{hidden: 16, attention_hidden: 8, fusion_hidden: 16}}
schedule: {{steps: 6, log_every: 3, eval_every: 0, warmup_steps: 0}}
"""


@pytest.mark.slow
@pytest.mark.skipif(not all((CLIPS / n).is_file() for n in NAMES), reason="../shared/media/clips not present")
def test_flagship_with_text_localizes_with_and_without_subtitles(tmp_path):
    import tsl300
    from tsl300.data.layout import write_layout, write_spec
    from tsl300.data.types import Segment
    from tsl300.extractors import build_extractors
    from tsl300.featurize import featurize

    videos_dir = tmp_path / "videos"
    videos_dir.mkdir()
    specs = {e.spec().modality: e.spec().to_dict() for e in build_extractors(["visual_stats", "audio_prosody", "text"])}
    lines = {"HAP": "I am so happy, this is wonderful!", "ANG": "I hate this, it is awful!", "NEU": "It is on the table."}
    videos = []
    for k, name in enumerate(NAMES):
        path = videos_dir / name
        shutil.copy(CLIPS / name, path)
        (videos_dir / (path.stem + ".srt")).write_text(
            f"1\n00:00:00,200 --> 00:00:01,800\n{lines[name.split('_')[2]]}\n", encoding="utf-8")
        video = featurize(path, specs)
        assert video.missing == ()
        video.subset = "train" if k < 2 else "test"
        video.segments = [Segment(0.2, 1.8, "p" if "HAP" in name else "n")]
        video.points = np.array([[1, 1 if "HAP" in name else 0]], np.int64)
        video.point_frames = np.array([16 + 3], np.int64)
        videos.append(video)
    data = write_layout(tmp_path / "data", videos)
    for split in ("train", "test"):
        for modality, spec in specs.items():
            write_spec(data, split, modality, spec)
    recipe = tmp_path / "three.yaml"
    recipe.write_text(RECIPE.format(flagship=Path(__file__).resolve().parents[1] / "recipes/tsl300/text.yaml"))
    report = tsl300.train(recipe, data, tmp_path / "run", test=False, device="cpu")
    model = tsl300.load_model(report.runs[0].run_dir, device="cpu")
    assert model.modalities == ["visual_stats", "audio_prosody", "text"]
    assert model.spec.extractor_specs["text"]["name"] == "text"

    clip = videos_dir / NAMES[0]
    with_text = model.localize(clip)
    assert not with_text.metadata.text_missing and with_text.metadata.missing_modalities == []
    bare = tmp_path / "bare" / NAMES[0]
    bare.parent.mkdir()
    shutil.copy(clip, bare)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        without = model.localize(bare)
    assert without.metadata.text_missing and without.metadata.missing_modalities == ["text"]
    assert np.isfinite(without.scores).all() and without.scores.shape == with_text.scores.shape
    assert not np.allclose(without.scores, with_text.scores)   # the words change the scores

    transcripts = tmp_path / "transcripts"                      # a transcript folder (whisper JSON)
    transcripts.mkdir()
    (transcripts / (bare.stem + ".json")).write_text(
        '{"language": "en", "segments": [{"start": 0.2, "end": 1.8, "text": "%s"}]}' % lines["HAP"])
    from_folder = tsl300.localize(bare, model=model, transcripts=transcripts)
    assert not from_folder.metadata.text_missing
    np.testing.assert_allclose(from_folder.scores, with_text.scores, atol=1e-6)

    from tsl300.cli import main
    from tsl300.types import LocalizationResult

    out = tmp_path / "out"
    assert main(["localize", str(bare), "-o", str(out), "-m", str(report.runs[0].run_dir),
                 "--transcripts", str(transcripts), "--device", "cpu", "--quiet"]) == 0
    saved = LocalizationResult.from_json(out / (bare.stem + ".json"))
    assert not saved.metadata.text_missing
    np.testing.assert_allclose(saved.scores, with_text.scores, atol=1e-6)
