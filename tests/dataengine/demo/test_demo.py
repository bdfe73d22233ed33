"""``dataengine demo``: it owns what it writes in its output folder and nothing else, resumes, and says what it made.

The whole loop (``--full``) is ``tests/test_end_to_end.py``'s; here the engine demo runs through
the CLI on the session's Ray.
"""

from __future__ import annotations

import json

import pytest

from dataengine.cli import main as dataengine
from dataengine.demo.engine import MARKER, claim_out
from dataengine.errors import UsageError


def test_an_output_holding_what_no_demo_wrote_is_refused(tmp_path):
    (tmp_path / "thesis.tex").write_text("mine")
    with pytest.raises(UsageError, match="holds thesis.tex, which dataengine demo did not write"):
        claim_out(tmp_path, ["site", "corpus"])
    assert (tmp_path / "thesis.tex").read_text() == "mine" and not (tmp_path / MARKER).exists()


def test_only_what_an_earlier_demo_wrote_is_removed(tmp_path):
    claim_out(tmp_path, ["site", "corpus", "run"])
    for name in ("site", "corpus", "run"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "file").write_text(name)
    claim_out(tmp_path, ["site", "corpus", "final"], fresh=["corpus", "final", "run"])
    assert not (tmp_path / "corpus").exists() and not (tmp_path / "run").exists()
    assert (tmp_path / "site" / "file").read_text() == "site"  # not asked to be fresh: kept
    assert json.loads((tmp_path / MARKER).read_text())["written"] == ["corpus", "final", "run", "site"]
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="notes.txt"):
        claim_out(tmp_path, ["site"], fresh=["site"])
    assert (tmp_path / "site" / "file").exists()


def test_too_small_a_sample_web_is_a_one_line_error(tmp_path, capsys):
    assert dataengine(["demo", "--out", str(tmp_path / "d"), "--pages", "3"]) == 2
    assert "needs at least 12 pages" in capsys.readouterr().err and not (tmp_path / "d").exists()


def test_the_demo_writes_a_report_says_where_things_are_and_resumes(ray_session, tmp_path, capsys):
    out = tmp_path / "demo"
    assert dataengine(["demo", "--out", str(out), "--pages", "12"]) == 0
    printed = capsys.readouterr()
    assert f"is in {out / 'corpus'}" in printed.out and f"report: {out / 'report.html'}" in printed.out
    assert "dataengine sql" in printed.out and "--full" in printed.out
    html = (out / "report.html").read_text()
    assert "<h2>Funnel</h2>" in html and "<img" in html
    committed = sorted(p.name for p in (out / "corpus" / "ledger").iterdir())
    # The sample web is served on another port the second time; its shards keep their names, so the run resumes.
    assert dataengine(["demo", "--out", str(out), "--pages", "12"]) == 0
    assert f"{len(committed)} already committed, 0 to do" in capsys.readouterr().err
    assert sorted(p.name for p in (out / "corpus" / "ledger").iterdir()) == committed
