"""`invoke metrics` and `invoke alerts`, and what `status` and `doctor` say about the metrics add-on.

Prometheus and Alertmanager listen only on the stack's metrics network, so the tasks ask
them from inside their own containers (the official images have busybox's wget, and
Alertmanager's has amtool); Prometheus is also published on 127.0.0.1:METRICS_PORT.
"""

from __future__ import annotations

import datetime
import io
import json
import re
import shlex
import time
import urllib.parse
from pathlib import Path

from jhdeploy import changes, engine, metricsconf, resolve
from jhdeploy.errors import DeployError
from jhdeploy.stack import Stack

PROMETHEUS, ALERTMANAGER = "prometheus", "alertmanager"  # services of compose/metrics.yml
TEST_WAIT = 60  # seconds for every receiver to answer the test alert


def say(message: str) -> None:
    print(message, flush=True)


def running_stack(c, root: Path, doing: str) -> Stack:
    """The stack that runs, with metrics on; else one sentence that says what to do."""
    looked = resolve.for_looking(c, root, doing)
    stack = looked.stack
    if not metricsconf.on(stack):
        raise DeployError("Metrics are off: set METRICS=yes in .env, then `invoke restart` (docs/metrics.md).")
    if not looked.saved:
        raise DeployError("The stack is not running: `invoke start` first.")
    return stack


def in_container(c, stack: Stack, service: str, argv: list[str]):
    """Run `argv` in `service`'s container: Compose's, or on Swarm the task on this manager."""
    if not stack.in_swarm:
        return engine.compose_probe(c, stack, ["exec", "-T", service, *argv])
    found = engine.probe(c, ["docker", "ps", "--quiet", "--filter",
                             f"label=com.docker.swarm.service.name={stack.project}_{service}"]).stdout.split()
    if not found:
        raise DeployError(f"No task of {stack.project}_{service} runs on this manager: `docker service ps "
                          f"{stack.project}_{service}` says why.")
    return engine.probe(c, ["docker", "exec", found[0], *argv])


def fetch(c, stack: Stack, service: str, url: str) -> str | None:
    """GET `url` from inside `service`'s container (on the metrics network); None when it does not answer."""
    result = in_container(c, stack, service, ["wget", "-q", "-T", "10", "-O", "-", url])
    return result.stdout if result.ok else None


def query(c, stack: Stack, expression: str) -> list[dict]:
    """An instant PromQL query: Prometheus' result vector."""
    body = fetch(c, stack, PROMETHEUS, "http://localhost:9090/api/v1/query?query=" + urllib.parse.quote(expression))
    try:
        answer = json.loads(body or "")
    except ValueError:  # busybox's wget gives no body with a refusal (HTTP 400)
        if fetch(c, stack, PROMETHEUS, "http://localhost:9090/-/ready") is not None:
            raise DeployError(f"Prometheus refused the query {expression!r}: check its PromQL (a metric name, "
                              "labels in {}, functions such as rate(...[5m])).", code=2) from None
        raise DeployError(f"Prometheus did not answer the query {expression!r}: `invoke logs --service "
                          f"{PROMETHEUS}` says why.") from None
    if answer.get("status") != "success":
        raise DeployError(f"Prometheus refused {expression!r}: {answer.get('error', 'no reason given')}.")
    return answer["data"]["result"] if answer["data"]["resultType"] == "vector" else [
        {"metric": {}, "value": answer["data"]["result"]}]


def query_range(c, stack: Stack, expression: str, start: float, end: float, step: int) -> list[tuple[float, float]]:
    """A range query's points, the series summed (the expressions `invoke usage` asks have one)."""
    url = "http://localhost:9090/api/v1/query_range?" + urllib.parse.urlencode(
        {"query": expression, "start": f"{start:.0f}", "end": f"{end:.0f}", "step": str(step)})
    try:
        answer = json.loads(fetch(c, stack, PROMETHEUS, url) or "")
    except ValueError:
        raise DeployError(f"Prometheus did not answer {expression!r}: `invoke logs --service {PROMETHEUS}` says "
                          "why.") from None
    points: dict[float, float] = {}
    for series in answer.get("data", {}).get("result", []):
        for t, value in series["values"]:
            points[float(t)] = points.get(float(t), 0.0) + float(value)
    return sorted(points.items())


