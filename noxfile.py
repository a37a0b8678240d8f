"""Developer tasks: ``nox -s tests``, ``lint``, ``typecheck``, ``docs``, ``bench``, ``compare``,
``bench_smoke``."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck", "docs"]
nox.options.default_venv_backend = "venv"
TORCH = "torch==2.13.0"  # the CPU build; installed first so nothing pulls a CUDA build


def install(session: nox.Session, extras: str) -> None:
    session.install(TORCH)
    session.install("-e", f".[{extras}]")


@nox.session
def tests(session: nox.Session) -> None:
    install(session, "test")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    paths = ["src", "tests", "benchmarks", "examples", "noxfile.py", "docs"]
    session.run("ruff", "check", *paths)
    session.run("ruff", "format", "--check", *paths)


@nox.session
def typecheck(session: nox.Session) -> None:
    install(session, "dev")
    session.run("mypy")


@nox.session
def docs(session: nox.Session) -> None:
    install(session, "docs")
    session.run("sphinx-build", "-W", "--keep-going", "-b", "html", "docs", "docs/_build/html")


@nox.session
def bench(session: nox.Session) -> None:
    """Accuracy with its spread: repeated cross-validation (hours); not run by default."""
    install(session, "test")
    session.run("python", "benchmarks/repeated_cv.py", *session.posargs)


@nox.session
def compare(session: nox.Session) -> None:
    """The BBC single-split comparison (about 100 minutes on a 2-core CPU); not run by default."""
    install(session, "test")
    session.run("python", "benchmarks/compare.py", *session.posargs)


@nox.session
def bench_smoke(session: nox.Session) -> None:
    """Every benchmark script on a tiny input (``--smoke``), as the tests run them (minutes)."""
    install(session, "test")
    session.run("python", "-m", "pytest", "tests/test_benchmarks.py", *session.posargs)
