"""Run one DAG on real Airflow, the way ``airflow dags test`` does, and say what happened.

:func:`run_dag` runs the DAG with ``dag.test()`` in a fresh interpreter (a run sees the
environment of the call: ``AIRFLOW_HOME``, the metadata DB, ``AIRFLOW_CONN_*``...). Deferred
tasks run their trigger in line, as ``airflow dags test`` does. The answer is a
:class:`DagRunResult`: the run's state, each task's state, try number, XComs, log text and
exception, and the deferrals that happened.

"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

#: Lines the child prints around each task run; they split the output into per-task logs.
MARK = "::airflow-provider-exports-task::"
#: What the fresh interpreter runs.
CHILD = (
    "import sys; from airflow_provider_exports.testing.runner import _child; sys.exit(_child(sys.argv[1]))"
)


class DagRunError(RuntimeError):
    """The DAG could not be run (not found, import error, the run crashed or timed out)."""


@dataclass(frozen=True)
class TaskError:
    """The exception a task failed with."""

    #: The exception's class name, e.g. ``ExportFailedError``.
    type: str
    #: Its module, e.g. ``airflow_provider_exports.errors``.
    module: str
    #: ``str(exception)``.
    message: str

    @property
    def qualified_type(self) -> str:
        """``module.ClassName``."""
        return f"{self.module}.{self.type}" if self.module else self.type

    def __str__(self) -> str:
        return f"{self.type}: {self.message}"


@dataclass(frozen=True)
class Deferral:
    """One deferral of a task: the trigger it waited on and the event that resumed it."""

    task_id: str
    map_index: int
    #: The trigger's class path.
    trigger: str
    #: The payload of the event the trigger fired (None if it fired none).
    event: Any


@dataclass(frozen=True)
class TaskResult:
    """What one task instance did in the run."""

    task_id: str
    map_index: int
    #: Its final state (``success``, ``failed``, ``upstream_failed``, ``skipped``...).
    state: str | None
    #: How many times it was tried.
    try_number: int
    #: The states it went through, in order (``deferred`` included).
    transitions: tuple[str, ...]
    #: Its XComs, key -> value.
    xcom: Mapping[str, Any]
    #: Everything it logged, over all its tries (its trigger's lines included).
    log: str
    #: The exception it failed with, if it ended failed.
    error: TaskError | None
    deferrals: tuple[Deferral, ...]
    #: The exception of each failed try, retried ones included, in order.
    errors: tuple[TaskError, ...] = ()

    @property
    def return_value(self) -> Any:
        """Its ``return_value`` XCom (None if it returned nothing)."""
        return self.xcom.get("return_value")


@dataclass(frozen=True)
class DagRunResult:
    """What a DAG run did."""

    dag_id: str
    run_id: str
    #: The run's final state (``success`` or ``failed``).
    state: str
    #: Task instances by task id (``task_id[i]`` for a mapped task's instance ``i``).
    task_results: Mapping[str, TaskResult]
    #: Airflow Variables in the metadata DB after the run, key -> value.
    variables: Mapping[str, str]
    #: Everything the run printed (tasks, triggers, Airflow).
    output: str
    #: The child interpreter's exit code.
    returncode: int
    #: Seconds the run took, interpreter start included.
    seconds: float
    deferrals: tuple[Deferral, ...] = field(default=())

    def task(self, task_id: str, map_index: int = -1) -> TaskResult:
        """One task instance's result; a clear KeyError names the tasks there are."""
        key = task_id if map_index < 0 else f"{task_id}[{map_index}]"
        try:
            return self.task_results[key]
        except KeyError:
            raise KeyError(
                f"no task {key!r} in the run of {self.dag_id!r}; tasks: {sorted(self.task_results)}"
            ) from None

    @property
    def tasks(self) -> dict[str, str | None]:
        """Each task's final state."""
        return {key: task.state for key, task in self.task_results.items()}

    @property
    def try_numbers(self) -> dict[str, int]:
        """How many times each task was tried."""
        return {key: task.try_number for key, task in self.task_results.items()}

    @property
    def transitions(self) -> dict[str, list[str]]:
        """The states each task went through, in order."""
        return {key: list(task.transitions) for key, task in self.task_results.items()}

    @property
    def xcom(self) -> dict[str, Any]:
        """Every XCom of the run, as ``"task_id.key"`` -> value."""
        return {
            f"{key}.{name}": value
            for key, task in self.task_results.items()
            for name, value in task.xcom.items()
        }

    @property
    def failed(self) -> dict[str, TaskError | None]:
        """The tasks that ended ``failed``, with their exception."""
        return {key: task.error for key, task in self.task_results.items() if task.state == "failed"}

    def return_value(self, task_id: str, map_index: int = -1) -> Any:
        """A task's ``return_value`` XCom."""
        return self.task(task_id, map_index).return_value

    def log(self, task_id: str, map_index: int = -1) -> str:
        """A task's log text."""
        return self.task(task_id, map_index).log

    def error(self, task_id: str, map_index: int = -1) -> TaskError | None:
        """The exception a task failed with (None if it did not fail)."""
        return self.task(task_id, map_index).error

    def deferrals_of(self, task_id: str, map_index: int = -1) -> tuple[Deferral, ...]:
        """A task's deferrals, in order."""
        return self.task(task_id, map_index).deferrals

    def __str__(self) -> str:
        lines = [f"DAG run {self.run_id!r} of {self.dag_id!r}: {self.state} ({self.seconds:.1f} s)"]
        for key, task in self.task_results.items():
            tail = f" -- {task.error}" if task.error else ""
            lines.append(f"  {key}: {task.state} (try {task.try_number}){tail}")
        return "\n".join(lines)


