"""What every door (the CLI, the bot) says, in one place: sizes, times, marks, status.

No click, no telegram here, and no door's own commands in the words: a door passes its
hints (how to start the scheduler, how to resume it) where a text needs one. The words are
English by default (the CLI); the bot asks for its admin's language, Indonesian or English,
from the one table in `words`.
"""
