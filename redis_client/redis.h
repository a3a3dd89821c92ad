/* The blocking Redis connection of the controller and proxyfleet-ctl:
 * hiredis's synchronous API, every call bounded by
 * redis.connect_timeout_ms / command_timeout_ms, so a caller on a loop
 * never waits longer than that per call. On any I/O error the connection
 * is dropped, and reconnecting waits a backoff with full jitter. The
 * controller's lease, publisher and health, the fleet status reader
 * (fleet/) and proxyfleet-ctl send their commands through it and read the
 * replies through the view below; hiredis stays inside redis.c (and
 * sentinel.c).
 *
 * The target is redis.url (host:port, or a unix:// socket), or, with
 * redis.sentinels, the master the sentinels name at each connect (then ROLE
 * must say master). A connect authenticates with AUTH <password> or, for
 * an ACL user, AUTH <user> <password>. A refused AUTH (WRONGPASS, NOAUTH)
 * is logged once per outage and retried with backoff; behind Sentinel a
 * READONLY reply drops the connection and the next connect asks again. */
#ifndef PF_RC_REDIS_H
#define PF_RC_REDIS_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "pf.h"

struct redis;

/* One reply, or one element of an array reply (read-only view). A reply
 * returned by redis_command() is the caller's: redis_reply_free(). */
struct redis_reply;

enum redis_reply_type {
    REDIS_TYPE_OTHER = 0,     /* none of the below */
    REDIS_TYPE_STRING,        /* bulk string */
    REDIS_TYPE_STATUS,        /* +OK */
    REDIS_TYPE_INTEGER,
    REDIS_TYPE_NIL,
    REDIS_TYPE_ARRAY,
    REDIS_TYPE_ERROR,
};

/* A Lua script run with EVALSHA, loaded (SCRIPT LOAD) once per connection
 * on first use, with EVAL when the server does not know it (NOSCRIPT). */
struct redis_script {
    const char *text;              /* borrowed: static source */
    size_t      len;
    char        sha[41];           /* SHA1 hex from SCRIPT LOAD, "" = EVAL */
    uint64_t    connection;        /* redis connection <sha> was loaded on, 0 = none */
};

#define REDIS_SCRIPT_INIT(src) { (src), sizeof(src) - 1, "", 0 }

struct sentinel;

/* Creates a connection (not connected yet) for <conf> (borrowed); with
 * <sentinel> (borrowed, may be NULL = plain redis.url) each connect asks
 * it for the master first. Returns NULL on allocation failure. */
struct redis *redis_create(const struct conf_redis *conf, struct sentinel *sentinel);

/* Closes the connection and frees <r> (accepts NULL). */
void redis_destroy(struct redis *r);

/* Connects (connect, AUTH, SELECT) unless connected or the backoff delay
 * has not passed at <now_mono_ms>. Returns PF_OK when connected, PF_EAGAIN
 * while waiting, PF_EIO when the attempt failed. */
int redis_connect(struct redis *r, int64_t now_mono_ms) PF_MUSTCHECK;

/* 1 while connected. */
int redis_is_connected(const struct redis *r);

/* Milliseconds from <now_mono_ms> until the next connect attempt (0 when
 * connected or due). */
int64_t redis_retry_in_ms(const struct redis *r, int64_t now_mono_ms);

/* Connections dropped on an error since start (/metrics). */
uint64_t redis_drops(const struct redis *r);

/* Master changes followed since start (Sentinel; /metrics). */
uint64_t redis_master_moves(const struct redis *r);

/* Where the connection goes, for /status and logs: "host:port",
 * "unix:/path", or "master <name>" before the sentinels first answered. */
const char *redis_target(const struct redis *r);

/* Behind Sentinel: the sentinels name <host>:<port> as the master. When
 * that is not where the connection goes, it is dropped and the next
 * connect is due at once (it asks the sentinels again). Returns 1 then, 0
 * when nothing changed (or without Sentinel). */
int redis_master_moved(struct redis *r, const char *host, uint16_t port);

/* Drops the connection after a reply that makes no sense for <what> (the
 * stream may be out of step); logged, and the next connect waits. Returns
 * PF_EIO. */
int redis_fail(struct redis *r, const char *what);

/* Runs one command (<argc> <argv>, <argvlen> may be NULL for NUL-terminated
 * arguments). <what> names it in logs. Returns the reply (the caller frees
 * it; an error reply is returned as such), or NULL when disconnected or
 * when the connection dropped (then logged, and the next connect waits). */
struct redis_reply *redis_command(struct redis *r, const char *what, int argc,
                                  const char **argv, const size_t *argvlen);

/* One command of a pipeline: <argc> <argv>, <argvlen> may be NULL for
 * NUL-terminated arguments (all borrowed). */
struct redis_cmd {
    int                 argc;
    const char *const  *argv;
    const size_t       *argvlen;
};

/* Sends the <n> commands <cmds> at once and reads their <n> replies into
 * <replies> (one round trip; each read bounded by command_timeout_ms).
 * <what> names them in logs. Returns PF_OK with every reply the caller's
 * (redis_reply_free() each; an error reply is returned as such), or PF_EIO
 * with none (disconnected, or the connection dropped: logged, and the next
 * connect waits). */
int redis_pipeline(struct redis *r, const char *what, size_t n, const struct redis_cmd *cmds,
                   struct redis_reply **replies) PF_MUSTCHECK;

/* Why the last connect or command failed (a connect error, the server's
 * sanitized error text, "timeout"), "" when none did since the last good
 * connect. Never holds a credential. Valid until the next call on <r>. */
const char *redis_last_error(const struct redis *r);

/* Runs script <s> with <nargs> arguments <args> ("numkeys", the keys, then
 * the script's arguments; <argslen> may be NULL), as redis_command() does
 * (out of memory drops the connection too, so a retry waits its backoff). */
struct redis_reply *redis_eval(struct redis *r, struct redis_script *s, const char *what,
                               int nargs, const char **args, const size_t *argslen);

/* ---- reply view ------------------------------------------------------- */

/* The type of <r> (NULL reads as REDIS_TYPE_NIL). */
enum redis_reply_type redis_reply_type(const struct redis_reply *r);

/* The bytes of a STRING, STATUS or ERROR reply and their count in <*len>
 * (may be NULL); NULL for other types. NUL-terminated, may hold NULs. */
const char *redis_reply_str(const struct redis_reply *r, size_t *len);

/* The value of an INTEGER reply, 0 for other types. */
long long redis_reply_integer(const struct redis_reply *r);

/* Elements of an ARRAY reply, 0 for other types. */
size_t redis_reply_count(const struct redis_reply *r);

/* Element <i> of an ARRAY reply, NULL when out of range. */
const struct redis_reply *redis_reply_element(const struct redis_reply *r, size_t i);

/* 1 when <r> is an error reply whose text contains <word> (e.g. "FENCED"). */
int redis_reply_is_error(const struct redis_reply *r, const char *word);

/* Frees a reply returned by redis_command() or redis_eval() (accepts NULL). */
void redis_reply_free(struct redis_reply *r);

#endif
