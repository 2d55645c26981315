"""Checkpoints (atomic, every RNG restored, algo/env checked), the run logger and config overrides."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from baselines.common.checkpoint import (  # noqa: E402
    Checkpoint,
    CheckpointError,
    capture_rng_state,
    load_checkpoint,
    restore_rng_state,
    save_checkpoint,
)
from baselines.common.config import ConfigError, apply_overrides, config_from_dict  # noqa: E402
from baselines.common.logger import RunLogger, read_progress  # noqa: E402


def _ckpt(rngs, iteration=3):
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    return (
        model,
        opt,
        Checkpoint(
            algo="promp",
            env_id="KrazyGym/Navigation2D-v0",
            iteration=iteration,
            config={"seed": 1, "hidden_sizes": (64, 64)},
            state={"policy": model.state_dict(), "optimizer": opt.state_dict()},
            rng=capture_rng_state(rngs),
        ),
    )


def test_rng_states_restore_exactly(tmp_path):
    rngs = {"np": np.random.default_rng(5), "torch": torch.Generator().manual_seed(7)}
    torch.manual_seed(11)
    _, _, ckpt = _ckpt(rngs)
    save_checkpoint(tmp_path, ckpt)
    expected = (rngs["np"].random(4), torch.rand(3, generator=rngs["torch"]), torch.rand(2))
    fresh = {"np": np.random.default_rng(0), "torch": torch.Generator().manual_seed(0)}
    restore_rng_state(load_checkpoint(tmp_path).rng, fresh)
    got = (fresh["np"].random(4), torch.rand(3, generator=fresh["torch"]), torch.rand(2))
    np.testing.assert_array_equal(expected[0], got[0])
    assert torch.equal(expected[1], got[1]) and torch.equal(expected[2], got[2])


def test_model_and_optimizer_round_trip(tmp_path):
    model, opt, ckpt = _ckpt({})
    path = save_checkpoint(tmp_path / "run", ckpt)
    assert path.name == "checkpoint.pt" and not list(path.parent.glob(".tmp-*"))
    back = load_checkpoint(path, algo="promp", env_id="KrazyGym/Navigation2D-v0")
    assert back.iteration == 3 and back.config["hidden_sizes"] == (64, 64)
    model2 = torch.nn.Linear(3, 2)
    model2.load_state_dict(back.state["policy"])
    for a, b in zip(model.parameters(), model2.parameters()):
        assert torch.equal(a, b)
    opt2 = torch.optim.Adam(model2.parameters(), lr=1e-3)
    opt2.load_state_dict(back.state["optimizer"])
    assert torch.equal(
        opt2.state_dict()["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"]
    )


def test_wrong_algo_env_or_missing_file_is_checkpoint_error(tmp_path):
    save_checkpoint(tmp_path, _ckpt({})[2])
    with pytest.raises(CheckpointError, match="algo 'promp', not 'maml-trpo'"):
        load_checkpoint(tmp_path, algo="maml-trpo")
    with pytest.raises(CheckpointError, match="not 'KrazyGym/Bandit-v0'"):
        load_checkpoint(tmp_path, env_id="KrazyGym/Bandit-v0")
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path / "nowhere")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    with pytest.raises(CheckpointError, match="RNG state"):
        restore_rng_state({}, {"np": np.random.default_rng()})


def test_logger_rewrites_csv_and_drops_rows_after_resume_point(tmp_path):
    log = RunLogger(tmp_path)
    for it in range(4):
        log.log(it, {"pre_return": it * 1.5, "post_return": it * 2.0 + 0.1})
    png = log.plot(["pre_return", "post_return"], title="t")
    assert png.stat().st_size > 1000 and png.read_bytes()[:4] == b"\x89PNG"
    rows = read_progress(tmp_path)
    assert [r["iteration"] for r in rows] == [0, 1, 2, 3]
    assert rows[3]["post_return"] == 6.1  # repr round-trips floats exactly
    resumed = RunLogger(tmp_path, resume_iteration=2)
    assert [r["iteration"] for r in resumed.rows] == [0, 1]


@dataclasses.dataclass
class _Cfg:
    algo: str = "x"
    seed: int = 0
    lr: float = 0.1
    hidden_sizes: tuple = (64, 64)
    tensorboard: bool = False


def test_overrides_parse_by_field_type_and_reject_unknown_keys():
    cfg = apply_overrides(
        _Cfg(), {"seed": "3", "lr": "1", "hidden_sizes": "(8, 8)", "tensorboard": "true"}
    )
    assert cfg == _Cfg(seed=3, lr=1.0, hidden_sizes=(8, 8), tensorboard=True)
    assert isinstance(cfg.lr, float)
    with pytest.raises(ConfigError, match="unknown config key 'nope'.*seed"):
        apply_overrides(_Cfg(), {"nope": "1"})
    with pytest.raises(ConfigError, match="'seed' takes a int"):
        apply_overrides(_Cfg(), {"seed": "0.5"})
    assert config_from_dict(_Cfg, {"hidden_sizes": [1, 2]}).hidden_sizes == (1, 2)
