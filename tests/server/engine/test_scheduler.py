"""The scheduling policy, without a model: each case asserts the whole plan."""

from server.engine.scheduler import Budget, RunningView, StepPlan, WaitingView, plan_step


def test_idle_engine_plans_nothing():
    assert plan_step([], [], Budget(8, 64, 100)) == StepPlan((), ())


def test_decode_rows_come_first_then_prefill_chunks_then_new_requests():
    running = [RunningView(1, 30), RunningView(2, 1), RunningView(3, 1)]
    waiting = [WaitingView(4, 10, 2)]
    plan = plan_step(running, waiting, Budget(8, 64, 100))
    assert plan == StepPlan(((2, 1), (3, 1), (1, 30), (4, 10)), (4,))


def test_long_prompt_is_prefilled_in_chunks_of_the_token_budget():
    plan = plan_step([], [WaitingView(1, 100, 10)], Budget(8, 32, 100))
    assert plan == StepPlan(((1, 32),), (1,))
    # next step: the rest of the prompt continues while a new request waits its turn
    plan = plan_step([RunningView(1, 68)], [WaitingView(2, 5, 1)], Budget(8, 32, 90))
    assert plan == StepPlan(((1, 32),), ())


def test_new_request_joins_a_running_batch_at_the_next_step():
    running = [RunningView(seq, 1) for seq in range(3)]
    plan = plan_step(running, [WaitingView(7, 12, 2)], Budget(8, 64, 10))
    assert plan == StepPlan(((0, 1), (1, 1), (2, 1), (7, 12)), (7,))


def test_batch_size_bounds_admission():
    running = [RunningView(seq, 1) for seq in range(4)]
    waiting = [WaitingView(10, 3, 1), WaitingView(11, 3, 1)]
    plan = plan_step(running, waiting, Budget(5, 64, 10))
    assert plan == StepPlan(((0, 1), (1, 1), (2, 1), (3, 1), (10, 3)), (10,))


def test_kv_reservation_bounds_admission_and_the_head_is_never_overtaken():
    waiting = [WaitingView(1, 4, 6), WaitingView(2, 4, 1)]
    plan = plan_step([RunningView(0, 1)], waiting, Budget(8, 64, 5))
    # request 2 would fit, but overtaking request 1 could starve it
    assert plan == StepPlan(((0, 1),), ())


def test_admission_stops_when_the_step_has_no_tokens_left():
    waiting = [WaitingView(1, 20, 2), WaitingView(2, 20, 2)]
    plan = plan_step([], waiting, Budget(8, 20, 10))
    assert plan == StepPlan(((1, 20),), (1,))


def test_admitted_request_gets_a_partial_chunk_of_what_is_left():
    waiting = [WaitingView(1, 10, 1), WaitingView(2, 50, 4)]
    plan = plan_step([], waiting, Budget(8, 32, 10))
    assert plan == StepPlan(((1, 10), (2, 22)), (1, 2))


def test_free_blocks_are_spent_by_each_admission():
    waiting = [WaitingView(1, 2, 3), WaitingView(2, 2, 3), WaitingView(3, 2, 3)]
    plan = plan_step([], waiting, Budget(8, 64, 7))
    assert plan == StepPlan(((1, 2), (2, 2)), (1, 2))
