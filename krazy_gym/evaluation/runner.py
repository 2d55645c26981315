"""The evaluation runner: drives any :class:`MetaAgent` through a benchmark's protocol.

Work is cut into **units** — one seed × one batch of at most ``batch_size`` consecutive test
tasks. A unit builds (or reuses) a vector env of ``len(batch)`` sub-envs, gives each sub-env
its task, creates a fresh agent from the factory (``seed=`` derived from the run seed and the
batch) and runs the protocol in lockstep. Everything random in a unit is derived from (run
seed, task index, phase) or (run seed, batch start), never from which process runs it, so
``workers=1``, ``workers=N`` and ``engine="ray"`` give byte-identical ``returns`` and
``exploration_metrics``.

    >>> from krazy_gym.evaluation import evaluate
    >>> results = evaluate("krazy_gym.evaluation.agents:random_agent", "KrazyWorld-Hard",
    ...                    seeds=5)                                      # doctest: +SKIP
    >>> results["aggregates"]["normalised_iqm"]                         # doctest: +SKIP

Each phase (explore, then exploit) starts with ``reset(seed=...)`` of every sub-env with a seed
that depends only on (run seed, task index, phase) (:func:`phase_seed`); inside a phase
episodes follow each other through same-step autoreset. Box actions are clipped to the action space (as
stable-baselines3 does); a wrongly shaped, non-finite or out-of-range discrete action is an
:class:`AgentError` naming the agent, the task and the step.
"""

from __future__ import annotations

import atexit
import datetime as _dt
import functools
import hashlib
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from krazy_gym.evaluation.agents import (
    AgentSpecError,
    accepts_active,
    agent_name,
    load_factory,
    make_agent,
    resolve_agent_spec,
)
from krazy_gym.evaluation.benchmarks import Benchmark, get_benchmark
from krazy_gym.evaluation.exploration import MetricRecorder
from krazy_gym.evaluation.results import (
    SCHEMA_VERSION,
    as_lists,
    check_output_file,
    seal_results,
    validate_results,
    write_json_atomic,
    write_results,
)

ENGINES = ("local", "ray")
PHASES = ("explore", "exploit")


class EvaluationError(RuntimeError):
    """The evaluation could not finish (the message says where partial results are)."""


class AgentError(EvaluationError):
    """The agent raised or returned an invalid action (names agent, task and step)."""


class AgentTimeout(BaseException):
    """Raised inside an agent call that ran longer than ``agent_timeout`` seconds.

    A ``BaseException`` (like ``KeyboardInterrupt``) so that an agent's ``except Exception``
    cannot swallow it; the harness turns it into an :class:`AgentError`.
    """

    def __init__(self, seconds: float) -> None:
        super().__init__(seconds)
        self.seconds = seconds


#: What an agent call may raise that the harness reports as the agent's failure. SystemExit
#: and KeyboardInterrupt are included: an agent calling ``sys.exit()`` (or interrupted inside
#: its own code) must not end the run as if it had succeeded.
AGENT_FAILURES: tuple[type[BaseException], ...] = (
    Exception, SystemExit, KeyboardInterrupt, AgentTimeout,
)


def _agent_failure(label: str, method: str, where: str, exc: BaseException) -> AgentError:
    """The :class:`AgentError` for ``exc`` raised by ``method`` of agent ``label`` at ``where``."""
    if isinstance(exc, AgentTimeout):
        return AgentError(
            f"agent {label} did not return from {method}() within {exc.seconds:g} s "
            f"(--agent-timeout) at {where}"
        )
    return AgentError(f"agent {label} raised {type(exc).__name__} in {method}() at {where}: {exc}")


# -- per-call timeout (worker processes) --------------------------------------------------------


def hard_limit(seconds: float) -> float:
    """Seconds after which an agent call that ``agent_timeout=seconds`` could not interrupt
    ends its worker process."""
    return 2 * seconds + 2.0


class _Watchdog:
    """Interrupts an agent call that runs longer than ``seconds`` (in a worker process).

    Agent calls are wrapped by :meth:`guard`, which records when the call started. A daemon
    thread polls that time; when a call is over time it sends ``SIGUSR1`` to the main thread,
    whose handler raises :class:`AgentTimeout` inside the call (a blocking sleep or wait is
    interrupted too). Compiled code that holds the GIL and never returns to the interpreter
    cannot be interrupted (nor can the thread run): for it each call also arms a kernel
    timer, ``setitimer(ITIMER_REAL)`` with ``SIGALRM`` at its default action, which ends the
    worker process after :func:`hard_limit` seconds; the parent then reports the dead
    worker. POSIX only; runs only in worker processes, never in the caller's process.
    """

    def __init__(self, seconds: float) -> None:
        import signal

        self.seconds = float(seconds)
        self.started: float | None = None
        self.method = ""
        self._main = threading.main_thread().ident
        signal.signal(signal.SIGUSR1, self._raise)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)  # the hard limit ends the process
        threading.Thread(target=self._watch, name="krazy-gym-agent-timeout", daemon=True).start()

    def _raise(self, signum, frame) -> None:
        if self.started is not None:  # (a late signal after the call returned is ignored)
            raise AgentTimeout(self.seconds)

    def guard(self, method: str, fn: Callable) -> Callable:
        """``fn`` with its running time watched."""
        import signal

        setitimer, real = signal.setitimer, signal.ITIMER_REAL

        def call(*args, **kwargs):
            self.method = method
            self.started = time.monotonic()
            setitimer(real, hard_limit(self.seconds))
            try:
                return fn(*args, **kwargs)
            finally:
                setitimer(real, 0)
                self.started = None

        return call

    def _watch(self) -> None:
        import signal

        poll = min(0.1, self.seconds / 4)
        signalled = None
        while True:
            time.sleep(poll)
            started = self.started
            if started is None or started is signalled or time.monotonic() - started <= self.seconds:
                continue
            signalled = started  # once per call
            signal.pthread_kill(self._main, signal.SIGUSR1)


