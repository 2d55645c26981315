"""RL² and E-RL²: a GRU policy trained with PPO over whole trials.

RL² (Duan et al. 2016, arXiv 1611.02779): the agent is a recurrent policy whose input at every
step is the observation, the previous action, the previous reward and an episode-done flag
(the :class:`krazy_gym.wrappers.TrialWrapper` layout). A *trial* is ``episodes_per_trial``
episodes of one task; the GRU's hidden state starts at zero at the trial start and is carried
across the episodes of the trial, so "learning" the task happens in the activations. Training
maximises the return of the whole trial: GAE runs across episode boundaries inside a trial and
only the trial end is terminal.

E-RL² (Stadie et al. 2018, arXiv 1803.01118): the same, with the *training* rewards of the first
``explore_episodes`` episodes of each trial set to zero — the network still sees the true
rewards as inputs, but is only paid for the later (exploit) episodes, so the early episodes are
free to explore.

Training (``python -m baselines.train``)::

    python -m baselines.train --algo rl2 --env KrazyGym/Bandit-v0 --config paper --out runs/bandit
    python -m baselines.train --algo erl2 --explore-episodes 3 --env KrazyGym/KrazyWorld-Medium-v0 \\
        --set episodes_per_trial=5 --out runs/kw-erl2

Every iteration samples ``trials_per_iteration`` whole trials in lockstep (a batched GRU step
per env step), then runs ``ppo_epochs`` passes of PPO-clip over minibatches of whole trials,
each minibatch through one ``nn.GRU`` call. With ``workers = N`` the trials are split into N
groups, each sampled by its own thread, and each minibatch gradient is the sum of the groups'
gradients computed in parallel (one torch thread per worker: no OpenMP barrier per op).
Bandit and tabular-MDP trials are simulated by the native vectorised samplers of
:mod:`baselines.common.trial_sampler`; every other meta-env runs through its gymnasium vector
env.

A trained run plugs into the harness with :func:`load_agent` (or ``baselines.agents.load``):
the hidden state is reset when new tasks begin and carried across explore and exploit episodes;
``adapt()`` does nothing.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

from baselines.common.checkpoint import (
    CHECKPOINT_NAME,
    Checkpoint,
    CheckpointError,
    capture_rng_state,
    load_checkpoint,
    restore_rng_state,
    save_checkpoint,
)
from baselines.common.config import (
    ConfigError,
    budget_spent,
    describe_differences,
    expected_iterations,
)
from baselines.common.logger import RunLogger
from baselines.common.recurrent import (
    WEIGHT_INITS,
    RecurrentActorCritic,
    gae_over_trials,
    masked_mean,
    ppo_loss,
    training_rewards,
)
from baselines.common.trial_sampler import (
    BanditTrials,
    TabularMDPTrials,
    TrialInputLayout,
    VectorEnvTrials,
)

ALGO_NAMES = ("rl2", "erl2")
SAMPLERS = ("auto", "native", "vector")


@dataclasses.dataclass(frozen=True)
class Config:
    """RL² / E-RL² settings. Every field has a default; invalid values raise ``ValueError``."""

    algo: str = "rl2"  #: CLI name: "rl2" or "erl2"
    env_id: str = "KrazyGym/Bandit-v0"  #: a registered meta-env id (must have the task API)
    env_kwargs: str = "{}"  #: JSON object of gym.make keywords, e.g. '{"size": 5}' for Maze
    seed: int = 0  #: seeds the weights, the task pool, the sampler and action sampling
    iterations: int = 200  #: total PPO iterations of the run
    #: env-step budget: the run also stops after the first iteration at which its env steps
    #: reach this (as stable-baselines3's ``total_timesteps``; it may pass it by at most one
    #: iteration's steps); 0 = no budget. Like ``iterations`` a resumed run may change it
    max_env_steps: int = 0
    episodes_per_trial: int = 10  #: episodes of one task per trial (bandit: pulls per trial)
    explore_episodes: int = 0  #: E-RL²: first p episodes' training rewards are zeroed (0 = RL²)
    hidden_size: int = 256  #: GRU units (RL² paper: 256)
    #: initial bias of the GRU update gate (> 0: the state is kept over more steps at the start
    #: of training; 0 = PyTorch's plain zero bias)
    update_gate_bias: float = 0.0
    #: give the value head its own GRU, as the RL² paper's separate RNN baseline: the value
    #: loss then sends no gradient into the policy's GRU (value_coef / reward_scale no longer
    #: trade the value fit against the policy's features); costs ~2x the GRU compute (rollout
    #: and update). False = one GRU shared by the policy and value heads
    separate_value: bool = False
    #: units of a fully connected ReLU layer between the input vector and the GRU (the RL²
    #: paper's embedding phi(s, a, r, d)); 0 = the GRU reads the raw input vector
    input_embedding: int = 0
    #: how the weights are drawn from ``seed``: "orthogonal" (gain 1 GRU, 0.01 policy head) or
    #: "uniform" (PyTorch's default ranges; in imitation runs the tabular-MDP network found
    #: its memory sooner from them, see RecurrentActorCritic)
    weight_init: str = "orthogonal"
    trials_per_iteration: int = 1024  #: trials sampled in lockstep per iteration
    task_pool_size: int = 20000  #: training tasks drawn once from the train stream
    learning_rate: float = 1e-3  #: Adam step size
    gamma: float = 0.99  #: discount (across episodes inside a trial)
    gae_lambda: float = 0.95  #: GAE lambda
    clip: float = 0.2  #: PPO clip range
    ppo_epochs: int = 4  #: passes over the iteration's trials
    minibatches: int = 4  #: minibatches (of whole trials) per pass
    value_coef: float = 0.5  #: weight of the value loss
    entropy_coef: float = 0.01  #: weight of the entropy bonus
    max_grad_norm: float = 0.5  #: gradient-norm clip
    normalize_advantages: bool = True  #: standardise advantages over the valid steps
    #: training rewards are multiplied by this before GAE, so the value head (which shares the
    #: GRU with the policy unless separate_value) regresses returns of order 1-10; logged
    #: returns are unscaled
    reward_scale: float = 1.0
    sampler: str = "auto"  #: "native" (bandit / tabular MDP), "vector" (any env), "auto"
    num_threads: int = 1  #: torch intra-op threads (1: OpenMP threads stall on a busy machine)
    #: worker threads: the iteration's trials are split into this many groups, each sampled by
    #: its own thread (own sampler and random streams) and each minibatch's gradient is the sum
    #: of the groups' gradients, computed in parallel; every worker runs torch with one thread,
    #: so use it (with num_threads=1) to occupy several cores without OpenMP's per-op barriers.
    #: Results are deterministic for a given value but differ between values (random streams)
    workers: int = 1
    log_every: int = 1  #: refresh the learning-curve PNG every n iterations
    #: warm start: a run directory or checkpoint file of an RL² / E-RL² run whose network
    #: weights (not its optimiser state, iteration count or random streams) start this run
    #: instead of weights drawn from ``seed``; the network shape must match. E.g. a
    #: curriculum: a run on short trials, then one on the full trials with ``init_from``
    #: pointing at it. "" = fresh weights. Resuming a run ignores it
    init_from: str = ""

    def __post_init__(self) -> None:
        if self.algo not in ALGO_NAMES:
            raise ValueError(f"algo must be one of {ALGO_NAMES}, got {self.algo!r}")
        ints = {
            "iterations": 0, "episodes_per_trial": 1, "hidden_size": 1, "trials_per_iteration": 1,
            "task_pool_size": 1, "ppo_epochs": 1, "minibatches": 1, "num_threads": 1,
            "log_every": 1, "seed": 0, "workers": 1, "input_embedding": 0, "max_env_steps": 0,
        }
        for name, low in ints.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        p = self.explore_episodes
        if isinstance(p, bool) or not isinstance(p, int) or not 0 <= p < self.episodes_per_trial:
            raise ValueError(
                f"explore_episodes (--explore-episodes) must be an int in "
                f"[0, episodes_per_trial={self.episodes_per_trial}), got {p!r}: "
                "at least one episode of each trial must be paid"
            )
        if self.workers > self.trials_per_iteration:
            raise ValueError(
                f"workers must be <= trials_per_iteration={self.trials_per_iteration}, "
                f"got {self.workers}"
            )
        if self.workers > 1 and self.num_threads != 1:
            raise ValueError(
                f"num_threads must be 1 when workers > 1 (each worker is one thread), got "
                f"num_threads={self.num_threads}, workers={self.workers}"
            )
        if self.minibatches > self.trials_per_iteration:
            raise ValueError(
                f"minibatches must be <= trials_per_iteration={self.trials_per_iteration}, "
                f"got {self.minibatches}"
            )
        for name in ("learning_rate", "clip", "max_grad_norm", "reward_scale"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("gamma", "gae_lambda"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)!r}")
        if self.weight_init not in WEIGHT_INITS:
            raise ValueError(f"weight_init must be one of {WEIGHT_INITS}, got {self.weight_init!r}")
        if not isinstance(self.init_from, str):
            raise ValueError(f"init_from must be a path string ('' = none), got {self.init_from!r}")
        if not isinstance(self.separate_value, bool):
            raise ValueError(
                f"separate_value must be a bool (true/false), got {self.separate_value!r}")
        if not math.isfinite(self.update_gate_bias):
            raise ValueError(f"update_gate_bias must be finite, got {self.update_gate_bias!r}")
        for name in ("value_coef", "entropy_coef"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        try:
            kwargs = json.loads(self.env_kwargs)
        except (TypeError, json.JSONDecodeError) as exc:
            raise ValueError(f"env_kwargs must be a JSON object, got {self.env_kwargs!r}") from exc
        if not isinstance(kwargs, dict):
            raise ValueError(f"env_kwargs must be a JSON object, got {self.env_kwargs!r}")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}, got {self.sampler!r}")

    @classmethod
    def paper(cls, env_id: str) -> Config:
        """The RL² paper's trial structure and network (256-unit GRU) for ``env_id``'s family.

        Bandits: 10 pulls per trial (for the 100-pull table also change the PPO settings, as
        ``benchmarks/learn_rl2.py --problem bandit5x100`` does); tabular MDPs: 10 episodes of
        10 steps, with the paper's input embedding; Krazy World / mazes: E-RL²'s 3 explore +
        2 exploit episodes (5 per trial). The optimiser is PPO, not the paper's TRPO (see
        docs/results.md, section rl2).
        """
        family = env_id.split("/")[-1].rsplit("-v", 1)[0]
        if family.startswith("Bandit"):
            # lambda 0.3, 8 epochs, no entropy bonus: best of a short sweep here (docs/results.md)
            return cls(env_id=env_id, episodes_per_trial=10, iterations=300,
                       trials_per_iteration=512, ppo_epochs=8, gae_lambda=0.3,
                       entropy_coef=0.0)
        if family.startswith("TabularMDP"):
            # gamma 0: a step's training return is its own reward. The best policy for that
            # objective takes, in the current state, the action with the highest expected
            # reward given the trial so far: the myopic Bayes strategy, which scores 157 here
            # (benchmarks/tabular_reference.py), above the anchor. The advantage r - V(h) then
            # carries none of the noise of later random transitions and rewards; with gamma
            # 0.99 every run plateaued at 122-127.5 up to 95M env-steps (docs/results.md).
            # Uniform (PyTorch default) weights, as in the reference run (with gamma 0 the
            # orthogonal ones learned about as fast). Also: training rewards x0.02 for the shared value head, an entropy bonus
            # against early collapse, many small minibatches over a large batch, and the
            # paper's input embedding (256 ReLU units), which learns faster than raw inputs.
            # 600 iterations (61M env-steps): the reference run first scored >= 150 at
            # iteration 480 and stayed above it from iteration 550 on.
            return cls(env_id=env_id, episodes_per_trial=10, trials_per_iteration=1024,
                       iterations=600, ppo_epochs=2, minibatches=16, gamma=0.0,
                       gae_lambda=0.9, entropy_coef=0.02, reward_scale=0.02,
                       learning_rate=2e-3, input_embedding=256, weight_init="uniform")
        if family.startswith(("KrazyWorld", "Maze")):
            return cls(env_id=env_id, episodes_per_trial=5, trials_per_iteration=256,
                       iterations=500)
        return cls(env_id=env_id, episodes_per_trial=2, trials_per_iteration=64, iterations=500)


# -- environment plumbing -----------------------------------------------------------------------
def _make_single(env_id: str, env_kwargs: dict[str, Any] | None = None) -> Any:
    import gymnasium as gym

    import krazy_gym  # noqa: F401  (registers the ids)

    try:
        return gym.make(env_id, **(env_kwargs or {}))
    except (gym.error.Error, TypeError, ValueError) as exc:
        raise ConfigError(f"env_id {env_id!r} with env_kwargs {env_kwargs} cannot be made: {exc}") from exc


def check_task_api(env: Any, env_id: str) -> None:
    """Raise ``ConfigError`` unless ``env.unwrapped`` has the meta-env task API."""
    missing = [m for m in ("sample_tasks", "set_task", "get_task") if not hasattr(env.unwrapped, m)]
    if missing:
        raise ConfigError(
            f"env {env_id!r} has no task API (missing {', '.join(missing)}): RL² needs a "
            "meta-env whose tasks can be sampled (any KrazyGym/* id)"
        )


def draw_task_pool(config: Config) -> list[Any]:
    """The run's training tasks: ``task_pool_size`` tasks of the family's train stream."""
    env = _make_single(config.env_id, json.loads(config.env_kwargs))
    check_task_api(env, config.env_id)
    return list(env.unwrapped.sample_tasks(config.task_pool_size, split="train", seed=config.seed))


def make_sampler(
    config: Config,
    rng: np.random.Generator,
    num_trials: int | None = None,
    pool: Sequence[Any] | None = None,
) -> Any:
    """The trial sampler for ``config`` over ``pool`` (default: :func:`draw_task_pool`).

    ``num_trials`` (default ``trials_per_iteration``) fixes the batch of the vector-env sampler.
    """
    env_kwargs = json.loads(config.env_kwargs)
    env = _make_single(config.env_id, env_kwargs)
    check_task_api(env, config.env_id)
    family = getattr(env.unwrapped, "task_family", None)
    family_name = getattr(family, "name", "")
    if pool is None:
        pool = env.unwrapped.sample_tasks(config.task_pool_size, split="train", seed=config.seed)
    native = family_name in ("Bandit", "TabularMDP")
    if config.sampler == "native" and not native:
        raise ConfigError(
            f"sampler='native' exists only for Bandit and TabularMDP, not {config.env_id!r}"
        )
    if native and env_kwargs and config.sampler != "vector":
        native = False  # the native samplers implement the registered defaults only
    if config.sampler == "native" and not native:
        raise ConfigError("sampler='native' takes no env_kwargs; use sampler='vector'")
    if native and config.sampler != "vector":
        if family_name == "Bandit":
            return BanditTrials(pool, config.episodes_per_trial, rng)
        horizon = env.spec.max_episode_steps if env.spec is not None else 10
        return TabularMDPTrials(pool, config.episodes_per_trial, rng, horizon=int(horizon or 10))
    return VectorEnvTrials(
        config.env_id, config.trials_per_iteration if num_trials is None else int(num_trials),
        config.episodes_per_trial, pool, rng, env_kwargs=env_kwargs,
    )


def build_model(
    layout: TrialInputLayout, hidden_size: int, seed: int, update_gate_bias: float = 0.0,
    separate_value: bool = False, input_embedding: int = 0, weight_init: str = "orthogonal",
) -> RecurrentActorCritic:
    """The GRU actor-critic for ``layout``, its weights drawn from ``seed`` (with
    ``separate_value``, a second GRU for the value head; with ``input_embedding`` > 0, a ReLU
    layer before the GRU; see :class:`RecurrentActorCritic`)."""
    return RecurrentActorCritic(
        layout.input_dim, layout.action_dim, layout.discrete, hidden_size,
        generator=torch.Generator().manual_seed(seed), update_gate_bias=update_gate_bias,
        separate_value=separate_value, input_embedding=input_embedding, weight_init=weight_init,
    )


# -- rollouts ------------------------------------------------------------------------------------
@dataclasses.dataclass
class TrialBatch:
    """``B`` whole trials, time-major (``[T, B, ...]``), padded after each trial's end."""

    inputs: torch.Tensor  #: network inputs (true previous rewards)
    actions: torch.Tensor
    log_probs: torch.Tensor
    values: torch.Tensor
    rewards: torch.Tensor  #: true rewards
    episode_index: torch.Tensor  #: episode number inside the trial of every step
    valid: torch.Tensor  #: 1 on real steps, 0 on padding

    @property
    def env_steps(self) -> int:
        return int(self.valid.sum().item())

    @classmethod
    def concat(cls, batches: Sequence[TrialBatch]) -> TrialBatch:
        """The trials of ``batches`` side by side (``B`` = the sum), each padded with zeros
        (``valid == 0``) to the longest."""
        if len(batches) == 1:
            return batches[0]
        horizon = max(b.valid.shape[0] for b in batches)

        def cat(name: str) -> torch.Tensor:
            parts = []
            for b in batches:
                x = getattr(b, name)
                if x.shape[0] < horizon:
                    pad = x.new_zeros((horizon - x.shape[0], *x.shape[1:]))
                    x = torch.cat([x, pad])
                parts.append(x)
            return torch.cat(parts, dim=1)

        return cls(*(cat(f.name) for f in dataclasses.fields(cls)))


