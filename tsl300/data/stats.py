"""Statistics of TSL-300-layout annotations, for the data cards.

Regenerate the tables of ``data_cards/tsl300.md`` with::

    python -m tsl300.data.stats                 # the shipped annotations
    python -m tsl300.data.stats /path/to/root   # any dataset in the layout (e.g. synthetic)

Everything is read through the data layer's own readers, so the card describes what the
loader sees. "Inside" means ``point / fps`` lies in ``[start, end]`` of a ground-truth segment
(``videosenti_gt.json``) of the same class.
"""
from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from ..classes import CLASS_CODES
from .annotations import parse_ground_truth
from .io import read_json_mapping, read_point_table, read_split
from .points import annotator_files
from .resources import SHIPPED_FILES, tsl300_annotations


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def segment_table(root: Path, gt_file: str = "videosenti_gt.json") -> pd.DataFrame:
    """One row per segment: vid, subset (from the split files), label, start, end, length."""
    segments = parse_ground_truth(root / gt_file, CLASS_CODES)
    subset = {v: s for s in ("train", "test") if (root / f"split_{s}.txt").is_file()
              for v in read_split(root / f"split_{s}.txt")}
    rows = [(vid, subset.get(vid, "?"), seg.label, seg.start, seg.end)
            for vid, segs in segments.items() for seg in segs]
    table = pd.DataFrame(rows, columns=["vid", "subset", "label", "start", "end"])
    table["length"] = table["end"] - table["start"]
    return table


def inside_same_class(points: pd.DataFrame, segments: pd.DataFrame, fps: dict[str, float]) -> np.ndarray:
    """Bool per point row: inside a same-class segment (vectorised per video)."""
    inside = np.zeros(len(points), dtype=bool)
    seg_by_vid = {v: g for v, g in segments.groupby("vid")}
    for vid, rows in points.groupby("video_id"):
        segs = seg_by_vid.get(vid)
        if segs is None:
            continue
        t = rows["point"].to_numpy(float)[:, None] / fps[vid]
        same = rows["class"].to_numpy()[:, None] == segs["label"].to_numpy()[None, :]
        hit = (t >= segs["start"].to_numpy()[None, :]) & (t <= segs["end"].to_numpy()[None, :]) & same
        inside[points.index.get_indexer(rows.index)] = hit.any(axis=1)
    return inside


def _fmt(x: float, nd: int = 1) -> str:
    return f"{x:,.{nd}f}"


def compute(root: Path) -> dict:
    root = Path(root)
    splits = {s: read_split(root / f"split_{s}.txt") for s in ("train", "test")
              if (root / f"split_{s}.txt").is_file()}
    fps = read_json_mapping(root / "fps_dict.json", "fps per video")
    dur_path = root / "len_duration_dict.json"
    durations = read_json_mapping(dur_path, "durations") if dur_path.is_file() else {}
    segs = segment_table(root)
    stats: dict = {"splits": {}, "points": {}}
    for split, vids in splits.items():
        d = np.array([durations[v] for v in vids if v in durations])
        s = segs[segs["subset"] == split]
        per_video = s.groupby("vid").size().reindex(vids, fill_value=0)
        label_sets = s.groupby("vid")["label"].agg(lambda x: "+".join(sorted(set(x)))).reindex(vids).fillna("none")
        entry = {
            "videos": len(vids),
            "duration_min_total": d.sum() / 60 if len(d) else float("nan"),
            "duration_s": (d.min(), d.mean(), d.max()) if len(d) else None,
            "segments": len(s),
            "segments_per_video": (per_video.mean(), int(per_video.min()), int(per_video.max())),
            "coverage": s["length"].sum() / d.sum() if len(d) else float("nan"),
            "coverage_per_video": float(np.mean([s[s["vid"] == v]["length"].sum() / durations[v]
                                                 for v in vids if v in durations])) if len(d) else float("nan"),
            "label_sets": label_sets.value_counts().to_dict(),
            "per_class": {},
        }
        for c in CLASS_CODES:
            lc = s[s["label"] == c]["length"]
            entry["per_class"][c] = (len(lc), lc.mean(), lc.median(), lc.min(), lc.max()) if len(lc) else (0,) + (float("nan"),) * 4
        stats["splits"][split] = entry
    fps_values = pd.Series([round(fps[v], 3) for vs in splits.values() for v in vs])
    stats["fps"] = fps_values.value_counts().head(6).to_dict()
    sources = []
    try:
        files = annotator_files(root)
        sources = [(f.name, read_point_table(f, CLASS_CODES)) for f in files]
    except Exception:  # noqa: BLE001 - a dataset without annotator files just has no rows here
        pass
    csv = root / "point_gaussian" / "point_labels.csv"
    if csv.is_file():
        sources.append(("point_labels.csv", read_point_table(csv, CLASS_CODES)))
    for name, table in sources:
        inside = inside_same_class(table, segs, fps)
        stats["points"][name] = {
            "rows": len(table), "videos": table["video_id"].nunique(),
            "p": int((table["class"] == "p").sum()), "n": int((table["class"] == "n").sum()),
            "width": float((table["stop_frame"] - table["start_frame"]).mean()),
            "inside": float(inside.mean()),
        }
    return stats


