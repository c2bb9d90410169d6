"""The fault-injection seam: a point passes its value through untouched, a hook installed for
the length of a block changes or breaks it there, and is gone afterwards."""

from __future__ import annotations

import pytest

from core.faults import fault_point, injected_fault


def test_it_passes_the_value_through_when_no_fault_is_injected() -> None:
    assert fault_point("exports.sequence_picked", 7) == 7


def test_it_lets_a_hook_change_or_break_a_point_only_inside_the_block() -> None:
    with injected_fault("exports.sequence_picked", lambda sequence: sequence - 1):
        assert fault_point("exports.sequence_picked", 7) == 6
        assert fault_point("exports.file_stored", "batch") == "batch"  # other points untouched

    def broken(value: object) -> None:
        raise OSError("disk full")

    with injected_fault("exports.file_stored", broken), pytest.raises(OSError, match="disk full"):
        fault_point("exports.file_stored", "batch")
    assert fault_point("exports.sequence_picked", 7) == 7
    assert fault_point("exports.file_stored", "batch") == "batch"


def test_it_refuses_a_second_hook_on_the_same_point() -> None:
    with injected_fault("exports.file_stored", lambda value: value):
        second = injected_fault("exports.file_stored", lambda value: None)
        with pytest.raises(RuntimeError, match="already injected"):
            second.__enter__()
        assert fault_point("exports.file_stored", "batch") == "batch"  # the first still holds