def run_dag(
    dag: Any,
    *,
    conf: Mapping[str, Any] | None = None,
    logical_date: datetime | str | None = None,
    dag_file: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 600.0,
    cwd: str | os.PathLike[str] | None = None,
) -> DagRunResult:
    """Run a DAG with ``dag.test()`` in a fresh interpreter and return what it did.

    ``dag`` is a DAG id (looked up in ``AIRFLOW__CORE__DAGS_FOLDER``, or in ``dag_file``) or a DAG
    object (its file is run). ``conf`` is the run's conf, ``logical_date`` its logical date (a
    datetime or ISO 8601 text; naive means UTC; default: now). ``env`` adds environment variables
    for this run only. A failed task is a result, not an exception; :class:`DagRunError` means
    the DAG could not be run at all.
    """
    with start_dag(dag, conf=conf, logical_date=logical_date, dag_file=dag_file, env=env, cwd=cwd) as run:
        return run.wait(timeout)


def start_dag(
    dag: Any,
    *,
    conf: Mapping[str, Any] | None = None,
    logical_date: datetime | str | None = None,
    dag_file: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> RunningDag:
    """Start a DAG run as :func:`run_dag` does, without waiting: for tests that act while it
    runs (send it a signal, watch its output). Use it as a context manager; ``wait()`` returns
    the :class:`DagRunResult`."""
    if isinstance(dag, str):
        dag_id = dag
    elif hasattr(dag, "dag_id"):
        dag_id = str(dag.dag_id)
        dag_file = dag_file or getattr(dag, "fileloc", None)
    else:
        raise TypeError(f"run_dag takes a DAG id or a DAG, not {type(dag).__name__}")
    if isinstance(logical_date, datetime):
        stamp = logical_date if logical_date.tzinfo else logical_date.replace(tzinfo=timezone.utc)
        when: str | None = stamp.isoformat()
    else:
        when = logical_date
    work = Path(tempfile.mkdtemp(prefix="exports-run-dag-"))
    spec = {
        "dag_id": dag_id,
        "dag_file": str(Path(dag_file).resolve()) if dag_file else None,
        "conf": dict(conf) if conf is not None else None,
        "logical_date": when,
        "result": str(work / "result.json"),
    }
    (work / "spec.json").write_text(json.dumps(spec))
    return RunningDag(dag_id, work, {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}, cwd)


class RunningDag:
    """A DAG run in progress in its own interpreter (see :func:`start_dag`)."""

    def __init__(
        self, dag_id: str, work: Path, env: Mapping[str, str], cwd: str | os.PathLike[str] | None
    ) -> None:
        self.dag_id = dag_id
        self._work = work
        self._log = work / "output.log"
        self._started = time.monotonic()
        with self._log.open("wb") as sink:
            # A file, not a pipe: a run that prints a lot must not stall on a full pipe.
            self.process = subprocess.Popen(
                [sys.executable, "-c", CHILD, str(work / "spec.json")],
                env=dict(env),
                cwd=str(cwd) if cwd else None,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )

    @property
    def output(self) -> str:
        """What the run printed so far."""
        return self._log.read_text("utf-8", "replace")

    def running(self) -> bool:
        """Whether the run's interpreter is still running."""
        return self.process.poll() is None

    def send_signal(self, signum: int) -> None:
        """Send the run's interpreter a signal (``signal.SIGTERM`` reaches the running task)."""
        self.process.send_signal(signum)

    def wait(self, timeout: float = 600.0) -> DagRunResult:
        """Wait for the run to end and return what it did; :class:`DagRunError` if it did not end
        within ``timeout`` seconds (it is then killed) or could not run."""
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise DagRunError(
                f"the run of {self.dag_id!r} did not end within {timeout:.0f} s:\n{self.output[-6000:]}"
            ) from None
        seconds = time.monotonic() - self._started
        output = self.output
        result_path = self._work / "result.json"
        if not result_path.exists():
            raise DagRunError(f"the run of {self.dag_id!r} crashed (exit {code}):\n{output[-6000:]}")
        data = json.loads(result_path.read_text())
        if "error" in data:
            raise DagRunError(f"{data['error']}\n{output[-6000:]}")
        return _result(data, output, code, seconds)

    def close(self) -> None:
        """Kill the run if it still runs, and remove its files."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self._work, ignore_errors=True)

    def __enter__(self) -> RunningDag:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _result(data: Mapping[str, Any], output: str, code: int, seconds: float) -> DagRunResult:
    logs = _task_logs(output)
    errors: dict[tuple[str, int], list[TaskError]] = {}
    for e in data["errors"]:
        errors.setdefault((e["task_id"], e["map_index"]), []).append(
            TaskError(e["type"], e["module"], e["message"])
        )
    all_deferrals = tuple(
        Deferral(d["task_id"], d["map_index"], d["trigger"], d["event"]) for d in data["deferrals"]
    )
    tasks: dict[str, TaskResult] = {}
    for ti in data["tasks"]:
        where = (ti["task_id"], ti["map_index"])
        key = ti["task_id"] if ti["map_index"] < 0 else f"{ti['task_id']}[{ti['map_index']}]"
        tries = tuple(errors.get(where, ()))
        tasks[key] = TaskResult(
            task_id=ti["task_id"],
            map_index=ti["map_index"],
            state=ti["state"],
            try_number=ti["try_number"],
            transitions=tuple(data["transitions"].get(key, [])),
            xcom=ti["xcom"],
            log=logs.get(where, ""),
            error=tries[-1] if tries and ti["state"] == "failed" else None,
            deferrals=tuple(d for d in all_deferrals if (d.task_id, d.map_index) == where),
            errors=tries,
        )
    return DagRunResult(
        dag_id=data["dag_id"],
        run_id=data["run_id"],
        state=data["state"],
        task_results=tasks,
        variables=data["variables"],
        output=output,
        returncode=code,
        seconds=seconds,
        deferrals=all_deferrals,
    )


def _task_logs(output: str) -> dict[tuple[str, int], str]:
    """The output between each task's start and end marks, per task instance."""
    logs: dict[tuple[str, int], list[str]] = {}
    current: list[str] | None = None
    for line in output.splitlines(keepends=True):
        if line.startswith(MARK):
            _, what, task_id, map_index = line.split()
            current = logs.setdefault((task_id, int(map_index)), []) if what == "start" else None
        elif current is not None:
            current.append(line)
    return {key: "".join(lines) for key, lines in logs.items()}


# ---- the child: runs in the fresh interpreter ------------------------------------------------------


def _state(value: Any) -> str | None:
    return None if value is None else str(getattr(value, "value", value))


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _find_dag(dag_id: str, dag_file: str | None) -> Any:
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow before 3.1
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef,attr-defined,unused-ignore]
    folder = dag_file or os.environ.get("AIRFLOW__CORE__DAGS_FOLDER") or ""
    if not folder or not Path(folder).exists():
        raise DagRunError(
            f"no DAG folder to find {dag_id!r} in: {folder or 'AIRFLOW__CORE__DAGS_FOLDER is not set'}"
        )
    bag = DagBag(dag_folder=folder)
    dag = bag.dags.get(dag_id)
    if dag is None:
        problems = "".join(f"\n{path}:\n{text}" for path, text in bag.import_errors.items())
        raise DagRunError(f"DAG {dag_id!r} not found in {folder} (DAGs there: {sorted(bag.dags)}){problems}")
    return dag


