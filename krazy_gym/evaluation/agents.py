"""The agent interface of the harness, the agents that ship with it, and agent loading.

Every agent — recurrent (RL²), gradient-adapting (MAML/ProMP), scripted or third-party —
implements :class:`MetaAgent`. The runner drives it in **lockstep batches**: ``num_tasks``
test tasks run side by side, and every call carries one row per task.

For each batch the runner calls ``reset(num_tasks, observation_space, action_space)`` (a new
set of tasks begins; the spaces are the single-env spaces), then for ``explore_episodes``
episodes: ``act(obs)`` → actions, env step, ``observe(obs, action, reward, next_obs,
terminated, truncated)``; then ``adapt()`` once; then the ``exploit_episodes`` episodes the
same way. Within a phase each task runs its episodes back to back: when a row's episode ends
(``terminated | truncated``), that row's next ``obs`` is the first observation of its next
episode. A row that has finished all episodes of the phase while other rows still run is
**idle**: its ``obs`` stays its final observation, the action returned for it is ignored, and
``observe`` reports it with ``reward`` 0 and ``terminated = truncated = False``. An agent
whose per-step state must not see idle steps (an RNN) may accept an optional keyword
``active`` (a bool array, one per row) in ``act`` and ``observe``; the runner passes it when
the method's signature takes it.

A factory (``package.module:factory`` on the command line) returns a fresh ``MetaAgent``.
The runner calls it once per batch, passing ``seed=<int>`` if the factory accepts a ``seed``
argument, so runs are reproducible and independent of how batches are spread over workers.
"""

from __future__ import annotations

import importlib
import inspect
import types
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np

#: the four methods a MetaAgent must have (checked on every agent the factory returns)
AGENT_METHODS = ("reset", "act", "observe", "adapt")


@runtime_checkable
class MetaAgent(Protocol):
    """What the harness needs from an agent (batched over the tasks that run in lockstep)."""

    def reset(self, num_tasks: int, observation_space, action_space) -> None:
        """New tasks begin (forget everything task-specific)."""
        ...

    def act(self, obs: np.ndarray) -> np.ndarray:
        """One action per running task (``obs`` has one row per task)."""
        ...

    def observe(self, obs, action, reward, next_obs, terminated, truncated) -> None:
        """The transition of every row after a step."""
        ...

    def adapt(self) -> None:
        """Between the explore and the exploit episodes (e.g. a gradient step)."""
        ...


class AgentSpecError(ValueError):
    """An agent spec (``package.module:factory``) cannot be loaded or gives no MetaAgent."""


def check_agent(agent: Any, source: str = "agent") -> MetaAgent:
    """Return ``agent`` if it has the four MetaAgent methods, else raise ``AgentSpecError``."""
    missing = [m for m in AGENT_METHODS if not callable(getattr(agent, m, None))]
    if missing:
        raise AgentSpecError(
            f"{source} returned {type(agent).__name__!s}, which is not a MetaAgent "
            f"(missing method(s): {', '.join(missing)}; needs {', '.join(AGENT_METHODS)})"
        )
    return agent


