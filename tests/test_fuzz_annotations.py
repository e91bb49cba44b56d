"""Hypothesis fuzzing of the annotation readers (gt.json, point CSV files, split files,
fps_dict.json) against independent oracles.

Each example is a file that is valid or broken in some way (malformed JSON/CSV, start > end,
negative or NaN times, unknown labels, wrong types, duplicated ids, ids with path separators).
The reader must either raise a :class:`~tsl300.errors.DataError` naming the file, or return
exactly what the oracle reads from the file: never another exception type and never a
silently different number.
"""
from __future__ import annotations

import csv
import io
import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tsl300.config_bounds import FPS_BOUND
from tsl300.data.annotations import parse_ground_truth, read_annotations
from tsl300.data.io import read_point_table, read_split
from tsl300.errors import DataError, Tsl300Error

CLASSES = ("n", "p")
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


def _expect(read, path, oracle_value):
    """Run ``read``; compare with the oracle (``None`` = the file is invalid)."""
    try:
        got = read()
    except Tsl300Error as exc:
        assert isinstance(exc, DataError), type(exc)
        assert str(path) in str(exc), str(exc)
        assert oracle_value is None, f"valid input refused: {exc}"
        return None
    assert oracle_value is not None, f"invalid input accepted: {got!r}"
    return got


# ----------------------------------------------------------------------------- video ids

GOOD_IDS = st.text(alphabet="abcxyz019_-.", min_size=1, max_size=6).filter(lambda s: s not in (".", ".."))
BAD_IDS = st.sampled_from(["", "..", "../x", "a/b", "a\\b", " a", "b ", "x\x00y"])
IDS = st.one_of(GOOD_IDS, GOOD_IDS, GOOD_IDS, BAD_IDS)


def valid_id(vid) -> bool:
    return (isinstance(vid, str) and vid not in ("", ".", "..") and not any(c in vid for c in "/\\\x00")
            and vid == vid.strip())


# ----------------------------------------------------------------------------- gt.json

def _number(x):
    """The oracle's reading of one time: a JSON number or numeric string, finite (no bools)."""
    if isinstance(x, bool) or not isinstance(x, (int, float, str)):
        return None
    try:
        value = float(x)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def gt_oracle(database_items):
    """{vid: [(start, end, label)] sorted} or None when the file must be refused."""
    out = {}
    seen = set()
    for vid, entry in database_items:
        if vid in seen or not valid_id(vid) or not isinstance(entry, dict):
            return None
        seen.add(vid)
        anns = entry.get("annotations", [])
        if not isinstance(anns, list):
            return None
        segs = []
        for ann in anns:
            if not isinstance(ann, dict) or "label" not in ann or not isinstance(ann.get("segment"), list):
                return None
            seg = ann["segment"]
            if len(seg) != 2:
                return None
            start, end = _number(seg[0]), _number(seg[1])
            if start is None or end is None or not 0 <= start < end:
                return None
            if not isinstance(ann["label"], str) or ann["label"] not in CLASSES:
                return None
            segs.append((start, end, ann["label"]))
        out[vid] = sorted(segs, key=lambda s: (s[0], s[1]))
    return out


def _dump_object(items) -> str:
    """JSON object text from (key, value) pairs, keeping duplicated keys (as a broken file can)."""
    return "{" + ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in items) + "}"


VALID_TIME = st.floats(min_value=0, max_value=60).map(lambda x: round(x, 3))
VALID_ANN = st.tuples(VALID_TIME, VALID_TIME, st.sampled_from(CLASSES), st.booleans()).filter(
    lambda a: a[0] != a[1]).map(lambda a: {"segment": sorted(a[:2]) if not a[3] else [str(x) for x in sorted(a[:2])],
                                          "label": a[2]})
VALID_ITEMS = st.lists(st.tuples(GOOD_IDS, st.fixed_dictionaries({
    "subset": st.sampled_from(["train", "test"]), "annotations": st.lists(VALID_ANN, max_size=3)})),
    max_size=4, unique_by=lambda item: item[0])
BREAKS = {  # one fault, applied to one annotation (or entry) of an otherwise valid file
    "bool_time": lambda ann, d: {**ann, "segment": [True, 2]},
    "string_segment": lambda ann, d: {**ann, "segment": "12"},
    "swapped": lambda ann, d: {**ann, "segment": [5, 1]},
    "empty_segment": lambda ann, d: {**ann, "segment": [3, 3]},
    "negative": lambda ann, d: {**ann, "segment": [-1, 2]},
    "nan": lambda ann, d: {**ann, "segment": [d.draw(st.sampled_from([math.nan, math.inf, "nan", "inf"])), 2]},
    "three_numbers": lambda ann, d: {**ann, "segment": [1, 2, 3]},
    "not_numbers": lambda ann, d: {**ann, "segment": [d.draw(st.sampled_from(["", "a", None, [], {}])), 2]},
    "unknown_label": lambda ann, d: {**ann, "label": d.draw(st.sampled_from(["x", "P", "", None, 0, ["n"]]))},
    "no_label": lambda ann, d: {"segment": ann["segment"]},
    "no_segment": lambda ann, d: {"label": ann["label"]},
    "not_an_object": lambda ann, d: d.draw(st.sampled_from([None, [], "n", 1])),
}
ENTRY_BREAKS = {
    "annotations_not_list": lambda e, d: {**e, "annotations": d.draw(st.sampled_from([None, "n", {}, 1]))},
    "entry_not_object": lambda e, d: d.draw(st.sampled_from([None, [], "x", 3])),
    "no_annotations_key": lambda e, d: {"subset": e["subset"]},  # allowed: no segments
}


