"""Tiny meta-envs and scripted agents with analytic scores, for the harness tests.

Importing this module registers ``KrazyGymTest/ToyChain-v0`` and ``KrazyGymTest/ToyBandit-v0``;
benchmarks refer to them as ``"eval_toys:KrazyGymTest/..."`` so that worker processes (spawned)
import this module before making the env.

* ToyChain: a corridor; the task is the goal cell ``goal`` in 2..6. Actions: 0 stay, 1 right.
  Start cell 0 or 1 (drawn from ``env.np_random`` when ``start_noise``). Reward -penalty per step,
  +1 on reaching the goal (terminates). Horizon 10. ``info["optimal_length"]`` on every step.
  Observation: ``[position, goal if reveal_goal else 0]``.
* ToyBandit: ``n_arms`` deterministic arms, the task's ``target`` pays 1, the others 0; one
  pull per episode.
"""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv

from krazy_gym.evaluation.benchmarks import Benchmark
from krazy_gym.tasks import Task, TaskEnvMixin, TaskFamily

HORIZON = 10


@dataclasses.dataclass(frozen=True)
class ToyChainTask(Task):
    goal: int = 2
    penalty: float = 0.1
    FAMILIES = ("ToyChain",)


class ToyChainFamily(TaskFamily):
    name = "ToyChain"
    task_class = ToyChainTask

    def generate(self, rng: np.random.Generator) -> dict:
        return {"goal": int(rng.integers(2, 7)), "penalty": float(rng.uniform(0.05, 0.15))}


class ToyChainEnv(TaskEnvMixin, gym.Env):
    def __init__(self, start_noise: bool = True, reveal_goal: bool = False) -> None:
        self.task_family = ToyChainFamily()
        self.start_noise = start_noise
        self.reveal_goal = reveal_goal
        self.observation_space = spaces.Box(0.0, 20.0, (2,), np.float32)
        self.action_space = spaces.Discrete(2)
        self.pos = 0
        self.goal = 2
        self.penalty = 0.1

    def _apply_task(self, task: ToyChainTask) -> None:
        self.goal = task.goal
        self.penalty = task.penalty

    def _obs(self) -> np.ndarray:
        return np.array([self.pos, self.goal if self.reveal_goal else 0], dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._reset_task(options)
        self.pos = int(self.np_random.integers(0, 2)) if self.start_noise else 0
        self.start = self.pos
        return self._obs(), {"optimal_length": self.goal - self.start}

    def step(self, action):
        self.pos += int(action)
        reached = self.pos >= self.goal
        reward = 1.0 if reached else -self.penalty
        return self._obs(), reward, reached, False, {"optimal_length": self.goal - self.start}


class ToyChainVectorEnv(VectorEnv):
    """A native (vector_entry_point) version of ToyChain with per-env RNGs and tasks."""

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(self, num_envs: int = 1, max_episode_steps: int = HORIZON, **kwargs) -> None:
        self.envs = [ToyChainEnv(**kwargs) for _ in range(num_envs)]
        self.num_envs = num_envs
        self.max_episode_steps = max_episode_steps
        self.single_observation_space = self.envs[0].observation_space
        self.single_action_space = self.envs[0].action_space
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, num_envs)
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, num_envs)
        self.t = np.zeros(num_envs, dtype=np.int64)

    def reset(self, *, seed=None, options=None):
        seeds = seed if isinstance(seed, list) else [None] * self.num_envs
        tasks = (options or {}).get("task")
        obs = []
        for i, env in enumerate(self.envs):
            opts = {"task": tasks[i]} if tasks is not None else None
            obs.append(env.reset(seed=seeds[i], options=opts)[0])
        self.t[:] = 0
        return np.stack(obs), {}

    def step(self, actions):
        obs, rew, term, trunc = [], [], [], []
        final_obs = np.full(self.num_envs, None, dtype=object)
        final_info = {"optimal_length": np.zeros(self.num_envs), "_optimal_length": np.zeros(self.num_envs, bool)}
        for i, env in enumerate(self.envs):
            o, r, te, _, info = env.step(actions[i])
            self.t[i] += 1
            tr = (not te) and self.t[i] >= self.max_episode_steps
            if te or tr:
                final_obs[i] = o
                final_info["optimal_length"][i] = info["optimal_length"]
                final_info["_optimal_length"][i] = True
                o, _ = env.reset()
                self.t[i] = 0
            obs.append(o)
            rew.append(r)
            term.append(te)
            trunc.append(tr)
        infos = {"final_obs": final_obs, "_final_obs": np.array([o is not None for o in final_obs]),
                 "final_info": final_info, "_final_info": final_info["_optimal_length"]}
        return np.stack(obs), np.array(rew), np.array(term), np.array(trunc), infos

    def set_attr(self, name, values):
        for env, v in zip(self.envs, values):
            setattr(env, name, v)


