"""U-Net (Ronneberger et al. 2015, "U-Net: Convolutional Networks for Biomedical Image
Segmentation", Fig. 1) and Res-U-Net (Drozdzal et al. 2016, "The Importance of Skip Connections in
Biomedical Image Segmentation"): an encoder that halves the resolution per level, a decoder that
doubles it back, and a long skip per level that carries the encoder's features to the decoder.

Per level: a block of two 3x3 convs (each followed by BN and ReLU), a 2x2 max-pool down, a 2x2
up-conv that halves the channels on the way up, and a 1x1 conv head. The long skip is
``skip="concat"`` (U-Net), ``"add"`` (Drozdzal et al.) or ``"none"`` (a plain encoder-decoder);
the blocks are reslab's ``BasicBlock``, ``block="residual"`` with a projection shortcut (option
B) where the width changes, ``block="plain"`` the same class with ``shortcut="none"``.

Two departures from the paper, both standard in re-implementations: a BatchNorm after every conv
(the paper has none; Drozdzal et al. use BN), and "same" padding. The paper's convs are unpadded,
so a 572x572 tile gives a 388x388 map and each skip is cropped to the decoder's size (Sec. 2,
"cropping is necessary due to the loss of border pixels in every convolution"; Fig. 1); large
images are then segmented tile by tile ("overlap-tile", Fig. 2). Padded convs keep the output
the size of the input, so a mask (N, H, W) is the target as it is and no tiling is needed.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
from torch import nn

from reslab.blocks import BasicBlock, ResidualBlock
from reslab.models.registry import register_model
from reslab.nn.checkpoint import Checkpointable, checkpoint_module
from reslab.nn.shortcuts import NoShortcut

SKIPS: tuple[str, ...] = ("concat", "add", "none")
UNET_BLOCKS: tuple[str, ...] = ("plain", "residual")
PADDINGS: tuple[str, ...] = ("same",)


def _check(name: str, value: object, accepted: tuple[str, ...]) -> None:
    if value not in accepted:
        raise ValueError(
            f"{name}={value!r} is not accepted; accepted values: {', '.join(accepted)}"
        )


class _Path(nn.Module):
    """What a long skip runs beside: down, the next level (its block, its own long skip, its
    decoder block), then the up-conv. A view over modules the U-Net registers, like a residual
    block's ``branch``."""

    def __init__(
        self,
        pool: nn.Module,
        encoder: ResidualBlock,
        inner: LongSkip | None,
        decoder: ResidualBlock | None,
        up: nn.Module,
        run: Callable[[nn.Module, torch.Tensor], torch.Tensor],
    ) -> None:
        super().__init__()
        # Unregistered: the U-Net owns these modules, so registering them here would duplicate
        # every key of the state dict.
        self.__dict__.update(pool=pool, encoder=encoder, inner=inner, decoder=decoder, up=up)
        self.__dict__["run"] = run

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        x = self.run(self.encoder, self.pool(e))
        if self.inner is not None:
            x = self.run(self.decoder, self.inner(x))
        return self.up(x)


class LongSkip(nn.Module):
    """A level's long skip as a unit: ``merge(skip(e), path(e))``, e the encoder block's output.

    ``skip`` is the identity (``NoShortcut`` for ``merge="none"``, which adds nothing) and
    ``path`` the deeper levels; ``shortcut``, ``branch`` and ``act`` name the same for the tools
    written for residual blocks. ``combine`` is the merge alone, so a lesion can cut the skip
    (``combine(zeros, path(e))``) and keep the path.
    """

    def __init__(self, merge: str, path: _Path) -> None:
        super().__init__()
        _check("skip", merge, SKIPS)
        self.merge = merge
        self.skip = NoShortcut() if merge == "none" else nn.Identity()
        self.act = nn.Identity()
        self.__dict__["path"] = path
        self.changes_shape = merge == "concat"  # the decoder sees twice the channels

    path: _Path

    @property
    def shortcut(self) -> nn.Module:
        return self.skip

    @property
    def branch(self) -> nn.Module:
        return self.path

    @property
    def is_plain(self) -> bool:
        return self.merge == "none"

    def combine(self, skipped: torch.Tensor | int, path: torch.Tensor) -> torch.Tensor:
        if self.merge == "concat":
            # Skip first, as in Fig. 1 (the copied feature map, then the up-conv's output).
            return torch.cat([skipped, path], dim=1)  # type: ignore[list-item]
        return skipped + path  # "none": NoShortcut gives 0

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        return self.act(self.combine(self.skip(e), self.path(e)))


