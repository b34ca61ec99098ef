"""At-rest encryption round-trips and refuses the wrong key."""

import pytest

from app import crypto


def test_round_trip_and_wrong_key():
    sealed = crypto.encrypt("key-one", "hunter2")
    assert "hunter2" not in sealed
    assert crypto.decrypt("key-one", sealed) == "hunter2"
    with pytest.raises(ValueError):
        crypto.decrypt("key-two", sealed)
