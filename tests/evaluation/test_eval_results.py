"""Results files: schema, field-naming errors, canonical form and hash, atomic I/O."""

from __future__ import annotations

import copy
import json

import eval_toys
import jsonschema
import pytest

from krazy_gym.evaluation import evaluate
from krazy_gym.evaluation.results import (
    SCHEMA_VERSION,
    ResultsError,
    canonical_json,
    content_sha256,
    load_schema,
    read_results,
    validate_results,
    write_results,
)


@pytest.fixture(scope="module")
def results():
    return evaluate(eval_toys.always_right, eval_toys.chain_benchmark(), seeds=2, progress=False)


def test_schema_is_valid_draft_2020_12():
    schema = load_schema()
    assert schema["$schema"].endswith("2020-12/schema")
    jsonschema.Draft202012Validator.check_schema(schema)


def test_harness_output_validates_against_published_schema(results):
    jsonschema.Draft202012Validator(load_schema()).validate(results)
    validate_results(results)
    assert results["schema_version"] == SCHEMA_VERSION == 1
    prov = results["provenance"]
    assert set(prov) == {"krazy_gym_version", "git_commit", "git_dirty", "python", "numpy",
                         "gymnasium", "torch", "platform"}
    assert results["created"].endswith("Z")


def test_sha256_is_hash_of_canonical_json(results):
    import hashlib

    body = {k: v for k, v in results.items() if k != "sha256"}
    expected = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    assert canonical_json(results) == expected
    assert results["sha256"] == hashlib.sha256(expected).hexdigest() == content_sha256(results)


def test_roundtrip_through_file_keeps_bytes_and_hash(results, tmp_path):
    path = tmp_path / "r.json"
    written = write_results(path, results)
    again = read_results(path)
    assert again == written
    assert canonical_json(again) == canonical_json(results)
    assert not [p for p in tmp_path.iterdir() if p.name != "r.json"]  # no temp file left


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.pop("seeds"), "seeds"),
        (lambda d: d["returns"][0].pop(), "returns"),
        (lambda d: d["returns"][0][0].__setitem__(0, "x"), "returns"),
        (lambda d: d.__setitem__("seeds", [0]), "returns"),
        (lambda d: d["benchmark"].__setitem__("hash", "abc"), "benchmark.hash"),
        (lambda d: d.__setitem__("exploit_episodes", 3), "exploit_episodes"),
        (lambda d: d["exploration_metrics"]["success"].pop(), "exploration_metrics.success"),
        (lambda d: d.__setitem__("schema_version", 2), "schema_version"),
        (lambda d: d["provenance"].pop("numpy"), "provenance"),
        (lambda d: d.__setitem__("created", "yesterday"), "created"),
    ],
)
def test_invalid_results_name_the_field(results, mutate, field):
    bad = copy.deepcopy(results)
    mutate(bad)
    with pytest.raises(ResultsError, match=field.replace(".", r"\.")):
        validate_results(bad)


def test_edited_content_fails_the_hash(results):
    bad = copy.deepcopy(results)
    bad["returns"][0][0][0] += 1.0
    with pytest.raises(ResultsError, match="sha256"):
        validate_results(bad)


def test_non_finite_numbers_rejected(results):
    bad = copy.deepcopy(results)
    bad["returns"][0][0][0] = float("nan")
    with pytest.raises(ResultsError, match="finite"):
        canonical_json(bad)


def test_write_results_missing_directory_writes_nothing(results, tmp_path):
    with pytest.raises(FileNotFoundError):
        write_results(tmp_path / "nope" / "r.json", results)
    assert not (tmp_path / "nope").exists()


def test_write_results_invalid_writes_nothing(results, tmp_path):
    bad = copy.deepcopy(results)
    bad["seeds"] = []
    with pytest.raises(ResultsError):
        write_results(tmp_path / "r.json", bad)
    assert list(tmp_path.iterdir()) == []


def test_read_results_rejects_non_json(tmp_path):
    path = tmp_path / "r.json"
    path.write_text("{not json")
    with pytest.raises(ResultsError, match="not valid JSON"):
        read_results(path)


# -- fast paths: numpy arrays written as their tolist(), the compiled schema check -------------


def _lists_of(data):
    import numpy as np

    return json.loads(json.dumps(data, default=lambda a: a.tolist() if isinstance(a, np.ndarray) else a))


@pytest.mark.parametrize("shape", [(1,), (7,), (1, 1), (3, 1), (1, 4), (8, 2), (2, 3, 4), (5, 64, 5),
                                   (3, 2, 1, 2), (40, 1)])
