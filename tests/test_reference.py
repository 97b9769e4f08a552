"""The published numbers ship inside the package and carry the paper's units."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from benchmark.reference import PAPER_SCALE, PAPERS, load_paper, paper_units
from benchmark.reproduce import CELLS, paper_table
from methods.names import UnknownNameError


def test_both_papers_load_from_package_data() -> None:
    results = load_paper()
    assert results["table1"]["tophat"]["nudt-sirst"] == {"iou": 20.72, "pd": 78.41, "fa": 166.7}
    assert set(results["table2"]) == {"(0,10]", "(10,40]", "(40,inf)"}
    training = load_paper("mshnet_cvpr2024_training")
    assert training["dataset"] == "irstd1k" and sorted(CELLS) == [3, 4, 5, 6]
    load_paper()["table1"].clear()  # callers get their own copy
    assert "tophat" in load_paper()["table1"]
    with pytest.raises(UnknownNameError, match="Unknown reference 'x'. Available: " + ", ".join(PAPERS)):
        load_paper("x")


def test_every_reproduced_cell_has_a_paper_value() -> None:
    for table, cells in CELLS.items():
        rows = paper_table(table)["rows"]
        assert all(cell.method in rows[cell.row] for cell in cells), table
    assert [c.scales for c in CELLS[6]] == [0, 1, 2, 3, 4] and CELLS[3][0].loss == "iou-batch"


def test_paper_units() -> None:
    assert paper_units({"iou": 0.5, "pd": 0.25, "fa": 2e-6, "n": 3}) == {"iou": 50.0, "pd": 25.0, "fa": 2.0}
    assert paper_units({"niou": 0.1}, ("niou",)) == {"niou": 0.1 * PAPER_SCALE["niou"]}


def test_the_wheel_ships_the_json() -> None:
    config = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    data = config["tool"]["setuptools"]["package-data"]["benchmark.reference"]
    assert data == ["*.json"] and all(PAPERS[name].endswith(".json") for name in PAPERS)
    assert "benchmarks" not in config["tool"]["setuptools"]["packages"]["find"]["include"]
