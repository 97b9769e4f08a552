"""``irbench profile``: parameters, MACs and speed, the time cap, the Fig. 1 chart and argument errors."""

import csv
import json
import time

import matplotlib.image as mpimg
import numpy as np
import pytest
import torch

from benchmark.cli import main
from benchmark.figures import make_figures
from benchmark.profiling import profile, time_calls, write_profile
from benchmark.runner import RunConfig, run
from methods.deep.flops import count_macs, count_params
from methods.registry import create

torch.set_num_threads(1)


def test_profile_writes_three_files_with_counts_of_flops_module(tmp_path):
    record = profile(["tophat", "acm"], sizes=[64, 96], repeats=2, warmup=1, device="cpu", log=lambda m: None)
    paths = write_profile(record, tmp_path)
    assert [p.name for p in paths] == ["profile.json", "profile.md", "profile.csv"]
    saved = json.loads(paths[0].read_text())
    tophat, acm = saved["methods"]
    net = create("acm", device="cpu").build()
    assert acm["params"] == count_params(net) and tophat["params"] is None
    for size in (64, 96):
        assert acm["sizes"][str(size)]["macs"] == count_macs(net, (1, 3, size, size))
        assert tophat["sizes"][str(size)]["macs"] is None
        for m in (tophat, acm):
            cell = m["sizes"][str(size)]
            assert cell["runs"] == 2 and not cell["capped"] and cell["images_per_second"] > 0
            assert cell["seconds_per_image"] == pytest.approx(np.median(cell["seconds_per_call"]))
    assert acm["sizes"]["96"]["macs"] > acm["sizes"]["64"]["macs"]
    md = paths[1].read_text()
    assert "| ACM | Deep Learning | cpu | 0.5169 | 0.4099 |" in md and "MACs" in md and "thop" in md
    rows = list(csv.DictReader(paths[2].open()))
    assert [(r["method"], r["size"]) for r in rows] == [
        ("tophat", "64"),
        ("tophat", "96"),
        ("acm", "64"),
        ("acm", "96"),
    ]
    assert rows[2]["params"] == str(count_params(net)) and rows[0]["flops_macs"] == ""


def test_detectors_report_their_own_complexity():
    assert create("tophat").complexity(64) is None
    det = create("acm", device="cpu")
    cost, side = det.complexity(50), 50 + (-50) % det.stride  # padded to a multiple of the stride
    assert cost.params == count_params(det.build()) and cost.macs == count_macs(det.build(), (1, 3, side, side))
    resized = create("acm", device="cpu", input_size=96)
    assert resized.complexity(50).macs == resized.complexity(300).macs == det.complexity(96).macs


def test_time_cap_stops_early_and_marks_a_cold_single_timing():
    nap = lambda: time.sleep(0.05)  # noqa: E731
    capped = time_calls(nap, repeats=20, warmup=1, max_seconds=0.12)
    assert capped.capped and not capped.cold and 1 <= len(capped.seconds) < 20
    cold = time_calls(nap, repeats=5, warmup=1, max_seconds=0.01)
    assert cold.cold and cold.capped and len(cold.seconds) == 1 and cold.seconds[0] >= 0.05
    no_warmup = time_calls(nap, repeats=5, warmup=0, max_seconds=0.01)
    assert no_warmup.capped and no_warmup.cold and len(no_warmup.seconds) == 1 and no_warmup.warmup == 0
    two = time_calls(nap, repeats=5, warmup=0, max_seconds=0.09)
    assert two.capped and not two.cold and len(two.seconds) == 2
    full = time_calls(nap, repeats=3, warmup=0, max_seconds=None)
    assert not full.capped and len(full.seconds) == 3


