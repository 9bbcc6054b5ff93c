// The chat page resumes a dropped stream by itself, in a real browser.
//
// Usage: node tests/conformance/resume_browser.mjs URL_A [URL_B]
//
// Opens the example server's chat page (`/`) in headless Chromium
// (/usr/bin/chromium, or $CHROMIUM) driven by playwright-core (installed in
// tests/conformance/vercel; it never downloads a browser), through a small
// TCP proxy run here. The page is asked a question through its own link
// form (`/#ask=PROMPT&echo=1&delay=MS`), so its EventSource opens
// `/chat?...&resumable=1`. The proxy cuts that first streaming connection
// after the 3rd `id:` line, mid-answer; the browser reconnects by itself
// with `Last-Event-ID`, which the proxy sends to URL_B when given (another
// replica on the same Redis store), else to URL_A.
//
// Checks: the answer shown equals the answer of an uninterrupted request
// of the same URL (and, with echo, the prompt itself): no gap, no
// duplicate; the proxy saw exactly one new stream and one reconnect that
// carried a well-formed `Last-Event-ID` of that stream and got 200; no
// further request after `[DONE]` (the page closes its EventSource).
//
// What it relies on in the page: the `#ask=...&echo=1&delay=...` link that
// asks at once, the default wire format being `/chat` over EventSource,
// and the answer text in the last `.bot > span` element.
// One line per check, then `N passed, M failed`; exits 1 on a failure.

import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import http from 'node:http';

const require = createRequire(new URL('./vercel/package.json', import.meta.url));
const { chromium } = require('playwright-core');

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const CUT_AFTER_IDS = 3;
const DEADLINE_MS = 45_000;
const EVENT_ID = /^([A-Za-z0-9_-]{22}):([1-9][0-9]*)$/;
// No CR or LF: the page's <input type=text> drops them. Field look-alikes,
// quotes, a backslash and multi-byte characters, which the echo model cuts
// mid-character; long enough for ~30 events at the page's batch of 4.
const PROMPT = ('data: x id: forged event: evil retry: 1 : ping [DONE] "quotes" \\ é 日本 🦀 ').repeat(3).trim();
const DELAY_MS = 30;

const [urlA, urlB] = process.argv.slice(2);
if (!urlA) {
  console.error('usage: node resume_browser.mjs URL_A [URL_B]');
  process.exit(2);
}
const upstreamA = new URL(urlA);
const upstreamB = new URL(urlB || urlA);

// ---------------------------------------------------------------------------
// The proxy: one upstream connection per browser connection, chosen by the
// connection's first request (a request with Last-Event-ID goes to B).
// Every request head is recorded; the first new /chat stream is cut.

const requests = []; // { path, lastEventId, status, ids, done, cut }
let cutDone = false;
const sockets = new Set();

function headerOf(head, name) {
  const match = head.match(new RegExp(`^${name}:[ \\t]*(.*?)[ \\t]*$`, 'im'));
  return match ? match[1] : null;
}

