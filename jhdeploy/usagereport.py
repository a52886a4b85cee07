"""`invoke usage`: who used the hub in a window, how much, and how much disk each user holds.

Pure: the task reads the hub's usage log, measures the disk and asks Prometheus (METRICS=yes); this
turns what it found into per-user rows, group totals, a CSV, terminal tables and one self-contained
HTML page. A usage log line is {"time", "event": "start" | "stop", "user", "server" ("" for the
default one), "seconds" (how long a start took, on starts)}. Days are UTC days; sizes count in powers
of 1024 (1 MiB = 2^20 bytes), as NOTEBOOK_DISK_LIMIT does.
"""

from __future__ import annotations

import base64
import csv
import datetime
import html
import io
import math
import os
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import IO, Any

from jhdeploy_hub import contract

DAY = 86400
NO_GROUP = "(no group)"
LOG, PROMETHEUS = "the hub's usage log", "Prometheus"
UNKNOWN, NO_LIMIT = "—", "no limit"
UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")  # powers of 1024, as NOTEBOOK_DISK_LIMIT counts
TOP_DISK = 20
# The CSV's columns, in order: the user's name; their groups (", " between); the UTC days on which
# any of their servers ran; server-hours (named servers each count); server starts; the median start
# time in seconds; disk used, in bytes; the disk limit, in bytes; used as a percentage of the limit.
# An empty cell is unknown (a limit: none).
CSV_COLUMNS = ("user", "groups", "days_active", "server_hours", "starts", "median_start_seconds",
               "disk_bytes", "disk_limit_bytes", "disk_percent")


@dataclass(frozen=True)
class UserRow:
    user: str
    groups: tuple[str, ...]
    days_active: int
    server_hours: float
    starts: int
    median_start_seconds: float | None  # None: no start said how long it took
    disk_bytes: int | None  # None: not measured
    disk_limit_bytes: int | None  # None: no limit
    disk_percent: float | None

    @property
    def groups_joined(self) -> str:
        return ", ".join(self.groups)


@dataclass(frozen=True)
class GroupTotal:
    group: str
    users: int
    active_users: int
    server_hours: float
    starts: int
    disk_bytes: int | None  # the members' known sizes summed; None when none is known


@dataclass(frozen=True)
class Daily:
    since: float
    now: float
    active_users: list[tuple[float, float]]  # (UTC midnight, users)
    running_servers: list[tuple[float, float]]  # (time, servers from then on)
    start_p50: list[tuple[float, float | None]]  # (UTC midnight, seconds)
    start_p95: list[tuple[float, float | None]]
    sources: dict[str, str]  # each of the four series -> LOG or PROMETHEUS


