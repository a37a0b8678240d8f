"""Package-level promises: a light import and a typed public API."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import topicbert

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
    assert topicbert.__version__.count(".") >= 2


def test_py_typed_is_shipped() -> None:
    assert (Path(topicbert.__file__).parent / "py.typed").is_file()
