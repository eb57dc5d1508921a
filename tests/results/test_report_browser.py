"""The report in a real browser: headless Chromium (Debian's `chromium` and `chromium-driver`, driven by
selenium) opens it, finds every table, reorders a table's rows on a click of a column header, draws the
figures at a non-zero size, and logs no console error. Skipped, saying why, where Chromium is absent."""

import shutil

import pytest

from mmdg_bench import api
from mmdg_bench.results.collect import collect_runs
from mmdg_bench.results.tables import compare_report
from tests.results.test_report import FIGURES, write_results

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install selenium)")
pytestmark = [pytest.mark.slow, pytest.mark.e2e,
              pytest.mark.skipif(not (CHROMIUM and DRIVER),
                                 reason="headless Chromium is absent (apt-get install chromium chromium-driver)")]


def headless_chromium(width: int = 1400, height: int = 1000):
    """Debian's Chromium through its own chromedriver: nothing is downloaded (Selenium Manager is not asked)."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 f"--window-size={width},{height}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    from selenium.common.exceptions import WebDriverException

    try:
        return webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=DRIVER))
    except WebDriverException as err:  # installed but unable to start here (a sandbox, a display): the machine's
        pytest.skip(f"headless Chromium did not start: {str(err).strip().splitlines()[0][:200]}")


def column_texts(browser, table, column: int) -> list[str]:
    return browser.execute_script(
        "return Array.from(arguments[0].tBodies[0].rows, r => r.cells[arguments[1]].textContent);", table, column)


def leading_number(text: str) -> float:
    return float(text.split()[0].rstrip("*").replace("−", "-"))


def test_the_report_works_in_headless_chromium(tmp_path):
    from selenium.webdriver.common.by import By

    results = write_results(tmp_path / "runs")
    out = api.report(results, tmp_path / "report.html")
    groups = compare_report(collect_runs(results)[0], "best-val", reference="paper")
    titles = [table.title for group in groups for table in group.tables]
    browser = headless_chromium()
    try:
        browser.get(out.resolve().as_uri())
        captions = [c.get_attribute("textContent") for c in browser.find_elements(By.CSS_SELECTOR, "table caption")]
        assert all(title in captions for title in titles), (titles, captions)

        # Table 2 layout: sort its rows by Avg, ascending then descending, on clicks of that header.
        table = browser.find_elements(By.CSS_SELECTOR, "table.sortable")[captions.index(titles[0])]
        headers = [th.get_attribute("textContent") for th in table.find_elements(By.CSS_SELECTOR, "thead th")]
        avg = headers.index("Avg")
        labels_before = column_texts(browser, table, 0)
        values = dict(zip(labels_before, map(leading_number, column_texts(browser, table, avg))))
        ascending = sorted(values, key=values.get)
        assert ascending != labels_before, "the fixture's rows must start out of Avg order to test the sort"
        button = table.find_elements(By.CSS_SELECTOR, "thead th button")[avg]
        button.click()
        assert column_texts(browser, table, 0) == ascending
        assert table.find_elements(By.CSS_SELECTOR, "thead th")[avg].get_attribute("aria-sort") == "ascending"
        button.click()
        assert column_texts(browser, table, 0) == ascending[::-1]

        sizes = browser.execute_script(
            "return Array.from(document.querySelectorAll('figure svg'), s => [s.getBoundingClientRect().width, "
            "s.getBoundingClientRect().height, s.querySelectorAll('path').length]);")
        assert len(sizes) == FIGURES
        assert all(width > 300 and height > 100 and paths > 10 for width, height, paths in sizes), sizes

        errors = [entry for entry in browser.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]
        assert errors == [], errors
    finally:
        browser.quit()
