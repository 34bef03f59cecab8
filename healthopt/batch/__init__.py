"""Batch jobs: many scenarios (a folder or a parameter sweep), in parallel, resumable."""

from healthopt.batch.runner import BatchRun, run_batch
from healthopt.batch.sweep import Batch, Member, load_batch

__all__ = ["Batch", "BatchRun", "Member", "load_batch", "run_batch"]
