"""The busy-polling selector: it spins only while an answer is due, never past the caller's
timeout, returns what is ready, and reads its window from ``ATOMITON_WORKER_SPIN_US``."""

from __future__ import annotations

import asyncio
import os
import selectors
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from atomiton.runtimes.worker import busypoll
from atomiton.runtimes.worker.rpc import WorkerConnection


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    read_fd, write_fd = os.pipe()
    yield read_fd, write_fd
    os.close(read_fd)
    os.close(write_fd)


def test_a_ready_descriptor_is_returned_while_spinning(pipe: tuple[int, int]) -> None:
    read_fd, write_fd = pipe
    selector = busypoll.BusyPollSelector(spin_s=10.0)
    selector.register(read_fd, selectors.EVENT_READ)
    selector.expect_answer()
    os.write(write_fd, b"answer")
    ready = selector.select(None)
    assert [(key.fd, events) for key, events in ready] == [(read_fd, selectors.EVENT_READ)]
    selector.close()


def test_the_spin_never_outlasts_the_callers_timeout(pipe: tuple[int, int]) -> None:
    """A 10 s window with a 20 ms timeout returns nothing once the timeout is spent (a spin
    that ignored the timeout would hang this test past its limit)."""
    read_fd, _ = pipe
    selector = busypoll.BusyPollSelector(spin_s=10.0)
    selector.register(read_fd, selectors.EVENT_READ)
    selector.expect_answer()
    assert selector.select(0.02) == []
    selector.close()


def test_no_answer_due_means_a_plain_blocking_select(pipe: tuple[int, int]) -> None:
    """Nothing was requested: a 10 s window must not turn a 10 ms select into a 10 s spin."""
    read_fd, _ = pipe
    selector = busypoll.BusyPollSelector(spin_s=10.0)
    selector.register(read_fd, selectors.EVENT_READ)
    assert selector.select(0.01) == []
    selector.close()


def test_an_answer_is_due_for_one_window_after_the_request() -> None:
    selector = busypoll.BusyPollSelector(spin_s=0.5)
    before = time.perf_counter()
    selector.expect_answer()
    assert before + 0.5 <= selector.spin_until <= time.perf_counter() + 0.5
    selector.close()


@pytest.mark.parametrize(
    ("raw", "seconds"), [("", 100e-6), ("0", 0.0), ("250", 250e-6), ("-5", 0.0)]
)
def test_the_window_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, raw: str, seconds: float
) -> None:
    monkeypatch.setenv(busypoll.SPIN_ENV, raw)
    assert busypoll.spin_seconds() == pytest.approx(seconds)


def test_a_window_that_is_not_a_number_says_how_to_set_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(busypoll.SPIN_ENV, "fast")
    with pytest.raises(
        ValueError, match=r"ATOMITON_WORKER_SPIN_US='fast' is not a number.*0 turns it off"
    ):
        busypoll.new_event_loop()


SLOW_ECHO = r"""
import os, time
from atomiton.runtimes.worker.framing import FrameDecoder, encode_frame
decoder = FrameDecoder()
while data := os.read(0, 65536):
    for message in decoder.feed(data):
        time.sleep(0.2)
        os.write(1, encode_frame({"jsonrpc": "2.0", "id": message["id"], "result": "ok"}))
"""


def test_a_request_tells_the_loop_an_answer_is_due() -> None:
    """Each request marks an answer due for one spin window from when it was sent."""

    async def main() -> None:
        selector = busypoll.selector_of(asyncio.get_running_loop())
        assert selector is not None
        selector.spin_s = 0.5
        worker = await WorkerConnection.spawn([sys.executable, "-c", SLOW_ECHO], name="slow-echo")
        try:
            assert selector.spin_until == 0.0
            before = time.perf_counter()
            assert await worker.request("ping") == "ok"
            assert selector.spin_until >= before + 0.5
        finally:
            await worker.kill()

    busypoll.run(main())


def test_other_loops_are_left_alone() -> None:
    async def main() -> object:
        return busypoll.selector_of(asyncio.get_running_loop())

    assert asyncio.run(main()) is None


