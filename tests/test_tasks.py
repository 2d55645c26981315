"""Tests of the family-independent task layer (krazy_gym/tasks.py) on a toy family."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest

from krazy_gym.tasks import Task, TaskFamily, as_task, check_tasks_disjoint


@dataclasses.dataclass(frozen=True)
class ToyTask(Task):
    goal: tuple = ()
    FAMILIES = ("Toy",)

    def validate(self) -> None:
        if len(self.goal) != 2:
            raise ValueError(f"goal must have 2 coordinates, got {len(self.goal)}")


class ToyFamily(TaskFamily):
    name = "Toy"
    task_class = ToyTask

    def generate(self, rng: np.random.Generator) -> dict:
        return {"goal": rng.uniform(-1, 1, size=2)}


def test_test_stream_is_fixed_and_prefix_stable():
    a = ToyFamily().sample_tasks(20, split="test")
    b = ToyFamily().sample_tasks(5, split="test")
    assert a[:5] == b
    assert [t.index for t in a] == list(range(20))
    assert all(t.split == "test" for t in a)


def test_train_stream_depends_on_seed_only():
    fam = ToyFamily()
    assert fam.sample_tasks(5, seed=3) == ToyFamily().sample_tasks(5, seed=3)
    assert fam.sample_tasks(5, seed=3) != fam.sample_tasks(5, seed=4)
    assert fam.sample_tasks(5) == fam.sample_tasks(5, seed=0)


def test_config_keys_the_stream():
    assert ToyFamily(size=1).sample_tasks(3, "test") != ToyFamily(size=2).sample_tasks(3, "test")


def test_train_and_test_are_disjoint_by_content():
    fam = ToyFamily()
    train = fam.sample_tasks(2000, seed=0) + fam.sample_tasks(2000, seed=1)
    test = fam.sample_tasks(500, split="test")
    check_tasks_disjoint(train, test)
    assert all(t.content_split() == "train" for t in train)
    assert all(t.content_split() == "test" for t in test)
    # the partition holds about a quarter of candidates for the test split
    assert 0.15 < len(test) / (len(test) + fam._test_cursor - len(test)) < 0.35


def test_json_round_trip_is_exact():
    for task in ToyFamily().sample_tasks(50, seed=7):
        text = json.dumps(task.to_dict())
        again = ToyTask.from_dict(json.loads(text))
        assert again == task and hash(again) == hash(task)
        assert again.goal == task.goal  # floats survive JSON bit for bit


def test_tasks_are_frozen_and_hashable():
    task = ToyTask(family="Toy", split="train", index=0, goal=[0.5, np.float64(0.25)])
    assert task.goal == (0.5, 0.25) and isinstance(task.goal, tuple)
    with pytest.raises(dataclasses.FrozenInstanceError):
        task.index = 3  # type: ignore[misc]
    assert len({task, ToyTask(family="Toy", split="train", index=0, goal=(0.5, 0.25))}) == 1


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"split": "valid"}, ValueError, "split must be one of"),
        ({"index": -1}, ValueError, "index must be >= 0"),
        ({"index": 1.5}, TypeError, "index must be an int"),
        ({"family": "Other"}, ValueError, "family must be one of"),
        ({"goal": (1.0,)}, ValueError, "goal must have 2"),
        ({"goal": (1.0, float("nan"))}, ValueError, "must be finite"),
    ],
)
def test_bad_tasks_are_rejected(kwargs, error, match):
    base = {"family": "Toy", "split": "train", "index": 0, "goal": (0.0, 0.0)}
    with pytest.raises(error, match=match):
        ToyTask(**{**base, **kwargs})


def test_from_dict_errors_name_the_problem():
    with pytest.raises(ValueError, match="unknown task family"):
        Task.from_dict({"family": "Nope", "split": "train", "index": 0})
    with pytest.raises(ValueError, match=r"missing keys \['goal'\]"):
        ToyTask.from_dict({"family": "Toy", "split": "train", "index": 0})
    with pytest.raises(ValueError, match=r"unexpected keys \['extra'\]"):
        ToyTask.from_dict({"family": "Toy", "split": "train", "index": 0, "goal": [0, 0], "extra": 1})
    with pytest.raises(TypeError, match="mapping"):
        Task.from_dict([1, 2])
    with pytest.raises(TypeError, match="Task or its dict form"):
        as_task(42)


def test_sample_tasks_argument_errors():
    fam = ToyFamily()
    with pytest.raises(ValueError, match="split must be one of"):
        fam.sample_tasks(1, split="val")
    with pytest.raises(ValueError, match="seed must be None for split='test'"):
        fam.sample_tasks(1, split="test", seed=1)
    with pytest.raises(ValueError, match="n must be >= 0"):
        fam.sample_tasks(-1)
    with pytest.raises(ValueError, match="seed must be None or an int"):
        fam.sample_tasks(1, seed=-2)


def test_validate_task_rejects_other_families():
    fam = ToyFamily()

    @dataclasses.dataclass(frozen=True)
    class OtherTask(Task):
        FAMILIES = ("Other",)

    with pytest.raises(ValueError, match="family 'Other' given to a 'Toy' env"):
        fam.validate_task(OtherTask(family="Other", split="train", index=0))


def test_import_is_light():
    code = (
        "import sys, krazy_gym;"
        "heavy = [m for m in ('numba', 'torch', 'mujoco', 'pygame', 'matplotlib', 'ray') if m in sys.modules];"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_id_is_registered_in_namespace():
    import gymnasium as gym

    import krazy_gym

    ids = krazy_gym.all_env_ids()
    assert len(ids) == len(set(ids)) == 20
    for env_id in ids:
        assert env_id.startswith("KrazyGym/") and env_id in gym.registry
