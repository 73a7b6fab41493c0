"""What a person sees while `benchhash run` works: on a terminal two rich bars on stderr (the whole
run and the current stage) that fill with time, their ETAs drawn by rich's own refresh (no
thread of ours); otherwise one line per stage. Failures are said as they happen."""

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


def _fraction(task: Task) -> float | None:
    """How far through its expected length a task is, by the clock (None: length unknown)."""
    length = float(task.fields.get("length") or 0.0)
    if length <= 0:
        return None
    return min(1.0, (task.elapsed or 0.0) / length)


class TimedBar(ProgressColumn):
    """A bar that fills as the task's time passes; a pulse while the length is unknown."""

    def render(self, task: Task) -> ProgressBar:
        done = _fraction(task)
        if done is None:
            return ProgressBar(total=None, width=36, pulse=True, animation_time=task.get_time())
        return ProgressBar(total=1.0, completed=done, width=36)


class TimeLeft(ProgressColumn):
    def render(self, task: Task) -> Text:
        length = float(task.fields.get("length") or 0.0)
        if length <= 0:
            return Text("", style="progress.remaining")
        left = max(0.0, length - (task.elapsed or 0.0))
        return Text(f"{left:4.0f} s left", style="progress.remaining")


class RunProgress(Listener):
    """runner.Listener for `benchhash run`; a context manager around the run."""

    def __init__(self, console: Console, total_s: float, bars: bool) -> None:
        self.console = console
        self.progress = Progress(TextColumn("{task.description}"), TimedBar(), TimeLeft(),
                                 console=console, transient=True) if bars else None
        self.total_s = total_s
        self._run: Any = None
        self._stage: Any = None

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
        if self._stage is not None:
            self.progress.remove_task(self._stage)
        self._stage = self.progress.add_task(escape(label), length=seconds)

    def finished(self, result: WorkloadResult) -> None:
        pass

    def failed(self, failure: Failure) -> None:
        line = f"{failure.label} failed ({failure.stage}): {failure.message}"
        if self.progress is not None:
            self.progress.console.print(escape(f"benchhash: {line}"), soft_wrap=True, highlight=False)
        else:
            logging.getLogger("benchhash.run").warning("%s", line)