@torch.inference_mode()
def collect_trials(
    model: RecurrentActorCritic,
    sampler: Any,
    num_trials: int,
    generator: torch.Generator,
) -> TrialBatch:
    """Run ``num_trials`` new trials to their end in lockstep, one batched GRU step per step.

    The hidden state starts at zero (trial start) and is never reset inside the trial.
    """
    max_steps = int(sampler.max_steps)
    layout: TrialInputLayout = sampler.layout
    inputs = torch.zeros(max_steps, num_trials, layout.input_dim)
    act_shape = (max_steps, num_trials) if layout.discrete else (max_steps, num_trials, layout.action_dim)
    actions = torch.zeros(act_shape, dtype=torch.long if layout.discrete else torch.float32)
    log_probs = torch.zeros(max_steps, num_trials)
    values = torch.zeros(max_steps, num_trials)
    rewards = torch.zeros(max_steps, num_trials)
    episode_index = torch.zeros(max_steps, num_trials, dtype=torch.long)
    valid = torch.zeros(max_steps, num_trials)
    x = torch.from_numpy(sampler.reset(num_trials))
    hidden = model.initial_state(num_trials)
    alive = np.ones(num_trials, dtype=bool)
    steps = 0
    for t in range(max_steps):
        inputs[t] = x
        out, value, hidden = model.step(x, hidden)
        action = model.sample(out, generator)
        actions[t], log_probs[t], values[t] = action, model.log_prob(out, action), value
        valid[t] = torch.from_numpy(alive)
        result = sampler.step(action.numpy())
        rewards[t] = torch.from_numpy(np.where(alive, result.rewards, 0.0).astype(np.float32))
        episode_index[t] = torch.from_numpy(result.episode_index)
        alive = alive & ~result.trial_done
        x = torch.from_numpy(result.inputs)
        steps = t + 1
        if not alive.any():
            break
    sl = slice(0, steps)
    return TrialBatch(inputs[sl], actions[sl], log_probs[sl], values[sl], rewards[sl],
                      episode_index[sl], valid[sl])


