"""Your own videos end to end, as the README's "Train on your own videos": real clips, points
clicked in a real browser, ``dataset build``, a few training steps, ``localize`` with the run,
and the HTML page of the result, asserting on values at each step."""
from __future__ import annotations

import json
import math

import pytest

from _ownvideos import browser_or_skip, real_clip, to_webm
from test_ownvideos_browser import SEEK, open_page, press, read, wait_for

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]
# (clip, key pressed, time in seconds); the neutral clip gets a segment instead (the test split)
CLICKS = [("1001_DFA_ANG_XX", "n", 1.0), ("1001_DFA_HAP_XX", "p", 0.9), ("1001_DFA_SAD_XX", "n", 1.2)]
TEST_CLIP = "1001_DFA_NEU_XX"


@pytest.mark.slow
def test_own_videos_annotate_build_train_localize_view(tmp_path, monkeypatch, capsys):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    import tsl300
    from tsl300.cli import main
    from tsl300.data.user_labels import read_segments
    from tsl300.owndata.annotate_server import make_server, serve_in_thread, url_of
    from tsl300.owndata.build import build_dataset
    from tsl300.owndata.folder import scan_folder
    from tsl300.owndata.label_store import LabelStore

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    videos = tmp_path / "my_videos"
    videos.mkdir()
    for name in [c[0] for c in CLICKS] + [TEST_CLIP]:
        to_webm(real_clip(f"{name}.flv"), videos / f"{name}.webm")
    (videos / "notes.txt").write_text("not a video")  # listed and skipped, never an error
    points, segments = tmp_path / "points.csv", tmp_path / "segments.csv"

    # 1. annotate: keys for points on three clips, a dragged segment on the fourth
    folder = scan_folder(videos)
    assert sorted(folder.videos) == sorted([c[0] for c in CLICKS] + [TEST_CLIP])
    browser = browser_or_skip()
    server = make_server(folder, LabelStore(points, folder.durations, segments))
    serve_in_thread(server)
    try:
        for name, key, t in CLICKS:
            open_page(browser, f"{url_of(server)}#{name}")
            wait_for(lambda: browser.find_element(By.ID, "vid").text == name, what=name)
            browser.execute_async_script(SEEK, t)
            press(browser, key)
            wait_for(lambda: f"{name},{t:.3f}," in read(points), what=f"the point on {name}")
        open_page(browser, f"{url_of(server)}#{TEST_CLIP}")
        wait_for(lambda: browser.find_element(By.ID, "vid").text == TEST_CLIP, what=TEST_CLIP)
        press(browser, "s")
        timeline = browser.find_element(By.ID, "timeline")
        width = timeline.rect["width"]
        (ActionChains(browser).move_to_element_with_offset(timeline, int(-width * 0.3), 0).click_and_hold()
         .move_by_offset(int(width * 0.6), 0).release().perform())
        wait_for(lambda: read(segments).count("\n") == 2, what="the segment")
    finally:
        server.shutdown()
        server.server_close()
    assert read(points) == ("video,time,label\n1001_DFA_ANG_XX,1.000,negative\n"
                            "1001_DFA_HAP_XX,0.900,positive\n1001_DFA_SAD_XX,1.200,negative\n")
    (segment,) = read_segments(segments, folder.durations)
    duration = folder.durations[TEST_CLIP]
    assert segment.start == pytest.approx(0.2 * duration, abs=0.05)
    assert segment.end == pytest.approx(0.8 * duration, abs=0.05)

    # 2. dataset build (the README's command): three train videos with one point each, the
    #    segment video as test
    data, run = tmp_path / "data", tmp_path / "run"
    assert main(["dataset", "build", str(videos), "--points", str(points), "--segments", str(segments),
                 "-o", str(data), "--test-fraction", "0.25", "--seed", "0", "-q"]) == 0
    printed = capsys.readouterr().out
    assert "3 train, 1 test video(s); extracted 4" in printed and f"{videos / 'notes.txt'}: not a video" in printed
    assert (data / "split_train.txt").read_text().split() == [c[0] for c in CLICKS]
    assert (data / "split_test.txt").read_text().split() == [TEST_CLIP]
    fps = json.loads((data / "fps_dict.json").read_text())
    rows = (data / "point_gaussian" / "train" / "point_anno_0.txt").read_text().splitlines()
    assert rows == ["class,class_index,start_frame,stop_frame,video_id,point"] + [
        f"{key},{int(key == 'p')},{f},{f},{name},{f}" for name, key, t in CLICKS
        for f in [math.floor(t * fps[name] + 1e-6)]]
    gt = json.loads((data / "gt.json").read_text())["database"]
    assert gt[TEST_CLIP]["annotations"] == [{"segment": [repr(segment.start), repr(segment.end)], "label": "p"}]
    again = build_dataset(videos, [points], data, segments=segments, test_fraction=0.25, seed=0)
    assert again.extracted == [] and len(again.reused) == 4  # resumable: nothing extracted twice

    # 3. train a few steps on it (the README's command); the test split is scored against the segment
    recipe = ROOT / "recipes" / "default" / "default.yaml"
    assert main(["train", str(recipe), "--data", str(data), "-o", str(run), "--set", "schedule.steps=3",
                 "--quiet"]) == 0
    assert (run / "model.safetensors").is_file()
    metrics = json.loads((run / "metrics_test.json").read_text())
    assert metrics["class_index"] == {"p": 0} and 0.0 <= metrics["average_mAP"] <= 1.0
    assert json.loads((run / "train_log.csv").read_text().splitlines()[-1].split(",")[0]) == 3

    # 4. localize a video with the run, and look at it
    result = tsl300.localize(videos / f"{TEST_CLIP}.webm", model=run)
    assert result.scores.shape[1] == 2 and result.metadata.duration == pytest.approx(duration, abs=0.05)
    result_json = tmp_path / "out" / f"{TEST_CLIP}.json"
    result_json.parent.mkdir()
    result.to_json(result_json)
    page = tmp_path / "out" / "page.html"
    assert main(["view", str(result_json), "--gt", str(data / "gt.json"), "--output", str(page)]) == 0
    try:
        open_page(browser, page.as_uri())
        assert len(browser.find_elements(By.CSS_SELECTOR, ".seg.det")) == len(result)
        assert len(browser.find_elements(By.CSS_SELECTOR, ".seg.gt.positive")) == 1
        assert len(browser.find_elements(By.CSS_SELECTOR, "#list tbody tr")) == len(result)
    finally:
        browser.quit()
