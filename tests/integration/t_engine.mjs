//  Tests against the engine stack: the standard pool's worker runs the
//  openai backend (MT_WA_BACKEND=openai) in front of fake_engine.mjs, an
//  OpenAI-compatible streaming engine in this process (stack.engine).
import { randomBytes } from 'node:crypto';
import { assert, eq, ms, poll, openStream, parseSSE, TestFailure } from './harness.mjs';
import { short, expectError, expectChat, expectCompletion, expectStream } from './common.mjs';
import { fakeTokens, fakePromptTokens } from './fake_engine.mjs';

export const ENGINE_MODEL = 'fake-llm';
export const ENGINE_TOKENS = 24;        //  the fake engine's natural answer length

const nonce = () => randomBytes(6).toString('hex');
const msgs = (p) => [{ role: 'user', content: p }];

function chatE(stack, key, prompt, extra = {}) {
    return stack.post('/v1/chat/completions', key, { model: stack.stdModel, messages: msgs(prompt), ...extra });
}
function complE(stack, key, prompt, extra = {}) {
    return stack.post('/v1/completions', key, { model: stack.stdModel, prompt, ...extra });
}

//  What the engine answers to this prompt: text and usage.
function expected(kind, prompt, maxTokens) {
    const n = Math.min(maxTokens ?? ENGINE_TOKENS, ENGINE_TOKENS);
    const body = kind === 'chat' ? { messages: msgs(prompt) } : { prompt };
    const p = fakePromptTokens(kind, body);
    return { text: fakeTokens(prompt, n).join(''), n, usage: { prompt_tokens: p, completion_tokens: n, total_tokens: p + n },
             finish: (maxTokens ?? Infinity) < ENGINE_TOKENS ? 'length' : 'stop' };
}

//  The engine's record of the request whose body holds `tag` (bounded wait).
async function seen(stack, tag, what, done = true) {
    const r = await poll(() => {
        const e = stack.engine.find(tag);
        return e && (!done || e.finished || e.aborted || e.dropped || e.status !== 200) ? e : null;
    }, ms(3000), 20);
    assert(r, `${what}: the engine never saw a request with ${tag}`);
    return r;
}

//  request_logs rows of a tenant: { request_id: {status, prompt, completion, http} }.
async function ledger(pg, tenantId, want, what) {
    let rows = [];
    const ok = await poll(async () => {
        rows = await pg.query(`SELECT request_id, status, prompt_tokens, completion_tokens, http_status
            FROM request_logs WHERE tenant_id = '${tenantId}' ORDER BY id`);
        return rows.length >= want;
    }, ms(5000), 100);
    assert(ok, `${what}: ${rows.length} request_logs rows, want ${want}`);
    eq(rows.length, want, `${what}: request_logs rows`);
    return rows.map(([id, status, p, c, h]) => ({ id, status, prompt: Number(p), completion: Number(c), http: Number(h) }));
}

function engineBody(e, what) {
    assert(e.body && typeof e.body === 'object', `${what}: the engine got no JSON body`);
    eq(e.body.stream, true, `${what}: "stream" in the body the engine got`);
    assert(e.body.stream_options && e.body.stream_options.include_usage === true,
           `${what}: stream_options.include_usage not asked (${JSON.stringify(e.body.stream_options)})`);
    eq(e.body.model, ENGINE_MODEL, `${what}: model the engine got`);
    return e.body;
}

