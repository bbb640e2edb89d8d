//  Tests against the fast stack: admin API, completions (plain and streamed),
//  errors, quota, metering, ZeroMQ robustness, models, metrics.
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { assert, eq, ms, sleep, poll, http, rawHttp, TestFailure } from './harness.mjs';
import {
    UUID_RE, DURATION_RE, chat, chatBody, completion, short, expectError, expectChat,
    expectCompletion, expectStream, listOf, nextMidnight, retryAfter,
} from './common.mjs';

const RL_HEADERS = ['x-ratelimit-limit-requests', 'x-ratelimit-remaining-requests',
                    'x-ratelimit-reset-requests', 'x-ratelimit-limit-tokens',
                    'x-ratelimit-remaining-tokens', 'x-ratelimit-reset-tokens'];

function expectRateHeaders(r, what) {
    const rid = r.headers.get('x-request-id');
    assert(rid && rid.length > 0, `${what}: no x-request-id`);
    for (const h of RL_HEADERS) {
        const v = r.headers.get(h);
        assert(v !== null && v !== '', `${what}: no ${h}`);
        if (h.includes('reset')) assert(DURATION_RE.test(v) && v !== '', `${what}: ${h} ${JSON.stringify(v)}`);
        else assert(/^\d+$/.test(v), `${what}: ${h} ${JSON.stringify(v)}`);
    }
    const lim = Number(r.headers.get('x-ratelimit-limit-requests'));
    const rem = Number(r.headers.get('x-ratelimit-remaining-requests'));
    assert(rem <= lim, `${what}: remaining-requests ${rem} > limit ${lim}`);
    return rid;
}

async function issueKey(stack, tenantId) {
    const r = await stack.admin('POST', `/admin/v1/tenants/${tenantId}/keys`, {});
    eq(r.status, 201, `POST keys: ${short(r)}`);
    const j = r.json || {};
    eq(j.object, 'api_key', 'POST keys: object');
    eq(j.tenant_id, tenantId, 'POST keys: tenant_id');
    const key = j.api_key;
    assert(typeof key === 'string' && key.startsWith('sk-mt-'), `POST keys: api_key ${JSON.stringify(key)}`);
    const keyId = j.id;
    assert(typeof keyId === 'string' && UUID_RE.test(keyId), `POST keys: no key id in ${r.text.slice(0, 200)}`);
    return { key, keyId };
}

async function revoke(stack, keyId) {
    const r = await stack.admin('DELETE', `/admin/v1/keys/${keyId}`);
    eq(r.status, 200, `DELETE key: ${short(r)}`);
    eq(r.json && r.json.id, keyId, 'DELETE key: id');
    eq(r.json && r.json.revoked, true, 'DELETE key: revoked');
}

const UNKNOWN_KEY = 'sk-mt-' + 'x'.repeat(40);

//  Send every payload to every ZeroMQ port of the stack; then each service
//  is running and healthy and still serves a chat and a premium stream.
async function garbageChangesNothing(stack, payloads, settleMs, prompt) {
    const p = stack.ports;
    const ports = { 'scheduler gateways': p.schedGw, 'scheduler workers': p.schedWk, quota: p.qe,
                    metering: p.mtr, 'gateway tokens': p.gwTok };
    const errs = [];
    await Promise.all(Object.entries(ports).map(async ([what, port]) => {
        for (const payload of payloads) {
            const err = await sendRaw(port, payload);
            if (err) { errs.push(`${what}: ${err}`); break; }
        }
    }));
    await sleep(settleMs);
    for (const s of stack.services) {
        if (!s.running) { errs.push(`${s.name} died`); continue; }
        const r = await http(`http://127.0.0.1:${s.metricsPort}`, 'GET', '/healthz');
        if (r.status !== 200) errs.push(`${s.name} /healthz ${r.status}`);
    }
    if (errs.length) throw new TestFailure(errs.join('; '));
    expectChat(await chat(stack, stack.free.key, prompt, { max_tokens: 6 }), 'chat afterwards');
    expectStream(await chat(stack, stack.ent.key, prompt,
        { model: 'sim-large', max_tokens: 6, stream: true, stream_options: { include_usage: true } }),
        'chat', 'premium stream afterwards');
}

