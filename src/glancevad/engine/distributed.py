"""Data-parallel training with PyTorch DDP, started by ``torchrun`` (or ``glancevad train --nproc K``).

Every process draws the *same* global batch from the paired sampler (same seed, same state) and
trains on its own slice of it — video ``i`` of each class goes to rank ``i mod world`` — so the
pairing of normal and abnormal videos, and the batches of a resumed run, do not depend on the
number of processes. DDP averages the gradients; losses that are means over videos therefore give
the gradient of the whole batch. Rank 0 alone logs, validates and writes checkpoints.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from glancevad.errors import GlanceVADError


@dataclass(frozen=True)
class DistributedContext:
    """This process's place in the job; ``world == 1`` is an ordinary single-process run."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, indices: np.ndarray) -> np.ndarray:
        """This rank's slice of a global batch: elements ``rank, rank + world, …``."""
        return indices[self.rank :: self.world]

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    @contextlib.contextmanager
    def main_first(self) -> Iterator[None]:
        """Rank 0 runs the block first (e.g. builds a cache), the others after it has finished."""
        if not self.is_main:
            self.barrier()
        yield
        if self.is_main:
            self.barrier()


def context_from_env() -> DistributedContext:
    """Read torchrun's ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` (absent: one process)."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    except ValueError:
        raise GlanceVADError("RANK, WORLD_SIZE and LOCAL_RANK must be integers") from None
    return DistributedContext(rank, world, local_rank)


def init_process_group(ctx: DistributedContext, device: torch.device) -> torch.device:
    """Join the job's process group (gloo on CPU, NCCL on CUDA); returns this rank's device."""
    if not ctx.enabled:
        return device
    if device.type == "cuda":
        device = torch.device("cuda", ctx.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return device


def shutdown(ctx: DistributedContext) -> None:
    if ctx.enabled and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def check_batch(batch_size: int, ctx: DistributedContext) -> None:
    """Equal slices are what make averaged gradients equal the whole batch's gradient."""
    if ctx.enabled and batch_size % ctx.world:
        raise GlanceVADError(
            f"batch_size {batch_size} videos per class cannot be split evenly over {ctx.world} processes"
        )


def run_under_torchrun(nproc: int, argv: list[str], *, on_start: Callable[[str], None] | None = None) -> int:
    """Run ``glancevad ARGV`` (its ``--nproc`` removed) as ``torchrun --standalone --nproc_per_node nproc``.

    Each process gets ``cores / nproc`` threads unless OMP_NUM_THREADS is set. ``on_start(command
    line)`` is called before the start. Returns torchrun's exit code.
    """
    import subprocess
    import sys

    args, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            args.append(arg)
    threads = max(1, (os.cpu_count() or 1) // nproc)
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", str(threads))}
    if on_start is not None:
        on_start(f"torchrun --standalone --nproc_per_node={nproc} -m glancevad " + " ".join(args))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
               "-m", "glancevad", *args]
    return subprocess.run(command, env=env).returncode
