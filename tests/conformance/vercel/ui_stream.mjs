#!/usr/bin/env node
// Conformance checks of the example servers' `POST /api/chat` against the
// Vercel AI SDK's own client.
//
// Drives `POST /api/chat` of one or more running example servers
// (`axum_chat`, `actix_chat`) with the `ai` npm package pinned in
// `package-lock.json`: the same `AbstractChat` engine and
// `DefaultChatTransport` that `useChat` runs in the browser (with a plain
// state object instead of React's), so the body posted is the one `useChat`
// posts and the stream is read, validated and folded into a message exactly
// as `useChat` does. Checks that the message the SDK builds is exactly what
// the mock model sent (text, reasoning, tool input; hostile text included),
// that finish reasons, mid-stream errors and error statuses surface as the
// SDK reports them, that heartbeats are ignored, that the response carries
// `x-vercel-ai-ui-message-stream: v1`, and that every chunk on the wire
// validates against the package's own `uiMessageChunkSchema` and comes in
// the order the protocol needs.
//
// Usage:
//
//     npm ci
//     node ui_stream.mjs [-k SUBSTRING] [NAME=]BASE_URL [[NAME=]BASE_URL ...]
//
// for example `node ui_stream.mjs axum=http://127.0.0.1:3000`. Prints one
// line per check and server, then `N passed, M failed`; exits 1 if any
// check failed (2 on bad usage). `.ci/conformance` builds and starts both
// servers and runs this script.

import { readFileSync } from 'node:fs';
import { inspect, isDeepStrictEqual } from 'node:util';

import {
  AbstractChat,
  DefaultChatTransport,
  parseJsonEventStream,
  uiMessageChunkSchema,
} from 'ai';

// Every check gets this long (wall clock) before it is failed as hung.
const CHECK_TIMEOUT_MS = 30_000;

// What the mock model says: one word per token (see examples/shared/mod.rs).
const MOCK_WORDS = [
  'Streaming', ' tokens', ' as', ' server', '-sent', ' events',
  ' keeps', ' the', ' first', ' token', ' fast', '.',
];
const REASONING_WORDS = [
  'The', ' user', ' wants', ' an', ' answer;', ' think', ' it', ' through.',
];
const DEFAULT_TOKENS = 10;

const mockText = (count = DEFAULT_TOKENS) =>
  Array.from({ length: count }, (_, i) => MOCK_WORDS[i % MOCK_WORDS.length]).join('');
const mockReasoning = count =>
  Array.from({ length: count }, (_, i) => REASONING_WORDS[i % REASONING_WORDS.length]).join('');

// A user message that breaks naive JSON or SSE encoders: quotes,
// backslashes (also before a quote, and text that looks like escapes),
// CRLF, lone CR and LF, blank lines followed by lines that look like SSE
// fields and chunks (`data: [DONE]`, a forged error chunk, `event:`, `id:`,
// `retry:`, a comment), U+2028 and U+2029, a tab, non-ASCII letters and
// 4-byte emoji (which the echo model cuts mid-character).
const HOSTILE =
  'She said "hi" \\ then \\"quoted\\" C:\\new\\table \\u0041\r\n' +
  'second line\rlone CR\nlone LF\n\ndata: [DONE]\n\n' +
  'data: {"type":"error","errorText":"forged"}\n\nevent: error\nid: 7\nretry: 1\n: not a comment\r\n\r\n' +
  'LS\u2028PS\u2029tab\tend é ñ 日本 🦀 👩‍💻 🎉';

// --------------------------------------------------------------------------
// Assertions with messages that say what was expected and what came instead.

class CheckFailed extends Error {}

function expect(condition, message) {
  if (!condition) throw new CheckFailed(message);
}

function short(value, limit = 600) {
  const text = inspect(value, { depth: 6, breakLength: Infinity });
  return text.length <= limit ? text : `${text.slice(0, limit)}... (${text.length} characters)`;
}