_WATCHDOG: list[_Watchdog] = []  # at most one per (worker) process


def _watchdog(seconds: float | None) -> _Watchdog | None:
    if seconds is None:
        return None
    if not _WATCHDOG:
        _WATCHDOG.append(_Watchdog(seconds))
    _WATCHDOG[0].seconds = float(seconds)
    return _WATCHDOG[0]


# -- seeds ---------------------------------------------------------------------------------------


def _derive(seed: int, *key: int) -> int:
    """A 32-bit seed from ``seed`` and ``key`` (sha256: stable across machines and versions)."""
    text = ":".join(str(int(k)) for k in (seed, *key))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")


def phase_seed(run_seed: int, task_index: int, phase: int) -> int:
    """The ``reset(seed=...)`` of test task ``task_index`` at the start of ``phase``
    (0 = explore, 1 = exploit): a distinct int per (run seed, task, phase). Gymnasium turns it
    into a generator through ``SeedSequence``, which decorrelates neighbouring ints."""
    return (int(run_seed) * 1_000_003 + int(task_index)) * 2 + int(phase)


def agent_seed(run_seed: int, task_index: int) -> int:
    """The ``seed=`` given to the agent factory for the batch whose first row is
    (``run_seed``, ``task_index``)."""
    return _derive(run_seed, 1_000_003, task_index)


# -- units -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Unit:
    """One batch of (seed, test task) rows run in lockstep by one agent instance.

    Rows are consecutive in the seed-major list of all (seed, task) pairs, so a unit may span
    seeds (a bigger batch amortises the per-step cost of the harness over more envs).
    """

    index: int
    rows: tuple[tuple[int, int, int], ...]  # (seed index, seed, task index) per row

    @functools.cached_property
    def task_indices(self) -> tuple[int, ...]:
        return tuple(r[2] for r in self.rows)

    @functools.cached_property
    def seeds(self) -> tuple[int, ...]:
        return tuple(r[1] for r in self.rows)


@dataclass
class UnitResult:
    index: int
    rows: tuple[tuple[int, int], ...]  # (seed index, task index) per row
    returns: Any  # rows × episodes (numpy array in process, lists after JSON)
    metrics: dict[str, Any]  # name -> rows × episodes
    env_steps: int
    seconds: float = field(default=0.0)
    vector_steps: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "rows": [list(r) for r in self.rows],
            "returns": np.asarray(self.returns).tolist(),
            "metrics": {k: np.asarray(v).tolist() for k, v in self.metrics.items()},
            "env_steps": self.env_steps,
            "seconds": self.seconds,
            "vector_steps": self.vector_steps,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> UnitResult:
        return cls(
            d["index"], tuple(tuple(r) for r in d["rows"]), d["returns"], d["metrics"],
            d["env_steps"], d.get("seconds", 0.0), d.get("vector_steps", 0),
        )


def make_units(benchmark: Benchmark, seeds: Sequence[int], batch_size: int) -> list[Unit]:
    """The seed-major (seed, task) pairs cut into consecutive batches of ``batch_size``."""
    pairs = [(si, int(s), t) for si, s in enumerate(seeds) for t in range(benchmark.num_test_tasks)]
    return [
        Unit(k, tuple(pairs[start : start + batch_size]))
        for k, start in enumerate(range(0, len(pairs), batch_size))
    ]


# -- vector envs -----------------------------------------------------------------------------------

_ENV_CACHE: dict[str, Any] = {}
#: id(cached vector env) -> (benchmark hash, task indices) it holds after a finished unit
_ENV_TASKS: dict[int, tuple] = {}


def _close_cached_envs() -> None:
    while _ENV_CACHE:
        _, env = _ENV_CACHE.popitem()
        try:
            env.close()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass


atexit.register(_close_cached_envs)


def make_vector_env(benchmark: Benchmark, num_envs: int):
    """The benchmark's vector env with ``num_envs`` sub-envs and same-step autoreset.

    Cached per process (a unit resets every sub-env with an explicit seed and task before
    use, so reuse cannot leak state between units).
    """
    import gymnasium as gym
    from gymnasium.vector import AutoresetMode

    import krazy_gym  # noqa: F401  (registers the ids)

    key = json.dumps([benchmark.env_id, benchmark.env_kwargs, benchmark.vectorization, num_envs], sort_keys=True)
    env = _ENV_CACHE.get(key)
    if env is not None:
        return env
    if benchmark.vectorization == "vector_entry_point":
        env = gym.make_vec(
            benchmark.env_id, num_envs=num_envs, vectorization_mode="vector_entry_point",
            **benchmark.env_kwargs,
        )
    else:
        env = gym.make_vec(
            benchmark.env_id, num_envs=num_envs, vectorization_mode=benchmark.vectorization,
            vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP}, **benchmark.env_kwargs,
        )
    mode = env.metadata.get("autoreset_mode")
    if mode is not None and mode != AutoresetMode.SAME_STEP and str(mode) != "same-step":
        env.close()
        raise EvaluationError(
            f"{benchmark.env_id}: the harness needs same-step autoreset, the env uses {mode}"
        )
    _ENV_CACHE[key] = env
    return env


# -- action checks ----------------------------------------------------------------------------------


_INT64, _UINT64 = np.dtype(np.int64), np.dtype(np.uint64)


