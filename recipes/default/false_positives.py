"""False-positive segment-minutes per hour where there is no emotional speech to find.

Three sets, each localized end to end from a file (decode -> extractors -> model -> gate):

- neutral: one stream per validation speaker of the shipped model (ASED / EmoDB speakers it was
  not trained on) and per URDU speaker with neutral speech, made only of that speaker's neutral
  clips (every segment found is a false positive);
- music: the Big Buck Bunny excerpt (``clips/mkv.mkv``, score music and effects) and 60 s of
  synthetic music (chords with a beat; no voice);
- silence: ``clips/cockatoo_silent_track.mp4`` and ``clips/WolfgangLanger_Pexels.mp4`` (silent
  audio tracks) and 30 s of digital silence.

Models: ``shipok`` (the previous default, no gate) and the new ``default`` with the gate off
and on (its calibrated default threshold applies in both). Output: segment-minutes per hour
of audio, per set and model.

    python recipes/default/false_positives.py --media ../shared/media --out runs/default/fp
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

SR = 16000


def _clip(audio: np.ndarray):
    from tsl300.data.splice import BACKGROUND, DecodedClip, SourceClip

    return DecodedClip(SourceClip(Path("synthetic.wav"), "", BACKGROUND), audio.astype(np.float32), SR)


def write_audio_video(audio: np.ndarray, path: Path) -> Path:
    """An mp4 with a still black picture and ``audio`` (16 kHz mono), via the splice tool."""
    from tsl300.data.splice import Piece, splice_stream

    splice_stream([_clip(audio)], path, pieces=[Piece(0, 0, len(audio), "background")])
    return path


def synthetic_music(seconds: float, seed: int = 0) -> np.ndarray:
    """Triads changing every beat-pair with a decaying noise kick: music, no voice."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    out = np.zeros_like(t)
    roots = [220.0, 174.6, 196.0, 261.6]
    for k, start in enumerate(np.arange(0, seconds, 1.0)):
        m = (t >= start) & (t < start + 1.0)
        root = roots[k % len(roots)]
        for ratio in (1.0, 1.26, 1.5, 2.0):
            out[m] += 0.05 * np.sin(2 * np.pi * root * ratio * t[m]) * np.exp(-(t[m] - start) * 1.5)
        beat = (t >= start) & (t < start + 0.15)
        out[beat] += 0.1 * rng.standard_normal(beat.sum()) * np.exp(-(t[beat] - start) * 30)
    return out.astype(np.float32)


def neutral_streams(media: Path, out: Path, groups: list[str]) -> list[Path]:
    from tsl300.data.more_speech import speaker_sources
    from tsl300.data.speaker_streams import decode_group, urdu_sources

    folder = media / "more_speech"
    sources = speaker_sources(folder)
    urdu = urdu_sources(folder)
    paths = []
    for name in groups + sorted(urdu):
        source = sources.get(name) or urdu.get(name)
        if source is None:
            continue
        neutral = [c for c in source.clips if c.role == "background"]
        if name.startswith("urdu") and not any(c.path.name.startswith(name.split("_", 1)[1] + "_") for c in neutral):
            continue  # URDU speaker without neutral speech of their own
        from dataclasses import replace

        clips = decode_group(replace(source, clips=tuple(neutral)))
        audio = np.concatenate([c.audio for c in clips])
        paths.append(write_audio_video(audio, out / f"neutral_{name}.mp4"))
    return paths


def fp_minutes_per_hour(model, paths: list[Path], gate: bool) -> dict:
    total, flagged, n = 0.0, 0.0, 0
    saved = dict(model.extras)
    if not gate:
        model.extras.pop("speech_gate", None)
    try:
        for p in paths:
            r = model.localize(p)
            total += r.metadata.duration
            flagged += sum(s.end - s.start for s in r.segments)
            n += len(r.segments)
    finally:
        model.extras = saved
    return {"segment_minutes_per_hour": 60.0 * flagged / max(total, 1e-9), "segments": n,
            "hours": total / 3600, "files": len(paths)}


def main(argv=None) -> int:
    import torch

    import tsl300

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--media", type=Path, default=Path("../shared/media"))
    parser.add_argument("--out", type=Path, default=Path("runs/default/fp"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    model = tsl300.load_model("default", device="cpu")
    val_groups = model.extras.get("validation_groups", [])
    sets = {
        "neutral": neutral_streams(args.media, args.out, val_groups),
        "music": [args.media / "clips" / "mkv.mkv",
                  write_audio_video(synthetic_music(60.0), args.out / "synthetic_music.mp4")],
        "silence": [args.media / "clips" / "cockatoo_silent_track.mp4",
                    args.media / "clips" / "WolfgangLanger_Pexels.mp4",
                    write_audio_video(np.zeros(30 * SR, np.float32), args.out / "silence.mp4")],
    }
    old = tsl300.load_model("shipok", device="cpu")
    results = {}
    for name, paths in sets.items():
        results[name] = {
            "shipok (previous default)": fp_minutes_per_hour(old, paths, gate=False),
            "default, no gate": fp_minutes_per_hour(model, paths, gate=False),
            "default (gate on)": fp_minutes_per_hour(model, paths, gate=True),
        }
    (args.out / "false_positives.json").write_text(json.dumps(results, indent=1))
    for name, rows in results.items():
        for model_name, r in rows.items():
            print(f"{name:8s} {model_name:28s} {r['segment_minutes_per_hour']:6.1f} seg-min/h "
                  f"({r['segments']} segments, {r['hours'] * 60:.1f} min, {r['files']} files)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