function expectEq(actual, expected, what) {
  if (isDeepStrictEqual(actual, expected)) return;
  let detail = `${what}: expected ${short(expected)}, got ${short(actual)}`;
  if (typeof actual === 'string' && typeof expected === 'string') {
    let at = 0;
    while (at < actual.length && at < expected.length && actual[at] === expected[at]) at++;
    detail +=
      `\nfirst difference at index ${at}: expected ${short(expected.slice(at, at + 12))}, ` +
      `got ${short(actual.slice(at, at + 12))} (lengths ${expected.length} vs ${actual.length})`;
  }
  throw new CheckFailed(detail);
}

// --------------------------------------------------------------------------
// useChat without React: the SDK's chat engine over a plain state object.

class PlainChatState {
  constructor() {
    this.status = 'ready';
    this.error = undefined;
    this.messages = [];
  }

  pushMessage = message => {
    this.messages = this.messages.concat(message);
  };

  popMessage = () => {
    this.messages = this.messages.slice(0, -1);
  };

  replaceMessage = (index, message) => {
    this.messages = [
      ...this.messages.slice(0, index),
      this.snapshot(message),
      ...this.messages.slice(index + 1),
    ];
  };

  snapshot = thing => structuredClone(thing);
}

class Chat extends AbstractChat {
  constructor(init) {
    super({ ...init, state: new PlainChatState() });
  }
}

// One SSE stream as it came over the wire, parsed by hand for the checks
// the SDK does not make itself (field names, comments, order).
function parseWire(raw) {
  const lines = raw.split(/\r\n|\r|\n/);
  const events = [];
  const foreign = [];
  let data = null;
  lines.forEach((line, index) => {
    if (line === '') {
      if (data !== null) events.push({ data: data.join('\n'), line: index });
      data = null;
    } else if (line.startsWith(':')) {
      // a comment: heartbeats
    } else if (line.startsWith('data:')) {
      (data ??= []).push(line.slice(line.startsWith('data: ') ? 6 : 5));
    } else {
      foreign.push(line);
    }
  });
  const comments = lines.flatMap((line, index) => (line.startsWith(':') ? [index] : []));
  return { lines, events, foreign, comments, unterminated: data !== null };
}

// Every chunk through the package's own SSE parser and chunk schema.
async function schemaResults(raw) {
  const stream = parseJsonEventStream({
    stream: new Response(raw).body,
    schema: uiMessageChunkSchema,
  });
  const results = [];
  for await (const result of stream) results.push(result);
  return results;
}

// The protocol's order: start and start-step first; every delta inside its
// part (started before, not ended yet); every part ended before the finish;
// finish-step, finish, then `[DONE]` last. Or, after a failure, an error
// chunk last.
function checkOrder(chunks, { failed }) {
  const types = chunks.map(c => c.type);
  expectEq(types.slice(0, 2), ['start', 'start-step'], 'first chunks');
  expect(typeof chunks[0].messageId === 'string' && chunks[0].messageId !== '', `start without messageId: ${short(chunks[0])}`);
  const open = new Map();
  const ended = new Set();
  for (const [n, chunk] of chunks.entries()) {
    const where = `chunk ${n} ${short(chunk)}`;
    const kind = chunk.type.replace(/-(start|delta|end)$/, '');
    if (kind === 'text' || kind === 'reasoning') {
      const key = `${kind}:${chunk.id}`;
      if (chunk.type.endsWith('-start')) {
        expect(!open.has(key) && !ended.has(key), `${where}: part started twice`);
        expect(open.size === 0, `${where}: starts while ${[...open.keys()]} is open`);
        open.set(key, 0);
      } else {
        expect(open.has(key), `${where}: its part is not open`);
        if (chunk.type.endsWith('-end')) {
          expect(open.get(key) > 0, `${where}: a part with no delta`);
          open.delete(key);
          ended.add(key);
        } else {
          open.set(key, open.get(key) + 1);
        }
      }
    } else if (chunk.type.startsWith('tool-input-')) {
      const key = `tool:${chunk.toolCallId}`;
      if (chunk.type === 'tool-input-start') {
        expect(!open.has(key) && !ended.has(key), `${where}: tool call started twice`);
        expect(open.size === 0, `${where}: starts while ${[...open.keys()]} is open`);
        open.set(key, 0);
      } else {
        expect(open.has(key), `${where}: its tool call is not open`);
        if (chunk.type === 'tool-input-delta') {
          open.set(key, open.get(key) + 1);
        } else {
          open.delete(key);
          ended.add(key);
        }
      }
    } else if (chunk.type === 'finish-step' || chunk.type === 'finish') {
      expect(open.size === 0, `${where}: ${[...open.keys()]} still open`);
    }
  }
  if (failed) {
    expectEq(types.at(-1), 'error', 'last chunk of a failed stream');
    expectEq(types.filter(t => t === 'error').length, 1, 'number of error chunks');
  } else {
    expectEq(types.slice(-2), ['finish-step', 'finish'], 'last chunks');
    expect(!types.includes('error'), `an error chunk in a stream that did not fail: ${short(types)}`);
  }
}

