"""``report.html``: self-contained (tables, notes, embedded figures, failures), readable by a browser."""

import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmark.cli import main
from benchmark.figures import make_figures
from benchmark.runner import RunConfig, run
from tests.conftest import empty_zoo


class Outline(HTMLParser):
    """The tags, attributes and text of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("html")
    config = RunConfig(methods=["tophat", "mshnet"], datasets=["synth"], jobs=1, out=tmp, name="r", curves=True)
    with empty_zoo(tmp / "empty-zoo"):  # a "no weights" cell on the page
        run_dir = run(config, log=lambda m: None)
    make_figures(run_dir, n_images=2, log=lambda m: None)
    assert main(["report", str(run_dir), "--format", "html"]) == 0
    return run_dir / "report.html"


def test_the_page_holds_both_tables_the_figures_and_nothing_from_outside(report):
    page = Outline()
    page.feed(report.read_text())
    text = " ".join(page.text)
    tables = [a for t, a in page.tags if t == "table" and a.get("class") == "paper"]
    images = [a["src"] for t, a in page.tags if t == "img"]
    assert len(tables) == 2 and "Table 1. IoU(%), Pd(%) and Fa(1e-6) per dataset." in text
    assert "Top-Hat" in text and "no weights" in text and "Protocol irbench" in text
    assert len(images) == 3 and all(src.startswith("data:image/png;base64,") for src in images)
    outside = ("http:", "https:", "//", "file:")
    assert not [a for _, a in page.tags for k, v in a.items() if k in ("src", "href") and (v or "").startswith(outside)]
    assert not any(t == "script" for t, _ in page.tags)


def test_outputs_are_readable_by_others_as_open_would_create_them(report):
    mask = os.umask(0)
    os.umask(mask)
    for name in ("report.html", "run.json", "table1.csv"):
        assert (report.parent / name).stat().st_mode & 0o777 == 0o666 & ~mask


@pytest.mark.skipif(shutil.which("chromium") is None, reason="no headless browser installed")
def test_a_headless_browser_renders_the_page(report, tmp_path):
    shot = tmp_path / "shot.png"
    subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--screenshot={shot}",
            "--window-size=1200,1600",
            report.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.shape == (1600, 1200)
    dark = pixels < 128  # text, table rules and figures on a white page
    assert 0.005 < dark.mean() < 0.5 and dark[:400].any() and dark[800:].any()


def test_an_unknown_format_is_named(report):
    with pytest.raises(ValueError, match=re.escape("Unknown report format(s) pdf")):
        from benchmark.report import write_reports

        write_reports(report.parent, ("pdf",))
