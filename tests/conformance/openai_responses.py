#!/usr/bin/env python3
"""Conformance checks of the example servers' Responses API against the
official OpenAI SDK.

Drives `POST /v1/responses` of one or more running example servers
(`axum_chat`, `actix_chat`) with the `openai` Python package pinned in
`requirements.txt`, and checks that what the SDK makes of the streams is
exactly what the servers' contract promises: the `responses.stream()`
helper's final response (text, reasoning, usage), function calls with
hostile arguments, exact echo of hostile text, `response.incomplete` at
`max_output_tokens`, heartbeats, mid-stream failures, error statuses, and
`stream=False`. Every event is also read raw, to check that its SSE `event:`
name equals its data's `type` and that `sequence_number` counts up from 0.

Usage:

    python tests/conformance/openai_responses.py [NAME=]BASE_URL [[NAME=]BASE_URL ...]

for example

    python tests/conformance/openai_responses.py axum=http://127.0.0.1:3000/v1

Prints one line per check and server, then a summary line
`N passed, M failed`; exits 1 if any check failed (2 on bad usage).
`.ci/conformance` builds and starts both servers and runs this script.
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass
from typing import Any, Callable

import openai

from harness import (
    failure_status,
    DEFAULT_TOKENS,
    REASONING_WORDS,
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
    short,
)


# See `harness.hostile`: after the fake `data: [DONE]`, a fake
# `response.completed` event.
HOSTILE = hostile("event: response.completed\ndata: {\"type\":\"error\"}\n\n")

# `USAGE_PROMPT` in words: the input_tokens the servers count.
USAGE_PROMPT_TOKENS = 5

# Responses tools are flat: `name` and `parameters` at the top.
SEARCH_TOOL = {
    "type": "function",
    "name": "search",
    "description": "Search the knowledge base.",
    "parameters": {
        "type": "object",
        "properties": {"query": {"type": "string"}},
        "required": ["query"],
    },
}
STRICT_SEARCH_TOOL = {
    **SEARCH_TOOL,
    "strict": True,
    "parameters": {**SEARCH_TOOL["parameters"], "additionalProperties": False},
}


# --------------------------------------------------------------------------
# Event order: what every Responses stream must look like.


def check_events(events: list[Any], *, terminal: str = "response.completed") -> Any:
    """Checks the order and bookkeeping of a whole stream of typed events:
    `response.created` then `response.in_progress` first; `sequence_number`
    0, 1, 2, ...; one output item open at a time, with `output_index` 0, 1,
    2 in order; every delta and `.done` event about the open item; the
    `.done` texts equal the joined deltas; `terminal` last, with every item
    as its `response.output_item.done` had it. Returns the terminal event."""
    expect(len(events) >= 3, f"only {len(events)} event(s): {[e.type for e in events]}")
    types = [e.type for e in events]
    expect_eq(types[:2], ["response.created", "response.in_progress"], "first two events")
    expect_eq(types[-1], terminal, "last event")
    expect_eq(
        [e.sequence_number for e in events], list(range(len(events))), "sequence_number of each event"
    )
    response_id = events[0].response.id
    expect(bool(response_id), "response.created without a response id")
    for e in events[:2]:
        expect_eq(e.response.status, "in_progress", f"{e.type} response.status")
        expect_eq(e.response.output, [], f"{e.type} response.output")
    open_item: Any = None  # (output_index, item id, type, joined deltas)
    done_items: list[Any] = []
    for e in events[2:-1]:
        t = e.type
        if t == "response.output_item.added":
            expect(open_item is None, f"item {e.output_index} added before item {open_item and open_item[0]} was done")
            expect_eq(e.output_index, len(done_items), "output_index of a new item")
            expect_eq(e.item.status, "in_progress", "status of an added item")
            open_item = [e.output_index, e.item.id, e.item.type, ""]
            continue
        expect(open_item is not None, f"{t} outside of any output item")
        index, item_id, item_type, joined = open_item
        expect_eq(e.output_index, index, f"{t} output_index")
        if t == "response.output_item.done":
            expect_eq((e.item.id, e.item.type), (item_id, item_type), "item.done id and type")
            done_items.append(e.item)
            open_item = None
            continue
        expect_eq(e.item_id, item_id, f"{t} item_id")
        if t in ("response.output_text.delta", "response.reasoning_text.delta", "response.function_call_arguments.delta"):
            open_item[3] += e.delta
        elif t in ("response.output_text.done", "response.reasoning_text.done"):
            expect_eq(e.text, joined, f"{t} text (the joined deltas)")
        elif t == "response.function_call_arguments.done":
            expect_eq(e.arguments, joined, f"{t} arguments (the joined deltas)")
        elif t == "response.content_part.done":
            expect_eq(e.part.text, joined, f"{t} part.text")
        elif t == "response.content_part.added":
            expect_eq(e.part.text, "", f"{t} part.text")
        else:
            raise CheckFailed(f"unexpected event {t} inside item {index}")
    expect(open_item is None, f"item {open_item and open_item[0]} was never done")
    last = events[-1]
    expect_eq(last.response.id, response_id, f"{terminal} response.id")
    expect_eq(
        [plain(item) for item in last.response.output],
        [plain(item) for item in done_items],
        f"{terminal} response.output (the items as done)",
    )
    return last


def plain(item: Any) -> Any:
    """An output item as a dict, without what the stream helper adds
    (`parsed`, `parsed_arguments`)."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in ("parsed", "parsed_arguments")}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return strip(item.to_dict())


