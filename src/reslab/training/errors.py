"""The training engine's errors: each message is one line that names the bad value and the fix."""

from __future__ import annotations


class ConfigError(ValueError):
    """A recipe, an override or a setup choice that cannot work; raised before any training."""


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, truncated, tampered with or written for another model."""
