"""The Curve Doctor in a real browser: a file over the upload limit is refused in one line before it
is sent (Streamlit's uploader, held to the Doctor's limit), a file within it is read and diagnosed,
and console output pasted into the box is read and diagnosed."""
from __future__ import annotations

from core.doctor.history_io import MAX_MEGABYTES
from tests.browser.support import Server, browser_page, wait_until_idle

OVERFIT = "epoch,loss,accuracy,val_loss,val_accuracy\n" + "".join(
    f"{e},{2.0 * 0.7 ** e:.4f},{min(0.99, 0.5 + 0.05 * e):.4f},{0.9 + 0.05 * max(0, e - 4):.4f},0.80\n"
    for e in range(20))


CONSOLE = "".join(
    f"Epoch {e + 1}/20\r\n 8/32 [======>.......] - ETA: 1s - loss: {2.2 * 0.7 ** e:.4f}\r"
    f"32/32 [==============================] - 1s 20ms/step - loss: {2.0 * 0.7 ** e:.4f} - accuracy: "
    f"{min(0.99, 0.5 + 0.05 * e):.4f} - val_loss: {0.9 + 0.05 * max(0, e - 4):.4f} - val_accuracy: 0.8000\r\n"
    for e in range(20))


def test_a_file_over_the_limit_is_refused_a_good_one_is_read_and_pasted_output_too(tmp_path):
    big = tmp_path / "huge_history.csv"
    row = "1,0.5,0.8,0.6,0.7\n"
    big.write_text("epoch,loss,accuracy,val_loss,val_accuracy\n" + row * ((MAX_MEGABYTES + 1) * 2**20 // len(row)))
    good = tmp_path / "overfit.csv"
    good.write_text(OVERFIT)
    server = Server(tmp_path / "home").start()
    try:
        with browser_page() as page:
            page.goto(server.url + "/curve_doctor")
            uploader = page.locator("[data-testid=stFileUploaderDropzoneInput]")
            uploader.wait_for(state="attached")
            uploader.set_input_files(str(big))
            refusal = page.get_by_text(f"File must be {MAX_MEGABYTES:.1f}MB or smaller.")
            refusal.wait_for()
            assert refusal.count() == 1
            wait_until_idle(page)
            assert not page.get_by_role("heading", name="huge_history.csv").count()  # never sent, never read
            uploader.set_input_files(str(good))
            page.get_by_role("heading", name="overfit.csv", exact=False).wait_for()
            page.get_by_text("Overfitting", exact=False).first.wait_for()
            assert not page.locator("[data-testid=stException]").count()

            # what model.fit printed, pasted as it is (progress bars redrawn with \r included)
            box = page.get_by_role("textbox", name="Console output")
            for _ in range(3):  # a click that lands while the page reruns is lost: click until it shows
                wait_until_idle(page)
                page.get_by_text("Paste console output").click()
                wait_until_idle(page)
                if box.count():
                    break
            box.wait_for()
            box.fill(CONSOLE)
            box.press("Control+Enter")  # (what a person does, or a click elsewhere: Streamlit applies it)
            page.get_by_role("heading", name="pasted output (keras console, 20 epochs)").wait_for()
            page.get_by_text("Overfitting", exact=False).first.wait_for()
            assert not page.locator("[data-testid=stException]").count()
    finally:
        server.stop()
