#!/usr/bin/env python3
"""What the disk scan costs: files a second and CPU, unthrottled and at each I/O budget, side by side.

Makes a tree like a user's home (FOLDERS folders of FILES small files) in a temporary folder, then
walks it with prometheus-dirsize-exporter's walker, as the disk-scan service does
(hub/jhdeploy_hub/diskscan.py): once with no budget (the walk's own cost), then once for each
DISK_SCAN_IOPS asked for. The share of a core is CPU seconds over wall seconds.

    python benchmarks/diskscan.py [--folders 200] [--files 100] [--budgets 2000 5000 20000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from prometheus_dirsize_exporter.exporter import BudgetedDirInfoWalker


def make_tree(root: Path, folders: int, files: int) -> None:
    for number in range(folders):
        folder = root / f"folder{number}"
        folder.mkdir(parents=True)
        for item in range(files):
            (folder / f"file{item}.txt").write_bytes(b"x" * 512)


def walk(root: Path, budget: int) -> tuple[int, float, float]:
    """(entries, wall seconds, CPU seconds) of one walk at this budget."""
    walker = BudgetedDirInfoWalker(budget)
    wall, cpu = time.monotonic(), time.process_time()
    info = walker.get_dir_info(str(root))
    return info.entries_count, time.monotonic() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folders", type=int, default=200)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--budgets", type=int, nargs="+", default=[2000, 5000, 20000])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "home"
        make_tree(root, args.folders, args.files)
        walk(root, 10**9)  # the first walk fills the kernel's metadata cache, as a scan every 30 min finds it
        print(f"{'budget (ops/s)':>15} {'entries':>8} {'wall s':>7} {'files/s':>8} {'CPU s':>6} {'core %':>7}")
        for budget in [10**9, *args.budgets]:
            entries, wall, cpu = walk(root, budget)
            label = "none" if budget == 10**9 else str(budget)
            print(f"{label:>15} {entries:>8} {wall:>7.2f} {entries / wall:>8.0f} {cpu:>6.2f} {100 * cpu / wall:>6.1f}%")


if __name__ == "__main__":
    main()
