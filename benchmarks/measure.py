"""What every benchmark part shares: a row of the table, free ports, waiting for servers.

Each figure is printed beside the limit it is judged against, measured in the same run, so a
busy machine slows both sides and the ratio still means something.
"""

import operator
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

CHECKS = {"<=": operator.le, "<": operator.lt, ">=": operator.ge}
# Loopback needs no proxy, whatever the environment says.
LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))
HEADER = ("measure", "template", "bare floor, same run", "ratio", "target", "met")


@dataclass
class Row:
    """One measure of the template, beside the same measure of a bare floor and a target.

    `target` is like "<= 1.3x" (a multiple of the floor) or "< 60" (in the row's unit).
    """

    measure: str
    value: float
    unit: str
    floor: float | None = None
    floor_label: str = ""
    target: str | None = None

    @property
    def ratio(self):
        return self.value / self.floor if self.floor else None

    @property
    def met(self):
        if not self.target:
            return None
        op, bound = self.target.split()
        if bound.endswith("x"):
            return CHECKS[op](self.ratio, float(bound[:-1]))
        return CHECKS[op](self.value, float(bound))

    def cells(self):
        floor = "-"
        if self.floor is not None:
            floor = f"{number(self.floor, self.unit)} ({self.floor_label})"
        ratio = "-" if self.ratio is None else f"{self.ratio:.2f}x"
        target = "-" if not self.target else self.target
        if target[-1].isdigit():
            target += f" {self.unit}"
        met = {None: "-", True: "yes", False: "NO"}[self.met]
        return (self.measure, number(self.value, self.unit), floor, ratio, target, met)


def number(value, unit):
    """A figure with as many digits as its size deserves."""
    digits = 0 if abs(value) >= 100 or unit == "req/s" else 1
    return f"{value:.{digits}f} {unit}"


def table(rows):
    """The measures as a Markdown table, so the README can quote the output as it is."""
    return markdown(HEADER, [row.cells() for row in rows])


def markdown(header, lines):
    """A Markdown table with padded columns."""
    lines = [tuple(header), *(tuple(str(cell) for cell in line) for line in lines)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]

    def render(cells):
        padded = (cell.ljust(width) for cell, width in zip(cells, widths, strict=True))
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join("-" * (width + 2) for width in widths) + "|"
    return "\n".join([render(lines[0]), rule, *(render(cells) for cells in lines[1:])])


def wait_for_http(url, process, timeout=60):
    """Wait until `url` answers 200; fail early if the server process has died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before answering {url}")
        try:
            with LOCAL.open(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout} s")
