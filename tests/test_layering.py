"""Leaf modules stay leaves: the result types load without pandas, torch or matplotlib, the class
codes are spelled in one module, and the import layering (pyproject ``[tool.importlinter]``)
holds."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_result_types_import_without_pandas_torch_or_matplotlib():
    code = ("import sys, tsl300.types, tsl300.plotting, tsl300.classes; "
            "print(sorted(m for m in ('pandas', 'torch', 'matplotlib', 'tsl300.data.dataset') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"


def test_class_codes_and_sentiment_names_are_written_in_one_module():
    spelled = re.compile(r"""\(\s*["']n["']\s*,\s*["']p["']\s*\)|\(\s*["']negative["']\s*,\s*["']positive["']\s*\)""")
    where = sorted(str(p.relative_to(REPO)) for p in [*REPO.glob("tsl300/**/*.py"), *REPO.glob("extractors/**/*.py")]
                   if spelled.search(p.read_text(encoding="utf-8")))
    assert where == ["tsl300/classes.py"]


def test_the_public_class_constant_is_the_leaf_module_one():
    import tsl300
    from tsl300.classes import CLASS_CODES, sentiment_of
    from tsl300.methods.registry import ModelSpec

    assert tsl300.CLASS_CODES is CLASS_CODES == ("n", "p") and ModelSpec({}).classes is CLASS_CODES
    assert [sentiment_of(c) for c in CLASS_CODES] == ["negative", "positive"]
    with pytest.raises(ValueError, match="unknown sentiment label 'x'"):
        sentiment_of("x")


def test_import_layering_contracts_hold():
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if lint is None:
        pytest.skip("import-linter is not installed (pip install -e '.[dev]')")
    out = subprocess.run([lint, "--no-cache"], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stdout[-3000:]
    assert "0 broken" in out.stdout
