"""``irbench``: run detectors, list what exists, re-render reports, score saved predictions.

Examples
--------
$ irbench run                                   # every method on the embedded synthetic dataset
$ irbench run --methods tophat --limit 5         # a smoke run: the first 5 images
$ irbench run --methods all --dataset irstd1k --data-root /path/to/datasets
$ irbench run --methods tophat,ipi --dataset irstd1k,nudt-sirst --protocol basicirstd --compare-paper
$ irbench list datasets --data-root /path/to/datasets
$ irbench report results/<run> --format md,tex
$ irbench profile --methods mshnet,tophat --sizes 256,512 --run results/<run>
$ irbench evaluate --pred-dir preds/ --dataset sirst --data-root /path/to/datasets --json scores.json
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from benchmark.datasets import (
    DEFAULT_MAX_PIXELS,
    DatasetNotFoundError,
    DatasetSpec,
    builtin_specs,
    get_dataset,
    root_specs,
)
from benchmark.files import OutputError
from benchmark.metrics import PROTOCOLS
from benchmark.metrics.curves import DEFAULT_THRESHOLDS
from benchmark.policies import POLICIES
from benchmark.pool import PoolStartError
from benchmark.record import FAILING, RunRecord
from benchmark.render import to_markdown
from benchmark.report import FORMATS, evaluation_table, write_reports
from benchmark.runner import DEFAULT_TIMEOUT, RunConfig, RunError, run
from methods.registry import UnknownMethodError, get_spec, list_methods, resolve_methods


def _split_list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _jobs(text: str) -> int:
    """``--jobs``: -1 (all cores) or a count >= 1."""
    value = int(text)
    if value == 0 or value < -1:
        raise argparse.ArgumentTypeError(f"must be -1 (all cores) or >= 1, got {text}")
    return value


def _ci_level(text: str) -> float:
    """``--ci``: a confidence level in (0, 100)."""
    value = float(text)
    if not 0 < value < 100:
        raise argparse.ArgumentTypeError(f"the confidence level must be in (0, 100), e.g. 95; got {text}")
    return value


def _run_name(text: str) -> str:
    """``--name``: one folder name under ``--out`` (no path separator, no control character, not . or ..)."""
    if (
        not text
        or text in (".", "..")
        or any(c in text for c in "/\\")
        or any(ord(c) < 32 or ord(c) == 127 for c in text)
    ):
        raise argparse.ArgumentTypeError(
            f"must be one folder name under --out, without a path separator or a control character; got {text!r}"
        )
    return text


def _method_params(weights: list[str], settings: list[str]) -> dict[str, dict[str, Any]]:
    """``--weights M=PATH`` and ``--set M.param=VALUE`` into ``{method: {param: value}}``."""
    params: dict[str, dict[str, Any]] = {}
    for item in weights:
        method, sep, path = item.partition("=")
        if not sep or not path:
            raise RunError(f"--weights expects METHOD=PATH, got {item!r}")
        params.setdefault(get_spec(method).name, {})["weights"] = path
    for item in settings:
        target, sep, value = item.partition("=")
        method, dot, name = target.partition(".")
        if not sep or not dot:
            raise RunError(f"--set expects METHOD.PARAM=VALUE, got {item!r}")
        params.setdefault(get_spec(method).name, {})[name] = _parse_value(value)
    return params


def cmd_run(args: argparse.Namespace) -> int:
    """Run, print Table 1; exit 1 when any cell is ``failed`` or ``no usable images`` (tables written)."""
    methods = resolve_methods(args.methods)
    params = _method_params(args.weights, args.set)
    if args.device:  # every method that has a device (the deep ones), unless --set gave one
        for name in methods:
            if "device" in get_spec(name).defaults:
                params.setdefault(name, {}).setdefault("device", args.device)
    config = RunConfig(
        methods=methods,
        datasets=_split_list(args.dataset),
        data_root=args.data_root,
        split=args.split,
        protocol=args.protocol,
        policy=args.policy,
        jobs=args.jobs,
        out=Path(args.out),
        cache=Path(args.cache) if args.cache else None,
        on_error=args.on_error,
        params=params,
        name=args.name,
        curves=args.curves,
        ci=args.ci,
        compare_paper=args.compare_paper,
        backend=args.backend,
        scheduler=args.scheduler,
        timeout=args.timeout,
        max_pixels=args.max_pixels,
        overwrite=args.overwrite,
        limit=args.limit,
        exclude_seen=args.exclude_seen,
        command=["irbench", *sys.argv[1:]] if args.argv is None else ["irbench", *args.argv],
    )
    run_dir = run(config, log=lambda m: print(m, file=sys.stderr))
    print((run_dir / "table1.md").read_text())
    print(
        f"Tables written to {run_dir}/: table1.{{md,tex,csv,json}}, table2.{{md,tex,csv,json}}, report.html; "
        f"per-image records in per_image.jsonl"
    )
    record = RunRecord.read(run_dir)
    bad = {k: v for k, v in record.counts().items() if k in FAILING and v}
    if bad:
        print(
            f"irbench: {', '.join(f'{v} cell(s) {k}' for k, v in bad.items())} (see the notes under the "
            "tables); exit status 1",
            file=sys.stderr,
        )
    return record.exit_code()


def cmd_list(args: argparse.Namespace) -> int:
    if args.what == "methods":
        for name in list_methods("all"):
            spec = get_spec(name)
            print(f"{name:20s} {spec.kind:12s} {spec.description:15s} policy={spec.policy:12s} {spec.paper}")
    elif args.what == "datasets":
        specs = {**builtin_specs(), **root_specs(args.data_root)}
        for name, spec in specs.items():
            where = "" if spec.name in builtin_specs() else f" (spec {spec.source})"
            print(f"{name:16s} {_presence(spec, args.data_root):9s} {spec.description}{where}")
    elif args.what == "protocols":
        for name, protocol in PROTOCOLS.items():
            print(f"{name:12s} {protocol.description}")
    elif args.what == "policies":
        for form, text in POLICIES.values():
            print(f"{form:12s} {text}")
    else:
        _list_weights()
    return 0


def _list_weights() -> None:
    """irbench's zoo (with each entry's own test figures) and the user's weights cache."""
    from methods.deep.base import WEIGHT_SUFFIXES
    from methods.deep.zoo import ZOO_DIR, weights_root, zoo_entries

    print(f"irbench zoo ({ZOO_DIR}):")
    for e in zoo_entries():
        schedule = e.label.removeprefix("irbench zoo: ")
        print(f"  {e.method:18s} {e.dataset:12s} {schedule:30s} {_figures(e.test)}  {e.file}")
        if e.bits:
            print(f"  {'':18s} {'':12s} {'fp16, before quantisation':30s} {_figures(e.extra['fp16']['test'])}")
    if not zoo_entries():
        print("  (empty)")
    root = weights_root()
    found = sorted(p for p in root.glob("*/*") if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES))
    print(f"weights cache ({root}; used before the zoo):")
    for path in found:
        print(f"  {path.parent.name:18s} {path.name}")
    if not found:
        print("  (empty)")


