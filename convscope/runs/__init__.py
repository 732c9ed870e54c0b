"""Runs on disk: every training is a run directory that survives a crash, resumes
exactly, can be followed while another process writes it, and is compared with others.

Qt-free and JAX-free at import (listing runs must be fast): :mod:`~convscope.runs.layout`
(the format), :mod:`~convscope.runs.metrics` (``metrics.jsonl``),
:mod:`~convscope.runs.writer` (what the training loop calls), :mod:`~convscope.runs.reader`
(summaries, curves, the user's edits), :mod:`~convscope.runs.follow` (a run another
process writes). The GUI's Runs panel and ``convscope runs`` are views of it.
"""

from convscope.runs.follow import Follower, FollowUpdate
from convscope.runs.layout import default_root
from convscope.runs.metrics import Curves
from convscope.runs.reader import RunSummary, annotate, delete_run, list_runs, read_curves, read_summary
from convscope.runs.writer import RunWriter

__all__ = ["Curves", "FollowUpdate", "Follower", "RunSummary", "RunWriter", "annotate", "default_root",
           "delete_run", "list_runs", "read_curves", "read_summary"]
