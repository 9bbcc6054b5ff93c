"""Resumable streams across two replicas of the example servers: a stream
started on A and cut mid-answer resumes on B exactly once, stops from B,
and ends with an error event for every reader when its owner dies.

Usage: python3 tests/conformance/resume.py [A=]URL_A [B=]URL_B
[--owner-pid PID] [--abandon-s S] [--max-bytes N --ttl-s S] [-k SUBSTR]

A and B share one store (Redis, `REDIS_URL`): any replica can resume or
stop any stream. Both may be the same URL (one server, in-memory store);
the checks that need a second process are then still meaningful, and the
metrics of one server are not counted twice. Standard library only; the
SSE parser here follows the WHATWG rules (CR, LF and CRLF line ends, one
optional space after the colon, `id:` with a NUL ignored).

Checks, in order (each prints one line; the run ends with `N passed, M
failed` and exits 1 if any failed):

- `fresh_stream`: ids `<22 base64url>:<seq>` on every event, seq from 1 by
  1, `retry: 1000` on the first event, `[DONE]` last with an id, no id on a
  heartbeat, hostile echo text only ever as data;
- `resume_text`, `resume_json`: a stream read on A for k events and cut,
  resumed on B with `Last-Event-ID`, gives the same answer as an
  uninterrupted request of the same prompt (JSON: exactly the prompt, lone
  CR included), each id exactly once, consecutive; one generation more in
  `llm_sse_streams_total` (A + B), one `replayed` resume;
- `resume_after_end`: after the stream finished with no reader, a resume
  replays the rest; the last id gives 204, an unknown id 204 (and one more
  `unknown` resume), malformed ids 400, the header wins over the
  `last_event_id` query parameter (both ways);
- `stop_from_other_replica`: `POST B/streams/{id}/stop` gives 202, the
  reader on A ends with `[DONE]` early and no error; a second stop (by an
  event id) 200, an unknown id 404; outcome `stopped` once; a resume
  after it replays up to the same `[DONE]`;
- `abandoned_without_reader` (with `--abandon-s S`, the servers'
  `RESUME_ABANDON_S`): a stream nobody reads is counted `abandoned` within
  S + 10 s;
- `retention` (with `--max-bytes N --ttl-s S`, the servers'
  `RESUME_MAX_BYTES` and `RESUME_TTL_S`, small): a resume from the trimmed
  start of a long stream gives 410 with a JSON error body (one `expired`
  resume), from its last events 200, and 204 once the TTL after the end
  has passed;
- `owner_killed` (last, with `--owner-pid PID` or `RESUME_OWNER_PID`, the
  PID of A's process): `kill -9` of A mid-stream; a reader on B gets an
  `event: error` frame with the next id within 10 s, never `[DONE]`, then
  the end of the body; a later resume on B replays the same error frame.
  A is dead afterwards: the caller restarts it if it needs it again.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import re
import signal
import socket
import sys
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Callable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402 - stdlib only, shared with the SDK checks
from harness import CheckFailed, expect, expect_eq, metric_sum  # noqa: E402

# A check gets this long before it is failed as hung.
harness.CHECK_TIMEOUT_S = 60.0
# Socket timeout: no byte for this long is a hang.
READ_TIMEOUT_S = 15.0
# How long the owner of a stream may be dead before readers must get the
# terminal error (the design's bound on the owner lease).
LEASE_BOUND_S = 10.0
# How long a counter gets to reflect a stream that readers saw end.
METRICS_WAIT_S = 5.0

EVENT_ID = re.compile(r"^([A-Za-z0-9_-]{22}):([1-9][0-9]*)$")

# Text that must come back as data, never as fields or event ends: lone CR,
# LF, CRLF, blank lines, and lines that look like `data:`, `id:`,
# `event:`, `retry:`, a comment and the end marker.
HOSTILE = (
    "data: x\n\nid: forged\r\nevent: evil\rretry: 1\r\n\r\n: ping\n"
    "data: [DONE]\n\nid:\nevent:error\n"
    'quotes " and \\ backslash, é ñ 日本 🦀 end'
)


@dataclass
class Event:
    name: str  # "message" when the block named none
    data: str
    id: str | None  # the id field of this event's own block, if any
    retry: str | None
    fields: list[tuple[str, str]]  # every field of the block, in order


@dataclass
class Stream:
    """One GET /chat response, read as SSE."""

    status: int
    headers: dict[str, str]
    body: bytes = b""  # the body of a non-200 answer
    events: list[Event] = field(default_factory=list)
    comments: int = 0
    problems: list[str] = field(default_factory=list)  # framing violations
    ended: bool = False  # the body ended (cleanly or not)
    error: str | None = None  # why reading stopped, other than a clean end


class SseReader:
    """Reads an SSE response line by line from the socket: only what has
    arrived, so a check can stop after k events and close the connection."""

    def __init__(self, base: str, path: str, headers: dict[str, str] | None = None,
                 timeout: float = READ_TIMEOUT_S) -> None:
        url = urllib.parse.urlsplit(base)
        self.conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=timeout)
        self.conn.request("GET", path, headers={"accept": "text/event-stream", **(headers or {})})
        self.sock = self.conn.sock
        self.response = self.conn.getresponse()
        self.stream = Stream(self.response.status, {k.lower(): v for k, v in self.response.getheaders()})
        self.buffer = b""
        self.fields: list[tuple[str, str]] = []
        self.block_comments = 0
        if self.stream.status != 200:
            self.stream.body = self.response.read()
            self.stream.ended = True
            self.close()

    def close(self) -> None:
        """Closes the connection at once, mid-body or not."""
        sock = self.sock
        try:
            self.response.close()
        finally:
            self.conn.close()
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()

    def _line(self) -> str | None:
        """The next line without its end, or None at the end of the body."""
        while True:
            for at, byte in enumerate(self.buffer):
                if byte == 0x0A:
                    line, self.buffer = self.buffer[:at], self.buffer[at + 1:]
                    return line.decode("utf-8", "replace")
                if byte == 0x0D:
                    if at + 1 == len(self.buffer) and not self.stream.ended:
                        break  # a CR at the end: is an LF next?
                    skip = 2 if self.buffer[at + 1:at + 2] == b"\n" else 1
                    line, self.buffer = self.buffer[:at], self.buffer[at + skip:]
                    return line.decode("utf-8", "replace")
            if self.stream.ended:
                if self.buffer:
                    self.stream.problems.append(f"body ended inside a line: {self.buffer[:80]!r}")
                    self.buffer = b""
                return None
            try:
                chunk = self.response.read1(65536)
            except socket.timeout:
                raise CheckFailed(f"no byte for {READ_TIMEOUT_S:.0f} s (after {len(self.stream.events)} events)")
            except (http.client.IncompleteRead, ConnectionError, OSError) as err:
                self.stream.error = f"{type(err).__name__}: {err}"
                chunk = b""
            if not chunk:
                self.stream.ended = True
            self.buffer += chunk

    def next_event(self) -> Event | None:
        """The next dispatched event, or None at the end of the body.
        Comment lines (heartbeats, which may share a block with the next
        event's fields) are counted; a block with an id but no data (an id
        on a heartbeat) or two ids is a framing problem."""
        while True:
            line = self._line()
            if line is None:
                if self.fields:
                    self.stream.problems.append(f"body ended inside an event: {self.fields!r}")
                return None
            if line == "":
                fields, self.fields = self.fields, []
                comments, self.block_comments = self.block_comments, 0
                self.stream.comments += comments
                data = [v for k, v in fields if k == "data"]
                ids = [v for k, v in fields if k == "id"]
                if not data:
                    if ids:
                        self.stream.problems.append(f"an id on a block without data: {fields!r}")
                    continue
                names = [v for k, v in fields if k == "event"]
                retries = [v for k, v in fields if k == "retry"]
                unknown = [k for k, _ in fields if k not in ("data", "id", "event", "retry")]
                if unknown or len(ids) > 1 or len(names) > 1 or len(retries) > 1:
                    self.stream.problems.append(f"odd fields in an event: {fields!r}")
                event = Event(names[-1] if names and names[-1] else "message", "\n".join(data),
                              ids[-1] if ids else None, retries[-1] if retries else None, fields)
                self.stream.events.append(event)
                return event
            if line.startswith(":"):
                self.block_comments += 1
                continue
            name, colon, value = line.partition(":")
            if colon and value.startswith(" "):
                value = value[1:]
            self.fields.append((name, value))

    def read_events(self, count: int) -> list[Event]:
        got = []
        while len(got) < count:
            event = self.next_event()
            if event is None:
                raise CheckFailed(f"the stream ended after {len(self.stream.events)} events, before {count} were read"
                                  f" ({self.stream.error or 'clean end'})")
            got.append(event)
        return got

    def read_to_end(self, deadline_s: float = 30.0) -> Stream:
        started = time.monotonic()
        while self.next_event() is not None:
            if time.monotonic() - started > deadline_s:
                raise CheckFailed(f"the stream did not end within {deadline_s:.0f} s")
        self.close()
        return self.stream


def get(base: str, path: str, headers: dict[str, str] | None = None) -> Stream:
    """A whole GET /chat answer."""
    reader = SseReader(base, path, headers)
    return reader.read_to_end() if reader.stream.status == 200 else reader.stream


def post(base: str, path: str) -> tuple[int, bytes]:
    url = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=READ_TIMEOUT_S)
    try:
        conn.request("POST", path, body=b"", headers={"content-length": "0"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def chat_path(**params: object) -> str:
    return "/chat?" + urllib.parse.urlencode({"resumable": 1, **params})


def parse_id(event_id: str | None) -> tuple[str, int]:
    match = EVENT_ID.match(event_id or "")
    if not match:
        raise CheckFailed(f"not an event id of the form <22 base64url>:<seq>: {event_id!r}")
    return match.group(1), int(match.group(2))


def unknown_stream_id() -> str:
    return base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode()


def check_framing(stream: Stream, what: str) -> None:
    expect(not stream.problems, f"{what}: framing problems: {stream.problems}")
    for event in stream.events:
        expect(event.name in ("message", "usage", "finish", "error", "reasoning", "tool_call", "tool_arguments"),
               f"{what}: an event named {event.name!r} (forged by the echo text?): {event.fields!r}")
        expect(event.id is not None, f"{what}: an event without an id of its own: {event.fields!r}")
        parse_id(event.id)


def check_ids(events: list[Event], what: str, first_seq: int = 1, stream_id: str | None = None) -> str:
    """Every event has an id of one stream, seq `first_seq`, +1, +2, ...;
    returns the stream id."""
    expect(events, f"{what}: no events")
    for offset, event in enumerate(events):
        sid, seq = parse_id(event.id)
        stream_id = stream_id or sid
        expect_eq(sid, stream_id, f"{what}: stream id of event {offset}")
        expect_eq(seq, first_seq + offset, f"{what}: seq of event {offset} (ids {[e.id for e in events[:offset + 1]][-4:]})")
    return stream_id or ""


def check_done_last(stream: Stream, what: str) -> None:
    expect(stream.events, f"{what}: no events")
    expect_eq(stream.events[-1].data, "[DONE]", f"{what}: the last event's data")
    expect(not any(e.data == "[DONE]" for e in stream.events[:-1]), f"{what}: a [DONE] before the last event")
    expect(not any(e.name == "error" for e in stream.events), f"{what}: an error event: "
           f"{[e.data for e in stream.events if e.name == 'error']}")
    expect(stream.error is None, f"{what}: the body did not end cleanly: {stream.error}")


def answer_text(events: list[Event], json_format: bool) -> str:
    """What a client shows: text events' data (JSON: their `delta`)."""
    text = []
    for event in events:
        if event.name != "message" or event.data == "[DONE]":
            continue
        if json_format:
            delta = json.loads(event.data)
            if delta.get("type") is None:
                text.append(delta["delta"])
        else:
            text.append(event.data)
    return "".join(text)


