import boxmask
from boxmask.testing.answers import make_items, to_answer_text


def test_parse_synthetic_answer_round_trip() -> None:
    items = make_items(5, seed=1)
    d = boxmask.parse(to_answer_text(items), width=640, height=480)
    assert len(d) == 5
    assert d.masks is not None and d.masks.has_mask.all()
    assert not d.problems
