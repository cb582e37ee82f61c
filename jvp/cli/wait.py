"""`--wait`: follow a task (describe-task, once a second) to its end. On a terminal a rich progress bar on stderr
shows the task's progress and message; otherwise each change is one plain line on stderr. Ctrl-C stops the
waiting, not the task (`jvp task cancel ID` does that)."""
from __future__ import annotations

import sys
import time
from typing import Any, Callable

import click

from jvp.cli.client import EXIT_TASK_FAILED, CliError

POLL_S = 1.0
ENDED = ("succeeded", "failed", "cancelled")


def follow(client: Any, task: dict[str, Any], *, poll_s: float = POLL_S, sleep: Callable[[float], None] = time.sleep,
           tty: bool | None = None) -> dict[str, Any]:
    """Poll the task until it ends; its last state."""
    tty = sys.stderr.isatty() if tty is None else tty
    try:
        if tty:
            return _follow_bar(client, task, poll_s, sleep)
        return _follow_plain(client, task, poll_s, sleep)
    except KeyboardInterrupt:
        click.echo(f"\nstopped waiting; the task goes on: jvp task show {task['id']} "
                   f"(jvp task cancel {task['id']} ends it)", err=True)
        raise SystemExit(130)


def _poll(client: Any, task_id: str) -> dict[str, Any]:
    return client.call("describe-task", {"id": task_id})[1]["task"]


def _label(task: dict[str, Any]) -> str:
    res = task.get("resource") or {}
    where = "/".join(str(res[k]) for k in ("node", "pool", "name") if res.get(k))
    return f"{task.get('kind', 'task')} {where}".strip()


def _follow_plain(client: Any, task: dict[str, Any], poll_s: float, sleep: Callable) -> dict[str, Any]:
    last = None
    while True:
        seen = (task.get("state"), task.get("progress"), task.get("message"))
        if seen != last:
            pct = f" {task['progress']:.0f}%" if isinstance(task.get("progress"), (int, float)) else ""
            msg = f" {task['message']}" if task.get("message") else ""
            click.echo(f"task {task['id']} {_label(task)}: {task.get('state')}{pct}{msg}", err=True)
            last = seen
        if task.get("state") in ENDED:
            return task
        sleep(poll_s)
        task = _poll(client, task["id"])


def _follow_bar(client: Any, task: dict[str, Any], poll_s: float, sleep: Callable) -> dict[str, Any]:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                  TimeElapsedColumn(), TextColumn("{task.fields[message]}"),
                  console=Console(stderr=True), transient=False) as bar:
        row = bar.add_task(_label(task), total=100, message="")
        while True:
            pct = task.get("progress")
            bar.update(row, completed=pct if isinstance(pct, (int, float)) else None,
                       total=100 if isinstance(pct, (int, float)) else None,
                       message=task.get("message") or task.get("state") or "")
            if task.get("state") in ENDED:
                if task["state"] == "succeeded":
                    bar.update(row, completed=100, total=100, message="done")
                return task
            sleep(poll_s)
            task = _poll(client, task["id"])


def raise_if_failed(task: dict[str, Any]) -> None:
    """Exit 7 with the task's `code: message` when it did not succeed."""
    if task.get("state") == "succeeded":
        return
    err = task.get("error") or {}
    if task.get("state") == "cancelled":
        raise CliError(err.get("message") or f"task {task['id']} was cancelled", exit_code=EXIT_TASK_FAILED,
                       code=err.get("code") or "TaskCancelled")
    raise CliError(err.get("message") or f"task {task['id']} failed", exit_code=EXIT_TASK_FAILED,
                   code=err.get("code"), details=err.get("details"))
