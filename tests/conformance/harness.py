"""What the conformance scripts share: the mock model's words, the hostile
text, assertions whose messages say what differed, the check registry and
the runner with its command line.

The scripts run as `python tests/conformance/<script>.py`, which puts this
folder first on `sys.path`, and import this module as `harness`. Each
script keeps its own `Target` (the SDK's clients for one server) and its
checks, and hands `main` what differs: the SDK's version line, the form of
a base URL, and how to make and close a target.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import time
import traceback
from typing import Any, Callable, Generic, TypeVar

# Every check gets this long (wall clock) before it is failed as hung.
CHECK_TIMEOUT_S = 30.0
# The SDK's own timeout (connect, read between bytes) for every request.
REQUEST_TIMEOUT_S = 20.0

# What the mock model says: one word per token (see examples/shared/mod.rs).
MOCK_WORDS = [
    "Streaming", " tokens", " as", " server", "-sent", " events",
    " keeps", " the", " first", " token", " fast", ".",
]
REASONING_WORDS = [
    "The", " user", " wants", " an", " answer;", " think", " it", " through.",
]
DEFAULT_TOKENS = 10


def metric_sum(metrics: str, name: str, **labels: str) -> float:
    """The sum of `name`'s samples in a Prometheus text exposition whose
    labels include `labels` (escaped quotes in values understood)."""
    total = 0.0
    for line in metrics.splitlines():
        match = re.match(rf"^{name}(?:\{{(.*)\}})?\s+(\S+)$", line)
        if not match:
            continue
        have = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(1) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            total += float(match.group(2))
    return total


def failure_status(target_name: str) -> int:
    """The status of a non-streamed answer whose model failed: 500 from a
    server, 502 Bad Gateway from a gateway (targets named `gateway...`),
    whose upstream failed."""
    return 502 if target_name.startswith("gateway") else 500


def mock_text(count: int = DEFAULT_TOKENS) -> str:
    return "".join(MOCK_WORDS[i % len(MOCK_WORDS)] for i in range(count))


def mock_reasoning(count: int) -> str:
    return "".join(REASONING_WORDS[i % len(REASONING_WORDS)] for i in range(count))


# What `split_whitespace` in Rust counts (the prompt's tokens) for plain
# ASCII text.
USAGE_PROMPT = "count these five words please"


def hostile(forged: str = "") -> str:
    """A user message that breaks naive JSON or SSE encoders: quotes,
    backslashes (also a backslash before a quote, and text that looks like
    escapes), CRLF, lone CR and LF, a blank line followed by a fake
    `data: [DONE]` and then `forged` (fake frames of the script's own
    protocol), U+2028 and U+2029 (line breaks for JavaScript, not for JSON),
    a tab, non-ASCII letters and 4-byte emoji (which the echo model cuts
    mid-character)."""
    return (
        'She said "hi" \\ then \\"quoted\\" C:\\new\\table \\u0041\r\n'
        "second line\rlone CR\nlone LF\n\ndata: [DONE]\n\n"
        + forged
        + "LS\u2028PS\u2029tab\tend é ñ 日本 🦀 👩‍💻 🎉"
    )


def knobs(**extra: Any) -> dict[str, Any]:
    """Query-string knobs: no pacing delay unless asked for."""
    return {"delay_ms": 0, **extra}


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


# --------------------------------------------------------------------------
# Assertions with messages that say what was expected and what came instead.


class CheckFailed(Exception):
    pass


class CheckTimedOut(Exception):
    pass


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def short(value: Any, limit: int = 600) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def expect_eq(actual: Any, expected: Any, what: str) -> None:
    if actual != expected:
        detail = f"{what}: expected {short(expected)}, got {short(actual)}"
        if isinstance(actual, str) and isinstance(expected, str):
            at = next(
                (i for i, (a, e) in enumerate(zip(actual, expected)) if a != e),
                min(len(actual), len(expected)),
            )
            detail += (
                f"\n      first difference at index {at}: "
                f"expected {expected[at:at + 12]!r}, got {actual[at:at + 12]!r}"
                f" (lengths {len(expected)} vs {len(actual)})"
            )
        raise CheckFailed(detail)


def expect_raises(kind: type[BaseException], action: Callable[[], Any], what: str) -> BaseException:
    try:
        result = action()
    except kind as err:
        return err
    except Exception as err:  # noqa: BLE001 - reported as the wrong kind
        raise CheckFailed(
            f"{what}: expected {kind.__module__}.{kind.__qualname__}, "
            f"got {type(err).__module__}.{type(err).__qualname__}: {err}"
        ) from err
    raise CheckFailed(f"{what}: expected {kind.__qualname__}, but nothing was raised (got {short(result)})")


# --------------------------------------------------------------------------
# The checks of a script, and the runner.

# A script's `Target`: the SDK's clients for one server.
T = TypeVar("T")


class Checks(Generic[T]):
    """A script's checks, in the order they are defined. `add` is the
    `@check` decorator; a check is named after its function, without the
    `check_` prefix."""

    def __init__(self) -> None:
        self.all: list[tuple[str, Callable[[T], None]]] = []

    def add(self, fn: Callable[[T], None]) -> Callable[[T], None]:
        self.all.append((fn.__name__.removeprefix("check_"), fn))
        return fn


def on_alarm(signum: int, frame: Any) -> None:
    raise CheckTimedOut(f"the check did not finish within {CHECK_TIMEOUT_S:.0f} s")


def run_one(fn: Callable[[T], None], target: T, label: str) -> bool:
    """Runs one check against one target under the watchdog and prints its
    `ok` or `FAIL` line (with what went wrong, indented, under a `FAIL`)."""
    started = time.monotonic()
    signal.setitimer(signal.ITIMER_REAL, CHECK_TIMEOUT_S)
    try:
        fn(target)
    except CheckFailed as err:
        outcome, detail = False, str(err)
    except CheckTimedOut as err:
        outcome, detail = False, str(err)
    except Exception as err:  # noqa: BLE001 - every error is a failed check
        frames = traceback.format_exception(type(err), err, err.__traceback__)
        outcome = False
        detail = f"unexpected {type(err).__module__}.{type(err).__qualname__}: {err}\n" + "".join(frames[-6:])
    else:
        outcome, detail = True, ""
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    ms = (time.monotonic() - started) * 1000
    if outcome:
        print(f"ok    {label} ({ms:.0f} ms)", flush=True)
    else:
        print(f"FAIL  {label} ({ms:.0f} ms)", flush=True)
        for line in detail.rstrip().splitlines():
            print(f"      {line}", flush=True)
    return outcome


def parse_target(arg: str, url_form: str) -> tuple[str, str]:
    """`[NAME=]BASE_URL` as (NAME or "", BASE_URL without a trailing slash)."""
    name, sep, url = arg.partition("=")
    if not sep or "://" in name:
        name, url = "", arg
    if not url.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(f"not a base URL: {arg!r} (expected [NAME=]{url_form})")
    return name, url.rstrip("/")


def main(
    doc: str | None,
    *,
    sdk: str,
    url_form: str,
    checks: Checks[T],
    make_target: Callable[[str, str], T],
    close_target: Callable[[T], None],
) -> int:
    """The command line of a script: runs `checks` against every
    `[NAME=]BASE_URL` given (only those whose name contains `-k SUBSTR`),
    one line a check and server, then `N passed, M failed`. `doc` is the
    script's docstring (its first paragraph describes the command), `sdk`
    the SDK's name and version for the first line, `url_form` what a base
    URL looks like (for the usage error). Returns the exit status: 0, or 1
    if a check failed or none ran; argparse exits with 2 on bad usage."""
    parser = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])
    parser.add_argument(
        "targets", nargs="+", type=lambda arg: parse_target(arg, url_form), metavar="[NAME=]BASE_URL"
    )
    parser.add_argument("-k", dest="only", default=None, help="run only checks whose name contains this")
    args = parser.parse_args()

    # Talk to the servers directly, whatever proxy the environment names.
    for var in ("NO_PROXY", "no_proxy"):
        os.environ[var] = ",".join(filter(None, [os.environ.get(var), "127.0.0.1", "localhost", "::1"]))
    signal.signal(signal.SIGALRM, on_alarm)

    print(f"{sdk}, Python {sys.version.split()[0]}", flush=True)
    passed = failed = 0
    for index, (name, url) in enumerate(args.targets):
        name = name or f"srv{index + 1}"
        target = make_target(name, url)
        print(f"== {name}: {url}", flush=True)
        for check_name, fn in checks.all:
            if args.only and args.only not in check_name:
                continue
            if run_one(fn, target, f"{name:<6} {check_name}"):
                passed += 1
            else:
                failed += 1
        close_target(target)
    print(f"{passed} passed, {failed} failed", flush=True)
    return 1 if failed or not passed else 0
