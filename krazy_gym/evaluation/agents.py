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

A factory (``package.module:factory`` on the command line, or a built-in name of
:data:`BUILTIN_AGENTS` such as ``random``) returns a fresh ``MetaAgent``.
The runner calls it once per batch, passing ``seed=<int>`` if the factory accepts a ``seed``
argument, so runs are reproducible and independent of how batches are spread over workers.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import os
import types
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np

# the stable-baselines3 adapter has its own module (torch and SB3 are imported only when used)
from krazy_gym.evaluation.sb3_agents import SB3PolicyAgent, sb3_agent, sb3_algo_class

__all__ = [
    "AGENT_METHODS", "BUILTIN_AGENTS", "AgentSpecError", "MetaAgent", "RandomAgent",
    "SB3PolicyAgent", "accepts_active", "accepts_seed", "agent_environment", "agent_name",
    "builtin_agents_help",
    "check_agent", "load_factory", "make_agent", "random_agent", "resolve_agent_spec",
    "sb3_agent", "sb3_from_env",
]

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


#: environment variables of the ``sb3`` built-in agent (see :func:`sb3_from_env`)
SB3_ENV_VARS = ("KRAZY_GYM_SB3_MODEL", "KRAZY_GYM_SB3_ALGO", "KRAZY_GYM_SB3_DETERMINISTIC")
_BOOLS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


def sb3_from_env(seed: int | None = 0) -> SB3PolicyAgent:
    """Factory of the ``sb3`` built-in agent: the model file in ``KRAZY_GYM_SB3_MODEL``.

    ``KRAZY_GYM_SB3_ALGO`` names its algorithm (default ``PPO``; e.g. ``RecurrentPPO``),
    ``KRAZY_GYM_SB3_DETERMINISTIC`` is ``1`` (default: the most likely action) or ``0``
    (sampled with the harness seed). The input layout (flat or RL² trial) is detected from the
    model (:class:`SB3PolicyAgent`)::

        KRAZY_GYM_SB3_MODEL=bandit.zip KRAZY_GYM_SB3_ALGO=RecurrentPPO \\
            krazy-gym evaluate --agent sb3 --benchmark Bandit --seeds 5 --out bandit.json
    """
    path = os.environ.get("KRAZY_GYM_SB3_MODEL")
    if not path:
        raise ValueError("the sb3 agent needs KRAZY_GYM_SB3_MODEL=<model .zip file>")
    if not os.path.isfile(path):
        raise ValueError(f"KRAZY_GYM_SB3_MODEL={path!r} is not a file")
    algo = os.environ.get("KRAZY_GYM_SB3_ALGO", "PPO")
    flag = os.environ.get("KRAZY_GYM_SB3_DETERMINISTIC", "1").strip().lower()
    if flag not in _BOOLS:
        raise ValueError(
            f"KRAZY_GYM_SB3_DETERMINISTIC must be one of {sorted(_BOOLS)}, got {flag!r}"
        )
    try:
        sb3_algo_class(algo)
    except ValueError as exc:
        raise ValueError(f"KRAZY_GYM_SB3_ALGO: {exc}") from None
    return sb3_agent(path, algo, deterministic=_BOOLS[flag], seed=seed)


#: short names ``krazy-gym evaluate --agent NAME`` accepts: name -> (factory spec, what it is)
BUILTIN_AGENTS: dict[str, tuple[str, str]] = {
    "random": ("krazy_gym.evaluation.agents:random_agent", "uniformly random actions"),
    "sb3": ("krazy_gym.evaluation.agents:sb3_from_env",
            "a stable-baselines3/sb3-contrib model: KRAZY_GYM_SB3_MODEL=path.zip "
            "[KRAZY_GYM_SB3_ALGO=PPO] [KRAZY_GYM_SB3_DETERMINISTIC=1]"),
    "oracle": ("krazy_gym.evaluation.oracle_agent:oracle_agent",
               "Krazy World only: the privileged oracle that knows the stored test tasks and "
               "plays each one's optimal plan (the upper reference row)"),
    "baselines": ("baselines.agents:make",
                  "a checkpoint of python -m baselines.train: KRAZY_GYM_CHECKPOINT=path"),
}


@contextlib.contextmanager
def agent_environment(settings: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the block, then restore the previous values.

    The built-in ``baselines`` and ``sb3`` agents read their model from environment variables
    (``KRAZY_GYM_CHECKPOINT``, ``KRAZY_GYM_SB3_MODEL``, ...), as on the command line; code that
    evaluates such an agent in-process (``benchmarks/sb3_reference.py``, the leaderboard's
    ``seed-reference``) sets them here for exactly one run::

        with agent_environment({"KRAZY_GYM_CHECKPOINT": "reference/checkpoints/x.pt"}):
            results = evaluate("baselines.agents:make", "Bandit", seeds=5)
    """
    for key, value in settings.items():
        if not isinstance(key, str) or not isinstance(value, str) or not key:
            raise ValueError(f"environment settings must map names to strings, got {key!r}: {value!r}")
    before = {key: os.environ.get(key) for key in settings}
    os.environ.update(settings)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def builtin_agents_help() -> str:
    """One line per built-in agent name (for ``--help`` and error messages)."""
    return "; ".join(f"{name} ({what})" for name, (_, what) in BUILTIN_AGENTS.items())


def resolve_agent_spec(spec: str) -> str:
    """The factory spec for an ``--agent`` value: a built-in name (:data:`BUILTIN_AGENTS`)
    becomes its ``package.module:factory``; a spec with a ``:`` is returned unchanged.

    Raises:
        AgentSpecError: neither (the message lists the names, with a "did you mean").
    """
    if not isinstance(spec, str):
        raise AgentSpecError(f"agent spec must be a string, got {type(spec).__name__}")
    if spec in BUILTIN_AGENTS:
        return BUILTIN_AGENTS[spec][0]
    if ":" in spec:
        return spec
    import difflib

    close = difflib.get_close_matches(spec, list(BUILTIN_AGENTS), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise AgentSpecError(
        f"unknown agent {spec!r}{hint}: give 'package.module:factory' or a built-in name: "
        f"{', '.join(BUILTIN_AGENTS)}"
    )


def agent_name(agent: Any, spec: str) -> str:
    """A display name: the agent's ``name`` attribute, else its class name."""
    name = getattr(agent, "name", None)
    return name if isinstance(name, str) and name else type(agent).__name__
