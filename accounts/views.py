"""Account pages: sign-up, sign-in and out, password change and reset, the profile."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from . import throttle
from .backends import BACKEND_PATH
from .forms import LoginForm, ProfileForm, SignupForm, ThrottledPasswordChangeForm
from .services import AccountError, user_create, user_profile_update


def _next_url(request: HttpRequest, default: str = "/") -> str:
    """Where to go after signing up: `next` when it stays on this site, else the home page."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    allowed = url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return candidate if allowed else default


@sensitive_post_parameters("password1", "password2")
@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect(_next_url(request))
    form = SignupForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        if wait := throttle.rate_limit_take(scope="signup", key=throttle.client_address(request)):
            form.add_error(None, throttle.rate_limit_message("new accounts from your network", wait))
            status = 429
        else:
            try:
                user = user_create(**form.account_data())
            except AccountError as error:
                form.add_error(None, str(error))
            else:
                login(request, user, backend=BACKEND_PATH)
                messages.success(request, f"Welcome, {user.public_name}! Your account is ready.")
                return redirect(_next_url(request))
    context = {"form": form, "next": _next_url(request, default="")}
    return render(request, "accounts/signup.html", context, status=status)


@login_required
@sensitive_post_parameters("current_password")
@require_http_methods(["GET", "POST"])
def profile(request: HttpRequest) -> HttpResponse:
    form = ProfileForm(request.POST or None, user=request.user, address=throttle.client_address(request))
    if request.method == "POST" and form.is_valid():
        try:
            user_profile_update(user=request.user, data=form.profile_data())
        except AccountError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, "Your profile was saved.")
            return redirect("accounts:profile")
    return render(request, "accounts/profile.html", {"form": form})


class LogoutView(auth_views.LogoutView):
    """Signing out also tells the browser to forget what it kept for this site.

    The editor keeps unsaved text in the browser's storage; on a shared computer the next person
    must not find it. Clear-Site-Data: "storage" clears it (localStorage, sessionStorage,
    IndexedDB) in browsers that support it, while the editor files copies per person for the rest.
    """

    def post(self, request, *args, **kwargs):
        response = super().post(request, *args, **kwargs)
        response["Clear-Site-Data"] = '"storage"'
        return response


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "accounts/password_change_form.html"
    success_url = reverse_lazy("accounts:password_change_done")
    form_class = ThrottledPasswordChangeForm

    def get_form_kwargs(self) -> dict:
        return {**super().get_form_kwargs(), "address": throttle.client_address(self.request)}


class PasswordChangeDoneView(auth_views.PasswordChangeDoneView):
    template_name = "accounts/password_change_done.html"


class PasswordResetView(auth_views.PasswordResetView):
    template_name = "accounts/password_reset_form.html"
    email_template_name = "accounts/email/password_reset_body.txt"
    subject_template_name = "accounts/email/password_reset_subject.txt"
    success_url = reverse_lazy("accounts:password_reset_done")

    @property
    def extra_email_context(self) -> dict:
        return {"site_name": settings.SITE_NAME}

    def form_valid(self, form):
        # Limited per address and per email address, so neither one sender nor many can flood an inbox.
        address = throttle.client_address(self.request)
        email = form.cleaned_data["email"].strip().lower()
        wait = throttle.rate_limit_take(scope="password_reset", key=address) or throttle.rate_limit_take(
            scope="password_reset_email", key=email
        )
        if wait:
            form.add_error(None, throttle.rate_limit_message("password reset requests", wait))
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().form_valid(form)


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "accounts/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:password_reset_complete")

    def form_valid(self, form):
        # Whoever holds the emailed link owns the account, so a lockout on it has done its job.
        throttle.login_failures_clear(username=form.user.get_username())
        return super().form_valid(form)


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "accounts/password_reset_complete.html"
