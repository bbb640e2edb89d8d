//  The front door against hostile clients: connections that make no
//  progress are closed after the configured timeouts while queued requests
//  and slow streams live on; caps per client address and on the whole
//  gateway refuse at once; repeated 401s from one address are throttled.
//  Every request here goes over a fresh socket (no keep-alive pool), from a
//  chosen loopback address (127.0.0.0/8 is all local on Linux).
import net from 'node:net';
import nodeHttp from 'node:http';
import { assert, eq, ms, poll, sleep, TestFailure } from './harness.mjs';
import { chatBody, expectError, expectChat, retryAfter, short } from './common.mjs';

//  Short timeouts of the 'front' stack (the gateway's options).
export const FRONT_TIMEOUTS = { header: 1000, body: 1000, idle: 1500 };
//  Its body limit of /v1/completions (chat keeps the stack's max-body).
export const FRONT_COMPLETIONS_MAX_BODY = 2048;
//  Caps of the 'front-caps' stack.
export const FRONT_CAPS = { maxConnections: 16, perClient: 4, proxy: '127.0.0.4' };

//  One HTTP request on its own connection from `local`; never throws on
//  status. Returns { status, headers, text, json } or { status: 0, error }.
export function req(port, method, path, { local = '127.0.0.1', headers = {}, body, timeout = ms(15000) } = {}) {
    return new Promise((resolve) => {
        const data = body === undefined ? undefined
            : typeof body === 'string' ? body : JSON.stringify(body);
        const h = { ...headers };
        if (data !== undefined) {
            h['content-type'] = h['content-type'] || 'application/json';
            h['content-length'] = Buffer.byteLength(data);
        }
        const r = nodeHttp.request({ host: '127.0.0.1', port, method, path, localAddress: local,
                                     agent: false, headers: h, timeout }, (res) => {
            const chunks = [];
            res.on('data', (c) => chunks.push(c));
            res.on('end', () => {
                const text = Buffer.concat(chunks).toString('utf8');
                let json = null;
                try { json = JSON.parse(text); } catch { /* not JSON */ }
                resolve({ status: res.statusCode, headers: { get: (n) => res.headers[n.toLowerCase()] ?? null },
                          text, json });
            });
            res.on('error', (e) => resolve({ status: 0, error: String(e.message), text: '' }));
        });
        r.on('timeout', () => r.destroy(new Error('timeout')));
        r.on('error', (e) => resolve({ status: 0, error: String(e.message), text: '' }));
        if (data !== undefined) r.write(data);
        r.end();
    });
}

//  A raw socket from `local`. Resolves once connected (or closed at once:
//  refused). Tracks whether and when the server closed it.
function rawSocket(port, local = '127.0.0.1') {
    return new Promise((resolve) => {
        const s = net.connect({ port, host: '127.0.0.1', localAddress: local });
        const o = { sock: s, closed: false, closedAt: 0, data: '', connected: false, opened: Date.now() };
        s.on('data', (d) => { o.data += d.toString('latin1'); });
        s.on('error', () => {});
        s.on('close', () => { o.closed = true; o.closedAt = Date.now(); resolve(o); });
        s.on('connect', () => { o.connected = true; resolve(o); });
    });
}

function closeAll(list) {
    for (const o of list) o.sock.destroy();
}

//  A value of the gateway's /metrics (summed over labels when name has
//  none), read over a fresh connection: null when not answered.
async function metric(stack, name) {
    const r = await req(stack.ports.gwHttp, 'GET', '/metrics', { local: '127.0.0.8', timeout: ms(3000) });
    if (r.status !== 200) return null;
    let sum = null;
    for (const line of r.text.split('\n')) {
        if (line.startsWith(name) && (line[name.length] === ' ' || line[name.length] === '{')) {
            const v = Number(line.trim().split(/\s+/).pop());
            if (Number.isFinite(v)) sum = (sum || 0) + v;
        }
    }
    return sum;
}

//  Wait until the gateway holds at most `n` connections.
async function settle(stack, n = 2) {
    await poll(async () => (await metric(stack, 'mt_gw_connections_open')) <= n, ms(8000), 100);
}

//  A whole SSE body into its data payloads (comments such as keep-alives
//  are skipped).
function sseData(text) {
    return text.split('\n\n').filter((e) => e.startsWith('data: ')).map((e) => e.slice(6));
}

