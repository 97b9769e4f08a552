"""MDvsFA's training: the discriminator as a critic, the demo's objective, resume with the critic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark.training.loop import TrainConfig, Trainer, train
from benchmark.training.recipes import get_recipe
from methods.deep.losses import md_fa_loss
from methods.deep.mdvsfa import REAL, Discriminator, _class_loss
from methods.registry import create
from tests.test_training import TINY


def _batch(n: int = 2, size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (n, size, size)).astype(np.float32)
    masks = np.zeros((n, size, size), np.float32)
    masks[:, 12:16, 14:17] = 1
    return images, masks


def test_discriminator_has_the_official_keys_and_size() -> None:
    d = Discriminator()
    state = d.state_dict()
    assert len(state) == 49 and sum(p.numel() for p in d.parameters()) == 151_276
    assert state["d_conv1.weight"].shape == (24, 2, 3, 3) and state["d_conv4.weight"].shape == (1, 24, 3, 3)
    assert state["fc1.weight"].shape == (128, 1024) and state["fc3.weight"].shape == (3, 64)
    scores, feat = d.eval()(torch.randn(3, 2, 128, 128))
    assert scores.shape == (3, 3) and torch.allclose(scores.sum(1), torch.ones(3)) and feat.shape == (3, 1, 32, 32)


def test_each_generator_gets_only_its_own_objective() -> None:
    """The summed loss gives G1 the gradient of 100 MF_1 + 10 adv_1 + GC alone (and G2 likewise), as the demo's
    two optimisers do."""
    torch.manual_seed(0)
    det = create("mdvsfa", device="cpu")
    net, critic = det.build().train(), Discriminator().train()
    images, masks = _batch()
    x = det.preprocess(torch.from_numpy(images).unsqueeze(1))
    y = torch.from_numpy(masks).unsqueeze(1)
    recipe = get_recipe("mdvsfa")
    total = det.training_loss(net, x, y, None, False, recipe, critic=critic)  # type: ignore[arg-type]
    g1 = list(net.g1.parameters())
    summed = torch.autograd.grad(total, g1)
    s1, s2 = det._maps(net, x)
    _, fake1, _, gc = det._critic_batch(critic, x, y, s1, s2.detach())
    own = 100 * md_fa_loss(s1, y, 100.0, 1.0) + 10 * _class_loss(fake1, REAL) + gc
    for a, b in zip(summed, torch.autograd.grad(own, g1)):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-7)


def test_a_training_step_moves_critic_and_generators_once_each() -> None:
    torch.manual_seed(0)
    trainer = Trainer("mdvsfa", get_recipe("mdvsfa", crop=32, batch=2), "synth", device="cpu", amp=False)
    assert trainer.critic is not None and trainer.critic_optimizer is not None
    assert trainer.critic_optimizer.param_groups[0]["lr"] == 1e-5
    assert trainer.optimizer.param_groups[0]["betas"] == (0.5, 0.999)
    critic_before = [p.detach().clone() for p in trainer.critic.parameters()]
    net_before = [p.detach().clone() for p in trainer.net.parameters()]
    assert np.isfinite(trainer.step(*_batch(), False))
    moved = sum(not torch.equal(a, b) for a, b in zip(critic_before, trainer.critic.parameters()))
    assert moved > len(critic_before) // 2  # (a conv bias before BatchNorm has a zero gradient)
    assert sum(not torch.equal(a, b) for a, b in zip(net_before, trainer.net.parameters())) > len(net_before) // 2
    steps = {int(s["step"]) for s in trainer.critic_optimizer.state.values()}
    assert steps == {1} == {int(s["step"]) for s in trainer.optimizer.state.values()}
    assert "critic" not in trainer.weights() and not any(k.startswith("d_") for k in trainer.weights())


def test_resume_with_the_critic_is_bit_for_bit(tmp_path: Path) -> None:
    config = {**TINY, "limit": 5}
    straight = train(TrainConfig("mdvsfa", out=tmp_path / "a", epochs=2, **config), log=lambda m: None)
    train(TrainConfig("mdvsfa", out=tmp_path / "b", epochs=1, **config), log=lambda m: None)
    resumed = train(TrainConfig("mdvsfa", out=tmp_path / "b", epochs=2, resume=True, **config), log=lambda m: None)
    a, b = (torch.load(r.last, weights_only=True) for r in (straight, resumed))
    for key in ("state_dict",):
        assert all(torch.equal(a[key][k], b[key][k]) for k in a[key])
    assert all(
        torch.equal(a["critic"]["state_dict"][k], b["critic"]["state_dict"][k]) for k in a["critic"]["state_dict"]
    )
    assert [h["loss"] for h in straight.history] == [h["loss"] for h in resumed.history]
    best = torch.load(straight.best, weights_only=True)["state_dict"]
    create("mdvsfa").build().load_state_dict(best)  # strict: the generators only


def test_resume_state_without_its_critic_is_refused(tmp_path: Path) -> None:
    config = {**TINY, "limit": 5}
    result = train(TrainConfig("mdvsfa", out=tmp_path, epochs=1, **config), log=lambda m: None)
    state = torch.load(result.last, weights_only=True)
    state["critic"] = None
    torch.save(state, result.last)
    with pytest.raises(ValueError, match="not a valid irbench resume state.*no critic"):
        train(TrainConfig("mdvsfa", out=tmp_path, epochs=2, resume=True, **config), log=lambda m: None)
