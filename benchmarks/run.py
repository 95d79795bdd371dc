"""Measure the template's speeds against their limits and print one table.

    python3 benchmarks/run.py                  bake, app and start parts, 5 rounds each
    python3 benchmarks/run.py --only bake      one part (bake, app, start, profile, image, suite)
    python3 benchmarks/run.py --profile        also: where a request's time goes, what it touches
    python3 benchmarks/run.py --suite          also time the template's own test suite (slow)
    python3 benchmarks/run.py --peer PATH      also against cookiecutter-flask (a checkout)
    python3 benchmarks/run.py --servers        also other WSGI servers, quiet and loaded
    python3 benchmarks/run.py --image          also build the Docker image (root, dockerd)
    python3 benchmarks/run.py --browser        also Lighthouse on the nginx site, per page
    python3 benchmarks/run.py --queues         also RQ against Dramatiq (redis-server)
    python3 benchmarks/run.py --telemetry      also the app with metrics or traces on against off
    python3 benchmarks/run.py --quick          1 round, 1-second loads: proves the command works

Progress goes to stderr, the table to stdout.
"""

import argparse
import subprocess
import sys

import bake_time
import browser_audit
import cold_start
import image_build
import peer
import profile_app
import queue_choice
import server_choice
import serving
import suite_time
import telemetry
from measure import table

# In the order they run: the suite last, as it loads both cores for minutes.
PARTS = ["bake", "app", "start", "peer", "servers", "queues", "telemetry", "profile", "browser"]
PARTS += ["image"]
PARTS += ["suite"]
DEFAULT_PARTS = ["bake", "app", "start"]


def arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=PARTS, action="append", help="run just this part")
    parser.add_argument("--profile", action="store_true", help="also profile the baked app")
    parser.add_argument("--suite", action="store_true", help="also time the template test suite")
    parser.add_argument("--peer", metavar="PATH", help="a cookiecutter-flask checkout to measure")
    parser.add_argument("--servers", action="store_true", help="also compare WSGI servers")
    parser.add_argument("--image", action="store_true", help="also build the Docker image")
    parser.add_argument("--browser", action="store_true", help="also audit pages in Lighthouse")
    parser.add_argument("--queues", action="store_true", help="also compare job queues")
    parser.add_argument("--telemetry", action="store_true", help="also metrics, traces on vs off")
    parser.add_argument("--quick", action="store_true", help="1 round and 1-second loads")
    parser.add_argument("--rounds", type=int, default=5, help="repetitions per figure")
    parser.add_argument("--seconds", type=int, default=5, help="length of one wrk load")
    return parser.parse_args()


def main():
    args = arguments()
    extras = {"peer": bool(args.peer), "servers": args.servers, "profile": args.profile}
    extras |= {"browser": args.browser, "image": args.image, "suite": args.suite}
    extras |= {"queues": args.queues, "telemetry": args.telemetry}
    chosen = args.only or DEFAULT_PARTS + [part for part, wanted in extras.items() if wanted]
    if "peer" in chosen and not args.peer:
        sys.exit("--only peer needs --peer PATH (a checkout of cookiecutter-flask)")
    rounds = 1 if args.quick else args.rounds
    seconds = 1 if args.quick else args.seconds
    measures = {
        "bake": lambda: bake_time.run(rounds),
        "app": lambda: serving.run(rounds, seconds),
        "start": lambda: cold_start.run(rounds),
        "peer": lambda: peer.run(args.peer, rounds, seconds),
        "servers": lambda: server_choice.run(rounds, seconds),
        "telemetry": lambda: telemetry.run(rounds, seconds),
        "image": lambda: image_build.run(rounds),
        "suite": suite_time.run,
    }
    rows, extra_tables = [], []
    for part in (part for part in PARTS if part in chosen):
        print(f"{part} ...", file=sys.stderr)
        if part == "profile":
            extra_tables.append(profile_app.run(seconds))
        elif part == "queues":
            extra_tables.append(queue_choice.run())
        elif part == "browser":
            audits, notes = browser_audit.run(rounds, args.quick)
            extra_tables.append("\n".join([audits, *notes]))
        else:
            rows += measures[part]()
    print("\n\n".join(([table(rows)] if rows else []) + extra_tables))


if __name__ == "__main__":
    try:
        main()
    except subprocess.CalledProcessError as error:
        sys.exit(f"{error}\n{error.stdout or ''}{error.stderr or ''}")
