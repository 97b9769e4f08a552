"""The shared base of deep detectors: weights resolution, preprocessing, batched padded inference.

A deep method subclasses :class:`DeepDetector`, sets ``preset``, ``stride`` and ``output``, implements
:meth:`DeepDetector.build` and registers itself with ``@register(..., kind="deep", family="deep",
defaults={**COMMON_DEFAULTS, ...})``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from methods.deep.checkpoint import load_checkpoint
from methods.deep.flops import count_macs, count_params
from methods.deep.fuse import prepare_for_inference
from methods.deep.known_checkpoints import known_training_set
from methods.deep.losses import LossFn
from methods.deep.precision import PRECISIONS, autocast, autocast_dtype
from methods.deep.presets import BASICIRSTD_STATS, basicirstd_stats, in_channels, preprocess
from methods.deep.recipe import Recipe
from methods.deep.zoo import ZooEntry, find_zoo_entry, weights_root
from methods.registry import Complexity, Detector, MissingWeightsError, TrainingSet
from methods.resample import pil_bilinear, pil_nearest_index
from methods.validation import as_float_image, check_positive_int

__all__ = ["DeepDetector", "COMMON_DEFAULTS", "WEIGHT_SUFFIXES", "weights_root", "resolve_device", "sha256_file"]

COMMON_DEFAULTS: dict[str, Any] = {
    "weights": None,
    "device": "auto",
    "batch_size": 8,
    "input_size": None,
    "resize": "antialiased",
    "precision": "auto",
}
RESIZES = ("antialiased", "pil")
WEIGHT_SUFFIXES = (".pth", ".pth.tar", ".pt", ".tar", ".pkl", ".params", ".pth.xz")
_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def resolve_device(device: str) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; other strings are passed to ``torch.device``. A CUDA device
    this machine lacks is a ``ValueError`` saying what is missing."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"parameter 'device' must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}") from None
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            build = "has no CUDA support" if torch.version.cuda is None else "sees no CUDA GPU"
            raise ValueError(f"device {device!r}: this torch ({torch.__version__}) {build}; use --device cpu or auto")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s) here")
    return resolved


def sha256_file(path: Path) -> str:
    """sha256 of a file (cached by path, size and modification time)."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _SHA_CACHE:
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        _SHA_CACHE[key] = digest.hexdigest()
    return _SHA_CACHE[key]


def _file_stamp(path: Path | None) -> tuple[int, int] | None:
    """``(size, mtime_ns)`` of ``path``, None for no path or a missing file."""
    try:
        st = path.stat() if path is not None else None
    except FileNotFoundError:
        return None
    return (st.st_size, st.st_mtime_ns) if st is not None else None


class _ForwardPath(nn.Module):
    """A network as its detector runs it (``forward_scores``), so hooks see the layers actually used."""

    def __init__(self, det: DeepDetector, net: nn.Module) -> None:
        super().__init__()
        self.det, self.net = det, net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.det.forward_scores(self.net, x)


