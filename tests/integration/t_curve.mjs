//  The service bus under attack: a stray process (mt-intruder) with no key,
//  an unknown key, a worker's key or a gateway's key sends every kind of
//  message to every ZeroMQ port it should not reach. Nothing is stored, no
//  counter moves, no client sees a byte, and every service keeps serving.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { assert, eq, ms, poll, openStream, BUILD, keygen, TestFailure, Service, freePort, sleep } from './harness.mjs';
import { chat, chatBody, short } from './common.mjs';

const INTRUDER = path.join(BUILD, 'tests', 'mt-intruder');

//  One intrusion: { handshake, replies }.
function intrude(endpoint, body, identity, env = {}) {
    const args = [endpoint, body];
    if (identity) args.push(identity.cert, identity.serverKey);
    const r = spawnSync(INTRUDER, args, { encoding: 'utf8', timeout: ms(10000),
                                          env: { ...process.env, ...env } });
    if (r.status !== 0) throw new TestFailure(`mt-intruder ${body}: ${r.stderr || r.error}`);
    const m = /handshake=(\w+) replies=(\d+)/.exec(r.stdout);
    if (!m) throw new TestFailure(`mt-intruder ${body}: ${r.stdout}`);
    return { handshake: m[1], replies: Number(m[2]) };
}

//  Counters that any accepted intrusion would move.
async function counters(stack) {
    const m = async (svc, name) => (await stack.svc(svc).metric(name)) ?? 0;
    return {
        received: await m('metering', 'mt_mtr_events_received_total'),
        admits: await m('quota-enforcer', 'mt_qe_admits_total'),
        settles: await m('quota-enforcer', 'mt_qe_settles_total'),
        submitted: await m('scheduler', 'mt_sch_jobs_submitted_total'),
        workers: await m('scheduler', 'mt_sch_workers_live'),
    };
}

async function refusedBy(stack) {
    const out = {};
    for (const s of ['metering', 'quota-enforcer', 'scheduler', 'gateway'])
        out[s] = (await stack.svc(s).metric('mt_curve_refused_total')) ?? 0;
    return out;
}