def _day(t: float) -> int:
    return int(t // DAY * DAY)


def _replay(events: Iterable[Mapping[str, Any]], since: float, now: float):
    """Each user's server intervals clipped to the window, and their starts in it as (time, seconds)."""
    intervals: dict[str, list[tuple[float, float]]] = defaultdict(list)
    starts: dict[str, list[tuple[float, float | None]]] = defaultdict(list)
    running: dict[tuple[str, str], float] = {}  # (user, server) -> since when
    stopped: dict[tuple[str, str], float] = {}

    def ran(user: str, begin: float, end: float) -> None:
        begin, end = max(begin, since), min(end, now)
        if begin <= end:
            intervals[user].append((begin, end))

    for event in sorted(events, key=lambda event: event["time"]):
        t, user = event["time"], event["user"]
        if t > now:
            break
        server = (user, event.get("server") or "")
        if event["event"] == "start":
            running.setdefault(server, t)  # a second start means a stop went unlogged: it ran all along
            if t >= since:
                starts[user].append((t, event.get("seconds")))
        elif event["event"] == "stop":
            # No start logged: it ran since the window began, or since its last stop.
            ran(user, running.pop(server, stopped.get(server, since)), t)
            stopped[server] = t
    for (user, _), begin in running.items():
        ran(user, begin, now)
    return intervals, starts


def _days(spans: Iterable[tuple[float, float]]) -> set[int]:
    """The UTC days (their midnights) on which any of these intervals had a server running."""
    days: set[int] = set()
    for begin, end in spans:
        first = _day(begin)
        last = max(first, math.ceil(end / DAY) * DAY - DAY)  # one that stops at midnight did not run that day
        days.update(range(first, last + 1, DAY))
    return days


def _percentile(values: list[float], fraction: float) -> float | None:
    """Linear between the nearest ranks (numpy's default); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _by_disk(row: UserRow) -> tuple:
    return row.disk_bytes is None, -(row.disk_bytes or 0), row.user


def rows(events: Iterable[Mapping[str, Any]], since: float, now: float, *, users: Iterable[str],
         disk: Mapping[str, float], limits: Mapping[str, float | None],
         groups: Mapping[str, Iterable[str]]) -> list[UserRow]:
    """One row per user: every one of `users`, and anyone the log or the disk names (a deleted user's
    folder still takes room). Largest disk first, then by name."""
    intervals, starts = _replay(events, since, now)
    found = []
    for user in set(users) | set(intervals) | set(starts) | set(disk):
        spans = intervals.get(user, [])
        durations = [seconds for _, seconds in starts.get(user, []) if seconds is not None]
        used = None if disk.get(user) is None else int(disk[user])
        limit = None if limits.get(user) is None else int(limits[user])
        found.append(UserRow(
            user=user, groups=tuple(sorted(set(groups.get(user, ())))), days_active=len(_days(spans)),
            server_hours=sum(end - begin for begin, end in spans) / 3600, starts=len(starts.get(user, [])),
            median_start_seconds=_percentile(durations, 0.5), disk_bytes=used, disk_limit_bytes=limit,
            disk_percent=100 * used / limit if used is not None and limit else None))
    return sorted(found, key=_by_disk)


def group_totals(rows: Iterable[UserRow]) -> list[GroupTotal]:
    """Per group, by name, NO_GROUP last: a user in several groups counts in each."""
    members: dict[str, list[UserRow]] = defaultdict(list)
    for row in rows:
        for group in row.groups or (NO_GROUP,):
            members[group].append(row)
    totals = []
    for group in sorted(members, key=lambda name: (name == NO_GROUP, name)):
        them = members[group]
        known = [row.disk_bytes for row in them if row.disk_bytes is not None]
        totals.append(GroupTotal(
            group=group, users=len(them), active_users=sum(row.days_active > 0 for row in them),
            server_hours=sum(row.server_hours for row in them), starts=sum(row.starts for row in them),
            disk_bytes=sum(known) if known else None))
    return totals


def _running(intervals: Mapping[str, list[tuple[float, float]]], since: float, now: float):
    """Servers running over time, as steps: (time, count from then on), from `since` to `now`."""
    changes: dict[float, int] = defaultdict(int)
    changes[since] = 0
    for spans in intervals.values():
        for begin, end in spans:
            changes[begin] += 1
            if end < now:  # still running at the end: the last step shows it
                changes[end] -= 1
    points, count = [], 0
    for t in sorted(changes):
        count += changes[t]
        points.append((t, count))
    return [*points, (now, count)] if points[-1][0] < now else points


def daily(events: Iterable[Mapping[str, Any]], since: float, now: float,
          series: Mapping[str, list[tuple[float, float]]] | None = None) -> Daily:
    """The charts' series. Prometheus's, where `series` has them, are used over the log's: it also saw
    what happened while the log was not written."""
    intervals, starts = _replay(events, since, now)
    days = range(_day(since), math.ceil(now / DAY) * DAY, DAY)
    active = [_days(spans) for spans in intervals.values()]
    durations: dict[int, list[float]] = defaultdict(list)
    for found in starts.values():
        for t, seconds in found:
            if seconds is not None:
                durations[_day(t)].append(seconds)
    from_log = {
        "active_users": [(day, sum(day in them for them in active)) for day in days],
        "running_servers": _running(intervals, since, now),
        "start_p50": [(day, _percentile(durations[day], 0.5)) for day in days],
        "start_p95": [(day, _percentile(durations[day], 0.95)) for day in days],
    }
    chosen, sources = {}, {}
    for key, figures in from_log.items():
        measured = (series or {}).get(key)
        chosen[key] = [(float(t), None if v is None else float(v)) for t, v in measured] if measured else figures
        sources[key] = PROMETHEUS if measured else LOG
    return Daily(since=since, now=now, sources=sources, **chosen)


def _unit(size: float) -> tuple[int, str]:
    """The chart's unit for sizes up to `size`."""
    exponent = 0
    while exponent < len(UNITS) - 1 and abs(size) >= 1024 ** (exponent + 1):
        exponent += 1
    return 1024 ** exponent, UNITS[exponent]


def human_size(size: float | None) -> str:
    """`30.0 MiB`, as the hub says it to users (contract.human_size); UNKNOWN for None."""
    return UNKNOWN if size is None else contract.human_size(size)


def _or(value: float | None, form: str, otherwise: str = UNKNOWN) -> str:
    return otherwise if value is None else form.format(value)


def _spreadsheet_safe(text: str) -> str:
    """A spreadsheet runs a cell that starts with = + - or @ as a formula: a name stays text."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def write_csv(rows: Iterable[UserRow], target: str | os.PathLike | IO[str]) -> None:
    """CSV_COLUMNS, then one line per user: bytes as integers, an empty cell for unknown."""
    if isinstance(target, (str, os.PathLike)):
        with open(target, "w", newline="", encoding="utf-8") as file:
            write_csv(rows, file)
        return
    writer = csv.DictWriter(target, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    for row in rows:
        writer.writerow({
            "user": _spreadsheet_safe(row.user), "groups": _spreadsheet_safe(row.groups_joined),
            "days_active": row.days_active, "server_hours": f"{row.server_hours:.2f}", "starts": row.starts,
            "median_start_seconds": _or(row.median_start_seconds, "{:.1f}", ""),
            "disk_bytes": _or(row.disk_bytes, "{}", ""), "disk_limit_bytes": _or(row.disk_limit_bytes, "{}", ""),
            "disk_percent": _or(row.disk_percent, "{:.1f}", "")})


USER_HEADER = ("user", "groups", "days active", "server hours", "starts", "median start", "disk used",
               "disk limit", "% of limit")
GROUP_HEADER = ("group", "users", "active users", "server hours", "starts", "disk used")
DISK_HEADER = ("user", "used", "limit", "% of limit")


def _user_cells(row: UserRow) -> list[str]:
    return [row.user, row.groups_joined, str(row.days_active), f"{row.server_hours:.1f}", str(row.starts),
            _or(row.median_start_seconds, "{:.1f} s"), human_size(row.disk_bytes),
            NO_LIMIT if row.disk_limit_bytes is None else human_size(row.disk_limit_bytes),
            _or(row.disk_percent, "{:.1f}%")]


def _group_cells(total: GroupTotal) -> list[str]:
    return [total.group, str(total.users), str(total.active_users), f"{total.server_hours:.1f}",
            str(total.starts), human_size(total.disk_bytes)]


def _aligned(header: tuple[str, ...], lines: list[list[str]], left: int) -> str:
    """Columns padded to their widest cell: the first `left` to the left, the figures to the right.
    A name's control characters are shown as ? (they could drive the terminal)."""
    table = [list(header)] + [["".join(c if c.isprintable() else "?" for c in cell) for cell in line]
                              for line in lines]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(width) if i < left else cell.rjust(width)
                               for i, (cell, width) in enumerate(zip(line, widths, strict=True))).rstrip()
                     for line in table)


