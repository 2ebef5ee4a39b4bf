"""The Curve Doctor page: upload a CSV and see its hints, upload a broken one and see what is wrong,
pick a stored run and see its hints."""
from __future__ import annotations

import math

from streamlit.testing.v1 import AppTest

from core.config import RunConfig
from core.training.events import EpochEnd
from core.runs.store import RunStore
from pages.parts import icons
from tests.conftest import ROOT

PAGE = str(ROOT / "pages" / "curve_doctor.py")
OVERFIT_CSV = ("epoch,loss,accuracy,val_loss,val_accuracy\n" + "".join(
    f"{i},{0.7 ** i:.4f},{min(1.0, 0.5 + 0.05 * i):.3f},{v},0.8\n"
    for i, v in enumerate([1.0, 0.8, 0.65, 0.55, 0.5, 0.48, 0.5, 0.53, 0.57, 0.6, 0.63, 0.66]))).encode()


def page_text(at: AppTest) -> str:
    text = " ".join(m.value for m in at.markdown) + " " + " ".join(s.value for s in at.subheader)
    return text.replace("\\", "")  # what a reader sees: Markdown's escapes fall away


def test_upload_shows_the_hints_and_a_chart():
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception
    at.file_uploader[0].set_value(("keras_log.csv", OVERFIT_CSV, "text/csv")).run()
    assert not at.exception and not at.error
    text = page_text(at)
    assert "keras_log.csv (keras, 12 epochs)" in text
    assert "Overfitting" in text and "lowest, 0.48 at epoch 6" in text and "from epoch 7" in text
    assert at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")


def test_broken_upload_shows_what_is_wrong_and_the_good_file_still_works():
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    at.file_uploader[0].set_value([
        ("broken.csv", b"epoch,nothing\n0,0.5\n", "text/csv"),
        ("accuracy_only.csv", b"epoch,accuracy\n0,0.5\n1,0.6\n2,0.7\n", "text/csv"),
        ("binary.csv", b"\x00\x01\x02", "text/csv"),
        ("good.csv", OVERFIT_CSV, "text/csv"),
    ]).run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert any(e.startswith("broken.csv: has no loss or accuracy column") for e in errors)
    assert "Not judged: no loss" in page_text(at)  # read, and said what the doctor cannot tell from it
    assert any(e.startswith("binary.csv: is not a text CSV file") for e in errors)
    assert "Overfitting" in page_text(at)


def test_stored_run_is_diagnosed_with_its_classes():
    store = RunStore()
    run_id = store.create_run(RunConfig(dataset="digits", model="mlp", epochs=6, lr=0.1), name="too hot")
    losses = [8.1, 2.31, 2.30, 2.30, 2.31, 2.30]
    for epoch, loss in enumerate(losses, start=1):
        store.record(run_id, EpochEnd(epoch, loss, 0.1, math.log(10), 0.09, 0.1, 1.0, 100.0))
    store.finish(run_id, "completed")
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    at.radio[0].set_value("Stored runs").run()
    assert not at.exception
    text = page_text(at)
    assert "too hot" in text and "Divergence" in text and "0.01" in text


def test_try_it_on_a_stored_run_loads_the_advised_setting_into_the_train_page():
    store = RunStore()
    run_id = store.create_run(RunConfig(dataset="digits", model="mlp", epochs=6, lr=0.1, dropout=0.2), name="too hot")
    for epoch, loss in enumerate([8.1, 2.31, 2.30, 2.30, 2.31, 2.30], start=1):
        store.record(run_id, EpochEnd(epoch, loss, 0.1, math.log(10), 0.09, 0.1, 1.0, 100.0))
    store.finish(run_id, "completed")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)  # the whole app: the button opens Train
    at.switch_page("pages/curve_doctor.py").run()
    at.radio[0].set_value("Stored runs").run()
    [button] = [b for b in at.button if b.label.startswith("Try it")]
    assert button.label == "Try it: lr 0.01"
    button.click().run()
    assert not at.exception, at.exception
    assert at.title[0].value == f"{icons.TRAIN} Train"  # it opened the Train page...
    assert any(s.value.startswith("Loaded into the knobs: lr 0.01") for s in at.success)
    # ...with the run's settings in the knobs, the learning rate changed
    assert at.number_input(key="knob_lr").value == 0.01 and at.number_input(key="knob_epochs").value == 6
    assert at.selectbox(key="knob_dataset").value == "digits" and at.number_input(key="knob_dropout").value == 0.2


KERAS_CONSOLE = "".join(
    f"Epoch {e}/12\n32/32 [==============================] - 1s 20ms/step - loss: {0.7 ** e:.4f} - accuracy: "
    f"{min(1.0, 0.5 + 0.05 * e):.4f} - val_loss: {v:.4f} - val_accuracy: 0.8000\n"
    for e, v in enumerate([1.0, 0.8, 0.65, 0.55, 0.5, 0.48, 0.5, 0.53, 0.57, 0.6, 0.63, 0.66], start=1))


def test_pasted_console_output_is_read_and_diagnosed():
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    at.radio[0].set_value("Paste console output").run()
    at.text_area[0].input(KERAS_CONSOLE).run()
    assert not at.exception and not at.error
    text = page_text(at)
    assert "pasted output (keras console, 12 epochs)" in text and "Overfitting" in text
    at.text_area[0].input("nothing that looks like training").run()
    assert any(e.value.startswith("pasted output:") for e in at.error)  # one line, what is wrong


def test_a_notebook_upload_shows_each_fit():
    from tests.doctor.test_readers import notebook_with_two_fits

    at = AppTest.from_file(PAGE, default_timeout=60).run()
    at.file_uploader[0].set_value(("lab.ipynb", notebook_with_two_fits().encode(), "application/json")).run()
    assert not at.exception and not at.error
    text = page_text(at)
    assert "lab.ipynb cell 3 (notebook, 3 epochs)" in text and "lab.ipynb cell 5 (notebook, 4 epochs)" in text
