#!/usr/bin/env python3
"""Render a benchmark report in headless Chromium; fail on console errors or missing images.

    python scripts/check_report.py REPORT_DIR/index.html [--screenshot shot.png]

Checks, exit code 1 on any failure:
  * every local src/href of the page exists on disk;
  * in Chromium: no console message and no uncaught error while the page loads (the report
    has no scripts, so any console output means something is wrong), every <img> decoded
    (naturalWidth > 0), no resource failed to load.

Needs Chromium (Debian: `apt-get install -y chromium`); --chromium PATH overrides the lookup.
A probe script is injected into a temporary copy of the page next to it (so relative links
resolve), which is removed afterwards; the report itself is not modified.
"""

from __future__ import annotations

import argparse
import html.parser
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlparse

PROBE = """<script>
window.__errs = [];
window.addEventListener('error', function (e) {
  var t = e.target;
  if (t && t !== window && (t.src || t.href)) {
    __errs.push('failed to load ' + (t.src || t.href));
  } else {
    __errs.push('uncaught error: ' + e.message);
  }
}, true);
['error', 'warn'].forEach(function (k) {
  var orig = console[k];
  console[k] = function () {
    __errs.push('console.' + k + ': ' + Array.prototype.join.call(arguments, ' '));
    orig.apply(console, arguments);
  };
});
window.addEventListener('load', function () {
  var imgs = document.images;
  for (var i = 0; i < imgs.length; i++) {
    if (!imgs[i].complete || imgs[i].naturalWidth === 0) {
      __errs.push('image not rendered: ' + imgs[i].getAttribute('src'));
    }
  }
  var pre = document.createElement('pre');
  pre.id = '__report_check';
  pre.textContent = JSON.stringify({errors: __errs, images: imgs.length});
  document.body.appendChild(pre);
});
</script>"""


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.links.append(value)


def missing_files(page: Path) -> list[str]:
    parser = _Links()
    parser.feed(page.read_text(encoding="utf-8"))
    missing = []
    for link in parser.links:
        url = urlparse(link)
        if url.scheme or link.startswith("#"):
            continue
        target = (page.parent / unquote(url.path)).resolve()
        if not target.is_file():
            missing.append(link)
    return missing


def find_chromium(explicit: str | None) -> str:
    for name in ([explicit] if explicit else []) + ["chromium", "chromium-browser",
                                                    "google-chrome", "chrome"]:
        path = shutil.which(name) if name else None
        if path:
            return path
    sys.exit("check_report: Chromium not found (apt-get install -y chromium, or --chromium)")


def render(page: Path, chromium: str, timeout: int, screenshot: Path | None) -> list[str]:
    text = page.read_text(encoding="utf-8")
    probed = re.sub(r"(<head[^>]*>)", lambda m: m.group(1) + PROBE, text, count=1,
                    flags=re.IGNORECASE)
    if probed == text:
        return ["page has no <head> to inject the probe into"]
    fd, tmp = tempfile.mkstemp(prefix=".check_", suffix=".html", dir=page.parent)
    os.close(fd)
    profile = tempfile.mkdtemp(prefix="chromium-check-")
    errors: list[str] = []
    try:
        Path(tmp).write_text(probed, encoding="utf-8")
        base = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--allow-file-access-from-files", f"--user-data-dir={profile}",
                "--enable-logging=stderr", "--v=0", "--virtual-time-budget=15000"]
        proc = subprocess.run([*base, "--dump-dom", Path(tmp).resolve().as_uri()],
                              capture_output=True, text=True, timeout=timeout)
        for line in proc.stderr.splitlines():
            if ":CONSOLE" in line:
                errors.append("console: " + line.split("]", 1)[-1].strip())
        m = re.search(r'<pre id="__report_check">(.*?)</pre>', proc.stdout, re.S)
        if not m:
            errors.append(f"page did not finish loading in Chromium (exit {proc.returncode})")
        else:
            result = json.loads(html.unescape(m.group(1)))
            errors += result["errors"]
            if result["images"] == 0:
                errors.append("page has no images")
        if screenshot is not None:
            subprocess.run([*base, f"--screenshot={screenshot.resolve()}",
                            "--window-size=1400,2400", page.resolve().as_uri()],
                           capture_output=True, timeout=timeout)
    finally:
        os.unlink(tmp)
        shutil.rmtree(profile, ignore_errors=True)
    return errors


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("page", type=Path, help="the report's index.html (or its folder)")
    ap.add_argument("--chromium", help="Chromium executable")
    ap.add_argument("--timeout", type=int, default=120)
    ap.add_argument("--screenshot", type=Path, help="also save a PNG screenshot here")
    args = ap.parse_args(argv)
    page = args.page / "index.html" if args.page.is_dir() else args.page
    if not page.is_file():
        print(f"check_report: {page}: no such file", file=sys.stderr)
        return 1
    errors = [f"missing file: {m}" for m in missing_files(page)]
    errors += render(page, find_chromium(args.chromium), args.timeout, args.screenshot)
    for e in errors:
        print(f"check_report: {e}", file=sys.stderr)
    if errors:
        print(f"check_report: FAILED ({len(errors)} problem(s)) for {page}", file=sys.stderr)
        return 1
    print(f"check_report: OK {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
