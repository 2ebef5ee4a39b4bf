"""Every icon TuneLab draws, one name per concept, as Streamlit's bundled Material Symbols
(":material/name:"). Streamlit ships that font with its frontend, so a classroom PC without an emoji
font (or without internet) draws them too, where an emoji would be an empty box. Pages use these
names; tests/test_icons.py checks that no emoji is left in pages/ or app.py."""
from __future__ import annotations

APP = ":material/local_fire_department:"

# the pages, as the navigation and the home page's links show them
HOME = ":material/home:"
TRAIN = ":material/tune:"
COMPARE = ":material/compare_arrows:"
CURVE_DOCTOR = ":material/stethoscope:"
SATURATION_LAB = ":material/local_fire_department:"
WALL = ":material/grid_view:"
TEACHER = ":material/school:"

# messages
ERROR = ":material/error:"
LOCKED = ":material/lock:"
WELCOME = ":material/waving_hand:"
TRIED = ":material/science:"
DONE = ":material/check_circle:"
TIMER = ":material/timer:"

# buttons and labels
TRAIN_NETWORK = ":material/local_fire_department:"
PAUSE = ":material/pause:"
RESUME = ":material/play_arrow:"
PIN = ":material/push_pin:"
DOWNLOAD = ":material/download:"
TROPHY = ":material/emoji_events:"

# a run's status, in headings
STATUS = {
    "queued": ":material/hourglass_empty:",
    "running": ":material/directions_run:",
    "completed": ":material/check_circle:",
    "diverged": ":material/error:",
    "cancelled": ":material/stop_circle:",
    "failed": ":material/cancel:",
    "interrupted": ":material/bolt:",
}


def status(name: str) -> str:
    """The icon of a run's status ("" for a status without one)."""
    return STATUS.get(name, "")