def _figures(t: dict[str, Any]) -> str:
    """A zoo entry's test figures as ``IoU .. Pd .. Fa .. (protocol, precision, n split images)``."""
    return (
        f"IoU {t['iou'] * 100:6.2f} Pd {t['pd'] * 100:6.2f} Fa {t['fa'] * 1e6:8.2f} "
        f"({t['protocol']}, {t.get('precision', 'float32')}, {t['n_images']} {t['split']} images)"
    )


def _presence(spec: DatasetSpec, root: str | None) -> str:
    """``present`` / ``missing`` under ``root`` (default ``$IRBENCH_DATA`` or ``./data``)."""
    try:
        get_dataset(spec, root)
    except (DatasetNotFoundError, OSError, ValueError):
        return "missing"
    return "present"


def cmd_overlap(args: argparse.Namespace) -> int:
    """Images shared by two dataset splits, matched by content; exit 0 either way."""
    from benchmark.leakage import dataset_hashes

    sides = []
    for text in (args.a, args.b):
        name, _, split = text.partition(":")
        dataset = get_dataset(name, args.data_root, split or "test", args.max_pixels or None)
        sides.append((f"{dataset.name}:{dataset.split}", dataset_hashes(dataset)))
    (name_a, a), (name_b, b) = sides
    by_hash_b: dict[str, list[str]] = {}
    for sample_id, h in b.items():
        by_hash_b.setdefault(h, []).append(sample_id)
    shared = [(i, by_hash_b[h]) for i, h in a.items() if h in by_hash_b]
    print(
        f"{name_a} ({len(a)} images) and {name_b} ({len(b)} images): {len(shared)} image(s) of {name_a} "
        f"also in {name_b} (matched by decoded pixels)"
    )
    for sample_id, others in shared[: None if args.all else 20]:
        print(f"  {sample_id} = {', '.join(others)}")
    if len(shared) > 20 and not args.all:
        print(f"  ... {len(shared) - 20} more (--all lists them)")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    for path in write_reports(args.run_dir, tuple(_split_list(args.format))):
        print(path)
    record = RunRecord.read(args.run_dir)
    if not record.complete:
        done = sum(len(c) for c in record.cells.values())
        print(
            f"irbench: {args.run_dir} is an INCOMPLETE run ({done} cells finished); the tables say so", file=sys.stderr
        )
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from benchmark.figures import make_figures

    for path in make_figures(args.run_dir, args.images, log=lambda m: print(f"irbench: {m}", file=sys.stderr)):
        print(path)
    return 0


