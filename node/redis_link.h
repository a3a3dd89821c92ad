/* The node's Redis session: hiredis async on the node's libevent loop.
 * Two connections: one SUBSCRIBEd to the listeners' channels (the pool's,
 * the bans'), one for commands.
 * hiredis 0.14.1's libevent adapter has no timers, so this module arms its
 * own connect and command deadlines, and reconnects with exponential
 * backoff and full jitter. It knows nothing of pools or reports: its users
 * (pool_sync, report) send commands through redis_link_command() and read
 * the replies through the view below; hiredis stays inside redis_link.c.
 *
 * Liveness: a silent partition is caught by the command deadline, so the
 * session relies on its users sending a command now and then (pool_sync's
 * periodic meta check); the subscriber is covered by the connect deadline
 * until its SUBSCRIBE is confirmed, and afterwards by the command
 * connection (the same server serves both).
 *
 * The target is redis.url (host:port, or a unix:// socket), or, with
 * redis.sentinels, the master the sentinels name (node/sentinel.c, owned
 * by the link): each session asks them first, and the command connection
 * checks with ROLE that it reached a master (a replica: ask again). A
 * session also ends, and the next starts at once, on -READONLY and when
 * the sentinels announce another master (+switch-master). Both connections
 * authenticate with AUTH <password> or, for an ACL user, AUTH <user>
 * <password>; a refused AUTH (WRONGPASS, NOAUTH) is logged once per outage
 * at error and retried with backoff. */
#ifndef PF_NODE_REDIS_LINK_H
#define PF_NODE_REDIS_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "err.h"
#include "pf.h"

struct event_base;
struct redis_link;

/* One reply, or one element of an array reply: a read-only view, valid
 * during the reply callback only unless taken with redis_link_reply_detach(). */
struct redis_link_reply;

enum redis_link_reply_type {
    REDIS_LINK_REPLY_OTHER = 0,   /* none of the below (never sent by Redis 7 in RESP2) */
    REDIS_LINK_REPLY_STRING,      /* bulk string */
    REDIS_LINK_REPLY_STATUS,      /* +OK */
    REDIS_LINK_REPLY_INTEGER,
    REDIS_LINK_REPLY_NIL,
    REDIS_LINK_REPLY_ARRAY,
    REDIS_LINK_REPLY_ERROR,
};

/* Counters of the session for /metrics and /stats. */
struct redis_link_stats {
    uint64_t connects;            /* successful (re)connects of the command link */
    uint64_t disconnects;         /* losses of either connection */
    uint64_t command_timeouts;    /* commands that hit their deadline */
    uint64_t master_moves;        /* master changes followed (Sentinel) */
};

/* Channels the session can SUBSCRIBE to (one listener each). */
#define REDIS_LINK_LISTENERS_MAX 2

/* What a listener of the session hears. Each runs on the loop; none may
 * destroy the link. */
struct redis_link_events {
    /* The session is up and subscribed: commands may be sent. */
    void (*on_ready)(void *arg);
    /* The session was up and is lost: the replies of commands in flight will
     * never come (their callbacks are not called). May run inside a hiredis
     * callback: must not send commands. May write into <note> (<len> bytes,
     * "" on entry) what the listener keeps serving; it ends the log line. */
    void (*on_down)(void *arg, char *note, size_t len);
    /* A message on the listener's channel: <payload> of <len> bytes (untrusted; NULL
     * when it was not a string). */
    void (*on_message)(const char *payload, size_t len, void *arg);
    void *arg;
};

/* Called with the reply (never NULL; an error reply is a reply of type
 * REDIS_LINK_REPLY_ERROR) of a command sent by redis_link_command(). Not
 * called when the session ends first: on_down tells. */
typedef void (*redis_link_reply_fn)(struct redis_link_reply *reply, void *arg);

