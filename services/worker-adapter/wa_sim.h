//  The engine simulator's model of one sequence: how long the answer is,
//  what its pieces are and when each is due. Pure: no I/O, no clock (the
//  caller passes now_ms), deterministic in the prompt.
#ifndef WA_SIM_H_INCLUDED
#define WA_SIM_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  Longest piece wa_sim_piece writes, with its NUL.
#define WA_SIM_PIECE_MAX 8

typedef struct {
    uint64_t hash;              //  of the prompt text
    uint32_t prompt_tokens;     //  mt_tokens_count of the prompt
    uint32_t completion_tokens; //  pieces this sequence produces, >= 1
    bool capped;                //  stopped at max_tokens: finish_reason "length"
    uint64_t start_ms;          //  when the sequence started
    uint32_t ttft_ms;           //  first piece due at start + ttft
    uint32_t itl_ms;            //  then one piece every itl
} wa_sim_plan_t;

//  FNV-1a of text, 64 bits; splitmix64's finaliser of x. The simulator's
//  deterministic choices all come from these two.
uint64_t wa_sim_hash (const char *text, size_t len);
uint64_t wa_sim_mix (uint64_t x);

//  Plan a sequence. The natural length is in [sim_tokens/2, sim_tokens]
//  (at least 1), chosen by the prompt's hash; max_tokens > 0 caps it.
void wa_sim_plan (wa_sim_plan_t *plan, const char *prompt, size_t len, uint32_t max_tokens,
                  uint32_t sim_tokens, uint32_t ttft_ms, uint32_t itl_ms, uint64_t start_ms);

//  Write piece number index (0-based) into out (size >= WA_SIM_PIECE_MAX):
//  one token under mt_tokens_count; the first has no leading space. Returns
//  its length.
size_t wa_sim_piece (const wa_sim_plan_t *plan, uint32_t index, char *out);

//  When piece number index is due.
uint64_t wa_sim_due_ms (const wa_sim_plan_t *plan, uint32_t index);

//  How many pieces are due by now_ms (0..completion_tokens).
uint32_t wa_sim_due_count (const wa_sim_plan_t *plan, uint64_t now_ms);

//  "length" when capped by max_tokens, else "stop". Static string.
const char *wa_sim_finish_reason (const wa_sim_plan_t *plan);

#endif
