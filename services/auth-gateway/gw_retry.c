//  auth-gateway: when a lost job is submitted again (see gw_retry.h).
#include "gw_retry.h"

#include <string.h>

//  The request still wants its answer.
static bool
s_wanted (const gw_retry_req_t *req)
{
    return !req->client_gone && !req->timed_out && !req->cancelled;
}

bool
gw_retry_on_done (const gw_retry_req_t *req, Mt__ErrorCode error)
{
    if (error != MT__ERROR_CODE__ERR_WORKER_LOST && error != MT__ERROR_CODE__ERR_UNAVAILABLE)
        return false;
    if (!s_wanted (req) || req->requeues >= GW_RETRY_MAX)
        return false;
    //  A stream that showed a token cannot take it back
    return !(req->stream && req->started);
}

bool
gw_retry_on_restart (const gw_retry_req_t *req, const char *accepted_id, const char *now_id)
{
    if (!s_wanted (req) || req->started)
        return false;
    if (!accepted_id || !*accepted_id || !now_id || !*now_id)
        return false;
    return strcmp (accepted_id, now_id) != 0;
}

gw_submit_seen_t
gw_retry_on_catalog (const gw_retry_req_t *req, const char *sent_to, uint64_t sent_hb,
                     const char *cat_id, uint64_t cat_hb)
{
    if (!cat_id || !*cat_id || cat_hb == 0)
        return GW_SUBMIT_WAIT;
    bool same = sent_to && !strcmp (sent_to, cat_id);
    if (sent_hb > cat_hb)
        //  Sent after the heartbeat this Catalog answers: in the same queue
        //  behind it, so to this instance (or a later one)
        return same? GW_SUBMIT_WAIT: GW_SUBMIT_MOVED;
    if (same)
        return GW_SUBMIT_ACCEPTED;
    if (!s_wanted (req) || req->started)
        return GW_SUBMIT_WAIT;      //  not submitted again: ends at the service timeout
    //  The new instance read heartbeat cat_hb first: what was queued before
    //  heartbeat cat_hb - 1 went to the old one (or was lost with it)
    return sent_to && *sent_to && sent_hb < cat_hb? GW_SUBMIT_AGAIN: GW_SUBMIT_AGAIN_ALONE;
}
