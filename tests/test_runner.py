"""Runner, store and reports: caching, resume after kill -9, failures, bad data, table files."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmark.backends import guided_chunks as _guided_chunks
from benchmark.runner import RunConfig, RunError, run
from benchmark.store import Entry, ScoreStore
from methods.registry import register

REPO = Path(__file__).resolve().parents[1]


@register("test-fragile", family="filtering", kind="traditional", paper="test", defaults={"mode": "ok"})
def fragile(image, *, mode="ok"):
    """Fails on images whose mean is odd-ish, depending on ``mode``."""
    if mode == "raise" and image.mean() > 100:
        raise RuntimeError("boom")
    if mode == "nan" and image.mean() > 100:
        return np.full(image.shape, np.nan, np.float32)
    if mode == "shape":
        return image[:-1]
    return image.astype(np.float32)


def test_guided_chunks_cover_the_ids_in_order_and_shrink_to_single_images():
    ids = [f"img{i}" for i in range(201)]
    chunks = _guided_chunks(ids, workers=2)
    sizes = [len(c) for c in chunks]
    assert [i for c in chunks for i in c] == ids
    assert max(sizes) == 16 and sizes == sorted(sizes, reverse=True) and sizes[-8:] == [1] * 8
    assert _guided_chunks([], 2) == [] and _guided_chunks(["a"], 8) == [["a"]]


def test_store_roundtrip_and_corruption_is_detected(tmp_path):
    store = ScoreStore(tmp_path)
    score = np.arange(12, dtype=np.float32).reshape(3, 4)
    path = store.put("m", "k", "ab" * 32, Entry(score, 0.5, {"iterations": 3}))
    entry = store.get("m", "k", "ab" * 32)
    assert np.array_equal(entry.score, score) and entry.meta == {"iterations": 3} and entry.seconds == 0.5
    path.write_bytes(path.read_bytes()[:40])  # truncated entry
    assert store.get("m", "k", "ab" * 32) is None and not path.exists()


def test_sweep_removes_only_temporary_files_of_dead_writers(tmp_path):
    import socket

    store = ScoreStore(tmp_path)
    path = store.put("m", "k", "ab" * 32, Entry(np.zeros((2, 2), np.float32), 0.0, {}))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = socket.gethostname()
    orphan = path.parent / f".tmp-{host}-{dead.pid}-x1y2z3.part"
    live = path.parent / f".tmp-{host}-{os.getpid()}-a1b2c3.part"
    other_host = path.parent / f".tmp-{host}x-{dead.pid}-q1w2e3.part"
    for tmp in (orphan, live, other_host):
        tmp.write_bytes(b"partial")
    assert store.sweep("m", "k") == 1
    assert not orphan.exists() and live.exists() and other_host.exists() and path.exists()


def synth_config(tmp_path, **kw):
    base = {"methods": ["tophat"], "datasets": ["synth"], "jobs": 1, "out": tmp_path, "name": "r"}
    base.update(kw)
    return RunConfig(**base)


def test_run_writes_tables_and_second_run_hits_the_cache(tmp_path):
    run_dir = run(synth_config(tmp_path), log=lambda m: None)
    for stem in ("table1", "table2"):
        for ext in ("md", "tex", "csv", "json"):
            assert (run_dir / f"{stem}.{ext}").is_file()
    table = json.loads((run_dir / "table1.json").read_text())
    cell = table["cells"]["tophat"]["synth"]
    for key in (
        "protocol",
        "policy",
        "n_images",
        "n_targets",
        "iou",
        "niou",
        "pd",
        "fa",
        "precision",
        "recall",
        "f1",
        "scales",
    ):
        assert key in cell
    assert set(cell["scales"]) == {"(0,10]", "(10,40]", "(40,inf)"} and 0 <= cell["iou"] <= 1
    md = (run_dir / "table1.md").read_text()
    assert "Protocol `irbench`" in md and "Top-Hat: adaptive" in md
    tex = (run_dir / "table2.tex").read_text()
    assert r"\toprule" in tex and r"\cmidrule" in tex and "(40,inf)" in tex
    again = run(
        synth_config(tmp_path, name="r2", protocol="mshnet", policy="minmax:0.5", curves=True), log=lambda m: None
    )
    cell2 = json.loads((again / "run.json").read_text())["cells"]["tophat"]["synth"]
    assert cell2["n_cached"] == 24 and cell2["metrics"]["protocol"] == "mshnet"
    assert cell2["policy"] == {"kind": "minmax", "value": 0.5, "threshold": None, "optimistic": False}
    curves = (again / "curves.csv").read_text().splitlines()
    assert curves[0] == "method,dataset,curve,threshold,x,y" and len(curves) == 1 + 3 * 256  # pd-fa, roc, iou


@pytest.mark.parametrize("mode,message", [("raise", "RuntimeError: boom"), ("nan", "non-finite")])
def test_detector_failures_are_recorded_and_scored_empty(tmp_path, mode, message):
    run_dir = run(
        synth_config(tmp_path, methods=["test-fragile"], params={"test-fragile": {"mode": mode}}), log=lambda m: None
    )
    record = json.loads((run_dir / "run.json").read_text())
    assert record["failures"] and all(message in f["message"] for f in record["failures"])
    cell = record["cells"]["test-fragile"]["synth"]
    assert cell["status"] == "ok" and cell["n_failed"] == len(record["failures"])
    assert "Detector failures" in (run_dir / "table1.md").read_text()


def test_a_detector_failing_on_the_probe_image_fails_its_cell_before_any_image(tmp_path):
    cfg = synth_config(tmp_path, methods=["test-fragile", "tophat"], params={"test-fragile": {"mode": "shape"}})
    record = json.loads((run(cfg, log=lambda m: None) / "run.json").read_text())
    cell = record["cells"]["test-fragile"]["synth"]
    assert cell["status"] == "failed" and "probe image" in cell["reason"] and "expected (64, 64)" in cell["reason"]
    assert cell["metrics"] is None and not record["failures"] and record["cells"]["tophat"]["synth"]["status"] == "ok"
    assert "| failed |" in (tmp_path / "r" / "table1.md").read_text()


def make_sirst_with_mismatch(root: Path) -> None:
    folder = root / "SIRST"
    (folder / "images").mkdir(parents=True)
    (folder / "masks").mkdir()
    (folder / "idx_427").mkdir()
    for i, size in enumerate([(20, 20), (20, 20), (30, 20)]):
        img = np.zeros((20, 20), np.uint8)
        img[8:10, 8:10] = 200
        Image.fromarray(img).save(folder / "images" / f"Misc_{i}.png")
        mask = np.zeros(size, np.uint8)
        mask[8:10, 8:10] = 255
        Image.fromarray(mask).save(folder / "masks" / f"Misc_{i}_pixels0.png")
    (folder / "idx_427" / "test.txt").write_text("Misc_0\nMisc_1\nMisc_2\n")


def test_deep_cells_without_weights_or_constants_do_not_stop_the_run(tmp_path, monkeypatch, no_zoo):
    import torch

    from methods.registry import create

    monkeypatch.setenv("IRBENCH_WEIGHTS", str(tmp_path / "no-weights-here"))
    weights = tmp_path / "acm.pth"
    torch.save(create("acm-basicirstd").build().state_dict(), weights)
    cfg = synth_config(
        tmp_path,
        methods=["tophat", "acm-basicirstd", "alcnet-basicirstd"],
        params={"acm-basicirstd": {"weights": str(weights)}},
    )
    record = json.loads((run(cfg, log=lambda m: None) / "run.json").read_text())["cells"]
    assert record["tophat"]["synth"]["status"] == "ok"
    assert record["alcnet-basicirstd"]["synth"]["status"] == "no weights"
    reason = record["alcnet-basicirstd"]["synth"]["reason"]  # the registered name, for the folder and the hint
    assert "no-weights-here/alcnet-basicirstd/synth.pth" in reason and "--weights alcnet-basicirstd=PATH" in reason
    assert record["acm-basicirstd"]["synth"]["status"] == "not run"
    assert "dataset_stats" in record["acm-basicirstd"]["synth"]["reason"]
    table = (tmp_path / "r" / "table1.md").read_text()
    assert "not run" in table and "no weights" in table


def test_bad_images_are_skipped_and_listed_or_fail_the_run(tmp_path):
    make_sirst_with_mismatch(tmp_path / "data")
    cfg = synth_config(tmp_path, datasets=["sirst"], data_root=str(tmp_path / "data"))
    run_dir = run(cfg, log=lambda m: None)
    record = json.loads((run_dir / "run.json").read_text())
    assert [s["id"] for s in record["skipped"]] == ["Misc_2"]
    assert record["cells"]["tophat"]["sirst"]["metrics"]["n_images"] == 2
    table = (run_dir / "table1.md").read_text()
    assert "Misc\\_2" in table and "SIRST test (3 images listed, 2 scored, 1 unusable;" in table
    cfg.on_error, cfg.name = "fail", "r-fail"
    with pytest.raises(RunError, match="Misc_2_pixels0.png is 20x30"):
        run(cfg, log=lambda m: None)


SLOW_RUN = textwrap.dedent("""
    import sys, time
    import numpy as np
    from methods.registry import register
    from benchmark.runner import RunConfig, run

    @register("test-slow", family="filtering", kind="traditional", paper="test", defaults={})
    def slow(image):
        time.sleep(0.05)
        return image.astype(np.float32)

    if __name__ == "__main__":  # workers are spawned: they import this file as a module
        out, name, cache = sys.argv[1:4]
        run(RunConfig(methods=["test-slow"], datasets=["synth"], jobs=1, out=out, name=name, cache=cache))
