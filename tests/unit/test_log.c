/* Unit tests for common/log.c: the line formats (log.format text and
 * json), the level and format names, the time stamp. JSON lines are
 * checked with cJSON, whatever bytes the message held. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "log.h"
#include "str.h"

#define T0 1796082001123LL    /* 2026-11-30T23:40:01.123Z */

static struct log_line line_of(const char *msg)
{
    struct log_line l = {
        .level = PF_LOG_INFO, .ident = "node", .file = "/src/node/conn.c", .line = 42,
        .wall_ms = T0, .msg = msg,
    };
    return l;
}

Test(log, stamp)
{
    char buf[LOG_STAMP_LEN];
    log_stamp(T0, buf, sizeof(buf));
    cr_expect_str_eq(buf, "2026-11-30T23:40:01.123Z");
    log_stamp(0, buf, sizeof(buf));
    cr_expect_str_eq(buf, "1970-01-01T00:00:00.000Z");
}

Test(log, names)
{
    enum pf_log_format f;
    enum pf_log_level l;
    cr_expect_eq(log_parse_format("text", &f), PF_OK);
    cr_expect_eq(f, PF_LOG_TEXT);
    cr_expect_eq(log_parse_format("JSON", &f), PF_OK);
    cr_expect_eq(f, PF_LOG_JSON);
    cr_expect_eq(log_parse_format("xml", &f), PF_EINVAL);
    cr_expect_eq(log_parse_format(NULL, &f), PF_EINVAL);
    cr_expect_str_eq(log_format_name(PF_LOG_JSON), "json");
    cr_expect_eq(log_parse_level("warn", &l), PF_OK);
    cr_expect_eq(l, PF_LOG_WARN);
}

/* Text: as it always was, one line. */
Test(log, text_line)
{
    char buf[512];
    struct log_line l = line_of("listening on 127.0.0.1:3128");
    size_t n = log_format_line(PF_LOG_TEXT, &l, buf, sizeof(buf));
    cr_expect_str_eq(buf, "2026-11-30T23:40:01.123Z node INFO conn.c:42 listening on 127.0.0.1:3128\n");
    cr_expect_eq(n, strlen(buf));
    l.has_conn = 1;
    l.conn_id = 7;
    l.peer = "10.0.0.1:5555";
    l.msg = "closed";
    log_format_line(PF_LOG_TEXT, &l, buf, sizeof(buf));
    cr_expect_str_eq(buf, "2026-11-30T23:40:01.123Z node INFO conn.c:42 c7 10.0.0.1:5555: closed\n");
}

/* Text: a message with newlines, controls or broken UTF-8 stays one line
 * of valid UTF-8. */
Test(log, text_sanitized)
{
    char buf[512];
    struct log_line l = line_of("a\nb\r\x01" "c\xff\xfe" "d");
    log_format_line(PF_LOG_TEXT, &l, buf, sizeof(buf));
    const char *msg = strstr(buf, "conn.c:42 ") + strlen("conn.c:42 ");
    cr_expect_str_eq(msg, "a b ?c\xef\xbf\xbd\xef\xbf\xbd" "d\n");
    cr_expect(str_is_clean_text(buf, strlen(buf) - 1));
}

static cJSON *parse_json_line(const char *buf)
{
    size_t n = strlen(buf);
    cr_assert(n > 0 && buf[n - 1] == '\n', "one line ending in a newline: %s", buf);
    cr_assert(memchr(buf, '\n', n - 1) == NULL, "a single line");
    cJSON *o = cJSON_ParseWithLength(buf, n - 1);
    cr_assert(o != NULL && cJSON_IsObject(o), "valid JSON: %s", buf);
    return o;
}

static const char *str_field(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    cr_assert(cJSON_IsString(v), "field %s", name);
    return v->valuestring;
}

Test(log, json_line)
{
    char buf[1024];
    struct log_line l = line_of("listening on 127.0.0.1:3128");
    log_format_line(PF_LOG_JSON, &l, buf, sizeof(buf));
    cJSON *o = parse_json_line(buf);
    cr_expect_str_eq(str_field(o, "time"), "2026-11-30T23:40:01.123Z");
    cr_expect_str_eq(str_field(o, "level"), "info");
    cr_expect_str_eq(str_field(o, "program"), "node");
    cr_expect_str_eq(str_field(o, "source"), "conn.c:42");
    cr_expect_str_eq(str_field(o, "message"), "listening on 127.0.0.1:3128");
    cr_expect_null(cJSON_GetObjectItem(o, "conn"), "no conn on a process line");
    cJSON_Delete(o);

    l.has_conn = 1;
    l.conn_id = 123456789012ULL;
    l.peer = "[::1]:4000";
    l.level = PF_LOG_DEBUG;
    l.msg = "read_head -> dialing";
    log_format_line(PF_LOG_JSON, &l, buf, sizeof(buf));
    o = parse_json_line(buf);
    cr_expect_str_eq(str_field(o, "level"), "debug");
    cr_expect_eq(cJSON_GetObjectItem(o, "conn")->valuedouble, 123456789012.0);
    cr_expect_str_eq(str_field(o, "peer"), "[::1]:4000");
    cr_expect_str_eq(str_field(o, "message"), "read_head -> dialing", "no c<id> prefix in JSON");
    cJSON_Delete(o);
}

/* Whatever the message holds (quotes, backslashes, controls, invalid
 * UTF-8), the line is valid JSON of valid UTF-8. */
Test(log, json_hostile_message)
{
    static const char *const msgs[] = {
        "say \"hi\" \\ there",
        "tab\tnewline\nnul-free \x01\x1f del\x7f",
        "latin1 caf\xe9, stray \x80, cut \xe2\x82",
        "surrogate \xed\xa0\x80 overlong \xc0\xaf",
        "utf-8 \xe8\xaf\xb7\xe6\xb7\xbb\xe5\x8a\xa0 ok",
    };
    for (size_t i = 0; i < PF_ARRAY_LEN(msgs); i++) {
        char buf[1024];
        struct log_line l = line_of(msgs[i]);
        log_format_line(PF_LOG_JSON, &l, buf, sizeof(buf));
        cr_expect(str_is_clean_text(buf, strlen(buf) - 1), "case %zu clean: %s", i, buf);
        cJSON *o = parse_json_line(buf);
        const char *m = str_field(o, "message");
        cr_expect(str_is_clean_text(m, strlen(m)), "case %zu", i);
        cJSON_Delete(o);
    }
    char buf[256];
    struct log_line l = line_of("say \"hi\" \\ there");
    log_format_line(PF_LOG_JSON, &l, buf, sizeof(buf));
    cJSON *o = parse_json_line(buf);
    cr_expect_str_eq(str_field(o, "message"), "say \"hi\" \\ there");
    cJSON_Delete(o);
}

/* A message longer than the buffer is cut, the line stays valid JSON. */
Test(log, json_cut_stays_valid)
{
    char msg[1000];
    memset(msg, '"', sizeof(msg) - 1);
    msg[sizeof(msg) - 1] = '\0';
    for (size_t len = 200; len <= 260; len++) {
        char buf[260];
        struct log_line l = line_of(msg);
        size_t n = log_format_line(PF_LOG_JSON, &l, buf, len);
        cr_assert(n < len, "fits: %zu < %zu", n, len);
        cJSON *o = parse_json_line(buf);
        cJSON_Delete(o);
    }
}
