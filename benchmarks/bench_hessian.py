"""reslab's Hessian probe against PyHessian: the same top eigenvalue (and trace), and the time.

PyHessian is not a dependency of reslab; install it into the environment for this benchmark only:

    .venv/bin/pip install pyhessian
    PYTHONPATH=src .venv/bin/python benchmarks/bench_hessian.py                 # 2,048 samples
    PYTHONPATH=src .venv/bin/python benchmarks/bench_hessian.py --samples 128   # smoke run

One model, one set of batches, for both: a CIFAR ResNet-20 (``reslab.create_model("resnet20")``,
its initial weights from a seed, BN running statistics set by a few no-grad passes over the
batches in train mode, as after training), evaluated in eval mode (PyHessian calls
``model.eval()``; reslab's probe does the same) on the first ``--samples`` images of the CIFAR-10
training subset in ``--data`` (an ImageFolder tree, loaded with ``imagefolder:PATH``; the
``cifar10`` loader wants the python batches of the full set, which this machine does not have).
Where that folder is absent, random images of CIFAR shape and random labels stand in (said so in
the output).

Both compute lambda_max by power iteration with PyHessian's stopping rule (relative change of the
Rayleigh quotient below ``--tol``, at most ``--iters`` products) from different random starts,
so they agree to the tolerance, not to the last digit. The trace is Hutchinson's mean over
``--probes`` Rademacher vectors each (PyHessian's early stop is disabled so both use the same
count); the two means differ by sampling noise, compared with reslab's standard error.
Times are wall clock and this process's CPU time, per method and per Hessian-vector product
(each method's products counted).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

import reslab
from reslab.data import load_data, make_loader
from reslab.probes.hessian import Hessian

DATA = "/work/shared/data/cifar10-subset"


def batches_of(data: str, samples: int, batch: int) -> tuple[list, str]:
    if Path(data).is_dir():
        bundle = load_data(f"imagefolder:{data}")
        loader = make_loader(bundle, "train", batch_size=batch, train=False)
        out, seen = [], 0
        for x, y in loader:
            take = min(len(x), samples - seen)
            out.append((x[:take], y[:take]))
            seen += take
            if seen >= samples:
                break
        return out, f"CIFAR-10 subset at {data} (first {seen} training images)"
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(samples, 3, 32, 32, generator=generator)
    y = torch.randint(0, 10, (samples,), generator=generator)
    return [(x[i : i + batch], y[i : i + batch]) for i in range(0, samples, batch)], (
        f"RANDOM data of CIFAR shape ({data} is absent)"
    )


def model_for(batches: list, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = reslab.create_model("resnet20")
    model.train()
    with torch.no_grad():  # BN running statistics of these images, as a trained net has
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.momentum = None  # a cumulative average over the passes
        for x, _ in batches:
            model(x)
    return model.eval()


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    value = fn()
    return value, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=2048)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--iters", type=int, default=100, help="power iteration cap (both)")
    parser.add_argument("--tol", type=float, default=1e-3, help="power iteration tolerance")
    parser.add_argument("--probes", type=int, default=10, help="Hutchinson probes (0: no trace)")
    parser.add_argument("--data", default=DATA)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from pyhessian import hessian as pyhessian_hessian  # imported late: an optional install

    batches, source = batches_of(args.data, args.samples, args.batch)
    model = model_for(batches, args.seed)
    params = sum(p.numel() for p in model.parameters())
    print(f"data: {source}; resnet20, {params} parameters, {len(batches)} batches of <= "
          f"{args.batch}; torch {torch.__version__}, {args.threads} threads")

    ours = Hessian(model, batches)
    (lam,), wall, cpu = timed(lambda: ours.eigenvalues(1, args.iters, args.tol, args.seed))
    ours_hvps = ours.hvps
    print(f"reslab    lambda_max {lam:.6g}  {ours_hvps} HVPs  wall {wall:.1f} s  cpu {cpu:.1f} s  "
          f"({wall / ours_hvps:.2f} s per HVP)")

    criterion = torch.nn.CrossEntropyLoss()
    theirs = pyhessian_hessian(model, criterion, dataloader=batches, cuda=False)
    calls = {"n": 0}
    product = theirs.dataloader_hv_product

    def counted(v):
        calls["n"] += 1
        return product(v)

    theirs.dataloader_hv_product = counted
    torch.manual_seed(args.seed)  # PyHessian draws its start from the global generator
    (values, _), p_wall, p_cpu = timed(lambda: theirs.eigenvalues(args.iters, args.tol, 1))
    p_lam, p_hvps = values[0], calls["n"]
    print(f"PyHessian lambda_max {p_lam:.6g}  {p_hvps} HVPs  wall {p_wall:.1f} s  cpu "
          f"{p_cpu:.1f} s  ({p_wall / p_hvps:.2f} s per HVP)")
    print(f"lambda_max: reslab / PyHessian = {lam / p_lam:.4f} ({100 * (lam / p_lam - 1):+.2f}%); "
          f"time per HVP reslab / PyHessian: wall {(wall / ours_hvps) / (p_wall / p_hvps):.2f}, "
          f"cpu {(cpu / ours_hvps) / (p_cpu / p_hvps):.2f}; total wall {wall / p_wall:.2f}")

    if args.probes:
        trace, t_wall, _ = timed(lambda: ours.trace(args.probes, args.seed))
        torch.manual_seed(args.seed)
        # tol -inf: PyHessian's stopping test divides by the running trace, so with a negative
        # trace any tol >= 0 stops it after two probes.
        samples, pt_wall, _ = timed(lambda: theirs.trace(maxIter=args.probes, tol=-np.inf))
        p_trace = float(np.mean(samples))
        print(f"trace: reslab {trace.estimate:.6g} +- {trace.se:.3g} (SE, {trace.probes} probes, "
              f"{t_wall:.1f} s); PyHessian {p_trace:.6g} ({len(samples)} probes, {pt_wall:.1f} s);"
              f" difference {(trace.estimate - p_trace) / trace.se:+.2f} SE")
    assert model.training is False  # both leave the benchmark's model in eval mode


if __name__ == "__main__":
    main()
