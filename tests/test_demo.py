"""End to end: `meiyu demo` crawls the fixture world and its report shows what was planted."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from meiyu.fixturesite.corpus import World
from pipelines.periods import previous_months
from tests.conftest import REPO, run_meiyu

RELEVANT_CELL = re.compile(
    r'class="num relevant" data-indicator="(?P<ind>\w+)" data-period="(?P<p>[\d-]+)" '
    r'data-relevant="(?P<n>\d+)"'
)
CELL = re.compile(
    r'class="num (?P<cls>count|month)" data-indicator="(?P<ind>\w+)" data-period="(?P<p>[\d-]+)" '
    r'data-items="(?P<items>\d+)" data-stories="(?P<stories>\d+)"'
)


def _values(db_url: str) -> list[tuple[object, ...]]:
    engine = create_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT indicator, period_type, period, definition_version, value, n_items,"
                " n_stories FROM indicator_values ORDER BY indicator, period"
            )
        ).all()
    engine.dispose()
    return [tuple(r) for r in rows]


@pytest.mark.slow
def test_demo_report_counts_equal_the_planted_counts_and_reruns_change_nothing(
    tmp_path: Path, world: World
) -> None:
    db_url = f"sqlite:///{tmp_path / 'demo.db'}"
    env = {"MEIYU_DATABASE_URL": db_url}
    out = tmp_path / "out"
    first = run_meiyu("--config", str(REPO / "meiyu.toml"), "demo", "--out", str(out), env=env)
    assert first.returncode == 0, first.stderr
    assert f"{len(world.articles)} new" in first.stdout
    report = out / "meiyu-report-2023-12.html"
    assert report.exists()
    html = report.read_text(encoding="utf-8")

    manifest = world.manifest()
    assert json.loads((out / "demo-manifest.json").read_text(encoding="utf-8")) == manifest
    cells = [m.groupdict() for m in CELL.finditer(html)]
    window = previous_months(2023, 12, 12)
    for ind in ("a29", "a68", "a67"):
        planted_items, planted_stories = manifest["items"][ind], manifest["stories"][ind]
        shown = {c["p"]: c for c in cells if c["ind"] == ind and c["cls"] == "month"}
        assert sorted(shown) == window
        for month in window:
            assert int(shown[month]["items"]) == planted_items.get(month, 0), (ind, month)
            assert int(shown[month]["stories"]) == planted_stories.get(month, 0), (ind, month)
        summary = next(c for c in cells if c["ind"] == ind and c["cls"] == "count")
        assert int(summary["items"]) == planted_items.get("2023-12", 0)
        # the relevance check drops exactly the planted traps (Shanghai's 威海路 for a29)
        relevant = {m["p"]: int(m["n"]) for m in RELEVANT_CELL.finditer(html) if m["ind"] == ind}
        assert relevant == {m: manifest["relevant"][ind].get(m, 0) for m in window}
    # every month of every indicator in the database, not just the report's window
    stored = {(r[0], r[2]): (r[5], r[6]) for r in _values(db_url)}
    planted = {
        (ind, m): (n, manifest["stories"][ind][m])
        for ind, months in manifest["items"].items()
        for m, n in months.items()
    }
    assert stored == planted
    # the report is labelled as demo data, in Chinese, with the month's items linked
    assert "演示语料" in html and "海鲜之都美誉度" in html and "刘公岛美誉度" in html
    assert html.count('rel="noopener noreferrer"') == sum(
        manifest["items"][i].get("2023-12", 0) for i in ("a29", "a68", "a67")
    )

    # a67's positive share comes from the shipped model, over the relevant Korean items
    engine = create_engine(db_url)
    with engine.connect() as conn:
        share, details = conn.execute(
            text(
                "SELECT value, details FROM indicator_values WHERE indicator = 'a67' "
                "AND period = '2023-12'"
            )
        ).one()
        scored = conn.execute(
            text("SELECT count(*) FROM sentiment_results WHERE target = 'a67'")
        ).scalar_one()
    engine.dispose()
    details = json.loads(details) if isinstance(details, str) else details
    assert scored == sum(manifest["relevant"]["a67"].values())
    assert share is not None and 0 <= share <= 1
    assert details["scored"] == manifest["relevant"]["a67"]["2023-12"]
    assert details["positive"] + details["neutral"] + details["negative"] == details["scored"]
    assert f"正面占比 {share:.0%}" in html

    # the plan's test on the fixture world: a29 was planted rising from 2020 to 2023, a68 flat
    cfg_args = ("--config", str(REPO / "meiyu.toml"), "assess", "--period", "2023")
    rise = run_meiyu(*cfg_args, "--indicator", "a29", env=env)
    flat = run_meiyu(*cfg_args, "--indicator", "a68", env=env)
    assert rise.returncode == 0 and "结论：明显提升" in rise.stdout, rise.stdout + rise.stderr
    assert flat.returncode == 0 and "结论：无明显变化" in flat.stdout, flat.stdout + flat.stderr
    bad = run_meiyu(*cfg_args[:3], "--period", "2023-13", "--indicator", "a29", env=env)
    assert bad.returncode == 2 and "--period: expected" in bad.stderr

    values_before = _values(db_url)
    second = run_meiyu("--config", str(REPO / "meiyu.toml"), "demo", "--out", str(out), env=env)
    assert second.returncode == 0, second.stderr
    assert "0 new, 0 updated" in second.stdout
    assert _values(db_url) == values_before