""")


PID_RUN = textwrap.dedent("""
    import os, sys, time
    import numpy as np
    from methods.registry import register
    from benchmark.runner import RunConfig, run

    @register("test-slow", family="filtering", kind="traditional", paper="test", defaults={})
    def slow(image):
        with open(os.environ["PID_FILE"], "a") as fh:
            fh.write(f"{os.getpid()}\\n")
        time.sleep(0.05)
        return image.astype(np.float32)

    if __name__ == "__main__":
        out, name, cache = sys.argv[1:4]
        run(RunConfig(methods=["test-slow"], datasets=["synth"], jobs=2, out=out, name=name, cache=cache))
""")


def _gone(pid: int) -> bool:
    """True once ``pid`` has exited (absent, or a zombie waiting for a reaper)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):
        return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_kill_9_of_the_main_process_three_times_then_resume(tmp_path):
    script = tmp_path / "pid_run.py"
    script.write_text(PID_RUN)
    cache, pids = tmp_path / "cache", tmp_path / "pids.txt"
    os.environ["PID_FILE"] = str(pids)
    try:
        rng, counts = np.random.default_rng(), []
        for _ in range(3):  # kill -9 at random moments, all well before the 24th (last) synth test image
            target = (counts[-1] if counts else 0) + int(rng.integers(2, 7))
            proc = _kill_at(script, tmp_path, cache, target)
            killed = time.time()
            workers = {int(p) for p in pids.read_text().split()} - {proc.pid}
            while time.time() < killed + 5 and not all(_gone(p) for p in workers):
                time.sleep(0.05)
            assert workers and all(_gone(p) for p in workers), "a worker outlived the main process by 5 s"
            time.sleep(0.3)  # nothing writes any more
            counts.append(_entries(cache))
            assert (
                not (tmp_path / "killed" / "run.json").exists()
                or json.loads((tmp_path / "killed" / "run.json").read_text())["complete"] is False
            )
        assert counts == sorted(counts) and counts[-1] < 24
        assert _start(script, tmp_path, "killed", cache).wait() == 0  # resumes into the incomplete folder
        resumed = json.loads((tmp_path / "killed" / "run.json").read_text())
        assert resumed["complete"] and resumed["cells"]["test-slow"]["synth"]["n_cached"] == counts[-1]
        assert _start(script, tmp_path, "clean", tmp_path / "other-cache").wait() == 0
    finally:
        del os.environ["PID_FILE"]
    assert (tmp_path / "killed" / "table1.csv").read_text() == (tmp_path / "clean" / "table1.csv").read_text()
    assert _entries(cache) == 24 and not list(cache.rglob(".tmp-*"))


