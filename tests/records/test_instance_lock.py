"""One server per database: the lock `callcenter serve` holds, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from callcenter.records.instance_lock import AlreadyServing, hold_instance_lock


def test_a_second_holder_is_refused_until_the_first_lets_go(database_url):
    """While one lock is held another is refused with what to do; once released it can be taken."""
    first = hold_instance_lock(database_url)
    try:
        with pytest.raises(AlreadyServing, match="stop the other server first"):
            hold_instance_lock(database_url)
    finally:
        first.release()
    again = hold_instance_lock(database_url)
    again.release()
    again.release()  # harmless twice
