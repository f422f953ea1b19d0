"""The compiled path's tests compile every model they train, however small (fit normally keeps fits of
fewer than ``fast.COMPILE_MIN_SAMPLES`` samples on the reference path, where a compile would not pay)."""
import pytest


@pytest.fixture(autouse=True)
def compile_everything(monkeypatch):
    from tweaknet import fast
    monkeypatch.setattr(fast, "COMPILE_MIN_SAMPLES", 0)
