"""The Krazy World oracle as a harness agent: a privileged reference row, not a learner.

``krazy-gym evaluate --agent oracle --benchmark KrazyWorld-Hard`` scores the agent that *knows*
every stored Krazy World test task and its optimal action sequence
(:func:`krazy_gym.evaluation.oracle.load_oracle`). It is the leaderboard's upper reference row
(kind ``oracle``): on every task its score is the oracle bound, so ``oracle_fraction`` runs from
0 (random) to 1 (this row).

How it knows which task a row is: it never reads the env. Krazy World starts are fixed per
task, so the first observation of a row is looked up among the first observations of every
stored test task of every Krazy World benchmark with this observation space (all but a few of
them are distinct). When several tasks share a first observation, the agent steps one private
copy of each candidate's env with its own actions and drops every candidate whose reward,
termination or next observation differs from what the row really got; it plays the plan of
the first remaining candidate meanwhile. Every episode it plays the candidate's optimal plan
from the start (action 0 once the plan is used up).

Example::

    from krazy_gym.evaluation import evaluate
    results = evaluate("oracle", "KrazyWorld-Easy", seeds=5)   # score = the stored bound, 2.969
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["OracleAgent", "oracle_agent"]

#: observation space (repr) -> {first observation bytes: [(benchmark name, task index), ...]}
_INDEX: dict[str, dict[bytes, list[tuple[str, int]]]] = {}


def _first_observations(observation_space: Any) -> dict[bytes, list[tuple[str, int]]]:
    """First observation of every stored Krazy World test task whose env has this space."""
    key = repr(observation_space)
    if key in _INDEX:
        return _INDEX[key]
    import gymnasium as gym

    from krazy_gym.evaluation.benchmarks import list_benchmarks
    from krazy_gym.evaluation.oracle import supports_oracle

    index: dict[bytes, list[tuple[str, int]]] = {}
    for bench in list_benchmarks():
        if not supports_oracle(bench):
            continue
        env = gym.make(bench.env_id, **bench.env_kwargs)
        if env.observation_space == observation_space:
            for i, task in enumerate(bench.tasks()):
                obs, _ = env.reset(seed=0, options={"task": task})
                index.setdefault(np.asarray(obs).tobytes(), []).append((bench.name, i))
        env.close()
    _INDEX[key] = index
    return index


class _Candidate:
    """One test task a row may be: its plan and (when ambiguous) a private env replaying it."""

    def __init__(self, benchmark: str, index: int, shadow: bool) -> None:
        from krazy_gym.evaluation.benchmarks import get_benchmark
        from krazy_gym.evaluation.oracle import load_oracle

        bench = get_benchmark(benchmark)
        self.name = f"{bench.full_name} test task {index}"
        self.plan = load_oracle(bench).actions[index]
        self.env = self.task = None
        if shadow:
            import gymnasium as gym

            self.task = bench.tasks()[index]
            self.env = gym.make(bench.env_id, **bench.env_kwargs)

    def start_episode(self) -> None:
        if self.env is not None:  # (None: not ambiguous, or no longer checked)
            self.env.reset(seed=0, options={"task": self.task})

    def agrees(self, action: int, reward: float, next_obs: np.ndarray, done: bool) -> bool:
        """Step the private env; whether it saw what the real row saw."""
        obs, r, terminated, truncated, _ = self.env.step(action)
        same = float(r) == float(reward) and bool(terminated or truncated) == done
        return same and (done or np.array_equal(np.asarray(obs), next_obs))

    def close(self) -> None:
        if self.env is not None:
            self.env.close()


class OracleAgent:
    """Plays each row's stored optimal plan, the row's task found from its observations."""

    name = "krazy_gym:oracle"

    def __init__(self, seed: int | None = 0) -> None:
        del seed  # deterministic: the plans are fixed
        self.rows: list[list[_Candidate] | None] = []
        self.steps = np.zeros(0, dtype=np.int64)
        self.new_episode = np.zeros(0, dtype=bool)

    def reset(self, num_tasks: int, observation_space: Any, action_space: Any) -> None:
        self._close()
        self.index = _first_observations(observation_space)
        if not self.index:
            raise ValueError("the oracle agent plays Krazy World benchmarks only; no stored "
                             f"test task has the observation space {observation_space}")
        self.rows = [None] * int(num_tasks)
        self.steps = np.zeros(int(num_tasks), dtype=np.int64)
        self.new_episode = np.ones(int(num_tasks), dtype=bool)

    def act(self, obs: np.ndarray, active: np.ndarray | None = None) -> np.ndarray:
        actions = np.zeros(len(self.rows), dtype=np.int64)
        for row in range(len(self.rows)):
            if active is not None and not active[row]:
                continue
            if self.rows[row] is None:
                matches = self.index.get(np.asarray(obs[row]).tobytes())
                if not matches:
                    raise ValueError(f"oracle agent: row {row}'s first observation matches no "
                                     "stored Krazy World test task")
                self.rows[row] = [_Candidate(b, i, shadow=len(matches) > 1) for b, i in matches]
            if self.new_episode[row]:
                for c in self.rows[row]:
                    c.start_episode()
                self.steps[row], self.new_episode[row] = 0, False
            plan, t = self.rows[row][0].plan, self.steps[row]
            actions[row] = plan[t] if t < len(plan) else 0
        return actions

    def observe(self, obs, action, reward, next_obs, terminated, truncated,
                active: np.ndarray | None = None) -> None:
        for row, candidates in enumerate(self.rows):
            if candidates is None or (active is not None and not active[row]):
                continue
            done = bool(terminated[row] or truncated[row])
            if len(candidates) > 1 or candidates[0].env is not None:
                kept = [c for c in candidates if c.agrees(int(action[row]), float(reward[row]),
                                                          np.asarray(next_obs[row]), done)]
                if not kept:  # no stored task explains the row (cannot happen on the stored
                    kept = candidates[:1]  # boards): keep playing the first plan, no more checks
                    kept[0].close()
                    kept[0].env = None
                for c in candidates:
                    if c not in kept:
                        c.close()
                self.rows[row] = kept
            self.steps[row] += 1
            self.new_episode[row] = done

    def adapt(self) -> None:
        """Nothing to learn: the oracle knows the task."""

    def _close(self) -> None:
        for candidates in self.rows:
            for c in candidates or ():
                c.close()


def oracle_agent(seed: int | None = 0) -> OracleAgent:
    """Harness factory of :class:`OracleAgent` (``--agent oracle``)."""
    return OracleAgent(seed)