class _Recorder:
    """Listens to the run: task failures (with their exception) and deferrals."""

    def __init__(self) -> None:
        self.errors: list[dict[str, Any]] = []
        self.deferrals: list[dict[str, Any]] = []
        self.transitions: dict[str, list[str]] = {}

    def on_task_instance_failed(self, previous_state: Any, task_instance: Any, error: Any) -> None:
        if error is None:
            return
        index = getattr(task_instance, "map_index", None)
        where = (str(task_instance.task_id), -1 if index is None else int(index))
        task_id, map_index = where
        if isinstance(error, BaseException):
            kind = type(error)
            found = {"type": kind.__qualname__, "module": kind.__module__, "message": str(error)}
        else:
            found = {"type": "str", "module": "", "message": str(error)}
        self.errors.append({"task_id": task_id, "map_index": map_index, **found})


def _install(recorder: _Recorder) -> None:
    import pluggy

    hookimpl = pluggy.HookimplMarker("airflow")

    class _Listener:
        @hookimpl
        def on_task_instance_failed(self, previous_state: Any, task_instance: Any, error: Any) -> None:
            recorder.on_task_instance_failed(previous_state, task_instance, error)

    try:
        listeners: Any = importlib.import_module("airflow.sdk.listener")
    except ImportError:  # Airflow before 3.2
        listeners = importlib.import_module("airflow.listeners.listener")
    listeners.get_listener_manager().add_listener(_Listener())

    from airflow.models.taskinstance import TaskInstance
    from sqlalchemy import event

    @event.listens_for(TaskInstance.state, "set")
    def _record(target: Any, value: Any, old: Any, initiator: Any) -> None:
        if value is None:
            return
        index = getattr(target, "map_index", -1)
        key = target.task_id if index is None or index < 0 else f"{target.task_id}[{index}]"
        seen = recorder.transitions.setdefault(key, [])
        text = _state(value) or ""
        if not seen or seen[-1] != text:
            seen.append(text)

    # dag.test() runs each task through _run_task and each trigger through _run_inline_trigger;
    # the marks around a task split the output into per-task logs.
    dag_module: Any = importlib.import_module("airflow.sdk.definitions.dag")

    run_task: Any = dag_module._run_task
    run_trigger: Any = dag_module._run_inline_trigger

    def _run_task(*, ti: Any, task: Any, run_triggerer: bool = False) -> Any:
        print(f"{MARK} start {ti.task_id} {ti.map_index}", flush=True)
        try:
            return run_task(ti=ti, task=task, run_triggerer=run_triggerer)
        finally:
            print(f"{MARK} end {ti.task_id} {ti.map_index}", flush=True)

    def _run_inline_trigger(trigger: Any, task_sdk_ti: Any) -> Any:
        event_ = run_trigger(trigger, task_sdk_ti)
        recorder.deferrals.append(
            {
                "task_id": str(task_sdk_ti.task_id),
                "map_index": int(task_sdk_ti.map_index if task_sdk_ti.map_index is not None else -1),
                "trigger": f"{type(trigger).__module__}.{type(trigger).__qualname__}",
                "event": _json_safe(getattr(event_, "payload", None)),
            }
        )
        return event_

    dag_module._run_task = _run_task
    dag_module._run_inline_trigger = _run_inline_trigger


