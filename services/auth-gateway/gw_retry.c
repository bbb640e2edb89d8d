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
