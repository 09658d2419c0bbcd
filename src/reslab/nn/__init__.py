from reslab.nn.drop_path import DropPath, drop_path_rates
from reslab.nn.shortcuts import SHORTCUTS, NoShortcut, PadShortcut, make_shortcut

__all__ = ["SHORTCUTS", "DropPath", "NoShortcut", "PadShortcut", "drop_path_rates", "make_shortcut"]
