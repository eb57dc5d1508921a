"""A method whose random draws (dropout masks, jigsaw permutations, mixup coefficients) come from
streams seeded by (trial seed, consumer, optimizer step).

A `torch.Generator` is not part of a module's state, so instead of keeping one the method counts
its optimizer steps in a buffer (checkpointed with the model) and seeds a fresh stream per step:
a resumed run draws exactly what an uninterrupted one draws (`mmdg_bench.seeding`).
"""

import numpy as np
import torch

from mmdg_bench.errors import UserError
from mmdg_bench.methods.base import Method, MethodContext
from mmdg_bench.seeding import derive_seed, stream


class StepSeeded(Method):
    def __init__(self, params, context: MethodContext):
        super().__init__(params, context)
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))  # optimizer steps taken

    def generator(self, *names, device: torch.device | str = "cpu") -> torch.Generator:
        """This step's torch stream for one consumer (`names`, e.g. "moosa/jigsaw")."""
        return stream(self.context.seed, *names, int(self.steps), device=device)

    def numpy_generator(self, *names) -> np.random.Generator:
        """This step's numpy stream, for draws torch cannot seed (Beta samples)."""
        return np.random.default_rng(derive_seed(self.context.seed, *names, int(self.steps)))

    def after_step(self) -> None:
        self.steps += 1


def require_modalities(context: MethodContext, method: str, at_least: int = 2) -> None:
    """Cross-modal methods compare each modality with the others; one modality has no other."""
    if len(context.modalities) < at_least:
        raise UserError(f"{method} aligns modalities with each other, so it needs at least {at_least} "
                        f"modalities, but data.modalities is {context.modalities}: add a modality or use erm")