def other_events(events: list[Event]) -> list[tuple[str, str]]:
    return [(e.name, e.data) for e in events if e.name != "message"]


# --------------------------------------------------------------------------
# /metrics


class Metrics:
    def __init__(self, urls: list[str]) -> None:
        self.urls = list(dict.fromkeys(urls))  # one server given twice counts once

    def text(self, url: str) -> str:
        parts = urllib.parse.urlsplit(url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=READ_TIMEOUT_S)
        try:
            conn.request("GET", "/metrics")
            response = conn.getresponse()
            body = response.read().decode()
            expect_eq(response.status, 200, f"GET {url}/metrics status")
            return body
        finally:
            conn.close()

    def sum(self, name: str, alive: Callable[[str], bool] = lambda _: True, **labels: str) -> float:
        total = 0.0
        for url in self.urls:
            if alive(url):
                total += metric_sum(self.text(url), name, **labels)
        return total

    def wait_for(self, name: str, expected: float, what: str, **labels: str) -> None:
        """Waits until the sum reaches `expected`, then checks that it stays
        there for a moment (a second count would show up as more)."""
        deadline = time.monotonic() + METRICS_WAIT_S
        while True:
            value = self.sum(name, **labels)
            if value >= expected or time.monotonic() > deadline:
                break
            time.sleep(0.1)  # polling a counter
        if value == expected:
            time.sleep(0.5)  # a second count would be late, not absent
            value = self.sum(name, **labels)
        expect_eq(value, expected, f"{what}: {name}{labels or ''} over {self.urls}")


