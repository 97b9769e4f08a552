"""Paper-ready tables: one caption, escaped text, full width for two datasets, notes outside the float,
the paper's row order, empty cells summarised per status; the LaTeX compiles (pdflatex, when installed)."""

import csv
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmark.record import RunRecord
from benchmark.render import latex_escape
from benchmark.report import ordered_methods
from benchmark.runner import RunConfig, run
from tests.conftest import empty_zoo


def sirst_tree(root: Path, n: int = 4, size: int = 32) -> Path:
    """A SIRST-layout dataset of ``n`` images, each with one 3x3 target."""
    folder = root / "SIRST"
    for sub in ("images", "masks", "idx_427"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        img = np.full((size, size), 50, np.uint8)
        mask = np.zeros((size, size), np.uint8)
        img[8 + 3 * i : 11 + 3 * i, 10:13], mask[8 + 3 * i : 11 + 3 * i, 10:13] = 200, 255
        Image.fromarray(img).save(folder / "images" / f"Misc_{i}.png")
        Image.fromarray(mask).save(folder / "masks" / f"Misc_{i}_pixels0.png")
    (folder / "idx_427" / "test.txt").write_text("\n".join(f"Misc_{i}" for i in range(n)) + "\n")
    return root


@pytest.fixture(scope="module")
def two_dataset_run(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("latex")
    config = RunConfig(
        methods=["mshnet", "dnanet", "maxmedian", "tophat"],  # given out of order on purpose
        datasets=["synth", "sirst"],
        data_root=str(sirst_tree(tmp / "data")),
        jobs=1,
        out=tmp / "out",
        name="r",
    )
    with empty_zoo(tmp / "empty-zoo"):  # deep cells without weights
        return run(config, log=lambda m: None)


def test_latex_escapes_code_comparisons_and_specials():
    assert latex_escape("Protocol `irbench`: < 3 px, 50% of a_b") == (
        r"Protocol \texttt{irbench}: \textless{} 3 px, 50\% of a\_b"
    )
    assert latex_escape("a ` b > c | d") == r"a \textasciigrave{} b \textgreater{} c \textbar{} d"


def test_one_caption_full_width_and_notes_outside_the_float(two_dataset_run):
    for name in ("table1.tex", "table2.tex"):
        tex = (two_dataset_run / name).read_text()
        body = tex[tex.index(r"\begin{table*}") : tex.index(r"\end{table*}")]
        assert tex.count(r"\caption{") == 1 and "Table 1." not in tex and "Table 2." not in tex
        assert r"\texttt{irbench}" in body and "`" not in body and "<" not in body
        assert "Machine:" not in body and "Machine:" in tex  # a comment after the float
        comments = [line for line in tex.splitlines() if line.startswith("%")]
        assert comments and all("\n" not in c for c in comments)
    assert "**Table 1. IoU(%)" in (two_dataset_run / "table1.md").read_text()


def test_rows_follow_the_paper_and_empty_cells_are_summarised_per_status(two_dataset_run):
    rows = [line.split(",")[0] for line in (two_dataset_run / "table1.csv").read_text().splitlines()[1::2]]
    assert rows == ["tophat", "maxmedian", "dnanet", "mshnet"]  # the paper's Table 1 order
    assert [m.name for m in ordered_methods(RunRecord.read(two_dataset_run))] == rows
    md = (two_dataset_run / "table1.md").read_text()
    assert md.index("| Top-Hat") < md.index("| Max-Median") < md.index("| DNANet") < md.index("| MSHNet")
    notes = [line for line in md.splitlines() if line.startswith("- no weights")]
    assert len(notes) == 1  # one line for all four "no weights" cells
    assert all(f"{m} on {d}" in notes[0] for m in ("DNANet", "MSHNet") for d in ("Synth", "SIRST"))
    assert json.loads((two_dataset_run / "table1.json").read_text())["table"] == "table1"


@pytest.fixture(scope="module")
def synth_run(tmp_path_factory) -> Path:
    config = RunConfig(
        methods=["tophat", "mshnet"], datasets=["synth"], jobs=1, out=tmp_path_factory.mktemp("synth"), name="s"
    )
    return run(config, log=lambda m: None)


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
@pytest.mark.parametrize("which", ["two_dataset_run", "synth_run"])
def test_both_tables_compile_without_overfull_boxes_or_float_warnings(which, request, tmp_path):
    run_dir = request.getfixturevalue(which)
    assert r"\begin{table*}" in (run_dir / "table1.tex").read_text()
    for name in ("table1.tex", "table2.tex"):
        shutil.copy(run_dir / name, tmp_path / name)
    (tmp_path / "paper.tex").write_text(
        "\\documentclass[twocolumn]{article}\n\\usepackage{booktabs}\n\\begin{document}\n"
        "\\input{table1}\n\\input{table2}\nText.\n\\end{document}\n"
    )
    result = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "paper.tex"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    log = (tmp_path / "paper.log").read_text(errors="replace")
    assert result.returncode == 0, log[-2000:]
    assert not re.search(r"Overfull|Underfull \\hbox|Float too large|Warning", log), log[-3000:]
    assert (tmp_path / "paper.pdf").stat().st_size > 0


def test_scales_without_targets_print_no_iou_or_pd(two_dataset_run):
    md = (two_dataset_run / "table2.md").read_text()
    large = next(line for line in md.splitlines() if line.startswith("| (40,inf) | Top-Hat"))
    assert large.split("|")[6:8] == [" - ", " - "]  # SIRST here has 3x3 targets only
    assert "'-': no target of that scale" in md
    rows = list(csv.DictReader((two_dataset_run / "table2.csv").open()))
    empty = [r for r in rows if r["dataset"] == "sirst" and r["scale"] != "(0,10]" and r["status"] == "ok"]
    assert empty and all(r["iou_pct"] == r["pd_pct"] == "" and r["fa_1e-6"] == "0.0" for r in empty)


def test_the_paper_note_appears_only_where_the_paper_has_values():
    from types import SimpleNamespace

    from benchmark.reference import load_paper
    from benchmark.report import _paper_shown

    def fake(method, dataset):
        return SimpleNamespace(methods=[SimpleNamespace(name=method)], datasets=[{"name": dataset}])

    table1, table2 = load_paper()["table1"], load_paper()["table2"]
    assert _paper_shown(fake("tophat", "irstd1k"), [table1])
    assert not _paper_shown(fake("tophat", "sirst"), [table1])
    assert _paper_shown(fake("mshnet", "irstd1k"), list(table2.values()))  # Table 2: IRSTD-1k only
    assert not _paper_shown(fake("mshnet", "nudt-sirst"), list(table2.values()))
    assert not _paper_shown(fake("tophat", "irstd1k"), list(table2.values()))  # Table 2 has deep methods only


def test_markdown_escapes_ids_names_and_values_outside_code_spans() -> None:
    from benchmark.render import Table, to_markdown

    table = Table(
        "c",
        ["Method"],
        [("Set|A", 1)],
        ["IoU"],
        [["<img src=x onerror=alert(1)>", "**1**"]],
        [[False, False]],
        notes=["Skipped `<script>`: id <script>alert(1)</script> a_b [x](y)"],
    )
    md = to_markdown(table)
    assert "| <img" not in md and "\\<img src=x onerror=alert(1)\\>" in md and "\\*\\*1\\*\\*" in md
    assert "Set\\|A IoU" in md and "`<script>`" in md and "id \\<script\\>" in md and "a\\_b \\[x\\](y)" in md
