"""Label and field selector parsing and matching, including the errors users see."""

from __future__ import annotations

import pytest

from cluster import errors
from cluster.store import parse_field_selector, parse_label_selector

LABELS = {"app": "web", "tier": "front", "example.com/owner": "team-a", "replicas": "3", "empty": ""}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("", True),
        ("app=web", True),
        ("app==web", True),
        ("app=db", False),
        ("app!=db", True),
        ("missing!=x", True),
        ("app in (web, db)", True),
        ("app in (db)", False),
        ("missing in (a)", False),
        ("app notin (db,cache)", True),
        ("app notin (web)", False),
        ("missing notin (a)", True),
        ("app", True),
        ("missing", False),
        ("!missing", True),
        ("!app", False),
        ("app=web,tier=front", True),
        ("app=web,tier=back", False),
        ("example.com/owner=team-a", True),
        ("empty=", True),
        ("empty in (,x)", True),
        ("replicas>2", True),
        ("replicas<3", False),
        ("app>1", False),
        ("  app = web ,  !missing  ", True),
    ],
)
def test_label_selector_matches(selector: str, expected: bool) -> None:
    assert parse_label_selector(selector).matches(LABELS) is expected


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("app=web,", "expected: identifier after ','"),
        (",app", "expected: !, identifier, or 'end of string'"),
        ("app in web", "expected: '('"),
        ("app in (web", "')'"),
        ("app in ()", "values set can't be empty"),
        ("app=web tier=x", "expected: ',' or 'end of string'"),
        ("app=-bad-", "a label value must be empty or at most 63 characters"),
        ("Bad_Prefix!/x=y", "expected"),
        ("UPPER.com/x=y", "prefix part must be a lowercase RFC 1123 subdomain"),
        ("app>x", "must be an integer"),
        ("!", "expected: identifier"),
        ("app=(x)", "expected: a value after '='"),
        ("x" * 64 + "=y", "name part must be at most 63 characters"),
    ],
)
def test_bad_label_selectors_are_bad_request(selector: str, message: str) -> None:
    with pytest.raises(errors.BadRequest) as info:
        parse_label_selector(selector)
    assert info.value.code == 400
    assert info.value.message.startswith("unable to parse requirement: ")
    assert message in info.value.message


def test_empty_label_selector_matches_everything() -> None:
    selector = parse_label_selector("")
    assert selector.empty()
    assert selector.matches({}) and selector.matches(None) and selector.matches(LABELS)


FIELDS = {"metadata.name": "web-1", "metadata.namespace": "default", "status.phase": "Running"}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("", True),
        ("metadata.name=web-1", True),
        ("metadata.name==web-1", True),
        ("metadata.name!=web-1", False),
        ("metadata.name=web-1,status.phase!=Pending", True),
        ("metadata.name=web-1,status.phase=Pending", False),
        ("spec.nodeName=", True),  # absent fields are the empty string
        ("spec.nodeName!=", False),
    ],
)
def test_field_selector_matches(selector: str, expected: bool) -> None:
    assert parse_field_selector(selector).matches(FIELDS) is expected


def test_field_selector_names_values_and_escapes() -> None:
    selector = parse_field_selector(r"metadata.name=a\,b,status.phase!=x,metadata.name!=c")
    assert selector.fields() == ["metadata.name", "status.phase"]
    assert selector.exact("metadata.name") == "a,b"
    assert selector.exact("status.phase") is None
    assert selector.matches({"metadata.name": "a,b", "status.phase": "y"})


@pytest.mark.parametrize("selector", ["metadata.name", "=x", "a=b=c", r"a=b\q", "a=b,,c=d"])
def test_bad_field_selectors_are_bad_request(selector: str) -> None:
    with pytest.raises(errors.BadRequest) as info:
        parse_field_selector(selector)
    assert info.value.message.startswith("invalid field selector: ")