def test_arrays_are_written_exactly_as_their_lists(shape):
    import numpy as np

    from krazy_gym.evaluation.results import _array_json

    rng = np.random.default_rng(len(shape) * 100 + shape[-1])
    cases = [
        rng.random(shape),  # distinct values
        rng.standard_normal(shape) * 1e20,
        rng.choice(np.array([0.0, 1.0]), size=shape),  # few values: innermost lists deduplicated
        rng.choice(np.array([-0.0, 0.0, 2.5]), size=shape),  # -0.0 must stay "-0.0"
        rng.integers(0, 9, size=shape) / 9,  # long reprs
        rng.integers(-3, 3, size=shape).astype(float),
    ]
    for arr in cases:
        assert _array_json(arr) == json.dumps(arr.tolist(), separators=(",", ":"))
        for level in range(3):  # as json.dumps(indent=1) nests it at that level
            expected = json.dumps(arr.tolist(), indent=1).replace("\n", "\n" + " " * level)
            assert _array_json(arr, level) == expected


def test_results_with_arrays_hash_and_write_like_lists(results, tmp_path):
    import numpy as np

    from krazy_gym.evaluation.results import as_lists

    arrays = dict(results)
    arrays["returns"] = np.asarray(results["returns"])
    arrays["exploration_metrics"] = {k: np.asarray(v) for k, v in results["exploration_metrics"].items()}
    assert canonical_json(arrays) == canonical_json(results)
    assert as_lists(arrays) == results
    validate_results(arrays)
    write_results(tmp_path / "a.json", arrays)
    write_results(tmp_path / "l.json", results)
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "l.json").read_bytes()
    text = json.dumps(results, indent=1, sort_keys=True, allow_nan=False, ensure_ascii=False) + "\n"
    assert (tmp_path / "a.json").read_text(encoding="utf-8") == text
    # a string that looks like the internal placeholder does not confuse the splicing
    odd = dict(arrays, agent={"name": "\x00krazy-gym-array-0\x00", "factory": "x:y"})
    assert canonical_json(odd) == canonical_json(_lists_of(odd))
    # non-finite values in an array are refused as in lists
    bad = dict(arrays, returns=np.where(arrays["returns"] == arrays["returns"][0, 0, 0], np.nan,
                                        arrays["returns"]))
    with pytest.raises(ResultsError, match="finite"):
        canonical_json(bad)
    with pytest.raises(ResultsError, match="returns"):
        validate_results(bad, check_sha256=False)


def _mutations(doc):
    """Every document one edit away from ``doc`` (drop, retype or add a value anywhere)."""
    odd_values = [None, True, False, 0, -1, 1.5, float("inf"), "", "x", [], [1], {}, {"a": 1},
                  [[0.0]], [[[0.0]]], [[[True]]], [["a"]], 2**70]

    def walk(node, path):
        yield path, node
        if isinstance(node, dict):
            for k, v in node.items():
                yield from walk(v, (*path, k))
        elif isinstance(node, list):
            for i, v in enumerate(node[:2]):
                yield from walk(v, (*path, i))

    for path, _ in list(walk(doc, ())):
        if not path:
            continue
        for op in ["drop", "extra", *range(len(odd_values))]:
            new = copy.deepcopy(doc)
            parent = new
            for p in path[:-1]:
                parent = parent[p]
            key = path[-1]
            if op == "drop":
                parent.pop(key)
            elif op == "extra":
                if isinstance(parent, dict):
                    parent["unexpected_key"] = 1
                else:
                    parent.append(parent[key])
            else:
                parent[key] = odd_values[op]
            yield new


def test_compiled_schema_check_is_never_more_lenient_than_jsonschema(results):
    from krazy_gym.evaluation.results import _fast_check, _schema_view

    check = _fast_check()
    assert check is not None  # the published schema only uses supported keywords
    validator = jsonschema.Draft202012Validator(load_schema())
    view = _schema_view(results)
    assert check(view) and validator.is_valid(view)
    accepted = rejected = 0
    for doc in _mutations(view):
        try:
            fast = check(doc)
        except Exception:  # noqa: BLE001 - then jsonschema judges
            fast = False
        if fast:
            assert validator.is_valid(doc), doc
            accepted += 1
        else:
            rejected += 1
    assert accepted > 50 and rejected > 200  # both outcomes really exercised


def test_compiled_schema_falls_back_to_jsonschema_for_errors(results):
    bad = copy.deepcopy(results)
    bad["run"]["engine"] = "spark"
    with pytest.raises(ResultsError, match="run.engine"):
        validate_results(bad, check_sha256=False)
