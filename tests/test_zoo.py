"""irbench's model zoo: publishing a training run, the run's fallback to zoo weights, labels and listing."""

from __future__ import annotations

import json
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import numpy as np
import pytest
import torch

import methods.deep.zoo as zoo
from benchmark.cli import main as cli_main
from benchmark.datasets import get_dataset
from benchmark.record import RunRecord
from benchmark.report import table1
from benchmark.runner import RunConfig, run
from benchmark.training.loop import TrainConfig, train
from benchmark.zoo_publish import main as zoo_publish_main
from benchmark.zoo_publish import publish, rescore, shipped_form
from methods.deep.base import sha256_file
from methods.deep.packed_weights import pack
from methods.deep.precision import autocast_dtype
from methods.registry import MissingWeightsError, create
from tests.test_training import TINY as TRAINING_TINY

TINY = {**TRAINING_TINY, "epochs": 1}
LIMIT = 4  # test images scored when publishing


@pytest.fixture
def zoo_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty zoo folder in place of the shipped one, and no weights cache."""
    folder = tmp_path / "zoo"
    monkeypatch.setattr(zoo, "ZOO_DIR", folder)
    monkeypatch.setenv("IRBENCH_WEIGHTS", str(tmp_path / "cache"))
    zoo.zoo_entries.cache_clear()
    yield folder
    zoo.zoo_entries.cache_clear()


def _trained(tmp_path: Path, method: str = "acm", **extra: object) -> Path:
    out = tmp_path / f"train-{method}"
    config = TrainConfig(method=method, out=out, command=f"irbench train --method {method} (test)", **{**TINY, **extra})
    train(config, log=lambda m: None)
    return out


def test_publish_writes_fp16_weights_and_an_entry_and_keeps_better_ones(tmp_path: Path, zoo_dir: Path) -> None:
    out = _trained(tmp_path)
    entry = publish(out, zoo_dir=zoo_dir, limit=LIMIT)
    weights = torch.load(zoo_dir / entry["file"], weights_only=True)
    assert {v.dtype for v in weights.values() if v.is_floating_point()} == {torch.float16}
    manifest = json.loads((zoo_dir / "manifest.json").read_text())
    assert manifest["entries"] == [entry]
    assert entry["command"] == "irbench train --method acm (test)" and entry["epochs"] == 1
    assert entry["test"]["protocol"] == "irbench" and entry["test"]["n_images"] == LIMIT
    assert entry["sha256"] == sha256_file(zoo_dir / entry["file"])
    with pytest.raises(ValueError, match="replaced only when its numbers improve"):
        publish(out, zoo_dir=zoo_dir, limit=LIMIT)  # the same weights: not better


def test_run_uses_zoo_weights_labels_the_row_and_records_them(tmp_path: Path, zoo_dir: Path) -> None:
    publish(_trained(tmp_path), zoo_dir=zoo_dir, limit=LIMIT)
    run_dir = run(
        RunConfig(methods=["acm"], datasets=["synth"], out=tmp_path / "runs", name="r", limit=3, jobs=1),
        log=lambda m: None,
    )
    record = RunRecord.read(run_dir)
    cell = record.cell("acm", "synth")
    assert cell is not None and cell.ok
    assert cell.provenance["zoo"]["command"] == "irbench train --method acm (test)"
    assert cell.provenance["weights"] == str(zoo_dir / "acm-synth.pth")
    rendered = table1(record)
    assert rendered.rows[0][0] == "ACM (irbench zoo: 1 epoch, CPU)"
    note = next(n for n in rendered.notes if "irbench train --method acm (test)" in n)
    assert f"scored in {cell.provenance['precision']}" in note


def test_zoo_weights_are_scored_in_the_precision_they_were_trained_in(tmp_path: Path, zoo_dir: Path) -> None:
    entry = publish(_trained(tmp_path), zoo_dir=zoo_dir, limit=LIMIT)
    native = autocast_dtype(torch.device("cpu")) == torch.bfloat16
    assert entry["amp"] == ("bfloat16" if native else None)
    expected = "bfloat16" if native else "float32"
    det = create("acm", device="cpu")
    det.configure("synth")
    assert det.zoo_entry is not None and det.precision == expected == entry["test"]["precision"]
    assert det.provenance()["precision"] == expected
    pinned = create("acm", device="cpu", precision="float32")
    pinned.configure("synth")
    assert pinned.precision == "float32"
    other = create("acm", device="cpu", weights=str(zoo_dir / entry["file"]))  # the same file, not via the zoo
    other.configure("synth")
    assert other.precision == "float32"  # any checkpoint but a zoo entry: as its authors ran it
    image = get_dataset("synth").load_image("test_0000")
    maps = []
    for precision in ("float32", "bfloat16"):
        det = create("acm", device="cpu", precision=precision)
        det.use_random_weights(0)
        maps.append(det.detect(image))
    assert np.abs(maps[0] - maps[1]).max() < 0.05 and not np.array_equal(*maps)  # close, but bfloat16 did run


def test_rescore_measures_the_published_entries_again(tmp_path: Path, zoo_dir: Path) -> None:
    entry = publish(_trained(tmp_path), zoo_dir=zoo_dir, limit=LIMIT)
    manifest = zoo_dir / "manifest.json"
    doc = json.loads(manifest.read_text())
    doc["entries"][0]["test"]["iou"] = -1.0
    manifest.write_text(json.dumps(doc))
    [again] = rescore(zoo_dir=zoo_dir, limit=LIMIT)
    assert again["test"] == entry["test"] and again["sha256"] == entry["sha256"]
    assert json.loads(manifest.read_text())["entries"] == [again]
    with pytest.raises(SystemExit):
        zoo_publish_main(["--rescore", str(tmp_path)])  # a folder or --rescore, not both


def test_weights_cache_comes_before_the_zoo_and_a_damaged_file_is_an_error(tmp_path: Path, zoo_dir: Path) -> None:
    entry = publish(_trained(tmp_path), zoo_dir=zoo_dir, limit=LIMIT)
    det = create("acm")
    det.configure("synth")
    assert det.zoo_entry is not None and det.weights_path == zoo_dir / entry["file"]
    with pytest.raises(MissingWeightsError, match="and irbench's zoo"):
        det.configure("sirst")  # no zoo weights for another dataset
    cache = tmp_path / "cache" / "acm"
    cache.mkdir(parents=True)
    torch.save(torch.load(zoo_dir / entry["file"], weights_only=True), cache / "synth.pth")
    det.configure("synth")
    assert det.zoo_entry is None and det.weights_path == cache / "synth.pth"
    (cache / "synth.pth").unlink()
    (zoo_dir / entry["file"]).write_bytes(b"damaged")
    with pytest.raises(ValueError, match="reinstall irbench"):
        det.configure("synth")


def test_basicirstd_zoo_weights_carry_their_training_statistics(tmp_path: Path, zoo_dir: Path) -> None:
    entry = publish(_trained(tmp_path, "acm-basicirstd"), zoo_dir=zoo_dir, limit=LIMIT)
    assert entry["normalisation"]["preset"] == "basicirstd_gray" and entry["normalisation"]["std"] > 0
    det = create("acm-basicirstd")
    det.configure("synth")  # synth has no tabulated statistics: the zoo entry's are used
    norm = entry["normalisation"]
    assert det.provenance()["normalisation"] == {"mean": norm["mean"], "std": norm["std"]}
    det = create("acm-basicirstd", dataset_stats=[100.0, 20.0])
    det.configure("synth")
    assert det.provenance()["normalisation"] == {"mean": 100.0, "std": 20.0}


def test_list_weights_shows_zoo_and_cache(tmp_path: Path, zoo_dir: Path, capsys: pytest.CaptureFixture) -> None:
    publish(_trained(tmp_path), zoo_dir=zoo_dir, limit=LIMIT)
    capsys.readouterr()
    assert cli_main(["list", "weights"]) == 0
    out = capsys.readouterr().out
    assert "acm" in out and "synth" in out and "1 epoch, CPU" in out and "irbench zoo" in out
    native = autocast_dtype(torch.device("cpu")) == torch.bfloat16
    assert f"(irbench, {'bfloat16' if native else 'float32'}, {LIMIT} test images)" in out
    assert "weights cache" in out and "(empty)" in out


def test_shipped_manifest_is_consistent() -> None:
    zoo.zoo_entries.cache_clear()
    for entry in zoo.zoo_entries():
        assert entry.path.is_file() and sha256_file(entry.path) == entry.sha256, entry.file
        assert entry.path.stat().st_size == entry.extra["bytes"] <= zoo.MAX_SHIPPED_BYTES, entry.file  # git: <= 2 MB
        assert entry.command.startswith("irbench train ")
        assert (entry.bits is None) == ("fp16" not in entry.extra) and entry.file.endswith((".pth", ".pth.xz"))
    assert sum(e.extra["bytes"] for e in zoo.zoo_entries()) <= 60 * 2**20
    config = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    globs = config["tool"]["setuptools"]["package-data"]["methods.deep"]  # a non-editable install ships them
    for name in [zoo.MANIFEST, *(e.file for e in zoo.zoo_entries())]:
        assert any(fnmatch(f"zoo_weights/{name}", g) for g in globs), name


def test_weights_over_the_shipping_limit_ship_packed_then_quantised(
    tmp_path: Path, zoo_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = publish(_trained(tmp_path), zoo_dir=zoo_dir, limit=LIMIT)
    assert plain["file"] == "acm-synth.pth" and plain["bits"] is None and "fp16" not in plain
    state = torch.load(zoo_dir / plain["file"], weights_only=True)
    lossless = len(pack(state))
    doc = json.loads((zoo_dir / "manifest.json").read_text())

    def worse() -> None:  # so that the same weights count as better
        doc["entries"][0]["test"]["iou"] = -1.0
        (zoo_dir / "manifest.json").write_text(json.dumps(doc))

    worse()
    monkeypatch.setattr("benchmark.zoo_publish.MAX_SHIPPED_BYTES", lossless)  # the .pth no longer fits
    packed = publish(_trained(tmp_path), zoo_dir=zoo_dir, limit=LIMIT)
    assert packed["file"] == "acm-synth.pth.xz" and packed["bits"] is None and packed["bytes"] == lossless
    assert packed["test"] == plain["test"] and not (zoo_dir / "acm-synth.pth").exists()  # the same weights
    doc = json.loads((zoo_dir / "manifest.json").read_text())
    worse()
    monkeypatch.setattr("benchmark.zoo_publish.MAX_SHIPPED_BYTES", lossless // 2)
    quantised = publish(_trained(tmp_path), zoo_dir=zoo_dir, limit=LIMIT)
    assert 2 <= quantised["bits"] <= 8 and quantised["bytes"] <= lossless // 2
    if quantised["bits"] < 8:  # the most bits that fit
        assert len(pack(state, quantised["bits"] + 1)) > lossless // 2
    assert quantised["fp16"]["test"] == plain["test"] and quantised["fp16"]["sha256"] == plain["sha256"]
    zoo.zoo_entries.cache_clear()
    run_dir = run(
        RunConfig(methods=["acm"], datasets=["synth"], out=tmp_path / "runs", name="r", limit=LIMIT, jobs=1),
        log=lambda m: None,
    )
    record = RunRecord.read(run_dir)
    cell = record.cell("acm", "synth")
    assert cell is not None and cell.ok and cell.provenance["zoo"]["bits"] == quantised["bits"]
    assert cell.metrics is not None and cell.metrics["iou"] == quantised["test"]["iou"]
    rendered = table1(record)
    assert rendered.rows[0][0] == f"ACM (irbench zoo: 1 epoch, CPU, {quantised['bits']}-bit weights)"
    assert any(f"{quantised['bits']}-bit weights, quantised from fp16 ones of test IoU" in n for n in rendered.notes)
    with pytest.raises(ValueError, match="even quantised to 2 bits"):
        shipped_form(state, 1000)


def test_fp16_keeps_tensors_beyond_the_float16_range_in_float32(tmp_path: Path) -> None:
    from benchmark.zoo_publish import fp16_state_dict

    state = {"w": torch.tensor([0.5, -2.0]), "running_var": torch.tensor([1.9e6, 3.2e5]), "n": torch.tensor(3)}
    torch.save({"state_dict": state}, tmp_path / "best.pth")
    out = fp16_state_dict(tmp_path / "best.pth")
    assert out["w"].dtype == torch.float16 and out["n"].dtype == torch.int64
    assert out["running_var"].dtype == torch.float32 and torch.equal(out["running_var"], state["running_var"])
