from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from lifecycle.core.roles import ROLES, ensure_roles
from lifecycle.services import api_token_create


class Command(BaseCommand):
    help = "Create or update a user with a role; --token prints a new API token on the last line."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", choices=ROLES, required=True)
        parser.add_argument("--password", help="set this password (default: leave unchanged, or unusable when new)")
        parser.add_argument("--email", default="")
        parser.add_argument("--token", action="store_true", help="create an API token and print it last")
        parser.add_argument("--token-days", type=int, default=None,
                            help="the token expires after this many days (default: until revoked)")

    @transaction.atomic
    def handle(self, *args, username, role, password, email, token, token_days=None, **options):
        if not Group.objects.filter(name=role).exists():
            ensure_roles()
        User = get_user_model()
        user, created = User.objects.get_or_create(username=username, defaults={"email": email})
        if password:
            if len(password) < 8:
                raise CommandError("The password must be at least 8 characters")
            user.set_password(password)
        elif created:
            user.set_unusable_password()
        user.is_staff = role == "admin"
        user.is_superuser = role == "admin"
        if email:
            user.email = email
        user.save()
        user.groups.set([Group.objects.get(name=role)])
        self.stdout.write(f"{'Created' if created else 'Updated'} user {username} with role {role}")
        if token:
            expires = None
            if token_days is not None:
                if token_days < 1:
                    raise CommandError("--token-days must be at least 1")
                expires = timezone.now() + timedelta(days=token_days)
            _, key = api_token_create(user=user, actor=user, name=f"{username} (command line)", expires_at=expires)
            self.stdout.write(key)
