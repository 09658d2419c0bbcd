"""Running sums of the training loss and error, per log interval and per epoch."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field


@dataclass
class Window:
    loss_sum: float = 0.0  # sum over samples of the (label-smoothed) training loss
    wrong: float = 0.0
    n: int = 0
    # Seconds spent training (evaluation excluded), for throughput; not part of checkpoints'
    # reproducible state, but kept so a resumed interval still reports a rate.
    seconds: float = 0.0
    started: float = field(default_factory=time.perf_counter, repr=False)

    def add(self, loss_sum: float, wrong: float, n: int) -> None:
        self.loss_sum += loss_sum
        self.wrong += wrong
        self.n += n

    @property
    def loss(self) -> float:
        return self.loss_sum / self.n if self.n else float("nan")

    @property
    def err(self) -> float:
        return self.wrong / self.n if self.n else float("nan")

    def pause(self) -> None:
        self.seconds += time.perf_counter() - self.started

    def resume(self) -> None:
        self.started = time.perf_counter()

    def images_per_second(self) -> float:
        elapsed = self.seconds + time.perf_counter() - self.started
        return self.n / elapsed if elapsed > 0 else float("nan")

    def state(self) -> dict[str, float]:
        return {k: v for k, v in asdict(self).items() if k != "started"}

    @classmethod
    def from_state(cls, state: dict[str, float]) -> Window:
        return cls(state["loss_sum"], state["wrong"], int(state["n"]), state["seconds"])
