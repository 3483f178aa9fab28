"""Regenerate ``messages.py`` (the field tables) from a kubectl binary.

Run: ``python -m cluster.apiserver.protobuf.generate /usr/bin/kubectl``. A Go kubectl carries
two facts per API type: the gzipped proto descriptors (field numbers, wire types) and the Go
reflection data of each struct (JSON names, ``omitempty``, and whether a field is a pointer).
Both are read here; the pointer/omitempty facts decide which zero values ``decode`` keeps.
Developer tool only: nothing imports it at run time.
"""

from __future__ import annotations

import array
import re
import struct
import sys
import zlib
from pathlib import Path

from cluster.apiserver.protobuf.wire import records

# Packages whose messages (and everything they reference) go into the table.
ROOT_PACKAGES = (
    "k8s.io.api.core.v1",
    "k8s.io.api.apps.v1",
    "k8s.io.api.batch.v1",
    "k8s.io.api.authentication.v1",
    "k8s.io.api.authorization.v1",
    "k8s.io.api.autoscaling.v1",
    "k8s.io.api.autoscaling.v2",
    "k8s.io.api.coordination.v1",
    "k8s.io.api.discovery.v1",
    "k8s.io.api.events.v1",
    "k8s.io.api.networking.v1",
    "k8s.io.api.policy.v1",
    "k8s.io.api.rbac.v1",
    "k8s.io.api.scheduling.v1",
    "k8s.io.api.storage.v1",
    "k8s.io.apimachinery.pkg.apis.meta.v1",
)
EXTRA_ROOTS = (".k8s.io.apimachinery.pkg.runtime.Unknown",)
PREFIXES = ("k8s.io.api.", "k8s.io.apimachinery.pkg.apis.", "k8s.io.apimachinery.pkg.")
SCALARS = {1: "d", 2: "f", 3: "i", 4: "u", 5: "i", 6: "u", 7: "u", 8: "b", 9: "s", 12: "y", 13: "u"}
GO_PTR, GO_STRUCT, GO_SLICE, GO_MAP = 22, 25, 23, 21


def short(name: str) -> str:
    name = name.lstrip(".")
    for prefix in PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def descriptors(binary: bytes) -> dict[str, dict]:
    """Every message of every gzipped FileDescriptorProto in the binary, by full proto name."""
    messages: dict[str, dict] = {}

    def walk(buf: bytes, prefix: str) -> None:
        fields, nested, name, map_entry = [], [], "", False
        for number, _, value in records(buf):
            if number == 1:
                name = value.decode()
            elif number == 2:
                fields.append({n: v for n, _, v in records(value)})
            elif number == 3:
                nested.append(value)
            elif number == 7:
                map_entry = any(n == 7 and v for n, _, v in records(value))
        full = f"{prefix}.{name}"
        messages[full] = {"fields": fields, "map": map_entry}
        for child in nested:
            walk(child, full)

    for match in re.finditer(b"\x1f\x8b\x08\x00\x00\x00\x00\x00", binary):
        try:
            data = zlib.decompressobj(31).decompress(binary[match.start() : match.start() + 4_000_000])
        except zlib.error:
            continue
        if data[:1] != b"\n" or b".proto" not in data[:120]:
            continue
        package = next(v.decode() for n, _, v in records(data) if n == 2)
        for number, _, value in records(data):
            if number == 4:
                walk(value, "." + package)
    return messages


