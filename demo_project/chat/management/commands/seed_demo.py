"""``manage.py seed_demo``: the two demo users, created or reset to their known passwords."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand

#: (username, password, moderator and staff)
DEMO_USERS = (
    ("ada", "ada-password", True),
    ("grace", "grace-password", False),
)


class Command(BaseCommand):
    help = "Create the demo users ada (moderator, staff) and grace, or reset their passwords."

    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        moderate = Permission.objects.get(content_type__app_label="chat", codename="moderate")
        for username, password, moderator in DEMO_USERS:
            user, _ = User.objects.get_or_create(username=username)
            user.set_password(password)
            user.is_staff = moderator
            user.save()
            if moderator:
                user.user_permissions.add(moderate)
            role = "moderator, staff" if moderator else "member"
            self.stdout.write(f"  {username} / {password}  ({role})")
