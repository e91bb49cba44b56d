"""Shared fixtures. Tests that need ``../shared`` skip with a clear reason when it is absent."""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# One intra-op thread for the whole suite: the tests' tiny models run fastest that way on a
# shared 2-core CPU (more threads spin against other jobs), and results are bit-reproducible
# only at a fixed thread count.
torch.set_num_threads(1)

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TSL300_SHARED", REPO_ROOT.parent / "shared"))


def shared_path(*parts: str) -> Path:
    """Path inside ../shared, or skip the calling test when it is not there."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (the ../shared folder beside the checkout is not here)")
    return path


def golden_names(method: str, name: str, key: str = "cases") -> list[str]:
    """The ``name`` of every entry of ``golden/<method>/<name>[key]``, read from the file, for
    ``parametrize`` (collection must not need ../shared: when it is absent, one placeholder that
    the test's ``shared_path`` then skips with the reason)."""
    import json

    path = SHARED / "golden" / method / name
    if not path.exists():
        return ["shared-absent"]
    return [entry["name"] for entry in json.loads(path.read_text())[key]]


@pytest.fixture
def shared():
    """The ../shared folder; skips when absent."""
    return shared_path()


@pytest.fixture(autouse=True)
def _one_torch_thread_again():
    """Commands run in-process may apply ``--threads``; every test starts from one thread."""
    yield
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_flagship_checkpoint(tmp_path_factory):
    """A small flagship checkpoint with random weights and the default (offline) extractor
    specs: exercises localize's real loading and extraction path without a trained model."""
    from tsl300.engine.checkpoint import save_checkpoint
    from tsl300.featurize import default_featurizer
    from tsl300.methods.registry import ModelSpec, get_method
    from tsl300.recipes import recipe_from_dict

    torch.manual_seed(0)
    _, specs = default_featurizer()
    spec = ModelSpec({k: tuple(s["shape"]) for k, s in specs.items()}, ("n", "p"), specs)
    recipe = recipe_from_dict({"method": "flagship", "data": {"modalities": list(specs)},
                               "model": {"hidden": 16, "attention_hidden": 8, "fusion_hidden": 16}})
    method = get_method("flagship")(recipe.model_config(), recipe.loss_config(), spec)
    path = tmp_path_factory.mktemp("model") / "tiny"
    save_checkpoint(path, method, {"recipe": recipe.to_dict(), "spec": spec.to_json(),
                                   "method": "flagship", "classes": ["n", "p"]})
    return path.with_name("tiny.safetensors")


class Crash(BaseException):
    """Stands for the process dying: not an Exception, so no handler turns it into a report."""


@contextmanager
def dying_at_rename(monkeypatch, n: int):
    """Make the ``n``-th ``os.replace`` (0-based; every atomic write ends in one) raise
    :class:`Crash`, as if the process were killed there; expects the crash to happen."""
    real_replace = os.replace
    calls = iter(range(10 ** 9))

    def crashing(src, dst):
        if next(calls) == n:
            raise Crash
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crashing)
    try:
        with pytest.raises(Crash):
            yield
    finally:
        monkeypatch.setattr(os, "replace", real_replace)