const proxy = net.createServer((client) => {
  sockets.add(client);
  let upstream = null;
  let fromClient = Buffer.alloc(0); // unparsed request bytes
  let current = null; // the request whose answer is flowing
  let answer = ''; // the current answer so far, latin1

  const parseHeads = () => {
    for (;;) {
      const end = fromClient.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = fromClient.subarray(0, end).toString('latin1');
      const length = Number(headerOf(head, 'content-length') || 0);
      if (fromClient.length < end + 4 + length) return;
      fromClient = fromClient.subarray(end + 4 + length);
      const [method, path] = head.split(' ');
      current = { method, path, lastEventId: headerOf(head, 'last-event-id'), status: null, ids: [], done: false, cut: false };
      requests.push(current);
      answer = '';
    }
  };

  const onAnswer = (data) => {
    if (!current) return true;
    answer += data.toString('latin1');
    if (current.status === null) {
      const status = answer.match(/^HTTP\/1\.[01] (\d{3})/);
      if (status) current.status = Number(status[1]);
    }
    const bodyAt = answer.indexOf('\r\n\r\n');
    const body = bodyAt < 0 ? '' : answer.slice(bodyAt + 4);
    // Real fields start a line; data (text or JSON) never puts `id:` there.
    current.ids = [...body.matchAll(/(?:^|[\r\n])id: ?([^\r\n]*)[\r\n]/g)].map((m) => m[1]);
    current.done = /(?:^|[\r\n])data: ?\[DONE\][\r\n]/.test(body);
    const isNewStream = current.path.startsWith('/chat') && current.lastEventId === null;
    if (isNewStream && !cutDone && current.ids.length >= CUT_AFTER_IDS && !current.done) {
      cutDone = true;
      current.cut = true;
      return false;
    }
    return true;
  };

  client.on('data', (data) => {
    if (upstream === null) {
      fromClient = Buffer.concat([fromClient, data]);
      const end = fromClient.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = fromClient.subarray(0, end).toString('latin1');
      const target = headerOf(head, 'last-event-id') !== null ? upstreamB : upstreamA;
      const pending = fromClient;
      fromClient = Buffer.alloc(0);
      upstream = net.connect(Number(target.port), target.hostname);
      sockets.add(upstream);
      upstream.on('data', (answerData) => {
        if (onAnswer(answerData)) {
          client.write(answerData);
        } else {
          // The cut: what arrived so far reaches the browser, then both
          // connections end mid-body.
          client.write(answerData, () => {
            client.destroy();
            upstream.destroy();
          });
        }
      });
      upstream.on('end', () => client.end());
      upstream.on('error', () => client.destroy());
      upstream.on('close', () => client.destroy());
      fromClient = pending;
      parseHeads();
      upstream.write(pending);
      return;
    }
    fromClient = Buffer.concat([fromClient, data]);
    parseHeads();
    upstream.write(data);
  });
  client.on('end', () => upstream && upstream.end());
  client.on('error', () => upstream && upstream.destroy());
  client.on('close', () => upstream && upstream.destroy());
});

// ---------------------------------------------------------------------------
// The answer of an uninterrupted request, as the page shows it.

function fetchAll(base, path) {
  return new Promise((resolve, reject) => {
    const request = http.get(new URL(path, base), { headers: { accept: 'text/event-stream' } }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => { body += chunk; });
      response.on('end', () => resolve({ status: response.statusCode, body }));
      response.on('error', reject);
    });
    request.setTimeout(30_000, () => request.destroy(new Error('no answer within 30 s')));
    request.on('error', reject);
  });
}

