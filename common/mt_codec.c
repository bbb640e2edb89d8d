//  Envelope codec over czmq sockets.
#include "mt_codec.h"
#include "mt_log.h"

#include <poll.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

//  libzmq compares getpid () with the pid it started in on every look at a
//  mailbox (its fork check): about ten system calls a message handled, since
//  glibc no longer caches the pid. This definition takes the place of glibc's
//  for the whole process (libzmq's calls included): the pid, asked of the
//  kernel once and again in the child of a fork, so the fork check still
//  sees a fork.
static pid_t s_pid;

static void
s_pid_forget (void)
{
    __atomic_store_n (&s_pid, 0, __ATOMIC_RELAXED);
}

__attribute__((constructor)) static void
s_pid_start (void)
{
    pthread_atfork (NULL, NULL, s_pid_forget);
}

pid_t
getpid (void)
{
    pid_t pid = __atomic_load_n (&s_pid, __ATOMIC_RELAXED);
    if (!pid) {
        pid = (pid_t) syscall (SYS_getpid);
        __atomic_store_n (&s_pid, pid, __ATOMIC_RELAXED);
    }
    return pid;
}

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

//  Sockets of this thread that only the codec touches (mt_codec_poll_own),
//  and whether each was idle at the last look with no call since.
#define S_OWN_MAX 16
static __thread struct {
    void *handle;
    bool quiet;
} s_own [S_OWN_MAX];
static __thread int s_nown;

static int
s_own_find (void *handle)
{
    for (int i = 0; i < s_nown; i++)
        if (s_own [i].handle == handle)
            return i;
    return -1;
}

//  A call on the socket may have taken commands from its mailbox.
static inline void
s_touch (void *handle)
{
    if (s_nown) {
        int i = s_own_find (handle);
        if (i >= 0)
            s_own [i].quiet = false;
    }
}

//  A receive found nothing: libzmq took every command from the socket's
//  mailbox on the way (an empty non-blocking receive always does), so the
//  socket is idle, and its descriptor is signalled when that changes. The next
//  poll need not look at the mailbox again.
static inline void
s_quiet (void *handle)
{
    if (s_nown) {
        int i = s_own_find (handle);
        if (i >= 0)
            s_own [i].quiet = true;
    }
}

void
mt_codec_poll_own (zsock_t *sock)
{
    void *handle = zsock_resolve (sock);
    int i = s_own_find (handle);
    if (i < 0 && s_nown < S_OWN_MAX) {
        i = s_nown++;
        s_own [i].handle = handle;
    }
    if (i >= 0)
        s_own [i].quiet = false;
}

//  Messages held by mt_codec_send_later on this thread, in order.
typedef struct {
    void *handle;
    zmq_msg_t msg;
    char *label;                    //  logged if it is dropped, or NULL
} s_held_t;
static __thread s_held_t *s_held;
static __thread size_t s_nheld, s_held_cap;

static int
s_send_held (s_held_t *h)
{
    s_touch (h->handle);
    int rc = zmq_msg_send (&h->msg, h->handle, ZMQ_DONTWAIT) == -1? -1: 0;
    if (rc)
        zmq_msg_close (&h->msg);
    if (rc && h->label)
        mt_log ("%s", h->label);
    free (h->label);
    return rc;
}

//  Send what is held for handle (all when NULL), in order; keep the rest.
static size_t
s_flush (void *handle)
{
    size_t dropped = 0, kept = 0;
    for (size_t i = 0; i < s_nheld; i++) {
        if (handle && s_held [i].handle != handle)
            s_held [kept++] = s_held [i];
        else
        if (s_send_held (&s_held [i]))
            dropped++;
    }
    s_nheld = kept;
    return dropped;
}

static bool
s_held_for (void *handle)
{
    for (size_t i = 0; i < s_nheld; i++)
        if (s_held [i].handle == handle)
            return true;
    return false;
}

int
mt_codec_send_later (zsock_t *sock, const Mt__Envelope *env, const char *label)
{
    if (s_nheld == s_held_cap) {
        size_t cap = s_held_cap? 2 * s_held_cap: 64;
        s_held_t *grown = (s_held_t *) realloc (s_held, cap * sizeof (s_held_t));
        if (!grown)
            return mt_codec_send (sock, NULL, env);
        s_held = grown;
        s_held_cap = cap;
    }
    s_held_t *h = &s_held [s_nheld];
    size_t size = mt__envelope__get_packed_size (env);
    if (zmq_msg_init_size (&h->msg, size))
        return mt_codec_send (sock, NULL, env);
    mt__envelope__pack (env, (uint8_t *) zmq_msg_data (&h->msg));
    h->handle = zsock_resolve (sock);
    h->label = label? strdup (label): NULL;
    s_nheld++;
    return 0;
}

size_t
mt_codec_flush (void)
{
    return s_nheld? s_flush (NULL): 0;
}

int
mt_codec_send (zsock_t *sock, zframe_t *routing_id, const Mt__Envelope *env)
{
    void *handle = zsock_resolve (sock);
    if (s_nheld && s_held_for (handle))
        s_flush (handle);                   //  what was held for it goes first
    //  Packed straight into the message libzmq sends: no frame of our own,
    //  no copy
    size_t size = mt__envelope__get_packed_size (env);
    zmq_msg_t msg;
    if (zmq_msg_init_size (&msg, size) == -1)
        return -1;
    mt__envelope__pack (env, (uint8_t *) zmq_msg_data (&msg));
    s_touch (handle);
    if (routing_id) {
        if (zmq_send (handle, zframe_data (routing_id), zframe_size (routing_id),
                      ZMQ_SNDMORE | ZMQ_DONTWAIT) == -1) {
            zmq_msg_close (&msg);
            return -1;
        }
    }
    int rc = zmq_msg_send (&msg, handle, ZMQ_DONTWAIT);
    if (rc == -1)
        zmq_msg_close (&msg);       //  sent: libzmq owns it
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
    Mt__Envelope *env = NULL;
    mt_codec_recv_next (sock, routing_id, &env);
    return env;
}

