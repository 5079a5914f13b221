"""Decode videos in child processes with a deadline, so that one bad file cannot stall a job.

decord can spin forever in native code while holding the GIL (e.g. on containers that
over-report their frame count), and a decoder can crash the process outright. Neither can be
interrupted from a thread, so :class:`VideoDecoder` runs :func:`stair.data.video.reader.read_video`
in a
persistent child process: if a video is not done by its deadline, or the child dies, the child is
killed, a :class:`VideoDecodeError` naming the file is raised, and the next call starts a fresh
child. :func:`decode_many` drives several decoders from threads for batch jobs, so decoding runs
in parallel with whatever the caller does with the results (feature extraction).
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import socket
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from multiprocessing.connection import Connection

from stair.data.video.reader import DecodedVideo, Sampling, VideoDecodeError, read_video

log = logging.getLogger(__name__)

__all__ = ["VideoDecoder", "decode_many", "decode_video"]


def _worker_main(conn: Connection, level: int) -> None:
    """Child process loop: receive (path, sampling, backend, threads), send back the result.

    ``level``: the parent's logging level, so the child's warnings show alike. FFmpeg's own
    console messages (decord's copy) are silenced unless debugging: failures reach the parent as
    errors naming the file instead.
    """
    import av  # noqa: F401  (imported before "ready", so deadlines do not pay for imports)
    import decord

    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if level > logging.DEBUG:
        decord.logging.set_level(decord.logging.QUIET)
    conn.send(("ready", None))
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        path, sampling, backend, threads = request
        try:
            reply = ("ok", read_video(path, sampling, backend=backend, threads=threads))
        except VideoDecodeError as err:
            reply = ("err", err.reason)
        except Exception as err:
            reply = ("err", f"{type(err).__name__}: {err}")
        conn.send(reply)


class _TimedOut(Exception):
    """A decode missed its deadline (internal: becomes a VideoDecodeError)."""


class VideoDecoder:
    """Decode videos one at a time in a child process, each within ``timeout`` seconds.

    ``sampling``: which frames and size (:class:`Sampling`). ``timeout``: seconds per video
    (``None``: no deadline, still isolated from crashes). ``backend`` and ``threads`` are passed to
    :func:`read_video`. ``start_timeout``: seconds allowed for the child to start (imports).
    Use as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        sampling: Sampling | None = None,
        *,
        timeout: float | None = 60.0,
        backend: str = "auto",
        threads: int = 0,
        start_timeout: float = 120.0,
    ) -> None:
        self.sampling = sampling or Sampling()
        self.timeout = timeout
        self.backend = backend
        self.threads = threads
        self.start_timeout = start_timeout
        self._proc = None
        self._conn = None
        self._stopped = False
        # stop() runs on the consumer's thread while a decode may be starting, waiting on or
        # retiring the child on its own: the lock makes each hand-over of the child one step.
        self._lock = threading.RLock()

    def _start(self) -> None:
        # A fresh interpreter running only this module (``python -m``): unlike multiprocessing's
        # spawn it does not re-import the parent's __main__ (torch and all, seconds per worker),
        # and unlike fork it inherits no torch/CUDA threads.
        mine, theirs = socket.socketpair()
        level = logging.getLogger().getEffectiveLevel()
        cmd = [sys.executable, "-m", __name__, str(theirs.fileno()), str(level)]
        try:
            proc = subprocess.Popen(cmd, pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL)
        finally:
            theirs.close()
        conn = Connection(mine.detach())
        if not conn.poll(self.start_timeout):
            proc.kill()
            conn.close()
            raise RuntimeError(f"video decoder process did not start in {self.start_timeout} s")
        conn.recv()
        self._proc, self._conn = proc, conn

    def _alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _kill(self) -> None:
        # Taken out under the lock, so a child is killed and its socket closed exactly once
        # (two closes of one descriptor fail, or close a file opened since by another thread).
        with self._lock:
            proc, conn = self._proc, self._conn
            self._proc = self._conn = None
        if proc is not None:
            proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        if conn is not None:
            conn.close()

    def __call__(self, path: str | os.PathLike) -> DecodedVideo:
        """The sampled frames of ``path``; raises :class:`VideoDecodeError` naming it on failure.

        With ``backend="auto"``, a video on which decord times out is tried once more with PyAV
        (decord's known hangs are on files that PyAV reads), within a second deadline.
        """
        path = str(path)
        if not os.path.exists(path):  # exists() only: a FIFO or device is the child's problem
            raise VideoDecodeError(path, "no such file")
        try:
            return self._run(path, self.backend)
        except _TimedOut:
            if self.backend != "auto":
                raise VideoDecodeError(
                    path, f"timed out after {self.timeout:g} s (decoder process killed)"
                ) from None
        log.warning("decoding %s timed out after %g s; retrying with PyAV", path, self.timeout)
        try:
            return self._run(path, "pyav")
        except _TimedOut:
            raise VideoDecodeError(
                path,
                f"timed out after {self.timeout:g} s with decord and again with PyAV "
                "(decoder process killed)",
            ) from None

    def stop(self) -> None:
        """Kill the child now; decodes in flight fail and no later decode restarts it."""
        with self._lock:
            self._stopped = True
            self._kill()

    def _run(self, path: str, backend: str) -> DecodedVideo:
        with self._lock:
            if self._stopped:
                raise VideoDecodeError(path, "decoding was stopped")
            if not self._alive():
                self._kill()
                self._start()
            proc, conn = self._proc, self._conn  # this decode's child, even if stop() retires it
        try:
            conn.send((path, self.sampling, backend, self.threads))
            if not conn.poll(self.timeout):
                self._kill()
                raise _TimedOut
            status, value = conn.recv()
        except (EOFError, OSError):
            code = None
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = proc.wait(timeout=2)
            self._kill()
            if self._stopped:
                raise VideoDecodeError(path, "decoding was stopped") from None
            raise VideoDecodeError(path, f"decoder process died (exit code {code})") from None
        if status == "err":
            raise VideoDecodeError(path, value)
        return value

    def close(self) -> None:
        """Stop the child process (politely, then by force)."""
        with self._lock:
            proc, conn = self._proc, self._conn
        if proc is not None and proc.poll() is None:
            try:
                conn.send(None)
                proc.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self._kill()

    def __enter__(self) -> VideoDecoder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def decode_video(
    path: str | os.PathLike,
    sampling: Sampling | None = None,
    *,
    timeout: float | None = 60.0,
    backend: str = "auto",
) -> DecodedVideo:
    """Decode one video in a fresh child process within ``timeout`` seconds (see VideoDecoder)."""
    with VideoDecoder(sampling, timeout=timeout, backend=backend) as decoder:
        return decoder(path)


