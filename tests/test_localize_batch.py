"""``tsl300 localize`` on batches: recursive folders and list files, resume, workers, combined file."""
from __future__ import annotations

import json
import shutil

import pytest
from conftest import shared_path

from tsl300.cli import main
from tsl300.errors import Tsl300Error
from tsl300.eval import evaluate_detection
from tsl300.io.inputs import collect_inputs, unique_stems
from tsl300.types import LocalizationResult

CLIPS = ("1001_DFA_HAP_XX.flv", "1001_DFA_SAD_XX.flv")


@pytest.fixture()
def tree(tmp_path):
    """Two real clips in nested folders, plus a file a folder search must ignore."""
    root = tmp_path / "videos"
    (root / "a" / "deeper").mkdir(parents=True)
    shutil.copy(shared_path("media", "clips", CLIPS[0]), root / "a" / CLIPS[0])
    shutil.copy(shared_path("media", "clips", CLIPS[1]), root / "a" / "deeper" / CLIPS[1])
    (root / "notes.txt").write_text("not a video")
    return root


def _stems(out):
    return sorted(p.name for p in out.iterdir())


def test_collect_inputs_recurses_reads_lists_and_keeps_order(tmp_path):
    (tmp_path / "d" / "e").mkdir(parents=True)
    for name in ("d/b.mp4", "d/e/a.MKV", "d/skip.txt", "x.webm"):
        (tmp_path / name).write_bytes(b"")
    listing = tmp_path / "list.txt"
    listing.write_text("# comment\n\nx.webm\nd/b.mp4\n")
    found = collect_inputs([tmp_path / "d"], [listing])
    assert found == [tmp_path / "d/b.mp4", tmp_path / "d/e/a.MKV", tmp_path / "x.webm"]  # b.mp4 once
    with pytest.raises(Tsl300Error, match="list file not found"):
        collect_inputs([], [tmp_path / "nope.txt"])
    with pytest.raises(Tsl300Error, match="same name 'b'"):
        unique_stems([tmp_path / "d/b.mp4", tmp_path / "x/b.mkv"])


def test_folder_is_searched_recursively_and_reruns_skip_finished_videos(tiny_flagship_checkpoint, tree,
                                                                        tmp_path, capsys):
    out = tmp_path / "out"
    args = ["localize", str(tree), "-o", str(out), "-f", "all", "-m", str(tiny_flagship_checkpoint), "--quiet"]
    assert main(args) == 0
    assert len(_stems(out)) == 8  # 2 videos x json, csv, srt, png
    first = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}

    capsys.readouterr()
    assert main(args[:-1]) == 0  # not quiet: prints the summary line
    captured = capsys.readouterr()
    assert "nothing to do: 2 already done" in captured.err
    assert "1001_DFA_HAP_XX.flv: " in captured.out  # a rerun still lists each video's segments
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == first

    # a lost output, a changed option or --overwrite redoes exactly the videos concerned
    (out / "1001_DFA_SAD_XX.srt").unlink()
    assert main(args[:-1]) == 0
    assert "1 of 1 video(s) done, 1 already done" in capsys.readouterr().err
    assert main(args[:-1] + ["--threshold", "0.5"]) == 0
    assert "2 of 2 video(s) done" in capsys.readouterr().err
    assert LocalizationResult.from_json(out / "1001_DFA_HAP_XX.json").metadata.threshold == 0.5
    assert main(args[:-1] + ["--threshold", "0.5", "--overwrite"]) == 0
    assert "2 of 2 video(s) done" in capsys.readouterr().err


def test_a_json_from_another_model_is_not_kept(tiny_flagship_checkpoint, tree, tmp_path, capsys):
    out = tmp_path / "out"
    clip = tree / "a" / CLIPS[0]
    assert main(["localize", str(clip), "-o", str(out), "--quiet"]) == 0  # shipped default model
    assert main(["localize", str(clip), "-o", str(out), "-m", str(tiny_flagship_checkpoint)]) == 0
    assert "1 of 1 video(s) done" in capsys.readouterr().err
    meta = LocalizationResult.from_json(out / "1001_DFA_HAP_XX.json").metadata
    assert meta.model_name == tiny_flagship_checkpoint.stem


def test_workers_give_the_same_files_as_one_process(tiny_flagship_checkpoint, tree, tmp_path):
    listing = tmp_path / "videos.txt"
    listing.write_text(f"videos/a/{CLIPS[0]}\nvideos/a/deeper/{CLIPS[1]}\n")
    one, two = tmp_path / "one", tmp_path / "two"
    common = ["-m", str(tiny_flagship_checkpoint), "--quiet", "--all-proposals"]
    assert main(["localize", "--list", str(listing), "-o", str(one)] + common) == 0
    assert main(["localize", "--list", str(listing), "-o", str(two), "--workers", "2"] + common) == 0
    assert _stems(one) == _stems(two) == ["1001_DFA_HAP_XX.json", "1001_DFA_SAD_XX.json"]
    for name in _stems(one):
        a, b = (LocalizationResult.from_json(d / name) for d in (one, two))
        assert a.segments == b.segments and len(a.segments) > 0
        assert a.scores.tolist() == b.scores.tolist()


def test_combined_file_holds_every_video_and_is_what_eval_reads(tiny_flagship_checkpoint, tree, tmp_path):
    out = tmp_path / "out"
    combined = tmp_path / "all.json"
    bad = shared_path("media", "bad_inputs", "zero_bytes.mp4")
    code = main(["localize", str(tree), str(bad), "-o", str(out), "-f", "csv", "--combined", str(combined),
                 "--all-proposals", "-m", str(tiny_flagship_checkpoint), "--quiet"])
    assert code == 1  # the bad file fails; the others are written and combined
    data = json.loads(combined.read_text())
    assert sorted(data["results"]) == ["1001_DFA_HAP_XX", "1001_DFA_SAD_XX"]
    for vid, entries in data["results"].items():
        own = LocalizationResult.from_json(out / f"{vid}.json")  # --combined implies the JSON
        assert [e["segment"] for e in entries] == [[s.start, s.end] for s in own.segments]
    # ground truth = each video's best proposal per class: the evaluator reads every entry and
    # the overall best proposal of each class is a hit, so AP is positive
    gt = tmp_path / "gt.json"
    best = {vid: {lab: max((e for e in entries if e["label"] == lab), key=lambda e: e["score"])
                  for lab in {e["label"] for e in entries}} for vid, entries in data["results"].items()}
    gt.write_text(json.dumps({"database": {vid: {"subset": "test", "annotations": [
        {"segment": e["segment"], "label": lab} for lab, e in per.items()]} for vid, per in best.items()}}))
    metrics = evaluate_detection(gt, combined)
    assert sum(metrics["num_predictions"]) == sum(len(e) for e in data["results"].values())
    assert 0.0 < metrics["average_mAP"] <= 1.0