def cmd_profile(args: argparse.Namespace) -> int:
    from benchmark.profiling import parse_sizes, profile_to_folder

    paths = profile_to_folder(
        resolve_methods(args.methods),
        sizes=parse_sizes(args.sizes),
        repeats=args.repeats,
        warmup=args.warmup,
        batch=args.batch,
        device=args.device,
        max_seconds=args.max_seconds,
        run_dir=args.run,
        dataset=args.dataset,
        out=args.out,
        log=lambda m: print(m, file=sys.stderr),
    )
    print(paths[1].read_text())
    print("Written: " + ", ".join(str(p) for p in paths))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from benchmark.training.loop import TrainConfig, train

    config = TrainConfig(
        method=get_spec(args.method).name,
        dataset=args.dataset,
        split=args.split,
        data_root=args.data_root,
        out=Path(args.out or f"results/train/{get_spec(args.method).name}_{args.dataset}"),
        loss=args.loss,
        epochs=args.epochs,
        batch=args.batch,
        crop=args.crop,
        base=args.base,
        lr=args.lr,
        warmup=args.warmup,
        scales=args.scales,
        resume=args.resume,
        seed=args.seed,
        val_fraction=args.val_fraction,
        val_every=args.val_every,
        limit=args.limit,
        device=args.device,
        amp=not args.no_amp,
        threads=args.threads,
        channels_last=args.channels_last,
        data_on_device=args.data_on_device,
        method_params=_method_params([], args.set).get(get_spec(args.method).name, {}),
        command=shlex.join(["irbench", *(sys.argv[1:] if args.argv is None else args.argv)]),
    )
    result = train(config, log=lambda m: print(m, file=sys.stderr))
    print(
        f"best epoch {result.best_epoch} (validation IoU {result.best_val_iou:.4f}): {result.best}\n"
        f"score it: irbench run --methods {config.method} --weights {config.method}={result.best} "
        f"--dataset {config.dataset}"
    )
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    from benchmark.reproduce import ReproduceConfig, reproduce

    config = ReproduceConfig(
        table=args.table,
        dataset=args.dataset,
        data_root=args.data_root,
        epochs=args.epochs,
        limit=args.limit,
        crop=args.crop,
        base=args.base,
        batch=args.batch,
        warmup=args.warmup,
        out=Path(args.out),
        device=args.device,
        threads=args.threads,
        protocol=args.protocol,
        test_limit=args.test_limit,
    )
    paths = reproduce(config, log=lambda m: print(m, file=sys.stderr))
    print(paths[0].read_text())
    print("Written: " + ", ".join(str(p) for p in paths))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from benchmark.offline import evaluate_predictions, format_missing

    result = evaluate_predictions(
        pred_dir=args.pred_dir,
        dataset=args.dataset,
        data_root=args.data_root,
        split=args.split,
        gt_dir=args.gt_dir,
        protocol=args.protocol,
        policy=args.policy,
        strict=args.strict,
    )
    missing = result["missing_predictions"]
    if missing:
        print(
            f"irbench: {len(missing)} of {result['n_images']} predictions missing or unreadable, scored as empty "
            f"predictions (use --strict to make this an error): {format_missing(missing)}",
            file=sys.stderr,
        )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    print(to_markdown(evaluation_table(result)))
    if args.json:
        print(f"Metrics (raw fractions) written to {args.json}")
    return 0