def text_table(rows: Iterable[UserRow]) -> str:
    return _aligned(USER_HEADER, [_user_cells(row) for row in rows], left=2)


def group_table(totals: Iterable[GroupTotal]) -> str:
    return _aligned(GROUP_HEADER, [_group_cells(total) for total in totals], left=1)


def disk_table(rows: Iterable[UserRow]) -> str:
    """`invoke usage --disk`: largest first."""
    return _aligned(DISK_HEADER, [[cells[0], *cells[6:]] for cells in map(_user_cells, sorted(rows, key=_by_disk))],
                    left=1)


def _utc(t: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc)


def _when(t: float) -> str:
    return _utc(t).strftime("%Y-%m-%d %H:%M")


def _has_data(points: Iterable[tuple[float, float | None]]) -> bool:
    return any(v and math.isfinite(v) for _, v in points)


def _peak(points: Iterable[tuple[float, float | None]]) -> float:
    return max(v for _, v in points if v is not None and math.isfinite(v))


def _no_data(ax) -> str:
    ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center", fontsize=14, color="grey")
    ax.set_xticks([])
    ax.set_yticks([])
    return "no data in this window."


def _time_axis(ax, data: Daily, whole_days: bool = False) -> None:
    """The window as the x axis; a per-day chart spans the whole UTC days the window touches, so that a day's
    bar or point (drawn at its noon) shows even when the window ends in the morning."""
    import matplotlib.dates

    locator = matplotlib.dates.AutoDateLocator(tz=datetime.timezone.utc)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(matplotlib.dates.ConciseDateFormatter(locator, tz=datetime.timezone.utc))
    if whole_days:
        ax.set_xlim(_utc(_day(data.since)), _utc(_day(data.now) + DAY))
    else:
        ax.set_xlim(_utc(data.since), _utc(data.now))
    ax.grid(alpha=0.3)


