//  A plain-JSON scanner: the grammar of JSON text, walked in place, with
//  member lookup. Nothing is built and nothing allocated; values are spans
//  of the caller's bytes. Strings are checked strictly (valid UTF-8 with no
//  overlong form, surrogate or code point past U+10FFFF; no control byte;
//  escapes well formed, \u pairs matched, no \u0000), numbers by JSON's
//  grammar, nesting to MT_JSON_SCAN_DEPTH. What the scan accepts, jansson
//  parses too, except numbers it cannot hold (the scan notes them in seen:
//  MT_JSON_SEEN_BIGNUM). Each caller keeps its own rules of what it takes
//  from the scan (the flags in seen say what was met) and falls back to
//  jansson for anything else. Pure; unit tests in tests/unit/test_mt_json_scan.c.
#ifndef MT_JSON_SCAN_H_INCLUDED
#define MT_JSON_SCAN_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define MT_JSON_SCAN_DEPTH 64   //  deeper nesting fails the scan

//  What a scan met, or'ed into mt_json_scan_t.seen (the caller clears it).
#define MT_JSON_SEEN_ESCAPE   1u    //  a string (or key) with a backslash escape
#define MT_JSON_SEEN_NONASCII 2u    //  a string byte >= 0x80 (valid UTF-8)
#define MT_JSON_SEEN_BIGNUM   4u    //  a number with more than 15 digits or an exponent
#define MT_JSON_SEEN_SPACE    8u    //  whitespace skipped (the text is not compact)

typedef struct {
    const char *p;              //  next byte
    const char *end;            //  one past the last byte
    int depth;                  //  containers open
    bool first;                 //  the open container has had no member yet
    unsigned seen;              //  MT_JSON_SEEN_* met so far
} mt_json_scan_t;

//  A value's text: from its first byte (a string: its '"') to its last.
typedef struct {
    const char *at;             //  NULL: absent
    size_t len;
} mt_json_span_t;

//  Start a scan of data (len bytes, not NUL-terminated).
void mt_json_scan_init (mt_json_scan_t *s, const char *data, size_t len);

//  Skip whitespace.
static inline void
mt_json_scan_ws (mt_json_scan_t *s)
{
    const char *p = s->p;
    if (p < s->end && (unsigned char) *p > ' ')
        return;                 //  the common case: nothing to skip
    while (p < s->end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    if (p != s->p)
        s->seen |= MT_JSON_SEEN_SPACE;
    s->p = p;
}

//  One value of any type, after whitespace; value (may be NULL) gets its
//  span. False when it is not one well-formed value.
bool mt_json_scan_value (mt_json_scan_t *s, mt_json_span_t *value);

//  The literal word (true, false, null), after whitespace.
static inline bool
mt_json_scan_word (mt_json_scan_t *s, const char *word)
{
    mt_json_scan_ws (s);
    size_t n = strlen (word);
    if ((size_t) (s->end - s->p) < n || memcmp (s->p, word, n))
        return false;
    s->p += n;
    return true;
}

//  A string, after whitespace: *text and *len get its bytes between the
//  quotes as they stand (escapes not undone: see MT_JSON_SEEN_ESCAPE).
bool mt_json_scan_string (mt_json_scan_t *s, const char **text, size_t *len);


//  A non-negative integer, after whitespace: digits only, no leading zero,
//  fraction or exponent, at most max.
bool mt_json_scan_uint (mt_json_scan_t *s, uint64_t max, uint64_t *value);

//  Nothing but whitespace is left.
bool mt_json_scan_end (mt_json_scan_t *s);

//  Containers one member at a time. mt_json_scan_open takes '{' or '['
//  after whitespace. mt_json_scan_member then gives 1 with the next key
//  (its bytes between the quotes) and the scan at its value, which the
//  caller reads with any scan_ call; 0 when it took the closing '}'; -1 on
//  bad text. mt_json_scan_element is the same for an array's elements.
bool mt_json_scan_open (mt_json_scan_t *s, char open);
int mt_json_scan_member (mt_json_scan_t *s, const char **key, size_t *klen);
int mt_json_scan_element (mt_json_scan_t *s);

//  The values of keys in object (a span that scanned well as an object):
//  values [k] gets the span of the last member named keys [k] (as jansson
//  keeps the last), or { NULL, 0 }. A key with an escape matches nothing.
void mt_json_object_get (mt_json_span_t object, const char *const *keys,
                         mt_json_span_t *values, size_t nkeys);

//  Whether a span is a value of this kind (its first byte).
bool mt_json_span_is (mt_json_span_t span, char first);

#endif
