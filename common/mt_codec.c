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

//  Whether held messages go out as Batches: MT_BUS_BATCH, read once.
static int s_batch = -1;            //  -1: not read yet

bool
mt_codec_batching (void)
{
    int on = __atomic_load_n (&s_batch, __ATOMIC_RELAXED);
    if (on < 0) {
        const char *v = getenv ("MT_BUS_BATCH");
        on = !(v && (streq (v, "0") || streq (v, "false") || streq (v, "off") || streq (v, "no")));
        __atomic_store_n (&s_batch, on, __ATOMIC_RELAXED);
    }
    return on;
}

void
mt_codec_set_batch (bool on)
{
    __atomic_store_n (&s_batch, on? 1: 0, __ATOMIC_RELAXED);
}

static __thread uint64_t s_frames;  //  sent and received, this thread

uint64_t
mt_codec_frames (void)
{
    return s_frames;
}

//  A routing id, copied (libzmq's are at most 255 bytes).
typedef struct {
    uint8_t size;
    bool set;
    uint8_t data [255];
} s_rid_t;

static void
s_rid_set (s_rid_t *rid, zframe_t *frame)
{
    rid->set = frame != NULL;
    rid->size = 0;
    if (frame) {
        size_t size = zframe_size (frame);
        rid->size = (uint8_t) (size > sizeof rid->data? sizeof rid->data: size);
        memcpy (rid->data, zframe_data (frame), rid->size);
    }
}

static bool
s_rid_same (const s_rid_t *a, const s_rid_t *b)
{
    return a->set == b->set && a->size == b->size && memcmp (a->data, b->data, a->size) == 0;
}

//  Copy text into a drop field, cut to fit ("" for NULL).
static void
s_text_set (char field [MT_CODEC_DROP_TEXT], const char *text)
{
    size_t len = text? strnlen (text, MT_CODEC_DROP_TEXT - 1): 0;
    memcpy (field, text? text: "", len);
    field [len] = 0;
}

//  Messages held by mt_codec_send_later on this thread, in order.
typedef struct {
    void *handle;
    zmq_msg_t msg;
    s_rid_t rid;
    const char *label;              //  logged if it is dropped, or NULL (not owned)
    const char *body;               //  its body's name, for that line
    mt_codec_drop_fn *fn;
    void *arg;
    char key [MT_CODEC_DROP_TEXT];  //  "" when none
    char tenant [MT_CODEC_DROP_TEXT];
} s_held_t;
static __thread s_held_t *s_held;
static __thread size_t s_nheld, s_held_cap;

//  Drop callbacks due at the next mt_codec_flush, in order.
typedef struct {
    mt_codec_drop_fn *fn;
    void *arg;
    char key [MT_CODEC_DROP_TEXT];
} s_due_t;
static __thread s_due_t *s_due;
static __thread size_t s_ndue, s_due_cap;
static __thread size_t s_dropped;   //  since the last mt_codec_flush

static void
s_held_free (s_held_t *h)
{
    zmq_msg_close (&h->msg);
}

//  The log line of a dropped message, when it has a label.
static void
s_drop_log (const char *label, const char *body, const char *key, const char *tenant)
{
    if (label)
        mt_log ("%s body=%s%s%s%s%s", label, body, key && *key? " req=": "",
                key? key: "", tenant && *tenant? " tenant=": "", tenant? tenant: "");
}

//  h was not sent: its label now, its callback at the next mt_codec_flush.
static void
s_held_dropped (s_held_t *h)
{
    s_dropped++;
    s_drop_log (h->label, h->body, h->key, h->tenant);
    if (h->fn) {
        if (s_ndue == s_due_cap) {
            size_t cap = s_due_cap? 2 * s_due_cap: 64;
            s_due_t *grown = (s_due_t *) realloc (s_due, cap * sizeof (s_due_t));
            if (grown) {
                s_due = grown;
                s_due_cap = cap;
            }
        }
        if (s_ndue < s_due_cap) {
            s_due_t *due = &s_due [s_ndue++];
            due->fn = h->fn;
            due->arg = h->arg;
            memcpy (due->key, h->key, sizeof due->key);
        }
        else
            mt_log ("drop-callback-lost key=%s reason=\"out of memory\"", h->key);
    }
    s_held_free (h);
}

