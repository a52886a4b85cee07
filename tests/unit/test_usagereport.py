"""jhdeploy/usagereport.py: the usage log replayed into rows, group totals, the CSV and the HTML page."""

import base64
import csv
import html
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest

from jhdeploy import usagereport
from jhdeploy.usagereport import (
    CSV_COLUMNS,
    NO_GROUP,
    PROMETHEUS,
    daily,
    disk_table,
    group_totals,
    human_size,
    rows,
    text_table,
    write_csv,
    write_html,
)

REPO = Path(__file__).resolve().parents[2]
DAY, HOUR = 86400, 3600
SINCE = 1704067200  # 2024-01-01 00:00 UTC
NOW = SINCE + 3 * DAY
HOSTILE = '<script>alert("x")</script>$x^2$'
MIB = 2**20


def start(t, user, server="", seconds=None):
    event = {"time": t, "event": "start", "user": user, "server": server}
    return event if seconds is None else {**event, "seconds": seconds}


def stop(t, user, server=""):
    return {"time": t, "event": "stop", "user": user, "server": server}


def by_user(events, users=(), disk=None, limits=None, groups=None, since=SINCE, now=NOW):
    found = rows(events, since, now, users=users, disk=disk or {}, limits=limits or {}, groups=groups or {})
    return {row.user: row for row in found}


def test_starts_and_stops_pair_and_the_unpaired_count_to_the_window_edges():
    found = by_user([
        start(SINCE + HOUR, "alice", seconds=10), stop(SINCE + 3 * HOUR, "alice"),
        stop(SINCE + 2 * HOUR, "bob"),  # started before the log began: counted from `since`
        start(NOW - HOUR, "carol", seconds=5),  # still running at `now`
    ], users=["alice", "bob", "carol", "dave"])
    assert {user: row.server_hours for user, row in found.items()} == {"alice": 2, "bob": 2, "carol": 1, "dave": 0}
    assert {user: row.starts for user, row in found.items()} == {"alice": 1, "bob": 0, "carol": 1, "dave": 0}
    assert found["dave"].days_active == 0 and found["dave"].median_start_seconds is None


def test_a_stop_after_a_paired_one_counts_from_that_stop_not_again_from_since():
    found = by_user([start(SINCE + HOUR, "alice"), stop(SINCE + 2 * HOUR, "alice"), stop(SINCE + 5 * HOUR, "alice")])
    assert found["alice"].server_hours == 4


def test_events_outside_the_window_are_clipped_to_it():
    found = by_user([start(SINCE - 2 * HOUR, "alice", seconds=99), stop(SINCE + HOUR, "alice"),
                     start(SINCE - 5 * HOUR, "bob"), stop(SINCE - 4 * HOUR, "bob"),
                     start(NOW + HOUR, "carol", seconds=1)])
    assert found["alice"].server_hours == 1 and found["alice"].starts == 0
    assert found["alice"].median_start_seconds is None  # the start was before the window
    assert "bob" not in found and "carol" not in found  # nothing of theirs in the window


def test_named_servers_count_for_their_user_each_on_its_own():
    found = by_user([start(SINCE, "alice", seconds=10), start(SINCE, "alice", "gpu", seconds=30),
                     stop(SINCE + HOUR, "alice", "gpu"), stop(SINCE + 2 * HOUR, "alice")])
    assert found["alice"].server_hours == 3
    assert found["alice"].starts == 2
    assert found["alice"].median_start_seconds == 20


def test_days_active_are_utc_days_with_a_server_running_across_midnight():
    found = by_user([start(SINCE + 23 * HOUR, "alice"), stop(SINCE + DAY + HOUR, "alice"),
                     start(SINCE + 23 * HOUR, "bob"), stop(SINCE + DAY, "bob"),  # stops at midnight
                     start(SINCE + HOUR, "carol"), stop(SINCE + 2 * HOUR, "carol"),
                     start(SINCE + 3 * HOUR, "carol"), stop(SINCE + 4 * HOUR, "carol")])
    assert (found["alice"].days_active, found["bob"].days_active, found["carol"].days_active) == (2, 1, 1)


@pytest.mark.parametrize(("seconds", "median"), [([10, 30, 20], 20), ([10, 20], 15), ([None, 7], 7), ([None], None)])
def test_the_median_start_is_over_the_starts_that_said_how_long(seconds, median):
    events = [start(SINCE + i * HOUR, "alice", str(i), seconds=s) for i, s in enumerate(seconds)]
    assert by_user(events)["alice"].median_start_seconds == median