def raw_events(stream: Any) -> list[dict[str, Any]]:
    """The events of a raw `with_streaming_response` body: every frame is an
    `event:` line equal to its data's `type` and one `data:` line; comment
    lines (heartbeats) are skipped."""
    events: list[dict[str, Any]] = []
    name: str | None = None
    data: list[str] = []
    for line in stream.iter_lines():
        if line.startswith(":"):
            continue
        if line == "":
            if name is None and not data:
                continue
            expect(name is not None, f"a frame without an `event:` line: data {short(data)}")
            expect_eq(len(data), 1, f"data lines of a {name} frame")
            payload = json.loads(data[0])
            expect_eq(payload.get("type"), name, "data.type of an `event: " + name + "` frame")
            events.append(payload)
            name, data = None, []
        elif line.startswith("event: "):
            expect(name is None, f"two `event:` lines in one frame: {name!r}, {line!r}")
            name = line[len("event: "):]
        elif line.startswith("data: "):
            data.append(line[len("data: "):])
        else:
            raise CheckFailed(f"unexpected line in the stream: {line!r}")
    expect(name is None and not data, "the stream ended inside a frame")
    return events


# --------------------------------------------------------------------------
# The checks. Each takes a `Target` and raises on failure.


@dataclass
class Target:
    name: str
    base_url: str
    client: openai.OpenAI
    strict_client: openai.OpenAI
    async_client_factory: Callable[[], openai.AsyncOpenAI]


CHECKS: Checks[Target] = Checks()
check = CHECKS.add


def check_usage(usage: Any, where: str, *, output: int, reasoning: int) -> None:
    expect(usage is not None, f"{where}: usage is missing")
    expect_eq(usage.input_tokens, USAGE_PROMPT_TOKENS, f"{where}: usage.input_tokens")
    expect_eq(usage.output_tokens, output, f"{where}: usage.output_tokens")
    expect_eq(usage.total_tokens, USAGE_PROMPT_TOKENS + output, f"{where}: usage.total_tokens")
    expect_eq(usage.output_tokens_details.reasoning_tokens, reasoning, f"{where}: output_tokens_details.reasoning_tokens")
    expect_eq(usage.input_tokens_details.cached_tokens, 0, f"{where}: input_tokens_details.cached_tokens")


