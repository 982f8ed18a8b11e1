"""Serving of cmp.js and cmp.css: minified, content-hash ETag, long caching, gzip when accepted."""

from __future__ import annotations

import gzip

import pytest

from cmp.banner import BANNER_DIR

FILES = [("cmp.js", "text/javascript"), ("cmp.css", "text/css")]


@pytest.fixture
def client(live):
    return live.app.test_client()


@pytest.mark.parametrize(("name", "content_type"), FILES)
def test_banner_file_is_served_minified_with_long_caching(client, name, content_type):
    response = client.get(f"/banner/v1/{name}")
    assert response.status_code == 200
    assert response.mimetype == content_type
    assert "max-age=31536000" in response.headers["Cache-Control"]
    assert response.headers["Vary"] == "Accept-Encoding"
    assert "Content-Encoding" not in response.headers
    source = (BANNER_DIR / name).read_bytes()
    assert 0 < len(response.data) < len(source) * 0.85, "minified"
    assert b"/*" not in response.data, "comments stripped"


@pytest.mark.parametrize(("name", "content_type"), FILES)
def test_banner_file_is_gzipped_when_the_client_accepts_it(client, name, content_type):
    plain = client.get(f"/banner/v1/{name}").data
    response = client.get(f"/banner/v1/{name}", headers={"Accept-Encoding": "br, gzip"})
    assert response.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(response.data) == plain
    refused = client.get(f"/banner/v1/{name}", headers={"Accept-Encoding": "gzip;q=0"})
    assert "Content-Encoding" not in refused.headers


@pytest.mark.parametrize(("name", "content_type"), FILES)
def test_banner_file_answers_304_to_its_etag(client, name, content_type):
    first = client.get(f"/banner/v1/{name}")
    etag = first.headers["ETag"]
    again = client.get(f"/banner/v1/{name}", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.data == b""
    assert client.get(f"/banner/v1/{name}", headers={"If-None-Match": '"other"'}).status_code == 200


def test_unknown_banner_file_is_404(client):
    assert client.get("/banner/v1/other.js").status_code == 404