@dataclasses.dataclass(frozen=True)
class ToyBanditTask(Task):
    target: int = 0
    salt: float = 0.0  # no effect on the MDP; lets every target reach the hash-split test set
    FAMILIES = ("ToyBandit",)


class ToyBanditFamily(TaskFamily):
    name = "ToyBandit"
    task_class = ToyBanditTask

    def __init__(self, n_arms: int = 4) -> None:
        super().__init__(n_arms=n_arms)
        self.n_arms = n_arms

    def generate(self, rng: np.random.Generator) -> dict:
        return {"target": int(rng.integers(0, self.n_arms)), "salt": float(rng.random())}


class ToyBanditEnv(TaskEnvMixin, gym.Env):
    def __init__(self, n_arms: int = 4) -> None:
        self.task_family = ToyBanditFamily(n_arms)
        self.observation_space = spaces.Box(0.0, 1.0, (1,), np.float32)
        self.action_space = spaces.Discrete(n_arms)
        self.target = 0

    def _apply_task(self, task: ToyBanditTask) -> None:
        self.target = task.target

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._reset_task(options)
        return np.zeros(1, np.float32), {}

    def step(self, action):
        return np.zeros(1, np.float32), float(int(action) == self.target), True, False, {}


if "KrazyGymTest/ToyChain-v0" not in gym.registry:
    gym.register("KrazyGymTest/ToyChain-v0", entry_point="eval_toys:ToyChainEnv",
                 vector_entry_point="eval_toys:ToyChainVectorEnv", max_episode_steps=HORIZON)
    gym.register("KrazyGymTest/ToyBandit-v0", entry_point="eval_toys:ToyBanditEnv",
                 max_episode_steps=1)


def chain_benchmark(**overrides) -> Benchmark:
    fields = dict(
        name="ToyChain", version=1, env_id="eval_toys:KrazyGymTest/ToyChain-v0", env_kwargs={},
        num_test_tasks=6, explore_episodes=2, exploit_episodes=2, random_score=-0.5,
        max_score=1.0, metric_kind="maze", vectorization="sync", batch_size=4,
    )
    fields.update(overrides)
    return Benchmark(**fields)


def bandit_benchmark(**overrides) -> Benchmark:
    fields = dict(
        name="ToyBandit", version=1, env_id="eval_toys:KrazyGymTest/ToyBandit-v0",
        env_kwargs={"n_arms": 4}, num_test_tasks=12, explore_episodes=3, exploit_episodes=2,
        random_score=0.25, max_score=1.0, vectorization="sync", batch_size=5,
    )
    fields.update(overrides)
    return Benchmark(**fields)


# -- scripted agents ------------------------------------------------------------------------------


class AlwaysRight:
    """Steps right every step: on ToyChain without start noise, return 1 - penalty (goal - 1)."""

    name = "always-right"

    def reset(self, num_tasks, observation_space, action_space):
        self.n = num_tasks

    def act(self, obs):
        return np.ones(self.n, dtype=np.int64)

    def observe(self, obs, action, reward, next_obs, terminated, truncated):
        pass

    def adapt(self):
        pass