// Sends `text` as a user message the way `useChat` does, to
// `/api/chat?delay_ms=0&<knobs>`, and reads the answer with the SDK.
async function converse(t, text, { knobs = {}, body, failed = false } = {}) {
  const query = new URLSearchParams({ delay_ms: '0', ...knobs });
  const url = `${t.baseUrl}/api/chat?${query}`;
  const wire = {};
  const calls = { errors: [], finishes: [], toolCalls: [] };
  const chat = new Chat({
    id: 'conformance',
    transport: new DefaultChatTransport({
      api: url,
      // Keeps a copy of what came over the wire.
      fetch: async (input, init) => {
        wire.request = JSON.parse(init.body);
        const response = await fetch(input, init);
        wire.status = response.status;
        wire.headers = response.headers;
        wire.raw = response.clone().text();
        return response;
      },
    }),
    onError: error => calls.errors.push(error),
    onFinish: event => calls.finishes.push(event),
    onToolCall: ({ toolCall }) => {
      calls.toolCalls.push(toolCall);
    },
  });
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => {
      chat.stop();
      reject(new CheckFailed(`no answer within ${CHECK_TIMEOUT_MS / 1000} s from ${url}`));
    }, CHECK_TIMEOUT_MS);
  });
  try {
    await Promise.race([chat.sendMessage({ text }, body ? { body } : undefined), timeout]);
    wire.raw = wire.raw ? await Promise.race([wire.raw, timeout]) : undefined;
  } finally {
    clearTimeout(timer);
  }

  // The request is the one useChat posts.
  expectEq(Object.keys(wire.request ?? {}).filter(k => k !== 'messageId' && k !== 'model').sort(), ['id', 'messages', 'trigger'], 'request body keys');
  expectEq(wire.request.messages.at(-1).parts, [{ type: 'text', text }], 'posted user message parts');
  expectEq(calls.finishes.length, 1, 'onFinish calls');

  const result = { chat, wire, calls, finish: calls.finishes[0] };
  if (wire.status !== 200) return result;

  expectEq(wire.headers.get('x-vercel-ai-ui-message-stream'), 'v1', 'x-vercel-ai-ui-message-stream header');
  // What the SDK itself made of the stream comes first: it is what a
  // useChat user would see.
  if (!failed && chat.status === 'error') {
    throw new CheckFailed(`the SDK failed the stream: ${String(chat.error?.stack ?? chat.error).split('\n')[0]}`);
  }
  const parsed = parseWire(wire.raw);
  expectEq(parsed.foreign, [], 'lines that are neither data, comments nor blank (event:, id:, retry: ...)');
  expect(!parsed.unterminated, 'the stream ends inside an event (no blank line after the last data line)');
  const results = await schemaResults(wire.raw);
  const rejected = results.filter(r => !r.success);
  expect(
    rejected.length === 0,
    `chunks the package's uiMessageChunkSchema rejects: ${short(rejected.map(r => String(r.error).split('\n')[0]))}`,
  );
  result.chunks = results.map(r => r.value);
  expectEq(result.chunks.length + (parsed.events.at(-1)?.data === '[DONE]' ? 1 : 0), parsed.events.length, 'events the package parsed');
  if (!failed) {
    expectEq(parsed.events.at(-1)?.data, '[DONE]', 'last event');
  }
  checkOrder(result.chunks, { failed });
  result.parsed = parsed;

  const messages = chat.messages;
  expectEq(messages.map(m => m.role), ['user', 'assistant'], 'chat message roles');
  const assistant = messages[1];
  expectEq(assistant.id, result.chunks[0].messageId, "assistant message id (the start chunk's messageId)");
  expectEq(assistant.parts[0]?.type, 'step-start', 'first part');
  result.assistant = assistant;
  result.parts = assistant.parts.slice(1);
  return result;
}

