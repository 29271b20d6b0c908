"""The lost rowid ranges a backup fills, merged before they are read."""

from __future__ import annotations

from src.services.salvage.second_source import merge


def test_overlapping_and_touching_ranges_merge():
    assert merge([(10, 20), (15, 30), (30, 40), (50, 60)]) == [(10, 40), (50, 60)]


def test_unbounded_ranges_swallow_what_they_cover():
    assert merge([(5, 9), (None, 3), (2, None)]) == [(None, None)]
    assert merge([(None, 4), (8, None), (1, 2)]) == [(None, 4), (8, None)]
    assert merge([(None, None), (1, 2)]) == [(None, None)]
    assert merge([]) == []
