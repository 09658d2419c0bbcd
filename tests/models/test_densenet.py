"""DenseNets: exact parameter counts, torchvision parity, the memory-efficient mode, and the
residual tools (lesions, per-layer gradient norms) working on dense layers."""

from __future__ import annotations

import copy
import re

import pytest
import torch
import torch.nn.functional as F
import torchvision

from reslab import create_model
from reslab.blocks.dense import DenseLayer
from reslab.models import cifar_densenet, count_depth, count_params, model_info
from reslab.probes.gradients import block_gradient_norms
from reslab.probes.landscape.directions import param_vector, random_direction
from reslab.probes.landscape.surface import FlatProbe
from reslab.probes.lesions import lesioned

# Huang et al. 2017, Table 2 (10 classes) and torchvision's parameter counts (ImageNet).
EXACT_PARAMS = {
    "densenet40": 1_019_722,
    "densenet_bc100": 769_162,
    "densenet121": 7_978_856,
    "densenet169": 14_149_480,
    "densenet201": 20_013_928,
}


@pytest.mark.parametrize("name", list(EXACT_PARAMS))
def test_parameter_counts_and_depths_are_exact(name: str) -> None:
    with torch.device("meta"):
        model = create_model(name)
    assert count_params(model) == EXACT_PARAMS[name]
    # The depth in each name counts the stem conv, the layers' convs, transitions and classifier.
    assert count_depth(model) == int(re.sub(r"\D", "", name))


def test_model_info_lists_paper_params() -> None:
    info = model_info("densenet_bc100", macs=False)
    assert info["family"] == "cifar-dense" and info["paper_params"] == 0.8e6


@pytest.mark.parametrize(
    "name",
    ["densenet121", pytest.param("densenet169", marks=pytest.mark.slow),
     pytest.param("densenet201", marks=pytest.mark.slow)],
)  # fmt: skip
def test_loads_torchvision_weights_and_matches_its_outputs(name: str) -> None:
    torch.manual_seed(0)
    reference = getattr(torchvision.models, name)(weights=None).eval()
    ours = create_model(name).eval()
    ours.load_state_dict(reference.state_dict(), strict=True)
    reference.load_state_dict(ours.state_dict(), strict=True)
    assert count_params(reference) == EXACT_PARAMS[name]
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected, got = reference(x), ours(x)
    # Measured: identical (difference 0), as for the ResNets; concatenation is exact.
    scale = expected.abs().max().item()
    assert scale > 1e-3
    assert (got - expected).abs().max().item() <= 1e-5 * scale


@pytest.mark.parametrize("bottleneck", [True, False])
def test_memory_efficient_gives_identical_outputs_gradients_and_statistics(
    bottleneck: bool,
) -> None:
    torch.manual_seed(0)
    # DenseNet-BC-22 / DenseNet-13: three layers per block, small enough to be fast.
    plain = cifar_densenet(22 if bottleneck else 13, bottleneck=bottleneck, drop_rate=0.2).train()
    efficient = copy.deepcopy(plain)
    efficient.set_grad_checkpointing(True)
    assert efficient.memory_efficient and not plain.memory_efficient
    x, y = torch.randn(4, 3, 16, 16), torch.arange(4)
    losses = []
    for model in (plain, efficient):
        torch.manual_seed(1)  # the same dropout masks
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        losses.append(loss)
    assert torch.equal(losses[0], losses[1])
    for (n, p), q in zip(plain.named_parameters(), efficient.parameters(), strict=True):
        assert torch.equal(p.grad, q.grad), n
    # The recomputation in backward does not update BN's running statistics a second time.
    for a, b in zip(plain.buffers(), efficient.buffers(), strict=True):
        assert torch.equal(a, b)


def test_memory_efficient_builder_option_matches_the_switch() -> None:
    with torch.device("meta"):
        model = create_model("densenet121", memory_efficient=True)
    assert model.memory_efficient


def test_one_dimensional_densenet_runs_on_sequences() -> None:
    torch.manual_seed(0)
    model = cifar_densenet(22, dims=1, in_channels=1).train()
    assert model.default_input_size == (1, 40)
    out = model(torch.randn(4, 1, 40))
    assert out.shape == (4, 10)
    F.cross_entropy(out, torch.arange(4)).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    convs = [m for m in model.modules() if isinstance(m, torch.nn.modules.conv._ConvNd)]
    assert convs and all(isinstance(m, torch.nn.Conv1d) for m in convs)


