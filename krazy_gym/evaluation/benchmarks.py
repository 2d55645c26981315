"""Benchmarks: named, versioned evaluation suites.

A :class:`Benchmark` fixes everything that makes a score comparable: the env id (with its
version) and keyword arguments, the held-out test tasks (the first ``num_test_tasks`` of the
family's fixed test sequence), the protocol (``explore_episodes``, whether ``adapt()`` is
called, ``exploit_episodes``) and the normalisation constants. Its :attr:`Benchmark.hash`
covers all of these, so a results file can prove which definition it was scored on.

    >>> from krazy_gym.evaluation import get_benchmark, list_benchmarks
    >>> bench = get_benchmark("KrazyWorld-Hard")
    >>> bench.explore_episodes, bench.exploit_episodes
    (3, 2)
    >>> tasks = bench.tasks()          # doctest: +SKIP  (builds the env family)

Normalisation: ``normalised = (score - random_score) / (top - random_score)`` where ``top`` is
the literature ``reference_score`` when there is one, else ``max_score`` (an analytic upper
bound on the per-episode return). Families with neither (MuJoCo direction tasks, whose
returns are unbounded) are normalised by the offset only: ``score - random_score``.
``random_score`` is measured by this harness (``python -m krazy_gym.evaluation.calibrate``).
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from krazy_gym.evaluation._random_scores import RANDOM_SCORES

#: metric extractors by family kind (see :mod:`krazy_gym.evaluation.exploration`)
METRIC_KINDS = ("generic", "krazy_world", "maze")
VECTORIZATION_MODES = ("vector_entry_point", "sync", "async")


class UnknownBenchmarkError(KeyError, ValueError):
    """No benchmark of that name (a ``KeyError`` and a ``ValueError``, with suggestions)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


