"""The annotate server over raw HTTP: it serves only its folder's videos, on 127.0.0.1."""
from __future__ import annotations

import http.client
import json

import pytest

from tsl300.owndata.annotate_server import make_server, serve_in_thread
from tsl300.owndata.folder import scan_folder
from tsl300.owndata.label_store import LabelStore


@pytest.fixture()
def server(tmp_path):
    from tsl300.io.synthetic import write_video

    videos = tmp_path / "videos"
    videos.mkdir()
    write_video(videos / "clip.mp4", 1.0)
    (videos / "private.txt").write_text("secret")
    (tmp_path / "outside.txt").write_text("secret")
    folder = scan_folder(videos)
    srv = make_server(folder, LabelStore(tmp_path / "points.csv", folder.durations))
    serve_in_thread(srv)
    yield srv, videos / "clip.mp4", tmp_path
    srv.shutdown()
    srv.server_close()


def get(srv, path, headers=None):
    conn = http.client.HTTPConnection(*srv.server_address[:2], timeout=10)
    conn.request("GET", path, headers=headers or {})  # sent as is: no client-side normalisation
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, body, response


def test_listens_on_loopback_only(server):
    assert server[0].server_address[0] == "127.0.0.1"


@pytest.mark.parametrize("path", ["/media/../outside.txt", "/media/%2e%2e/outside.txt", "/media//etc/passwd",
                                  "/media/%2Fetc%2Fpasswd", "/media/sub/../../outside.txt"])
def test_dot_dot_and_absolute_paths_are_refused(server, path):
    status, body, _ = get(server[0], path)
    assert status == 403 and b"secret" not in body and b"root:" not in body


def test_only_listed_videos_are_served_with_ranges(server):
    srv, clip, _ = server
    assert get(srv, "/media/private.txt")[0] == 404
    data = clip.read_bytes()
    status, body, response = get(srv, "/media/clip.mp4", {"Range": "bytes=10-19"})
    assert status == 206 and body == data[10:20]
    assert response.getheader("Content-Range") == f"bytes 10-19/{len(data)}"
    status, body, _ = get(srv, "/media/clip.mp4")
    assert status == 200 and body == data
    assert get(srv, "/media/clip.mp4", {"Range": f"bytes={len(data)}-"})[0] == 416


def test_api_saves_each_operation_and_reports_errors(server):
    srv, _, tmp_path = server
    conn = http.client.HTTPConnection(*srv.server_address[:2], timeout=10)
    op = {"op": "add", "kind": "point", "video": "clip", "time": 0.25, "label": "positive"}
    conn.request("POST", "/api/op", body=json.dumps(op), headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    assert response.status == 200 and json.loads(response.read())["changed"] is True
    assert (tmp_path / "points.csv").read_text() == "video,time,label\nclip,0.250,positive\n"
    conn.request("POST", "/api/op", body=json.dumps({**op, "time": 9}), headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    assert response.status == 400 and "outside video 'clip'" in json.loads(response.read())["error"]
    conn.close()
    state = json.loads(get(srv, "/api/state")[1])
    assert state["videos"] == [{"id": "clip", "url": "/media/clip.mp4", "duration": pytest.approx(1.0, abs=0.05),
                                "points": 1}]


def test_other_sites_cannot_change_or_read_labels(server):
    srv, _, tmp_path = server
    op = json.dumps({"op": "add", "kind": "point", "video": "clip", "time": 0.5, "label": "positive"})
    conn = http.client.HTTPConnection(*srv.server_address[:2], timeout=10)
    conn.request("POST", "/api/op", body=op, headers={"Content-Type": "text/plain"})  # a cross-site "simple" post
    assert conn.getresponse().status == 415
    conn.close()
    conn = http.client.HTTPConnection(*srv.server_address[:2], timeout=10)
    conn.request("POST", "/api/op", body=op, headers={"Content-Type": "application/json", "Host": "evil.example:80"})
    assert conn.getresponse().status == 403
    conn.close()
    assert get(srv, "/api/state", {"Host": "evil.example"})[0] == 403  # DNS rebinding
    assert not (tmp_path / "points.csv").exists()
