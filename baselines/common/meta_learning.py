"""The training loop shared by the gradient-based meta-learners (MAML, E-MAML, ProMP).

One iteration (Finn et al. 2017; Rothfuss et al. 2019):

1. draw ``num_tasks`` training tasks;
2. for each inner step i: sample ``episodes_per_task`` episodes per task with θ_i, compute
   advantages (per-task linear baseline, GAE, per-task normalisation), take the inner step
   ``θ_{i+1} = θ_i + α ∇J_inner`` for every task at once;
3. sample the post-update episodes with the adapted parameters;
4. the algorithm's ``outer_update`` changes θ (differentiating through the inner steps).

Subclasses set :attr:`GradientMetaLearner.inner_kind` and implement ``outer_update``; this
module owns sampling, sample processing, checkpoints (model, optimiser, RNGs) and logging, so
that every algorithm resumes bit for bit.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from baselines.common.advantages import (
    LinearFeatureBaseline,
    discounted_returns,
    gae,
    normalize_per_task,
)
from baselines.common.checkpoint import (
    Checkpoint,
    CheckpointError,
    capture_rng_state,
    load_checkpoint,
    restore_rng_state,
    save_checkpoint,
)
from baselines.common.config import budget_spent, config_from_dict, expected_iterations
from baselines.common.logger import RunLogger
from baselines.common.objectives import Batch, adapt, masked_entropy
from baselines.common.policies import MLPPolicy, expand_params, make_policy
from baselines.common.sampler import (
    DEFAULT_ACTION_SCALE,
    EpisodeBatch,
    MetaSampler,
    check_action_scale,
)


@dataclasses.dataclass
class GradientConfig:
    """Settings shared by MAML, E-MAML and ProMP (defaults: DESIGN.md, ProMP/MAML papers)."""

    #: CLI algorithm name, written into checkpoints (set by ``baselines.train``)
    algo: str = ""
    #: a registered env id
    env_id: str = "KrazyGym/Navigation2D-v0"
    #: seeds the policy initialisation, the task draws, env resets and action noise
    seed: int = 0
    #: total number of meta-iterations of the run
    iterations: int = 100
    #: env-step budget: the run also stops after the first iteration at which its env steps
    #: (pre- and post-update sampling, cumulative) reach this, as stable-baselines3's
    #: ``total_timesteps`` (it may pass it by at most one iteration's steps); 0 = no budget,
    #: ``iterations`` alone decides. Like ``iterations`` a resumed run may change it
    max_env_steps: int = 0
    #: tasks per meta-batch (ProMP: meta_batch_size)
    num_tasks: int = 40
    #: episodes sampled per task for each inner step and for the post-update batch
    episodes_per_task: int = 20
    #: sub-envs per task (0: all episodes of a task in parallel)
    envs_per_task: int = 0
    #: "auto" (native batched env if any, else sync), "native", "sync" or "async"
    vectorization: str = "auto"
    #: cap on episode length (0: the env's registered horizon)
    max_episode_steps: int = 0
    #: hidden layer sizes of the MLP policy
    hidden_sizes: tuple = (64, 64)
    #: hidden activation: "tanh" or "relu"
    activation: str = "tanh"
    #: initial standard deviation of the Gaussian policy (Box actions), in its action space
    init_std: float = 1.0
    #: Box actions: the policy acts in [-action_scale, action_scale], mapped onto the env's
    #: bounds (ProMP's normalized_env; effective initial std init_std / action_scale of the
    #: half-range). Checkpoints written before this setting existed load with 1.0 (their
    #: behaviour: actions clipped to [-1, 1]), see LEGACY_DEFAULTS.
    action_scale: float = DEFAULT_ACTION_SCALE
    #: inner (adaptation) step size α
    inner_lr: float = 0.1
    #: number of inner gradient steps
    inner_steps: int = 1
    #: discount γ
    gamma: float = 0.99
    #: GAE λ
    gae_lambda: float = 1.0
    #: standardise advantages per task
    normalize_advantages: bool = True
    #: outer learning rate (Adam) for the first-order/PPO outer steps
    outer_lr: float = 1e-3
    #: weight of an entropy bonus on the *pre-update* policy (its mean entropy over the
    #: pre-update steps, added to the meta-objective). 0 = the papers' objectives. None (the
    #: default) = :func:`default_pre_entropy_coef` of the env: on Krazy World and mazes the
    #: class's ``KRAZY_WORLD_PRE_ENTROPY`` (MAML/E-MAML 0.1, ProMP 0.3), where without it the
    #: pre-update policy's entropy collapses (1.39 -> 0.08 nats for ProMP in 300 iterations)
    #: and MAML/ProMP fall below the random agent on KrazyWorld-Medium; 0 elsewhere.
    #: progress.csv logs ``pre_entropy``.
    pre_entropy_coef: float | None = None
    #: also write TensorBoard scalars
    tensorboard: bool = False
    #: redraw the learning-curve PNG every this many iterations (and at the end)
    plot_every: int = 10
    #: show a tqdm progress bar
    progress: bool = True
    #: torch intra-op threads (1 is fastest for these small networks, esp. on a busy machine)
    torch_threads: int = 1
    #: physics threads of the MuJoCo native vector env (0: every usable core); MuJoCo ids
    #: only. The batches do not depend on it (the vector env's trajectories do not).
    num_threads: int = 0

    #: values of settings added after checkpoints were written, for configs without them
    #: (``config_from_dict``): they keep their old behaviour
    LEGACY_DEFAULTS: ClassVar[dict[str, Any]] = {"action_scale": 1.0, "pre_entropy_coef": 0.0}
    #: the algorithm's ``pre_entropy_coef`` default on Krazy World and mazes
    KRAZY_WORLD_PRE_ENTROPY: ClassVar[float] = 0.1

    def __post_init__(self) -> None:
        positive = ("iterations", "num_tasks", "episodes_per_task", "inner_steps", "plot_every")
        for name in positive:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"config {name} must be an int >= 1, got {value!r}")
        if isinstance(self.max_env_steps, bool) or not isinstance(self.max_env_steps, int) or (
            self.max_env_steps < 0
        ):
            raise ValueError(f"config max_env_steps must be an int >= 0, got {self.max_env_steps!r}")
        if self.envs_per_task < 0 or (
            self.envs_per_task and self.episodes_per_task % self.envs_per_task
        ):
            raise ValueError("config envs_per_task must be 0 or divide episodes_per_task")
        if self.vectorization not in ("auto", "native", "sync", "async"):
            raise ValueError(
                f"config vectorization must be auto/native/sync/async, got {self.vectorization!r}"
            )
        if self.pre_entropy_coef is None:
            self.pre_entropy_coef = default_pre_entropy_coef(self.env_id,
                                                             self.KRAZY_WORLD_PRE_ENTROPY)
        if isinstance(self.pre_entropy_coef, bool) or not self.pre_entropy_coef >= 0:
            raise ValueError(f"config pre_entropy_coef must be >= 0, got {self.pre_entropy_coef!r}")
        if isinstance(self.num_threads, bool) or not isinstance(self.num_threads, int) or (
            self.num_threads < 0
        ):
            raise ValueError(f"config num_threads must be an int >= 0, got {self.num_threads!r}")
        if not 0 < self.gamma <= 1 or not 0 <= self.gae_lambda <= 1:
            raise ValueError("config gamma must be in (0, 1] and gae_lambda in [0, 1]")
        self.hidden_sizes = tuple(int(h) for h in self.hidden_sizes)
        try:
            self.action_scale = check_action_scale(self.action_scale)
        except ValueError as exc:
            raise ValueError(f"config {exc}") from None


def pack_steps(data: Batch) -> Batch:
    """Move each task's real steps to the front and cut the common padding.

    Objectives that only average over steps (log-likelihood, LVC, ratio/PPO, KL) give the
    same values on packed data, with far fewer padded rows when episodes end early. (DiCE
    needs the (episode, step) layout and uses the unpacked data.)
    """
    mask = data["mask"]
    order = torch.argsort(-mask, dim=1, stable=True)
    length = max(int(mask.sum(1).max()), 1)
    index = order[:, :length]
    out: Batch = {}
    for key in ("obs", "actions", "mask", "rewards", "advantages", "baseline_residuals"):
        if key not in data:
            continue
        value = data[key]
        idx = index.reshape(*index.shape, *([1] * (value.dim() - 2))).expand(
            -1, -1, *value.shape[2:]
        )
        out[key] = torch.gather(value, 1, idx)
    return out


def process_batch(
    batch: EpisodeBatch, gamma: float, lam: float, normalize: bool, pack: bool = False,
    residuals: bool = False,
) -> tuple[Batch, np.ndarray]:
    """Advantages for every step (per-task linear baseline + GAE), as torch tensors.

    Returns the torch data dict (``obs``, ``actions``, ``mask``, ``rewards``, ``advantages``,
    with ``residuals`` also ``baseline_residuals`` (reward-to-go minus baseline) and, unless
    ``pack``, ``dice_weights`` and ``horizon``) and the episode returns ``(K, E)``.
    ``pack=True`` applies :func:`pack_steps` (not usable with DiCE).
    """
    returns = discounted_returns(batch.rewards, batch.mask, gamma)
    values = LinearFeatureBaseline().fit_predict(batch.obs, returns, batch.mask)
    adv = gae(batch.rewards, values, batch.mask, gamma, lam)
    if normalize:
        adv = normalize_per_task(adv, batch.mask)
    batch.advantages = adv.astype(np.float32)
    batch.returns = returns
    # DiCE: w_t = γ^t (r_t + γ b_{t+1} − b_t), so Σ_{t'≥t} w_t' = γ^t (R_t − b_t)
    horizon = batch.rewards.shape[-1]
    next_values = np.concatenate([values[..., 1:], np.zeros_like(values[..., :1])], -1)
    discount = gamma ** np.arange(horizon)
    weights = discount * (batch.rewards + gamma * next_values - values) * batch.mask
    data = batch.to_torch()
    k = batch.num_tasks
    if residuals:  # reward-to-go minus baseline, unnormalised (E-MAML's "authors" weighting)
        data["baseline_residuals"] = torch.as_tensor(
            ((returns - values) * batch.mask).reshape(k, -1), dtype=torch.float32)
    data["dice_weights"] = torch.as_tensor(weights.reshape(k, -1), dtype=torch.float32)
    data["horizon"] = torch.tensor(horizon)
    if pack:
        data = pack_steps(data)
    return data, batch.episode_returns()


class GradientMetaLearner:
    """Base class: owns policy, sampler, RNGs; subclasses implement :meth:`outer_update`."""

    #: the inner objective ("log_likelihood", "lvc" or "dice")
    inner_kind: str = "log_likelihood"

    #: the post-update batch carries ``baseline_residuals`` (:func:`process_batch`)
    post_residuals: bool = False

    @property
    def pack(self) -> bool:
        """Pack real steps (:func:`pack_steps`) unless DiCE needs the episode layout."""
        return self.inner_kind != "dice"

    def __init__(self, config: GradientConfig) -> None:
        import gymnasium as gym

        import krazy_gym  # noqa: F401
        from krazy_gym.registration import MUJOCO_IDS

        self.config = config
        env_kwargs = {}
        if config.num_threads:
            if config.env_id not in MUJOCO_IDS:
                raise ValueError(
                    f"config num_threads applies to the MuJoCo ids only, not {config.env_id}"
                )
            env_kwargs["num_threads"] = config.num_threads
        self.task_env = gym.make(config.env_id)
        self.sampler = MetaSampler(
            config.env_id,
            config.num_tasks,
            config.episodes_per_task,
            config.envs_per_task,
            config.vectorization,
            config.max_episode_steps,
            config.action_scale,
            **env_kwargs,
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self.policy: MLPPolicy = make_policy(
                self.sampler.obs_space,
                self.sampler.action_space,
                config.hidden_sizes,
                config.activation,
                config.init_std,
            )
        seeds = np.random.SeedSequence(config.seed).spawn(2)
        self.rng = np.random.default_rng(seeds[0])
        self.torch_gen = torch.Generator().manual_seed(int(seeds[1].generate_state(1)[0]))
        self.optimizer: torch.optim.Optimizer | None = None

    # -- state -------------------------------------------------------------------------------
    def rngs(self) -> dict[str, Any]:
        return {"numpy": self.rng, "torch": self.torch_gen}

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "policy": self.policy.state_dict(),
            "env_steps": self.sampler.env_steps,
        }
        if self.optimizer is not None:
            state["optimizer"] = self.optimizer.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.policy.load_state_dict(state["policy"])
        self.sampler.env_steps = int(state.get("env_steps", 0))
        if self.optimizer is not None:
            self.optimizer.load_state_dict(state["optimizer"])

    # -- one iteration -------------------------------------------------------------------------
    def sample_tasks(self) -> list[Any]:
        seed = int(self.rng.integers(0, 2**31 - 1))
        return self.task_env.unwrapped.sample_tasks(self.config.num_tasks, "train", seed=seed)

    def collect(self) -> tuple[list[Batch], Batch, dict[str, float]]:
        """Sample the pre-update batches (one per inner step) and the post-update batch."""
        cfg = self.config
        tasks = self.sample_tasks()
        theta = self.policy.parameters_dict()
        pre: list[Batch] = []
        params = expand_params({n: p.detach() for n, p in theta.items()}, cfg.num_tasks)
        returns = []
        for _ in range(cfg.inner_steps):
            batch = self.sampler.sample(self.policy, params, tasks, self.rng, self.torch_gen)
            data, ep_returns = process_batch(
                batch, cfg.gamma, cfg.gae_lambda, cfg.normalize_advantages, self.pack
            )
            returns.append(ep_returns)
            pre.append(data)
            sampling_params = adapt(
                self.inner_kind, self.policy, theta, pre, cfg.inner_lr, create_graph=False
            )
            params = sampling_params[-1]
        self._sampling_params = sampling_params  # reused by old_dist_infos
        batch = self.sampler.sample(self.policy, params, tasks, self.rng, self.torch_gen)
        post, post_returns = process_batch(
            batch, cfg.gamma, cfg.gae_lambda, cfg.normalize_advantages, self.pack,
            self.post_residuals,
        )
        post["episode_returns"] = torch.as_tensor(post_returns, dtype=torch.float32)
        with torch.no_grad():
            pre_entropy = masked_entropy(self.policy, theta, pre[0])
        stats = {
            "pre_return": float(returns[0].mean()),
            "post_return": float(post_returns.mean()),
            "pre_entropy": float(pre_entropy),
        }
        return pre, post, stats

    def entropy_bonus(self, pre: list[Batch], differentiable: bool) -> torch.Tensor:
        """``pre_entropy_coef`` × the pre-update policy's mean entropy on the pre-update steps
        (a term to maximise; 0 when the coefficient is 0)."""
        coef = self.config.pre_entropy_coef
        if coef == 0:
            return torch.zeros(())
        theta = self.policy.parameters_dict()
        if not differentiable:
            theta = {n: p.detach() for n, p in theta.items()}
        with torch.set_grad_enabled(differentiable):
            return coef * masked_entropy(self.policy, theta, pre[0])

    @torch.no_grad()
    def old_dist_infos(self, pre: list[Batch], post: Batch) -> list[dict[str, torch.Tensor]]:
        """Distribution info of the *sampling* policies on each batch (for ratios and KLs)."""
        cfg = self.config
        params = getattr(self, "_sampling_params", None)
        if params is None or len(params) != len(pre) + 1:  # not from collect(): recompute
            params = adapt(
                self.inner_kind,
                self.policy,
                self.policy.parameters_dict(),
                pre,
                cfg.inner_lr,
                create_graph=False,
            )
        self._sampling_params = None
        batches = [*pre, post]
        return [
            {k: v.detach() for k, v in self.policy.dist_info(p, b["obs"]).items()}
            for p, b in zip(params, batches)
        ]

    def outer_update(self, pre: list[Batch], post: Batch) -> dict[str, float]:
        raise NotImplementedError

    def iteration(self) -> dict[str, float]:
        t0 = time.perf_counter()
        pre, post, stats = self.collect()
        t1 = time.perf_counter()
        stats.update(self.outer_update(pre, post))
        t2 = time.perf_counter()
        stats["env_steps"] = float(self.sampler.env_steps)
        stats["time_sampling"] = t1 - t0
        stats["time_optimization"] = t2 - t1
        return stats

    def close(self) -> None:
        self.sampler.close()
        self.task_env.close()


#: config keys that may differ between a checkpoint and its resumed run
_RUNTIME_KEYS = ("iterations", "max_env_steps", "progress", "tensorboard", "plot_every", "num_threads")

#: CSV columns whose values depend on wall-clock time (excluded from determinism checks)
TIME_COLUMNS = ("time_sampling", "time_optimization")


def run_training(learner: GradientMetaLearner, out_dir: Path, resume: bool) -> None:
    """The loop of every gradient-based ``train``: resume, iterate, log, checkpoint, plot."""
    from tqdm.auto import tqdm

    cfg = learner.config
    out_dir = Path(out_dir)
    torch.set_num_threads(cfg.torch_threads)
    start = 0
    if resume:
        ckpt = load_checkpoint(out_dir, algo=cfg.algo, env_id=cfg.env_id)
        saved_config = dataclasses.asdict(config_from_dict(type(cfg), ckpt.config))  # + legacy
        saved = {k: v for k, v in saved_config.items() if k not in _RUNTIME_KEYS}
        mine = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in _RUNTIME_KEYS}
        if saved != mine:
            diff = sorted(k for k in mine if saved.get(k) != mine[k])
            raise CheckpointError(f"checkpoint config differs from this run's in {diff}")
        learner.load_state_dict(ckpt.state)
        restore_rng_state(ckpt.rng, learner.rngs())
        start = ckpt.iteration
    log = RunLogger(
        out_dir, resume_iteration=start if resume else None, tensorboard=cfg.tensorboard
    )
    title = f"{cfg.algo} on {cfg.env_id} (seed {cfg.seed})"
    bar = tqdm(
        initial=start,
        total=cfg.iterations,
        desc=cfg.algo,
        disable=not cfg.progress,
    )
    try:
        for it in range(start, cfg.iterations):
            if budget_spent(cfg.max_env_steps, learner.sampler.env_steps):
                break  # a resumed run whose budget was already used up
            stats = learner.iteration()
            log.log(it, stats)
            save_checkpoint(
                out_dir,
                Checkpoint(
                    algo=cfg.algo,
                    env_id=cfg.env_id,
                    iteration=it + 1,
                    config=dataclasses.asdict(cfg),
                    state=learner.state_dict(),
                    rng=capture_rng_state(learner.rngs()),
                ),
            )
            bar.set_postfix(pre=f"{stats['pre_return']:.3g}", post=f"{stats['post_return']:.3g}")
            spent = budget_spent(cfg.max_env_steps, stats["env_steps"])
            if cfg.max_env_steps:  # the bar's total (and ETA) from the budget
                bar.total = expected_iterations(cfg.iterations, cfg.max_env_steps, it + 1,
                                                stats["env_steps"])
            bar.update(1)
            if (it + 1) % cfg.plot_every == 0 or it + 1 == cfg.iterations or spent:
                log.plot(["pre_return", "post_return"], title=title)
            if spent:
                break
    finally:
        bar.close()
        log.close()
        learner.close()


#: the pre-update entropy bonus of MAML and E-MAML on Krazy World and mazes (ProMP: 0.3)
KRAZY_WORLD_ENTROPY_COEF = 0.1


def default_pre_entropy_coef(env_id: str, krazy_world: float = KRAZY_WORLD_ENTROPY_COEF) -> float:
    """The default ``pre_entropy_coef`` of an env: ``krazy_world`` for the Krazy World and maze
    families, 0 (the papers' objectives) for every other.

    Measured (docs/results.md, "The pre-update entropy bonus as the Krazy World default"):
    without the bonus the pre-update policy's entropy collapses on these families in 300
    iterations and the explore episodes fall below the random agent's; with 0.1 E-MAML beats
    random on KrazyWorld-Easy and MAML-TRPO no longer loses to it on KrazyWorld-Medium. ProMP
    (5 PPO steps per batch) needs 0.3 to keep its Easy explore episodes at random's.

    >>> default_pre_entropy_coef("KrazyGym/KrazyWorld-Easy-v0"), default_pre_entropy_coef("KrazyGym/Navigation2D-v0")
    (0.1, 0.0)
    """
    family = env_id.split("/")[-1]
    return krazy_world if family.startswith(("KrazyWorld", "Maze")) else 0.0


def paper_settings(env_id: str) -> dict[str, Any]:
    """Per-family settings of the papers (``--config paper``) on top of the DESIGN defaults.

    * MuJoCo families (ProMP, Rothfuss et al. 2019, App. and ``run_scripts``): 40 tasks,
      20 rollouts per task, (64, 64) tanh Gaussian, inner lr 0.1, one inner step, γ 0.99,
      GAE λ 1, actions normalised to ±10 (``action_scale``, the default); all 800 episodes of
      a batch run at once on the native vector env (one policy call per step for all of them).
    * ``Navigation2D`` (MAML, Finn et al. 2017, Sec. 5.3): 20 tasks per meta-batch,
      20 trajectories per task, two hidden layers of 100 ReLU units, inner lr 0.1.
    * Krazy World and mazes: 40 tasks × 3 episodes per batch (the harness's 3 explore
      episodes: the inner step trains on what ``adapt()`` sees at test time), (64, 64) tanh,
      and (the family default, not a paper setting) the pre-update entropy bonus: 0.1 for
      MAML/E-MAML, 0.3 for ProMP (``--set pre_entropy_coef=0`` for the papers' objective).
    * everything else: the DESIGN defaults (40 × 20, (64, 64) tanh).
    """
    family = env_id.split("/")[-1].rsplit("-v", 1)[0]
    mujoco = ("HalfCheetah", "Ant", "Humanoid", "Walker2d", "Hopper")
    if family.startswith(mujoco):
        return {"num_tasks": 40, "episodes_per_task": 20, "envs_per_task": 0}
    if family == "Navigation2D":
        return {
            "num_tasks": 20,
            "episodes_per_task": 20,
            "hidden_sizes": (100, 100),
            "activation": "relu",
        }
    if family.startswith(("KrazyWorld", "Maze")):
        return {"num_tasks": 40, "episodes_per_task": 3}
    return {}