@dataclasses.dataclass(frozen=True)
class Benchmark:
    """One named, versioned evaluation suite.

    Attributes:
        name: e.g. ``"KrazyWorld-Hard"`` (unversioned; ``version`` is separate).
        version: bumped whenever anything below changes.
        env_id: the Gymnasium id *with* its version, e.g. ``"KrazyGym/KrazyWorld-Hard-v0"``.
        env_kwargs: keyword arguments for ``gym.make``/``gym.make_vec``.
        num_test_tasks: how many held-out test tasks (the first N of ``split="test"``).
        explore_episodes: episodes per task before ``adapt()``.
        exploit_episodes: episodes per task after ``adapt()``; their mean return is the score.
        adapt: whether the protocol calls ``agent.adapt()`` between the phases.
        random_score: mean score of the uniform random agent, measured by the harness.
        reference_score: a literature score for this exact protocol, or None.
        reference_source: where ``reference_score`` comes from (or why there is none).
        max_score: an analytic upper bound on the per-episode return, or None.
        metric_kind: which exploration metrics to record (``METRIC_KINDS``).
        vectorization: how the tasks of a batch run (``VECTORIZATION_MODES``).
        batch_size: default number of (seed, task) rows run in lockstep by one agent
            instance (rows are taken seed-major, so a batch may span seeds; bigger batches
            amortise the harness's per-step cost; ``--workers`` parallelises over batches).
        description: one line for ``krazy-gym benchmarks``.
        store_tasks: ship the test tasks as a file (families whose generation is slow);
            not part of the hash — a stored file must equal the generated tasks.
        min_seeds: the fewest seeds a results file may have to enter the leaderboard; the
            protocol prescribes the seeds themselves: ``0..K-1`` with ``K >= min_seeds``.
        rank_seeds: the fewest seeds for a row to be *ranked* (rows with ``min_seeds <= K <
            rank_seeds`` are listed, unranked, below the ranking).
        return_range: ``(low, high)``, the per-episode returns the reward function allows (an
            analytic bound, or for unbounded rewards a documented generous one); the
            leaderboard refuses a return outside it. None: no bound declared (then only
            finiteness is checked).
        return_range_source: how ``return_range`` follows from the reward definition.

    ``min_seeds``, ``rank_seeds`` and ``return_range`` are leaderboard acceptance rules, not
    part of what is measured: they are outside :meth:`definition`, so the hash (and every
    results file already written) does not change when a rule is tightened.
    """

    name: str
    version: int
    env_id: str
    env_kwargs: Mapping[str, Any]
    num_test_tasks: int
    explore_episodes: int
    exploit_episodes: int
    adapt: bool = True
    random_score: float = 0.0
    reference_score: float | None = None
    reference_source: str = ""
    max_score: float | None = None
    metric_kind: str = "generic"
    vectorization: str = "vector_entry_point"
    batch_size: int = 64
    description: str = ""
    store_tasks: bool = False
    min_seeds: int = 3
    rank_seeds: int = 5
    return_range: tuple[float, float] | None = None
    return_range_source: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "env_kwargs", dict(self.env_kwargs))
        if not self.name or not isinstance(self.name, str):
            raise ValueError(f"name must be a non-empty string, got {self.name!r}")
        if "-v" not in self.env_id or not self.env_id.rsplit("-v", 1)[1].isdigit():
            raise ValueError(f"env_id must end in -v<version>, got {self.env_id!r}")
        for field, low in (
            ("version", 0),
            ("num_test_tasks", 1),
            ("explore_episodes", 0),
            ("exploit_episodes", 1),
            ("batch_size", 1),
            ("min_seeds", 1),
            ("rank_seeds", 1),
        ):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{field} must be an int >= {low}, got {value!r}")
        if self.rank_seeds < self.min_seeds:
            raise ValueError(
                f"rank_seeds must be >= min_seeds ({self.min_seeds}), got {self.rank_seeds}"
            )
        if self.return_range is not None:
            object.__setattr__(self, "return_range", _check_range(self.return_range))
        if self.metric_kind not in METRIC_KINDS:
            raise ValueError(f"metric_kind must be one of {list(METRIC_KINDS)}, got {self.metric_kind!r}")
        if self.vectorization not in VECTORIZATION_MODES:
            raise ValueError(
                f"vectorization must be one of {list(VECTORIZATION_MODES)}, got {self.vectorization!r}"
            )

    def prescribed_seeds(self, k: int) -> list[int]:
        """The seeds a ``k``-seed results file must use: ``[0, 1, ..., k-1]``."""
        return list(range(k))

    def __hash__(self) -> int:
        return hash((self.name, self.version, self.env_id))

    # -- derived -------------------------------------------------------------------------------
    @property
    def episodes(self) -> int:
        """Episodes per task: explore + exploit."""
        return self.explore_episodes + self.exploit_episodes

    @property
    def full_name(self) -> str:
        """``name-v<version>``."""
        return f"{self.name}-v{self.version}"

    @property
    def normaliser(self) -> float | None:
        """The score that maps to 1.0 (reference, else max_score, else None = offset only)."""
        return self.reference_score if self.reference_score is not None else self.max_score

    def make_env(self, **overrides: Any):
        """One single (non-vector) env of this benchmark."""
        import gymnasium as gym

        import krazy_gym  # noqa: F401  (registers the ids)

        return gym.make(self.env_id, **{**self.env_kwargs, **overrides})

    def tasks(self) -> list:
        """The held-out test tasks: the first ``num_test_tasks`` of ``split="test"``.

        Read from the stored task file (:meth:`stored_tasks_path`) when there is one for this
        exact definition — generating Krazy World boards takes seconds, loading them
        milliseconds — else generated with ``sample_tasks``. A test checks that the stored
        files equal freshly generated tasks.
        """
        cached = _TASK_CACHE.get(self._task_cache_key())
        if cached is None:
            stored = self.load_stored_tasks()
            cached = tuple(stored if stored is not None else self.generate_tasks())
            _TASK_CACHE[self._task_cache_key()] = cached
        return list(cached)

    def generate_tasks(self) -> list:
        """``env.unwrapped.sample_tasks(num_test_tasks, split="test")`` (no stored file)."""
        env = self.make_env()
        try:
            return list(env.unwrapped.sample_tasks(self.num_test_tasks, split="test"))
        finally:
            env.close()

    def stored_tasks_path(self) -> Path:
        """``krazy_gym/evaluation/tasks-<name>-v<version>.json`` (package data)."""
        return Path(__file__).with_name(f"tasks-{self.full_name}.json")

    def _stored_header(self) -> dict[str, Any]:
        return {
            "benchmark": self.full_name,
            "env_id": self.env_id,
            "env_kwargs": dict(self.env_kwargs),
            "num_test_tasks": self.num_test_tasks,
        }

    def load_stored_tasks(self) -> list | None:
        """The stored test tasks, or None if there is no file for this exact definition."""
        path = self.stored_tasks_path()
        if not self.store_tasks or not path.is_file():
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("header") != self._stored_header():
            return None
        from krazy_gym.tasks import Task

        try:
            return [Task.from_dict(d) for d in data["tasks"]]
        except (KeyError, TypeError, ValueError) as exc:
            # the task format changed since the file was written: generate (slow but right)
            warnings.warn(
                f"{path.name} no longer loads ({exc}); generating the test tasks instead. "
                "Regenerate it with `python -m krazy_gym.evaluation.calibrate --tasks`.",
                stacklevel=2,
            )
            return None

    def write_stored_tasks(self) -> Path:
        """Generate the test tasks and store them (atomically) in :meth:`stored_tasks_path`."""
        from krazy_gym.evaluation.results import write_text_atomic

        def dumps(obj: Any) -> str:
            return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)

        tasks = self.generate_tasks()
        path = self.stored_tasks_path()
        lines = ",\n".join(dumps(t.to_dict()) for t in tasks)  # one task per line
        write_text_atomic(path, f'{{"header":{dumps(self._stored_header())},\n"tasks":[\n{lines}\n]}}\n')
        _TASK_CACHE.pop(self._task_cache_key(), None)
        return path

    def _task_cache_key(self) -> str:
        return json.dumps([self.env_id, self.env_kwargs, self.num_test_tasks], sort_keys=True)

    def definition(self) -> dict[str, Any]:
        """Everything that affects scores, as a JSON-able dict (hashed by :attr:`hash`)."""
        return {
            "name": self.name,
            "version": self.version,
            "env_id": self.env_id,
            "env_kwargs": self.env_kwargs,
            "tasks": [t.to_dict() for t in self.tasks()],
            "protocol": {
                "explore_episodes": self.explore_episodes,
                "adapt": self.adapt,
                "exploit_episodes": self.exploit_episodes,
            },
            "normalisation": {
                "random_score": self.random_score,
                "reference_score": self.reference_score,
                "max_score": self.max_score,
            },
        }

    @property
    def hash(self) -> str:
        """sha256 (hex) of :meth:`definition` in canonical JSON."""
        # every field's repr (as repr(dataclasses.astuple(self)), without its deep copy)
        key = self._task_cache_key() + repr(
            tuple(getattr(self, f.name) for f in dataclasses.fields(self))
        )
        cached = _HASH_CACHE.get(key)
        if cached is None:
            text = json.dumps(
                self.definition(), sort_keys=True, separators=(",", ":"), allow_nan=False
            )
            cached = hashlib.sha256(text.encode()).hexdigest()
            _HASH_CACHE[key] = cached
        return cached

    def summary(self) -> dict[str, Any]:
        """The ``benchmark`` block of a results file."""
        return {
            "name": self.name,
            "version": self.version,
            "hash": self.hash,
            "env_id": self.env_id,
            "env_kwargs": dict(self.env_kwargs),
            "num_test_tasks": self.num_test_tasks,
            "explore_episodes": self.explore_episodes,
            "exploit_episodes": self.exploit_episodes,
            "adapt": self.adapt,
            "random_score": self.random_score,
            "reference_score": self.reference_score,
            "max_score": self.max_score,
        }


