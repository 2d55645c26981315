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