STREAMS = "llm_sse_streams_total"
RESUMES = "llm_sse_resumes_total"


# --------------------------------------------------------------------------
# The checks


@dataclass
class Pair:
    a: str
    b: str
    metrics: Metrics
    owner_pid: int | None
    abandon_s: float | None
    max_bytes: int | None = None
    ttl_s: float | None = None


def check_fresh_stream(p: Pair) -> None:
    # ttft and a short heartbeat: pings before the first token, which must
    # carry no id; the echo text tries to forge fields.
    # Text mode cannot carry CR (the spec reads it as a line break, and a
    # CRLF cut between two tokens as two): LF only here, CR in the JSON
    # and resume checks.
    prompt = HOSTILE.replace("\r\n", "\n").replace("\r", "\n")
    before = p.metrics.sum(STREAMS)
    stream = get(p.a, chat_path(prompt=prompt, echo=1, delay_ms=5, ttft_ms=300, heartbeat_ms=50))
    expect_eq(stream.status, 200, "status")
    expect(stream.headers.get("content-type", "").startswith("text/event-stream"),
           f"content-type: {stream.headers.get('content-type')!r}")
    check_framing(stream, "fresh stream")
    check_ids(stream.events, "fresh stream")
    expect_eq(stream.events[0].retry, "1000", "retry on the first event")
    expect(all(e.retry is None for e in stream.events[1:]), "retry only on the first event")
    check_done_last(stream, "fresh stream")
    expect(stream.comments >= 1, f"no heartbeat comment while the model waited 300 ms (heartbeat_ms=50)")
    expect_eq(answer_text(stream.events, json_format=False), prompt, "the echoed answer")
    p.metrics.wait_for(STREAMS, before + 1, "one generation")


