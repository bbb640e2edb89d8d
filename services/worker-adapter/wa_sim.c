//  Engine simulator: deterministic answers with honest token counts.
#include "wa_sim.h"
#include "mt_util.h"

#include <assert.h>
#include <string.h>

//  Words of 1-4 ASCII letters: each is exactly one token.
static const char *s_vocab [] = {
    "the", "a", "of", "and", "to", "in", "is", "it", "that", "was", "for", "on", "are",
    "as", "with", "his", "they", "at", "be", "this", "from", "have", "or", "by", "one",
    "had", "not", "but", "what", "all", "were", "when", "we", "can", "an", "your", "said",
    "if", "do", "will", "each", "how", "up", "out", "them", "then", "she", "many", "some",
    "so", "make", "like", "him", "into", "time", "has", "look", "two", "more", "go", "see",
    "no", "way", "my", "than", "been", "call", "who", "its", "now", "find", "long", "down",
    "day", "did", "get", "come", "made", "may", "part", "GPU", "sim", "tok", "node"
};
#define S_VOCAB_SIZE (sizeof s_vocab / sizeof s_vocab [0])

uint64_t
wa_sim_hash (const char *text, size_t len)
{
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char) text [i];
        h *= 1099511628211ull;
    }
    return h;
}

uint64_t
wa_sim_mix (uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

void
wa_sim_plan (wa_sim_plan_t *plan, const char *prompt, size_t len, uint32_t max_tokens,
             uint32_t sim_tokens, uint32_t ttft_ms, uint32_t itl_ms, uint64_t start_ms)
{
    assert (plan);
    memset (plan, 0, sizeof *plan);
    if (!prompt)
        len = 0;
    plan->hash = wa_sim_hash (prompt? prompt: "", len);
    plan->prompt_tokens = mt_tokens_count (prompt? prompt: "", len);
    uint32_t hi = sim_tokens? sim_tokens: 1;
    uint32_t lo = hi / 2? hi / 2: 1;
    uint32_t n = lo + (uint32_t) (wa_sim_mix (plan->hash) % (uint64_t) (hi - lo + 1));
    if (max_tokens > 0 && n > max_tokens) {
        n = max_tokens;
        plan->capped = true;
    }
    plan->completion_tokens = n;
    plan->start_ms = start_ms;
    plan->ttft_ms = ttft_ms;
    plan->itl_ms = itl_ms;
}

size_t
wa_sim_piece (const wa_sim_plan_t *plan, uint32_t index, char *out)
{
    assert (plan && out);
    uint64_t r = wa_sim_mix (plan->hash ^ ((uint64_t) index * 0x100000001b3ull));
    if (index > 0 && r % 10 == 0) {
        strcpy (out, ".");
        return 1;
    }
    const char *word = s_vocab [(r / 10) % S_VOCAB_SIZE];
    size_t n = 0;
    if (index > 0)
        out [n++] = ' ';
    size_t wlen = strlen (word);
    memcpy (out + n, word, wlen);
    n += wlen;
    out [n] = 0;
    return n;
}

uint64_t
wa_sim_due_ms (const wa_sim_plan_t *plan, uint32_t index)
{
    assert (plan);
    return plan->start_ms + plan->ttft_ms + (uint64_t) index * plan->itl_ms;
}

uint32_t
wa_sim_due_count (const wa_sim_plan_t *plan, uint64_t now_ms)
{
    assert (plan);
    uint64_t first = plan->start_ms + plan->ttft_ms;
    if (now_ms < first)
        return 0;
    if (plan->itl_ms == 0)
        return plan->completion_tokens;
    uint64_t due = 1 + (now_ms - first) / plan->itl_ms;
    return due >= plan->completion_tokens? plan->completion_tokens: (uint32_t) due;
}

const char *
wa_sim_finish_reason (const wa_sim_plan_t *plan)
{
    assert (plan);
    return plan->capped? "length": "stop";
}