export default [
    {
        name: 'engine: non-streamed chat returns the engine text and the engine usage',
        fn: async ({ stack }) => {
            eq(stack.stdModel, ENGINE_MODEL, 'stack standard model');
            const tag = nonce();
            const prompt = `Tell me about engines ${tag}.`;
            const r = await chatE(stack, stack.free.key, prompt, { max_tokens: 64 });
            const c = expectChat(r);
            const want = expected('chat', prompt, 64);
            eq(c.content, want.text, 'content vs the engine text');
            eq(c.finish, 'stop', 'finish_reason');
            eq(c.usage.prompt_tokens, want.usage.prompt_tokens, 'usage.prompt_tokens (the engine\'s, not a count)');
            eq(c.usage.completion_tokens, want.n, 'usage.completion_tokens');
            eq(c.json.model, ENGINE_MODEL, 'model');
            const e = await seen(stack, tag, 'chat');
            eq(e.path, '/v1/chat/completions', 'engine path');
            engineBody(e, 'chat');
            eq(e.body.messages[0].content, prompt, 'messages reach the engine unchanged');
            eq(e.headers.accept, 'text/event-stream', 'Accept header at the engine');
        },
    },
    {
        name: 'engine: streamed chat relays every delta in order, then usage and [DONE]',
        fn: async ({ stack }) => {
            const tag = nonce();
            const prompt = `Stream from the engine ${tag}`;
            const r = await chatE(stack, stack.free.key, prompt,
                                  { max_tokens: 64, stream: true, stream_options: { include_usage: true } });
            const s = expectStream(r, 'chat', 'engine stream');
            const want = expected('chat', prompt, 64);
            //  Every delta, in order: the pieces the engine sent, concatenated.
            eq(s.content, want.text, 'streamed content vs the engine tokens');
            const deltas = s.chunks.map((c) => c.choices?.[0]?.delta?.content).filter((d) => typeof d === 'string' && d);
            assert(deltas.length >= 2 && deltas.length <= want.n, `${deltas.length} content events for ${want.n} tokens`);
            let at = 0;
            const tokens = fakeTokens(prompt, want.n);
            for (const d of deltas) {
                //  An event holds whole engine tokens (pieces that arrived together).
                let k = at;
                let acc = '';
                while (k < tokens.length && acc.length < d.length) acc += tokens[k++];
                eq(d, acc, `delta at token ${at}`);
                at = k;
            }
            eq(at, want.n, 'tokens relayed');
            eq(s.finish, 'stop', 'finish_reason');
            assert(s.chunks[s.chunks.length - 1].usage, 'the last chunk before [DONE] is not the usage chunk');
            eq(s.usage.prompt_tokens, want.usage.prompt_tokens, 'stream usage.prompt_tokens (engine)');
            eq(s.usage.completion_tokens, want.n, 'stream usage.completion_tokens');
            engineBody(await seen(stack, tag, 'stream'), 'stream');
        },
    },
    {
        name: 'engine: /v1/completions plain and streamed',
        fn: async ({ stack }) => {
            const tag = nonce();
            const prompt = `Once upon an engine ${tag}`;
            const want = expected('text', prompt, 10);
            const c = expectCompletion(await complE(stack, stack.free.key, prompt, { max_tokens: 10 }));
            eq(c.text, want.text, 'completion text vs the engine');
            eq(c.finish, 'length', 'finish_reason with max_tokens 10');
            eq(c.usage.prompt_tokens, want.usage.prompt_tokens, 'completion usage.prompt_tokens (engine)');
            eq(c.usage.completion_tokens, 10, 'completion usage.completion_tokens');
            const e = await seen(stack, tag, 'completion');
            eq(e.path, '/v1/completions', 'engine path for /v1/completions');
            eq(engineBody(e, 'completion').prompt, prompt, 'prompt at the engine');
            const s = expectStream(await complE(stack, stack.free.key, prompt,
                { max_tokens: 10, stream: true, stream_options: { include_usage: true } }), 'text', 'text stream');
            eq(s.content, want.text, 'streamed completion text');
            eq(s.usage.total_tokens, want.usage.prompt_tokens + 10, 'streamed completion usage');
        },
    },
    {
        name: 'engine: the gateway\'s max_tokens grant reaches the engine',
        fn: async ({ stack }) => {
            const check = async (extra, limit, what) => {
                const tag = nonce();
                const prompt = `Count for me ${tag}`;
                const c = expectChat(await chatE(stack, stack.free.key, prompt, extra), what);
                const e = await seen(stack, tag, what);
                const b = engineBody(e, what);
                const mt = b.max_tokens ?? b.max_completion_tokens;
                assert(Number.isInteger(mt) && mt >= 1 && mt <= limit,
                       `${what}: max_tokens at the engine ${JSON.stringify(mt)}, want 1..${limit}`);
                eq(c.usage.completion_tokens, Math.min(mt, ENGINE_TOKENS), `${what}: completion_tokens`);
                return { c, mt };
            };
            const a = await check({ max_tokens: 5 }, 5, 'max_tokens 5');
            eq(a.c.finish, 'length', 'finish_reason with max_tokens 5');
            eq(a.c.usage.completion_tokens, 5, 'completion_tokens with max_tokens 5');
            await check({ max_completion_tokens: 7 }, 7, 'max_completion_tokens 7');
            //  No max_tokens: the engine still gets a bound (the grant).
            const n = await check({}, 1 << 20, 'no max_tokens');
            eq(n.c.finish, 'stop', 'finish_reason without max_tokens');
        },
    },
    {
        name: 'engine: a quota-limited tenant\'s grant caps max_tokens at the engine',
        fn: async ({ stack, pg }) => {
            const limit = 40;
            const t = await stack.tenant({ tier: 'free', daily_token_limit: limit }, 'eng-quota');
            const tag = nonce();
            //  The engine would write 200 tokens; the client asks for 500.
            const prompt = `TOKENS=200 ${tag}`;
            const r = await chatE(stack, t.key, prompt, { max_tokens: 500 });
            const c = expectChat(r, 'quota-limited chat');
            const e = await seen(stack, tag, 'quota-limited');
            const mt = engineBody(e, 'quota-limited').max_tokens;
            assert(Number.isInteger(mt) && mt >= 1 && mt < limit,
                   `max_tokens at the engine ${JSON.stringify(mt)} for a daily limit of ${limit} (asked 500)`);
            eq(c.usage.completion_tokens, mt, 'completion_tokens = the grant');
            eq(c.finish, 'length', 'finish_reason at the grant');
            //  The ledger holds the request as the engine counted it.
            const rows = await ledger(pg, t.id, 1, 'quota-limited');
            eq(rows[0].completion, mt, 'request_logs.completion_tokens');
            eq(rows[0].prompt, c.usage.prompt_tokens, 'request_logs.prompt_tokens');
        },
    },
    {
        //  The grant is the daily limit minus the gateway's prompt estimate; the
        //  engine counts the prompt higher (its chat template). What is billed,
        //  and shown to the client, never passes the limit.
        name: 'engine: a quota-limited tenant never spends past its daily limit',
        fn: async ({ stack, pg }) => {
            const limit = 40;
            const t = await stack.tenant({ tier: 'free', daily_token_limit: limit }, 'eng-quota2');
            const r = await chatE(stack, t.key, `TOKENS=200 ${nonce()}`, { max_tokens: 500 });
            const c = expectChat(r, 'quota-limited chat');
            const rows = await ledger(pg, t.id, 1, 'quota-limited');
            const billed = rows[0].prompt + rows[0].completion;
            assert(billed <= limit, `billed ${rows[0].prompt} + ${rows[0].completion} = ${billed} tokens ` +
                                    `over a daily limit of ${limit}`);
            eq(c.usage.total_tokens, billed, 'usage shown to the client = usage billed');
            const again = await chatE(stack, t.key, `TOKENS=200 ${nonce()}`, { max_tokens: 500 });
            if (again.status === 200) {
                const rows2 = await ledger(pg, t.id, 2, 'quota-limited, second');
                const total = rows2.reduce((n, x) => n + x.prompt + x.completion, 0);
                assert(total <= limit, `two requests billed ${total} tokens over a daily limit of ${limit}`);
            }
            else
                expectError(again, 429, 'quota_exceeded', 'insufficient_quota', 'second request past the quota');
        },
    },
    {
        name: 'engine: HTTP 500 from the engine -> an OpenAI error, logged',
        fn: async ({ stack, pg }) => {
            const t = await stack.tenant({ tier: 'free' }, 'eng-500');
            const tag = nonce();
            const r = await chatE(stack, t.key, `FAIL500 ${tag}`, { max_tokens: 8 });
            assert(r.status >= 400 && r.status <= 599, `engine 500: status ${short(r)}`);
            expectError(r, r.status, undefined, undefined, 'engine 500');
            eq((await seen(stack, tag, 'engine 500')).status, 500, 'engine status');
            //  Streamed: an error event, then [DONE] (or a plain error before the stream).
            const tag2 = nonce();
            const sr = await chatE(stack, t.key, `FAIL500 ${tag2}`, { max_tokens: 8, stream: true });
            if (sr.status === 200) {
                assert(sr.text.trimEnd().endsWith('data: [DONE]'), `streamed engine 500 does not end with [DONE]: ${short(sr)}`);
                assert(/data: \{"error":\{/.test(sr.text), `streamed engine 500: no error event: ${short(sr)}`);
            } else {
                expectError(sr, sr.status, undefined, undefined, 'streamed engine 500');
            }
            const rows = await ledger(pg, t.id, 2, 'engine 500');
            for (const row of rows) {
                eq(row.status, 'error', 'request_logs.status after an engine 500');
                eq(row.completion, 0, 'request_logs.completion_tokens after an engine 500');
            }
            const rid = r.headers.get('x-request-id');
            const row = rows.find((x) => x.id === rid);
            assert(row, `no request_logs row for x-request-id ${rid} (have ${rows.map((x) => x.id)})`);
            eq(row.http, r.status, 'request_logs.http_status vs what the client got');
            const srow = rows.find((x) => x.id !== rid);
            eq(srow.http, sr.status, 'request_logs.http_status of the streamed one vs what the client got');
            //  The tenant can go on.
            expectChat(await chatE(stack, t.key, 'fine again', { max_tokens: 3 }), 'after the engine 500');
        },
    },
    {
        name: 'engine: the engine drops mid-stream -> error event + [DONE], billed what was relayed',
        fn: async ({ stack, pg }) => {
            const t = await stack.tenant({ tier: 'free' }, 'eng-drop');
            const tag = nonce();
            const prompt = `DROP ${tag}`;
            const r = await chatE(stack, t.key, prompt,
                                  { max_tokens: 20, stream: true, stream_options: { include_usage: true } });
            eq(r.status, 200, `dropped stream status (${short(r)})`);
            const e = await seen(stack, tag, 'drop');
            assert(e.dropped, 'the engine did not drop the connection');
            const data = parseSSE(r.text);
            eq(data[data.length - 1], '[DONE]', 'last event of a dropped stream');
            const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
            const last = chunks[chunks.length - 1];
            assert(last.error && typeof last.error.message === 'string',
                   `the event before [DONE] is not an error: ${JSON.stringify(last).slice(0, 200)}`);
            const content = chunks.map((c) => c.choices?.[0]?.delta?.content || '').join('');
            eq(content, fakeTokens(prompt, 3).join(''), 'content relayed before the drop');
            assert(!chunks.some((c) => c.usage), 'a usage chunk in a failed stream');
            const rows = await ledger(pg, t.id, 1, 'drop');
            eq(rows[0].status, 'error', 'request_logs.status of a dropped stream');
            eq(rows[0].completion, 3, 'request_logs.completion_tokens of a dropped stream (3 relayed)');
            eq(rows[0].http, 200, 'request_logs.http_status of a dropped stream (what the client got)');
        },
    },
    {
        name: 'engine: no usage chunk from the engine -> usage counted',
        fn: async ({ stack }) => {
            const tag = nonce();
            const prompt = `NOUSAGE ${tag}`;
            const s = expectStream(await chatE(stack, stack.free.key, prompt,
                { max_tokens: 6, stream: true, stream_options: { include_usage: true } }), 'chat', 'no engine usage');
            eq(s.content, fakeTokens(prompt, 6).join(''), 'content');
            eq(s.usage.completion_tokens, 6, 'counted completion_tokens');
            assert(s.usage.prompt_tokens > 0, 'prompt_tokens 0');
        },
    },
    {
        name: 'engine: client disconnect aborts the engine request and frees the slot',
        fn: async ({ stack, pg }) => {
            const t = await stack.tenant({ tier: 'free', max_concurrent_requests: 1 }, 'eng-disc');
            const tag = nonce();
            const abortedBefore = stack.engine.state.aborted;
            const s = await openStream(stack.base, '/v1/chat/completions', t.key,
                { model: stack.stdModel, messages: msgs(`SLOW ${tag}`), max_tokens: 20, stream: true });
            eq(s.status, 200, 'slow stream status');
            const it = s.events();
            let content = 0;
            for (let i = 0; i < 10 && content < 1; i++) {
                const ev = await it.next();
                assert(!ev.done, 'slow stream ended early');
                if (JSON.parse(ev.value).choices?.[0]?.delta?.content) content++;
            }
            //  In flight: the second request is refused.
            expectError(await chatE(stack, t.key, 'second', { max_tokens: 2 }), 429, 'concurrency_limit_exceeded',
                        undefined, 'second while streaming');
            s.abort();
            const t0 = Date.now();
            const e = await poll(() => {
                const x = stack.engine.find(tag);
                return x && x.aborted ? x : null;
            }, ms(3000), 20);
            assert(e, `the engine request was not aborted ${Date.now() - t0} ms after the client left ` +
                      `(engine: ${JSON.stringify(stack.engine.find(tag) || {}).slice(0, 200)})`);
            assert(stack.engine.state.aborted > abortedBefore, 'engine aborted counter');
            assert(e.tokensSent < 20, `the engine wrote all ${e.tokensSent} tokens`);
            let last;
            const ok = await poll(async () => {
                last = await chatE(stack, t.key, 'after the disconnect', { max_tokens: 2 });
                return last.status === 200;
            }, ms(3000), 100);
            assert(ok, `slot still taken ${Date.now() - t0} ms after the disconnect: ${short(last)}`);
            const rows = await ledger(pg, t.id, 2, 'disconnect');
            const cancelled = rows.filter((x) => x.status === 'cancelled');
            eq(cancelled.length, 1, 'cancelled rows');
            assert(cancelled[0].completion >= 1 && cancelled[0].completion <= e.tokensSent,
                   `billed ${cancelled[0].completion} completion tokens; the engine sent ${e.tokensSent}`);
        },
    },
    {
        name: 'engine: request_logs rows match the engine\'s usage',
        fn: async ({ stack, pg }) => {
            const t = await stack.tenant({ tier: 'pro' }, 'eng-ledger');
            const reqs = [];
            for (const [kind, stream, max] of [['chat', false, 9], ['chat', true, 30], ['text', false, 4], ['text', true, 12]]) {
                const prompt = `ledger ${kind} ${stream} ${nonce()}`;
                const extra = { max_tokens: max, stream, ...(stream ? { stream_options: { include_usage: true } } : {}) };
                const r = await (kind === 'chat' ? chatE : complE)(stack, t.key, prompt, extra);
                eq(r.status, 200, `${kind} stream=${stream}: ${short(r)}`);
                reqs.push({ rid: r.headers.get('x-request-id'), want: expected(kind, prompt, max).usage, what: `${kind} stream=${stream}` });
            }
            const rows = await ledger(pg, t.id, reqs.length, 'ledger');
            for (const q of reqs) {
                const row = rows.find((x) => x.id === q.rid);
                assert(row, `${q.what}: no request_logs row for x-request-id ${q.rid} (have ${rows.map((x) => x.id)})`);
                eq(row.status, 'ok', `${q.what}: status`);
                eq(row.prompt, q.want.prompt_tokens, `${q.what}: request_logs.prompt_tokens vs the engine`);
                eq(row.completion, q.want.completion_tokens, `${q.what}: request_logs.completion_tokens vs the engine`);
                eq(row.http, 200, `${q.what}: http_status`);
            }
        },
    },
];