def resume_round_trip(p: Pair, json_format: bool) -> None:
    params = dict(prompt=HOSTILE, echo=1, delay_ms=20)
    if json_format:
        params["format"] = "json"
    path = chat_path(**params)
    before = p.metrics.sum(STREAMS)
    replayed = p.metrics.sum(RESUMES, result="replayed")

    whole = get(p.a, path)
    expect_eq(whole.status, 200, "uninterrupted status")
    check_framing(whole, "uninterrupted")
    check_ids(whole.events, "uninterrupted")
    check_done_last(whole, "uninterrupted")
    expected_text = answer_text(whole.events, json_format)
    if json_format:
        expect_eq(expected_text, HOSTILE, "the uninterrupted JSON answer (echo: exactly the prompt)")
    p.metrics.wait_for(STREAMS, before + 1, "after the uninterrupted stream")

    k = 5
    first = SseReader(p.a, path)
    expect_eq(first.stream.status, 200, "first part status")
    head = first.read_events(k)
    first.close()
    stream_id = check_ids(head, "first part on A")
    expect(whole.events[0].id != head[0].id, "two requests got the same stream id")

    # As a browser reconnects: the same URL, with Last-Event-ID.
    rest = get(p.b, path, {"Last-Event-ID": head[-1].id})
    expect_eq(rest.status, 200, f"resume on B status (body {rest.body[:200]!r})")
    check_framing(rest, "resumed part on B")
    check_ids(rest.events, "resumed part on B", first_seq=k + 1, stream_id=stream_id)
    check_done_last(rest, "resumed part on B")
    events = head + rest.events
    ids = [e.id for e in events]
    expect_eq(len(ids), len(set(ids)), "each id once")
    expect_eq(answer_text(events, json_format), expected_text, "A's part + B's part vs the uninterrupted answer")
    expect_eq(other_events(events), other_events(whole.events), "named events (usage, finish) vs uninterrupted")
    p.metrics.wait_for(STREAMS, before + 2, "one generation for the cut and resumed stream")
    p.metrics.wait_for(RESUMES, replayed + 1, "one replayed resume", result="replayed")