def check_function_call(output: list[Any], name: str, where: str) -> Any:
    """Exactly one function call, of `name` with `{"query": HOSTILE}`."""
    calls = [item for item in output if item.type == "function_call"]
    expect_eq(len(calls), 1, f"{where}: number of function_call items")
    call = calls[0]
    expect_eq(call.name, name, f"{where}: function_call.name")
    expect(bool(call.call_id), f"{where}: function_call.call_id is empty")
    expect(bool(call.id) and call.id.startswith("fc_"), f"{where}: function_call.id {call.id!r}")
    try:
        parsed = json.loads(call.arguments)
    except json.JSONDecodeError as err:
        raise CheckFailed(f"{where}: arguments are not valid JSON ({err}): {call.arguments!r}") from err
    expect_eq(parsed, {"query": HOSTILE}, f"{where}: json.loads(arguments)")
    return call


# 1. The stream helper: text, reasoning, usage ------------------------------


@check
def check_stream_helper_text_and_usage(t: Target) -> None:
    events: list[Any] = []
    deltas: list[str] = []
    with t.client.responses.stream(model="mock", input=USAGE_PROMPT, extra_query=knobs(reasoning=3)) as stream:
        for event in stream:
            events.append(event)
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
                expect(event.snapshot.endswith(event.delta), "output_text.delta snapshot")
        final = stream.get_final_response()
    check_events(events)
    expect_eq(final.status, "completed", "final status")
    expect_eq(final.output_text, mock_text(), "final output_text")
    expect_eq("".join(deltas), mock_text(), "joined output_text.delta events")
    expect_eq([item.type for item in final.output], ["reasoning", "message"], "output item types")
    message = final.output[1]
    expect_eq((message.role, message.status), ("assistant", "completed"), "message role and status")
    expect(message.id.startswith("msg_"), f"message id {message.id!r}")
    expect_eq(final.incomplete_details, None, "incomplete_details")
    expect_eq(final.error, None, "error")
    check_usage(final.usage, "final usage", output=DEFAULT_TOKENS + 3, reasoning=3)


@check
def check_reasoning_text(t: Target) -> None:
    reasoning_deltas: list[str] = []
    done: list[str] = []
    with t.client.responses.stream(model="mock", input="hello", extra_query=knobs(reasoning=5)) as stream:
        for event in stream:
            if event.type == "response.reasoning_text.delta":
                reasoning_deltas.append(event.delta)
                expect_eq(event.content_index, 0, "reasoning_text.delta content_index")
            elif event.type == "response.reasoning_text.done":
                done.append(event.text)
            elif event.type == "response.output_text.delta":
                expect_eq(len(done), 1, "reasoning done before the first output_text.delta")
        final = stream.get_final_response()
    expect_eq(reasoning_deltas, REASONING_WORDS[:5], "reasoning_text.delta events (one word a token)")
    expect_eq(done, [mock_reasoning(5)], "reasoning_text.done events")
    reasoning = final.output[0]
    expect_eq(reasoning.type, "reasoning", "first output item")
    expect(reasoning.id.startswith("rs_"), f"reasoning id {reasoning.id!r}")
    expect_eq([(c.type, c.text) for c in reasoning.content or []], [("reasoning_text", mock_reasoning(5))], "reasoning content")
    expect_eq(final.output_text, mock_text(), "output_text after reasoning")


@check
def check_raw_event_names(t: Target) -> None:
    # The SSE `event:` name of every frame is its data's `type`; nothing
    # but event, data and comment lines; no `[DONE]`.
    with t.client.responses.with_streaming_response.create(
        model="mock", input=HOSTILE, tools=[SEARCH_TOOL], stream=True, extra_query=knobs(reasoning=2)
    ) as response:
        expect(
            response.headers.get("content-type", "").startswith("text/event-stream"),
            f"content-type {response.headers.get('content-type')!r}",
        )
        events = raw_events(response)
    types = [e["type"] for e in events]
    expect_eq(types[0], "response.created", "first event")
    expect_eq(types[-1], "response.completed", "last event")
    expect_eq([e["sequence_number"] for e in events], list(range(len(events))), "sequence_number of each event")
    expect("response.reasoning_text.delta" in types, "no reasoning_text.delta event")
    expect("response.function_call_arguments.delta" in types, "no function_call_arguments.delta event")


