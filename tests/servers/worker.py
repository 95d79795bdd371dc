"""`flask jobs worker` of a baked project (RQ), from the shared venv, stopped by PID."""

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from .process import descendants, read, show_log_on_failure, stop_process, wait_until


class Worker:
    """The job worker; start(), stop() (SIGTERM: the running job ends first) and kill()."""

    def __init__(self, project, python, env, log_path):
        self.command = [str(Path(python).parent / "flask"), "jobs", "worker"]
        self.project, self.env, self.log_path = project, env, Path(log_path)
        self.process = None

    def start(self):
        """Start it and wait until it listens on the queue."""
        before = read(self.log_path).count("Listening on")
        with open(self.log_path, "a") as log:
            self.process = subprocess.Popen(
                self.command, cwd=self.project, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        listening = lambda: read(self.log_path).count("Listening on") > before  # noqa: E731
        wait_until(listening, "the job worker", self.process, self.log_path)

    def kill(self):
        """SIGKILL the worker and the process running its job, as the OOM killer would."""
        for pid in [self.process.pid, *descendants(self.process.pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait()

    def stop(self):
        if self.process is not None:
            horses = descendants(self.process.pid)
            stop_process(self.process)
            for pid in horses:  # RQ's work horse runs in a session of its own
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    def log(self):
        return read(self.log_path)


@contextlib.contextmanager
def worker(project, python, env):
    """A running job worker for `project` with the environment `env` (as Gunicorn's)."""
    folder = Path(tempfile.mkdtemp(prefix="e2e-worker-"))
    running = Worker(project, python, env, folder / "worker.log")
    try:
        with show_log_on_failure("job worker", running.log_path):
            running.start()
            yield running
    finally:
        running.stop()
        shutil.rmtree(folder, ignore_errors=True)