class DeepDetector(Detector):
    """Base class of the deep detectors: float32 HxW 0-255 images in, probability maps in [0, 1] out.

    Parameters
    ----------
    weights : str or None
        Checkpoint path; ``None`` looks for ``<weights_root>/<method>/<dataset>.<suffix>`` in
        :meth:`configure`.
    device : str
        ``"auto"`` (CUDA if present), ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
    batch_size : int
        Images of the same size scored per forward pass.
    input_size : int or None
        If set, every image is resized to ``input_size`` squared and the probability map back to the image
        size. ``None``: native resolution, padded bottom/right to a multiple of ``stride`` and cropped back.
        A protocol with an evaluation size (``mshnet``: 256) sets it, with ``resize="pil"``, unless given.
    resize : str
        With ``input_size``: ``"antialiased"`` (torch's antialiased bilinear in, bilinear back) or ``"pil"``
        (the official MSHNet/DNANet test code: PIL's bilinear in, :func:`~methods.resample.pil_bilinear`; the
        map back by nearest neighbour, so a protocol's reduction to ``input_size`` recovers the network's own
        map exactly for integer size ratios).
    precision : str
        ``"float32"``, ``"bfloat16"`` (autocast) or ``"auto"``: bfloat16 for irbench's zoo weights that were
        trained and selected under bfloat16 autocast, on a device with native bfloat16; float32 otherwise
        (every other checkpoint is scored as its authors ran it).
    dataset_stats : [mean, std], optional
        Only for the ``basicirstd_gray`` preset: the normalisation statistics, overriding ``trained_on``.
    trained_on : str, optional
        Only for the ``basicirstd_gray`` preset: the training set of the checkpoint, whose statistics
        normalise the input (BasicIRSTD normalises with the training set's); default: the evaluated
        dataset (a checkpoint trained on the set it is tested on). LESPS ``*_full`` checkpoints: ``sirst3``.

    Notes
    -----
    The parameters above are common to every deep method (``COMMON_DEFAULTS``). Subclasses set the class
    attributes ``preset`` (see :mod:`methods.deep.presets`), ``stride`` and
    ``output`` (``"logits"``: sigmoid applied; ``"probs"``: clamped to [0, 1]).
    """

    batched = True
    preset: str = "imagenet_rgb"
    stride: int = 32
    output: str = "logits"
    recipe: ClassVar[Recipe | None] = None  # the official training settings; None: not trainable here

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        check_positive_int(params.get("batch_size", 8), "batch_size")
        if params.get("input_size") is not None:
            check_positive_int(params["input_size"], "input_size")
        if params.get("resize", "antialiased") not in RESIZES:
            raise ValueError(f"parameter 'resize' must be one of {', '.join(RESIZES)}, got {params['resize']!r}")
        self.device = resolve_device(params.get("device", "auto"))
        if params.get("precision", "auto") not in PRECISIONS:
            raise ValueError(
                f"parameter 'precision' must be one of {', '.join(PRECISIONS)}, got {params['precision']!r}"
            )
        if self.output not in ("logits", "probs"):
            raise ValueError(f"{type(self).__name__}.output must be 'logits' or 'probs', got {self.output!r}")
        in_channels(self.preset)  # validates the preset
        trained_on = params.get("trained_on")
        if trained_on is not None and trained_on not in BASICIRSTD_STATS:
            raise ValueError(
                f"parameter 'trained_on' must name a training set with known statistics "
                f"({', '.join(BASICIRSTD_STATS)}), got {trained_on!r}; or pass dataset_stats=[mean, std]"
            )
        self.dataset: str | None = None
        self.zoo_entry: ZooEntry | None = None
        self.weights_path: Path | None = Path(params["weights"]).expanduser() if params.get("weights") else None
        self._net: nn.Module | None = None
        self._net_stamp: tuple[int, int] | None = None  # (size, mtime) of the weights file self._net was loaded from

    # ----------------------------------------------------------------- subclass hooks
    def build(self) -> nn.Module:
        """Construct the network from ``self.params`` (random weights)."""
        raise NotImplementedError

    def forward_scores(self, net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """Run the network on a preprocessed, padded ``(N, C, H, W)`` batch; return ``(N, 1, H, W)``."""
        return net(x)

    def load_weights(self, net: nn.Module, path: Path) -> None:
        """Load the checkpoint ``path`` into ``net`` (strict)."""
        load_checkpoint(net, path, strict=True)

    def prepare_training(self, net: nn.Module, recipe: Recipe) -> None:
        """Adjust a freshly built ``net`` for training with ``recipe`` (default: nothing)."""

    def training_loss(
        self, net: nn.Module, x: torch.Tensor, target: torch.Tensor, loss: LossFn, warm: bool, recipe: Recipe
    ) -> torch.Tensor:
        """Forward the preprocessed batch ``x`` in training mode and return the supervised loss against
        ``target`` (default: ``loss`` on the probabilities of the single output). A model with a critic
        (:meth:`build_critic`) also receives it, as the keyword ``critic``, to add its adversarial terms."""
        return loss(self.probabilities(net(x)), target, warm)

    def build_critic(self) -> nn.Module | None:
        """An adversarial critic trained beside the network, or ``None`` (the default: no adversarial training).

        The trainer gives it its own Adam (``recipe.critic_lr``, ``recipe.betas``), steps it on
        :meth:`critic_loss` before each network step, keeps it in the resume state and never saves it
        with the weights: detection does not use it.
        """
        return None

    def critic_loss(self, net: nn.Module, critic: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The critic's loss on a batch, the network's outputs detached (models with :meth:`build_critic`)."""
        raise NotImplementedError(f"{type(self).__name__} builds a critic but defines no critic_loss")

    # ----------------------------------------------------------------- configuration
    @property
    def method_name(self) -> str:
        """The registered name this detector was created under (:func:`~methods.registry.create`)."""
        return self.name or type(self).__name__.lower()

    def default_weight_candidates(self, dataset: str) -> list[Path]:
        """The default locations tried for ``dataset``, in order."""
        folder = weights_root() / self.method_name
        return [folder / f"{dataset}{suffix}" for suffix in WEIGHT_SUFFIXES]

    def configure(self, dataset: str) -> None:
        """Pick the weights for ``dataset`` (explicit ``weights`` first, else the default location).

        Raises
        ------
        MissingWeightsError
            When no file exists; the message names the paths tried and the ``--weights`` option.
        NotConfigurableError
            ``basicirstd_gray`` preset on a dataset without BasicIRSTD constants and no ``dataset_stats``.
        """
        self.dataset = dataset
        explicit = self.params.get("weights")
        if explicit:
            path = Path(explicit).expanduser()
            if not path.is_file():
                raise MissingWeightsError(
                    f"{self.method_name}: weights file {path} does not exist (from --weights {self.method_name}=PATH)"
                )
            self.zoo_entry = None
        else:
            tried = self.default_weight_candidates(dataset)
            found = [p for p in tried if p.is_file()]
            self.zoo_entry = None if found else self._zoo_entry(dataset)
            if not found and self.zoo_entry is None:
                raise MissingWeightsError(
                    f"{self.method_name}: no weights for {dataset}; tried {', '.join(str(p) for p in tried)} "
                    f"and irbench's zoo. Pass --weights {self.method_name}=PATH or put a checkpoint at one of "
                    f"these paths (root from $IRBENCH_WEIGHTS)."
                )
            path = found[0] if found else self.zoo_entry.path  # type: ignore[union-attr]
        if self.preset == "basicirstd_gray":
            self._stats()  # fail early on unknown stats
        if path != self.weights_path or self._net is None:
            self.weights_path = path
            self._net = None  # (re)built lazily with these weights

    def _zoo_entry(self, dataset: str) -> ZooEntry | None:
        """The zoo weights for ``dataset`` when they fit this detector's parameters; their file is checked
        against the manifest's sha256 (a damaged install is an error, not a silent fallback)."""
        entry = find_zoo_entry(self.method_name, dataset)
        if entry is None or any(self.params.get(k) != v for k, v in entry.extra.get("method_params", {}).items()):
            return None
        digest = sha256_file(entry.path) if entry.path.is_file() else "missing"
        if digest != entry.sha256:
            raise ValueError(
                f"{self.method_name}: zoo weights {entry.path} have sha256 {digest}, the manifest says "
                f"{entry.sha256}; reinstall irbench"
            )
        return entry

    def training_set(self) -> TrainingSet | None:
        """The training images of the configured weights: the hashes a zoo entry records, else a released
        checkpoint's documented set (by sha256), else ``trained_on``'s train split, else unknown."""
        if self.zoo_entry is not None and self.zoo_entry.extra.get("train_images"):
            recorded = self.zoo_entry.extra["train_images"]
            return TrainingSet(
                f"irbench zoo: {self.zoo_entry.dataset} train split ({len(recorded['hashes'])} images)",
                hashes=frozenset(recorded["hashes"]),
            )
        if self.weights_path is not None and self.weights_path.is_file():
            known = known_training_set(sha256_file(self.weights_path))
            if known is not None:
                return known
        trained_on = self.params.get("trained_on")
        if trained_on:
            return TrainingSet(f"{trained_on} train (trained_on)", dataset=trained_on, split="train")
        return None

    def use_network(self, net: nn.Module) -> None:
        """Install a network (e.g. randomly initialised, for profiling or tests); it is prepared for
        inference in place (eval mode, BN folded, device, channels_last on CPU)."""
        self._net = self._prepare(net)
        self.weights_path = self._net_stamp = None

    def use_random_weights(self, seed: int = 0) -> None:
        """Install a freshly built network with ``torch.manual_seed(seed)`` initialisation."""
        torch.manual_seed(seed)
        self.use_network(self.build())

    def complexity(self, size: int) -> Complexity:
        """Parameters and MACs of the forward path (:meth:`forward_scores`) at the side the network sees for
        a ``size`` x ``size`` image (``input_size``, else ``size``, padded to a multiple of ``stride``)."""
        net = self.build()
        side = self.params.get("input_size") or size
        side += (-side) % self.stride
        path = _ForwardPath(self, net)
        return Complexity(count_params(net), count_macs(path, (1, in_channels(self.preset), side, side)))

    @property
    def network(self) -> nn.Module:
        """The evaluation-ready network, built and loaded on first use, and again when its weights file has
        changed since (a detector kept across runs in one process while the file was rewritten)."""
        stamp = _file_stamp(self.weights_path)
        if self._net is None or stamp != self._net_stamp:
            if self.weights_path is None:
                raise MissingWeightsError(
                    f"{self.method_name}: no weights; call configure(dataset) or pass weights=PATH"
                )
            net = self.build()
            self.load_weights(net, self.weights_path)
            self._net, self._net_stamp = self._prepare(net), stamp
        return self._net

    def _prepare(self, net: nn.Module) -> nn.Module:
        return prepare_for_inference(net, self.device)

    def provenance(self) -> dict[str, Any]:
        """Weights path and sha256, device and preprocessing (with the normalisation statistics of the
        ``basicirstd_gray`` preset), recorded in runs and cache keys."""
        prov: dict[str, Any] = {
            "device": self.device.type,
            "precision": self.precision,
            "preset": self.preset,
            "stride": self.stride,
        }
        if self.params.get("input_size") is not None:
            prov["resize"] = (
                "PIL bilinear in, nearest back (official test code)"
                if self.params.get("resize") == "pil"
                else "bilinear, antialiased"
            )
        stats = self._stats() if self.dataset is not None else None
        if stats is not None:
            prov["normalisation"] = {"mean": stats[0], "std": stats[1]}
        if self.weights_path is not None and self.weights_path.is_file():
            prov["weights"] = str(self.weights_path)
            prov["weights_sha256"] = sha256_file(self.weights_path)
            if self.zoo_entry is not None:
                prov["zoo"] = self.zoo_entry.record()
        return prov

    # ----------------------------------------------------------------- inference
    @property
    def precision(self) -> str:
        """``"float32"`` or ``"bfloat16"``: the ``precision`` parameter with ``auto`` resolved."""
        chosen = self.params.get("precision", "auto")
        if chosen != "auto":
            return chosen
        zoo_bf16 = self.zoo_entry is not None and self.zoo_entry.extra.get("amp") == "bfloat16"
        return "bfloat16" if zoo_bf16 and autocast_dtype(self.device) == torch.bfloat16 else "float32"

    def _stats(self) -> tuple[float, float] | None:
        """The ``basicirstd_gray`` input statistics: ``dataset_stats``, else those of ``trained_on``, else
        those the zoo weights in use were trained with, else those of the evaluated dataset."""
        if self.preset != "basicirstd_gray":
            return None
        explicit = self.params.get("dataset_stats") or self.params.get("trained_on")
        if not explicit and self.zoo_entry is not None and self.zoo_entry.stats() is not None:
            return self.zoo_entry.stats()
        return basicirstd_stats(self.params.get("trained_on") or self.dataset, self.params.get("dataset_stats"))

    def probabilities(self, output: torch.Tensor) -> torch.Tensor:
        """The network's ``output`` as float probabilities: sigmoid of logits, or probabilities clamped to
        [0, 1]."""
        output = output.float()
        return torch.sigmoid(output) if self.output == "logits" else output.clamp(0.0, 1.0)

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """A ``(N, 1, H, W)`` 0-255 batch normalised by the model's preset (its training input too)."""
        return preprocess(x, self.preset, self._stats())

    def forward_batch(self, net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """Probability maps ``(N, 1, H, W)`` of a ``(N, 1, H, W)`` 0-255 batch: resized to ``input_size``
        squared when set, normalised, padded bottom/right to a multiple of ``stride``, forwarded, cropped,
        turned into probabilities and resized back. Inference and validation both use it."""
        h, w = x.shape[-2:]
        size = self.params.get("input_size")
        official = self.params.get("resize") == "pil"
        if size is not None and official:
            resized = [pil_bilinear(im, (size, size)) for im in x[:, 0].cpu().numpy()]
            x = torch.from_numpy(np.stack(resized))[:, None].to(x.device)
        elif size is not None:  # antialiased, within 1 grey level of PIL's bilinear
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        x = self.preprocess(x)
        xh, xw = x.shape[-2:]
        ph, pw = (-xh) % self.stride, (-xw) % self.stride
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph))  # zeros after normalisation, bottom and right
        with autocast(self.device, torch.bfloat16 if self.precision == "bfloat16" else None):
            scores = self.forward_scores(net, x)
        prob = self.probabilities(scores[..., :xh, :xw])
        if size is not None and official:
            rows, cols = (torch.from_numpy(pil_nearest_index(size, n)).to(prob.device) for n in (h, w))
            prob = prob[..., rows[:, None], cols[None, :]]
        elif size is not None:
            prob = F.interpolate(prob, size=(h, w), mode="bilinear", align_corners=False)
        return prob

    @classmethod
    def protocol_params(cls, eval_size: int | None) -> dict[str, Any]:
        """Under a protocol that evaluates at ``eval_size`` squared, the network runs on its input resized to
        it as the official test code does (PIL bilinear)."""
        return {} if eval_size is None else {"input_size": eval_size, "resize": "pil"}

    def _score(self, batch: np.ndarray) -> np.ndarray:
        """Probability maps of a ``(N, H, W)`` batch of same-size images."""
        x = torch.from_numpy(batch).to(self.device).unsqueeze(1)
        prob = self.forward_batch(self.network, x)
        return prob[:, 0].cpu().numpy().astype(np.float32, copy=False)

    def detect_batch(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """Score a list of float32 HxW images (0-255) into probability maps in [0, 1].

        Same-size images are grouped into batches of ``batch_size``; the output order equals the input
        order.
        """
        arrays = [as_float_image(im, self.method_name) for im in images]
        out: list[np.ndarray | None] = [None] * len(arrays)
        groups: dict[tuple[int, int], list[int]] = {}
        for i, arr in enumerate(arrays):
            groups.setdefault(arr.shape, []).append(i)
        bs = int(self.params.get("batch_size", 8))
        with torch.inference_mode():
            for idx in groups.values():
                for start in range(0, len(idx), bs):
                    chunk = idx[start : start + bs]
                    probs = self._score(np.stack([arrays[i] for i in chunk]))
                    for i, p in zip(chunk, probs):
                        out[i] = p
        return out  # type: ignore[return-value]
