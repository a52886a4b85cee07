"""The user network fence: firewall rules that keep users' servers apart.

Users' servers get the upper half of the stack's subnet (jhdeploy/network.py).
Traffic from there may reach the stack's services (the lower half) and the
internet, and answers connections made to it; it may not open a connection to
another user's server, to this host (any of its addresses, the gateway
included), or to the cloud metadata address. The rules live in chains of our
own, jumped to from Docker's DOCKER-USER chain (forwarded traffic) and from
INPUT (traffic to this host).

Runs in the `fence` service (compose/fence.yml): the hub image, the host's
network namespace, NET_ADMIN and NET_RAW only, no Docker socket.

    python3 -m jhdeploy_hub.fence apply|remove|check|watch --project P --users CIDR
"""

from __future__ import annotations

import argparse
import hashlib
import signal
import subprocess
import sys
import time

from jhdeploy_hub import textfile

METADATA = "169.254.169.254/32"
ESTABLISHED = ["-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "RETURN"]
REJECT = ["-j", "REJECT"]  # not DROP: a refused connection fails at once instead of hanging


def chains(project: str) -> tuple[str, str]:
    """Our chains' names: short (iptables allows 28 characters) and unique per stack."""
    tag = hashlib.sha256(project.encode()).hexdigest()[:10]
    return f"JHDEPLOY-{tag}-FWD", f"JHDEPLOY-{tag}-IN"


def rules(users: str) -> dict[str, list[list[str]]]:
    """The two chains' rules, in order."""
    return {
        "forward": [ESTABLISHED, ["-d", METADATA, *REJECT], ["-d", users, *REJECT]],
        "input": [ESTABLISHED, REJECT],
    }


def backend() -> str:
    """The iptables of the engine's own backend: the one that has Docker's DOCKER-USER chain."""
    for command in ("iptables-nft", "iptables-legacy", "iptables"):
        try:
            if subprocess.run([command, "-S", "DOCKER-USER"], capture_output=True).returncode == 0:
                return command
        except FileNotFoundError:
            continue
    sys.exit("fence: no iptables here sees Docker's DOCKER-USER chain (is this the host's network namespace, "
             "with NET_ADMIN?)")


def iptables(command: str, *args: str, check: bool = True) -> bool:
    result = subprocess.run([command, "-w", *args], capture_output=True, text=True)
    if check and result.returncode != 0:
        sys.exit(f"fence: {command} {' '.join(args)} failed: {result.stderr.strip()}")
    return result.returncode == 0


def jumps(project: str, users: str) -> list[tuple[str, list[str]]]:
    forward, inbound = chains(project)
    return [("DOCKER-USER", ["-s", users, "-j", forward]), ("INPUT", ["-s", users, "-j", inbound])]


def apply(command: str, project: str, users: str) -> None:
    """Write both chains afresh, then make sure each is jumped to, first in its parent chain."""
    for chain, chain_rules in zip(chains(project), rules(users).values(), strict=True):
        iptables(command, "-N", chain, check=False)  # exists already: fine
        iptables(command, "-F", chain)
        for rule in chain_rules:
            iptables(command, "-A", chain, *rule)
    for parent, jump in jumps(project, users):
        if not iptables(command, "-C", parent, *jump, check=False):
            iptables(command, "-I", parent, "1", *jump)


def remove(command: str, project: str, users: str) -> None:
    for parent, jump in jumps(project, users):
        while iptables(command, "-D", parent, *jump, check=False):
            pass
    for chain in chains(project):
        iptables(command, "-F", chain, check=False)
        iptables(command, "-X", chain, check=False)


def in_force(command: str, project: str, users: str) -> bool:
    if not all(iptables(command, "-C", parent, *jump, check=False) for parent, jump in jumps(project, users)):
        return False
    forward, _ = chains(project)
    listing = subprocess.run([command, "-w", "-S", forward], capture_output=True, text=True).stdout
    return f"-d {METADATA} -j REJECT" in listing and f"-d {users} -j REJECT" in listing


def watch(command: str, project: str, users: str, every: float = 10) -> None:
    """Apply, then put the rules back whenever something (a firewall reload) took them away.

    On SIGTERM it exits and leaves the rules in place: `invoke stop --keep-servers` keeps
    users fenced, and `invoke stop` removes the rules after the servers are gone.
    """
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    apply(command, project, users)
    print(f"fence: in force for {users} ({command})", flush=True)
    while True:
        report(True)
        time.sleep(every)
        if not in_force(command, project, users):
            report(False)
            print("fence: rules were missing; applying them again", flush=True)
            apply(command, project, users)


def report(ok: bool) -> None:
    """For the metrics add-on's FenceNotInForce alert: in force or not, and when it was last checked."""
    textfile.write("fence", {"jhdeploy_fence_in_force": (int(ok), "1 while the user network fence is in force."),
                             "jhdeploy_fence_checked_timestamp_seconds": (time.time(), "When the fence last checked.")})


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m jhdeploy_hub.fence")
    parser.add_argument("action", choices=("apply", "remove", "check", "watch"))
    parser.add_argument("--project", required=True)
    parser.add_argument("--users", required=True, help="the users' half of the stack's subnet, as a CIDR")
    args = parser.parse_args(argv)
    command = backend()
    if args.action == "check":
        ok = in_force(command, args.project, args.users)
        print(f"fence: {'in force' if ok else 'NOT in force'} for {args.users}")
        return 0 if ok else 1
    {"apply": apply, "remove": remove, "watch": watch}[args.action](command, args.project, args.users)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