def always_right():
    return AlwaysRight()


class ExploreThenCommit:
    """ToyBandit: pull arm e in explore episode e, adapt to the paying arm (or the untried one)."""

    name = "explore-commit"

    def __init__(self, seed=None):
        self.seed = seed

    def reset(self, num_tasks, observation_space, action_space):
        self.n, self.arms = num_tasks, action_space.n
        self.episode = 0
        self.found = np.full(num_tasks, -1)
        self.choice = None

    def act(self, obs):
        if self.choice is not None:
            return self.choice.copy()
        return np.full(self.n, self.episode, dtype=np.int64)

    def observe(self, obs, action, reward, next_obs, terminated, truncated):
        if self.choice is None:
            self.found[np.asarray(reward) > 0] = self.episode
            self.episode += 1

    def adapt(self):
        self.choice = np.where(self.found >= 0, self.found, self.episode).astype(np.int64)


def explore_commit(seed=None):
    return ExploreThenCommit(seed)


class ActiveCounter(AlwaysRight):
    """Counts the steps it is told are active, per row (tests the ``active`` keyword)."""

    name = "active-counter"
    instances: list = []

    def reset(self, num_tasks, observation_space, action_space):
        super().reset(num_tasks, observation_space, action_space)
        self.active_steps = np.zeros(num_tasks, dtype=np.int64)
        self.seen_idle_reward = 0.0
        ActiveCounter.instances.append(self)

    def act(self, obs, active=None):
        assert active is not None and active.shape == (self.n,)
        return np.ones(self.n, dtype=np.int64)

    def observe(self, obs, action, reward, next_obs, terminated, truncated, active=None):
        self.active_steps += active
        self.seen_idle_reward += float(np.abs(np.asarray(reward)[~active]).sum())


def active_counter():
    return ActiveCounter()


class GoalBreaker(AlwaysRight):
    """Reads the goal (reveal_goal=True) and misbehaves on tasks whose goal is ``BAD_GOAL``."""

    name = "goal-breaker"
    mode = "invalid"

    def act(self, obs):
        bad = obs[:, 1] == self.bad_goal
        if bad.any() and self.mode == "raise":
            raise RuntimeError("boom")
        action = np.ones(self.n, dtype=np.int64)
        action[bad] = 7
        return action


def invalid_on_goal(goal: int):
    def factory():
        agent = GoalBreaker()
        agent.bad_goal, agent.mode = goal, "invalid"
        return agent
    return factory


def raise_on_goal_5():
    agent = GoalBreaker()
    agent.bad_goal, agent.mode = 5, "raise"
    return agent


def invalid_on_goal_5():
    agent = GoalBreaker()
    agent.bad_goal, agent.mode = 5, "invalid"
    return agent


def not_an_agent():
    return object()


class SeededRandom:
    """Random actions from its own seeded Generator (tests seeding through the factory)."""

    name = "seeded-random"

    def __init__(self, seed=None):
        self.rng = np.random.default_rng(seed)

    def reset(self, num_tasks, observation_space, action_space):
        self.n, self.k = num_tasks, action_space.n

    def act(self, obs):
        return self.rng.integers(0, self.k, size=self.n)

    def observe(self, *args):
        pass

    def adapt(self):
        pass


def seeded_random(seed=None):
    return SeededRandom(seed)


