"""Training throughput on CPU: irbench's training step vs a plain eager loop of the same model, loss and batch.

Usage: python benchmarks/bench_training.py [--method mshnet] [--loss sls] [--batch 4] [--crop 128]
       [--steps 5] [--repeats 3] [--threads 1]

In one process, on one seeded synthetic batch (``synth`` training images, augmented once):

* ``plain``: a textbook loop: normalised NCHW tensor prepared once, ``optimizer.zero_grad()``, forward,
  the model's training loss (the same function), ``backward()``, ``step()``;
* ``irbench``: :meth:`benchmark.training.loop.Trainer.step` from the float32 numpy batch (preprocessing,
  ``zero_grad(set_to_none=True)``, the finite-loss check and the optimiser step included), contiguous;
* ``irbench+cl``: the same in channels-last memory format (``--channels-last`` of ``irbench train``).

Each variant runs one untimed step, then ``--repeats`` timings of ``--steps`` steps, interleaved across the
variants; the median images/s is printed with the ratio to ``plain``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from benchmark.training.data import Augment, TrainingData
from benchmark.training.loop import Trainer
from benchmark.training.recipes import get_recipe


def _images_per_s(
    steps_by_name: dict[str, Callable[[], object]], steps: int, repeats: int, batch: int
) -> dict[str, float]:
    """Median images/s of each step function; the repeats are interleaved across the variants so that
    load from other processes on a shared machine falls on all of them alike."""
    for step in steps_by_name.values():
        step()  # warm-up: oneDNN primitives, allocator
    rates: dict[str, list[float]] = {name: [] for name in steps_by_name}
    for _ in range(repeats):
        for name, step in steps_by_name.items():
            start = time.perf_counter()
            for _ in range(steps):
                step()
            rates[name].append(steps * batch / (time.perf_counter() - start))
    return {name: statistics.median(r) for name, r in rates.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", default="mshnet")
    parser.add_argument("--loss", default=None, help="default: the method's recipe")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    recipe = get_recipe(args.method, loss=args.loss, batch=args.batch, crop=args.crop)
    data = TrainingData("synth", limit=args.batch + 1)
    images, masks = data.batch(data.train_ids[: args.batch], Augment(crop=args.crop, base=args.crop), 0, 0, 0)

    steps: dict[str, Callable[[], object]] = {}
    torch.manual_seed(0)
    plain = Trainer(args.method, recipe, "synth", device="cpu")  # the same net and optimiser construction
    net, opt = plain.net, plain.optimizer
    x = plain.inputs(images).contiguous()
    y = torch.from_numpy(masks).unsqueeze(1)

    def plain_step() -> float:
        net.train()
        opt.zero_grad()
        loss = plain.det.training_loss(net, x, y, plain.loss_fn, False, recipe)
        loss.backward()
        opt.step()
        return loss.item()

    steps["plain"] = plain_step
    for name, channels_last in (("irbench", False), ("irbench+cl", True)):
        torch.manual_seed(0)
        trainer = Trainer(args.method, recipe, "synth", device="cpu", channels_last=channels_last)
        steps[name] = lambda t=trainer: t.step(images, masks, False)
    results = _images_per_s(steps, args.steps, args.repeats, args.batch)
    print(
        f"{args.method} loss={recipe.loss} batch={args.batch} crop={args.crop} threads={args.threads} "
        f"torch {torch.__version__}"
    )
    for name in ("plain", "irbench", "irbench+cl"):
        print(f"{name:11s} {results[name]:8.3f} images/s  x{results[name] / results['plain']:.3f} vs plain")


if __name__ == "__main__":
    main()
