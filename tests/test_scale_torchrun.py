"""torchrun data-parallel training: the rank shard of the seeded global batch, rank-0-only writes,
resume, CPU SyncBatchNorm, and two CPU processes matching one process with the same global batch."""
from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tiny_tsl300 import write_tiny_dataset
from tsl300.engine import distributed
from tsl300.errors import Tsl300Error
from tsl300.models.layers import GroupBatchNorm2d

# SGD, no dropout: the 1- and 2-process runs then differ only by float summation order (Adam's
# first steps divide each gradient by its own magnitude, which blows that rounding up; dropout
# draws its masks per process)
RECIPE = """method: flagship
seed: 5
batch_size: 4
select: last
model: {hidden: 32, attention_hidden: 16, fusion_hidden: 32, encoder_dropout: 0.0, consensus_dropout: 0.0,
        head_dropout: 0.0}
optimizer: {name: sgd, lr: 0.05}
schedule: {steps: 6, log_every: 1, sync_batchnorm: %s}
data: {modalities: [rgb, logmfcc]}
"""
RTOL = 3e-5  # measured: synced 2 ranks within 7e-6 of 1 process over 8 steps, plain BatchNorm 3e-4 off


# ---------------------------------------------------------------- units (one process)


def test_shard_splits_the_global_batch_in_order():
    batch = np.array([7, 3, 9, 1, 4, 8])
    shards = [distributed.shard(batch, distributed.Context(rank=r, world_size=3)) for r in range(3)]
    assert [s.tolist() for s in shards] == [[7, 3], [9, 1], [4, 8]]
    assert distributed.shard(batch, distributed.SINGLE) is batch
    with pytest.raises(Tsl300Error, match="multiple of 4"):
        distributed.check_batch(6, distributed.Context(rank=0, world_size=4))


def test_not_under_torchrun_is_one_process(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.delenv("RANK", raising=False)
    assert distributed.context() == distributed.SINGLE and distributed.is_main_process()
    module = torch.nn.Linear(2, 2)
    assert distributed.wrap(module, distributed.SINGLE, sync_batchnorm=True) is module
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    assert not distributed.is_main_process()


def test_sync_batchnorm_conversion_keeps_names_and_per_group_norms():
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.BatchNorm1d(4),
                                torch.nn.Sequential(GroupBatchNorm2d(3)))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert distributed.convert_sync_batchnorm(model, cuda=False) == 1
    assert isinstance(model[1], distributed.SyncBatchNormCPU) and type(model[2][0]) is GroupBatchNorm2d
    after = model.state_dict()
    assert after.keys() == before.keys() and all(torch.equal(after[k], before[k]) for k in before)


def test_sync_batchnorm_cpu_outside_a_process_group_is_batchnorm():
    torch.manual_seed(0)
    x = torch.randn(10, 5) * 3 + 1
    plain, synced = torch.nn.BatchNorm1d(5), distributed.SyncBatchNormCPU(5)
    assert torch.allclose(synced(x), plain(x), atol=1e-6)
    assert torch.allclose(synced.running_var, plain.running_var)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _sync_bn_rank(rank: int, port: int, x: torch.Tensor, out: str) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    norm = distributed.SyncBatchNormCPU(x.shape[1])
    mine = x[[0, 1, 2] if rank == 0 else [3, 4, 5, 6, 7]].clone().requires_grad_(True)  # unequal shares
    y = norm(mine)
    (y * torch.arange(1.0, 1.0 + y.shape[1])).pow(2).sum().backward()
    torch.save({"y": y.detach(), "grad": mine.grad, "weight_grad": norm.weight.grad,
                "running_var": norm.running_var}, f"{out}/{rank}.pt")
    dist.destroy_process_group()


