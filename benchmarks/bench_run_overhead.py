"""Wall time of one `irbench run` (empty cache) from this checkout against a baseline checkout, interleaved.

    python benchmarks/bench_run_overhead.py --baseline /tmp/base --data-root ../shared/data \
        --methods tophat,maxmedian,wslcm --dataset nudt-sirst --jobs 2 --repeats 3

Each repeat runs the baseline tree, then this tree (``python -m benchmark.cli run`` with the tree as working
directory, so each imports its own code), every time into a fresh output folder and cache. Prints each wall
time, the medians and the ratio this / baseline, and checks that both wrote the same table1.csv.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def one_run(tree: Path, args: argparse.Namespace, out: Path) -> float:
    command = [
        sys.executable,
        "-m",
        "benchmark.cli",
        "run",
        "--methods",
        args.methods,
        "--dataset",
        args.dataset,
        "--data-root",
        str(Path(args.data_root).resolve()),
        "--jobs",
        str(args.jobs),
        "--out",
        str(out),
        "--name",
        "r",
    ]
    start = time.perf_counter()
    subprocess.run(command, cwd=tree, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", required=True, help="checkout of the baseline commit")
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--methods", default="tophat,maxmedian,wslcm")
    parser.add_argument("--dataset", default="nudt-sirst")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    trees = {"baseline": Path(args.baseline).resolve(), "this": HERE}
    times: dict[str, list[float]] = {k: [] for k in trees}
    tables: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for label, tree in trees.items():
                out = Path(tmp) / f"{label}-{r}"
                times[label].append(one_run(tree, args, out))
                tables[label] = (out / "r" / "table1.csv").read_text()
                print(f"repeat {r + 1} {label}: {times[label][-1]:.1f} s", flush=True)
    base, this = (statistics.median(times[k]) for k in trees)
    print(f"median baseline {base:.1f} s, this {this:.1f} s, ratio {this / base:.3f}")
    print("table1.csv identical" if tables["baseline"] == tables["this"] else "table1.csv DIFFERS")


if __name__ == "__main__":
    main()
