"""The YAML loader for config files: yaml's safe loader, made strict about two things.

- **Aliases that expand beyond a bound.** Anchors and aliases share nodes, so a 770-byte file of
  nested aliases (the "billion laughs") reads as a small graph, but anything that walks the value
  (pydantic, `repr` in an error message) walks the expansion: 10^9 nodes, minutes and gigabytes,
  and a daemon's `reload` freezes every bot meanwhile. The node graph is measured as it would
  expand, before anything is built, and refused past `MAX_EXPANDED_NODES`.
- **Duplicate keys.** yaml keeps the last of `capital: 100` and `capital: 1000` silently; a
  config where the same field is set twice is refused, naming the key and its line. Keys brought
  in by a merge (`<<: *defaults`) may be overridden, as merging is meant for that.
- **Impossible dates.** `start: 2022-13-45` makes yaml raise a bare ValueError; it stays the
  text it was instead, so the config's own validation names the field.

And one leniency: numbers in exponent notation without a point or an exponent sign, `1e5`,
`2.5e-3`, `1E6`, are numbers, as YAML 1.2 reads them. yaml (1.1) reads them as text, and
`capital: 1e5` was refused with "must be a number, got '1e5'". Quoted, they stay text. The other
way, as YAML 1.2 too: base-60 `1:30`, octal `010000` and binary `0b11` are text, not 1.1's 90,
4096 and 3, so a number field refuses them ("got '1:30'") and `close: 16:00` is the time it says.

`StrictSafeLoader` raises `yaml.constructor.ConstructorError`, whose marks give the line.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, SequenceNode

# A bot file is some fifty nodes and a daemon file fewer; a thousand-bot folder reads each file
# alone. Ten thousand leaves room for long parameter lists and still takes milliseconds to walk.
MAX_EXPANDED_NODES = 10_000

_MERGE_TAG = "tag:yaml.org,2002:merge"
# libyaml's parser when pyyaml was built with it: a daemon may read a thousand bot files at start.
_BASE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class StrictSafeLoader(_BASE):  # type: ignore[misc, valid-type]
    """`yaml.safe_load`'s loader, refusing oversized alias expansions and duplicate keys."""

    def get_single_data(self) -> Any:
        node = self.get_single_node()
        if node is None:
            return None
        _check_expanded_size(node)
        return self.construct_document(node)

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, MappingNode):
            self._refuse_duplicate_keys(node)
        return super().construct_mapping(node, deep=deep)

    def _refuse_duplicate_keys(self, node: MappingNode) -> None:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                repeated = key in seen
            except TypeError:       # an unhashable key: the base class reports it
                continue
            if repeated:
                raise ConstructorError("while constructing a mapping", node.start_mark,
                                       f"duplicate key {key!r} (each field may be set once)",
                                       key_node.start_mark)
            seen.add(key)

    def construct_yaml_timestamp(self, node: Node) -> Any:
        try:
            return super().construct_yaml_timestamp(node)
        except (ValueError, OverflowError):
            return self.construct_scalar(node)


StrictSafeLoader.add_constructor("tag:yaml.org,2002:timestamp", StrictSafeLoader.construct_yaml_timestamp)
# yaml's own int and float patterns (YAML 1.1) without base 60 (1:30 is 90), octal with a leading
# zero (010000 is 4096) and binary (0b11): YAML 1.2 reads them as text, and so they are refused
# by a number field ("must be a whole number, got '1:30'") instead of taken as a number no one
# wrote; an unquoted time (close: 16:00) is then the text it looks like.
StrictSafeLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")]
    for first, resolvers in StrictSafeLoader.yaml_implicit_resolvers.items()}
StrictSafeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^(?:[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"), list("-+0123456789"))
StrictSafeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?
                    |[-+]?\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?
                    |[-+]?\.(?:inf|Inf|INF)
                    |\.(?:nan|NaN|NAN))$""", re.X), list("-+0123456789."))
# Added to yaml's own float pattern (tried in order of addition, after it), which needs a point
# and a signed exponent: `1.0e+5`. The safe constructor's float() reads these as they are.
StrictSafeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789"))


def _check_expanded_size(root: Node) -> None:
    """Refuse a node graph whose expansion (every alias copied out) exceeds the bound, or that
    refers to itself (`&a [*a]`), which expands without end."""
    sizes: dict[int, int] = {}
    on_path: set[int] = set()

    def size(node: Node) -> int:
        known = sizes.get(id(node))
        if known is not None:
            return known
        if id(node) in on_path:
            raise ConstructorError(None, None, "an alias refers to the value that contains it", node.start_mark)
        total = 1
        if isinstance(node, (MappingNode, SequenceNode)):
            on_path.add(id(node))
            for child in _children(node):
                total += size(child)
                if total > MAX_EXPANDED_NODES:
                    raise ConstructorError(
                        None, None, f"aliases expand to more than {MAX_EXPANDED_NODES:,} values "
                        "(nested anchors, a 'billion laughs'?); write the values out instead", node.start_mark)
            on_path.discard(id(node))
        sizes[id(node)] = total
        return total

    size(root)


def _children(node: MappingNode | SequenceNode) -> list[Node]:
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return list(node.value)