def show(c, root: Path, expression: str) -> None:
    """`invoke metrics`: how to reach Prometheus, or (with a query) its answer, one series per line."""
    stack = running_stack(c, root, "asking the metrics of")
    if expression:
        for series in query(c, stack, expression):
            labels = ",".join(f'{key}="{value}"' for key, value in sorted(series["metric"].items()))
            say(f"{{{labels}}} {series['value'][1]}")
        return
    if stack.in_swarm:
        say(f"On Docker Swarm, Prometheus is published nowhere: it listens on the stack's metrics network only.\n"
            f"`invoke metrics --query 'jupyterhub_running_servers'` asks it from this manager; a Grafana of yours "
            f"reaches it as http://prometheus:9090 once attached to the network {stack.project}_metrics "
            f"(docs/metrics.md). `invoke alerts` lists what fires.")
        return
    port = stack.settings["METRICS_PORT"]
    say(f"Prometheus listens on this host only: http://127.0.0.1:{port}/\n"
        f"From your computer, open a tunnel and keep it open:\n"
        f"  ssh -N -L {port}:127.0.0.1:{port} YOU@{stack.host}\n"
        f"then browse http://localhost:{port}/ (Status > Targets shows what it watches).\n"
        f"Grafana: add a Prometheus data source with that URL; docs/metrics.md lists the dashboards that fit.\n"
        f"`invoke metrics --query 'jupyterhub_running_servers'` asks it from here; `invoke alerts` lists what fires.")


def firing(c, stack: Stack) -> list[dict]:
    body = fetch(c, stack, PROMETHEUS, f"http://{metricsconf.ALERTMANAGER}/api/v2/alerts?active=true&silenced=false")
    if body is None:
        raise DeployError(f"Alertmanager did not answer: `invoke logs --service {ALERTMANAGER}` says why.")
    return [alert for alert in json.loads(body) if alert["labels"].get("alertname") != metricsconf.TEST_ALERT]


def alerts(c, root: Path, test: bool) -> None:
    """`invoke alerts`: what fires now; with `test`, a test alert through every receiver."""
    stack = running_stack(c, root, "asking the alerts of")
    if test:
        send_test(c, stack)
        return
    found = firing(c, stack)
    if not found:
        say("No alert fires.")
    for alert in sorted(found, key=lambda a: a["startsAt"]):
        labels, notes = alert["labels"], alert.get("annotations", {})
        say(f"{labels.get('severity', 'alert'):8} {labels['alertname']} since {alert['startsAt'][:19]}Z: "
            f"{notes.get('summary', '')}")


def notification_counts(c, stack: Stack) -> dict[tuple[str, str], float]:
    """Alertmanager's own count of notification requests, and of failed ones, by integration."""
    body = fetch(c, stack, ALERTMANAGER, "http://localhost:9093/metrics") or ""
    counts = {}
    for name, integration, value in re.findall(
            r'^alertmanager_notification_requests_(total|failed_total)\{[^}]*integration="(\w+)"[^}]*\} (\S+)$',
            body, re.M):
        counts[(name, integration)] = counts.get((name, integration), 0.0) + float(value)
    return counts