def check_resume_text(p: Pair) -> None:
    resume_round_trip(p, json_format=False)


def check_resume_json(p: Pair) -> None:
    resume_round_trip(p, json_format=True)


def check_resume_after_end(p: Pair) -> None:
    before = p.metrics.sum(STREAMS)
    path = chat_path(prompt="resume after the end", tokens=20, delay_ms=10)
    first = SseReader(p.a, path)
    head = first.read_events(3)
    first.close()
    stream_id = check_ids(head, "first part")
    # The stream goes on with no reader and ends (20 tokens, 10 ms apart).
    p.metrics.wait_for(STREAMS, before + 1, "the unread stream ended")

    rest = get(p.b, "/chat", {"Last-Event-ID": head[-1].id})
    expect_eq(rest.status, 200, f"resume after the end: status (body {rest.body[:200]!r})")
    check_framing(rest, "replay after the end")
    check_ids(rest.events, "replay after the end", first_seq=4, stream_id=stream_id)
    check_done_last(rest, "replay after the end")
    expect_eq(answer_text(head + rest.events, False), harness.mock_text(20), "replayed answer")
    last = rest.events[-1].id

    for base in (p.a, p.b):
        got = get(base, "/chat", {"Last-Event-ID": last})
        expect_eq((got.status, got.body), (204, b""), f"resume with the last id {last} on {base}")

    unknown = p.metrics.sum(RESUMES, result="unknown")
    got = get(p.b, "/chat", {"Last-Event-ID": f"{unknown_stream_id()}:1"})
    expect_eq(got.status, 204, "resume with an unknown id")
    p.metrics.wait_for(RESUMES, unknown + 1, "an unknown id's resume", result="unknown")
    got = get(p.b, "/chat?" + urllib.parse.urlencode({"last_event_id": f"{unknown_stream_id()}:3"}))
    expect_eq(got.status, 204, "resume with an unknown id in the query")

    for bad in ("garbage", "short:1", f"{stream_id}:x", f"{stream_id}:-1", f"{stream_id}:1x",
                f"{stream_id[:-1]}!:1", f"{stream_id}:1:2", f"{stream_id}x:1"):
        got = get(p.b, "/chat", {"Last-Event-ID": bad})
        expect_eq(got.status, 400, f"resume with the malformed id {bad!r}")
    got = get(p.b, "/chat?last_event_id=garbage")
    expect_eq(got.status, 400, "a malformed last_event_id in the query")

    # The header wins over the query, both ways.
    query = urllib.parse.urlencode({"last_event_id": "garbage"})
    got = get(p.b, f"/chat?{query}", {"Last-Event-ID": head[0].id})
    expect_eq(got.status, 200, f"a good header and a malformed query: status (body {got.body[:200]!r})")
    check_ids(got.events, "a good header and a malformed query", first_seq=2, stream_id=stream_id)
    check_done_last(got, "a good header and a malformed query")
    query = urllib.parse.urlencode({"last_event_id": head[0].id})
    got = get(p.b, f"/chat?{query}", {"Last-Event-ID": f"{unknown_stream_id()}:1"})
    expect_eq(got.status, 204, "an unknown id in the header and a good one in the query")
    got = get(p.b, f"/chat?{query}", {"Last-Event-ID": "garbage"})
    expect_eq(got.status, 400, "a malformed header and a good query")
    # The query alone resumes too.
    got = get(p.a, f"/chat?{query}")
    expect_eq(got.status, 200, "resume from the query alone")
    check_ids(got.events, "resume from the query alone", first_seq=2, stream_id=stream_id)
    expect_eq(p.metrics.sum(STREAMS), before + 1, "resumes started no generation")


