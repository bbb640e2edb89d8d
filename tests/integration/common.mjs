//  Helpers shared by the test files: requests in OpenAI's shape and checks of
//  OpenAI's response and error shapes.
import { assert, eq, parseSSE, TestFailure } from './harness.mjs';

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
//  OpenAI's durations: "1s", "6m0s", "12ms", "1h2m3s", "0.5s".
export const DURATION_RE = /^(?:(\d+h)?(\d+m)?(\d+(\.\d+)?s)?|\d+(\.\d+)?ms)$/;

export function chatBody(prompt, extra = {}) {
    return { model: 'sim-small', messages: [{ role: 'user', content: prompt }], ...extra };
}
export function chat(stack, key, prompt, extra = {}) {
    return stack.post('/v1/chat/completions', key, chatBody(prompt, extra));
}
export function completion(stack, key, prompt, extra = {}) {
    return stack.post('/v1/completions', key, { model: 'sim-small', prompt, ...extra });
}

export function short(r) {
    return `${r.status} ${String(r.text).slice(0, 240)}`;
}

//  An OpenAI error: {"error":{"message","type","param","code"}}.
export function expectError(r, status, code, type, what = '') {
    const w = what ? `${what}: ` : '';
    assert(r.status === status, `${w}want ${status}, got ${short(r)}`);
    const e = r.json && r.json.error;
    assert(e && typeof e === 'object', `${w}no error object: ${short(r)}`);
    assert(typeof e.message === 'string' && e.message.length > 0, `${w}error.message missing: ${short(r)}`);
    assert('param' in e, `${w}error.param missing: ${short(r)}`);
    assert('type' in e && 'code' in e, `${w}error.type/code missing: ${short(r)}`);
    if (code !== undefined) eq(e.code, code, `${w}error.code`);
    if (type !== undefined) eq(e.type, type, `${w}error.type`);
    return e;
}

export function expectUsage(u, what = 'usage') {
    assert(u && typeof u === 'object', `${what} missing`);
    for (const k of ['prompt_tokens', 'completion_tokens', 'total_tokens'])
        assert(Number.isInteger(u[k]) && u[k] >= 0, `${what}.${k} not a count: ${JSON.stringify(u)}`);
    eq(u.total_tokens, u.prompt_tokens + u.completion_tokens, `${what}.total_tokens = prompt + completion`);
    assert(u.prompt_tokens > 0, `${what}.prompt_tokens is 0`);
}

//  A good non-streamed chat completion; returns { content, usage, json }.
export function expectChat(r, what = 'chat') {
    assert(r.status === 200, `${what}: want 200, got ${short(r)}`);
    const j = r.json;
    assert(j && typeof j === 'object', `${what}: body is not JSON: ${short(r)}`);
    assert(typeof j.id === 'string' && j.id.startsWith('chatcmpl-'), `${what}: id ${JSON.stringify(j.id)}`);
    eq(j.object, 'chat.completion', `${what}: object`);
    assert(Number.isInteger(j.created), `${what}: created not an integer`);
    assert(typeof j.model === 'string' && j.model.length > 0, `${what}: model missing`);
    assert(Array.isArray(j.choices) && j.choices.length === 1, `${what}: choices ${JSON.stringify(j.choices)}`);
    const c = j.choices[0];
    eq(c.index, 0, `${what}: choices[0].index`);
    eq(c.message && c.message.role, 'assistant', `${what}: choices[0].message.role`);
    assert(typeof c.message.content === 'string' && c.message.content.length > 0,
           `${what}: empty content`);
    assert(c.finish_reason === 'stop' || c.finish_reason === 'length',
           `${what}: finish_reason ${JSON.stringify(c.finish_reason)}`);
    expectUsage(j.usage, `${what}: usage`);
    assert(j.usage.completion_tokens > 0, `${what}: completion_tokens 0`);
    return { content: c.message.content, usage: j.usage, finish: c.finish_reason, json: j };
}