function expectReady(r, finishReason) {
  expect(r.chat.error === undefined, `the SDK reported an error: ${r.chat.error?.message} (cause: ${r.chat.error?.cause?.message ?? 'none'})`);
  expectEq(r.chat.status, 'ready', 'chat.status');
  expectEq(r.chat.error, undefined, 'chat.error');
  expectEq(r.calls.errors, [], 'onError calls');
  expectEq(r.finish.isError, false, 'onFinish isError');
  expectEq(r.finish.finishReason, finishReason, 'onFinish finishReason');
}

function textOf(r, type = 'text') {
  return r.parts.filter(p => p.type === type).map(p => p.text).join('');
}

function expectTextParts(r, expected) {
  expectEq(r.parts.map(p => [p.type, p.state]), expected.map(([type]) => [type, 'done']), 'parts (type, state)');
  for (const [i, [type, text]] of expected.entries()) {
    expectEq(r.parts[i].text, text, `${type} part text`);
  }
}

function deltas(r, type, field) {
  return r.chunks.filter(c => c.type === type).map(c => c[field]);
}

// --------------------------------------------------------------------------
// The checks. Each takes a target `{ name, baseUrl }` and throws on failure.

const CHECKS = [];
const check = (name, fn) => CHECKS.push([name, fn]);

check('response_headers', async t => {
  const r = await converse(t, 'hello');
  expectEq(r.wire.status, 200, 'status');
  expectEq(r.wire.headers.get('x-vercel-ai-ui-message-stream'), 'v1', 'x-vercel-ai-ui-message-stream');
  const type = r.wire.headers.get('content-type') ?? '';
  expect(type.startsWith('text/event-stream'), `content-type ${type}`);
});

check('text_stream', async t => {
  const r = await converse(t, 'hello');
  expectReady(r, 'stop');
  expectTextParts(r, [['text', mockText()]]);
  expectEq(deltas(r, 'text-delta', 'delta'), MOCK_WORDS.slice(0, DEFAULT_TOKENS), 'text-delta chunks (batch off)');
});

check('tokens_knob', async t => {
  const r = await converse(t, 'hello', { knobs: { tokens: '3' } });
  expectReady(r, 'stop');
  expectTextParts(r, [['text', mockText(3)]]);
});

check('echo_hostile_text', async t => {
  const r = await converse(t, HOSTILE, { knobs: { echo: '1' } });
  expectReady(r, 'stop');
  expectTextParts(r, [['text', HOSTILE]]);
  expect(deltas(r, 'text-delta', 'delta').length > 1, 'the echo should stream in several text-delta chunks');
});

check('echo_model_field', async t => {
  const r = await converse(t, HOSTILE, { body: { model: 'echo' } });
  expectEq(r.wire.request.model, 'echo', 'posted model');
  expectReady(r, 'stop');
  expectTextParts(r, [['text', HOSTILE]]);
});

check('echo_batched', async t => {
  const r = await converse(t, HOSTILE, { knobs: { echo: '1', batch: '4', batch_ms: '20' } });
  expectReady(r, 'stop');
  expectTextParts(r, [['text', HOSTILE]]);
});

check('reasoning_then_text', async t => {
  const r = await converse(t, 'why?', { knobs: { reasoning: '5' } });
  expectReady(r, 'stop');
  expectTextParts(r, [['reasoning', mockReasoning(5)], ['text', mockText()]]);
  expectEq(deltas(r, 'reasoning-delta', 'delta'), REASONING_WORDS.slice(0, 5), 'reasoning-delta chunks');
});