def check_stop_from_other_replica(p: Pair) -> None:
    stopped = p.metrics.sum(STREAMS, outcome="stopped")
    before = p.metrics.sum(STREAMS)
    asked = 400
    reader = SseReader(p.a, chat_path(prompt="stop me", tokens=asked, delay_ms=25))
    expect_eq(reader.stream.status, 200, "status")
    head = reader.read_events(3)
    stream_id = check_ids(head, "before the stop")

    status, body = post(p.b, f"/streams/{stream_id}/stop")
    expect_eq(status, 202, f"POST B/streams/{stream_id}/stop while it runs (body {body[:200]!r})")
    stopped_at = time.monotonic()
    stream = reader.read_to_end(deadline_s=LEASE_BOUND_S + 5)
    waited = time.monotonic() - stopped_at
    expect(waited <= LEASE_BOUND_S, f"the reader got its end {waited:.1f} s after the stop")
    check_framing(stream, "stopped stream")
    check_ids(stream.events, "stopped stream")
    check_done_last(stream, "stopped stream")
    tokens = sum(1 for e in stream.events if e.name == "message" and e.data != "[DONE]")
    expect(tokens < asked, f"{tokens} tokens of {asked}: the stop did not end the answer early")

    status, body = post(p.b, f"/streams/{stream.events[1].id}/stop")
    expect_eq(status, 200, f"a second stop, by an event id (body {body[:200]!r})")
    status, _ = post(p.a, f"/streams/{stream_id}/stop")
    expect_eq(status, 200, "a second stop on A")
    status, _ = post(p.b, f"/streams/{unknown_stream_id()}/stop")
    expect_eq(status, 404, "stop of an unknown stream")
    p.metrics.wait_for(STREAMS, stopped + 1, "one stopped stream", outcome="stopped")
    p.metrics.wait_for(STREAMS, before + 1, "one generation")

    replay = get(p.b, "/chat", {"Last-Event-ID": stream.events[0].id})
    expect_eq(replay.status, 200, "resume after the stop: status")
    expect_eq([(e.id, e.name, e.data) for e in replay.events],
              [(e.id, e.name, e.data) for e in stream.events[1:]], "replay after the stop vs what the reader got")


def check_abandoned_without_reader(p: Pair) -> None:
    if p.abandon_s is None:
        raise Skip("needs --abandon-s (the servers' RESUME_ABANDON_S)")
    abandoned = p.metrics.sum(STREAMS, outcome="abandoned")
    reader = SseReader(p.a, chat_path(prompt="nobody reads", tokens=100000, delay_ms=50))
    reader.read_events(2)
    reader.close()
    deadline = time.monotonic() + p.abandon_s + 10
    while p.metrics.sum(STREAMS, outcome="abandoned") < abandoned + 1:
        expect(time.monotonic() < deadline,
               f"no `abandoned` stream {p.abandon_s + 10:.0f} s after its only reader left")
        time.sleep(0.2)  # polling a counter
    p.metrics.wait_for(STREAMS, abandoned + 1, "one abandoned stream", outcome="abandoned")


