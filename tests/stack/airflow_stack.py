"""Airflow's own distributed runtime on loopback, for tests, benchmarks and demos.

:class:`Postgres` is a throw-away PostgreSQL server from Debian's ``postgresql`` package
(``initdb`` into a temp folder, ``pg_ctl start`` on a free port). :class:`AirflowStack` runs
real Airflow components as separate OS processes with their own ``AIRFLOW_HOME``: ``api-server``,
``scheduler`` (LocalExecutor), ``dag-processor`` and N ``triggerer`` processes, on PostgreSQL or
(one triggerer) SQLite. Every process it starts, it stops again (also when a test fails).

The settings it writes, and why, are listed in :data:`SETTINGS_DOC` and docs/deployment.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from base64 import urlsafe_b64encode
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import psutil
import sqlalchemy as sa

Database = Literal["postgres", "sqlite"]

#: What each Airflow setting the stack writes is for (Airflow 3.3.2 names; see docs/deployment.md).
SETTINGS_DOC: dict[str, str] = {
    "database.sql_alchemy_conn": "the metadata DB every component shares",
    "database.sql_alchemy_conn_async": (
        "the async URL (api-server, triggerer); Airflow would derive postgresql+asyncpg, "
        "we use psycopg 3 for both"
    ),
    "core.executor": "LocalExecutor: the scheduler forks the workers",
    "core.parallelism": "how many task processes the LocalExecutor runs at once",
    "core.execution_api_server_url": "where workers reach the Execution API (the api-server's /execution/)",
    "api_auth.jwt_secret": "signs the task tokens; scheduler and api-server must share it",
    "api.secret_key": "the api-server's session secret",
    "core.fernet_key": "encrypts connections and trigger kwargs; every component must share it",
    "core.simple_auth_manager_all_admins": "REST calls without a login (loopback only)",
    "core.dags_are_paused_at_creation": "False: DAGs are runnable as soon as they are parsed",
    "triggerer.capacity": "how many triggers one triggerer runs at once",
    "triggerer.job_heartbeat_sec": "how often a triggerer heartbeats its Job row",
    "triggerer.triggerer_health_check_threshold": (
        "seconds without a heartbeat after which a triggerer counts as dead and "
        "the others take over its triggers"
    ),
    "triggerer.max_trigger_to_select_per_loop": (
        "how many triggers one triggerer claims per loop (HA balance)"
    ),
    "dag_processor.refresh_interval": "how often the DAG bundle is looked at for new files",
    "dag_processor.parsing_processes": "parallel parser processes",
}

_CALLER_ENV_PREFIXES = ("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"<no {path.name}>"
    return "\n".join(text.splitlines()[-lines:])


def _wait(what: str, check: Callable[[], Any], timeout: float, interval: float = 0.5) -> Any:
    """Poll ``check`` until it returns something truthy; raise TimeoutError naming ``what``."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
        except (OSError, sa.exc.SQLAlchemyError, ValueError) as exc:
            last_error = exc
        else:
            if value:
                return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what} (last error: {last_error!r})")


# ---- PostgreSQL --------------------------------------------------------------------------------------


def postgres_bin_dir(install: bool = True) -> Path:
    """The folder with Debian's ``initdb``/``pg_ctl``; installs ``postgresql`` with apt if missing
    (only as root and only if ``install``)."""

    def _find() -> Path | None:
        versions = sorted(
            Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name)
        )
        if versions:
            return versions[-1].parent
        found = shutil.which("initdb")
        return Path(found).resolve().parent if found else None

    found = _find()
    if found is None and install and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update"], check=True, env=env, capture_output=True, timeout=600)
        subprocess.run(
            ["apt-get", "install", "-y", "postgresql"], check=True, env=env, capture_output=True, timeout=900
        )
        found = _find()
    if found is None:
        raise RuntimeError(
            "PostgreSQL server binaries not found: install Debian's 'postgresql' package "
            "(apt-get install -y postgresql)"
        )
    return found


