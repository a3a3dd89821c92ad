#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

/* Process-wide by nature: one stderr, one level. Set once at start-up. */
static enum pf_log_level log_level = PF_LOG_INFO;
static const char *log_ident = "proxyfleet";

static const char *const level_names[] = { "ERROR", "WARN", "INFO", "DEBUG" };

void log_set_level(enum pf_log_level level) { log_level = level; }
enum pf_log_level log_get_level(void) { return log_level; }
void log_set_ident(const char *ident) { log_ident = ident; }

int log_parse_level(const char *name, enum pf_log_level *out)
{
    static const char *const names[] = { "error", "warn", "info", "debug" };
    for (size_t i = 0; i < PF_ARRAY_LEN(names); i++) {
        if (name != NULL && strcasecmp(name, names[i]) == 0) {
            *out = (enum pf_log_level)i;
            return PF_OK;
        }
    }
    return PF_EINVAL;
}

void log_write(enum pf_log_level level, const char *file, int line, const char *fmt, ...)
{
    char msg[1024];
    char stamp[32];
    struct timeval tv;
    struct tm tm;
    const char *base = strrchr(file, '/');

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);

    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* One event, one line: fold any newline a message carries. */
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    fprintf(stderr, "%s.%03dZ %s %s %s:%d %s\n", stamp, (int)(tv.tv_usec / 1000),
            log_ident, level_names[level], base ? base + 1 : file, line, msg);
}
