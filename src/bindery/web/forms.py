from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import authenticate
from django.http import HttpRequest

from bindery.accounts.models import User


class SignInForm(forms.Form):
    workspace = forms.SlugField(max_length=63, label="Workspace",
                                widget=forms.TextInput(attrs={"autocomplete": "organization", "autofocus": True}))
    email = forms.EmailField(max_length=254, label="E-mail",
                             widget=forms.EmailInput(attrs={"autocomplete": "username"}))
    password = forms.CharField(max_length=4096, label="Password", strip=False,
                               widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))

    error_messages = {
        # One message whatever was wrong, so the form does not reveal which accounts exist.
        "invalid_login": "The workspace, e-mail or password is not right.",
    }

    def __init__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        self.request = request
        self.user: User | None = None
        super().__init__(*args, **kwargs)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        user = authenticate(self.request, tenant_slug=data["workspace"], email=data["email"],
                            password=data["password"])
        if user is None:
            raise forms.ValidationError(self.error_messages["invalid_login"], code="invalid_login")
        self.user = user
        return data
