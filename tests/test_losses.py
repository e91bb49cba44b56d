"""Loss building blocks: the vectorised pseudo-label search against a plain per-region loop
written from the specification, point targets, focal/point loss, label distribution KL,
contrastive sign and top-k MIL."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tsl300.losses.contrastive import reverse_mapping_infonce
from tsl300.losses.distribution import label_distribution_kl, label_distribution_targets
from tsl300.losses.mil import topk_mil_loss, topk_video_scores
from tsl300.losses.point import point_frame_loss, smoothed_point_targets
from tsl300.losses.pseudo_labels import background_loss, pseudo_action_loss, search_pseudo_labels


def reference_search(p: np.ndarray, points: list[int], thr=np.float32(0.95)):
    """Region-by-region loop from the spec (one video, float32)."""
    T = len(p)
    bkg = p[:, -1]
    seed = np.zeros(T, np.float32)
    walk = np.zeros(T, bool)

    def fill(lo, hi, kind):  # region [lo, hi)
        if hi <= lo:
            return
        region = bkg[lo:hi]
        m = region.max()
        marks = np.flatnonzero(region >= thr)
        mass = np.float32(len(marks)) * m
        chosen = np.zeros(hi - lo, bool)
        chosen[marks] = True
        first_max = int(np.argmax(region))
        if kind == "left":
            chosen[: (marks[-1] if mass >= 1 else first_max) + 1] = True
        elif kind == "right":
            chosen[(marks[0] if mass >= 1 else first_max):] = True
        elif mass >= 2:
            chosen[marks[0]: marks[-1] + 1] = True
        else:
            chosen[first_max] = True
        seed[lo:hi][chosen] = m

    def ok(j):
        return bkg[j] <= p[j, :-1].max() and seed[j] < 1

    pts = sorted(set(points))
    fill(0, pts[0], "left")
    fill(pts[-1] + 1, T, "right")
    for a, b in zip(pts[:-1], pts[1:]):
        fill(a + 1, b, "gap")
    walks = [range(pts[0] - 1, -1, -1), range(pts[-1] + 1, T)]
    for a, b in zip(pts[:-1], pts[1:]):
        walks += [range(a + 1, b), range(b - 1, a, -1)]
    for steps in walks:
        for j in steps:
            if not ok(j):
                break
            walk[j] = True
    return walk, seed


def random_case(rng, T):
    p = rng.random((T, 3)).astype(np.float32)
    # background clusters above 0.95, some exactly 1.0, to exercise every branch
    for _ in range(rng.integers(0, 4)):
        s = rng.integers(0, T)
        p[s: s + rng.integers(1, 6), 2] = rng.uniform(0.95, 1.0)
    if rng.random() < 0.3:
        p[rng.integers(0, T), 2] = 1.0
    p[:, :2] *= rng.uniform(0.2, 2.0)
    p = np.clip(p, 0, 1).astype(np.float32)
    k = rng.integers(1, min(T, 7) + 1)
    pts = sorted(rng.choice(T, size=k, replace=False).tolist())
    if rng.random() < 0.3 and pts[-1] + 1 < T:
        pts.append(pts[-1] + 1)  # adjacent points
    return p, pts


def test_vectorised_search_matches_the_region_loop():
    rng = np.random.default_rng(1)
    cases = [random_case(rng, int(rng.integers(2, 60))) for _ in range(300)]
    T = max(len(c[0]) for c in cases)
    probs = torch.rand(len(cases), T, 3)
    targets = torch.zeros(len(cases), T, 3)
    mask = torch.zeros(len(cases), T, dtype=torch.bool)
    for b, (p, pts) in enumerate(cases):
        probs[b, : len(p)] = torch.from_numpy(p)
        targets[b, pts, 0], targets[b, pts, 1] = 0.1, 0.9
        mask[b, : len(p)] = True
    act, bkg = search_pseudo_labels(probs, targets, mask)
    for b, (p, pts) in enumerate(cases):
        walk, seed = reference_search(p, pts)
        np.testing.assert_array_equal(bkg[b, : len(p)].numpy(), seed, err_msg=f"case {b}")
        expected = np.where(walk[:, None], p, targets[b, : len(p)].numpy())
        np.testing.assert_array_equal(act[b, : len(p)].numpy(), expected, err_msg=f"case {b}")
        assert not bkg[b, len(p):].any() and not act[b, len(p):].any()


def test_search_without_points_gives_no_seeds():
    act, bkg = search_pseudo_labels(torch.rand(1, 10, 3), torch.zeros(1, 10, 3))
    assert not bkg.any() and not act.any()


def test_smoothed_targets_and_later_point_wins():
    y = smoothed_point_targets([np.array([[2, 1], [5, 0], [5, 1]])], 8, 2)
    assert y.shape == (1, 8, 3)
    assert y[0, 2].tolist() == pytest.approx([0.1, 0.9, 0.0])
    assert y[0, 5].tolist() == pytest.approx([0.1, 0.9, 0.0])
    assert float(y[0, [0, 1, 3, 4, 6, 7]].abs().sum()) == 0
    with pytest.raises(ValueError):
        smoothed_point_targets([np.array([[8, 1]])], 8, 2)


def test_point_frame_loss_by_hand():
    p = torch.tensor([[[0.7, 0.2, 0.1], [0.3, 0.3, 0.3]]])
    y = torch.tensor([[[0.9, 0.1, 0.0], [0.0, 0.0, 0.0]]])
    f = ((1 - p) * y + p * (1 - y)) ** 2
    bce = -(y * torch.log(p) + (1 - y) * torch.log(1 - p))
    expected = (f[0, 0] * bce[0, 0] * 0.9).sum() / 0.9
    torch.testing.assert_close(point_frame_loss(p, y)[0], expected)
    assert float(point_frame_loss(p, torch.zeros_like(y))[0]) == 0.0  # no points: 0, not NaN


def test_pseudo_action_and_background_losses_by_hand():
    p = torch.tensor([[[0.6, 0.1, 0.2], [0.2, 0.2, 0.9]]])
    s = torch.tensor([[[0.6, 0.1, 0.2], [0.0, 0.0, 0.0]]])
    f = ((1 - p) * (s > 0.5) + p * (s < 0.5)) ** 2
    bce = -(s * torch.log(p) + (1 - s) * torch.log(1 - p))
    torch.testing.assert_close(pseudo_action_loss(p, s)[0], 0.5 * (f * bce * s).sum() / 0.6)
    b = torch.tensor([[0.0, 0.97]])
    e = torch.tensor([0.0, 0.0, 1.0])
    fb = ((1 - p[0, 1]) * e + p[0, 1] * (1 - e)) ** 2
    bb = -(e * torch.log(p[0, 1]) + (1 - e) * torch.log(1 - p[0, 1]))
    torch.testing.assert_close(background_loss(p, b)[0], (fb * bb).sum() * 0.97 / 0.97)
    assert float(background_loss(p, torch.zeros(1, 2))[0]) == 0.0


def test_label_distribution_kl_matches_kldivloss_mean():
    pred = torch.tensor([[0.3, 0.7], [0.5, 0.5]])
    target = label_distribution_targets(torch.tensor([[1.0, 5.0], [0.0, 3.0]]))
    torch.testing.assert_close(target, torch.tensor([[1 / 6, 5 / 6], [0.0, 1.0]]))
    per_video = label_distribution_kl(pred, target)
    with warnings.catch_warnings():  # torch warns that 'mean' divides by B*C: that is the point
        warnings.simplefilter("ignore")
        official = torch.nn.KLDivLoss()(torch.log(pred), target)  # legacy 'mean' over B*C
    torch.testing.assert_close(per_video.mean(), official)
    assert float(label_distribution_kl(pred[1:], target[1:])[0]) == pytest.approx(math.log(2) / 2)


def test_infonce_sign_and_value():
    torch.manual_seed(0)
    x = torch.randn(1, 5, 4)
    good = reverse_mapping_infonce(x, x.clone(), torch.ones(1, 5, dtype=torch.bool))
    bad = reverse_mapping_infonce(x, torch.randn(1, 5, 4), torch.ones(1, 5, dtype=torch.bool))
    assert float(good) < float(bad)  # correct sign: matching predictions give a lower loss
    xn = F.normalize(x[0], dim=-1)
    sim = xn @ xn.T
    expected = -(sim.diag() - torch.logsumexp(sim, dim=1)).mean()
    torch.testing.assert_close(good[0], expected)
    official = reverse_mapping_infonce(x, x.clone(), torch.ones(1, 5, dtype=torch.bool), official_sign=True)
    torch.testing.assert_close(official, -good)


def test_infonce_ignores_padding():
    torch.manual_seed(0)
    x, xp = torch.randn(1, 6, 4), torch.randn(1, 6, 4)
    alone = reverse_mapping_infonce(x[:, :4], xp[:, :4], torch.ones(1, 4, dtype=torch.bool))
    mask = torch.tensor([[True] * 4 + [False] * 2])
    torch.testing.assert_close(reverse_mapping_infonce(x, xp, mask), alone)


def test_topk_mil():
    cas = torch.tensor([[[0.9, 0.1], [0.8, 0.2], [0.1, 0.3], [0.2, 0.4], [0.99, 0.99]]])
    mask = torch.tensor([[True, True, True, True, False]])
    scores = topk_video_scores(cas, mask, r=2)  # k = 4 // 2 = 2, padding excluded
    torch.testing.assert_close(scores, torch.tensor([[0.85, 0.35]]))
    labels = torch.tensor([[1.0, 0.0]])
    expected = F.binary_cross_entropy(scores, labels, reduction="none").mean(dim=1)
    torch.testing.assert_close(topk_mil_loss(cas, labels, mask, r=2), expected)
    short = topk_video_scores(cas[:, :1], mask[:, :1], r=8)  # k clamps to 1 (official: NaN)
    torch.testing.assert_close(short, cas[:, 0])