export const frontTests = [
    {
        name: 'silent, slowloris, slow-body and idle keep-alive connections are closed after their timeouts',
        timeout: 30000,
        fn: async ({ stack }) => {
            const port = stack.ports.gwHttp;
            const before = {};
            for (const p of ['header', 'body', 'idle'])
                before[p] = await metric(stack, `mt_gw_connections_timed_out_total{phase="${p}"}`) || 0;
            const timers = [];
            try {
                const silent = await rawSocket(port);
                //  One header line every 200 ms: always active, never done
                const slow = await rawSocket(port);
                slow.sock.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
                timers.push(setInterval(() => { if (!slow.closed) slow.sock.write('X-Slow: 1\r\n'); }, 200));
                //  Headers done, a body of 100 bytes one byte every 200 ms
                const body = await rawSocket(port);
                body.sock.write('POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'
                                + 'Content-Length: 100\r\n\r\n');
                timers.push(setInterval(() => { if (!body.closed) body.sock.write(' '); }, 200));
                //  One request answered, then nothing
                const idle = await rawSocket(port);
                idle.sock.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
                const all = { silent, slow, body, idle };
                const ok = await poll(() => Object.values(all).every((o) => o.closed), ms(10000), 100);
                const open = Object.entries(all).filter(([, o]) => !o.closed).map(([k]) => k);
                assert(ok, `still open after ${ms(10000)} ms: ${open.join(', ')}`);
                assert(idle.data.startsWith('HTTP/1.1 200'), `keep-alive request not answered first: ${idle.data.slice(0, 60)}`);
                assert(!slow.data && !body.data && !silent.data,
                       `a timed-out connection got an answer: ${(slow.data || body.data || silent.data).slice(0, 80)}`);
                //  Closed by the gateway's own deadlines, each counted by phase
                const after = {};
                for (const p of ['header', 'body', 'idle'])
                    after[p] = await metric(stack, `mt_gw_connections_timed_out_total{phase="${p}"}`) || 0;
                assert(after.header - before.header >= 2, `header timeouts ${before.header} -> ${after.header}`);
                assert(after.body - before.body >= 1, `body timeouts ${before.body} -> ${after.body}`);
                assert(after.idle - before.idle >= 1, `idle timeouts ${before.idle} -> ${after.idle}`);
                closeAll(Object.values(all));
                //  The gateway still serves
                eq((await req(port, 'GET', '/healthz')).status, 200, '/healthz afterwards');
            } finally {
                for (const t of timers) clearInterval(t);
            }
        },
    },
    {
        name: 'a queued request and a slow stream (one token a second) outlive those timeouts',
        timeout: 40000,
        fn: async ({ stack }) => {
            const port = stack.ports.gwHttp;
            const a = await stack.tenant({ tier: 'free' }, 'front-stream');
            const b = await stack.tenant({ tier: 'free' }, 'front-queued');
            const auth = (t) => ({ authorization: `Bearer ${t.key}` });
            //  The stream takes the only slot for ~4 s; the second request
            //  waits in the queue all that time, then runs ~4 s itself.
            const streamP = req(port, 'POST', '/v1/chat/completions', { headers: auth(a),
                body: chatBody('stream slowly', { stream: true, max_tokens: 4 }), timeout: ms(30000) });
            await sleep(300);
            const queuedP = req(port, 'POST', '/v1/chat/completions', { headers: auth(b),
                body: chatBody('wait in the queue', { max_tokens: 4 }), timeout: ms(30000) });
            const [st, q] = await Promise.all([streamP, queuedP]);
            eq(st.status, 200, `stream status (${short(st)})`);
            const data = sseData(st.text);
            eq(data[data.length - 1], '[DONE]', 'stream ends with [DONE]');
            const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
            assert(!chunks.some((c) => c.error), `stream carried an error: ${st.text.slice(0, 300)}`);
            const content = chunks.map((c) => c.choices?.[0]?.delta?.content || '').join('');
            assert(content.length > 0, 'stream had no content');
            const r = expectChat(q, 'queued request');
            assert(r.usage.completion_tokens >= 1, 'queued request: no tokens');
        },
    },
    {
        name: 'body limits per route: 400 body_too_large in OpenAI shape, answered at the headers when announced',
        timeout: 30000,
        fn: async ({ stack }) => {
            const port = stack.ports.gwHttp;
            const t = await stack.tenant({ tier: 'free' }, 'front-body');
            const auth = { authorization: `Bearer ${t.key}` };
            const prompt = 'x'.repeat(4000);
            const rc = await req(port, 'POST', '/v1/completions',
                                 { headers: auth, body: { model: 'sim-small', prompt, max_tokens: 1 } });
            const e = expectError(rc, 400, 'body_too_large', 'invalid_request_error', '/v1/completions over its limit');
            assert(e.message.includes(String(FRONT_COMPLETIONS_MAX_BODY)), `message does not name the limit: ${e.message}`);
            //  The same body is fine for chat, whose limit is larger
            expectChat(await req(port, 'POST', '/v1/chat/completions',
                                 { headers: auth, body: chatBody(prompt, { max_tokens: 1 }) }), 'chat under its limit');
            //  50 MB announced, nothing sent: refused before any byte of it
            const o = await rawSocket(port);
            o.sock.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${t.key}\r\n`
                         + 'Content-Type: application/json\r\nContent-Length: 50000000\r\n\r\n');
            const answered = await poll(() => o.data.includes('\r\n\r\n'), ms(5000), 20);
            o.sock.destroy();
            assert(answered, 'an announced oversized body was not answered before it was sent');
            assert(o.data.startsWith('HTTP/1.1 400'), `announced oversized body: ${o.data.slice(0, 40)}`);
            assert(o.data.includes('body_too_large'), `announced oversized body: ${o.data.slice(0, 300)}`);
        },
    },
    {
        name: '401s from one address are throttled (429 Retry-After), valid keys pass, the throttle releases',
        timeout: 30000,
        fn: async ({ stack }) => {
            const port = stack.ports.gwHttp;
            const local = '127.0.0.5';
            const t = await stack.tenant({ tier: 'free' }, 'front-throttle');
            const bad = { authorization: 'Bearer sk-mt-not-a-key' };
            const before = await metric(stack, 'mt_gw_auth_throttled_total') || 0;
            //  The burst (3) of 401s, then 429
            let got429 = null;
            for (let i = 0; i < 8 && !got429; i++) {
                const r = await req(port, 'GET', '/v1/models', { local, headers: bad });
                if (r.status === 429) got429 = r;
                else expectError(r, 401, 'invalid_api_key', 'invalid_request_error', `bad key ${i}`);
                if (i < 2) assert(r.status === 401, `bad key ${i}: ${short(r)} before the burst was spent`);
            }
            assert(got429, 'no 429 after 8 bad keys from one address');
            expectError(got429, 429, 'too_many_auth_failures', 'requests', 'throttled');
            assert(retryAfter(got429, 'throttled 429') >= 1, 'Retry-After < 1');
            //  A missing key and the admin API share the throttle
            expectError(await req(port, 'GET', '/v1/models', { local }), 429, 'too_many_auth_failures', undefined, 'no key');
            expectError(await req(port, 'GET', '/admin/v1/tenants', { local, headers: bad }), 429,
                        'too_many_auth_failures', undefined, 'admin with a bad token');
            //  A valid key from the same address is not slowed
            const ok = await req(port, 'GET', '/v1/models', { local, headers: { authorization: `Bearer ${t.key}` } });
            eq(ok.status, 200, `valid key while throttled (${short(ok)})`);
            //  Another address is not throttled
            expectError(await req(port, 'GET', '/v1/models', { local: '127.0.0.6', headers: bad }), 401,
                        'invalid_api_key', undefined, 'bad key from another address');
            const after = await metric(stack, 'mt_gw_auth_throttled_total') || 0;
            assert(after - before >= 3, `mt_gw_auth_throttled_total ${before} -> ${after}`);
            //  Released: a bad key gets its 401 again once a failure is earned back
            const released = await poll(async () =>
                (await req(port, 'GET', '/v1/models', { local, headers: bad })).status === 401, ms(6000), 250);
            assert(released, 'still 429 after 6 s (interval 1 s)');
        },
    },
];

export const capTests = [
    {
        name: 'over the per-address cap a connection is refused at once; 127.0.0.3 is served meanwhile',
        timeout: 30000,
        fn: async ({ stack }) => {
            const port = stack.ports.gwHttp;
            await settle(stack);
            const held = [];
            try {
                for (let i = 0; i < FRONT_CAPS.perClient; i++) {
                    const o = await rawSocket(port, '127.0.0.2');
                    held.push(o);
                    assert(o.connected, `connection ${i} from 127.0.0.2 refused under the cap`);
                }
                const refusedBefore = await metric(stack, 'mt_gw_connections_refused_total{reason="per_client"}') || 0;
                const t0 = Date.now();
                const over = await req(port, 'GET', '/healthz', { local: '127.0.0.2', timeout: ms(5000) });
                assert(over.status === 0, `the connection over the cap was served: ${short(over)}`);
                assert(!/timeout/.test(over.error), 'the connection over the cap was left hanging, not refused');
                const other = await req(port, 'GET', '/healthz', { local: '127.0.0.3' });
                eq(other.status, 200, `/healthz from 127.0.0.3 (${short(other)})`);
                const refusedAfter = await metric(stack, 'mt_gw_connections_refused_total{reason="per_client"}') || 0;
                assert(refusedAfter > refusedBefore, `refusals per client ${refusedBefore} -> ${refusedAfter}`);
                assert(held.every((o) => !o.closed), 'a connection under the cap was closed');
                assert(Date.now() - t0 < ms(5000), 'refusal took the whole bound');
                //  One closes: the address may connect again
                held.pop().sock.destroy();
                const again = await poll(async () =>
                    (await req(port, 'GET', '/healthz', { local: '127.0.0.2' })).status === 200, ms(5000), 100);
                assert(again, '127.0.0.2 still refused after one of its connections closed');
            } finally {
                closeAll(held);
            }
        },
    },
    {
        name: 'behind a trusted proxy the cap counts X-Forwarded-For clients (429), not the proxy',
        timeout: 40000,
        fn: async ({ stack }) => {
            const port = stack.ports.gwHttp;
            await settle(stack);
            const t = await stack.tenant({ tier: 'pro' }, 'front-xff');
            const via = (client) => ({ local: FRONT_CAPS.proxy, timeout: ms(30000),
                headers: { authorization: `Bearer ${t.key}`, 'x-forwarded-for': `${client}, 127.0.0.4` } });
            //  perClient requests of one client in flight (4 tokens: about 3 s each)
            const inflight = [];
            for (let i = 0; i < FRONT_CAPS.perClient; i++)
                inflight.push(req(port, 'POST', '/v1/chat/completions',
                                  { ...via('198.51.100.7'), body: chatBody(`held ${i}`, { max_tokens: 4 }) }));
            await sleep(500);
            const over = await req(port, 'POST', '/v1/chat/completions',
                                   { ...via('198.51.100.7'), body: chatBody('one too many', { max_tokens: 1 }) });
            expectError(over, 429, 'too_many_connections', 'requests', 'fifth request of one client');
            retryAfter(over, 'too_many_connections');
            //  Another client behind the same proxy is served
            expectChat(await req(port, 'POST', '/v1/chat/completions',
                                 { ...via('198.51.100.8'), body: chatBody('another client', { max_tokens: 1 }) }),
                       'another client of the proxy');
            for (const r of await Promise.all(inflight))
                expectChat(r, 'a held request');
        },
    },
    {
        name: 'at the connection limit /healthz answers, open connections are served, new ones are refused fast',
        timeout: 40000,
        fn: async ({ stack }) => {
            const port = stack.ports.gwHttp;
            await settle(stack);
            const socks = [];
            let refusedBefore = 0;
            let n = 10;
            const nextAddr = () => `127.0.1.${n++}`;
            try {
                //  A keep-alive connection opened before the limit is reached
                const keep = await rawSocket(port, '127.0.0.7');
                socks.push(keep);
                //  Fill max-connections with silent connections, 4 an address
                for (let i = 0; i < FRONT_CAPS.maxConnections; i += FRONT_CAPS.perClient) {
                    const a = nextAddr();
                    for (let j = 0; j < FRONT_CAPS.perClient; j++) socks.push(await rawSocket(port, a));
                }
                await poll(async () => (await metric(stack, 'mt_gw_connections_open')) >= FRONT_CAPS.maxConnections,
                           ms(5000), 50);
                refusedBefore = await metric(stack, 'mt_gw_connections_refused_total{reason="limit"}') || 0;
                //  The kubelet's probe still answers
                const h = await req(port, 'GET', '/healthz', { local: '127.0.0.8', timeout: ms(5000) });
                eq(h.status, 200, `/healthz at the limit (${short(h)})`);
                //  A new request elsewhere: 503 at once, not a hang
                const busy = await req(port, 'GET', '/v1/models', { local: '127.0.0.9', timeout: ms(5000) });
                expectError(busy, 503, 'server_busy', 'server_error', 'a new connection at the limit');
                retryAfter(busy, 'server_busy');
                //  The connection opened before is served
                keep.sock.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
                const served = await poll(() => keep.data.startsWith('HTTP/1.1 200'), ms(5000), 50);
                assert(served, `open connection not served at the limit: ${JSON.stringify(keep.data.slice(0, 60))}`);
                //  Past the reserve too: closed at accept, never queued
                const burst = [];
                for (let i = 0; i < 40; i += FRONT_CAPS.perClient) {
                    const a = nextAddr();
                    for (let j = 0; j < FRONT_CAPS.perClient; j++) burst.push(rawSocket(port, a));
                }
                socks.push(...await Promise.all(burst));
                const closed = await poll(() => socks.filter((o) => o.closed && !o.data).length >= 4, ms(1500), 50);
                assert(closed, `past the reserve, only ${socks.filter((o) => o.closed).length} connections were closed`);
            } finally {
                closeAll(socks);
            }
            await settle(stack);
            //  Counted: the 503 and the connections closed at accept
            const refusedAfter = await metric(stack, 'mt_gw_connections_refused_total{reason="limit"}');
            assert(refusedAfter - refusedBefore >= 5, `refusals at the limit ${refusedBefore} -> ${refusedAfter}`);
            eq((await req(port, 'GET', '/healthz')).status, 200, '/healthz after the flood');
        },
    },
];

export default frontTests;
