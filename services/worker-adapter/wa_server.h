//  The worker-adapter's server: a DEALER to the scheduler (credit and jobs),
//  a send-only DEALER per gateway token endpoint, and the running sequences
//  of its backend (the simulator, or an OpenAI-compatible engine). One thread.
#ifndef WA_SERVER_H_INCLUDED
#define WA_SERVER_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *scheduler;      //  scheduler's worker endpoint
    const char *worker_id;      //  also the DEALER routing id
    const char *pool;
    const char **models;        //  borrowed array of model names
    size_t nmodels;
    uint32_t slots;             //  concurrent sequences
    uint32_t sim_ttft_ms;
    uint32_t sim_itl_ms;
    uint32_t sim_tokens;
    uint32_t ready_interval_ms; //  WorkerReady period (1000)
    const char *engine_url;     //  openai backend when set, else the simulator
    const char *engine_health_url;  //  probed while the openai backend runs; NULL/"": never
    uint32_t engine_probe_ms;   //  probe period
    uint32_t engine_probe_timeout_ms;
    uint32_t engine_stall_ms;   //  a stream silent this long ends, engine down; 0 = never
    uint32_t done_hold_ms;      //  JobDones to the scheduler held at most this long
                                //  while the worker is under half busy (wa_held.h); 0 = never
} wa_server_config_t;

typedef struct _wa_server_t wa_server_t;

//  Connect to the scheduler. Returns NULL (logged) on failure.
//  Caller owns; destroy with wa_server_destroy.
wa_server_t *wa_server_new (const wa_server_config_t *config);

//  Destroy; no-op on NULL; nulls the pointer.
void wa_server_destroy (wa_server_t **self_p);

//  One turn: wait for the scheduler or the next due token (at most
//  max_wait_ms), handle messages, send what is due. Returns 0 or -1.
int wa_server_poll (wa_server_t *self, int max_wait_ms);

//  Loop until mt_stopping(). Returns 0.
int wa_server_run (wa_server_t *self);

//  /readyz: false (reason in why) while the engine does not answer. Any
//  thread; an mt_health_fn.
#include <stdbool.h>
bool wa_server_health (char *why, size_t size);

//  Sequences running and waiting for a slot (tests, health).
uint32_t wa_server_running (wa_server_t *self);
uint32_t wa_server_waiting (wa_server_t *self);

#endif