def split_sizes(total: int, parts: int) -> list[int]:
    """``total`` split into ``parts`` near-equal sizes (the larger ones first)."""
    return [total // parts + (i < total % parts) for i in range(parts)]


def collect_parallel(
    model: RecurrentActorCritic,
    samplers: Sequence[Any],
    sizes: Sequence[int],
    generators: Sequence[torch.Generator],
    executor: Executor | None = None,
) -> TrialBatch:
    """:func:`collect_trials` of ``sizes[i]`` trials from ``samplers[i]`` with
    ``generators[i]``, one worker each (in ``executor``'s threads, or one after the other when
    it is None: the same result), concatenated along the trial axis in worker order."""
    jobs = [(s, n, g) for s, n, g in zip(samplers, sizes, generators, strict=True) if n > 0]
    if executor is None or len(jobs) == 1:
        parts = [collect_trials(model, s, n, g) for s, n, g in jobs]
    else:
        futures = [executor.submit(collect_trials, model, s, n, g) for s, n, g in jobs]
        parts = [f.result() for f in futures]
    return TrialBatch.concat(parts)


def ppo_update(
    model: RecurrentActorCritic,
    optimizer: torch.optim.Optimizer,
    batch: TrialBatch,
    config: Config,
    generator: torch.Generator,
    executor: Executor | None = None,
) -> dict[str, float]:
    """PPO-clip over whole trials: GAE on the (E-RL²-masked) training rewards, then
    ``ppo_epochs`` passes over ``minibatches`` random groups of trials, one GRU call each.

    With ``config.workers = W > 1`` every minibatch is cut into ``W`` groups of trials whose
    losses (each normalised by the whole minibatch's valid-step count) are differentiated
    separately, in ``executor``'s threads if given, and summed in group order: the minibatch
    gradient, up to floating-point summation order."""
    train_rewards = training_rewards(batch.rewards, batch.episode_index, config.explore_episodes)
    if config.reward_scale != 1.0:
        train_rewards = train_rewards * config.reward_scale
    advantages, returns = gae_over_trials(
        train_rewards, batch.values, batch.valid, config.gamma, config.gae_lambda
    )
    if config.normalize_advantages:
        mean = masked_mean(advantages, batch.valid)
        std = masked_mean((advantages - mean).pow(2), batch.valid).sqrt()
        advantages = (advantages - mean) / (std + 1e-8) * batch.valid
    num_trials = batch.valid.shape[1]
    params = list(model.parameters())

    def part(idx: torch.Tensor, denominator: torch.Tensor | None):
        return ppo_loss(
            model, batch.inputs[:, idx], batch.actions[:, idx], batch.log_probs[:, idx],
            advantages[:, idx], returns[:, idx], batch.valid[:, idx],
            config.clip, config.value_coef, config.entropy_coef, denominator,
        )

    def part_grads(idx: torch.Tensor, denominator: torch.Tensor):
        loss, stats = part(idx, denominator)
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        return grads, stats

    sums: dict[str, float] = {}
    count = 0
    for _ in range(config.ppo_epochs):
        order = torch.randperm(num_trials, generator=generator)
        for idx in order.chunk(config.minibatches):
            optimizer.zero_grad(set_to_none=True)
            groups = [g for g in idx.tensor_split(config.workers) if len(g) > 0]
            if len(groups) == 1:
                loss, stats = part(idx, None)
                loss.backward()
            else:
                denominator = batch.valid[:, idx].sum().clamp(min=1.0)
                if executor is None:
                    results = [part_grads(g, denominator) for g in groups]
                else:
                    futures = [executor.submit(part_grads, g, denominator) for g in groups]
                    results = [f.result() for f in futures]
                for i, p in enumerate(params):
                    gs = [r[0][i] for r in results if r[0][i] is not None]
                    if gs:
                        total = gs[0].clone()
                        for g in gs[1:]:
                            total.add_(g)
                        p.grad = total
                stats = {k: sum(r[1][k] for r in results) for k in results[0][1]}
            torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
            optimizer.step()
            for k, v in stats.items():
                sums[k] = sums.get(k, 0.0) + float(v)
            count += 1
    return {k: v / count for k, v in sums.items()}


def trial_statistics(batch: TrialBatch, episodes_per_trial: int, explore_episodes: int) -> dict[str, float]:
    """Mean trial return, per-episode mean returns and the exploit-phase return (true rewards)."""
    out: dict[str, float] = {"trial_return": float(batch.rewards.sum(0).mean())}
    per_episode = []
    for e in range(episodes_per_trial):
        per_episode.append(float((batch.rewards * (batch.episode_index == e)).sum(0).mean()))
    if episodes_per_trial <= 10:
        for e, r in enumerate(per_episode):
            out[f"episode_{e}_return"] = r
    else:
        out["first_episode_return"], out["last_episode_return"] = per_episode[0], per_episode[-1]
    exploit = per_episode[explore_episodes:]
    out["exploit_return"] = float(np.mean(exploit))
    return out


# -- training -------------------------------------------------------------------------------------
def train(config: Config, out_dir: Path, resume: bool = False) -> None:
    """Train RL² / E-RL² for iterations ``[start, config.iterations)`` (see module doc).

    Writes ``out_dir/checkpoint.pt`` after every iteration, ``progress.csv`` (one row per
    iteration) and ``learning_curve.png``. ``resume=True`` continues bit for bit.
    """
    from tqdm import tqdm

    out_dir = Path(out_dir)
    run = Run(config, warm_start=not resume)
    start = 0
    if resume:
        ckpt = load_checkpoint(out_dir, algo=config.algo, env_id=config.env_id)
        run.load_state(ckpt)
        start = ckpt.iteration
    logger = RunLogger(out_dir, resume_iteration=start if resume else None)
    columns = ["trial_return", "exploit_return"]
    bar = tqdm(desc=f"{config.algo} {config.env_id}", initial=start, total=config.iterations,
               disable=None)
    try:
        for it in range(start, config.iterations):
            if budget_spent(config.max_env_steps, run.total_steps):
                break  # a resumed run whose budget was already used up
            metrics = run.iteration()
            logger.log(it, metrics)
            save_checkpoint(out_dir / CHECKPOINT_NAME, run.checkpoint(it + 1))
            spent = budget_spent(config.max_env_steps, run.total_steps)
            if config.max_env_steps:  # the bar's total (and ETA) from the budget
                bar.total = expected_iterations(config.iterations, config.max_env_steps, it + 1,
                                                run.total_steps)
            bar.update(1)
            if (it + 1) % config.log_every == 0 or it + 1 == config.iterations or spent:
                logger.plot(columns, title=f"{config.algo} on {config.env_id}")
            if spent:
                break
    finally:
        bar.close()
        logger.close()
        run.close()


class Run:
    """The state of one training run: model, optimiser, samplers and every generator.

    With ``config.workers = W`` there are ``W`` samplers (the same task pool, own numpy
    generators) and ``W`` torch generators for action sampling; worker 0's are ``sampler`` /
    ``torch_gen`` (the only ones when ``W = 1``; ``torch_gen`` also orders the minibatches).
    """

    def __init__(self, config: Config, warm_start: bool = True) -> None:
        """``warm_start=False`` skips ``config.init_from`` (a resumed run loads its own
        checkpoint over the weights anyway)."""
        self.config = config
        torch.set_num_threads(config.num_threads)  # the process's torch threads (global)
        w = config.workers
        self.sampler_rngs = [np.random.default_rng(np.random.SeedSequence([config.seed, 1]))]
        self.sampler_rngs += [np.random.default_rng(np.random.SeedSequence([config.seed, 1, i]))
                              for i in range(1, w)]
        self.torch_gens = [torch.Generator().manual_seed(config.seed * 2 + 1)]
        self.torch_gens += [
            torch.Generator().manual_seed(
                int(np.random.SeedSequence([config.seed, 2, i]).generate_state(1, np.uint64)[0] >> 1))
            for i in range(1, w)
        ]
        self.sampler_rng, self.torch_gen = self.sampler_rngs[0], self.torch_gens[0]
        self.sizes = split_sizes(config.trials_per_iteration, w)
        pool = draw_task_pool(config) if w > 1 else None
        self.samplers = [make_sampler(config, rng, num_trials=n, pool=pool)
                         for rng, n in zip(self.sampler_rngs, self.sizes)]
        self.sampler = self.samplers[0]
        self.executor = (ThreadPoolExecutor(max_workers=w, thread_name_prefix="rl2-worker")
                         if w > 1 else None)
        self.layout: TrialInputLayout = self.sampler.layout
        self.model = build_model(self.layout, config.hidden_size, config.seed,
                                 config.update_gate_bias, config.separate_value,
                                 config.input_embedding, config.weight_init)
        if warm_start and config.init_from:
            load_init_weights(self.model, config, self.layout)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.learning_rate)
        self.total_steps = 0
        self.total_time = 0.0

    def iteration(self) -> dict[str, float]:
        """Sample a batch of trials and take the PPO update; return the iteration's metrics."""
        c = self.config
        t0 = time.perf_counter()
        batch = collect_parallel(self.model, self.samplers, self.sizes, self.torch_gens,
                                 self.executor)
        t1 = time.perf_counter()
        stats = ppo_update(self.model, self.optimizer, batch, c, self.torch_gen, self.executor)
        t2 = time.perf_counter()
        steps = batch.env_steps
        self.total_steps += steps
        self.total_time += t2 - t0
        metrics = trial_statistics(batch, c.episodes_per_trial, c.explore_episodes)
        metrics.update(stats)
        metrics.update({
            "env_steps": float(self.total_steps),
            "wall_time": self.total_time,
            "steps_per_second": steps / max(t2 - t0, 1e-9),
            "sample_seconds": t1 - t0,
            "update_seconds": t2 - t1,
        })
        return metrics

    def close(self) -> None:
        """Stop the worker threads (idle threads otherwise live until the process exits)."""
        if self.executor is not None:
            self.executor.shutdown()
            self.executor = None

    def _generators(self) -> dict[str, Any]:
        gens: dict[str, Any] = {"sampler": self.sampler_rng, "torch": self.torch_gen}
        for i in range(1, len(self.samplers)):
            gens[f"sampler_{i}"], gens[f"torch_{i}"] = self.sampler_rngs[i], self.torch_gens[i]
        return gens

    def checkpoint(self, iteration: int) -> Checkpoint:
        return Checkpoint(
            algo=self.config.algo, env_id=self.config.env_id, iteration=iteration,
            config=dataclasses.asdict(self.config),
            state={
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "model_spec": model_spec(self.layout, self.config.hidden_size,
                                         self.config.separate_value,
                                         self.config.input_embedding),
                "total_steps": self.total_steps,
                "total_time": self.total_time,
            },
            rng=capture_rng_state(self._generators()),
        )

    def load_state(self, ckpt: Checkpoint) -> None:
        self.model.load_state_dict(ckpt.state["model"])
        self.optimizer.load_state_dict(ckpt.state["optimizer"])
        self.total_steps = int(ckpt.state["total_steps"])
        self.total_time = float(ckpt.state["total_time"])
        restore_rng_state(ckpt.rng, self._generators())