//  Send a message, for a ROUTER peer its routing id (rid, rid_size) first
//  (rid NULL: none). 0: libzmq owns msg; -1: msg is still the caller's.
static int
s_send_msg (void *handle, const void *rid, size_t rid_size, zmq_msg_t *msg)
{
    s_touch (handle);
    if (rid && zmq_send (handle, rid, rid_size, ZMQ_SNDMORE | ZMQ_DONTWAIT) == -1)
        return -1;
    if (zmq_msg_send (msg, handle, ZMQ_DONTWAIT) == -1)
        return -1;
    s_frames++;
    return 0;
}

//  Send msg to where held item h goes (its socket, and its peer if any).
static int
s_send_to (const s_held_t *h, zmq_msg_t *msg)
{
    return s_send_msg (h->handle, h->rid.set? h->rid.data: NULL, h->rid.size, msg);
}

//  Send the held items group [0, n) (same socket and peer) as one message.
static void
s_send_group (s_held_t **group, size_t n)
{
    s_held_t *first = group [0];
    if (n == 1) {
        if (s_send_to (first, &first->msg))
            s_held_dropped (first);     //  else sent: libzmq owns the message
        return;
    }
    ProtobufCBinaryData items [MT_CODEC_BATCH_ITEMS];
    for (size_t i = 0; i < n; i++) {
        items [i].data = (uint8_t *) zmq_msg_data (&group [i]->msg);
        items [i].len = zmq_msg_size (&group [i]->msg);
    }
    Mt__Batch batch = MT__BATCH__INIT;
    batch.n_envelopes = n;
    batch.envelopes = items;
    Mt__Envelope env = MT__ENVELOPE__INIT;
    env.body_case = MT__ENVELOPE__BODY_BATCH;
    env.batch = &batch;
    zmq_msg_t msg;
    int rc = zmq_msg_init_size (&msg, mt__envelope__get_packed_size (&env));
    if (rc == 0) {
        mt__envelope__pack (&env, (uint8_t *) zmq_msg_data (&msg));
        rc = s_send_to (first, &msg);
        if (rc)
            zmq_msg_close (&msg);
    }
    for (size_t i = 0; i < n; i++) {
        if (rc)
            s_held_dropped (group [i]);
        else
            s_held_free (group [i]);
    }
}

//  Send what is held for handle (all when NULL), in order, as batches per
//  socket and peer; keep the rest. Callbacks of what is dropped become due.
static void
s_flush (void *handle)
{
    size_t n = s_nheld;
    if (!n)
        return;
    //  Take the list: what a send touches may not add to it, but be safe
    s_held_t *held = s_held;
    size_t cap = s_held_cap;
    s_held = NULL;
    s_nheld = s_held_cap = 0;
    bool batching = mt_codec_batching ();
    size_t max_items = batching? MT_CODEC_BATCH_ITEMS: 1;
    char local [MT_CODEC_BATCH_ITEMS];  //  a turn's few: no allocation
    char *done = n <= 1? NULL: n <= sizeof local? memset (local, 0, n)
                                                 : (char *) calloc (n, 1);  //  NULL: each alone
    s_held_t *group [MT_CODEC_BATCH_ITEMS];
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (done && done [i])
            continue;
        s_held_t *h = &held [i];
        if (handle && h->handle != handle) {
            held [kept++] = *h;         //  kept < i unless nothing was taken
            continue;
        }
        size_t ng = 0, bytes = zmq_msg_size (&h->msg);
        group [ng++] = h;
        for (size_t j = i + 1; done && j < n && ng < max_items; j++) {
            s_held_t *o = &held [j];
            if (done [j] || o->handle != h->handle || !s_rid_same (&o->rid, &h->rid))
                continue;
            size_t size = zmq_msg_size (&o->msg);
            if (bytes + size > MT_CODEC_BATCH_BYTES)
                break;                  //  the rest go in the next batch, in order
            bytes += size;
            group [ng++] = o;
            done [j] = 1;
        }
        s_send_group (group, ng);
    }
    if (done != local)
        free (done);
    //  The usual: nothing held meanwhile; the list is kept for the next turn
    if (!s_held) {
        s_held = held;
        s_held_cap = cap;
        s_nheld = kept;
        return;
    }
    //  What was kept (other sockets), then anything held meanwhile
    if (kept || s_nheld) {
        size_t total = kept + s_nheld;
        s_held_t *merged = total <= n? held: (s_held_t *) realloc (held, total * sizeof (s_held_t));
        if (!merged) {                  //  out of memory: the new ones are lost
            for (size_t i = 0; i < s_nheld; i++)
                s_held_dropped (&s_held [i]);
            merged = held;
            total = kept;
        }
        else
        if (s_nheld)
            memcpy (merged + kept, s_held, s_nheld * sizeof (s_held_t));
        free (s_held);
        s_held = merged;
        s_nheld = total;
        s_held_cap = total > n? total: n;
    }
    else
        free (held);
}