# 2. Function calls ----------------------------------------------------------


@check
def check_function_call_stream_helper(t: Target) -> None:
    events: list[Any] = []
    deltas: list[str] = []
    with t.client.responses.stream(
        model="mock", input=HOSTILE, tools=[SEARCH_TOOL], extra_query=knobs()
    ) as stream:
        for event in stream:
            events.append(event)
            if event.type == "response.function_call_arguments.delta":
                deltas.append(event.delta)
            elif event.type == "response.output_text.delta":
                raise CheckFailed(f"text alongside the call: {event.delta!r}")
        final = stream.get_final_response()
    check_events(events)
    expect_eq(final.status, "completed", "final status")
    call = check_function_call(final.output, "search", "get_final_response()")
    expect(len(deltas) > 1, f"arguments should stream in fragments, got {len(deltas)} delta event(s)")
    expect_eq("".join(deltas), call.arguments, "joined function_call_arguments.delta events")
    expect_eq(call.status, "completed", "function_call.status")
    expect(call.parsed_arguments is None, f"non-strict tool got parsed_arguments {call.parsed_arguments!r}")
    expect_eq(final.output_text, "", "output_text of a tool call")


@check
def check_function_call_strict_parsed(t: Target) -> None:
    # With `strict: true` the helper parses the arguments itself.
    with t.client.responses.stream(
        model="mock", input=HOSTILE, tools=[STRICT_SEARCH_TOOL], extra_query=knobs()
    ) as stream:
        final = stream.get_final_response()
    call = check_function_call(final.output, "search", "get_final_response()")
    expect_eq(call.parsed_arguments, {"query": HOSTILE}, "parsed_arguments")


@check
def check_function_call_create_stream(t: Target) -> None:
    events = list(
        t.client.responses.create(
            model="mock", input=HOSTILE, tools=[SEARCH_TOOL], stream=True, extra_query=knobs(reasoning=2)
        )
    )
    last = check_events(events)
    expect_eq([item.type for item in last.response.output], ["reasoning", "function_call"], "output item types")
    check_function_call(last.response.output, "search", "response.completed")
    added = [e.item for e in events if e.type == "response.output_item.added" and e.item.type == "function_call"]
    expect_eq(len(added), 1, "function_call items added")
    expect_eq(added[0].arguments, "", "arguments of the added function_call")
    expect_eq(added[0].name, "search", "name of the added function_call")


@check
def check_tools_knob_calls_lookup(t: Target) -> None:
    with t.client.responses.stream(model="mock", input=HOSTILE, extra_query=knobs(tools=1)) as stream:
        final = stream.get_final_response()
    check_function_call(final.output, "lookup", "tools=1")


@check
def check_function_call_non_stream(t: Target) -> None:
    response = t.client.responses.create(
        model="mock", input=HOSTILE, tools=[SEARCH_TOOL], stream=False, extra_query=knobs(reasoning=1)
    )
    expect_eq(response.object, "response", "object")
    expect_eq(response.status, "completed", "status")
    expect_eq([item.type for item in response.output], ["reasoning", "function_call"], "output item types")
    check_function_call(response.output, "search", "create(stream=False)")


# 3. Echo exactness ------------------------------------------------------------


@check
def check_echo_create_stream(t: Target) -> None:
    events = list(t.client.responses.create(model="echo", input=HOSTILE, stream=True, extra_query=knobs()))
    last = check_events(events)
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    expect_eq(text, HOSTILE, "joined output_text.delta events")
    expect_eq(last.response.output_text, HOSTILE, "response.completed output_text")


@check
def check_echo_batched(t: Target) -> None:
    events = list(t.client.responses.create(model="echo", input=HOSTILE, stream=True, extra_query=knobs(batch=4)))
    check_events(events)
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    expect_eq(text, HOSTILE, "joined output_text.delta events with batch=4")