@pytest.mark.parametrize("depth", [7, 20, 3])
def test_depths_that_do_not_fit_name_the_accepted_form(depth: int) -> None:
    with pytest.raises(ValueError, match=r"6n\+4"):
        cifar_densenet(depth)


def test_a_dense_layer_is_the_concatenation_of_its_shortcut_and_branch() -> None:
    torch.manual_seed(0)
    model = cifar_densenet(22).eval()
    layer = model.blocks[3]
    x = torch.randn(2, layer.conv1.in_channels, 8, 8)
    with torch.no_grad():
        y = layer(x)
        assert torch.equal(y[:, : x.shape[1]], layer.shortcut(x))
        assert torch.equal(y[:, x.shape[1] :], layer.branch(x))
    assert y.shape[1] == x.shape[1] + model.growth_rate


def test_blocks_are_every_dense_layer_in_order() -> None:
    with torch.device("meta"):
        model = create_model("densenet_bc100")
    assert len(model.blocks) == 48 and len(model.stages) == 3
    assert all(isinstance(b, DenseLayer) for b in model.blocks)
    widths = [b.conv1.in_channels for b in model.stages[0].children()]
    assert widths == [24 + 12 * i for i in range(16)]


def test_a_lesioned_layer_contributes_zeros_and_keeps_every_shape() -> None:
    torch.manual_seed(0)
    model = cifar_densenet(22).eval()
    x = torch.randn(2, 3, 32, 32)
    layer = model.blocks[2]
    seen: list[torch.Tensor] = []
    hook = layer.register_forward_hook(lambda _m, _i, out: seen.append(out))
    with torch.no_grad():
        before = model(x)
        with lesioned(model, [2]):
            during = model(x)
        after = model(x)
    hook.remove()
    kept = layer.conv1.in_channels
    assert seen[1].shape == seen[0].shape
    assert torch.equal(seen[1][:, :kept], seen[0][:, :kept])  # the earlier features, untouched
    assert seen[1][:, kept:].abs().sum() == 0 and seen[0][:, kept:].abs().sum() > 0
    assert not torch.allclose(during, before)
    assert torch.equal(after, before)  # leaving the context restores the layer


def test_every_layer_can_be_lesioned_at_once_in_the_memory_efficient_mode() -> None:
    torch.manual_seed(0)
    model = cifar_densenet(22).eval()
    model.set_grad_checkpointing(True)
    with torch.no_grad(), lesioned(model, range(len(model.blocks))):
        out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10) and torch.isfinite(out).all()


def test_per_layer_gradient_norms_cover_every_dense_layer() -> None:
    torch.manual_seed(0)
    model = cifar_densenet(22, dims=1, in_channels=1)
    batches = [(torch.randn(8, 1, 40), torch.arange(8) % 10)]
    norms = block_gradient_norms(model, batches)
    for part in ("input", "weight", "activation"):
        assert norms[part].shape == (len(model.blocks),)
        assert (norms[part] > 0).all() and torch.isfinite(torch.from_numpy(norms[part])).all()
    # A layer's input is every earlier feature map of its block: the activation norm grows along
    # a block (its input is a superset of the previous layer's).
    per_block = len(model.stages[0]._modules)
    first = norms["activation"][:per_block]
    assert (first[1:] > first[:-1]).all()


def test_landscape_probe_moves_every_dense_layer() -> None:
    # The landscape tool deep-copies the model and makes its parameters views of one vector: the
    # branch views must still share the copy's layers, or moving would not reach H_l.
    torch.manual_seed(0)
    model = cifar_densenet(22, dims=1, in_channels=1).eval()
    probe = FlatProbe(model)
    layer = probe.model.blocks[0]
    assert layer.branch.first[2] is layer.conv1 and layer.branch.rest[2] is layer.conv2
    x = torch.randn(4, 1, 40)
    base = param_vector(model)
    direction = random_direction(model, seed=0)
    with torch.no_grad():
        probe.move_to(base, [direction], [0.0])
        assert torch.equal(probe.model(x), model(x))
        probe.move_to(base, [direction], [0.5])
        assert not torch.allclose(probe.model(x), model(x))