export default [
    {
        name: 'admin API: tenants, keys, overrides, revocation',
        fn: async ({ stack }) => {
            const body = { name: `admin-${randomBytes(4).toString('hex')}`, tier: 'free' };
            expectError(await stack.admin('POST', '/admin/v1/tenants', body, null), 401, undefined, undefined, 'no admin token');
            expectError(await stack.admin('POST', '/admin/v1/tenants', body, 'wrong-token'), 401, undefined, undefined, 'wrong admin token');
            expectError(await stack.admin('GET', '/admin/v1/tenants', undefined, 'wrong-token'), 401, undefined, undefined, 'GET, wrong token');
            const r = await stack.admin('POST', '/admin/v1/tenants', body);
            eq(r.status, 201, `POST tenants (${r.text.slice(0, 200)})`);
            const t = r.json;
            assert(UUID_RE.test(t.id || ''), `id ${JSON.stringify(t.id)}`);
            assert(typeof t.api_key === 'string' && t.api_key.startsWith('sk-mt-') && t.api_key.length > 20,
                   `api_key ${JSON.stringify(t.api_key)}`);
            eq(t.name, body.name, 'name');
            eq(t.tier, 'free', 'tier');
            const list = await stack.admin('GET', '/admin/v1/tenants');
            eq(list.status, 200, 'GET tenants');
            const rows = listOf(list.json);
            assert(rows && rows.some((x) => x.id === t.id), `GET tenants does not list ${t.id}`);
            assert(!list.text.includes(t.api_key), 'GET tenants shows the api key');
            const one = await stack.admin('GET', `/admin/v1/tenants/${t.id}`);
            eq(one.status, 200, `GET tenant (${one.text.slice(0, 200)})`);
            eq(one.json.id, t.id, 'GET tenant id');
            eq(one.json.name, body.name, 'GET tenant name');
            const missing = await stack.admin('GET', '/admin/v1/tenants/00000000-0000-4000-8000-000000000000');
            eq(missing.status, 404, 'GET unknown tenant');
            const patch = await stack.admin('PATCH', `/admin/v1/tenants/${t.id}`, { max_concurrent_requests: 3 });
            eq(patch.status, 200, `PATCH (${patch.text.slice(0, 200)})`);
            const again = await stack.admin('GET', `/admin/v1/tenants/${t.id}`);
            eq(again.json.max_concurrent_requests, 3, 'max_concurrent_requests after PATCH');
            //  The first key works; a second key works too.
            const ok1 = await poll(async () => (await stack.get('/v1/models', t.api_key)).status === 200, ms(2000), 50);
            assert(ok1, 'first key not accepted within 2 s');
            const k2 = await issueKey(stack, t.id);
            assert(k2.key !== t.api_key, 'second key equals the first');
            const ok2 = await poll(async () => (await stack.get('/v1/models', k2.key)).status === 200, ms(2000), 50);
            assert(ok2, 'second key not accepted within 2 s');
            expectChat(await chat(stack, k2.key, 'hello from key two', { max_tokens: 4 }), 'chat with key two');
            //  Revoke the second: refused within about a second, the first still works.
            await revoke(stack, k2.keyId);
            const t0 = Date.now();
            const gone = await poll(async () => (await stack.get('/v1/models', k2.key)).status === 401, ms(1500), 50);
            assert(gone, `revoked key still accepted after ${Date.now() - t0} ms`);
            eq((await stack.get('/v1/models', t.api_key)).status, 200, 'first key after revoking the second');
        },
    },
    {
        name: 'non-streamed chat completion and completion: OpenAI shape, usage, headers',
        fn: async ({ stack }) => {
            const r = await chat(stack, stack.free.key, 'Tell me about tenants.', { max_tokens: 20 });
            const c = expectChat(r);
            eq(c.json.model, 'sim-small', 'model');
            assert(c.usage.completion_tokens <= 20, `completion_tokens ${c.usage.completion_tokens} > max_tokens 20`);
            const rid = expectRateHeaders(r, 'chat');
            const r2 = await chat(stack, stack.free.key, 'Tell me about tenants.', { max_tokens: 20 });
            expectChat(r2, 'second chat');
            assert(expectRateHeaders(r2, 'second chat') !== rid, 'x-request-id repeats');
            const lim = Number(r2.headers.get('x-ratelimit-limit-requests'));
            eq(lim, 100, 'x-ratelimit-limit-requests for a free tenant');
            eq(Number(r2.headers.get('x-ratelimit-limit-tokens')), 10000, 'x-ratelimit-limit-tokens for a free tenant');
            const cr = await completion(stack, stack.free.key, 'Once upon a time', { max_tokens: 10 });
            const cc = expectCompletion(cr);
            assert(cc.usage.completion_tokens <= 10, 'completion_tokens > max_tokens');
            expectRateHeaders(cr, 'completion');
            //  Multi-message chat with a system prompt.
            const mr = await stack.post('/v1/chat/completions', stack.free.key, {
                model: 'sim-small', max_tokens: 5,
                messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' },
                           { role: 'assistant', content: 'Hello.' }, { role: 'user', content: 'Again' }] });
            expectChat(mr, 'multi-message chat');
        },
    },
    {
        name: 'streamed chat completion and completion with include_usage',
        fn: async ({ stack }) => {
            const prompt = 'Stream me a story about fair queues.';
            const plain = expectChat(await chat(stack, stack.free.key, prompt, { max_tokens: 16 }), 'plain');
            const sr = await chat(stack, stack.free.key, prompt,
                                  { max_tokens: 16, stream: true, stream_options: { include_usage: true } });
            const s = expectStream(sr, 'chat', 'chat stream');
            eq(s.content, plain.content, 'streamed content vs non-streamed content');
            eq(s.usage.completion_tokens, plain.usage.completion_tokens, 'streamed completion_tokens');
            eq(s.usage.prompt_tokens, plain.usage.prompt_tokens, 'streamed prompt_tokens');
            eq(s.finish, plain.finish, 'streamed finish_reason');
            eq(s.chunks[0].choices[0].delta.role, 'assistant', 'delta.role of the first chunk');
            eq(s.chunks.filter((c) => c.choices?.[0]?.delta?.role !== undefined).length, 1,
               'chunks with a delta.role');
            //  Without include_usage: no usage chunk, still [DONE].
            const nr = await chat(stack, stack.free.key, prompt, { max_tokens: 16, stream: true });
            const n = expectStream(nr, 'chat', 'stream without usage', false);
            eq(n.content, plain.content, 'content without include_usage');
            assert(!n.chunks.some((c) => c.usage), 'usage chunk without include_usage');
            //  /v1/completions streamed.
            const tp = 'The scheduler said';
            const tplain = expectCompletion(await completion(stack, stack.free.key, tp, { max_tokens: 12 }), 'text plain');
            const ts = expectStream(await completion(stack, stack.free.key, tp,
                { max_tokens: 12, stream: true, stream_options: { include_usage: true } }), 'text', 'text stream');
            eq(ts.content, tplain.text, 'streamed text vs non-streamed text');
            eq(ts.usage.total_tokens, tplain.usage.total_tokens, 'streamed text usage');
        },
    },
    {
        name: 'max_tokens is honoured',
        fn: async ({ stack }) => {
            const c = expectChat(await chat(stack, stack.free.key, 'Count to ten.', { max_tokens: 3 }));
            eq(c.usage.completion_tokens, 3, 'completion_tokens with max_tokens 3');
            eq(c.finish, 'length', 'finish_reason with max_tokens 3');
            const s = expectStream(await chat(stack, stack.free.key, 'Count to ten.',
                { max_tokens: 3, stream: true, stream_options: { include_usage: true } }), 'chat', 'stream');
            eq(s.usage.completion_tokens, 3, 'streamed completion_tokens with max_tokens 3');
            eq(s.finish, 'length', 'streamed finish_reason');
            const t = expectCompletion(await completion(stack, stack.free.key, 'abc', { max_tokens: 1 }));
            eq(t.usage.completion_tokens, 1, 'completion_tokens with max_tokens 1');
            //  More than the simulator writes (at most MT_WA_SIM_TOKENS = 48):
            //  it stops by itself.
            const big = expectChat(await chat(stack, stack.free.key, 'Go on.', { max_tokens: 200 }), 'max_tokens 200');
            eq(big.finish, 'stop', 'finish_reason when the engine stops first');
            assert(big.usage.completion_tokens <= 48, `completion_tokens ${big.usage.completion_tokens} > MT_WA_SIM_TOKENS 48`);
        },
    },
    {
        name: '401 invalid_api_key: missing, wrong scheme, unknown, revoked',
        fn: async ({ stack }) => {
            const shape = (r, what) => {
                const e = expectError(r, 401, 'invalid_api_key', 'invalid_request_error', what);
                eq(e.param, null, `${what}: param`);
            };
            const body = chatBody('hi', { max_tokens: 2 });
            shape(await http(stack.base, 'POST', '/v1/chat/completions', { body }), 'missing Authorization');
            shape(await http(stack.base, 'POST', '/v1/chat/completions',
                             { body, headers: { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` } }), 'Basic scheme');
            shape(await http(stack.base, 'POST', '/v1/chat/completions',
                             { body, headers: { authorization: `Token ${stack.free.key}` } }), 'Token scheme');
            shape(await http(stack.base, 'POST', '/v1/chat/completions',
                             { body, headers: { authorization: 'Bearer' } }), 'Bearer without key');
            shape(await stack.post('/v1/chat/completions', UNKNOWN_KEY, body), 'unknown key');
            shape(await stack.post('/v1/chat/completions', 'sk-mt-', body), 'prefix only');
            shape(await stack.get('/v1/models', UNKNOWN_KEY), 'unknown key on /v1/models');
            shape(await stack.get('/v1/usage', UNKNOWN_KEY), 'unknown key on /v1/usage');
            shape(await stack.post('/v1/completions', UNKNOWN_KEY, { model: 'sim-small', prompt: 'x' }), 'unknown key on /v1/completions');
            //  The admin token is not an API key.
            shape(await stack.post('/v1/chat/completions', stack.adminToken, body), 'admin token as API key');
            const t = await stack.tenant({ tier: 'free' }, 'revoke');
            const k = await issueKey(stack, t.id);
            await poll(async () => (await stack.get('/v1/models', k.key)).status === 200, ms(2000), 50);
            await revoke(stack, k.keyId);
            const gone = await poll(async () => (await stack.post('/v1/chat/completions', k.key, body)).status === 401,
                                    ms(1500), 50);
            assert(gone, 'revoked key still accepted');
            shape(await stack.post('/v1/chat/completions', k.key, body), 'revoked key');
            //  Deleting a tenant refuses its keys too.
            const d = await stack.admin('DELETE', `/admin/v1/tenants/${t.id}`);
            eq(d.status, 200, `DELETE tenant: ${short(d)}`);
            eq(d.json && d.json.deleted, true, 'DELETE tenant: deleted');
            const dead = await poll(async () => (await stack.get('/v1/models', t.key)).status === 401, ms(1500), 50);
            assert(dead, 'key of a deleted tenant still accepted');
        },
    },
    {
        name: 'bad input: 400/404 in OpenAI shape, nothing breaks',
        fn: async ({ stack }) => {
            const key = stack.free.key;
            const post = (body, headers) => http(stack.base, 'POST', '/v1/chat/completions', { key, body, headers });
            expectError(await post('{"model": "sim-small", "messages": ['), 400, 'invalid_json', 'invalid_request_error', 'malformed JSON');
            expectError(await post(''), 400, undefined, 'invalid_request_error', 'empty body');
            expectError(await post(JSON.stringify(chatBody('hi')), { 'content-type': 'text/plain' }),
                        400, undefined, 'invalid_request_error', 'text/plain');
            for (const b of ['[]', '42', 'null', '"str"'])
                expectError(await post(b), 400, undefined, 'invalid_request_error', `body ${b}`);
            const e404 = expectError(await post(chatBody('hi', { model: 'no-such-model' })), 404,
                                     'model_not_found', 'invalid_request_error', 'unknown model');
            assert(e404.message.length > 0, 'model_not_found message');
            const noMsg = expectError(await post({ model: 'sim-small' }), 400, undefined, 'invalid_request_error', 'missing messages');
            eq(noMsg.param, 'messages', 'param of missing messages');
            const noModel = expectError(await post({ messages: [{ role: 'user', content: 'hi' }] }), 400,
                                        undefined, 'invalid_request_error', 'missing model');
            eq(noModel.param, 'model', 'param of missing model');
            expectError(await post({ model: 'sim-small', messages: 'hi' }), 400, undefined, undefined, 'messages not an array');
            expectError(await post({ model: 42, messages: [{ role: 'user', content: 'hi' }] }), 400, undefined, undefined, 'model not a string');
            expectError(await post(chatBody('hi', { max_tokens: -1 })), 400, undefined, 'invalid_request_error', 'max_tokens -1');
            expectError(await post(chatBody('hi', { max_tokens: '10' })), 400, undefined, 'invalid_request_error', 'max_tokens "10"');
            expectError(await post(chatBody('hi', { max_tokens: 1.5 })), 400, undefined, undefined, 'max_tokens 1.5');
            expectError(await post(chatBody('hi', { max_tokens: 1e300 })), 400, undefined, undefined, 'max_tokens 1e300');
            expectError(await post(chatBody('hi', { stream: 'yes' })), 400, undefined, undefined, 'stream "yes"');
            expectError(await http(stack.base, 'POST', '/v1/completions', { key, body: { model: 'sim-small' } }),
                        400, undefined, undefined, 'completion without prompt');
            //  Deep nesting and odd bytes stay a 400.
            expectError(await post('['.repeat(20000) + ']'.repeat(20000)), 400, undefined, undefined, 'deep nesting');
            expectError(await post(Buffer.from([0x7b, 0xff, 0xfe, 0x00, 0x22, 0x7d])), 400, undefined, undefined, 'binary body');
            //  Over MT_GW_MAX_BODY (65536): 400 body_too_large.
            const big = JSON.stringify(chatBody('x'.repeat(100000)));
            const req = `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${key}\r\n` +
                        `Content-Type: application/json\r\nContent-Length: ${big.length}\r\nConnection: close\r\n\r\n`;
            const rb = await rawHttp(stack.ports.gwHttp, Buffer.concat([Buffer.from(req), Buffer.from(big)]));
            assert(rb.status === 400, `oversized body: status ${rb.status} ${rb.error} ${rb.body.slice(0, 200)}`);
            let bj = null;
            try { bj = JSON.parse(rb.body); } catch { /* checked below */ }
            eq(bj && bj.error && bj.error.code, 'body_too_large', `oversized body code (${rb.body.slice(0, 200)})`);
            //  Also without Content-Length (chunked upload).
            const head = `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${key}\r\n` +
                         'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n';
            const parts = [Buffer.from(head)];
            for (let i = 0; i < big.length; i += 8192) {
                const piece = big.slice(i, i + 8192);
                parts.push(Buffer.from(`${piece.length.toString(16)}\r\n${piece}\r\n`));
            }
            parts.push(Buffer.from('0\r\n\r\n'));
            const rc = await rawHttp(stack.ports.gwHttp, Buffer.concat(parts));
            eq(rc.status, 400, `chunked oversized body: status (${rc.error} ${rc.body.slice(0, 200)})`);
            let cj = null;
            try { cj = JSON.parse(rc.body); } catch { /* checked below */ }
            eq(cj && cj.error && cj.error.code, 'body_too_large', `chunked oversized body code (${rc.body.slice(0, 200)})`);
            //  Routes.
            expectError(await http(stack.base, 'GET', '/v1/nope', { key }), 404, undefined, undefined, 'unknown route');
            const wm = await http(stack.base, 'GET', '/v1/chat/completions', { key });
            expectError(wm, 405, 'method_not_allowed', 'invalid_request_error', 'GET /v1/chat/completions');
            //  Garbage and half requests on raw sockets.
            const g = await rawHttp(stack.ports.gwHttp, Buffer.from('GARBAGE \x01\x02 NOT/HTTP\r\n\r\n'), ms(3000));
            eq(g.status, 400, `garbage request: status (${g.error} ${g.body.slice(0, 200)})`);
            await new Promise((resolve) => {
                const s = net.connect(stack.ports.gwHttp, '127.0.0.1', () => {
                    s.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\n` +
                            'Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n{"model":');
                    setTimeout(() => { s.destroy(); resolve(); }, 100);
                });
                s.on('error', () => resolve());
            });
            //  After all of that the gateway still serves.
            expectChat(await chat(stack, key, 'still there?', { max_tokens: 4 }), 'good request afterwards');
            eq((await http(stack.base, 'GET', '/healthz')).status, 200, 'gateway /healthz afterwards');
        },
    },
    {
        name: '429 quota_exceeded: a daily limit is never overspent',
        fn: async ({ stack, pg }) => {
            const t = await stack.tenant({ tier: 'free', daily_token_limit: 60 }, 'quota');
            let spent = 0;
            let ok = 0;
            let refused = null;
            for (let i = 0; i < 30 && !refused; i++) {
                const r = await chat(stack, t.key, 'hi', { max_tokens: 8 });
                if (r.status === 200) {
                    const c = expectChat(r, `request ${i}`);
                    spent += c.usage.total_tokens;
                    ok++;
                } else {
                    refused = r;
                }
            }
            assert(ok >= 1, `no request succeeded before the refusal: ${refused && short(refused)}`);
            assert(refused, `30 requests and still no refusal (spent ${spent})`);
            assert(spent <= 60, `spent ${spent} tokens over a daily limit of 60`);
            const before = nextMidnight();
            const e = expectError(refused, 429, 'quota_exceeded', 'insufficient_quota', 'over quota');
            assert(e, 'error');
            const resetAt = refused.json.reset_at;
            assert(resetAt === before || resetAt === nextMidnight(), `reset_at ${JSON.stringify(resetAt)}, want ${before}`);
            const ra = retryAfter(refused, 'quota 429');
            assert(ra > 0 && ra <= 86400, `Retry-After ${ra}`);
            //  Still refused, streamed or not, and refusals cost nothing.
            expectError(await chat(stack, t.key, 'hi', { max_tokens: 8 }), 429, 'quota_exceeded', undefined, 'again');
            const sr = await chat(stack, t.key, 'hi', { max_tokens: 8, stream: true });
            expectError(sr, 429, 'quota_exceeded', undefined, 'streamed');
            //  The ledger agrees: never more than the limit.
            const rows = await poll(async () => {
                const q = await pg.query(`SELECT count(*), coalesce(sum(prompt_tokens + completion_tokens), 0)
                    FROM request_logs WHERE tenant_id = '${t.id}' AND http_status = 200`);
                return Number(q[0][0]) >= ok ? q[0] : null;
            }, ms(5000), 100);
            assert(rows, `request_logs has fewer than ${ok} rows for the tenant`);
            assert(Number(rows[1]) <= 60, `request_logs sums ${rows[1]} tokens over a limit of 60`);
            eq(Number(rows[1]), spent, 'request_logs tokens vs responses');
        },
    },
    {
        name: '429 rate_limit_exceeded: requests/min and tokens/min',
        fn: async ({ stack }) => {
            const t = await stack.tenant({ tier: 'free', requests_per_minute: 3 }, 'rpm');
            for (let i = 0; i < 3; i++) {
                const r = await chat(stack, t.key, 'hi', { max_tokens: 2 });
                expectChat(r, `request ${i + 1} of 3`);
                eq(Number(r.headers.get('x-ratelimit-limit-requests')), 3, 'x-ratelimit-limit-requests');
                eq(Number(r.headers.get('x-ratelimit-remaining-requests')), 2 - i, `remaining-requests after ${i + 1}`);
            }
            const r = await chat(stack, t.key, 'hi', { max_tokens: 2 });
            expectError(r, 429, 'rate_limit_exceeded', 'requests', '4th request in a minute');
            const ra = retryAfter(r, 'rpm 429');
            assert(ra >= 1 && ra <= 60, `Retry-After ${ra} for a per-minute limit`);
            eq(r.headers.get('x-ratelimit-remaining-requests'), '0', 'remaining-requests on the 429');
            //  tokens/minute: the reservation (prompt + max_tokens) counts.
            const tt = await stack.tenant({ tier: 'free', tokens_per_minute: 50 }, 'tpm');
            expectChat(await chat(stack, tt.key, 'hi', { max_tokens: 10 }), 'within tokens/min');
            const big = await chat(stack, tt.key, 'hi', { max_tokens: 100 });
            expectError(big, 429, 'rate_limit_exceeded', 'tokens', 'over tokens/min');
            retryAfter(big, 'tpm 429');
        },
    },
    {
        name: 'metering: request_logs, usage_records, admin and tenant usage',
        timeout: 40000,
        fn: async ({ stack, pg }) => {
            const a = await stack.tenant({ tier: 'pro' }, 'meter-a');
            const b = await stack.tenant({ tier: 'free' }, 'meter-b');
            const usages = [];
            const rids = [];
            let r = await chat(stack, a.key, 'metering one', { max_tokens: 7 });
            usages.push(expectChat(r, 'chat').usage); rids.push(r.headers.get('x-request-id'));
            r = await chat(stack, a.key, 'metering two', { max_tokens: 9, stream: true, stream_options: { include_usage: true } });
            usages.push(expectStream(r, 'chat', 'stream').usage); rids.push(r.headers.get('x-request-id'));
            r = await completion(stack, a.key, 'metering three', { max_tokens: 5 });
            usages.push(expectCompletion(r, 'completion').usage); rids.push(r.headers.get('x-request-id'));
            r = await chat(stack, b.key, 'metering b', { max_tokens: 11 });
            const bUsage = expectChat(r, 'chat b').usage;
            const total = usages.reduce((s, u) => s + u.total_tokens, 0);
            const want = usages.map((u) => `${u.prompt_tokens},${u.completion_tokens}`).sort().join(' ');
            let got = '';
            const logged = await poll(async () => {
                const rows = await pg.query(`SELECT prompt_tokens, completion_tokens, status, http_status, model, pool
                    FROM request_logs WHERE tenant_id = '${a.id}'`);
                got = rows.map((x) => `${x[0]},${x[1]}`).sort().join(' ');
                return rows.length >= 3 ? rows : null;
            }, ms(5000), 100);
            assert(logged, `request_logs rows for the tenant: ${got || 'none'} (want ${want})`);
            eq(got, want, 'request_logs prompt,completion tokens');
            for (const row of logged) {
                eq(row[2], 'ok', 'request_logs.status');
                eq(row[3], '200', 'request_logs.http_status');
                eq(row[4], 'sim-small', 'request_logs.model');
                eq(row[5], 'standard', 'request_logs.pool');
            }
            const ids = (await pg.query(`SELECT request_id FROM request_logs WHERE tenant_id = '${a.id}'`)).map((x) => x[0]);
            if (rids.every((x) => x) && rids.some((x) => ids.includes(x)))
                eq(rids.filter((x) => ids.includes(x)).length, 3, 'request_logs.request_id vs x-request-id');
            let rolled = '';
            const ur = await poll(async () => {
                const q = await pg.query(`SELECT coalesce(sum(tokens_used), 0), coalesce(sum(request_count), 0)
                    FROM usage_records WHERE tenant_id = '${a.id}'`);
                rolled = q[0].join(',');
                return Number(q[0][0]) === total && Number(q[0][1]) === 3;
            }, ms(10000), 200);
            assert(ur, `usage_records tokens_used,request_count = ${rolled}, want ${total},3`);
            //  Admin view.
            const au = await stack.admin('GET', `/admin/v1/usage?tenant_id=${a.id}`);
            eq(au.status, 200, `GET /admin/v1/usage (${au.text.slice(0, 200)})`);
            const arows = listOf(au.json);
            assert(arows && arows.length >= 1, `admin usage rows: ${au.text.slice(0, 200)}`);
            eq(arows.reduce((s, x) => s + x.tokens_used, 0), total, 'admin usage tokens_used');
            assert(arows.every((x) => x.tenant_id === a.id), 'admin usage has other tenants');
            const nou = await stack.admin('GET', `/admin/v1/usage?tenant_id=${a.id}`, undefined, 'wrong');
            eq(nou.status, 401, 'admin usage with a wrong token');
            //  Tenant view: only its own.
            await poll(async () => {
                const q = await pg.query(`SELECT coalesce(sum(tokens_used), 0) FROM usage_records WHERE tenant_id = '${b.id}'`);
                return Number(q[0][0]) === bUsage.total_tokens;
            }, ms(10000), 200);
            for (const [t, want2] of [[a, total], [b, bUsage.total_tokens]]) {
                const tu = await stack.get('/v1/usage', t.key);
                eq(tu.status, 200, `GET /v1/usage (${tu.text.slice(0, 200)})`);
                const rows = listOf(tu.json);
                assert(rows, `/v1/usage rows: ${tu.text.slice(0, 200)}`);
                eq(tu.json.tenant_id, t.id, '/v1/usage tenant_id');
                eq(tu.json.total_tokens, want2, `/v1/usage total_tokens of ${t.name}`);
                assert(rows.every((x) => x.tenant_id === t.id),
                       '/v1/usage shows another tenant');
                eq(rows.reduce((s, x) => s + x.tokens_used, 0), want2, `/v1/usage tokens_used of ${t.name}`);
            }
        },
    },
    {
        name: 'garbage on every ZeroMQ port changes nothing',
        fn: async ({ stack }) => garbageChangesNothing(stack, zmqGarbage(), 200, 'after garbage'),
    },
    {
        name: 'garbage-filled Batches on every ZeroMQ port change nothing',
        fn: async ({ stack }) => garbageChangesNothing(stack, batchGarbage(), 300, 'after batches'),
    },
    {
        name: '/v1/models per tier; a tier cannot use another pool\'s model',
        fn: async ({ stack }) => {
            const ids = async (key) => {
                const r = await stack.get('/v1/models', key);
                eq(r.status, 200, '/v1/models');
                eq(r.json.object, 'list', '/v1/models object');
                for (const m of r.json.data) {
                    eq(m.object, 'model', 'model entry object');
                    assert(typeof m.id === 'string', 'model entry id');
                }
                return r.json.data.map((m) => m.id).sort();
            };
            const free = await ids(stack.free.key);
            assert(free.includes('sim-small') && !free.includes('sim-large'), `free tier models ${free}`);
            const ent = await ids(stack.ent.key);
            assert(ent.includes('sim-large') && !ent.includes('sim-small'), `enterprise models ${ent}`);
            const pro = await stack.tenant({ tier: 'pro' }, 'models-pro');
            const prom = await ids(pro.key);
            assert(prom.includes('sim-small') && !prom.includes('sim-large'), `pro tier models ${prom}`);
            expectError(await chat(stack, stack.free.key, 'hi', { model: 'sim-large', max_tokens: 3 }), 404,
                        'model_not_found', 'invalid_request_error', 'free tier asks for sim-large');
            expectError(await chat(stack, stack.ent.key, 'hi', { model: 'sim-small', max_tokens: 3 }), 404,
                        'model_not_found', undefined, 'enterprise asks for sim-small');
            const c = expectChat(await chat(stack, stack.ent.key, 'hi', { model: 'sim-large', max_tokens: 5 }), 'enterprise sim-large');
            eq(c.json.model, 'sim-large', 'model of the premium answer');
            const r2 = await chat(stack, stack.ent.key, 'hi', { model: 'sim-large', max_tokens: 2 });
            eq(Number(r2.headers.get('x-ratelimit-limit-requests')), 10000, 'x-ratelimit-limit-requests for enterprise');
        },
    },
    {
        name: 'every service serves /metrics',
        fn: async ({ stack }) => {
            for (const s of stack.services) {
                const r = await http(`http://127.0.0.1:${s.metricsPort}`, 'GET', '/metrics');
                eq(r.status, 200, `${s.name} /metrics`);
                assert(/^# TYPE \S+ (counter|gauge|histogram|summary|untyped)$/m.test(r.text),
                       `${s.name} /metrics has no "# TYPE" line`);
                const ct = r.headers.get('content-type') || '';
                assert(ct.startsWith('text/plain'), `${s.name} /metrics content-type ${ct}`);
            }
        },
    },
];

