from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from pitchey_incidents import localenv


class Command(BaseCommand):
    help = "First run: create an admin user if none exists and print how to log in (once)."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username, **options):
        User = get_user_model()
        login = f"{localenv.url()}/accounts/login/"
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write(f"Serving at {localenv.url()}/ — log in with your admin account at {login}")
            return
        password = secrets.token_urlsafe(12)
        call_command("createuser", username, role="admin", stdout=open("/dev/null", "w"), stderr=self.stderr)
        user = User.objects.get(username=username)
        user.set_password(password)
        user.save(update_fields=["password"])
        self.stdout.write(
            self.style.SUCCESS(
                "\nCreated the first admin. This password is shown once; change it after logging in.\n"
                f"  URL:      {login}\n  Username: {username}\n  Password: {password}\n"
            )
        )
