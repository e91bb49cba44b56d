"""The annotate app and the viewer page in a real browser (Debian's headless chromium + selenium).

Skipped with a reason where no chromium can be had; CI installs it and sets
TSL300_REQUIRE_BROWSER=1 so that these tests cannot silently skip there.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from _ownvideos import browser_or_skip, synthetic_webm
from tsl300.data.user_labels import read_segments
from tsl300.owndata.annotate_server import make_server, serve_in_thread, url_of
from tsl300.owndata.folder import scan_folder
from tsl300.owndata.label_store import LabelStore

SEEK = """const [t, done] = arguments; const v = document.getElementById('video');
const go = () => { v.addEventListener('seeked', () => done(v.currentTime), {once: true}); v.currentTime = t; };
v.readyState >= 1 ? go() : v.addEventListener('loadedmetadata', go, {once: true});"""


@pytest.fixture(scope="module")
def browser():
    driver = browser_or_skip()
    driver.set_script_timeout(20)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("videos")
    synthetic_webm(folder / "a.webm", 2.0)
    synthetic_webm(folder / "b.webm", 2.0)
    (folder / "notes.txt").write_text("not a video")  # listed and skipped by the server
    return folder


def wait_for(predicate, timeout=15.0, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def open_page(driver, url):
    driver.get(url)
    wait_for(lambda: driver.execute_script("return document.body.dataset.ready === '1'"), what="page ready")


def press(driver, keys):
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(driver).send_keys(keys).perform()


def test_annotating_with_keys_and_the_timeline_writes_the_expected_rows(browser, videos, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    points, segments = tmp_path / "points.csv", tmp_path / "segments.csv"
    folder = scan_folder(videos)
    server = make_server(folder, LabelStore(points, folder.durations, segments, annotator="tester"))
    serve_in_thread(server)
    try:
        open_page(browser, url_of(server))
        assert browser.find_element(By.ID, "vid").text == "a"
        assert browser.execute_async_script(SEEK, 0.5) == pytest.approx(0.5, abs=0.05)
        press(browser, "p")
        wait_for(lambda: "a,0.500,positive" in read(points), what="the first point")
        browser.execute_async_script(SEEK, 1.2)
        press(browser, "n")
        wait_for(lambda: "a,1.200,negative" in read(points), what="the second point")
        press(browser, "u")  # undo removes the negative point again
        wait_for(lambda: "negative" not in read(points), what="undo")
        press(browser, "]")  # next video
        wait_for(lambda: browser.find_element(By.ID, "vid").text == "b", what="video b")
        browser.execute_async_script(SEEK, 1.0)
        press(browser, "n")
        wait_for(lambda: "b,1.000,negative" in read(points), what="the point on b")
        assert read(points) == ("video,time,label,annotator\n"
                                "a,0.500,positive,tester\nb,1.000,negative,tester\n")
        wait_for(lambda: browser.find_element(By.ID, "progress").text == "video 2 of 2, 2 with points",
                 what="the progress over the folder")

        # segment mode: drag from 25 % to 75 % of the timeline makes a segment of about 0.5-1.5 s
        press(browser, "s")
        timeline = browser.find_element(By.ID, "timeline")
        width = timeline.rect["width"]
        (ActionChains(browser).move_to_element_with_offset(timeline, int(-width / 4), 0).click_and_hold()
         .move_by_offset(int(width / 2), 0).release().perform())
        wait_for(lambda: read(segments).count("\n") == 2, what="the segment row")
        (seg,) = read_segments(segments, folder.durations)
        assert (seg.video, seg.label) == ("b", "positive")
        assert seg.start == pytest.approx(0.5, abs=0.03) and seg.end == pytest.approx(1.5, abs=0.03)

        # drag the point marker a quarter of the timeline to the right: 1.0 s -> about 1.5 s
        marker = browser.find_element(By.CSS_SELECTOR, "#timeline .point")
        ActionChains(browser).click_and_hold(marker).move_by_offset(int(width / 4), 0).release().perform()
        wait_for(lambda: "b,1.000" not in read(points), what="the moved point")
        (moved,) = [line for line in read(points).splitlines() if line.startswith("b,")]
        assert float(moved.split(",")[1]) == pytest.approx(1.5, abs=0.03) and moved.endswith(",negative,tester")
        # click (no drag) on the point marker deletes it
        browser.find_element(By.CSS_SELECTOR, "#timeline .point").click()
        wait_for(lambda: "b," not in read(points), what="the deleted point")
        assert read(points) == "video,time,label,annotator\na,0.500,positive,tester\n"
    finally:
        server.shutdown()
        server.server_close()


def start_server(videos: Path, points: Path) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "tsl300", "annotate", str(videos), "--points", str(points)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    before = []
    for line in proc.stdout:
        if line.startswith("open "):
            assert f"skipped {videos / 'notes.txt'}: not a video file (suffix .txt)" in "".join(before)
            return proc, line.split()[1]
        before.append(line)
    raise AssertionError(f"server did not start (exit {proc.wait()}): {''.join(before)}")


@pytest.mark.slow
def test_killing_the_server_between_two_clicks_keeps_the_first(browser, videos, tmp_path):
    points = tmp_path / "points.csv"
    proc, url = start_server(videos, points)
    try:
        open_page(browser, url)
        browser.execute_async_script(SEEK, 0.75)
        press(browser, "p")
        wait_for(lambda: "a,0.750,positive" in read(points), what="the first click")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert read(points) == "video,time,label\na,0.750,positive\n"
    proc, url = start_server(videos, points)  # a restart resumes from the file
    try:
        open_page(browser, url + "#a")
        assert browser.execute_script("return document.querySelectorAll('#timeline .point').length") == 1
        browser.execute_async_script(SEEK, 1.5)
        press(browser, "n")
        wait_for(lambda: "a,1.500,negative" in read(points), what="the second click")
        assert read(points) == "video,time,label\na,0.750,positive\na,1.500,negative\n"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def test_two_tabs_on_one_file_keep_each_others_points(browser, videos, tmp_path):
    points = tmp_path / "points.csv"
    folder = scan_folder(videos)
    server = make_server(folder, LabelStore(points, folder.durations))
    serve_in_thread(server)
    first = browser.current_window_handle
    try:
        open_page(browser, url_of(server))
        browser.switch_to.new_window("tab")
        open_page(browser, url_of(server))  # both tabs loaded before either clicks
        browser.execute_async_script(SEEK, 1.0)
        press(browser, "n")
        wait_for(lambda: "a,1.000,negative" in read(points), what="tab 2's point")
        browser.close()
        browser.switch_to.window(first)
        browser.execute_async_script(SEEK, 0.25)
        press(browser, "p")  # the stale tab adds its point without dropping tab 2's
        wait_for(lambda: "a,0.250,positive" in read(points), what="tab 1's point")
        assert read(points) == "video,time,label\na,0.250,positive\na,1.000,negative\n"
        assert browser.execute_script("return document.querySelectorAll('#timeline .point').length") == 2
    finally:
        server.shutdown()
        server.server_close()


def viewer_result(video: Path):
    from tsl300.types import LocalizationResult, LocalizedSegment, ResultMetadata

    scores = np.zeros((6, 2), np.float32)
    scores[1:3, 1], scores[4, 0] = 0.9, 0.6
    segments = [LocalizedSegment(0.64, 1.92, "positive", 1.4), LocalizedSegment(2.56, 3.2, "negative", 0.35)]
    return LocalizationResult(str(video), segments, scores, ResultMetadata(duration=4.0, fps=25.0, model_name="t"))


def test_viewer_offline_pixel_positions_and_click_to_seek(browser, tmp_path):
    from selenium.webdriver.common.by import By

    from tsl300.owndata.viewer import write_view

    (tmp_path / "media").mkdir()
    video = synthetic_webm(tmp_path / "media" / "talk.webm", 4.0)
    gt = tmp_path / "gt.json"
    gt.write_text('{"database": {"talk": {"subset": "test", "annotations": [{"segment": ["0.5", "2.0"], "label": "p"}]}}}')
    page = write_view(viewer_result(video), tmp_path / "pages" / "talk.html", ground_truth=gt)
    text = page.read_text()
    assert "https://" not in text and "http://" not in text.replace("http://www.w3.org/2000/svg", "")
    open_page(browser, page.as_uri())
    # nothing but local files was loaded (no CDN, no network)
    urls = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert all(u.startswith("file://") for u in urls)
    wait_for(lambda: browser.execute_script("return document.getElementById('video').readyState >= 1"),
             what="the video (relative path from the page)")

    tracks = browser.find_elements(By.CSS_SELECTOR, ".track")
    assert [t.get_attribute("data-lane") for t in tracks] == [
        "detected negative", "detected positive", "ground truth negative", "ground truth positive"]
    for track in tracks:
        left, width = track.rect["x"] + 1, 800  # 1 px border
        for seg in track.find_elements(By.CSS_SELECTOR, ".seg"):
            start, end = float(seg.get_attribute("data-start")), float(seg.get_attribute("data-end"))
            assert seg.rect["x"] - left == pytest.approx(width * start / 4.0, abs=1.0)
            assert seg.rect["width"] == pytest.approx(width * (end - start) / 4.0, abs=1.0)
    positive = browser.find_element(By.CSS_SELECTOR, ".seg.det.positive")
    assert positive.text == "1.40" and float(positive.value_of_css_property("opacity")) == pytest.approx(1.0)
    negative = browser.find_element(By.CSS_SELECTOR, ".seg.det.negative")
    assert float(negative.value_of_css_property("opacity")) == pytest.approx(0.25 + 0.75 * 0.35 / 1.4, abs=1e-3)
    assert "can exceed 1" in browser.find_element(By.ID, "note").text

    for element, start in ((positive, 0.64), (negative, 2.56)):
        browser.execute_script("arguments[0].scrollIntoView()", element)
        element.click()
        current = wait_for(lambda: browser.execute_script(
            "const v = document.getElementById('video'); return v.seeking ? null : v.currentTime"), what="seek")
        assert abs(current - start) < 0.1
    from selenium.webdriver.common.action_chains import ActionChains

    curves = browser.find_element(By.ID, "curves")  # a click on the curves seeks to that time
    browser.execute_script("arguments[0].scrollIntoView()", curves)
    ActionChains(browser).move_to_element_with_offset(curves, int(0.75 * 800 - curves.rect["width"] / 2), 0) \
        .click().perform()
    current = wait_for(lambda: browser.execute_script(
        "const v = document.getElementById('video'); return v.seeking || v.currentTime < 1 ? null : v.currentTime"),
        what="seek from the curves")
    assert abs(current - 3.0) < 0.1
    rows = browser.find_elements(By.CSS_SELECTOR, "#list tbody tr")
    assert [r.text.split() for r in rows] == [["1", "0.640", "1.920", "positive", "1.400"],
                                              ["2", "2.560", "3.200", "negative", "0.350"]]