def decode_many(
    paths: Iterable[str | os.PathLike],
    sampling: Sampling | None = None,
    *,
    workers: int = 1,
    timeout: float | None = 60.0,
    backend: str = "auto",
    threads: int = 0,
    prefetch: int = 2,
) -> Iterator[tuple[str, DecodedVideo | VideoDecodeError]]:
    """Decode ``paths`` in ``workers`` child processes; yield ``(path, video or error)``.

    Results come in completion order. At most ``workers * prefetch`` videos are decoded ahead of
    the consumer, so memory stays bounded while decoding overlaps the consumer's work. A bad
    video yields its :class:`VideoDecodeError` instead of stopping the iteration.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    idle: queue.Queue[VideoDecoder] = queue.Queue()
    decoders = [
        VideoDecoder(sampling, timeout=timeout, backend=backend, threads=threads)
        for _ in range(workers)
    ]
    for decoder in decoders:
        idle.put(decoder)

    def job(path: str) -> tuple[str, DecodedVideo | VideoDecodeError]:
        decoder = idle.get()
        try:
            return path, decoder(path)
        except VideoDecodeError as err:
            return path, err
        except Exception as err:  # a decoder that cannot start: report, keep going
            return path, VideoDecodeError(path, f"{type(err).__name__}: {err}")
        finally:
            idle.put(decoder)

    todo = iter(paths)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="stair-decode")
    pending: set[Future] = set()
    try:
        while True:
            while len(pending) < workers * max(1, prefetch):
                path = next(todo, None)
                if path is None:
                    break
                pending.add(pool.submit(job, str(path)))
            if not pending:
                return
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()
    finally:
        for future in pending:
            future.cancel()
        if any(not f.done() for f in pending):  # stopped early (error, Ctrl-C): do not wait
            for decoder in decoders:  # for decodes in flight; their threads then see EOF
                decoder.stop()
        pool.shutdown(wait=True)
        for decoder in decoders:
            decoder.close()


if __name__ == "__main__":  # the child process of a VideoDecoder: python -m ... FD LEVEL
    _worker_main(Connection(int(sys.argv[1])), int(sys.argv[2]))