def check_retention(p: Pair) -> None:
    if p.max_bytes is None or p.ttl_s is None:
        raise Skip("needs --max-bytes and --ttl-s (the servers' RESUME_MAX_BYTES and RESUME_TTL_S)")
    expired = p.metrics.sum(RESUMES, result="expired")
    tokens = 200
    stream = get(p.a, chat_path(prompt="a long answer", tokens=tokens, delay_ms=0))
    check_ids(stream.events, "the long stream")
    check_done_last(stream, "the long stream")
    size = sum(len(e.data) + len(e.id or "") for e in stream.events)
    expect(size > 2 * p.max_bytes, f"the stream's {size} bytes are too few to be trimmed at {p.max_bytes}")

    # The start of the log is gone: never a silent gap.
    got = get(p.b, "/chat", {"Last-Event-ID": stream.events[0].id})
    expect_eq(got.status, 410, f"resume from the trimmed start (body {got.body[:200]!r})")
    expect_eq(got.headers.get("content-type"), "application/json", "the 410's content-type")
    body = json.loads(got.body)
    expect(isinstance(body.get("error"), dict) and body["error"].get("message"), f"the 410's error body: {body!r}")
    p.metrics.wait_for(RESUMES, expired + 1, "a resume from a trimmed position", result="expired")

    # The end of the log is still there, until the TTL after the end.
    got = get(p.b, "/chat", {"Last-Event-ID": stream.events[-2].id})
    expect_eq(got.status, 200, f"resume from the last events (body {got.body[:200]!r})")
    expect_eq([(e.id, e.data) for e in got.events], [(stream.events[-1].id, "[DONE]")], "the replayed end")
    gone = p.metrics.sum(RESUMES, result="expired") + p.metrics.sum(RESUMES, result="unknown")
    deadline = time.monotonic() + p.ttl_s + 5
    while True:
        got = get(p.b, "/chat", {"Last-Event-ID": stream.events[-2].id})
        if got.status == 204:
            break
        expect_eq(got.status, 200, "resume before the TTL ran out")
        expect(time.monotonic() < deadline, f"the stream could still be resumed {p.ttl_s + 5:.0f} s after its end "
               f"(RESUME_TTL_S={p.ttl_s:g})")
        time.sleep(0.25)  # polling for the TTL
    expect_eq(got.body, b"", "the 204's body")
    now = p.metrics.sum(RESUMES, result="expired") + p.metrics.sum(RESUMES, result="unknown")
    expect_eq(now, gone + 1, "resumes counted `expired` or `unknown` after the TTL")


def check_owner_killed(p: Pair) -> None:
    if p.owner_pid is None:
        raise Skip("needs --owner-pid (or RESUME_OWNER_PID): the PID of A's process")
    expect(p.a != p.b, "A and B must be two processes")
    os.kill(p.owner_pid, 0)  # A's process exists (raises otherwise)
    owner = SseReader(p.a, chat_path(prompt="the owner dies", tokens=100000, delay_ms=50, heartbeat_ms=500))
    head = owner.read_events(3)
    stream_id = check_ids(head, "on A")
    tail = SseReader(p.b, chat_path(prompt="the owner dies", tokens=100000, delay_ms=50, heartbeat_ms=500),
                     {"Last-Event-ID": head[-1].id}, timeout=LEASE_BOUND_S + 5)
    expect_eq(tail.stream.status, 200, "resume on B")
    live = tail.read_events(3)  # past the replay, into the live tail
    check_ids(live, "on B before the kill", first_seq=4, stream_id=stream_id)

    os.kill(p.owner_pid, signal.SIGKILL)
    killed_at = time.monotonic()
    owner.close()
    error = None
    while error is None:
        event = tail.next_event()
        waited = time.monotonic() - killed_at
        expect(event is not None, f"B's reader saw the body end {waited:.1f} s after the kill with no error event "
               f"({tail.stream.error or 'clean end'})")
        expect(event.data != "[DONE]", f"B's reader got a clean [DONE] {waited:.1f} s after the owner was killed")
        expect(waited <= LEASE_BOUND_S + 1, f"no error event {waited:.1f} s after the kill")
        if event.name == "error":
            error = event
    waited = time.monotonic() - killed_at
    expect(waited <= LEASE_BOUND_S, f"the error event came {waited:.1f} s after the kill (bound {LEASE_BOUND_S:.0f} s)")
    stream = tail.read_to_end(deadline_s=5)
    expect(stream.events[-1] is error, f"events after the error: {[(e.name, e.data) for e in stream.events[-3:]]}")
    check_framing(stream, "B's reader")
    check_ids(stream.events, "B's reader", first_seq=4, stream_id=stream_id)
    expect(error.id is not None, "the error event has no id")

    replay = get(p.b, "/chat", {"Last-Event-ID": head[0].id})
    expect_eq(replay.status, 200, f"resume after the owner died: status (body {replay.body[:200]!r})")
    check_framing(replay, "replay after the owner died")
    check_ids(replay.events, "replay after the owner died", first_seq=2, stream_id=stream_id)
    last = replay.events[-1]
    expect_eq((last.id, last.name, last.data), (error.id, error.name, error.data),
              "the replay's last event vs the error B's reader got")
    print(f"      (error event {error.id} after {waited:.1f} s: {error.data[:120]})", flush=True)


