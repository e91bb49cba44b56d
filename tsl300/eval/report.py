"""The printed evaluation table: one column per tIoU threshold plus their average, in percent.

Per-class AP rows are labelled with the real class names from ``class_index`` (the official
logs call the first-seen class 'nAP' even when it is 'p').
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np


def _row(name: str, values: Sequence[float], width: int) -> str:
    cells = [f"{100 * v:>{width}.2f}" for v in values]
    cells.append(f"{100 * float(np.mean(values)):>{width}.2f}")
    return f"{name:<16}" + " ".join(cells)


def format_table(result: Mapping[str, Any]) -> str:
    """Readable table of an :func:`~tsl300.eval.evaluate_detection` result (percent, 2 dp)."""
    thresholds = result["tiou_thresholds"]
    width = 7
    header = f"{'tIoU':<16}" + " ".join(f"{t:>{width}.2f}" for t in thresholds)
    header += " " + f"{'Avg':>{width}}"
    lines = [header, "-" * len(header), _row("mAP", result["mAP"], width)]
    ap = np.asarray(result["AP_per_class_per_tiou"], dtype=float).reshape(len(thresholds), -1)
    for label, c in sorted(result["class_index"].items(), key=lambda kv: kv[1]):
        lines.append(_row(f"  AP {label}"[:16], ap[:, c], width))
    lines.append(_row("Precision (mean)", result["precision_curve_mean"], width))
    lines.append(_row("Recall (mean)", result["recall_curve_mean"], width))
    lines.append(_row("F2", result["F2"], width))
    lines.append("-" * len(header))
    lines.append(
        f"average mAP {100 * result['average_mAP']:.2f}   "
        f"Recall {100 * float(np.mean(result['recall_curve_mean'])):.2f}   "
        f"F2 {100 * float(np.mean(result['F2'])):.2f}   (percent; TSL-300 paper columns)"
    )
    return "\n".join(lines)
