"""Sphinx configuration."""

from importlib.metadata import version as _version

project = "topicbert"
author = "The topicbert developers"
copyright = "2026, The topicbert developers"
release = _version("topicbert")
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
autodoc_typehints = "description"
autodoc_member_order = "bysource"
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
nitpicky = False
html_theme = "furo"
html_title = f"topicbert {release}"
suppress_warnings = ["myst.header"]
