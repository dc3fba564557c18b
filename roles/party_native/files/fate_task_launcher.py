"""FATE-Flow's task launcher: FATE's task processes forked from one interpreter that has FATE imported already.

Every FATE task runs as processes of its own (the component's definition, its execution, its cleanup), and each
of them imports FATE and with it torch, accelerate, scikit-learn and SciPy before it does anything: seconds of
CPU a process, most of a small task's cost. FATE-Flow starts those processes with the interpreter named by
EXECUTOR_ENV; the party role points that at this file, so that each of them is this file's client:

    fate_task_launcher.py <script> <args...>       (client: what FATE-Flow runs)
    fate_task_launcher.py serve <socket> <module>  (server: one per FATE-Flow instance, under its supervisord)

The client hands its arguments, environment, working directory and its stdin, stdout and stderr (over the Unix
socket, as file descriptors) to the server. The server, which imported the given modules when the first task
came, forks; the child takes on the client's descriptors, directory and environment and runs the script as
`python <script> <args...>` would. The client relays the signals it gets to the child, waits for the child's end
and ends the same way, so FATE-Flow sees the process it started behave as the task. A client killed outright
(SIGKILL, as FATE-Flow stops a task) closes its socket; the child sees that and kills its own process group.

Only FATE's own executor (fate_flow/manager/worker/fate_executor.py) is forked; anything else, and everything
when the server is not there or refuses, runs as before: the client replaces itself with the venv's python.
The socket is the instance user's alone (made under umask 077, and the server takes only peers of its own uid).
Standard library only: the client runs under `python -I -S` and must start in milliseconds.
"""

import array
import contextlib
import json
import os
import selectors
import signal
import socket
import struct
import sys

FORKED_SCRIPT = os.path.join("fate_flow", "manager", "worker", "fate_executor.py")
SOCKET_VARIABLE = "FATE_TASK_LAUNCHER_SOCKET"
# The client's descriptors the child takes on: stdin, stdout, stderr.
STDIO = (0, 1, 2)
HEADER = struct.Struct("!I")
RELAYED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


# --- client -------------------------------------------------------------------------------------------------


def run_client(argv):
    """Run argv[1:] as the venv's python would: forked by the server when it can, else by exec."""
    path = os.environ.get(SOCKET_VARIABLE)
    if path and len(argv) > 1 and argv[1].endswith(FORKED_SCRIPT):
        status = _delegate(path, argv[1:])
        if status is not None:
            _end_like(status)
    os.execv(sys.executable, [sys.executable, *argv[1:]])


def _delegate(path, args):
    """The child's end ("exit N" / "signal N"), or None when no child was started (the caller runs the script)."""
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    request = json.dumps({"argv": args, "env": dict(os.environ), "cwd": os.getcwd()}).encode()
    try:
        client.connect(path)
        fds = array.array("i", STDIO)
        client.sendmsg([HEADER.pack(len(request))], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
        client.sendall(request)
        replies = client.makefile("rb")
        started = replies.readline().split()
    except OSError:
        return None
    if len(started) != 2 or started[0] != b"pid":
        return None
    child = int(started[1])

    def relay(signum, _frame):
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signum)

    for signum in RELAYED_SIGNALS:
        signal.signal(signum, relay)
    try:
        ended = replies.readline().split()
    except OSError:
        ended = []
    if len(ended) != 2 or ended[0] not in (b"exit", b"signal"):
        # The server went away before the child ended: its end is unknown.
        return ("exit", 1)
    return (ended[0].decode(), int(ended[1]))


def _end_like(status):
    kind, number = status
    sys.stdout.flush()
    sys.stderr.flush()
    if kind == "signal":
        signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)
        number = 128 + number
    os._exit(number)


# --- server -------------------------------------------------------------------------------------------------


