"""The HTML report in a real browser (headless Chromium) and its self-contained structure.

``bayes-hte run`` of the shipped BCG spec, shrunk (one small Bayesian fit), writes
``report.html``; a copy of the page with a probe script injected first in ``<head>`` is
opened in headless Chromium (``--dump-dom``). At the ``load`` event (which waits for
every image) the probe writes into ``document.title``, as JSON, each ``<img>``'s
``naturalWidth`` / ``naturalHeight``, whether it decoded (``complete`` with a natural
width: a broken image has width 0), the errors caught (``error`` events, including failed
resources, and ``console.error`` calls) and the contents-list links without a target.
The probe is synchronous: an earlier version awaited ``HTMLImageElement.decode()``, whose
promise runs in real time, and Chromium sometimes dumped the page before it settled.
Chromium's own log (``--enable-logging=stderr --v=0``) must hold no console message of
the page. Skipped when Chromium is not installed (``.ci/run``
installs Debian's ``chromium`` when apt is available).
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from bayes_hte.report import Report
from bayes_hte.spec import run_spec

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "models" / "meta_analysis_bcg.toml"
CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser",
                                               "google-chrome")) if p), None)

PROBE = """<script>
window.__errors = [];
window.addEventListener('error', function (e) {
  var t = e.target && e.target !== window ? (e.target.tagName + ' ' +
          String(e.target.src || e.target.href || '').slice(0, 60)) : '';
  window.__errors.push(String(e.message || 'resource error: ' + t));
}, true);
var __ce = console.error;
console.error = function () {
  window.__errors.push(Array.prototype.join.call(arguments, ' '));
  __ce.apply(console, arguments);
};
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var broken = Array.prototype.slice.call(document.querySelectorAll('a[href^="#"]'))
    .map(function (a) { return a.getAttribute('href').slice(1); })
    .filter(function (id) { return !document.getElementById(id); });
  document.title = 'PROBE' + JSON.stringify({
    widths: imgs.map(function (i) { return i.naturalWidth; }),
    heights: imgs.map(function (i) { return i.naturalHeight; }),
    decoded: imgs.map(function (i) { return i.complete && i.naturalWidth > 0; }),
    errors: window.__errors, broken_links: broken,
    sections: document.querySelectorAll('h2').length});
});
</script>"""

needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed "
                                    "(Debian: sudo apt-get install -y chromium)")


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / "chromium-profile"
    profile.mkdir(exist_ok=True)
    return subprocess.run(
        [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-extensions", f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=180, check=False)


def open_in_chromium(page: Path, tmp_path: Path) -> tuple[dict, str]:
    """The probe's findings on ``page`` and Chromium's log (stderr)."""
    probe = tmp_path / f"probe_{page.name}"
    probe.write_text(page.read_text().replace("<head>", "<head>" + PROBE, 1))
    # Chromium dumps the DOM when the virtual-time budget runs out; on a loaded machine
    # the load event may not have come yet: give it a longer budget before calling the
    # page broken
    for budget in (20_000, 120_000):
        res = _chromium(tmp_path, "--enable-logging=stderr", "--v=0",
                        f"--virtual-time-budget={budget}", "--dump-dom", probe.as_uri())
        found = re.search(r"<title>PROBE(.*?)</title>", res.stdout, flags=re.S)
        if found:
            break
    assert found, f"the page did not finish loading:\n{res.stdout[:500]}\n{res.stderr[-2000:]}"
    return json.loads(html.unescape(found.group(1))), res.stderr


def check_self_contained(page: Path) -> str:
    text = page.read_text()
    assert "<script" not in text.lower()
    srcs = re.findall(r'<img[^>]*\ssrc="([^"]*)"', text)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert not re.search(r'(src|href)="(https?:|file:|//)', text)  # no external resources
    return text


@pytest.fixture(scope="module")
def bcg_report(tmp_path_factory) -> Path:
    """The BCG spec with one small Bayesian fit (normal-normal), run into a folder."""
    tmp = tmp_path_factory.mktemp("bcg")
    text = SPEC.read_text()
    for old, new in (("draws = 1000", "draws = 150"), ("tune = 1000", "tune = 200"),
                     ("chains = 4", "chains = 2"),
                     ("bayesian_causal = true", "bayesian_causal = false")):
        assert old in text, old
        text = text.replace(old, new)
    spec = tmp / "bcg.toml"
    spec.write_text(text)
    out = run_spec(spec, log=lambda _msg: None, outdir=tmp / "out")
    return out / "report.html"


def test_report_is_self_contained_with_contents_and_sections(bcg_report):
    text = check_self_contained(bcg_report)
    toc = re.search(r'<nav class="toc">(.*?)</nav>', text, flags=re.S)
    assert toc, "no contents list"
    targets = re.findall(r'href="#([^"]+)"', toc.group(1))
    ids = set(re.findall(r'\sid="([^"]+)"', text))
    assert targets and set(targets) <= ids
    # a comparison section and a per-model section (its prior-sensitivity table)
    assert 'id="pooled-estimates"' in text
    assert "Prior sensitivity: Bayesian normal-normal" in text
    assert "prior_sensitivity" in text and "likelihood_sensitivity" in text
    assert (bcg_report.parent / "prior_sensitivity.csv").exists()
    md = (bcg_report.parent / "report.md").read_text()
    assert "](forest.png)" in md  # the Markdown still links the PNG files


@needs_chromium
def test_report_loads_in_chromium_with_every_image_decoded(bcg_report, tmp_path):
    n_img = len(re.findall(r"<img\s", bcg_report.read_text()))
    found, log = open_in_chromium(bcg_report, tmp_path)
    assert len(found["widths"]) == n_img >= 2
    assert all(w > 0 for w in found["widths"]), found
    assert all(h > 0 for h in found["heights"]), found
    assert all(found["decoded"]), found
    assert found["errors"] == [], found["errors"]
    assert found["broken_links"] == []
    assert found["sections"] >= 3
    console = [ln for ln in log.splitlines() if ":CONSOLE" in ln]
    assert console == [], console


@needs_chromium
def test_probe_catches_a_broken_image(tmp_path):
    """The check can fail: a corrupt PNG gives naturalWidth 0 and a failed decode."""
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1], [0, 1])
    fig.savefig(tmp_path / "good.png", dpi=50)
    plt.close(fig)
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    rep = Report(title="probe check")
    rep.heading("Figures")
    rep.image(tmp_path / "good.png", "a line")
    rep.image(tmp_path / "bad.png", "corrupt")
    rep.heading("A table", level=3)
    rep.table(pd.DataFrame({"a": [1.0, 2.5]}))
    _md, page = rep.write(tmp_path)
    found, _log = open_in_chromium(page, tmp_path)
    assert found["widths"][0] > 0 and found["decoded"][0]
    assert found["widths"][1] == 0 and not found["decoded"][1]
    assert found["broken_links"] == []


@needs_chromium
def test_screenshot(bcg_report, tmp_path):
    """A screenshot renders (the PNG is what a reviewer looks at)."""
    shot = tmp_path / "report.png"
    _chromium(tmp_path, "--hide-scrollbars", f"--screenshot={shot}",
              "--window-size=1280,2000", bcg_report.as_uri())
    assert shot.exists() and shot.stat().st_size > 10_000
