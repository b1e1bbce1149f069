"""The web client's budgets: initial JavaScript (gzipped) and the time until the article list shows its
first articles, in Debian's Chromium through nginx with TLS on a running topology.

    ./dev bench web [--state-dir D] [--runs 5]

Initial JavaScript: what ``index.html`` loads before any route (its module script and modulepreloads),
each file gzipped at level 9 as nginx could serve it; the budget is 150 KB. Render: for each run, a fresh
browser context (cold HTTP cache, new TLS session) opens ``/``; a script injected before the page's own
records ``performance.now()`` (milliseconds since navigation start) when the first ``<article>`` enters
the DOM. Also printed: the navigation's responseEnd and First Contentful Paint. The budget is 1,000 ms.
"""

from __future__ import annotations

import argparse
import gzip
import re
import statistics
from pathlib import Path

from bench.browser import find_chromium, launch_chromium
from neurmatic.deployment.locate import resolve_state_dir
from neurmatic.supervisor.layout import HOST
from neurmatic.supervisor.state import TopologyState

JS_BUDGET_BYTES = 150 * 1024
RENDER_BUDGET_MS = 1000.0
RUN_TIMEOUT_MS = 10_000
_FIRST_ARTICLE = """
window.__firstArticle = null;
new MutationObserver((_, observer) => {
  if (document.querySelector("main article")) {
    window.__firstArticle = performance.now();
    observer.disconnect();
  }
}).observe(document, { childList: true, subtree: true });
"""
_TIMINGS = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const fcp = performance.getEntriesByName("first-contentful-paint")[0];
  return { article: window.__firstArticle, responseEnd: nav.responseEnd, fcp: fcp ? fcp.startTime : null };
}"""


def initial_javascript(web_root: Path) -> dict[str, tuple[int, int]]:
    """{asset path: (bytes, gzipped bytes)} of the scripts index.html loads up front."""
    index = (web_root / "index.html").read_text()
    sources = re.findall(r'<script[^>]+src="([^"]+\.js)"', index)
    sources += re.findall(r'<link[^>]+rel="modulepreload"[^>]+href="([^"]+\.js)"', index)
    sizes = {}
    for source in dict.fromkeys(sources):
        body = (web_root / source.lstrip("/")).read_bytes()
        sizes[source] = (len(body), len(gzip.compress(body, compresslevel=9)))
    return sizes


def render_times(state: TopologyState, runs: int) -> list[dict[str, float]]:
    from playwright.sync_api import sync_playwright

    chromium = find_chromium()
    if chromium is None:
        raise SystemExit("Chromium is not installed: apt-get install -y chromium")
    url = f"https://{HOST}:{state.ports.https}/"
    results = []
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright, chromium, state.paths.tls / "server.pem")
        try:
            for _ in range(runs):
                context = browser.new_context()
                page = context.new_page()
                page.add_init_script(_FIRST_ARTICLE)
                page.goto(url)
                page.wait_for_selector("main article", timeout=RUN_TIMEOUT_MS)
                page.wait_for_function("window.__firstArticle !== null", timeout=RUN_TIMEOUT_MS)
                results.append(page.evaluate(_TIMINGS))
                context.close()
        finally:
            browser.close()
    return results


def _line(name: str, values: list[float]) -> str:
    return (
        f"  {name:<22} min {min(values):7.1f}  median {statistics.median(values):7.1f}  "
        f"max {max(values):7.1f} ms"
    )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="./dev bench web", description=__doc__.split("\n\n")[0])
    parser.add_argument("--state-dir", type=Path, default=None)
    parser.add_argument("--runs", type=int, default=5, help="page loads, each in a fresh context")
    args = parser.parse_args(argv)
    state = TopologyState.load(resolve_state_dir(args.state_dir))
    web_root = state.paths.web
    if not (web_root / "index.html").is_file():
        raise SystemExit(f"no web client in {web_root}: bring the topology up from a checkout with frontend/")
    sizes = initial_javascript(web_root)
    total_gzip = sum(gzipped for _, gzipped in sizes.values())
    print("initial JavaScript (gzip -9):")
    for source, (raw, gzipped) in sizes.items():
        print(f"  {source:<40} {raw / 1024:8.1f} KB  gzip {gzipped / 1024:7.1f} KB")
    verdict = "PASS" if total_gzip <= JS_BUDGET_BYTES else "FAIL"
    print(f"  total gzip {total_gzip / 1024:.1f} KB (budget {JS_BUDGET_BYTES // 1024} KB): {verdict}")
    timings = render_times(state, max(1, min(args.runs, 50)))
    print(f"article list through nginx (TLS), {len(timings)} cold loads in Chromium:")
    for key, name in (("responseEnd", "document responseEnd"), ("fcp", "first contentful paint")):
        values = [t[key] for t in timings if t[key] is not None]
        if values:
            print(_line(name, values))
    first = [t["article"] for t in timings]
    print(_line("first article shown", first))
    slowest = max(first)
    verdict = "PASS" if slowest < RENDER_BUDGET_MS else "FAIL"
    print(f"  slowest {slowest:.0f} ms (budget {RENDER_BUDGET_MS:.0f} ms): {verdict}")