def write_soon(fd: int, data: bytes, after_s: float = 0.02) -> threading.Thread:
    """Write ``data`` to ``fd`` from another thread in ``after_s``: a request that arrives while
    the worker spins."""
    writer = threading.Thread(target=lambda: (time.sleep(after_s), os.write(fd, data)))
    writer.start()
    return writer


def test_a_request_that_arrives_ends_the_spin(pipe: tuple[int, int]) -> None:
    """A 10 s window ends as soon as the request arrives, not when the window does."""
    read_fd, write_fd = pipe
    spin = busypoll.IdleSpin(read_fd, spin_s=10.0)
    writer = write_soon(write_fd, b"request")
    start = time.monotonic()
    spin.wait()
    assert time.monotonic() - start < 5.0
    writer.join()
    assert os.read(read_fd, 64) == b"request"


def test_windows_that_catch_nothing_back_off_to_one_spin_in_256(pipe: tuple[int, int]) -> None:
    read_fd, _ = pipe
    spin = busypoll.IdleSpin(read_fd, spin_s=0.001)
    seen = []
    for _ in range(9):
        spin.wait()  # a window with no request: a miss
        seen.append((spin.misses, spin.skip))
        while spin.skip:
            spin.wait()  # skipped: returns at once, no spin
    assert seen == [(n, 2**n - 1) for n in range(1, 9)] + [(8, 255)]


def test_a_wait_long_after_the_last_starts_afresh(pipe: tuple[int, int]) -> None:
    """A burst of calls after a pause polls from its first call, whatever the last burst
    learned."""
    read_fd, _ = pipe
    spin = busypoll.IdleSpin(read_fd, spin_s=0.001)
    spin.misses, spin.skip = 8, 200
    spin._last = time.perf_counter() - 1.0
    spin.wait()  # spins (a miss: nothing comes), instead of skipping
    assert (spin.misses, spin.skip) == (1, 1)


