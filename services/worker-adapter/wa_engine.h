//  Is the engine answering? The worker's view of its engine, from what it
//  sees: health probes, and jobs that could not reach the engine or stalled.
//  Pure: no sockets, no clock (times come in as arguments).
//
//  Rules: a failed probe or a job that could not reach the engine (connect
//  failed, stream stalled, connection lost) marks it down at once. Only a
//  probe that STARTED after the engine went down brings it back up, so a probe
//  answered just before a job failure does not undo that failure.
#ifndef WA_ENGINE_H_INCLUDED
#define WA_ENGINE_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

typedef enum {
    WA_ENGINE_PROBE_OK,             //  the health endpoint answered
    WA_ENGINE_PROBE_FAILED,         //  no answer, or 5xx
    WA_ENGINE_JOB_UNREACHABLE,      //  a job could not connect, stalled or lost the connection
    WA_ENGINE_JOB_STALLED
} wa_engine_event_t;

typedef struct {
    bool up;
    uint64_t changed_ms;            //  when up last changed
    const char *reason;             //  static text while down, "" while up
} wa_engine_t;

//  Up at start (the first probe may say otherwise).
void wa_engine_init (wa_engine_t *self, uint64_t now_ms);

//  One observation. at_ms: when it was made (a probe: when it started).
//  Returns true when up changed.
bool wa_engine_note (wa_engine_t *self, wa_engine_event_t event, uint64_t at_ms, uint64_t now_ms);

#endif
