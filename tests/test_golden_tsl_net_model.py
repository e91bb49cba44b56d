"""TSL-Net network vs the official forward (../shared/golden/tsl_net/model_forward.json).

Weights and inputs are regenerated from the README's seeded numpy rule, loaded through the
official state-dict names, and every recorded output is compared at the README's tolerances.
"""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch

from conftest import shared_path
from tsl300.losses.contrastive import reverse_mapping_infonce
from tsl300.models.layers import MaskedConvStack, conv1d_stack, sinusoid_table
from tsl300.models.tsl_net import TSLNet, load_official_state_dict, official_to_ours, ours_to_official

TOL = {  # (atol, rtol) from the README
    "prob": (1e-5, 1e-4), "logit": (1e-5, 1e-4), "feature": (5e-5, 1e-4), "bn": (1e-5, 1e-4),
    "cpc": (1e-5, 0.0), "cpc_unit_x_pred": (1e-5, 1e-4),
}


@pytest.fixture(scope="module")
def golden():
    with open(shared_path("golden", "tsl_net", "model_forward.json")) as f:
        return json.load(f)


def regenerate_weights(entries) -> dict[str, torch.Tensor]:
    state = {}
    for e in entries:
        if e["dtype"] == "int64":
            state[e["name"]] = torch.zeros((), dtype=torch.int64)
            continue
        w = np.random.RandomState(e["seed"]).uniform(e["low"], e["high"], size=e["shape"]).astype(np.float32)
        state[e["name"]] = torch.from_numpy(w)
    return state


@pytest.fixture(scope="module")
def official_state(golden):
    return regenerate_weights(golden["weights"])


@pytest.fixture(scope="module")
def net(official_state):
    model = TSLNet()
    load_official_state_dict(model, official_state)
    return model


