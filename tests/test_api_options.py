"""Typed options of the clients, the UNSET sentinel, and the api/ import graph."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path
from typing import get_type_hints

import pytest

from boxmask.api import UNSET, Client, ClientOptions, RetryPolicy, TaskOptions
from boxmask.api.options import ClientKeywords, TaskKeywords, with_keywords

API = Path(__file__).resolve().parents[1] / "src" / "boxmask" / "api"


@pytest.mark.parametrize(
    ("options", "keywords"), [(ClientOptions, ClientKeywords), (TaskOptions, TaskKeywords)]
)
def test_keyword_types_list_the_options_fields(options: type, keywords: type) -> None:
    names = [f.name for f in dataclasses.fields(options)]
    assert list(keywords.__annotations__) == names


def test_unset_is_a_falsy_singleton() -> None:
    assert repr(UNSET) == "UNSET" and not UNSET
    assert ClientOptions().max_retries is UNSET and ClientOptions().timeout is UNSET


def test_max_retries_overrides_the_policy_only_when_given() -> None:
    policy = RetryPolicy(max_retries=2, initial_delay=0.25)
    assert ClientOptions(retry=policy).retry_policy() is policy
    explicit = ClientOptions(retry=policy, max_retries=4).retry_policy()  # 4 is the default
    assert explicit == dataclasses.replace(policy, max_retries=4)
    assert ClientOptions(max_retries=0).retry_policy() == RetryPolicy(max_retries=0)
    with Client("k", retry=policy, max_retries=7) as client:
        assert client._session.retry.max_retries == 7
        assert client._session.retry.initial_delay == 0.25


def test_timeout_none_means_no_limit_and_unset_the_default() -> None:
    assert ClientOptions().request_timeout == 300.0
    assert ClientOptions(timeout=None).request_timeout is None
    with Client("k", timeout=None) as client:
        assert client._session.timeout is None
    with pytest.raises(ValueError, match="timeout"):
        ClientOptions(timeout=0)


def test_options_object_and_keywords_make_the_same_client() -> None:
    options = ClientOptions(model="gemini-3-flash", api="generate_content", timeout=30)
    with (
        Client("k", options=options) as a,
        Client("k", model="gemini-3-flash", api="generate_content", timeout=30) as b,
    ):
        assert a.options == b.options
    with Client("k", options=options, timeout=5) as c:  # keywords win
        assert c.options == dataclasses.replace(options, timeout=5)


def test_unknown_options_name_the_known_ones() -> None:
    with pytest.raises(TypeError, match=r"unknown option\(s\) max_item for TaskOptions"):
        with_keywords(TaskOptions(), {"max_item": 3})
    with pytest.raises(TypeError, match="unknown option"):
        Client("k", timout=3)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="api must be one of"):
        ClientOptions(api="rest")


def test_task_options_types_are_those_of_the_fields() -> None:
    hints = get_type_hints(TaskKeywords)
    assert set(hints) == {f.name for f in dataclasses.fields(TaskOptions)}


def _imports(path: Path) -> set[str]:
    """Every boxmask module ``path`` imports, anywhere in the file (functions and
    TYPE_CHECKING blocks too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("boxmask"):
            found.add(node.module)
            for alias in node.names:
                if alias.name.startswith("_") and alias.name != "__version__":
                    raise AssertionError(f"{path.name} imports the private {alias.name}")
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("boxmask"))
    return found


def test_api_modules_import_no_cycle() -> None:
    graph = {
        f"boxmask.api.{p.stem}": {m for m in _imports(p) if m.startswith("boxmask.api.")}
        for p in API.glob("*.py")
        if p.stem != "__init__"
    }
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycle = [*trail[trail.index(nxt) :], nxt] if nxt in trail else [node, nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def test_api_modules_stay_small() -> None:
    for path in API.glob("*.py"):
        assert len(path.read_text().splitlines()) < 500, path.name