def go_structs(binary: bytes) -> dict[str, dict[int, tuple[str, bool, int]]]:
    """Go structs with protobuf tags: ``pkgpath.Name`` -> {field number: (json name, omitempty, go kind)}."""
    header = binary[:64]
    assert header[:4] == b"\x7fELF"
    shoff, shentsize, shnum, shstrndx = (
        struct.unpack_from("<Q", header, 0x28)[0],
        *struct.unpack_from("<HHH", header, 0x3A),
    )
    sections = [struct.unpack_from("<IIQQQQ", binary, shoff + i * shentsize) for i in range(shnum)]
    strtab_off = sections[shstrndx][4]

    def section_name(sec: tuple) -> bytes:
        start = strtab_off + sec[0]
        return binary[start : binary.index(b"\0", start)]

    _, _, _, base, offset, size = next(s for s in sections if section_name(s) == b".rodata")
    ro = binary[offset : offset + size]

    def uvarint(pos: int) -> tuple[int, int]:
        value = shift = 0
        while True:
            byte = ro[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value, pos
            shift += 7

    def name_at(off: int) -> tuple[str, str]:
        flags = ro[off]
        length, pos = uvarint(off + 1)
        name = ro[pos : pos + length].decode("latin1")
        tag = ""
        if flags & 2:
            tag_len, pos = uvarint(pos + length)
            tag = ro[pos : pos + tag_len].decode("latin1")
        return name, tag

    words = array.array("Q")
    words.frombytes(ro[: len(ro) // 8 * 8])
    out: dict[str, dict[int, tuple[str, bool, int]]] = {}
    for i in range(7, len(words) - 2):
        ptr, count = words[i], words[i + 1]
        if count != words[i + 2] or not 1 <= count <= 400 or not base <= ptr < base + size or ptr % 8:
            continue
        type_off = i * 8 - 56  # StructType = abi.Type (48 bytes) + PkgPath, then the Fields slice
        if ro[type_off + 23] & 0x1F != GO_STRUCT or not ro[type_off + 20] & 1:  # struct, has uncommon
            continue
        try:
            fields: dict[int, tuple[str, bool, int]] = {}
            for k in range(count):
                w = (ptr - base) // 8 + 3 * k
                _, tag = name_at(words[w] - base)
                proto = re.search(r'protobuf:"[a-z0-9]+,(\d+),', tag)
                if not proto:
                    continue
                js = re.search(r'json:"([^"]*)"', tag)
                parts = js.group(1).split(",") if js else ["-"]
                if parts[0] == "" and "inline" not in parts:
                    parts[0] = "-"  # no JSON name: the proto name is used
                fields[int(proto.group(1))] = (
                    parts[0],
                    "omitempty" in parts,
                    ro[words[w + 1] - base + 23] & 0x1F,
                )
            if not fields:
                continue
            type_name, _ = name_at(struct.unpack_from("<i", ro, type_off + 40)[0])
            pkg, _ = name_at(struct.unpack_from("<i", ro, type_off + 80)[0])
        except (IndexError, UnicodeDecodeError, struct.error):
            continue
        out[f"{pkg}.{type_name.lstrip('*').split('.')[-1]}"] = fields
    return out


def go_key(proto_name: str) -> str:
    package, _, name = proto_name.lstrip(".").rpartition(".")
    if package.startswith("k8s.io.api."):
        path = "k8s.io/api/" + package[len("k8s.io.api.") :].replace(".", "/")
    else:
        path = "k8s.io/" + package[len("k8s.io.") :].replace(".", "/")
    return f"{path}.{name}"


def field_token(messages: dict, number: int, spec: dict, go: tuple[str, bool, int] | None) -> str:
    name = spec[1].decode() if isinstance(spec[1], bytes) else spec[1]
    label, ftype, type_name = spec.get(4, 1), spec.get(5), spec.get(6, b"").decode()
    json_name = go[0] if go and go[0] != "-" else name
    if go and go[0] == "":
        json_name = ""  # inline: merged into the parent object
    if ftype == 11:
        target = messages[type_name]
        if target["map"]:
            value = next(f for f in target["fields"] if f[3] == 2)
            value_type = short(value[6].decode()) if value.get(5) == 11 else SCALARS[value[5]]
            return f"{number}:{json_name}:{{{value_type}}}"
        kind = short(type_name)
    else:
        kind = SCALARS[ftype]
    flag = ""
    if label == 3:
        flag = "*"
    elif go and go[2] == GO_PTR:
        flag = "?"
    elif go and ftype != 11 and not go[1]:
        flag = "!"
    return f"{number}:{json_name}:{kind}{flag}"


def build(binary: bytes) -> str:
    messages = descriptors(binary)
    structs = go_structs(binary)
    wanted = [m for m in messages if m.lstrip(".").rpartition(".")[0] in ROOT_PACKAGES]
    wanted += EXTRA_ROOTS
    seen: set[str] = set()
    lines: list[str] = []
    while wanted:
        name = wanted.pop(0)
        if name in seen or messages[name]["map"]:
            continue
        seen.add(name)
        go = structs.get(go_key(name), {})
        tokens = []
        for spec in sorted(messages[name]["fields"], key=lambda f: f[3]):
            tokens.append(field_token(messages, spec[3], spec, go.get(spec[3])))
            if spec.get(5) == 11:
                target = spec[6].decode()
                if messages[target]["map"]:
                    target = next((f[6].decode() for f in messages[target]["fields"] if f.get(5) == 11), "")
                if target:
                    wanted.append(target)
        lines.append(short(name))
        row = " "
        for token in tokens:
            if len(row) + len(token) > 100:
                lines.append(row)
                row = " "
            row += " " + token
        if row.strip():
            lines.append(row)
    body = "\n".join(lines)
    return (
        '"""Field tables of the Kubernetes protobuf messages kubeq decodes. GENERATED by generate.py.\n\n'
        "One message per unindented line, then its fields as ``number:jsonName:type[flag]``. type is a\n"
        "scalar (s string, i int, u unsigned, b bool, y bytes, d double, f float), a message name, or\n"
        "``{type}`` for a map with string keys. flag: ``*`` repeated, ``?`` pointer (kept even when zero),\n"
        "``!`` kept even when zero (no omitempty); none: dropped when zero. An empty jsonName is inlined.\n"
        '"""\n\n'
        f'TABLE = """\n{body}\n"""\n'
    )


def main() -> None:
    binary = Path(sys.argv[1] if len(sys.argv) > 1 else "/usr/bin/kubectl").resolve().read_bytes()
    target = Path(__file__).with_name("messages.py")
    target.write_text(build(binary))
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