def send_test(c, stack: Stack) -> None:
    """Fire a test alert and wait until every receiver in use has answered it; fail if one refused."""
    kinds = metricsconf.receiver_kinds(stack)
    if not kinds:
        raise DeployError("No receiver is set: give ALERT_WEBHOOK_URL and/or ALERT_EMAIL_TO (with ALERT_SMTP_HOST "
                          "and ALERT_EMAIL_FROM) in .env, then `invoke restart`.")
    before = notification_counts(c, stack)
    ends = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    add = ["amtool", "alert", "add", f"alertname={metricsconf.TEST_ALERT}", "severity=info",
           f"--annotation=summary=A test from `invoke alerts --test` on {stack.project}; nothing is wrong.",
           f"--end={ends}", "--alertmanager.url=http://localhost:9093"]
    result = in_container(c, stack, ALERTMANAGER, add)
    if not result.ok:
        raise DeployError(f"Alertmanager did not take the test alert ({(result.stderr or result.stdout).strip()}); "
                          f"`{shlex.join(['invoke', 'logs', '--service', ALERTMANAGER])}` says why.")
    say(f"Sent a test alert; waiting up to {TEST_WAIT} s for {', '.join(kinds)} ...")
    started, answers = time.monotonic(), {}
    while len(answers) < len(kinds) and time.monotonic() - started < TEST_WAIT:
        time.sleep(2)
        now = notification_counts(c, stack)
        for kind in kinds:
            tried = now.get(("total", kind), 0) - before.get(("total", kind), 0)
            failed = now.get(("failed_total", kind), 0) - before.get(("failed_total", kind), 0)
            if tried and kind not in answers:
                answers[kind] = failed == 0
    for kind in kinds:
        verdict = {True: "accepted it", False: "refused it"}.get(answers.get(kind), f"did not answer in {TEST_WAIT} s")
        say(f"{'✓' if answers.get(kind) else '✗'} {kind}: {verdict}")
    if not all(answers.get(kind) for kind in kinds):
        raise DeployError(f"\nA receiver did not take the test alert: `invoke logs --service {ALERTMANAGER}` says "
                          "why (address, credentials, or this host's network).")


def check_rules(c, stack: Stack) -> None:
    """Refuse, before anything changes, alert rules that Prometheus would refuse at its start (a rule
    edited in conf/metrics/alerts.yml): `promtool check rules` of the image that will run them, on the
    stack's engine, reading them on its standard input."""
    if not metricsconf.on(stack) or changes.dry(c):
        return
    argv = ["docker", "run", "--rm", "--interactive", "--network", "none", "--entrypoint", "promtool",
            stack.settings["PROMETHEUS_IMAGE"], "check", "rules"]
    rules = metricsconf.rules(stack.root, stack.settings.values)
    result = c.run(shlex.join(argv), hide=True, warn=True, dry=False, echo=False, in_stream=io.StringIO(rules))
    if not result.ok and "Checking standard input" not in result.stdout:
        raise DeployError(f"✗ The alert rules could not be checked with PROMETHEUS_IMAGE="
                          f"{stack.settings['PROMETHEUS_IMAGE']!r}: {result.stderr.strip()}\nIs the image's name "
                          "right, and can this engine pull it? Nothing was changed.")
    if not result.ok:
        said = (result.stdout + result.stderr).strip().replace("standard input", metricsconf.RULES_TEMPLATE)
        raise DeployError(f"✗ Prometheus would refuse the alert rules; nothing was changed:\n{said}\n"
                          f"Fix {metricsconf.RULES_TEMPLATE}, then run the task again.")


def status_lines(c, stack: Stack) -> list[tuple[bool, str]]:
    """For `invoke status` and `doctor`: whether metrics and alerting are on, and healthy."""
    if not metricsconf.on(stack):
        return [(True, "Metrics:  off (METRICS=no)")]
    try:
        targets = query(c, stack, "up")
    except DeployError as error:
        return [(False, f"Metrics:  {error.message}")]
    down = sorted(series["metric"].get("job", "?") for series in targets if series["value"][1] != "1")
    where = "the metrics network" if stack.in_swarm else f"127.0.0.1:{stack.settings['METRICS_PORT']}"
    lines = [(not down, f"Metrics:  Prometheus on {where}, "
                        f"{len(targets) - len(down)} of {len(targets)} targets up"
                        + (f"; not answering: {', '.join(down)}" if down else ""))]
    kinds = metricsconf.receiver_kinds(stack)
    try:
        fires = [alert["labels"]["alertname"] for alert in firing(c, stack)]
    except DeployError as error:
        return lines + [(False, f"Alerts:   {error.message}")]
    to = " and ".join(kinds) or "nobody (set ALERT_WEBHOOK_URL or ALERT_EMAIL_TO)"
    lines.append((bool(kinds), f"Alerts:   to {to}; {len(fires)} firing"
                               + (f": {', '.join(sorted(set(fires)))}" if fires else "")))
    return lines
