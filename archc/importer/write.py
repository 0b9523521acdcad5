"""The spec text: runs of block calls as loops, defaults left out, pairs of equal ints as one."""

from __future__ import annotations

import re

import yaml

from ..ops import REGISTRY
from .blocks import flat


def _call(item, blocks):
    if isinstance(item, dict) and len(item) == 1:
        (head, attrs), = item.items()
        if head in blocks and isinstance(attrs, dict):
            return head, attrs
    return None


def _pattern(names):
    """'prefix{j + c}' when the names count up from c, None when they are all absent."""
    if all(n is None for n in names):
        return ""
    found = [re.fullmatch(r"(\D*)(\d+)", str(n)) for n in names]
    if not all(found) or len({m.group(1) for m in found}) != 1:
        return None
    start = int(found[0].group(2))
    if [int(m.group(2)) for m in found] != list(range(start, start + len(names))):
        return None
    prefix = found[0].group(1)
    if not prefix:
        return None  # numbered names are what archc gives unnamed items anyway, at their own slots only
    return f"{prefix}{{j + {start}}}" if start else f"{prefix}{{j}}"


def loops(items: list, blocks: set) -> list:
    """Runs of two or more calls of one block become a `for` loop."""
    out, i = [], 0
    while i < len(items):
        call = _call(items[i], blocks)
        j = i + 1
        while call and j < len(items) and (_call(items[j], blocks) or ("",))[0] == call[0] \
                and set(_call(items[j], blocks)[1]) == set(call[1]):
            j += 1
        run = [_call(item, blocks)[1] for item in items[i:j]] if call else []
        same = len({repr(sorted((k, v) for k, v in a.items() if k != "name")) for a in run}) == 1
        pattern = _pattern([attrs.get("name") for attrs in run]) if len(run) > (1 if same else 2) else None
        if pattern is None:
            out.append(tidy(items[i], blocks))
            i += 1
            continue
        keys = [k for k in run[0] if k != "name"]
        varying = [k for k in keys if len({repr(attrs[k]) for attrs in run}) > 1]
        body = {k: (k if k in varying else flat(run[0][k])) for k in keys}
        if pattern:
            body = {"name": pattern, **body}
        loop = {"for": (varying[0] if len(varying) == 1 else varying) if varying else ("j" if pattern else "_")}
        if varying:
            rows = [flat(attrs[varying[0]]) if len(varying) == 1 else [flat(attrs[k]) for k in varying] for attrs in run]
            loop["in"] = rows
            if pattern:
                loop["index"] = "j"
        else:
            loop["in"] = len(run)
        loop["do"] = [{call[0]: body} if body else call[0]]
        out.append(loop)
        i = j
    return out


def tidy(item, blocks: set):
    """One item with its nested lists looped, an op's default attributes left out, values flattened."""
    if isinstance(item, list):
        return loops(item, blocks)
    if not isinstance(item, dict):
        return item
    result = {}
    for head, attrs in item.items():
        if head in REGISTRY and not REGISTRY[head].merge and isinstance(attrs, dict):
            op = REGISTRY[head]
            attrs = {k: flat(v) for k, v in attrs.items()
                     if k not in op.attrs or op.attrs[k].required or isinstance(v, str)
                     or flat(v) != flat(op.attrs[k].normal_default)}
            result[head] = attrs if attrs else None
        elif isinstance(attrs, (dict, list)):
            result[head] = tidy(attrs, blocks) if isinstance(attrs, list) else \
                {k: tidy(v, blocks) if isinstance(v, (list, dict)) else flat(v) for k, v in attrs.items()}
        else:
            result[head] = flat(attrs)
    if len(result) == 1 and next(iter(result.values())) is None:
        return next(iter(result))
    return {k: ({} if v is None else v) for k, v in result.items()}


class _Dumper(yaml.SafeDumper):
    pass


def _simple(value, depth: int) -> bool:
    """Short enough to write on one line: scalars, and lists or mappings of them, `depth` levels deep."""
    if isinstance(value, dict):
        return depth > 0 and all(_simple(v, depth - 1) for v in value.values())
    if isinstance(value, list):
        return depth > 0 and all(_simple(v, depth - 1) for v in value)
    return True


def _short_lists(dumper, data):
    flow = _simple(data, 2) and not (len(data) == 1 and isinstance(data[0], dict) and len(str(data)) > 80)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


def _maps(dumper, data):
    flow = bool(data) and _simple(data, 2) and len(str(data)) < 100
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=flow)


_Dumper.add_representer(list, _short_lists)
_Dumper.add_representer(dict, _maps)


def as_mapping(items: list):
    """A level whose items all have distinct names, written as a mapping `name: item` (as archc's specs do)."""
    mapping = {}
    for item in items:
        if not isinstance(item, dict) or len(item) != 1:
            return items
        (head, attrs), = item.items()
        if not isinstance(attrs, dict) or not isinstance(attrs.get("name"), str) or "{" in attrs["name"] \
                or attrs["name"] in mapping or attrs["name"].isdigit():
            return items
        rest = {k: v for k, v in attrs.items() if k != "name"}
        if head == "group":
            mapping[attrs["name"]] = rest["layers"]
        else:
            mapping[attrs["name"]] = {head: rest} if rest else head
    return mapping


_ONE_KEY_ITEM = re.compile(r"^(\s*)- \{([\w]+): (\{[^{}]*\})\}$", re.MULTILINE)


def dump(spec: dict, header: str) -> str:
    text = yaml.dump(spec, Dumper=_Dumper, sort_keys=False, width=110, allow_unicode=True)
    plain = _ONE_KEY_ITEM.sub(r"\1- \2: \3", text)  # `- conv: {...}` as archc's specs write items
    return header + (plain if yaml.safe_load(plain) == yaml.safe_load(text) else text)
