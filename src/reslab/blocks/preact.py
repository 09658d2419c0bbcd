"""Pre-activation blocks (He et al. 2016, "Identity Mappings in Deep Residual Networks", Fig. 1b).

BN and ReLU move to the start of the branch and nothing follows the addition, so the shortcut
path is a pure identity from any block to any later one (their eq. 4): x_L = x_l + sum F.
They are the basic and bottleneck blocks in the "full_preact" placement (``layout.py``).
"""

from __future__ import annotations

from reslab.blocks.basic import BasicBlock, Bottleneck


class PreActBasicBlock(BasicBlock):
    default_placement = "full_preact"


class PreActBottleneck(Bottleneck):
    default_placement = "full_preact"
