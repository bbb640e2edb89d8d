//  Small helpers every service uses: clocks, ids, API keys, token counting.
#ifndef MT_UTIL_H_INCLUDED
#define MT_UTIL_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  Wall clock, ms since the epoch (UTC).
uint64_t mt_now_ms (void);

//  Monotonic clock, ms; only for intervals.
uint64_t mt_mono_ms (void);
//  The same clock in microseconds (the load generators' round trips).
uint64_t mt_mono_us (void);

//  Write 2*nbytes lowercase hex chars of cryptographic randomness and a NUL
//  into out (size >= 2*nbytes+1). Returns 0 or -1.
int mt_random_hex (char *out, size_t nbytes);

//  A fresh UUID v4 as text (37 bytes with the NUL).
void mt_uuid (char out [37]);

//  True when text is a UUID in canonical form.
bool mt_is_uuid (const char *text);

//  The one rule for ids that cross a service boundary (request, tenant,
//  event ids; pool and model names): 1..max bytes of printable ASCII without
//  space, '"' or '\\' (they end up in log lines as key=value). NULL is not.
bool mt_id_ok (const char *text, size_t max);

//  A new API key "sk-mt-" + 48 hex chars; out must hold MT_KEY_LEN + 1.
#define MT_KEY_LEN 54
int mt_key_generate (char out [MT_KEY_LEN + 1]);

//  SHA-256 of data as 64 hex chars and a NUL.
void mt_sha256_hex (const void *data, size_t size, char out [65]);

//  Token count of a text: the one tokenizer the gateway, quota and simulator
//  agree on. Words and punctuation marks count one token each; a word longer
//  than 4 bytes counts one token per 4 bytes.
uint32_t mt_tokens_count (const char *text, size_t len);

//  ISO date-time of next midnight UTC after now_ms: "YYYY-MM-DDT00:00:00Z".
void mt_next_midnight_utc (uint64_t now_ms, char out [21]);

//  Start of the UTC day holding now_ms, in ms.
uint64_t mt_day_start_ms (uint64_t now_ms);

//  Install SIGINT/SIGTERM handlers that set a flag; mt_stopping() reads it.
void mt_signals_install (void);
bool mt_stopping (void);

//  Raise the open-files soft limit to the hard limit.
void mt_raise_nofile (void);

#endif