//  ZMTP 3 greeting (64 bytes), as a client with the NULL mechanism.
function greeting(minor = 1) {
    const g = Buffer.alloc(64);
    g[0] = 0xff; g[9] = 0x7f; g[10] = 3; g[11] = minor;
    g.write('NULL', 12, 'latin1');
    return g;
}
function readyCommand(type) {
    const name = Buffer.from('Socket-Type');
    const val = Buffer.from(type);
    const len = Buffer.alloc(4); len.writeUInt32BE(val.length);
    const body = Buffer.concat([Buffer.from([5]), Buffer.from('READY'), Buffer.from([name.length]), name, len, val]);
    return Buffer.concat([Buffer.from([0x04, body.length]), body]);
}
function frame(body, more = false) {
    if (body.length < 256) return Buffer.concat([Buffer.from([more ? 1 : 0, body.length]), body]);
    const len = Buffer.alloc(8); len.writeBigUInt64BE(BigInt(body.length));
    return Buffer.concat([Buffer.from([more ? 3 : 2]), len, body]);
}

function zmqGarbage() {
    const hs = Buffer.concat([greeting(), readyCommand('DEALER')]);
    //  Protobuf-looking junk: field tags with bad lengths and wire types.
    const pb = [Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]), Buffer.from([0x12, 0x05, 0x41]),
                Buffer.from([0xfa, 0xff, 0xff, 0xff, 0x7f, 0x00]), Buffer.from([0x08, 0x96, 0x01]),
                Buffer.from([0x52, 0x02, 0x0a, 0x7f]), Buffer.alloc(0)];
    const huge = Buffer.alloc(9); huge[0] = 0x02; huge.writeBigUInt64BE(1n << 40n, 1);
    return [
        randomBytes(3000),
        Buffer.concat([greeting(), randomBytes(500)]),
        Buffer.concat([greeting(0), readyCommand('ROUTER'), randomBytes(200)]),
        Buffer.concat([hs, ...pb.map((b) => frame(b))]),
        Buffer.concat([hs, frame(randomBytes(40), true), frame(Buffer.alloc(0), true), frame(randomBytes(300))]),
        Buffer.concat([hs, frame(randomBytes(1000)), frame(randomBytes(70000))]),
        Buffer.concat([hs, huge, randomBytes(100)]),
        Buffer.concat([hs, Buffer.from([0x04, 0x06, 0x05]), Buffer.from('ERROR'), randomBytes(50)]),
        Buffer.alloc(0),
    ];
}

