//  Unit tests of the plain-JSON scanner (common/mt_json_scan.c): documents
//  it takes and refuses (malformed grammar, strings, UTF-8, escapes,
//  numbers, nesting), what it notes in seen, member walking and lookup.
//  Where the scan takes a document, jansson must take it too.
#include "mt_test.h"
#include "mt_json_scan.h"

#include <jansson.h>
#include <stdlib.h>

#define E MT_JSON_SEEN_ESCAPE
#define U MT_JSON_SEEN_NONASCII
#define B MT_JSON_SEEN_BIGNUM
#define W MT_JSON_SEEN_SPACE

//  One whole document: a value and nothing after it.
static bool
s_document (const char *text, size_t len, unsigned *seen)
{
    mt_json_scan_t s;
    mt_json_scan_init (&s, text, len);
    bool ok = mt_json_scan_value (&s, NULL) && mt_json_scan_end (&s);
    *seen = s.seen;
    return ok;
}

static void
s_documents (void)
{
    struct {
        const char *what, *text;
        size_t len;             //  0: strlen
        bool ok;
        unsigned seen;          //  when ok
    } rows [] = {
        { "object", "{\"a\":1,\"b\":[true,false,null],\"c\":{}}", 0, true, 0 },
        { "empty array", "[]", 0, true, 0 },
        { "spaced", " { \"a\" : [ 1 , 2 ] } \n", 0, true, W },
        { "string alone", "\"x\"", 0, true, 0 },
        { "negative real", "-0.5", 0, true, 0 },
        { "exponent", "1e5", 0, true, B },
        { "sixteen digits", "1234567890123456", 0, true, B },
        { "fifteen digits", "123456789012345", 0, true, 0 },
        { "escapes", "\"a\\n\\t\\\"\\\\\\/\\b\\f\\r\"", 0, true, E },
        { "unicode escape", "\"\\u00e9\"", 0, true, E },
        { "surrogate pair", "\"\\ud83d\\ude00\"", 0, true, E },
        { "utf-8 two bytes", "\"\xc3\xa9\"", 0, true, U },
        { "utf-8 four bytes", "\"\xf0\x9f\x98\x80\"", 0, true, U },
        { "nested 64", NULL, 0, true, 0 },
        { "empty", "", 0, false, 0 },
        { "only space", "  ", 0, false, 0 },
        { "trailing comma object", "{\"a\":1,}", 0, false, 0 },
        { "trailing comma array", "[1,]", 0, false, 0 },
        { "leading comma", "[,1]", 0, false, 0 },
        { "cut after a comma", "[1,", 0, false, 0 },
        { "cut after a member", "{\"a\":1,", 0, false, 0 },
        { "missing comma", "[1 2]", 0, false, 0 },
        { "missing colon", "{\"a\" 1}", 0, false, 0 },
        { "unquoted key", "{a:1}", 0, false, 0 },
        { "number key", "{1:1}", 0, false, 0 },
        { "unclosed object", "{\"a\":1", 0, false, 0 },
        { "unclosed string", "\"abc", 0, false, 0 },
        { "two values", "{} {}", 0, false, 0 },
        { "leading zero", "01", 0, false, 0 },
        { "bare minus", "-", 0, false, 0 },
        { "dot without digits", "1.", 0, false, 0 },
        { "exponent without digits", "1e+", 0, false, 0 },
        { "plus sign", "+1", 0, false, 0 },
        { "bad word", "nul", 0, false, 0 },
        { "True", "True", 0, false, 0 },
        { "control byte", "\"a\x01\"", 0, false, 0 },
        { "raw newline", "\"a\nb\"", 0, false, 0 },
        { "NUL byte", "\"a\0b\"", 5, false, 0 },
        { "bad escape", "\"\\x\"", 0, false, 0 },
        { "short unicode escape", "\"\\u12\"", 0, false, 0 },
        { "bad hex", "\"\\u12g4\"", 0, false, 0 },
        { "escaped NUL", "\"\\u0000\"", 0, false, 0 },
        { "lone high surrogate", "\"\\ud83d\"", 0, false, 0 },
        { "high then not low", "\"\\ud83d\\u0041\"", 0, false, 0 },
        { "lone low surrogate", "\"\\ude00\"", 0, false, 0 },
        { "overlong two bytes", "\"\xc0\xaf\"", 0, false, 0 },
        { "overlong three bytes", "\"\xe0\x80\xaf\"", 0, false, 0 },
        { "utf-8 surrogate", "\"\xed\xa0\x80\"", 0, false, 0 },
        { "past U+10FFFF", "\"\xf4\x90\x80\x80\"", 0, false, 0 },
        { "lone continuation", "\"\x80\"", 0, false, 0 },
        { "cut sequence", "\"\xe2\x82\"", 0, false, 0 },
        { "cut at the end", "\"\xe2", 0, false, 0 },
        { "byte 0xff", "\"\xff\"", 0, false, 0 },
        { "nested 65", NULL, 0, false, 0 },
    };
    char deep [2 * (MT_JSON_SCAN_DEPTH + 1) + 1];
    for (size_t i = 0; i < sizeof rows / sizeof rows [0]; i++) {
        mt_test_case ("document: %s", rows [i].what);
        const char *text = rows [i].text;
        size_t len = rows [i].len? rows [i].len: text? strlen (text): 0;
        if (!text) {
            size_t depth = rows [i].ok? MT_JSON_SCAN_DEPTH: MT_JSON_SCAN_DEPTH + 1;
            for (size_t d = 0; d < depth; d++) {
                deep [d] = '[';
                deep [2 * depth - 1 - d] = ']';
            }
            len = 2 * depth;
            deep [len] = 0;
            text = deep;
        }
        unsigned seen = 0;
        bool ok = s_document (text, len, &seen);
        CHECK_MSG (ok == rows [i].ok, "%s", rows [i].what);
        if (ok && rows [i].ok) {
            CHECK_MSG (seen == rows [i].seen, "%s seen %u want %u", rows [i].what, seen,
                       rows [i].seen);
            //  What the scan takes, jansson takes
            json_error_t jerr;
            json_t *root = json_loadb (text, len, JSON_DECODE_ANY, &jerr);
            CHECK_MSG (root != NULL, "%s: jansson %s", rows [i].what, jerr.text);
            json_decref (root);
        }
    }
}

