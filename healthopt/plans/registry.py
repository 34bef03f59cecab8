"""The plans of a run, in the order the pipeline solves them.

Order matters where a plan reads an earlier one's result (``context.results``): the bed
plan reserves the ICU beds the green channel's receivers promise, so the green channel
comes first. The same order decides the order of the plans' columns in the districts
layer and of their notes in ``summary.json``.

Adding a plan: write a module with a class following :class:`healthopt.plans.base.Plan`
and add it to :data:`PLANS`.
"""

from __future__ import annotations

from healthopt.plans.ambulances import Ambulances
from healthopt.plans.base import Plan
from healthopt.plans.beds import Beds
from healthopt.plans.green_channel import GreenChannel
from healthopt.plans.primary_care import PrimaryCare
from healthopt.plans.workforce import Workforce

PLANS: tuple[type[Plan], ...] = (
    Ambulances,
    GreenChannel,
    PrimaryCare,
    Beds,
    Workforce,
)

#: Plans that read no other plan's result and whose result no other plan reads: a single run
#: solves the first of them in a forked child while it solves the others
#: (:mod:`healthopt.pipeline._alongside`).
INDEPENDENT: frozenset[str] = frozenset({PrimaryCare.name})
