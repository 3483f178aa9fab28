"""Kubernetes label and field selectors: parsing and matching.

``parse_label_selector("app=web,tier in (a,b),!canary")`` returns a ``LabelSelector``;
``parse_field_selector("metadata.name=x,status.phase!=Running")`` a ``FieldSelector``.
Malformed input raises ``cluster.errors.BadRequest`` with a message that says what is wrong.
An empty selector matches everything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from cluster import errors

_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_SPECIAL = "!=(),<>"
_KEYWORDS = {"in": "in", "notin": "notin"}
_OPERATORS = ("=", "==", "!=", "in", "notin", ">", "<")


@dataclass(frozen=True)
class Requirement:
    """One label condition: ``key <operator> values``; operator is one of
    ``=``, ``!=``, ``in``, ``notin``, ``exists``, ``!exists``, ``gt``, ``lt``."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        op = self.operator
        if op == "exists":
            return present
        if op == "!exists":
            return not present
        if op in ("=", "in"):
            return present and value in self.values
        if op in ("!=", "notin"):
            return not present or value not in self.values
        if not present:
            return False
        try:
            number = int(str(value))
        except ValueError:
            return False
        limit = int(self.values[0])
        return number > limit if op == "gt" else number < limit


@dataclass(frozen=True)
class LabelSelector:
    """All requirements must hold (comma means AND)."""

    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: dict[str, str] | None) -> bool:
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    def empty(self) -> bool:
        return not self.requirements


def _bad(detail: str) -> errors.BadRequest:
    return errors.BadRequest(f"unable to parse requirement: {detail}")


def _tokens(text: str) -> list[str]:
    """Split a label selector into identifiers and the symbols ``! = == != ( ) , < >``."""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in _SPECIAL:
            pair = text[i : i + 2]
            if pair in ("==", "!="):
                out.append(pair)
                i += 2
            else:
                out.append(ch)
                i += 1
        else:
            j = i
            while j < len(text) and not text[j].isspace() and text[j] not in _SPECIAL:
                j += 1
            out.append(text[i:j])
            i = j
    return out


def _is_identifier(token: str) -> bool:
    return token != "" and token not in _SPECIAL and token not in ("==", "!=")


def _check_key(key: str) -> None:
    prefix, slash, name = key.rpartition("/")
    problems = []
    if slash and (not prefix or len(prefix) > 253 or not _DNS1123_SUBDOMAIN.match(prefix)):
        problems.append("prefix part must be a lowercase RFC 1123 subdomain of at most 253 characters")
    if not name or len(name) > 63 or not _NAME.match(name):
        problems.append(
            "name part must be at most 63 characters of alphanumerics, '-', '_' or '.', "
            "starting and ending with an alphanumeric character"
        )
    if problems:
        raise _bad(f'key: Invalid value: "{key}": ' + "; ".join(problems))


def _check_value(value: str) -> None:
    if value and (len(value) > 63 or not _NAME.match(value)):
        raise _bad(
            f'values[0]: Invalid value: "{value}": a label value must be empty or at most 63 characters '
            "of alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric character"
        )


