#!/usr/bin/env bash
# The torch-free install, proved: the recipe of examples/onnx-server (and of the
# deployment tutorial) in a fresh virtual environment.
#
#   1. With the project's full environment (exporting needs torch), fit a tiny
#      random BERT on a few texts and export it to ONNX.
#   2. Create a new virtual environment; install topicbert's wheel with
#      --no-deps and examples/onnx-server/requirements.txt, nothing else.
#   3. There, prove that importing torch, transformers and scikit-learn fails,
#      then score the export with topicbert.onnx and through `topicbert serve`
#      and compare with what the estimator predicted.
#
# Usage: scripts/check_torch_free_install.sh   (or `make check-onnx-runtime`)
# Environment: MAIN_PYTHON (default .venv/bin/python), PYTHON for the new
# environment (default python3). Needs PyPI (or a pip cache) for step 2.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1
MAIN_PYTHON="${MAIN_PYTHON:-.venv/bin/python}"
PYTHON="${PYTHON:-python3}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
start=$SECONDS

echo "== 1. a tiny export, made with $MAIN_PYTHON"
"$MAIN_PYTHON" scripts/torch_free_check.py export "$work/export" "$work/expected.json"

echo "== 2. a fresh virtual environment: topicbert --no-deps, then the runtime's needs"
"$PYTHON" -m venv "$work/venv"
venv_python="$work/venv/bin/python"
"$venv_python" -m pip wheel --quiet --no-deps -w "$work/dist" .
"$venv_python" -m pip install --quiet -r examples/onnx-server/requirements.txt
"$venv_python" -m pip install --quiet --no-deps "$work"/dist/topicbert-*.whl
"$venv_python" -m pip list --format=freeze | sed 's/^/   /'

echo "== 3. torch is absent; the export scores as the estimator did"
if "$venv_python" -c "import torch" 2>/dev/null; then
    echo "torch can be imported in the new environment" >&2
    exit 1
fi
(cd "$work" && "$venv_python" "$OLDPWD/scripts/torch_free_check.py" check export expected.json)

echo "== torch-free install checked in $((SECONDS - start)) s"
