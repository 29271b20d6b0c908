"""The double-tap guard of a menu message (src/bot/menu_guard.py)."""

from __future__ import annotations

from src.bot import menu_guard


def test_a_second_tap_is_refused_while_the_first_works_and_taken_once_it_ends():
    held: dict[menu_guard.Key, object] = {}
    with menu_guard.holding(held, (1, 2)) as first:
        assert first
        with menu_guard.holding(held, (1, 2)) as second:
            assert not second
        with menu_guard.holding(held, (1, 3)) as other_menu:
            assert other_menu
    assert held == {}
    with menu_guard.holding(held, (1, 2)) as later:
        assert later


def test_the_menu_is_free_once_the_outcome_shows_and_a_new_holder_keeps_it():
    held: dict[menu_guard.Key, object] = {}
    with menu_guard.holding(held, (1, 2)):
        menu_guard.outcome_shown()
        assert held == {}
        # a tap on the outcome's buttons starts the next action on the same menu ...
        with menu_guard.holding(held, (1, 2)) as next_action:
            assert next_action
            holder = held[(1, 2)]
            menu_guard.outcome_shown()  # ... whose own outcome frees it
        assert held == {}
        held[(1, 2)] = holder
    assert held == {(1, 2): holder}  # the first action's end never frees another's hold


def test_showing_an_outcome_outside_a_working_action_does_nothing():
    menu_guard.outcome_shown()
