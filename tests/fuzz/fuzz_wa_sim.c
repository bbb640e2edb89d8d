//  libFuzzer target: the simulator reading a JobSpec's request_json (bytes
//  from the gateway): tools and their JSON schemas, tool_choice, n,
//  logprobs (wa_sim_rich), and embeddings inputs (wa_sim_embeddings). The
//  first byte chooses: bit 0 chat or completion, bit 1 embeddings; the next
//  one max_tokens. Every delta of the whole sequence and every embedding
//  item must be a JSON object; tool-call fragments must add up to the
//  arguments, which are a JSON object.
#include "wa_sim.h"
#include "wa_sim_rich.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
s_embeddings (const char *json, size_t len)
{
    char **items = NULL;
    size_t count = 0;
    uint32_t tokens = 0;
    char err [128] = "";
    if (wa_sim_embeddings (json, len, &items, &count, &tokens, err, sizeof err)) {
        if (items || count || !*err)
            abort ();
        return;
    }
    for (size_t i = 0; i < count; i++) {
        json_t *item = json_loads (items [i], 0, NULL);
        if (!json_is_object (item))
            abort ();
        json_decref (item);
        free (items [i]);
    }
    free (items);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    bool chat = !(data [0] & 1);
    uint32_t max_tokens = data [1];
    size_t len = size - 2;
    char *json = (char *) malloc (len? len: 1);
    if (!json)
        abort ();
    memcpy (json, data + 2, len);
    if (data [0] & 2) {
        s_embeddings (json, len);
        free (json);
        return 0;
    }
    wa_sim_rich_t *r = wa_sim_rich_new (chat, json, len, 42);
    if (!r)
        abort ();
    wa_sim_plan_t plan;
    wa_sim_plan (&plan, json, len, max_tokens, 16, 0, 0, 0);
    wa_sim_rich_plan (r, &plan, max_tokens);
    if (max_tokens && plan.completion_tokens > max_tokens)
        abort ();
    size_t args_len = 0;
    for (uint32_t step = 0; step < plan.completion_tokens && step < 4096; step++)
        for (uint32_t c = 0; c < wa_sim_rich_n (r) && c < 4; c++) {
            uint32_t tokens = 0;
            char *d = wa_sim_rich_delta (r, &plan, step, c, &tokens);
            json_t *o = d? json_loads (d, 0, NULL): NULL;
            if (!json_is_object (o) || tokens != 1)
                abort ();
            const char *frag = json_string_value (json_object_get (json_object_get (json_array_get (
                json_object_get (json_object_get (o, "delta"), "tool_calls"), 0), "function"), "arguments"));
            if (c == 0 && frag)
                args_len += strlen (frag);
            json_decref (o);
            free (d);
        }
    if (wa_sim_rich_tool (r)) {
        const char *args = wa_sim_rich_arguments (r);
        json_t *v = json_loads (args, 0, NULL);
        if (!json_is_object (v))
            abort ();
        json_decref (v);
        if (!plan.capped && plan.completion_tokens < 4096 && args_len != strlen (args))
            abort ();
    }
    wa_sim_rich_destroy (&r);
    free (json);
    return 0;
}