def to_markdown(stats: dict) -> str:
    lines = ["| split | videos | total duration (min) | duration min / mean / max (s) | segments | "
             "segments per video mean (min-max) | share of time in segments (total / mean per video) |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for split, e in stats["splits"].items():
        dmin, dmean, dmax = e["duration_s"] or (float("nan"),) * 3
        spv = e["segments_per_video"]
        lines.append(f"| {split} | {e['videos']} | {_fmt(e['duration_min_total'])} | {_fmt(dmin)} / "
                     f"{_fmt(dmean)} / {_fmt(dmax)} | {e['segments']} | {spv[0]:.2f} ({spv[1]}-{spv[2]}) | "
                     f"{100 * e['coverage']:.1f}% / {100 * e['coverage_per_video']:.1f}% |")
    lines += ["", "| split | class | segments | length mean / median / min / max (s) |", "| --- | --- | --- | --- |"]
    for split, e in stats["splits"].items():
        for c, (n, mean, med, mn, mx) in e["per_class"].items():
            lines.append(f"| {split} | {c} | {n} | {mean:.2f} / {med:.2f} / {mn:.2f} / {mx:.2f} |")
    lines += ["", "| split | video-level label sets |", "| --- | --- |"]
    for split, e in stats["splits"].items():
        lines.append(f"| {split} | " + ", ".join(f"{k}: {v}" for k, v in sorted(e["label_sets"].items())) + " |")
    lines += ["", "fps (most common): " + ", ".join(f"{k}: {v}" for k, v in stats["fps"].items()), ""]
    lines += ["| point file | rows | videos | p / n | mean stop-start width (frames) | inside a same-class segment |",
              "| --- | --- | --- | --- | --- | --- |"]
    for name, e in stats["points"].items():
        lines.append(f"| {name} | {e['rows']} | {e['videos']} | {e['p']} / {e['n']} | {e['width']:.1f} | "
                     f"{100 * e['inside']:.1f}% |")
    return "\n".join(lines)


def checksums_markdown(root: Path) -> str:
    lines = ["| file | bytes | sha256 |", "| --- | --- | --- |"]
    for rel in SHIPPED_FILES:
        path = root / rel
        lines.append(f"| {rel} | {path.stat().st_size:,} | `{sha256(path)}` |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tsl300.data.stats", description=__doc__.split("\n")[0])
    parser.add_argument("root", nargs="?", help="dataset folder (default: the shipped TSL-300 annotations)")
    parser.add_argument("--checksums", action="store_true", help="also print sha256 of the shipped files")
    args = parser.parse_args(argv)
    root = Path(args.root) if args.root else tsl300_annotations()
    print(to_markdown(compute(root)))
    if args.checksums or not args.root:
        print()
        print(checksums_markdown(root))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