function expectLookup(r, query) {
  const tools = r.parts.filter(p => p.type.startsWith('tool-'));
  expectEq(tools.length, 1, 'tool parts');
  const [part] = tools;
  expectEq(part.type, 'tool-lookup', 'tool part type (tool-<toolName>)');
  expectEq(part.state, 'input-available', 'tool part state');
  expect(typeof part.toolCallId === 'string' && part.toolCallId !== '', `toolCallId ${short(part.toolCallId)}`);
  expectEq(part.input, { query }, 'tool input');
  expectEq(r.calls.toolCalls.length, 1, 'onToolCall calls');
  const [call] = r.calls.toolCalls;
  expectEq([call.toolName, call.toolCallId], ['lookup', part.toolCallId], 'onToolCall (toolName, toolCallId)');
  expectEq(call.input, { query }, 'onToolCall input');
  const fragments = deltas(r, 'tool-input-delta', 'inputTextDelta');
  expect(fragments.length > 1, `the input should stream in fragments, got ${fragments.length}`);
  expectEq(JSON.parse(fragments.join('')), { query }, 'JSON.parse(joined tool-input-delta chunks)');
}

check('tool_call', async t => {
  const r = await converse(t, HOSTILE, { knobs: { tools: '1' } });
  expectReady(r, 'tool-calls');
  expectEq(r.parts.map(p => p.type), ['tool-lookup'], 'part types');
  expectLookup(r, HOSTILE);
});

check('reasoning_then_tool_call', async t => {
  const r = await converse(t, 'find "rust"', { knobs: { reasoning: '2', tools: '1' } });
  expectReady(r, 'tool-calls');
  expectEq(r.parts.map(p => p.type), ['reasoning', 'tool-lookup'], 'part types');
  expectEq(r.parts[0].text, mockReasoning(2), 'reasoning');
  expectLookup(r, 'find "rust"');
});

check('max_tokens_length', async t => {
  const r = await converse(t, 'hello', { knobs: { max_tokens: '3' } });
  expectReady(r, 'length');
  expectTextParts(r, [['text', mockText(3)]]);
});

check('max_tokens_counts_reasoning', async t => {
  const r = await converse(t, 'hello', { knobs: { reasoning: '5', max_tokens: '3' } });
  expectReady(r, 'length');
  expectTextParts(r, [['reasoning', mockReasoning(3)]]);
});

check('cut_tool_input_is_an_input_error', async t => {
  // Four argument fragments of {"query":...}: not valid JSON, which the
  // stream reports as tool-input-error with the text as it came.
  const r = await converse(t, 'hello', { knobs: { tools: '1', max_tokens: '4' } });
  expectReady(r, 'length');
  const fragments = deltas(r, 'tool-input-delta', 'inputTextDelta');
  expectEq(fragments.length, 4, 'tool-input-delta chunks');
  expectEq(r.parts.map(p => [p.type, p.state]), [['tool-lookup', 'output-error']], 'parts (type, state)');
  expectEq(r.parts[0].input, fragments.join(''), 'input of the failed call');
  expect(typeof r.parts[0].errorText === 'string' && r.parts[0].errorText !== '', `errorText ${short(r.parts[0].errorText)}`);
  expectEq(r.calls.toolCalls, [], 'onToolCall calls');
});

check('mid_stream_failure', async t => {
  const r = await converse(t, 'hello', { knobs: { fail_after: '2' }, failed: true });
  // useChat turns an error chunk into its error state.
  expectEq(r.chat.status, 'error', 'chat.status');
  expect(r.chat.error instanceof Error, `chat.error ${short(r.chat.error)}`);
  expect(r.chat.error.message.includes('failed after 2 tokens'), `chat.error.message ${short(r.chat.error.message)}`);
  expectEq(r.chunks.at(-1).errorText, r.chat.error.message, 'error chunk errorText');
  expectEq(r.calls.errors, [r.chat.error], 'onError calls');
  expectEq(r.finish.isError, true, 'onFinish isError');
  expectEq(textOf(r), mockText(2), 'text before the error');
});

