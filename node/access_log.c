/* The access log; see access_log.h. */
#include "access_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "json_text.h"
#include "str.h"

struct access_log {
    int  fd;                            /* owned unless it is 2 (stderr) */
    int  is_stderr;
    char dest[CONF_FILE_PATH_MAX];
};

static int open_file(const char *path, struct pf_err *err)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
    if (fd < 0)
        pf_err_set(err, PF_EIO, "access log %s: %s", path, strerror(errno));
    return fd;
}

struct access_log *access_log_open(const char *dest, struct pf_err *err)
{
    struct access_log *al = calloc(1, sizeof(*al));
    if (al == NULL) {
        pf_err_set(err, PF_ENOMEM, "access log: out of memory");
        return NULL;
    }
    snprintf(al->dest, sizeof(al->dest), "%s", dest);
    al->is_stderr = strcmp(dest, "stderr") == 0;
    al->fd = al->is_stderr ? STDERR_FILENO : open_file(dest, err);
    if (al->fd < 0) {
        free(al);
        return NULL;
    }
    return al;
}

int access_log_reopen(struct access_log *al, struct pf_err *err)
{
    if (al->is_stderr)
        return PF_OK;
    int fd = open_file(al->dest, err);
    if (fd < 0)
        return PF_EIO;
    close(al->fd);
    al->fd = fd;
    return PF_OK;
}

const char *access_log_dest(const struct access_log *al)
{
    return al->dest;
}

void access_log_destroy(struct access_log *al)
{
    if (al == NULL)
        return;
    if (!al->is_stderr && al->fd >= 0)
        close(al->fd);
    free(al);
}