/* Creates the session and starts connecting from the loop (returns at
 * once). <conf> is borrowed and must outlive the link. Returns NULL with a
 * reason in <err> on allocation failure. */
struct redis_link *redis_link_create(struct event_base *base, const struct conf_redis *conf,
                                     struct pf_err *err);

/* Sets the listener of <channel> (borrowed, must outlive the link): <ev> is
 * copied; its <arg> must outlive the link. The session is ready once every
 * listener's channel is subscribed, and on_ready/on_down go to each
 * listener. Add listeners before the loop runs, so that no event is missed
 * and the first SUBSCRIBE names every channel; a later call for the same
 * channel replaces its callbacks (all NULL: stop hearing). Returns PF_OK,
 * or PF_ERANGE beyond REDIS_LINK_LISTENERS_MAX channels. */
int redis_link_listen(struct redis_link *link, const char *channel,
                      const struct redis_link_events *ev) PF_MUSTCHECK;

/* Disconnects and frees <link> (accepts NULL). Pending commands are dropped
 * without their callbacks. Safe to call from outside hiredis callbacks only. */
void redis_link_destroy(struct redis_link *link);

/* Returns 1 when the command connection is up and subscribed. */
int redis_link_is_connected(const struct redis_link *link);

/* Sends one command (<argc> arguments <argv>, <argvlen> may be NULL for
 * NUL-terminated ones; copied before the call returns) on the command
 * connection, under the command deadline. <fn> (may be NULL) gets the
 * reply with <arg>; <arg> must live until then or until the session ends.
 * Returns PF_OK, PF_EAGAIN while the session is not up (nothing queued:
 * commands are not worth queueing across an outage), or PF_EIO when it
 * could not be sent (out of memory, or hiredis refused it): the session is
 * then failing and on_down runs before this returns, so a sequence such as
 * MULTI ... EXEC is never left half-sent on a live connection. */
int redis_link_command(struct redis_link *link, redis_link_reply_fn fn, void *arg, int argc,
                       const char **argv, const size_t *argvlen) PF_MUSTCHECK;

/* Returns a pointer to the session's counters (owned by the link). */
const struct redis_link_stats *redis_link_get_stats(const struct redis_link *link);

/* Where the session goes, for /stats and logs: "host:port", "unix:/path",
 * or "master <name>" before the sentinels first answered. */
const char *redis_link_target(const struct redis_link *link);

/* ---- reply view ------------------------------------------------------- */

/* The type of <r> (NULL reads as REDIS_LINK_REPLY_NIL). */
enum redis_link_reply_type redis_link_reply_type(const struct redis_link_reply *r);

/* The bytes of a STRING, STATUS or ERROR reply and their count in <*len>;
 * NULL (and 0) for other types. May hold NULs. */
const char *redis_link_reply_str(const struct redis_link_reply *r, size_t *len);

/* The value of an INTEGER reply, 0 for other types. */
long long redis_link_reply_integer(const struct redis_link_reply *r);

/* Elements of an ARRAY reply, 0 for other types. */
size_t redis_link_reply_count(const struct redis_link_reply *r);

/* Element <i> of an ARRAY reply, NULL when out of range or detached. */
const struct redis_link_reply *redis_link_reply_element(const struct redis_link_reply *r,
                                                        size_t i);

/* Takes element <i> out of ARRAY reply <r>, so it outlives the callback:
 * the caller owns it and frees it with redis_link_reply_free(). Its slot
 * reads as NULL afterwards. Returns NULL when there is none. */
struct redis_link_reply *redis_link_reply_detach(struct redis_link_reply *r, size_t i);

/* Frees a detached reply and what it still holds (accepts NULL). */
void redis_link_reply_free(struct redis_link_reply *r);

/* For a log line: the printable text of an ERROR reply, else "unexpected
 * reply type N". Writes into <buf> of <len> and returns it. */
const char *redis_link_reply_describe(const struct redis_link_reply *r, char *buf, size_t len);

#endif
