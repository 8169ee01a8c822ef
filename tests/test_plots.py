"""Plots a person can read offline: `sqlforge plots` renders dvc.yaml's plots to SVG locally and writes a page
with no script and nothing to fetch (checked in a headless browser where one is installed), and the training
loss plots' x axis is the trainer's global step, not DVCLive's count of log calls."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from test_significance import dvc_repo, ok, sh


def test_training_logs_rows_at_the_trainers_global_step(tmp_path):
    """The real DVCLive callback sqlforge's trainers use, fed real transformers state objects."""
    from transformers import TrainerControl, TrainerState, TrainingArguments

    from sqlforge.train.common import live_callback

    callback = live_callback(tmp_path / "live")
    args = TrainingArguments(output_dir=str(tmp_path / "out"), report_to="none")
    for step, loss in ((10, 2.0), (20, 1.5), (25, 1.0)):  # logging_steps 10, then the last step
        callback.on_log(args, TrainerState(global_step=step), TrainerControl(), logs={"loss": loss})
    rows = (tmp_path / "live" / "plots" / "metrics" / "loss.tsv").read_text().splitlines()
    assert rows == ["step\tloss", "10\t2.0", "20\t1.5", "25\t1.0"]  # DVCLive alone: 0, 1, 2


DVC_YAML = """stages:
  train:
    cmd: python train.py
    deps: [train.py]
    params: [train]
    plots:
      - loss.tsv:
          cache: false
plots:
  - Training loss:
      template: linear
      x: step
      y:
        loss.tsv: loss
"""
STAGE = """import yaml
scale = yaml.safe_load(open("params.yaml"))["train"]["scale"]
open("loss.tsv", "w").write("step\\tloss\\n" + "".join(f"{10 * i}\\t{scale / (i + 1)}\\n" for i in range(1, 30)))
"""


@pytest.fixture(scope="module")
def plots_repo(tmp_path_factory):
    repo = dvc_repo(tmp_path_factory.mktemp("plots") / "repo",
                    {"dvc.yaml": DVC_YAML, "train.py": STAGE, "params.yaml": "train:\n  scale: 4.0\n"})
    (repo / "params.yaml").write_text("train:\n  scale: 2.0\n")
    ok(sh(repo, sys.executable, "-m", "dvc", "repro", "-q"))
    return repo


@pytest.mark.slow
def test_plots_render_to_svg_and_a_page_that_needs_no_network(plots_repo):
    pytest.importorskip("vl_convert")  # requirements.lock installs it
    ok(sh(plots_repo, sys.executable, "-m", "sqlforge.commands", "plots", "--out", "offline"))
    page = (plots_repo / "offline" / "index.html").read_text()
    assert "<script" not in page and not re.search(r"""(src|href)=["']https?:""", page)
    svg = ET.parse(plots_repo / "offline" / "training-loss.svg").getroot()
    assert svg.tag.endswith("svg")
    texts = {t.text for t in svg.iter() if t.tag.endswith("text")}
    assert {"step", "loss", "Training loss"} <= texts and "250" in texts  # the x axis runs to the last step (280)
    assert any(e.tag.endswith("path") and "M" in (e.get("d") or "") for e in svg.iter())  # a drawn line

    # two revisions in one plot, as `dvc plots diff`
    ok(sh(plots_repo, sys.executable, "-m", "sqlforge.commands", "plots", "HEAD", "workspace", "--out", "diff"))
    texts = {t.text for t in ET.parse(plots_repo / "diff" / "training-loss.svg").getroot().iter() if t.text}
    assert {"HEAD", "workspace"} <= texts

    missing = sh(plots_repo, sys.executable, "-m", "sqlforge.commands", "plots", "nope", "--out", "x")
    assert missing.returncode == 2 and missing.stderr.startswith("error: dvc plots:")


BROWSERS = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome")


@pytest.mark.slow
def test_the_offline_page_draws_in_a_headless_browser_without_a_network(plots_repo, tmp_path):
    """Debian's chromium-headless-shell (apt-get install chromium-headless-shell): the page loaded from disk
    with every network request refused still holds the drawn plot."""
    pytest.importorskip("vl_convert")
    browser = next((b for b in map(shutil.which, BROWSERS) if b), None)
    if browser is None:
        pytest.skip("no headless browser installed (apt-get install chromium-headless-shell)")
    ok(sh(plots_repo, sys.executable, "-m", "sqlforge.commands", "plots", "--out", "offline"))
    page = plots_repo / "offline" / "index.html"
    def browse(*args: str) -> subprocess.CompletedProcess:
        proc = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path}",
                               "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>", *args],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return proc

    dom = browse("--dump-dom", page.as_uri()).stdout  # the page as the browser built it, network refused
    assert "<svg" in dom and "Training loss" in dom and re.search(r'<path[^>]* d="M', dom)
    # and drawn: its screenshot holds far more than one of the same page with the plot taken out
    bare = plots_repo / "offline" / "bare.html"
    bare.write_text(re.sub(r"<svg.*</svg>", "", page.read_text(), flags=re.S))
    sizes = []
    for source, shot in ((page, tmp_path / "page.png"), (bare, tmp_path / "bare.png")):
        browse(f"--screenshot={shot}", "--window-size=600,500", source.as_uri())
        sizes.append(shot.stat().st_size)
    assert sizes[0] > 3 * sizes[1], sizes
    # what this replaces: DVC's own page loads Vega from a CDN, so offline it draws nothing
    ok(sh(plots_repo, sys.executable, "-m", "dvc", "plots", "show", "-o", "dvc_page"))
    dvc_dom = browse("--virtual-time-budget=5000", "--dump-dom", (plots_repo / "dvc_page" / "index.html").as_uri()).stdout
    assert "cdn.jsdelivr.net" in (plots_repo / "dvc_page" / "index.html").read_text()
    assert "<svg" not in dvc_dom and "<canvas" not in dvc_dom
