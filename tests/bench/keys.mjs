//  How fast revocation and expiry reach a second gateway (`make bench` runs
//  it after the load figures; alone: BUILD=build node tests/bench/keys.mjs).
//  Starts its own PostgreSQL and stack (tests/integration/harness.mjs) plus a
//  second gateway on the same database; revokes a key through the first and
//  polls the second every 5 ms until it refuses the key, ROUNDS times; then
//  lets keys expire and measures how late the second gateway refuses them.
//  Reports; never fails on a number. Every process it starts is stopped.
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import {
    BUILD, Postgres, Stack, Service, freePort, http, poll, sleep, killAllSync, newTmpDir,
} from '../integration/harness.mjs';

const ROUNDS = Number(process.env.MT_BENCH_KEY_ROUNDS || 20);
const EXPIRY_ROUNDS = Number(process.env.MT_BENCH_EXPIRY_ROUNDS || 3);

function say(line) { process.stderr.write(`bench-keys: ${line}\n`); }

function stats(xs) {
    const s = [...xs].sort((a, b) => a - b);
    const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
    return s.length ? `n=${s.length} min ${s[0]} ms, median ${q(0.5)} ms, p90 ${q(0.9)} ms, max ${s[s.length - 1]} ms`
                    : 'no sample';
}

async function main() {
    const tmp = newTmpDir();
    const pg = new Postgres(tmp);
    let stack = null, b = null;
    try {
        await pg.start();
        const m = await pg.migrate();
        if (m.code !== 0) throw new Error(`migrate: ${m.stderr.slice(-300)}`);
        stack = new Stack(pg, tmp, { name: 'bench-keys', sim: { ttft: 0, itl: 0, tokens: 4 },
                                     skip: ['worker-premium'] });
        await stack.start();
        const a = stack.svc('gateway');
        const port = await freePort();
        const tok = await freePort();
        b = new Service('gateway-b', path.join(BUILD, 'bin', 'mt-auth-gateway'),
                        { ...a.env, MT_GW_HTTP_PORT: String(port), MT_GW_TOKEN_BIND: `tcp://127.0.0.1:${tok}`,
                          MT_GW_TOKEN_ENDPOINT: `tcp://127.0.0.1:${tok}` }, stack.dir);
        b.metricsPort = port;
        stack.services.push(b);
        b.start();
        await b.waitHealthy();
        const baseB = `http://127.0.0.1:${port}`;
        const onB = async (key) => (await http(baseB, 'GET', '/v1/models', { key })).status;
        const t = await stack.tenant({ tier: 'pro' }, 'bench-keys');

        const revoke = [];
        for (let i = 0; i < ROUNDS; i++) {
            const k = await stack.admin('POST', `/admin/v1/tenants/${t.id}/keys`, { name: `r${i}` });
            const key = k.json?.api_key;
            if (!(await poll(async () => (await onB(key)) === 200, 3000, 5))) { say(`round ${i}: key never live on B`); continue; }
            const t0 = Date.now();
            await stack.admin('DELETE', `/admin/v1/keys/${k.json.id}`);
            if (await poll(async () => (await onB(key)) === 401, 5000, 5)) revoke.push(Date.now() - t0);
            else say(`round ${i}: still accepted after 5 s`);
        }
        const late = [];
        for (let i = 0; i < EXPIRY_ROUNDS; i++) {
            const at = Math.ceil(Date.now() / 1000) * 1000 + 2000;
            const k = await stack.admin('POST', `/admin/v1/tenants/${t.id}/keys`,
                                        { name: `e${i}`, expires_at: new Date(at).toISOString().replace(/\.\d{3}Z$/, 'Z') });
            const key = k.json?.api_key;
            if (await poll(async () => (await onB(key)) === 401, 6000, 5)) late.push(Math.max(0, Date.now() - at));
        }
        //  last_used_at: batched, so how long until the key list shows a use.
        const u = await stack.admin('POST', `/admin/v1/tenants/${t.id}/keys`, { name: `used-${randomUUID().slice(0, 4)}` });
        await poll(async () => (await onB(u.json.api_key)) === 200, 3000, 5);
        const u0 = Date.now();
        await onB(u.json.api_key);
        let shown = null;
        await poll(async () => {
            const l = await stack.admin('GET', `/admin/v1/tenants/${t.id}/keys`);
            shown = (l.json?.data || []).find((x) => x.id === u.json.id && x.last_used_at) ? Date.now() - u0 : null;
            return shown !== null;
        }, 5000, 20);
        console.log('');
        console.log('key lifecycle across two gateways (same database; admin call on the first, polls of the second every 5 ms):');
        console.log(`  revocation refused on the second gateway after: ${stats(revoke)}`);
        console.log(`  expiry refused on the second gateway, after expires_at: ${stats(late)}`);
        console.log(`  last_used_at shown in the key list after a use: ${shown === null ? 'not within 5 s' : `${shown} ms`} (batched once a second)`);
    } catch (e) {
        say(`failed: ${e && e.message ? e.message : e}`);
    } finally {
        if (stack) await stack.stopAll();
        await pg.stop();
        killAllSync();
        if (!process.env.MT_BENCH_KEEP) fs.rmSync(tmp, { recursive: true, force: true });
    }
}

main().then(() => process.exit(0));
