"""actor_label names who caused a write, whatever form the caller hands it in."""

from __future__ import annotations

from django.utils.functional import SimpleLazyObject

from bindery.control.actors import actor_label


class User:
    pk = 7


class ApiToken:
    actor_kind = "token"
    pk = "abc"


def test_none_is_the_system() -> None:
    assert actor_label(None) == "system"


def test_strings_pass_through_truncated() -> None:
    assert actor_label("system:demo") == "system:demo"
    assert len(actor_label("x" * 500)) == 100


def test_models_are_kind_and_key() -> None:
    assert actor_label(User()) == "user:7"
    assert actor_label(ApiToken()) == "token:abc"


def test_lazy_request_user_is_named_after_the_user_it_wraps() -> None:
    assert actor_label(SimpleLazyObject(User)) == "user:7"
