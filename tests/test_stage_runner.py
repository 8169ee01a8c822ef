"""Progress bars show on a terminal and stay silent in logs; summaries are one table."""

import io

from rich.console import Console

from sqlforge import stage_runner as cli
def test_progress_draws_on_a_terminal_and_is_silent_otherwise(monkeypatch):
    for terminal in (True, False):
        out = io.StringIO()
        monkeypatch.setattr(cli, "console", Console(file=out, force_terminal=terminal, width=80))
        with cli.progress("generating", 10) as advance:
            for _ in range(10):
                advance(1)
        assert ("generating" in out.getvalue()) is terminal
    out = io.StringIO()
    monkeypatch.setattr(cli, "console", Console(file=out, force_terminal=True, width=80))
    with cli.progress("off", 3, enabled=False) as advance:
        advance(3)
    assert out.getvalue() == ""


def test_summary_is_a_table_of_the_metrics(monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr(cli, "console", Console(file=out, width=80))
    cli.summary("validate", {"greedy ex": 0.52777, "questions": 360})
    text = out.getvalue()
    assert "validate" in text and "0.5278" in text and "360" in text
