"""Measure the template's speeds against their limits and print one table.

    python3 benchmarks/run.py                  bake, app and start parts, 5 rounds each
    python3 benchmarks/run.py --only bake      one part (bake, app, start, suite)
    python3 benchmarks/run.py --suite          also time the template's own test suite (slow)
    python3 benchmarks/run.py --profile        also profile the baked app under load
    python3 benchmarks/run.py --quick          1 round, 1-second loads: proves the command works

Progress goes to stderr, the table to stdout.
"""

import argparse
import sys

import bake_time
import cold_start
import serving
from measure import table

PARTS = ["bake", "app", "start", "suite"]
DEFAULT_PARTS = ["bake", "app", "start"]


def arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=PARTS, action="append", help="run just this part")
    parser.add_argument("--suite", action="store_true", help="also time the template test suite")
    parser.add_argument("--profile", action="store_true", help="also profile one app worker")
    parser.add_argument("--quick", action="store_true", help="1 round and short loads")
    parser.add_argument("--rounds", type=int, default=5, help="repetitions per figure")
    parser.add_argument("--seconds", type=int, default=5, help="length of one wrk load")
    return parser.parse_args()


def main():
    args = arguments()
    parts = args.only or DEFAULT_PARTS + (["suite"] if args.suite else [])
    rounds = 1 if args.quick else args.rounds
    seconds = 1 if args.quick else args.seconds
    rows = []
    if "bake" in parts:
        print("bake time ...", file=sys.stderr)
        rows += bake_time.run(rounds)
    if "app" in parts:
        print("baked app under Gunicorn ...", file=sys.stderr)
        rows += serving.run(rounds, seconds)
    if "start" in parts:
        print("cold start ...", file=sys.stderr)
        rows += cold_start.run(rounds)
    print(table(rows))


if __name__ == "__main__":
    main()
