"""Screenshots of both layers (en and de, light and dark) for the README, taken from the demo."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("lang", ["en", "de"])
def test_screenshots_of_first_layer_and_settings_layer(make_visitor, lang, scheme):
    visitor = make_visitor(viewport={"width": 1280, "height": 800}, color_scheme=scheme,
                           reduced_motion="reduce")
    page = visitor.open(f"/?lang={lang}")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    assert visitor.banner.is_visible()
    page.screenshot(path=str(SCREENSHOTS / f"first-layer-{lang}-{scheme}.png"))
    visitor.banner.get_by_role("button").last.click()
    visitor.dialog.wait_for()
    visitor.show_providers(2)
    visitor.dialog.locator("details[open] .cmp-vendor details > summary").nth(1).click()
    page.keyboard.press("Tab")  # show the focus ring in the picture
    page.screenshot(path=str(SCREENSHOTS / f"settings-layer-{lang}-{scheme}.png"))