export default [
    {
        name: 'CURVE: no key, an unknown key or a wrong role\'s key is refused on every ZeroMQ port; nothing stored, nothing counted, every service serves on',
        timeout: 60000,
        async fn({ stack, pg }) {
            assert(fs.existsSync(INTRUDER), `${INTRUDER} not built`);
            const tcp = (port) => `tcp://127.0.0.1:${port}`;
            const p = stack.ports;
            const dir = stack.curveDir;
            const pub = (role, name) => keygen(dir, role, name).public;
            const servers = {
                metering: { ep: tcp(p.mtr), key: pub('metering', 'metering'), svc: 'metering' },
                quota: { ep: tcp(p.qe), key: pub('quota-enforcer', 'quota-enforcer'), svc: 'quota-enforcer' },
                schedGw: { ep: tcp(p.schedGw), key: pub('scheduler', 'scheduler'), svc: 'scheduler' },
                schedWk: { ep: tcp(p.schedWk), key: pub('scheduler', 'scheduler'), svc: 'scheduler' },
                tokens: { ep: tcp(p.gwTok), key: pub('gateway', 'gateway'), svc: 'gateway' },
            };
            //  Identities: a fresh key no service knows, a worker's and the
            //  gateway's real keys (each valid only on its own ports).
            const stray = keygen(path.join(stack.dir, 'stray-curve'), 'worker', 'stray');
            const cert = (name) => path.join(dir, 'secret', `${name}.key_secret`);
            const ids = {
                unknown: stray.cert,
                worker: cert('worker-standard'),
                gateway: cert('gateway'),
            };
            const victim = await stack.tenant({ tier: 'free' }, 'curve-victim');
            const req = `intruder-${randomUUID()}`;
            const env = { MT_INTRUDER_TENANT: victim.id, MT_INTRUDER_REQ: req };
            const before = await counters(stack);
            const refused0 = await refusedBy(stack);
            //  A stream in flight while the attacks run (the slow simulator:
            //  seconds long): it must see no foreign byte.
            const s = await openStream(stack.base, '/v1/chat/completions', victim.key,
                                       chatBody('stream during the attack', { stream: true }));
            eq(s.status, 200, 'victim stream status');
            const streamed = (async () => {
                const out = [];
                for await (const ev of s.events()) out.push(ev);
                return out;
            })();

            //  Positive control: the gateway's own key reaches the scheduler's
            //  gateway port and gets a Catalog back for its heartbeat.
            const ok = intrude(servers.schedGw.ep, 'heartbeat',
                               { cert: ids.gateway, serverKey: servers.schedGw.key }, env);
            eq(ok.handshake, 'succeeded', 'control: gateway key at the scheduler, handshake');
            assert(ok.replies >= 1, `control: no Catalog for a gateway's heartbeat (${ok.replies})`);
            //  The quota-enforcer takes a gateway's heartbeat too (liveness), unanswered.
            const okq = intrude(servers.quota.ep, 'heartbeat',
                                { cert: ids.gateway, serverKey: servers.quota.key }, env);
            eq(okq.handshake, 'succeeded', 'control: gateway key at the quota-enforcer, handshake');
            eq(okq.replies, 0, 'control: the quota-enforcer answers no heartbeat');

            //  [server, bodies, identities that must be refused there]
            const plan = [
                ['metering', ['usage_event'], ['none', 'unknown', 'worker']],
                ['quota', ['settle', 'admit', 'heartbeat'], ['none', 'unknown', 'worker']],
                ['schedGw', ['submit', 'cancel', 'heartbeat'], ['none', 'unknown', 'worker']],
                ['schedWk', ['worker_ready'], ['none', 'unknown', 'gateway']],
                ['tokens', ['token_chunk', 'job'], ['none', 'unknown', 'gateway']],
            ];
            const seen = [];
            for (const [srv, bodies, who] of plan) {
                for (const body of bodies) {
                    for (const id of who) {
                        const identity = id === 'none' ? null : { cert: ids[id], serverKey: servers[srv].key };
                        const r = intrude(servers[srv].ep, body, identity, env);
                        seen.push(`${srv}/${body}/${id}: ${r.handshake} ${r.replies}`);
                        assert(r.handshake !== 'succeeded' && r.replies === 0,
                               `${body} to ${srv} with ${id} key got through: ${JSON.stringify(r)}`);
                    }
                }
                intrude(servers[srv].ep, 'garbage', null);
            }

            //  The victim's stream carries only the simulator's text.
            const events = await streamed;
            const text = events.filter((e) => e !== '[DONE]' && !e.startsWith(':')).map((e) => JSON.parse(e))
                .map((j) => j.choices?.[0]?.delta?.content || '').join('');
            assert(!text.includes('stolen'), `foreign tokens in the victim's stream: ${text.slice(0, 120)}`);
            eq(events[events.length - 1], '[DONE]', 'victim stream end');
            //  Only the victim's own request moved a counter: one admission,
            //  one job, one settle, one usage event; no worker joined.
            const want = { received: 1, admits: 1, settles: 1, submitted: 1, workers: 0 };
            let after;
            await poll(async () => {
                after = await counters(stack);
                return after.received - before.received >= 1 && after.settles - before.settles >= 1;
            }, ms(5000), 100);
            for (const k of Object.keys(want))
                eq(after[k] - before[k], want[k], `${k}: change while under attack`);
            const rows = await pg.query(
                `SELECT count(*) FROM request_logs WHERE request_id = '${req}'`);
            eq(Number(rows[0][0]), 0, 'request_logs rows of the intruder\'s usage event');
            //  Each server counted its refusals and logged each peer once.
            const refused1 = await refusedBy(stack);
            for (const svc of Object.keys(refused1))
                assert(refused1[svc] > refused0[svc], `${svc}: mt_curve_refused_total did not grow`);
            const mlog = stack.svc('metering').readLog();
            const lines = mlog.split('\n').filter((l) => l.includes('curve-refused') && l.includes(stray.public));
            eq(lines.length, 1, `metering log lines for the unknown key (once per peer)`);

            //  Every service still serves.
            const r = await chat(stack, victim.key, 'still here?');
            eq(r.status, 200, `chat after the attacks: ${short(r)}`);
            for (const svc of stack.services)
                assert(svc.running, `${svc.name} died during the attacks`);
            //  The victim is billed for its two requests and nothing else.
            const billed = await poll(async () => {
                const u = await pg.query(
                    `SELECT count(*), coalesce(sum(prompt_tokens + completion_tokens), 0)
                       FROM request_logs WHERE tenant_id = '${victim.id}'`);
                return Number(u[0][0]) === 2 ? u[0] : null;
            }, ms(5000), 100);
            assert(billed, 'the victim\'s two requests never reached the ledger');
            assert(Number(billed[1]) < 1000, `victim billed ${billed[1]} tokens`);
        },
    },
    {
        name: 'CURVE: a worker\'s key without the job\'s reply token cannot push tokens or end a job',
        timeout: 60000,
        async fn({ stack, pg }) {
            //  The worker's key may reach the token port (role), but chunks and
            //  JobDone for a job count only with the job's reply token.
            const victim = await stack.tenant({ tier: 'free' }, 'curve-token');
            const s = await openStream(stack.base, '/v1/chat/completions', victim.key,
                                       chatBody('a long answer', { stream: true }));
            eq(s.status, 200, 'stream status');
            const it = s.events();
            let first = await it.next();
            while (!first.done && first.value.startsWith(':')) first = await it.next();
            assert(!first.done, 'the stream ended before its first event');
            const events = [first.value];
            const reqId = JSON.parse(first.value).id;
            assert(typeof reqId === 'string', `no id in ${first.value}`);
            const dropped0 = (await stack.svc('gateway').metric('mt_gw_messages_dropped_total')) ?? 0;
            const tokens = keygen(stack.curveDir, 'gateway', 'gateway').public;
            const identity = { cert: path.join(stack.curveDir, 'secret', 'worker-standard.key_secret'),
                               serverKey: tokens };
            const r = intrude(`tcp://127.0.0.1:${stack.ports.gwTok}`, 'token_chunk', identity,
                              { MT_INTRUDER_REQ: reqId });
            eq(r.handshake, 'succeeded', 'a worker key reaches the token port');
            for (let ev = await it.next(); !ev.done; ev = await it.next()) events.push(ev.value);
            eq(events[events.length - 1], '[DONE]', 'stream end');
            const text = events.filter((e) => e !== '[DONE]' && !e.startsWith(':')).map((e) => JSON.parse(e))
                .map((j) => j.choices?.[0]?.delta?.content || '').join('');
            assert(!text.includes('stolen'), `foreign tokens reached the client: ${text.slice(0, 120)}`);
            //  The three chunks reached the gateway and were dropped (for a wrong
            //  token, or, when the stream had already ended, for no request).
            let dropped1 = dropped0;
            await poll(async () => {
                dropped1 = (await stack.svc('gateway').metric('mt_gw_messages_dropped_total')) ?? 0;
                return dropped1 >= dropped0 + 3;
            }, ms(3000), 100);
            assert(dropped1 >= dropped0 + 3, `mt_gw_messages_dropped_total ${dropped0} -> ${dropped1}`);
        },
    },
    {
        //  With CURVE on, a service that gave up after starting its ZAP actor
        //  (here: its /metrics or HTTP port taken) used to abort at exit
        //  (czmq ended the context under the actor: SIGABRT, a core).
        name: 'CURVE: a second instance of each service whose port is taken exits with an error, not a signal',
        timeout: 90000,
        async fn({ stack }) {
            const tcp = async () => `tcp://127.0.0.1:${await freePort()}`;
            //  Each one's own ZeroMQ binds (free), its port to serve taken by the
            //  running instance; the worker points at a scheduler port nobody
            //  listens on, so it never registers.
            const over = {
                'quota-enforcer': async () => ({ MT_QE_BIND: await tcp() }),
                metering: async () => ({ MT_MTR_BIND: await tcp(),
                                         MT_MTR_SPOOL: path.join(stack.dir, 'metering-2.spool') }),
                scheduler: async () => ({ MT_SCHED_GATEWAY_BIND: await tcp(),
                                          MT_SCHED_WORKER_BIND: await tcp() }),
                'worker-standard': async () => ({ MT_WA_SCHEDULER: await tcp(),
                                                  MT_WA_ID: `wa-${stack.name}-port-taken` }),
                gateway: async () => {
                    const tok = await tcp();
                    return { MT_GW_TOKEN_BIND: tok, MT_GW_TOKEN_ENDPOINT: tok,
                             MT_GW_USAGE_SPOOL: path.join(stack.dir, 'gateway-usage-2.spool') };
                },
            };
            const bad = [];
            for (const [name, env] of Object.entries(over)) {
                const first = stack.svc(name);
                assert(first && first.running, `${name} is not running`);
                const s = new Service(`${name}-port-taken`, first.bin,
                                      { ...first.env, ...(await env()) }, stack.dir);
                s.start();
                const exit = await Promise.race([s.exited, sleep(ms(15000)).then(() => null)]);
                if (!exit) {
                    await s.stop(ms(3000));
                    bad.push(`${name}: still running 15 s after start with its port taken`);
                }
                else if (exit.signal || exit.code === 0)
                    bad.push(`${name}: exit code ${exit.code} signal ${exit.signal}`);
                assert(first.running, `${name} (the first instance) stopped`);
            }
            eq(bad.join('; '), '', 'second instances');
        },
    },
];
