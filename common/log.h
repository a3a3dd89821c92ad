/* Leveled, line-oriented logging for the node and controller shells, as
 * text or as one JSON object per line (log.format). common/ library
 * modules never call these; they fill a struct pf_err. */
#ifndef PF_LOG_H
#define PF_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "pf.h"

enum pf_log_level {
    PF_LOG_ERROR = 0,
    PF_LOG_WARN  = 1,
    PF_LOG_INFO  = 2,
    PF_LOG_DEBUG = 3,
};

/* How a line is written (log.format). */
enum pf_log_format {
    PF_LOG_TEXT = 0,   /* "2026-11-21T23:40:01.123Z node INFO file.c:42 msg" */
    PF_LOG_JSON,       /* {"time":..,"level":..,"program":..,"source":..,"message":..} */
};

/* Sets the threshold; messages above <level> are dropped. */
void log_set_level(enum pf_log_level level);
enum pf_log_level log_get_level(void);

/* Parses "error", "warn", "info" or "debug" into <out>. Returns PF_OK or PF_EINVAL. */
int log_parse_level(const char *name, enum pf_log_level *out) PF_MUSTCHECK;

/* Sets the line format of every later line. */
void log_set_format(enum pf_log_format format);
enum pf_log_format log_get_format(void);

/* Parses "text" or "json" into <out>. Returns PF_OK or PF_EINVAL. */
int log_parse_format(const char *name, enum pf_log_format *out) PF_MUSTCHECK;

/* Name of <format> ("text", "json"). */
const char *log_format_name(enum pf_log_format format);

/* Sets the program name printed on every line (borrowed, must outlive logging). */
void log_set_ident(const char *ident);

/* Writes one line to stderr (see enum pf_log_format). The message is
 * sanitized (str_sanitize_text: one line, valid UTF-8). Never pass
 * credentials: format addresses with addr_format_safe(). */
void log_write(enum pf_log_level level, const char *file, int line,
               const char *fmt, ...) PF_PRINTF(4, 5);

/* As log_write(), for a line about client connection <conn_id> from
 * <peer> ("ip:port"): in text the message starts "c<id> <peer>: ", in JSON
 * they are the fields "conn" and "peer". */
void log_write_conn(enum pf_log_level level, const char *file, int line, uint64_t conn_id,
                    const char *peer, const char *fmt, ...) PF_PRINTF(6, 7);

/* Bytes log_stamp() needs, NUL included. */
#define LOG_STAMP_LEN 32

/* Writes <wall_ms> (ms since 1970) as "2026-11-21T23:40:01.123Z" into
 * <buf> of <len> >= LOG_STAMP_LEN bytes. */
void log_stamp(int64_t wall_ms, char *buf, size_t len);

/* One line's parts, for log_format_line(). */
struct log_line {
    enum pf_log_level level;
    const char       *ident;        /* program */
    const char       *file;         /* source file; its directory is dropped */
    int               line;
    int64_t           wall_ms;
    int               has_conn;     /* conn_id and peer are set */
    uint64_t          conn_id;
    const char       *peer;
    const char       *msg;          /* untrusted: sanitized here */
};

/* Formats <l> as one line in <format>, '\n' included, into <buf> of <len>
 * bytes (NUL-terminated; a message that does not fit is cut, a JSON line
 * stays valid). Returns the bytes written, NUL excluded. Pure: what
 * log_write() prints, for tests. */
size_t log_format_line(enum pf_log_format format, const struct log_line *l, char *buf, size_t len);

#define log_at(lvl, ...) \
    do { if ((lvl) <= log_get_level()) log_write((lvl), __FILE__, __LINE__, __VA_ARGS__); } while (0)
#define log_error(...) log_at(PF_LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_at(PF_LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_at(PF_LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_at(PF_LOG_DEBUG, __VA_ARGS__)

#endif
