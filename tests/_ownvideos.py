"""Shared by the own-videos tests: tiny browser-playable videos made from real clips, and a
headless Debian chromium driven by selenium (skipped with a reason where none can be had,
except in CI, which sets TSL300_REQUIRE_BROWSER=1)."""
from __future__ import annotations

import os
import shutil
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
CLIPS = SHARED / "media" / "clips"
CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--autoplay-policy=no-user-gesture-required", "--window-size=1200,900")


def real_clip(name: str) -> Path:
    path = CLIPS / name
    if not path.is_file():
        pytest.skip(f"{path} absent (the real clips of ../shared/media)")
    return path


def to_webm(src: Path, dst: Path, seconds: float | None = None, size=(160, 120)) -> Path:
    """Re-encode ``src`` (first ``seconds``) as a small VP8/Opus webm every browser plays."""
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        vin = inp.streams.video[0]
        fps = Fraction(vin.average_rate or 25).limit_denominator(1000)
        vout = out.add_stream("libvpx", rate=fps)
        vout.width, vout.height, vout.pix_fmt = size[0], size[1], "yuv420p"
        vout.options = {"deadline": "realtime", "cpu-used": "8", "b": "200k"}
        ain = inp.streams.audio[0] if inp.streams.audio else None
        aout = out.add_stream("libopus", rate=48000, layout="mono") if ain is not None else None
        resampler = av.AudioResampler(format="s16", layout="mono", rate=48000) if ain is not None else None
        count = 0
        limit = int(seconds * float(fps)) if seconds else None
        for frame in inp.decode(vin):
            if limit is not None and count >= limit:
                break
            image = frame.to_ndarray(format="rgb24", width=size[0], height=size[1])
            new = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            new.pts = count
            new.time_base = 1 / fps
            for packet in vout.encode(new):
                out.mux(packet)
            count += 1
        for packet in vout.encode(None):
            out.mux(packet)
        if ain is not None:
            end = count / float(fps)
            with av.open(str(src)) as again:
                frames = list(again.decode(again.streams.audio[0]))
            for frame in frames:
                if frame.time is not None and frame.time >= end:
                    break
                for res in resampler.resample(frame):
                    for packet in aout.encode(res):
                        out.mux(packet)
            for packet in aout.encode(None):
                out.mux(packet)
    return dst


def chromium_paths() -> tuple[str | None, str | None]:
    return (shutil.which("chromium") or shutil.which("chromium-browser"),
            shutil.which("chromedriver"))


def browser_or_skip():
    """A headless chromium WebDriver (caller quits it)."""
    required = os.environ.get("TSL300_REQUIRE_BROWSER") == "1"
    binary, driver = chromium_paths()
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        if required:
            raise
        pytest.skip("selenium not installed (pip install -e '.[dev]')")
    if not binary or not driver:
        if required:
            pytest.fail("TSL300_REQUIRE_BROWSER=1 but chromium/chromedriver are missing "
                        "(apt-get install chromium chromium-driver)")
        pytest.skip("no chromium + chromedriver here (apt-get install chromium chromium-driver); "
                    "CI installs them and makes these tests required")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='tsl300_chromium_')}")
    return webdriver.Chrome(service=Service(driver), options=options)


def synthetic_webm(path: Path, seconds: float = 2.0, fps: int = 25, size=(96, 64)) -> Path:
    """A small VP8 webm (colour ramp, no audio) for browser tests that need no real media."""
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("libvpx", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.options = {"deadline": "realtime", "cpu-used": "8"}
        for k in range(int(seconds * fps)):
            image = np.full((size[1], size[0], 3), (10 * k) % 256, np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = k
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path
