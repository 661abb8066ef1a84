"""``RustRuntime.check`` and resolution errors: they need no native module, so they run anywhere."""

from __future__ import annotations

import pytest

from atomiton.errors import RuntimeUnavailableError
from atomiton.nodes.definition import NodeDefinition, RuntimeSpec
from atomiton.runtimes.base import NodeCall, NullReporter
from atomiton.runtimes.rust import RustRuntime


def rust_node(module: str, handler: str, **options: object) -> NodeDefinition:
    spec = RuntimeSpec(language="rust", module=module, handler=handler, options=options)
    return NodeDefinition(id="native-node", runtime=spec)


def test_serves_the_rust_language() -> None:
    assert RustRuntime().languages == ("rust",)


def test_a_missing_module_says_how_to_build_it() -> None:
    reason = RustRuntime().check(rust_node("atomiton_no_such_module", "run"))
    assert reason is not None
    assert "the Rust extension module 'atomiton_no_such_module' is not importable" in reason
    assert "run scripts/setup to build native/ with maturin" in reason


def test_an_empty_module_or_handler_is_named() -> None:
    reason = RustRuntime().check(rust_node("", ""))
    assert reason is not None
    assert "needs runtime.module" in reason
    assert "module='', handler=''" in reason


def test_a_missing_handler_lists_what_the_module_has() -> None:
    # Any importable module will do: check() only looks the handler up.
    reason = RustRuntime().check(rust_node("json", "no_such_function"))
    assert reason is not None
    assert "has no function 'no_such_function'" in reason
    assert "dumps" in reason


def test_unknown_options_are_rejected() -> None:
    reason = RustRuntime().check(rust_node("json", "dumps", inlined=True))
    assert reason == "unknown rust runtime option(s) inlined; known: inline, context"


def test_a_context_needs_a_call_context_class() -> None:
    reason = RustRuntime().check(rust_node("json", "dumps", context=True))
    assert reason is not None
    assert "exports no CallContext class" in reason


async def test_invoke_raises_runtime_unavailable_for_a_missing_module() -> None:
    runtime = RustRuntime()
    node = rust_node("atomiton_no_such_module", "run")
    with pytest.raises(RuntimeUnavailableError, match="not importable"):
        await runtime.invoke(NodeCall("r", "n", node, {}, {}), NullReporter())
    await runtime.aclose()


def test_isolated_rust_nodes_are_refused() -> None:
    spec = RuntimeSpec(language="rust", module="json", handler="dumps", isolated=True)
    reason = RustRuntime().check(NodeDefinition(id="n", runtime=spec))
    assert reason is not None
    assert "runtime.isolated is not supported" in reason
