"""``tsl300 annotate``: a local web app (standard library only, no CDN) to click points.

Listens on 127.0.0.1 only and answers only requests addressed to it (no DNS rebinding) and,
for changes, only JSON (no cross-site form posts). Serves one page (``annotate.html``), a small JSON API over a
:class:`~.label_store.LabelStore`, and the videos of the chosen folder: only files that the
folder scan listed as videos are served (by their relative path), so a request with ``..``, an
absolute path or any other file is refused. Videos are served with HTTP range requests, which
browsers need to seek.
"""
from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qs, unquote, urlsplit

from ..errors import Tsl300Error
from .folder import VideoFolder
from .label_store import LabelStore

HOST = "127.0.0.1"
MEDIA_PREFIX = "/media/"
MAX_BODY = 64 * 1024
CONTENT_TYPES = {".mp4": "video/mp4", ".m4v": "video/mp4", ".webm": "video/webm", ".ogv": "video/ogg",
                 ".mov": "video/quicktime", ".mkv": "video/x-matroska"}
_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")
CHUNK = 256 * 1024


def page_html() -> bytes:
    return resources.files(__package__).joinpath("annotate.html").read_bytes()


class AnnotateApp:
    """What the handler serves: the folder's videos and the label store."""

    def __init__(self, folder: VideoFolder, store: LabelStore):
        self.folder, self.store = folder, store
        self.by_relpath = {v.relpath: v for v in folder.videos.values()}

    def state(self) -> dict:
        counts = self.store.counts()
        return {"annotator": self.store.annotator,
                "points_file": str(self.store.points_path),
                "segments": self.store.segments_path is not None,
                "videos": [{"id": v.vid, "url": MEDIA_PREFIX + v.relpath, "duration": v.duration,
                            "points": counts.get(v.vid, 0)} for v in self.folder.videos.values()]}


class Handler(BaseHTTPRequestHandler):
    app: AnnotateApp  # set on the subclass made by make_server
    server_version = "tsl300-annotate"

    def log_message(self, format, *args):  # noqa: A002 - quiet: the terminal shows the URL only
        pass

    # -- responses ----------------------------------------------------------------------
    def _send(self, status: int, body: bytes, content_type: str, extra: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj) -> None:
        self._send(status, json.dumps(obj).encode(), "application/json")

    def _error(self, status: int, message: str) -> None:
        self._json(status, {"error": message})

    # -- routes -------------------------------------------------------------------------
    def do_HEAD(self):  # noqa: N802
        self.do_GET()

    def _foreign_host(self) -> bool:
        """A Host other than this server's address: a DNS-rebinding page, refused (403)."""
        host, port = self.server.server_address[:2]
        if self.headers.get("Host") in (f"{host}:{port}", f"localhost:{port}"):
            return False
        self._error(403, "refused: requests must be addressed to this local server")
        return True

    def do_GET(self):  # noqa: N802
        if self._foreign_host():
            return
        url = urlsplit(self.path)
        if url.path in ("/", "/index.html"):
            return self._send(200, page_html(), "text/html; charset=utf-8")
        if url.path == "/api/state":
            return self._json(200, self.app.state())
        if url.path == "/api/labels":
            vid = parse_qs(url.query).get("video", [""])[0]
            if vid not in self.app.folder.videos:
                return self._error(404, f"unknown video {vid!r}")
            return self._json(200, self.app.store.labels(vid))
        if url.path.startswith(MEDIA_PREFIX):
            return self._media(unquote(url.path[len(MEDIA_PREFIX):]))
        return self._error(404, "not found")

    def do_POST(self):  # noqa: N802
        if self._foreign_host():
            return
        if urlsplit(self.path).path != "/api/op":
            return self._error(404, "not found")
        # JSON only: another web site cannot send it without a CORS preflight, which is never
        # granted, so a page open in the same browser cannot change the labels
        if self.headers.get_content_type() != "application/json":
            return self._error(415, "operations are JSON (Content-Type: application/json)")
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 < length <= MAX_BODY:
            return self._error(400, "missing or oversized body")
        try:
            op = json.loads(self.rfile.read(length))
            if not isinstance(op, dict):
                raise ValueError("an operation is a JSON object")
            result = self.app.store.apply(op)
        except (ValueError, Tsl300Error) as exc:  # DataError is a ValueError too
            return self._error(400, str(exc))
        return self._json(200, result)

    def _media(self, relpath: str) -> None:
        # only the scanned videos, by their exact relative path: '..', absolute paths, other files
        # of the folder and anything outside it are refused before the file system is touched
        parts = relpath.split("/")
        if relpath.startswith("/") or "\\" in relpath or ".." in parts or "\x00" in relpath:
            return self._error(403, "refused: the server serves only the videos of its folder")
        video = self.app.by_relpath.get(relpath)
        if video is None:
            return self._error(404, "not a video of this folder")
        size = video.path.stat().st_size
        start, end = 0, size - 1
        status = 200
        header = self.headers.get("Range")
        if header:
            match = _RANGE.match(header.strip())
            if not match or (not match.group(1) and not match.group(2)):
                return self._send(416, b"", "text/plain", {"Content-Range": f"bytes */{size}"})
            if match.group(1):
                start = int(match.group(1))
                end = min(int(match.group(2)), size - 1) if match.group(2) else size - 1
            else:  # suffix range: the last N bytes
                start = max(0, size - int(match.group(2)))
            if start > end or start >= size:
                return self._send(416, b"", "text/plain", {"Content-Range": f"bytes */{size}"})
            status = 206
        self.send_response(status)
        self.send_header("Content-Type", CONTENT_TYPES.get(video.path.suffix.lower(), "application/octet-stream"))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end - start + 1))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        if self.command == "HEAD":
            return
        try:
            with open(video.path, "rb") as fh:
                fh.seek(start)
                left = end - start + 1
                while left > 0:
                    chunk = fh.read(min(CHUNK, left))
                    if not chunk:
                        break
                    self.wfile.write(chunk)
                    left -= len(chunk)
        except (BrokenPipeError, ConnectionResetError):  # the browser cancelled a range: normal
            pass


def make_server(folder: VideoFolder, store: LabelStore, port: int = 0) -> ThreadingHTTPServer:
    """A server bound to 127.0.0.1 (``port=0``: any free port); call ``serve_forever()``."""
    handler = type("BoundHandler", (Handler,), {"app": AnnotateApp(folder, store)})
    server = ThreadingHTTPServer((HOST, port), handler)
    server.daemon_threads = True
    return server


def url_of(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}/"


def serve_in_thread(server: ThreadingHTTPServer) -> threading.Thread:
    """Run ``server`` in a daemon thread (tests, notebooks); ``server.shutdown()`` stops it."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread
