"""An exponential moving average of the trainable weights (Polyak averaging), for `ema: DECAY` in a recipe.

Training steps on the raw weights; validation, the test curve and the saved model use the average, which follows
the last few hundred steps instead of the last one (a cheap stand-in for averaging checkpoints: the same model's
prediction cost). Early steps count with a smaller decay, min(decay, (1 + n) / (10 + n)), so the average is
not held at the starting weights for its first steps.
"""
import contextlib

import torch


class Ema:
    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = decay
        self.params = [p for p in model.parameters() if p.requires_grad]  # frozen ones never differ
        self.shadow = [p.detach().clone() for p in self.params]
        self.updates = 0

    @torch.no_grad()
    def update(self) -> None:
        """After each optimizer step: shadow ← shadow + (1 − d)(weights − shadow)."""
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        torch._foreach_lerp_(self.shadow, [p.detach() for p in self.params], 1.0 - decay)
        self.updates += 1

    @contextlib.contextmanager
    def applied(self):
        """The model holds the average inside the block and its own weights again after it."""
        raw = [p.detach().clone() for p in self.params]
        with torch.no_grad():
            for p, s in zip(self.params, self.shadow):
                p.copy_(s)
        try:
            yield
        finally:
            with torch.no_grad():
                for p, r in zip(self.params, raw):
                    p.copy_(r)

    def state_dict(self) -> dict:
        return {"shadow": [s.clone() for s in self.shadow], "updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        if len(state["shadow"]) != len(self.shadow):
            raise ValueError(f"checkpoint averages {len(state['shadow'])} tensors, the model trains {len(self.shadow)}")
        with torch.no_grad():
            for s, saved in zip(self.shadow, state["shadow"]):
                s.copy_(saved)
        self.updates = int(state["updates"])