@check
def check_echo_stream_helper(t: Target) -> None:
    done: list[str] = []
    with t.client.responses.stream(model="echo", input=HOSTILE, extra_query=knobs()) as stream:
        for event in stream:
            if event.type == "response.output_text.done":
                done.append(event.text)
        final = stream.get_final_response()
    expect_eq(done, [HOSTILE], "output_text.done events")
    expect_eq(final.output_text, HOSTILE, "final output_text")


@check
def check_echo_message_list_input(t: Target) -> None:
    # `input` as messages, with content parts, and `instructions`: the
    # model echoes the last user message.
    messages = [
        {"role": "user", "content": "an earlier question"},
        {"role": "assistant", "content": "an earlier answer"},
        {"role": "user", "content": [{"type": "input_text", "text": HOSTILE}]},
    ]
    with t.client.responses.stream(
        model="echo", input=messages, instructions="Answer briefly.", extra_query=knobs()
    ) as stream:
        final = stream.get_final_response()
    expect_eq(final.output_text, HOSTILE, "final output_text")
    expect_eq(final.usage.input_tokens, len(HOSTILE.split()), "usage.input_tokens (words of the last user message)")


@check
def check_echo_non_stream(t: Target) -> None:
    response = t.client.responses.create(model="echo", input=HOSTILE, stream=False, extra_query=knobs())
    expect_eq(response.object, "response", "object")
    expect_eq(response.status, "completed", "status")
    expect_eq(response.output_text, HOSTILE, "output_text")


@check
def check_echo_async_stream(t: Target) -> None:
    async def run() -> tuple[str, str]:
        async with t.async_client_factory() as client:
            async with client.responses.stream(model="echo", input=HOSTILE, extra_query=knobs()) as stream:
                parts = [e.delta async for e in stream if e.type == "response.output_text.delta"]
                final = await stream.get_final_response()
            return "".join(parts), final.output_text

    joined, final_text = asyncio.run(run())
    expect_eq(joined, HOSTILE, "AsyncOpenAI joined output_text.delta events")
    expect_eq(final_text, HOSTILE, "AsyncOpenAI final output_text")


# 4. Non-streamed answers --------------------------------------------------------


@check
def check_non_stream_text_and_usage(t: Target) -> None:
    response = t.client.responses.create(
        model="mock", input=USAGE_PROMPT, stream=False, extra_query=knobs(reasoning=2)
    )
    expect_eq(response.status, "completed", "status")
    expect_eq(response.output_text, mock_text(), "output_text")
    expect_eq([item.type for item in response.output], ["reasoning", "message"], "output item types")
    expect_eq(response.output[0].content[0].text, mock_reasoning(2), "reasoning text")
    check_usage(response.usage, "usage", output=DEFAULT_TOKENS + 2, reasoning=2)


# 5. max_output_tokens -----------------------------------------------------------


@check
def check_incomplete_max_output_tokens(t: Target) -> None:
    # Reasoning counts against the limit: 2 reasoning + 2 text tokens.
    events = list(
        t.client.responses.create(
            model="mock", input=USAGE_PROMPT, max_output_tokens=4, stream=True, extra_query=knobs(reasoning=2)
        )
    )
    last = check_events(events, terminal="response.incomplete")
    response = last.response
    expect_eq(response.status, "incomplete", "status")
    expect(response.incomplete_details is not None, "incomplete_details is missing")
    expect_eq(response.incomplete_details.reason, "max_output_tokens", "incomplete_details.reason")
    expect_eq(response.max_output_tokens, 4, "max_output_tokens echoed")
    expect_eq(response.output_text, mock_text(2), "output_text")
    expect_eq(response.output[-1].status, "incomplete", "status of the cut message")
    check_usage(response.usage, "usage", output=4, reasoning=2)
    # The stream helper passes the event on; with openai 3.57,
    # get_final_response() wants a `response.completed` and raises
    # RuntimeError. Either way the event must come through, last.
    with t.client.responses.stream(
        model="mock", input=USAGE_PROMPT, max_output_tokens=4, extra_query=knobs(reasoning=2)
    ) as stream:
        types = [event.type for event in stream]
        expect_eq(types[-1], "response.incomplete", "last event through the stream helper")
        try:
            final = stream.get_final_response()
        except RuntimeError:
            pass
        else:
            expect_eq(final.status, "incomplete", "stream helper final status")


