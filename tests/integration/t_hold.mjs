//  The worker's JobDones to the scheduler, held back and sent together (the
//  'hold' group: both workers hold up to 1 s, the premium one has two slots).
import { assert, eq, ms, poll } from './harness.mjs';
import { chat, chatBody, short } from './common.mjs';

const ROUNDS = 3;               //  requests one after the other, per case

async function sequential(stack, key, model) {
    for (let i = 0; i < ROUNDS; i++) {
        const r = await stack.post('/v1/chat/completions', key,
                                   chatBody(`one after the other ${i}`, { model, max_tokens: 2 }));
        eq(r.status, 200, `request ${i + 1} of ${ROUNDS}: ${short(r)}`);
    }
}

const metric = async (svc, name) => (await svc.metric(name)) ?? 0;

export default [
    {
        //  A worker of 8 slots running one job at a time holds every JobDone;
        //  the scheduler still gets them all, and the tenant's concurrency lease
        //  (max 1) is free for each next request through the same gateway,
        //  though its JobDone waits at the worker (Submit.ended).
        name: 'a worker under half busy holds its JobDones; they reach the scheduler and no lease waits for them',
        fn: async ({ stack }) => {
            const t = await stack.tenant({ tier: 'pro', max_concurrent_requests: 1 }, 'held');
            const wa = stack.svc('worker-standard');
            const sch = stack.svc('scheduler');
            const held0 = await metric(wa, 'mt_wa_done_held_total');
            const done0 = await metric(sch, 'mt_sch_jobs_done_total');
            await sequential(stack, t.key, 'sim-small');
            eq(await metric(wa, 'mt_wa_done_held_total') - held0, ROUNDS, 'JobDones the worker held');
            const arrived = await poll(async () =>
                await metric(sch, 'mt_sch_jobs_done_total') - done0 >= ROUNDS
                && await metric(sch, 'mt_sch_jobs_running') === 0, ms(5000), 50);
            assert(arrived, `the scheduler got ${await metric(sch, 'mt_sch_jobs_done_total') - done0} ` +
                   `of ${ROUNDS} JobDones, running ${await metric(sch, 'mt_sch_jobs_running')}`);
            //  and the lease is free once they came: another request is served
            const r = await chat(stack, t.key, 'after the JobDones', { max_tokens: 2 });
            eq(r.status, 200, `after the held JobDones: ${short(r)}`);
        },
    },
    {
        //  A worker of two slots, one running, would look full to the
        //  scheduler with a JobDone held: it sends each at once.
        name: 'a worker of two slots sends each JobDone at once',
        fn: async ({ stack }) => {
            const wa = stack.svc('worker-premium');
            const held0 = await metric(wa, 'mt_wa_done_held_total');
            const done0 = await metric(wa, 'mt_wa_jobs_done_total');
            await sequential(stack, stack.ent.key, 'sim-large');
            eq(await metric(wa, 'mt_wa_jobs_done_total') - done0, ROUNDS, 'jobs the premium worker finished');
            eq(await metric(wa, 'mt_wa_done_held_total') - held0, 0, 'JobDones the two-slot worker held');
        },
    },
];