class UNet(Checkpointable, nn.Module):
    """A U-Net; the defaults are the paper's (5 levels, 64 to 1024 channels, concatenated skips,
    2 classes). ``skip``: concat, add, none; ``block``: plain, residual."""

    def __init__(
        self,
        *,
        levels: int = 5,
        width: int = 64,
        skip: str = "concat",
        block: str = "plain",
        num_classes: int = 2,
        in_channels: int = 3,
        padding: str = "same",
        zero_init_residual: bool = False,
    ) -> None:
        super().__init__()
        _check("skip", skip, SKIPS)
        _check("block", block, UNET_BLOCKS)
        _check("padding", padding, PADDINGS)
        if levels < 1 or width < 1:
            raise ValueError(f"levels={levels} and width={width} must both be >= 1")
        self.levels, self.width, self.skip, self.block = levels, width, skip, block
        self.in_channels, self.num_classes, self.dims = in_channels, num_classes, 2
        self.num_features = width
        self.default_input_size = (in_channels, 32, 32)
        widths = [width * 2**level for level in range(levels)]
        make = partial(BasicBlock, shortcut="B" if block == "residual" else "none")
        self.encoders = nn.ModuleList(
            make(cin, cout) for cin, cout in zip([in_channels, *widths[:-1]], widths, strict=True)
        )
        self.pool = nn.MaxPool2d(2)
        # 2x2 up-conv halving the channels (Fig. 1, green arrows); it keeps its bias, as no BN
        # follows it.
        self.ups = nn.ModuleList(
            nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2) for i in range(levels - 1)
        )
        joined = 2 if skip == "concat" else 1
        self.decoders = nn.ModuleList(make(joined * w, w) for w in widths[:-1])
        self.head = nn.Conv2d(width, num_classes, 1)
        units: list[LongSkip] = []
        for i in reversed(range(levels - 1)):  # built from the deepest level out
            inner = units[-1] if units else None
            decoder = self.decoders[i + 1] if inner is not None else None
            path = _Path(self.pool, self.encoders[i + 1], inner, decoder, self.ups[i], self._run)
            units.append(LongSkip(skip, path))
        # Parameter-free units (their paths are views): no keys of their own in the state dict.
        self.skip_units = nn.ModuleList(reversed(units))
        self._init_weights(zero_init_residual)

    def _init_weights(self, zero_init_residual: bool) -> None:
        # He initialisation, which the paper recommends for its ReLU nets (Sec. 3).
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        if zero_init_residual:
            for b in self.blocks:
                if not b.is_plain:
                    b.zero_init_last()

    @property
    def blocks(self) -> list[ResidualBlock]:
        """The conv blocks in the order the input meets them: encoder levels down, then decoder
        levels up."""
        return [*self.encoders, *reversed(self.decoders)]  # type: ignore[list-item]

    @property
    def long_skips(self) -> list[LongSkip]:
        """One unit per level but the deepest, outermost (full resolution) first."""
        return list(self.skip_units)  # type: ignore[arg-type]

    @property
    def stages(self) -> list[nn.Sequential]:
        return [nn.Sequential(b) for b in self.blocks]

    def _run(self, block: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if self.grad_checkpointing and self.training and torch.is_grad_enabled():
            return checkpoint_module(block, x)
        return block(x)

    def check_input(self, x: torch.Tensor) -> None:
        factor = 2 ** (self.levels - 1)
        if (
            x.dim() != 4
            or x.shape[1] != self.in_channels
            or x.shape[-1] % factor
            or (x.shape[-2] % factor)
        ):
            raise ValueError(
                f"U-Net expects images (N, C, H, W) with C={self.in_channels} and H, W divisible "
                f"by 2**(levels-1)={factor}; got input of shape {tuple(x.shape)}"
            )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        e = self._run(self.encoders[0], x)
        if self.levels == 1:
            return e
        return self._run(self.decoders[0], self.skip_units[0](e))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return x if pre_logits else self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


register_model(
    "unet",
    UNet,
    family="unet",
    source="Ronneberger et al. 2015, U-Net, Fig. 1 (with BN and same padding)",
    paper_params=None,  # the paper gives no parameter count
)
register_model(
    "res_unet",
    partial(UNet, block="residual", skip="add"),
    family="unet",
    source="Drozdzal et al. 2016, The Importance of Skip Connections in Biomedical Image "
    "Segmentation (long skips by addition, residual blocks)",
)
