"""U-Net and Res-U-Net: the paper's size, the long skips as the only difference between variants,
and the tools written for residual blocks (lesions, gradient norms, the trainer)."""

from __future__ import annotations

import copy

import pytest
import torch

from reslab.blocks import BasicBlock
from reslab.models import UNet, count_depth, count_params, create_model
from reslab.nn.shortcuts import NoShortcut
from reslab.probes.gradients import block_gradient_norms
from reslab.probes.lesions import lesioned, skips_cut
from reslab.training.objective import loss


def tiny(skip: str = "concat", block: str = "plain", **kw: object) -> UNet:
    torch.manual_seed(0)
    return UNet(levels=3, width=4, skip=skip, block=block, in_channels=1, num_classes=3, **kw)


def test_paper_size_parameter_count_by_hand() -> None:
    def block(cin: int, cout: int) -> int:  # two 3x3 convs without bias, a BN (2 per channel) each
        return 9 * cin * cout + 9 * cout * cout + 2 * 2 * cout

    widths = [64, 128, 256, 512, 1024]  # Ronneberger et al., Fig. 1
    encoders = sum(block(cin, c) for cin, c in zip([1, *widths[:-1]], widths, strict=True))
    ups = sum(4 * widths[i + 1] * widths[i] + widths[i] for i in range(4))  # 2x2 up-conv + bias
    decoders = sum(block(2 * c, c) for c in widths[:-1])  # the concatenated skip doubles the input
    head = 64 * 2 + 2  # 1x1 conv to 2 classes, with bias
    expected = encoders + ups + decoders + head
    assert expected == 31_036_546
    with torch.device("meta"):
        model = create_model("unet", in_channels=1)
    assert count_params(model) == expected
    assert count_depth(model) == 23  # "In total the network has 23 convolutional layers" (Sec. 2)


@pytest.mark.parametrize("block", ["plain", "residual"])
def test_add_and_none_differ_only_in_the_skips(block: str) -> None:
    added, plain = tiny("add", block), tiny("none", block)
    shapes = {n: p.shape for n, p in added.named_parameters()}
    assert shapes == {n: p.shape for n, p in plain.named_parameters()}
    plain.load_state_dict(added.state_dict())
    x = torch.randn(2, 1, 16, 16)
    added.eval(), plain.eval()
    with torch.no_grad():
        assert not torch.allclose(added(x), plain(x))
        with skips_cut(added, range(len(added.long_skips))):
            assert torch.equal(added(x), plain(x))
        assert not torch.allclose(added(x), plain(x))  # leaving the block restores the skips


