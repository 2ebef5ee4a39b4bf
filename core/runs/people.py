"""Who is who in a class: a person is known by a secret token kept in their browser's cookie (the pages
handle the cookie); the store keeps only the token's SHA-256, which is the person's stable id. The
name is what they typed: two people may pick the same name and stay two people.

The teacher is whoever gives the class key ($TUNELAB_CLASS_KEY, or a key the pages read from
Streamlit's secrets). With no class key configured the server runs in single-user mode (a student's
own laptop): everyone is the owner of everything, and `classroom_mode()` says which mode this is.
Rights are checked here, in core, so every page and command gets the same answer.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass

from core.errors import ConfigError, UserError

CLASS_KEY_ENV = "TUNELAB_CLASS_KEY"
STUDENT = "student"
TEACHER = "teacher"
ROLES = (STUDENT, TEACHER)
MAX_NAME = 40
MIN_TOKEN = 16


class NotAllowed(UserError):
    """A person asked for something their role does not allow (a student cancelling another's run)."""


@dataclass(frozen=True)
class Person:
    """One person in the class: `id` is the SHA-256 (hex) of their secret token, `name` the name they
    typed, `role` "student" or "teacher"."""

    id: str
    name: str
    role: str = STUDENT

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ConfigError("role", f"must be one of {', '.join(ROLES)} (got {self.role!r})")

    @property
    def is_teacher(self) -> bool:
        return self.role == TEACHER

    @property
    def called(self) -> str:
        """How messages name this person: "the teacher", or their name."""
        return "the teacher" if self.is_teacher else (self.name or "someone without a name")


def class_key(configured: str | None = None) -> str | None:
    """The class key: `configured` (the pages pass the one from Streamlit's secrets) or
    $TUNELAB_CLASS_KEY; None when neither is set (single-user mode). Surrounding spaces are dropped."""
    for raw in (configured, os.environ.get(CLASS_KEY_ENV)):
        if raw is not None and raw.strip():
            return raw.strip()
    return None


def classroom_mode(configured: str | None = None) -> bool:
    """True when a class key is configured: people have roles and only owners and the teacher may
    touch a run. False in single-user mode, where everyone may do everything."""
    return class_key(configured) is not None


def new_token() -> str:
    """A fresh secret token for a browser's cookie (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def person_id(token: str) -> str:
    """The stable id of the person holding `token`: its SHA-256 in hex (the token itself is never kept)."""
    if not isinstance(token, str) or len(token) < MIN_TOKEN:
        raise ConfigError("token", f"must be a secret of at least {MIN_TOKEN} characters (see new_token())")
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def clean_name(name: str) -> str:
    """The display name as shown: on one line, single spaces, at most MAX_NAME characters."""
    return " ".join(str(name or "").split())[:MAX_NAME]


def teacher_seal(person: str, configured: str) -> str:
    """What a teacher grant is stored with: an HMAC of the person's id under the class key. It proves
    the grant was made under today's key (a new key ends every grant) without keeping the key."""
    return hmac.new(configured.encode("utf-8"), person.encode("utf-8"), hashlib.sha256).hexdigest()


def key_matches(given: str, configured: str) -> bool:
    """Whether the key a person gave is the class key, compared in constant time."""
    return hmac.compare_digest(given.strip().encode("utf-8"), configured.encode("utf-8"))


def role_for(given_key: str | None, configured: str | None) -> str:
    """"teacher" for whoever gives the class key; "student" for everyone else (and everyone when no
    class key is configured). A key that is given but wrong is refused, so a mistyped key is noticed."""
    if configured is None or not given_key or not given_key.strip():
        return STUDENT
    if not key_matches(given_key, configured):
        raise NotAllowed("that is not the class key: leave the key empty to join as a student")
    return TEACHER


def may_manage(person: Person | None, owner_id: str, in_class: bool) -> bool:
    """Whether `person` may cancel or delete a run owned by `owner_id`: anyone in single-user mode; in a
    class the teacher, or the owner (a run without an owner, made before the class or by the command
    line, is the teacher's to manage). Nobody (None) may in a class."""
    if not in_class:
        return True
    if person is None:
        return False
    return person.is_teacher or (bool(owner_id) and person.id == owner_id)


def check_may_manage(person: Person | None, run_id: int, owner_id: str, owner_name: str, action: str,
                     in_class: bool) -> None:
    """Raise NotAllowed naming the owner unless `person` may `action` ("cancel", "delete") the run."""
    if may_manage(person, owner_id, in_class):
        return
    owner = f"the run's owner ({owner_name})" if owner_name else "the run's owner"
    if not owner_id:
        raise NotAllowed(f"run #{run_id} has no owner: only the teacher can {action} it")
    raise NotAllowed(f"only {owner} or the teacher can {action} run #{run_id}")


def check_teacher(person: Person | None, action: str, in_class: bool) -> None:
    """Raise NotAllowed unless `person` is the teacher (anyone is, in single-user mode)."""
    if in_class and (person is None or not person.is_teacher):
        raise NotAllowed(f"only the teacher can {action}")
