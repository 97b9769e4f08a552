"""``irbench profile``: parameters, FLOPs and speed of detectors, deep and traditional alike.

Per method and image size: the number of parameters (deep methods), the "FLOPs" of one forward pass and
the seconds per image, as the median over ``repeats`` timed calls after ``warmup`` untimed ones, on images
of that size from the engine's ``synth`` generator. The timed call is the detector's own path
(``detect_batch``: for deep methods preprocessing, padding, forward, sigmoid and the copy back to numpy).

Conventions
-----------
* **"FLOPs" are MACs.** The field reports multiply-accumulates as ``thop`` counts them, which IRSTD papers
  (MSHNet's Fig. 1 included) label "FLOPs"; each detector counts its own
  (:meth:`~methods.registry.Detector.complexity`: its forward path at the padded input size, batch 1).
* Deep methods are profiled with **randomly initialised weights** (seeded); speed does not depend on them.
* ``max_seconds`` caps the time spent per method and size: no further call starts once it has elapsed
  (so it is exceeded by at most one call). When the cap runs out before any timed call, the last warm-up
  call is the only timing and is marked as such.
"""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmark.datasets.synth import SynthConfig, generate
from benchmark.environment import environment
from benchmark.record import RunRecord
from benchmark.render import Table, fmt, to_markdown
from methods.deep.base import resolve_device
from methods.registry import create, get_spec
from methods.validation import check_positive, check_positive_int

__all__ = [
    "Timing",
    "time_calls",
    "parse_sizes",
    "profile",
    "profile_table",
    "write_profile",
    "profile_to_folder",
    "FLOPS_NOTE",
]

FLOPS_NOTE = (
    '"FLOPs" are multiply-accumulates (MACs) of one forward pass at batch 1, as thop reports them '
    "and IRSTD papers label them; traditional methods have none (-)."
)
CAP_MARK, COLD_MARK = "†", "*"


@dataclass(frozen=True)
class Timing:
    """Wall-clock timings of one method at one size.

    ``seconds`` are the timings the median is taken over (seconds per call); ``capped``: the cap stopped
    the measurement before ``repeats`` timed calls; ``cold``: the cap ran out during the warm-up (the only
    timing is the last warm-up call) or, without warm-up, on the first call (its timing is the only one).
    """

    seconds: tuple[float, ...]
    warmup: int
    capped: bool
    cold: bool

    @property
    def median(self) -> float:
        """Median seconds per call."""
        return statistics.median(self.seconds)


def _check_warmup(warmup: object) -> None:
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"parameter 'warmup' must be an integer >= 0, got {warmup!r}")


def time_calls(fn: Callable[[], object], repeats: int, warmup: int, max_seconds: float | None = None) -> Timing:
    """Call ``fn`` ``warmup`` times untimed, then ``repeats`` times timed, within ``max_seconds``.

    Parameters
    ----------
    fn : callable without arguments
    repeats : int >= 1
    warmup : int >= 0
    max_seconds : float > 0 or None
        No call starts once this much time has elapsed since the first call began.

    Returns
    -------
    Timing
    """
    check_positive_int(repeats, "repeats")
    _check_warmup(warmup)
    cap = math.inf if max_seconds is None else check_positive(max_seconds, "max_seconds")
    start = time.perf_counter()
    for done in range(warmup):
        t0 = time.perf_counter()
        fn()
        last = time.perf_counter() - t0
        if time.perf_counter() - start >= cap:
            return Timing((last,), done + 1, capped=True, cold=True)
    seconds: list[float] = []
    while len(seconds) < repeats and (not seconds or time.perf_counter() - start < cap):
        t0 = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - t0)
    capped = len(seconds) < repeats
    return Timing(tuple(seconds), warmup, capped=capped, cold=capped and warmup == 0 and len(seconds) == 1)


def parse_sizes(text: str | Sequence[int]) -> list[int]:
    """``"256,512"`` (or a list) into sorted unique sizes; each must be an integer >= 16."""
    items = text.split(",") if isinstance(text, str) else list(text)
    sizes = []
    for item in items:
        try:
            size = int(str(item).strip())
        except ValueError:
            raise ValueError(f"parameter 'sizes' must be a comma list of integers >= 16, got {text!r}") from None
        if size < 16:
            raise ValueError(f"parameter 'sizes' must be a comma list of integers >= 16, got {text!r}")
        sizes.append(size)
    if not sizes:
        raise ValueError(f"parameter 'sizes' is empty: {text!r}")
    return sorted(set(sizes))


def synthetic_images(size: int, n: int) -> list[np.ndarray]:
    """``n`` float32 ``size`` x ``size`` images of the ``synth`` generator (test split, seeded)."""
    config = SynthConfig(size=size)
    return [generate(config, "test", i)[0] for i in range(n)]