def load_init_weights(model: RecurrentActorCritic, config: Config, layout: TrialInputLayout) -> None:
    """Copy the network weights of the RL² / E-RL² checkpoint ``config.init_from`` into
    ``model`` (a warm start). Raises ``CheckpointError`` (exit code 2 in the CLI), leaving
    ``model`` unchanged, if there is no such checkpoint, it is not a recurrent RL² one, or its
    network differs from this run's (inputs, actions, hidden size, value GRU, embedding)."""
    try:
        ckpt = load_checkpoint(config.init_from)
    except CheckpointError as exc:
        raise CheckpointError(f"init_from {config.init_from!r}: {exc}") from exc
    spec = ckpt.state.get("model_spec") if isinstance(ckpt.state, dict) else None
    if ckpt.algo not in ALGO_NAMES or not isinstance(spec, dict) or spec.get("kind") != "gru_actor_critic":
        raise CheckpointError(
            f"init_from {config.init_from!r} is a {ckpt.algo!r} checkpoint, not a recurrent "
            f"RL² one (algo in {ALGO_NAMES})")
    expected = model_spec(layout, config.hidden_size, config.separate_value, config.input_embedding)
    if spec != expected:
        raise CheckpointError(
            f"init_from {config.init_from!r} holds a different network than this run's: "
            + describe_differences(spec, expected))
    model.load_state_dict(ckpt.state["model"])