class Skip(Exception):
    pass


CHECKS: list[tuple[str, Callable[[Pair], None]]] = [
    (fn.__name__.removeprefix("check_"), fn)
    for fn in (check_fresh_stream, check_resume_text, check_resume_json, check_resume_after_end,
               check_stop_from_other_replica, check_abandoned_without_reader, check_retention,
               check_owner_killed)
]


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("a", metavar="[A=]URL_A", help="the replica that starts (and owns) the streams")
    parser.add_argument("b", metavar="[B=]URL_B", help="the other replica (may be the same URL)")
    parser.add_argument("--owner-pid", type=int, default=os.environ.get("RESUME_OWNER_PID") or None,
                        help="PID of A's process, killed with SIGKILL by the last check")
    parser.add_argument("--abandon-s", type=float, default=None, help="the servers' RESUME_ABANDON_S")
    parser.add_argument("--max-bytes", type=int, default=None, help="the servers' RESUME_MAX_BYTES (small)")
    parser.add_argument("--ttl-s", type=float, default=None, help="the servers' RESUME_TTL_S (short)")
    parser.add_argument("-k", dest="only", default=None, help="run only checks whose name contains this")
    args = parser.parse_args()
    (_, a), (_, b) = (harness.parse_target(x, "http://127.0.0.1:PORT") for x in (args.a, args.b))
    for var in ("NO_PROXY", "no_proxy"):
        os.environ[var] = ",".join(filter(None, [os.environ.get(var), "127.0.0.1", "localhost", "::1"]))
    signal.signal(signal.SIGALRM, harness.on_alarm)

    pair = Pair(a, b, Metrics([a, b]), args.owner_pid, args.abandon_s, args.max_bytes, args.ttl_s)
    print(f"resume checks, Python {sys.version.split()[0]}: A={a} B={b}"
          f"{f' (owner pid {args.owner_pid})' if args.owner_pid else ''}", flush=True)
    passed = failed = skipped = 0
    for name, fn in CHECKS:
        if args.only and args.only not in name:
            continue

        def run(pair: Pair, fn: Callable[[Pair], None] = fn) -> None:
            try:
                fn(pair)
            except Skip as why:
                raise SkipSignal(str(why)) from None

        try:
            ok = harness.run_one(run, pair, name)
        except SkipSignal as why:
            print(f"skip  {name}: {why}", flush=True)
            skipped += 1
            continue
        passed, failed = passed + ok, failed + (not ok)
    print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""), flush=True)
    return 1 if failed or not passed else 0


class SkipSignal(BaseException):
    """A skip passes through `harness.run_one`, which fails any Exception."""


if __name__ == "__main__":
    sys.exit(main())
