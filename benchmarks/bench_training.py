"""Training throughput on CPU: ``irbench train``'s step today (bfloat16 autocast, channels-last, free-core
threads) against the float32 contiguous step it replaced, a textbook loop, and each change alone.

Usage: python benchmarks/bench_training.py [--method mshnet] [--loss sls] [--batch 4] [--crop 128]
       [--steps 5] [--repeats 3] [--threads 1] [--loss-steps 200] [--no-oversubscription]

In one process, on seeded synthetic batches (``synth`` training images, augmented):

1. **Throughput** at ``--threads`` threads, interleaved repeats, median images/s and the ratio to ``fp32``
   (the former default step: float32, contiguous): ``plain`` (a textbook loop on a tensor prepared once),
   ``fp32``, ``cl`` (channels-last), ``bf16`` (bfloat16 autocast; loss and optimiser in float32),
   ``bf16+cl`` (today's default). bfloat16 needs a CPU with native bfloat16 (AVX512-BF16/AMX).
2. **Loss agreement**: ``--loss-steps`` steps of ``fp32`` and of ``bf16+cl`` from the same initial weights
   over the same batch sequence; the mean loss of the last 20 steps of each and their relative difference.
3. **Oversubscription**: with a spinning process holding one core, the default thread count
   (:func:`benchmark.backends.free_cores`) against one thread per usable core (torch's own default).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

from benchmark.backends import free_cores, usable_cores
from benchmark.training.data import Augment, TrainingData
from benchmark.training.loop import Trainer
from benchmark.training.recipes import Recipe, get_recipe

VARIANTS = {"fp32": (False, False), "cl": (False, True), "bf16": (True, False), "bf16+cl": (True, True)}


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


def _trainer(method: str, recipe: Recipe, variant: str) -> Trainer:
    amp, channels_last = VARIANTS[variant]
    torch.manual_seed(0)
    return Trainer(method, recipe, "synth", device="cpu", amp=amp, channels_last=channels_last)


def _spin() -> None:
    while True:
        pass


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", default="mshnet")
    parser.add_argument("--loss", default=None, help="default: the method's recipe")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--loss-steps", type=int, default=200, help="steps of the loss agreement (0: skip)")
    parser.add_argument("--no-oversubscription", action="store_true", help="skip the busy-core comparison")
    args = parser.parse_args(argv)
    recipe = get_recipe(args.method, loss=args.loss, batch=args.batch, crop=args.crop)
    data = TrainingData("synth", limit=64)
    augment = Augment(crop=args.crop, base=args.crop)

    def batch(k: int) -> tuple[np.ndarray, np.ndarray]:
        start = (k * args.batch) % (len(data.train_ids) - args.batch)
        return data.batch(data.train_ids[start : start + args.batch], augment, 0, k, 0)

    images, masks = batch(0)
    print(
        f"{args.method} loss={recipe.loss} batch={args.batch} crop={args.crop} torch {torch.__version__}, "
        f"{usable_cores()} usable cores"
    )

    # 1. throughput
    torch.set_num_threads(args.threads)
    plain = _trainer(args.method, recipe, "fp32")
    net, opt = plain.net, plain.optimizer
    x, y = plain.inputs(images), torch.from_numpy(masks).unsqueeze(1)

    def plain_step() -> float:
        net.train()
        opt.zero_grad()
        loss = plain.det.training_loss(net, x, y, plain.loss_fn, False, recipe)
        loss.backward()
        opt.step()
        return loss.item()

    steps: dict[str, Callable[[], object]] = {"plain": plain_step}
    for name in VARIANTS:
        trainer = _trainer(args.method, recipe, name)
        steps[name] = lambda t=trainer: t.step(images, masks, False)
    rates = _images_per_s(steps, args.steps, args.repeats, args.batch)
    print(f"\n1. throughput, {args.threads} thread(s), median of {args.repeats} x {args.steps} steps")
    for name, rate in rates.items():
        print(f"   {name:8s} {rate:7.2f} images/s  x{rate / rates['fp32']:.2f} vs fp32")

    # 2. loss agreement
    if args.loss_steps:
        print(f"\n2. loss over {args.loss_steps} steps (mean of the last 20)")
        tails = {}
        for name in ("fp32", "bf16+cl"):
            trainer = _trainer(args.method, recipe, name)
            losses = [trainer.step(*batch(k), False) for k in range(args.loss_steps)]
            tails[name] = float(np.mean(losses[-20:]))
            print(f"   {name:8s} first {losses[0]:.4f}  last-20 mean {tails[name]:.4f}")
        print(f"   relative difference {abs(tails['bf16+cl'] - tails['fp32']) / tails['fp32'] * 100:.2f} %")

    # 3. oversubscription
    if not args.no_oversubscription and usable_cores() > 1:
        spinner = mp.get_context("spawn").Process(target=_spin, daemon=True)
        spinner.start()
        try:
            time.sleep(1.0)
            default = free_cores()
            trainer = _trainer(args.method, recipe, "bf16+cl")
            result = {}
            for label, n in ((f"default ({default})", default), (f"all usable ({usable_cores()})", usable_cores())):
                torch.set_num_threads(n)
                result[label] = _images_per_s(
                    {label: lambda: trainer.step(images, masks, False)}, args.steps, args.repeats, args.batch
                )[label]
        finally:
            spinner.terminate()
        print("\n3. threads while another process holds one core (bf16+cl)")
        first = next(iter(result.values()))
        for label, rate in result.items():
            print(f"   {label:18s} {rate:7.2f} images/s  x{rate / first:.2f} vs default")


if __name__ == "__main__":
    main()