class _ActionChecker:
    """Validates a batch of actions against the single-env action space (vectorised)."""

    def __init__(self, space) -> None:
        from gymnasium import spaces

        self.space = space
        self.kind = "other"
        self.fast = False
        if isinstance(space, spaces.Discrete):
            self.kind = "discrete"
            self.low, self.high = int(space.start), int(space.start + space.n)
            self.noop = np.int64(space.start)
            self.fast = self.low == 0
            self._high_u64 = np.uint64(self.high)
        elif isinstance(space, spaces.Box):
            self.kind = "box"
            self.noop = np.clip(np.zeros(space.shape, dtype=space.dtype), space.low, space.high)
        else:
            self.noop = space.sample()

    def check(
        self, action: Any, n: int, active: np.ndarray, all_active: bool = False
    ) -> tuple[np.ndarray, int | None, str]:
        """(actions to step with, first bad row (None: the whole batch), reason or "")."""
        if (
            self.fast
            and type(action) is np.ndarray
            and action.dtype is _INT64
            and action.shape == (n,)
            and not np.count_nonzero(action.view(_UINT64) >= self._high_u64)
        ):
            return action, None, ""  # Discrete(n) with start 0 and int64 actions: one comparison
        a = np.asarray(action)
        if self.kind == "discrete" and a.shape == (n,) and a.dtype.kind in "iu":
            # the common case in one comparison: (a - low) as unsigned is < n iff low <= a < high
            # (idle rows step with the agent's action: their envs are reset before reuse)
            a = a.astype(np.int64, copy=False)
            shifted = a - self.low if self.low else a
            if not np.count_nonzero(shifted.view(np.uint64) >= self.high - self.low):
                return a, None, ""
        expected = (n, *self.space.shape) if self.space.shape is not None else (n,)
        if self.kind == "discrete":
            if a.shape != (n,):
                return a, None, f"actions must have shape {(n,)}, got {a.shape}"
            if a.dtype.kind not in "iu":
                if a.dtype.kind == "f" and np.all(np.isfinite(a)) and np.all(a == np.round(a)):
                    a = a.astype(np.int64)
                else:
                    return a, None, f"discrete actions must be integers, got dtype {a.dtype}"
            bad = ((a < self.low) | (a >= self.high)) & active
            if bad.any():
                row = int(np.argmax(bad))
                return a, row, f"action {a[row]!r} is outside Discrete({self.high - self.low}, start={self.low})"
            if not active.all():
                a = np.where(active, a, self.noop)
            return a, None, ""
        if self.kind == "box":
            if a.shape != expected:
                return a, None, f"actions must have shape {expected}, got {a.shape}"
            finite = np.isfinite(a).reshape(n, -1).all(axis=1)
            bad = ~finite & active
            if bad.any():
                row = int(np.argmax(bad))
                return a, row, f"action {a[row]!r} is not finite"
            a = np.clip(a, self.space.low, self.space.high).astype(self.space.dtype, copy=False)
            if not active.all():
                a = a.copy()
                a[~active] = self.noop
            return a, None, ""
        if len(a) != n:
            return a, None, f"expected {n} actions, got {len(a)}"
        for row in range(n):
            if active[row] and not self.space.contains(a[row]):
                return a, row, f"action {a[row]!r} is not in {self.space}"
        a = a.copy()
        a[~active] = self.noop
        return a, None, ""


# -- running one unit -----------------------------------------------------------------------------


@dataclass
class _Context:
    agent_label: str
    unit: Unit

    def where(self, phase: str, episode: Any, step: int, row: int | None = None) -> str:
        rows = self.unit.rows
        if row is not None or len(rows) == 1:
            _, seed, task = rows[row or 0]
            what = f"test task {task}, seed {seed}"
        else:
            first, last = rows[0], rows[-1]
            seeds = f"seed {first[1]}" if first[1] == last[1] else f"seeds {first[1]}-{last[1]}"
            what = f"test tasks {first[2]}-{last[2]} (batch of {len(rows)}), {seeds}"
        ep = f", episode {episode}" if episode is not None else ""
        return f"{what}, {phase} phase{ep}, step {step}"


def _call_agent(ctx: _Context, method: str, fn: Callable, where: tuple, *args, **kwargs):
    """``fn(*args, **kwargs)``; any failure (:data:`AGENT_FAILURES`) becomes an AgentError at
    ``ctx.where(*where)``."""
    try:
        return fn(*args, **kwargs)
    except AGENT_FAILURES as exc:
        raise _agent_failure(ctx.agent_label, method, ctx.where(*where), exc) from exc


#: most episode-end steps :class:`_EpisodeLog` buffers before it flushes
_LOG_CAPACITY = 64