def load_factory(spec: str) -> Callable[..., MetaAgent]:
    """Import ``package.module:factory`` and return the callable.

    Raises:
        AgentSpecError: malformed spec, module that does not import, missing or non-callable
            attribute.
    """
    if not isinstance(spec, str) or spec.count(":") != 1:
        raise AgentSpecError(
            f"agent spec must look like 'package.module:factory', got {spec!r}"
        )
    module_name, attr = spec.split(":")
    if not module_name or not attr:
        raise AgentSpecError(f"agent spec must look like 'package.module:factory', got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - any import failure is a bad spec
        raise AgentSpecError(
            f"agent spec {spec!r}: module {module_name!r} does not import "
            f"({type(exc).__name__}: {exc})"
        ) from exc
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise AgentSpecError(f"agent spec {spec!r}: {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise AgentSpecError(f"agent spec {spec!r}: {attr!r} is not callable")
    return obj


def accepts_seed(factory: Callable[..., Any]) -> bool:
    """Whether ``factory`` takes a ``seed`` keyword (or ``**kwargs``)."""
    return _accepts(factory, "seed", True)


_ACCEPTS: dict[tuple[Any, ...], bool] = {}


def _accepts(fn: Callable[..., Any], name: str, var_keyword: bool) -> bool:
    """Whether ``fn`` takes keyword ``name`` (or, with ``var_keyword``, ``**kwargs``).

    The answer for a plain function or a method bound to any instance depends only on the
    function object (whose signature cannot change), so it is computed once per function;
    other callables are inspected on every call.
    """
    func = getattr(fn, "__func__", fn)
    key = None
    if isinstance(func, types.FunctionType):
        key = (func, func is not fn, name, var_keyword)
        hit = _ACCEPTS.get(key)
        if hit is not None:
            return hit
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        answer = False
    else:
        answer = name in params or (
            var_keyword and any(p.kind is p.VAR_KEYWORD for p in params.values())
        )
    if key is not None and len(_ACCEPTS) < 1024:
        _ACCEPTS[key] = answer
    return answer


def make_agent(factory: Callable[..., Any], seed: int | None, source: str) -> MetaAgent:
    """Call ``factory`` (with ``seed=`` when it accepts one) and check the result."""
    agent = factory(seed=seed) if seed is not None and accepts_seed(factory) else factory()
    return check_agent(agent, source)


def accepts_active(method: Callable[..., Any]) -> bool:
    """Whether an agent method takes the optional ``active`` keyword."""
    return _accepts(method, "active", False)


# -- agents that ship with the harness -----------------------------------------------------------


class RandomAgent:
    """Uniformly random actions from the single-env action space, one row per task.

    Discrete and Box spaces are sampled in one vectorised call; other spaces row by row.
    ``seed`` seeds its own ``np.random.Generator`` (no global RNG).
    """

    def __init__(self, seed: int | None = 0) -> None:
        self._seed = seed
        self._rng = np.random.default_rng(seed)
        self._space = None
        self._n = 0

    def reset(self, num_tasks: int, observation_space, action_space) -> None:
        self._n = int(num_tasks)
        self._space = action_space
        action_space.seed(int(self._rng.integers(2**31)))

    def act(self, obs: np.ndarray) -> np.ndarray:
        from gymnasium import spaces

        space = self._space
        if isinstance(space, spaces.Discrete):
            return self._rng.integers(space.start, space.start + space.n, size=self._n)
        if isinstance(space, spaces.Box) and space.is_bounded():
            return self._rng.uniform(space.low, space.high, size=(self._n, *space.shape)).astype(
                space.dtype
            )
        return np.stack([space.sample() for _ in range(self._n)])

    def observe(self, obs, action, reward, next_obs, terminated, truncated) -> None:
        return None

    def adapt(self) -> None:
        return None


def random_agent(seed: int | None = 0) -> RandomAgent:
    """Factory for the uniform random agent: ``krazy_gym.evaluation.agents:random_agent``."""
    return RandomAgent(seed=seed)


class SB3PolicyAgent:
    """Adapts a trained stable-baselines3 model (anything with ``predict``) to MetaAgent.

    The policy does not adapt (``adapt`` is a no-op); it is the "no meta-learning" baseline a
    multi-task SB3 policy gives. Recurrent sb3-contrib models keep their LSTM state per row
    across the episodes of a task (reset at ``reset``), which makes them a simple RL²-style
    agent. ``deterministic`` is passed to ``predict``.

        >>> from stable_baselines3 import PPO                       # doctest: +SKIP
        >>> agent = SB3PolicyAgent(PPO.load("ppo_krazy.zip"))       # doctest: +SKIP
    """

    def __init__(self, model: Any, deterministic: bool = True) -> None:
        if not callable(getattr(model, "predict", None)):
            raise TypeError(f"model must have a predict() method, got {type(model).__name__}")
        self.model = model
        self.deterministic = bool(deterministic)
        self._state: Any = None
        self._starts: np.ndarray | None = None

    def reset(self, num_tasks: int, observation_space, action_space) -> None:
        self._state = None
        self._starts = np.ones(int(num_tasks), dtype=bool)

    def act(self, obs: np.ndarray) -> np.ndarray:
        action, self._state = self.model.predict(
            obs, state=self._state, episode_start=self._starts, deterministic=self.deterministic
        )
        return np.asarray(action)

    def observe(self, obs, action, reward, next_obs, terminated, truncated, active=None) -> None:
        # a recurrent policy keeps its memory across episodes of the same task (RL²-style);
        # idle rows must not advance it, which predict() cannot skip, so we only track starts
        self._starts = np.zeros_like(np.asarray(terminated, dtype=bool))

    def adapt(self) -> None:
        return None


def sb3_agent(path: str, algo: str = "PPO", deterministic: bool = True) -> SB3PolicyAgent:
    """Load an SB3 (or sb3-contrib) model file and wrap it: ``sb3_agent("model.zip", "PPO")``.

    For the CLI, write a two-line factory module that calls this with your path.
    """
    module = "sb3_contrib" if algo.startswith("Recurrent") or algo in {"TRPO", "QRDQN", "TQC", "ARS"} else "stable_baselines3"
    cls = getattr(importlib.import_module(module), algo)
    return SB3PolicyAgent(cls.load(path, device="cpu"), deterministic=deterministic)


def agent_name(agent: Any, spec: str) -> str:
    """A display name: the agent's ``name`` attribute, else its class name."""
    name = getattr(agent, "name", None)
    return name if isinstance(name, str) and name else type(agent).__name__
