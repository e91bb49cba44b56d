"""``tsl300 bench``: recipe resolution and one tiny end-to-end table."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tsl300 import benchmarking
from tsl300.cli import main
from tsl300.errors import RecipeError

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def test_resolve_all_picks_one_main_recipe_per_method_and_skips_default():
    paths = benchmarking.resolve_recipes(["all"], RECIPES)
    folders = [p.parent.name for p in paths]
    assert len(folders) == len(set(folders))
    assert "default" not in folders
    assert {"tsl_net", "tsl300"} <= set(folders)
    assert RECIPES / "tsl300" / "flagship.yaml" in paths
    assert RECIPES / "tsl_net" / "tsl_net.yaml" in paths


def test_resolve_unknown_name_is_a_clear_error():
    with pytest.raises(RecipeError, match="no recipe named 'nope'"):
        benchmarking.resolve_recipes(["nope"], RECIPES)
    with pytest.raises(RecipeError, match="not found"):
        benchmarking.resolve_recipes(["missing.yaml"], RECIPES)


def test_markdown_has_mean_and_std_cells():
    row = benchmarking.BenchRow("r", "m", "point", [{"mAP@0.1": 10.0, "avg_mAP": 5.0, "Recall": 50.0, "F2": 20.0},
                                                   {"mAP@0.1": 20.0, "avg_mAP": 7.0, "Recall": 60.0, "F2": 30.0}],
                                [1.0, 3.0])
    table = benchmarking.results_table([row])
    assert table.loc[0, "avg_mAP"] == pytest.approx(6.0)
    assert table.loc[0, "avg_mAP_std"] == pytest.approx(1.4142135623730951)
    md = benchmarking.to_markdown(table, "caption")
    assert "| r | point | 15.00 ± 7.07 | 6.00 ± 1.41 | 55.00 ± 7.07 | 25.00 ± 7.07 | 2 |" in md


@pytest.mark.slow
def test_bench_cli_writes_table(tmp_path):
    from tsl300.data.synth import generate

    data = tmp_path / "data"
    generate(data, n_train=8, n_test=4, seed=0, snippets_mean=40)
    out = tmp_path / "bench"
    code = main(["bench", "--recipes", "tsl300", "--data", str(data), "--out", str(out), "--seeds", "1",
                 "--set", "schedule.steps=2", "--set", "batch_size=4", "--quiet"])
    assert code == 0
    table = pd.read_csv(out / "results.csv")
    assert list(table["recipe"]) == ["tsl300-flagship"]
    assert 0.0 <= table.loc[0, "avg_mAP"] <= 100.0
    assert (out / "results.md").read_text().count("\n|") >= 2
    assert (out / "tsl300" / "flagship" / "seed_1" / "model.safetensors").exists()


def test_resolve_all_in_a_missing_folder_is_a_recipe_error(tmp_path):
    with pytest.raises(RecipeError, match="recipes folder not found"):
        benchmarking.resolve_recipes(["all"], tmp_path / "nope")


def test_overrides_for_applies_named_items_only_to_matching_recipes():
    lacp = RECIPES / "lacp" / "lacp_cpu.yaml"
    sfnet = RECIPES / "sfnet" / "sfnet_cpu.yaml"
    items = ["schedule.steps=150", "lacp:batch_size=8", "sfnet:model.expand_step=40", "data.loader_options={a: 'x:y'}"]
    assert benchmarking.overrides_for(lacp, items) == ["schedule.steps=150", "batch_size=8",
                                                       "data.loader_options={a: 'x:y'}"]
    assert benchmarking.overrides_for(sfnet, items) == ["schedule.steps=150", "model.expand_step=40",
                                                        "data.loader_options={a: 'x:y'}"]


def test_device_benchmark_summary_pools_seeds_split_across_runs(tmp_path):
    """``benchmarks/summarize_benchmark.py`` pools tsl_net_s1..s3 into one row with mean ± std."""
    import importlib.util
    import json

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "summarize_benchmark.py"
    spec = importlib.util.spec_from_file_location("summarize_benchmark", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    folder = tmp_path / "summaries"
    folder.mkdir()
    for seed, (m, steps) in enumerate([(10.0, 900), (14.0, 950)], start=1):
        (folder / f"tsl_net_s{seed}.json").write_text(json.dumps({
            "recipe": "tsl_net", "recipe_steps": 2000,
            "per_seed": [{"seed": seed, "avg_mAP": m, "Recall": 50.0, "F2": 30.0, "steps": steps}]}))
    (folder / "flagship.json").write_text(json.dumps({
        "recipe": "tsl300-flagship", "recipe_steps": 200,
        "per_seed": [{"seed": s, "avg_mAP": 70.0 + s, "Recall": 80.0, "F2": 50.0, "steps": 200} for s in (1, 2, 3)]}))
    table = module.format_table(module.pooled_rows(folder)).splitlines()
    assert "| tsl300-flagship | 3 | 200 / 200 | 72.00 ± 1.00 | 80.00 ± 0.00 | 50.00 ± 0.00 |" in table
    assert "| tsl_net | 2 | 900/950 / 2000 | 12.00 ± 2.83 | 50.00 ± 0.00 | 30.00 ± 0.00 |" in table
