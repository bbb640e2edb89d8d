//  A table of items by name: open addressing with linear probing over a
//  power-of-two slot array, at most half full; each slot holds the key's
//  hash, so a probe compares a key only when its hash matches; deletion
//  shifts the following slots back (no tombstones).
#include "mt_index.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define S_MIN_SLOTS 64

typedef struct {
    uint64_t hash;              //  0: the slot is free (hashes are never 0)
    const char *key;            //  borrowed
    void *item;                 //  borrowed
} s_slot_t;

struct _mt_index_t {
    s_slot_t *slots;            //  owned; nslots of them
    size_t nslots;              //  a power of two
    size_t size;                //  slots in use
    uint64_t seed;              //  random per table
    size_t cursor;              //  the walk's next slot
};

//  64-bit hash of a string, eight bytes a step.
static uint64_t
s_hash (const mt_index_t *self, const char *key)
{
    size_t len = strlen (key);
    uint64_t h = self->seed ^ (len * 0x9e3779b97f4a7c15ull);
    const unsigned char *p = (const unsigned char *) key;
    while (len >= 8) {
        uint64_t w;
        memcpy (&w, p, 8);
        h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
        h ^= h >> 31;
        p += 8;
        len -= 8;
    }
    uint64_t w = 0;
    memcpy (&w, p, len);
    h = (h ^ w) * 0x94d049bb133111ebull;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    return h? h: 1;
}

mt_index_t *
mt_index_new (void)
{
    mt_index_t *self = (mt_index_t *) calloc (1, sizeof (mt_index_t));
    if (!self)
        return NULL;
    self->nslots = S_MIN_SLOTS;
    self->slots = (s_slot_t *) calloc (self->nslots, sizeof (s_slot_t));
    if (!self->slots) {
        free (self);
        return NULL;
    }
    if (getrandom (&self->seed, sizeof self->seed, GRND_NONBLOCK) != sizeof self->seed)
        self->seed = (uint64_t) (uintptr_t) self * 0x9e3779b97f4a7c15ull;
    return self;
}

void
mt_index_destroy (mt_index_t **self_p)
{
    assert (self_p);
    mt_index_t *self = *self_p;
    if (!self)
        return;
    free (self->slots);
    free (self);
    *self_p = NULL;
}

//  The slot holding key, or the free slot where it would go.
static size_t
s_find (const mt_index_t *self, const char *key, uint64_t hash)
{
    size_t mask = self->nslots - 1;
    size_t i = (size_t) hash & mask;
    while (self->slots [i].hash) {
        if (self->slots [i].hash == hash && !strcmp (self->slots [i].key, key))
            return i;
        i = (i + 1) & mask;
    }
    return i;
}

//  The slots again, nslots of them (a power of two, room for every item).
//  0, or -1 when out of memory (the table as it was).
static int
s_resize (mt_index_t *self, size_t nslots)
{
    s_slot_t *slots = (s_slot_t *) calloc (nslots, sizeof (s_slot_t));
    if (!slots)
        return -1;
    for (size_t i = 0; i < self->nslots; i++) {
        s_slot_t *s = &self->slots [i];
        if (!s->hash)
            continue;
        size_t j = (size_t) s->hash & (nslots - 1);
        while (slots [j].hash)
            j = (j + 1) & (nslots - 1);
        slots [j] = *s;
    }
    free (self->slots);
    self->slots = slots;
    self->nslots = nslots;
    return 0;
}

void *
mt_index_lookup (mt_index_t *self, const char *key)
{
    assert (self && key);
    s_slot_t *s = &self->slots [s_find (self, key, s_hash (self, key))];
    return s->hash? s->item: NULL;
}

int
mt_index_insert (mt_index_t *self, const char *key, void *item)
{
    assert (self && key);
    if (2 * (self->size + 1) > self->nslots
    &&  s_resize (self, self->nslots * 2) && self->size + 1 >= self->nslots)
        return -1;                  //  full, and no memory to grow
    uint64_t hash = s_hash (self, key);
    s_slot_t *s = &self->slots [s_find (self, key, hash)];
    if (s->hash)
        return -1;
    s->hash = hash;
    s->key = key;
    s->item = item;
    self->size++;
    return 0;
}

void *
mt_index_delete (mt_index_t *self, const char *key)
{
    assert (self && key);
    size_t mask = self->nslots - 1;
    size_t i = s_find (self, key, s_hash (self, key));
    if (!self->slots [i].hash)
        return NULL;
    void *item = self->slots [i].item;
    //  Shift back the slots after it that probed past it
    size_t j = i;
    while (true) {
        j = (j + 1) & mask;
        if (!self->slots [j].hash)
            break;
        size_t home = (size_t) self->slots [j].hash & mask;
        //  Keep j where it is when its home lies cyclically in (i, j]
        bool stays = i <= j? (i < home && home <= j): (i < home || home <= j);
        if (stays)
            continue;
        self->slots [i] = self->slots [j];
        i = j;
    }
    memset (&self->slots [i], 0, sizeof (s_slot_t));
    self->size--;
    if (self->nslots > S_MIN_SLOTS && 8 * self->size < self->nslots)
        s_resize (self, self->nslots / 4 > S_MIN_SLOTS? self->nslots / 4: S_MIN_SLOTS);
    return item;
}

size_t
mt_index_size (mt_index_t *self)
{
    assert (self);
    return self->size;
}

void *
mt_index_first (mt_index_t *self)
{
    assert (self);
    self->cursor = 0;
    return mt_index_next (self);
}

void *
mt_index_next (mt_index_t *self)
{
    assert (self);
    while (self->cursor < self->nslots) {
        s_slot_t *s = &self->slots [self->cursor++];
        if (s->hash)
            return s->item;
    }
    return NULL;
}
