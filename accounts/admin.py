"""The user admin: Django's UserAdmin with the profile fields, roles and sign-in throttling."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm

from .forms import AdminLoginForm, HttpsURLField
from .models import User
from .roles import Role
from .services import role_grant, user_admin_save, user_delete

# The admin's login page shows the same lockout message as the site's.
admin.site.login_form = AdminLoginForm

ROLE_ORDER = {role.value: index for index, role in enumerate(Role)}


class UserCreationAdminForm(AdminUserCreationForm):
    class Meta(AdminUserCreationForm.Meta):
        model = User
        fields = ("username", "email")


class UserChangeAdminForm(UserChangeForm):
    avatar_url = HttpsURLField(
        label="Avatar URL", required=False, help_text="Optional picture shown beside the name (https URL)."
    )

    class Meta(UserChangeForm.Meta):
        model = User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserChangeAdminForm
    add_form = UserCreationAdminForm
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Profile", {"fields": ("display_name", "email", "bio", "avatar_url", "first_name", "last_name")}),
        ("Roles and permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("username", "email", "usable_password", "password1", "password2")}),
    )
    list_display = ("username", "display_name", "email", "roles", "is_staff", "is_active", "last_login")
    list_filter = ("groups", "is_staff", "is_superuser", "is_active")
    search_fields = ("username", "email", "display_name", "first_name", "last_name")
    ordering = ("username",)

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups")

    @admin.display(description="Roles")
    def roles(self, user: User) -> str:
        names = [group.name for group in user.groups.all()]
        return ", ".join(sorted(names, key=lambda name: ROLE_ORDER.get(name, len(ROLE_ORDER)))) or "—"

    def get_readonly_fields(self, request, obj=None):
        # Staff may edit profiles, but only superusers hand out roles and admin rights;
        # otherwise a staff member could promote themselves.
        if request.user.is_superuser:
            return super().get_readonly_fields(request, obj)
        return ("is_staff", "is_superuser", "groups", "user_permissions", "last_login", "date_joined")

    def has_change_permission(self, request, obj=None):
        # A superuser's email or password in other hands would hand over the whole site.
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        if change:
            user_admin_save(user=obj)
            return
        super().save_model(request, obj, form, change)
        # Accounts made here start as readers, like those made through sign-up.
        role_grant(user=obj, role=Role.READER)

    def delete_model(self, request, obj):
        user_delete(user=obj)

    def delete_queryset(self, request, queryset):
        for user in queryset:
            user_delete(user=user)
