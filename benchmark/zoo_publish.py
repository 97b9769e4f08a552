"""Add a finished ``irbench train`` run to the model zoo (a maintainer's step; writes into the package).

    python -m benchmark.zoo_publish results/train/mshnet_nudt-sirst --data-root DATA
    python -m benchmark.zoo_publish --rescore --data-root DATA     # every entry's test figures again

Converts ``best.pth`` to an fp16 state_dict, scores it on the dataset's test split through
:func:`benchmark.runner.run` (``irbench`` protocol, the method's default policy, in the precision a run gives
the entry: bfloat16 autocast for weights trained under it), and ships it in ``methods/deep/zoo_weights/`` in
the first form of at most ``MAX_SHIPPED_BYTES`` (git keeps no larger file): ``<method>-<dataset>.pth``, else
``.pth.xz`` packed losslessly, else packed with its weights quantised to the most bits (8 down to 2) that fit
(:mod:`methods.deep.packed_weights`; the quantised file is scored too, and its figures are the entry's
``test``, the fp16 ones its ``fp16.test``). It writes the manifest entry (:mod:`methods.deep.zoo`).
``--rescore`` measures the published entries' test figures again with the current code, without touching
their weights. An existing entry is replaced only when the shipped weights have a higher test IoU: every
committed version stays in the history. ``epochs`` is the number of epochs the run completed
(``planned_epochs`` the number it was started with, when it was stopped early); ``best_epoch`` the one whose
weights are published. The package ships at most 60 MB of zoo weights.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
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
from methods.deep.packed_weights import pack
from methods.deep.zoo import MANIFEST, MAX_SHIPPED_BYTES, ZOO_DIR
from methods.registry import create

__all__ = ["fp16_state_dict", "publish", "rescore", "shipped_form"]

MAX_ZOO_BYTES = 60 * 1024 * 1024


FP16_MAX = float(torch.finfo(torch.float16).max)


def fp16_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The ``state_dict`` of an ``irbench train`` checkpoint with its floating tensors in float16, except those
    with values beyond float16's range (e.g. a BatchNorm running variance of 1.9e6), kept in float32."""
    state = torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
    return {k: v.half() if v.is_floating_point() and v.abs().max() <= FP16_MAX else v for k, v in state.items()}


def _saved(state: dict[str, torch.Tensor]) -> bytes:
    """The bytes of ``torch.save(state)`` (the same whatever file they are written to)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def shipped_form(state: dict[str, torch.Tensor], max_bytes: int) -> tuple[str, bytes, int | None]:
    """``(suffix, data, bits)`` of the first form of the fp16 ``state`` of at most ``max_bytes``: ``.pth``
    (torch.save), ``.pth.xz`` lossless (``bits`` None), ``.pth.xz`` quantised to 8, 7, ... 2 bits.

    Raises
    ------
    ValueError
        When even 2-bit weights exceed ``max_bytes``.
    """
    plain = _saved(state)
    if len(plain) <= max_bytes:
        return ".pth", plain, None
    for bits in (None, 8, 7, 6, 5, 4, 3, 2):
        data = pack(state, bits)
        if len(data) <= max_bytes:
            return ".pth.xz", data, bits
    raise ValueError(f"the weights exceed {max_bytes} bytes even quantised to 2 bits ({len(data)} bytes)")


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
    data = TrainingData(
        config["dataset"],
        data_root,
        config["val_fraction"],
        config["limit"],
        config["seed"],
        config.get("split", "train"),
    )
    return {"hash": HASH_NOTE, "hashes": data.image_hashes()}


def publish(
    train_dir: Path,
    data_root: str | None = None,
    zoo_dir: Path = ZOO_DIR,
    limit: int | None = None,
) -> dict[str, Any]:
    """Publish ``train_dir`` into ``zoo_dir``; returns the manifest entry written. ``limit`` scores only the
    first N test images (tests; the entry records how many were scored).

    Raises
    ------
    ValueError
        When the weights or the zoo would exceed its size limit, or an entry for the same method and dataset
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
    scoring = {
        "method": method,
        "dataset": dataset,
        "normalisation": norm,
        "method_params": method_params,
        "amp": config.get("amp"),
    }
    manifest_path = zoo_dir / MANIFEST
    doc = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {"entries": []}
    old = next((e for e in doc["entries"] if e["method"] == method and e["dataset"] == dataset), None)
    state = fp16_state_dict(train_dir / "best.pth")
    suffix, data, bits = shipped_form(state, MAX_SHIPPED_BYTES)
    total = sum(e["bytes"] for e in doc["entries"] if e is not old) + len(data)
    if total > MAX_ZOO_BYTES:
        raise ValueError(f"the package would ship {total / 2**20:.1f} MB of zoo weights, over its 60 MB")
    zoo_dir.mkdir(parents=True, exist_ok=True)
    shipped = _ship(state, (f"{method}-{dataset}{suffix}", data, bits), scoring, data_root, zoo_dir, limit, old)
    entry = {
        "method": method,
        "dataset": dataset,
        **shipped,
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
        "train_split": config.get("split", "train"),
        "train_images": config.get("train_images") or _train_images(config, data_root),
    }
    doc["entries"] = sorted(
        [e for e in doc["entries"] if e is not old] + [entry], key=lambda e: (e["method"], e["dataset"])
    )
    manifest_path.write_text(json.dumps(doc, indent=1) + "\n")
    return entry


