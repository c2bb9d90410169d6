"""createoperator USERNAME --engagement NAME [--role operator|viewer] [--password P]

Creates or updates a user with that membership (creating the engagement if needed) and
prints the user's API token on the last line."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils.text import slugify
from rest_framework.authtoken.models import Token

from core.errors import DomainError
from sessions_app.models import Engagement, Membership
from sessions_app.services import engagement_create, membership_grant


class Command(BaseCommand):
    help = "Create or update an operator (or viewer) of an engagement and print their API token."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--engagement", required=True, help="Engagement name (or slug)")
        parser.add_argument("--role", choices=Membership.Role.values, default="operator")
        parser.add_argument("--password", default=None)
        parser.add_argument("--email", default="")
        parser.add_argument(
            "--actor", default=None, help="Username recorded as the one who made the change"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            with transaction.atomic():
                token = self._create(options)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(token.key)

    def _create(self, options: dict[str, Any]) -> Token:
        name = options["engagement"].strip()
        actor = None
        if options["actor"]:
            actor = get_user_model().objects.filter(username=options["actor"]).first()
            if actor is None:
                raise CommandError(f"No user '{options['actor']}' to record as the actor.")
        engagement = Engagement.objects.filter(slug=slugify(name)).first()
        if engagement is None:
            engagement = engagement_create(name=name, actor=actor)
            self.stderr.write(f"Created engagement '{engagement.name}' ({engagement.slug}).")
        user, created = get_user_model().objects.get_or_create(username=options["username"])
        if options["password"]:
            _validate_password(options["password"], user)
            user.set_password(options["password"])
        elif created:
            user.set_unusable_password()
        if options["email"]:
            user.email = options["email"]
        user.save()
        membership_grant(engagement=engagement, user=user, role=options["role"], actor=actor)
        self.stderr.write(
            f"{'Created' if created else 'Updated'} {user.username}: {options['role']} "
            f"of '{engagement.name}'. API token:"
        )
        token, _ = Token.objects.get_or_create(user=user)
        return token


def _validate_password(password: str, user: Any) -> None:
    """The same validators as every other place a password is set (AUTH_PASSWORD_VALIDATORS);
    raised inside the command's transaction, so a refused password changes nothing."""
    try:
        password_validation.validate_password(password, user)
    except ValidationError as exc:
        raise CommandError("Password refused: " + " ".join(exc.messages)) from exc
