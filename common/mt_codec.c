//  Envelope codec over czmq sockets.
#include "mt_codec.h"
#include "mt_log.h"

Mt__Envelope *
mt_codec_decode (const uint8_t *data, size_t size)
{
    if (!data || size == 0 || size > MT_CODEC_MAX_FRAME)
        return NULL;
    Mt__Envelope *env = mt__envelope__unpack (NULL, size, data);
    if (env && env->body_case == MT__ENVELOPE__BODY__NOT_SET) {
        mt__envelope__free_unpacked (env, NULL);
        return NULL;
    }
    return env;
}

zsock_t *
mt_codec_socket (int type)
{
    zsock_t *sock = zsock_new (type);
    if (sock) {
        zsock_set_maxmsgsize (sock, (int) MT_CODEC_MAX_FRAME);
        zsock_set_linger (sock, 0);
    }
    return sock;
}

void
mt_codec_free (Mt__Envelope **env_p)
{
    if (env_p && *env_p) {
        mt__envelope__free_unpacked (*env_p, NULL);
        *env_p = NULL;
    }
}

int
mt_codec_send (zsock_t *sock, zframe_t *routing_id, const Mt__Envelope *env)
{
    size_t size = mt__envelope__get_packed_size (env);
    zframe_t *frame = zframe_new (NULL, size);
    if (!frame)
        return -1;
    mt__envelope__pack (env, zframe_data (frame));
    void *handle = zsock_resolve (sock);
    if (routing_id) {
        if (zmq_send (handle, zframe_data (routing_id), zframe_size (routing_id),
                      ZMQ_SNDMORE | ZMQ_DONTWAIT) == -1) {
            zframe_destroy (&frame);
            return -1;
        }
    }
    int rc = zmq_send (handle, zframe_data (frame), zframe_size (frame), ZMQ_DONTWAIT);
    zframe_destroy (&frame);
    return rc == -1? -1: 0;
}

//  Receive the rest of a multipart message and throw it away.
static size_t
s_drain (void *handle, zmq_msg_t *part)
{
    size_t frames = 0;
    while (zmq_msg_more (part)) {
        zmq_msg_close (part);
        zmq_msg_init (part);
        if (zmq_msg_recv (part, handle, 0) == -1)
            break;
        frames++;
    }
    return frames;
}

Mt__Envelope *
mt_codec_recv (zsock_t *sock, zframe_t **routing_id)
{
    //  Straight on zmq_msg_t, without zmsg/zframe copies: this is the hot path
    void *handle = zsock_resolve (sock);
    zmq_msg_t part;
    zmq_msg_init (&part);
    Mt__Envelope *env = NULL;
    if (routing_id)
        *routing_id = NULL;
    if (zmq_msg_recv (&part, handle, ZMQ_DONTWAIT) == -1) {
        zmq_msg_close (&part);
        return NULL;
    }
    size_t frames = 1;
    if (routing_id) {
        if (!zmq_msg_more (&part))
            goto garbage;
        *routing_id = zframe_new (zmq_msg_data (&part), zmq_msg_size (&part));
        zmq_msg_close (&part);
        zmq_msg_init (&part);
        if (zmq_msg_recv (&part, handle, 0) == -1)
            goto garbage;
        frames++;
    }
    if (zmq_msg_more (&part))
        goto garbage;
    env = mt_codec_decode (zmq_msg_data (&part), zmq_msg_size (&part));
    if (env) {
        zmq_msg_close (&part);
        return env;
    }
garbage:
    frames += s_drain (handle, &part);
    mt_log ("bad-frame frames=%zu bytes=%zu action=dropped", frames, zmq_msg_size (&part));
    zmq_msg_close (&part);
    if (routing_id)
        zframe_destroy (routing_id);
    return NULL;
}

const char *
mt_codec_body_name (const Mt__Envelope *env)
{
    switch (env->body_case) {
        case MT__ENVELOPE__BODY_SUBMIT:       return "submit";
        case MT__ENVELOPE__BODY_SUBMIT_REPLY: return "submit_reply";
        case MT__ENVELOPE__BODY_JOB:          return "job";
        case MT__ENVELOPE__BODY_TOKEN_CHUNK:  return "token_chunk";
        case MT__ENVELOPE__BODY_JOB_DONE:     return "job_done";
        case MT__ENVELOPE__BODY_CANCEL:       return "cancel";
        case MT__ENVELOPE__BODY_WORKER_READY: return "worker_ready";
        case MT__ENVELOPE__BODY_HEARTBEAT:    return "heartbeat";
        case MT__ENVELOPE__BODY_CATALOG:      return "catalog";
        case MT__ENVELOPE__BODY_ADMIT:        return "admit";
        case MT__ENVELOPE__BODY_ADMIT_REPLY:  return "admit_reply";
        case MT__ENVELOPE__BODY_SETTLE:       return "settle";
        case MT__ENVELOPE__BODY_USAGE_EVENT:  return "usage_event";
        case MT__ENVELOPE__BODY_USAGE_ACK:    return "usage_ack";
        case MT__ENVELOPE__BODY_JOB_PROGRESS: return "job_progress";
        default:                              return "unknown";
    }
}

Mt__JobSpec *
mt_codec_job_copy (const Mt__JobSpec *spec)
{
    Mt__JobSpec known = *spec;
    known.base.n_unknown_fields = 0;
    known.base.unknown_fields = NULL;
    size_t size = mt__job_spec__get_packed_size (&known);
    uint8_t *buf = (uint8_t *) malloc (size? size: 1);
    if (!buf)
        return NULL;
    mt__job_spec__pack (&known, buf);
    Mt__JobSpec *copy = mt__job_spec__unpack (NULL, size, buf);
    free (buf);
    return copy;
}