class _EpisodeLog:
    """Per-phase episode bookkeeping with a few whole-row numpy calls per env step.

    Per step the runner adds the rewards to ``ep_return``; at a step where some rows'
    episodes end it calls :meth:`end_step`, which snapshots whole rows (returns so far,
    episodes still to run, the ended mask, the final-info columns) into preallocated buffers
    and resets the finished rows. :meth:`flush` (when the buffers are full and at the end of
    the phase) turns the snapshots into ``returns[row, episode]``, episode lengths and the
    recorder's metrics with a few vectorised gathers. The values are those of a per-row
    Python loop: an episode's return is the float64 sum of its rewards in step order,
    starting from 0.0.
    """

    def __init__(self, rows: int, recorder: MetricRecorder, returns: np.ndarray) -> None:
        self.rows = rows
        self.recorder = recorder
        self.returns_flat = returns.reshape(-1)
        self.episodes = returns.shape[1]
        self.info_keys = recorder.info_keys
        # state[0]: return of the running episode; state[1]: episodes of the phase still to
        # run (small ints: exact in float64); 0 = the row is idle
        self.state = np.zeros((2, rows), dtype=np.float64)
        self.ep_return, self.remaining = self.state
        # buffers of a few hundred kB at most (flushed when full), for at least 8 end steps
        per_step = rows * (3 + len(self.info_keys))
        self.capacity = max(1, min(_LOG_CAPACITY, max(8, 50_000 // max(per_step, 1))))
        self.snap = np.empty((self.capacity, 2, rows), dtype=np.float64)
        self.ended = np.empty((self.capacity, rows), dtype=bool)
        self.infos = np.zeros((self.capacity, len(self.info_keys), rows), dtype=np.float64)
        self.terminated = (
            np.empty((self.capacity, rows), dtype=bool) if recorder.needs_terminated else None
        )
        self.end_steps: list[int] = []
        self.last_end = np.full(rows, -1, dtype=np.int64)  # each row's last flushed end step
        self.n_eps = 0
        self.first_episode = 0

    def start_phase(self, first_episode: int, n_eps: int) -> None:
        """A new phase of ``n_eps`` episodes per row, numbered from ``first_episode``."""
        self.flush()
        self.ep_return[:] = 0.0
        self.remaining[:] = n_eps
        self.last_end[:] = -1
        self.n_eps = n_eps
        self.first_episode = first_episode

    def end_step(self, step: int, ended: np.ndarray, finished: np.ndarray, final_infos: Any,
                 terminated: np.ndarray) -> None:
        """Rows ``finished`` (mask ``ended``) ended an episode at ``step`` (0-based)."""
        j = len(self.end_steps)
        self.snap[j] = self.state
        self.ended[j] = ended
        self.end_steps.append(step)
        if self.info_keys:
            self.recorder.read_infos(self.infos[j], final_infos, finished)
        if self.terminated is not None:
            self.terminated[j] = terminated
        self.ep_return[ended] = 0.0  # the next episodes start from 0
        self.remaining -= ended
        if j + 1 == self.capacity:
            self.flush()

    def done_episodes(self, row: int | None = None) -> int:
        """Episodes of this phase finished by ``row`` (by every row if None)."""
        left = self.remaining.max() if row is None else self.remaining[row]
        return self.n_eps - int(left)

    def episode_start(self, row: int) -> int:
        """The step at which ``row``'s running episode began (for error messages)."""
        n = len(self.end_steps)
        ends = np.flatnonzero(self.ended[:n, row]) if n else ()
        return self.end_steps[ends[-1]] + 1 if len(ends) else int(self.last_end[row]) + 1

    def flush(self) -> None:
        """Move the buffered episode ends into ``returns`` and the recorder."""
        n = len(self.end_steps)
        if not n:
            return
        js, rs = self.ended[:n].nonzero()  # step-major order
        snap = self.snap[:n]
        ret = snap[js, 0, rs]
        eps = (self.n_eps - snap[js, 1, rs]).astype(np.int64) + self.first_episode
        # lengths: steps since the row's previous end (events of a row are in step order)
        steps = np.asarray(self.end_steps, dtype=np.int64)[js]
        order = np.argsort(rs, kind="stable")
        rows_sorted, steps_sorted = rs[order], steps[order]
        first = np.ones(len(order), dtype=bool)
        first[1:] = rows_sorted[1:] != rows_sorted[:-1]
        previous = np.empty_like(steps_sorted)
        previous[1:] = steps_sorted[:-1]
        previous[first] = self.last_end[rows_sorted[first]]
        lengths = np.empty_like(steps)
        lengths[order] = steps_sorted - previous
        last = np.ones(len(order), dtype=bool)
        last[:-1] = first[1:]
        self.last_end[rows_sorted[last]] = steps_sorted[last]
        self.returns_flat[rs * self.episodes + eps] = ret
        infos = self.infos[js, :, rs] if self.info_keys else None
        term = self.terminated[js, rs] if self.terminated is not None else None
        self.recorder.record_events(rs, eps, lengths, infos, term)
        self.end_steps.clear()


def _phase_seeds(unit: Unit) -> Callable[[int], list[int]]:
    """``phase -> [phase_seed(seed, task, phase) for each row of unit]`` (Python ints)."""
    seeds = unit.seeds
    if max(seeds) < 2**40:  # no int64 overflow: (seed * 1_000_003 + task) * 2 + phase
        base = (np.array(seeds, dtype=np.int64) * 1_000_003
                + np.array(unit.task_indices, dtype=np.int64)) * 2
        return lambda phase: (base + phase).tolist()
    return lambda phase: [phase_seed(seed, t, phase) for _, seed, t in unit.rows]


def run_unit(
    benchmark: Benchmark,
    factory: str | Callable[..., Any],
    unit: Unit,
    agent_label: str | None = None,
    progress: Callable[[int], None] | None = None,
    watchdog: _Watchdog | None = None,
) -> UnitResult:
    """Run the protocol for one unit and return its raw returns and metrics.

    With a ``watchdog`` (worker processes with ``agent_timeout``) every agent call is timed.
    """
    start_time = time.perf_counter()
    fn = load_factory(factory) if isinstance(factory, str) else factory
    tasks_all = benchmark.tasks()
    rows = len(unit.rows)
    task_indices = unit.task_indices
    tasks = [tasks_all[i] for i in task_indices]
    label = agent_label or (factory if isinstance(factory, str) else repr(factory))
    ctx = _Context(label, unit)
    def timed(method: str, call: Callable) -> Callable:
        return call if watchdog is None else watchdog.guard(method, call)

    agent = _call_agent(
        ctx, "factory",
        timed("factory", lambda: make_agent(fn, agent_seed(unit.rows[0][1], unit.rows[0][2]), label)),
        ("setup", None, 0),
    )
    envs = make_vector_env(benchmark, rows)
    native = benchmark.vectorization == "vector_entry_point"
    # give the sub-envs their tasks unless this (cached) vector env already holds exactly these
    # tasks; tasks persist across resets, and every phase starts with a seeded reset
    task_key = (benchmark.hash, task_indices)
    load_tasks = _ENV_TASKS.get(id(envs)) != task_key
    _ENV_TASKS.pop(id(envs), None)
    if load_tasks and not native:
        envs.set_attr("task", tasks)
    obs_space, act_space = envs.single_observation_space, envs.single_action_space
    checker = _ActionChecker(act_space)
    _call_agent(ctx, "reset", timed("reset", agent.reset), ("setup", None, 0), rows, obs_space,
                act_space)
    act_active = accepts_active(agent.act)
    obs_active = accepts_active(agent.observe)
    act, observe, step_env = timed("act", agent.act), timed("observe", agent.observe), envs.step

    episodes = benchmark.episodes
    returns = np.zeros((rows, episodes), dtype=np.float64)
    recorder = MetricRecorder(benchmark.metric_kind, rows, episodes)
    log = _EpisodeLog(rows, recorder, returns)
    phase_seeds = _phase_seeds(unit)
    vector_steps = 0
    phase_lengths = (benchmark.explore_episodes, benchmark.exploit_episodes)
    first_episode = 0
    for phase_id, (phase, n_eps) in enumerate(zip(PHASES, phase_lengths)):
        if phase == "exploit" and benchmark.adapt:
            _call_agent(ctx, "adapt", timed("adapt", agent.adapt), ("adapt", None, 0))
        if n_eps == 0:
            continue
        seeds = phase_seeds(phase_id)
        if native and load_tasks:
            obs, _ = envs.reset(seed=seeds, options={"task": tasks})
        else:
            obs, _ = envs.reset(seed=seeds)
        load_tasks = False
        log.start_phase(first_episode, n_eps)
        ep_return, remaining = log.ep_return, log.remaining
        active = np.ones(rows, dtype=bool)
        all_active = True
        n_active = rows
        idle_rows = idle_obs = idle_values = None  # idle rows and the final observations they are shown
        step = 0
        while True:
            try:
                action = act(obs, active=active.copy()) if act_active else act(obs)
            except AGENT_FAILURES as exc:
                ep = f"{first_episode + log.done_episodes() + 1} of {episodes}"
                raise _agent_failure(label, "act", ctx.where(phase, ep, step), exc) from exc
            env_action, bad_row, reason = checker.check(action, rows, active, all_active)
            if reason:
                if bad_row is None:  # the batch as a whole (wrong shape or dtype)
                    where = ctx.where(phase, None, step)
                else:
                    ep = f"{first_episode + log.done_episodes(bad_row) + 1} of {episodes}"
                    where = ctx.where(phase, ep, step - log.episode_start(bad_row), bad_row)
                raise AgentError(f"agent {label} returned an invalid action at {where}: {reason}")
            try:
                next_obs, reward, terminated, truncated, infos = step_env(env_action)
            except (Exception, SystemExit) as exc:  # noqa: BLE001 - any env failure
                raise EvaluationError(
                    f"env {benchmark.env_id} raised {type(exc).__name__} at "
                    f"{ctx.where(phase, None, step)}: {exc}"
                ) from exc
            if all_active:
                ended = np.logical_or(terminated, truncated)
            else:  # idle rows: no reward, no episode end
                reward = reward * active
                terminated = np.logical_and(terminated, active)
                truncated = np.logical_and(truncated, active)
                ended = terminated | truncated
            ep_return += reward
            any_ended = np.count_nonzero(ended)
            true_next = next_obs
            if any_ended:
                finished = ended.nonzero()[0]
                final_obs = infos.get("final_obs")
                if final_obs is not None:
                    true_next = np.array(next_obs, copy=True)
                    if isinstance(final_obs, np.ndarray) and final_obs.dtype.kind != "O":
                        true_next[finished] = final_obs[finished]  # native envs: one array
                    else:  # gymnasium's object array (None where nothing ended)
                        for r in finished:
                            if final_obs[r] is not None:
                                true_next[r] = final_obs[r]
            try:
                if obs_active:
                    observe(obs, action, reward, true_next, terminated, truncated,
                            active=active.copy())
                else:
                    observe(obs, action, reward, true_next, terminated, truncated)
            except AGENT_FAILURES as exc:
                raise _agent_failure(label, "observe", ctx.where(phase, None, step), exc) from exc
            if any_ended:
                log.end_step(step, ended, finished, infos.get("final_info"), terminated)
                step += 1
                if progress is not None:
                    progress(int(any_ended))
                still = np.count_nonzero(remaining)
                if still < n_active:  # some rows finished their last episode of the phase
                    n_active = still
                    now_idle = np.flatnonzero((remaining == 0) & active)
                    active[now_idle] = False
                    if not still:
                        break
                    all_active = False
                    if idle_obs is None:
                        idle_obs = np.array(true_next, copy=True)
                    else:
                        idle_obs[now_idle] = true_next[now_idle]
                    idle_rows = np.flatnonzero(~active)
                    idle_values = idle_obs[idle_rows]
            else:
                step += 1
            if not all_active:
                # the vector envs return fresh arrays each step (gymnasium copy=True, native
                # envs likewise), so overwriting the idle rows in place is safe
                next_obs[idle_rows] = idle_values
            obs = next_obs
        log.flush()
        vector_steps += step
        first_episode += n_eps
    _ENV_TASKS[id(envs)] = task_key  # only after a clean finish
    return UnitResult(
        index=unit.index,
        rows=tuple((si, t) for si, _, t in unit.rows),
        returns=returns,
        metrics=dict(recorder.finish()),
        env_steps=int(recorder.values["episode_length"].sum()),
        seconds=time.perf_counter() - start_time,
        vector_steps=vector_steps,
    )


def _run_unit_entry(args: tuple) -> dict[str, Any]:
    """Process/Ray entry point: plain-data in, plain-data out.

    ``args`` is ``(benchmark, factory, unit, label)`` or, with a per-call agent timeout,
    ``(benchmark, factory, unit, label, seconds)``.
    """
    benchmark, factory, unit, label, *rest = args
    watchdog = _watchdog(rest[0] if rest else None)
    try:
        return run_unit(benchmark, factory, unit, label, watchdog=watchdog).to_json()
    except AgentTimeout as exc:  # arrived just outside the agent call it was meant for
        raise AgentError(
            f"agent {label} did not return from {watchdog.method if watchdog else '?'}() within "
            f"{exc.seconds:g} s (--agent-timeout) in unit {unit.index}"
        ) from None


# -- provenance -----------------------------------------------------------------------------------


@functools.cache
def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _git(*args: str) -> str | None:
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout


_GIT_LOCK = threading.Lock()
_GIT_STATE: list[tuple[str | None, bool | None]] = []  # filled once per process


def _git_state() -> tuple[str | None, bool | None]:
    """(commit, dirty) of the checkout this package runs from, read once per process.

    A process runs the code it imported, so the state when it first asks is the state of
    that code; two ``git`` subprocesses per run would cost more than a warm evaluation.
    """
    with _GIT_LOCK:
        if not _GIT_STATE:
            commit = _git("rev-parse", "HEAD")
            status = _git("status", "--porcelain", "--untracked-files=no") if commit else None
            _GIT_STATE.append((
                commit.strip() if commit else None,
                bool(status.strip()) if status is not None else None,
            ))
        return _GIT_STATE[0]


def prefetch_provenance() -> None:
    """Start reading the git state in a background thread (it waits on subprocesses), so
    that :func:`provenance` at the end of a run does not wait for it."""
    if _GIT_STATE or _GIT_LOCK.locked():
        return
    threading.Thread(target=_git_state, name="krazy-gym-git-state", daemon=True).start()


def provenance() -> dict[str, Any]:
    """Versions and git state of this installation (for the results file)."""
    import gymnasium

    import krazy_gym

    commit, dirty = _git_state()
    return {
        "krazy_gym_version": krazy_gym.__version__,
        "git_commit": commit,
        "git_dirty": dirty,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "gymnasium": gymnasium.__version__,
        "torch": _version("torch"),
        "platform": platform.platform(),
    }


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux), else ``platform.processor()`` or
    the architecture."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, sep, value = line.partition(":")
                if sep and key.strip() == "model name" and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    """The machine a measurement ran on: CPU model, logical cores, OS, Python and torch
    versions (training times in ``reference/manifest.json`` and docs/results.md quote it)."""
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": _version("torch"),
    }


def utc_now() -> str:
    """ISO 8601 UTC timestamp, seconds precision, ``Z`` suffix."""
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- evaluate ------------------------------------------------------------------------------------


def _normalise_seeds(seeds: int | Iterable[int]) -> list[int]:
    if isinstance(seeds, bool):
        raise TypeError("seeds must be an int >= 1 or a list of ints >= 0")
    if isinstance(seeds, (int, np.integer)):
        if seeds < 1:
            raise ValueError(f"seeds must be >= 1, got {seeds}")
        return list(range(int(seeds)))
    out = [int(s) for s in seeds]
    if not out or any(s < 0 for s in out) or len(set(out)) != len(out):
        raise ValueError(f"seeds must be a non-empty list of distinct ints >= 0, got {out}")
    return out


def _factory_label(factory: Any) -> str:
    if isinstance(factory, str):
        return factory
    module = getattr(factory, "__module__", None) or "?"
    qual = getattr(factory, "__qualname__", None) or type(factory).__name__
    return f"{module}:{qual}"


def partial_path(out: str | os.PathLike) -> Path:
    """Where partial results of a run writing ``out`` are kept: ``<out>.partial.json``."""
    return Path(f"{os.fspath(out)}.partial.json")


def previous_path(out: str | os.PathLike) -> Path:
    """Where a failed run moves an older ``out`` file: ``<out>.previous.json``."""
    return Path(f"{os.fspath(out)}.previous.json")


def check_output_path(out: str | os.PathLike | None) -> None:
    """Raise ``ValueError`` if ``out`` (or its partial/previous files) may not be written: a
    missing directory, or an existing path that is not a regular file (a directory, symlink,
    FIFO or device is never replaced)."""
    if out is None:
        return
    check_output_file(out, "--out")
    check_output_file(partial_path(out), "--out (partial results)")
    check_output_file(previous_path(out), "--out (previous results)")


def _set_aside_stale_output(out: str | os.PathLike | None) -> str:
    """After a failed run: move an older ``out`` (from an earlier run) to
    :func:`previous_path`, so that it cannot be taken for this run's results. Returns a
    sentence for the error message ("" if there was nothing to move)."""
    if out is None or not os.path.lexists(out):
        return ""
    target = previous_path(out)
    try:
        os.replace(out, target)
    except OSError as exc:
        return f"\nan older {out} from an earlier run is still there (could not move it: {exc})"
    return f"\nthe older {out} from an earlier run was moved to {target}"


def _make_progress(progress: Any, total: int, desc: str):
    if progress is None:
        progress = sys.stderr.isatty()
    if progress is False:
        return None
    if callable(progress) and not isinstance(progress, bool):
        return progress
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=desc, unit="ep", leave=False, dynamic_ncols=True)
    bar.update_fn = bar.update  # type: ignore[attr-defined]
    return bar