def model_spec(
    layout: TrialInputLayout, hidden_size: int, separate_value: bool = False,
    input_embedding: int = 0,
) -> dict[str, Any]:
    """What :func:`load_agent` needs to rebuild the network (plain values only)."""
    return {
        "kind": "gru_actor_critic",
        "input_dim": layout.input_dim,
        "obs_dim": layout.obs_dim,
        "action_dim": layout.action_dim,
        "discrete": layout.discrete,
        "hidden_size": hidden_size,
        "separate_value": bool(separate_value),
        "input_embedding": int(input_embedding),
    }


# -- harness agent ------------------------------------------------------------------------------
class RL2Agent:
    """A trained RL² / E-RL² policy as a harness ``MetaAgent``.

    ``reset`` starts new tasks: the hidden state goes back to zero and the previous
    action/reward/done inputs are cleared. ``act`` builds the TrialWrapper input from the
    observation and what ``observe`` recorded (previous action, reward, and whether that step
    ended an episode), runs one GRU step and samples an action; ``observe`` commits the new
    hidden state. The state is carried across the explore and exploit episodes; ``adapt()``
    does nothing. Rows the runner marks inactive (``active=False``) keep their state.

    Args:
        model: the trained network.
        deterministic: take the most likely action instead of sampling.
        seed: seeds the action sampling.
        name: the display name in results files (``load_agent`` gives ``baselines:<algo>``,
            so RL² and E-RL² rows are told apart).
    """

    def __init__(self, model: RecurrentActorCritic, obs_dim: int, deterministic: bool = False,
                 seed: int | None = 0, name: str = "baselines:rl2") -> None:
        self.name = name  # the harness's display name (results files, leaderboard)
        self.model = model.eval()
        self.obs_dim = int(obs_dim)
        self.deterministic = deterministic
        self.generator = torch.Generator().manual_seed(0 if seed is None else int(seed))
        self.layout: TrialInputLayout | None = None
        self.num_tasks = 0

    def reset(self, num_tasks: int, observation_space: Any, action_space: Any) -> None:
        layout = TrialInputLayout(observation_space, action_space)
        if layout.obs_dim != self.obs_dim or layout.action_dim != self.model.action_dim or (
            layout.discrete != self.model.discrete
        ):
            raise ValueError(
                f"RL2Agent was trained for obs_dim={self.obs_dim}, action_dim="
                f"{self.model.action_dim} ({'discrete' if self.model.discrete else 'continuous'}); "
                f"the benchmark gives obs_dim={layout.obs_dim}, action_dim={layout.action_dim}"
            )
        self.layout = layout
        self.num_tasks = int(num_tasks)
        self.hidden = self.model.initial_state(self.num_tasks)
        self._pending = self.hidden
        self.prev_action = (np.full(self.num_tasks, -1) if layout.discrete
                            else np.zeros((self.num_tasks, layout.action_dim), dtype=np.float32))
        self.prev_reward = np.zeros(self.num_tasks, dtype=np.float32)
        self.prev_done = np.zeros(self.num_tasks, dtype=np.float32)

    def inputs(self, obs: np.ndarray) -> np.ndarray:
        """The TrialWrapper-layout network input for the current step."""
        assert self.layout is not None, "call reset() first"
        return self.layout.build(self.layout.flatten_obs(obs), self.prev_action,
                                 self.prev_reward, self.prev_done)

    @torch.inference_mode()
    def act(self, obs: np.ndarray, active: np.ndarray | None = None) -> np.ndarray:
        if self.layout is None:
            raise RuntimeError("RL2Agent.act called before reset()")
        x = torch.from_numpy(self.inputs(obs))
        out, _, hidden = self.model.step(x, self.hidden)
        action = self.model.sample(out, self.generator, deterministic=self.deterministic)
        self._pending = hidden
        if self.layout.discrete:
            return action.numpy().astype(np.int64)
        box = self.layout.action_space
        return np.clip(action.numpy(), box.low, box.high).astype(box.dtype)

    def observe(self, obs: Any, action: Any, reward: Any, next_obs: Any, terminated: Any,
                truncated: Any, active: np.ndarray | None = None) -> None:
        assert self.layout is not None
        rows = np.ones(self.num_tasks, dtype=bool) if active is None else np.asarray(active, bool)
        keep = torch.from_numpy(rows).view(1, -1, 1)
        self.hidden = torch.where(keep, self._pending, self.hidden)
        done = np.logical_or(terminated, truncated).astype(np.float32)
        if self.layout.discrete:
            act = np.asarray(action, dtype=np.int64).reshape(-1)
        else:
            act = np.asarray(action, dtype=np.float32).reshape(self.num_tasks, -1)
        self.prev_action = np.where(rows if self.layout.discrete else rows[:, None], act,
                                    self.prev_action)
        self.prev_reward = np.where(rows, np.asarray(reward, dtype=np.float32), self.prev_reward)
        self.prev_done = np.where(rows, done, self.prev_done)

    def adapt(self) -> None:
        """RL² adapts in its hidden state: nothing to do between explore and exploit."""


