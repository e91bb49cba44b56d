"""Every golden case of the official TSL-300 evaluator, every field of expected.json, to 1e-9."""
from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import SHARED, shared_path

from tsl300.eval import evaluate_detection

GOLDEN = SHARED / "golden" / "eval"
CASES = (
    sorted(p.name for p in GOLDEN.iterdir() if (p / "expected.json").exists())
    if GOLDEN.is_dir()
    else ["(absent)"]  # collected, then skipped by shared_path with a clear reason
)


def assert_matches_expected(result: dict, expected: dict, atol: float = 1e-9) -> None:
    """Every field of ``expected`` is in ``result``: class_index exactly (order included),
    every number within ``atol``."""
    for key, want in expected.items():
        assert key in result, f"missing field {key}"
        got = result[key]
        if key == "class_index":
            assert list(got.items()) == list(want.items())
            continue
        got_arr, want_arr = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
        assert got_arr.shape == want_arr.shape, key
        np.testing.assert_allclose(got_arr, want_arr, rtol=0, atol=atol, err_msg=key)


@pytest.mark.parametrize("case", CASES)
def test_golden_case(case):
    folder = shared_path("golden", "eval", case)
    expected = json.loads((folder / "expected.json").read_text())
    result = evaluate_detection(
        folder / "gt.json", folder / "pred.json", tiou_thresholds=expected["tiou_thresholds"]
    )
    assert_matches_expected(result, expected)
    # The paper's "Recall" / "F2" columns are the means over thresholds.
    mean_recall = np.mean(expected["recall_curve_mean"])
    assert result["average_recall"] == pytest.approx(mean_recall, abs=1e-12)
    assert result["average_F2"] == pytest.approx(np.mean(expected["F2"]), abs=1e-12)


def test_golden_cases_are_present():
    """Guards against the parametrisation silently collecting nothing."""
    shared_path("golden", "eval")
    assert {"random_large", "tsl300_test_jittered", "extra_video", "three_class"} <= set(CASES)