def _check_range(value: Any) -> tuple[float, float]:
    import math

    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"return_range must be None or (low, high), got {value!r}") from None
    if not (math.isfinite(low) and math.isfinite(high) and low <= high):
        raise ValueError(f"return_range must be two finite numbers low <= high, got {value!r}")
    return (low, high)


_TASK_CACHE: dict[str, tuple] = {}
_HASH_CACHE: dict[str, str] = {}
_REGISTRY: dict[str, Benchmark] = {}


def register_benchmark(benchmark: Benchmark, *, replace: bool = False) -> Benchmark:
    """Add ``benchmark`` to the registry (``replace=True`` to overwrite a name)."""
    if not isinstance(benchmark, Benchmark):
        raise TypeError(f"benchmark must be a Benchmark, got {type(benchmark).__name__}")
    if benchmark.name in _REGISTRY and not replace:
        raise ValueError(f"a benchmark named {benchmark.name!r} is already registered")
    _REGISTRY[benchmark.name] = benchmark
    return benchmark


def list_benchmarks() -> list[Benchmark]:
    """Every registered benchmark, in registration order."""
    return list(_REGISTRY.values())


def get_benchmark(name: str | Benchmark) -> Benchmark:
    """The benchmark called ``name`` (``"KrazyWorld-Hard"`` or ``"KrazyWorld-Hard-v1"``).

    Raises:
        UnknownBenchmarkError: (a ``KeyError`` and ``ValueError``) no such benchmark; the
            message lists the closest names ("did you mean ...").
    """
    if isinstance(name, Benchmark):
        return name
    if not isinstance(name, str):
        raise TypeError(f"benchmark name must be a str, got {type(name).__name__}")
    if name in _REGISTRY:
        return _REGISTRY[name]
    base, sep, version = name.rpartition("-v")
    if sep and version.isdigit() and base in _REGISTRY:
        bench = _REGISTRY[base]
        if bench.version == int(version):
            return bench
        raise UnknownBenchmarkError(
            f"benchmark {name!r}: installed version of {base!r} is v{bench.version}, "
            f"not v{version}"
        )
    names = list(_REGISTRY)
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    if not close:
        lowered = {n.lower(): n for n in names}
        close = [lowered[n] for n in difflib.get_close_matches(name.lower(), lowered, n=3)]
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise UnknownBenchmarkError(
        f"unknown benchmark {name!r}{hint} (known: {', '.join(names)})"
    )