def test_profile_cap_is_reported_in_the_table(tmp_path):
    record = profile(["tophat"], sizes=[64], repeats=3, warmup=1, batch=2, max_seconds=1e-9, log=lambda m: None)
    cell = record["methods"][0]["sizes"]["64"]
    assert cell["runs"] == 1 and cell["cold"] and cell["capped"]
    assert cell["seconds_per_image"] == pytest.approx(cell["seconds_per_call"][0] / 2)
    md = write_profile(record, tmp_path)[1].read_text()
    assert "| 1\\* |" in md and "--max-seconds 1e-09" in md  # Markdown-escaped: renders as 1*


def test_fig1_from_a_tiny_run_and_plot_draws_it_again(tmp_path, capsys):
    ckpt = tmp_path / "mshnet.pth"
    torch.manual_seed(1)
    torch.save(create("mshnet", device="cpu").build().state_dict(), ckpt)
    run_dir = run(
        RunConfig(
            methods=["tophat", "mshnet"],
            datasets=["synth"],
            jobs=1,
            out=tmp_path,
            name="r",
            params={"mshnet": {"weights": str(ckpt), "input_size": 32, "device": "cpu"}},
        ),
        log=lambda m: None,
    )
    assert (
        main(
            [
                "profile",
                "--methods",
                "tophat,mshnet",
                "--sizes",
                "48,64",
                "--repeats",
                "1",
                "--warmup",
                "0",
                "--device",
                "cpu",
                "--run",
                str(run_dir),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "| MSHNet | Deep Learning | cpu | 4.066 |" in out and "fig1_synth.png" in out
    png = run_dir / "fig1_synth.png"
    pixels = mpimg.imread(png)
    assert pixels.shape[0] > 400 and pixels.shape[1] > 600
    rgb = pixels[..., :3]
    coloured = (rgb.max(axis=2) - rgb.min(axis=2)) > 0.2  # the MSHNet circle is the only colour
    assert 50 < coloured.sum() < 0.2 * coloured.size
    saved = json.loads((run_dir / "profile.json").read_text())
    assert saved["sizes"] == [48, 64] and (run_dir / "profile.csv").is_file()
    png.unlink()
    assert png in make_figures(run_dir, n_images=1) and png.is_file()


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--methods", "nosuch"], "Unknown method 'nosuch'. Available:"),
        (["--methods", "tophat", "--sizes", "256,abc"], "parameter 'sizes' must be a comma list of integers >= 16"),
        (["--methods", "tophat", "--sizes", "8"], "parameter 'sizes'"),
        (["--methods", "tophat", "--repeats", "0"], "parameter 'repeats' must be an integer >= 1, got 0"),
        (["--methods", "tophat", "--warmup", "-1"], "parameter 'warmup' must be an integer >= 0, got -1"),
        (["--methods", "tophat", "--max-seconds", "0"], "parameter 'max_seconds' must be a number > 0"),
        (["--methods", "tophat", "--device", "gpu0"], "parameter 'device'"),
        (["--methods", "tophat", "--dataset", "synth"], "parameter 'dataset' needs a run folder"),
    ],
)
def test_bad_arguments_give_one_clear_line(tmp_path, capsys, argv, message):
    assert main(["profile", *argv, "--out", str(tmp_path / "p")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "p").exists()


def test_run_folder_is_checked_before_any_timing(tmp_path, capsys):
    assert main(["profile", "--methods", "tophat", "--run", str(tmp_path)]) == 2
    assert f"{tmp_path}/run.json: no run record here" in capsys.readouterr().err
    from benchmark.record import RunRecord

    RunRecord(
        created="",
        command=[],
        protocol={"name": "irbench", "description": ""},
        split="test",
        data_root=None,
        cache="",
        settings={},
        environment={},
        datasets=[{"name": "synth"}],
    ).write(tmp_path / "run.json")
    assert main(["profile", "--methods", "tophat", "--run", str(tmp_path), "--dataset", "irstd1k"]) == 2
    assert "one of the run's datasets (synth), got 'irstd1k'" in capsys.readouterr().err
    assert not (tmp_path / "profile.json").exists()
