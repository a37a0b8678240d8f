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
    "myst_nb",
]
exclude_patterns = ["_build", "jupyter_execute"]
templates_path = ["_templates"]
autosummary_generate = True
autodoc_default_options = {"members": True, "show-inheritance": False}

# Tutorials are notebooks in MyST markdown, executed at every build: an error
# in one fails the build. They read the corpus from the repository's data/ folder.
nb_execution_mode = "force"
nb_execution_raise_on_error = True
nb_execution_timeout = 1800  # a cell may share a 2-core machine with other work
nb_execution_show_tb = True
nb_merge_streams = True
autodoc_typehints = "description"
autodoc_member_order = "bysource"
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
nitpicky = False
html_theme = "furo"
html_title = f"topicbert {release}"
suppress_warnings = ["myst.header", "mystnb.unknown_mime_type"]