//  Envelopes by hand (proto/mt.proto): Batch is Envelope field 16, its items
//  field 1; a Cancel (field 6) of a request nobody knows is the good item.
function pbVarint(n) {
    const out = [];
    while (n > 127) { out.push((n & 127) | 128); n = Math.floor(n / 128); }
    out.push(n);
    return Buffer.from(out);
}
function pbField(tag, body) { return Buffer.concat([pbVarint(tag), pbVarint(body.length), body]); }
function pbBatch(items) { return pbField((16 << 3) | 2, Buffer.concat(items.map((i) => pbField(0x0a, i)))); }
function batchGarbage() {
    const hs = Buffer.concat([greeting(), readyCommand('DEALER')]);
    const cancel = pbField(0x32, Buffer.concat([pbField(0x0a, Buffer.from('garbage-batch')),
                                                pbField(0x12, Buffer.from('t'))]));
    let deep = cancel;
    for (let i = 0; i < 50; i++) deep = pbBatch([deep]);
    const many = Array.from({ length: 20000 }, (_, i) => (i % 3 ? Buffer.from([0xff]) : Buffer.alloc(0)));
    return [
        Buffer.concat([hs, frame(pbBatch([]))]),                              //  empty
        Buffer.concat([hs, frame(pbBatch([cancel, pbBatch([cancel]), randomBytes(20), Buffer.alloc(0),
                                          pbBatch([]), cancel]))]),           //  nested, bad, empty items
        Buffer.concat([hs, frame(pbBatch(many))]),                            //  20,000 bad items
        Buffer.concat([hs, frame(deep)]),                                     //  batches 50 deep
        Buffer.concat([hs, frame(pbBatch([cancel, cancel]), true), frame(randomBytes(10))]),  //  multipart
        Buffer.concat([hs, frame(Buffer.from([0x82, 0x01, 0x05, 0x0a, 0x10, 0x01]))]),        //  lying lengths
        Buffer.concat([hs, frame(Buffer.concat([pbBatch([cancel]), randomBytes(30)]))]),      //  trailing junk
    ];
}

function sendRaw(port, payload) {
    return new Promise((resolve) => {
        const s = net.connect(port, '127.0.0.1');
        const timer = setTimeout(() => { s.destroy(); resolve(null); }, 300);
        s.on('connect', () => {
            if (payload.length) s.write(payload);
            setTimeout(() => { clearTimeout(timer); s.destroy(); resolve(null); }, 50);
        });
        s.on('data', () => {});
        s.on('error', (e) => {
            clearTimeout(timer);
            resolve(e.code === 'ECONNREFUSED' ? `connection refused on port ${port}` : null);
        });
    });
}