class BoundaryChecker(AlwaysRight):
    """On ToyChain with reveal_goal and no start noise, checks what the runner shows at
    episode boundaries; the test reads ``problems`` (must stay empty) and ``terminals``."""

    name = "boundary-checker"
    instances: list = []

    def reset(self, num_tasks, observation_space, action_space):
        super().reset(num_tasks, observation_space, action_space)
        self.problems, self.terminals = [], 0
        self.expect_start = np.ones(num_tasks, dtype=bool)
        BoundaryChecker.instances.append(self)

    def act(self, obs, active=None):
        starts = self.expect_start & active
        if np.any(obs[starts, 0] != 0):
            self.problems.append(("episode did not start at 0", obs[starts, 0].tolist()))
        self.expect_start[:] = False
        return np.ones(self.n, dtype=np.int64)

    def observe(self, obs, action, reward, next_obs, terminated, truncated, active=None):
        term = np.asarray(terminated)
        if np.any(next_obs[term, 0] != next_obs[term, 1]):
            self.problems.append(("final obs is not the goal cell", next_obs[term].tolist()))
        if np.any(term & ~active):
            self.problems.append(("idle row reported terminated",))
        self.terminals += int(term.sum())
        self.expect_start = term.copy()

    def adapt(self):
        self.expect_start[:] = True


def boundary_checker():
    return BoundaryChecker()


class RightModel:
    """Duck-typed SB3 model: ``predict`` returns 'right' for every row (records its calls)."""

    def __init__(self):
        self.calls = []

    def predict(self, obs, state=None, episode_start=None, deterministic=False):
        self.calls.append((np.asarray(obs).shape, deterministic))
        return np.ones(len(obs), dtype=np.int64), state


def sb3_right():
    from krazy_gym.evaluation.agents import SB3PolicyAgent

    return SB3PolicyAgent(RightModel())


def sb3_untrained_ppo(seed=None):
    """A real (untrained) stable-baselines3 PPO policy on ToyChain."""
    from stable_baselines3 import PPO

    from krazy_gym.evaluation.agents import SB3PolicyAgent

    env = gym.make("KrazyGymTest/ToyChain-v0")
    model = PPO("MlpPolicy", env, seed=0, device="cpu", n_steps=16, batch_size=16)
    return SB3PolicyAgent(model, deterministic=True)


class WrongShape(AlwaysRight):
    name = "wrong-shape"

    def act(self, obs):
        return np.ones((self.n, 2), dtype=np.int64)


def wrong_shape():
    return WrongShape()


class BadBox:
    """Navigation-style agent for a Box action space that returns NaN for row 1."""

    name = "bad-box"

    def reset(self, num_tasks, observation_space, action_space):
        self.n, self.shape = num_tasks, action_space.shape

    def act(self, obs):
        a = np.zeros((self.n, *self.shape), dtype=np.float32)
        a[1] = np.nan
        return a

    def observe(self, *args):
        pass

    def adapt(self):
        pass


def bad_box():
    return BadBox()


class Misbehaving(AlwaysRight):
    """Ends or stalls the process from inside an agent method (the harness must not be fooled).

    ``how``: ``"exit"`` calls ``sys.exit(0)`` in ``act``; ``"interrupt"`` raises
    KeyboardInterrupt in ``observe``; ``"sleep"`` blocks in ``act`` for an hour;
    ``"busy"`` runs a loop in compiled code (``sum`` over a huge range) that no signal
    handler can interrupt. Every action before that is valid (always right).
    """

    name = "misbehaving"
    how = "exit"

    def act(self, obs):
        import sys
        import time

        if self.how == "exit":
            sys.exit(0)
        if self.how == "sleep":
            time.sleep(3600)
        if self.how == "busy":
            sum(range(10**15))
        return super().act(obs)

    def observe(self, *args, **kwargs):
        if self.how == "interrupt":
            raise KeyboardInterrupt
        return super().observe(*args, **kwargs)


def _misbehaving(how: str):
    agent = Misbehaving()
    agent.how = how
    return agent


def exit_in_act():
    return _misbehaving("exit")


def interrupt_in_observe():
    return _misbehaving("interrupt")


def sleep_in_act():
    return _misbehaving("sleep")


def busy_in_act():
    return _misbehaving("busy")


def exit_in_factory():
    raise SystemExit(0)