//  Take one message off handle: flags 0 waits as the socket's ZMQ_RCVTIMEO
//  says, ZMQ_DONTWAIT does not. Returns 1 when a message was taken (*env_p
//  NULL for garbage), 0 when none came.
static int
s_recv (void *handle, zframe_t **routing_id, Mt__Envelope **env_p, int flags)
{
    s_touch (handle);
    zmq_msg_t part;
    zmq_msg_init (&part);
    Mt__Envelope *env = NULL;
    *env_p = NULL;
    if (routing_id)
        *routing_id = NULL;
    if (zmq_msg_recv (&part, handle, flags) == -1) {
        if (zmq_errno () == EAGAIN)
            s_quiet (handle);
        zmq_msg_close (&part);
        return 0;
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
        *env_p = env;
        return 1;
    }
garbage:
    frames += s_drain (handle, &part);
    mt_log ("bad-frame frames=%zu bytes=%zu action=dropped", frames, zmq_msg_size (&part));
    zmq_msg_close (&part);
    if (routing_id)
        zframe_destroy (routing_id);
    return 1;
}

int
mt_codec_recv_next (zsock_t *sock, zframe_t **routing_id, Mt__Envelope **env_p)
{
    //  Straight on zmq_msg_t, without zmsg/zframe copies: this is the hot path
    return s_recv (zsock_resolve (sock), routing_id, env_p, ZMQ_DONTWAIT);
}

int
mt_codec_recv_wait (zsock_t *sock, zframe_t **routing_id, Mt__Envelope **env_p,
                    int timeout_ms)
{
    void *handle = zsock_resolve (sock);
    if (timeout_ms == 0)
        return s_recv (handle, routing_id, env_p, ZMQ_DONTWAIT);
    //  libzmq's blocking receive waits on the socket's mailbox itself and
    //  takes the command that woke it at once: no look at the mailbox before
    //  the wait (an empty receive, a ZMQ_EVENTS) and none after it
    int timeo = timeout_ms < 0? -1: timeout_ms;
    if (zmq_setsockopt (handle, ZMQ_RCVTIMEO, &timeo, sizeof timeo) == -1) {
        *env_p = NULL;
        if (routing_id)
            *routing_id = NULL;
        return 0;
    }
    return s_recv (handle, routing_id, env_p, 0);
}

//  A socket's ready events among those asked; -1 on error.
static int
s_zmq_events (zmq_pollitem_t *item)
{
    uint32_t events = 0;
    size_t size = sizeof events;
    if (zmq_getsockopt (item->socket, ZMQ_EVENTS, &events, &size) == -1)
        return -1;
    item->revents = (short) (events & (uint32_t) item->events & (ZMQ_POLLIN | ZMQ_POLLOUT));
    return item->revents? 1: 0;
}

void
mt_codec_poll_touched (zsock_t *sock)
{
    if (sock)
        s_touch (zsock_resolve (sock));
}

int
mt_codec_poll (zmq_pollitem_t *items, int nitems, long timeout)
{
    if (nitems <= 0 || nitems > 256)
        return zmq_poll (items, nitems, timeout);
    struct pollfd pfd [nitems];
    int own [nitems];               //  index in s_own, or -1
    int ready = 0;
    for (int i = 0; i < nitems; i++) {
        zmq_pollitem_t *it = &items [i];
        it->revents = 0;
        pfd [i].revents = 0;
        own [i] = -1;
        if (it->socket) {
            size_t size = sizeof pfd [i].fd;
            if (zmq_getsockopt (it->socket, ZMQ_FD, &pfd [i].fd, &size) == -1)
                return -1;
            pfd [i].events = POLLIN;
            own [i] = it->events == ZMQ_POLLIN && s_nown? s_own_find (it->socket): -1;
            if (own [i] >= 0 && s_own [own [i]].quiet)
                continue;           //  idle at the last look, untouched since
            int rc = s_zmq_events (it);
            if (rc == -1)
                return -1;
            ready += rc;
        }
        else {
            pfd [i].fd = it->fd;
            pfd [i].events = (short) ((it->events & ZMQ_POLLIN? POLLIN: 0)
                                    | (it->events & ZMQ_POLLOUT? POLLOUT: 0)
                                    | (it->events & ZMQ_POLLPRI? POLLPRI: 0));
        }
        pfd [i].revents = 0;
    }
    //  A socket ready already: only a look at the plain fds, no wait
    int rc = poll (pfd, (nfds_t) nitems, ready? 0: (int) timeout);
    if (rc == -1)
        return ready? ready: -1;
    ready = 0;
    for (int i = 0; i < nitems; i++) {
        zmq_pollitem_t *it = &items [i];
        if (it->socket) {
            //  Its state changes only through its mailbox: look again only if signalled
            if (!it->revents && (pfd [i].revents & POLLIN) && s_zmq_events (it) == -1)
                return -1;
            if (own [i] >= 0)
                s_own [own [i]].quiet = !it->revents;
        }
        else {
            short r = pfd [i].revents;
            it->revents = (short) ((r & POLLIN? ZMQ_POLLIN: 0) | (r & POLLOUT? ZMQ_POLLOUT: 0)
                                 | (r & POLLPRI? ZMQ_POLLPRI: 0)
                                 | (r & ~(POLLIN | POLLOUT | POLLPRI)? ZMQ_POLLERR: 0));
        }
        if (it->revents)
            ready++;
    }
    return ready;
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
