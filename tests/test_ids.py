"""Consent ids are UUIDv7: time-ordered, unguessable, in the canonical form."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from cmp.ids import time_ordered_id

T0 = datetime(2031, 5, 17, 8, 30, tzinfo=UTC)


def test_ids_are_version_7_and_carry_their_millisecond() -> None:
    text = time_ordered_id(T0)
    value = uuid.UUID(text)
    assert (value.version, value.variant) == (7, uuid.RFC_4122)
    assert value.int >> 80 == int(T0.timestamp() * 1000)
    assert text == str(value)  # the canonical lower-case 8-4-4-4-12 form


def test_later_ids_sort_after_earlier_ones() -> None:
    ids = [time_ordered_id(T0 + timedelta(milliseconds=n)) for n in range(0, 5000, 7)]
    assert ids == sorted(ids)


def test_ids_of_the_same_millisecond_differ_in_74_random_bits() -> None:
    ids = {uuid.UUID(time_ordered_id(T0)).int for _ in range(2000)}
    assert len(ids) == 2000
    random_bits = 0
    for value in ids:
        random_bits |= value & ~(((1 << 48) - 1) << 80 | 0xF << 76 | 0b11 << 62)
    assert bin(random_bits).count("1") == 74