@check
def check_incomplete_non_stream(t: Target) -> None:
    response = t.client.responses.create(
        model="mock", input=HOSTILE, tools=[SEARCH_TOOL], max_output_tokens=3, stream=False, extra_query=knobs()
    )
    expect_eq(response.status, "incomplete", "status")
    expect_eq(response.incomplete_details.reason, "max_output_tokens", "incomplete_details.reason")
    calls = [item for item in response.output if item.type == "function_call"]
    expect_eq(len(calls), 1, "function calls")
    expect_eq(calls[0].status, "incomplete", "status of the cut call")


# 6. Heartbeats ------------------------------------------------------------------

HEARTBEAT_KNOBS = knobs(ttft_ms=300, heartbeat_ms=20)


@check
def check_heartbeats_ignored(t: Target) -> None:
    with t.client.responses.stream(model="mock", input="hello", extra_query=HEARTBEAT_KNOBS) as stream:
        final = stream.get_final_response()
    expect_eq(final.output_text, mock_text(), "stream helper output_text")
    events = list(t.client.responses.create(model="mock", input="hello", stream=True, extra_query=HEARTBEAT_KNOBS))
    check_events(events)


@check
def check_heartbeats_sent(t: Target) -> None:
    # Makes sure the check above has something to ignore: comment lines
    # arrive while the model thinks, after the first two events.
    with t.client.responses.with_streaming_response.create(
        model="mock", input="hello", stream=True, extra_query=HEARTBEAT_KNOBS
    ) as response:
        lines = list(response.iter_lines())
    comments = [i for i, line in enumerate(lines) if line.startswith(":")]
    expect(len(comments) >= 2, f"expected heartbeat comments during ttft_ms=300, got {len(comments)}")
    first_delta = next((i for i, line in enumerate(lines) if "response.output_text.delta" in line), len(lines))
    expect(comments[0] < first_delta, "no heartbeat came before the first text delta")
    expect(not any(line.startswith("data: [DONE]") for line in lines), "a `data: [DONE]` line")


# 7. Failures --------------------------------------------------------------------


def expect_stream_error(err: BaseException, where: str) -> None:
    # APIConnectionError and APIStatusError are APIErrors too, but mean a cut
    # connection or an HTTP status, not an error event in the stream.
    expect(
        not isinstance(err, (openai.APIConnectionError, openai.APIStatusError)),
        f"{where}: expected the stream's error event as openai.APIError, got {type(err).__qualname__}: {err}",
    )
    expect("failed after 2 tokens" in err.message, f"{where}: unexpected error message {err.message!r}")
    expect(isinstance(err.body, dict), f"{where}: error body should be the error object, got {err.body!r}")


@check
def check_mid_stream_failure_create(t: Target) -> None:
    stream = t.client.responses.create(model="mock", input="hello", stream=True, extra_query=knobs(fail_after=2))
    parts: list[str] = []

    def drain() -> None:
        for event in stream:
            if event.type == "response.output_text.delta":
                parts.append(event.delta)

    err = expect_raises(openai.APIError, drain, "iterating the stream")
    expect_stream_error(err, "create(stream=True)")
    expect_eq("".join(parts), mock_text(2), "text before the error")


@check
def check_mid_stream_failure_helper(t: Target) -> None:
    with t.client.responses.stream(model="mock", input="hello", extra_query=knobs(fail_after=2)) as stream:
        err = expect_raises(openai.APIError, stream.get_final_response, "get_final_response()")
    expect_stream_error(err, ".stream() helper")