@FUZZ
@given(items=VALID_ITEMS, data=st.data(),
       fault=st.sampled_from([None, "duplicate_id", "bad_id", "wrapper", *BREAKS, *ENTRY_BREAKS]))
def test_gt_json(folder, items, data, fault):
    items = [(vid, {**e, "annotations": list(e["annotations"])}) for vid, e in items]
    wrapper = '{"database": %s}'
    annotated = [(i, k) for i, (_, e) in enumerate(items) for k in range(len(e["annotations"]))]
    if fault in BREAKS and annotated:
        i, k = data.draw(st.sampled_from(annotated))
        items[i][1]["annotations"][k] = BREAKS[fault](items[i][1]["annotations"][k], data)
    elif fault in ENTRY_BREAKS and items:
        i = data.draw(st.integers(0, len(items) - 1))
        items[i] = (items[i][0], ENTRY_BREAKS[fault](items[i][1], data))
    elif fault == "duplicate_id" and items:
        items.append((items[0][0], data.draw(st.sampled_from([items[0][1], {"subset": "test", "annotations": []}]))))
    elif fault == "bad_id" and items:
        items[0] = (data.draw(BAD_IDS), items[0][1])
    elif fault == "wrapper":
        wrapper = data.draw(st.sampled_from(['{"db": %s}', "[%s]", '{"database": [%s]}']))
    path = folder / "gt.json"
    path.write_text(wrapper % _dump_object(items))
    oracle = gt_oracle(items) if fault != "wrapper" else None
    got = _expect(lambda: parse_ground_truth(path, CLASSES), path, oracle)
    if got is not None:
        assert {v: [(s.start, s.end, s.label) for s in segs] for v, segs in got.items()} == oracle


class _FirstChoice:
    """Stands for hypothesis' ``data`` in the fixed cases: takes the first sampled value."""

    def draw(self, strategy):
        return strategy.elements[0]


@pytest.mark.parametrize("fault", sorted(BREAKS) + sorted(ENTRY_BREAKS))
def test_every_gt_fault_once(folder, fault):
    """Each fault on a fixed file, so none depends on the draw (the fuzz test mixes them)."""
    entry = {"subset": "test", "annotations": [{"segment": ["1.5", "4.0"], "label": "p"}]}
    if fault in BREAKS:
        entry["annotations"][0] = BREAKS[fault](entry["annotations"][0], _FirstChoice())
    else:
        entry = ENTRY_BREAKS[fault](entry, _FirstChoice())
    items = [("v1", {"subset": "test", "annotations": []}), ("v2", entry)]
    path = folder / "gt_fixed.json"
    path.write_text('{"database": %s}' % _dump_object(items))
    oracle = gt_oracle(items)
    assert (oracle is not None) == (fault == "no_annotations_key")
    _expect(lambda: parse_ground_truth(path, CLASSES), path, oracle)


@FUZZ
@given(text=st.one_of(st.text(max_size=40), st.binary(max_size=40).map(lambda b: b.decode("latin-1")),
                      st.sampled_from(['{"database": {', '{"database": NaN}', "", "null", '{"database": []}'])))
def test_gt_json_garbage_text(folder, text):
    path = folder / "gt_text.json"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    try:
        data = json.loads(text)
        valid = isinstance(data, dict) and isinstance(data.get("database"), dict) and not data["database"]
    except ValueError:
        valid = False
    got = _expect(lambda: parse_ground_truth(path, CLASSES), path, {} if valid else None)
    if got is not None:
        assert got == {}


# ----------------------------------------------------------------------------- split files

@FUZZ
@given(lines=st.lists(st.one_of(IDS, st.just(""), st.just("   ")), max_size=6),
       newline=st.sampled_from(["\n", "\r\n"]))
def test_split_file(folder, lines, newline):
    path = folder / "split_test.txt"
    path.write_bytes(newline.join(lines).encode("utf-8"))
    vids = [line.strip() for line in lines if line.strip()]
    # a line with surrounding spaces is read stripped (the official reader strips too)
    valid = all(valid_id(v) for v in vids) and len(set(vids)) == len(vids)
    got = _expect(lambda: read_split(path), path, vids if valid else None)
    if got is not None:
        assert got == vids


