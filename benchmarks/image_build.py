"""Docker image: size, and build time cold (no layer cache) and warm (one source file changed).

Runs the tests' private Docker daemon with their stand-in base images (tests/images, made
from Debian: python_version=3.11 is the Python they have), so it needs root, dockerd,
docker-compose and debootstrap; the base images are made first and not timed. A cold build
downloads every dependency from PyPI, so it varies with the network. Run only when asked.
"""

import statistics
import sys
import tempfile
import time
from pathlib import Path

from baked import TEMPLATE, bake
from measure import Row

sys.path.insert(0, str(TEMPLATE / "tests"))
from servers import docker as containers  # noqa: E402

TAG = "benchmark-image-build"


def build(docker, project, *options):
    start = time.perf_counter()
    docker.run("build", "--quiet", *options, "--tag", TAG, str(project))
    return time.perf_counter() - start


def run(rounds):
    with tempfile.TemporaryDirectory(prefix="bench-image-") as folder:
        project = bake(Path(folder), python_version="3.11")
        with containers.docker_daemon() as docker:
            print("  stand-in base images (not timed) ...", file=sys.stderr)
            containers.stand_in_images(docker)
            cold, warm = [], []
            source = project / project.name / "main.py"
            for round_number in range(rounds):
                cold.append(build(docker, project, "--no-cache"))
                with open(source, "a") as code:  # a code change: only the app's layers rebuild
                    code.write(f"# change {round_number}\n")
                warm.append(build(docker, project))
            size = int(docker.run("image", "inspect", "--format", "{{.Size}}", TAG).stdout)
            docker.run("image", "rm", TAG)
            docker.run("builder", "prune", "--force", "--filter", "until=1h", check=False)
    return [
        Row("image: build, cold (no layer cache)", statistics.median(cold), "s"),
        Row("image: build, warm (one source file changed)", statistics.median(warm), "s"),
        Row("image: size (stand-in python:3.11-slim base)", size / 2**20, "MiB"),
    ]
