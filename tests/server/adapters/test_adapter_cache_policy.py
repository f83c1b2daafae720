"""Slot and host-memory policies, without a model: every step asserts the whole state."""

from server.adapters.cache_policy import HostEntry, SlotClaim, SlotPlanner, SlotView, host_evictions


def state(planner: SlotPlanner) -> list[tuple[int, str | None, bool]]:
    return [(s.slot, s.adapter, s.busy) for s in planner.slots]


def test_free_slots_fill_in_order_and_a_resident_adapter_is_reused():
    planner = SlotPlanner([SlotView(1, None, False, 0), SlotView(2, None, False, 0)])
    assert planner.claim("a")
    assert state(planner) == [(1, "a", True), (2, None, False)]
    assert planner.claim("a"), "a second request for a resident adapter needs no new slot"
    assert planner.claim(None), "base model requests need no slot"
    assert planner.claim("b")
    assert state(planner) == [(1, "a", True), (2, "b", True)]
    assert planner.claims == [SlotClaim("a", 1, None), SlotClaim("b", 2, None)]


def test_the_least_recently_used_idle_adapter_is_evicted():
    planner = SlotPlanner([SlotView(1, "a", False, 5), SlotView(2, "b", False, 3), SlotView(3, "c", True, 1)])
    assert planner.claim("d")
    assert state(planner) == [(1, "a", False), (2, "d", True), (3, "c", True)]
    assert planner.claims == [SlotClaim("d", 2, "b")]
    assert planner.claim("e")
    assert state(planner) == [(1, "e", True), (2, "d", True), (3, "c", True)]
    assert planner.claims[-1] == SlotClaim("e", 1, "a")


def test_an_adapter_used_by_a_running_request_is_never_evicted():
    planner = SlotPlanner([SlotView(1, "a", True, 0), SlotView(2, "b", True, 9)])
    assert not planner.claim("c")
    assert state(planner) == [(1, "a", True), (2, "b", True)] and planner.claims == []
    assert planner.claim("b"), "an adapter already in a busy slot can still be shared"


def test_claims_within_one_step_protect_each_other():
    planner = SlotPlanner([SlotView(1, "a", False, 1)])
    assert planner.claim("b")
    assert state(planner) == [(1, "b", True)]
    assert not planner.claim("a"), "the slot b just took is busy for this step"
    assert planner.claims == [SlotClaim("b", 1, "a")]


def test_host_evictions_drop_idle_lru_entries_until_the_budget_fits():
    entries = [
        HostEntry("a@1", 100, 0, 1.0, False),
        HostEntry("b@1", 100, 2, 0.5, False),  # in use: never evicted
        HostEntry("c@1", 100, 0, 3.0, True),  # serving: evicted only after idle pinned ones
        HostEntry("d@1", 100, 0, 2.0, False),
    ]
    assert host_evictions(entries, 400) == []
    assert host_evictions(entries, 300) == ["a@1"]
    assert host_evictions(entries, 200) == ["a@1", "d@1"]
    assert host_evictions(entries, 100) == ["a@1", "d@1", "c@1"]
    assert host_evictions(entries, 0) == ["a@1", "d@1", "c@1"], "b@1 stays: it is in use"
    assert host_evictions(entries, 400, incoming_bytes=100) == ["a@1"]
