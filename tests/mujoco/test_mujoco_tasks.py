"""The MuJoCo task classes and families (krazy_gym/mujoco/tasks.py): numpy only, no mujoco."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from functools import partial

import numpy as np
import pytest

from krazy_gym.mujoco.tasks import (
    BODY_PARAM_NAMES,
    BodyParamsFamily,
    BodyParamsTask,
    Direction2DFamily,
    Direction2DTask,
    DirectionFamily,
    DirectionTask,
    GoalFamily,
    GoalTask,
    VelocityFamily,
    VelocityTask,
)
from krazy_gym.tasks import Task, check_tasks_disjoint

HOPPER_SHAPES = {
    "body_mass": (5,),
    "body_inertia": (5, 3),
    "geom_friction": (5, 3),
    "dof_damping": (6,),
}


#: family name -> a function building it (two calls give two equal, independent families)
FAMILIES = {
    "HalfCheetahDir": partial(DirectionFamily, "HalfCheetahDir"),
    "AntDir": partial(DirectionFamily, "AntDir"),
    "HumanoidDir": partial(DirectionFamily, "HumanoidDir"),
    "Walker2dDir": partial(DirectionFamily, "Walker2dDir"),
    "HalfCheetahVel": partial(VelocityFamily, "HalfCheetahVel", max_velocity=3.0),
    "Walker2dVel": partial(VelocityFamily, "Walker2dVel", max_velocity=10.0),
    "AntDir2D": partial(Direction2DFamily, "AntDir2D"),
    "HumanoidDir2D": partial(Direction2DFamily, "HumanoidDir2D"),
    "AntGoal": partial(GoalFamily, "AntGoal", radius=3.0),
    "HopperParams": partial(BodyParamsFamily, "HopperParams", shapes=HOPPER_SHAPES),
}


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_json_round_trip_and_determinism(name):
    family, again = FAMILIES[name](), FAMILIES[name]()
    tasks = family.sample_tasks(20, seed=5)
    assert again.sample_tasks(20, seed=5) == tasks  # same stream, bit for bit
    assert family.sample_tasks(20, split="test") == again.sample_tasks(20, split="test")
    assert family.sample_tasks(20, seed=6) != tasks
    for task in tasks:
        back = Task.from_dict(json.loads(json.dumps(task.to_dict())))
        assert back == task and type(back) is type(task)
        assert back.content_key() == task.content_key()


@pytest.mark.parametrize("name", [n for n in sorted(FAMILIES) if FAMILIES[n]().splittable])
def test_train_and_test_are_disjoint(name):
    family = FAMILIES[name]()
    train = family.sample_tasks(300, seed=0) + family.sample_tasks(300, seed=1)
    test = family.sample_tasks(100, split="test")
    check_tasks_disjoint(train, test)


@pytest.mark.parametrize("name", ["HalfCheetahDir", "AntDir", "HumanoidDir", "Walker2dDir"])
def test_direction_families_cannot_be_split(name):
    """Only two tasks exist (d = +1, d = -1): any long enough train and test lists share
    both, so disjointness cannot hold; the family says so and the test split is instead a
    fixed sequence of fair ±1 draws."""
    family = DirectionFamily(name)
    assert family.splittable is False
    test = family.sample_tasks(200, split="test")
    assert test == DirectionFamily(name).sample_tasks(200, split="test")
    directions = [t.direction for t in test]
    assert set(directions) == {1.0, -1.0}
    # fair coin: 200 draws, 5 standard deviations
    assert abs(directions.count(1.0) - 100) < 5 * math.sqrt(50)
    train = family.sample_tasks(50, seed=0)
    with pytest.raises(AssertionError):
        check_tasks_disjoint(train, test)


def test_velocity_distribution():
    family = VelocityFamily("Walker2dVel", max_velocity=10.0)
    v = np.array([t.target_velocity for t in family.sample_tasks(2000, seed=3)])
    assert v.min() >= 0.0 and v.max() <= 10.0
    assert abs(v.mean() - 5.0) < 5 * 10 / math.sqrt(12 * 2000)


def test_direction2d_is_uniform_on_the_circle():
    tasks = Direction2DFamily("AntDir2D").sample_tasks(2000, seed=2)
    d = np.array([t.direction for t in tasks])
    np.testing.assert_allclose(np.linalg.norm(d, axis=1), 1.0, atol=1e-12)
    angles = np.arctan2(d[:, 1], d[:, 0])
    counts, _ = np.histogram(angles, bins=8, range=(-np.pi, np.pi))
    assert np.all(np.abs(counts - 250) < 5 * math.sqrt(250))


def test_goal_is_uniform_in_the_disc():
    tasks = GoalFamily("AntGoal", radius=3.0).sample_tasks(4000, seed=1)
    g = np.array([t.goal for t in tasks])
    r = np.linalg.norm(g, axis=1)
    assert r.max() <= 3.0
    # uniform over the area: P(r < 3/√2) = 1/2
    assert abs(np.mean(r < 3.0 / math.sqrt(2)) - 0.5) < 5 * 0.5 / math.sqrt(4000)


def test_body_param_multipliers_follow_the_log_uniform_law():
    tasks = BodyParamsFamily("HopperParams", shapes=HOPPER_SHAPES).sample_tasks(400, seed=0)
    for name, base in (("body_mass", 1.5), ("geom_friction", 1.5), ("dof_damping", 1.3)):
        values = np.array([getattr(t, name) for t in tasks])
        assert values.shape[1:] == HOPPER_SHAPES[name]
        exponents = np.log(values) / np.log(base)  # ~ U(-3, 3), one per element
        assert exponents.min() >= -3 and exponents.max() <= 3
        assert abs(exponents.mean()) < 5 * math.sqrt(3) / math.sqrt(exponents.size)
        assert len(np.unique(values)) == values.size  # one draw per element


def test_direction_normalises_ints_so_equal_tasks_are_equal():
    a = DirectionTask(family="AntDir", split="train", index=0, direction=1)
    b = DirectionTask(family="AntDir", split="train", index=0, direction=1.0)
    assert a == b and isinstance(a.direction, float) and a.content_key() == b.content_key()


@pytest.mark.parametrize(
    ("cls", "family", "kwargs", "error", "match"),
    [
        (
            DirectionTask,
            "AntDir",
            {"direction": 0.5},
            ValueError,
            r"direction must be \+1.0 or -1.0",
        ),
        (DirectionTask, "AntDir", {"direction": True}, ValueError, "direction must be"),
        (DirectionTask, "AntDir", {"direction": "1"}, ValueError, "direction must be"),
        (DirectionTask, "AntDir2D", {"direction": 1.0}, ValueError, "family must be one of"),
        (Direction2DTask, "AntDir2D", {"direction": (1.0, 1.0)}, ValueError, "unit vector"),
        (Direction2DTask, "AntDir2D", {"direction": (1.0,)}, ValueError, "pair of real numbers"),
        (Direction2DTask, "AntDir2D", {"direction": (float("nan"), 0.0)}, ValueError, "finite"),
        (
            VelocityTask,
            "HalfCheetahVel",
            {"target_velocity": -0.1},
            ValueError,
            "target_velocity must be >= 0",
        ),
        (VelocityTask, "HalfCheetahVel", {"target_velocity": "2"}, TypeError, "target_velocity"),
        (GoalTask, "AntGoal", {"goal": (1.0, 2.0, 3.0)}, ValueError, "goal must be a pair"),
        (
            BodyParamsTask,
            "HopperParams",
            {
                "body_mass": ((1.0, 1.0), (1.0,)),
                "body_inertia": ((1.0,) * 3,),
                "geom_friction": ((1.0,) * 3,),
                "dof_damping": (1.0,),
            },
            ValueError,
            "body_mass",
        ),
        (
            BodyParamsTask,
            "HopperParams",
            {
                "body_mass": (1.0,),
                "body_inertia": ((1.0, 1.0),),
                "geom_friction": ((1.0,) * 3,),
                "dof_damping": (1.0,),
            },
            ValueError,
            r"body_inertia must have shape \(n, 3\)",
        ),
        (
            BodyParamsTask,
            "HopperParams",
            {
                "body_mass": (1.0,),
                "body_inertia": ((1.0,) * 3,),
                "geom_friction": ((1.0,) * 3,),
                "dof_damping": (0.0,),
            },
            ValueError,
            "dof_damping multipliers must be > 0",
        ),
    ],
)
def test_bad_tasks_are_rejected(cls, family, kwargs, error, match):
    with pytest.raises(error, match=match):
        cls(family=family, split="train", index=0, **kwargs)


def test_wrong_shape_is_rejected_by_the_family():
    family = BodyParamsFamily("HopperParams", shapes=HOPPER_SHAPES)
    task = family.sample_tasks(1)[0]
    other = BodyParamsFamily("HopperParams", shapes={**HOPPER_SHAPES, "dof_damping": (9,)})
    with pytest.raises(
        ValueError, match=r"dof_damping has shape \(6,\), but the HopperParams model needs \(9,\)"
    ):
        other.validate_task(task)
    assert set(task.multipliers()) == set(BODY_PARAM_NAMES)


def test_family_names_are_checked():
    with pytest.raises(ValueError, match="name must be one of"):
        DirectionFamily("AntGoal")
    with pytest.raises(ValueError, match="max_velocity must be > 0"):
        VelocityFamily("HalfCheetahVel", max_velocity=-1.0)


def test_task_module_does_not_import_mujoco_and_tasks_match_across_processes():
    """Another process (another hash seed) draws the same test tasks, without mujoco."""
    code = (
        "import json, sys\n"
        f"sys.path.insert(0, {os.path.dirname(__file__)!r})\n"
        "from test_mujoco_tasks import FAMILIES\n"
        "tasks = {n: [t.to_dict() for t in f().sample_tasks(3, split='test')]"
        " for n, f in FAMILIES.items()}\n"
        "print(json.dumps(tasks))\n"
        "print('mujoco' in sys.modules, 'gymnasium.envs.mujoco.ant_v5' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
    )
    tasks_json, imported = out.stdout.strip().splitlines()[-2:]
    assert imported == "False False"
    other = json.loads(tasks_json)
    for name, make_family in FAMILIES.items():
        here = make_family().sample_tasks(3, split="test")
        assert [Task.from_dict(d) for d in other[name]] == here, name


def test_portable_pow_and_cos_sin_agree_with_the_c_library_to_a_few_ulp():
    """IEEE-only versions (same bits on every machine) against numpy/libm, independently."""
    import math

    from krazy_gym.mujoco.tasks import portable_cos_sin, portable_pow

    u = np.random.default_rng(0).uniform(-3, 3, 20000)
    for base in (1.5, 1.3):
        np.testing.assert_allclose(portable_pow(base, u), np.power(base, u), rtol=4e-15, atol=0)
    assert portable_pow(1.5, np.array([0.0]))[0] == 1.0
    for angle in np.random.default_rng(1).uniform(0, 2 * math.pi, 2000):
        c, s = portable_cos_sin(float(angle))
        assert abs(c - math.cos(angle)) < 2e-15 and abs(s - math.sin(angle)) < 2e-15
    with pytest.raises(ValueError, match="base must be one of"):
        portable_pow(2.0, u)
    with pytest.raises(ValueError, match="angle must be in"):
        portable_cos_sin(7.0)