def make_inputs(case):
    inp = case["inputs"]
    u = np.random.RandomState(inp["seed_visual"]).uniform(0.0, 1.0, size=(inp["rgb_rows"], 1024))
    u2 = u * u
    rgb = (4.0 * u2 * u2).astype(np.float32)
    db = np.random.RandomState(inp["seed_audio"]).uniform(-80.0, 40.0, size=(inp["mel_rows"], 60)).astype(np.float32)
    T = min(inp["rgb_rows"], inp["mel_rows"] // 32)
    visual = rgb[:T]
    audio = (db[: 32 * T].reshape(T, 32, 60) + np.float32(50)) / np.float32(80)
    return torch.from_numpy(visual)[None], torch.from_numpy(audio)[None]


def _sha(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes()).hexdigest()


def assert_close(ours, ref, kind, what):
    atol, rtol = TOL[kind]
    ours = np.asarray(ours, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    assert ours.shape == ref.shape, (what, ours.shape, ref.shape)
    excess = np.abs(ours - ref) - (atol + rtol * np.abs(ref))
    assert excess.max() <= 0, f"{what}: worst excess {excess.max():.3g} (max |diff| {np.abs(ours - ref).max():.3g})"


def check_big(ours: torch.Tensor, ref: dict, what: str):
    """Large tensors: shape, row/col means and the stored rows (or the full array)."""
    a = ours[0].detach().numpy().astype(np.float64)
    assert list(a.shape) == ref["shape"]
    assert_close(a.mean(axis=1), ref["row_mean"], "feature", what + ".row_mean")
    assert_close(a.mean(axis=0), ref["col_mean"], "feature", what + ".col_mean")
    if "full" in ref:
        assert_close(a, ref["full"], "feature", what + ".full")
    else:
        assert_close(a[ref["rows"]], ref["values"], "feature", what + ".rows")


def test_golden_tsl_net_parameter_counts(golden):
    model = TSLNet()
    counts = model.parameter_counts()
    ref = golden["parameter_counts"]
    assert counts["total"] == ref["total_parameters"] == 91_342_592
    assert counts["without_reverse_mapping"] == ref["without_reverse_mapping"]
    assert counts["inference_path"] == ref["inference_path"]
    for part, n in ref["per_module"].items():
        assert counts[part] == n, part
    buffers = model.state_dict()
    floats = sum(v.numel() for k, v in buffers.items() if "running" in k)
    ints = sum(1 for k, v in buffers.items() if v.dtype == torch.int64)
    assert (floats, ints) == (ref["buffers_float"], ref["buffers_int64"])


def test_golden_tsl_net_weights_regenerate_and_names_map(golden, official_state):
    ours = TSLNet().state_dict()
    assert [official_to_ours(e["name"]) for e in golden["weights"]] == list(ours)
    assert [ours_to_official(k) for k in ours] == [e["name"] for e in golden["weights"]]
    for e in golden["weights"]:
        arr = official_state[e["name"]].numpy()
        assert list(arr.shape) == e["shape"], e["name"]
        if e["dtype"] == "float32":
            assert _sha(arr) == e["sha256"], e["name"]


def test_golden_tsl_net_positional_encoding(golden):
    ref = golden["positional_encoding"]
    table = sinusoid_table(4000, 60).numpy()
    assert list(table.shape) == ref["shape"]
    # frequencies exactly (correctly rounded float32 exp); values within 1 ulp of torch's sin/cos
    assert np.array_equal(table[1, 0::2], np.sin(np.asarray(ref["div_term"], np.float32).astype(np.float64)).astype(np.float32))
    assert np.abs(table[ref["rows"]] - np.asarray(ref["values"])).max() <= 1e-6
    assert abs(float(table.astype(np.float64).sum()) - ref["check_sum"]) < 1e-2


def test_golden_tsl_net_inputs(golden):
    for case in golden["cases"]:
        visual, audio = make_inputs(case)
        assert _sha(visual.numpy()) == case["inputs"]["visual_model_input"]["sha256"]
        assert _sha(audio.numpy()) == case["inputs"]["audio_model_input"]["sha256"]


def _cases(golden, fast_only):
    """T8 and T37 by default; T100 and T640 (two audio chunks) in the slow set."""
    return [c for c in golden["cases"] if (c["T"] < 100) == fast_only]


def run_case(net, case):
    visual, audio = make_inputs(case)
    labels = torch.tensor([case["vid_labels"]], dtype=torch.float32)
    ev = case["eval"]
    # eval: net.eval(), no labels
    net.eval()
    with torch.no_grad():
        out = net(visual, audio, with_reverse=True)
    assert_close(out["vid_score"][0], ev["vid_score"], "prob", "eval.vid_score")
    assert_close(out["cas_sigmoid_fuse"][0], ev["cas_sigmoid_fuse"], "prob", "eval.cas_sigmoid_fuse")
    assert_close(out["cas"][0], ev["cas"], "logit", "eval.cas")
    assert_close(out["cas_dis"][0], ev["cas_dis"], "logit", "eval.cas_dis")
    for key in ("features", "a_fea", "v_fea"):
        check_big(out[key], ev[key], "eval." + key)
    # train_path_eval: eval mode with labels (reverse nets on)
    tp = case["train_path_eval"]
    assert_close(TSLNet.training_vid_score(out, labels)[0], tp["vid_score"], "prob", "tp.vid_score")
    assert_close(out["vid_ldl"][0], tp["vid_ldl"], "prob", "tp.vid_ldl")
    assert_close(out["cas_softmax_dis"][0], tp["cas_softmax_dis"], "prob", "tp.cas_softmax_dis")
    check_big(out["x_pred_a"], tp["x_pred_a"], "tp.x_pred_a")
    check_big(out["x_pred_v"], tp["x_pred_v"], "tp.x_pred_v")
    _check_cpc(out, tp, "tp")
    # train_bn_batch: BN on batch statistics (per 600-snippet chunk), dropout off
    bn = case["train_bn_batch"]
    state = {k: v.clone() for k, v in net.state_dict().items()}
    net.train()
    net.drop_out.eval()
    try:
        with torch.no_grad():
            out = net(visual, audio, with_reverse=True)
        assert_close(TSLNet.training_vid_score(out, labels)[0], bn["vid_score"], "prob", "bn.vid_score")
        assert_close(out["vid_ldl"][0], bn["vid_ldl"], "prob", "bn.vid_ldl")
        assert_close(out["cas_sigmoid_fuse"][0], bn["cas_sigmoid_fuse"], "prob", "bn.cas_sigmoid_fuse")
        assert_close(out["cas_softmax_dis"][0], bn["cas_softmax_dis"], "prob", "bn.cas_softmax_dis")
        check_big(out["features"], bn["features"], "bn.features")
        check_big(out["a_fea"], bn["a_fea"], "bn.a_fea")
        _check_cpc(out, bn, "bn")
        after = net.state_dict()
        for layer, stats in bn["bn_running_stats_after"].items():
            name = official_to_ours(layer)
            assert int(after[name + ".num_batches_tracked"]) == stats["num_batches_tracked"]
            assert_close(after[name + ".running_mean"], stats["running_mean"], "bn", name + ".mean")
            assert_close(after[name + ".running_var"], stats["running_var"], "bn", name + ".var")
    finally:
        net.load_state_dict(state)
        net.eval()


def _check_cpc(out, ref, what):
    mask = out["mask"]
    cpc_a = reverse_mapping_infonce(out["a_fea"], out["x_pred_a"], mask, official_sign=True)
    cpc_v = reverse_mapping_infonce(out["v_fea"], out["x_pred_v"], mask, official_sign=True)
    # official_sign=True returns the official term, i.e. +nce (what the code adds to the loss)
    assert_close(cpc_a[0], ref["cpc_a"], "cpc", what + ".cpc_a")
    assert_close(cpc_v[0], ref["cpc_v"], "cpc", what + ".cpc_v")
    assert_close((cpc_a + cpc_v)[0], ref["cpc_loss"], "cpc", what + ".cpc_loss")


def test_golden_tsl_net_forward_short_cases(golden, net):
    for case in _cases(golden, fast_only=True):
        run_case(net, case)


@pytest.mark.slow
def test_golden_tsl_net_forward_t100_and_t640_two_chunks(golden, net):
    cases = _cases(golden, fast_only=False)
    assert [c["audio_chunks"] for c in cases] == [[100], [600, 40]]
    for case in cases:
        run_case(net, case)


def test_golden_tsl_net_cpc_units(golden):
    """The official CPC(x_size=8, y_size=12) on inline weights: reverse net and nce."""
    for case in golden["cpc_unit_cases"]:
        x = torch.tensor(case["x"], dtype=torch.float32)
        y = torch.tensor(case["y"], dtype=torch.float32)
        B, T, dx = x.shape
        net = MaskedConvStack(conv1d_stack([y.shape[1]] * case["num_layer"] + [dx]))
        net.load_state_dict({k: torch.tensor(v["values"], dtype=torch.float32).reshape(v["shape"])
                             for k, v in case["weights"].items()})
        with torch.no_grad():
            x_pred = net(y).transpose(1, 2)  # (B, T, dx)
        assert_close(x_pred.reshape(B * T, dx), case["x_pred"], "cpc_unit_x_pred", case["name"] + " x_pred")
        # The official CPC flattens B*T, so negatives cross videos: treat the batch as one video.
        nce = reverse_mapping_infonce(x.reshape(1, B * T, dx), x_pred.reshape(1, B * T, dx),
                                      torch.ones(1, B * T, dtype=torch.bool), official_sign=True)
        assert abs(float(nce[0]) - case["nce"]) <= 2e-6, case["name"]


@pytest.mark.slow
def test_golden_tsl_net_padded_batch_reproduces_each_case(golden, net):
    """T37 and T8 in one zero-padded batch (eval and batch-statistics modes) give each case's
    official outputs: masks, per-video top-k, per-(video, chunk) BatchNorm, per-video CPC."""
    cases = _cases(golden, fast_only=True)
    inputs = [make_inputs(c) for c in cases]
    T = max(c["T"] for c in cases)
    visual = torch.zeros(len(cases), T, 1024)
    audio = torch.zeros(len(cases), T, 32, 60)
    mask = torch.zeros(len(cases), T, dtype=torch.bool)
    for b, (v, a) in enumerate(inputs):
        L = v.shape[1]
        visual[b, :L], audio[b, :L], mask[b, :L] = v[0], a[0], True
    state = {k: v.clone() for k, v in net.state_dict().items()}
    try:
        for block, cpc_block, train in (("eval", "train_path_eval", False),
                                        ("train_bn_batch", "train_bn_batch", True)):
            net.train(train)
            net.drop_out.eval()
            with torch.no_grad():
                out = net(visual, audio, mask, with_reverse=True)
            cpc_a = reverse_mapping_infonce(out["a_fea"], out["x_pred_a"], mask, official_sign=True)
            cpc_v = reverse_mapping_infonce(out["v_fea"], out["x_pred_v"], mask, official_sign=True)
            for b, case in enumerate(cases):
                ref, L = case[block], case["T"]
                assert_close(out["cas_sigmoid_fuse"][b, :L], ref["cas_sigmoid_fuse"], "prob", f"{block} T{L}")
                check_big(out["features"][b:b + 1, :L], ref["features"], f"{block} T{L} features")
                check_big(out["a_fea"][b:b + 1, :L], ref["a_fea"], f"{block} T{L} a_fea")
                assert_close(out["vid_ldl"][b], case[cpc_block]["vid_ldl"], "prob", f"{block} T{L} vid_ldl")
                assert_close(cpc_a[b], case[cpc_block]["cpc_a"], "cpc", f"{block} T{L} cpc_a")
                assert_close(cpc_v[b], case[cpc_block]["cpc_v"], "cpc", f"{block} T{L} cpc_v")
    finally:
        net.load_state_dict(state)
        net.eval()