static bool
s_held_for (void *handle)
{
    for (size_t i = 0; i < s_nheld; i++)
        if (s_held [i].handle == handle)
            return true;
    return false;
}

//  It could not be held (out of memory): sent at once; lost, its label logged.
static int
s_send_now (zsock_t *sock, zframe_t *routing_id, const Mt__Envelope *env,
            const mt_codec_drop_t *drop)
{
    int rc = mt_codec_send (sock, routing_id, env);
    if (rc && drop)
        s_drop_log (drop->label, mt_codec_body_name (env), drop->key, drop->tenant);
    return rc;
}

int
mt_codec_send_later (zsock_t *sock, zframe_t *routing_id, const Mt__Envelope *env,
                     const mt_codec_drop_t *drop)
{
    if (s_nheld == s_held_cap) {
        size_t cap = s_held_cap? 2 * s_held_cap: 64;
        s_held_t *grown = (s_held_t *) realloc (s_held, cap * sizeof (s_held_t));
        if (!grown)
            return s_send_now (sock, routing_id, env, drop);
        s_held = grown;
        s_held_cap = cap;
    }
    s_held_t *h = &s_held [s_nheld];
    size_t size = mt__envelope__get_packed_size (env);
    if (zmq_msg_init_size (&h->msg, size))
        return s_send_now (sock, routing_id, env, drop);
    mt__envelope__pack (env, (uint8_t *) zmq_msg_data (&h->msg));
    h->handle = zsock_resolve (sock);
    s_rid_set (&h->rid, routing_id);
    h->label = drop? drop->label: NULL;
    h->body = mt_codec_body_name (env);
    h->fn = drop? drop->fn: NULL;
    h->arg = drop? drop->arg: NULL;
    s_text_set (h->key, drop? drop->key: NULL);
    s_text_set (h->tenant, drop? drop->tenant: NULL);
    s_nheld++;
    return 0;
}

size_t
mt_codec_flush (void)
{
    s_flush (NULL);
    //  The callbacks may hold and send again: what they hold waits for the
    //  next flush, so a peer that stays gone cannot keep this one going
    while (s_ndue) {
        s_due_t *due = s_due;
        size_t n = s_ndue;
        s_due = NULL;
        s_ndue = s_due_cap = 0;
        for (size_t i = 0; i < n; i++)
            due [i].fn (due [i].arg, due [i].key);
        free (due);
        if (s_ndue)
            break;                      //  due again already: at the next flush
    }
    size_t dropped = s_dropped;
    s_dropped = 0;
    return dropped;
}

void
mt_codec_flush_for (zsock_t *sock)
{
    void *handle = zsock_resolve (sock);
    if (s_nheld && s_held_for (handle))
        s_flush (handle);
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
    if (s_send_msg (handle, routing_id? zframe_data (routing_id): NULL,
                    routing_id? zframe_size (routing_id): 0, &msg)) {
        zmq_msg_close (&msg);       //  not sent: still ours
        return -1;
    }
    return 0;
}

//  Batches received on this thread whose items are not all returned yet:
//  at most one a socket (the socket is not read again until it is done).
typedef struct {
    void *handle;
    Mt__Envelope *batch;
    size_t next;                    //  the next item to return
    size_t bad, nested;             //  garbage items so far: logged once, at the end
    s_rid_t rid;                    //  the sender's, on a ROUTER
} s_pending_t;
static __thread s_pending_t *s_pend;
static __thread size_t s_npend, s_pend_cap;

static s_pending_t *
s_pending (void *handle)
{
    for (size_t i = 0; i < s_npend; i++)
        if (s_pend [i].handle == handle)
            return &s_pend [i];
    return NULL;
}

static void
s_pending_remove (s_pending_t *p)
{
    //  One line a batch, not one an item: a frame of tiny bad items must
    //  not turn into a flood of log lines
    if (p->bad || p->nested)
        mt_log ("bad-frame items=%zu bad=%zu nested=%zu action=dropped",
                p->batch->batch->n_envelopes, p->bad, p->nested);
    mt__envelope__free_unpacked (p->batch, NULL);
    *p = s_pend [--s_npend];
}

