"""The shared error hierarchy and the on-chain failure codes."""

from __future__ import annotations

import pytest

from daas import errors


def test_failure_codes_split_by_fault() -> None:
    for code in errors.BuildFailureCode:
        assert 100 <= code < 300
        assert code.is_requester_fault == (code < 200)


def test_fault_classes_refuse_codes_of_the_other_side() -> None:
    err = errors.RequesterFault(errors.BuildFailureCode.BUILD_STEP_FAILED, "RUN exited 1")
    assert err.code == 110 and str(err) == "RUN exited 1"
    with pytest.raises(ValueError, match="not a requester-fault"):
        errors.RequesterFault(errors.BuildFailureCode.INTERNAL, "x")
    with pytest.raises(ValueError, match="not an infrastructure"):
        errors.InfrastructureFault(errors.BuildFailureCode.BUILD_TIMEOUT, "x")


def test_every_error_is_a_daas_error() -> None:
    classes = [
        obj for obj in vars(errors).values() if isinstance(obj, type) and issubclass(obj, Exception)
    ]
    assert len(classes) >= 20
    assert all(issubclass(cls, errors.DaasError) for cls in classes)
    assert issubclass(errors.ChainUnavailable, errors.ChainError)
    assert issubclass(errors.MigrationError, errors.DatabaseError)
    assert errors.TransactionFailed("aborted", abort_code=12).abort_code == 12
