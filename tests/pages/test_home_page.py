"""The home page renders with links to where to start, every registry's notes and no exception."""
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT


def test_home_page_lists_data_sets_and_notes_without_errors():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()  # the home page is the default
    assert not at.exception
    links = [link.proto.page for link in at.get("page_link")]
    assert links == ["train", "saturation_lab", "curve_doctor", "wall", "teacher"]  # the pages' URLs
    assert at.title[0].value == "TuneLab"
    text = " ".join(m.value for m in at.markdown)
    assert "MNIST 5k (built in)" in text and "Simple CNN" in text
    assert [e.label for e in at.expander] == ["Optimizers", "Initializers", "Activations", "Learning-rate schedules"]


def test_the_app_entry_point_runs_the_home_page():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception
    assert at.title[0].value == "TuneLab"