def _draw_active(ax, data: Daily, rows: list[UserRow]) -> str:
    points = data.active_users
    if not _has_data(points):
        return _no_data(ax)
    ax.bar([_utc(day + DAY / 2) for day, _ in points], [v for _, v in points], width=0.8)
    ax.set_ylabel("users")
    ax.yaxis.get_major_locator().set_params(integer=True)
    _time_axis(ax, data, whole_days=True)
    return f"at most {_peak(points):.0f} users on one day."


def _draw_running(ax, data: Daily, rows: list[UserRow]) -> str:
    points = data.running_servers
    if not _has_data(points):
        return _no_data(ax)
    ax.step([_utc(t) for t, _ in points], [v for _, v in points], where="post")
    ax.set_ylabel("servers")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_ylim(bottom=0)
    _time_axis(ax, data)
    return f"at most {_peak(points):.0f} servers at once."


def _draw_starts(ax, data: Daily, rows: list[UserRow]) -> str:
    if not _has_data(data.start_p50 + data.start_p95):
        return _no_data(ax)
    for points, style, label in ((data.start_p50, "o-", "p50 (median)"), (data.start_p95, "s--", "p95")):
        ax.plot([_utc(day + DAY / 2) for day, _ in points],
                [math.nan if v is None else v for _, v in points], style, label=label)
    ax.set_ylabel("seconds")
    ax.set_ylim(0, _peak(data.start_p50 + data.start_p95) * 1.15)  # the highest point is not on the frame
    ax.legend()
    _time_axis(ax, data, whole_days=True)
    return f"the slowest figure is {_peak(data.start_p50 + data.start_p95):.1f} s."


def _draw_disk(ax, data: Daily, rows: list[UserRow]) -> str:
    top = [row for row in sorted(rows, key=_by_disk) if row.disk_bytes][:TOP_DISK]
    if not top:
        return _no_data(ax)
    ax.figure.set_size_inches(8, max(3.2, 1.2 + 0.3 * len(top)))  # a bar a name
    divisor, unit = _unit(max(max(row.disk_bytes, row.disk_limit_bytes or 0) for row in top))
    ax.barh(range(len(top)), [row.disk_bytes / divisor for row in top])
    limited = [(i, row.disk_limit_bytes / divisor) for i, row in enumerate(top) if row.disk_limit_bytes]
    if limited:
        ax.scatter([x for _, x in limited], [y for y, _ in limited], marker="|", s=300, color="crimson",
                   zorder=3, label="limit")
        ax.legend()
    # A name is shown as written: never read as a $math$ formula.
    ax.set_yticks(range(len(top)), labels=[row.user[:24] for row in top], parse_math=False)
    ax.invert_yaxis()
    ax.set_xlabel(unit)
    ax.grid(axis="x", alpha=0.3)
    return f"the {len(top)} users using the most, largest at the top; the largest uses {human_size(top[0].disk_bytes)}."


