"""Reading input files is bounded and strict: duplicate keys, alias bombs, .inf, true-as-a-number, oversized
and over-nested files are refused with one message naming the file, the field and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from sk_loadagent.errors import InputError
from sk_loadagent.models import PerfThresholds, TestSpec, TestSuitePlan, load_document, read_document
from sk_loadagent.models.caps import Caps, parse_cap

NO_MACHINE = {"memory": None, "connections": None}


def refused(tmp_path: Path, text: str, *, name: str = "plan.yaml", caps: Caps | None = None) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_document(path, TestSuitePlan, caps=caps)
    assert caught.value.exit_code == 2
    return str(caught.value).removeprefix(f"{path}: ")


def plan(test: str) -> str:
    return "moduleId: M\ntests:\n  - " + test.replace("\n", "\n    ") + "\n"


def alias_bomb(levels: int) -> str:
    """The billion laughs in a request body: 9 ** levels strings from a few hundred bytes."""
    lines = ['    a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"    a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels + 1)]
    return plan("type: load\nrps: 5\nduration: 1s\nbody:") + "\n".join("  " + line for line in lines) + "\n"


def test_a_key_given_twice_in_yaml_is_refused_not_last_one_wins(tmp_path: Path) -> None:
    assert refused(tmp_path, plan("type: load\nrps: 5\nduration: 1s\nrps: 7")) == (
        "line 6 column 5: expected each key once in a mapping, got 'rps' a second time (first on line 4)"
    )


def test_a_key_given_twice_in_json_is_refused(tmp_path: Path) -> None:
    text = '{"moduleId": "M", "tests": [{"type": "load", "rps": 5, "rps": 7, "duration": "1s"}]}'
    assert (
        refused(tmp_path, text, name="plan.json") == "rps: expected each key once in an object, got it twice"
    )


def test_yaml_merge_keys_may_still_be_overridden(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(
        "moduleId: M\ndefaults: &d {type: load, rps: 5, duration: 1s}\n".replace("defaults", "x-defaults")
        + "tests:\n  - <<: *d\n    rps: 7\n",
        encoding="utf-8",
    )
    data = read_document(path)
    assert data["tests"] == [{"type": "load", "rps": 7, "duration": "1s"}]


def test_an_alias_bomb_is_refused_before_anything_is_expanded(tmp_path: Path) -> None:
    assert refused(tmp_path, alias_bomb(9)) == (
        "<document>: expected at most 1,000,000 values once YAML aliases are expanded (the values cap: "
        "the default, against YAML alias bombs; --cap values=N changes it), got 4,412,961,529 values"
    )


def test_aliases_within_the_values_cap_are_expanded_into_plain_values(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(alias_bomb(2), encoding="utf-8")
    body = load_document(path, TestSuitePlan).tests[0].body
    assert isinstance(body, dict)
    assert body["a1"] == [["lol"] * 9] * 9
    assert body["a1"][0] is not body["a1"][1]  # expanded, not shared: nothing downstream expands it again


def test_the_values_cap_can_be_lowered_and_says_so(tmp_path: Path) -> None:
    caps = Caps(**NO_MACHINE).with_overrides(dict([parse_cap("values=100")]))
    assert refused(tmp_path, alias_bomb(2), caps=caps) == (
        "<document>: expected at most 100 values once YAML aliases are expanded (the values cap: set with "
        "--cap; --cap values=N changes it), got 938 values"
    )


def test_a_recursive_alias_is_refused(tmp_path: Path) -> None:
    text = plan("type: load\nrps: 5\nduration: 1s\nbody: &b [1, *b]")
    assert refused(tmp_path, text) == (
        "<document>: expected a document without recursive aliases, got an alias inside itself"
    )


def test_a_file_over_the_file_cap_is_refused_unread(tmp_path: Path) -> None:
    caps = Caps(**NO_MACHINE).with_overrides(dict([parse_cap("file=1KiB")]))
    text = plan("type: load\nrps: 5\nduration: 1s\nbody: '" + "x" * 2000 + "'")
    assert refused(tmp_path, text, caps=caps) == (
        "<file>: expected a file of at most 1 KiB (the file cap: set with --cap; --cap file=SIZE changes "
        "it), got a larger file"
    )


@pytest.mark.parametrize("name", ["plan.yaml", "plan.json"])
def test_a_document_nested_too_deeply_is_refused(tmp_path: Path, name: str) -> None:
    text = "[" * 100_000 + "]" * 100_000
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_document(path)
    assert (
        str(caught.value)
        == f"{path}: <document>: expected a document nested less deeply, got too many levels"
    )


@pytest.mark.parametrize(
    ("line", "expected", "got"),
    [
        ("rps: true", "a number", "true"),
        ("rps: '5'", "a number", "'5'"),
        ("rps: .inf", "a finite number", "Infinity"),
        ("rps: .nan", "a finite number", "NaN"),
        ("http2: 'yes'", "true or false", "'yes'"),
        ("http2: 1", "true or false", "1"),
        ("payloadSizes: [true]", "a whole number", "true"),
    ],
)
def test_numbers_are_finite_numbers_and_booleans_are_booleans(
    tmp_path: Path, line: str, expected: str, got: str
) -> None:
    text = plan(f"type: latency\nduration: 1s\n{line}")
    field = line.split(":")[0] + ("[0]" if line.startswith("payloadSizes") else "")
    assert refused(tmp_path, text) == f"tests[0].{field}: expected {expected}, got {got}"


def test_an_exponent_is_a_number_as_in_yaml_1_2_and_json(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(plan("type: load\nrps: 2e3\nduration: 1s"), encoding="utf-8")
    assert load_document(path, TestSuitePlan).tests[0].rps == 2000.0


def test_infinity_is_refused_in_any_input_file(tmp_path: Path) -> None:
    path = tmp_path / "perf-thresholds.yaml"
    path.write_text("moduleId: M\nthresholds:\n  latencyP95: .inf\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_document(path, PerfThresholds)
    assert str(caught.value) == f"{path}: thresholds.latencyP95: expected a finite number, got Infinity"


@pytest.mark.parametrize(
    ("endpoint", "encoded"),
    [
        ("/a b", "/a%20b"),
        ("/pets/Zoë", "/pets/Zo%C3%AB"),
        ("/search?q=a b&n=1", "/search?q=a%20b&n=1"),
        ("/100%", "/100%25"),
        ("/tab\there", "/tab%09here"),
    ],
)
def test_an_endpoint_must_be_url_characters_and_the_message_gives_the_encoded_form(
    endpoint: str, encoded: str
) -> None:
    with pytest.raises(ValueError, match="percent-encoded") as caught:
        TestSpec.model_validate({"type": "load", "rps": 5, "duration": "1s", "endpoint": endpoint})
    assert f"such as {encoded} " in str(caught.value)


def test_an_endpoint_already_percent_encoded_is_accepted() -> None:
    spec = TestSpec.model_validate(
        {"type": "load", "rps": 5, "duration": "1s", "endpoint": "/a%20b?q=%C3%AB"}
    )
    assert spec.endpoint == "/a%20b?q=%C3%AB"


def test_the_api_refuses_true_as_a_rate_too() -> None:
    with pytest.raises(ValueError, match="a number"):
        TestSpec.model_validate({"type": "load", "rps": True, "duration": "1s"})


def test_a_timestamp_is_read_from_iso_text_under_strict_validation_and_nonsense_is_named(
    tmp_path: Path,
) -> None:
    """Strict validation takes no text for a datetime; a contract's ISO 8601 timestamps must still read."""
    from sk_loadagent.models.doc_coverage import DocCoverage

    good = tmp_path / "doc-coverage.metrics.json"
    good.write_text('{"updatedAt": "2026-11-30T04:48:01Z", "modules": []}', encoding="utf-8")
    assert load_document(good, DocCoverage).updated_at is not None

    bad = tmp_path / "bad.json"
    bad.write_text('{"updatedAt": "yesterday", "modules": []}', encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_document(bad, DocCoverage)
    assert str(caught.value).startswith(f"{bad}: updatedAt: expected ")
