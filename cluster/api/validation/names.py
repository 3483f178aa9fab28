"""Name syntax: DNS-1123 labels and subdomains, DNS-1035 labels, qualified names, label values.

Each ``*_errors`` function returns a list of detail strings (empty when valid) in Kubernetes'
wording; callers wrap them into ``Invalid value`` causes.
"""

from __future__ import annotations

import re

DNS1123_LABEL_MAX = 63
DNS1123_SUBDOMAIN_MAX = 253
DNS1035_LABEL_MAX = 63
QUALIFIED_NAME_MAX = 63
LABEL_VALUE_MAX = 63

_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN = _LABEL + r"(\." + _LABEL + ")*"
_DNS1035 = "[a-z]([-a-z0-9]*[a-z0-9])?"
_QUALIFIED = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE = "(" + _QUALIFIED + ")?"
_IANA = re.compile("[-a-z0-9]+")

_LABEL_RE = re.compile(_LABEL)
_SUBDOMAIN_RE = re.compile(_SUBDOMAIN)
_DNS1035_RE = re.compile(_DNS1035)
_QUALIFIED_RE = re.compile(_QUALIFIED)
_LABEL_VALUE_RE = re.compile(_LABEL_VALUE)


def _regex_message(what: str, examples: tuple[str, ...], regex: str) -> str:
    shown = ",  or ".join(f"'{e}'" for e in examples)
    return f"{what} (e.g. {shown}, regex used for validation is '{regex}')"


def _max_length(limit: int) -> str:
    return f"must be no more than {limit} characters"


DNS1123_LABEL_MESSAGE = _regex_message(
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character",
    ("my-name", "123-abc"),
    _LABEL,
)
DNS1123_SUBDOMAIN_MESSAGE = _regex_message(
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character",
    ("example.com",),
    _SUBDOMAIN,
)
DNS1035_LABEL_MESSAGE = _regex_message(
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character",
    ("my-name", "abc-123"),
    _DNS1035,
)
_QUALIFIED_WHAT = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character"
)
QUALIFIED_NAME_MESSAGE = _regex_message(
    "name part " + _QUALIFIED_WHAT, ("MyName", "my.name", "123-abc"), _QUALIFIED
)
LABEL_VALUE_MESSAGE = _regex_message(
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character",
    ("MyValue", "my_value", "12345"),
    _LABEL_VALUE,
)


def dns1123_label(value: str) -> list[str]:
    out = []
    if len(value) > DNS1123_LABEL_MAX:
        out.append(_max_length(DNS1123_LABEL_MAX))
    if not _LABEL_RE.fullmatch(value):
        out.append(DNS1123_LABEL_MESSAGE)
    return out


def dns1123_subdomain(value: str) -> list[str]:
    out = []
    if len(value) > DNS1123_SUBDOMAIN_MAX:
        out.append(_max_length(DNS1123_SUBDOMAIN_MAX))
    if not _SUBDOMAIN_RE.fullmatch(value):
        out.append(DNS1123_SUBDOMAIN_MESSAGE)
    return out


def dns1035_label(value: str) -> list[str]:
    out = []
    if len(value) > DNS1035_LABEL_MAX:
        out.append(_max_length(DNS1035_LABEL_MAX))
    if not _DNS1035_RE.fullmatch(value):
        out.append(DNS1035_LABEL_MESSAGE)
    return out


def qualified_name(value: str) -> list[str]:
    """A label/annotation key or finalizer: ``[prefix/]name`` with a DNS-subdomain prefix."""
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            return ["prefix part must be non-empty"]
        errs = [f"prefix part {msg}" for msg in dns1123_subdomain(prefix)]
        if errs:
            return errs
    else:
        return [
            _regex_message(
                "a qualified name " + _QUALIFIED_WHAT, ("MyName", "my.name", "123-abc"), _QUALIFIED
            )
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        return ["name part must be non-empty"]
    out = []
    if len(name) > QUALIFIED_NAME_MAX:
        out.append("name part " + _max_length(QUALIFIED_NAME_MAX))
    if not _QUALIFIED_RE.fullmatch(name):
        out.append(QUALIFIED_NAME_MESSAGE)
    return out


def label_value(value: str) -> list[str]:
    out = []
    if len(value) > LABEL_VALUE_MAX:
        out.append(_max_length(LABEL_VALUE_MAX))
    if not _LABEL_VALUE_RE.fullmatch(value):
        out.append(LABEL_VALUE_MESSAGE)
    return out


def port_name(value: str) -> list[str]:
    """An IANA service name: at most 15 characters, lowercase letters, digits and '-', one letter."""
    out = []
    if len(value) > 15:
        out.append("must be no more than 15 characters")
    if not _IANA.fullmatch(value):
        out.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if "--" in value:
        out.append("must not contain consecutive hyphens")
    if not re.search("[a-z]", value):
        out.append("must contain at least one letter (a-z)")
    if value.startswith("-") or value.endswith("-"):
        out.append("must not begin or end with a hyphen")
    return out


def as_prefix(name_errors, value: str) -> list[str]:
    """Validate a ``generateName`` prefix: a trailing '-' is allowed (a suffix follows it)."""
    if len(value) > 1 and value.endswith("-"):
        value = value[:-1] + "a"
    return name_errors(value)
