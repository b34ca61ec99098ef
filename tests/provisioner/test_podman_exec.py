"""Processes in a running workspace container through the engine's exec API, on real Podman."""

from __future__ import annotations

import asyncio
import os
import selectors
import signal
import threading
import time

import pytest

from app.provisioner import docker_engine
from app.provisioner.engine import STDERR, STDOUT, ContainerSpec, EngineError, ExecSpec
from tests.support.podman import wait_for


@pytest.fixture(scope="module")
def container(podman_env):
    """A running workspace container (host network) and the engine that started it."""
    engine = docker_engine.DockerEngine(podman_env.docker_host)
    spec = ContainerSpec(
        workspace_id="0e1ec0de-0000-4000-8000-000000000001",
        workspace_name="exec",
        user_id="u",
        username="alice",
        organization_id="o",
        image=f"{podman_env.registry.host}/{podman_env.shell_repository}:latest",
        cpu_cores=0.5,
        memory_gb=0.25,
        network="host",
    )
    container_id = ""
    try:
        engine.pull(spec.image, spec.credentials)
        container_id = engine.create(spec)
        engine.start(container_id)
        yield engine, container_id
    finally:
        if container_id:
            engine.remove_container(container_id)
        engine.remove_volume(spec.workspace_id)
        engine.close()


def run(engine, container_id, argv, feed: bytes | None = None, **fields):
    """Run to the end, feeding stdin from another thread; returns (stdout, stderr, code)."""
    process = engine.exec(container_id, ExecSpec(argv=tuple(argv), **fields))
    try:
        if feed is not None:

            def feed_stdin():
                process.write(feed)
                process.close_stdin()

            writer = threading.Thread(target=feed_stdin)
            writer.start()
        out = {STDOUT: bytearray(), STDERR: bytearray()}
        while (chunks := process.read(30)) is not None:
            assert chunks != [] or process.poll() is None, "no output and no end of it"
            for stream, data in chunks:
                out[stream] += data
        if feed is not None:
            writer.join(30)
        return bytes(out[STDOUT]), bytes(out[STDERR]), process.wait(30)
    finally:
        process.close()


def processes_in(engine, container_id) -> str:
    return run(engine, container_id, ["ps", "-o", "pid,args"])[0].decode()


def test_exit_status_and_output_streams(container):
    engine, container_id = container
    out, err, code = run(
        engine, container_id, ["sh", "-c", "echo out; echo err >&2; printf 'more\\0out'; exit 7"]
    )
    assert (out, err, code) == (b"out\nmore\0out", b"err\n", 7)
    assert run(engine, container_id, ["true"]) == (b"", b"", 0)


def test_a_missing_program_says_so_on_stderr(container):
    engine, container_id = container
    out, err, code = run(engine, container_id, ["no-such-program"])
    assert code == 127 and out == b""
    assert b"no-such-program" in err


def test_one_mebibyte_of_random_bytes_through_cat(container):
    engine, container_id = container
    data = os.urandom(1024 * 1024)
    out, err, code = run(engine, container_id, ["cat"], feed=data)
    assert (len(out), err, code) == (len(data), b"", 0)
    assert out == data


def test_one_thread_relays_both_ways_with_send_and_a_selector(container):
    """The pattern a single relay thread uses: non-blocking send, reads when readable."""
    engine, container_id = container
    data = os.urandom(1024 * 1024)
    process = engine.exec(container_id, ExecSpec(argv=("cat",)))
    received = bytearray()
    pending = memoryview(data)
    selector = selectors.DefaultSelector()
    try:
        selector.register(process.fileno(), selectors.EVENT_READ | selectors.EVENT_WRITE)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for _key, mask in selector.select(5):
                if mask & selectors.EVENT_WRITE and pending:
                    pending = pending[process.send(pending[:65536]) :]
                    if not pending:
                        process.close_stdin()
                        selector.modify(process.fileno(), selectors.EVENT_READ)
                if mask & selectors.EVENT_READ:
                    chunks = process.read(0)
                    if chunks is None:
                        deadline = 0
                        break
                    for stream, chunk in chunks:
                        assert stream == STDOUT
                        received += chunk
        assert bytes(received) == data
        assert process.wait(30) == 0
    finally:
        selector.close()
        process.close()


def test_stdin_half_close_ends_input_but_not_output(container):
    engine, container_id = container
    out, err, code = run(
        engine, container_id, ["sh", "-c", "cat; echo after end of input"], feed=b"abc"
    )
    assert (out, err, code) == (b"abcafter end of input\n", b"", 0)
    # Without stdin attached the process reads end of file at once.
    out, _, code = run(engine, container_id, ["sh", "-c", "cat; echo done"], stdin=False)
    assert (out, code) == (b"done\n", 0)


