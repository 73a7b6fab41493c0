"""What a person sees while `benchhash run` works: on a terminal two rich bars on stderr (the whole
run and the current stage) that fill with time, their ETAs drawn by rich's own refresh (no
thread of ours); otherwise one line per stage. Failures are said as they happen.

A compile is not in the run's plan: while one runs the run's bar waits (its time left is what is
left after the compile), and the compile's own bar fills over the last compile's length of that
phase when it is known ("~N s left"), or pulses beside the seconds so far when it is not or
when the compile outlasts it: never a percentage nobody knows."""

from __future__ import annotations

import logging
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, ProgressColumn, Task, TextColumn
from rich.progress_bar import ProgressBar
from rich.text import Text

from benchhash.results.model import Failure, WorkloadResult
from benchhash.runner import Listener

log = logging.getLogger("benchhash.progress")
#: the bars' width: the longest stage name, a bar and "12 s left + compile" fit in 80 columns
BAR = 30


def _spent(task: Task) -> float:
    """Seconds the task has run, less the time it waited (the run's, while a compile runs)."""
    waited = float(task.fields.get("waited_s") or 0.0)
    since = task.fields.get("waiting_since")
    if since is not None:
        waited += task.get_time() - float(since)
    return max(0.0, (task.elapsed or 0.0) - waited)


def _fraction(task: Task) -> float | None:
    """How far through its expected length a task is, by the clock (None: length unknown, or
    an estimate it has outlasted)."""
    length = float(task.fields.get("length") or 0.0)
    if length <= 0:
        return None
    done = _spent(task) / length
    return None if done >= 1 and task.fields.get("estimate") else min(1.0, done)


class TimedBar(ProgressColumn):
    """A bar that fills as the task's time passes; a pulse while the length is unknown."""

    def render(self, task: Task) -> ProgressBar:
        done = _fraction(task)
        if done is None:
            return ProgressBar(total=None, width=BAR, pulse=True, animation_time=task.get_time())
        return ProgressBar(total=1.0, completed=done, width=BAR)


class TimeLeft(ProgressColumn):
    def render(self, task: Task) -> Text:
        return Text(_time_left(task), style="progress.remaining")


def _time_left(task: Task) -> str:
    spent = _spent(task)
    if _fraction(task) is None:
        return f"{spent:4.0f} s so far"
    left = max(0.0, float(task.fields["length"]) - spent)
    if task.fields.get("estimate"):
        return f"~{left:.0f} s left"
    return f"{left:4.0f} s left" + (" + compile" if task.fields.get("waiting_since") is not None else "")


class RunProgress(Listener):
    """runner.Listener for `benchhash run`; a context manager around the run."""

    def __init__(self, console: Console, total_s: float, bars: bool) -> None:
        self.console = console
        self.progress = Progress(TextColumn("{task.description}"), TimedBar(), TimeLeft(),
                                 console=console, transient=True) if bars else None
        self.total_s = total_s
        self._run: Any = None
        self._stage: Any = None
        self._waited_s = 0.0
        self._waiting_since: float | None = None

    def __enter__(self) -> RunProgress:
        if self.progress is not None:
            self.progress.start()
            self._run = self.progress.add_task("[bold]run", length=self.total_s)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def plan(self, seconds: float) -> None:
        self.total_s = seconds
        if self.progress is not None:
            self.progress.update(self._run, length=seconds)

    def stage(self, label: str, seconds: float) -> None:
        if self.progress is None:
            log.info("%s%s", label, f" ({seconds:g} s)" if seconds > 0 else "")
            return
        self._wait(False)
        self._new_stage(label, length=seconds)

    def compiling(self, label: str, last_s: float | None) -> None:
        last = "" if last_s is None else f" (the last one took {last_s:.3g} s)" if last_s < 100 else \
            f" (the last one took {last_s:.0f} s)"
        if self.progress is None:
            log.info("%s%s", label, last)
            return
        self._wait(True)
        self._new_stage(label, length=last_s or 0.0, estimate=True)

    def _new_stage(self, label: str, **fields: Any) -> None:
        assert self.progress is not None
        if self._stage is not None:
            self.progress.remove_task(self._stage)
        self._stage = self.progress.add_task(escape(label), **fields)

    def _wait(self, waiting: bool) -> None:
        """The run's bar waits while a compile runs (compiles are not in its plan) and goes on after."""
        if self.progress is None or self._run is None:
            return
        now = self.progress.get_time()
        if self._waiting_since is not None:
            self._waited_s += now - self._waiting_since
        self._waiting_since = now if waiting else None
        self.progress.update(self._run, waited_s=self._waited_s, waiting_since=self._waiting_since)

    def finished(self, result: WorkloadResult) -> None:
        pass

    def failed(self, failure: Failure) -> None:
        line = f"{failure.label} failed ({failure.stage}): {failure.message}"
        if self.progress is not None:
            self.progress.console.print(escape(f"benchhash: {line}"), soft_wrap=True, highlight=False)
        else:
            logging.getLogger("benchhash.run").warning("%s", line)
