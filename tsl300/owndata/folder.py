"""The videos of a user's folder: every file is either a usable video (id = file stem, with its
header duration and fps) or listed as skipped with the reason, never silently dropped."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..data.io import check_video_id
from ..errors import DataError, Tsl300Error
from ..io.inputs import VIDEO_SUFFIXES
from ..io.probe import probe


@dataclass(frozen=True)
class FolderVideo:
    vid: str
    path: Path
    relpath: str       # POSIX path relative to the folder (what the annotate server serves)
    duration: float
    fps: float


@dataclass
class VideoFolder:
    root: Path
    videos: dict[str, FolderVideo] = field(default_factory=dict)
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def durations(self) -> dict[str, float]:
        return {vid: v.duration for vid, v in self.videos.items()}

    def skipped_report(self) -> str:
        return "\n".join(f"  skipped {p}: {why}" for p, why in self.skipped)


def scan_folder(root) -> VideoFolder:
    """Probe every file under ``root`` (recursive, hidden files ignored). Two videos with one
    id (file stem) are a :class:`DataError` naming both."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder of videos")
    folder = VideoFolder(root)
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if path.suffix.lower() not in VIDEO_SUFFIXES:
            folder.skipped.append((path, f"not a video file (suffix {path.suffix or 'none'})"))
            continue
        try:
            check_video_id(path.stem, path)
            info = probe(path)
        except Tsl300Error as exc:
            folder.skipped.append((path, str(exc).removeprefix(f"{path}: ")))
            continue
        if info.duration <= 0:
            folder.skipped.append((path, "no duration in the header"))
            continue
        if path.stem in folder.videos:
            raise DataError(f"two videos have the id {path.stem!r}: {folder.videos[path.stem].path} and {path}; "
                            "rename one (the id is the file name without its suffix)")
        folder.videos[path.stem] = FolderVideo(path.stem, path, rel.as_posix(), float(info.duration),
                                               float(info.fps))
    return folder
