"""Whether a TCP port is taken on loopback, found the way shadowbox finds it: by binding it."""

import errno
import random
import socket

LOOPBACK = "127.0.0.1"


def port_in_use(port: int) -> bool:
    """Whether another socket holds ``port`` on 127.0.0.1 (other bind errors are raised)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # Node listens with SO_REUSEADDR, so a port in TIME_WAIT counts as free there too.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOOPBACK, port))
            probe.listen()
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
            raise
    return False


def random_free_port() -> int:
    """A random port nothing holds on loopback, as shadowbox's installer picks one; below
    Linux's ephemeral range, so an outgoing connection does not take it a moment later."""
    while True:
        port = random.randint(1024, 32767)
        if not port_in_use(port):
            return port
