"""Time to load a GPT-2-124M-sized model from a saved Hugging Face folder through reslab's loader.

A random ``GPT2LMHeadModel`` (n_layer=12, n_head=12, n_embd=768, vocab 50257, n_positions 1024:
GPT-2 small's shape) is saved with ``save_pretrained`` (config.json + model.safetensors) into a
temporary folder; then ``reslab.load_pretrained("gpt2:FOLDER")`` is timed with
``time.perf_counter`` (wall clock) and ``time.process_time`` (this process's CPU time), the
first load (cold page cache is not forced: the file was just written) and the median of
``--repeats`` more. For comparison, transformers' own ``GPT2LMHeadModel.from_pretrained`` on the
same folder. Finally the loaded model's logits are compared with the source's on one sequence.

    .venv/bin/python benchmarks/bench_pretrained.py              # 3 repeats
    .venv/bin/python benchmarks/bench_pretrained.py --repeats 1
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from reslab import load_pretrained

GPT2_SMALL = {"n_layer": 12, "n_head": 12, "n_embd": 768, "vocab_size": 50257, "n_positions": 1024}


def timed(fn: Callable[[], object]) -> tuple[float, float, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import transformers

    torch.manual_seed(0)
    source = transformers.GPT2LMHeadModel(transformers.GPT2Config(**GPT2_SMALL)).eval()
    print(f"machine: {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} torch threads; torch {torch.__version__}, "
          f"transformers {transformers.__version__}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "gpt2"
        source.save_pretrained(folder)
        size = sum(f.stat().st_size for f in folder.iterdir()) / 2**20
        files = ", ".join(sorted(p.name for p in folder.iterdir()))
        print(f"saved folder: {size:.0f} MiB ({files})")
        for name, load in (
            ("reslab load_pretrained", lambda: load_pretrained(f"gpt2:{folder}")),
            ("transformers from_pretrained",
             lambda: transformers.GPT2LMHeadModel.from_pretrained(folder)),
        ):  # fmt: skip
            first_wall, first_cpu, model = timed(load)
            rest = [timed(load)[:2] for _ in range(args.repeats)]
            med_wall = statistics.median(r[0] for r in rest) if rest else float("nan")
            med_cpu = statistics.median(r[1] for r in rest) if rest else float("nan")
            print(
                f"{name:30s} first {first_wall:6.2f} s wall ({first_cpu:5.2f} s CPU); "
                f"median of {len(rest)}: {med_wall:6.2f} s wall ({med_cpu:5.2f} s CPU)"
            )
            if name.startswith("reslab"):
                x = torch.randint(0, GPT2_SMALL["vocab_size"], (1, 64))
                with torch.no_grad():
                    diff = (model(x) - source(x).logits).abs().max().item()  # type: ignore[operator]
                print(f"  max |logits difference| vs the source model on 64 tokens: {diff:.3g}")


if __name__ == "__main__":
    main()
