//  Stream to whole: folds the choice deltas of a stream (chat.completion.chunk
//  or text_completion choices, as the engine or simulator sent them) into
//  the choices of one non-streamed answer, the way OpenAI would have sent
//  it whole: per choice index, content and refusal concatenated, tool calls
//  merged by their index (id, type, name, arguments concatenated; the legacy
//  function_call likewise), logprobs lists joined, the finish_reason, and any
//  other field the engine put in a choice or its delta kept (strings
//  concatenated, other values the last one). Pure: no I/O.
#ifndef GW_ASSEMBLE_H_INCLUDED
#define GW_ASSEMBLE_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "gw_openai.h"

typedef struct _gw_assemble_t gw_assemble_t;

#define GW_ASSEMBLE_CHOICES_MAX 128     //  choice indexes kept: 0..127 (n <= 128)
#define GW_ASSEMBLE_CALLS_MAX 128       //  tool calls per choice

//  Caller owns; destroy with gw_assemble_destroy.
gw_assemble_t *gw_assemble_new (gw_kind_t kind);
void gw_assemble_destroy (gw_assemble_t **self_p);

//  Plain text of choice 0 (the pieces of a TokenChunk). Returns 0 or -1.
int gw_assemble_text (gw_assemble_t *self, const char *text, size_t len);

//  One choice object of a stream chunk. Returns 0, or -1 when it is not a
//  JSON object with a usable index (ignored).
int gw_assemble_choice (gw_assemble_t *self, const char *json, size_t len);

//  The whole choices, by index, as a new JSON array (caller owns; decref).
//  A choice with no finish_reason of its own gets finish (may be NULL:
//  null). With no choice at all: one empty choice 0.
json_t *gw_assemble_choices (gw_assemble_t *self, const char *finish);

#endif
