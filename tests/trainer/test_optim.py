"""trainer.optim: BoT parameter groups and the warmup + step schedule."""
import pytest
import torch
from torch import nn

from attention_swap_reid.trainer.model import build_model
from attention_swap_reid.trainer.optim import WarmupMultiStepLR, make_optimizer


def test_param_groups():
    model = build_model("resnet18", 4)
    opt = make_optimizer(model, lr=1e-3, weight_decay=5e-4, bias_lr_factor=2.0, weight_decay_bias=0.0)
    frozen = model.bottleneck.bias
    assert all(p is not frozen for g in opt.param_groups for p in g["params"])
    names = {id(p): n for n, p in model.named_parameters()}
    for group in opt.param_groups:
        name = names[id(group["params"][0])]
        is_bias = "bias" in name
        assert group["lr"] == (2e-3 if is_bias else 1e-3)
        assert group["weight_decay"] == (0.0 if is_bias else 5e-4)


def lrs(epochs, **kw):
    opt = torch.optim.Adam([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = WarmupMultiStepLR(opt, **kw)
    out = []
    for _ in range(epochs):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_bot_schedule_values():
    got = lrs(80, milestones=[40, 70], gamma=0.1, warmup_factor=0.01, warmup_epochs=10)
    assert got[0] == pytest.approx(0.01)
    assert got[5] == pytest.approx(0.01 * 0.5 + 0.5)
    assert got[10] == pytest.approx(1.0) and got[39] == pytest.approx(1.0)
    assert got[40] == pytest.approx(0.1) and got[70] == pytest.approx(0.01)


def test_no_warmup_and_state_round_trip():
    assert lrs(3, milestones=[1], warmup_epochs=0)[:2] == pytest.approx([1.0, 0.1])
    opt = torch.optim.Adam([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = WarmupMultiStepLR(opt, milestones=[3])
    for _ in range(4):
        opt.step()
        sched.step()
    opt2 = torch.optim.Adam([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched2 = WarmupMultiStepLR(opt2, milestones=[3])
    sched2.load_state_dict(sched.state_dict())
    opt2.step()
    sched2.step()
    opt.step()
    sched.step()
    assert opt2.param_groups[0]["lr"] == pytest.approx(opt.param_groups[0]["lr"])


def test_milestones_must_increase():
    with pytest.raises(ValueError, match="strictly increasing"):
        WarmupMultiStepLR(torch.optim.Adam([nn.Parameter(torch.zeros(1))]), milestones=[70, 40])