def test_disk_percent_and_the_order_largest_first_then_by_name():
    found = rows([], SINCE, NOW, users=["a", "b", "c", "d"], disk={"b": 10e6, "c": 30e6, "d": 30e6},
                 limits={"c": 60e6, "d": None}, groups={})
    assert [row.user for row in found] == ["c", "d", "b", "a"]
    assert (found[0].disk_bytes, found[0].disk_limit_bytes, found[0].disk_percent) == (30_000_000, 60_000_000, 50)
    assert found[1].disk_percent is None and found[3].disk_bytes is None


def test_group_totals_count_a_user_in_each_of_their_groups_and_the_rest_under_no_group():
    events = [start(SINCE, "alice"), stop(SINCE + HOUR, "alice"), start(SINCE, "carol"), stop(SINCE + HOUR, "carol")]
    found = rows(events, SINCE, NOW, users=["alice", "bob", "carol", "dave"],
                 disk={"alice": 100, "bob": 20, "carol": 3}, limits={}, groups={"alice": ["ml", "bio"], "bob": ["ml"]})
    totals = {total.group: total for total in group_totals(found)}
    assert list(totals) == ["bio", "ml", NO_GROUP]
    assert (totals["ml"].users, totals["ml"].active_users, totals["ml"].server_hours, totals["ml"].disk_bytes) \
        == (2, 1, 1, 120)
    assert (totals["bio"].users, totals["bio"].starts) == (1, 1)
    assert (totals[NO_GROUP].users, totals[NO_GROUP].active_users, totals[NO_GROUP].disk_bytes) == (2, 1, 3)


def test_csv_has_the_documented_columns_one_line_per_user_and_empty_cells_for_unknown(tmp_path):
    found = rows([start(SINCE, "alice", seconds=12.5)], SINCE, NOW, users=["alice", "bob", "=cmd"],
                 disk={"alice": 30e6}, limits={"alice": 60e6}, groups={"alice": ["ml", "bio"]})
    write_csv(found, tmp_path / "usage.csv")
    with open(tmp_path / "usage.csv", newline="") as file:
        lines = list(csv.reader(file))
    assert tuple(lines[0]) == CSV_COLUMNS
    assert len(lines) == 1 + 3
    table = {line[0]: dict(zip(CSV_COLUMNS, line, strict=True)) for line in lines[1:]}
    assert table["alice"] == {"user": "alice", "groups": "bio, ml", "days_active": "3", "server_hours": "72.00",
                              "starts": "1", "median_start_seconds": "12.5", "disk_bytes": "30000000",
                              "disk_limit_bytes": "60000000", "disk_percent": "50.0"}
    assert [table["bob"][key] for key in ("median_start_seconds", "disk_bytes", "disk_limit_bytes", "disk_percent")] \
        == ["", "", "", ""]
    assert "'=cmd" in table  # a spreadsheet would run it as a formula
    buffer = io.StringIO()
    write_csv(found, buffer)
    assert buffer.getvalue().encode() == (tmp_path / "usage.csv").read_bytes()


def test_terminal_tables_are_aligned_with_human_sizes_and_a_dash_for_unknown():
    found = rows([], SINCE, NOW, users=["alice", "bob"], disk={"alice": 30 * MIB, "bob": 2.5e9},
                 limits={"alice": 60 * MIB}, groups={})
    carol = rows([], SINCE, NOW, users=["carol\x1b[2J"], disk={}, limits={}, groups={})
    lines = text_table([*found, *carol]).splitlines()
    assert lines[0].index("disk used") + len("disk used") == lines[2].index("30.0 MiB") + len("30.0 MiB")
    assert "—" in lines[3] and "\x1b" not in lines[3] and lines[3].startswith("carol?[2J")
    disk = disk_table(reversed(found)).splitlines()
    assert [line.split()[0] for line in disk] == ["user", "bob", "alice"]
    assert disk[2].split()[1:] == ["30.0", "MiB", "60.0", "MiB", "50.0%"]
    assert [human_size(n) for n in (None, 999, 1024, 30 * 2**20, 2.5 * 2**30)] == [
        "—", "999 B", "1.0 KiB", "30.0 MiB", "2.5 GiB"]


