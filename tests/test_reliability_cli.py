"""The command line as a new user meets it (issue 12, "Command line"): each test is one repro
that failed before the fix. Media come from ``tests/media_factory.py``; models are tiny."""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
import torch
from media_factory import av_file, png_image

from tsl300.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_GT = ROOT / "tsl300" / "resources" / "examples" / "crema_d_1001_example.gt.json"


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return av_file(tmp_path_factory.mktemp("media") / "clip.mp4", 1.2, 1.2)


@pytest.fixture(scope="module")
def synth_data(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "D"
    assert main(["synth", str(out), "--train", "4", "--test", "2", "--snippets-mean", "40"]) == 0
    return out


def test_device_cuda_without_cuda_is_a_clear_error(clip, tiny_flagship_checkpoint, tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    code = main(["localize", str(clip), "-m", str(tiny_flagship_checkpoint), "-o", str(tmp_path), "--device", "cuda"])
    err = capsys.readouterr().err
    assert code == 1 and "CUDA is not available" in err and "Traceback" not in err


def test_png_is_not_a_video(tmp_path, tiny_flagship_checkpoint, capsys):
    picture = png_image(tmp_path / "result.png")
    code = main(["localize", str(picture), "-m", str(tiny_flagship_checkpoint), "-o", str(tmp_path / "out"),
                 "--quiet"])
    err = capsys.readouterr().err
    assert code == 1 and "result.png: a still image, not a video or audio file" in err
    assert not (tmp_path / "out" / "result.json").exists()


def test_list_extractors_needs_no_output_folder(capsys):
    assert main(["extract", "--list-extractors"]) == 0
    names = capsys.readouterr().out.split()
    assert "visual_stats" in names and "audio_prosody" in names


def test_extract_without_output_folder_still_asks_for_one(clip, capsys):
    assert main(["extract", str(clip)]) == 1
    assert "-o/--output-dir" in capsys.readouterr().err


def test_eval_reads_the_shipped_examples_ground_truth(tmp_path, capsys):
    gt = json.loads(EXAMPLE_GT.read_text())
    vid = Path(gt["stream"]["file"]).stem
    pred = {"results": {vid: [{"segment": [s["start"], s["end"]], "label": s["label"], "score": 0.9}
                              for s in gt["stream"]["segments"]]}}
    (tmp_path / "pred.json").write_text(json.dumps(pred))
    code = main(["eval", "--gt", str(EXAMPLE_GT), "--pred", str(tmp_path / "pred.json"), "-o", str(tmp_path)])
    assert code == 0, capsys.readouterr().err
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["average_mAP"] == pytest.approx(100.0) or metrics["average_mAP"] == pytest.approx(1.0)


@pytest.mark.parametrize("formats", [["-f", "json", "-f", "csv"], ["-f", "json,csv"], ["-f", "csv", "-f", "json,csv"]])
def test_several_formats(formats, clip, tiny_flagship_checkpoint, tmp_path):
    out = tmp_path / "out"
    assert main(["localize", str(clip), "-m", str(tiny_flagship_checkpoint), "-o", str(out), "--quiet",
                 *formats]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["clip.csv", "clip.json"]


def test_unknown_format_suggests_the_close_one(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["localize", "x.mp4", "-f", "jsn"])
    assert exit_info.value.code == 2 and "did you mean json?" in capsys.readouterr().err


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_written_files_honour_the_umask(umask, tmp_path):
    from tsl300.data.io import atomic_write_text
    from tsl300.engine.checkpoint import save_checkpoint

    old = os.umask(umask)
    try:
        method = torch.nn.Linear(2, 2)
        save_checkpoint(tmp_path / "model", method, {"recipe": {}, "classes": ["n", "p"]})
        atomic_write_text(tmp_path / "x.json", "{}")
    finally:
        os.umask(old)
    for name in ("model.safetensors", "model.json", "x.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~umask, name


def test_no_empty_eval_log_when_nothing_was_evaluated(synth_data, tmp_path):
    run = tmp_path / "R"
    (run).mkdir()
    (run / "eval_log.csv").write_text("")  # left by an older version: a fresh run removes it
    assert main(["train", str(ROOT / "recipes" / "tsl300" / "flagship.yaml"), "--data", str(synth_data),
                 "-o", str(run), "--set", "schedule.steps=1", "--set", "data.max_snippets=32",
                 "--set", "batch_size=2", "--set", "select=last", "--no-test", "--quiet", "--threads", "1"]) == 0
    assert (run / "train_log.csv").stat().st_size > 0
    assert not (run / "eval_log.csv").exists()


def test_bench_without_recipes_lists_the_choices(synth_data, tmp_path, capsys):
    code = main(["bench", "--data", str(synth_data), "-o", str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert code == 1 and "--recipes is required" in err and "lacp" in err and "tsl300" in err
    assert not (tmp_path / "b").exists()


def test_train_takes_a_method_folder():
    from tsl300.commands.train import recipe_file

    assert Path(recipe_file(str(ROOT / "recipes" / "tsl300"))).name == "flagship.yaml"
    assert Path(recipe_file(str(ROOT / "recipes" / "lacp"))).name == "lacp.yaml"


def test_train_folder_without_main_recipe_lists_its_files(tmp_path, synth_data, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "a.yaml").write_text("method: lacp\n")
    (folder / "b.yaml").write_text("method: lacp\n")
    code = main(["train", str(folder), "--data", str(synth_data), "-o", str(tmp_path / "R")])
    err = capsys.readouterr().err
    assert code == 1 and "a.yaml, b.yaml" in err and "Is a directory" not in err


def test_mistyped_paths_get_a_suggestion(tmp_path, synth_data, tiny_flagship_checkpoint, capsys):
    typo = ROOT / "recipes" / "tsl300" / "flagshp.yaml"
    assert main(["train", str(typo), "--data", str(synth_data), "-o", str(tmp_path / "R")]) == 1
    assert f"did you mean {ROOT / 'recipes' / 'tsl300' / 'flagship.yaml'}?" in capsys.readouterr().err
    clip = av_file(tmp_path / "talk_01.mp4", 1.0, 1.0)
    code = main(["localize", str(tmp_path / "talk_1.mp4"), "-m", str(tiny_flagship_checkpoint), "-o",
                 str(tmp_path / "o"), "--quiet"])
    assert code == 1 and f"did you mean {clip}?" in capsys.readouterr().err


def test_mistyped_model_name_gets_a_suggestion(tmp_path, capsys):
    clip = av_file(tmp_path / "v.mp4", 1.0, 1.0)
    assert main(["localize", str(clip), "-m", "defualt", "-o", str(tmp_path)]) == 1
    assert "defualt: no such model (did you mean default?)" in capsys.readouterr().err


def _commands():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return sub.choices


def test_every_command_has_an_example_in_its_help():
    commands = _commands()
    assert {"localize", "extract", "train", "test", "eval", "bench", "synth", "import-official"} <= set(commands)
    for name, parser in commands.items():
        text = parser.format_help()
        head, sep, examples = text.partition("example")
        assert sep and f"tsl300 {name} " in examples, name


FOLDER_WRITERS = ("localize", "extract", "train", "test", "eval", "bench", "import-official")
"""Commands that write into an output folder (synth takes it as its positional argument; annotate
writes the CSVs it is given; view writes one named page)."""


def test_one_output_folder_option_everywhere():
    for name in FOLDER_WRITERS:
        parser = _commands()[name]
        options = {s for a in parser._actions for s in a.option_strings}
        assert {"-o", "--output-dir"} <= options, name


def test_old_output_spellings_still_work(tmp_path, synth_data, capsys):
    run = tmp_path / "R"
    assert main(["train", str(ROOT / "recipes" / "tsl300" / "flagship.yaml"), "--data", str(synth_data),
                 "--out", str(run), "--set", "schedule.steps=1", "--set", "data.max_snippets=32",
                 "--set", "batch_size=2", "--set", "select=last", "--no-test", "--quiet", "--threads", "1"]) == 0
    assert (run / "model.safetensors").is_file()
    assert "--out is deprecated; use -o/--output-dir" in capsys.readouterr().err