def evaluate(
    agent: str | Callable[..., Any],
    benchmark: str | Benchmark,
    seeds: int | Sequence[int] = 5,
    workers: int = 1,
    engine: str = "local",
    progress: bool | Callable[[int], None] | None = None,
    out: str | os.PathLike | None = None,
    batch_size: int | None = None,
    resume: bool = False,
    ray_address: str | None = None,
    aggregates: bool = True,
    agent_timeout: float | None = None,
) -> dict[str, Any]:
    """Evaluate an agent on a benchmark and return the results dict (see ``results.py``).

    Args:
        agent: ``"package.module:factory"``, a built-in name (``"random"``, ``"oracle"``, ...:
            :data:`~krazy_gym.evaluation.agents.BUILTIN_AGENTS`) or a callable factory returning a MetaAgent
            (called once per unit; given ``seed=`` if it accepts it). Must be picklable
            (a module-level function) when ``workers > 1`` or ``engine="ray"``.
        benchmark: a benchmark name or :class:`Benchmark`.
        seeds: K (seeds 0..K-1) or an explicit list of distinct ints >= 0.
        workers: processes (local engine) or concurrent tasks (Ray) to spread units over.
        engine: ``"local"`` or ``"ray"`` (imported lazily; connects to ``ray_address`` or
            starts a local instance).
        progress: True for a tqdm bar, False for none, None for a bar only on a terminal, or
            a callable receiving the number of task-episodes just finished.
        out: if given, the results are written there atomically; while running, finished
            units are checkpointed to ``<out>.partial.json``, which is kept if the run fails
            and removed when it succeeds.
        batch_size: tasks per unit (default: the benchmark's). Part of the run, not of the
            benchmark: a different batch size changes an agent's random stream, not the
            protocol.
        resume: reuse the units of a matching ``<out>.partial.json``.
        aggregates: include the informational ``aggregates`` block (calibration skips it,
            since it needs the very random score being measured).
        agent_timeout: seconds an agent call (factory, reset, act, observe, adapt) may take;
            a call that takes longer fails the run with an :class:`AgentError`. Units then run
            in worker processes (even with ``workers=1``: the caller's process is never
            interrupted), so the factory must be picklable. Local engine, POSIX only.

    If the run fails and ``out`` already holds a file from an earlier run, that file is moved
    to ``<out>.previous.json`` (the error message says so), so an old file never looks like
    the results of the failed run.

    Raises:
        ValueError/TypeError: bad arguments (nothing is run or written).
        AgentSpecError: the agent spec does not load or the factory gives no MetaAgent.
        AgentError: the agent raised (anything, ``SystemExit`` and ``KeyboardInterrupt``
            included), timed out or returned an invalid action (names agent, task, step).
    """
    bench = get_benchmark(benchmark)
    seed_list = _normalise_seeds(seeds)
    agent_timeout = check_agent_timeout(agent_timeout, engine)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an int >= 1, got {workers!r}")
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {list(ENGINES)}, got {engine!r}")
    batch = bench.batch_size if batch_size is None else batch_size
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    check_output_path(out)
    if isinstance(agent, str):
        agent = resolve_agent_spec(agent)  # a built-in name ("random", "oracle", ...) -> its spec
    spec_label = _factory_label(agent)
    factory = load_factory(agent) if isinstance(agent, str) else agent
    if not callable(factory):
        raise AgentSpecError(f"agent must be 'package.module:factory' or a callable, got {agent!r}")
    try:
        probe = make_agent(factory, agent_seed(seed_list[0], 0), spec_label)
    except (SystemExit, KeyboardInterrupt) as exc:
        raise AgentError(
            f"agent factory {spec_label} raised {type(exc).__name__} when called: {exc}"
        ) from exc
    name = agent_name(probe, spec_label)
    label = f"{name!r} ({spec_label})"
    del probe

    prefetch_provenance()
    started = time.perf_counter()
    units = make_units(bench, seed_list, batch)
    header = {
        "benchmark_hash": bench.hash,
        "agent": spec_label,
        "seeds": seed_list,
        "batch_size": batch,
    }
    done: dict[int, UnitResult] = {}
    ckpt = partial_path(out) if out is not None else None
    if resume and ckpt is not None and ckpt.exists():
        saved = json.loads(ckpt.read_text(encoding="utf-8"))
        if saved.get("header") == header:
            for d in saved.get("units", []):
                r = UnitResult.from_json(d)
                done[r.index] = r

    def checkpoint(error: str | None = None) -> None:
        if ckpt is None:
            return
        payload = {
            "header": header,
            "benchmark": bench.name,
            "units": [done[k].to_json() for k in sorted(done)],
            "error": error,
        }
        write_json_atomic(ckpt, payload)

    todo = [u for u in units if u.index not in done]
    total = len(seed_list) * bench.num_test_tasks * bench.episodes
    bar = _make_progress(progress, total, f"{bench.name} · {name}")
    tick = (bar.update_fn if hasattr(bar, "update_fn") else bar) if bar is not None else None
    if tick is not None and done:
        tick(sum(len(r.rows) for r in done.values()) * bench.episodes)

    try:
        _dispatch(bench, agent if isinstance(agent, str) else factory, todo, label, workers,
                  engine, ray_address, done, checkpoint, tick, agent_timeout)
    except EvaluationError as exc:
        if ckpt is not None:
            checkpoint(str(exc))
            moved = _set_aside_stale_output(out)
            raise type(exc)(
                f"{exc}\n{len(done)} of {len(units)} units finished; their results are in "
                f"{ckpt}{moved}"
            ) from exc
        raise
    except KeyboardInterrupt:  # Ctrl-C outside agent code: keep what finished, then stop
        if ckpt is not None:
            checkpoint("interrupted")
            _set_aside_stale_output(out)
        raise
    finally:
        if bar is not None and hasattr(bar, "close"):
            bar.close()

    wall = time.perf_counter() - started
    results = assemble_results(bench, seed_list, done, name, spec_label, wall, aggregates,
                               arrays=True)
    results["run"] = {"batch_size": batch, "workers": workers, "engine": engine}
    if out is not None:
        results = write_results(out, results)  # seals, validates, writes atomically
        if ckpt is not None and ckpt.exists():
            ckpt.unlink()
    else:
        results = seal_results(results)
        validate_results(results, check_sha256=False)
    return as_lists(results)