/* One line in one write(2): O_APPEND keeps lines whole on a regular file. */
static int access_log_write(struct access_log *al, const char *line, size_t len)
{
    while (len > 0) {
        ssize_t n = write(al->fd, line, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return PF_EIO;
        line += n;
        len -= (size_t)n;
    }
    return PF_OK;
}

void access_mark_begin(struct access_mark *m, const struct conn *c, const char *method,
                       uint64_t head_bytes)
{
    m->start_us = clock_mono_us();
    m->answer_us = 0;
    m->bytes_in0 = c->bytes_in - PF_MIN_OF(head_bytes, c->bytes_in);
    m->bytes_out0 = c->bytes_out;
    m->status = 0;
    m->user[0] = '\0';
    snprintf(m->method, sizeof(m->method), "%s", method);
}

void access_mark_user(struct access_mark *m, const struct conn *c, const char *user)
{
    if (c->ctx->access_log != NULL && access_mark_is_open(m))
        snprintf(m->user, sizeof(m->user), "%s", user);
}

void access_mark_answer(struct access_mark *m, int status)
{
    if (m->answer_us == 0)
        m->answer_us = clock_mono_us();
    m->status = status;
}

void access_mark_end(struct access_mark *m, struct conn *c, const struct attempt *a,
                     enum conn_err reason)
{
    struct node_ctx *ctx = c->ctx;
    if (!access_mark_is_open(m))
        return;
    int64_t start_us = m->start_us;
    m->start_us = 0;
    if (ctx->access_log == NULL)
        return;
    int64_t now_us = clock_mono_us();
    int is_upstream = a != NULL && a->nattempts > 0 && a->has_up;
    struct access_rec r = {
        .time_ms = clock_wall_ms(),
        .conn_id = c->id,
        .client = c->peer,
        .user = m->user,
        .method = m->method,
        .target = a != NULL ? a->dest : "",
        .status = m->status,
        .upstream = is_upstream ? a->up_sid : "",
        .provider = is_upstream ? a->up.provider : "",
        .attempts = a != NULL ? a->nattempts : 0,
        .bytes_in = c->bytes_in - PF_MIN_OF(m->bytes_in0, c->bytes_in),
        .bytes_out = c->bytes_out - PF_MIN_OF(m->bytes_out0, c->bytes_out),
        .ttfb_ms = m->answer_us != 0 ? (m->answer_us - start_us) / 1000 : -1,
        .duration_ms = (now_us - start_us) / 1000,
        .reason = conn_err_name(reason),
    };
    char line[ACCESS_LOG_LINE_MAX];
    size_t n = access_log_format(log_get_format(), &r, line, sizeof(line));
    if (access_log_write(ctx->access_log, line, n) != PF_OK)
        ctx->stats.access_log_errors++;
}

/* --- pure --- */

/* A JSON string of <s>, or null when it is "". */
static void append_json(char *buf, size_t len, size_t *o, const char *s)
{
    if (s[0] == '\0')
        str_appendf(buf, len, o, "null");
    else if (*o < len)
        *o += json_text_quote(s, strlen(s), buf + *o, len - *o);
}

/* 1 when <s> can stand bare as a text value: printable ASCII, no
 * space, quote, backslash or '='. */
static int is_bare(const char *s)
{
    for (; *s != '\0'; s++)
        if (*s <= 0x20 || *s >= 0x7f || *s == '"' || *s == '\\' || *s == '=')
            return 0;
    return 1;
}

/* " key=value": "-" for "", quoted (JSON string rules) when not bare. */
static void append_text(char *buf, size_t len, size_t *o, const char *key, const char *s)
{
    str_appendf(buf, len, o, " %s=", key);
    if (s[0] == '\0')
        str_appendf(buf, len, o, "-");
    else if (is_bare(s))
        str_appendf(buf, len, o, "%s", s);
    else if (*o < len)
        *o += json_text_quote(s, strlen(s), buf + *o, len - *o);
}

size_t access_log_format(enum pf_log_format format, const struct access_rec *r, char *buf,
                         size_t len)
{
    char stamp[LOG_STAMP_LEN];
    size_t o = 0;
    if (len < 2) {
        if (len > 0)
            buf[0] = '\0';
        return 0;
    }
    len--;                     /* room for the '\n' whatever is cut */
    log_stamp(r->time_ms, stamp, sizeof(stamp));
    if (format == PF_LOG_JSON) {
        str_appendf(buf, len, &o, "{\"time\":\"%s\",\"conn\":%llu,\"client\":", stamp,
                (unsigned long long)r->conn_id);
        append_json(buf, len, &o, r->client);
        str_appendf(buf, len, &o, ",\"user\":");
        append_json(buf, len, &o, r->user);
        str_appendf(buf, len, &o, ",\"method\":");
        append_json(buf, len, &o, r->method);
        str_appendf(buf, len, &o, ",\"target\":");
        append_json(buf, len, &o, r->target);
        if (r->status > 0)
            str_appendf(buf, len, &o, ",\"status\":%d", r->status);
        else
            str_appendf(buf, len, &o, ",\"status\":null");
        str_appendf(buf, len, &o, ",\"upstream\":");
        append_json(buf, len, &o, r->upstream);
        str_appendf(buf, len, &o, ",\"provider\":");
        append_json(buf, len, &o, r->provider);
        str_appendf(buf, len, &o, ",\"attempts\":%d,\"bytes_in\":%llu,\"bytes_out\":%llu,\"ttfb_ms\":",
                r->attempts, (unsigned long long)r->bytes_in, (unsigned long long)r->bytes_out);
        if (r->ttfb_ms >= 0)
            str_appendf(buf, len, &o, "%lld", (long long)r->ttfb_ms);
        else
            str_appendf(buf, len, &o, "null");
        str_appendf(buf, len, &o, ",\"duration_ms\":%lld,\"reason\":", (long long)r->duration_ms);
        append_json(buf, len, &o, r->reason);
        str_appendf(buf, len, &o, "}");
    } else {
        char num[24];
        str_appendf(buf, len, &o, "time=%s conn=%llu", stamp, (unsigned long long)r->conn_id);
        append_text(buf, len, &o, "client", r->client);
        append_text(buf, len, &o, "user", r->user);
        append_text(buf, len, &o, "method", r->method);
        append_text(buf, len, &o, "target", r->target);
        snprintf(num, sizeof(num), "%d", r->status);
        append_text(buf, len, &o, "status", r->status > 0 ? num : "");
        append_text(buf, len, &o, "upstream", r->upstream);
        append_text(buf, len, &o, "provider", r->provider);
        str_appendf(buf, len, &o, " attempts=%d bytes_in=%llu bytes_out=%llu", r->attempts,
                (unsigned long long)r->bytes_in, (unsigned long long)r->bytes_out);
        snprintf(num, sizeof(num), "%lld", (long long)r->ttfb_ms);
        append_text(buf, len, &o, "ttfb_ms", r->ttfb_ms >= 0 ? num : "");
        str_appendf(buf, len, &o, " duration_ms=%lld", (long long)r->duration_ms);
        append_text(buf, len, &o, "reason", r->reason);
    }
    buf[o++] = '\n';
    buf[o] = '\0';
    return o;
}