def test_environment_working_directory_and_user(container):
    engine, container_id = container
    out, err, code = run(
        engine,
        container_id,
        ["sh", "-c", 'echo "$GREETING"; pwd; id -u; id -g'],
        env={"GREETING": "hello there"},
        working_dir="/tmp",
        user="1000:1001",
    )
    assert (out, err, code) == (b"hello there\n/tmp\n1000\n1001\n", b"", 0)
    with pytest.raises(EngineError, match="nosuchuser"):
        engine.exec(container_id, ExecSpec(argv=("id",), user="nosuchuser"))


def test_tty_with_a_first_size_and_a_resize(container):
    engine, container_id = container
    script = "stty size; while read line; do stty size; done"
    process = engine.exec(
        container_id, ExecSpec(argv=("sh", "-c", script), tty=True, rows=24, cols=80)
    )
    output = bytearray()
    try:
        wait_for(lambda: _collect(process, output) or b"24 80" in output, 30, "the first size")
        assert output.startswith(b"24 80\r\n")
        process.resize(50, 132)

        # Podman applies a resize shortly after answering: ask again until it shows.
        def resized() -> bool:
            process.write(b"\n")
            _collect(process, output)
            return b"50 132\r\n" in output

        try:
            wait_for(resized, 10, "the new size", interval=0.2)
        except TimeoutError:
            raise AssertionError(bytes(output)) from None
        process.write(b"\x04")  # a terminal has no end of file: ^D in cooked mode is one
        while (chunks := process.read(30)) is not None:
            for stream, data in chunks:
                assert stream == STDOUT  # a terminal has one output
                output += data
        assert process.wait(30) == 0
    finally:
        process.close()
    assert b"\r\n" in output and not output.replace(b"\r\n", b"").count(b"\n")


def _collect(process, output: bytearray) -> bool:
    for _stream, data in process.read(0.2) or []:
        output += data
    return False


def test_close_ends_the_process_and_what_it_started(container):
    engine, container_id = container
    process = engine.exec(
        container_id, ExecSpec(argv=("sh", "-c", "sleep 1001 & sleep 1002; wait"), stdin=True)
    )
    assert process.pid > 0
    wait_for(lambda: "sleep 1002" in processes_in(engine, container_id), 30, "the process")
    assert process.poll() is None
    started = time.monotonic()
    process.close()
    assert time.monotonic() - started < 5
    assert process.poll() is not None
    remaining = processes_in(engine, container_id)
    assert "sleep 1001" not in remaining and "sleep 1002" not in remaining


def test_signal_reaches_the_process(container):
    engine, container_id = container
    script = "trap 'exit 42' USR1; echo ready; while :; do sleep 0.1; done"
    process = engine.exec(container_id, ExecSpec(argv=("sh", "-c", script)))
    try:
        assert process.read(30) == [(STDOUT, b"ready\n")]
        process.signal(signal.SIGUSR1)
        assert process.wait(10) == 42
    finally:
        process.close()


def test_no_container_runs_nothing(container):
    engine, _ = container
    with pytest.raises(EngineError, match="cannot run a command in the workspace"):
        engine.exec("no-such-container", ExecSpec(argv=("true",)))


def test_asyncio_drives_a_process_with_add_reader(container):
    """The SSH gateway's pattern: the loop watches fileno(), engine calls run in threads."""
    engine, container_id = container

    async def main():
        loop = asyncio.get_running_loop()
        process = await asyncio.to_thread(
            engine.exec, container_id, ExecSpec(argv=("sh", "-c", "cat; echo err >&2"))
        )
        done = loop.create_future()
        out = {STDOUT: bytearray(), STDERR: bytearray()}

        def readable():
            chunks = process.read(0)
            if chunks is None:
                loop.remove_reader(process.fileno())
                done.set_result(None)
                return
            for stream, data in chunks:
                out[stream] += data

        loop.add_reader(process.fileno(), readable)
        await asyncio.to_thread(process.write, b"from asyncio")
        process.close_stdin()
        await asyncio.wait_for(done, 30)
        code = await asyncio.to_thread(process.wait, 30)
        await asyncio.to_thread(process.close)
        return bytes(out[STDOUT]), bytes(out[STDERR]), code

    assert asyncio.run(main()) == (b"from asyncio", b"err\n", 0)
