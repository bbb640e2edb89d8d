//  The worker's view of its engine. Pure. See wa_engine.h.
#include "wa_engine.h"

void
wa_engine_init (wa_engine_t *self, uint64_t now_ms)
{
    self->up = true;
    self->changed_ms = now_ms;
    self->reason = "";
}

static bool
s_set (wa_engine_t *self, bool up, const char *reason, uint64_t now_ms)
{
    if (self->up == up)
        return false;
    self->up = up;
    self->reason = up? "": reason;
    self->changed_ms = now_ms;
    return true;
}

bool
wa_engine_note (wa_engine_t *self, wa_engine_event_t event, uint64_t at_ms, uint64_t now_ms)
{
    switch (event) {
        case WA_ENGINE_PROBE_OK:
            //  A probe older than the failure it would undo says nothing
            if (!self->up && at_ms < self->changed_ms)
                return false;
            return s_set (self, true, "", now_ms);
        case WA_ENGINE_PROBE_FAILED:
            return s_set (self, false, "engine health check failed", now_ms);
        case WA_ENGINE_JOB_UNREACHABLE:
            return s_set (self, false, "engine unreachable", now_ms);
        case WA_ENGINE_JOB_STALLED:
            return s_set (self, false, "engine stream stalled", now_ms);
    }
    return false;
}
