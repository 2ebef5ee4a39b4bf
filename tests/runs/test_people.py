"""People and roles: the id is the SHA-256 of the browser's secret token (the token is never stored),
names may repeat, the teacher is whoever gives the class key, and with no class key everyone may do
everything (single-user mode)."""
from __future__ import annotations

import hashlib

import pytest

from core.errors import ConfigError, UserError
from core.runs import people
from core.runs.classroom import Classroom
from core.runs.people import NotAllowed, Person, check_may_manage, classroom_mode, new_token, person_id
from core.runs.store import RunStore

KEY = "blue-heron-42"


@pytest.fixture
def store(tmp_path) -> RunStore:
    return RunStore(tmp_path / "runs.db")


def test_the_id_is_the_sha256_of_the_token_and_the_token_is_not_stored(store):
    token = new_token()
    classroom = Classroom(store, class_key=KEY)
    ana = classroom.identify(token, "  Ana   María ")
    assert ana == Person(hashlib.sha256(token.encode()).hexdigest(), "Ana María", "student")
    assert classroom.identify(token, "Ana María").id == ana.id == person_id(token)  # stable
    assert [(p["id"], p["name"]) for p in store.people()] == [(ana.id, "Ana María")]
    for path in store.path.parent.glob("runs.db*"):  # the database and its WAL
        assert token.encode() not in path.read_bytes()
    with pytest.raises(ConfigError, match="token"):
        person_id("short")


def test_two_people_may_pick_the_same_name_and_stay_two(store):
    classroom = Classroom(store, class_key=KEY)
    first, second = (classroom.identify(new_token(), "Ana") for _ in range(2))
    assert first.name == second.name == "Ana" and first.id != second.id
    assert len(store.people()) == 2


def test_the_teacher_is_whoever_gives_the_class_key_and_a_wrong_key_is_refused(store):
    classroom = Classroom(store, class_key=KEY)
    assert classroom.in_class
    teacher = classroom.identify(new_token(), "", key=f" {KEY} ")
    assert teacher.is_teacher and teacher.called == "the teacher"
    with pytest.raises(NotAllowed, match="not the class key"):
        classroom.identify(new_token(), "Ben", key="blue-heron-43")
    with pytest.raises(ConfigError, match="name"):  # a student in a class needs a name
        classroom.identify(new_token(), "   ")
    assert not classroom.identify(new_token(), "Ben").is_teacher


def test_the_class_key_comes_from_the_environment_or_the_pages(monkeypatch, store):
    assert not classroom_mode() and not Classroom(store).in_class
    assert classroom_mode("from-secrets")
    monkeypatch.setenv(people.CLASS_KEY_ENV, KEY)
    assert classroom_mode() and Classroom(store).in_class
    assert Classroom(store).identify(new_token(), "T", key=KEY).is_teacher
    monkeypatch.setenv(people.CLASS_KEY_ENV, "  ")
    assert not classroom_mode()


def test_single_user_mode_has_no_teacher_and_everyone_may_do_everything(store):
    alone = Classroom(store)
    me = alone.identify(new_token(), "")  # no name needed on one's own laptop
    assert me.role == "student" and me.name == ""
    assert alone.identify(new_token(), "X", key="anything").role == "student"  # no key to give
    check_may_manage(me, 8, "someone-else", "Ana", "cancel", in_class=False)
    check_may_manage(None, 8, "someone-else", "Ana", "cancel", in_class=False)
    alone.check_teacher(me, "pause the queue")


def test_rights_in_a_class_name_the_owner():
    ana, ben = Person("a" * 64, "Ana"), Person("b" * 64, "Ben")
    teacher = Person("c" * 64, "Ms T", "teacher")
    check_may_manage(ana, 8, ana.id, "Ana", "cancel", in_class=True)
    check_may_manage(teacher, 8, ana.id, "Ana", "delete", in_class=True)
    with pytest.raises(NotAllowed) as refused:
        check_may_manage(ben, 8, ana.id, "Ana", "cancel", in_class=True)
    assert str(refused.value) == "only the run's owner (Ana) or the teacher can cancel run #8"
    assert isinstance(refused.value, UserError)
    with pytest.raises(NotAllowed, match="only the run's owner"):
        check_may_manage(None, 8, ana.id, "Ana", "cancel", in_class=True)
    with pytest.raises(NotAllowed, match="run #3 has no owner: only the teacher can delete it"):
        check_may_manage(ana, 3, "", "", "delete", in_class=True)
    with pytest.raises(NotAllowed, match="only the teacher can pause the queue"):
        people.check_teacher(ana, "pause the queue", in_class=True)
    with pytest.raises(ConfigError, match="role"):
        Person("d" * 64, "Eve", "admin")


def test_the_teacher_role_lasts_for_the_browser_until_logged_out_without_keeping_the_key(store, monkeypatch):
    classroom = Classroom(store, class_key=KEY)
    teacher_token, student_token = new_token(), new_token()
    assert classroom.identify(teacher_token, "", key=KEY).is_teacher
    # a reload or another run's link: no key typed, still the teacher (a new Classroom: a restart too)
    again = Classroom(store, class_key=KEY)
    assert again.remembers_teacher(teacher_token) and again.identify(teacher_token, "").is_teacher
    for path in store.path.parent.glob("runs.db*"):
        assert KEY.encode() not in path.read_bytes()
    # a student's browser never gets the role, whatever the teacher did
    assert not again.remembers_teacher(student_token) and not again.identify(student_token, "Ana").is_teacher
    # a new class key ends every grant made under the old one, and typing the new one grants at once
    renewed = Classroom(store, class_key="other-key")
    assert not renewed.identify(teacher_token, "T").is_teacher
    assert renewed.identify(teacher_token, "T", key="other-key").is_teacher and renewed.remembers_teacher(teacher_token)
    assert not again.remembers_teacher(teacher_token)  # (the old key's class no longer knows it)
    again.identify(teacher_token, "", key=KEY)
    # and so does the end of the school day
    import core.runs.classroom as classroom_module
    later = classroom_module.time.time() + classroom_module.TEACHER_SECONDS + 1
    monkeypatch.setattr(classroom_module.time, "time", lambda: later)
    assert not again.remembers_teacher(teacher_token)
    monkeypatch.undo()
    # "Log out as teacher"
    assert again.remembers_teacher(teacher_token)
    again.end_teacher(teacher_token)
    assert not again.remembers_teacher(teacher_token) and not again.identify(teacher_token, "T").is_teacher
    # without a class key nobody is the teacher, grant or not
    classroom.identify(teacher_token, "", key=KEY)
    assert not Classroom(store).identify(teacher_token, "").is_teacher
