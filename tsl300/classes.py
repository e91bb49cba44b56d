"""The TSL-300 classes, in one leaf module: codes in score-column order and readable names.

Index 0 is negative (``"n"``), 1 positive (``"p"``), as the official code and its
``point_labels.csv`` (``class_index`` n=0, p=1). Every other module imports them from here.

>>> sentiment_of("p"), SENTIMENT_TO_CODE["negative"]
('positive', 'n')
"""
from __future__ import annotations

CLASS_CODES: tuple[str, ...] = ("n", "p")
"""TSL-300 class codes, in score-column order."""
SENTIMENTS: tuple[str, ...] = ("negative", "positive")
"""Readable label of each score column."""
CODE_TO_SENTIMENT = dict(zip(CLASS_CODES, SENTIMENTS))
SENTIMENT_TO_CODE = dict(zip(SENTIMENTS, CLASS_CODES))


def sentiment_of(label: str) -> str:
    """'positive'/'negative' for a label given as a sentiment or a TSL-300 code ('p'/'n')."""
    if label in SENTIMENT_TO_CODE:
        return label
    if label in CODE_TO_SENTIMENT:
        return CODE_TO_SENTIMENT[label]
    raise ValueError(f"unknown sentiment label {label!r}; expected one of {SENTIMENTS + CLASS_CODES}")