def _version() -> str:
    try:
        return version("irbench")
    except PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="irbench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"irbench {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="run methods on datasets and write Table 1 / Table 2")
    p.add_argument(
        "--methods",
        default="all",
        help="comma list of names, wildcards, 'all', 'traditional', 'deep' or family names (default: all)",
    )
    p.add_argument("--dataset", default="synth", help="comma list (default: synth, the embedded dataset)")
    p.add_argument("--data-root", default=None, help="folder holding the datasets (default: $IRBENCH_DATA or ./data)")
    p.add_argument("--split", default="test", help="split of every dataset (default: test)")
    p.add_argument(
        "--protocol",
        default="irbench",
        choices=sorted(PROTOCOLS),
        help="evaluation protocol (default: irbench; see irbench list protocols)",
    )
    p.add_argument(
        "--policy",
        default=None,
        help="binarisation policy for every method (default: each method's; see irbench list policies)",
    )
    p.add_argument(
        "--limit", type=int, default=None, metavar="N", help="only the first N images of each dataset (a smoke run)"
    )
    p.add_argument(
        "--exclude-seen",
        action="store_true",
        help="score each deep cell only on the images its weights were not trained on (default: score all, "
        "and say how many were seen)",
    )
    p.add_argument(
        "--device",
        default=None,
        help="device of the deep methods: auto, cpu, cuda or cuda:N (default: each method's, auto)",
    )
    p.add_argument("--jobs", type=_jobs, default=-1, help="worker processes, >= 1 (default -1: all cores)")
    p.add_argument(
        "--backend",
        default="local",
        choices=("local", "dask"),
        help="where traditional detectors run: local isolated worker processes (default) or a Dask cluster",
    )
    p.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="Dask scheduler address (tcp://host:8786); without it --backend dask starts a local cluster",
    )
    p.add_argument("--out", default="results", help="output folder (default: results/)")
    p.add_argument("--cache", default=None, help="score-map cache folder (default: <out>/cache)")
    p.add_argument(
        "--name", type=_run_name, default=None, help="run folder name under --out (default: timestamp and datasets)"
    )
    p.add_argument(
        "--on-error",
        default="skip",
        choices=("skip", "fail"),
        help="unusable images: leave them out and list them (skip, the default) or stop (fail)",
    )
    p.add_argument(
        "--weights", action="append", default=[], metavar="METHOD=PATH", help="checkpoint of a deep method (repeatable)"
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="METHOD.PARAM=VALUE",
        help="override a method parameter (repeatable), e.g. tophat.size=7",
    )
    p.add_argument(
        "--curves",
        nargs="?",
        type=int,
        const=DEFAULT_THRESHOLDS,
        default=0,
        metavar="N",
        help=f"also compute Pd-Fa, IoU and ROC curves at N thresholds k/N (default N: {DEFAULT_THRESHOLDS}, every "
        "level of an 8-bit map; one component tree per image), stored in run.json and curves.csv",
    )
    p.add_argument(
        "--ci",
        type=_ci_level,
        default=None,
        metavar="LEVEL",
        help="bootstrap confidence intervals over images for IoU/Pd/Fa, e.g. --ci 95",
    )
    p.add_argument("--compare-paper", action="store_true", help="show the MSHNet paper's values beside ours")
    p.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"per-image time limit of traditional detectors; an image over it fails alone "
        f"(default {DEFAULT_TIMEOUT:g}; 0: no limit)",
    )
    p.add_argument(
        "--max-pixels",
        type=int,
        default=DEFAULT_MAX_PIXELS,
        metavar="N",
        help=f"images with more pixels are skipped as unusable data (default {DEFAULT_MAX_PIXELS}; 0: no cap)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing finished run folder of the same --name (an incomplete one is resumed)",
    )
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("list", help="list methods, datasets, protocols, policies or weights")
    p.add_argument(
        "what",
        choices=("methods", "datasets", "protocols", "policies", "weights"),
        help="what to list (weights: irbench's zoo and the weights cache)",
    )
    p.add_argument(
        "--data-root",
        default=None,
        help="with datasets: mark which are present here (default: $IRBENCH_DATA or ./data)",
    )
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("overlap", help="images two dataset splits share (matched by content, not by name)")
    p.add_argument("a", help="dataset[:split] (default split test), e.g. sirst:test or a spec file")
    p.add_argument("b", help="dataset[:split], e.g. sirst-v2:test")
    p.add_argument("--data-root", default=None, help="folder holding the datasets (default: $IRBENCH_DATA or ./data)")
    p.add_argument(
        "--max-pixels",
        type=int,
        default=DEFAULT_MAX_PIXELS,
        help=f"pixel cap per image (default {DEFAULT_MAX_PIXELS}; 0: none)",
    )
    p.add_argument("--all", action="store_true", help="list every shared image (default: the first 20)")
    p.set_defaults(func=cmd_overlap)

    p = sub.add_parser("report", help="re-render the tables of a run folder")
    p.add_argument("run_dir", help="a run folder (holding run.json)")
    p.add_argument(
        "--format", default=",".join(FORMATS), help=f"comma list of {', '.join(FORMATS)} (default: all of them)"
    )
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("plot", help="figures of a run: Pd-Fa / ROC curves and a qualitative panel")
    p.add_argument("run_dir", help="a run folder (holding run.json)")
    p.add_argument("--images", type=int, default=4, help="images in the qualitative panel (default 4)")
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("profile", help="parameters, FLOPs (thop MACs) and images/s per method and image size")
    p.add_argument(
        "--methods", default="mshnet,dnanet,tophat,wslcm", help="comma list as for run (default %(default)s)"
    )
    p.add_argument("--sizes", default="256,512", help="square image sides (default 256,512)")
    p.add_argument("--repeats", type=int, default=5, help="timed calls, median reported (default 5)")
    p.add_argument("--warmup", type=int, default=1, help="untimed calls first (default 1)")
    p.add_argument("--batch", type=int, default=1, help="images per call (default 1)")
    p.add_argument("--device", default="auto", help="deep methods: auto, cpu, cuda, cuda:N (default auto)")
    p.add_argument(
        "--max-seconds",
        type=float,
        default=None,
        metavar="S",
        help="time cap per method and size; no call starts after it (default: none)",
    )
    p.add_argument(
        "--run",
        default=None,
        metavar="RUN_DIR",
        help="a run folder: write the profile there and draw fig1_<dataset>.png with its IoU",
    )
    p.add_argument("--dataset", default=None, help="with --run: chart only this dataset of the run")
    p.add_argument("--out", default=None, help="output folder without --run (default results/profile-<time>)")
    p.set_defaults(func=cmd_profile)

    p = sub.add_parser("train", help="train a deep method with its official recipe (checkpoint + resume)")
    p.add_argument("--method", required=True, help="mshnet, dnanet, isnet, acm, alcnet, acm-basicirstd, ...")
    p.add_argument("--dataset", default="synth", help="dataset whose train split is used (default synth)")
    p.add_argument(
        "--split", default="train", help="the split trained on (default train; e.g. sirst's basicirstd-train)"
    )
    p.add_argument("--data-root", default=None, help="folder holding the datasets (default: $IRBENCH_DATA or ./data)")
    p.add_argument(
        "--loss",
        default=None,
        help="sls, sls-official, sls-s, sls-l1, sls-l2, iou, iou-batch, dice (default: the method's recipe)",
    )
    p.add_argument("--epochs", type=int, default=None, help="epochs (default: the method's recipe)")
    p.add_argument("--batch", type=int, default=None, help="batch size (default: the method's recipe)")
    p.add_argument("--crop", type=int, default=None, help="training crop side")
    p.add_argument("--base", type=int, default=None, help="rescale reference (long side in [0.5, 2] x base)")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: the method's recipe)")
    p.add_argument("--warmup", type=int, default=None, help="warm-up epochs (MSHNet: single head, plain IoU)")
    p.add_argument("--scales", type=int, default=None, help="MSHNet supervised side outputs 0-4 (Table 6)")
    p.add_argument("--out", default=None, help="output folder (default results/train/<method>_<dataset>)")
    p.add_argument("--resume", action="store_true", help="continue from <out>/last.pth")
    p.add_argument("--seed", type=int, default=0, help="seed of the split, order and augmentation (default 0)")
    p.add_argument("--val-fraction", type=float, default=0.1, help="validation share (default 0.1)")
    p.add_argument(
        "--val-every",
        type=int,
        default=1,
        metavar="N",
        help="validate and select every N epochs and after the last (default 1; a larger N saves CPU time)",
    )
    p.add_argument("--limit", type=int, default=None, help="use only the first N training images")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    p.add_argument(
        "--no-amp",
        action="store_true",
        help="no mixed precision (default: bfloat16 autocast on GPUs and CPUs that have it, else float16 on CUDA)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: the usable cores that other processes leave idle)",
    )
    p.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="channels-last memory format (default on)",
    )
    p.add_argument(
        "--data-on-device",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="keep the training images on the device and augment them there (default: on for CUDA)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="METHOD.PARAM=VALUE",
        help="detector parameter, e.g. dnanet.in_channels=1",
    )
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("reproduce", help="train and score the cells of the MSHNet paper's Tables 3-6")
    p.add_argument(
        "--table", type=int, required=True, choices=(3, 4, 5, 6), help="the paper's ablation table to reproduce"
    )
    p.add_argument("--dataset", default="synth", help="dataset to train and score on (default synth)")
    p.add_argument("--data-root", default=None, help="folder holding the datasets (default: $IRBENCH_DATA or ./data)")
    p.add_argument("--epochs", type=int, default=None, help="epochs per cell (default: each recipe's)")
    p.add_argument("--limit", type=int, default=None, help="training images per cell")
    p.add_argument("--test-limit", type=int, default=None, help="score only the first N test images")
    p.add_argument("--crop", type=int, default=None, help="training crop side (default: the recipe's)")
    p.add_argument("--base", type=int, default=None, help="rescale reference (default: the recipe's)")
    p.add_argument("--batch", type=int, default=None, help="batch size (default: the method's recipe)")
    p.add_argument("--warmup", type=int, default=None, help="warm-up epochs (default: the recipe's)")
    p.add_argument(
        "--protocol", default="irbench", choices=sorted(PROTOCOLS), help="evaluation protocol (default irbench)"
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--out", default="results/reproduce", help="output folder (default results/reproduce)")
    p.set_defaults(func=cmd_reproduce)

    p = sub.add_parser("evaluate", help="score saved prediction PNGs against ground truth")
    p.add_argument("--pred-dir", required=True, help="prediction maps named like the ground-truth ids")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--dataset", help="dataset whose ground truth to use")
    group.add_argument("--gt-dir", help="folder of ground-truth masks instead of a dataset")
    p.add_argument("--data-root", default=None, help="folder holding the datasets (default: $IRBENCH_DATA or ./data)")
    p.add_argument("--split", default="test", help="split whose ground truth is used (default test)")
    p.add_argument(
        "--protocol", default="irbench", choices=sorted(PROTOCOLS), help="evaluation protocol (default irbench)"
    )
    p.add_argument("--policy", default="fixed:0.5", help="binarisation of the maps read as /255 (default fixed:0.5)")
    p.add_argument("--json", default=None, help="also write the metrics (raw fractions) to this JSON file")
    p.add_argument(
        "--strict",
        action="store_true",
        help="a missing, unreadable or wrongly sized prediction is an error (exit 2, nothing scored) "
        "instead of being scored as an empty prediction",
    )
    p.set_defaults(func=cmd_evaluate)
    return parser


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so a run stops as it does on Ctrl-C."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise _Terminated


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = argv
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return args.func(args)
    except KeyboardInterrupt as exc:
        name, code = ("SIGTERM", 143) if isinstance(exc, _Terminated) else ("Ctrl-C", 130)
        print(f"irbench: stopped by {name}; finished work is kept (the same command resumes it)", file=sys.stderr)
        return code
    except BrokenPipeError:  # the reader of a pipe (| head) went away: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (
        UnknownMethodError,
        DatasetNotFoundError,
        RunError,
        KeyError,
        ValueError,
        TypeError,
        FileNotFoundError,
        OutputError,
        PoolStartError,
    ) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"irbench: error: {message}", file=sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