class Server:
    def __init__(self, path, modules):
        self.path = path
        self.modules = modules
        self.pid = os.getpid()
        self.loaded = None  # None: not yet; True: imported; False: the import failed (every client runs itself)
        self.children = {}  # child pid -> (the client's connection, the script's arguments)
        self.selector = selectors.DefaultSelector()
        self.wakeup_read, self.wakeup_write = os.pipe()
        os.set_blocking(self.wakeup_read, False)
        os.set_blocking(self.wakeup_write, False)

    def serve(self):
        os.umask(0o077)
        if os.path.exists(self.path):
            os.unlink(self.path)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(64)
        signal.set_wakeup_fd(self.wakeup_write)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, self._stop)
        self.selector.register(self.listener, selectors.EVENT_READ)
        self.selector.register(self.wakeup_read, selectors.EVENT_READ)
        _log(f"listening on {self.path}")
        while True:
            for key, _events in self.selector.select():
                if key.fileobj is self.listener:
                    self._accept()
                else:
                    with contextlib.suppress(BlockingIOError):
                        os.read(self.wakeup_read, 4096)
            self._reap()

    def _stop(self, _signum, _frame):
        if os.getpid() == self.pid and os.path.exists(self.path):
            os.unlink(self.path)
        raise SystemExit(0)

    def _accept(self):
        try:
            connection, _address = self.listener.accept()
        except OSError:
            return
        fds = []
        try:
            connection.settimeout(30)
            fds, request = self._receive(connection)
            if request is None or not self._preload():
                connection.sendall(b"refused\n")
                connection.close()
                return
            child = os.fork()
            if child == 0:
                self._run_child(connection, fds, request)
            connection.sendall(f"pid {child}\n".encode())
            self.children[child] = (connection, request["argv"])
        except OSError as error:
            _log(f"a client was lost: {error}")
            connection.close()
        finally:
            for fd in fds:
                os.close(fd)

    def _receive(self, connection):
        """The client's descriptors and request; None for a request that is not one, or not of our own uid."""
        credentials = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _pid, uid, _gid = struct.unpack("3i", credentials)
        fd_size = array.array("i").itemsize
        message, ancillary, _flags, _address = connection.recvmsg(HEADER.size, socket.CMSG_LEN(len(STDIO) * fd_size))
        fds = array.array("i")
        for level, kind, data in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(data[: len(data) - len(data) % fd_size])
        fds = list(fds)
        if uid != os.getuid() or len(message) != HEADER.size or len(fds) != len(STDIO):
            return fds, None
        (length,) = HEADER.unpack(message)
        body = bytearray()
        while len(body) < length:
            chunk = connection.recv(min(length - len(body), 1 << 16))
            if not chunk:
                return fds, None
            body.extend(chunk)
        request = json.loads(body)
        return fds, request

    def _preload(self):
        if self.loaded is None:
            import importlib

            self.loaded = True
            for module in self.modules:
                try:
                    importlib.import_module(module)
                except Exception as error:  # any failure means: run every task as before
                    _log(f"importing {module} failed ({error!r}); tasks run in their own interpreters")
                    self.loaded = False
                    break
            if self.loaded:
                # The imported objects go where the collector never looks: a child's collections would otherwise
                # walk, and so copy, every page of them.
                import gc

                gc.freeze()
                _log(f"imported {', '.join(self.modules)}; forking tasks from here")
        return self.loaded

    def _reap(self):
        while self.children:
            try:
                child, status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if child == 0:
                return
            connection, args = self.children.pop(child, (None, []))
            if connection is None:
                continue
            if os.WIFSIGNALED(status):
                ended = f"signal {os.WTERMSIG(status)}"
            else:
                ended = f"exit {os.waitstatus_to_exitcode(status)}"
            # One line a task process: what ran (the subcommand and its first option), how it ended,
            # and the CPU it took (its own and its children's that it waited for).
            _log(f"{' '.join(args[2:5])}: {ended}, {usage.ru_utime + usage.ru_stime:.1f} CPU-s")
            with contextlib.suppress(OSError):
                connection.sendall(f"{ended}\n".encode())
            connection.close()

    def _run_child(self, connection, fds, request):
        """In the forked child: become the client's process and run its script; never returns to the server."""
        code = 1
        try:
            signal.set_wakeup_fd(-1)
            for signum in (signal.SIGCHLD, signal.SIGTERM):
                signal.signal(signum, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            self.selector.close()
            self.listener.close()
            os.close(self.wakeup_read)
            os.close(self.wakeup_write)
            for other, _args in self.children.values():
                other.close()
            self.children = {}
            os.setsid()
            for target, fd in zip(STDIO, fds, strict=True):
                os.dup2(fd, target)
            for fd in fds:
                os.close(fd)
            # Closed here, so the server code this child returns through (its finally) has none left to close.
            fds.clear()
            _watch_client(connection)
            os.chdir(request["cwd"])
            os.environ.clear()
            os.environ.update(request["env"])
            for entry in reversed(os.environ.get("PYTHONPATH", "").split(os.pathsep)):
                if entry and entry not in sys.path:
                    sys.path.insert(0, entry)
            sys.argv = list(request["argv"])
            code = _run_script(sys.argv[0])
        except BaseException:  # the child's own failure is its exit status
            import traceback

            traceback.print_exc()
        _exit(code, connection)


def _exit(code, connection):
    """Leave as the interpreter would (threads joined, atexit handlers run, streams flushed), without tearing down
    the heap inherited from the server: finalizing every module would touch, and so copy, all its pages. The client
    hears the exit status from here first: a server restarted meanwhile (its copy of the connection gone) would
    leave it none. The server's own word, after it reaped the child, comes second and is not read."""
    import atexit
    import threading

    try:
        threading._shutdown()  # what the interpreter's own exit does first: wait for non-daemon threads
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        code &= 0xFF
        with contextlib.suppress(OSError):
            connection.sendall(f"exit {code}\n".encode())
        os._exit(code)


def _run_script(script):
    import runpy

    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as end:
        if end.code is None:
            return 0
        if isinstance(end.code, int):
            return end.code
        print(end.code, file=sys.stderr)
        return 1
    except BaseException:  # as python itself: the traceback, exit 1
        import traceback

        traceback.print_exc()
        return 1
    return 0


def _watch_client(connection):
    """A client that goes away (killed) takes the child and everything it started with it."""
    import threading

    def watch():
        try:
            connection.settimeout(None)
            while connection.recv(1):
                pass
        except OSError:
            pass
        os.killpg(0, signal.SIGKILL)

    threading.Thread(target=watch, name="fate-task-launcher-client", daemon=True).start()


def _log(message):
    print(f"fate_task_launcher[{os.getpid()}]: {message}", file=sys.stderr, flush=True)


def main(argv):
    if len(argv) > 2 and argv[1] == "serve":
        Server(argv[2], argv[3:]).serve()
    run_client(argv)


if __name__ == "__main__":
    main(sys.argv)