# (title, what kind of chart, how it is drawn): the alt text is the first two and what the drawing says.
CHARTS = (
    ("Active users per day", "Bar chart", _draw_active),
    ("Running servers over time", "Step chart", _draw_running),
    ("Server start time per day, p50 and p95", "Line chart", _draw_starts),
    (f"Top {TOP_DISK} users by disk, with their limits", "Horizontal bar chart", _draw_disk),
)


def _charts(rows: list[UserRow], data: Daily) -> list[tuple[str, bytes]]:
    """(alt text, PNG) of each of CHARTS. matplotlib is imported here: only a page pays for it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    drawn = []
    for title, kind, draw in CHARTS:
        fig, ax = plt.subplots(figsize=(8, 3.2))
        try:
            ax.set_title(title)
            said = draw(ax, data, rows)
            fig.tight_layout()
            png = io.BytesIO()
            fig.savefig(png, format="png", dpi=100)
        finally:
            plt.close(fig)
        drawn.append((f"{kind}: {title.lower()}, {_when(data.since)} to {_when(data.now)} UTC; {said}",
                      png.getvalue()))
    return drawn


def _chart_sources(data: Daily) -> list[str]:
    """Where each of CHARTS's figures came from, in their order."""
    starts = " and ".join(sorted({data.sources["start_p50"], data.sources["start_p95"]}))
    return [data.sources["active_users"], data.sources["running_servers"], starts,
            "each user's volumes or folders, measured for this report"]


def _html_table(header: tuple[str, ...], lines: list[list[str]], left: int) -> str:
    def row(cells: Iterable[str], tag: str) -> str:
        return "<tr>" + "".join(f"<{tag}{'' if i < left else ' class=n'}>{html.escape(cell)}</{tag}>"
                                for i, cell in enumerate(cells)) + "</tr>"

    return ("<table><thead>" + row(header, "th") + "</thead><tbody>\n"
            + "\n".join(row(line, "td") for line in lines) + "\n</tbody></table>")


STYLE = """body{font-family:sans-serif;margin:2em;max-width:70em}
figure{margin:1em 0}img{max-width:100%}figcaption{color:#555;font-size:90%}
table{border-collapse:collapse;margin:1em 0}th,td{padding:.2em .6em;border-bottom:1px solid #ddd;text-align:left}
.n{text-align:right;font-variant-numeric:tabular-nums}"""


def write_html(path: str | os.PathLike, rows: list[UserRow], totals: list[GroupTotal], daily_data: Daily,
               notes: Iterable[str]) -> None:
    """One page, nothing fetched and no script: the charts are inline PNGs, every name is escaped (names
    are the users'), and the page's policy forbids anything else should one slip through."""
    window = f"{_when(daily_data.since)} to {_when(daily_data.now)} UTC"
    figures = "\n".join(
        f'<figure><img src="data:image/png;base64,{base64.b64encode(png).decode()}" alt="{html.escape(alt)}">'
        f"<figcaption>Source: {html.escape(source)}.</figcaption></figure>"
        for (alt, png), source in zip(_charts(rows, daily_data), _chart_sources(daily_data), strict=True))
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>JupyterHub usage, {window}</title><style>{STYLE}</style></head><body>
<h1>JupyterHub usage, {window}</h1>
<p>Days are UTC days. Sizes count in powers of 1024, as disk limits do: 1 KiB = 1,024 bytes,
1 MiB = 2<sup>20</sup> bytes, 1 GiB = 2<sup>30</sup> bytes.</p>
{figures}
<h2>Users</h2>
{_html_table(USER_HEADER, [_user_cells(row) for row in rows], left=2)}
<h2>Groups</h2>
<p>A user in several groups counts in each.</p>
{_html_table(GROUP_HEADER, [_group_cells(total) for total in totals], left=1)}
<h2>What this report cannot know</h2>
<ul>
{"".join(f"<li>{html.escape(note)}</li>" for note in notes)}
</ul>
</body></html>
"""
    with open(path, "w", encoding="utf-8") as file:
        file.write(page)
