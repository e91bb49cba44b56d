"""One file never stops a batch (issue 18, item 7): odd names and odd files already at an output
name are reported for that file, and the rest of the batch is done."""
from __future__ import annotations

import os
import shutil

import pytest
from media_factory import av_file

from tsl300.cli import main
from tsl300.names import NAME_MAX_BYTES, output_stem, printable
from tsl300.types import LocalizationResult


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return av_file(tmp_path_factory.mktemp("media") / "clip.mp4", 1.0, 1.0)


def _localize(paths, out, model, *extra):
    return main(["localize", *map(str, paths), "-m", str(model), "-o", str(out), "--quiet", *extra])


def test_non_utf8_name_with_every_format(clip, tiny_flagship_checkpoint, tmp_path, capsys):
    odd = tmp_path / os.fsdecode(b"caf\xe9 talk.mp4")  # Latin-1 bytes, not UTF-8
    shutil.copy(clip, odd)
    out = tmp_path / "out"
    assert _localize([odd, clip], out, tiny_flagship_checkpoint, "-f", "all") == 0, capsys.readouterr().err
    stem = os.fsdecode(b"caf\xe9 talk")
    assert {p.name for p in out.iterdir()} == {f"{s}.{f}" for s in (stem, "clip") for f in ("json", "csv", "srt", "png")}
    assert (out / f"{stem}.csv").read_text(encoding="utf-8").splitlines()[1].startswith("caf\\xe9 talk,")


@pytest.mark.parametrize("length", [240, 251])
def test_long_stems_are_shortened_and_reruns_find_them(length, clip, tiny_flagship_checkpoint, tmp_path, capsys):
    long = tmp_path / ("v" * length + ".mp4")
    shutil.copy(clip, long)
    out = tmp_path / "out"
    assert _localize([long, clip], out, tiny_flagship_checkpoint, "-f", "json,csv") == 0, capsys.readouterr().err
    names = sorted(p.name for p in out.iterdir())
    assert len(names) == 4 and all(len(os.fsencode(n)) <= NAME_MAX_BYTES - 16 for n in names)
    assert LocalizationResult.from_json(out / f"{output_stem(long.stem, '.json')}.json").metadata.duration > 0
    capsys.readouterr()
    assert main(["localize", str(long), str(clip), "-m", str(tiny_flagship_checkpoint), "-o", str(out),
                 "-f", "json,csv"]) == 0
    assert "nothing to do: 2 already done" in capsys.readouterr().err


def test_two_long_names_sharing_a_head_get_two_outputs():
    a, b = "x" * 300 + "a", "x" * 300 + "b"
    assert output_stem(a, ".json") != output_stem(b, ".json")
    assert output_stem("short", ".json") == "short"
    assert output_stem("é" * 200, ".json").startswith("é")  # cut on a character boundary


@pytest.mark.parametrize("content", ["{\"a\":" * 100000 + "1" + "}" * 100000, None, "\xff\xfe not json"])
def test_odd_file_at_an_output_name_is_redone(content, clip, tiny_flagship_checkpoint, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    target = out / "clip.json"
    if content is None:
        target.mkdir()  # a folder where the JSON should go: that one file fails, the batch goes on
    else:
        target.write_text(content, encoding="utf-8", errors="surrogateescape")
    other = shutil.copy(clip, tmp_path / "other.mp4")
    code = _localize([clip, other], out, tiny_flagship_checkpoint)
    err = capsys.readouterr().err
    assert "Traceback" not in err and (out / "other.json").is_file()
    if content is None:
        assert code == 1 and "clip.mp4: cannot write" in err
    else:
        assert code == 0 and LocalizationResult.from_json(target).metadata.duration > 0


def test_escape_sequences_in_names_are_not_sent_to_the_terminal(clip, tiny_flagship_checkpoint, tmp_path, capsys):
    odd = tmp_path / "evil\x1b[2J\x1b]0;title\x07.mp4"
    shutil.copy(clip, odd)
    out = tmp_path / "out"
    assert main(["localize", str(odd), "-m", str(tiny_flagship_checkpoint), "-o", str(out), "-f", "csv"]) == 0
    captured = capsys.readouterr()
    assert "\x1b" not in captured.out + captured.err and "\x07" not in captured.out + captured.err
    csv_text = next(out.glob("*.csv")).read_text()
    assert "\x1b" not in csv_text and "evil\\x1b[2J" in csv_text
    assert printable("a\x1bb\udcffc\n") == "a\\x1bb\\xffc\\x0a"
