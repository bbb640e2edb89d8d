//  Unit tests of the openai backend's pure parts: SSE event parsing and the
//  request body sent to the engine.
#include "mt_test.h"
#include "../../services/worker-adapter/wa_openai.h"

#include <jansson.h>
#include <stdlib.h>

static void
test_parse_event (void)
{
    struct {
        const char *data;
        int rc;
        const char *content;    //  NULL: none
        const char *finish;
        bool usage;
        uint32_t prompt, completion;
        const char *error;      //  NULL: none
    } table [] = {
        { "{\"choices\":[{\"delta\":{\"content\":\"Hello\"},\"finish_reason\":null}]}", 0,
          "Hello", "", false, 0, 0, NULL },
        { "{\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}", 0, NULL, "", false, 0, 0, NULL },
        { "{\"choices\":[{\"delta\":{\"content\":\"\"},\"finish_reason\":\"length\"}]}", 0,
          NULL, "length", false, 0, 0, NULL },
        { "{\"choices\":[{\"text\":\" world\",\"finish_reason\":\"stop\"}]}", 0,
          " world", "stop", false, 0, 0, NULL },
        { "{\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":34,"
          "\"total_tokens\":46}}", 0, NULL, "", true, 12, 34, NULL },
        { "{\"choices\":[{\"delta\":{\"content\":\"x\"}}],\"usage\":null}", 0, "x", "", false, 0, 0, NULL },
        { "{\"usage\":{\"prompt_tokens\":-1,\"completion_tokens\":3}}", 0, NULL, "", false, 0, 0, NULL },
        { "{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\"}}", 0,
          NULL, "", false, 0, 0, "out of memory" },
        { "{\"error\":\"plain\"}", 0, NULL, "", false, 0, 0, "plain" },
        { "{\"choices\":\"nonsense\",\"usage\":7}", 0, NULL, "", false, 0, 0, NULL },
        { "[1,2]", -1, NULL, "", false, 0, 0, NULL },
        { "not json", -1, NULL, "", false, 0, 0, NULL },
        { "", -1, NULL, "", false, 0, 0, NULL },
        { "{\"choices\":[{\"delta\":{\"content\":\"caf\\u00e9 \\n\"}}]}", 0, "caf\xc3\xa9 \n", "",
          false, 0, 0, NULL },
    };
    for (size_t i = 0; i < sizeof table / sizeof table [0]; i++) {
        wa_openai_event_t ev;
        int rc = wa_openai_parse_event (table [i].data, strlen (table [i].data), &ev);
        CHECK_MSG (rc == table [i].rc, "case %zu rc %d", i, rc);
        if (table [i].content)
            CHECK_STR (ev.content, table [i].content);
        else
            CHECK_MSG (ev.content == NULL, "case %zu content \"%s\"", i, ev.content);
        CHECK_STR (ev.finish_reason, table [i].finish);
        CHECK_INT (ev.has_usage, table [i].usage);
        CHECK_INT (ev.prompt_tokens, table [i].prompt);
        CHECK_INT (ev.completion_tokens, table [i].completion);
        if (table [i].error)
            CHECK_STR (ev.error, table [i].error);
        else
            CHECK (ev.error == NULL);
        wa_openai_event_clear (&ev);
    }
}

static void
test_body (void)
{
    struct {
        const char *in;
        uint32_t cap;
        const char *max_tokens_key;     //  key to check, NULL: none expected
        json_int_t want;                //  its value
        bool ok;
    } table [] = {
        { "{\"model\":\"m\",\"messages\":[]}", 100, "max_tokens", 100, true },
        { "{\"model\":\"m\",\"max_tokens\":50}", 100, "max_tokens", 50, true },
        { "{\"model\":\"m\",\"max_tokens\":500}", 100, "max_tokens", 100, true },
        { "{\"model\":\"m\",\"max_completion_tokens\":500}", 100, "max_completion_tokens", 100, true },
        { "{\"model\":\"m\",\"max_tokens\":\"lots\"}", 100, "max_tokens", 100, true },
        { "{\"model\":\"m\",\"max_tokens\":0}", 7, "max_tokens", 7, true },
        { "{\"model\":\"m\",\"stream\":false}", 0, NULL, 0, true },
        { "[]", 10, NULL, 0, false },
        { "", 10, NULL, 0, false },
        { "{\"model\":", 10, NULL, 0, false },
    };
    for (size_t i = 0; i < sizeof table / sizeof table [0]; i++) {
        char err [128] = "";
        char *body = wa_openai_body (table [i].in, strlen (table [i].in), table [i].cap,
                                     err, sizeof err);
        CHECK_MSG ((body != NULL) == table [i].ok, "case %zu body %s err %s", i,
                   body? body: "(null)", err);
        if (!body) {
            CHECK (*err);
            continue;
        }
        json_t *root = json_loads (body, 0, NULL);
        CHECK (json_is_object (root));
        CHECK (json_is_true (json_object_get (root, "stream")));
        CHECK (json_is_true (json_object_get (json_object_get (root, "stream_options"),
                                              "include_usage")));
        CHECK_STR (json_string_value (json_object_get (root, "model")), "m");
        if (table [i].max_tokens_key)
            CHECK_MSG (json_integer_value (json_object_get (root, table [i].max_tokens_key))
                       == table [i].want, "case %zu body %s", i, body);
        else
            CHECK (json_object_get (root, "max_tokens") == NULL);
        json_decref (root);
        free (body);
    }
}

int
main (void)
{
    MT_RUN (test_parse_event);
    MT_RUN (test_body);
    return mt_test_done ("test_wa_openai");
}
