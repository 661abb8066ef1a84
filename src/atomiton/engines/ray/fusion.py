"""Chain fusion: a linear chain of small Python nodes runs as one Ray task, with the same events.

A Ray hop costs about a millisecond; a trivial node, microseconds. When the driver asks
:class:`~atomiton.engines.ray.runtime.RayRuntime` to run a node that heads a *chain*, the task
it submits runs the head and then, in the same worker, the chain's next nodes, each with the
inputs the scheduler would give it. The scheduler does not know: it still dispatches every node
of the chain itself, in order, once its upstream succeeded. Each of those dispatches finds its
result waiting here (:meth:`ChainTable.take`) and completes inline, so the driver publishes
``node.started`` / ``node.progress`` / ``node.succeeded`` (or ``node.failed``) per node exactly
as in an unfused run, and retries, error handling and history stay the scheduler's.

The rule. A node ``b`` continues the chain after ``a`` when

- ``a``'s only dependant is ``b`` and ``b``'s only dependency is ``a`` (no fan-in or fan-out),
  and ``a`` has no connected ``error`` port (a failure there routes, it does not stop);
- ``b`` is a plain Python node (no sub-plan, no container body) with the same Ray resources as
  ``a`` (same CPUs, GPUs, memory, custom resources);
- ``b`` has no timeout (a head's timeout is the driver's and would cover the whole chain: a
  node with a timeout neither heads nor joins a chain), is enabled, and its parameters hold no
  templates (they are rendered on the driver, maybe from ``$now``).

The fused task stops early, leaving the rest to ordinary dispatch, after a node that failed
(the scheduler retries that node alone; a retry heads a new chain), that produced a value too
large to return inline (it goes to the object store as usual), after which the next node would
be skipped (an untaken branch), or once the task has run for ``budget_s`` (50 ms by default): a
long node runs alone, so the driver's view (the head "running" while later nodes run) is never
more than a budget behind. Only the top-level plan fuses; nodes inside groups run one per task.

A waiting result is used only by the dispatch it was made for: attempt 1 of that node, with
inputs that are, value for value, the ones the worker computed (:func:`link_inputs` mirrors the
scheduler's rule for one upstream). Anything else drops the rest of the chain's results and the
node runs as usual; ``misses`` counts those (tests assert none), ``hits`` the results used.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from atomiton.blueprint import templates
from atomiton.nodes.definition import NodeDefinition
from atomiton.plan import ExecutionPlan, Step
from atomiton.validate.ports import TRIGGER

FUSE_BUDGET_S = 0.05
FUSE_MAX_NODES = 256
"""At most this many nodes per fused task, so one task's message stays small."""


@dataclass(frozen=True, slots=True)
class Link:
    """How the chain continues after one node: the next node and how it takes its inputs."""

    node_id: str
    definition: NodeDefinition
    parameters: Mapping[str, Any]
    bindings: tuple[tuple[str | None, str], ...]
    """(source port, or None for the whole output object; target port), one per edge."""
    port_params: tuple[str, ...]
    """Input ports set under ``parameters`` (an edge still wins), as the driver merges them."""
    required: frozenset[str]
    """Required inputs without a default or parameter: one left unproduced skips the node."""
    after: Mapping[str, Any]
    """The parameters of the node before, the very mapping its calls carry: a call of a node
    of a sub-run that happens to have the same id is not that node."""


def link_inputs(link: Link, produced: Mapping[str, Any]) -> dict[str, Any] | None:
    """The inputs the next node gets after its only upstream succeeded with ``produced``;
    None when the scheduler would skip it instead (mirrors ``RunState._decide``)."""
    inputs: dict[str, Any] = {}
    triggered = False
    for source_port, target_port in link.bindings:
        if target_port == TRIGGER:
            triggered = True
        elif source_port is None:
            inputs[target_port] = produced
        elif source_port in produced:
            inputs[target_port] = produced[source_port]
        elif target_port in link.required:
            return None
    if not inputs and not triggered:
        return None
    if link.port_params:
        params = link.parameters
        inputs = {**{p: params[p] for p in link.port_params if p in params}, **inputs}
    return inputs