void
mt_codec_forget (zsock_t *sock)
{
    if (!sock)
        return;
    void *handle = zsock_resolve (sock);
    s_pending_t *p = s_pending (handle);
    if (p)
        s_pending_remove (p);
    size_t kept = 0, dropped = 0;
    for (size_t i = 0; i < s_nheld; i++) {
        if (s_held [i].handle == handle) {
            s_held_free (&s_held [i]);
            dropped++;
        }
        else
            s_held [kept++] = s_held [i];
    }
    s_nheld = kept;
    if (dropped)
        mt_debug ("held-dropped count=%zu reason=\"socket closed\"", dropped);
    int i = s_own_find (handle);
    if (i >= 0)
        s_own [i] = s_own [--s_nown];
}

void
mt_codec_close (zsock_t **sock_p)
{
    if (sock_p && *sock_p) {
        mt_codec_forget (*sock_p);
        zsock_destroy (sock_p);
    }
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

//  The next item of handle's kept Batch: 1 with *env_p (NULL for garbage).
static int
s_recv_pending (s_pending_t *p, zframe_t **routing_id, Mt__Envelope **env_p)
{
    Mt__Batch *batch = p->batch->batch;
    ProtobufCBinaryData *item = &batch->envelopes [p->next++];
    Mt__Envelope *env = mt_codec_decode (item->data, item->len);
    if (env && env->body_case == MT__ENVELOPE__BODY_BATCH) {
        p->nested++;
        mt_codec_free (&env);
    }
    else
    if (!env)
        p->bad++;
    *env_p = env;
    if (routing_id)
        *routing_id = env && p->rid.set? zframe_new (p->rid.data, p->rid.size): NULL;
    if (p->next >= batch->n_envelopes)
        s_pending_remove (p);
    return 1;
}

//  A Batch came: keep it for handle, return its first item.
static int
s_recv_batch (void *handle, Mt__Envelope *env, zframe_t **routing_id, Mt__Envelope **env_p)
{
    if (env->batch->n_envelopes == 0) {
        mt_log ("bad-frame reason=\"empty batch\" action=dropped");
        mt_codec_free (&env);
        if (routing_id)
            zframe_destroy (routing_id);
        return 1;
    }
    if (s_npend == s_pend_cap) {
        size_t cap = s_pend_cap? 2 * s_pend_cap: 8;
        s_pending_t *grown = (s_pending_t *) realloc (s_pend, cap * sizeof (s_pending_t));
        if (!grown) {
            mt_log ("bad-frame reason=\"out of memory\" items=%zu action=dropped",
                    env->batch->n_envelopes);
            mt_codec_free (&env);
            if (routing_id)
                zframe_destroy (routing_id);
            return 1;
        }
        s_pend = grown;
        s_pend_cap = cap;
    }
    s_pending_t *p = &s_pend [s_npend++];
    p->handle = handle;
    p->batch = env;
    p->next = 0;
    p->bad = p->nested = 0;
    s_rid_set (&p->rid, routing_id? *routing_id: NULL);
    if (routing_id)
        zframe_destroy (routing_id);
    return s_recv_pending (p, routing_id, env_p);
}

//  Take one message off handle: flags 0 waits as the socket's ZMQ_RCVTIMEO
//  says, ZMQ_DONTWAIT does not. Returns 1 when a message was taken (*env_p
//  NULL for garbage), 0 when none came. A kept Batch item comes first.
static int
s_recv (void *handle, zframe_t **routing_id, Mt__Envelope **env_p, int flags)
{
    if (s_npend) {
        s_pending_t *p = s_pending (handle);
        if (p)
            return s_recv_pending (p, routing_id, env_p);
    }
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
    s_frames++;
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
        if (env->body_case == MT__ENVELOPE__BODY_BATCH)
            return s_recv_batch (handle, env, routing_id, env_p);
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
    if (timeout_ms == 0 || (s_npend && s_pending (handle)))
        return s_recv (handle, routing_id, env_p, ZMQ_DONTWAIT);
    if (s_nheld) {
        //  What this thread holds goes out only when it would have to wait:
        //  a loop that drains a backlog one receive at a time gathers its
        //  replies meanwhile
        int rc = s_recv (handle, routing_id, env_p, ZMQ_DONTWAIT);
        if (rc)
            return rc;
        s_flush (NULL);
    }
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
    s_flush (NULL);                 //  nothing held waits on a sleeping loop
    if (s_ndue)
        timeout = 0;                //  drop callbacks due: the loop's flush runs them
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
            if ((it->events & ZMQ_POLLIN) && s_npend && s_pending (it->socket)) {
                it->revents = ZMQ_POLLIN;   //  a Batch's items kept: ready now
                ready++;
                continue;
            }
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
        case MT__ENVELOPE__BODY_BATCH:        return "batch";
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
