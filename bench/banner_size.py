"""Prints the gzip size of the minified banner (JS + CSS together) against its 8 KB budget."""

from __future__ import annotations

import gzip

from cmp.banner import BANNER_DIR, minify

BUDGET_BYTES = 8 * 1024
FILES = ("cmp.js", "cmp.css")


def minified(name: str) -> bytes:
    """The file as the server sends it, before compression."""
    return minify(name, (BANNER_DIR / name).read_text(encoding="utf-8")).encode()


def gzipped_size(data: bytes) -> int:
    """Bytes on the wire with gzip at level 9, as the server precompresses."""
    return len(gzip.compress(data, compresslevel=9, mtime=0))


def main() -> None:
    parts = {name: minified(name) for name in FILES}
    for name, data in parts.items():
        source = (BANNER_DIR / name).stat().st_size
        print(f"{name:8} source {source:6d} B  minified {len(data):6d} B  gzip {gzipped_size(data):5d} B")
    together = gzipped_size(b"\n".join(parts.values()))
    print(f"JS + CSS together, minified + gzip: {together} B of {BUDGET_BYTES} B budget")
    verdict = "within" if together <= BUDGET_BYTES else "OVER"
    print(f"ratio to budget: {together / BUDGET_BYTES:.2f} ({verdict} budget)")


if __name__ == "__main__":
    main()
