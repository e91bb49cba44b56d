"""Issue 18 item 2: a local file is opened as that local file, whatever its name looks like.

FFmpeg reads names such as ``http:/host/v.mp4`` or ``concat:a.mp4|b.mp4`` as protocols. These
tests make such files for real (a folder named ``http:``, an 8-byte file named
``concat:a.mp4|a.mp4``), run a real HTTP server on 127.0.0.1 and check that no request arrives.
"""
from __future__ import annotations

import http.server
import json
import shutil
import threading
from pathlib import Path

import pytest

from tsl300.cli import main
from tsl300.errors import MediaError
from tsl300.io import probe
from tsl300.io.synthetic import write_video


@pytest.fixture
def server():
    """An HTTP server that serves a real mp4 at every path and records the paths asked for."""
    requests: list[str] = []
    body = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            requests.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body["mp4"])))
            self.end_headers()
            self.wfile.write(body["mp4"])

        do_HEAD = do_GET  # noqa: N815

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    httpd.requests, httpd.body, httpd.port = requests, body, httpd.server_address[1]
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def protocol_named_tree(tmp_path, server, monkeypatch):
    """In the working folder: ``http:/127.0.0.1:PORT/v.mp4`` (a 2 s video, which FFmpeg would
    fetch from the server as a 1 s one) and ``concat:a.mp4|a.mp4`` (8 bytes) beside ``a.mp4``."""
    served = write_video(tmp_path / "served.mp4", 1.0)
    server.body["mp4"] = served.read_bytes()
    root = tmp_path / "work"
    remote_looking = root / "http:" / f"127.0.0.1:{server.port}" / "v.mp4"
    remote_looking.parent.mkdir(parents=True)
    write_video(remote_looking, 2.0)
    write_video(root / "a.mp4", 1.0)
    (root / "concat:a.mp4|a.mp4").write_bytes(b"8 bytes!")
    served.unlink()
    monkeypatch.chdir(root)
    return root


def test_a_name_like_a_url_is_read_from_the_local_file(protocol_named_tree, server):
    relative = Path(f"http:/127.0.0.1:{server.port}/v.mp4")
    info = probe(relative)
    assert info.duration == pytest.approx(2.0, abs=0.1)  # the local 2 s file, not the served 1 s one
    assert server.requests == []


def test_a_name_like_a_concat_list_is_the_8_byte_file(protocol_named_tree):
    with pytest.raises(MediaError, match="not a readable media file"):
        probe("concat:a.mp4|a.mp4")
    with pytest.raises(MediaError, match="not a readable media file"):
        probe(protocol_named_tree / "concat:a.mp4|a.mp4")


@pytest.mark.slow
def test_a_folder_scanned_from_dot_opens_only_local_files(protocol_named_tree, server, capsys):
    listing = protocol_named_tree / "list.txt"
    listing.write_text(f"http:/127.0.0.1:{server.port}/v.mp4\nconcat:a.mp4|a.mp4\n")
    out = protocol_named_tree.parent / "out"
    code = main(["extract", ".", "--list", str(listing), "-o", str(out), "--extractors", "visual_stats",
                 "--quiet"])
    err = capsys.readouterr().err
    assert code == 1  # the 8-byte file fails, the others are extracted
    assert "concat:a.mp4|a.mp4: not a readable media file" in err
    assert server.requests == []
    fps = json.loads((out / "fps_dict.json").read_text())
    assert set(fps) == {"a", "v"}
    shutil.rmtree(out)
