//  The whole OpenAI surface through the stack, with the official SDK: tool
//  calls (create, .stream(), runTools), logprobs, n > 1, refusal,
//  system_fingerprint, every message shape, embeddings. The same tests run
//  against the simulator (group fast) and against fake_engine.mjs (group
//  engine); `stack.engine` tells which.
import { randomBytes } from 'node:crypto';
import { assert, eq, ms, poll, parseSSE, TestFailure } from './harness.mjs';
import { short, expectError } from './common.mjs';
import { FINGERPRINT, REFUSAL, fakeArguments } from './fake_engine.mjs';

const nonce = () => randomBytes(6).toString('hex');

async function client(stack, key) {
    const mod = await import('openai').catch((e) => {
        throw new TestFailure(`openai package not installed (npm ci in tests/integration): ${e.message}`);
    });
    const OpenAI = mod.default || mod.OpenAI;
    return { OpenAI, c: new OpenAI({ apiKey: key, baseURL: `${stack.base}/v1`, maxRetries: 0, timeout: ms(15000) }) };
}

const WEATHER = {
    type: 'function',
    function: {
        name: 'get_weather',
        description: 'The weather in a city',
        parameters: {
            type: 'object',
            properties: {
                city: { type: 'string' },
                unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
                days: { type: 'integer', minimum: 1, maximum: 7 },
            },
            required: ['city', 'unit', 'days'],
        },
    },
};
const TIME = {
    type: 'function',
    function: { name: 'get_time', parameters: { type: 'object', properties: { zone: { type: 'string' } } } },
};

//  The arguments match WEATHER's schema.
function checkWeatherArgs(text, what) {
    let a;
    try { a = JSON.parse(text); } catch { throw new TestFailure(`${what}: arguments are not JSON: ${text}`); }
    assert(typeof a.city === 'string' && a.city.length > 0, `${what}: city ${JSON.stringify(a)}`);
    assert(['celsius', 'fahrenheit'].includes(a.unit), `${what}: unit ${JSON.stringify(a)}`);
    assert(Number.isInteger(a.days) && a.days >= 1 && a.days <= 7, `${what}: days ${JSON.stringify(a)}`);
    return a;
}

//  Fold raw stream chunks the way a client would: per index, content,
//  refusal, tool calls (arguments concatenated), logprobs, finish_reason.
function fold(chunks) {
    const out = [];
    for (const c of chunks) {
        for (const ch of c.choices || []) {
            const o = out[ch.index] ??= { content: '', refusal: '', calls: [], logprobs: [], finish: null, deltas: 0 };
            o.deltas++;
            const d = ch.delta || {};
            if (typeof d.content === 'string') o.content += d.content;
            if (typeof d.refusal === 'string') o.refusal += d.refusal;
            for (const tc of d.tool_calls || []) {
                const t = o.calls[tc.index] ??= { id: '', name: '', arguments: '' };
                t.id += tc.id || '';
                t.name += tc.function?.name || '';
                t.arguments += tc.function?.arguments || '';
            }
            if (ch.logprobs?.content) o.logprobs.push(...ch.logprobs.content);
            if (ch.finish_reason) o.finish = ch.finish_reason;
        }
    }
    return out;
}

async function rawStream(stack, key, body, what) {
    const r = await stack.post('/v1/chat/completions', key, { ...body, stream: true });
    assert(r.status === 200, `${what}: ${short(r)}`);
    const data = parseSSE(r.text);
    eq(data[data.length - 1], '[DONE]', `${what}: last event`);
    return data.slice(0, -1).map((d) => JSON.parse(d));
}

//  request_logs rows of a tenant (bounded wait for want rows).
async function ledger(pg, tenantId, want, what) {
    let rows = [];
    await poll(async () => {
        rows = await pg.query(`SELECT prompt_tokens, completion_tokens, status FROM request_logs
                               WHERE tenant_id = '${tenantId}' ORDER BY id`);
        return rows.length >= want;
    }, ms(5000), 100);
    eq(rows.length, want, `${what}: request_logs rows`);
    return rows.map(([p, c, s]) => ({ prompt: Number(p), completion: Number(c), status: s }));
}

