"""Issue 18 item 1: a model (its sidecar) can name extractor weights, but never make tsl300
download anything on its own, and a download is only used when its sha256 matches.

A real HTTP server on 127.0.0.1 counts the requests that arrive: "no download" means none did.
"""
from __future__ import annotations

import hashlib
import http.server
import json
import shutil
import threading

import pytest

import tsl300
from tsl300.cli import main
from tsl300.errors import CheckpointError
from tsl300.extractors import weights as weights_module
from tsl300.extractors.weights import resolve_weights
from tsl300.featurize import extractor_from_spec
from tsl300.io.synthetic import write_video

PAYLOAD = b"not really weights, but a file an attacker wants in the cache"


@pytest.fixture
def server():
    """An HTTP server serving PAYLOAD at every path; ``server.requests`` lists the paths asked for."""
    requests: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            requests.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.requests = requests
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TSL300_CACHE", str(tmp_path / "cache"))


def _hostile_i3d_spec(url: str) -> dict:
    """The i3d_rgb spec as a hostile sidecar writes it: weights by URL, ``download: true``, no hash."""
    return {"name": "i3d_rgb", "version": "1", "modality": "rgb", "input": "video", "shape": [1024],
            "frame_size": "short_side=240,bicubic,centre_crop=224",
            "params": {"weights": f"{url}/rgb_imagenet.pt", "download": True, "range": "[-1, 1]"}}


def test_a_spec_cannot_make_an_extractor_download(server):
    with pytest.raises(CheckpointError, match="sha256"):
        extractor_from_spec(_hostile_i3d_spec(server.url), "model.json")
    assert server.requests == []


def test_localize_with_a_hostile_sidecar_downloads_nothing(server, tiny_flagship_checkpoint, tmp_path,
                                                           capsys):
    model_dir = tmp_path / "hostile"
    model_dir.mkdir()
    weights = model_dir / "model.safetensors"
    shutil.copy(tiny_flagship_checkpoint, weights)
    meta = json.loads(tiny_flagship_checkpoint.with_suffix(".json").read_text())
    spec = json.loads(meta["spec"]) if isinstance(meta["spec"], str) else meta["spec"]
    modality = sorted(spec["extractor_specs"])[0]
    spec["extractor_specs"][modality] = _hostile_i3d_spec(server.url)
    meta["spec"] = json.dumps(spec) if isinstance(meta["spec"], str) else spec
    (model_dir / "model.json").write_text(json.dumps(meta))
    video = write_video(tmp_path / "v.mp4", 1.0)

    with pytest.raises(CheckpointError, match="sha256"):
        tsl300.load_model(model_dir, device="cpu").localize(video)
    assert main(["localize", str(video), "-m", str(model_dir), "-o", str(tmp_path / "out"), "--quiet"]) == 1
    assert "sha256" in capsys.readouterr().err
    assert server.requests == []


def test_url_weights_without_sha256_are_refused_even_with_download(server):
    with pytest.raises(CheckpointError, match="need the sha256"):
        resolve_weights(f"{server.url}/rgb_imagenet.pt", None, download=True)
    assert server.requests == []


def test_download_needs_the_flag_prints_the_url_and_checks_the_hash(server, capsys):
    url = f"{server.url}/models/rgb_imagenet.pt"
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    with pytest.raises(CheckpointError, match="download=True"):
        resolve_weights(url, digest)
    assert server.requests == []
    path = resolve_weights(url, digest, download=True)
    assert server.requests == ["/models/rgb_imagenet.pt"]
    assert path == weights_module.cache_path(url, digest) and path.read_bytes() == PAYLOAD
    assert url in capsys.readouterr().err
    assert resolve_weights(url, digest) == path  # cached: no second request
    assert len(server.requests) == 1
    with pytest.raises(CheckpointError, match="does not match"):
        resolve_weights(f"{server.url}/other/rgb_imagenet.pt", "0" * 64, download=True)
    assert not weights_module.cache_path(f"{server.url}/other/rgb_imagenet.pt", "0" * 64).exists()


def test_a_cached_file_is_never_used_for_another_url(server):
    """The planted-file attack: a file cached for one URL, asked for by another URL with the same
    file name (with or without a hash), is not used."""
    url = f"{server.url}/evil/rgb_imagenet.pt"
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    resolve_weights(url, digest, download=True)
    other = "https://example.org/models/rgb_imagenet.pt"
    with pytest.raises(CheckpointError, match="need the sha256"):
        resolve_weights(other, None)
    with pytest.raises(CheckpointError, match="not in the cache"):
        resolve_weights(other, digest)
    assert weights_module.cache_path(other, digest) != weights_module.cache_path(url, digest)
