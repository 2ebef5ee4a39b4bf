"""Who is at this browser: a display name typed in "Your name", a secret token behind it kept in a
browser cookie (never in the address, so a shared ?run= link carries no identity), and the teacher's
role for whoever types the class key in "Class key" (kept for the browser, not the key itself, until
"Log out as teacher" or the end of the school day: core/runs/classroom.py). With OpenID Connect
configured in .streamlit/secrets.toml ([auth]), st.login takes over and the account is the person.

The cookie is read from the page's own request through st.context.cookies and written through
extra-streamlit-components' CookieManager (Streamlit itself cannot set a cookie). Rights are checked
in core (core/runs/people.py, the worker); this module only finds out who is asking.
Not a page (app.py does not list it)."""
from __future__ import annotations

import datetime as dt
import logging

import extra_streamlit_components as stx
import streamlit as st

from core.errors import UserError
from core.runs import people
from core.runs.classroom import Classroom
from core.runs.people import Person
from pages.parts import icons
from pages.parts.ui import get_classroom, get_store, secret, show_user_error

log = logging.getLogger("tunelab.ui")

TOKEN_COOKIE = "tunelab_token"
COOKIE_DAYS = 365  # a school year and then some: "my runs" outlive the term's reloads and restarts
NAME_KEY, CLASS_KEY_BOX = "identity_name", "identity_class_key"


def oidc_configured() -> bool:
    """Whether the server configures st.login (an [auth] section in its secrets)."""
    return secret("auth") is not None


def browser_token() -> str:
    """This browser's secret: the cookie's, else a new one (kept in the session at once and written
    to the cookie, so the next visit sends it)."""
    token = st.session_state.get("identity_token")
    if token:
        return token
    token = st.context.cookies.get(TOKEN_COOKIE)
    if not token or len(token) < people.MIN_TOKEN:
        token = people.new_token()
        st.session_state["identity_new_token"] = True
    st.session_state["identity_token"] = token
    return token


def _write_cookie(container, token: str) -> None:
    """Write a new token's cookie through the component (an invisible frame in `container`). Drawn on
    every rerun until the frame says it has set it: a frame removed by a rerun before it loaded (a
    name typed at once) would set nothing."""
    if not st.session_state.get("identity_new_token"):
        return
    try:
        with container:
            manager = stx.CookieManager(key="identity_cookies")
            written = manager.cookie_manager(
                method="set", cookie=TOKEN_COOKIE, value=token, key="identity_set_cookie", default=False,
                options={"path": "/", "sameSite": "strict",
                         "expires": (dt.datetime.now() + dt.timedelta(days=COOKIE_DAYS)).isoformat()})
    except Exception:  # without the cookie this session still knows the person; the next visit will not
        log.exception("could not write the identity cookie")
        written = False
    if written:
        st.session_state.pop("identity_new_token", None)


def _oidc_person(container, classroom: Classroom) -> Person | None:
    if not st.user.is_logged_in:
        container.button("Log in", on_click=st.login, key="identity_login", type="primary")
        container.caption("This server signs people in with their school account.")
        return None
    subject = str(st.user.get("sub") or st.user.get("email") or "")
    name = str(st.user.get("name") or st.user.get("email") or "")
    key = container.text_input("Class key", type="password", key=CLASS_KEY_BOX,
                               help="Only the teacher has it.") if classroom.in_class else ""
    container.button("Log out", on_click=st.logout, key="identity_logout")
    st.session_state["identity_token"] = f"oidc-subject:{subject}"
    return classroom.identify(f"oidc-subject:{subject}", name, key)


def _end_teacher() -> None:
    """"Log out as teacher": the grant is forgotten and the key box emptied (its value would give the
    role straight back)."""
    get_classroom().end_teacher(st.session_state["identity_token"])
    st.session_state[CLASS_KEY_BOX] = ""


def identity_box(container=None) -> Person | None:
    """Draw "Your name" (and "Class key" in a class) in `container` (the sidebar) and return who this
    is; None while a class member has not typed a name yet (the box then says what to do)."""
    container = container or st.sidebar
    classroom = get_classroom()
    try:
        if oidc_configured():
            person = _oidc_person(container, classroom)
        else:
            token = browser_token()
            _write_cookie(container, token)
            if NAME_KEY not in st.session_state:
                st.session_state[NAME_KEY] = get_store().person_name(people.person_id(token))
            name = container.text_input("Your name", key=NAME_KEY, max_chars=people.MAX_NAME,
                                        placeholder="the name the class sees",
                                        help="Shown next to your runs. Two people may pick the same name and stay "
                                             "two people: this browser is what makes a run yours.")
            key = container.text_input("Class key", type="password", key=CLASS_KEY_BOX,
                                       help="Only the teacher has it; students leave it empty.") \
                if classroom.in_class else ""
            if classroom.in_class and not name.strip() and not key.strip() \
                    and not classroom.remembers_teacher(token):
                container.info("Type your name to start runs.", icon=icons.WELCOME)
                return None
            person = classroom.identify(token, name, key)
    except UserError as exc:
        with container:
            show_user_error(exc)
        return None
    if person is not None and person.is_teacher and classroom.in_class:
        container.caption("Signed in as the teacher on this browser, for this school day.")
        container.button("Log out as teacher", key="identity_end_teacher", on_click=_end_teacher,
                         help="This browser is a student's again until the class key is typed again.")
    st.session_state["identity_person"] = person
    return person


def current_person() -> Person | None:
    """Who identity_box() found in this rerun (None before it ran, or without a name in a class)."""
    return st.session_state.get("identity_person")
