"""The char-level GPT: nanoGPT's count, causality, and variants that differ only where they say."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reslab import create_model
from reslab.blocks import ResidualBlock
from reslab.blocks.transformer import deepnorm_constants
from reslab.models import GPT, count_params, model_info
from reslab.nn.shortcuts import NoShortcut
from reslab.probes.gradients import block_gradient_norms
from reslab.probes.lesions import lesioned

TINY = {"vocab_size": 11, "block_size": 8, "n_layer": 3, "n_head": 2, "n_embd": 16}


def tiny(**kw: object) -> GPT:
    torch.manual_seed(0)
    return create_model("gpt", **{**TINY, **kw})  # type: ignore[return-value]


def tokens(n: int = 2, t: int = 8, seed: int = 1) -> torch.Tensor:
    return torch.randint(
        0, TINY["vocab_size"], (n, t), generator=torch.Generator().manual_seed(seed)
    )


def test_baby_gpt_has_nanogpts_parameter_count() -> None:
    with torch.device("meta"):
        model = create_model("gpt")  # 6 layers, 6 heads, 384 wide, context 256, vocab 65
    # nanoGPT's get_num_params subtracts the position embeddings and prints 10.65M; by hand:
    # 6 layers x (12 d^2 matrices + 2 LayerNorm gains) + the tied 65 x d embedding + ln_f.
    d = 384
    assert count_params(model) - model.wpe.weight.numel() == 6 * (12 * d * d + 2 * d) + 65 * d + d
    assert count_params(model) - model.wpe.weight.numel() == 10_646_784
    assert model.lm_head.weight is model.wte.weight  # tied
    info = model_info("gpt", macs=False)
    assert info["input_size"] == (256,) and info["depth"] == 6 and info["paper_params"] == 10.65e6


def test_sub_layers_are_residual_blocks_in_order() -> None:
    model = tiny()
    assert len(model.blocks) == 2 * TINY["n_layer"]
    assert all(isinstance(b, ResidualBlock) for b in model.blocks)
    assert [hasattr(b, "heads") for b in model.blocks] == [True, False] * TINY["n_layer"]
    out = model(tokens())
    assert out.shape == (2, 8, 11) and model.class_dim == -1


@pytest.mark.parametrize("norm", ["pre", "post", "deepnorm"])
def test_a_token_never_sees_later_tokens(norm: str) -> None:
    model = tiny(norm=norm).eval()
    x = tokens()
    changed = x.clone()
    changed[:, 5:] = (changed[:, 5:] + 3) % 11
    with torch.no_grad():
        a, b = model(x), model(changed)
    assert torch.equal(a[:, :5], b[:, :5])  # exactly: nothing flows backwards in time
    assert not torch.allclose(a[:, 5:], b[:, 5:])


@pytest.mark.parametrize("norm", ["pre", "post", "deepnorm"])
def test_no_residual_differs_only_in_the_skips(norm: str) -> None:
    res, plain = tiny(norm=norm), tiny(norm=norm, residual=False)
    shapes = {k: v.shape for k, v in res.state_dict().items()}
    assert shapes == {k: v.shape for k, v in plain.state_dict().items()}
    plain.load_state_dict(res.state_dict())
    x = torch.randn(2, 8, 16)
    for r, p in zip(res.blocks, plain.blocks, strict=True):
        assert isinstance(p.shortcut, NoShortcut) and p.is_plain and not r.is_plain
        assert torch.equal(r.branch(x), p.branch(x))  # the same F
        assert torch.equal(p(x), p.act(p.branch(x)))  # and nothing added to it


def test_deepnorm_with_alpha_one_is_post_ln_given_the_same_weights() -> None:
    post, deep = tiny(norm="post"), tiny(norm="deepnorm")
    alpha, beta = deepnorm_constants(TINY["n_layer"])
    assert alpha == pytest.approx(6**0.25) and beta == pytest.approx(24**-0.25)
    x = torch.randn(2, 8, 16)
    assert torch.allclose(deep.blocks[0].shortcut(x), alpha * x)
    assert deep.state_dict().keys() == post.state_dict().keys()
    for block in deep.blocks:
        block.shortcut.scale = 1.0  # the only other difference: alpha
    deep.load_state_dict(post.state_dict())
    ids = tokens()
    assert torch.equal(deep(ids), post(ids))


def test_deepnorm_scales_its_branches_by_beta_in_either_init_family() -> None:
    big = {**TINY, "n_embd": 256, "n_head": 4}
    _, beta = deepnorm_constants(3)
    d = 256
    nets = {}
    for norm in ("deepnorm", "post"):
        for init in ("gpt2", "xavier"):
            torch.manual_seed(0)
            nets[norm, init] = create_model("gpt", **big, norm=norm, init=init)
    # Xavier family: Xavier-normal, gain beta on v, out and FFN (Wang et al. 2022, Fig. 2):
    # std = gain * sqrt(2 / (fan_in + fan_out)).
    mlp, attn = nets["deepnorm", "xavier"].blocks[1], nets["deepnorm", "xavier"].blocks[0].heads
    assert mlp.c_fc.weight.std().item() == pytest.approx(beta * (2 / (5 * d)) ** 0.5, rel=0.03)
    assert attn.c_attn.weight[:d].std().item() == pytest.approx(d**-0.5, rel=0.03)  # q: gain 1
    assert attn.c_attn.weight[2 * d :].std().item() == pytest.approx(beta * d**-0.5, rel=0.03)
    # GPT-2 family: the same N(0, 0.02) draw, beta on v, out and FFN instead of 1/sqrt(2N).
    deep, post = nets["deepnorm", "gpt2"], nets["post", "gpt2"]
    assert torch.equal(deep.blocks[0].heads.c_attn.weight[: 2 * d],
                       post.blocks[0].heads.c_attn.weight[: 2 * d])  # fmt: skip
    assert torch.allclose(deep.blocks[0].heads.c_attn.weight[2 * d :],
                          beta * post.blocks[0].heads.c_attn.weight[2 * d :])  # fmt: skip
    assert torch.allclose(deep.blocks[1].c_fc.weight, beta * post.blocks[1].c_fc.weight)
    assert deep.blocks[1].c_proj.weight.std().item() == pytest.approx(0.02 * beta, rel=0.03)
    # nanoGPT: 0.02 everywhere, output projections 0.02 / sqrt(2 n_layer).
    assert post.blocks[1].c_fc.weight.std().item() == pytest.approx(0.02, rel=0.03)
    assert post.blocks[1].c_proj.weight.std().item() == pytest.approx(0.02 / 6**0.5, rel=0.03)


def test_xavier_init_is_xiong_et_als_setting_without_depth_scaling() -> None:
    torch.manual_seed(0)
    big = {**TINY, "n_embd": 256, "n_head": 4}
    d = 256
    for n_layer in (2, 8):
        net = create_model("gpt", **{**big, "n_layer": n_layer}, norm="pre", init="xavier")
        mlp, attn = net.blocks[1], net.blocks[0].heads
        # Plain Xavier-normal, the same at every depth (Xiong et al. 2020, section 3.2).
        assert mlp.c_fc.weight.std().item() == pytest.approx((2 / (5 * d)) ** 0.5, rel=0.03)
        assert mlp.c_proj.weight.std().item() == pytest.approx((2 / (5 * d)) ** 0.5, rel=0.03)
        assert attn.c_attn.weight[2 * d :].std().item() == pytest.approx(d**-0.5, rel=0.03)
        assert attn.c_proj.weight.std().item() == pytest.approx(d**-0.5, rel=0.03)
    with pytest.raises(ValueError, match=r"init='he'.*accepted: gpt2, xavier"):
        create_model("gpt", **TINY, init="he")


def test_final_layer_norm_only_for_pre_ln() -> None:
    assert isinstance(tiny(norm="pre").ln_f, torch.nn.LayerNorm)
    assert isinstance(tiny(norm="post").ln_f, torch.nn.Identity)


def test_lesioning_one_sub_layer_deletes_exactly_its_branch() -> None:
    model = tiny().eval()
    ids = tokens()
    with torch.no_grad():
        whole = model(ids)
        with lesioned(model, [3]):  # the second layer's MLP
            cut = model(ids)
            h = model.drop(model.wte(ids) + model.wpe(torch.arange(8)))
            for i, block in enumerate(model.blocks):
                h = h if i == 3 else block(h)  # pre-LN: a deleted sub-layer is the identity
            by_hand = model.lm_head(model.ln_f(h))
        assert torch.equal(model(ids), whole)  # restored on exit
    assert torch.allclose(cut, by_hand, atol=1e-6)
    assert not torch.allclose(cut, whole)


def test_gradient_tool_measures_every_sub_layer() -> None:
    model = tiny(norm="post")
    ids = tokens(4)
    norms = block_gradient_norms(model, [(ids, (ids + 1) % 11)])
    for part in ("input", "weight", "activation"):
        assert norms[part].shape == (6,) and (norms[part] > 0).all()


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        (
            {"n_embd": 16, "n_head": 3},
            r"n_embd=16 is not divisible by n_head=3; accepted n_head: 1, 2, 4",
        ),
        ({"norm": "sandwich"}, r"norm='sandwich' is not accepted; accepted: pre, post, deepnorm"),
        ({"n_layer": 0}, r"n_layer=0 must be >= 1"),
        ({"dropout": 1.0}, r"dropout=1.0 must be in \[0, 1\)"),
        ({"activation": "relu"}, r"activation='relu' is not accepted; accepted: gelu, gelu_tanh"),
    ],
)
def test_bad_settings_name_the_accepted_ones(kw: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        create_model("gpt", **{**TINY, **kw})


def test_inputs_are_checked() -> None:
    model = tiny()
    with pytest.raises(
        ValueError, match=r"1 <= T <= block_size=8; got torch.int64 of shape \(1, 9\)"
    ):
        model(torch.zeros(1, 9, dtype=torch.long))
    with pytest.raises(ValueError, match="int64 token ids"):
        model(torch.zeros(1, 4))


def test_landscape_tools_move_the_tied_weights_as_one() -> None:
    from reslab.probes.landscape.directions import param_vector, random_direction
    from reslab.probes.landscape.surface import FlatProbe, evaluate_points

    model = tiny(norm="post")
    ids = tokens(4)
    batches = [(ids, (ids + 1) % 11)]
    base, direction = param_vector(model), random_direction(model, seed=0)
    assert base.numel() == count_params(model)  # the tied matrix counted once
    probe = FlatProbe(model)
    assert probe.model.lm_head.weight is probe.model.wte.weight
    grid = evaluate_points(probe, batches, base, [direction], np.array([[0.0], [0.5]]))
    with torch.no_grad():
        at_base = torch.nn.functional.cross_entropy(
            model.eval()(ids).flatten(0, 1), batches[0][1].flatten()
        )
    assert grid.loss[0] == pytest.approx(at_base.item(), rel=1e-5)
    assert grid.loss[1] != pytest.approx(grid.loss[0], rel=1e-3)
