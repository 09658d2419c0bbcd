"""Character-level text for language models, as nanoGPT's ``data/shakespeare_char/prepare.py``: the
vocabulary is the sorted set of characters of the whole file, the first 90% of the characters
train and the last 10% validate (nanoGPT has no third split; here it is the bundle's ``test``).

Each split is cut into windows of ``block_size + 1`` characters, ``x`` the first ``block_size``
and ``y`` the same shifted by one (every position predicts the next character). Windows start
every ``stride`` characters (default ``block_size``: every target is counted once per epoch);
they are views of one tensor of ids (``Tensor.unfold``), so a small stride costs no memory until
a batch is drawn. The loader shuffles windows by (seed, epoch), so batches are reproducible.
"""

from __future__ import annotations

from pathlib import Path

import torch

from reslab.data.bundle import DataBundle, DataError, Split
from reslab.data.paths import data_root

SHAKESPEARE_NAMES = ("shakespeare_char", "tinyshakespeare")
SHAKESPEARE_FILE = Path("tinyshakespeare") / "input.txt"
TEXT_PREFIX = "text:"
DEFAULT_BLOCK_SIZE = 256  # nanoGPT's shakespeare_char context
TRAIN_FRACTION = 0.9


def char_vocab(text: str) -> list[str]:
    return sorted(set(text))


def encode(text: str, classes: list[str]) -> torch.Tensor:
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted(set(text) - index.keys())
    if unknown:
        raise ValueError(f"characters {unknown[:5]!r} are not in the vocabulary of {len(index)}")
    return torch.tensor([index[c] for c in text], dtype=torch.int64)


def decode(ids: torch.Tensor | list[int], classes: list[str]) -> str:
    values = ids.tolist() if isinstance(ids, torch.Tensor) else ids
    return "".join(classes[i] for i in values)


def windows(ids: torch.Tensor, block_size: int, stride: int | None = None) -> Split:
    """Every (x, y) pair of ``block_size`` ids and their successors, starting each ``stride``."""
    stride = stride or block_size
    if block_size < 1 or stride < 1:
        raise ValueError(f"block_size={block_size} and stride={stride} must be >= 1")
    if len(ids) < block_size + 1:
        raise DataError(
            f"a split of {len(ids)} characters holds no window of block_size + 1 = "
            f"{block_size + 1}; accepted: block_size <= {len(ids) - 1}"
        )
    return Split(ids[:-1].unfold(0, block_size, stride), ids[1:].unfold(0, block_size, stride))


def shakespeare_path(data_dir: str | Path | None) -> Path:
    return data_root(data_dir) / SHAKESPEARE_FILE


def load_text(
    path: str | Path, *, block_size: int | None = None, stride: int | None = None,
    name: str | None = None,
) -> DataBundle:  # fmt: skip
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(
            f"no text file at {path}; for Tiny Shakespeare put input.txt (char-rnn's, 1,115,394 "
            f"characters) at DATA_DIR/{SHAKESPEARE_FILE} and pass data_dir=DATA_DIR"
        ) from None
    classes = char_vocab(text)
    ids = encode(text, classes)
    block = block_size or DEFAULT_BLOCK_SIZE
    cut = int(len(ids) * TRAIN_FRACTION)
    return DataBundle(
        name=name or f"{TEXT_PREFIX}{path}",
        train=windows(ids[:cut], block, stride),
        test=windows(ids[cut:], block),  # held out, every target once
        val=None,
        num_classes=len(classes),
        in_channels=1,
        dims=0,
        input_size=(block,),
        mean=(0.0,),  # token ids are never normalised
        std=(1.0,),
        source=str(path),
        classes=classes,
    )


def unigram_entropy(ids: torch.Tensor, vocab_size: int) -> float:
    """Entropy (nats per character) of the characters' frequencies: the loss of a model that
    ignores the context, and so a floor every trained language model must get below."""
    p = torch.bincount(ids.flatten(), minlength=vocab_size).double()
    p = p[p > 0] / p.sum()
    return float(-(p * p.log()).sum())
