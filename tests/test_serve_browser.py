"""The web page in real headless Chromium (Debian's ``chromium``, driven by Playwright; no
browser download): upload a catalog photo, drag and drop, crop, filter by color, pick a catalog
item, build a style profile. Screenshots go to ``tests/artifacts/`` (git-ignored)."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

from pipeline.serve.app import create_app
from tests.support.app import item_id_of, live_server, ready_holder

CHROMIUM = Path(os.environ.get("VITRINE_CHROMIUM", "/usr/bin/chromium"))
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).parent / "artifacts"

if not CHROMIUM.exists():
    reason = f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium)"
    if os.environ.get("CI"):
        raise RuntimeError(f"the browser test must run in CI, but {reason}")
    pytest.skip(reason, allow_module_level=True)


@pytest.fixture(scope="module")
def site(demo_release, tmp_path_factory):
    with live_server(create_app(ready_holder(demo_release.lake, tmp_path_factory.mktemp("cache")))) as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield chromium
        chromium.close()


def test_page_runs_under_its_content_security_policy(browser, site):
    context = browser.new_context()
    tab = context.new_page()
    console_errors: list[str] = []
    tab.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error" else None)
    tab.goto(site)
    tab.wait_for_selector("#release[data-release-id]")
    tab.wait_for_selector("#catalog-list button img", state="attached")
    context.close()
    assert not console_errors, console_errors


@pytest.fixture
def page(browser, site):
    # the tests' own wait_for_function predicates are evaluated strings, which the page's CSP
    # (script-src 'self') forbids; the test above checks the page itself runs under it
    context = browser.new_context(viewport={"width": 1100, "height": 900}, bypass_csp=True)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.goto(site)
    tab.wait_for_selector("#release[data-release-id]")
    yield tab
    context.close()
    assert not errors, errors


def _photo_file(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _wait_results(page, expect_first: str | None = None) -> list[str]:
    page.wait_for_function(
        "document.querySelector('#results').getAttribute('aria-busy') === null "
        "&& document.querySelectorAll('#results .card').length > 0"
    )
    if expect_first:
        page.wait_for_function(f"document.querySelector('#results .card').dataset.itemId === '{expect_first}'")
    return page.eval_on_selector_all("#results .card", "cards => cards.map(c => c.dataset.itemId)")


def test_upload_filter_and_screenshot(page, demo_release, tmp_path):
    product = demo_release.catalog.products[4]
    assert demo_release.release_id in page.inner_text("#release") and "demo-fit-v1" in page.inner_text("#release")
    page.set_input_files("#photos", str(_photo_file(tmp_path, "photo.jpg", demo_release.photo(product))))
    cards = _wait_results(page)
    assert cards[0] == item_id_of(product)
    query_attrs = page.inner_text("#query-attributes")
    assert "category" in query_attrs and product.labels["color"] in query_attrs
    assert page.get_attribute("#status", "data-match") == "close"

    colors = Counter(p.labels["color"] for p in demo_release.catalog.products)
    wanted = next(c for c, _ in colors.most_common() if c != product.labels["color"])
    page.click("#filters details:has(input[name=color]) summary")
    page.check(f"#filters input[name=color][value={wanted}]")
    page.wait_for_function(
        f"[...document.querySelectorAll('#results .card')].length > 0 && "
        f"[...document.querySelectorAll('#results .card [data-attr=color]')]"
        f".every(li => li.dataset.value === '{wanted}')"
    )
    shown = page.eval_on_selector_all("#results .card [data-attr=color]", "lis => lis.map(li => li.dataset.value)")
    assert shown and set(shown) == {wanted}
    alts = page.eval_on_selector_all("#results .card img", "imgs => imgs.map(i => i.alt)")
    assert all(alts)
    page.wait_for_function("[...document.querySelectorAll('#results .card img')].every(i => i.complete)")
    widths = page.eval_on_selector_all("#results .card img", "imgs => imgs.map(i => i.naturalWidth)")
    assert all(w == 224 for w in widths)  # thumbnails served from the release's images
    page.uncheck(f"#filters input[name=color][value={wanted}]")
    _wait_results(page, item_id_of(product))
    ARTIFACTS.mkdir(exist_ok=True)
    page.wait_for_function("[...document.querySelectorAll('#results img, #preview img')].every(i => i.complete)")
    page.screenshot(path=str(ARTIFACTS / "visual-search.png"), full_page=True)


def test_drop_and_crop(page, demo_release, tmp_path):
    street, left, right = demo_release.street_photo()
    data = list(street)
    transfer = page.evaluate_handle(
        "bytes => { const t = new DataTransfer(); "
        "t.items.add(new File([new Uint8Array(bytes)], 'street.png', {type: 'image/png'})); return t; }",
        data,
    )
    page.dispatch_event("#drop", "drop", {"dataTransfer": transfer})
    _wait_results(page)
    box = page.locator("#preview-img").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.52, box["y"] + 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.98, box["y"] + box["height"] * 0.98, steps=5)
    page.mouse.up()
    assert page.is_visible("#crop-box")
    _wait_results(page, item_id_of(right))
    page.mouse.move(box["x"] + 2, box["y"] + 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.48, box["y"] + box["height"] * 0.98, steps=5)
    page.mouse.up()
    _wait_results(page, item_id_of(left))


def test_pick_a_catalog_item_with_the_keyboard(page, demo_release):
    product = demo_release.catalog.products[9]
    page.focus("#catalog summary")
    page.keyboard.press("Enter")
    page.fill("#catalog-q", product.title)
    page.wait_for_function(  # the title search has replaced the first listing
        "title => { const b = [...document.querySelectorAll('#catalog-list button')];"
        " return b.length > 0 && b.every(x => x.textContent.includes(title)); }",
        arg=product.title,
    )
    button = page.locator(f"#catalog-list button[data-item-id='{item_id_of(product)}']")
    button.focus()
    page.keyboard.press("Enter")
    cards = _wait_results(page)
    assert item_id_of(product) not in cards and product.title in page.inner_text("#query-item")


def test_style_profile_from_three_photos(page, demo_release, tmp_path):
    products = demo_release.catalog.products
    category = Counter(p.labels["category"] for p in products).most_common(1)[0][0]
    chosen = [p for p in products if p.labels["category"] == category][:3]
    paths = [str(_photo_file(tmp_path, f"p{i}.jpg", demo_release.photo(p))) for i, p in enumerate(chosen)]
    page.set_input_files("#photos", paths)
    page.wait_for_function("document.querySelector('#results-title').textContent.includes('3 photos')")
    _wait_results(page)
    page.wait_for_function("document.querySelector('#results .card .meta').textContent.includes('score')")
    assert page.locator("#thumbs img").count() == 3
    assert category.replace("_", " ") in page.inner_text("#query-attributes")
    first_category = page.get_attribute("#results .card [data-attr=category]", "data-value")
    assert first_category == category
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "style-profile.png"), full_page=True)


def test_phone_layout_and_labels(browser, site, demo_release, tmp_path):
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, bypass_csp=True
    )
    tab = context.new_page()
    tab.goto(site)
    tab.wait_for_selector("#release[data-release-id]")
    unlabelled = tab.evaluate(
        "[...document.querySelectorAll('input, select')]"
        ".filter(e => !e.labels || e.labels.length === 0).map(e => e.id || e.name)"
    )
    assert unlabelled == []
    product = demo_release.catalog.products[5]
    tab.set_input_files("#photos", str(_photo_file(tmp_path, "phone.jpg", demo_release.photo(product))))
    assert _wait_results(tab)[0] == item_id_of(product)
    assert tab.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scrolling
    context.close()
