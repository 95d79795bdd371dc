"""A delaying TCP proxy on loopback, to make a dependency slow (the fault matrix's third column).

It forwards every connection to a server's port; each chunk the server sends back waits
`delay` seconds first, so each round trip of a protocol (a Redis command, a query, an SMTP
reply) costs that much more. Threads in the test process, stopped (every socket closed,
every thread joined) when the block ends, also when the test fails.
"""

import contextlib
import socket
import threading
import time

from .process import free_port


class Proxy:
    """127.0.0.1:`port` -> 127.0.0.1:`upstream`; set `delay` (seconds per chunk) at any time."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.delay = 0.0
        self.port = free_port()
        self.listener = socket.create_server(("127.0.0.1", self.port))
        self.listener.settimeout(0.2)
        self.sockets, self.threads = set(), []
        self.lock = threading.Lock()
        self.stopping = False
        self.start(self.accept)

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def start(self, target, *args):
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self.lock:
            self.threads.append(thread)
        thread.start()

    def accept(self):
        while not self.stopping:
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                server = socket.create_connection(("127.0.0.1", self.upstream), timeout=5)
            except OSError:  # the server is stopped: so is this connection
                client.close()
                continue
            for one in (client, server):
                one.settimeout(None)
            with self.lock:
                self.sockets.update((client, server))
            self.start(self.pipe, client, server, False)
            self.start(self.pipe, server, client, True)

    def pipe(self, source, target, delayed):
        try:
            while chunk := source.recv(65536):
                if delayed and self.delay:
                    time.sleep(self.delay)
                target.sendall(chunk)
        except OSError:
            pass
        finally:
            for one in (source, target):  # either side gone: the connection is over
                with contextlib.suppress(OSError):
                    one.shutdown(socket.SHUT_RDWR)
                one.close()
            with self.lock:
                self.sockets.difference_update((source, target))

    def stop(self):
        self.stopping = True
        self.listener.close()
        with self.lock:
            sockets, threads = list(self.sockets), list(self.threads)
        for one in sockets:
            with contextlib.suppress(OSError):
                one.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(timeout=10)


@contextlib.contextmanager
def proxy(upstream):
    """A Proxy to 127.0.0.1:`upstream`, stopped afterwards."""
    running = Proxy(upstream)
    try:
        yield running
    finally:
        running.stop()