# -- the suites ---------------------------------------------------------------------------------

_KW_NOTE = (
    "none: the Krazy World paper (Stadie et al. 2018, App. A) reports random ~0.05, tabular "
    "Q-learning ~1.2 and human ~2.7 for its own, never-published configuration; those numbers "
    "are not comparable to this preset, so max_score (all goals every episode) normalises"
)


def _rs(name: str, default: float = 0.0) -> float:
    return float(RANDOM_SCORES.get(name, default))


def _horizon(family: str) -> int:
    """The registered ``max_episode_steps`` of ``KrazyGym/<family>-v0``."""
    from krazy_gym.registration import ENV_TABLE

    (entry,) = [e for e in ENV_TABLE if e.name == family and e.version == 0]
    return int(entry.max_episode_steps)


# -- per-episode return ranges (leaderboard acceptance rules, see Benchmark.return_range) -------
#
# Each follows from the family's reward definition; tests check them against the test tasks
# and against real runs. Sums of float rewards may round in the last bits, so the leaderboard
# compares with a tolerance of 1e-9 * max(1, |bound|).

#: Maze: -1/H - wall_penalty per step at worst for H = 2 size² steps, +1 once at the goal.
MAZE_WALL_PENALTY = 0.001
#: TabularMDP: R = sum of 10 rewards N(mu, 1); with |mu| <= M on every test task,
#: |R| <= 10 M + |N(0, 10)| (each step's noise is drawn after the action, so the noise sum is
#: N(0, 10) for any policy). M < 4.9 on the 100 test tasks (tested), so a legit return
#: reaches +-100 only if the noise sum exceeds 51 = 16 standard deviations (probability
#: < 1e-56 per episode): the bound never refuses an honest run.
TABULAR_RETURN_BOUND = 100.0
#: Navigation2D: sum over t = 1..100 of sqrt(0.5) + 0.1 * sqrt(2) * t (see the benchmark).
NAVIGATION_RETURN_BOUND = 785.0
#: PointCorner: 100 steps of progress of at most 0.2 * sqrt(2) = 0.2829 each.
POINT_CORNER_RETURN_BOUND = 28.3
#: MuJoCo: velocities of simulated bodies have no analytic bound. |reward| <= 1000 per step
#: is generous (the fastest learned gaits earn ~10-15 per step; control costs are bounded
#: because actions are clipped to the action space).
MUJOCO_STEP_BOUND = 1000.0