def _kill_at(script, tmp_path, cache, target):
    """Start the run "killed", ``kill -9`` it once ``target`` entries are cached (or after 60 s); the process."""
    proc = _start(script, tmp_path, "killed", cache)
    deadline = time.time() + 60
    while time.time() < deadline and _entries(cache) < target:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return proc


def _start(script, tmp_path, name, cache):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, str(script), str(tmp_path), name, str(cache)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _entries(cache):
    return len(list((cache / "test-slow").rglob("*.npz")))


def test_repeatedly_killed_run_finishes_with_the_uninterrupted_table(tmp_path):
    script = tmp_path / "slow_run.py"
    script.write_text(SLOW_RUN)
    cache = tmp_path / "cache"
    counts = []
    for target in (8, 25):  # kill -9 twice, at different points
        _kill_at(script, tmp_path, cache, target)
        counts.append(_entries(cache))
    assert 8 <= counts[0] <= counts[1] < 50
    assert _start(script, tmp_path, "resumed", cache).wait() == 0
    resumed = json.loads((tmp_path / "resumed" / "run.json").read_text())["cells"]["test-slow"]["synth"]
    assert resumed["n_cached"] == counts[1]  # only the unfinished images were computed
    assert _start(script, tmp_path, "clean", tmp_path / "other-cache").wait() == 0
    assert (tmp_path / "resumed" / "table1.csv").read_text() == (tmp_path / "clean" / "table1.csv").read_text()
    assert _entries(cache) == 24 and not list(cache.rglob(".tmp-*"))


