"""The retry policy (packtivity/batch/retry.py): which ends are retried, how resources grow,
and bad settings named in one line."""

from __future__ import annotations

import pytest

from packtivity.batch.resources import Resources
from packtivity.batch.retry import DEFAULT_ON, RetryPolicy, grown, parse
from packtivity.errors import BackendError


def test_by_default_nothing_is_retried_and_a_commands_own_failure_never() -> None:
    assert not RetryPolicy().allows(1, "timeout")
    policy = parse(RetryPolicy(), {"retries": 2}, "test")
    assert policy.allows(1, "timeout") and policy.allows(2, "out_of_memory")
    assert not policy.allows(3, "timeout")  # two retries: attempts 1 and 2 may be retried
    assert not policy.allows(1, "failed") and not policy.allows(1, "cancelled")
    asked = parse(policy, {"retry_on": "failed,timeout"}, "test")
    assert asked.allows(1, "failed") and not asked.allows(1, "out_of_memory")
    assert set(DEFAULT_ON) == {"timeout", "out_of_memory", "node_failure", "preempted"}


def test_the_policy_travels_in_the_proxy() -> None:
    policy = parse(RetryPolicy(), {"retries": "3", "retry_on": ["timeout"], "retry_grow": 1.5}, "t")
    assert RetryPolicy.from_json(policy.json()) == policy
    assert RetryPolicy.from_json(None) == RetryPolicy()  # proxies of before: no retries


def test_what_ran_out_grows() -> None:
    longer, said = grown(Resources(walltime="0:1:00", memory="100M"), "timeout", 2.0)
    assert (longer.walltime, longer.memory, said) == (
        "00:02:00",
        "100M",
        "walltime 00:01:00 -> 00:02:00",
    )
    bigger, said = grown(Resources(walltime="10", memory="1G"), "out_of_memory", 1.5)
    assert (bigger.memory, bigger.walltime, said) == ("1536M", "10", "memory 1G -> 1536M")
    same, said = grown(Resources(), "timeout", 2.0)  # nothing asked for: nothing known to grow
    assert same == Resources() and said == ""
    assert grown(Resources(memory="1G"), "node_failure", 2.0) == (Resources(memory="1G"), "")


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"retries": -1}, "retries in the config"),
        ({"retries": 11}, "retries in the config"),
        ({"retries": True}, "retries in the config"),
        ({"retry_on": "timeout,cancelled"}, "unknown end(s) cancelled"),
        ({"retry_on": []}, "retry_on in the config"),
        ({"retry_grow": 0.5}, "retry_grow in the config"),
        ({"retry_grow": "lots"}, "retry_grow in the config"),
    ],
)
def test_bad_settings_are_named(values: dict, named: str) -> None:
    with pytest.raises(BackendError, match=named.replace("(", r"\(").replace(")", r"\)")):
        parse(RetryPolicy(), values, "the config")