@pytest.mark.slow
def test_sync_batchnorm_cpu_equals_batchnorm_over_the_global_batch(tmp_path):
    torch.manual_seed(1)
    x = torch.randn(8, 4) * 2 + 0.5
    torch.multiprocessing.spawn(_sync_bn_rank, args=(_free_port(), x, str(tmp_path)), nprocs=2)
    ranks = [torch.load(tmp_path / f"{r}.pt") for r in range(2)]
    whole = x.clone().requires_grad_(True)
    norm = torch.nn.BatchNorm1d(4)
    y = norm(whole)
    (y * torch.arange(1.0, 5.0)).pow(2).sum().backward()
    assert torch.allclose(torch.cat([r["y"] for r in ranks]), y.detach(), atol=1e-5)
    # input gradients flow through the other rank's statistics; weight grads sum over ranks
    assert torch.allclose(torch.cat([r["grad"] for r in ranks]), whole.grad, atol=1e-4)
    assert torch.allclose(ranks[0]["weight_grad"] + ranks[1]["weight_grad"], norm.weight.grad, atol=1e-4)
    assert torch.allclose(ranks[0]["running_var"], norm.running_var, atol=1e-5)


# ---------------------------------------------------------------- torchrun, two CPU processes


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_tiny_dataset(tmp_path_factory.mktemp("tiny"), n_train=16, n_test=6, seed=3, rgb_dim=16,
                              t_range=(24, 48))


def _recipe(folder: Path, sync: bool) -> Path:
    path = folder / f"recipe_{sync}.yaml"
    path.write_text(RECIPE % str(sync).lower())
    return path


def _torchrun(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
                          "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
                          "-m", "tsl300", "train", *args, "--quiet", "--device", "cpu"],
                         env=env, capture_output=True, text=True, timeout=150)
    assert run.returncode == 0, run.stdout + run.stderr
    return run


def _losses(run_dir: Path) -> tuple[list[int], np.ndarray]:
    with open(run_dir / "train_log.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [int(r["step"]) for r in rows], np.array([float(r["loss"]) for r in rows])


def _one_process(recipe: Path, data: Path, out: Path, steps: int = 6):
    import tsl300

    torch.set_num_threads(1)
    return tsl300.train(str(recipe), str(data), str(out), device="cpu", overrides=[f"schedule.steps={steps}"],
                        test=steps == 6)


@pytest.mark.slow
def test_two_processes_match_one_and_resume(data, tmp_path):
    recipe = _recipe(tmp_path, sync=True)
    one = _one_process(recipe, data, tmp_path / "one")
    two = tmp_path / "two"
    _torchrun(str(recipe), "--data", str(data), "--out", str(two), "--set", "schedule.steps=3", "--no-test")
    run = _torchrun(str(recipe), "--data", str(data), "--out", str(two), "--resume")
    assert run.stdout.count("seed 5: trained 6 steps") == 1  # rank 0 reports, rank 1 is silent
    steps, two_losses = _losses(two)
    assert steps == list(range(1, 7))  # one writer: no row twice, none lost across the resume
    _, one_losses = _losses(tmp_path / "one")
    np.testing.assert_allclose(two_losses, one_losses, rtol=RTOL)
    metrics = json.loads((two / "metrics_test.json").read_text())
    assert metrics["average_mAP"] == pytest.approx(one.runs[0].metrics["average_mAP"], abs=1e-6)
    assert metrics["mAP"] == pytest.approx(one.runs[0].metrics["mAP"], abs=1e-6)


@pytest.mark.slow
def test_without_sync_batchnorm_each_rank_normalises_its_share(data, tmp_path):
    """The control: with plain BatchNorm the two ranks leave the one-process curve by far more
    than RTOL (so the test above measures SyncBatchNorm and the gradient averaging)."""
    _one_process(_recipe(tmp_path, sync=True), data, tmp_path / "one", steps=4)
    _torchrun(str(_recipe(tmp_path, sync=False)), "--data", str(data), "--out", str(tmp_path / "two"),
              "--set", "schedule.steps=4", "--no-test")
    two, one = _losses(tmp_path / "two")[1], _losses(tmp_path / "one")[1]
    assert np.max(np.abs(two - one) / np.abs(one)) > 3 * RTOL
