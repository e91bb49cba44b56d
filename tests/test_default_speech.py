"""The default model's data, speech gate, calibration and audio extractors (issue 11)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import scipy.signal

from tsl300.calibration import best_threshold, fit_platt, match_labels
from tsl300.data.more_speech import normalise_loudness, speaker_group, speaker_sources
from tsl300.data.speaker_streams import SAMPLE_RATE, make_streams, n_snippets, stream_features
from tsl300.data.types import Segment
from tsl300.speech_gate import gate_scores, gate_segments, speech_mask

MORE_SPEECH = Path(__file__).resolve().parents[1] / ".." / "shared" / "media" / "more_speech"


def _vowel(seconds: float, f0: float = 200.0, level: float = 0.1, sr: int = SAMPLE_RATE) -> np.ndarray:
    """A harmonic buzz through two resonances (a crude vowel), deterministic."""
    t = np.arange(int(seconds * sr)) / sr
    x = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 30))
    for fc, bw in ((700.0, 80.0), (1200.0, 90.0)):
        r = np.exp(-np.pi * bw / sr)
        a = [1, -2 * r * np.cos(2 * np.pi * fc / sr), r * r]
        x = scipy.signal.lfilter([1.0], a, x)
    return (level * x / np.abs(x).max()).astype(np.float32)


def test_ased_speaker_numbers_with_two_gender_keys_are_one_group():
    assert speaker_group("ased_01-09") == speaker_group("ased_02-09") == "ased_09"
    assert speaker_group("emodb_08") == "emodb_08"
    assert speaker_group("urdu_SM1") == "urdu_SM1"


def test_loudness_normalisation_removes_a_gain_difference():
    x = _vowel(1.0)
    quiet, loud = normalise_loudness(x * 0.05, SAMPLE_RATE), normalise_loudness(x * 0.9, SAMPLE_RATE)
    np.testing.assert_allclose(quiet, loud, rtol=1e-4, atol=1e-6)
    rms = np.sqrt(np.mean(quiet.astype(np.float64) ** 2))
    assert 20 * np.log10(rms) == pytest.approx(-23.0, abs=0.5)
    assert not normalise_loudness(np.zeros(800, np.float32), SAMPLE_RATE).any()


def _fake_corpus(root: Path) -> None:
    import soundfile as sf

    rows = ["source,path,speaker,gender,emotion,polarity,duration_s,sample_rate,mean_volume_db,listener_agreement_pct"]
    for key in ("01-09", "02-09", "01-07"):
        for emo, pol, f0, gain in (("happy", "positive", 260, 0.5), ("angry", "negative", 220, 0.5),
                                   ("neutral", "neutral", 150, 0.05)):
            if key == "01-07" and emo == "happy":
                continue  # no positive clip: this group cannot make a stream
            path = f"ased/{emo}_{key}.wav"
            (root / "ased").mkdir(parents=True, exist_ok=True)
            sf.write(root / path, _vowel(1.0 + 0.25 * (len(rows) % 3), f0, gain), SAMPLE_RATE)
            rows.append(f"ased,{path},ased_{key},f,{emo},{pol},1.0,16000,-20,")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")


def test_streams_are_one_speaker_group_with_sample_exact_segments(tmp_path):
    _fake_corpus(tmp_path)
    sources = speaker_sources(tmp_path)
    assert list(sources) == ["ased_09"]                        # ased_07 lacks a positive clip
    assert {c.path.name.split("_", 1)[1] for c in sources["ased_09"].clips} == {"01-09.wav", "02-09.wav"}
    streams = make_streams(sources["ased_09"], 2, seed=3)
    assert [s.vid for s in streams] == ["ased_09_000", "ased_09_001"]
    again = make_streams(sources["ased_09"], 2, seed=3)
    np.testing.assert_array_equal(streams[0].audio, again[0].audio)
    for s in streams:
        assert {g.label for g in s.segments} <= {"p", "n"} and s.segments
        for g in s.segments:                                  # clips are 1.0 / 1.25 / 1.5 s long
            assert round((g.end - g.start) * SAMPLE_RATE) in {16000, 20000, 24000}
            inside = s.audio[int(g.start * SAMPLE_RATE) + 100:int(g.end * SAMPLE_RATE) - 100]
            rms = 20 * np.log10(np.sqrt(np.mean(inside.astype(np.float64) ** 2)))
            assert rms == pytest.approx(-23.0, abs=1.0)       # loudness-normalised (ASED)


def test_speech_gate_bridges_pauses_and_drops_non_speech_segments():
    speech, pause = [0.9, 1.0], [0.1, 0.0]
    activity = np.array([speech, pause, pause, speech, pause, pause, pause, speech] + [pause] * 7)
    mask = speech_mask(activity)                              # a 2-snippet pause is bridged, 3 is not
    assert mask.tolist() == [True] * 4 + [False] * 3 + [True] + [False] * 7
    scores = np.full((15, 2), 0.8)
    np.testing.assert_array_equal(gate_scores(scores, mask)[:8, 0], [0.8] * 4 + [0] * 3 + [0.8])
    fps, snippet = 25.0, 16 / 25.0                            # 0.64 s snippets
    segs = [Segment(0.0, 4 * snippet, "p"),                  # speech with a short pause
            Segment(8 * snippet, 15 * snippet, "n"),         # silence only
            Segment(4 * snippet, 9 * snippet, "n"),          # 1 of 5 snippets speech: 0.2, kept
            Segment(7 * snippet + 0.01, 15 * snippet, "p")]  # 1 of 8: dropped
    assert gate_segments(segs, mask, fps) == [segs[0], segs[2]]


def test_platt_calibration_orders_and_matches():
    truth = [Segment(1.0, 3.0, "p"), Segment(5.0, 6.0, "n")]
    props = [Segment(1.1, 3.0, "p", 0.9), Segment(1.0, 2.9, "p", 0.8), Segment(5.0, 6.2, "p", 0.7),
             Segment(4.9, 6.0, "n", 0.4)]
    np.testing.assert_array_equal(match_labels(props, truth), [1, 0, 0, 1])   # each truth once
    rng = np.random.default_rng(0)
    s = rng.uniform(0, 1, 2000)
    y = rng.uniform(0, 1, 2000) < s                            # P(true | s) = s
    platt = fit_platt(s, y)
    assert platt.a > 0
    np.testing.assert_allclose(platt(np.array([0.2, 0.5, 0.8])), [0.2, 0.5, 0.8], atol=0.06)
    assert 0.2 < best_threshold(platt(s), y, n_truth=int(y.sum())) < 0.6
    inverted = fit_platt(s, ~y)                                # anti-correlated: never invert the ranking
    assert inverted.a > 0 and inverted(0.9) > inverted(0.1)
    assert inverted(0.5) == pytest.approx(1 - y.mean(), abs=0.02)


def test_egemaps_lld_pitch_formants_and_lpc():
    from extractors.egemaps_lld import COLUMNS, EgemapsLLD, lpc

    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 400))
    x[:, 1:] += 0.9 * x[:, :-1]
    for row, a in zip(x, lpc(x)):
        r = np.correlate(row, row, "full")[399:399 + 13]
        np.testing.assert_allclose(a[1:], scipy.linalg.solve_toeplitz(r[:12], -r[1:13]), atol=1e-6)
    feats = stream_features(_vowel(3.0, f0=200.0), [EgemapsLLD()])["egemaps_lld"]
    assert feats.shape == (n_snippets(3 * SAMPLE_RATE), len(COLUMNS))
    row = dict(zip(COLUMNS, feats[1]))
    assert row["voiced_fraction"] == pytest.approx(1.0)
    assert row["f0_semitone_mean"] * 10 == pytest.approx(12 * np.log2(200 / 27.5), abs=0.3)
    assert row["f1_mean"] * 1000 == pytest.approx(700, abs=120)
    assert row["f2_mean"] * 1000 == pytest.approx(1200, abs=150)
    assert row["jitter_mean"] < 0.01
    silent = stream_features(np.zeros(SAMPLE_RATE, np.float32), [EgemapsLLD()])["egemaps_lld"]
    assert dict(zip(COLUMNS, silent[0]))["voiced_fraction"] == 0.0


def test_speech_activity_silence_tones_and_speech():
    from extractors.speech_activity import SpeechActivity

    silence = stream_features(np.zeros(2 * SAMPLE_RATE, np.float32), [SpeechActivity()])["speech_activity"]
    assert silence.shape == (n_snippets(2 * SAMPLE_RATE), 2) and silence[:, 1].max() == 0.0
    t = np.arange(3 * SAMPLE_RATE) / SAMPLE_RATE
    chord = sum(0.1 * np.sin(2 * np.pi * f * t) for f in (261.6, 329.6, 392.0)).astype(np.float32)
    tones = stream_features(chord, [SpeechActivity()])["speech_activity"]
    assert tones[:, 1].mean() < 0.2
    clip = MORE_SPEECH / "ased" / "05Angry" / "a5-05-01-02-65.wav"
    if not clip.is_file():
        pytest.skip("../shared/media/more_speech is absent (real speech for the VAD check)")
    import soundfile as sf

    speech, sr = sf.read(clip, dtype="float32")
    assert sr == SAMPLE_RATE
    found = stream_features(speech, [SpeechActivity()])["speech_activity"]
    assert found[:, 1].mean() > 0.5
