"""Subtitle and transcript reading (tsl300.io.subtitles): formats, bad files, the snippet grid."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tsl300.extractors.text import cue_weights
from tsl300.io.subtitles import Cue, find_transcript, read_embedded, read_transcript

SHARED_CLIP = Path(__file__).resolve().parents[2] / "shared" / "media" / "clips" / "mp4.mp4"

SRT = """1
00:00:00,500 --> 00:00:02,000
I <i>love</i> this!

2
00:00:02,500 --> 00:00:04,250
{\\an8}This is awful.
"""


def test_srt_cues_in_seconds_with_markup_removed(tmp_path):
    path = tmp_path / "a.srt"
    path.write_text(SRT, encoding="utf-8")
    t = read_transcript(path)
    assert t.cues == [Cue(0.5, 2.0, "I love this!", 1), Cue(2.5, 4.25, "This is awful.", 2)]
    assert t.warnings == [] and t.language is None


def test_webvtt_with_header_note_settings_and_short_times(tmp_path):
    path = tmp_path / "a.vtt"
    path.write_text("WEBVTT\n\nNOTE a comment\n\nintro\n00:01.250 --> 00:03.000 align:start\n"
                    "<v Ann>Great news</v>\n\n00:00:04.000 --> 00:00:05.500\nsecond line\n", encoding="utf-8")
    t = read_transcript(path)
    assert [(c.start, c.end, c.text) for c in t.cues] == [(1.25, 3.0, "Great news"), (4.0, 5.5, "second line")]
    assert t.warnings == []


def test_whisper_json_language_and_bad_segment(tmp_path):
    path = tmp_path / "a.json"
    path.write_text(json.dumps({"language": "fr", "segments": [
        {"start": 0.0, "end": 1.5, "text": " Bonjour"}, {"start": "x", "end": 2, "text": "bad"},
        {"start": 2.0, "end": 3.0, "text": "merci"}]}), encoding="utf-8")
    t = read_transcript(path)
    assert t.language == "fr"
    assert [(c.start, c.end, c.text, c.number) for c in t.cues] == [(0.0, 1.5, "Bonjour", 1), (2.0, 3.0, "merci", 3)]
    assert len(t.warnings) == 1 and "a.json: segment 2 skipped" in t.warnings[0]


def test_malformed_srt_each_fault_warns_with_file_and_cue(tmp_path):
    path = tmp_path / "bad.srt"
    text = ("1\n00:00:01,000 --> 00:00:02,000\ncaf\xe9 ok\n\n"            # cp1252 byte: not UTF-8
            "2\n00:00:0x,000 --> 00:00:03,000\nbroken time\n\n"          # bad timestamp
            "3\n00:00:05,000 --> 00:00:04,000\nbackwards\n\n"            # ends before it starts
            "4\n00:00:01,500 --> 00:00:03,000\noverlapping\n\n"          # overlaps cue 1
            "5\n00:00:09,000 --> 00:00:12,000\npast the end\n\n"        # cut at 10 s
            "6\n00:00:11,000 --> 00:00:12,000\nafter the end\n")       # dropped
    path.write_bytes(text.encode("cp1252"))
    t = read_transcript(path, duration=10.0)
    assert [(c.start, c.end, c.text) for c in t.cues] == [
        (1.0, 2.0, "caf\xe9 ok"), (1.5, 3.0, "overlapping"), (9.0, 10.0, "past the end")]
    w = "\n".join(t.warnings)
    assert all(line.startswith(str(path)) for line in t.warnings)
    assert "not UTF-8" in w
    assert "cue 2 ('00:00:0x,000 --> 00:00:03,000') skipped: unreadable" in w
    assert "cue 3 ('backwards') skipped: ends at 4.000 s" in w
    assert "cue 4 at 1.500 s ('overlapping') overlaps" in w
    assert "cue 5 ('past the end') cut at the video's end" in w
    assert "cue 6 ('after the end') skipped: starts at 11.000 s" in w


@pytest.mark.parametrize("content", [b"", b"\n\n  \n", b"not a subtitle at all"])
def test_empty_or_garbage_file_has_no_cues_and_a_warning(tmp_path, content):
    path = tmp_path / "x.srt"
    path.write_bytes(content)
    t = read_transcript(path)
    assert t.cues == [] and t.empty
    assert t.warnings and all(str(path) in m for m in t.warnings)


def test_cue_weights_are_overlap_fractions_on_the_grid():
    # fps 25: a snippet is 0.64 s; cue A covers snippet 0 fully and 0.36 s of snippet 1
    cues = [Cue(0.0, 1.0, "a"), Cue(1.6, 1.76, "b")]
    w = cue_weights(cues, 4, 25.0)
    np.testing.assert_allclose(w, [[1.0, 0.0], [0.36 / 0.64, 0.0], [0.0, 0.16 / 0.64], [0.0, 0.0]], atol=1e-9)


def test_find_transcript_order(tmp_path):
    video = tmp_path / "videos" / "talk [1].mp4"
    video.parent.mkdir()
    video.write_bytes(b"")
    assert find_transcript(video) is None
    tagged = video.parent / "talk [1].en.vtt"
    tagged.write_text("WEBVTT\n")
    assert find_transcript(video) == tagged
    sidecar = video.parent / "talk [1].srt"
    sidecar.write_text(SRT)
    assert find_transcript(video) == sidecar
    folder = tmp_path / "transcripts"
    folder.mkdir()
    (folder / "talk [1].json").write_text("{}")
    assert find_transcript(video, folder) == folder / "talk [1].json"


def _mux_subtitles(video: Path, srt: Path, out: Path) -> None:
    import av

    with av.open(str(video)) as vin, av.open(str(srt)) as sin, av.open(str(out), "w") as dst:
        vs = dst.add_stream_from_template(vin.streams.video[0])
        ss = dst.add_stream_from_template(sin.streams[0])
        for packets, stream in ((vin.demux(vin.streams.video[0]), vs), (sin.demux(sin.streams[0]), ss)):
            for packet in packets:
                if packet.dts is not None:
                    packet.stream = stream
                    dst.mux(packet)


@pytest.mark.skipif(not SHARED_CLIP.is_file(), reason="../shared/media/clips/mp4.mp4 not present")
def test_embedded_subtitle_stream(tmp_path):
    srt = tmp_path / "s.srt"
    srt.write_text(SRT, encoding="utf-8")
    video = tmp_path / "with_subs.mkv"
    _mux_subtitles(SHARED_CLIP, srt, video)
    t = read_embedded(video, duration=5.5)
    assert [(c.start, c.end, c.text) for c in t.cues] == [(0.5, 2.0, "I love this!"), (2.5, 4.25, "This is awful.")]
    assert read_embedded(SHARED_CLIP) is None


def test_webvtt_bad_cue_is_skipped_alone(tmp_path):
    path = tmp_path / "b.vtt"
    path.write_text("WEBVTT\n\n00:00.000 --> 00:01.000\nfine\n\n00:0x.000 --> 00:02.000\nbroken\n\n"
                    "00:02.000 --> 00:03.000\nalso fine\n", encoding="utf-8")
    t = read_transcript(path)
    assert [c.text for c in t.cues] == ["fine", "also fine"]
    assert t.warnings == [f"{path}: cue 2 ('00:0x.000 --> 00:02.000') skipped: unreadable (bad timing line)"]
