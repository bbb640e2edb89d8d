//  The engine simulator's answers beyond plain text: tool calls whose
//  arguments match the tool's JSON schema, logprobs, n > 1 choices, and
//  embeddings. Pure: no I/O, no clock; deterministic in the request.
//
//  A sequence is a number of steps (wa_sim_plan_t.completion_tokens); at
//  each step every choice gets one delta. Text: one word a step. A tool
//  call: step 0 names the call (id, type, function name, arguments ""),
//  each later step adds one fragment of the arguments.
#ifndef WA_SIM_RICH_H_INCLUDED
#define WA_SIM_RICH_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wa_sim.h"

typedef struct _wa_sim_rich_t wa_sim_rich_t;

#define WA_SIM_N_MAX 16             //  choices the simulator answers at most
#define WA_SIM_DIMS_DEFAULT 64      //  embedding size when "dimensions" is absent
#define WA_SIM_DIMS_MAX 4096

//  Read what the request asks for (chat = true for /chat/completions):
//  n, logprobs / top_logprobs, tools and tool_choice. hash is the prompt's
//  (wa_sim_plan_t.hash). Never fails: a body it cannot read is plain text.
//  Caller owns; destroy with wa_sim_rich_destroy.
wa_sim_rich_t *wa_sim_rich_new (bool chat, const char *request_json, size_t len, uint64_t hash);
void wa_sim_rich_destroy (wa_sim_rich_t **self_p);

//  True when the answer needs whole choices (a tool call, logprobs, n > 1);
//  false: plain text of choice 0 (wa_sim_piece) will do.
bool wa_sim_rich_needed (wa_sim_rich_t *self);
//  Choices per step (n).
uint32_t wa_sim_rich_n (wa_sim_rich_t *self);
//  The tool call's name and arguments, or NULL when it answers with text.
//  Borrowed.
const char *wa_sim_rich_tool (wa_sim_rich_t *self);
const char *wa_sim_rich_arguments (wa_sim_rich_t *self);

//  Fit the plan to the answer: a tool call has 1 + fragments steps (capped
//  by max_tokens > 0, then "length").
void wa_sim_rich_plan (wa_sim_rich_t *self, wa_sim_plan_t *plan, uint32_t max_tokens);

//  The delta of choice number choice at step: a complete choice object of a
//  stream chunk (compact JSON); on the plan's last step it also carries the
//  finish_reason. *tokens is set to the completion tokens it carries (1).
//  Caller owns; free(). NULL when out of memory.
char *wa_sim_rich_delta (wa_sim_rich_t *self, const wa_sim_plan_t *plan, uint32_t step,
                         uint32_t choice, uint32_t *tokens);

//  "tool_calls", "length" or "stop". Static string.
const char *wa_sim_rich_finish (wa_sim_rich_t *self, const wa_sim_plan_t *plan);

//  Arguments matching a JSON schema (object, properties, required, type,
//  enum, const, items, minItems, minimum, maximum, anyOf/oneOf), as compact
//  JSON. Deterministic in hash. Caller owns; free(). Exposed for tests.
char *wa_sim_schema_value (const char *schema_json, size_t len, uint64_t hash);

//  Embeddings of request_json's "input" (a string, an array of strings, an
//  array of token ids, an array of arrays of token ids), "dimensions" and
//  "encoding_format" ("float" or "base64"): one item per input, each
//  {"object":"embedding","index":i,"embedding":...}, vectors of unit length
//  deterministic in the input. prompt_tokens: mt_tokens_count of each text,
//  the length of each token array. Returns 0 and *items (caller owns: free
//  each, then the array), or -1 and a reason in err.
int wa_sim_embeddings (const char *request_json, size_t len, char ***items, size_t *count,
                       uint32_t *prompt_tokens, char *err, size_t errsize);

#endif
