"""The collector's settings the server takes once serving."""

from __future__ import annotations

import gc

from callcenter.runtime.memory import THRESHOLDS, settle_after_start_up


def test_start_up_objects_are_frozen_and_the_young_generation_is_collected_less_often():
    before, frozen = gc.get_threshold(), gc.get_freeze_count()
    survivor = [object() for _ in range(1000)]
    try:
        settle_after_start_up()
        assert gc.get_threshold() == THRESHOLDS and THRESHOLDS[0] > before[0]
        assert gc.get_freeze_count() >= frozen + len(survivor)
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
