"""What only a gateway can show. Each argument is `GATEWAY_URL=UPSTREAM_URL`;
the upstream is one of the example servers, whose `/metrics` counts its
streams by outcome. For every client API the gateway serves:

- the upstream's `429` (the `status=429` knob; the example servers send
  `retry-after: 1` with it) reaches the client as a `429` with the same
  `retry-after`, in the client API's own error shape;
- a conversation with a tool call and its result (model `echo`, not
  streamed) is translated to the upstream's format and answered;
- a streaming request for a long, slow answer is read until its first
  event and then closed; the upstream must then count one more
  `cancelled` stream and have no stream left open. The wait for the
  upstream to notice is bounded (10 s), so a gateway that keeps the
  upstream request open fails instead of hanging.
"""

from __future__ import annotations

import http.client
import json
import sys
import time
import urllib.parse

# Run as `python tests/conformance/gateway.py`: this folder is on sys.path.
from harness import metric_sum

SLOW = {"tokens": 100000, "delay_ms": 20}
BODIES = {
    "/v1/chat/completions": {"model": "mock", "stream": True, "messages": [{"role": "user", "content": "hi"}]},
    "/v1/responses": {"model": "mock", "stream": True, "input": "hi"},
    "/v1/messages": {"model": "mock", "stream": True, "max_tokens": 1000000, "messages": [{"role": "user", "content": "hi"}]},
    "/api/chat": {"messages": [{"id": "1", "role": "user", "parts": [{"type": "text", "text": "hi"}]}]},
}
WAIT_S = 10.0


def connect(base: str) -> http.client.HTTPConnection:
    url = urllib.parse.urlsplit(base)
    return http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port or 80, timeout=20)


def get_metrics(upstream: str) -> str:
    conn = connect(upstream)
    try:
        conn.request("GET", "/metrics")
        return conn.getresponse().read().decode()
    finally:
        conn.close()


def cancelled_and_active(upstream: str) -> tuple[float, float]:
    metrics = get_metrics(upstream)
    return (
        metric_sum(metrics, "llm_sse_streams_total", outcome="cancelled"),
        metric_sum(metrics, "llm_sse_active_streams"),
    )


def error_shape(path: str, content_type: str, body: bytes) -> str | None:
    """Whether a 429 body is in the error shape of the API at `path`."""
    if path == "/api/chat":
        ok = content_type.startswith("text/plain") and b"429" in body
        return None if ok else f"expected a text error, got {content_type}: {body!r}"
    try:
        error = json.loads(body)
    except ValueError:
        return f"not JSON: {body!r}"
    if path == "/v1/messages":
        ok = error.get("type") == "error" and error.get("error", {}).get("type") == "rate_limit_error"
    else:
        ok = error.get("error", {}).get("code") == "rate_limit_exceeded"
    return None if ok else f"not the {path} error shape: {body!r}"


def post(base: str, target: str, body: dict) -> tuple[http.client.HTTPResponse, bytes]:
    """A whole JSON POST: the response and its body."""
    conn = connect(base)
    try:
        conn.request("POST", target, body=json.dumps(body), headers={"content-type": "application/json"})
        response = conn.getresponse()
        return response, response.read()
    finally:
        conn.close()


def check_429(gateway: str, path: str) -> str | None:
    target = "{}?{}".format(path, urllib.parse.urlencode({"status": 429}))
    response, body = post(gateway, target, BODIES[path])
    if response.status != 429:
        return f"status {response.status}, expected 429: {body!r}"
    if response.getheader("retry-after") != "1":
        return f"retry-after {response.getheader('retry-after')!r}, expected '1'"
    return error_shape(path, response.getheader("content-type") or "", body)


MULTI_TURN = {
    "/v1/chat/completions": {"model": "echo", "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function",
            "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18 C"},
        {"role": "user", "content": "And now?"},
    ]},
    "/v1/responses": {"model": "echo", "instructions": "Be brief.", "input": [
        {"role": "user", "content": "Weather in Paris?"},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "18 C"},
        {"role": "user", "content": "And now?"},
    ]},
    "/v1/messages": {"model": "echo", "max_tokens": 100, "system": "Be brief.", "messages": [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "call_1", "name": "get_weather",
            "input": {"city": "Paris"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "18 C"},
            {"type": "text", "text": "And now?"}]},
    ]},
}


def answer_text(path: str, body: dict) -> str:
    if path == "/v1/chat/completions":
        return body["choices"][0]["message"]["content"]
    if path == "/v1/responses":
        return "".join(part["text"] for item in body["output"] for part in item.get("content", []))
    return "".join(block.get("text", "") for block in body["content"])


def check_multi_turn(gateway: str, path: str) -> str | None:
    """A conversation with a tool call and its result goes through the
    translation to the upstream's format and back (the echo model answers
    with the last user message)."""
    response, raw = post(gateway, path, MULTI_TURN[path])
    if response.status != 200:
        return f"status {response.status}: {raw!r}"
    text = answer_text(path, json.loads(raw))
    return None if text == "And now?" else f"answered {text!r}, expected the last user message"


def check_cancel(gateway: str, upstream: str, path: str) -> str | None:
    cancelled, active = cancelled_and_active(upstream)
    conn = connect(gateway)
    try:
        conn.request(
            "POST",
            f"{path}?{urllib.parse.urlencode(SLOW)}",
            body=json.dumps(BODIES[path]),
            headers={"content-type": "application/json"},
        )
        response = conn.getresponse()
        if response.status != 200:
            return f"status {response.status}: {response.read()!r}"
        while True:
            line = response.readline()
            if not line:
                return "the stream ended before its first event"
            if line.startswith(b"data:"):
                break
    finally:
        conn.close()  # the client leaves
    deadline = time.monotonic() + WAIT_S
    while True:
        now_cancelled, now_active = cancelled_and_active(upstream)
        if now_cancelled >= cancelled + 1 and now_active <= active:
            return None
        if time.monotonic() > deadline:
            return (
                f"after {WAIT_S:.0f} s the upstream counts {now_cancelled - cancelled:.0f} more cancelled "
                f"stream(s) and {now_active:.0f} active (was {active:.0f})"
            )
        time.sleep(0.05)  # polling the upstream's metrics


def main() -> int:
    failed = 0
    passed = 0
    for pair in sys.argv[1:]:
        gateway, _, upstream = pair.partition("=")
        gateway, upstream = gateway.rstrip("/"), upstream.rstrip("/")
        for path in BODIES:
            checks = [
                ("the upstream's 429 came through, retry-after and shape right", lambda: check_429(gateway, path)),
                ("a client that left cancelled the upstream stream", lambda: check_cancel(gateway, upstream, path)),
            ]
            if path in MULTI_TURN:
                checks.append(
                    ("a conversation with a tool call and its result went through", lambda: check_multi_turn(gateway, path))
                )
            for what, run in checks:
                problem = run()
                label = f"{gateway}{path} -> {upstream}"
                if problem:
                    failed += 1
                    print(f"FAIL  {label}\n      {problem}", flush=True)
                else:
                    passed += 1
                    print(f"ok    {label}: {what}", flush=True)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
