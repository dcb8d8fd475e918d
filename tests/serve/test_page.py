"""The web page at /, driven in headless Chromium: classify one article, upload a file, the API key prompt."""
import shutil
from pathlib import Path

import httpx
import pandas as pd
import pytest
from conftest import SHARED, live_server

from kornews import Classifier
from kornews.serve import Settings, create_app

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# the flags a closed network needs: no background connections, no updates, no first-run or sync
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--no-first-run", "--disable-sync"]

pytestmark = [pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/data/knews8"),
              pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                 reason="needs Chromium: apt-get install chromium chromium-driver (.ci/run does)")]

KOREAN = {"politics": "정치", "economy": "경제", "society": "사회", "culture": "문화", "international": "국제",
          "it": "IT·과학", "entertain": "연예", "sport": "스포츠"}
ARTICLE = {"title": "손흥민, 시즌 10호골 폭발…토트넘 3연승 견인",
           "body": "손흥민이 리그 경기에서 시즌 10호골을 터뜨리며 팀의 승리를 이끌었다."}


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def clf(tiny_runs):
    return Classifier.load(tiny_runs(3), engine="torch-fp32")


@pytest.fixture(scope="module")
def url(tiny_runs, clf):
    with live_server(create_app(Settings(run=str(tiny_runs(3))), clf)) as u:
        yield u


@pytest.fixture
def page(browser):
    context = browser.new_context(accept_downloads=True, locale="ko-KR")
    yield context.new_page()
    context.close()


def test_classify_an_article_on_the_page(page, url, clf, tmp_path):
    page.goto(url + "/")
    page.wait_for_function("document.getElementById('meta').textContent.startsWith('run ')")
    assert page.is_hidden("#key-section")  # no key set: no prompt
    page.fill("#title", ARTICLE["title"])
    page.fill("#body", ARTICLE["body"])
    page.click("#classify")
    page.wait_for_selector("#result:not(.hidden)")
    expected = httpx.post(url + "/v1/classify", json=ARTICLE).json()
    assert page.get_attribute("#topic", "data-topic") == expected["topic"] == clf.predict([ARTICLE])[0]
    assert page.text_content("#topic") == KOREAN[expected["topic"]]           # a known label in Korean
    assert page.text_content("#confidence") == f"확신도 {100 * expected['confidence']:.1f}%"
    assert page.is_hidden("#review") and expected["review"] is None           # no threshold in force
    marked = [m.text_content() for m in page.query_selector_all("#highlighted mark")]
    assert marked and set(marked) <= {w.word for w in clf.explain([ARTICLE], 5)[0]}  # the words, marked in the text
    bars = page.query_selector_all("#bars .bar")
    assert [b.get_attribute("data-topic") for b in bars] == sorted(
        clf.labels, key=lambda k: -expected["probabilities"][k])
    # Korean renders with the font the server ships, whatever the viewer has installed
    fonts = page.evaluate("""async () => { await document.fonts.ready;
        return [...document.fonts].filter(f => f.family.includes('NanumGothic')).map(f => f.status); }""")
    assert fonts == ["loaded"]
    assert page.evaluate("document.fonts.check('16px NanumGothic', '손흥민')")
    page.screenshot(path=str(tmp_path / "classify.png"), full_page=True)
    assert (tmp_path / "classify.png").stat().st_size > 10_000


def test_an_empty_article_shows_the_error(page, url):
    page.goto(url + "/")
    page.click("#classify")
    page.wait_for_selector("#error:not(.hidden)")
    assert "no text" in page.text_content("#error") and page.is_hidden("#result")


def test_upload_a_csv_and_download_predictions(page, url, clf, slices, tmp_path):
    page.goto(url + "/")
    page.set_input_files("#file", str(slices / "test.csv"))
    page.select_option("#format", "csv")
    page.click("#upload")
    page.wait_for_selector("#download")
    with page.expect_download() as download:
        page.click("#download")
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.name == "test-predictions.csv"
    got = pd.read_csv(saved, dtype=str)
    df = pd.read_csv(slices / "test.csv", dtype=str, keep_default_na=False)
    assert list(got.pred) == clf.predict([{"title": t, "body": b} for t, b in zip(df.title, df.cleanBody)])
    assert f"{len(df)}개 기사를 분류했습니다" in page.text_content("#file-status")
    page.screenshot(path=str(tmp_path / "upload.png"), full_page=True)


def test_with_an_api_key_the_page_asks_for_it(page, tiny_runs, clf):
    with live_server(create_app(Settings(run=str(tiny_runs(3)), api_key="s3cret"), clf)) as keyed:
        page.goto(keyed + "/")
        page.wait_for_selector("#key-section:not(.hidden)")
        page.fill("#key", "s3cret")
        page.click("#key-save")
        page.wait_for_function("document.getElementById('meta').textContent.startsWith('run ')")
        page.fill("#title", ARTICLE["title"])
        page.fill("#body", ARTICLE["body"])
        page.click("#classify")
        page.wait_for_selector("#result:not(.hidden)")
        assert page.get_attribute("#topic", "data-topic") == clf.predict([ARTICLE])[0]


def test_an_unsure_result_is_marked_for_review(page, tiny_runs, clf, tmp_path):
    with live_server(create_app(Settings(run=str(tiny_runs(3)), min_confidence=0.999), clf)) as strict:
        page.goto(strict + "/")
        page.wait_for_function("document.getElementById('meta').textContent.startsWith('run ')")
        page.fill("#title", ARTICLE["title"])
        page.click("#classify")
        page.wait_for_selector("#review:not(.hidden)")
        assert "검토 필요" in page.text_content("#review")
        page.screenshot(path=str(tmp_path / "review.png"), full_page=True)


def test_the_monitoring_panel_shows_the_window_and_warns_of_drift(page, tiny_runs, clf, shared, tmp_path):
    heads = pd.read_csv(shared / "ynat" / "dev.tsv", sep="\t", dtype=str, nrows=64)
    with live_server(create_app(Settings(run=str(tiny_runs(3)), monitor_window=100), clf)) as u:
        page.goto(u + "/")
        page.wait_for_function("document.getElementById('meta').textContent.startsWith('run ')")
        assert page.text_content("#watch-figures") == "아직 분류한 기사가 없습니다."
        assert page.is_hidden("#watch-alert")
        httpx.post(u + "/v1/classify", json={"articles": [{"title": t} for t in heads.title[:32]]}, timeout=60)
        httpx.post(u + "/v1/classify", json={"articles": [{"title": t} for t in heads.title[32:]]}, timeout=60)
        page.fill("#title", ARTICLE["title"])  # a classification on the page refreshes the panel
        page.click("#classify")
        page.wait_for_function("document.getElementById('watch-figures').textContent.startsWith('최근 65건')")
        figures = httpx.get(u + "/v1/monitor").json()
        assert f"추정 정확도 {100 * figures['estimated_accuracy']:.1f}%" in page.text_content("#watch-figures")
        assert figures["drift"] and page.is_visible("#watch-alert")
        assert "kornews choose → label → learn" in page.text_content("#watch-alert")
        assert "drift" in page.get_attribute("#watch", "class")
        page.screenshot(path=str(tmp_path / "watch.png"), full_page=True)
        assert (tmp_path / "watch.png").stat().st_size > 10_000
