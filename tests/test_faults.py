"""Honest numbers under faults: every bad input or crashing detector costs its own image or cell, never the
run, and the message names the file, method or image and the problem. Each test builds its bad input."""

import ctypes
import errno
import json
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import benchmark.files
from benchmark.cli import main
from benchmark.record import RunRecord
from benchmark.runner import RunConfig, run
from benchmark.store import ScoreStore
from methods.registry import create, register

N_IMAGES = 6
VICTIM = 2  # the image the faulty detector breaks on (marker pixel 10 * VICTIM + 5)


@register("test-faulty", family="filtering", kind="traditional", paper="test", defaults={"mode": "ok"})
def faulty(image, *, mode="ok"):
    """Identity, except on the victim image, where ``mode`` decides how it breaks."""
    if mode != "ok" and image[0, 0] == 10 * VICTIM + 5:
        if mode == "exit":
            sys.exit(3)
        if mode == "keyboard":
            raise KeyboardInterrupt
        if mode == "sigkill":
            os.kill(os.getpid(), signal.SIGKILL)
        if mode == "os_exit":
            os._exit(7)
        if mode == "segfault":
            ctypes.string_at(0)
        if mode == "sleep":
            time.sleep(60)
    if mode == "meta":
        return image.astype(np.float32), {
            "iterations": np.int64(3),
            "residual": np.float32(0.5),
            "trace": np.arange(3),
            "shape": image.shape,
            "obj": object(),
        }
    return image.astype(np.float32)