@check
def check_mid_stream_failure_events(t: Target) -> None:
    # Raw: an `error` event, then `response.failed` last, with the output so
    # far and the error.
    with t.client.responses.with_streaming_response.create(
        model="mock", input="hello", stream=True, extra_query=knobs(fail_after=2)
    ) as response:
        events = raw_events(response)
    expect_eq([e["type"] for e in events[-2:]], ["error", "response.failed"], "last two events")
    expect_eq([e["sequence_number"] for e in events], list(range(len(events))), "sequence_number of each event")
    error, failed = events[-2], events[-1]["response"]
    expect("failed after 2 tokens" in error.get("message", ""), f"error event message {error.get('message')!r}")
    expect_eq(failed["status"], "failed", "response.failed status")
    expect("failed after 2 tokens" in (failed.get("error") or {}).get("message", ""), f"response.error {failed.get('error')!r}")
    texts = [part["text"] for item in failed["output"] if item["type"] == "message" for part in item["content"]]
    expect_eq(texts, [mock_text(2)], "response.failed output text")


@check
def check_failure_non_stream(t: Target) -> None:
    err = expect_raises(
        openai.InternalServerError,
        lambda: t.client.responses.create(model="mock", input="hello", stream=False, extra_query=knobs(fail_after=2)),
        "create(stream=False) with fail_after=2",
    )
    expect_eq(err.status_code, failure_status(t.name), "status_code")


# 8. Error statuses ------------------------------------------------------------


def check_status(t: Target, status: int, kind: type[openai.APIStatusError]) -> None:
    for stream in (True, False):
        err = expect_raises(
            kind,
            lambda: t.client.responses.create(
                model="mock", input="hello", stream=stream, extra_query=knobs(status=status)
            ),
            f"status={status} with stream={stream}",
        )
        expect_eq(err.status_code, status, f"status_code (stream={stream})")
        expect(
            f"answered {status}" in err.message,
            f"the error message should come from the body's error.message, got {err.message!r}",
        )


@check
def check_status_429_rate_limit(t: Target) -> None:
    check_status(t, 429, openai.RateLimitError)


@check
def check_status_503_internal(t: Target) -> None:
    check_status(t, 503, openai.InternalServerError)


# Strict validation ------------------------------------------------------------


@check
def check_strict_response_validation(t: Target) -> None:
    # The SDK validates every event and body against its types instead of
    # constructing them leniently.
    c = t.strict_client
    for extra, query in (({}, knobs(reasoning=2)), ({"tools": [SEARCH_TOOL]}, knobs(reasoning=1))):
        check_events(list(c.responses.create(model="mock", input=HOSTILE, stream=True, extra_query=query, **extra)))
        response = c.responses.create(model="echo", input=HOSTILE, stream=False, extra_query=query, **extra)
        expect(response.output, "non-streamed response without output")
    events = list(c.responses.create(model="mock", input="hi", max_output_tokens=3, stream=True, extra_query=knobs(reasoning=2)))
    check_events(events, terminal="response.incomplete")


# --------------------------------------------------------------------------
# Runner.


def make_target(name: str, base_url: str) -> Target:
    common: dict[str, Any] = {
        "base_url": base_url,
        "api_key": "sk-conformance",
        "max_retries": 0,
        "timeout": REQUEST_TIMEOUT_S,
    }
    return Target(
        name=name,
        base_url=base_url,
        client=openai.OpenAI(**common),
        strict_client=openai.OpenAI(**common, _strict_response_validation=True),
        async_client_factory=lambda: openai.AsyncOpenAI(**common),
    )


def close_target(target: Target) -> None:
    target.client.close()
    target.strict_client.close()


if __name__ == "__main__":
    sys.exit(
        main(
            __doc__,
            sdk=f"openai {openai.__version__}",
            url_form="http://HOST:PORT/v1",
            checks=CHECKS,
            make_target=make_target,
            close_target=close_target,
        )
    )