def test_daily_series_from_the_log():
    data = daily([start(SINCE + HOUR, "alice", seconds=10), stop(SINCE + DAY + HOUR, "alice"),
                  start(SINCE + 2 * HOUR, "bob", seconds=30), start(SINCE + 3 * HOUR, "carol", seconds=20),
                  stop(SINCE + 4 * HOUR, "carol")], SINCE, NOW - HOUR)
    assert data.active_users == [(SINCE, 3), (SINCE + DAY, 2), (SINCE + 2 * DAY, 1)]
    assert data.running_servers == [(SINCE, 0), (SINCE + HOUR, 1), (SINCE + 2 * HOUR, 2), (SINCE + 3 * HOUR, 3),
                                    (SINCE + 4 * HOUR, 2), (SINCE + DAY + HOUR, 1), (NOW - HOUR, 1)]
    assert data.start_p50[:2] == [(SINCE, 20), (SINCE + DAY, None)]
    assert data.start_p95[0] == (SINCE, pytest.approx(29))  # between 20 and 30, nine tenths of the way
    assert set(data.sources.values()) == {usagereport.LOG}


def test_daily_takes_prometheus_figures_where_it_has_them():
    series = {"running_servers": [(SINCE, 4), (SINCE + DAY, 2)], "active_users": [(SINCE, 7)],
              "start_p50": [(SINCE, 3.5)], "start_p95": []}
    data = daily([start(SINCE + HOUR, "alice", seconds=10)], SINCE, NOW, series)
    assert data.running_servers == [(SINCE, 4), (SINCE + DAY, 2)] and data.active_users == [(SINCE, 7)]
    assert data.start_p50 == [(SINCE, 3.5)] and data.start_p95[0] == (SINCE, 10)
    assert data.sources == {"running_servers": PROMETHEUS, "active_users": PROMETHEUS, "start_p50": PROMETHEUS,
                            "start_p95": usagereport.LOG}


def images(page: str) -> list[tuple[str, bytes]]:
    """(alt, decoded PNG) of each <img>; the test fails if one is not a base64 data: URI."""
    found = []
    for tag in re.findall(r"<img\b[^>]*>", page):
        source = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', tag)
        assert source, tag[:80]
        found.append((re.search(r'alt="([^"]+)"', tag).group(1), base64.b64decode(source.group(1), validate=True)))
    return found


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    events = [start(SINCE + HOUR, HOSTILE, seconds=8), stop(SINCE + DAY, HOSTILE),
              start(SINCE + 2 * HOUR, "alice", "gpu", seconds=20)]
    found = rows(events, SINCE, NOW, users=["alice", "bob"], disk={HOSTILE: 5 * MIB, "alice": 40 * MIB},
                 limits={"alice": 50 * MIB}, groups={HOSTILE: ["<b>staff</b>"], "alice": ["ml"]})
    path = tmp_path_factory.mktemp("report") / "usage.html"
    write_html(path, found, group_totals(found), daily(events, SINCE, NOW),
               ["Disk in <image layers> is not counted."])
    return path.read_text(encoding="utf-8")


def test_the_page_is_self_contained_four_inline_pngs_with_alt_text(page):
    found = images(page)
    assert len(found) == 4
    assert all(png.startswith(b"\x89PNG\r\n\x1a\n") and alt for alt, png in found)
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*https?:""", page, re.I)
    assert "<script" not in page.lower()
    assert "2024-01-01 00:00 to 2024-01-04 00:00 UTC" in page
    assert page.count(f"Source: {html.escape(usagereport.LOG)}.") == 3


def test_names_and_notes_are_escaped_on_the_page(page):
    assert HOSTILE not in page and "<b>staff" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;$x^2$" in page
    assert "&lt;b&gt;staff&lt;/b&gt;" in page
    assert "<li>Disk in &lt;image layers&gt; is not counted.</li>" in page
    assert "5.0 MiB" in page and "40.0 MiB" in page and "50.0 MiB" in page and "powers of 1024" in page


def test_every_chart_still_draws_when_there_is_no_data(tmp_path):
    path = tmp_path / "empty.html"
    write_html(path, [], [], daily([], SINCE, NOW), [])
    found = images(path.read_text(encoding="utf-8"))
    assert len(found) == 4
    assert all(png.startswith(b"\x89PNG") and "no data" in alt for alt, png in found)
    assert text_table([]).splitlines() == [text_table([]).strip()]  # the header alone


def test_importing_the_module_does_not_import_matplotlib():
    code = "import sys, jhdeploy.usagereport; print('matplotlib' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_the_terminal_shows_the_group_totals_too():
    from jhdeploy.usagereport import group_table

    found = rows([], SINCE, NOW, users=["a", "b"], disk={"a": MIB, "b": 2 * MIB}, limits={},
                 groups={"a": ["bio"], "b": ["bio"]})
    lines = group_table(group_totals(found)).splitlines()
    assert lines[0].split()[:2] == ["group", "users"] and lines[1].split()[:2] == ["bio", "2"]
    assert lines[1].endswith("3.0 MiB")
