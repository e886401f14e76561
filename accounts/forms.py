"""Forms for signing up, signing in and editing a profile.

Forms validate and explain; the writes happen in accounts.services.
"""

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm, UserCreationForm
from django.core.exceptions import ValidationError

from . import throttle
from .lookalikes import is_reserved
from .models import User
from .selectors import email_in_use, name_looks_taken
from .services import DISPLAY_NAME_LOOKS_TAKEN, PROFILE_FIELDS, USERNAME_LOOKS_TAKEN, USERNAME_RESERVED
from .validators import avatar_url_validator

DUPLICATE_EMAIL = "An account with this email address already exists. Sign in, or reset your password."


class SignupForm(UserCreationForm):
    """Username, email, display name and the password twice, checked by Django's validators."""

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "email", "display_name")
        widgets = {
            "email": forms.EmailInput(attrs={"autocomplete": "email"}),
            "display_name": forms.TextInput(attrs={"autocomplete": "nickname"}),
        }
        help_texts = {"email": "Only used to help you sign in and reset your password; never shown."}

    def clean_username(self) -> str:
        username = super().clean_username()
        if is_reserved(username):
            raise ValidationError(USERNAME_RESERVED, code="reserved")
        if name_looks_taken(name=username):
            raise ValidationError(USERNAME_LOOKS_TAKEN, code="looks_taken")
        return username

    def clean_display_name(self) -> str:
        display_name = self.cleaned_data.get("display_name", "")
        if display_name and name_looks_taken(name=display_name):
            raise ValidationError(DISPLAY_NAME_LOOKS_TAKEN, code="looks_taken")
        return display_name

    def clean_email(self) -> str:
        email = User.objects.normalize_email(self.cleaned_data["email"])
        if email_in_use(email=email):
            raise ValidationError(DUPLICATE_EMAIL, code="duplicate_email")
        return email

    def account_data(self) -> dict:
        """Keyword arguments for services.user_create."""
        data = self.cleaned_data
        return {
            "username": data["username"],
            "email": data["email"],
            "display_name": data.get("display_name", ""),
            "password": data["password1"],
        }


class ThrottledLoginMixin:
    """Says plainly that sign-in is paused, instead of 'wrong password', while locked out.

    The backend enforces the lockout; this only turns it into a message a person understands.
    """

    def clean(self):
        username = self.cleaned_data.get("username")
        address = throttle.client_address(self.request)
        self._refuse_if_locked(username=username, address=address)
        try:
            return super().clean()
        except ValidationError:
            # The failure that reaches the limit already explains the lockout.
            self._refuse_if_locked(username=username, address=address)
            raise

    def _refuse_if_locked(self, *, username: str | None, address: str | None) -> None:
        if seconds := throttle.login_lockout_seconds(username=username, address=address):
            raise ValidationError(throttle.lockout_message(seconds), code="locked_out")


class LoginForm(ThrottledLoginMixin, AuthenticationForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["password"].widget.attrs["autocomplete"] = "current-password"


class AdminLoginForm(ThrottledLoginMixin, AdminAuthenticationForm):
    pass


def _current_password_checked(*, user: User, password: str, address: str | None) -> bool:
    try:
        return throttle.password_check(user=user, password=password, address=address)
    except throttle.PasswordChecksPaused as paused:
        raise ValidationError(str(paused), code="locked_out") from paused


class ThrottledPasswordChangeForm(PasswordChangeForm):
    """Django's password change, with wrong current passwords counted and paused like sign-ins."""

    def __init__(self, user, *args, address: str | None = None, **kwargs):
        self.address = address
        super().__init__(user, *args, **kwargs)

    def clean_old_password(self) -> str:
        old_password = self.cleaned_data["old_password"]
        if not _current_password_checked(user=self.user, password=old_password, address=self.address):
            raise ValidationError(self.error_messages["password_incorrect"], code="password_incorrect")
        return old_password


class HttpsURLField(forms.URLField):
    """A URL that must use https; bare addresses such as example.com/me.jpg get https:// added."""

    default_validators = [avatar_url_validator]

    def __init__(self, **kwargs):
        super().__init__(assume_scheme="https", **kwargs)


class ProfileForm(forms.Form):
    """What a signed-in person may change about their own account.

    A plain form rather than a ModelForm so a refused edit never alters request.user.
    Changing the email address needs the current password, because the address is what
    password reset trusts.
    """

    display_name = forms.CharField(
        max_length=80,
        required=False,
        help_text="Shown on your posts and comments; your username is used when this is empty.",
        widget=forms.TextInput(attrs={"autocomplete": "nickname"}),
    )
    email = forms.EmailField(
        label="Email address",
        help_text="Used for password reset; never shown.",
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    avatar_url = HttpsURLField(
        label="Picture URL",
        required=False,
        help_text="Optional. An https:// address of a square picture.",
        widget=forms.URLInput(attrs={"autocomplete": "photo"}),
    )
    bio = forms.CharField(
        required=False,
        max_length=2000,
        help_text="A few sentences shown on your author page (up to 2,000 characters).",
        widget=forms.Textarea(attrs={"rows": 5}),
    )
    current_password = forms.CharField(
        required=False,
        strip=False,
        help_text="Needed only when you change your email address.",
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, *args, user: User, address: str | None = None, **kwargs):
        self.user = user
        self.address = address
        kwargs.setdefault("initial", {field: getattr(user, field) for field in PROFILE_FIELDS})
        super().__init__(*args, **kwargs)

    def clean_display_name(self) -> str:
        display_name = self.cleaned_data["display_name"]
        changed = display_name.strip() != self.user.display_name
        if changed and display_name and name_looks_taken(name=display_name, exclude=self.user):
            raise ValidationError(DISPLAY_NAME_LOOKS_TAKEN, code="looks_taken")
        return display_name

    def clean_email(self) -> str:
        email = User.objects.normalize_email(self.cleaned_data["email"])
        if email_in_use(email=email, exclude=self.user):
            raise ValidationError("Another account already uses this email address.", code="duplicate_email")
        return email

    def clean(self):
        cleaned = super().clean()
        email = cleaned.get("email")
        email_changed = bool(email) and email.lower() != self.user.email.lower()
        if not email_changed:
            return cleaned
        try:
            password = cleaned.get("current_password") or ""
            if not _current_password_checked(user=self.user, password=password, address=self.address):
                self.add_error("current_password", "Enter your current password to change your email address.")
        except ValidationError as paused:
            self.add_error("current_password", paused)
        return cleaned

    def profile_data(self) -> dict:
        """Keyword data for services.user_profile_update."""
        return {field: self.cleaned_data[field] for field in PROFILE_FIELDS}