def _profile_one(
    name: str,
    sizes: list[int],
    repeats: int,
    warmup: int,
    batch: int,
    device: str,
    max_seconds: float | None,
    log: Callable[[str], None],
) -> dict[str, Any]:
    spec = get_spec(name)
    entry: dict[str, Any] = {
        "name": spec.name,
        "display": spec.label,
        "kind": spec.kind,
        "description": spec.description,
        "params": None,
        "sizes": {},
    }
    det = create(spec.name, device=device, batch_size=batch) if spec.kind == "deep" else create(spec.name)
    costs = {size: det.complexity(size) for size in sizes}
    entry["params"] = next((c.params for c in costs.values() if c is not None), None)
    entry["device"] = det.provenance().get("device", "cpu")
    det.use_random_weights(seed=0)  # deep: seeded random init, prepared for inference as loaded weights are
    for size in sizes:
        images = synthetic_images(size, batch)
        timing = time_calls(partial(det.detect_batch, images), repeats, warmup, max_seconds)
        per_image = timing.median / batch
        entry["sizes"][str(size)] = {
            "macs": None if costs[size] is None else costs[size].macs,
            "seconds_per_image": per_image,
            "images_per_second": 1.0 / per_image,
            "runs": len(timing.seconds),
            "warmup": timing.warmup,
            "capped": timing.capped,
            "cold": timing.cold,
            "seconds_per_call": list(timing.seconds),
        }
        log(f"{spec.name} {size}x{size}: {per_image:.4g} s/image ({len(timing.seconds)} run(s))")
    return entry


