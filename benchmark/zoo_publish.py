"""Add a finished ``irbench train`` run to the model zoo (a maintainer's step; writes into the package).

    python -m benchmark.zoo_publish results/train/mshnet_nudt-sirst --data-root DATA
    python -m benchmark.zoo_publish --rescore --data-root DATA     # every entry's test figures again

Converts ``best.pth`` to an fp16 state_dict ``<method>-<dataset>.pth`` (in ``methods/deep/zoo_weights/`` when it
is at most 2 MB, else in the user's zoo cache, ``<weights_root>/zoo/``: git keeps no larger file), scores
it on the dataset's test split through :func:`benchmark.runner.run` (``irbench`` protocol, the method's
default policy, in the precision a run gives the entry: bfloat16 autocast for weights trained under it) and
writes its manifest entry (:mod:`methods.deep.zoo`). ``--rescore`` measures the published entries' test
figures again with the current code, without touching their weights. An existing entry is replaced only
when the new weights have a higher test IoU: every committed version stays in the history. ``epochs`` is the
number of epochs the run completed (``planned_epochs`` the number it was started with, when it was stopped
early); ``best_epoch`` the one whose weights are published. Limits: 10 MB a
file, 60 MB for the files shipped in the package.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

from benchmark.leakage import HASH_NOTE
from benchmark.record import RunRecord
from benchmark.runner import RunConfig, run
from benchmark.training.data import TrainingData
from methods.deep.base import sha256_file
from methods.deep.zoo import MANIFEST, MAX_SHIPPED_BYTES, ZOO_DIR, zoo_cache
from methods.registry import create

__all__ = ["fp16_state_dict", "publish", "rescore"]

MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_ZOO_BYTES = 60 * 1024 * 1024


FP16_MAX = float(torch.finfo(torch.float16).max)


def fp16_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The ``state_dict`` of an ``irbench train`` checkpoint with its floating tensors in float16, except those
    with values beyond float16's range (e.g. a BatchNorm running variance of 1.9e6), kept in float32."""
    state = torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
    return {k: v.half() if v.is_floating_point() and v.abs().max() <= FP16_MAX else v for k, v in state.items()}


def _score(
    method: str, dataset: str, data_root: str | None, params: dict[str, Any], limit: int | None
) -> dict[str, Any]:
    """Test-split metrics of ``method`` with ``params`` (weights included) under the ``irbench`` protocol."""
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = run(
            RunConfig(
                methods=[method],
                datasets=[dataset],
                data_root=data_root,
                params={method: params},
                out=Path(tmp),
                name="score",
                jobs=1,
                limit=limit,
            ),
            log=lambda m: print(m, file=sys.stderr),
        )
        record = RunRecord.read(run_dir)
    cell = record.cell(method, dataset)
    if cell is None or not cell.ok or cell.metrics is None or cell.policy is None:
        raise RuntimeError(f"scoring {method} on {dataset} failed: {cell.status if cell else 'no cell'}")
    m = cell.metrics
    return {
        "protocol": record.protocol["name"],
        "policy": cell.policy.name,
        "precision": cell.provenance.get("precision", "float32"),
        "split": "test",
        "n_images": m["n_images"],
        **{k: m[k] for k in ("iou", "niou", "pd", "fa", "f1")},
    }


def _scoring_params(entry: dict[str, Any], weights: Path) -> dict[str, Any]:
    """Detector parameters that score ``weights`` as a run scores the zoo entry ``entry``: its method
    parameters, normalisation statistics and precision."""
    norm = entry["normalisation"]
    return {
        **entry["method_params"],
        **({"dataset_stats": [norm["mean"], norm["std"]]} if "mean" in norm else {}),
        "precision": "bfloat16" if entry.get("amp") == "bfloat16" else "float32",
        "weights": str(weights),
    }


def _normalisation(method: str, dataset: str, params: dict[str, Any]) -> dict[str, Any]:
    """The input normalisation of a run whose config.json predates its recording (the detector's preset)."""
    det = create(method, **params)
    det.dataset = dataset
    return {"preset": det.preset, **det.provenance().get("normalisation", {})}


def _train_images(config: dict[str, Any], data_root: str | None) -> dict[str, Any]:
    """The training-image hashes of a run whose config.json predates their recording (same carve of ids)."""
    data = TrainingData(config["dataset"], data_root, config["val_fraction"], config["limit"], config["seed"])
    return {"hash": HASH_NOTE, "hashes": data.image_hashes()}


