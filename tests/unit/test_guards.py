"""The settings that bound a run's time are checked before any work (pipeline/guards.py)."""

from __future__ import annotations

import dataclasses

import pytest

from pipeline.config import load_settings
from pipeline.guards import SettingsError, check_settings


def with_limits(timeout: int, turn_wait: int):
    return dataclasses.replace(
        load_settings(), postgres_task_timeout_seconds=timeout, publish_turn_wait_seconds=turn_wait
    )


def test_the_defaults_and_no_limit_pass():
    check_settings(load_settings())
    check_settings(with_limits(0, 1800))


@pytest.mark.parametrize(
    ("timeout", "turn_wait", "said"),
    [
        (-1, 1800, "neither may be below 0"),
        (7200, -5, "neither may be below 0"),
        (1800, 1800, "publish_turn_wait_seconds = 1800 is not below postgres_task_timeout_seconds = 1800"),
    ],
)
def test_a_limit_that_cannot_work_is_named(timeout, turn_wait, said):
    with pytest.raises(SettingsError, match=said):
        check_settings(with_limits(timeout, turn_wait))