def load_agent(path: str | Path, deterministic: bool = False, seed: int | None = 0) -> RL2Agent:
    """The harness agent stored in an RL²/E-RL² checkpoint (file or run directory).

    Raises:
        CheckpointError: no checkpoint, or one that holds no recurrent RL² policy (e.g. a
            MAML/ProMP checkpoint).
    """
    ckpt = load_checkpoint(path)
    spec = ckpt.state.get("model_spec") if isinstance(ckpt.state, dict) else None
    if ckpt.algo not in ALGO_NAMES or not isinstance(spec, dict) or spec.get("kind") != "gru_actor_critic":
        raise CheckpointError(
            f"checkpoint {str(path)!r} (algo {ckpt.algo!r}) holds no recurrent RL² policy; "
            f"the RL² loader takes checkpoints of {', '.join(ALGO_NAMES)}"
        )
    model = RecurrentActorCritic(
        int(spec["input_dim"]), int(spec["action_dim"]), bool(spec["discrete"]),
        int(spec["hidden_size"]),
        # checkpoints written before these options have no keys: one shared GRU, no embedding
        separate_value=bool(spec.get("separate_value", False)),
        input_embedding=int(spec.get("input_embedding", 0)),
    )
    model.load_state_dict(ckpt.state["model"])
    return RL2Agent(model, int(spec["obs_dim"]), deterministic=deterministic, seed=seed,
                    name=f"baselines:{ckpt.algo}")


def make(path: str | Path | None = None, seed: int | None = 0, deterministic: bool = False) -> RL2Agent:
    """Harness factory: ``krazy-gym evaluate --agent baselines.rl2:make`` loads the RL²/E-RL²
    checkpoint at ``path`` (default: the ``KRAZY_GYM_CHECKPOINT`` environment variable);
    any other checkpoint is refused with a :class:`CheckpointError` (exit code 2)."""
    import os

    path = path if path is not None else os.environ.get("KRAZY_GYM_CHECKPOINT")
    if not path:
        raise CheckpointError("baselines.rl2.make needs path= or KRAZY_GYM_CHECKPOINT set")
    return load_agent(path, deterministic=deterministic, seed=seed)


__all__ = [
    "Config", "RL2Agent", "Run", "TrialBatch", "collect_trials", "load_agent", "ppo_update",
    "make", "train",
]
