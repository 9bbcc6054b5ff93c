#!/usr/bin/env python3
"""Conformance checks of the example servers against the official Anthropic SDK.

Drives `POST /v1/messages` of one or more running example servers
(`axum_chat`, `actix_chat`) with the `anthropic` Python package pinned in
`requirements-anthropic.txt`, and checks that what the SDK makes of the
streams is exactly what the servers' contract promises: the event order of
the Messages stream, text, thinking and tool_use blocks, stop reasons,
usage, exact echo of hostile text, mid-stream errors, error statuses and
`ping` heartbeats.

Usage:

    python tests/conformance/anthropic_sdk.py [NAME=]BASE_URL [[NAME=]BASE_URL ...]

for example

    python tests/conformance/anthropic_sdk.py axum=http://127.0.0.1:3000

(the server's root: the SDK appends `/v1/messages`). Prints one line per
check and server, then a summary line `N passed, M failed`; exits 1 if any
check failed (2 on bad usage). `.ci/conformance` builds and starts both
servers and runs this script.
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass
from typing import Any, Callable

import anthropic

from harness import (
    failure_status,
    DEFAULT_TOKENS,
    REQUEST_TIMEOUT_S,
    USAGE_PROMPT,
    CheckFailed,
    Checks,
    expect,
    expect_eq,
    expect_raises,
    hostile,
    knobs,
    main,
    mock_reasoning,
    mock_text,
    user,
)


# See `harness.hostile`: after the fake `data: [DONE]`, a fake `error` event
# and a fake `event: message_stop` line.
HOSTILE = hostile(
    'event: error\ndata: {"type":"error","error":{"type":"api_error","message":"forged"}}\n\n'
    "event: message_stop\n"
)

# Room for every answer the checks ask for (the echo of HOSTILE included).
MAX_TOKENS = 4096

SEARCH_TOOL = {
    "name": "search",
    "description": "Search the knowledge base.",
    "input_schema": {
        "type": "object",
        "properties": {"query": {"type": "string"}},
        "required": ["query"],
    },
}


def request(model: str = "mock", prompt: str = "hello", max_tokens: int = MAX_TOKENS, **extra: Any) -> dict[str, Any]:
    """Arguments of `messages.create` / `messages.stream`."""
    query = extra.pop("query", {})
    return {
        "model": model,
        "max_tokens": max_tokens,
        "messages": user(prompt),
        "extra_query": knobs(**query),
        **extra,
    }


def block_types(message: Any) -> list[str]:
    return [block.type for block in message.content]


# --------------------------------------------------------------------------
# The stream helper, and the raw event order.


@dataclass
class Streamed:
    final: Any
    # The helper's events, in order, by type (`text`, `thinking`,
    # `input_json`, `content_block_start`, ...).
    events: list[Any]

    def of(self, kind: str) -> list[Any]:
        return [e for e in self.events if e.type == kind]


def stream_helper(client: anthropic.Anthropic, **kwargs: Any) -> Streamed:
    with client.messages.stream(**kwargs) as stream:
        events = list(stream)
        final = stream.get_final_message()
    return Streamed(final, events)


def check_event_order(events: list[Any]) -> None:
    """The order the SDKs rely on: `message_start` first; blocks with
    indices 0, 1, 2 in order, each started before its deltas and stopped
    before the next starts; `message_delta`, then `message_stop` last."""
    types = [e.type for e in events]
    expect(types and types[0] == "message_start", f"the first event is not message_start: {types[:3]}")
    expect_eq(types[-2:], ["message_delta", "message_stop"], "the last two events")
    expect_eq(events[0].message.content, [], "message_start content")
    expect(events[0].message.stop_reason is None, "message_start stop_reason is not null")
    open_index, next_index = None, 0
    for event in events[1:-2]:
        if event.type == "content_block_start":
            expect(open_index is None, f"block {event.index} started before block {open_index} stopped")
            expect_eq(event.index, next_index, "content_block_start index")
            open_index, next_index = event.index, next_index + 1
        elif event.type == "content_block_delta":
            expect_eq(event.index, open_index, "content_block_delta index (the open block)")
        elif event.type == "content_block_stop":
            expect_eq(event.index, open_index, "content_block_stop index (the open block)")
            open_index = None
        else:
            raise CheckFailed(f"unexpected {event.type} event between message_start and message_delta")
    expect(open_index is None, f"block {open_index} was not stopped before message_delta")


def raw_lines(client: anthropic.Anthropic, **kwargs: Any) -> list[str]:
    with client.messages.with_streaming_response.create(stream=True, **kwargs) as response:
        return list(response.iter_lines())


def check_named_events(lines: list[str]) -> int:
    """Every event names itself (`event:` equal to its data's `type`, the
    SDK drops unnamed events) and has one `data:` line; returns the pings."""
    pings = 0
    event: list[str] = []
    for line in lines + [""]:
        if line:
            event.append(line)
            continue
        if not event:
            continue
        expect(len(event) == 2, f"an event is not exactly one event: and one data: line: {event!r}")
        name, data = event
        expect(name.startswith("event: ") and data.startswith("data: "), f"malformed event {event!r}")
        payload = json.loads(data.removeprefix("data: "))
        expect_eq(payload.get("type"), name.removeprefix("event: "), "event name vs data type")
        if payload["type"] == "ping":
            expect_eq(data, 'data: {"type": "ping"}', "ping data, as the API sends it")
            pings += 1
        event = []
    return pings


def check_usage(usage: Any, where: str, output: int, thinking: int | None = None) -> None:
    expect_eq(usage.input_tokens, len(USAGE_PROMPT.split()), f"{where}: usage.input_tokens")
    expect_eq(usage.output_tokens, output, f"{where}: usage.output_tokens")
    if thinking is not None:
        details = usage.output_tokens_details
        expect(details is not None, f"{where}: usage.output_tokens_details is missing")
        expect_eq(details.thinking_tokens, thinking, f"{where}: output_tokens_details.thinking_tokens")


def same_message(actual: Any, expected: Any, what: str) -> None:
    """Two answers to the same request agree in all but their ids."""
    a, e = actual.model_dump(), expected.model_dump()
    for dump in (a, e):
        dump.pop("id")
        for block in dump["content"]:
            if block.get("type") == "tool_use":
                block.pop("id")
    expect_eq(a, e, what)


# --------------------------------------------------------------------------
# The checks. Each takes a `Target` and raises on failure.


@dataclass
class Target:
    name: str
    base_url: str
    client: anthropic.Anthropic
    strict_client: anthropic.Anthropic
    async_client_factory: Callable[[], anthropic.AsyncAnthropic]


CHECKS: Checks[Target] = Checks()
check = CHECKS.add


# 1. Text, usage, the event order ---------------------------------------------


@check
def check_text_stream_helper(t: Target) -> None:
    got = stream_helper(t.client, **request(prompt=USAGE_PROMPT))
    final = got.final
    expect_eq((final.type, final.role, final.model), ("message", "assistant", "mock"), "type, role, model")
    expect(final.id.startswith("msg_"), f"message id {final.id!r} does not start with msg_")
    expect_eq(block_types(final), ["text"], "content block types")
    expect_eq(final.content[0].text, mock_text(), "text")
    expect_eq("".join(e.text for e in got.of("text")), mock_text(), "concatenated text events")
    expect_eq(final.stop_reason, "end_turn", "stop_reason")
    expect(final.stop_sequence is None, f"stop_sequence should be null, got {final.stop_sequence!r}")
    check_usage(final.usage, "get_final_message()", output=DEFAULT_TOKENS)
    check_event_order([e for e in got.events if e.type in RAW_TYPES])


RAW_TYPES = {
    "message_start", "content_block_start", "content_block_delta", "content_block_stop",
    "message_delta", "message_stop",
}


@check
def check_text_stream_create(t: Target) -> None:
    events = list(t.client.messages.create(stream=True, **request(prompt=USAGE_PROMPT)))
    check_event_order(events)
    text = "".join(e.delta.text for e in events if e.type == "content_block_delta")
    expect_eq(text, mock_text(), "concatenated text_delta")
    delta = events[-2]
    expect_eq(delta.delta.stop_reason, "end_turn", "message_delta stop_reason")
    expect_eq(delta.usage.output_tokens, DEFAULT_TOKENS, "message_delta usage.output_tokens")
    input_tokens = events[0].message.usage.input_tokens
    if t.name.startswith("gateway") and input_tokens == 0:
        # A gateway learns the prompt's tokens from an OpenAI upstream only
        # at the end; message_delta carries them.
        input_tokens = delta.usage.input_tokens
    expect_eq(input_tokens, len(USAGE_PROMPT.split()), "message_start usage.input_tokens")


@check
def check_every_event_is_named(t: Target) -> None:
    for query in ({}, {"reasoning": 2}, {"tools": 1}):
        lines = raw_lines(t.client, **request(prompt=HOSTILE, query=query))
        check_named_events(lines)
        expect(not any(line == "data: [DONE]" for line in lines), f"a [DONE] line with {query}")


@check
def check_text_text_stream(t: Target) -> None:
    with t.client.messages.stream(**request()) as stream:
        text = "".join(stream.text_stream)
    expect_eq(text, mock_text(), "text_stream")


# 2. Thinking -----------------------------------------------------------------


@check
def check_thinking_stream_helper(t: Target) -> None:
    got = stream_helper(t.client, **request(prompt=USAGE_PROMPT, query={"reasoning": 5}))
    final = got.final
    expect_eq(block_types(final), ["thinking", "text"], "content block types")
    expect_eq(final.content[0].thinking, mock_reasoning(5), "thinking")
    expect(isinstance(final.content[0].signature, str), f"thinking signature is not a string: {final.content[0].signature!r}")
    expect_eq(final.content[1].text, mock_text(), "text")
    expect_eq("".join(e.thinking for e in got.of("thinking")), mock_reasoning(5), "concatenated thinking events")
    expect_eq(final.stop_reason, "end_turn", "stop_reason")
    check_usage(final.usage, "get_final_message()", output=DEFAULT_TOKENS + 5, thinking=5)
    # The message can go back to the API as the assistant's turn.
    param = final.to_param()
    expect_eq(param["content"][0].type, "thinking", "to_param() first block")


@check
def check_thinking_non_stream(t: Target) -> None:
    message = t.client.messages.create(**request(prompt=USAGE_PROMPT, query={"reasoning": 5}))
    expect_eq(block_types(message), ["thinking", "text"], "content block types")
    expect_eq(message.content[0].thinking, mock_reasoning(5), "thinking")
    expect_eq(message.content[1].text, mock_text(), "text")
    check_usage(message.usage, "message", output=DEFAULT_TOKENS + 5, thinking=5)


# 3. Tool use -----------------------------------------------------------------


def check_tool_use(message: Any, name: str, where: str) -> Any:
    tools = [block for block in message.content if block.type == "tool_use"]
    expect(len(tools) == 1, f"{where}: expected exactly one tool_use block, got {block_types(message)}")
    tool = tools[0]
    expect(bool(tool.id), f"{where}: tool_use id is empty")
    expect_eq(tool.name, name, f"{where}: tool_use name")
    expect_eq(tool.input, {"query": HOSTILE}, f"{where}: tool_use input")
    expect_eq(message.stop_reason, "tool_use", f"{where}: stop_reason")
    return tool


@check
def check_tool_use_stream_helper(t: Target) -> None:
    got = stream_helper(t.client, **request(prompt=HOSTILE, tools=[SEARCH_TOOL]))
    expect_eq(block_types(got.final), ["tool_use"], "content block types")
    check_tool_use(got.final, "search", "get_final_message()")
    partial = [e.partial_json for e in got.of("input_json")]
    expect(len(partial) > 1, f"the input should stream in fragments, got {len(partial)} input_json event(s)")
    expect_eq(json.loads("".join(partial)), {"query": HOSTILE}, "json.loads of the joined partial_json")
    expect_eq(got.of("input_json")[-1].snapshot, {"query": HOSTILE}, "the last input_json snapshot")
    stops = [e for e in got.of("content_block_stop")]
    expect_eq([s.content_block.type for s in stops], ["tool_use"], "content_block_stop blocks")
    check_event_order([e for e in got.events if e.type in RAW_TYPES])


@check
def check_tool_use_after_thinking(t: Target) -> None:
    got = stream_helper(t.client, **request(prompt=HOSTILE, tools=[SEARCH_TOOL], query={"reasoning": 3}))
    expect_eq(block_types(got.final), ["thinking", "tool_use"], "content block types")
    expect_eq(got.final.content[0].thinking, mock_reasoning(3), "thinking")
    check_tool_use(got.final, "search", "get_final_message()")
    expect(got.final.usage.output_tokens > 3, f"output_tokens {got.final.usage.output_tokens} should count the input too")


@check
def check_tools_knob_calls_lookup(t: Target) -> None:
    got = stream_helper(t.client, **request(prompt=HOSTILE, query={"tools": 1}))
    check_tool_use(got.final, "lookup", "get_final_message()")


@check
def check_tool_use_non_stream(t: Target) -> None:
    message = t.client.messages.create(**request(prompt=HOSTILE, tools=[SEARCH_TOOL]))
    expect_eq(block_types(message), ["tool_use"], "content block types")
    check_tool_use(message, "search", "message")
    streamed = stream_helper(t.client, **request(prompt=HOSTILE, tools=[SEARCH_TOOL])).final
    same_message(message, streamed, "stream=False message vs the streamed one")


# 4. Echo exactness -------------------------------------------------------------


@check
def check_echo_stream_helper(t: Target) -> None:
    got = stream_helper(t.client, **request(model="echo", prompt=HOSTILE))
    expect_eq(block_types(got.final), ["text"], "content block types")
    expect_eq(got.final.content[0].text, HOSTILE, "final text")
    expect_eq("".join(e.text for e in got.of("text")), HOSTILE, "concatenated text events")
    expect_eq(got.final.stop_reason, "end_turn", "stop_reason")


@check
def check_echo_batched(t: Target) -> None:
    with t.client.messages.stream(**request(model="echo", prompt=HOSTILE, query={"batch": 4})) as stream:
        text = "".join(stream.text_stream)
    expect_eq(text, HOSTILE, "text_stream with batch=4")


@check
def check_echo_block_content_and_system(t: Target) -> None:
    # Content as blocks, and a system prompt, as the SDK's users send them.
    args = request(model="echo", system="You are terse.")
    args["messages"] = [
        {"role": "user", "content": "an earlier question"},
        {"role": "assistant", "content": [{"type": "text", "text": "an earlier answer"}]},
        {"role": "user", "content": [{"type": "text", "text": HOSTILE}]},
    ]
    got = stream_helper(t.client, **args)
    expect_eq(got.final.content[0].text, HOSTILE, "echo of the last user message's text block")


@check
def check_echo_non_stream(t: Target) -> None:
    message = t.client.messages.create(**request(model="echo", prompt=HOSTILE))
    expect_eq((message.type, message.role), ("message", "assistant"), "type, role")
    expect_eq(block_types(message), ["text"], "content block types")
    expect_eq(message.content[0].text, HOSTILE, "text")
    expect_eq(message.stop_reason, "end_turn", "stop_reason")
    streamed = stream_helper(t.client, **request(model="echo", prompt=HOSTILE)).final
    same_message(message, streamed, "stream=False message vs the streamed one")


@check
def check_echo_async_stream(t: Target) -> None:
    async def run() -> tuple[str, Any]:
        async with t.async_client_factory() as client:
            async with client.messages.stream(**request(model="echo", prompt=HOSTILE)) as stream:
                parts = [text async for text in stream.text_stream]
                final = await stream.get_final_message()
            return "".join(parts), final

    text, final = asyncio.run(run())
    expect_eq(text, HOSTILE, "AsyncAnthropic text_stream")
    expect_eq(final.content[0].text, HOSTILE, "AsyncAnthropic final text")


# 5. max_tokens -------------------------------------------------------------------


@check
def check_max_tokens_stream_helper(t: Target) -> None:
    got = stream_helper(t.client, **request(prompt=USAGE_PROMPT, max_tokens=3))
    expect_eq(got.final.stop_reason, "max_tokens", "stop_reason")
    expect_eq(got.final.content[0].text, "Streaming tokens as", "text")
    check_usage(got.final.usage, "get_final_message()", output=3)


@check
def check_max_tokens_counts_thinking(t: Target) -> None:
    got = stream_helper(t.client, **request(prompt=USAGE_PROMPT, max_tokens=3, query={"reasoning": 2}))
    expect_eq(block_types(got.final), ["thinking", "text"], "content block types")
    expect_eq(got.final.content[0].thinking, "The user", "thinking")
    expect_eq(got.final.content[1].text, "Streaming", "text")
    expect_eq(got.final.stop_reason, "max_tokens", "stop_reason")
    check_usage(got.final.usage, "get_final_message()", output=3, thinking=2)


@check
def check_max_tokens_non_stream(t: Target) -> None:
    message = t.client.messages.create(**request(prompt=USAGE_PROMPT, max_tokens=3))
    expect_eq(message.stop_reason, "max_tokens", "stop_reason")
    expect_eq(message.content[0].text, "Streaming tokens as", "text")


@check
def check_missing_max_tokens_400(t: Target) -> None:
    # The SDK insists on max_tokens; a raw request shows the server does too.
    err = expect_raises(
        anthropic.BadRequestError,
        lambda: t.client.post(
            "/v1/messages",
            cast_to=anthropic.types.Message,
            body={"model": "mock", "messages": user("hello")},
            options={"params": knobs()},
        ),
        "a request without max_tokens",
    )
    expect_eq(err.type, "invalid_request_error", "error type")
    expect("max_tokens" in str(err.message), f"the message should name max_tokens, got {err.message!r}")


# 6. Heartbeats -------------------------------------------------------------------

HEARTBEAT_KNOBS = {"ttft_ms": 300, "heartbeat_ms": 20}


@check
def check_heartbeats_ignored(t: Target) -> None:
    got = stream_helper(t.client, **request(query=HEARTBEAT_KNOBS))
    expect_eq(got.final.content[0].text, mock_text(), "text")
    expect_eq(got.final.stop_reason, "end_turn", "stop_reason")
    expect(not got.of("ping"), "ping events reached the helper")


@check
def check_heartbeats_sent(t: Target) -> None:
    # Makes sure the check above has something to ignore: `ping` events
    # arrive while the model thinks, after `message_start`.
    lines = raw_lines(t.client, **request(query=HEARTBEAT_KNOBS))
    pings = check_named_events(lines)
    expect(pings >= 2, f"expected ping events during ttft_ms=300, got {pings}")
    names = [line.removeprefix("event: ") for line in lines if line.startswith("event: ")]
    expect_eq(names[0], "message_start", "the first event")
    expect_eq(names[1], "ping", "the event after message_start, while the model thinks")
    expect_eq(names[-1], "message_stop", "the last event")


# 7. Failures -------------------------------------------------------------------


def expect_stream_error(err: BaseException, where: str) -> None:
    # The SDK raises an `error` event as APIStatusError (with the HTTP
    # status of the stream, 200) carrying the event's error object.
    expect(isinstance(err, anthropic.APIStatusError), f"{where}: not an APIStatusError: {type(err).__qualname__}")
    expect_eq(err.type, "api_error", f"{where}: error type")
    expect(isinstance(err.body, dict), f"{where}: error body should be the error event, got {err.body!r}")
    expect_eq(err.body.get("type"), "error", f"{where}: body type")
    message = err.body["error"]["message"]
    expect("failed after 2 tokens" in message, f"{where}: unexpected error message {message!r}")


@check
def check_mid_stream_failure_helper(t: Target) -> None:
    parts: list[str] = []

    def drain() -> None:
        with t.client.messages.stream(**request(query={"fail_after": 2})) as stream:
            for text in stream.text_stream:
                parts.append(text)

    err = expect_raises(anthropic.APIStatusError, drain, "the stream helper")
    expect_stream_error(err, ".stream() helper")
    expect_eq("".join(parts), "Streaming tokens", "text before the error")


@check
def check_mid_stream_failure_create(t: Target) -> None:
    events: list[Any] = []

    def drain() -> None:
        for event in t.client.messages.create(stream=True, **request(query={"fail_after": 2})):
            events.append(event)

    err = expect_raises(anthropic.APIStatusError, drain, "iterating create(stream=True)")
    expect_stream_error(err, "create(stream=True)")
    types = [e.type for e in events]
    expect_eq(types[0], "message_start", "first event")
    expect("message_delta" not in types and "message_stop" not in types, f"the failed stream ended normally: {types}")


@check
def check_failure_non_stream(t: Target) -> None:
    err = expect_raises(
        anthropic.InternalServerError,
        lambda: t.client.messages.create(**request(query={"fail_after": 2})),
        "create(stream=False) with fail_after=2",
    )
    expect_eq(err.status_code, failure_status(t.name), "status_code")
    expect_eq(err.type, "api_error", "error type")


# 8. Error statuses --------------------------------------------------------------


def check_status(t: Target, status: int, kind: type[anthropic.APIStatusError], error_type: str) -> None:
    for stream in (True, False):
        def call() -> Any:
            if stream:
                with t.client.messages.stream(**request(query={"status": status})) as s:
                    return s.get_final_message()
            return t.client.messages.create(**request(query={"status": status}))

        err = expect_raises(kind, call, f"status={status} with stream={stream}")
        expect_eq(type(err), kind, f"error class (stream={stream})")
        expect_eq(err.status_code, status, f"status_code (stream={stream})")
        expect_eq(err.type, error_type, f"error type (stream={stream})")
        expect(
            f"answered {status}" in (err.api_message or ""),
            f"the message should come from the body's error.message, got {err.api_message!r}",
        )


@check
def check_status_429_rate_limit(t: Target) -> None:
    check_status(t, 429, anthropic.RateLimitError, "rate_limit_error")


@check
def check_status_529_overloaded(t: Target) -> None:
    check_status(t, 529, anthropic.OverloadedError, "overloaded_error")
    expect(issubclass(anthropic.OverloadedError, anthropic.InternalServerError), "OverloadedError is a server error")


@check
def check_status_500_api_error(t: Target) -> None:
    check_status(t, 500, anthropic.InternalServerError, "api_error")


@check
def check_bad_knob_400(t: Target) -> None:
    err = expect_raises(
        anthropic.BadRequestError,
        lambda: t.client.messages.create(stream=True, **request(query={"batch": 0})),
        "batch=0",
    )
    expect("batch" in str(err.api_message), f"the message should name the knob, got {err.api_message!r}")
    expect_eq(err.type, "invalid_request_error", "error type")


# Strict validation ----------------------------------------------------------


@check
def check_strict_response_validation(t: Target) -> None:
    # The SDK validates every event and body against its types instead of
    # constructing them leniently.
    c = t.strict_client
    got = stream_helper(c, **request(prompt=USAGE_PROMPT, query={"reasoning": 2}))
    expect_eq(block_types(got.final), ["thinking", "text"], "blocks (reasoning stream)")
    got = stream_helper(c, **request(prompt=HOSTILE, tools=[SEARCH_TOOL], query={"reasoning": 1}))
    check_tool_use(got.final, "search", "tool stream")
    for extra in ({}, {"tools": [SEARCH_TOOL]}):
        message = c.messages.create(**request(model="echo", prompt=HOSTILE, query={"reasoning": 1}), **extra)
        expect(message.content, "non-streamed message without content")
    message = c.messages.create(**request(prompt=HOSTILE, tools=[SEARCH_TOOL], max_tokens=4))
    expect_eq(message.stop_reason, "max_tokens", "cut tool call stop_reason")
    expect(isinstance(message.content[0].input, dict), "a cut tool call's input is still an object")


# --------------------------------------------------------------------------
# Runner.


def make_target(name: str, base_url: str) -> Target:
    common: dict[str, Any] = {
        "base_url": base_url,
        "api_key": "sk-ant-conformance",
        "max_retries": 0,
        "timeout": REQUEST_TIMEOUT_S,
    }
    return Target(
        name=name,
        base_url=base_url,
        client=anthropic.Anthropic(**common),
        strict_client=anthropic.Anthropic(**common, _strict_response_validation=True),
        async_client_factory=lambda: anthropic.AsyncAnthropic(**common),
    )


def close_target(target: Target) -> None:
    target.client.close()
    target.strict_client.close()


if __name__ == "__main__":
    sys.exit(
        main(
            __doc__,
            sdk=f"anthropic {anthropic.__version__}",
            url_form="http://HOST:PORT",
            checks=CHECKS,
            make_target=make_target,
            close_target=close_target,
        )
    )
