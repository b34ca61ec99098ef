"""One forwarded TCP connection (`ssh -L`, `ssh -W`): an SSH channel relayed to a socket on the
workspace's port, both ways, with back-pressure, ending as sshd ends it.

asyncssh's own forwarder was not used: it drops what the workspace sends before the channel is
open (a server-first protocol's greeting: SSH, SMTP, MySQL) and, when the workspace closes
before the client's input ends, sends only EOF, which OpenSSH's `ssh -W` waits on for ever.
Here the workspace's bytes wait in an asyncio stream until the channel is open, and the channel
closes once both directions have ended (or either side fails).
"""

from __future__ import annotations

import asyncio

import asyncssh

READ_SIZE = 64 * 1024
HIGH_WATER = 256 * 1024  # client bytes held for a workspace app that does not read, at most


class ForwardedConnection(asyncssh.SSHTCPSession):
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer
        self.chan = None
        self.client_done = self.workspace_done = False
        self._may_write = asyncio.Event()
        self._may_write.set()
        self._relay: asyncio.Task | None = None
        self._draining = False

    # --- the channel (client) side ------------------------------------------------------

    def connection_made(self, chan) -> None:
        self.chan = chan
        self._relay = asyncio.get_running_loop().create_task(self._to_client())

    def data_received(self, data: bytes, datatype) -> None:
        if self.writer.is_closing():
            return
        self.writer.write(data)
        if not self._draining and self.writer.transport.get_write_buffer_size() > HIGH_WATER:
            self._draining = True
            self.chan.pause_reading()
            asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        try:
            await self.writer.drain()
        except (ConnectionError, OSError):
            self._end()
            return
        self._draining = False
        if self.chan is not None:
            self.chan.resume_reading()

    def eof_received(self) -> bool:
        self.client_done = True
        if self.writer.can_write_eof() and not self.writer.is_closing():
            try:
                self.writer.write_eof()
            except OSError:
                pass
        if self.workspace_done:
            self._end()
        return True  # the channel stays open until both directions have ended

    def pause_writing(self) -> None:
        self._may_write.clear()

    def resume_writing(self) -> None:
        self._may_write.set()

    def connection_lost(self, exc) -> None:
        self.chan = None
        if self._relay is not None:
            self._relay.cancel()
        self.writer.close()

    # --- the workspace side ------------------------------------------------------------

    async def _to_client(self) -> None:
        try:
            while data := await self.reader.read(READ_SIZE):
                await self._may_write.wait()
                if self.chan is None:
                    return
                self.chan.write(data)
        except (ConnectionError, OSError):
            self._end()
            return
        self.workspace_done = True
        if self.chan is not None:
            self.chan.write_eof()
            if self.client_done:
                self._end()

    def _end(self) -> None:
        if self.chan is not None:
            self.chan.close()
        self.writer.close()