export default [
    {
        name: 'tools: a tool call, non-streamed, streamed and with .stream(), arguments match the schema',
        fn: async ({ stack }) => {
            const { c } = await client(stack, stack.free.key);
            const messages = [{ role: 'user', content: `What is the weather in Paris? ${nonce()}` }];
            const body = { model: stack.stdModel, messages, tools: [WEATHER], max_tokens: 200 };
            const r = await c.chat.completions.create(body);
            eq(r.choices.length, 1, 'choices');
            const m = r.choices[0].message;
            eq(r.choices[0].finish_reason, 'tool_calls', 'finish_reason');
            eq(m.role, 'assistant', 'role');
            eq(m.content, null, 'content of a tool-call message');
            assert(Array.isArray(m.tool_calls) && m.tool_calls.length === 1, `tool_calls ${JSON.stringify(m)}`);
            const call = m.tool_calls[0];
            eq(call.type, 'function', 'type');
            eq(call.function.name, 'get_weather', 'name');
            assert(typeof call.id === 'string' && call.id.length > 0, 'call id');
            checkWeatherArgs(call.function.arguments, 'non-streamed');
            if (stack.engine) {
                eq(call.function.arguments, JSON.stringify(fakeArguments(WEATHER.function.parameters)), 'the engine\'s arguments');
                eq(r.system_fingerprint, FINGERPRINT, 'system_fingerprint');
            }
            assert(r.usage.completion_tokens >= 2, `usage ${JSON.stringify(r.usage)}`);
            //  Streamed: indexed deltas, the arguments in several fragments.
            const chunks = await rawStream(stack, stack.free.key, body, 'streamed tool call');
            const f = fold(chunks);
            eq(f.length, 1, 'streamed choices');
            eq(f[0].finish, 'tool_calls', 'streamed finish_reason');
            eq(f[0].calls.length, 1, 'streamed calls');
            eq(f[0].calls[0].name, 'get_weather', 'streamed name');
            eq(f[0].calls[0].id, call.id, 'streamed id = non-streamed id');
            eq(f[0].calls[0].arguments, call.function.arguments, 'streamed arguments = non-streamed');
            const fragments = chunks.filter((k) => k.choices?.[0]?.delta?.tool_calls?.[0]?.function?.arguments).length;
            assert(fragments >= 3, `arguments came in ${fragments} fragments`);
            //  The SDK's stream helper assembles the same message.
            const s = c.chat.completions.stream(body);
            let events = 0;
            s.on('tool_calls.function.arguments.delta', () => { events++; });
            const fin = await s.finalChatCompletion();
            const fm = fin.choices[0].message;
            eq(fm.tool_calls[0].function.arguments, call.function.arguments, '.stream() arguments');
            eq(fin.choices[0].finish_reason, 'tool_calls', '.stream() finish_reason');
            assert(events >= 3, `.stream(): ${events} argument delta events`);
        },
    },
    {
        name: 'tools: runTools calls the function, sends its result back and returns the final answer',
        fn: async ({ stack }) => {
            const { c } = await client(stack, stack.free.key);
            const calls = [];
            const runner = c.chat.completions.runTools({
                model: stack.stdModel, max_tokens: 100,
                messages: [{ role: 'user', content: `Weather in Oslo please ${nonce()}` }],
                tools: [{ type: 'function', function: {
                    name: 'get_weather', parameters: WEATHER.function.parameters,
                    parse: JSON.parse,
                    function: (args) => { calls.push(args); return { temperature: 21, sky: 'clear' }; },
                } }],
            });
            const content = await runner.finalContent();
            eq(calls.length, 1, 'the function was called once');
            checkWeatherArgs(JSON.stringify(calls[0]), 'runTools arguments');
            assert(typeof content === 'string' && content.length > 0, `final content ${JSON.stringify(content)}`);
            const msgs = runner.messages;
            assert(msgs.some((m) => m.role === 'tool'), 'no tool message was sent back');
            eq(msgs[msgs.length - 1].role, 'assistant', 'the last message');
            //  Streamed runner too
            const calls2 = [];
            const sr = c.chat.completions.runTools({
                model: stack.stdModel, max_tokens: 100, stream: true,
                messages: [{ role: 'user', content: `Weather in Rome ${nonce()}` }],
                tools: [{ type: 'function', function: {
                    name: 'get_weather', parameters: WEATHER.function.parameters, parse: JSON.parse,
                    function: (args) => { calls2.push(args); return 'sunny'; } } }],
            });
            const content2 = await sr.finalContent();
            eq(calls2.length, 1, 'streamed runTools: function calls');
            assert(typeof content2 === 'string' && content2.length > 0, 'streamed runTools: final content');
        },
    },
    {
        name: 'tools: tool_choice none answers in words, a named tool_choice picks that tool',
        fn: async ({ stack }) => {
            const { c } = await client(stack, stack.free.key);
            const messages = [{ role: 'user', content: `Time or weather? ${nonce()}` }];
            const none = await c.chat.completions.create({ model: stack.stdModel, messages, tools: [WEATHER, TIME],
                                                           tool_choice: 'none', max_tokens: 20 });
            assert(!none.choices[0].message.tool_calls, 'tool_choice none: a tool call');
            assert(none.choices[0].message.content.length > 0, 'tool_choice none: no content');
            const named = await c.chat.completions.create({ model: stack.stdModel, messages, tools: [WEATHER, TIME],
                tool_choice: { type: 'function', function: { name: 'get_time' } }, max_tokens: 100 });
            eq(named.choices[0].message.tool_calls[0].function.name, 'get_time', 'named tool');
            JSON.parse(named.choices[0].message.tool_calls[0].function.arguments);
        },
    },
    {
        name: 'logprobs: content and top_logprobs, streamed equal to non-streamed',
        fn: async ({ stack }) => {
            const { c } = await client(stack, stack.free.key);
            const body = { model: stack.stdModel, messages: [{ role: 'user', content: `Count ${nonce()}` }],
                           logprobs: true, top_logprobs: 2, max_tokens: 12 };
            const r = await c.chat.completions.create(body);
            const lp = r.choices[0].logprobs;
            assert(lp && Array.isArray(lp.content), `logprobs ${JSON.stringify(lp)}`);
            eq(lp.content.length, r.usage.completion_tokens, 'one logprob a token');
            eq(lp.content.map((x) => x.token).join(''), r.choices[0].message.content, 'tokens spell the content');
            for (const x of lp.content) {
                assert(typeof x.logprob === 'number' && x.logprob <= 0, `logprob ${JSON.stringify(x)}`);
                eq(x.top_logprobs.length, 2, 'top_logprobs');
            }
            const f = fold(await rawStream(stack, stack.free.key, body, 'logprobs stream'));
            eq(JSON.stringify(f[0].logprobs), JSON.stringify(lp.content), 'streamed logprobs');
            //  Completions logprobs (an integer)
            const t = await c.completions.create({ model: stack.stdModel, prompt: `Say ${nonce()}`, logprobs: 1, max_tokens: 6 });
            const tl = t.choices[0].logprobs;
            assert(tl && Array.isArray(tl.tokens) && tl.tokens.length === t.usage.completion_tokens,
                   `completion logprobs ${JSON.stringify(tl)}`);
            eq(tl.tokens.join(''), t.choices[0].text, 'completion tokens spell the text');
            eq(tl.token_logprobs.length, tl.tokens.length, 'token_logprobs');
        },
    },
    {
        name: 'n: every choice with its own index and finish_reason, streamed and not',
        fn: async ({ stack, pg }) => {
            const t = await stack.tenant({ tier: 'free' }, 'n-choices');
            const { c } = await client(stack, t.key);
            const body = { model: stack.stdModel, messages: [{ role: 'user', content: `Three ways ${nonce()}` }],
                           n: 3, max_tokens: stack.engine ? 40 : 10 };
            const r = await c.chat.completions.create(body);
            eq(r.choices.length, 3, 'choices');
            r.choices.forEach((ch, i) => {
                eq(ch.index, i, 'index');
                assert(['stop', 'length'].includes(ch.finish_reason), `choice ${i} finish ${ch.finish_reason}`);
                assert(ch.message.content.length > 0, `choice ${i} empty`);
            });
            assert(new Set(r.choices.map((x) => x.message.content)).size > 1, 'every choice says the same');
            const chunks = await rawStream(stack, t.key, { ...body, stream_options: { include_usage: true } }, 'n stream');
            const f = fold(chunks);
            eq(f.length, 3, 'streamed choices');
            f.forEach((x, i) => {
                eq(x.content, r.choices[i].message.content, `streamed choice ${i}`);
                eq(x.finish, r.choices[i].finish_reason, `streamed choice ${i} finish`);
            });
            const usage = chunks[chunks.length - 1].usage;
            eq(usage.completion_tokens, r.usage.completion_tokens, 'stream usage');
            if (stack.engine) {
                //  Choice 2 is the shortest: it finishes while the others still stream
                const at = (i) => chunks.findIndex((k) => k.choices?.[0]?.index === i && k.choices[0].finish_reason);
                assert(at(2) < at(1) && at(1) < at(0), `finish order ${at(0)} ${at(1)} ${at(2)}`);
            }
            const rows = await ledger(pg, t.id, 2, 'n');
            eq(rows[0].completion, r.usage.completion_tokens, 'billed completion tokens (every choice)');
            assert(r.usage.completion_tokens >= 3, `completion tokens ${r.usage.completion_tokens}`);
        },
    },
    {
        name: 'messages: assistant tool_calls without content, tool results, content parts of every type',
        fn: async ({ stack }) => {
            const { c } = await client(stack, stack.free.key);
            const messages = [
                { role: 'system', content: [{ type: 'text', text: 'Be brief.' }] },
                { role: 'user', content: [{ type: 'text', text: 'Look' },
                                          { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
                                          { type: 'input_audio', input_audio: { data: 'UklGRg==', format: 'wav' } },
                                          { type: 'file', file: { file_id: 'file-1' } }] },
                { role: 'assistant', tool_calls: [{ id: 'call_1', type: 'function',
                                                     function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }] },
                { role: 'tool', tool_call_id: 'call_1', content: '{"temperature":21}' },
                { role: 'assistant', content: null, refusal: null,
                  tool_calls: [{ id: 'call_2', type: 'function', function: { name: 'get_time', arguments: '{}' } }] },
                { role: 'tool', tool_call_id: 'call_2', content: [{ type: 'text', text: 'noon' }] },
            ];
            const r = await c.chat.completions.create({ model: stack.stdModel, messages, tools: [WEATHER, TIME],
                                                        max_tokens: 8 });
            assert(r.choices[0].message.content.length > 0, 'answer after tool results');
            //  The estimate counts an allowance for the three non-text parts
            assert(r.usage.prompt_tokens > 0, 'prompt tokens');
            if (stack.engine) {
                const e = stack.engine.find('call_2');
                assert(e && e.body, 'the engine never saw the request');
                eq(JSON.stringify(e.body.messages), JSON.stringify(messages), 'messages reach the engine unchanged');
            }
            //  Still refused: a user message without content, a part without a type
            for (const [bad, param] of [
                [[{ role: 'user' }], 'messages[0].content'],
                [[{ role: 'user', content: [{ text: 'x' }] }], 'messages[0].content'],
                [[{ role: 'user', content: [{ type: 'text' }] }], 'messages[0].content'],
                [[{ role: 'assistant', tool_calls: 'x' }], 'messages[0].tool_calls'],
            ]) {
                const b = await stack.post('/v1/chat/completions', stack.free.key, { model: stack.stdModel, messages: bad });
                expectError(b, 400, undefined, 'invalid_request_error', `bad message ${JSON.stringify(bad)}`);
                eq(b.json.error.param, param, `param of ${JSON.stringify(bad)}`);
            }
        },
    },
    {
        name: 'tools: a stream cut at the daily quota in the middle of the arguments ends cleanly',
        fn: async ({ stack, pg }) => {
            const limit = 60;
            const t = await stack.tenant({ tier: 'free', daily_token_limit: limit }, 'tool-quota');
            const { c } = await client(stack, t.key);
            const long = { type: 'function', function: { name: 'write_report', parameters: { type: 'object',
                properties: Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`field_${i}`, { type: 'string', minLength: 12 }])) } } };
            const messages = [{ role: 'user', content: `Report ${nonce()}` }];
            const s = await c.chat.completions.create({ model: stack.stdModel, messages, tools: [long], max_tokens: 500,
                                                        stream: true, stream_options: { include_usage: true } });
            let args = '';
            let finish = null;
            let usage = null;
            let n = 0;
            for await (const k of s) {
                if (++n > 2000) throw new TestFailure('too many chunks');
                if (k.usage) usage = k.usage;
                const ch = k.choices?.[0];
                if (!ch) continue;
                args += ch.delta?.tool_calls?.[0]?.function?.arguments || '';
                if (ch.finish_reason) finish = ch.finish_reason;
            }
            eq(finish, 'length', 'finish_reason at the quota');
            assert(args.length > 0, 'no argument fragment came');
            let whole = true;
            try { JSON.parse(args); } catch { whole = false; }
            assert(!whole, `the arguments were not cut: ${args}`);
            assert(usage && usage.total_tokens <= limit, `usage ${JSON.stringify(usage)} over ${limit}`);
            const rows = await ledger(pg, t.id, 1, 'quota cut');
            assert(rows[0].prompt + rows[0].completion <= limit, `billed ${JSON.stringify(rows[0])} over ${limit}`);
            eq(rows[0].prompt + rows[0].completion, usage.total_tokens, 'billed = shown');
        },
    },
    {
        name: 'embeddings: every input form, float and base64, dimensions; billed as prompt tokens only',
        fn: async ({ stack, pg }) => {
            const t = await stack.tenant({ tier: 'free' }, 'embed');
            const { c } = await client(stack, t.key);
            const model = stack.stdModel;
            const one = await c.embeddings.create({ model, input: 'The quick brown fox', encoding_format: 'float' });
            eq(one.object, 'list', 'object');
            eq(one.model, model, 'model');
            eq(one.data.length, 1, 'one input, one item');
            eq(one.data[0].object, 'embedding', 'item object');
            eq(one.data[0].index, 0, 'item index');
            const v = one.data[0].embedding;
            assert(Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'number'), 'a float vector');
            const norm = Math.hypot(...v);
            assert(Math.abs(norm - 1) < 1e-3, `unit length: ${norm}`);
            assert(one.usage.prompt_tokens > 0 && one.usage.total_tokens === one.usage.prompt_tokens, `usage ${JSON.stringify(one.usage)}`);
            //  The SDK asks for base64 by default and decodes it: the same vector
            const b = await c.embeddings.create({ model, input: 'The quick brown fox' });
            eq(b.data[0].embedding.length, v.length, 'base64 vector length');
            b.data[0].embedding.forEach((x, i) => assert(Math.abs(x - v[i]) < 1e-6, `base64 value ${i}: ${x} vs ${v[i]}`));
            //  Raw base64 on the wire
            const raw = await stack.post('/v1/embeddings', t.key, { model, input: 'x y', encoding_format: 'base64' });
            eq(raw.status, 200, `raw base64: ${short(raw)}`);
            assert(typeof raw.json.data[0].embedding === 'string', 'base64 is a string');
            //  Arrays of strings, token ids, arrays of token ids; dimensions
            const many = await c.embeddings.create({ model, input: ['alpha', 'beta', 'gamma'], dimensions: 16, encoding_format: 'float' });
            eq(many.data.length, 3, 'three inputs');
            many.data.forEach((d, i) => { eq(d.index, i, 'index'); eq(d.embedding.length, 16, 'dimensions'); });
            assert(JSON.stringify(many.data[0].embedding) !== JSON.stringify(many.data[1].embedding), 'distinct inputs, distinct vectors');
            const ids = await c.embeddings.create({ model, input: [1, 2, 3, 4], encoding_format: 'float' });
            eq(ids.data.length, 1, 'token ids: one item');
            const idsMany = await c.embeddings.create({ model, input: [[1, 2], [3, 4, 5]], encoding_format: 'float' });
            eq(idsMany.data.length, 2, 'arrays of token ids');
            if (!stack.engine) eq(idsMany.usage.prompt_tokens, 5, 'token ids count as themselves');
            //  Bad bodies
            for (const [body, param] of [[{ model }, 'input'], [{ model, input: '' }, 'input'], [{ model, input: [] }, 'input'],
                                         [{ model, input: 'x', encoding_format: 'int8' }, 'encoding_format'],
                                         [{ model, input: 'x', dimensions: 0 }, 'dimensions']]) {
                const r = await stack.post('/v1/embeddings', t.key, body);
                expectError(r, 400, undefined, 'invalid_request_error', `embeddings ${JSON.stringify(body)}`);
                eq(r.json.error.param, param, `param of ${JSON.stringify(body)}`);
            }
            const nm = await stack.post('/v1/embeddings', t.key, { model: 'no-such', input: 'x' });
            expectError(nm, 404, 'model_not_found', undefined, 'embeddings unknown model');
            //  The ledger: one row each, completion 0, prompt = usage
            const rows = await ledger(pg, t.id, 6, 'embeddings');
            for (const row of rows) eq(row.completion, 0, 'completion tokens of an embedding');
            const shown = [one, b, raw.json, many, ids, idsMany].map((x) => x.usage.prompt_tokens).sort((x, y) => x - y);
            eq(rows.map((x) => x.prompt).sort((x, y) => x - y).join(','), shown.join(','), 'billed prompt tokens = shown');
            if (stack.engine) {
                const e = stack.engine.find('"dimensions":16');
                assert(e && e.path === '/v1/embeddings', 'the engine never saw the embeddings request');
                eq(e.body.dimensions, 16, 'dimensions reach the engine');
            }
        },
    },
    {
        name: 'embeddings: the daily quota and tokens/min give 429s',
        fn: async ({ stack }) => {
            const q = await stack.tenant({ tier: 'free', daily_token_limit: 10 }, 'embed-quota');
            const { OpenAI, c } = await client(stack, q.key);
            const big = Array.from({ length: 40 }, (_, i) => `word${i}`).join(' ');
            try {
                await c.embeddings.create({ model: stack.stdModel, input: big });
                throw new TestFailure('an embedding over the daily quota was served');
            } catch (e) {
                assert(e instanceof OpenAI.RateLimitError, `quota: ${e.constructor.name} ${e.message}`);
                eq(e.code, 'quota_exceeded', 'quota code');
            }
            const r = await stack.post('/v1/embeddings', q.key, { model: stack.stdModel, input: big });
            expectError(r, 429, 'quota_exceeded', 'insufficient_quota', 'embeddings over quota');
            assert(r.headers.get('retry-after'), 'Retry-After');
            const m = await stack.tenant({ tier: 'free', tokens_per_minute: 30 }, 'embed-tpm');
            const ok = await stack.post('/v1/embeddings', m.key, { model: stack.stdModel, input: 'a b c d e f g h i j' });
            eq(ok.status, 200, `first embedding under tokens/min: ${short(ok)}`);
            let refused = null;
            for (let i = 0; i < 10 && !refused; i++) {
                const x = await stack.post('/v1/embeddings', m.key, { model: stack.stdModel, input: big });
                if (x.status === 429) refused = x;
            }
            assert(refused, 'tokens/min never refused an embedding');
            expectError(refused, 429, 'rate_limit_exceeded', 'tokens', 'embeddings over tokens/min');
        },
    },
    {
        name: 'refusal: a refusal reaches the client whole and streamed (engine)',
        engineOnly: true,
        fn: async ({ stack }) => {
            const { c } = await client(stack, stack.free.key);
            const body = { model: stack.stdModel, messages: [{ role: 'user', content: `REFUSE ${nonce()}` }], max_tokens: 20 };
            const r = await c.chat.completions.create(body);
            eq(r.choices[0].message.refusal, REFUSAL.join(''), 'refusal');
            eq(r.choices[0].message.content, null, 'content of a refusal');
            const f = fold(await rawStream(stack, stack.free.key, body, 'refusal stream'));
            eq(f[0].refusal, REFUSAL.join(''), 'streamed refusal');
            const chunks = await rawStream(stack, stack.free.key, body, 'fingerprint');
            assert(chunks.every((k) => k.system_fingerprint === FINGERPRINT), 'system_fingerprint on every chunk');
            //  Parallel tool calls
            const p = await c.chat.completions.create({ model: stack.stdModel, max_tokens: 200, tools: [WEATHER, TIME],
                messages: [{ role: 'user', content: `PARALLEL ${nonce()}` }] });
            eq(p.choices[0].message.tool_calls.map((x) => x.function.name).join(','), 'get_weather,get_time', 'parallel calls');
            checkWeatherArgs(p.choices[0].message.tool_calls[0].function.arguments, 'parallel first');
        },
    },
];
