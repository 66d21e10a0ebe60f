"""The public surface of govsvc.ecert: __all__ is what the package exposes, all documented."""

from __future__ import annotations

import inspect

import govsvc.ecert as ecert
from govsvc import errors


def test_all_lists_exactly_the_public_names() -> None:
    public = {
        name
        for name, value in vars(ecert).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }
    assert sorted(ecert.__all__) == sorted(public)
    assert len(ecert.__all__) == len(set(ecert.__all__))


def test_every_public_class_and_function_has_a_docstring() -> None:
    for name in ecert.__all__:
        value = getattr(ecert, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert (value.__doc__ or "").strip(), f"govsvc.ecert.{name} has no docstring"


def test_new_errors_belong_to_the_hierarchy_and_are_drawn_in_it() -> None:
    for error in (ecert.KeyRetired, ecert.SigningError, ecert.UnknownKey, ecert.FontMissing,
                  ecert.StatusListFull):
        assert issubclass(error, errors.GovsvcError)
        assert error.__name__ in (errors.__doc__ or ""), error
    assert issubclass(ecert.UnknownKey, LookupError)
    assert issubclass(ecert.KeyRetired, ecert.SigningError)
