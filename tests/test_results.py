"""mapping.results.paint: the sweep every table engine paints its spans with."""
from acpitables.mapping.results import paint


def test_paint_first_rule_wins_and_gaps_merge():
    rules = [(0x10, 0x1F, "a"), (0x00, 0xFF, "b"), (0x18, 0x30, "c")]
    assert paint(rules, 0, 0x3F) == [(0x00, 0x0F, 1), (0x10, 0x17, 0), (0x18, 0x1F, 0),
                                     (0x20, 0x30, 1), (0x31, 0x3F, 1)]
    assert paint([(5, 5, "x"), (7, 7, "y")], 0, 9) == [(0, 4, None), (5, 5, 0), (6, 6, None),
                                                       (7, 7, 1), (8, 9, None)]


def test_paint_extra_points_cut_uncovered_gaps_too():
    """An extra point starts an interval even where no rule covers either
    side: the DMAR engine attaches an assumption from a bus onwards, and a
    merged gap lost it (map --all printed 0x0100..0xffff without it)."""
    assert paint([(0x20, 0x20, "r")], 0, 0xFFFF, [0x100]) == [
        (0, 0x1F, None), (0x20, 0x20, 0), (0x21, 0xFF, None), (0x100, 0xFFFF, None)]
