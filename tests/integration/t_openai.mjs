//  The official OpenAI Node client against the gateway (installed by
//  tests/run.sh with npm ci from package-lock.json).
import { assert, eq, ms, TestFailure } from './harness.mjs';

async function client(stack, key) {
    let mod;
    try {
        mod = await import('openai');
    } catch (e) {
        throw new TestFailure(`openai package not installed (npm ci in tests/integration): ${e.message}`);
    }
    const OpenAI = mod.default || mod.OpenAI;
    return { OpenAI, c: new OpenAI({ apiKey: key, baseURL: `${stack.base}/v1`, maxRetries: 0, timeout: ms(15000) }) };
}

export default [
    {
        name: 'the official openai client: chat, stream, completions, models, errors',
        fn: async ({ stack }) => {
            const { OpenAI, c } = await client(stack, stack.free.key);
            const messages = [{ role: 'user', content: 'Hello from the SDK.' }];
            const r = await c.chat.completions.create({ model: 'sim-small', messages, max_tokens: 12 });
            const content = r.choices[0].message.content;
            assert(typeof content === 'string' && content.length > 0, 'SDK chat: empty content');
            eq(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens, 'SDK chat usage');
            //  Streamed, with the usage chunk.
            const stream = await c.chat.completions.create({ model: 'sim-small', messages, max_tokens: 12,
                stream: true, stream_options: { include_usage: true } });
            let text = '';
            let usage = null;
            let n = 0;
            for await (const chunk of stream) {
                if (++n > 1000) throw new TestFailure('SDK stream: too many chunks');
                if (chunk.usage) usage = chunk.usage;
                text += chunk.choices[0]?.delta?.content || '';
            }
            eq(text, content, 'SDK streamed content vs non-streamed');
            assert(usage && usage.completion_tokens === r.usage.completion_tokens, 'SDK stream usage');
            //  Raw response: headers reach the SDK user.
            const { response } = await c.chat.completions.create({ model: 'sim-small', messages, max_tokens: 2 })
                .withResponse();
            assert(response.headers.get('x-ratelimit-remaining-requests') !== null, 'SDK: no rate-limit headers');
            const t = await c.completions.create({ model: 'sim-small', prompt: 'Say', max_tokens: 5 });
            assert(t.choices[0].text.length > 0, 'SDK completion: empty text');
            const models = [];
            for await (const m of c.models.list()) models.push(m.id);
            assert(models.includes('sim-small'), `SDK models: ${models}`);
            const one = await c.models.retrieve('sim-small');
            eq(one.id, 'sim-small', 'SDK models.retrieve id');
            eq(one.object, 'model', 'SDK models.retrieve object');
            try {
                await c.models.retrieve('sim-large');       //  the premium pool's, not a free tenant's
                throw new TestFailure('SDK: models.retrieve of another pool\'s model succeeded');
            } catch (e) {
                assert(e instanceof OpenAI.NotFoundError, `SDK retrieve other pool: ${e.constructor.name} ${e.message}`);
                eq(e.code, 'model_not_found', 'SDK retrieve other pool code');
            }
            //  Errors come out as the SDK's typed errors.
            const bad = (await client(stack, 'sk-mt-not-a-key')).c;
            try {
                await bad.chat.completions.create({ model: 'sim-small', messages, max_tokens: 2 });
                throw new TestFailure('SDK: a bad key was accepted');
            } catch (e) {
                assert(e instanceof OpenAI.AuthenticationError, `SDK bad key: ${e.constructor.name} ${e.message}`);
                eq(e.code, 'invalid_api_key', 'SDK bad key code');
            }
            try {
                await c.chat.completions.create({ model: 'no-such-model', messages, max_tokens: 2 });
                throw new TestFailure('SDK: an unknown model was accepted');
            } catch (e) {
                assert(e instanceof OpenAI.NotFoundError, `SDK unknown model: ${e.constructor.name} ${e.message}`);
                eq(e.code, 'model_not_found', 'SDK unknown model code');
            }
        },
    },
];
