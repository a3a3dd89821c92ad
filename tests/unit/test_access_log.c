/* Unit tests for node/access_log.c's pure parts: the line in both
 * formats (issue 11 item 8) and the upstream's short id. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "access_log.h"
#include "str.h"

#define T0 1796082001123LL    /* 2026-11-30T23:40:01.123Z */

static struct access_rec rec(void)
{
    struct access_rec r = {
        .time_ms = T0, .conn_id = 42, .client = "127.0.0.1:40000", .user = "alice",
        .method = "GET", .target = "example.com:80", .status = 200, .upstream = "0123456789ab",
        .provider = "acme", .attempts = 2, .bytes_in = 120, .bytes_out = 4567, .ttfb_ms = 12,
        .duration_ms = 34, .reason = "done",
    };
    return r;
}

Test(access_log, text)
{
    char buf[ACCESS_LOG_LINE_MAX];
    struct access_rec r = rec();
    size_t n = access_log_format(PF_LOG_TEXT, &r, buf, sizeof(buf));
    cr_expect_str_eq(buf, "time=2026-11-30T23:40:01.123Z conn=42 client=127.0.0.1:40000 "
                          "user=alice method=GET target=example.com:80 status=200 "
                          "upstream=0123456789ab provider=acme attempts=2 bytes_in=120 "
                          "bytes_out=4567 ttfb_ms=12 duration_ms=34 reason=done\n");
    cr_expect_eq(n, strlen(buf));
}

/* Missing values are "-"; odd ones are quoted, never break the line. */
Test(access_log, text_missing_and_quoted)
{
    char buf[ACCESS_LOG_LINE_MAX];
    struct access_rec r = rec();
    r.user = "";
    r.upstream = "";
    r.provider = "";
    r.status = 0;
    r.ttfb_ms = -1;
    r.target = "a b=\"c\"\n";
    access_log_format(PF_LOG_TEXT, &r, buf, sizeof(buf));
    cr_expect(strstr(buf, " user=- ") != NULL, "%s", buf);
    cr_expect(strstr(buf, " upstream=- provider=- ") != NULL, "%s", buf);
    cr_expect(strstr(buf, " status=- ") != NULL, "%s", buf);
    cr_expect(strstr(buf, " ttfb_ms=- ") != NULL, "%s", buf);
    cr_expect(strstr(buf, " target=\"a b=\\\"c\\\" \" ") != NULL, "%s", buf);
    cr_expect(strchr(buf, '\n') == buf + strlen(buf) - 1, "one line");
}

static cJSON *parse_line(const char *buf)
{
    size_t n = strlen(buf);
    cr_assert(n > 0 && buf[n - 1] == '\n');
    cr_assert(memchr(buf, '\n', n - 1) == NULL, "one line");
    cr_assert(str_is_clean_text(buf, n - 1), "valid UTF-8, no controls");
    cJSON *o = cJSON_ParseWithLength(buf, n - 1);
    cr_assert(cJSON_IsObject(o), "valid JSON: %s", buf);
    return o;
}

Test(access_log, json)
{
    char buf[ACCESS_LOG_LINE_MAX];
    struct access_rec r = rec();
    access_log_format(PF_LOG_JSON, &r, buf, sizeof(buf));
    cJSON *o = parse_line(buf);
    cr_expect_str_eq(cJSON_GetObjectItem(o, "time")->valuestring, "2026-11-30T23:40:01.123Z");
    cr_expect_str_eq(cJSON_GetObjectItem(o, "client")->valuestring, "127.0.0.1:40000");
    cr_expect_str_eq(cJSON_GetObjectItem(o, "user")->valuestring, "alice");
    cr_expect_str_eq(cJSON_GetObjectItem(o, "method")->valuestring, "GET");
    cr_expect_str_eq(cJSON_GetObjectItem(o, "target")->valuestring, "example.com:80");
    cr_expect_eq(cJSON_GetObjectItem(o, "status")->valueint, 200);
    cr_expect_str_eq(cJSON_GetObjectItem(o, "upstream")->valuestring, "0123456789ab");
    cr_expect_str_eq(cJSON_GetObjectItem(o, "provider")->valuestring, "acme");
    cr_expect_eq(cJSON_GetObjectItem(o, "attempts")->valueint, 2);
    cr_expect_eq(cJSON_GetObjectItem(o, "bytes_in")->valueint, 120);
    cr_expect_eq(cJSON_GetObjectItem(o, "bytes_out")->valueint, 4567);
    cr_expect_eq(cJSON_GetObjectItem(o, "ttfb_ms")->valueint, 12);
    cr_expect_eq(cJSON_GetObjectItem(o, "duration_ms")->valueint, 34);
    cr_expect_eq(cJSON_GetObjectItem(o, "conn")->valueint, 42);
    cr_expect_str_eq(cJSON_GetObjectItem(o, "reason")->valuestring, "done");
    cJSON_Delete(o);
}

/* Hostile strings (a client's user name, a target) and missing values:
 * the line stays valid JSON of valid UTF-8. */
Test(access_log, json_hostile_and_null)
{
    char buf[ACCESS_LOG_LINE_MAX];
    char longuser[AUTH_USER_MAX];
    memset(longuser, '\xff', sizeof(longuser) - 1);
    longuser[sizeof(longuser) - 1] = '\0';
    struct access_rec r = rec();
    r.user = longuser;
    r.target = "x\"\\\n\x01\xc0:80";
    r.upstream = "";
    r.provider = "";
    r.status = 0;
    r.ttfb_ms = -1;
    access_log_format(PF_LOG_JSON, &r, buf, sizeof(buf));
    cJSON *o = parse_line(buf);
    cr_expect(cJSON_IsNull(cJSON_GetObjectItem(o, "upstream")));
    cr_expect(cJSON_IsNull(cJSON_GetObjectItem(o, "provider")));
    cr_expect(cJSON_IsNull(cJSON_GetObjectItem(o, "status")));
    cr_expect(cJSON_IsNull(cJSON_GetObjectItem(o, "ttfb_ms")));
    cr_expect(cJSON_IsString(cJSON_GetObjectItem(o, "user")));
    cJSON_Delete(o);
}