def profile(
    methods: Sequence[str],
    sizes: Sequence[int] = (256, 512),
    repeats: int = 5,
    warmup: int = 1,
    batch: int = 1,
    device: str = "auto",
    max_seconds: float | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Profile ``methods`` at every size; return the record written as ``profile.json``.

    Parameters
    ----------
    methods : registered method names (see :func:`methods.registry.resolve_methods`).
    sizes : square image sides (integers >= 16).
    repeats : timed calls per method and size (median reported).
    warmup : untimed calls before them.
    batch : images per call (``seconds_per_image`` = call time / batch).
    device : ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` for deep methods (traditional ones run on the CPU).
    max_seconds : cap on the time per method and size (see the module notes), or None.
    log : progress messages.

    Returns
    -------
    dict
        ``methods``: per method ``params`` (None for traditional), ``device`` and per size ``macs`` (the
        "FLOPs": MACs, None for traditional), ``seconds_per_image``, ``images_per_second``, ``runs``,
        ``capped``, ``cold`` and the raw ``seconds_per_call``; plus the settings, threads and machine.
    """
    if not methods:
        raise ValueError("parameter 'methods' is empty")
    sizes = parse_sizes(list(sizes))
    check_positive_int(repeats, "repeats")
    check_positive_int(batch, "batch")
    _check_warmup(warmup)
    if resolve_device(device).type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"parameter 'device' is {device!r} but torch sees no CUDA device")
    if max_seconds is not None:
        check_positive(max_seconds, "max_seconds")
    names = [get_spec(m).name for m in methods]
    record = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "sizes": sizes,
        "repeats": repeats,
        "warmup": warmup,
        "batch": batch,
        "device": device,
        "max_seconds": max_seconds,
        "threads": torch.get_num_threads(),
        "flops": FLOPS_NOTE,
        "weights": "random initialisation (seeded)",
        "input": "synth generator, test split",
        "environment": environment(),
        "methods": [],
    }
    for name in names:
        record["methods"].append(_profile_one(name, sizes, repeats, warmup, batch, device, max_seconds, log))
    return record


def _runs_cell(cell: dict[str, Any]) -> str:
    mark = COLD_MARK if cell["cold"] else CAP_MARK if cell["capped"] else ""
    return f"{cell['runs']}{mark}"


def profile_table(record: dict[str, Any]) -> Table:
    """The profile as a :class:`benchmark.render.Table` (fastest images/s per size in bold)."""
    sizes = [str(s) for s in record["sizes"]]
    rows, speeds = [], []
    for m in record["methods"]:
        row = [m["display"], m["description"], m["device"], fmt(m["params"] / 1e6 if m["params"] else None)]
        for s in sizes:
            c = m["sizes"][s]
            row += [
                fmt(c["macs"] / 1e9 if c["macs"] is not None else None),
                fmt(c["seconds_per_image"]),
                fmt(c["images_per_second"]),
                _runs_cell(c),
            ]
        rows.append(row)
        speeds.append([m["sizes"][s]["images_per_second"] for s in sizes])
    best = [max(col) if len(col) > 1 else None for col in zip(*speeds)]
    bold = [[False] * 4 + [j % 4 == 2 and sp[j // 4] == best[j // 4] for j in range(4 * len(sizes))] for sp in speeds]
    env = record["environment"]
    cap = record["max_seconds"]
    notes = [
        FLOPS_NOTE,
        f"Seconds per image: median over {record['repeats']} timed call(s) of {record['batch']} image(s) after "
        f"{record['warmup']} warm-up call(s) on images of each size ({record['input']}); deep methods with "
        f"{record['weights']} weights, timed end to end (preprocessing, forward, copy back to numpy).",
        f"Runs: timed calls taken; {CAP_MARK} stopped by --max-seconds {cap:g}; {COLD_MARK} the first call "
        f"exceeded the cap: one warm-up (cold) timing."
        if cap
        else "Runs: timed calls taken (no time cap).",
        f"Machine: {env['platform']}, {env['cpu_count']} CPUs, {record['threads']} torch threads, GPU "
        f"{env['gpu'] or 'none'}; torch {env['packages'].get('torch')}; created {record['created']}.",
    ]
    return Table(
        caption="Profile: parameters, FLOPs (MACs) and speed per image size.",
        lead=["Method", "Description", "Device", "Params(M)"],
        groups=[(f"{s}x{s}", 4) for s in sizes],
        columns=["FLOPs(G)", "s/img", "img/s", "runs"] * len(sizes),
        rows=rows,
        bold=bold,
        notes=notes,
    )


def _csv(record: dict[str, Any]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        [
            "method",
            "kind",
            "device",
            "threads",
            "size",
            "params",
            "flops_macs",
            "seconds_per_image",
            "images_per_second",
            "runs",
            "warmup",
            "capped",
            "cold",
        ]
    )
    for m in record["methods"]:
        for size, c in m["sizes"].items():
            writer.writerow(
                [
                    m["name"],
                    m["kind"],
                    m["device"],
                    record["threads"],
                    size,
                    m["params"] or "",
                    "" if c["macs"] is None else c["macs"],
                    c["seconds_per_image"],
                    c["images_per_second"],
                    c["runs"],
                    c["warmup"],
                    c["capped"],
                    c["cold"],
                ]
            )
    return buffer.getvalue()


def write_profile(record: dict[str, Any], folder: str | Path) -> list[Path]:
    """Write ``profile.json``, ``profile.md`` and ``profile.csv`` into ``folder``; return their paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / "profile.json", folder / "profile.md", folder / "profile.csv"]
    paths[0].write_text(json.dumps(record, indent=1, default=str))
    paths[1].write_text(to_markdown(profile_table(record)))
    paths[2].write_text(_csv(record))
    return paths


def _run_datasets(run_dir: Path, dataset: str | None) -> tuple[RunRecord, list[str]]:
    """The run record of ``run_dir`` and the datasets to chart (``dataset`` or all of the run's)."""
    run = RunRecord.read(run_dir)
    names = [d["name"] for d in run.datasets]
    if dataset is None:
        return run, names
    if dataset not in names:
        raise ValueError(f"parameter 'dataset' must be one of the run's datasets ({', '.join(names)}), got {dataset!r}")
    return run, [dataset]


def profile_to_folder(
    methods: Sequence[str],
    *,
    sizes: Sequence[int] = (256, 512),
    repeats: int = 5,
    warmup: int = 1,
    batch: int = 1,
    device: str = "auto",
    max_seconds: float | None = None,
    run_dir: str | Path | None = None,
    dataset: str | None = None,
    out: str | Path | None = None,
    log: Callable[[str], None] = print,
) -> list[Path]:
    """Profile ``methods``, write the three profile files and, given a run folder, its Fig. 1 charts.

    The files go into ``run_dir`` when given, else ``out`` (default ``results/profile-<timestamp>``).
    ``dataset`` (only with ``run_dir``) restricts the charts to one of the run's datasets. The run folder
    and dataset are checked before any timing starts. Returns the written paths.
    """
    from benchmark.figures import plot_fig1

    if dataset is not None and run_dir is None:
        raise ValueError("parameter 'dataset' needs a run folder (--run RUN_DIR) to take the IoU from")
    chart = _run_datasets(Path(run_dir), dataset) if run_dir is not None else None
    if run_dir is not None:
        folder = Path(run_dir)
    elif out is not None:
        folder = Path(out)
    else:
        folder = Path("results") / f"profile-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}"
    record = profile(methods, sizes, repeats, warmup, batch, device, max_seconds, log)
    written = write_profile(record, folder)
    if chart is not None:
        run, datasets = chart
        for name in datasets:
            path = plot_fig1(folder, run, record, name)
            if path is None:
                log(f"no Fig. 1 for {name}: none of the profiled methods has a result for it in {folder}")
            else:
                written.append(path)
    return written