def check_agent_timeout(seconds: Any, engine: str = "local") -> float | None:
    """``seconds`` as a float > 0 (or None); ``ValueError`` naming ``agent_timeout`` otherwise."""
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not (
        0 < seconds < float("inf")
    ):
        raise ValueError(f"agent_timeout must be a number of seconds > 0, got {seconds!r}")
    if engine != "local":
        raise ValueError("agent_timeout works with engine='local' only (use Ray's own task "
                         "timeouts with engine='ray')")
    import signal

    if not hasattr(signal, "pthread_kill") or not hasattr(signal, "SIGUSR1"):
        raise ValueError("agent_timeout needs POSIX signals (Linux, macOS)")
    return float(seconds)


def _dispatch(bench, factory, todo, label, workers, engine, ray_address, done, checkpoint, tick,
              agent_timeout=None):
    def finished(r: UnitResult) -> None:
        done[r.index] = r
        checkpoint()

    if engine == "ray":
        _dispatch_ray(bench, factory, todo, label, workers, ray_address, finished, tick)
        return
    if agent_timeout is None and (workers == 1 or len(todo) <= 1):
        for unit in todo:
            finished(run_unit(bench, factory, unit, label, tick))
        return
    if not todo:
        return
    import concurrent.futures as cf
    import multiprocessing as mp
    from concurrent.futures.process import BrokenProcessPool

    ctx = mp.get_context("spawn")
    extra = () if agent_timeout is None else (agent_timeout,)
    with cf.ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=ctx) as pool:
        futures = {pool.submit(_run_unit_entry, (bench, factory, u, label, *extra)): u for u in todo}
        try:
            for fut in cf.as_completed(futures):
                try:
                    r = UnitResult.from_json(fut.result())
                except BrokenProcessPool as exc:
                    hint = (
                        f" (an agent call that exceeds --agent-timeout {agent_timeout:g} s and "
                        "cannot be interrupted, e.g. a loop in compiled code, ends its worker "
                        f"after {hard_limit(agent_timeout):g} s)"
                        if agent_timeout is not None else ""
                    )
                    raise EvaluationError(
                        f"a worker process running agent {label} died ({exc}){hint}"
                    ) from exc
                finished(r)
                if tick is not None:
                    tick(len(r.rows) * bench.episodes)
        except BaseException:
            for f in futures:
                f.cancel()
            raise


