"""A class in real browsers (chromium contexts, each its own cookies, against one real server with a
class key): the second student cannot cancel the first's run (no enabled Cancel, and core refuses
too), the first's run is still hers after a reload, the teacher cancels the second's run with the
key, and the Wall shows both runs live. Then the Train page on a 1280x720 projector: after Start, the
loss chart, the accuracy chart and the first hint are on the first screen."""
from __future__ import annotations

import re
import time

import pytest

from core.runs.classroom import Classroom
from core.runs.people import NotAllowed
from core.runs.store import RunStore
from tests.browser.support import (Server, browser, choose, new_person, open_group, set_number,
                                   wait_until_idle)

KEY = "class-key-7"
LONG_RUN = "300"  # epochs of the 8x8 digits: still training while the test looks


def type_in_sidebar(page, label: str, value: str) -> None:
    wait_until_idle(page)
    box = page.get_by_role("textbox", name=label)
    box.fill(value)
    box.press("Enter")
    wait_until_idle(page)


def token_of(page) -> str:
    """The identity cookie the page's browser context holds (written by the cookie component)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for cookie in page.context.cookies():
            if cookie["name"] == "tunelab_token":
                return cookie["value"]
        page.wait_for_timeout(200)
    raise AssertionError("no tunelab_token cookie was written")


def start_long_run(page, url: str) -> None:
    open_group(page, "3. Model and data")
    choose(page, "Dataset", "Digits 8x8 (built in)")
    open_group(page, "6. Batch size, epochs and seed")
    set_number(page, "Epochs", LONG_RUN)
    page.get_by_role("button", name="Start training").click()


def wall_text(page) -> str:
    return " ".join(page.locator("[data-testid=stVegaLiteChart] svg").all_text_contents())


def epochs_on_wall(page, run_id: int) -> int:
    found = re.search(rf"#{run_id} .*?epoch (\d+)/{LONG_RUN}", wall_text(page))
    return int(found.group(1)) if found else -1


def test_two_students_and_the_teacher(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNELAB_CLASS_KEY", KEY)
    monkeypatch.setenv("TUNELAB_SLOTS", "2")  # both runs train at once, so the Wall has two live ones
    server = Server(tmp_path / "home").start()
    store = RunStore(server.home / "runs.db")
    try:
        with browser() as chromium:
            ana = new_person(chromium)
            ana.goto(server.url + "/train")
            ana.get_by_role("button", name="Start training").wait_for()
            assert ana.get_by_role("button", name="Start training").is_disabled()  # a name first, in a class
            type_in_sidebar(ana, "Your name", "Ana")
            start_long_run(ana, server.url)
            ana.wait_for_url("**run=1")

            ben = new_person(chromium)
            ben.goto(server.url + "/train")
            type_in_sidebar(ben, "Your name", "Ben")
            ben_token = token_of(ben)
            ben.goto(server.url + "/train?run=1")  # a shared link to Ana's run
            ben.get_by_text("Run #1 belongs to Ana").wait_for()
            wait_until_idle(ben)
            assert ben.get_by_role("button", name="Cancel").is_disabled()
            assert ben.get_by_role("textbox", name="Your name").input_value() == "Ben"  # known by the cookie
            classroom = Classroom(store, class_key=KEY)
            ben_person = classroom.identify(ben_token, "Ben")
            run = store.get(1)
            with pytest.raises(NotAllowed, match="Ana"):
                classroom.check_may_manage(ben_person, 1, run.owner_id, run.owner_name, "cancel")
            ben.goto(server.url + "/train")
            ben.get_by_role("button", name="Start training").wait_for()
            start_long_run(ben, server.url)
            ben.wait_for_url("**run=2")

            ana.reload()  # still hers: Cancel enabled, the run under My runs
            ana.get_by_text("My runs").wait_for()
            wait_until_idle(ana)
            assert ana.get_by_role("button", name="Cancel").is_enabled()
            assert ana.get_by_role("textbox", name="Your name").input_value() == "Ana"
            assert store.get(1).owner_name == "Ana" and store.get(2).owner_name == "Ben"
            assert store.get(1).owner_id != store.get(2).owner_id

            projector = new_person(chromium)  # the Wall needs nobody to say who they are
            projector.goto(server.url + "/wall")
            projector.wait_for_function(
                "() => [...document.querySelectorAll('[data-testid=stVegaLiteChart] svg')]"
                ".some(s => s.textContent.includes('Ana · #1') && s.textContent.includes('Ben · #2'))",
                timeout=60_000)
            before = epochs_on_wall(projector, 1)
            deadline = time.monotonic() + 60
            while epochs_on_wall(projector, 1) <= before and time.monotonic() < deadline:
                projector.wait_for_timeout(500)  # no reload: the Wall polls by itself
            assert epochs_on_wall(projector, 1) > before >= 0, wall_text(projector)
            assert epochs_on_wall(projector, 2) >= 0
            # one click on a tile shows that run large (the first tile: the oldest run training, Ana's)
            wait_until_idle(projector)
            chart = projector.locator("[data-testid=stVegaLiteChart]").first.bounding_box()
            projector.mouse.click(chart["x"] + 150, chart["y"] + 90)
            projector.wait_for_url("**/wall?run=1")
            projector.get_by_role("button", name="← Back to the Wall").wait_for()
            projector.get_by_role("heading", name=re.compile(r"#1 .* · Ana$")).wait_for()

            teacher = new_person(chromium)
            teacher.goto(server.url + "/train?run=2")
            teacher.get_by_text("you can watch it and copy its settings, not cancel it").wait_for()
            type_in_sidebar(teacher, "Class key", KEY)
            signed_in = "Signed in as the teacher on this browser, for this school day."
            teacher.get_by_text(signed_in).wait_for()
            teacher.get_by_text("as the teacher you can cancel it").wait_for()
            assert not teacher.get_by_text("not cancel it").count()  # no "not yours" beside a working Cancel
            cancel = teacher.get_by_role("button", name="Cancel")
            cancel.wait_for()
            assert cancel.is_enabled()
            cancel.click()
            deadline = time.monotonic() + 60
            while store.get(2).status != "cancelled" and time.monotonic() < deadline:
                time.sleep(0.2)  # the run stops within a few steps
            assert store.get(2).cancelled_by == "the teacher" and store.get(1).status == "running"
            ben.goto(server.url + "/train?run=2")
            ben.get_by_text("by the teacher", exact=False).first.wait_for()

            # the key typed once: a reload and another run's link keep the role (the key is not in the
            # browser: no cookie or address holds it)
            teacher.reload()
            teacher.goto(server.url + "/train?run=1")
            teacher.get_by_text(signed_in).wait_for()
            assert not teacher.get_by_text("not cancel it").count()
            assert KEY not in " ".join(c["value"] for c in teacher.context.cookies()) and KEY not in teacher.url
            cancel = teacher.get_by_role("button", name="Cancel")
            wait_until_idle(teacher)
            assert cancel.is_enabled()
            cancel.click()
            deadline = time.monotonic() + 60
            while store.get(1).status != "cancelled" and time.monotonic() < deadline:
                time.sleep(0.2)
            assert store.get(1).cancelled_by == "the teacher"
            # a student's browser never gets the role
            ben.goto(server.url + "/train?run=1")
            ben.get_by_text("by the teacher", exact=False).first.wait_for()
            assert not ben.get_by_text(signed_in).count() and not ana.get_by_text(signed_in).count()
            for page in (ana, ben, projector, teacher):
                assert not page.locator("[data-testid=stException]").count()
    finally:
        server.stop()


def test_the_train_page_fits_a_projector(tmp_path):
    server = Server(tmp_path / "home").start()
    try:
        with browser() as chromium:
            page = new_person(chromium, width=1280, height=720)
            page.goto(server.url + "/train")
            page.get_by_role("button", name="Start training").wait_for()
            open_group(page, "6. Batch size, epochs and seed")
            set_number(page, "Epochs", "40")
            page.get_by_role("button", name="Start training").click()
            page.wait_for_url("**run=1")
            card = page.locator("[data-testid=stVerticalBlock]", has=page.get_by_text("Evidence:")).last
            card.wait_for(timeout=180_000)  # the first hint comes after a few epochs
            wait_until_idle(page)
            page.evaluate("() => window.scrollTo(0, 0)")
            assert store_status(server) == "running", "the page must be looked at during the run"
            page.screenshot(path=str(tmp_path / "train-1280x720.png"))
            charts = page.locator("[data-testid=stVegaLiteChart]")
            boxes = {"loss chart": charts.nth(0).bounding_box(), "accuracy chart": charts.nth(1).bounding_box(),
                     "first hint": card.bounding_box()}
            for what, box in boxes.items():
                assert box is not None, what
                assert box["y"] >= 0 and box["y"] + box["height"] <= 720, (what, box)
                assert box["x"] >= 0 and box["x"] + box["width"] <= 1280, (what, box)
            assert page.get_by_role("button", name="Cancel").is_enabled()
    finally:
        server.stop()


def store_status(server: Server) -> str:
    return RunStore(server.home / "runs.db").get(1).status