# ----------------------------------------------------------------------------- point CSV files

HEADER = ["class", "class_index", "start_frame", "stop_frame", "video_id", "point"]
FRAMES = st.one_of(st.integers(0, 5000), st.integers(0, 5000), st.integers(-5, -1),
                   st.sampled_from(["", "abc", "1.5", "2.0", "nan", "inf", "-0", "1e3"]))
ROWS = st.fixed_dictionaries({
    "class": st.sampled_from(list(CLASSES) * 3 + ["x", "N", ""]),
    "class_index": st.one_of(st.sampled_from([0, 1, 0, 1, 2, -1]), st.just("a")),
    "start_frame": FRAMES, "stop_frame": FRAMES,
    "video_id": st.one_of(GOOD_IDS.filter(lambda s: s.lower() not in ("nan", "na", "null", "none")),
                          st.sampled_from(["../up", "a/b"])),
    "point": FRAMES,
})


def _frame(x):
    if isinstance(x, int):
        return x if x >= 0 else None
    try:
        value = float(x)
    except ValueError:
        return None
    return int(value) if math.isfinite(value) and value == round(value) and value >= 0 else None


def points_oracle(rows):
    out = []
    for row in rows:
        frames = [_frame(row[c]) for c in ("start_frame", "stop_frame", "point")]
        if any(f is None for f in frames) or row["class"] not in CLASSES or not valid_id(row["video_id"]):
            return None
        if row["class_index"] != CLASSES.index(row["class"]):
            return None
        out.append((row["class"], row["class_index"], *frames[:2], row["video_id"], frames[2]))
    return out


@FUZZ
@given(rows=st.lists(ROWS, min_size=1, max_size=5), drop=st.sampled_from([None, None, None, "point", "class"]),
       extra=st.booleans())
def test_point_file(folder, rows, drop, extra):
    path = folder / "point_anno_0.txt"
    header = [c for c in HEADER if c != drop] + (["comment"] if extra else [])
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(c, "extra, text") for c in header])
    path.write_text(buffer.getvalue())
    oracle = points_oracle(rows) if drop is None else None
    got = _expect(lambda: read_point_table(path, CLASSES), path, oracle)
    if got is not None:
        assert list(got.columns) == HEADER
        assert [tuple(r) for r in got.itertuples(index=False)] == oracle


@FUZZ
@given(text=st.one_of(st.text(max_size=60), st.sampled_from([
    "", "class,class_index\n", ",".join(HEADER) + "\n", ",".join(HEADER) + '\n"p,1,2\n',
    ",".join(HEADER) + "\np,1,2,3,v1,2,9,9\n"])))
def test_point_file_garbage_text(folder, text):
    path = folder / "point_anno_1.txt"
    path.write_text(text)
    valid = text.strip() == ",".join(HEADER)  # only a header without data rows is valid (empty)
    got = _expect(lambda: read_point_table(path, CLASSES), path, [] if valid else None)
    if got is not None:
        assert len(got) == 0


# ----------------------------------------------------------------------------- fps_dict.json

FPS_VALUES = st.one_of(st.floats(min_value=0.5, max_value=120), st.sampled_from(
    [0, -25, 0.0, math.nan, math.inf, "25", "x", None, [], {}, True]))


@FUZZ
@given(values=st.dictionaries(st.sampled_from(["v1", "v2", "v3"]), FPS_VALUES, max_size=3))
def test_fps_dict(folder, values):
    root = folder / "ds"
    root.mkdir(exist_ok=True)
    (root / "split_test.txt").write_text("v1\nv2\n")
    (root / "gt.json").write_text(json.dumps({"database": {
        "v1": {"subset": "test", "annotations": [{"segment": ["1.0", "2.5"], "label": "p"}]},
        "v2": {"subset": "test", "annotations": []}}}))
    path = root / "fps_dict.json"
    path.write_text(json.dumps(values))  # NaN/Infinity literals as Python's json writes them

    def reading(x):  # any number or numeric string; only the split's videos must be usable
        if isinstance(x, bool) or not isinstance(x, (int, float, str)):
            return None
        try:
            return float(x)
        except ValueError:
            return None

    parsed = {k: reading(v) for k, v in values.items()}
    valid = (all(p is not None for p in parsed.values()) and all(k in parsed for k in ("v1", "v2"))
             and all(FPS_BOUND.holds(parsed[k]) for k in ("v1", "v2")))
    got = _expect(lambda: read_annotations(root, "test", "gt", CLASSES), path, parsed if valid else None)
    if got is not None:
        assert got.fps == {"v1": parsed["v1"], "v2": parsed["v2"]}
        assert [(s.start, s.end) for s in got.segments["v1"]] == [(1.0, 2.5)]