def make_tree(root: Path, n: int = N_IMAGES, size: int = 32) -> Path:
    """A SIRST-layout dataset: image i has marker pixel 10 i + 5 and one 3x3 target."""
    folder = root / "SIRST"
    for sub in ("images", "masks", "idx_427"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    ids = []
    for i in range(n):
        img = np.full((size, size), 50, np.uint8)
        img[0, 0] = 10 * i + 5
        r, c = 6 + 3 * i, 20 - 2 * i
        img[r : r + 3, c : c + 3] = 200
        mask = np.zeros((size, size), np.uint8)
        mask[r : r + 3, c : c + 3] = 255
        Image.fromarray(img).save(folder / "images" / f"Misc_{i}.png")
        Image.fromarray(mask).save(folder / "masks" / f"Misc_{i}_pixels0.png")
        ids.append(f"Misc_{i}")
    (folder / "idx_427" / "test.txt").write_text("\n".join(ids) + "\n")
    return root


def config(tmp_path, **kw):
    base = {
        "methods": ["tophat"],
        "datasets": ["sirst"],
        "data_root": str(make_tree(tmp_path / "data")),
        "jobs": 1,
        "out": tmp_path / "out",
        "name": "r",
    }
    base.update(kw)
    return RunConfig(**base)


def read(run_dir) -> dict:
    return json.loads((Path(run_dir) / "run.json").read_text())


# ------------------------------------------------------------------ crashing detectors cost one image
@pytest.mark.parametrize(
    "mode,message",
    [
        ("exit", "SystemExit: 3"),
        ("keyboard", "KeyboardInterrupt"),
        ("sigkill", "killed by SIGKILL"),
        ("os_exit", "exit code 7"),
        ("segfault", "killed by SIGSEGV"),
    ],
)
def test_a_detector_fault_costs_only_its_image(tmp_path, mode, message):
    cfg = config(tmp_path, methods=["test-faulty", "tophat"], params={"test-faulty": {"mode": mode}}, jobs=2)
    record = read(run(cfg, log=lambda m: None))
    failures = record["failures"]
    assert [(f["id"], f["method"]) for f in failures] == [(f"Misc_{VICTIM}", "test-faulty")]
    assert message in failures[0]["message"]
    cell = record["cells"]["test-faulty"]["sirst"]
    assert cell["status"] == "ok" and cell["n_failed"] == 1 and cell["metrics"]["n_images"] == N_IMAGES
    assert cell["metrics"]["pd"] == pytest.approx((N_IMAGES - 1) / N_IMAGES)  # the others were scored
    assert record["cells"]["tophat"]["sirst"]["status"] == "ok" and record["complete"]
    store = ScoreStore(tmp_path / "out" / "cache")
    assert len(list((store.root / "test-faulty").rglob("*.npz"))) == N_IMAGES - 1  # finished entries kept


def test_a_worker_death_with_one_job_costs_only_its_image(tmp_path):
    cfg = config(tmp_path, methods=["test-faulty"], params={"test-faulty": {"mode": "sigkill"}}, jobs=1)
    record = read(run(cfg, log=lambda m: None))
    assert [f["id"] for f in record["failures"]] == [f"Misc_{VICTIM}"]
    assert record["cells"]["test-faulty"]["sirst"]["status"] == "ok"


def test_a_detector_that_sleeps_past_the_limit_fails_its_image_only(tmp_path):
    cfg = config(tmp_path, methods=["test-faulty"], params={"test-faulty": {"mode": "sleep"}}, jobs=2, timeout=3)
    start = time.perf_counter()
    record = read(run(cfg, log=lambda m: None))
    assert time.perf_counter() - start < 30
    assert [f["id"] for f in record["failures"]] == [f"Misc_{VICTIM}"]
    assert "timed out after 3 s" in record["failures"][0]["message"]
    assert record["settings"]["timeout"] == 3 and record["cells"]["test-faulty"]["sirst"]["n_failed"] == 1


def test_numpy_metadata_is_written_as_plain_json(tmp_path):
    run_dir = run(
        config(tmp_path, methods=["test-faulty"], params={"test-faulty": {"mode": "meta"}}), log=lambda m: None
    )
    lines = [json.loads(line) for line in (run_dir / "per_image.jsonl").read_text().splitlines()]
    assert len(lines) == N_IMAGES
    meta = lines[0]["meta"]
    assert meta["iterations"] == 3 and meta["residual"] == 0.5 and meta["trace"] == [0, 1, 2]
    assert meta["shape"] == [32, 32] and meta["obj"].startswith("<object object")


# ------------------------------------------------------------------ bad parameters cost their cell
@pytest.mark.parametrize(
    "setting,problem",
    [
        ("tophat.size=abc", "'size' must be an integer >= 1, got 'abc'"),
        ("tophat.size=2.5", "got 2.5"),
        ("tophat.size=-1", "got -1"),
        ("tophat.size=true", "got True"),
        ("maxmedian.size=4", "must be odd, got 4"),
    ],
)
def test_a_bad_parameter_value_fails_its_cell_before_any_image(tmp_path, capsys, setting, problem):
    data = make_tree(tmp_path / "data")
    code = main(
        [
            "run",
            "--methods",
            "tophat,maxmedian",
            "--dataset",
            "sirst",
            "--data-root",
            str(data),
            "--jobs",
            "1",
            "--out",
            str(tmp_path / "out"),
            "--name",
            "r",
            "--set",
            setting,
        ]
    )
    assert code == 1
    method = setting.split(".")[0]
    record = read(tmp_path / "out" / "r")
    cell = record["cells"][method]["sirst"]
    assert cell["status"] == "failed" and problem in cell["reason"] and "before any dataset image" in cell["reason"]
    other = "maxmedian" if method == "tophat" else "tophat"
    assert record["cells"][other]["sirst"]["status"] == "ok"
    assert not list((tmp_path / "out" / "cache").glob(f"{method}/*/*/*.npz"))  # no image was processed
    err = capsys.readouterr().err
    assert err.count(problem) == 1 and "exit status 1" in err
    assert (
        f"| {'Top-Hat' if method == 'tophat' else 'Max-Median'} " in (tmp_path / "out" / "r" / "table1.md").read_text()
    )


def test_an_unknown_parameter_name_fails_its_cell(tmp_path):
    record = read(
        run(config(tmp_path, methods=["tophat", "maxmedian"], params={"tophat": {"sise": 3}}), log=lambda m: None)
    )
    assert record["cells"]["tophat"]["sirst"]["status"] == "failed"
    assert "Unexpected parameters for method 'tophat': sise" in record["cells"]["tophat"]["sirst"]["reason"]
    assert record["cells"]["maxmedian"]["sirst"]["status"] == "ok"


# ------------------------------------------------------------------ wrong weights cost their cell
def _weights(tmp_path, kind: str) -> Path:
    path = tmp_path / f"weights-{kind}.pth"
    if kind == "acm":
        torch.save(create("acm").build().state_dict(), path)
    elif kind == "mshnet":
        torch.save(create("mshnet").build().state_dict(), path)
    elif kind == "json":
        path.write_text(json.dumps({"state_dict": {"conv.weight": [1, 2, 3]}}))
    elif kind == "random":
        path.write_bytes(np.random.default_rng(0).bytes(4096))
    else:
        path.write_bytes(b"")
    return path


@pytest.mark.parametrize(
    "method,kind,problem",
    [
        ("alcnet", "acm", "does not fit"),
        ("dnanet", "mshnet", "does not fit"),
        ("alcnet", "json", "cannot be read"),
        ("alcnet", "random", "cannot be read"),
        ("alcnet", "empty", "empty"),
    ],
)
def test_wrong_weights_fail_their_cell_once_with_the_file_named(tmp_path, capsys, method, kind, problem):
    weights = _weights(tmp_path, kind)
    code = main(
        [
            "run",
            "--methods",
            f"tophat,{method}",
            "--dataset",
            "synth",
            "--jobs",
            "1",
            "--out",
            str(tmp_path / "out"),
            "--name",
            "r",
            "--weights",
            f"{method}={weights}",
        ]
    )
    assert code == 1
    cell = read(tmp_path / "out" / "r")["cells"][method]["synth"]
    assert cell["status"] == "failed" and str(weights) in cell["reason"] and problem in cell["reason"]
    if problem == "does not fit":
        assert "missing" in cell["reason"] and "unexpected" in cell["reason"]
    assert "IndexError" not in cell["reason"]
    err = capsys.readouterr().err
    assert err.count(f"{method} on synth: failed") == 1
    table = (tmp_path / "out" / "r" / "table1.csv").read_text().splitlines()
    assert any(line.startswith(f"{method},") and ",failed," in line for line in table)
    assert read(tmp_path / "out" / "r")["cells"]["tophat"]["synth"]["status"] == "ok"


def test_no_weights_alone_keeps_exit_status_zero(tmp_path, monkeypatch, no_zoo):
    monkeypatch.setenv("IRBENCH_WEIGHTS", str(tmp_path / "none"))
    code = main(
        [
            "run",
            "--methods",
            "tophat,mshnet",
            "--dataset",
            "synth",
            "--jobs",
            "1",
            "--out",
            str(tmp_path / "out"),
            "--name",
            "r",
        ]
    )
    assert code == 0 and read(tmp_path / "out" / "r")["cells"]["mshnet"]["synth"]["status"] == "no weights"


# ------------------------------------------------------------------ bad data
def test_a_cell_with_no_readable_image_says_so_and_exits_non_zero(tmp_path, capsys):
    data = make_tree(tmp_path / "data")
    for path in (data / "SIRST" / "images").iterdir():
        path.write_bytes(b"not a png")
    code = main(
        [
            "run",
            "--methods",
            "tophat",
            "--dataset",
            "sirst",
            "--data-root",
            str(data),
            "--jobs",
            "1",
            "--out",
            str(tmp_path / "out"),
            "--name",
            "r",
        ]
    )
    assert code == 1
    record = read(tmp_path / "out" / "r")
    assert record["cells"]["tophat"]["sirst"]["status"] == "no usable images"
    assert len(record["skipped"]) == N_IMAGES and "cannot read image" in record["skipped"][0]["message"]
    assert "no usable images" in (tmp_path / "out" / "r" / "table1.md").read_text()
    assert "0.000" not in (tmp_path / "out" / "r" / "table1.md").read_text().split("\n\n")[1]


def test_an_image_above_the_pixel_cap_is_skipped_alone(tmp_path):
    cfg = config(tmp_path, max_pixels=32 * 32 - 1)
    Image.fromarray(np.zeros((31, 31), np.uint8)).save(Path(cfg.data_root) / "SIRST" / "images" / "Misc_9.png")
    record = read(run(cfg, log=lambda m: None))
    assert len(record["skipped"]) == N_IMAGES  # every 32x32 image is above a cap of 1023 pixels
    assert "above the pixel cap of 1,023" in record["skipped"][0]["message"]
    assert record["cells"]["tophat"]["sirst"]["status"] == "no usable images"
    cfg2 = config(tmp_path / "b", max_pixels=32 * 32)
    assert read(run(cfg2, log=lambda m: None))["cells"]["tophat"]["sirst"]["status"] == "ok"


def test_a_mask_marking_most_of_the_image_is_warned_about_and_scored(tmp_path):
    cfg = config(tmp_path)
    Image.fromarray(np.full((32, 32), 255, np.uint8)).save(
        Path(cfg.data_root) / "SIRST" / "masks" / "Misc_4_pixels0.png"
    )
    run_dir = run(cfg, log=lambda m: None)
    record = read(run_dir)
    assert [w["id"] for w in record["warnings"]] == ["Misc_4"] and "100%" in record["warnings"][0]["message"]
    assert record["cells"]["tophat"]["sirst"]["metrics"]["n_images"] == N_IMAGES
    assert (
        "Misc\\_4" in (run_dir / "table1.md").read_text()  # Markdown-escaped: renders as Misc_4
        and "inverted or corrupt" in (run_dir / "table1.md").read_text()
    )


def test_upper_case_extension_is_scored_not_reported_missing(tmp_path):
    cfg = config(tmp_path)
    images = Path(cfg.data_root) / "SIRST" / "images"
    (images / "Misc_1.png").rename(images / "Misc_1.PNG")
    record = read(run(cfg, log=lambda m: None))
    assert not record["skipped"] and record["cells"]["tophat"]["sirst"]["metrics"]["n_images"] == N_IMAGES


# ------------------------------------------------------------------ the store binds entries to what they claim
def _entries(store_root: Path, method: str = "tophat") -> list[Path]:
    return sorted((store_root / method).rglob("*.npz"))


def test_an_entry_swapped_for_another_images_entry_is_recomputed_and_noted(tmp_path):
    clean = read(run(config(tmp_path), log=lambda m: None))["cells"]["tophat"]["sirst"]["metrics"]
    entries = _entries(tmp_path / "out" / "cache")
    entries[0].write_bytes(entries[1].read_bytes())  # same size, another image's map
    record = read(run(config(tmp_path, name="r2"), log=lambda m: None))
    assert record["cells"]["tophat"]["sirst"]["metrics"] == clean
    assert record["cells"]["tophat"]["sirst"]["n_cached"] == N_IMAGES - 1
    assert any("belongs to something else" in w["message"] and "image_hash" in w["message"] for w in record["warnings"])


def test_an_entry_of_another_size_is_recomputed_not_fatal(tmp_path):
    clean = read(run(config(tmp_path), log=lambda m: None))["cells"]["tophat"]["sirst"]["metrics"]
    store = ScoreStore(tmp_path / "out" / "cache")
    target = _entries(store.root)[0]
    parts = target.relative_to(store.root).parts  # method / key / hh / hash.npz
    from benchmark.store import Entry

    store.put(parts[0], parts[1], target.stem, Entry(np.zeros((8, 8), np.float32), 0.0, {}))
    record = read(run(config(tmp_path, name="r2"), log=lambda m: None))
    assert record["cells"]["tophat"]["sirst"]["metrics"] == clean
    assert any("shape [8, 8] instead of [32, 32]" in w["message"] for w in record["warnings"])


def test_a_transient_read_error_keeps_a_valid_entry(tmp_path, monkeypatch):
    from benchmark.store import Entry

    store = ScoreStore(tmp_path)
    path = store.put("m", "k", "ab" * 32, Entry(np.ones((4, 4), np.float32), 0.1, {}))
    real = Path.read_bytes

    def flaky(self):
        if self == path:
            raise OSError(errno.EIO, "Input/output error")
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", flaky)
    entry, why = store.lookup("m", "k", "ab" * 32, (4, 4))
    assert entry is None and "could not be read" in why and str(path) in why and path.exists()
    monkeypatch.setattr(Path, "read_bytes", real)
    assert store.get("m", "k", "ab" * 32, (4, 4)) is not None


def test_a_map_that_vanishes_before_evaluation_is_recomputed(tmp_path, monkeypatch):
    from benchmark import runner

    clean = read(run(config(tmp_path, cache=tmp_path / "c1"), log=lambda m: None))["cells"]["tophat"]["sirst"]
    real = runner.evaluate

    def vanish_then_evaluate(*args, **kw):
        for path in _entries(tmp_path / "c2"):
            path.unlink()
        return real(*args, **kw)

    monkeypatch.setattr(runner, "evaluate", vanish_then_evaluate)
    record = read(run(config(tmp_path, name="r2", cache=tmp_path / "c2"), log=lambda m: None))
    assert record["cells"]["tophat"]["sirst"]["metrics"] == clean["metrics"] and not record["failures"]
    assert sum("vanished" in w["message"] for w in record["warnings"]) == N_IMAGES


# ------------------------------------------------------------------ writes and run folders
def test_a_full_disk_is_one_clear_error_and_keeps_the_previous_table(tmp_path, monkeypatch, capsys):
    data = make_tree(tmp_path / "data")
    args = [
        "run",
        "--methods",
        "tophat",
        "--dataset",
        "sirst",
        "--data-root",
        str(data),
        "--jobs",
        "1",
        "--out",
        str(tmp_path / "out"),
        "--name",
        "r",
    ]
    assert main(args) == 0
    table = tmp_path / "out" / "r" / "table1.md"
    before = table.read_text()
    real = benchmark.files.write_bytes

    def full(path, data, prefix=None):
        if path.name == "table1.md":
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, data, prefix)

    monkeypatch.setattr(benchmark.files, "write_bytes", full)
    assert main([*args, "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert f"cannot write {table}: No space left on device" in err and "Traceback" not in err
    assert table.read_text() == before and not list(table.parent.glob(".table1.md.*"))


def test_an_unwritable_output_folder_is_one_clear_error(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["run", "--methods", "tophat", "--jobs", "1", "--out", str(blocker / "out")]) == 2
    err = capsys.readouterr().err
    assert "irbench: error: cannot write to folder" in err and str(blocker) in err


def test_a_finished_run_folder_is_not_overwritten_without_the_flag(tmp_path, capsys):
    data = make_tree(tmp_path / "data")
    args = [
        "run",
        "--methods",
        "tophat",
        "--dataset",
        "sirst",
        "--data-root",
        str(data),
        "--jobs",
        "1",
        "--out",
        str(tmp_path / "out"),
        "--name",
        "r",
    ]
    assert main(args) == 0
    first = (tmp_path / "out" / "r" / "run.json").read_text()
    assert main(args) == 2
    assert "already holds a finished run; pass --overwrite" in capsys.readouterr().err
    assert (tmp_path / "out" / "r" / "run.json").read_text() == first
    assert main([*args, "--overwrite"]) == 0


def test_the_record_names_the_command_version_and_commit(tmp_path):
    data = make_tree(tmp_path / "data")
    args = [
        "run",
        "--methods",
        "tophat",
        "--dataset",
        "sirst",
        "--data-root",
        str(data),
        "--jobs",
        "1",
        "--out",
        str(tmp_path / "out"),
        "--name",
        "r",
    ]
    assert main(args) == 0
    record = RunRecord.read(tmp_path / "out" / "r")
    assert record.command == ["irbench", *args] and record.complete
    assert record.environment["packages"]["irbench"] and "git_commit" in record.environment


def test_an_incomplete_run_is_marked_and_the_report_says_so(tmp_path, capsys):
    run_dir = run(config(tmp_path, methods=["tophat", "maxmedian"]), log=lambda m: None)
    record = RunRecord.read(run_dir)
    record.complete = False
    del record.cells["maxmedian"]
    record.write(run_dir / "run.json")
    assert main(["report", str(run_dir)]) == 0
    assert "INCOMPLETE run" in capsys.readouterr().err
    table = (run_dir / "table1.md").read_text()
    assert "INCOMPLETE RUN: 1 of 2 cells" in table and "not reached" in table
    assert RunRecord.read(run_dir).exit_code() == 1