class Postgres:
    """A PostgreSQL server in a temp folder, on 127.0.0.1 and a unix socket inside that folder.

    As root it runs as the ``postgres`` user (PostgreSQL refuses to run as root), so the folders
    above ``root`` must be searchable by that user. The database
    ``airflow`` belongs to the superuser ``airflow`` with ``trust`` authentication: only for
    throw-away servers listening on loopback. ``fsync`` is off: the data does not survive a
    crash of the machine, which a test does not need.
    """

    def __init__(self, root: Path | None = None, *, port: int | None = None, max_connections: int = 300):
        self._own_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="exports-pg-")) if root is None else Path(root)
        self.port = port or free_port()
        self.max_connections = max_connections
        self.data = self.root / "data"
        self.socket_dir = self.root / "sock"
        self.log_file = self.root / "postgres.log"
        self.user = "airflow"
        self.database = "airflow"
        self._bin: Path | None = None
        self._started = False
        self._guard: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """SQLAlchemy URL (psycopg 3 driver; also usable with ``create_async_engine``)."""
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{self.database}"

    def _as_owner(self, cmd: Sequence[str]) -> list[str]:
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *cmd]
        return list(cmd)

    def _run(self, cmd: Sequence[str], timeout: float = 120) -> None:
        proc = subprocess.run(self._as_owner(cmd), capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(
                f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}\n"
                f"{_tail(self.log_file)}"
            )

    def start(self) -> Postgres:
        self._bin = postgres_bin_dir()
        self.root.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            import pwd

            owner = pwd.getpwnam("postgres")
            self.root.chmod(0o711)  # the postgres user must reach its folders
            for path in (self.root, self.socket_dir):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        self._run(
            [
                str(self._bin / "initdb"),
                "-D",
                str(self.data),
                "-U",
                self.user,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",
            ]
        )
        options = [
            "-c listen_addresses=127.0.0.1",
            f"-c port={self.port}",
            f"-c unix_socket_directories={self.socket_dir}",
            f"-c max_connections={self.max_connections}",
            "-c fsync=off",
            "-c synchronous_commit=off",
            "-c full_page_writes=off",
        ]
        self._run(
            [
                str(self._bin / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.log_file),
                "-o",
                " ".join(options),
                "-w",
                "-t",
                "60",
                "start",
            ]
        )
        self._started = True
        self._start_guard()
        self._run(
            [
                str(self._bin / "createdb"),
                "-h",
                str(self.socket_dir),
                "-p",
                str(self.port),
                "-U",
                self.user,
                self.database,
            ]
        )
        return self

    def _start_guard(self) -> None:
        """A small process that stops the server if this process dies without stopping it.

        ``pg_ctl start`` detaches the server; the guard (``setpriv --pdeathsig``) gets SIGTERM
        when its parent dies and then runs ``pg_ctl stop -m immediate``.
        """
        if not shutil.which("setpriv") or self._bin is None:
            return
        stop = self._as_owner([str(self._bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"])
        guard = (
            "import signal, subprocess, sys\n"
            "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})\n"
            "signal.sigwait({signal.SIGTERM})\n"
            "subprocess.run(sys.argv[1:], capture_output=True)\n"
        )
        self._guard = subprocess.Popen(
            ["setpriv", "--pdeathsig=TERM", "--", sys.executable, "-c", guard, *stop],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def stop(self) -> None:
        if self._started and self._bin is not None:
            try:
                self._run([str(self._bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"], 60)
            except (RuntimeError, subprocess.TimeoutExpired):
                self._kill_postmaster()
            self._started = False
        if self._guard is not None:
            self._guard.kill()  # the server is stopped: the guard has nothing left to do
            self._guard.wait(10)
            self._guard = None
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    @property
    def pid(self) -> int | None:
        """The postmaster's pid while the server runs (its backends are its children)."""
        try:
            return int((self.data / "postmaster.pid").read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _kill_postmaster(self) -> None:
        """Last resort: SIGKILL the server this object started (its pid from postmaster.pid)."""
        with contextlib.suppress(OSError, ValueError):
            pid = int((self.data / "postmaster.pid").read_text().splitlines()[0])
            os.kill(pid, signal.SIGKILL)

    def __enter__(self) -> Postgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ---- Airflow components ------------------------------------------------------------------------------


@dataclass
class Component:
    """One Airflow process: its command, its log file and (while it runs) its Popen."""

    name: str
    args: list[str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    job_id: int | None = None
    #: Set when the stack stopped or killed it on purpose (its exit is not an error).
    stopped: bool = False
    #: CPU seconds of earlier processes under this name (a restarted triggerer's dead one).
    cpu_of_dead: float = 0.0
    #: Its process group has been killed and reaped: never signal that group id again.
    finished: bool = False
    #: A triggerer's ``--capacity`` (None for the other components).
    capacity: int | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class StackOptions:
    """How to configure a stack; ``settings`` overrides any ``(section, key)``."""

    dags_folder: Path
    database: Database = "postgres"
    triggerers: int = 2
    parallelism: int = 8
    triggerer_capacity: int = 1000
    #: ``--capacity`` of single triggerers by index, instead of ``triggerer_capacity``.
    triggerer_capacities: Mapping[int, int] = field(default_factory=dict)
    triggerer_heartbeat_sec: int = 2
    triggerer_health_check_threshold: int = 10
    env: Mapping[str, str] = field(default_factory=dict)
    settings: Mapping[tuple[str, str], str] = field(default_factory=dict)
    root: Path | None = None
    #: Keep the temp folder (logs, AIRFLOW_HOME) after stopping; also set by EXPORTS_KEEP_STACK=1.
    keep: bool = field(default_factory=lambda: os.environ.get("EXPORTS_KEEP_STACK") == "1")


class AirflowStack:
    """Real Airflow components on loopback (see the module docstring).

    ``with AirflowStack(StackOptions(dags_folder=...)) as stack:`` starts everything and
    stops everything. Helpers trigger DAG runs over the REST API and read task instances, the
    ``trigger`` table and the ``job`` table straight from the metadata DB.
    """

    def __init__(self, options: StackOptions) -> None:
        if options.database == "sqlite" and options.triggerers != 1:
            raise ValueError("SQLite supports one triggerer (no row locks to share triggers)")
        self.options = options
        self.root = Path(options.root or tempfile.mkdtemp(prefix="exports-stack-"))
        self.home = self.root / "home"
        self.logs = self.root / "component-logs"
        self.api_port = free_port()
        self.postgres: Postgres | None = None
        self.components: dict[str, Component] = {}
        self.env: dict[str, str] = {}
        self._engine: sa.Engine | None = None
        # Shared by every component; made once per stack.
        self._secrets = {
            ("core", "fernet_key"): urlsafe_b64encode(secrets.token_bytes(32)).decode(),
            ("api", "secret_key"): secrets.token_urlsafe(32),
            ("api_auth", "jwt_secret"): secrets.token_urlsafe(64),  # HS512 wants 64+ bytes
        }

    # ---- configuration ---------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def db_url(self) -> str:
        if self.postgres is not None:
            return self.postgres.url
        return f"sqlite:///{self.home / 'airflow.db'}"

    def settings(self) -> dict[tuple[str, str], str]:
        """Every Airflow setting the components get (as ``AIRFLOW__SECTION__KEY``)."""
        opts = self.options
        values: dict[tuple[str, str], str] = {
            ("database", "sql_alchemy_conn"): self.db_url,
            ("core", "executor"): "LocalExecutor",
            ("core", "parallelism"): str(opts.parallelism),
            ("core", "dags_folder"): str(opts.dags_folder),
            ("core", "load_examples"): "False",
            ("core", "dags_are_paused_at_creation"): "False",
            ("core", "execution_api_server_url"): f"{self.api_url}/execution/",
            ("core", "simple_auth_manager_all_admins"): "True",
            ("api", "base_url"): self.api_url,
            ("api", "workers"): "1",
            ("logging", "base_log_folder"): str(self.home / "logs"),
            ("triggerer", "capacity"): str(opts.triggerer_capacity),
            ("triggerer", "job_heartbeat_sec"): str(opts.triggerer_heartbeat_sec),
            ("triggerer", "triggerer_health_check_threshold"): str(opts.triggerer_health_check_threshold),
            ("dag_processor", "refresh_interval"): "5",
            ("dag_processor", "parsing_processes"): "1",
            ("scheduler", "enable_health_check"): "False",
            **self._secrets,
        }
        if self.postgres is not None:
            values[("database", "sql_alchemy_conn_async")] = self.postgres.url
        values.update(opts.settings)
        return values

    def _build_env(self) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(_CALLER_ENV_PREFIXES)}
        base.pop("AIRFLOW_HOME", None)
        env = {**base, "AIRFLOW_HOME": str(self.home), "PYTHONUNBUFFERED": "1"}
        for (section, key), value in self.settings().items():
            env[f"AIRFLOW__{section.upper()}__{key.upper()}"] = value
        env.update(self.options.env)
        return env

    # ---- lifecycle -------------------------------------------------------------------------------

    def start(self) -> AirflowStack:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self.home.mkdir(mode=0o700, parents=True, exist_ok=True)  # holds the stack's secrets
        self.logs.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self.options.database == "postgres":
            self.root.chmod(0o711)  # PostgreSQL runs as another user below this folder
            self.postgres = Postgres(self.root / "pg").start()
        self.env = self._build_env()
        (self.home / "stack.env").write_text(
            "".join(f"export {k}={json.dumps(v)}\n" for k, v in sorted(self.env.items()) if "AIRFLOW" in k)
        )
        migrate = subprocess.run(
            [*self._airflow(), "db", "migrate"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
            cwd=self.home,
        )
        if migrate.returncode != 0:
            raise RuntimeError(
                f"airflow db migrate failed:\n{migrate.stdout[-3000:]}\n{migrate.stderr[-3000:]}"
            )
        self._launch(
            "api-server",
            ["api-server", "--host", "127.0.0.1", "--port", str(self.api_port), "--workers", "1"],
        )
        self._launch("scheduler", ["scheduler", "--skip-serve-logs"])
        self._launch("dag-processor", ["dag-processor"])
        _wait("the api-server", self._api_healthy, 180)
        for index in range(self.options.triggerers):
            self.start_triggerer(index)

    def stop(self) -> None:
        """Stop every component (SIGTERM, then SIGKILL after 30 s), then the database."""
        for component in reversed(list(self.components.values())):
            self._terminate(component)
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
        if self.postgres is not None:
            self.postgres.stop()
        if not self.options.keep and self.options.root is None:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> AirflowStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @staticmethod
    def _airflow() -> list[str]:
        return [sys.executable, "-m", "airflow"]

    @staticmethod
    def _parent_death_signal() -> list[str]:
        """``setpriv --pdeathsig TERM``: a component is told to stop if this process dies
        without stopping it (e.g. SIGKILLed), instead of running on orphaned."""
        return ["setpriv", "--pdeathsig=TERM", "--"] if shutil.which("setpriv") else []

    def _launch(self, name: str, args: list[str]) -> Component:
        component = Component(name=name, args=args, log_path=self.logs / f"{name}.log")
        if name in self.components:
            component.cpu_of_dead = self.components[name].cpu_of_dead
        with component.log_path.open("ab") as log:
            log.write(f"\n==== {time.strftime('%H:%M:%S')} starting {name}\n".encode())
            log.flush()
            component.proc = subprocess.Popen(
                [*self._parent_death_signal(), *self._airflow(), *args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.home,
                start_new_session=True,  # its own process group: we stop its children with it
            )
        self.components[name] = component
        return component

    @staticmethod
    def _signal_group(component: Component, sig: signal.Signals) -> None:
        if component.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(component.proc.pid, sig)

    def _terminate(self, component: Component, timeout: float = 30) -> None:
        proc = component.proc
        if proc is None or component.finished:
            return
        component.stopped = True
        if proc.poll() is None:
            self._signal_group(component, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout)
        # Children (task runners, the trigger runner) may outlive their parent: end the group.
        self._signal_group(component, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)
        component.finished = True

    # ---- triggerers ------------------------------------------------------------------------------

    def triggerer(self, index: int) -> Component:
        return self.components[f"triggerer-{index}"]

    def start_triggerer(self, index: int, timeout: float = 120, *, capacity: int | None = None) -> Component:
        """Start triggerer ``index`` and wait for its Job row; ``.job_id`` tells which one it is.

        ``capacity`` (``--capacity``) defaults to ``triggerer_capacities[index]``, else
        ``triggerer_capacity``."""
        if capacity is None:
            capacity = self.options.triggerer_capacities.get(index, self.options.triggerer_capacity)
        known = {row["id"] for row in self.triggerer_jobs()}
        component = self._launch(
            f"triggerer-{index}",
            ["triggerer", "--skip-serve-logs", "--capacity", str(capacity)],
        )
        component.capacity = capacity

        def _new_job() -> int | None:
            if not component.alive():
                raise RuntimeError(f"triggerer-{index} exited:\n{_tail(component.log_path)}")
            fresh = [r["id"] for r in self.triggerer_jobs() if r["id"] not in known and r["end_date"] is None]
            return fresh[0] if fresh else None

        component.job_id = _wait(f"triggerer-{index}'s job row", _new_job, timeout)
        return component

    def kill_triggerer(self, index: int, sig: signal.Signals = signal.SIGKILL) -> int:
        """Send ``sig`` (default SIGKILL, as a lost machine) to triggerer ``index`` and all its
        children (SIGKILL follows after 30 s); returns the dead triggerer's job id."""
        component = self.triggerer(index)
        assert component.proc is not None and component.job_id is not None
        component.stopped = True
        component.cpu_of_dead += tree_cpu_seconds(component.proc.pid)
        self._signal_group(component, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            component.proc.wait(30)
        self._signal_group(component, signal.SIGKILL)  # whatever of the group is left
        component.proc.wait(10)
        component.finished = True
        return component.job_id

    def stop_triggerer(self, index: int, timeout: float = 30) -> None:
        """Stop triggerer ``index`` cleanly: SIGTERM (its job gets an ``end_date``), then SIGKILL
        for whatever of its process group is left after ``timeout`` seconds."""
        component = self.triggerer(index)
        if component.alive() and component.proc is not None:
            component.cpu_of_dead += tree_cpu_seconds(component.proc.pid)
        self._terminate(component, timeout)

    def restart_triggerer(self, index: int, *, capacity: int | None = None) -> Component:
        """Start triggerer ``index`` again (after :meth:`kill_triggerer`); a new job id.
        ``capacity`` as in :meth:`start_triggerer`."""
        component = self.triggerer(index)
        if component.alive():
            self._terminate(component)
        return self.start_triggerer(index, capacity=capacity)

    # ---- REST API --------------------------------------------------------------------------------

    def rest(self, method: str, path: str, body: Any = None, timeout: float = 30) -> Any:
        """Call the public REST API (``/api/v2/...``); returns the decoded JSON."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.api_url}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"{method} {path}: HTTP {exc.code}: {exc.read()[:2000]!r}") from exc
        return json.loads(raw) if raw else None

    def _api_healthy(self) -> bool:
        for component in self.components.values():
            if component.name != "api-server" and not component.name.startswith("triggerer"):
                continue
            if not component.alive():
                raise RuntimeError(f"{component.name} exited:\n{_tail(component.log_path)}")
        try:
            health = self.rest("GET", "/api/v2/monitor/health", timeout=5)
        except (OSError, RuntimeError):
            return False
        return bool(health.get("metadatabase", {}).get("status") == "healthy")

    def wait_for_dag(self, dag_id: str, timeout: float = 180) -> None:
        """Wait until the dag-processor has parsed and serialized ``dag_id``."""

        def _parsed() -> bool:
            self.check_alive()
            rows = self.query(
                "SELECT d.dag_id FROM dag d JOIN serialized_dag s ON s.dag_id = d.dag_id "
                "WHERE d.dag_id = :dag_id AND NOT d.is_stale",
                dag_id=dag_id,
            )
            return bool(rows)

        try:
            _wait(f"DAG {dag_id} to be parsed", _parsed, timeout, interval=1)
        except TimeoutError as exc:
            errors = self.query("SELECT filename, stacktrace FROM import_error")
            raise TimeoutError(f"{exc}; import errors: {errors}\n{self.diagnostics()}") from exc

    def trigger_dag(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> str:
        """Start a manual DAG run through the REST API; returns its run id."""
        run = self.rest("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf or {}})
        run_id: str = run["dag_run_id"]
        return run_id

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float, interval: float = 2) -> str:
        """Wait for a DAG run to end; returns its final state (``success``/``failed``)."""

        def _done() -> str | None:
            self.check_alive()
            rows = self.query(
                "SELECT state FROM dag_run WHERE dag_id = :d AND run_id = :r", d=dag_id, r=run_id
            )
            state = rows[0]["state"] if rows else None
            return state if state in ("success", "failed") else None

        try:
            result: str = _wait(f"run {run_id} of {dag_id}", _done, timeout, interval)
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}\n{self.diagnostics()}") from exc
        return result

    # ---- metadata DB -----------------------------------------------------------------------------

    @property
    def engine(self) -> sa.Engine:
        if self._engine is None:
            self._engine = sa.create_engine(self.db_url, pool_size=2, max_overflow=2, pool_pre_ping=True)
        return self._engine

    def query(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        """Run a read query on the metadata DB; rows as dicts."""
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(sa.text(sql), params)]

    def task_instances(self, dag_id: str, run_id: str, task_id: str | None = None) -> list[dict[str, Any]]:
        """The run's task instances (state, try_number, trigger_id, hostname, pid, dates...)."""
        sql = (
            "SELECT id, task_id, map_index, state, try_number, max_tries, hostname, pid, trigger_id, "
            "next_method, queued_dttm, start_date, end_date FROM task_instance "
            "WHERE dag_id = :d AND run_id = :r"
        )
        params: dict[str, Any] = {"d": dag_id, "r": run_id}
        if task_id is not None:
            sql += " AND task_id = :t"
            params["t"] = task_id
        return self.query(sql + " ORDER BY task_id, map_index", **params)

    def task_instance_history(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Earlier tries of the run's task instances (rows appear on retries and clears)."""
        return self.query(
            "SELECT task_id, map_index, try_number, state FROM task_instance_history "
            "WHERE dag_id = :d AND run_id = :r",
            d=dag_id,
            r=run_id,
        )

    def triggers(self) -> list[dict[str, Any]]:
        """Rows of the ``trigger`` table, with the task instance each one belongs to."""
        return self.query(
            "SELECT t.id, t.classpath, t.triggerer_id, t.created_date, ti.task_id, ti.map_index, ti.run_id "
            "FROM trigger t LEFT JOIN task_instance ti ON ti.trigger_id = t.id ORDER BY t.id"
        )

    def triggerer_jobs(self) -> list[dict[str, Any]]:
        """TriggererJob rows (id, state, latest_heartbeat, end_date)."""
        return self.query(
            "SELECT id, state, latest_heartbeat, start_date, end_date FROM job "
            "WHERE job_type = 'TriggererJob' ORDER BY id"
        )

    # ---- diagnostics -----------------------------------------------------------------------------

    def check_alive(self) -> None:
        """Raise if a component that should be running has exited."""
        for component in self.components.values():
            if component.proc is not None and component.proc.poll() is not None and not component.stopped:
                raise RuntimeError(
                    f"{component.name} exited with {component.proc.returncode}:\n{_tail(component.log_path)}"
                )

    def wait_until(self, what: str, check: Callable[[], bool], timeout: float) -> None:
        """Poll ``check`` every second until it holds; fail naming ``what`` (with every
        component's log) after ``timeout`` seconds, or at once if a component exited."""
        deadline = time.monotonic() + timeout
        while not check():
            self.check_alive()
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}\n{self.diagnostics()}")
            time.sleep(1)

    def diagnostics(self, lines: int = 30) -> str:
        """The end of every component's log, for failure messages."""
        return "\n".join(
            f"---- {c.name} ({c.log_path}):\n{_tail(c.log_path, lines)}" for c in self.components.values()
        )

    def task_log(
        self, dag_id: str, run_id: str, task_id: str, map_index: int = -1, try_number: int = 1
    ) -> str:
        """A task attempt's log file as the worker (and the triggerer) wrote it."""
        folder = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        if map_index >= 0:
            folder = folder / f"map_index={map_index}"
        parts = sorted(folder.glob(f"attempt={try_number}.log*"))
        return "\n".join(p.read_text(errors="replace") for p in parts)


def process_tree(pid: int) -> list[psutil.Process]:
    """A process and all its descendants (empty if it is gone)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a live process tree, including children it has reaped (finished tasks)."""
    total = 0.0
    for proc in process_tree(pid):
        with contextlib.suppress(psutil.Error):
            t = proc.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
    return total


class ResourceMonitor:
    """Samples every component's process tree (and PostgreSQL's): CPU seconds (including reaped
    children, such as finished task processes) and the peak memory of the tree."""

    def __init__(self, stack: AirflowStack, interval: float = 0.5) -> None:
        self.stack = stack
        self.interval = interval
        #: Peak of the summed RSS of each tree (shared pages of forked workers count once per
        #: process) and of the summed PSS (shared pages split between the processes sharing them).
        self.peak_rss: dict[str, int] = {}
        self.peak_pss: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _roots(self) -> dict[str, int]:
        roots = {n: c.pid for n, c in self.stack.components.items() if c.pid is not None and c.alive()}
        if self.stack.postgres is not None and self.stack.postgres.pid is not None:
            roots["postgres"] = self.stack.postgres.pid
        return roots

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds (user + system) used so far by each component's processes (and PostgreSQL's)."""
        out = {name: component.cpu_of_dead for name, component in self.stack.components.items()}
        for name, pid in self._roots().items():
            out[name] = out.get(name, 0.0) + tree_cpu_seconds(pid)
        return out

    def sample(self) -> None:
        for name, pid in self._roots().items():
            rss = pss = 0
            for proc in process_tree(pid):
                with contextlib.suppress(psutil.Error):
                    info = proc.memory_full_info()
                    rss += info.rss
                    pss += getattr(info, "pss", info.rss)
            self.peak_rss[name] = max(self.peak_rss.get(name, 0), rss)
            self.peak_pss[name] = max(self.peak_pss.get(name, 0), pss)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> ResourceMonitor:
        self.sample()
        self._thread = threading.Thread(target=self._loop, name="stack-monitor", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)


@contextlib.contextmanager
def running_stack(options: StackOptions) -> Iterator[AirflowStack]:
    """``with running_stack(options) as stack``: start, yield, always stop."""
    stack = AirflowStack(options)
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()
