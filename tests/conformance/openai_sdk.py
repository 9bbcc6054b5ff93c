#!/usr/bin/env python3
"""Conformance checks of the example servers against the official OpenAI SDK.

Drives `POST /v1/chat/completions` of one or more running example servers
(`axum_chat`, `actix_chat`) with the `openai` Python package pinned in
`requirements.txt`, and checks that what the SDK makes of the streams is
exactly what the servers' contract promises: tool calls, reasoning, length
cuts, usage, exact echo of hostile text, mid-stream errors, error statuses
and heartbeats.

Usage:

    python tests/conformance/openai_sdk.py [NAME=]BASE_URL [[NAME=]BASE_URL ...]

for example

    python tests/conformance/openai_sdk.py axum=http://127.0.0.1:3000/v1

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
    mock_text,
    user,
)


# `reasoning=5`: five reasoning tokens, one word each.
REASONING_5 = "The user wants an answer;"

# See `harness.hostile`: nothing forged after the fake `data: [DONE]`.
HOSTILE = hostile()

SEARCH_TOOL = {
    "type": "function",
    "function": {
        "name": "search",
        "description": "Search the knowledge base.",
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string"}},
            "required": ["query"],
        },
    },
}
STRICT_SEARCH_TOOL = {
    "type": "function",
    "function": {
        **SEARCH_TOOL["function"],
        "strict": True,
        "parameters": {
            **SEARCH_TOOL["function"]["parameters"],
            "additionalProperties": False,
        },
    },
}


# --------------------------------------------------------------------------
# Assertions with messages that say what was expected and what came instead.


def extra_field(model: Any, name: str) -> Any:
    """A field the SDK's types do not declare (e.g. `reasoning_content`),
    read both as an attribute and from `model_extra`; they must agree."""
    attr = getattr(model, name, None)
    extra = (getattr(model, "model_extra", None) or {}).get(name)
    expect(
        attr == extra,
        f"`{name}` as attribute ({attr!r}) and in model_extra ({extra!r}) disagree",
    )
    return attr


# --------------------------------------------------------------------------
# Stream accumulation for `create(stream=True)`.


@dataclass
class Collected:
    chunks: list[Any]
    content: str
    reasoning: str
    finish_reason: str | None
    # index -> {"id", "name", "arguments", "ids", "names"}
    tool_calls: dict[int, dict[str, Any]]

    @property
    def choice_chunks(self) -> list[Any]:
        return [c for c in self.chunks if c.choices]


def collect(stream: Any) -> Collected:
    chunks: list[Any] = []
    content, reasoning = [], []
    finish_reason = None
    tool_calls: dict[int, dict[str, Any]] = {}
    seen_content = False
    for chunk in stream:
        chunks.append(chunk)
        expect_eq(chunk.object, "chat.completion.chunk", "chunk.object")
        expect(bool(chunk.id), f"chunk without id: {chunk.to_json(indent=None)}")
        # Every chunk of one completion shares its id, model and created.
        first = chunks[0]
        expect_eq((chunk.id, chunk.model, chunk.created), (first.id, first.model, first.created), "chunk (id, model, created)")
        for choice in chunk.choices:
            expect_eq(choice.index, 0, "choice.index")
            expect(
                finish_reason is None,
                f"a chunk came after finish_reason {finish_reason!r}: {chunk.to_json(indent=None)}",
            )
            delta = choice.delta
            piece = extra_field(delta, "reasoning_content")
            if piece:
                expect(
                    not seen_content,
                    f"reasoning_content {piece!r} came after content started",
                )
                reasoning.append(piece)
            if delta.content:
                seen_content = True
                content.append(delta.content)
            for call in delta.tool_calls or []:
                slot = tool_calls.setdefault(
                    call.index, {"id": None, "name": None, "arguments": "", "ids": 0, "names": 0}
                )
                if call.id is not None:
                    slot["id"] = call.id
                    slot["ids"] += 1
                if call.function is not None:
                    if call.function.name is not None:
                        slot["name"] = call.function.name
                        slot["names"] += 1
                    slot["arguments"] += call.function.arguments or ""
            if choice.finish_reason is not None:
                finish_reason = choice.finish_reason
    return Collected(chunks, "".join(content), "".join(reasoning), finish_reason, tool_calls)


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


def check_search_call(tool_calls: Any, where: str) -> str:
    """One function call of `search` with `{"query": HOSTILE}`; returns the arguments."""
    expect(tool_calls is not None and len(tool_calls) == 1, f"{where}: expected exactly one tool call, got {tool_calls!r}")
    call = tool_calls[0]
    expect_eq(call.type, "function", f"{where}: tool_calls[0].type")
    expect(bool(call.id), f"{where}: tool_calls[0].id is empty: {call.id!r}")
    expect_eq(call.function.name, "search", f"{where}: tool_calls[0].function.name")
    arguments = call.function.arguments
    try:
        parsed = json.loads(arguments)
    except json.JSONDecodeError as err:
        raise CheckFailed(f"{where}: arguments are not valid JSON ({err}): {arguments!r}") from err
    expect_eq(parsed, {"query": HOSTILE}, f"{where}: json.loads(arguments)")
    return arguments


# 1. Tool calls -------------------------------------------------------------


@check
def check_tool_call_stream_helper(t: Target) -> None:
    deltas: list[str] = []
    done_events: list[Any] = []
    content_deltas: list[str] = []
    with t.client.chat.completions.stream(
        model="mock", messages=user(HOSTILE), tools=[SEARCH_TOOL], extra_query=knobs()
    ) as stream:
        for event in stream:
            if event.type == "tool_calls.function.arguments.delta":
                expect_eq(event.name, "search", "arguments.delta event name")
                expect_eq(event.index, 0, "arguments.delta event index")
                deltas.append(event.arguments_delta)
            elif event.type == "tool_calls.function.arguments.done":
                done_events.append(event)
            elif event.type == "content.delta" and event.delta:
                content_deltas.append(event.delta)
        final = stream.get_final_completion()

    expect_eq(len(final.choices), 1, "number of choices")
    choice = final.choices[0]
    expect_eq(choice.finish_reason, "tool_calls", "finish_reason")
    expect_eq(choice.message.role, "assistant", "message.role")
    expect(choice.message.content in (None, ""), f"content should be empty, got {choice.message.content!r}")
    expect(not content_deltas, f"content.delta events with text: {content_deltas!r}")
    arguments = check_search_call(choice.message.tool_calls, "get_final_completion()")
    expect(len(deltas) > 1, f"arguments should stream in fragments, got {len(deltas)} delta event(s)")
    expect_eq("".join(deltas), arguments, "concatenated arguments.delta events")
    expect_eq(len(done_events), 1, "number of tool_calls.function.arguments.done events")
    done = done_events[0]
    expect_eq(done.name, "search", "arguments.done name")
    expect_eq(done.index, 0, "arguments.done index")
    expect_eq(done.arguments, arguments, "arguments.done arguments")
    # Non-strict tools are not parsed by the SDK.
    expect(done.parsed_arguments is None, f"non-strict tool got parsed_arguments {done.parsed_arguments!r}")


@check
def check_tool_call_strict_parsed(t: Target) -> None:
    # With `strict: true` the SDK parses the arguments itself, partially on
    # every fragment (fragments end inside escapes and between \r and \n).
    done_events: list[Any] = []
    with t.client.chat.completions.stream(
        model="mock", messages=user(HOSTILE), tools=[STRICT_SEARCH_TOOL], extra_query=knobs()
    ) as stream:
        for event in stream:
            if event.type == "tool_calls.function.arguments.done":
                done_events.append(event)
        final = stream.get_final_completion()
    choice = final.choices[0]
    expect_eq(choice.finish_reason, "tool_calls", "finish_reason")
    check_search_call(choice.message.tool_calls, "get_final_completion()")
    expect_eq(choice.message.tool_calls[0].function.parsed_arguments, {"query": HOSTILE}, "final parsed_arguments")
    expect_eq(len(done_events), 1, "number of arguments.done events")
    expect_eq(done_events[0].parsed_arguments, {"query": HOSTILE}, "arguments.done parsed_arguments")


@check
def check_tool_call_create_stream(t: Target) -> None:
    got = collect(
        t.client.chat.completions.create(
            model="mock", messages=user(HOSTILE), tools=[SEARCH_TOOL], stream=True, extra_query=knobs()
        )
    )
    expect_eq(got.finish_reason, "tool_calls", "finish_reason")
    expect_eq(got.content, "", "content")
    expect_eq(sorted(got.tool_calls), [0], "tool call indices")
    call = got.tool_calls[0]
    # id and name come once, in the call's first fragment: clients that
    # accumulate deltas (like the SDK's helper) concatenate repeats.
    expect_eq(call["ids"], 1, "number of fragments carrying the call id")
    expect_eq(call["names"], 1, "number of fragments carrying the function name")
    expect_eq(call["name"], "search", "function name")
    expect_eq(json.loads(call["arguments"]), {"query": HOSTILE}, "json.loads(arguments)")


@check
def check_tool_call_non_stream(t: Target) -> None:
    completion = t.client.chat.completions.create(
        model="mock", messages=user(HOSTILE), tools=[SEARCH_TOOL], stream=False, extra_query=knobs()
    )
    expect_eq(completion.object, "chat.completion", "object")
    choice = completion.choices[0]
    expect_eq(choice.finish_reason, "tool_calls", "finish_reason")
    expect(choice.message.content in (None, ""), f"content should be empty, got {choice.message.content!r}")
    check_search_call(choice.message.tool_calls, "message")


@check
def check_tools_knob_calls_lookup(t: Target) -> None:
    with t.client.chat.completions.stream(
        model="mock", messages=user(HOSTILE), extra_query=knobs(tools=1)
    ) as stream:
        final = stream.get_final_completion()
    choice = final.choices[0]
    expect_eq(choice.finish_reason, "tool_calls", "finish_reason")
    calls = choice.message.tool_calls
    expect(calls is not None and len(calls) == 1, f"expected one tool call, got {calls!r}")
    expect_eq(calls[0].function.name, "lookup", "function name")
    expect_eq(json.loads(calls[0].function.arguments), {"query": HOSTILE}, "json.loads(arguments)")


# 2. Reasoning ---------------------------------------------------------------


@check
def check_reasoning_create_stream(t: Target) -> None:
    got = collect(
        t.client.chat.completions.create(
            model="mock", messages=user("why?"), stream=True, extra_query=knobs(reasoning=5)
        )
    )
    expect_eq(got.reasoning, REASONING_5, "concatenated delta.reasoning_content")
    expect_eq(got.content, mock_text(), "concatenated delta.content")
    expect_eq(got.finish_reason, "stop", "finish_reason")


@check
def check_reasoning_stream_helper(t: Target) -> None:
    with t.client.chat.completions.stream(
        model="mock", messages=user("why?"), extra_query=knobs(reasoning=5)
    ) as stream:
        final = stream.get_final_completion()
    message = final.choices[0].message
    expect_eq(extra_field(message, "reasoning_content"), REASONING_5, "final message.reasoning_content")
    expect_eq(message.content, mock_text(), "final message.content")
    expect_eq(final.choices[0].finish_reason, "stop", "finish_reason")


@check
def check_reasoning_non_stream(t: Target) -> None:
    completion = t.client.chat.completions.create(
        model="mock", messages=user("why?"), stream=False, extra_query=knobs(reasoning=5)
    )
    message = completion.choices[0].message
    expect_eq(extra_field(message, "reasoning_content"), REASONING_5, "message.reasoning_content")
    expect_eq(message.content, mock_text(), "message.content")
    expect(completion.usage is not None, "usage is missing")
    details = completion.usage.completion_tokens_details
    expect(details is not None, "usage.completion_tokens_details is missing")
    expect_eq(details.reasoning_tokens, 5, "usage.completion_tokens_details.reasoning_tokens")
    expect_eq(completion.usage.completion_tokens, DEFAULT_TOKENS + 5, "usage.completion_tokens")


# 3. Length ------------------------------------------------------------------


@check
def check_length_stream_helper(t: Target) -> None:
    with t.client.chat.completions.stream(
        model="mock", messages=user("hello"), max_tokens=3, extra_query=knobs()
    ) as stream:
        err = expect_raises(openai.LengthFinishReasonError, stream.get_final_completion, "get_final_completion()")
    choice = err.completion.choices[0]
    expect_eq(choice.finish_reason, "length", "LengthFinishReasonError.completion finish_reason")
    expect_eq(choice.message.content, "Streaming tokens as", "LengthFinishReasonError.completion content")


@check
def check_length_create_stream(t: Target) -> None:
    got = collect(
        t.client.chat.completions.create(
            model="mock", messages=user("hello"), max_tokens=3, stream=True, extra_query=knobs()
        )
    )
    expect(got.choice_chunks, "no chunk with choices")
    expect_eq(got.choice_chunks[-1].choices[0].finish_reason, "length", "finish_reason of the last choice chunk")
    expect_eq(got.content, "Streaming tokens as", "content")


@check
def check_length_counts_reasoning(t: Target) -> None:
    got = collect(
        t.client.chat.completions.create(
            model="mock",
            messages=user("hello"),
            max_completion_tokens=3,
            stream=True,
            stream_options={"include_usage": True},
            extra_query=knobs(reasoning=2),
        )
    )
    expect_eq(got.reasoning, "The user", "reasoning_content")
    expect_eq(got.content, "Streaming", "content")
    expect_eq(got.finish_reason, "length", "finish_reason")
    usage = got.chunks[-1].usage
    expect(usage is not None, "the last chunk carries no usage")
    expect_eq(usage.completion_tokens, 3, "usage.completion_tokens")
    expect_eq(usage.completion_tokens_details.reasoning_tokens, 2, "usage reasoning_tokens")


# 4. Usage -------------------------------------------------------------------


def check_usage_numbers(usage: Any, where: str, reasoning: int) -> None:
    expect(usage is not None, f"{where}: usage is None")
    expect_eq(usage.prompt_tokens, len(USAGE_PROMPT.split()), f"{where}: prompt_tokens")
    expect_eq(usage.completion_tokens, DEFAULT_TOKENS + reasoning, f"{where}: completion_tokens")
    expect_eq(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens, f"{where}: total_tokens")
    details = usage.completion_tokens_details
    expect(details is not None, f"{where}: completion_tokens_details is None")
    expect_eq(details.reasoning_tokens, reasoning, f"{where}: completion_tokens_details.reasoning_tokens")


@check
def check_usage_create_stream(t: Target) -> None:
    got = collect(
        t.client.chat.completions.create(
            model="mock",
            messages=user(USAGE_PROMPT),
            stream=True,
            stream_options={"include_usage": True},
            extra_query=knobs(reasoning=3),
        )
    )
    expect(len(got.chunks) >= 2, f"only {len(got.chunks)} chunk(s)")
    last = got.chunks[-1]
    expect_eq(last.choices, [], "choices of the final (usage) chunk")
    check_usage_numbers(last.usage, "final chunk", reasoning=3)
    carrying = [i for i, c in enumerate(got.chunks) if c.usage is not None]
    expect_eq(carrying, [len(got.chunks) - 1], "indices of chunks carrying usage")
    expect_eq(got.finish_reason, "stop", "finish_reason")


@check
def check_usage_stream_helper(t: Target) -> None:
    with t.client.chat.completions.stream(
        model="mock",
        messages=user(USAGE_PROMPT),
        stream_options={"include_usage": True},
        extra_query=knobs(reasoning=3),
    ) as stream:
        final = stream.get_final_completion()
    check_usage_numbers(final.usage, "get_final_completion().usage", reasoning=3)
    expect_eq(final.choices[0].message.content, mock_text(), "content")


@check
def check_no_usage_unless_asked(t: Target) -> None:
    got = collect(
        t.client.chat.completions.create(model="mock", messages=user(USAGE_PROMPT), stream=True, extra_query=knobs())
    )
    carrying = [i for i, c in enumerate(got.chunks) if c.usage is not None]
    expect_eq(carrying, [], "indices of chunks carrying usage without stream_options.include_usage")
    expect_eq(got.content, mock_text(), "content")


# 5. Echo exactness ----------------------------------------------------------


@check
def check_echo_create_stream(t: Target) -> None:
    got = collect(t.client.chat.completions.create(model="echo", messages=user(HOSTILE), stream=True, extra_query=knobs()))
    expect_eq(got.content, HOSTILE, "concatenated delta.content")
    expect_eq(got.finish_reason, "stop", "finish_reason")
    expect_eq(got.choice_chunks[0].choices[0].delta.role, "assistant", "role of the first delta")


@check
def check_echo_batched(t: Target) -> None:
    got = collect(
        t.client.chat.completions.create(model="echo", messages=user(HOSTILE), stream=True, extra_query=knobs(batch=4))
    )
    expect_eq(got.content, HOSTILE, "concatenated delta.content with batch=4")
    expect_eq(got.finish_reason, "stop", "finish_reason")


@check
def check_echo_stream_helper(t: Target) -> None:
    done: list[str] = []
    with t.client.chat.completions.stream(model="echo", messages=user(HOSTILE), extra_query=knobs()) as stream:
        for event in stream:
            if event.type == "content.done":
                done.append(event.content)
        final = stream.get_final_completion()
    expect_eq(done, [HOSTILE], "content.done events")
    expect_eq(final.choices[0].message.content, HOSTILE, "final message.content")
    expect_eq(final.choices[0].message.role, "assistant", "final message.role")


@check
def check_echo_non_stream(t: Target) -> None:
    completion = t.client.chat.completions.create(model="echo", messages=user(HOSTILE), stream=False, extra_query=knobs())
    expect_eq(completion.object, "chat.completion", "object")
    expect_eq(completion.choices[0].message.content, HOSTILE, "message.content")
    expect_eq(completion.choices[0].finish_reason, "stop", "finish_reason")
    usage = completion.usage
    expect(usage is not None, "usage is missing")
    expect_eq(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens, "usage.total_tokens")


@check
def check_echo_async_stream(t: Target) -> None:
    async def run() -> tuple[str, str | None]:
        async with t.async_client_factory() as client:
            stream = await client.chat.completions.create(
                model="echo", messages=user(HOSTILE), stream=True, extra_query=knobs()
            )
            parts, finish = [], None
            async for chunk in stream:
                for choice in chunk.choices:
                    parts.append(choice.delta.content or "")
                    finish = choice.finish_reason or finish
            return "".join(parts), finish

    content, finish = asyncio.run(run())
    expect_eq(content, HOSTILE, "AsyncOpenAI concatenated delta.content")
    expect_eq(finish, "stop", "finish_reason")


# 6. Mid-stream failure ------------------------------------------------------


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
    stream = t.client.chat.completions.create(
        model="mock", messages=user("hello"), stream=True, extra_query=knobs(fail_after=2)
    )
    parts: list[str] = []

    def drain() -> None:
        for chunk in stream:
            for choice in chunk.choices:
                parts.append(choice.delta.content or "")

    err = expect_raises(openai.APIError, drain, "iterating the stream")
    expect_stream_error(err, "create(stream=True)")
    expect_eq("".join(parts), "Streaming tokens", "content before the error")


@check
def check_mid_stream_failure_helper(t: Target) -> None:
    with t.client.chat.completions.stream(model="mock", messages=user("hello"), extra_query=knobs(fail_after=2)) as stream:
        err = expect_raises(openai.APIError, stream.get_final_completion, "get_final_completion()")
    expect_stream_error(err, ".stream() helper")


@check
def check_failure_non_stream(t: Target) -> None:
    err = expect_raises(
        openai.InternalServerError,
        lambda: t.client.chat.completions.create(
            model="mock", messages=user("hello"), stream=False, extra_query=knobs(fail_after=2)
        ),
        "create(stream=False) with fail_after=2",
    )
    expect_eq(err.status_code, failure_status(t.name), "status_code")


# 7. Error statuses ----------------------------------------------------------


def check_status(t: Target, status: int, kind: type[openai.APIStatusError]) -> None:
    for stream in (True, False):
        err = expect_raises(
            kind,
            lambda: t.client.chat.completions.create(
                model="mock", messages=user("hello"), stream=stream, extra_query=knobs(status=status)
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


@check
def check_bad_knob_400(t: Target) -> None:
    err = expect_raises(
        openai.BadRequestError,
        lambda: t.client.chat.completions.create(
            model="mock", messages=user("hello"), stream=True, extra_query=knobs(batch=0)
        ),
        "batch=0",
    )
    expect("batch" in err.message, f"the message should name the knob, got {err.message!r}")
    expect_eq(err.type, "invalid_request_error", "error type")


# 8. Heartbeats --------------------------------------------------------------

HEARTBEAT_KNOBS = knobs(ttft_ms=300, heartbeat_ms=20)


@check
def check_heartbeats_ignored(t: Target) -> None:
    got = collect(
        t.client.chat.completions.create(model="mock", messages=user("hello"), stream=True, extra_query=HEARTBEAT_KNOBS)
    )
    expect_eq(got.content, mock_text(), "content")
    expect_eq(got.finish_reason, "stop", "finish_reason")
    with t.client.chat.completions.stream(model="mock", messages=user("hello"), extra_query=HEARTBEAT_KNOBS) as stream:
        final = stream.get_final_completion()
    expect_eq(final.choices[0].message.content, mock_text(), ".stream() helper content")


@check
def check_heartbeats_sent(t: Target) -> None:
    # Makes sure the check above has something to ignore: comment lines
    # arrive while the model thinks.
    with t.client.chat.completions.with_streaming_response.create(
        model="mock", messages=user("hello"), stream=True, extra_query=HEARTBEAT_KNOBS
    ) as response:
        lines = list(response.iter_lines())
    comments = [line for line in lines if line.startswith(":")]
    expect(len(comments) >= 2, f"expected heartbeat comments during ttft_ms=300, got {len(comments)}")
    # The role chunk goes out at once; the heartbeats fill the wait for the
    # first token after it.
    first_content = next((i for i, line in enumerate(lines) if '"content":"Streaming' in line), len(lines))
    first_comment = next(i for i, line in enumerate(lines) if line.startswith(":"))
    expect(first_comment < first_content, "no heartbeat came before the first token")
    expect_eq(lines[-1] if lines[-1] else lines[-2], "data: [DONE]", "last data line")


# Strict validation ----------------------------------------------------------


@check
def check_strict_response_validation(t: Target) -> None:
    # The SDK validates every chunk and body against its types instead of
    # constructing them leniently.
    c = t.strict_client
    got = collect(
        c.chat.completions.create(
            model="mock",
            messages=user(USAGE_PROMPT),
            stream=True,
            stream_options={"include_usage": True},
            extra_query=knobs(reasoning=2),
        )
    )
    expect_eq(got.finish_reason, "stop", "finish_reason (reasoning + usage stream)")
    got = collect(
        c.chat.completions.create(
            model="mock", messages=user(HOSTILE), tools=[SEARCH_TOOL], stream=True, extra_query=knobs()
        )
    )
    expect_eq(got.finish_reason, "tool_calls", "finish_reason (tool call stream)")
    for extra in ({}, {"tools": [SEARCH_TOOL]}):
        completion = c.chat.completions.create(
            model="echo", messages=user(HOSTILE), stream=False, extra_query=knobs(reasoning=1), **extra
        )
        expect(completion.choices, "non-streamed completion without choices")


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