export function expectCompletion(r, what = 'completion') {
    assert(r.status === 200, `${what}: want 200, got ${short(r)}`);
    const j = r.json;
    assert(j && typeof j === 'object', `${what}: body is not JSON`);
    assert(typeof j.id === 'string' && j.id.length > 0, `${what}: id missing`);
    eq(j.object, 'text_completion', `${what}: object`);
    assert(Array.isArray(j.choices) && j.choices.length === 1, `${what}: choices`);
    const c = j.choices[0];
    assert(typeof c.text === 'string' && c.text.length > 0, `${what}: empty choices[0].text`);
    assert(c.finish_reason === 'stop' || c.finish_reason === 'length',
           `${what}: finish_reason ${JSON.stringify(c.finish_reason)}`);
    expectUsage(j.usage, `${what}: usage`);
    return { text: c.text, usage: j.usage, finish: c.finish_reason, json: j };
}

//  A whole streamed response: checks the SSE framing and the chunk shapes.
//  kind 'chat' or 'text'. Returns { content, usage, finish, chunks }.
export function expectStream(r, kind, what = 'stream', wantUsage = true) {
    assert(r.status === 200, `${what}: want 200, got ${short(r)}`);
    const ct = r.headers.get('content-type') || '';
    assert(ct.startsWith('text/event-stream'), `${what}: content-type ${JSON.stringify(ct)}`);
    const data = parseSSE(r.text);
    eq(data[data.length - 1], '[DONE]', `${what}: last event`);
    const chunks = data.slice(0, -1).map((d, i) => {
        try { return JSON.parse(d); } catch { throw new TestFailure(`${what}: event ${i} not JSON: ${d.slice(0, 80)}`); }
    });
    assert(chunks.length >= 2, `${what}: only ${chunks.length} chunks`);
    const obj = kind === 'chat' ? 'chat.completion.chunk' : 'text_completion';
    let content = '';
    let usage = null;
    let finish = null;
    const ids = new Set();
    chunks.forEach((c, i) => {
        assert(!c.error, `${what}: error event ${JSON.stringify(c.error)}`);
        eq(c.object, obj, `${what}: chunk ${i} object`);
        ids.add(c.id);
        if (c.usage) {
            assert(i === chunks.length - 1, `${what}: usage chunk ${i} is not the last`);
            assert(Array.isArray(c.choices) && c.choices.length === 0, `${what}: usage chunk has choices`);
            usage = c.usage;
            return;
        }
        assert(Array.isArray(c.choices) && c.choices.length === 1, `${what}: chunk ${i} choices`);
        const ch = c.choices[0];
        if (kind === 'chat') {
            assert(ch.delta && typeof ch.delta === 'object', `${what}: chunk ${i} has no delta`);
            if (typeof ch.delta.content === 'string') content += ch.delta.content;
        } else if (typeof ch.text === 'string') {
            content += ch.text;
        }
        if (ch.finish_reason) finish = ch.finish_reason;
    });
    eq(ids.size, 1, `${what}: distinct chunk ids`);
    if (kind === 'chat') assert([...ids][0].startsWith('chatcmpl-'), `${what}: chunk id ${[...ids][0]}`);
    assert(content.length > 0, `${what}: no content`);
    assert(finish === 'stop' || finish === 'length', `${what}: finish_reason ${JSON.stringify(finish)}`);
    if (wantUsage) expectUsage(usage, `${what}: usage chunk`);
    return { content, usage, finish, chunks };
}

//  A list answer: a bare array, or { data: [...] }.
//  The rows of a list reply {"object": "list", "data": [...]}, or null.
export function listOf(j) {
    if (j && j.object === 'list' && Array.isArray(j.data)) return j.data;
    return null;
}

//  Next midnight UTC as "YYYY-MM-DDT00:00:00Z".
export function nextMidnight(now = Date.now()) {
    const d = new Date(now);
    const n = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1);
    return new Date(n).toISOString().replace('.000Z', 'Z');
}

export function retryAfter(r, what) {
    const v = r.headers.get('retry-after');
    assert(v !== null && /^\d+$/.test(v), `${what}: Retry-After ${JSON.stringify(v)}`);
    return Number(v);
}
