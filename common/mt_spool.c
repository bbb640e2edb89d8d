//  A disk spool of usage events. See mt_spool.h.
#include "mt_spool.h"
#include "mt_log.h"

#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct _mt_spool_t {
    int fd;
    char *path;                     //  owned
    uint64_t size;                  //  bytes in the file
    uint64_t read_off;              //  next record to read back
};

static uint32_t
s_get32 (const uint8_t *p)
{
    return (uint32_t) p [0] | (uint32_t) p [1] << 8 | (uint32_t) p [2] << 16
         | (uint32_t) p [3] << 24;
}

size_t
mt_spool_valid_length (const uint8_t *buf, size_t size)
{
    size_t off = 0;
    while (size - off >= 4) {
        uint32_t len = s_get32 (buf + off);
        if (len == 0 || len > MT_SPOOL_RECORD_MAX || size - off - 4 < len)
            break;
        off += 4 + len;
    }
    return off;
}

mt_spool_t *
mt_spool_new (const char *path)
{
    mt_spool_t *self = (mt_spool_t *) calloc (1, sizeof *self);
    if (!self || !(self->path = strdup (path))) {
        free (self);
        return NULL;
    }
    self->fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (self->fd < 0) {
        mt_log ("spool-open-failed path=%s reason=\"%s\"", path, strerror (errno));
        mt_spool_destroy (&self);
        return NULL;
    }
    //  Keep only whole records: a torn tail was never acknowledged
    struct stat st;
    uint8_t *buf = NULL;
    if (fstat (self->fd, &st) == 0 && st.st_size > 0) {
        buf = (uint8_t *) malloc ((size_t) st.st_size);
        ssize_t got = buf? pread (self->fd, buf, (size_t) st.st_size, 0): -1;
        if (got != st.st_size) {
            mt_log ("spool-open-failed path=%s reason=\"cannot read it\"", path);
            free (buf);
            mt_spool_destroy (&self);
            return NULL;
        }
        size_t valid = mt_spool_valid_length (buf, (size_t) st.st_size);
        free (buf);
        if (valid < (size_t) st.st_size) {
            mt_log ("spool-torn-tail path=%s bytes=%zu action=cut", path,
                    (size_t) st.st_size - valid);
            if (ftruncate (self->fd, (off_t) valid)) {
                mt_spool_destroy (&self);
                return NULL;
            }
        }
        self->size = valid;
        if (valid)
            mt_log ("spool-found path=%s bytes=%zu action=replay", path, valid);
    }
    return self;
}

void
mt_spool_destroy (mt_spool_t **self_p)
{
    mt_spool_t *self = *self_p;
    if (!self)
        return;
    if (self->fd >= 0)
        close (self->fd);
    free (self->path);
    free (self);
    *self_p = NULL;
}

int
mt_spool_append (mt_spool_t *self, const Mt__UsageEvent *ev)
{
    size_t len = mt__usage_event__get_packed_size (ev);
    if (len == 0 || len > MT_SPOOL_RECORD_MAX)
        return -1;
    uint8_t *rec = (uint8_t *) malloc (len + 4);
    if (!rec)
        return -1;
    rec [0] = (uint8_t) len;
    rec [1] = (uint8_t) (len >> 8);
    rec [2] = (uint8_t) (len >> 16);
    rec [3] = (uint8_t) (len >> 24);
    mt__usage_event__pack (ev, rec + 4);
    ssize_t put = pwrite (self->fd, rec, len + 4, (off_t) self->size);
    free (rec);
    if (put != (ssize_t) (len + 4)) {
        //  Cut what a short write left, so the next record starts clean
        if (ftruncate (self->fd, (off_t) self->size))
            mt_log ("spool-truncate-failed path=%s reason=\"%s\"", self->path, strerror (errno));
        return -1;
    }
    self->size += len + 4;
    return 0;
}

int
mt_spool_sync (mt_spool_t *self)
{
    if (fdatasync (self->fd)) {
        mt_log ("spool-sync-failed path=%s reason=\"%s\"", self->path, strerror (errno));
        return -1;
    }
    return 0;
}

Mt__UsageEvent *
mt_spool_next (mt_spool_t *self)
{
    while (self->read_off + 4 <= self->size) {
        uint8_t head [4];
        if (pread (self->fd, head, 4, (off_t) self->read_off) != 4)
            return NULL;
        uint32_t len = s_get32 (head);
        if (len == 0 || len > MT_SPOOL_RECORD_MAX || self->read_off + 4 + len > self->size) {
            mt_log ("spool-damaged path=%s offset=%" PRIu64 " action=rest_skipped", self->path,
                    self->read_off);
            self->read_off = self->size;
            return NULL;
        }
        uint8_t *body = (uint8_t *) malloc (len);
        if (!body)
            return NULL;
        ssize_t got = pread (self->fd, body, len, (off_t) self->read_off + 4);
        Mt__UsageEvent *ev = got == (ssize_t) len
                           ? mt__usage_event__unpack (NULL, len, body): NULL;
        free (body);
        if (got != (ssize_t) len)
            return NULL;
        self->read_off += 4 + len;
        if (ev)
            return ev;
        mt_log ("spool-record-undecodable path=%s action=skipped", self->path);
    }
    return NULL;
}

bool
mt_spool_unread (mt_spool_t *self)
{
    return self->read_off < self->size;
}

uint64_t
mt_spool_bytes (mt_spool_t *self)
{
    return self->size;
}

int
mt_spool_truncate (mt_spool_t *self)
{
    if (ftruncate (self->fd, 0) || fdatasync (self->fd)) {
        mt_log ("spool-truncate-failed path=%s reason=\"%s\"", self->path, strerror (errno));
        return -1;
    }
    self->size = 0;
    self->read_off = 0;
    return 0;
}
