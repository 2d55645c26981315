"""record_adaptation drives a MetaAgent like the harness does; side_by_side pads and joins."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import krazy_gym  # noqa: F401
from krazy_gym.evaluation.benchmarks import get_benchmark
from krazy_gym.krazy_world.gallery import record_adaptation, side_by_side


class ScriptedAgent:
    """Plays a fixed action cycle; logs the protocol calls it receives."""

    def __init__(self, cycle: tuple[int, ...]) -> None:
        self.cycle, self.calls, self.t = cycle, [], 0

    def reset(self, num_tasks, observation_space, action_space) -> None:
        self.calls.append(("reset", num_tasks))

    def act(self, obs: np.ndarray) -> np.ndarray:
        assert obs.shape[0] == 1
        action = self.cycle[self.t % len(self.cycle)]
        self.t += 1
        return np.array([action])

    def observe(self, obs, action, reward, next_obs, terminated, truncated) -> None:
        assert obs.shape[0] == action.shape[0] == reward.shape[0] == 1
        self.calls.append(("observe", float(reward[0]), bool(terminated[0] or truncated[0])))

    def adapt(self) -> None:
        self.calls.append(("adapt",))


def _direct_returns(bench, task, cycle, episodes):
    """The same action stream replayed on a plain env: per-episode returns and lengths."""
    env = gym.make(bench.env_id, **bench.env_kwargs)
    t, out = 0, []
    for k in range(episodes):
        env.reset(seed=k, options={"task": task})
        total, steps, done = 0.0, 0, False
        while not done:
            _, r, term, trunc, _ = env.step(cycle[t % len(cycle)])
            t, steps, total, done = t + 1, steps + 1, total + float(r), term or trunc
        out.append((total, steps))
    return out


@pytest.mark.parametrize("preset", ["Easy", "Hard"])
def test_record_adaptation_follows_the_harness_protocol(preset):
    bench = get_benchmark(f"KrazyWorld-{preset}")
    task = bench.tasks()[3]
    cycle = (0, 3, 3, 1, 2, 1, 1, 0, 3)
    agent = ScriptedAgent(cycle)
    episodes = record_adaptation(agent, task, bench.explore_episodes, bench.exploit_episodes,
                                 bench.env_id, bench.env_kwargs, seed=0)
    expected = _direct_returns(bench, task, cycle, bench.explore_episodes + bench.exploit_episodes)
    assert [e["phase"] for e in episodes] == (["explore"] * bench.explore_episodes
                                              + ["exploit"] * bench.exploit_episodes)
    assert [(e["return"], len(e["frames"]) - 1) for e in episodes] == expected
    # one reset, adapt exactly once and exactly after the explore episodes' last step
    names = [c[0] for c in agent.calls]
    assert names.count("reset") == 1 and names.count("adapt") == 1 and names[0] == "reset"
    ends = [i for i, c in enumerate(agent.calls) if c[0] == "observe" and c[2]]
    assert names.index("adapt") == ends[bench.explore_episodes - 1] + 1
    rewards = [c[1] for c in agent.calls if c[0] == "observe"]
    assert sum(rewards) == sum(r for r, _ in expected)
    assert all(f.dtype == np.uint8 and f.ndim == 3 for e in episodes for f in e["frames"])


def test_side_by_side_holds_the_shorter_episodes_last_frame():
    a = [np.full((4, 3, 3), i, dtype=np.uint8) for i in range(2)]
    b = [np.full((5, 2, 3), 10 + i, dtype=np.uint8) for i in range(4)]
    frames = side_by_side(a, b, gap=1)
    assert len(frames) == 4 and frames[0].shape == (5, 6, 3)
    assert (frames[3][:4, :3] == 1).all() and (frames[3][:, 4:] == 13).all()
    assert (frames[0][4, :3] == 255).all() and (frames[0][:, 3] == 255).all()  # padding, gap
    with pytest.raises(ValueError, match="at least one frame"):
        side_by_side([], b)
