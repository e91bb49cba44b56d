"""Package discovery only: maps the top-level ``extractors/`` folder to ``tsl300.extractors``.

All metadata lives in pyproject.toml; this file exists because a package-dir mapping of a
sibling folder into a subpackage cannot be combined with automatic discovery there.
"""
from setuptools import find_namespace_packages, find_packages, setup

packages = find_packages(include=["tsl300", "tsl300.*"])
# data-only folders (shipped annotations, default model, example video)
packages += find_namespace_packages(include=["tsl300.resources.*"], exclude=["*__pycache__*"])
packages += ["tsl300.extractors"] + [
    "tsl300.extractors." + p for p in find_packages(where="extractors")
]
setup(
    packages=packages,
    package_dir={"tsl300": "tsl300", "tsl300.extractors": "extractors"},
)
