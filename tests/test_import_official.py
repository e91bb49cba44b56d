"""``tsl300 import-official``: the official TSL-Net checkpoint (a torch pickle of the state dict)
becomes a tsl300 run folder; a pickle that holds anything but tensors is refused, never run."""
from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch

from tsl300.cli import main
from tsl300.commands.import_official import OFFICIAL_RECIPE
from tsl300.engine.batching import collate
from tsl300.engine.loader import load_trained
from tsl300.methods.registry import ModelSpec, build_method
from tsl300.models.tsl_net import ours_to_official
from tsl300.postprocess import PostprocessParams
from tsl300.recipes import load_recipe, recipe_from_dict

REPO = Path(__file__).resolve().parents[1]
SPEC = ModelSpec({"rgb": (1024,), "logmfcc": (32, 60)})


@pytest.fixture(scope="module")
def official(tmp_path_factory):
    """A TSL-Net with seeded random weights, saved as the official code saves it."""
    torch.manual_seed(0)
    method = build_method(recipe_from_dict(OFFICIAL_RECIPE), SPEC).eval()
    path = tmp_path_factory.mktemp("official") / "model_seed_123.pkl"
    torch.save({ours_to_official(k): v for k, v in method.net.state_dict().items()}, path)
    return method, path


def test_the_embedded_recipe_is_the_faithful_one():
    faithful = load_recipe(REPO / "recipes" / "tsl_net" / "tsl_net.yaml")
    imported = recipe_from_dict(OFFICIAL_RECIPE)
    assert imported.model_config() == faithful.model_config()
    assert imported.loss_config() == faithful.loss_config()
    assert PostprocessParams.from_dict(imported.postprocess) == PostprocessParams.from_dict(faithful.postprocess)
    assert imported.data.modalities == faithful.data.modalities


def test_import_gives_the_same_weights_and_outputs(official, tmp_path, capsys):
    method, pkl = official
    run = tmp_path / "released"
    assert main(["import-official", str(pkl), "--out", str(run)]) == 0
    loaded, recipe, spec, meta, _ = load_trained(run)
    assert meta["imported_from"]["file"] == "model_seed_123.pkl" and recipe.method == "tsl_net"
    want, got = method.state_dict(), loaded.state_dict()
    assert sorted(want) == sorted(got) and all(torch.equal(want[k], got[k]) for k in want)
    from tiny_tsl300 import make_videos

    videos = make_videos(n_train=0, n_test=2, seed=1, rgb_dim=1024, t_range=(20, 30))
    batch = collate(videos, ["rgb", "logmfcc"], ("n", "p"))
    with torch.no_grad():
        a, b = method(batch), loaded(batch)
    compared = [k for k in a if torch.is_tensor(a[k]) and a[k].is_floating_point()]
    assert compared and all(torch.equal(a[k], b[k]) for k in compared)


def test_load_model_accepts_an_imported_run(official, tmp_path):
    """Issue 12 bug 1: ``tsl300.load_model`` failed on every TSL-Net run, imported ones too."""
    import tsl300
    from tiny_tsl300 import make_videos

    method, pkl = official
    run = tmp_path / "released"
    assert main(["import-official", str(pkl), "--out", str(run)]) == 0
    model = tsl300.load_model(run, device="cpu")
    video = make_videos(n_train=0, n_test=1, seed=2, rgb_dim=1024, t_range=(20, 30))[0]
    batch = collate([video], ["rgb", "logmfcc"], ("n", "p"))
    with torch.no_grad():
        want = method.scores(method(batch), batch)["cas"][0].numpy()
    assert model.localize_features(video).scores == pytest.approx(want, abs=1e-6)
    with pytest.raises(tsl300.errors.CheckpointError, match="no extractor spec for modality 'rgb'"):
        model.localize(str(pkl))  # features of a video file need the extractors it was trained on


def test_a_dataparallel_prefix_is_accepted(official, tmp_path):
    method, _ = official
    pkl = tmp_path / "dp.pkl"
    torch.save({"module." + ours_to_official(k): v for k, v in method.net.state_dict().items()}, pkl)
    assert main(["import-official", str(pkl), "--out", str(tmp_path / "run")]) == 0


class _Payload:
    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_a_pickle_that_would_run_code_is_refused(tmp_path, capsys):
    marker = tmp_path / "ran"
    payload = _Payload()
    payload.marker = marker
    evil = tmp_path / "model_seed_123.pkl"
    evil.write_bytes(pickle.dumps({"cls_module.neck.0.weight": payload}))
    assert main(["import-official", str(evil), "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert "refused" in err and str(evil) in err
    assert not marker.exists() and not (tmp_path / "run").exists()


def test_other_tensors_are_not_taken_for_tsl_net(tmp_path, capsys):
    pkl = tmp_path / "other.pkl"
    torch.save({"cls_module.neck.0.weight": torch.zeros(3, 3)}, pkl)
    assert main(["import-official", str(pkl), "--out", str(tmp_path / "run")]) == 1
    assert "not the official TSL-Net's parameters" in capsys.readouterr().err
    assert main(["import-official", str(tmp_path / "missing.pkl"), "--out", str(tmp_path / "run")]) == 1
    assert "no such file" in capsys.readouterr().err
