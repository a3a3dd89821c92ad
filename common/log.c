#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

#include "json_text.h"
#include "str.h"

#define LOG_MSG_MAX  1024                       /* formatted message, NUL included */
#define LOG_LINE_MAX (LOG_MSG_MAX * 8 + 1024)   /* sanitized (x4) and escaped (x2), plus fields */

/* Process-wide by nature: one stderr, one level, one format. Set at
 * start-up and on reload, on the loop thread. */
static enum pf_log_level log_level = PF_LOG_INFO;
static enum pf_log_format log_format = PF_LOG_TEXT;
static const char *log_ident = "proxyfleet";

static const char *const level_names[] = { "ERROR", "WARN", "INFO", "DEBUG" };
static const char *const level_json[] = { "error", "warn", "info", "debug" };
static const char *const format_names[] = { "text", "json" };

void log_set_level(enum pf_log_level level) { log_level = level; }
enum pf_log_level log_get_level(void) { return log_level; }
void log_set_format(enum pf_log_format format) { log_format = format; }
enum pf_log_format log_get_format(void) { return log_format; }
void log_set_ident(const char *ident) { log_ident = ident; }

int log_parse_level(const char *name, enum pf_log_level *out)
{
    for (size_t i = 0; i < PF_ARRAY_LEN(level_json); i++) {
        if (name != NULL && strcasecmp(name, level_json[i]) == 0) {
            *out = (enum pf_log_level)i;
            return PF_OK;
        }
    }
    return PF_EINVAL;
}

int log_parse_format(const char *name, enum pf_log_format *out)
{
    for (size_t i = 0; i < PF_ARRAY_LEN(format_names); i++) {
        if (name != NULL && strcasecmp(name, format_names[i]) == 0) {
            *out = (enum pf_log_format)i;
            return PF_OK;
        }
    }
    return PF_EINVAL;
}

const char *log_format_name(enum pf_log_format format)
{
    return (size_t)format < PF_ARRAY_LEN(format_names) ? format_names[format] : "?";
}

void log_stamp(int64_t wall_ms, char *buf, size_t len)
{
    struct tm tm;
    time_t secs = (time_t)(wall_ms / 1000);
    char day[24];
    gmtime_r(&secs, &tm);
    strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%s.%03dZ", day, (int)(wall_ms % 1000));
}

static void append_quoted(char *buf, size_t len, size_t *o, const char *s)
{
    if (*o < len)
        *o += json_text_quote(s, strlen(s), buf + *o, len - *o);
}

size_t log_format_line(enum pf_log_format format, const struct log_line *l, char *buf, size_t len)
{
    char stamp[LOG_STAMP_LEN];
    const char *base = strrchr(l->file, '/');
    const char *file = base != NULL ? base + 1 : l->file;
    size_t lvl = PF_MIN_OF((size_t)l->level, PF_ARRAY_LEN(level_names) - 1);
    size_t o = 0;

    if (len < 2) {
        if (len > 0)
            buf[0] = '\0';
        return 0;
    }
    len--;                     /* room for the '\n' whatever is cut */
    log_stamp(l->wall_ms, stamp, sizeof(stamp));
    if (format == PF_LOG_JSON) {
        char source[128];
        snprintf(source, sizeof(source), "%s:%d", file, l->line);
        str_appendf(buf, len, &o, "{\"time\":\"%s\",\"level\":\"%s\",\"program\":", stamp,
                level_json[lvl]);
        append_quoted(buf, len, &o, l->ident);
        str_appendf(buf, len, &o, ",\"source\":");
        append_quoted(buf, len, &o, source);
        if (l->has_conn) {
            str_appendf(buf, len, &o, ",\"conn\":%llu,\"peer\":", (unsigned long long)l->conn_id);
            append_quoted(buf, len, &o, l->peer);
        }
        str_appendf(buf, len, &o, ",\"message\":");
        /* what is left, minus the closing brace */
        if (o + 1 < len)
            o += json_text_quote(l->msg, strlen(l->msg), buf + o, len - o - 1);
        str_appendf(buf, len, &o, "}");
    } else {
        char clean[LOG_MSG_MAX * 4];
        str_sanitize_text(l->msg, strlen(l->msg), 0, clean, sizeof(clean));
        str_appendf(buf, len, &o, "%s %s %s %s:%d ", stamp, l->ident, level_names[lvl], file, l->line);
        if (l->has_conn)
            str_appendf(buf, len, &o, "c%llu %s: ", (unsigned long long)l->conn_id, l->peer);
        str_appendf(buf, len, &o, "%s", clean);
        o = str_utf8_cut(buf, o);
    }
    buf[o++] = '\n';
    buf[o] = '\0';
    return o;
}

static void log_emit(enum pf_log_level level, const char *file, int line, int has_conn,
                     uint64_t conn_id, const char *peer, const char *fmt, va_list ap)
    PF_PRINTF(7, 0);
static void log_emit(enum pf_log_level level, const char *file, int line, int has_conn,
                     uint64_t conn_id, const char *peer, const char *fmt, va_list ap)
{
    char msg[LOG_MSG_MAX];
    char out[LOG_LINE_MAX];
    struct timeval tv;

    gettimeofday(&tv, NULL);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    struct log_line l = {
        .level = level, .ident = log_ident, .file = file, .line = line,
        .wall_ms = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000,
        .has_conn = has_conn, .conn_id = conn_id, .peer = peer != NULL ? peer : "?", .msg = msg,
    };
    size_t n = log_format_line(log_format, &l, out, sizeof(out));
    /* one write per line: lines of concurrent writers do not interleave */
    fwrite(out, 1, n, stderr);
}

void log_write(enum pf_log_level level, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_emit(level, file, line, 0, 0, NULL, fmt, ap);
    va_end(ap);
}

void log_write_conn(enum pf_log_level level, const char *file, int line, uint64_t conn_id,
                    const char *peer, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_emit(level, file, line, 1, conn_id, peer, fmt, ap);
    va_end(ap);
}
