"""``tsl300 eval``: golden round trip through the CLI, --tiou syntax, clean errors."""
from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
from conftest import shared_path

from tsl300.cli import main
from tsl300.commands.eval import parse_tious
from tsl300.eval import TSL300_TIOUS


def test_cli_round_trip_on_a_golden_case(tmp_path, capsys):
    folder = shared_path("golden", "eval", "random_large_anet_tiou")
    expected = json.loads((folder / "expected.json").read_text())
    out = tmp_path / "result.json"
    code = main([
        "eval", "--gt", str(folder / "gt.json"), "--pred", str(folder / "pred.json"),
        "--tiou", "0.5:0.95:0.05", "--json", str(out),
    ])
    assert code == 0
    written = json.loads(out.read_text())
    for key, want in expected.items():
        if key == "class_index":
            assert list(written[key].items()) == list(want.items())
        else:
            np.testing.assert_allclose(written[key], want, rtol=0, atol=1e-9, err_msg=key)
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]  # no temp file left over
    table = capsys.readouterr().out
    assert "mAP" in table and "F2" in table
    assert f"{100 * expected['average_mAP']:.2f}" in table


def test_cli_default_thresholds_are_tsl300(tmp_path, capsys):
    folder = shared_path("golden", "eval", "random_small")
    expected = json.loads((folder / "expected.json").read_text())
    out = tmp_path / "r.json"
    assert main(["eval", "--gt", str(folder / "gt.json"), "--pred", str(folder / "pred.json"), "--json", str(out)]) == 0
    written = json.loads(out.read_text())
    assert written["tiou_thresholds"] == TSL300_TIOUS == expected["tiou_thresholds"]
    np.testing.assert_allclose(written["mAP"], expected["mAP"], rtol=0, atol=1e-9)


def test_parse_tious():
    assert parse_tious("0.1:0.3:0.05") == TSL300_TIOUS
    assert parse_tious("0.1:0.7:0.1") == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]
    assert parse_tious("0.5:0.95:0.05") == np.linspace(0.5, 0.95, 10).tolist()  # the official linspace
    assert parse_tious("0.3, 0.5,0.7") == [0.3, 0.5, 0.7]
    for bad in ("0.1:0.3", "0.1:0.3:0", "0.3:0.1:0.05", "0.1:0.3:0.07", "a,b", "0,0.5", "1.2"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_tious(bad)


def test_cli_bad_tiou_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["eval", "--gt", "g.json", "--pred", "p.json", "--tiou", "0.1:0.3"])
    assert info.value.code == 2
    assert "start:stop:step" in capsys.readouterr().err


def test_cli_bad_file_is_a_clean_error(tmp_path, capsys):
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps({"database": {"v": {"subset": "test", "annotations": [
        {"segment": ["1", "2"], "label": "p"}]}}}))
    pred = tmp_path / "pred_nan.json"
    pred.write_text('{"results": {"v": [{"segment": [1, 2], "label": "p", "score": NaN}]}}')
    out = tmp_path / "out.json"
    code = main(["eval", "--gt", str(gt), "--pred", str(pred), "--json", str(out)])
    err = capsys.readouterr().err
    assert code != 0
    assert "pred_nan.json" in err and "video 'v'" in err and "score is nan" in err
    assert "Traceback" not in err
    assert not out.exists()

    code = main(["eval", "--gt", str(tmp_path / "nope.json"), "--pred", str(pred)])
    err = capsys.readouterr().err
    assert code != 0 and "nope.json: ground truth file not found" in err


def test_cli_json_creates_its_folder_and_reports_unwritable_paths(tmp_path, capsys):
    folder = shared_path("golden", "eval", "random_small")
    args = ["eval", "--gt", str(folder / "gt.json"), "--pred", str(folder / "pred.json"), "--json"]
    out = tmp_path / "new" / "out.json"
    assert main(args + [str(out)]) == 0 and json.loads(out.read_text())["mAP"]
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    code = main(args + [str(blocker / "out.json")])  # a file where a folder should be
    err = capsys.readouterr().err
    assert code != 0 and "cannot write the result" in err and "Traceback" not in err
