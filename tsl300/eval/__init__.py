"""Detection evaluation exactly as the official TSL-300 evaluator (mAP, average mAP, the
TSL-300 "Precision"/"Recall" curve means and F2); see ``tsl300/eval/README.md``."""
from .detection import TSL300_TIOUS, evaluate_arrays, evaluate_detection, evaluate_segments
from .report import format_table

__all__ = [
    "TSL300_TIOUS",
    "evaluate_arrays",
    "evaluate_detection",
    "evaluate_segments",
    "format_table",
]