def test_a_request_that_arrives_during_a_spin_takes_one_step_off_the_back_off(
    pipe: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    read_fd, write_fd = pipe
    monkeypatch.setattr(busypoll, "_preemptions", lambda: 0)  # the spin kept its CPU
    spin = busypoll.IdleSpin(read_fd, spin_s=10.0)
    spin.misses, spin._last = 3, time.perf_counter()  # mid-burst, backing off
    writer = write_soon(write_fd, b"request")
    spin.wait()
    writer.join()
    assert (spin.misses, spin.skip) == (2, 0)


def test_a_request_that_was_there_already_changes_nothing(pipe: tuple[int, int]) -> None:
    read_fd, write_fd = pipe
    spin = busypoll.IdleSpin(read_fd, spin_s=10.0)
    spin.misses, spin._last = 3, time.perf_counter()  # mid-burst, backing off
    os.write(write_fd, b"request")
    spin.wait()
    assert (spin.misses, spin.skip) == (3, 0)


def test_a_request_that_came_only_after_a_preemption_is_a_miss(
    pipe: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scheduler took the CPU during the spin: the engine likely shares this vCPU and could
    send only because the spin was interrupted, so spinning did not pay."""
    read_fd, write_fd = pipe
    switches = iter(range(100))
    monkeypatch.setattr(busypoll, "_preemptions", lambda: next(switches))
    spin = busypoll.IdleSpin(read_fd, spin_s=10.0)
    writer = write_soon(write_fd, b"request")
    spin.wait()
    writer.join()
    assert (spin.misses, spin.skip) == (1, 1)


def test_a_zero_window_never_spins(pipe: tuple[int, int], monkeypatch: pytest.MonkeyPatch) -> None:
    read_fd, _ = pipe
    monkeypatch.setattr(busypoll, "_preemptions", lambda: pytest.fail("a zero window spun"))
    spin = busypoll.IdleSpin(read_fd, spin_s=0.0)
    spin.wait()
    assert (spin.misses, spin.skip) == (0, 0)


def answer_poller(fd: int, spin_s: float = 10.0) -> busypoll.AnswerPoller:
    """A poller for ``fd`` on the running (busy-polling) loop, with an answer due now."""
    loop = asyncio.get_running_loop()
    assert isinstance(loop, busypoll.BusyPollLoop)
    loop.busy_selector.spin_s = spin_s
    poller = loop.answer_poller(fd)
    assert poller is not None
    loop.busy_selector.expect_answer()
    return poller


def test_an_answer_poller_returns_once_the_answer_is_there(pipe: tuple[int, int]) -> None:
    read_fd, write_fd = pipe

    async def main() -> None:
        poller = answer_poller(read_fd)
        writer = write_soon(write_fd, b"answer")
        start = time.monotonic()
        assert poller.wait() is True
        assert time.monotonic() - start < 5.0  # the answer, not the 10 s window, ended it
        writer.join()

    busypoll.run(main())


def test_an_answer_poller_gives_way_to_other_io_of_the_loop(pipe: tuple[int, int]) -> None:
    """Another descriptor the loop watches becomes readable mid-spin: the poll stops at once,
    so another task's answer never waits for this one's."""
    read_fd, _ = pipe
    other_read, other_write = os.pipe()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.add_reader(other_read, lambda: None)
        try:
            poller = answer_poller(read_fd)
            writer = write_soon(other_write, b"someone else's answer")
            start = time.monotonic()
            assert poller.wait() is False
            assert time.monotonic() - start < 5.0
            writer.join()
        finally:
            loop.remove_reader(other_read)

    try:
        busypoll.run(main())
    finally:
        os.close(other_read)
        os.close(other_write)


def test_an_answer_poller_does_not_spin_while_the_loop_has_work(pipe: tuple[int, int]) -> None:
    """A ready callback, or a timer due within the window, returns False without a poll."""
    read_fd, _ = pipe

    async def main() -> None:
        loop = asyncio.get_running_loop()
        poller = answer_poller(read_fd)
        handle: asyncio.Handle = loop.call_soon(lambda: None)
        assert poller.wait() is False
        handle.cancel()
        await asyncio.sleep(0)  # the cancelled callback leaves the ready queue
        timer = loop.call_later(5.0, lambda: None)  # due within the 10 s window
        start = time.monotonic()
        assert poller.wait() is False
        assert time.monotonic() - start < 1.0
        timer.cancel()

    busypoll.run(main())


def test_an_answer_poller_does_not_spin_past_its_window(pipe: tuple[int, int]) -> None:
    read_fd, _ = pipe

    async def main() -> None:
        poller = answer_poller(read_fd, spin_s=0.02)
        start = time.monotonic()
        assert poller.wait() is False  # nothing came within 20 ms
        assert 0.015 <= time.monotonic() - start < 1.0
        assert poller.wait() is False  # no answer due any more: returns at once

    busypoll.run(main())


def test_no_answer_poller_without_a_window(pipe: tuple[int, int]) -> None:
    read_fd, _ = pipe

    async def main() -> None:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, busypoll.BusyPollLoop)
        loop.busy_selector.spin_s = 0.0
        assert loop.answer_poller(read_fd) is None

    busypoll.run(main())


QUICKER_ECHO = SLOW_ECHO.replace("time.sleep(0.2)", "time.sleep(0.05)")


def test_a_task_waiting_in_place_does_not_hold_up_another_workers_answer() -> None:
    """Two calls out at once: the task that sent last polls its own worker in place when the
    other worker's answer lands, and gives way: the quicker call finishes first."""

    async def main() -> list[str]:
        selector = busypoll.selector_of(asyncio.get_running_loop())
        assert selector is not None
        selector.spin_s = 10.0  # a window longer than either call
        slow = await WorkerConnection.spawn([sys.executable, "-c", SLOW_ECHO], name="slow")
        quick = await WorkerConnection.spawn([sys.executable, "-c", QUICKER_ECHO], name="quick")
        finished: list[str] = []

        async def call(worker: WorkerConnection) -> None:
            await worker.request("ping")
            finished.append(worker.name)

        try:
            await asyncio.gather(slow.request("ping"), quick.request("ping"))  # both are up
            quick_call = asyncio.create_task(call(quick))
            await asyncio.sleep(0)  # the quick request goes out first
            await call(slow)  # then this one, which polls in place: nothing else is ready
            await quick_call
        finally:
            await slow.kill()
            await quick.kill()
        return finished

    assert busypoll.run(main()) == ["quick", "slow"]