// Events per the WHATWG rules: [{ name, data, id }].
function parseSse(body) {
  const events = [];
  let name = '', data = [], id = null;
  for (const line of body.split(/\r\n|\r|\n/)) {
    if (line === '') {
      if (data.length) events.push({ name: name || 'message', data: data.join('\n'), id });
      name = ''; data = []; id = null;
      continue;
    }
    if (line.startsWith(':')) continue;
    const at = line.indexOf(':');
    const field = at < 0 ? line : line.slice(0, at);
    let value = at < 0 ? '' : line.slice(at + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') data.push(value);
    else if (field === 'event') name = value;
    else if (field === 'id') id = value;
  }
  return events;
}

// What the page appends for each message: JSON deltas' text with
// `format=json`, the data itself otherwise.
function shownText(events, path) {
  const json = new URL(path, 'http://x').searchParams.get('format') === 'json';
  let text = '';
  for (const event of events) {
    if (event.name !== 'message' || event.data === '[DONE]') continue;
    if (!json) { text += event.data; continue; }
    const delta = JSON.parse(event.data);
    if (delta.type === undefined) text += delta.delta;
  }
  return text;
}

// ---------------------------------------------------------------------------

let passed = 0, failed = 0;
function check(name, ok, detail) {
  if (ok) {
    passed += 1;
    console.log(`ok    browser ${name}`);
  } else {
    failed += 1;
    console.log(`FAIL  browser ${name}`);
    for (const line of String(detail).split('\n')) console.log(`      ${line}`);
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const chats = () => requests.filter((r) => r.path.startsWith('/chat'));

await new Promise((resolve) => proxy.listen(0, '127.0.0.1', resolve));
const proxyUrl = `http://127.0.0.1:${proxy.address().port}`;
console.log(`playwright-core ${require('playwright-core/package.json').version}, ${CHROMIUM}; ` +
  `proxy ${proxyUrl} -> ${upstreamA.origin}, reconnects -> ${upstreamB.origin}`);

const profile = mkdtempSync(join(tmpdir(), 'llm-sse-chromium-'));
let context = null;
const pageErrors = [];
const watchdog = setTimeout(() => {
  console.log(`FAIL  browser did not finish within ${DEADLINE_MS / 1000} s; requests: ${JSON.stringify(requests)}`);
  process.exit(1);
}, DEADLINE_MS + 15_000);
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--no-proxy-server'],
  });
  const page = context.pages()[0] || await context.newPage();
  page.on('pageerror', (error) => pageErrors.push(String(error)));
  const hash = new URLSearchParams({ ask: PROMPT, echo: '1', delay: String(DELAY_MS) });
  await page.goto(`${proxyUrl}/#${hash}`);

  // Until the reconnect's answer has ended with [DONE] (or time is up).
  const started = Date.now();
  while (Date.now() - started < DEADLINE_MS) {
    const resumed = chats().find((r) => r.lastEventId !== null && r.done);
    if (resumed) break;
    if (chats().length && chats().every((r) => r.done) && !cutDone) break; // ended before the cut
    await sleep(50);
  }
  // Longer than the stream's retry (1000 ms): a reconnect after [DONE]
  // would show up here.
  await sleep(1_500);

  const all = chats();
  const fresh = all.filter((r) => r.lastEventId === null);
  const resumes = all.filter((r) => r.lastEventId !== null);
  check('one new /chat stream, cut mid-answer',
    fresh.length === 1 && fresh[0].cut && fresh[0].status === 200,
    `new streams: ${JSON.stringify(fresh)}`);
  const [first] = fresh;
  const streamId = first && first.ids.length ? (first.ids[0].match(EVENT_ID) || [])[1] : undefined;
  const resume = resumes[0];
  const resumeId = resume ? resume.lastEventId.match(EVENT_ID) : null;
  check('one reconnect with Last-Event-ID of that stream, answered 200',
    resumes.length === 1 && resumeId && resumeId[1] === streamId &&
      Number(resumeId[2]) <= first.ids.length && resume.status === 200 && resume.done,
    `reconnects: ${JSON.stringify(resumes)}; ids before the cut: ${first ? first.ids.join(' ') : 'none'}`);
  if (resume && resume.ids.length && resumeId) {
    const seqs = resume.ids.map((id) => Number((id.match(EVENT_ID) || [])[2]));
    const consecutive = seqs.every((seq, i) => seq === Number(resumeId[2]) + 1 + i);
    check('the reconnect\'s ids follow Last-Event-ID one by one', consecutive,
      `Last-Event-ID ${resume.lastEventId}, then ${resume.ids.join(' ')}`);
  }

  const shown = await page.locator('.bot > span').last().textContent();
  const whole = first ? await fetchAll(upstreamA, first.path) : { status: 0, body: '' };
  const expected = shownText(parseSse(whole.body), first ? first.path : '/');
  check('the uninterrupted answer is the prompt (echo)', whole.status === 200 && expected === PROMPT,
    `status ${whole.status}, answer ${JSON.stringify(expected)}`);
  check('the page shows the whole answer, no gap, no duplicate', shown === expected,
    `shown    ${JSON.stringify(shown)}\nexpected ${JSON.stringify(expected)}`);
  check('no error in the page', pageErrors.length === 0, pageErrors.join('\n'));
} catch (error) {
  check('ran', false, error && error.stack ? error.stack : error);
} finally {
  clearTimeout(watchdog);
  if (context) await context.close().catch(() => {});
  for (const socket of sockets) socket.destroy();
  proxy.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed || !passed ? 1 : 0);
