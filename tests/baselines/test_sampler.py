"""The fast sampling path gives exactly the batches of the plain policy loop.

``BatchActor`` (the sampler's policy: unpacked parameters, only live rows evaluated) must draw,
for every live row, the action that ``policy.sample(policy.dist_info(params, obs))`` draws on
the full batch with the same generator (categorical: exactly; Gaussian: to float32 rounding,
since a smaller matrix product may round differently), and leave the generator in the same
state; and
``MetaSampler`` must return the batch of the straightforward loop below (one full-batch policy
call per step, every sub-env stepped until all episodes ended).
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
gym = pytest.importorskip("gymnasium")

from baselines.common.policies import (  # noqa: E402
    BatchActor,
    CategoricalMLPPolicy,
    GaussianMLPPolicy,
    expand_params,
    make_policy,
)
from baselines.common.sampler import (  # noqa: E402
    ActionAdapter,
    MetaSampler,
    make_vector_env,
    obs_to_array,
)

K, M, D = 5, 12, 7  # tasks, rows per task, obs dim


def _params(policy, kind, seed=0):
    theta = {n: p.detach() for n, p in policy.parameters_dict().items()}
    if kind == "plain":
        return theta
    if kind == "shared":
        return expand_params(theta, K)
    g = torch.Generator().manual_seed(seed)
    return {n: p + 0.5 * torch.randn((K, *p.shape), generator=g) for n, p in theta.items()}


def _reference(policy, params, obs, generator):
    """The plain path: dist_info on all rows (task-shaped for task-batched params), sample."""
    batched = policy._is_batched(params)
    with torch.no_grad():
        if batched:
            info = policy.dist_info(params, obs.reshape(K, M, -1))
            info = {k: v.reshape(K * M, *v.shape[2:]) for k, v in info.items()}
        else:
            info = policy.dist_info(params, obs)
        return policy.sample(info, generator)


def _alive_masks(rng):
    n = K * M
    yield None
    yield np.ones(n, bool)
    yield rng.random(n) < 0.5
    yield rng.random(n) < 0.1  # a few rows: fewer than BLAS's small-matrix threshold
    one = np.zeros(n, bool)
    one[17] = True
    yield one
    whole_tasks = np.zeros((K, M), bool)
    whole_tasks[[1, 3]] = True  # some tasks entirely finished
    yield whole_tasks.reshape(-1)
    last = np.zeros((K, M), bool)
    last[:, -1] = True  # one live row per task, at the end
    yield last.reshape(-1)


@pytest.mark.parametrize("kind", ["plain", "shared", "per_task"])
@pytest.mark.parametrize("policy_cls", [CategoricalMLPPolicy, GaussianMLPPolicy])
def test_batch_actor_draws_the_plain_paths_actions(policy_cls, kind):
    torch.manual_seed(0)
    policy = policy_cls(D, 3, hidden_sizes=(16, 16))
    params = _params(policy, kind)
    actor = BatchActor(policy, params, K, M)
    assert actor.per_task == (kind == "per_task")
    rng = np.random.default_rng(0)
    obs = torch.randn(K * M, D)
    for alive in _alive_masks(rng):
        g_ref, g_fast = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
        expected = _reference(policy, params, obs, g_ref).numpy()
        dtype = np.int64 if policy.discrete else np.float32
        actions = np.full(expected.shape, -5, dtype=dtype)
        actor(obs, alive, g_fast, actions)
        live = np.ones(K * M, bool) if alive is None else alive
        if policy.discrete:
            # discrete outcome: exact (a flip needs a uniform draw within the logits' last-bit
            # rounding of a CDF boundary, ~1e-7 per draw, and these draws are fixed)
            np.testing.assert_array_equal(actions[live], expected[live])
        else:
            # the live rows' smaller matrix product may round differently from the full one in
            # the last float32 bit (it does on Intel AVX-512): a few ULP of the action's scale
            np.testing.assert_allclose(actions[live], expected[live], rtol=1e-6, atol=1e-6)
        assert np.all(actions[~live] == -5)  # finished rows keep their last action
        assert torch.equal(g_ref.get_state(), g_fast.get_state())  # same draws consumed


def _reference_sample(envs, policy, params, tasks, m, horizon, rng, generator):
    """One round of the straightforward loop (the sampler before its fast path)."""
    n = envs.num_envs
    k = n // m
    envs.set_attr("task", [t for t in tasks for _ in range(m)])
    seeds = rng.integers(0, 2**31 - 1, size=n)
    obs, _ = envs.reset(seed=[int(s) for s in seeds])
    adapter = ActionAdapter(envs.single_action_space)  # the default action_scale, as MetaSampler
    alive = np.ones(n, bool)
    out = {"obs": [], "actions": [], "rewards": [], "mask": []}
    batched = policy._is_batched(params)
    for _ in range(horizon):
        o = obs_to_array(obs, envs.single_observation_space)
        with torch.no_grad():
            ot = torch.from_numpy(o)
            if batched:
                info = policy.dist_info(params, ot.reshape(k, m, -1))
                info = {key: v.reshape(n, *v.shape[2:]) for key, v in info.items()}
            else:
                info = policy.dist_info(params, ot)
            actions = policy.sample(info, generator).numpy()
        out["obs"].append(o)
        out["actions"].append(actions)
        obs, reward, terminated, truncated, _ = envs.step(adapter(actions))
        out["rewards"].append(np.where(alive, reward, 0.0).astype(np.float32))
        out["mask"].append(alive.astype(np.float32))
        alive = alive & ~(np.asarray(terminated) | np.asarray(truncated))
        if not alive.any():
            break
    # (T, N, ...) -> (K, m, T, ...)
    return {
        key: np.moveaxis(np.stack(v).reshape(len(v), k, m, *np.stack(v).shape[2:]), 0, 2)
        for key, v in out.items()
    }


@pytest.mark.parametrize(
    "env_id, kind, horizon",
    [
        ("KrazyGym/KrazyWorld-Easy-v0", "shared", 0),
        ("KrazyGym/KrazyWorld-Hard-v0", "per_task", 0),
        ("KrazyGym/Navigation2D-v0", "per_task", 30),
        ("KrazyGym/TabularMDP-v0", "shared", 0),
        ("KrazyGym/HalfCheetahDir-v0", "per_task", 20),  # native MuJoCo vector env, Box actions
        ("KrazyGym/Walker2dDir-v0", "per_task", 60),  # episodes that end at different steps
    ],
)
def test_meta_sampler_equals_the_plain_loop(env_id, kind, horizon):
    m = 6
    sampler = MetaSampler(env_id, num_tasks=K, episodes_per_task=m, max_episode_steps=horizon)
    torch.manual_seed(1)
    policy = make_policy(sampler.obs_space, sampler.action_space, (16, 16))
    params = _params(policy, kind, seed=1)
    tasks = gym.make(env_id).unwrapped.sample_tasks(K, "train", seed=3)
    ref_envs = make_vector_env(env_id, K * m, **({"max_episode_steps": horizon} if horizon else {}))
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    gen_a, gen_b = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    real_steps = 0
    for _ in range(2):  # the second batch reuses the tasks (no re-assignment)
        batch = sampler.sample(policy, params, tasks, rng_a, gen_a)
        real_steps += int(batch.mask.sum())
        ref = _reference_sample(ref_envs, policy, params, tasks, m, sampler.horizon, rng_b, gen_b)
        mask = ref["mask"].astype(bool)
        np.testing.assert_array_equal(batch.mask, ref["mask"])
        np.testing.assert_array_equal(batch.rewards, ref["rewards"])
        np.testing.assert_array_equal(batch.obs[mask], ref["obs"][mask])
        np.testing.assert_array_equal(batch.actions[mask], ref["actions"][mask])
        assert not np.any(batch.actions[~mask])  # padding: zero actions
    assert torch.equal(gen_a.get_state(), gen_b.get_state())
    assert sampler.env_steps == real_steps
    sampler.close()
    ref_envs.close()


def test_several_rounds_stack_along_episodes_and_pad_with_zeros():
    """envs_per_task < episodes_per_task: rounds reuse the buffers; each is copied out."""
    sampler = MetaSampler(
        "KrazyGym/KrazyWorld-Hard-v0", num_tasks=3, episodes_per_task=8, envs_per_task=2
    )
    torch.manual_seed(0)
    policy = make_policy(sampler.obs_space, sampler.action_space, (8,))
    tasks = gym.make("KrazyGym/KrazyWorld-Hard-v0").unwrapped.sample_tasks(3, seed=0)
    theta = {n: p.detach() for n, p in policy.parameters_dict().items()}
    batch = sampler.sample(
        policy, theta, tasks, np.random.default_rng(0), torch.Generator().manual_seed(0)
    )
    assert batch.obs.shape[:2] == (3, 8) and batch.mask.shape == batch.rewards.shape
    lengths = batch.mask.sum(-1)
    assert lengths.min() >= 1 and lengths.max() == batch.mask.shape[-1]
    # every episode is a prefix of real steps followed by zero padding
    for k in range(3):
        for e in range(8):
            n = int(lengths[k, e])
            assert batch.mask[k, e, :n].all() and not batch.mask[k, e, n:].any()
            assert not batch.rewards[k, e, n:].any() and not batch.actions[k, e, n:].any()
    assert sampler.env_steps == int(batch.mask.sum())
    sampler.close()


@pytest.mark.parametrize("env_id", ["KrazyGym/Bandit-v0", "KrazyGym/KrazyWorld-Easy-v0"])
def test_a_batch_owns_its_arrays(env_id):
    """The next batch reuses the step buffers; a returned batch must not alias them
    (with one step per episode the transposed copy would otherwise be a view)."""
    sampler = MetaSampler(env_id, num_tasks=3, episodes_per_task=4)
    policy = make_policy(sampler.obs_space, sampler.action_space, (8,))
    theta = {n: p.detach() for n, p in policy.parameters_dict().items()}
    tasks = gym.make(env_id).unwrapped.sample_tasks(3, seed=0)
    rng, gen = np.random.default_rng(0), torch.Generator().manual_seed(0)
    first = sampler.sample(policy, theta, tasks, rng, gen)
    kept = {k: getattr(first, k).copy() for k in ("obs", "actions", "rewards", "mask")}
    for _ in range(3):
        sampler.sample(policy, theta, tasks, rng, gen)
    for key, value in kept.items():
        np.testing.assert_array_equal(getattr(first, key), value)
    sampler.close()


def test_make_vector_env_copy_false_reaches_the_env():
    native = make_vector_env("KrazyGym/KrazyWorld-Easy-v0", 4, copy=False)
    assert native.unwrapped.copy is False
    native.close()
    assert make_vector_env("KrazyGym/KrazyWorld-Easy-v0", 4).unwrapped.copy is True
    sync = make_vector_env("KrazyGym/Navigation2D-v0", 2, vectorization="sync", copy=False)
    assert sync.copy is False
    sync.close()
    # an env without a copy option (Maze's native env) is made as before
    make_vector_env("KrazyGym/Maze-v0", 2, copy=False).close()


def test_mujoco_sampler_runs_the_native_env_with_one_policy_call_per_step(monkeypatch):
    """No pipes: the MuJoCo ids sample on their native vector env (physics threads passed
    through), and each step is one forward over all sub-envs."""
    pytest.importorskip("mujoco")
    from krazy_gym.mujoco.vector import MujocoVectorEnv

    sampler = MetaSampler("KrazyGym/HalfCheetahDir-v0", num_tasks=K, episodes_per_task=4,
                          max_episode_steps=12, num_threads=2)
    assert isinstance(sampler.envs.unwrapped, MujocoVectorEnv)
    assert sampler.envs.unwrapped.num_threads == 2 and sampler.num_envs == 20
    torch.manual_seed(0)
    policy = make_policy(sampler.obs_space, sampler.action_space, (16, 16))
    calls = []
    original = BatchActor._net

    def counting(self, h, layers=None):
        calls.append(h.shape[:-1].numel())
        return original(self, h, layers)

    monkeypatch.setattr(BatchActor, "_net", counting)
    for kind in ("shared", "per_task"):
        calls.clear()
        params = _params(policy, kind) if kind == "per_task" else expand_params(
            {n: p.detach() for n, p in policy.parameters_dict().items()}, K)
        tasks = sampler.envs.unwrapped.sample_tasks(K, "train", seed=0)
        batch = sampler.sample(policy, params, tasks, np.random.default_rng(0),
                               torch.Generator().manual_seed(0))
        assert batch.mask.shape == (K, 4, 12) and batch.mask.all()
        assert calls == [20] * 12, kind  # one call per step, every sub-env's row in it
    sampler.close()


def test_the_num_threads_setting_is_checked_and_only_for_mujoco_ids():
    from baselines.promp import Config, ProMP

    with pytest.raises(ValueError, match="num_threads"):
        Config(num_threads=-1)
    with pytest.raises(ValueError, match="MuJoCo ids only"):
        ProMP(Config(env_id="KrazyGym/Navigation2D-v0", num_threads=2, progress=False))
