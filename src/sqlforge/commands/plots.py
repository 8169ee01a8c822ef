"""`sqlforge plots`: the plots of `dvc.yaml`, viewable without a network.

    sqlforge plots                        # the workspace's plots -> offline_plots/index.html and one SVG each
    sqlforge plots main HEAD              # two revisions in one plot each, as `dvc plots diff main HEAD`
    sqlforge plots --out DIR

`dvc plots show` writes HTML that loads Vega from a CDN: offline (as this project runs) the page is blank.
This asks DVC for the same Vega-Lite specs, data filled in (`dvc plots show/diff --json`), renders each to
SVG locally with vl-convert (Vega bundled in the wheel, no browser, no network), and writes an HTML page
with the SVGs inline: no script, nothing fetched.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import subprocess
import sys
from pathlib import Path

from sqlforge.io import InputError, atomic_path


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("plots", help="render dvc.yaml's plots to SVG and a script-free HTML page",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("revs", nargs="*", help="git revisions to draw together (default: the workspace)")
    parser.add_argument("--out", default="offline_plots", help="the folder to write (offline_plots)")
    parser.set_defaults(func=run)


def specs(revs: list[str]) -> dict[str, dict]:
    """title -> Vega-Lite spec with its data inline, as DVC builds it for its own HTML."""
    cmd = [sys.executable, "-m", "dvc", "plots", *(["diff", *revs] if revs else ["show"]), "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        raise InputError(f"dvc plots: {lines[-1] if lines else f'exit code {proc.returncode}'}")
    try:
        data = json.loads(proc.stdout).get("data", {})
    except json.JSONDecodeError:
        raise InputError("dvc plots --json: not JSON") from None
    out = {}
    for title, entries in data.items():
        for entry in entries:
            if entry.get("type") == "vega":
                out[title] = entry["content"]
    if not out:
        raise InputError("dvc plots: no plot to draw (are the metrics there? `dvc repro` writes them)")
    return out


def slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "plot"


def render(plots: dict[str, dict], out: Path) -> list[Path]:
    try:
        import vl_convert
    except ImportError:
        raise InputError("vl-convert-python is not installed: pip install -r requirements.lock") from None
    written, sections = [], []
    for title, spec in plots.items():
        svg = vl_convert.vegalite_to_svg(spec)
        path = out / f"{slug(title)}.svg"
        path.write_text(svg, encoding="utf-8")
        written.append(path)
        sections.append(f"<section>\n<h2>{html.escape(title)}</h2>\n{svg}\n</section>")
    page = ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>sqlforge plots</title></head>\n<body>\n"
            + "\n".join(sections) + "\n</body></html>\n")
    (out / "index.html").write_text(page, encoding="utf-8")
    return written


def run(args) -> int:
    plots = specs(args.revs)
    with atomic_path(args.out, is_dir=True) as tmp:
        tmp.mkdir(parents=True, exist_ok=True)
        written = render(plots, tmp)
    print(f"{len(written)} plots: {Path(args.out) / 'index.html'} (and one SVG each; no network needed)")
    return 0
