"""Training: data split and augmentation, recipes, a loss that falls, bit-for-bit resume, engine loading."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark.cli import main as cli_main
from benchmark.datasets import get_dataset
from benchmark.reproduce import CELLS, render_table, score_checkpoint
from benchmark.training.data import AUGMENTS, Augment, TrainingData, split_train_val
from benchmark.training.loop import TrainConfig, Trainer, learning_rate, train
from benchmark.training.recipes import get_recipe
from methods.deep.checkpoint import load_checkpoint
from methods.deep.losses import get_loss
from methods.deep.mshnet import MSHNetNet
from methods.registry import create

TINY = {
    "dataset": "synth",
    "crop": 32,
    "base": 32,
    "batch": 2,
    "limit": 6,
    "warmup": 1,
    "threads": 1,
    "progress": False,
    "device": "cpu",
}


def test_split_is_deterministic_disjoint_and_complete() -> None:
    ids = [f"s{i}" for i in range(20)]
    train_ids, val_ids = split_train_val(ids, 0.25, seed=3)
    assert (train_ids, val_ids) == split_train_val(ids, 0.25, seed=3)
    assert len(val_ids) == 5 and not set(train_ids) & set(val_ids) and sorted(train_ids + val_ids) == sorted(ids)
    assert split_train_val(ids, 0.25, seed=4)[1] != val_ids
    with pytest.raises(ValueError, match="val_fraction"):
        split_train_val(ids, 1.0, 0)


def test_training_data_never_uses_test_ids() -> None:
    data = TrainingData("synth", limit=10)
    assert all(i.startswith("train_") for i in data.train_ids + data.val_ids)
    assert len(data.val_ids) == 1 and len(data.train_ids) == 9


def test_augment_shapes_binary_masks_and_determinism() -> None:
    image, mask = get_dataset("synth", split="train").load("train_0000")
    aug = Augment(crop=96, base=128)
    a = aug(image, mask, np.random.default_rng(7))
    b = aug(image, mask, np.random.default_rng(7))
    assert a[0].shape == a[1].shape == (96, 96) and a[0].dtype == np.float32
    assert set(np.unique(a[1])) <= {0.0, 1.0}
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    with pytest.raises(ValueError, match="crop"):
        Augment(crop=4)


def test_recipes_and_schedule() -> None:
    r = get_recipe("mshnet")
    assert (r.optimizer, r.lr, r.batch, r.crop, r.warmup, r.loss) == ("adagrad", 0.05, 4, 256, 5, "sls")
    dna = get_recipe("dnanet", epochs=10)
    assert learning_rate(dna, 0) == pytest.approx(0.05) and learning_rate(dna, 10) == pytest.approx(1e-5)
    assert learning_rate(r, 7) == 0.05
    md = get_recipe("mdvsfa")  # x0.2 every 10 epochs
    assert [learning_rate(md, e) for e in (0, 9, 10, 29)] == pytest.approx([1e-4, 1e-4, 2e-5, 4e-6])
    assert (md.betas, md.critic_lr, md.crop, md.loss) == ((0.5, 0.999), 1e-5, 128, "md-fa")
    with pytest.raises(ValueError, match="tophat"):
        get_recipe("tophat")
    for bad, field in (
        ({"gamma": 0.0}, "gamma"),
        ({"betas": (0.5, 1.0)}, "betas"),
        ({"critic_lr": -1.0}, "critic_lr"),
    ):
        with pytest.raises(ValueError, match=field):
            get_recipe("mdvsfa", **bad)
    with pytest.raises(ValueError, match="loss"):
        get_recipe("mshnet", loss="focal")


def _target_batch(crop: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """Two crops of synth training images centred on a target."""
    data = get_dataset("synth", split="train")
    images, masks = [], []
    for i in range(2):
        img, msk = data.load(f"train_{i:04d}")
        ys, xs = np.nonzero(msk)
        y = int(np.clip(ys.mean() - crop // 2, 0, img.shape[0] - crop))
        x = int(np.clip(xs.mean() - crop // 2, 0, img.shape[1] - crop))
        images.append(img[y : y + crop, x : x + crop])
        masks.append(msk[y : y + crop, x : x + crop].astype(np.float32))
    return np.stack(images), np.stack(masks)


def test_a_few_steps_reduce_the_sls_loss() -> None:
    torch.manual_seed(0)
    torch.set_num_threads(1)
    trainer = Trainer("mshnet", get_recipe("mshnet", loss="sls"), "synth", device="cpu")
    images, masks = _target_batch()
    losses = [trainer.step(images, masks, warm=False) for _ in range(8)]
    assert all(np.isfinite(losses))
    assert np.mean(losses[-2:]) < losses[0] - 0.05


def test_dropped_scales_stay_out_of_the_fused_head() -> None:
    torch.manual_seed(0)
    trainer = Trainer("mshnet", get_recipe("mshnet", scales=1), "synth", device="cpu")
    images, masks = _target_batch(32)
    for _ in range(2):
        trainer.step(images, masks, warm=False)
    assert trainer.net.final.weight[:, 1:].abs().sum().item() == 0.0
    assert trainer.net.final.weight[:, 0].abs().sum().item() > 0.0


def test_resume_is_bit_for_bit(tmp_path: Path) -> None:
    straight = train(TrainConfig("mshnet", out=tmp_path / "a", epochs=2, **TINY), log=lambda m: None)
    train(TrainConfig("mshnet", out=tmp_path / "b", epochs=1, **TINY), log=lambda m: None)
    resumed = train(TrainConfig("mshnet", out=tmp_path / "b", epochs=2, resume=True, **TINY), log=lambda m: None)
    a = torch.load(straight.last, weights_only=False)
    b = torch.load(resumed.last, weights_only=False)
    assert a["state_dict"].keys() == b["state_dict"].keys()
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    sa, sb = a["optimizer"]["state"], b["optimizer"]["state"]
    assert all(torch.equal(sa[k]["sum"], sb[k]["sum"]) for k in sa)
    assert [h["loss"] for h in straight.history] == [h["loss"] for h in resumed.history]
    assert straight.history[0]["warm"] and not straight.history[1]["warm"]
    with pytest.raises(ValueError, match="cannot resume a different run.*loss"):
        train(TrainConfig("mshnet", out=tmp_path / "b", epochs=3, resume=True, loss="dice", **TINY))


def test_cli_train_writes_a_checkpoint_the_engine_loads(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "run"
    code = cli_main(
        [
            "train",
            "--method",
            "mshnet",
            "--dataset",
            "synth",
            "--epochs",
            "1",
            "--batch",
            "2",
            "--crop",
            "32",
            "--base",
            "32",
            "--limit",
            "4",
            "--warmup",
            "0",
            "--threads",
            "1",
            "--device",
            "cpu",
            "--out",
            str(out),
        ]
    )
    assert code == 0 and f"mshnet={out / 'best.pth'}" in capsys.readouterr().out
    assert load_checkpoint(MSHNetNet(3), out / "best.pth", strict=True).missing == []
    history = json.loads((out / "history.json").read_text())
    assert len(history) == 1 and history[0]["images_per_s"] > 0
    metrics = score_checkpoint("mshnet", out / "best.pth", "synth", limit=2, device="cpu")
    assert metrics["n_images"] == 2 and 0.0 <= metrics["iou"] <= 1.0


def test_render_table_layout() -> None:
    results = {(c.row, c.method): {"iou": 1.0, "pd": 2.0, "fa": 3.0} for c in CELLS[3]}
    text = render_table(3, results, "synth", "irbench")
    assert "| Loss | DNANet IoU | Pd | Fa | ISNet IoU | Pd | Fa | MSHNet IoU | Pd | Fa |" in text
    assert "| L_SLS | 1.00 (67.09) | 2.00 (92.15) | 3.00 (35.15) |" in text
    six = render_table(6, {}, "synth", "irbench")
    assert "| 4 | p1, p2, p3, p4, p | – (67.16) | – (93.88) | – (15.03) |" in six


def test_reproduce_miniature_table(tmp_path: Path) -> None:
    code = cli_main(
        [
            "reproduce",
            "--table",
            "5",
            "--epochs",
            "1",
            "--limit",
            "4",
            "--crop",
            "32",
            "--base",
            "32",
            "--batch",
            "2",
            "--warmup",
            "0",
            "--test-limit",
            "1",
            "--threads",
            "1",
            "--device",
            "cpu",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    record = json.loads((tmp_path / "table5_synth" / "table5.json").read_text())
    assert [c["loss"] for c in record["cells"]] == ["sls-l2", "sls-l1", "sls"]
    assert all(Path(c["weights"]).is_file() and c["paper"]["iou"] > 60 for c in record["cells"])
    table = (tmp_path / "table5_synth" / "table5.md").read_text()
    assert "| L_S + L_L1 |" in table and "(64.75)" in table


@pytest.mark.slow
def test_irbench_run_scores_a_trained_checkpoint(tmp_path: Path) -> None:
    out = tmp_path / "run"
    train(TrainConfig("mshnet", out=out, epochs=1, **TINY), log=lambda m: None)
    code = cli_main(
        [
            "run",
            "--methods",
            "mshnet",
            "--weights",
            f"mshnet={out / 'best.pth'}",
            "--dataset",
            "synth",
            "--out",
            str(tmp_path / "results"),
            "--name",
            "t",
            "--jobs",
            "1",
        ]
    )
    assert code == 0
    run = json.loads((tmp_path / "results" / "t" / "run.json").read_text())
    assert run["cells"]["mshnet"]["synth"]["status"] == "ok"


def test_training_data_on_real_nudt_sirst(shared_data: Path) -> None:
    data = TrainingData("nudt-sirst", str(shared_data), val_fraction=0.25, limit=8)
    test_ids = set(get_dataset("nudt-sirst", str(shared_data), "test").ids)
    assert not (set(data.train_ids) | set(data.val_ids)) & test_ids and len(data.val_ids) == 2
    images, masks = data.batch(data.train_ids[:2], Augment(crop=128, base=256), seed=0, epoch=0, start=0)
    assert images.shape == masks.shape == (2, 128, 128) and images.max() > 0


def test_models_declare_their_recipes_and_the_trainer_asks_them() -> None:
    from benchmark.training.recipes import build_detector, trainable
    from methods.deep.mshnet import MSHNet

    assert get_recipe("mshnet") == MSHNet.recipe and create("mshnet").recipe is MSHNet.recipe
    every_deep = {"mshnet", "dnanet", "isnet", "acm", "alcnet", "acm-basicirstd", "alcnet-basicirstd", "mdvsfa"}
    assert every_deep == set(trainable())
    with pytest.raises(ValueError, match="Method 'tophat' has no training recipe. Trainable: .*mshnet"):
        build_detector("tophat")
    det = create("mshnet")
    assert det.name == "mshnet" and det.method_name == "mshnet" and det.batch_size == 8
    assert create("tophat").name == "tophat" and create("tophat").batch_size == 1


def test_probabilities_and_the_warm_up_hook() -> None:
    det = create("mshnet")
    logits = torch.tensor([[-20.0, 0.0, 20.0]])
    assert torch.allclose(det.probabilities(logits), torch.tensor([[0.0, 0.5, 1.0]]), atol=1e-6)
    assert torch.equal(create("mdvsfa").probabilities(torch.tensor([-1.0, 0.3, 2.0])), torch.tensor([0.0, 0.3, 1.0]))
    torch.manual_seed(0)
    net = det.build()
    x = torch.randn(1, 3, 32, 32)
    target = torch.zeros(1, 1, 32, 32)
    target[..., 14:17, 14:17] = 1
    loss = get_loss("iou")
    warm = det.training_loss(net, x, target, loss, True, det.recipe)
    assert torch.allclose(warm, loss(det.probabilities(net(x, False)), target, True))
    full = det.training_loss(net, x, target, loss, False, det.recipe)
    assert full.item() != warm.item()


def test_validation_scores_what_inference_scores(monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    params = {"input_size": 32, "device": "cpu"}
    trainer = Trainer("mshnet", get_recipe("mshnet"), "synth", device="cpu", method_params=params)
    data = TrainingData("synth", None, 0.1, 20, 0)
    det = create("mshnet", **params)
    monkeypatch.setattr(det, "_prepare", lambda net: net.eval())  # the same unfolded net, no BN folding
    det.use_network(trainer.net)
    inter = union = 0
    for sample_id in data.val_ids:
        image, gt = data.load(sample_id)
        pred = det.detect(image) > 0.5
        inter += int((pred & gt).sum())
        union += int((pred | gt).sum())
    assert trainer.validate(data) == pytest.approx(inter / union if union else 1.0)


def test_free_cores_counts_the_cores_other_processes_leave_idle(monkeypatch: pytest.MonkeyPatch) -> None:
    import benchmark.backends as backends

    # cpu0 busy 90 % of the sample, cpu1 idle 100 %, cpu2 busy 40 %: two free cores of three
    samples = iter([{0: (0, 0), 1: (0, 0), 2: (0, 0)}, {0: (10, 100), 1: (100, 100), 2: (60, 100)}])
    monkeypatch.setattr(backends, "_cpu_times", lambda: next(samples))
    monkeypatch.setattr(backends.os, "sched_getaffinity", lambda pid: {0, 1, 2})
    assert backends.free_cores(sample_s=0.0) == 2
    # every core busy: still one thread
    samples = iter([{0: (0, 0)}, {0: (0, 100)}])
    monkeypatch.setattr(backends.os, "sched_getaffinity", lambda pid: {0})
    assert backends.free_cores(sample_s=0.0) == 1


def test_prefetched_yields_in_order_and_propagates_errors() -> None:
    from benchmark.training.data import prefetched

    assert list(prefetched(lambda i: i * i, 5)) == [0, 1, 4, 9, 16] and list(prefetched(str, 0)) == []

    def fails(i: int) -> int:
        if i == 2:
            raise OSError("bad image")
        return i

    with pytest.raises(OSError, match="bad image"):
        list(prefetched(fails, 4))


def test_bfloat16_autocast_on_cpu_keeps_the_loss_in_float32() -> None:
    from methods.deep.precision import autocast_dtype

    recipe = get_recipe("mshnet", crop=32, batch=2)
    torch.manual_seed(0)
    trainer = Trainer("mshnet", recipe, "synth", device="cpu", amp=True)
    dtype = autocast_dtype(torch.device("cpu"))
    assert trainer.amp_dtype == dtype and trainer.amp == (dtype is not None)
    assert not Trainer("mshnet", recipe, "synth", device="cpu", amp=False).amp
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = trainer.loss_fn(torch.full((1, 1, 8, 8), 0.5, dtype=torch.bfloat16), torch.ones(1, 1, 8, 8), True)
    assert loss.dtype == torch.float32
    images = np.random.default_rng(0).uniform(0, 255, (2, 32, 32)).astype(np.float32)
    masks = np.zeros((2, 32, 32), np.float32)
    masks[:, 10:14, 10:14] = 1
    assert np.isfinite(trainer.step(images, masks, True))


def test_basicirstd_model_on_a_new_set_is_trained_with_its_measured_statistics(tmp_path: Path) -> None:
    result = train(TrainConfig(method="acm-basicirstd", epochs=1, out=tmp_path, **TINY), log=lambda m: None)
    norm = json.loads((result.out / "config.json").read_text())["normalisation"]
    data = TrainingData("synth", limit=TINY["limit"])
    mean, std = data.statistics()
    assert norm == {"preset": "basicirstd_gray", "mean": mean, "std": std} and 0 < std < mean < 255


def test_cuda_mixed_precision_choice_without_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    from methods.deep.precision import autocast_dtype

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert autocast_dtype(torch.device("cuda")) == torch.bfloat16  # no gradient scaling needed
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert autocast_dtype(torch.device("cuda")) == torch.float16  # with a GradScaler


def test_batches_made_on_the_device_equal_the_cpu_ones() -> None:
    import cv2

    from benchmark.training.device_data import DeviceBatches, gaussian_kernel

    for sigma in (0.06, 0.3, 0.77, 1.0):
        side = int(np.floor(sigma * 8 + 1.5)) | 1
        expected = cv2.getGaussianKernel(side, sigma, cv2.CV_32F)[:, 0]
        assert np.allclose(gaussian_kernel(sigma, torch.device("cpu")).numpy(), expected, atol=1e-6)
    data = TrainingData("synth", limit=12)
    on_device = DeviceBatches(data, torch.device("cpu"))
    patch = replace(AUGMENTS["patch"], crop=64)
    for augment in (Augment(crop=96, base=128), Augment(crop=256, base=256), Augment(crop=64, base=0), patch):
        for epoch in range(3):
            images, masks = data.batch(data.train_ids[:6], augment, 0, epoch, 0)
            dev_images, dev_masks = on_device.batch(data.train_ids[:6], augment, 0, epoch, 0)
            assert np.array_equal(masks, dev_masks.numpy())
            assert np.abs(images - dev_images.numpy()).max() < 0.01  # grey levels 0-255


def test_training_with_the_data_on_the_device(tmp_path: Path) -> None:
    result = train(TrainConfig("acm", out=tmp_path, epochs=1, data_on_device=True, **TINY), log=lambda m: None)
    assert json.loads((result.out / "config.json").read_text())["data_on_device"] is True
    assert np.isfinite(result.history[0]["loss"])


def test_basicirstd_recipe_is_basicirstd_train_py() -> None:
    """BasicIRSTD's train.py defaults: Adam 5e-4, MultiStepLR [200, 300] x0.1, 400 epochs, batch 16, 256
    patches without rescale, SoftIoU over the batch, its crop/flip/transpose augmentation."""
    for method in ("acm-basicirstd", "alcnet-basicirstd"):
        r = get_recipe(method)
        assert (r.optimizer, r.lr, r.schedule, r.milestones, r.gamma) == ("adam", 5e-4, "multistep", (200, 300), 0.1)
        assert (r.epochs, r.batch, r.crop, r.base, r.loss, r.augment) == (400, 16, 256, 0, "iou-batch", "patch")
        lrs = [learning_rate(r, e) for e in (0, 199, 200, 299, 300, 399)]
        assert lrs == pytest.approx([5e-4, 5e-4, 5e-5, 5e-5, 5e-6, 5e-6])
    with pytest.raises(ValueError, match="milestones"):
        get_recipe("acm-basicirstd", milestones=(300, 200))


def test_basicirstd_augment_keeps_a_target_in_half_the_crops_and_flips_after_the_crop() -> None:
    mask = np.zeros((300, 400), bool)
    mask[290, 395] = True  # a corner target that a uniform 64-crop rarely holds
    image = np.arange(300 * 400, dtype=np.float32).reshape(300, 400) % 251
    aug = replace(AUGMENTS["patch"], crop=64)
    held = [aug(image, mask, np.random.default_rng(s))[1].any() for s in range(2000)]
    assert 0.46 < np.mean(held) < 0.56  # 0.5 by the target draw (sd 0.011), plus the rare uniform hits
    posts = {aug.draw(mask, np.random.default_rng(s)).post for s in range(200)}
    assert len(posts) == 8  # every flip/transpose combination occurs
    for s in range(40):  # the image and mask receive the same geometry: mask pixels stay on their image value
        img, msk = aug(image, mask, np.random.default_rng(s))
        if msk.any():
            assert img[msk > 0][0] == image[290, 395]
    with pytest.raises(ValueError, match="target_crop"):
        replace(AUGMENTS["patch"], target_crop=1.5)


def test_val_every_validates_and_selects_on_every_nth_epoch_and_the_last(tmp_path: Path) -> None:
    result = train(TrainConfig("acm", out=tmp_path, epochs=3, val_every=2, **TINY), log=lambda m: None)
    assert [h["val_iou"] is None for h in result.history] == [True, False, False]
    assert result.best_epoch in (2, 3)
    with pytest.raises(ValueError, match="val_every"):
        train(TrainConfig("acm", out=tmp_path / "x", epochs=1, val_every=0, **TINY), log=lambda m: None)