def _collect(dag_id: str, run: Any, recorder: _Recorder) -> dict[str, Any]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.variable import Variable
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = session.query(TaskInstance).filter_by(dag_id=dag_id, run_id=run.run_id).all()
        xcoms = session.query(XComModel).filter_by(dag_id=dag_id, run_id=run.run_id).all()
        by_ti: dict[tuple[str, int], dict[str, Any]] = {}
        for x in xcoms:
            by_ti.setdefault((x.task_id, x.map_index), {})[x.key] = _json_safe(XComModel.deserialize_value(x))
        tasks = [
            {
                "task_id": ti.task_id,
                "map_index": ti.map_index,
                "state": _state(ti.state),
                "try_number": ti.try_number,
                "xcom": by_ti.get((ti.task_id, ti.map_index), {}),
            }
            for ti in sorted(tis, key=lambda t: (t.task_id, t.map_index))
        ]
        variables = {v.key: v.val for v in session.query(Variable).all()}
    return {
        "dag_id": dag_id,
        "run_id": run.run_id,
        "state": _state(run.state),
        "tasks": tasks,
        "transitions": recorder.transitions,
        "errors": recorder.errors,
        "deferrals": recorder.deferrals,
        "variables": variables,
    }


def _child(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    result_path = Path(str(spec["result"]))
    dag_file = spec["dag_file"]
    if dag_file:
        folder = os.environ.get("AIRFLOW__CORE__DAGS_FOLDER")
        if not folder or not Path(dag_file).is_relative_to(Path(folder).resolve()):
            # dag.test() finds the DAG it writes to the metadata DB in the DAG folder.
            os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(dag_file).parent)
    try:
        dag = _find_dag(spec["dag_id"], dag_file)
    except DagRunError as exc:
        result_path.write_text(json.dumps({"error": str(exc)}))
        return 1
    recorder = _Recorder()
    _install(recorder)
    kwargs: dict[str, Any] = {"run_conf": spec["conf"]}
    if spec["logical_date"]:
        stamp = datetime.fromisoformat(spec["logical_date"])
        kwargs["logical_date"] = stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)
    run = dag.test(**kwargs)
    result_path.write_text(json.dumps(_collect(spec["dag_id"], run, recorder), default=str))
    return 0