def _builtin() -> list[Benchmark]:
    suites: list[Benchmark] = []
    for preset, goals in (("Easy", 3), ("Medium", 2), ("Hard", 3)):
        name = f"KrazyWorld-{preset}"
        suites.append(
            Benchmark(
                name=name,
                version=1,
                env_id=f"KrazyGym/KrazyWorld-{preset}-v0",
                env_kwargs={},
                num_test_tasks=64,
                explore_episodes=3,
                exploit_episodes=2,
                random_score=_rs(name),
                reference_source=_KW_NOTE,
                max_score=float(goals),
                metric_kind="krazy_world",
                batch_size=320,
                store_tasks=True,
                description=f"Krazy World {preset.lower()} preset, 3 explore + 2 exploit (as E-RL2)",
                return_range=(0.0, float(goals)),
                return_range_source=(
                    f"+1 once per goal ({goals} goals per board), death_reward 0 in the preset, "
                    "no step cost: 0 <= return <= goals"
                ),
            )
        )
    suites.append(
        Benchmark(
            name="Maze",
            version=1,
            env_id="KrazyGym/Maze-v0",
            env_kwargs={"size": 10},
            num_test_tasks=64,
            explore_episodes=3,
            exploit_episodes=2,
            random_score=_rs("Maze"),
            reference_source="none in the literature for this maze family; max_score bounds the return",
            max_score=1.0,
            metric_kind="maze",
            batch_size=320,
            store_tasks=True,
            description="10x10 perfect mazes, unobserved goal, 3 explore + 2 exploit",
            return_range=(-(1.0 + 2 * 10 * 10 * MAZE_WALL_PENALTY), 1.0),
            return_range_source=(
                "-1/H per step and -wall_penalty (0.001) per bump for at most H = 200 steps, "
                "+1 at the goal: -1.2 <= return <= 1"
            ),
        )
    )
    suites.append(
        Benchmark(
            name="Bandit",
            version=1,
            env_id="KrazyGym/Bandit-v0",
            env_kwargs={"k": 5},
            num_test_tasks=100,
            explore_episodes=0,
            exploit_episodes=10,
            adapt=False,
            random_score=_rs("Bandit"),
            reference_score=0.66,
            reference_source=(
                "Gittins index, 5 arms, 10 pulls: 6.6 total = 0.66 per pull (Duan et al. 2016, "
                "RL2, Table 1; RL2 itself 6.7, random 5.0)"
            ),
            max_score=1.0,
            batch_size=500,
            description="5-armed Bernoulli bandits, 10 pulls scored as RL2 Table 1 (0 explore + 10 exploit)",
            return_range=(0.0, 1.0),
            return_range_source="one pull per episode paying 0 or 1",
        )
    )
    suites.append(
        Benchmark(
            name="TabularMDP",
            version=1,
            env_id="KrazyGym/TabularMDP-v0",
            env_kwargs={"n_states": 10, "n_actions": 5},
            num_test_tasks=100,
            explore_episodes=0,
            exploit_episodes=10,
            adapt=False,
            random_score=_rs("TabularMDP"),
            reference_score=15.62,
            reference_source=(
                "RL2, 10 episodes: 156.2 total = 15.62 per episode (Duan et al. 2016, Table 2; "
                "random 100.1)"
            ),
            batch_size=500,
            description="10-state 5-action MDPs, 10 episodes scored as RL2 Table 2 (0 explore + 10 exploit)",
            return_range=(-TABULAR_RETURN_BOUND, TABULAR_RETURN_BOUND),
            return_range_source=(
                "rewards N(mu, 1) are unbounded: 10 steps with |mu| < 4.9 on the test tasks, so "
                "|return| >= 100 needs a 16-sigma noise sum (probability < 1e-56)"
            ),
        )
    )
    suites.append(
        Benchmark(
            name="Navigation2D",
            version=1,
            env_id="KrazyGym/Navigation2D-v0",
            env_kwargs={},
            num_test_tasks=40,
            explore_episodes=20,
            exploit_episodes=2,
            random_score=_rs("Navigation2D"),
            reference_source="MAML (Finn et al. 2017) reports only curves; reward <= 0 bounds the return",
            max_score=0.0,
            batch_size=200,
            description="2-D point navigation, 20 explore + adapt + 2 exploit (as MAML)",
            return_range=(-NAVIGATION_RETURN_BOUND, 0.0),
            return_range_source=(
                "reward -distance <= 0; from the origin after t steps of at most 0.1*sqrt(2) the "
                "distance to a goal in [-0.5, 0.5]^2 is <= sqrt(0.5) + 0.1*sqrt(2)*t, summed over "
                "100 steps: >= -784.9"
            ),
        )
    )
    suites.append(
        Benchmark(
            name="PointCorner",
            version=1,
            env_id="KrazyGym/PointCorner-v0",
            env_kwargs={},
            num_test_tasks=40,
            explore_episodes=20,
            exploit_episodes=2,
            random_score=_rs("PointCorner"),
            reference_source="none (E-MAML/ProMP report only curves)",
            batch_size=200,
            description="2-D point, sparse corner goals, 20 explore + adapt + 2 exploit",
            return_range=(-POINT_CORNER_RETURN_BOUND, POINT_CORNER_RETURN_BOUND),
            return_range_source=(
                "reward = progress towards the goal, at most the step length 0.2*sqrt(2) in "
                "either direction, for 100 steps: |return| <= 28.29"
            ),
        )
    )
    mujoco = (
        ("HalfCheetahDir", None, "direction returns are unbounded: offset-only normalisation"),
        ("HalfCheetahVel", 0.0, "reward <= 0 bounds the return"),
        ("AntDir", None, "direction returns are unbounded: offset-only normalisation"),
        ("AntDir2D", None, "direction returns are unbounded: offset-only normalisation"),
        ("AntGoal", 0.0, "reward <= 0 bounds the return"),
        ("HumanoidDir", None, "direction returns are unbounded: offset-only normalisation"),
        ("HumanoidDir2D", None, "direction returns are unbounded: offset-only normalisation"),
        ("Walker2dDir", None, "direction returns are unbounded: offset-only normalisation"),
        ("Walker2dVel", 3000.0, "reward <= 15 per step over 200 steps bounds the return"),
        ("HopperParams", None, "forward-velocity returns are unbounded: offset-only normalisation"),
        ("Walker2dParams", None, "forward-velocity returns are unbounded: offset-only normalisation"),
    )
    # v2: test tasks drawn with krazy_gym.mujoco.tasks.portable_pow / portable_cos_sin, the same
    # bits on every machine (v1's numpy power and C-library cos/sin depended on the CPU)
    portable_since_v2 = ("HopperParams", "Walker2dParams", "AntGoal")
    for family, max_score, note in mujoco:
        steps = _horizon(family)
        high = MUJOCO_STEP_BOUND * steps if max_score is None else float(max_score)
        suites.append(
            Benchmark(
                name=family,
                version=2 if family in portable_since_v2 else 1,
                env_id=f"KrazyGym/{family}-v0",
                env_kwargs={},
                num_test_tasks=40,
                explore_episodes=20,
                exploit_episodes=2,
                random_score=_rs(family),
                reference_source=(
                    "ProMP/MAML (Rothfuss et al. 2018; Finn et al. 2017) report only curves; " + note
                ),
                max_score=max_score,
                vectorization="async",
                batch_size=8,
                description=f"{family} (MuJoCo), 20 explore + 1 adaptation + 2 exploit (as MAML/ProMP)",
                return_range=(-MUJOCO_STEP_BOUND * steps, high),
                return_range_source=(
                    f"generous: |reward| <= {MUJOCO_STEP_BOUND:g} per step over {steps} steps"
                    + ("" if max_score is None else f"; the reward bounds the return by {max_score:g}")
                ),
            )
        )
    return suites


for _bench in _builtin():
    register_benchmark(_bench)
del _bench
