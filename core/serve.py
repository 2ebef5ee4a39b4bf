"""`python -m core.serve [streamlit options]`: start the dashboard (what `make run` runs).

The same as `streamlit run app.py`, with one difference. Streamlit decides, when the first browser
connects, whether the app is an old-style pages-folder app; because app.py sits beside a `pages/`
folder it says yes, and that first browser sees a menu of every module in pages/ (helpers too)
until app.py's st.navigation has run once. Deciding "no" before the server starts means no
browser ever sees that menu. (The pages keep a guard for people who type `streamlit run app.py`.)
It also checks the server's settings from the environment (TUNELAB_SLOTS) before starting, and sets
the largest upload to the Curve Doctor's limit.
"""
from __future__ import annotations

import sys
from pathlib import Path

from streamlit.runtime.pages_manager import PagesManager
from streamlit.web import cli

from core.doctor.history_io import MAX_MEGABYTES
from core.errors import UserError
from core.runs.worker import slots_from_env

APP = Path(__file__).resolve().parents[1] / "app.py"


def main(argv: list[str] | None = None) -> None:
    try:
        slots_from_env()  # a bad setting stops here, not in the first browser that connects
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)

    PagesManager.uses_pages_directory = False  # app.py navigates with st.navigation
    args = list(sys.argv[1:] if argv is None else argv)
    if not any(a.startswith("--server.maxUploadSize") for a in args):
        args = ["--server.maxUploadSize", str(MAX_MEGABYTES), *args]
    sys.argv = ["streamlit", "run", str(APP), *args]  # Streamlit reads its command line from here too
    cli.main(sys.argv[1:], prog_name="streamlit")


if __name__ == "__main__":
    main()
