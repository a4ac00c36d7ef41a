"""The web page in a real browser: headless Chromium over WebDriver (chromium-driver) against a
real `imgproc serve` on real ranks (tests/web_e2e.sh starts it). Uploads two images, builds a
chain in the editor, waits for the live progress to reach the end, downloads the zip through the
browser and checks every pixel against `imgproc run --reference`; takes docs/screenshots/web.png
and web-running.png on the way.

Usage: web_e2e.py BASE_URL IMGPROC WORKDIR SCREENSHOT_DIR
"""
import os
import subprocess
import sys
import time
import zipfile

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

base, imgproc, work, shots = sys.argv[1:5]
CHAIN = "bilateral:d=25,gray"
LIMIT = 120  # seconds for any wait: a hung page fails the test instead of stalling CI


def make_inputs():
    paths = []
    for i, spec in enumerate(["plasma:fractal", "gradient:orange-navy"]):
        p = os.path.join(work, f"in{i}.png")
        subprocess.run(["convert", "-seed", str(i + 1), "-size", "2400x1800", spec, p], check=True)
        paths.append(p)
    return paths


def same_pixels(a, b):
    """ImageMagick counts the pixels that differ at all (fuzz 0)."""
    r = subprocess.run(["compare", "-metric", "AE", a, b, "null:"], capture_output=True, text=True)
    return r.stderr.strip() == "0"


def browser(download_dir):
    opts = webdriver.ChromeOptions()
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              f"--user-data-dir={os.path.join(work, 'profile')}", "--window-size=1400,1000"]:
        opts.add_argument(a)
    opts.add_experimental_option("prefs", {"download.default_directory": download_dir,
                                           "download.prompt_for_download": False})
    opts.binary_location = "/usr/bin/chromium"
    service = Service(executable_path="/usr/bin/chromedriver")
    return webdriver.Chrome(options=opts, service=service)


def main():
    inputs = make_inputs()
    downloads = os.path.join(work, "downloads")
    os.makedirs(downloads, exist_ok=True)
    d = browser(downloads)
    wait = WebDriverWait(d, LIMIT)
    try:
        d.get(base + "/")
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#op-select option")) > 5)
        # The file picker (hidden behind the drop zone) takes both files at once.
        picker = d.find_element(By.ID, "files")
        d.execute_script("arguments[0].hidden = false", picker)
        picker.send_keys("\n".join(inputs))
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#chosen li")) == 2)
        # The chain: bilateral with d=25, then gray, from the registry's editor (slow enough, a few
        # seconds on 3 ranks here, that the page is seen running).
        Select(d.find_element(By.ID, "op-select")).select_by_value("bilateral")
        d.find_element(By.ID, "add-op").click()
        field = d.find_element(By.CSS_SELECTOR, "input[data-param='bilateral.d']")
        field.clear()
        field.send_keys("25")
        Select(d.find_element(By.ID, "op-select")).select_by_value("gray")
        d.find_element(By.ID, "add-op").click()
        assert d.find_element(By.ID, "chain-text").text == CHAIN, d.find_element(By.ID, "chain-text").text
        Select(d.find_element(By.ID, "format")).select_by_value("png")
        d.find_element(By.ID, "submit").click()
        # Live progress: the state while it runs.
        wait.until(lambda d: d.find_element(By.ID, "job-status").text == "running")
        d.save_screenshot(os.path.join(shots, "web-running.png"))
        running_text = d.find_element(By.ID, "job-progress").text
        assert d.find_element(By.ID, "job-status").text == "running", "the job ended before its screenshot"
        wait.until(lambda d: d.find_element(By.ID, "job-status").text in ("succeeded", "failed", "canceled"))
        status = d.find_element(By.ID, "job-status").text
        assert status == "succeeded", status + ": " + d.find_element(By.ID, "job-error").text
        progress = d.find_element(By.ID, "job-progress").text
        assert progress.startswith("2 / 2 images"), progress
        value = d.find_element(By.ID, "progress").get_attribute("value")
        assert value == "2", value
        # The before/after of the first result, both loaded.
        wait.until(lambda d: d.execute_script("return document.getElementById('after').naturalWidth") == 2400)
        wait.until(lambda d: "2400×1800" in d.find_element(By.ID, "after-cap").text)
        d.save_screenshot(os.path.join(shots, "web.png"))
        # The zip, downloaded by the browser.
        d.find_element(By.CSS_SELECTOR, "#download-zip button").click()
        deadline = time.time() + LIMIT
        zips = []
        while time.time() < deadline:
            zips = [f for f in os.listdir(downloads) if f.endswith(".zip")]
            if zips:
                break
            time.sleep(0.1)
        assert zips, "no zip downloaded"
        archive = zipfile.ZipFile(os.path.join(downloads, zips[0]))
        names = sorted(archive.namelist())
        assert names == ["in0.png", "in1.png"], names
        for name, src in zip(names, inputs):
            got = os.path.join(work, "got-" + name)
            with open(got, "wb") as f:
                f.write(archive.read(name))
            want = os.path.join(work, "want-" + name)
            subprocess.run([imgproc, "run", "--reference", "--op", CHAIN, src, "-o", want], check=True,
                           capture_output=True)
            assert same_pixels(got, want), name + " differs from the one-process result"
        print(f"web_e2e: ok (while running: {running_text!r}; at the end: {progress!r})")
    finally:
        d.quit()


main()