class _LabelParser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.pos = 0

    def peek(self) -> str:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ""

    def take(self) -> str:
        token = self.peek()
        self.pos += 1
        return token

    def parse(self) -> LabelSelector:
        requirements: list[Requirement] = []
        if not self.tokens:
            return LabelSelector()
        while True:
            token = self.peek()
            if not (_is_identifier(token) or token == "!"):
                raise _bad(f"found '{token}', expected: !, identifier, or 'end of string'")
            requirements.append(self.requirement())
            token = self.take()
            if token == "":
                return LabelSelector(tuple(requirements))
            if token != ",":
                raise _bad(f"found '{token}', expected: ',' or 'end of string'")
            if not (_is_identifier(self.peek()) or self.peek() == "!"):
                raise _bad(f"found '{self.peek()}', expected: identifier after ','")

    def requirement(self) -> Requirement:
        negated = self.peek() == "!"
        if negated:
            self.take()
        key = self.take()
        if not _is_identifier(key) or key in _KEYWORDS:
            raise _bad(f"found '{key}', expected: identifier")
        _check_key(key)
        if negated:
            return Requirement(key, "!exists")
        if self.peek() in ("", ","):
            return Requirement(key, "exists")
        op = self.take()
        if op not in _OPERATORS:
            raise _bad(f"found '{op}', expected: {', '.join(_OPERATORS)}")
        if op in ("in", "notin"):
            return Requirement(key, op, self.value_set())
        value = self.peek()
        if value in ("", ","):
            if op in (">", "<"):
                raise _bad(f"found '{value}', expected: an integer value for '{op}'")
            value = ""  # "key=" selects an empty value
        else:
            value = self.take()
            if not _is_identifier(value) or value in _KEYWORDS:
                raise _bad(f"found '{value}', expected: a value after '{op}'")
        if op in (">", "<"):
            if not re.fullmatch(r"-?[0-9]+", value):
                raise _bad(f"for '{op}' operator, the value must be an integer, got '{value}'")
            return Requirement(key, "gt" if op == ">" else "lt", (value,))
        _check_value(value)
        return Requirement(key, "!=" if op == "!=" else "=", (value,))

    def value_set(self) -> tuple[str, ...]:
        token = self.take()
        if token != "(":
            raise _bad(f"found '{token}', expected: '('")
        values: list[str] = []
        expect_value = True
        while True:
            token = self.take()
            if token == "":
                raise _bad("found '', expected: ')' to close the value set")
            if token == ")":
                if expect_value and values:
                    values.append("")  # "(a,)" includes the empty value
                break
            if token == ",":
                if expect_value:
                    values.append("")
                expect_value = True
                continue
            if not expect_value or not _is_identifier(token):
                raise _bad(f"found '{token}', expected: ',' or ')'")
            _check_value(token)
            values.append(token)
            expect_value = False
        if not values:
            raise _bad("for 'in', 'notin' operators, values set can't be empty")
        return tuple(values)


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse a ``labelSelector`` query value. Raises ``BadRequest`` on malformed input."""
    return _LabelParser(text or "").parse()


@dataclass(frozen=True)
class FieldTerm:
    """``name = value`` (operator ``=``) or ``name != value`` (operator ``!=``)."""

    name: str
    operator: str
    value: str

    def matches(self, fields: dict[str, str]) -> bool:
        equal = fields.get(self.name, "") == self.value
        return equal if self.operator == "=" else not equal


@dataclass(frozen=True)
class FieldSelector:
    """All terms must hold. Absent fields compare as the empty string."""

    terms: tuple[FieldTerm, ...] = field(default_factory=tuple)

    def matches(self, fields: dict[str, str]) -> bool:
        return all(t.matches(fields) for t in self.terms)

    def fields(self) -> list[str]:
        """The field names the selector uses, each once, in order of first use."""
        return list(dict.fromkeys(t.name for t in self.terms))

    def exact(self, name: str) -> str | None:
        """The value required by a ``name=value`` term, if there is one."""
        for term in self.terms:
            if term.name == name and term.operator == "=":
                return term.value
        return None

    def empty(self) -> bool:
        return not self.terms


def _split_unescaped(text: str, sep: str) -> list[str]:
    parts, current, i = [], [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            current.append(text[i : i + 2])
            i += 2
            continue
        if ch == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    parts.append("".join(current))
    return parts


def _unescape(value: str, whole: str) -> str:
    out, i = [], 0
    while i < len(value):
        ch = value[i]
        if ch == "\\":
            if i + 1 >= len(value) or value[i + 1] not in "\\,=!":
                raise errors.BadRequest(
                    f"invalid field selector: '{whole}': invalid escape sequence in '{value}'"
                )
            out.append(value[i + 1])
            i += 2
            continue
        if ch in ",=":
            raise errors.BadRequest(f"invalid field selector: '{whole}': unescaped '{ch}' in value '{value}'")
        out.append(ch)
        i += 1
    return "".join(out)


def _operator_at(term: str) -> tuple[int, str] | None:
    """Index and text of the first unescaped ``!=``, ``==`` or ``=`` in ``term``."""
    i = 0
    while i < len(term):
        if term[i] == "\\":
            i += 2
            continue
        for op in ("!=", "==", "="):
            if term.startswith(op, i):
                return i, op
        i += 1
    return None


def parse_field_selector(text: str | None) -> FieldSelector:
    """Parse a ``fieldSelector`` query value (``=``, ``==``, ``!=``; values may escape ``\\,`` ``\\=``).

    Raises ``BadRequest`` (``invalid field selector: ...``) on malformed input.
    """
    text = (text or "").strip()
    if not text:
        return FieldSelector()
    terms: list[FieldTerm] = []
    for part in _split_unescaped(text, ","):
        found = _operator_at(part)
        if found is None:
            raise errors.BadRequest(f"invalid field selector: '{text}': can't understand '{part}'")
        index, op = found
        name = part[:index].strip()
        if not name:
            raise errors.BadRequest(f"invalid field selector: '{text}': missing field name in '{part}'")
        value = _unescape(part[index + len(op) :], text)
        terms.append(FieldTerm(name, "!=" if op == "!=" else "=", value))
    return FieldSelector(tuple(terms))
