"""What a service reports to Prometheus: a file for node-exporter's textfile collector.

The backup and fence services write theirs into contract.TEXTFILE (state/textfile/ on
the host), which the metrics add-on's node-exporter reads. Written whether metrics are
on or not: a file nobody reads costs nothing, and turning metrics on needs no restart
of these services.
"""

from __future__ import annotations

import os
from pathlib import Path

from jhdeploy_hub import contract


def label(value: str) -> str:
    """A label value as the text format wants it (user names are anyone's choice)."""
    return value.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")


def write(name: str, gauges: dict[str, tuple[float | dict, str]], folder: str = contract.TEXTFILE) -> None:
    """Replace FOLDER/NAME.prom with these gauges (metric: (value, help)), atomically, if FOLDER is
    mounted; never fails the service that reports. A value may be a dict of series, each keyed by its
    labels as ((name, value), ...)."""
    directory = Path(folder)
    if not directory.is_dir():
        return
    lines = []
    for metric, (value, text) in gauges.items():
        lines += [f"# HELP {metric} {text}", f"# TYPE {metric} gauge"]
        for labels, number in (value.items() if isinstance(value, dict) else [((), value)]):
            names = ",".join(f'{key}="{label(item)}"' for key, item in labels)
            lines.append(f"{metric}{{{names}}} {number:.0f}" if names else f"{metric} {number:.0f}")
    temporary = directory / f".{name}.{os.getpid()}"  # not *.prom: the collector skips it
    try:
        temporary.write_text("\n".join(lines) + "\n")
        temporary.chmod(0o644)
        os.replace(temporary, directory / f"{name}.prom")
    except OSError:
        temporary.unlink(missing_ok=True)
