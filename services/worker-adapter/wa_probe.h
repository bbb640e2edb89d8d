//  The engine's health endpoint, probed from a thread of its own (a blocking
//  GET must never stall the worker's token loop). A czmq actor: every
//  interval it GETs the URL with a timeout and sends the outcome on its pipe:
//
//    actor -> owner  "PROBE", ok ("1"/"0"), started (mono ms, decimal text)
//
//  ok: any HTTP answer below 500 (an engine without /health still answers
//  404); not ok: no connection, a timeout, or 5xx (vLLM and TGI say 503 while
//  unhealthy, llama.cpp while it loads the model).
#ifndef WA_PROBE_H_INCLUDED
#define WA_PROBE_H_INCLUDED

#include <czmq.h>

//  Caller owns; destroy with zactor_destroy. NULL on failure.
zactor_t *wa_probe_new (const char *url, int interval_ms, int timeout_ms);

//  The default health URL for an engine URL: "http://h:p/v1" -> "http://h:p/health".
//  Writes into out (size bytes); returns out.
char *wa_probe_default_url (const char *engine_url, char *out, size_t size);

#endif