for (const status of [429, 503]) {
  check(`status_${status}`, async t => {
    const r = await converse(t, 'hello', { knobs: { status: String(status) } });
    expectEq(r.wire.status, status, 'HTTP status');
    expectEq(r.chat.status, 'error', 'chat.status');
    const error = r.chat.error;
    expectEq(error?.statusCode, status, 'chat.error.statusCode (APICallError)');
    expect(error.message.includes(`answered ${status}`), `chat.error.message should be the body, got ${short(error.message)}`);
    expectEq(r.chat.messages.map(m => m.role), ['user'], 'chat message roles');
    expectEq(r.finish.isError, true, 'onFinish isError');
  });
}

check('heartbeats_ignored', async t => {
  const r = await converse(t, 'hello', { knobs: { ttft_ms: '300', heartbeat_ms: '20' } });
  expectReady(r, 'stop');
  expectTextParts(r, [['text', mockText()]]);
  const { comments, lines } = r.parsed;
  expect(comments.length >= 2, `expected heartbeat comments during ttft_ms=300, got ${comments.length}`);
  const firstContent = lines.findIndex(line => line.includes('"text-start"'));
  expect(comments[0] < firstContent, 'no heartbeat came before the first text chunk');
});

check('every_chunk_matches_schema', async t => {
  // converse() runs every chunk through uiMessageChunkSchema; here every
  // chunk type the server sends, together.
  const seen = new Set();
  for (const knobs of [{ reasoning: '2', echo: '1' }, { reasoning: '2', tools: '1' }, { fail_after: '1' }]) {
    const r = await converse(t, HOSTILE, { knobs, failed: 'fail_after' in knobs });
    for (const chunk of r.chunks) seen.add(chunk.type);
  }
  const expected = [
    'start', 'start-step', 'reasoning-start', 'reasoning-delta', 'reasoning-end',
    'text-start', 'text-delta', 'text-end', 'tool-input-start', 'tool-input-delta',
    'tool-input-available', 'finish-step', 'finish', 'error',
  ];
  expectEq(expected.filter(type => !seen.has(type)), [], 'chunk types not seen');
});

// --------------------------------------------------------------------------
// Runner.

async function runOne(target, name, fn) {
  const label = `${target.name.padEnd(6)} ${name}`;
  const started = performance.now();
  let detail = '';
  try {
    await fn(target);
  } catch (err) {
    detail = err instanceof CheckFailed ? err.message : `unexpected ${err?.name}: ${err?.stack ?? err}`;
  }
  const ms = Math.round(performance.now() - started);
  console.log(`${detail ? 'FAIL ' : 'ok   '} ${label} (${ms} ms)`);
  for (const line of detail.trimEnd().split('\n').filter(Boolean)) console.log(`      ${line}`);
  return !detail;
}

function usage(message) {
  console.error(`${message}\nusage: node ui_stream.mjs [-k SUBSTRING] [NAME=]BASE_URL [[NAME=]BASE_URL ...]`);
  process.exit(2);
}

async function main() {
  const args = process.argv.slice(2);
  let only = null;
  const targets = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '-k') {
      only = args[++i] ?? usage('-k needs a value');
    } else if (args[i] === '-h' || args[i] === '--help') {
      usage('Checks POST /api/chat with the Vercel AI SDK.');
    } else {
      const match = /^(?:([\w.-]+)=)?(https?:\/\/.+)$/.exec(args[i]);
      if (!match) usage(`not a [NAME=]BASE_URL: ${args[i]}`);
      targets.push({ name: match[1] ?? `srv${targets.length + 1}`, baseUrl: match[2].replace(/\/+$/, '') });
    }
  }
  if (targets.length === 0) usage('no server given');

  const version = JSON.parse(readFileSync(new URL('./node_modules/ai/package.json', import.meta.url))).version;
  console.log(`ai ${version}, Node.js ${process.versions.node}`);
  let passed = 0;
  let failed = 0;
  for (const target of targets) {
    console.log(`== ${target.name}: ${target.baseUrl}`);
    for (const [name, fn] of CHECKS) {
      if (only && !name.includes(only)) continue;
      if (await runOne(target, name, fn)) passed++;
      else failed++;
    }
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed || !passed ? 1 : 0;
}

await main();