def publish(
    train_dir: Path,
    data_root: str | None = None,
    zoo_dir: Path = ZOO_DIR,
    limit: int | None = None,
    cache_dir: Path | None = None,
) -> dict[str, Any]:
    """Publish ``train_dir`` into ``zoo_dir`` (its weights into ``cache_dir``, default :func:`zoo_cache`, when
    over ``MAX_SHIPPED_BYTES``); returns the manifest entry written. ``limit`` scores only the first N test
    images (tests; the entry records how many were scored).

    Raises
    ------
    ValueError
        When the file or the zoo would exceed its size limit, or an entry for the same method and dataset
        has a test IoU at least as high.
    """
    config = json.loads((train_dir / "config.json").read_text())
    history = json.loads((train_dir / "history.json").read_text())
    best = torch.load(train_dir / "best.pth", map_location="cpu", weights_only=True)
    method, dataset = config["method"], config["dataset"]
    if not config.get("command"):
        raise ValueError(f"{train_dir}/config.json records no command; train it again with this irbench")
    norm = config.get("normalisation") or _normalisation(method, dataset, config["method_params"])
    method_params = {k: v for k, v in config["method_params"].items() if k != "dataset_stats"}
    zoo_dir.mkdir(parents=True, exist_ok=True)
    name = f"{method}-{dataset}.pth"
    tmp = zoo_dir / f".{name}.tmp"
    torch.save(fp16_state_dict(train_dir / "best.pth"), tmp)
    try:
        size = tmp.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ValueError(f"{name}: {size / 2**20:.1f} MB in fp16, over the zoo's 10 MB per file")
        scoring = {"normalisation": norm, "method_params": method_params, "amp": config.get("amp")}
        test = _score(method, dataset, data_root, _scoring_params(scoring, tmp), limit)
        manifest_path = zoo_dir / MANIFEST
        doc = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {"entries": []}
        old = next((e for e in doc["entries"] if e["method"] == method and e["dataset"] == dataset), None)
        if old is not None and old["test"]["iou"] >= test["iou"]:
            raise ValueError(
                f"{method} on {dataset}: the zoo's weights have test IoU {old['test']['iou']:.4f}, these "
                f"{test['iou']:.4f}; a zoo file is replaced only when its numbers improve"
            )
        dest = zoo_dir if size <= MAX_SHIPPED_BYTES else cache_dir or zoo_cache()
        shipped = sum(e["bytes"] for e in doc["entries"] if e is not old and (zoo_dir / e["file"]).is_file())
        shipped += size if dest == zoo_dir else 0
        if shipped > MAX_ZOO_BYTES:
            raise ValueError(f"the package would ship {shipped / 2**20:.1f} MB of zoo weights, over its 60 MB")
        entry = {
            "method": method,
            "dataset": dataset,
            "file": name,
            "sha256": sha256_file(tmp),
            "bytes": size,
            "command": config["command"],
            "commit": config.get("commit"),
            "epochs": len(history),
            **({"planned_epochs": config["epochs"]} if len(history) < config["epochs"] else {}),
            "best_epoch": best["epoch"],
            "device": config["device"],
            "amp": config.get("amp"),
            "wall_s": round(sum(h["seconds"] for h in history), 1),
            "normalisation": norm,
            "method_params": method_params,
            "test": test,
            "train_images": config.get("train_images") or _train_images(config, data_root),
        }
        dest.mkdir(parents=True, exist_ok=True)
        shutil.move(tmp, dest / name)
        if dest != zoo_dir:
            (zoo_dir / name).unlink(missing_ok=True)  # an older shipped file would shadow the new one
    finally:
        tmp.unlink(missing_ok=True)
    doc["entries"] = sorted(
        [e for e in doc["entries"] if e is not old] + [entry], key=lambda e: (e["method"], e["dataset"])
    )
    manifest_path.write_text(json.dumps(doc, indent=1) + "\n")
    return entry


def rescore(
    data_root: str | None = None, zoo_dir: Path = ZOO_DIR, limit: int | None = None, cache_dir: Path | None = None
) -> list[dict[str, Any]]:
    """Score every installed entry of ``zoo_dir`` (its file there or in ``cache_dir``, default
    :func:`zoo_cache`) on its test split again and rewrite its ``test`` figures (the weights, and everything
    else the entry records, stay); entries whose file is in neither place keep theirs. Returns the entries."""
    manifest_path = zoo_dir / MANIFEST
    doc = json.loads(manifest_path.read_text())
    for entry in doc["entries"]:
        weights = zoo_dir / entry["file"]
        weights = weights if weights.is_file() else (cache_dir or zoo_cache()) / entry["file"]
        if not weights.is_file():
            print(f"{entry['file']} is not installed; its test figures stay", file=sys.stderr)
            continue
        entry["test"] = _score(entry["method"], entry["dataset"], data_root, _scoring_params(entry, weights), limit)
        manifest_path.write_text(json.dumps(doc, indent=1) + "\n")
    return doc["entries"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "train_dir", type=Path, nargs="?", help="an irbench train output folder (config.json, best.pth)"
    )
    parser.add_argument("--rescore", action="store_true", help="score every published entry again instead")
    parser.add_argument("--data-root", default=None, help="folder holding the datasets")
    parser.add_argument("--zoo-dir", type=Path, default=ZOO_DIR, help=f"zoo folder (default {ZOO_DIR})")
    parser.add_argument("--limit", type=int, default=None, help="score only the first N test images (smoke runs)")
    args = parser.parse_args(argv)
    if args.rescore == (args.train_dir is not None):
        parser.error("give either a training folder or --rescore")
    if args.rescore:
        print(
            json.dumps(
                [
                    {k: e[k] for k in ("method", "dataset", "test")}
                    for e in rescore(args.data_root, args.zoo_dir, args.limit)
                ],
                indent=1,
            )
        )
        return 0
    entry = publish(args.train_dir, args.data_root, args.zoo_dir, args.limit)
    print(json.dumps(entry, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
