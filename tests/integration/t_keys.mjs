//  Key lifecycle, admin tokens and roles, the audit trail, tenant reads under
//  row-level security, and HTTPS served by the gateway itself. Some tests
//  start a second gateway (HTTPS, same database and services): revocation
//  and expiry must reach it within about a second.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import {
    assert, eq, ms, sleep, poll, http, freePort, Service, BUILD, TestFailure, noteSecrets,
} from './harness.mjs';
import { UUID_RE, short, expectError, listOf } from './common.mjs';

//  ISO date-time (UTC, whole seconds) of a moment.
function iso(t) {
    return new Date(Math.floor(t / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function note(line) {
    process.stdout.write(`#   ${line}\n`);
}

async function issueKey(stack, tenantId, body, token) {
    const r = await stack.admin('POST', `/admin/v1/tenants/${tenantId}/keys`, body, token);
    eq(r.status, 201, `POST keys (${short(r)})`);
    assert(typeof r.json.api_key === 'string' && r.json.api_key.startsWith('sk-mt-'), 'api_key');
    assert(UUID_RE.test(r.json.id || ''), `key id ${JSON.stringify(r.json.id)}`);
    return { key: r.json.api_key, keyId: r.json.id, json: r.json };
}

async function keyList(stack, tenantId) {
    const r = await stack.admin('GET', `/admin/v1/tenants/${tenantId}/keys`);
    eq(r.status, 200, `GET keys (${short(r)})`);
    assert(!/key_hash|"api_key":|sk-mt-[0-9a-f]{20}/.test(r.text), `the key list shows a secret or hash: ${r.text.slice(0, 200)}`);
    return listOf(r.json);
}

//  ------------------------------------------------------------ second gateway

function openssl(args, cwd) {
    return new Promise((resolve, reject) => {
        execFile('openssl', args, { cwd, timeout: ms(30000) }, (err, stdout, stderr) => {
            if (err) reject(new TestFailure(`openssl ${args[0]}: ${String(stderr).trim().slice(-200)}`));
            else resolve();
        });
    });
}

//  A request over HTTPS trusting only the test's own certificate. Returns
//  { status, headers, text, json }; never throws on a status.
function httpsReq(port, ca, method, p, opts = {}) {
    return new Promise((resolve, reject) => {
        const headers = { ...(opts.headers || {}) };
        if (opts.key) headers.authorization = `Bearer ${opts.key}`;
        let body;
        if (opts.body !== undefined) {
            body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
            headers['content-type'] = 'application/json';
            headers['content-length'] = Buffer.byteLength(body);
        }
        const req = https.request({ host: '127.0.0.1', port, method, path: p, headers, ca,
                                    agent: false, timeout: opts.timeout || ms(10000) }, (res) => {
            const chunks = [];
            res.on('data', (d) => chunks.push(d));
            res.on('end', () => {
                const text = Buffer.concat(chunks).toString('utf8');
                let json = null;
                try { json = JSON.parse(text); } catch { /* not JSON */ }
                noteSecrets(json);
                resolve({ status: res.statusCode, headers: res.headers, text, json,
                          tls: res.socket && res.socket.getProtocol ? res.socket.getProtocol() : null });
            });
            res.on('error', reject);
        });
        req.on('timeout', () => req.destroy(new Error('timeout')));
        req.on('error', reject);
        if (body) req.write(body);
        req.end();
    });
}

//  Start (once per stack) a second gateway on the same database and services,
//  serving HTTPS with a self-signed certificate made here.
async function gatewayB(stack) {
    if (stack.gwB) return stack.gwB;
    const a = stack.svc('gateway');
    assert(a, 'no first gateway');
    const dir = path.join(stack.dir, 'tls');
    fs.mkdirSync(dir, { recursive: true });
    await openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'key.pem',
                   '-out', 'cert.pem', '-days', '1', '-subj', '/CN=127.0.0.1',
                   '-addext', 'subjectAltName=IP:127.0.0.1'], dir);
    const ca = fs.readFileSync(path.join(dir, 'cert.pem'));
    const port = await freePort();
    const tok = await freePort();
    const env = { ...a.env, MT_GW_HTTP_PORT: String(port),
                  MT_GW_TOKEN_BIND: `tcp://127.0.0.1:${tok}`, MT_GW_TOKEN_ENDPOINT: `tcp://127.0.0.1:${tok}`,
                  MT_GW_TLS_CERT: path.join(dir, 'cert.pem'), MT_GW_TLS_KEY: path.join(dir, 'key.pem') };
    const s = new Service('gateway-b', path.join(BUILD, 'bin', 'mt-auth-gateway'), env, stack.dir);
    s.metricsPort = port;
    stack.services.push(s);
    s.start();
    const req = (method, p, opts) => httpsReq(port, ca, method, p, opts);
    const ok = await poll(async () => {
        if (!s.running) throw Object.assign(new TestFailure(`gateway-b exited (${JSON.stringify(s.exit)})`), { fatal: true });
        const r = await req('GET', '/healthz', { timeout: 1000 });
        return r.status === 200;
    }, ms(15000), 100);
    assert(ok, 'gateway-b /healthz over HTTPS never answered 200');
    stack.gwB = { svc: s, port, ca, req, get: (p, key) => req('GET', p, { key }) };
    return stack.gwB;
}

//  ------------------------------------------------------------ usage rows
async function insertUsage(pg, tenantId, hours) {
    const values = hours.map((h, i) =>
        `('${tenantId}', date_trunc('hour', now() AT TIME ZONE 'UTC') - interval '${h} hours', ${100 + i}, 1, ${60 + i}, 40)`);
    await pg.query('INSERT INTO usage_records (tenant_id, timestamp, tokens_used, request_count,'
                   + ' prompt_tokens, completion_tokens) VALUES ' + values.join(', ')
                   + ' ON CONFLICT DO NOTHING');
}

export default [
    {
        name: 'API keys: names, expiry (401 says expired), several live keys, scheduled revocation, last_used_at',
        timeout: 40000,
        fn: async ({ stack }) => {
            const t = await stack.tenant({ tier: 'free' }, 'life');
            //  A second and third live key; one named, one expiring soon.
            const named = await issueKey(stack, t.id, { name: 'ci-runner' });
            eq(named.json.name, 'ci-runner', 'name of the new key');
            eq(named.json.status, 'active', 'status of the new key');
            const expiresAt = Math.ceil(Date.now() / 1000) * 1000 + 3000;
            const soon = await issueKey(stack, t.id, { name: 'temp', expires_at: iso(expiresAt) });
            eq(soon.json.expires_at, iso(expiresAt), 'expires_at as given');
            for (const [k, what] of [[t.key, 'first'], [named.key, 'named'], [soon.key, 'expiring']]) {
                const ok = await poll(async () => (await stack.get('/v1/models', k)).status === 200, ms(2000), 50);
                assert(ok, `${what} key not accepted`);
            }
            let keys = await keyList(stack, t.id);
            eq(keys.length, 3, 'keys listed');
            //  Oldest first, to the microsecond: these three were issued within a second or so,
            //  and created_at shows whole seconds only.
            eq(keys.map((k) => k.id).join(' '), [t.keyId, named.keyId, soon.keyId].join(' '),
               'keys listed in the order they were issued');
            for (const k of keys) assert('last_used_at' in k && 'expires_at' in k && 'revoke_at' in k && 'name' in k,
                                         `key fields: ${JSON.stringify(k)}`);
            //  last_used_at is written in batches, off the request path: it shows within a few seconds.
            const used = await poll(async () => {
                const l = await keyList(stack, t.id);
                return l.find((k) => k.id === named.keyId && k.last_used_at);
            }, ms(5000), 200);
            assert(used, 'last_used_at of a used key never shown in the key list');
            assert(Math.abs(Date.parse(used.last_used_at) - Date.now()) < ms(60000),
                   `last_used_at ${used.last_used_at} is not about now`);
            //  Scheduled revocation: still works during the grace period, refused after it.
            const rv = await stack.admin('DELETE', `/admin/v1/keys/${t.keyId}?grace_seconds=2`);
            eq(rv.status, 200, `scheduled revoke (${short(rv)})`);
            eq(rv.json.revoked, false, 'revoked right away');
            assert(typeof rv.json.revoke_at === 'string', `revoke_at ${JSON.stringify(rv.json.revoke_at)}`);
            eq((await stack.get('/v1/models', t.key)).status, 200, 'key in its grace period');
            const gone = await poll(async () => (await stack.get('/v1/models', t.key)).status === 401, ms(5000), 50);
            assert(gone, 'key still accepted after its scheduled revocation');
            //  Expiry: 401 invalid_api_key with a message saying so.
            const exp = await poll(async () => {
                const r = await stack.get('/v1/models', soon.key);
                return r.status === 401 ? r : null;
            }, ms(6000), 50);
            assert(exp, 'expired key still accepted');
            const e = expectError(exp, 401, 'invalid_api_key', 'invalid_request_error', 'expired key');
            assert(/expired/i.test(e.message), `message does not say expired: ${e.message}`);
            eq((await stack.get('/v1/models', named.key)).status, 200, 'the named key still works');
            keys = await keyList(stack, t.id);
            const by = Object.fromEntries(keys.map((k) => [k.id, k]));
            eq(by[t.keyId].status, 'revoked', 'status after the scheduled revocation');
            assert(by[t.keyId].revoked_at, 'revoked_at after the scheduled revocation');
            eq(by[soon.keyId].status, 'expired', 'status after expiry');
            eq(by[named.keyId].status, 'active', 'status of the untouched key');
            //  PATCH: rename, set and clear an expiry; a revoked key cannot change.
            const p1 = await stack.admin('PATCH', `/admin/v1/keys/${named.keyId}`,
                                         { name: 'ci-runner-2', expires_at: '2099-01-01' });
            eq(p1.status, 200, `PATCH key (${short(p1)})`);
            eq(p1.json.name, 'ci-runner-2', 'name after PATCH');
            eq(p1.json.expires_at, '2099-01-01T00:00:00Z', 'expires_at after PATCH');
            const p2 = await stack.admin('PATCH', `/admin/v1/keys/${named.keyId}`, { expires_at: null });
            eq(p2.json.expires_at, null, 'expires_at cleared');
            expectError(await stack.admin('PATCH', `/admin/v1/keys/${t.keyId}`, { name: 'x' }), 409,
                        'conflict', undefined, 'PATCH a revoked key');
            //  Bad input: 400s in OpenAI's shape.
            expectError(await stack.admin('POST', `/admin/v1/tenants/${t.id}/keys`, { expires_at: 'tomorrow' }),
                        400, 'invalid_value', undefined, 'expires_at tomorrow');
            expectError(await stack.admin('POST', `/admin/v1/tenants/${t.id}/keys`, { revoke_at: '2099-01-01' }),
                        400, 'invalid_value', undefined, 'revoke_at on create');
            expectError(await stack.admin('DELETE', `/admin/v1/keys/${named.keyId}?grace_seconds=-1`),
                        400, 'invalid_value', undefined, 'grace_seconds -1');
            expectError(await stack.admin('PATCH', `/admin/v1/keys/${randomUUID()}`, { name: 'x' }),
                        404, 'not_found', undefined, 'PATCH unknown key');
            eq((await stack.get('/v1/models', named.key)).status, 200, 'the named key after all that');
        },
    },
    {
        name: 'revocation and expiry reach a second gateway within about a second (measured)',
        timeout: 60000,
        fn: async ({ stack }) => {
            const b = await gatewayB(stack);
            const t = await stack.tenant({ tier: 'free' }, 'two-gw');
            const k = await issueKey(stack, t.id, { name: 'to-revoke' });
            const onB = await poll(async () => (await b.get('/v1/models', k.key)).status === 200, ms(3000), 20);
            assert(onB, 'a new key never worked on the second gateway');
            //  Revoke through the first gateway; poll the second every 20 ms.
            const t0 = Date.now();
            const rv = await stack.admin('DELETE', `/admin/v1/keys/${k.keyId}`);
            eq(rv.status, 200, `revoke (${short(rv)})`);
            const gone = await poll(async () => (await b.get('/v1/models', k.key)).status === 401, ms(5000), 20);
            const revokeMs = Date.now() - t0;
            assert(gone, `revoked key still accepted by the second gateway after ${revokeMs} ms`);
            //  Loose bound: the promise is one second; a loaded test machine gets three.
            assert(revokeMs < ms(3000), `revocation took ${revokeMs} ms to reach the second gateway`);
            eq((await b.get('/v1/models', t.key)).status, 200, 'the other key on the second gateway');
            //  Expiry: no write at all; each gateway's clock decides.
            const at = Math.ceil(Date.now() / 1000) * 1000 + 2000;
            const e = await issueKey(stack, t.id, { name: 'to-expire', expires_at: iso(at) });
            const live = await poll(async () => (await b.get('/v1/models', e.key)).status === 200, ms(2000), 20);
            assert(live, 'an expiring key never worked on the second gateway');
            const expired = await poll(async () => {
                const r = await b.get('/v1/models', e.key);
                return r.status === 401 ? r : null;
            }, ms(6000), 20);
            const lateMs = Date.now() - at;
            assert(expired, 'expired key still accepted by the second gateway');
            assert(/expired/i.test(expired.json?.error?.message || ''), `message: ${expired.text.slice(0, 200)}`);
            assert(lateMs < ms(3000), `expiry took effect ${lateMs} ms late on the second gateway`);
            note(`revocation reached the second gateway in ${revokeMs} ms; expiry took effect there ${Math.max(0, lateMs)} ms after expires_at (20 ms polling)`);
        },
    },
    {
        name: 'HTTPS: the gateway serves TLS with a given certificate; plain HTTP stays the default',
        fn: async ({ stack }) => {
            const b = await gatewayB(stack);
            const r = await b.get('/v1/models', stack.free.key);
            eq(r.status, 200, `GET /v1/models over HTTPS (${short(r)})`);
            assert(/^TLSv1\.[23]$/.test(r.tls || ''), `TLS version ${r.tls}`);
            assert(Array.isArray(r.json?.data), 'models over HTTPS');
            const c = await b.req('POST', '/v1/chat/completions', { key: stack.free.key,
                body: { model: 'sim-small', max_tokens: 4, messages: [{ role: 'user', content: 'hi over tls' }] } });
            eq(c.status, 200, `chat over HTTPS (${short(c)})`);
            eq(c.json?.object, 'chat.completion', 'chat object over HTTPS');
            //  The TLS port does not answer plain HTTP with a page.
            let plain = null;
            try {
                plain = await http(`http://127.0.0.1:${b.port}`, 'GET', '/healthz', { timeout: ms(3000) });
            } catch { /* refused or reset: fine */ }
            assert(!plain || plain.status !== 200, 'the HTTPS port answered plain HTTP with 200');
            //  A client that does not trust the certificate is refused by its own TLS check.
            let untrusted = null;
            try { untrusted = await httpsReq(b.port, undefined, 'GET', '/healthz'); } catch (e) { untrusted = e; }
            assert(untrusted instanceof Error, 'a self-signed certificate was accepted without its CA');
            //  The first gateway: plain HTTP.
            eq((await stack.get('/v1/models', stack.free.key)).status, 200, 'plain HTTP on the first gateway');
            assert(b.svc.running, 'gateway-b died');
        },
    },
    {
        name: 'admin tokens: bootstrap, create (shown once), list without secrets, viewer reads only (403), revoke',
        fn: async ({ stack, pg }) => {
            //  Every stack of the run and every restart used MT_ADMIN_TOKEN: entered once.
            eq((await pg.query("SELECT count(*) FROM audit_log WHERE action = 'admin_token.bootstrap'"))[0][0], '1',
               'bootstrap audit rows');
            const l0 = await stack.admin('GET', '/admin/v1/admin-tokens');
            eq(l0.status, 200, `GET admin-tokens (${short(l0)})`);
            const boots = listOf(l0.json).filter((a) => /^bootstrap-[0-9a-f]{8}$/.test(a.name) && a.role === 'admin');
            eq(boots.length, 1, `bootstrap admins in ${l0.text.slice(0, 300)}`);
            assert(!l0.text.includes(stack.adminToken) && !/token_hash/.test(l0.text), 'admin-tokens list shows a secret');
            const name = `viewer-${randomBytes(3).toString('hex')}`;
            const cv = await stack.admin('POST', '/admin/v1/admin-tokens', { name, role: 'viewer' });
            eq(cv.status, 201, `create viewer (${short(cv)})`);
            const viewer = cv.json.token;
            assert(typeof viewer === 'string' && viewer.startsWith('mt-adm-') && viewer.length > 40, `token ${viewer}`);
            eq(cv.json.role, 'viewer', 'role');
            expectError(await stack.admin('POST', '/admin/v1/admin-tokens', { name, role: 'admin' }), 409,
                        'conflict', undefined, 'same name twice');
            expectError(await stack.admin('POST', '/admin/v1/admin-tokens', { name: 'x', role: 'root' }), 400,
                        'invalid_value', undefined, 'role root');
            const l1 = await stack.admin('GET', '/admin/v1/admin-tokens');
            assert(listOf(l1.json).some((a) => a.id === cv.json.id && a.name === name), 'new token not listed');
            assert(!l1.text.includes(viewer), 'the list shows the new token');
            const order = (await pg.query('SELECT id FROM admin_tokens ORDER BY created_at, id')).map((r) => r[0]);
            eq(listOf(l1.json).map((a) => a.id).join(' '), order.join(' '), 'admin tokens listed oldest first');
            const ok = await poll(async () => (await stack.admin('GET', '/admin/v1/tenants', undefined, viewer)).status === 200,
                                  ms(2000), 50);
            assert(ok, 'viewer cannot read tenants');
            //  Reads: tenants, keys (no secrets), usage, audit.
            const t = await stack.tenant({ tier: 'free' }, 'viewed');
            for (const p of ['/admin/v1/tenants', `/admin/v1/tenants/${t.id}`, `/admin/v1/tenants/${t.id}/keys`,
                             '/admin/v1/usage', '/admin/v1/audit']) {
                const r = await stack.admin('GET', p, undefined, viewer);
                eq(r.status, 200, `viewer GET ${p} (${short(r)})`);
                assert(!r.text.includes(t.key) && !/key_hash|token_hash/.test(r.text), `viewer sees a secret at ${p}`);
            }
            //  Writes: 403 in OpenAI's shape, and nothing changes.
            const writes = [['POST', '/admin/v1/tenants', { name: `v-${randomBytes(3).toString('hex')}`, tier: 'free' }],
                            ['PATCH', `/admin/v1/tenants/${t.id}`, { max_concurrent_requests: 1 }],
                            ['DELETE', `/admin/v1/tenants/${t.id}`],
                            ['POST', `/admin/v1/tenants/${t.id}/keys`, {}],
                            ['DELETE', `/admin/v1/keys/${t.keyId}`],
                            ['PATCH', `/admin/v1/keys/${t.keyId}`, { name: 'x' }],
                            ['POST', '/admin/v1/admin-tokens', { name: 'escalate', role: 'admin' }],
                            ['DELETE', `/admin/v1/admin-tokens/${cv.json.id}`],
                            ['GET', '/admin/v1/admin-tokens']];
            for (const [m, p, body] of writes)
                expectError(await stack.admin(m, p, body, viewer), 403, 'permission_denied', 'invalid_request_error',
                            `viewer ${m} ${p}`);
            eq((await stack.get('/v1/models', t.key)).status, 200, 'the key the viewer tried to revoke');
            eq((await stack.admin('GET', `/admin/v1/tenants/${t.id}`)).json.max_concurrent_requests, null,
               'the tenant the viewer tried to change');
            //  A second admin can write; revoking the viewer locks it out everywhere.
            const ca = await stack.admin('POST', '/admin/v1/admin-tokens', { name: `ops-${randomBytes(3).toString('hex')}`, role: 'admin' });
            eq(ca.status, 201, `create admin (${short(ca)})`);
            const ok2 = await poll(async () => (await stack.admin('POST', `/admin/v1/tenants/${t.id}/keys`, {}, ca.json.token)).status === 201,
                                   ms(2000), 50);
            assert(ok2, 'a new admin token cannot write');
            const rv = await stack.admin('DELETE', `/admin/v1/admin-tokens/${cv.json.id}`, undefined, ca.json.token);
            eq(rv.status, 200, `revoke viewer (${short(rv)})`);
            expectError(await stack.admin('GET', '/admin/v1/tenants', undefined, viewer), 401, 'unauthorized', undefined,
                        'revoked viewer');
            expectError(await stack.admin('DELETE', `/admin/v1/admin-tokens/${randomUUID()}`), 404, 'not_found', undefined,
                        'revoke an unknown admin token');
            const rv2 = await stack.admin('DELETE', `/admin/v1/admin-tokens/${ca.json.id}`);
            eq(rv2.status, 200, `revoke the second admin (${short(rv2)})`);
            //  The last live admin-role token cannot be revoked (no lock-out).
            const live = listOf((await stack.admin('GET', '/admin/v1/admin-tokens')).json)
                .filter((x) => x.role === 'admin' && x.revoked_at === null);
            eq(live.length, 1, `live admin-role tokens: ${live.map((x) => x.name).join(',')}`);
            expectError(await stack.admin('DELETE', `/admin/v1/admin-tokens/${live[0].id}`), 409, 'conflict',
                        undefined, 'revoke the last admin');
            eq((await stack.admin('GET', '/admin/v1/tenants')).status, 200, 'the last admin still works');
            expectError(await stack.admin('GET', '/admin/v1/tenants', undefined, ca.json.token), 401, 'unauthorized',
                        undefined, 'revoked admin');
            expectError(await stack.admin('GET', '/admin/v1/tenants', undefined, 'mt-adm-' + 'f'.repeat(48)), 401,
                        'unauthorized', undefined, 'unknown admin token');
        },
    },
    {
        name: 'audit: one row per admin write (who, action, target, before/after, request id), filters, paging, no secrets',
        fn: async ({ stack, pg }) => {
            const aname = `auditor-${randomBytes(3).toString('hex')}`;
            const c = await stack.admin('POST', '/admin/v1/admin-tokens', { name: aname, role: 'admin' });
            eq(c.status, 201, `create admin token (${short(c)})`);
            const tok = c.json.token;
            const ready = await poll(async () => (await stack.admin('GET', '/admin/v1/tenants', undefined, tok)).status === 200,
                                     ms(2000), 50);
            assert(ready, 'new admin token not accepted');
            const count = async () => Number((await pg.query('SELECT count(*) FROM audit_log'))[0][0]);
            const n0 = await count();
            const calls = [];
            const call = async (m, p, body, want) => {
                const r = await stack.admin(m, p, body, tok);
                eq(r.status, want, `${m} ${p} (${short(r)})`);
                calls.push(r.headers.get('x-request-id'));
                return r;
            };
            const tc = await call('POST', '/admin/v1/tenants', { name: `aud-${randomBytes(3).toString('hex')}`, tier: 'free' }, 201);
            const tid = tc.json.id;
            await call('PATCH', `/admin/v1/tenants/${tid}`, { max_concurrent_requests: 3 }, 200);
            const kc = await call('POST', `/admin/v1/tenants/${tid}/keys`, { name: 'k2' }, 201);
            await call('DELETE', `/admin/v1/keys/${kc.json.id}`, undefined, 200);
            await call('DELETE', `/admin/v1/tenants/${tid}`, undefined, 200);
            //  Refused and read-only calls write nothing.
            expectError(await stack.admin('PATCH', `/admin/v1/tenants/${tid}`, { tier: 7 }, tok), 400, undefined, undefined, 'bad PATCH');
            expectError(await stack.admin('DELETE', `/admin/v1/keys/${randomUUID()}`, undefined, tok), 404, undefined, undefined, 'unknown key');
            await stack.admin('GET', '/admin/v1/tenants', undefined, tok);
            eq(await count(), n0 + 5, 'audit rows written by 5 writes, 2 refusals and 1 read');

            const r = await stack.admin('GET', `/admin/v1/audit?tenant_id=${tid}`, undefined, tok);
            eq(r.status, 200, `GET audit (${short(r)})`);
            const rows = listOf(r.json);
            eq(rows.map((x) => x.action).join(','), 'tenant.delete,key.revoke,key.create,tenant.update,tenant.create',
               'actions, newest first');
            eq(rows.map((x) => x.request_id).join(','), calls.slice().reverse().join(','), 'request ids = x-request-id');
            for (const x of rows) {
                eq(x.admin_name, aname, 'admin_name');
                eq(x.admin_id, c.json.id, 'admin_id');
                eq(x.tenant_id, tid, 'tenant_id');
                assert(!Number.isNaN(Date.parse(x.at)), `at ${x.at}`);
            }
            const upd = rows.find((x) => x.action === 'tenant.update');
            eq(upd.before.max_concurrent_requests, null, 'before of the update');
            eq(upd.after.max_concurrent_requests, 3, 'after of the update');
            eq(upd.target_type, 'tenant', 'target_type');
            eq(upd.target_id, tid, 'target_id');
            const kr = rows.find((x) => x.action === 'key.revoke');
            eq(kr.target_id, kc.json.id, 'key.revoke target');
            eq(kr.before.revoked_at, null, 'key before revocation');
            assert(kr.after.revoked_at, 'key after revocation');
            //  Filters and paging.
            const f = await stack.admin('GET', `/admin/v1/audit?tenant_id=${tid}&action=key.create`, undefined, tok);
            eq(listOf(f.json).length, 1, 'action filter');
            eq(listOf(f.json)[0].after.name, 'k2', 'key.create after');
            const seen = [];
            let before = '';
            for (let page = 0; page < 5; page++) {
                const pr = await stack.admin('GET', `/admin/v1/audit?tenant_id=${tid}&limit=2${before}`, undefined, tok);
                eq(pr.status, 200, `page ${page}`);
                seen.push(...listOf(pr.json).map((x) => x.id));
                if (!pr.json.has_more) break;
                before = `&before=${pr.json.next_before}`;
            }
            eq(seen.join(','), rows.map((x) => x.id).join(','), 'pages of 2 = the whole list');
            const future = iso(Date.now() + 86400000);
            eq(listOf((await stack.admin('GET', `/admin/v1/audit?tenant_id=${tid}&from=${future}`)).json).length, 0, 'from the future');
            eq(listOf((await stack.admin('GET', `/admin/v1/audit?tenant_id=${tid}&to=2000-01-01`)).json).length, 0, 'to the past');
            eq(listOf((await stack.admin('GET', `/admin/v1/audit?tenant_id=${tid}&from=${iso(Date.now() - 600000)}`)).json).length,
               5, 'the last ten minutes');
            for (const q of ['limit=0', 'limit=100000', 'before=x', "action=x'%20OR%201=1", 'tenant_id=abc', 'from=never'])
                expectError(await stack.admin('GET', `/admin/v1/audit?${q}`), 400, 'invalid_value', undefined, `audit ?${q}`);
            //  No secret in the audit trail.
            const text = (await pg.query("SELECT coalesce(before::text, '') || ' ' || coalesce(after::text, '') FROM audit_log"))
                .map((x) => x[0]).join('\n');
            for (const s of [tc.json.api_key, kc.json.api_key, tok, stack.adminToken])
                assert(!text.includes(s), 'a secret is in audit_log');
            assert(!/sk-mt-[0-9a-f]{20}|mt-adm-[0-9a-f]{20}|key_hash|token_hash/.test(text), 'a secret or hash is in audit_log');
        },
    },
    {
        name: 'tenant /v1/usage under row-level security: another tenant\'s id, SQL-ish, huge and malformed ranges',
        fn: async ({ stack, pg }) => {
            const a = await stack.tenant({ tier: 'free' }, 'rls-a');
            const b = await stack.tenant({ tier: 'free' }, 'rls-b');
            await insertUsage(pg, a.id, [1, 2]);
            await insertUsage(pg, b.id, [1, 3, 4]);
            const own = await stack.get('/v1/usage', a.key);
            eq(own.status, 200, `own usage (${short(own)})`);
            eq(listOf(own.json).length, 2, 'own rows');
            const hostile = [
                `tenant_id=${b.id}`,
                `tenant_id=${b.id}&tenant_id=${b.id}`,
                `tenant_id=${encodeURIComponent(`${a.id}' OR '1'='1`)}`,
                `tenant_id=${encodeURIComponent("' OR 1=1 --")}`,
                `from=${encodeURIComponent("2020-01-01' OR '1'='1")}`,
                `from=${encodeURIComponent("'; DROP TABLE usage_records; --")}`,
                `to=${encodeURIComponent('2030-01-01); RESET ROLE; SELECT (1')}`,
                `from=${encodeURIComponent("2026-01-01T00:00:00Z' UNION SELECT * FROM usage_records --")}`,
                'from=0001-01-01&to=9999-12-30',
                'from=0001-01-01T00:00:00Z&to=9999-12-31T23:59:59Z',
                'to=9999-12-31',
                'from=0000-01-01',
                'from=99999-01-01',
                'from=-2026-01-01',
                'from=2026-02-30',
                'from=2026-1-1',
                'from=2026-01-01T25:00:00Z',
                'from=2026-01-01T00:00:00%2B05:00',
                'from=2026-01-01%00',
                'from=%ZZ',
                'from=2030-01-01&to=2020-01-01',
                `from=${'9'.repeat(2000)}`,
                `${'x'.repeat(2000)}=1`,
                'from&to',
                'from=&to=',
                '&&&=&=',
                'to=1e309',
            ];
            for (const q of hostile) {
                const r = await stack.get(`/v1/usage?${q}`, a.key);
                const what = `/v1/usage?${q.slice(0, 60)}`;
                assert(r.status === 200 || r.status === 400, `${what}: ${short(r)}`);
                if (r.status === 400) {
                    expectError(r, 400, undefined, 'invalid_request_error', what);
                    continue;
                }
                const rows = listOf(r.json);
                assert(Array.isArray(rows), `${what}: no data`);
                for (const row of rows) eq(row.tenant_id, a.id, `${what}: a row's tenant`);
                assert(!r.text.includes(b.id), `${what}: the other tenant's id appears`);
                if (r.json.tenant_id !== undefined) eq(r.json.tenant_id, a.id, `${what}: tenant_id`);
            }
            //  The other tenant's rows are all still there, and so is the table.
            eq((await pg.query(`SELECT count(*) FROM usage_records WHERE tenant_id = '${b.id}'`))[0][0], '3',
               'the other tenant\'s rows');
            const bo = await stack.get('/v1/usage', b.key);
            eq(listOf(bo.json).length, 3, 'the other tenant sees its own three rows');
            //  As mt_tenant with no tenant set, nothing is visible at all.
            //  (psql may print the other statements' tags: take the count line)
            const asTenant = async (sql) => (await pg.query(`BEGIN; SET LOCAL ROLE mt_tenant; ${sql}; COMMIT;`))
                .map((x) => x[0]).filter((x) => /^\d+$/.test(x));
            eq((await asTenant('SELECT count(*) FROM usage_records')).join(), '0',
               'rows visible to mt_tenant without mt.tenant_id');
            eq((await asTenant('SELECT count(*) FROM audit_log')).join(), '0',
               'audit rows visible to mt_tenant without mt.tenant_id');
            eq((await asTenant(`SELECT set_config('mt.tenant_id', '${a.id}', true); SELECT count(*) FROM usage_records`))
                .join(), '2', 'rows visible to mt_tenant as tenant a');
        },
    },
];