//  Walking an object member by member, reading values with the typed calls.
static void
s_walk (void)
{
    const char *text = "{\"index\":3,\"delta\":{\"content\":\"hi\"},\"x\":[],\"f\":null}";
    mt_json_scan_t s;
    mt_json_scan_init (&s, text, strlen (text));
    CHECK (mt_json_scan_open (&s, '{'));
    const char *key, *str;
    size_t klen, slen;
    uint64_t v = 0;
    CHECK (mt_json_scan_member (&s, &key, &klen) == 1 && klen == 5 && !memcmp (key, "index", 5));
    CHECK (mt_json_scan_uint (&s, 100, &v) && v == 3);
    CHECK (mt_json_scan_member (&s, &key, &klen) == 1 && klen == 5);
    CHECK (mt_json_scan_open (&s, '{'));
    CHECK (mt_json_scan_member (&s, &key, &klen) == 1 && klen == 7);
    CHECK (mt_json_scan_string (&s, &str, &slen) && slen == 2 && !memcmp (str, "hi", 2));
    CHECK (mt_json_scan_member (&s, &key, &klen) == 0);
    CHECK (mt_json_scan_member (&s, &key, &klen) == 1 && klen == 1);
    CHECK (mt_json_scan_open (&s, '['));
    CHECK (mt_json_scan_element (&s) == 0);
    CHECK (mt_json_scan_member (&s, &key, &klen) == 1 && klen == 1);
    CHECK (mt_json_scan_word (&s, "null"));
    CHECK (mt_json_scan_member (&s, &key, &klen) == 0);
    CHECK (mt_json_scan_end (&s) && s.depth == 0);
}

static void
s_uints (void)
{
    struct {
        const char *text;
        uint64_t max;
        bool ok;
        uint64_t want;
    } rows [] = {
        { "0", 10, true, 0 },
        { "65535", 65535, true, 65535 },
        { "65536", 65535, false, 0 },
        { "01", 100, false, 0 },
        { "1.0", 100, false, 0 },
        { "1e2", 1000, false, 0 },
        { "-1", 100, false, 0 },
        { "99999999999999999999", UINT64_MAX, false, 0 },
        { "\"1\"", 100, false, 0 },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows [0]; i++) {
        mt_test_case ("uint: %s", rows [i].text);
        mt_json_scan_t s;
        mt_json_scan_init (&s, rows [i].text, strlen (rows [i].text));
        uint64_t v = 0;
        bool ok = mt_json_scan_uint (&s, rows [i].max, &v);
        CHECK_MSG (ok == rows [i].ok, "%s", rows [i].text);
        if (ok)
            CHECK_INT (v, rows [i].want);
    }
}

static void
s_lookup (void)
{
    struct {
        const char *what, *object, *key, *want;     //  want NULL: absent
    } rows [] = {
        { "first", "{\"a\":1,\"b\":2}", "a", "1" },
        { "nested is not top", "{\"x\":{\"a\":1}}", "a", NULL },
        { "last of a repeated key", "{\"a\":1,\"a\":[2]}", "a", "[2]" },
        { "object value", "{\"a\" : {\"b\":\"c\"} }", "a", "{\"b\":\"c\"}" },
        { "string value keeps quotes", "{\"a\":\"v\"}", "a", "\"v\"" },
        { "escaped key matches nothing", "{\"\\u0061\":1}", "a", NULL },
        { "absent", "{}", "a", NULL },
        { "prefix is not the key", "{\"ab\":1}", "a", NULL },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows [0]; i++) {
        mt_test_case ("lookup: %s", rows [i].what);
        const char *keys [] = { rows [i].key };
        mt_json_span_t v;
        mt_json_object_get ((mt_json_span_t) { rows [i].object, strlen (rows [i].object) },
                            keys, &v, 1);
        if (rows [i].want)
            CHECK_MSG (v.at && v.len == strlen (rows [i].want)
                       && !memcmp (v.at, rows [i].want, v.len), "%s", rows [i].what);
        else
            CHECK_MSG (v.at == NULL, "%s", rows [i].what);
    }
    mt_test_case ("lookup: several keys");
    const char *text = "{\"a\":1,\"b\":true,\"c\":null}";
    const char *keys [] = { "c", "a", "z" };
    mt_json_span_t v [3];
    mt_json_object_get ((mt_json_span_t) { text, strlen (text) }, keys, v, 3);
    CHECK (mt_json_span_is (v [0], 'n') && mt_json_span_is (v [1], '1') && !v [2].at);
}

int
main (void)
{
    s_documents ();
    s_uints ();
    s_lookup ();
    MT_RUN (s_walk);
    return mt_test_done ("test_mt_json_scan");
}