def _dispatch_ray(bench, factory, todo, label, workers, ray_address, finished, tick):
    try:
        import ray
    except ImportError as exc:
        raise ValueError("engine='ray' needs the optional dependency: pip install 'krazy_gym[ray]'") from exc
    if not ray.is_initialized():
        if ray_address:
            ray.init(address=ray_address, include_dashboard=False, log_to_driver=False)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    remote = ray.remote(num_cpus=1, max_retries=0)(_run_unit_entry)
    pending = [remote.remote((bench, factory, u, label)) for u in todo]
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        try:
            r = UnitResult.from_json(ray.get(ready[0]))
        except ray.exceptions.RayTaskError as exc:
            for ref in pending:
                ray.cancel(ref, force=True)
            cause = exc.cause if getattr(exc, "cause", None) is not None else exc
            if isinstance(cause, EvaluationError):
                raise type(cause)(str(cause)) from exc
            raise EvaluationError(str(exc)) from exc
        finished(r)
        if tick is not None:
            tick(len(r.rows) * bench.episodes)


def assemble_results(
    bench: Benchmark,
    seeds: list[int],
    units: dict[int, UnitResult],
    name: str,
    factory: str,
    wall: float,
    aggregates: bool = True,
    arrays: bool = False,
) -> dict[str, Any]:
    """Build the (unsealed) results dict from finished units.

    With ``arrays=True`` ``returns`` and the exploration metrics are float64 numpy arrays
    (the results functions accept them and write them exactly as their ``tolist()``; see
    :func:`krazy_gym.evaluation.results.as_lists`), else nested lists.
    """
    from krazy_gym.evaluation.metrics import aggregate

    n_s, n_t, n_e = len(seeds), bench.num_test_tasks, bench.episodes
    returns = np.zeros((n_s, n_t, n_e))
    metrics: dict[str, np.ndarray] = {}
    env_steps = vector_steps = 0
    filled = np.zeros((n_s, n_t), dtype=bool)
    for r in units.values():
        si, ti = np.asarray(r.rows, dtype=np.int64).T
        returns[si, ti] = np.asarray(r.returns)
        for k, v in r.metrics.items():
            metrics.setdefault(k, np.zeros((n_s, n_t, n_e)))[si, ti] = np.asarray(v)
        filled[si, ti] = True
        env_steps += r.env_steps
        vector_steps += r.vector_steps
    if not filled.all():
        raise EvaluationError(f"internal: {int((~filled).sum())} (seed, task) pairs have no results")
    data: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "benchmark": bench.summary(),
        "agent": {"name": name, "factory": factory},
        "seeds": list(seeds),
        "returns": returns if arrays else returns.tolist(),
        "explore_episodes": bench.explore_episodes,
        "exploit_episodes": bench.exploit_episodes,
        "exploration_metrics": {k: v if arrays else v.tolist() for k, v in metrics.items()},
        "timing": {
            "wall_seconds": round(wall, 4),
            "env_steps": int(env_steps),
            "vector_steps": int(vector_steps),
            "steps_per_second": round(env_steps / wall, 1) if wall > 0 else 0.0,
        },
        "provenance": provenance(),
        "created": utc_now(),
    }
    if not np.all(np.isfinite(returns)):
        raise EvaluationError("the env returned non-finite rewards")
    if aggregates:
        data["aggregates"] = aggregate(returns, bench)
    return data
