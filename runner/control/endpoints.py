"""Where the control API listens, checked and bound without the web server: its Unix socket
file (a live daemon's refused, a stale one replaced) and its loopback TCP port.

`botrunner run` calls `check_control_endpoints` right after taking the state folder, before the
daemon is imported and its bots are built: a port or socket already in use is refused in the
time of a bind, with nothing of the bots' state opened (before, it surfaced after every bot was
built and the journal opened: 0.5 s for one bot, seconds for a thousand). The server
(`runner.control.server`) binds for real with the same functions once the bots are built, so
an endpoint taken in between is still refused with the same message.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import stat
from pathlib import Path

__all__ = ["MAX_SOCKET_PATH_BYTES", "SOCKET_NAME", "ControlEndpointUnusable", "ControlSocketInUse", "bind_tcp",
           "check_control_endpoints", "check_socket_path_length", "loopback_host", "stale_socket_file"]

SOCKET_NAME = "botrunner.sock"
# sockaddr_un.sun_path is 108 bytes on Linux, one of them the terminating NUL.
MAX_SOCKET_PATH_BYTES = 107
_PROBE_TIMEOUT_SECS = 1.0


class ControlSocketInUse(RuntimeError):
    """Another daemon answers on the control socket (or the path is not a socket): not ours to delete."""


class ControlEndpointUnusable(ValueError):
    """The socket or TCP port cannot be listened on (a file in the way, the port taken); the
    message names the setting and the path or address."""


def check_control_endpoints(socket_path: Path, tcp: tuple[str, int] | None) -> None:
    """Refuse, before anything is built, a control socket or TCP port the daemon could not listen
    on. Nothing is left behind: the socket file is not made, a stale one not yet removed, and
    the port is bound and let go at once. Raises what `stale_socket_file` and `bind_tcp` raise."""
    stale_socket_file(socket_path)
    if tcp is not None:
        bind_tcp(loopback_host(tcp[0]), tcp[1]).close()


def check_socket_path_length(path: Path) -> None:
    """Raise ValueError for a path too long to bind or connect to, naming the fix; otherwise the
    kernel's "AF_UNIX path too long" would surface as a daemon that seems not to be running."""
    size = len(os.fsencode(path))
    if size > MAX_SOCKET_PATH_BYTES:
        raise ValueError(f"control socket path {path} is {size} bytes; AF_UNIX allows "
                         f"{MAX_SOCKET_PATH_BYTES}: use a shorter --state-dir")


def stale_socket_file(path: Path) -> bool:
    """Whether a socket file that no process answers on (a crashed daemon's) sits at `path`, to be
    replaced; False when nothing does. Raises ValueError for a path too long for AF_UNIX,
    ControlSocketInUse when a daemon answers there or the file is not a socket, and
    ControlEndpointUnusable when the path cannot hold a socket (a file where a folder should be)."""
    check_socket_path_length(path)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return False
    except OSError as exc:          # a file where a folder of the path should be
        raise ControlEndpointUnusable(f"control.socket: cannot use {path}: {exc.strerror or exc}") from None
    if not stat.S_ISSOCK(mode):
        raise ControlSocketInUse(f"{path} exists and is not a socket; refusing to replace it")
    if _answers(path):
        raise ControlSocketInUse(f"another botrunner daemon is already listening on {path}; stop it first, "
                                 "or give this one another state folder (--state-dir) or control.socket")
    return True


def bind_tcp(host: str, port: int) -> socket.socket:
    """A socket listening on the loopback `host`:`port` (0: any free port).
    Raises ControlEndpointUnusable naming the address, and what to do when the port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as exc:
        advice = (": another process listens there (another botrunner daemon?); stop it, or set another "
                  "control.tcp.port in daemon.yaml") if exc.errno == errno.EADDRINUSE else ""
        # os.strerror: create_server's own strerror repeats the address ("... (while attempting to bind ...)").
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise ControlEndpointUnusable(f"control.tcp: cannot listen on {host}:{port}: {reason}{advice}") from None


def loopback_host(host: str) -> str:
    """`host` as the loopback address to bind; ValueError for any other host."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is None or not address.is_loopback:
        raise ValueError(f"the control API listens on loopback only (127.0.0.1, ::1 or localhost), "
                         f"not {host!r}; reach it from elsewhere through an SSH tunnel")
    return str(address)


def _answers(path: Path) -> bool:
    """Does a process accept connections on this socket file? Refused means a stale file.
    A blocking connect, bounded: it runs before the daemon's loop serves anything."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(_PROBE_TIMEOUT_SECS)
    try:
        probe.connect(str(path))
    except (ConnectionRefusedError, FileNotFoundError):
        return False
    except TimeoutError:
        return True                  # it exists and is busy: still not ours to delete
    except OSError as exc:
        raise ControlSocketInUse(f"cannot tell whether a daemon listens on {path}: {exc}") from exc
    finally:
        probe.close()
    return True