def _ship(
    state: dict[str, torch.Tensor],
    form: tuple[str, bytes, int | None],
    scoring: dict[str, Any],
    data_root: str | None,
    zoo_dir: Path,
    limit: int | None,
    old: dict[str, Any] | None,
) -> dict[str, Any]:
    """Score ``form = (file name, data, bits)``, the shipped form of the fp16 ``state``, and write it into
    ``zoo_dir``; returns the entry's ``file``, ``sha256``, ``bytes``, ``bits``, ``test`` and, for quantised
    weights, ``fp16`` fields. Refuses (ValueError) weights whose test IoU does not beat ``old``'s."""
    name, data, bits = form
    tmp = zoo_dir / f".{name}.tmp"
    try:
        fp16 = None
        if bits is not None:
            tmp.write_bytes(_saved(state))
            fp16 = {"sha256": sha256_file(tmp), "bytes": tmp.stat().st_size}
            fp16["test"] = _score_entry(scoring, tmp, data_root, limit)
        tmp.write_bytes(data)
        test = _score_entry(scoring, tmp, data_root, limit)
        if old is not None and old["test"]["iou"] >= test["iou"]:
            raise ValueError(
                f"{old['method']} on {old['dataset']}: the zoo's weights have test IoU {old['test']['iou']:.4f}, "
                f"these {test['iou']:.4f}; a zoo file is replaced only when its numbers improve"
            )
        if old is not None:
            (zoo_dir / old["file"]).unlink(missing_ok=True)
        tmp.rename(zoo_dir / name)
    finally:
        tmp.unlink(missing_ok=True)
    return {
        "file": name,
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "bits": bits,
        "test": test,
        **({"fp16": fp16} if fp16 else {}),
    }


def _score_entry(entry: dict[str, Any], weights: Path, data_root: str | None, limit: int | None) -> dict[str, Any]:
    """:func:`_score` of the weights file ``weights`` as a run scores the zoo entry ``entry``."""
    return _score(entry["method"], entry["dataset"], data_root, _scoring_params(entry, weights), limit)


def rescore(data_root: str | None = None, zoo_dir: Path = ZOO_DIR, limit: int | None = None) -> list[dict[str, Any]]:
    """Score every entry of ``zoo_dir`` on its test split again and rewrite its ``test`` figures (the weights,
    and everything else the entry records, ``fp16`` included, stay). Returns the entries."""
    manifest_path = zoo_dir / MANIFEST
    doc = json.loads(manifest_path.read_text())
    for entry in doc["entries"]:
        entry["test"] = _score_entry(entry, zoo_dir / entry["file"], data_root, limit)
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