@pytest.mark.parametrize("block", ["plain", "residual"])
def test_concat_adds_input_channels_only_where_the_skip_enters(block: str) -> None:
    cat, plain = tiny("concat", block), tiny("none", block)
    a, b = cat.state_dict(), plain.state_dict()
    extra = sorted(set(a) - set(b))
    # A residual decoder that takes the concatenation changes width, so it projects (option B).
    assert all(".downsample." in k and k.startswith("decoders.") for k in extra)
    assert (block == "plain") == (not extra) and set(b) <= set(a)
    differ = sorted(k for k in b if a[k].shape != b[k].shape)
    assert differ == ["decoders.0.conv1.weight", "decoders.1.conv1.weight"]
    for key in b:  # the skip's channels come first, then the up-conv's
        if key in differ:
            assert a[key].shape[1] == 2 * b[key].shape[1]
            b[key] = a[key][:, b[key].shape[1] :].clone()
            a[key][:, : b[key].shape[1]] = 0
        else:
            b[key] = a[key].clone()
    if extra:  # the projections see the skip too: let them see only the path
        for key in [k for k in extra if k.endswith("downsample.0.weight")]:
            a[key][:, : a[key].shape[1] // 2] = 0
    cat.load_state_dict(a)
    plain.load_state_dict(b)
    cat.eval(), plain.eval()
    x = torch.randn(2, 1, 16, 16)
    with torch.no_grad():
        if block == "plain":
            assert torch.allclose(cat(x), plain(x), atol=1e-6)
        # Residual: the projection adds a learnt map of the path where `none` adds the identity,
        # so the outputs differ unless the cut skip leaves the decoder's input unchanged.
        with skips_cut(cat, [0, 1]):
            cut = cat(x)
        assert torch.allclose(cut, cat(x), atol=1e-6)


def test_blocks_and_long_skips_are_units() -> None:
    model = tiny("add", "residual")
    assert len(model.blocks) == 5 and all(isinstance(b, BasicBlock) for b in model.blocks)
    assert all(hasattr(b, a) for b in model.blocks for a in ("branch", "shortcut", "act"))
    assert not any(b.is_plain for b in model.blocks)
    assert all(isinstance(b.shortcut, NoShortcut) for b in tiny("add", "plain").blocks)
    units = model.long_skips
    assert len(units) == 2 and all(u.skip is u.shortcut and u.path is u.branch for u in units)
    # Only the modules the net registers carry parameters: the units are views.
    assert sum(p.numel() for u in units for p in u.parameters()) == 0
    assert len(model.state_dict()) == len(tiny("add", "residual").state_dict())
    e = torch.randn(1, 4, 8, 8)
    assert torch.equal(units[0](e), e + units[0].path(e))


def test_lesions_delete_same_shape_decoder_blocks() -> None:
    model = tiny("add", "residual").eval()
    x = torch.randn(2, 1, 16, 16)
    same = [i for i, b in enumerate(model.blocks) if not b.changes_shape]
    assert same == [3, 4]  # the decoders of an added skip keep their width
    with torch.no_grad():
        full = model(x)
        with lesioned(model, same):
            assert not torch.allclose(model(x), full)
        assert torch.equal(model(x), full)
    with pytest.raises(ValueError, match="cannot be cut"), skips_cut(tiny("none"), [0]):
        pass


def test_gradient_norms_per_block_on_masks() -> None:
    model = tiny("concat", "residual")
    x, y = torch.randn(4, 1, 16, 16), torch.randint(0, 3, (4, 16, 16))
    norms = block_gradient_norms(model, [(x, y)])
    assert norms["input"].shape == (5,) and (norms["input"] > 0).all()


def test_checks_name_the_bad_value() -> None:
    with pytest.raises(ValueError, match=r"skip='long'.*concat, add, none"):
        UNet(skip="long")
    with pytest.raises(ValueError, match=r"block='dense'.*plain, residual"):
        UNet(block="dense")
    with pytest.raises(ValueError, match=r"padding='valid'.*same"):
        UNet(padding="valid")
    with pytest.raises(ValueError, match=r"divisible by 2\*\*\(levels-1\)=4"):
        tiny()(torch.randn(1, 1, 18, 18))


def test_checkpointing_gives_the_same_gradients() -> None:
    x, y = torch.randn(2, 1, 16, 16), torch.randint(0, 3, (2, 16, 16))
    grads = []
    for enable in (False, True):
        model = tiny("concat", "residual")
        model.set_grad_checkpointing(enable)
        loss(model(x), y).backward()
        grads.append([p.grad.clone() for p in model.parameters()])
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(*grads, strict=True))


def test_a_deep_copy_runs_on_its_own_modules() -> None:
    # The long skips' paths are views: a copy (e.g. a saved best model) must point at the copy.
    model = tiny().eval()
    twin = copy.deepcopy(model)
    assert twin.long_skips[0].path.encoder is twin.encoders[1]
    x = torch.randn(1, 1, 16, 16)
    with torch.no_grad():
        before = model(x)
        for p in twin.encoders[2].parameters():
            p.add_(1.0)
        assert torch.equal(model(x), before) and not torch.equal(twin(x), before)


def test_loss_landscape_runs_on_a_u_net_with_per_pixel_loss() -> None:
    from tests.models.surface import assert_surface_centre_is_the_nets_loss

    from reslab.data import make_loader
    from reslab.data.shapes import load_shapes

    torch.manual_seed(0)
    net = tiny(skip="add", block="residual").eval()
    bundle = load_shapes(size=16, train_size=16, test_size=16)
    batches = list(make_loader(bundle, "test", batch_size=8, train=False, device="cpu"))
    assert_surface_centre_is_the_nets_loss(net, batches)  # the net's own per-pixel loss
