from server.engine.stop_strings import StopMatch, StopStrings


def test_finds_the_earliest_stop_string_in_new_text():
    stops = StopStrings(("END", "\n\n"))
    assert stops.find("abc\n\nxyz END", 0) == StopMatch(3, "\n\n")
    assert stops.find("abc", 0) is None


def test_a_stop_string_split_across_tokens_is_found():
    stops = StopStrings(("###",))
    assert stops.find("answer ##", 7) is None
    assert stops.find("answer ###", 9) == StopMatch(7, "###")


def test_text_that_may_start_a_stop_string_is_held_back():
    stops = StopStrings(("User:",))
    assert stops.safe_length("Hello Us") == len("Hello ")
    assert stops.safe_length("Hello") == 5
    assert stops.safe_length("Hello U") == 6


def test_no_stop_strings_hold_nothing_back():
    stops = StopStrings(())
    assert stops.find("anything", 0) is None
    assert stops.safe_length("anything") == 8
