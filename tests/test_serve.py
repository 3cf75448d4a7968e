"""The web demo end to end in headless Chromium: type a sentence, find the student's entity on the page."""
import shutil
import socket
import subprocess
import sys
import time

import pytest
import torch

from students import StudentConfig, StudentModel

from conftest import LABELS

selenium = pytest.importorskip("selenium")
CHROME, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROME and DRIVER), reason="needs Debian's chromium + chromium-driver "
                                "(make test installs them)")


@pytest.fixture(scope="module")
def person_student(tmp_path_factory, tokenizer):
    """A real student whose head is set to tag every word B-PER (each word its own person entity)."""
    cfg = StudentConfig(block="cnn", vocab_size=len(tokenizer), embed_dim=8, hidden=8, layers=1, num_labels=9,
                        labels=LABELS, pad_id=tokenizer.pad_token_id, unk_id=tokenizer.unk_token_id)
    m = StudentModel(cfg)
    with torch.no_grad():
        m.head.weight.zero_()
        m.head.bias.fill_(-5.0)
        m.head.bias[LABELS.index("B-PER")] = 5.0
    folder = tmp_path_factory.mktemp("student")
    m.save_pretrained(folder)
    return folder


def _port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_page_shows_teacher_and_student_side_by_side(tiny_teacher, person_student, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    port = _port()
    server = subprocess.Popen([sys.executable, "-m", "xarchkd.cli", "serve", "--teacher", str(tiny_teacher),
                               "--student", str(person_student), "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert server.poll() is None, server.stdout.read()
                time.sleep(0.1)
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROME
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1000,700"):
            opts.add_argument(a)
        driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
        try:
            driver.get(f"http://127.0.0.1:{port}/")
            box = driver.find_element(By.ID, "text")
            box.clear()
            box.send_keys("Wolfgang Amadeus Mozart")
            driver.find_element(By.ID, "go").click()
            WebDriverWait(driver, 60).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-done"))
            student = driver.find_element(By.CSS_SELECTOR, "#student .out")
            marks = student.find_elements(By.CSS_SELECTOR, "mark.PER")
            assert [m.text for m in marks] == ["WolfgangPER", "AmadeusPER", "MozartPER"]   # word + tag label
            driver.save_screenshot(str(tmp_path / "serve.png"))
            assert " ms" in student.text
            teacher = driver.find_element(By.CSS_SELECTOR, "#teacher .out").text
            assert "Wolfgang" in teacher and " ms" in teacher
        finally:
            driver.quit()
    finally:
        server.terminate()
        server.wait(timeout=10)
