"""Package-level promises: a light import and a typed public API."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

import topicbert

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ["torch", "transformers", "matplotlib", "lime", "mlflow", "flask", "nltk"]


def test_import_is_light() -> None:
    code = (
        "import sys, topicbert, topicbert.plugins, topicbert.datasets; "
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    )
    assert result.stdout.strip() == "[]"


def test_public_names_and_version() -> None:
    for name in topicbert.__all__:
        assert hasattr(topicbert, name), name
    # the installed distribution's version, which is pyproject's, not the source-tree fallback
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]["version"]
    assert topicbert.__version__ == version("topicbert") == declared


def test_py_typed_is_shipped() -> None:
    assert (Path(topicbert.__file__).parent / "py.typed").is_file()
