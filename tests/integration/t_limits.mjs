//  Limits as a client sees them (the 'limits' group: a simulator that answers at
//  once, a worker whose messages to the scheduler come 300 ms late).
import net from 'node:net';
import { assert, ms } from './harness.mjs';

const CLIENTS = 2;              //  = the tenant's max_concurrent_requests
const PER_CLIENT = 8;           //  requests each, at most
const BOUND_MS = 15000;         //  and no longer than this in all

//  One keep-alive connection that sends its next request the moment the
//  answer to the last one is complete, as wrk does: the client's turnaround
//  is what lets a request overtake the end of the one before. Returns the
//  statuses, in order.
function sequentialClient(port, key, model, count, until) {
    const body = JSON.stringify({ model, max_tokens: 1,
                                  messages: [{ role: 'user', content: 'next' }] });
    const request = Buffer.from(`POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
        `Authorization: Bearer ${key}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    return new Promise((resolve, reject) => {
        const statuses = [];
        let buf = Buffer.alloc(0);
        const sock = net.connect(port, '127.0.0.1', () => sock.write(request));
        const timer = setTimeout(() => { sock.destroy(); resolve(statuses); }, Math.max(0, until - Date.now()));
        sock.on('data', (d) => {
            buf = Buffer.concat([buf, d]);
            for (;;) {
                const end = buf.indexOf('\r\n\r\n');
                if (end < 0) return;
                const head = buf.subarray(0, end).toString();
                const m = /content-length:\s*(\d+)/i.exec(head);
                if (!m) { sock.destroy(); clearTimeout(timer); reject(new Error(`no Content-Length: ${head}`)); return; }
                const total = end + 4 + Number(m[1]);
                if (buf.length < total) return;
                statuses.push(Number(head.split(' ')[1]));
                buf = buf.subarray(total);
                if (statuses.length >= count || Date.now() >= until) {
                    clearTimeout(timer);
                    sock.end();
                    resolve(statuses);
                    return;
                }
                sock.write(request);
            }
        });
        sock.on('error', (e) => { clearTimeout(timer); reject(e); });
    });
}

export default [
    {
        //  The scheduler frees a lease when the worker's JobDone reaches it,
        //  on a path of its own: a client that got its answer and asked again
        //  at once could get there first and be refused as over its limit
        //  (found with wrk -c1 at max_concurrent_requests 1: 99 of 6058
        //  answers were 429). The gateway names the jobs that ended in the
        //  tenant's next Submit, and the scheduler frees their leases first.
        name: 'concurrency limit: clients that wait for each answer before asking again are never refused',
        fn: async ({ stack }) => {
            const t = await stack.tenant({ tier: 'pro', max_concurrent_requests: CLIENTS,
                                           requests_per_minute: 1000000, tokens_per_minute: 100000000 },
                                         'sequential');
            const port = Number(new URL(stack.base).port);
            const until = Date.now() + ms(BOUND_MS);
            const runs = await Promise.all(Array.from({ length: CLIENTS },
                () => sequentialClient(port, t.key, stack.stdModel, PER_CLIENT, until)));
            const all = runs.flat();
            const refused = all.filter((s) => s !== 200);
            assert(refused.length === 0, `${refused.length} of ${all.length} answers were not 200 ` +
                   `(${[...new Set(refused)].join(', ')}) with never more than ${CLIENTS} requests in flight`);
            assert(all.length === CLIENTS * PER_CLIENT, `only ${all.length} answers within the bound`);
        },
    },
];
