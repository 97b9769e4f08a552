"""The method registry (registration, creation, patterns, errors, entry-point plugins) and every name table's
typo message."""

import sys

import numpy as np
import pytest

from benchmark.backends import make_backend
from benchmark.datasets import get_dataset
from benchmark.metrics import get_protocol
from benchmark.policies import POLICIES
from benchmark.reference import load_paper
from methods import registry
from methods.deep.losses import get_loss
from methods.names import UnknownNameError
from methods.registry import UnknownMethodError, create, get_spec, list_methods, register, resolve_methods


def test_create_applies_defaults_and_rejects_unknown_parameters():
    det = create("tophat", size=7)
    assert det.params == {"size": 7, "shape": "square"}
    assert create("tophat", size=None).params["size"] == 5  # None never overrides a default
    with pytest.raises(TypeError, match="Unexpected parameters for method 'tophat': radius. Accepted: shape, size"):
        create("tophat", radius=3)


def test_unknown_names_list_what_exists():
    with pytest.raises(UnknownMethodError, match="Unknown method 'tophatt'. Available: .*tophat"):
        get_spec("tophatt")
    with pytest.raises(UnknownMethodError, match="Unknown method 'zzz\\*'"):
        resolve_methods("tophat,zzz*")


def test_patterns_groups_and_families():
    assert "tophat" in list_methods("all")
    assert "tophat" in list_methods("traditional")
    assert "tophat" in list_methods("filtering")
    assert list_methods("top*") == ["tophat"]
    assert resolve_methods("tophat, tophat") == ["tophat"]


def test_register_validates_and_refuses_conflicting_names():
    with pytest.raises(ValueError, match="kind"):
        register("x-bad", family="filtering", kind="magic", paper="p")
    with pytest.raises(ValueError, match="already registered"):
        register("tophat", family="filtering", kind="traditional", paper="p")(lambda image: image)
    with pytest.raises(TypeError, match="must inherit from Detector"):
        register("x-class", family="filtering", kind="traditional", paper="p")(dict)


def test_third_party_entry_point_registers_a_method(tmp_path, monkeypatch):
    (tmp_path / "irbench_plugin_demo.py").write_text(
        "from methods.registry import register\n"
        "@register('plugin-identity', family='filtering', kind='traditional', paper='demo', defaults={})\n"
        "def identity(image):\n    return image\n"
    )
    dist = tmp_path / "irbench_plugin_demo-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: irbench-plugin-demo\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[irbench.methods]\ndemo = irbench_plugin_demo\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_loaded", False)
    monkeypatch.setattr(registry, "METHODS", registry.METHODS.copy())
    assert "plugin-identity" in list_methods("plugin-*")
    image = np.ones((3, 3), np.float32)
    assert np.array_equal(create("plugin-identity")(image), image)
    monkeypatch.delitem(sys.modules, "irbench_plugin_demo")


def test_a_module_that_fails_to_import_disables_only_itself(tmp_path, monkeypatch):
    (tmp_path / "irbench_broken_plugin.py").write_text("import no_such_dependency_xyz\n")
    dist = tmp_path / "irbench_broken_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: irbench-broken-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[irbench.methods]\nbroken = irbench_broken_plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_loaded", False)
    monkeypatch.setattr(registry, "_IMPORT_ERRORS", {})
    with pytest.warns(UserWarning, match="could not import entry point broken"):
        assert "tophat" in list_methods("all")
    with pytest.raises(UnknownMethodError, match="Not importable: .*entry point broken .*no_such_dependency_xyz"):
        get_spec("broken")


@pytest.mark.parametrize(
    "lookup, kind",
    [
        (lambda n: create(n), "method"),
        (lambda n: get_dataset(n), "dataset"),
        (lambda n: get_protocol(n), "protocol"),
        (lambda n: get_loss(n), "loss"),
        (lambda n: POLICIES[n], "policy"),
        (lambda n: make_backend(n), "backend"),
        (lambda n: load_paper(n), "reference"),
    ],
)
def test_every_name_table_answers_a_typo_the_same_way(lookup, kind):
    with pytest.raises(UnknownNameError, match=f"^Unknown {kind} 'nosuch'. Available: [a-z0-9]"):
        lookup("nosuch")