def test_two_runs_writing_one_store_at_once(tmp_path):
    script = tmp_path / "slow_run.py"
    script.write_text(SLOW_RUN)
    cache = tmp_path / "cache"
    a, b = _start(script, tmp_path, "a", cache), _start(script, tmp_path, "b", cache)
    assert a.wait() == 0 and b.wait() == 0
    assert (tmp_path / "a" / "table1.csv").read_text() == (tmp_path / "b" / "table1.csv").read_text()
    assert _entries(cache) == 24 and not list(cache.rglob(".tmp-*"))
    for path in (cache / "test-slow").rglob("*.npz"):  # every entry passes its checksum
        with np.load(path) as data:
            assert data["score"].shape == (256, 256)


def test_dask_cluster_gives_the_same_table_as_the_local_pool(tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    local = run(synth_config(tmp_path, name="joblib", jobs=2, cache=tmp_path / "c1"), log=lambda m: None)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        dask = run(
            synth_config(
                tmp_path, name="dask", backend="dask", scheduler=cluster.scheduler_address, cache=tmp_path / "c2"
            ),
            log=lambda m: None,
        )
    a = json.loads((local / "run.json").read_text())["cells"]["tophat"]["synth"]
    b = json.loads((dask / "run.json").read_text())["cells"]["tophat"]["synth"]
    assert b["n_cached"] == 0 and a["metrics"] == b["metrics"]
    assert (local / "table1.csv").read_text() == (dask / "table1.csv").read_text()


def test_figures_curves_and_qualitative_panel(tmp_path):
    from benchmark.figures import make_figures

    run_dir = run(synth_config(tmp_path, curves=True), log=lambda m: None)
    said: list[str] = []
    paths = make_figures(run_dir, n_images=2, log=said.append)
    assert sorted(p.name for p in paths) == ["pd_fa_synth.png", "qualitative_synth.png", "roc_synth.png"]
    assert said == [f"no Fig. 1: {run_dir} holds no profile.json (irbench profile --run {run_dir})"]
    plain = run(synth_config(tmp_path, name="plain"), log=lambda m: None)
    said.clear()
    assert [p.name for p in make_figures(plain, n_images=1, log=said.append)] == ["qualitative_synth.png"]
    assert said[0].startswith("no Pd-Fa or ROC curves") and "--curves" in said[0]
    from PIL import Image

    for p in paths:
        with Image.open(p) as im:
            assert im.size[0] > 200 and np.asarray(im).std() > 0


def test_an_unguarded_script_gets_a_clear_error_not_failed_cells(tmp_path):
    script = tmp_path / "unguarded.py"
    script.write_text(
        "from benchmark.runner import RunConfig, run\n"
        f"run(RunConfig(methods=['tophat'], datasets=['synth'], jobs=1, out={str(tmp_path)!r}))\n"
    )
    proc = subprocess.run(
        [sys.executable, str(script)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode != 0 and "PoolStartError" in proc.stderr
    assert 'must guard it with `if __name__ == "__main__":`' in proc.stderr