def successors(plan: ExecutionPlan, same_task: Callable[[Step, Step], bool]) -> dict[str, Link]:
    """For every node a chain may continue after: the link to the next node (see the rule).
    ``same_task(a, b)``: the runtime can run both in one task (language and resources)."""
    steps = plan.steps
    found: dict[str, Link] = {}
    for a in steps:
        if len(a.dependents) != 1 or a.error_routed or not fusable(a):
            continue
        b = steps[a.dependents[0]]
        if b.deps != (a.index,) or not b.bindings or not fusable(b) or not same_task(a, b):
            continue
        assert b.definition is not None
        found[a.node_id] = Link(
            b.node_id,
            b.definition,
            b.parameters,
            tuple((x.source_port, x.target_port) for x in b.bindings),
            tuple(p for p in b.definition.input_names if p in b.parameters),
            frozenset(
                p.name
                for p in b.definition.inputs
                if p.required and not p.has_default and p.name not in b.parameters
            ),
            a.parameters,
        )
    return found


def fusable(step: Step) -> bool:
    """A node that may be part of a chain at all (as its head or a later node)."""
    return (
        step.definition is not None
        and step.sub_plan is None
        and step.enabled
        and not step.timeout_s
        and not step.template_refs
        and not (step.parameters and templates.has_template(dict(step.parameters)))
    )


@dataclass(slots=True)
class Waiting:
    """A chain node's result, computed ahead of its dispatch: the summary the worker returned
    and the outputs of the node before it (the very mapping the scheduler holds)."""

    summary: Mapping[str, Any]
    upstream: Mapping[str, Any]
    link: Link


class ChainTable:
    """Each run's chain links (from its plan, looked up on first use) and waiting results."""

    def __init__(self, plan_of: Callable[[str], ExecutionPlan | None] | None = None) -> None:
        self.plan_of = plan_of
        self.hits = 0
        self.misses = 0
        self._links: dict[str, dict[str, Link]] = {}
        self._waiting: dict[str, dict[str, Waiting]] = {}

    def links(self, run_id: str, same_task: Callable[[Step, Step], bool]) -> dict[str, Link]:
        links = self._links.get(run_id)
        if links is None:
            plan = self.plan_of(run_id) if self.plan_of is not None else None
            links = successors(plan, same_task) if plan is not None else {}
            self._links[run_id] = links
        return links

    def chain(
        self,
        run_id: str,
        head: str,
        parameters: Mapping[str, Any],
        same_task: Callable[[Step, Step], bool],
    ) -> list[Link]:
        """The nodes after ``head`` (called with ``parameters``) that one task may run."""
        links = self.links(run_id, same_task)
        first = links.get(head)
        if first is None or first.after is not parameters:
            return []
        chain: list[Link] = []
        node_id = head
        while len(chain) < FUSE_MAX_NODES - 1 and (link := links.get(node_id)) is not None:
            chain.append(link)
            node_id = link.node_id
        return chain

    def wait(self, run_id: str, node_id: str, waiting: Waiting) -> None:
        self._waiting.setdefault(run_id, {})[node_id] = waiting

    def take(self, run_id: str, node_id: str, attempt: int, inputs: Mapping[str, Any]) -> Any:
        """The waiting summary for this dispatch, or None (then the node runs as usual)."""
        run = self._waiting.get(run_id)
        waiting = run.pop(node_id, None) if run else None
        if waiting is None:
            return None
        expected = link_inputs(waiting.link, waiting.upstream)
        if attempt != 1 or expected is None or not _same(expected, inputs):
            self.misses += 1
            self._drop_after(run_id, node_id)
            return None
        self.hits += 1
        return waiting.summary

    def release(self, run_id: str) -> None:
        self._links.pop(run_id, None)
        self._waiting.pop(run_id, None)

    def _drop_after(self, run_id: str, node_id: str) -> None:
        links = self._links[run_id]
        run = self._waiting.get(run_id)
        while run and (link := links.get(node_id)) is not None:
            if run.pop(link.node_id, None) is None:
                break
            node_id = link.node_id


def _same(expected: Mapping[str, Any], got: Mapping[str, Any]) -> bool:
    if expected.keys() != got.keys():
        return False
    for port, value in expected.items():
        other = got[port]
        if value is other:
            continue
        try:
            if not bool(value == other):
                return False
        except Exception:  # an ambiguous comparison (arrays): not provably the same
            return False
    return True
