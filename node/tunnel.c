/* Raw tunnel relay; see tunnel.h. The node is single-threaded, so one
 * scratch buffer serves every tunnel: a read is written out right away and
 * only a short write's remainder is copied to the heap. */
#include "tunnel.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "clog.h"
#include "log.h"

#define TUNNEL_CHUNK      (64 * 1024)   /* one recv() into the scratch buffer */
#define TUNNEL_PIPE_BYTES (256 * 1024)  /* asked of each pipe and of one splice() read: +4-40 %
                                         * on 1 MiB via CONNECT over 64 KiB pipes (A/B) */
#define TUNNEL_SPLICE_MIN (16 * 1024)   /* a read this big marks a bulk direction: splice the next */
#define TUNNEL_READS_MAX  4             /* chunks per wakeup: one bulk tunnel cannot starve the loop */
#define TUNNEL_PIPES_IDLE 8             /* empty pipes kept for reuse */

enum { TUN_CLIENT = TUNNEL_CLIENT, TUN_UPSTREAM = TUNNEL_UPSTREAM };   /* dir[s] reads side s, writes side !s */

enum tun_io {
    TUN_IO_OK = 0,          /* moved bytes (some may still be held for dst) */
    TUN_IO_AGAIN,           /* src had nothing to read */
    TUN_IO_EOF,             /* src sent FIN */
    TUN_IO_ERR_SRC,         /* src socket error (errno) */
    TUN_IO_ERR_DST,         /* dst socket error (errno) */
    TUN_IO_NOMEM,           /* no memory for a short write's remainder */
};

struct tunnel_pool {
    char *scratch;                       /* owned: TUNNEL_CHUNK bytes, shared by all tunnels */
    int   idle[TUNNEL_PIPES_IDLE][2];    /* owned: empty pipes ready for reuse */
    int   nidle;
    int   nlent;                         /* pipes held by tunnels now */
};

/* One direction: bytes read from side <s>, written to side <!s>. At most
 * one of pipe and buf holds bytes: src is read only when both are empty. */
struct tunnel_dir {
    int      pipe[2];       /* borrowed from the pool while it holds bytes; -1 otherwise */
    size_t   pipe_len;      /* bytes in pipe */
    char    *buf;           /* owned: a short write's remainder (or the handoff's bytes); NULL when empty */
    size_t   buf_off;       /* written so far */
    size_t   buf_len;
    int      is_bulk;       /* the last read was big: splice the next one */
    int      is_eof;        /* src sent FIN */
    int      is_shut;       /* we sent FIN to dst */
};

struct tunnel {
    uint64_t          id;               /* the owner's, for clog_*() */
    const char       *peer;             /* borrowed from the owner */
    struct event_base *base;            /* borrowed */
    struct tunnel_pool *pool;           /* borrowed */
    int               fd[2];            /* owned: [TUN_CLIENT], [TUN_UPSTREAM] */
    struct event      rd[2];            /* embedded: side readable */
    struct event      wr[2];            /* embedded: side writable (only while dst holds back bytes) */
    struct tunnel_dir dir[2];
    uint64_t         *nread[2][2];      /* borrowed counters of bytes read per side */
    tunnel_done_fn    done;
    void             *arg;
    int64_t           last_active_ms;   /* cached loop time of the last read */
    int               is_splice_off;    /* splice(2) refused these sockets: copy only */
    int               is_done;          /* done() ran: nothing more happens */
};

struct tunnel_pool *tunnel_pool_create(void)
{
    struct tunnel_pool *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    p->scratch = malloc(TUNNEL_CHUNK);
    if (p->scratch == NULL) {
        free(p);
        return NULL;
    }
    return p;
}

void tunnel_pool_destroy(struct tunnel_pool *p)
{
    if (p == NULL)
        return;
    for (int i = 0; i < p->nidle; i++) {
        close(p->idle[i][0]);
        close(p->idle[i][1]);
    }
    free(p->scratch);
    free(p);
}

/* Lends an empty pipe into <fds>. Returns PF_OK, or PF_EAGAIN when the
 * pool is at its bound or pipe2() failed: the caller copies instead. */
static int pool_get(struct tunnel_pool *p, int fds[2])
{
    if (p->nidle > 0) {
        p->nidle--;
        fds[0] = p->idle[p->nidle][0];
        fds[1] = p->idle[p->nidle][1];
        p->nlent++;
        return PF_OK;
    }
    if (p->nlent >= TUNNEL_PIPES_MAX)
        return PF_EAGAIN;
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
        log_debug("tunnel pipe2 failed, copying instead: %s", strerror(errno));
        fds[0] = fds[1] = -1;
        return PF_EAGAIN;
    }
    /* pages are only taken while bytes are in the pipe; a refusal
     * (fs.pipe-max-size, pipe-user-pages-soft) leaves the 64 KiB default */
    if (fcntl(fds[0], F_SETPIPE_SZ, TUNNEL_PIPE_BYTES) < 0)
        log_debug("tunnel pipe F_SETPIPE_SZ %d failed, ignored: %s", TUNNEL_PIPE_BYTES, strerror(errno));
    p->nlent++;
    return PF_OK;
}

/* Takes pipe <fds> back; one that still holds bytes (<is_empty> 0) is closed. */
static void pool_put(struct tunnel_pool *p, int fds[2], int is_empty)
{
    p->nlent--;
    if (is_empty && p->nidle < TUNNEL_PIPES_IDLE) {
        p->idle[p->nidle][0] = fds[0];
        p->idle[p->nidle][1] = fds[1];
        p->nidle++;
    } else {
        close(fds[0]);
        close(fds[1]);
    }
    fds[0] = fds[1] = -1;
}

static int64_t loop_now_ms(struct event_base *base)
{
    struct timeval tv;
    event_base_gettimeofday_cached(base, &tv);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static int is_again(int e)
{
    return e == EAGAIN || e == EWOULDBLOCK || e == EINTR;
}

static size_t dir_pending(const struct tunnel_dir *td)
{
    return td->pipe_len + (td->buf_len - td->buf_off);
}

static void dir_free_buf(struct tunnel_dir *td)
{
    free(td->buf);
    td->buf = NULL;
    td->buf_off = td->buf_len = 0;
}

/* Writes what direction <s> holds to side !s: one attempt, what the socket
 * does not take stays held. Returns TUN_IO_OK or TUN_IO_ERR_DST. */
static enum tun_io dir_flush(struct tunnel *t, int s)
{
    struct tunnel_dir *td = &t->dir[s];
    int dst = t->fd[!s];
    if (td->buf != NULL) {
        ssize_t n = send(dst, td->buf + td->buf_off, td->buf_len - td->buf_off, MSG_NOSIGNAL);
        if (n < 0)
            return is_again(errno) ? TUN_IO_OK : TUN_IO_ERR_DST;
        td->buf_off += (size_t)n;
        if (n > 0)   /* a slow reader taking bytes keeps the tunnel alive */
            t->last_active_ms = loop_now_ms(t->base);
        if (td->buf_off < td->buf_len)
            return TUN_IO_OK;
        dir_free_buf(td);
    }
    if (td->pipe_len > 0) {
        ssize_t n = splice(td->pipe[0], NULL, dst, NULL, td->pipe_len,
                           SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n < 0)
            return is_again(errno) ? TUN_IO_OK : TUN_IO_ERR_DST;
        td->pipe_len -= PF_MIN_OF((size_t)n, td->pipe_len);
        if (n == 0)
            td->pipe_len = 0;   /* the pipe is empty whatever we counted: never spin */
        else
            t->last_active_ms = loop_now_ms(t->base);
    }
    if (td->pipe[0] >= 0 && td->pipe_len == 0)
        pool_put(t->pool, td->pipe, 1);   /* drained: back to the pool at once */
    return TUN_IO_OK;
}

/* recv() a chunk from side <s> into the scratch buffer and send() it to
 * side !s; a short write's remainder is copied to the heap. */
static enum tun_io dir_copy(struct tunnel *t, int s, size_t *nread)
{
    struct tunnel_dir *td = &t->dir[s];
    char *scratch = t->pool->scratch;
    ssize_t n = recv(t->fd[s], scratch, TUNNEL_CHUNK, 0);
    if (n == 0)
        return TUN_IO_EOF;
    if (n < 0)
        return is_again(errno) ? TUN_IO_AGAIN : TUN_IO_ERR_SRC;
    *nread = (size_t)n;
    ssize_t w = send(t->fd[!s], scratch, (size_t)n, MSG_NOSIGNAL);
    if (w < 0) {
        if (!is_again(errno))
            return TUN_IO_ERR_DST;
        w = 0;
    }
    if (w == n)
        return TUN_IO_OK;
    td->buf = malloc((size_t)(n - w));
    if (td->buf == NULL)
        return TUN_IO_NOMEM;
    memcpy(td->buf, scratch + w, (size_t)(n - w));
    td->buf_len = (size_t)(n - w);
    return TUN_IO_OK;
}

/* splice() a chunk from side <s> into a pooled pipe and on to side !s;
 * what dst does not take stays in the pipe. Copies when no pipe is free. */
static enum tun_io dir_splice(struct tunnel *t, int s, size_t *nread)
{
    struct tunnel_dir *td = &t->dir[s];
    struct tunnel_pool *pool = t->pool;
    if (pool_get(pool, td->pipe) != PF_OK)
        return dir_copy(t, s, nread);
    ssize_t n = splice(t->fd[s], NULL, td->pipe[1], NULL, TUNNEL_PIPE_BYTES,
                       SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n <= 0) {
        int e = errno;
        pool_put(pool, td->pipe, 1);
        if (n == 0)
            return TUN_IO_EOF;
        if (e == EINVAL || e == ENOSYS) {   /* not spliceable: copy from now on */
            t->is_splice_off = 1;
            return dir_copy(t, s, nread);
        }
        errno = e;
        return is_again(e) ? TUN_IO_AGAIN : TUN_IO_ERR_SRC;
    }
    td->pipe_len = (size_t)n;
    *nread = (size_t)n;
    return dir_flush(t, s);
}

/* Reads one chunk for direction <s> (src empty-handed: nothing held) and
 * writes it on; counts the bytes and stamps the activity time. */
static enum tun_io dir_move(struct tunnel *t, int s, size_t *nread)
{
    struct tunnel_dir *td = &t->dir[s];
    *nread = 0;
    enum tun_io rc = td->is_bulk && !t->is_splice_off ? dir_splice(t, s, nread)
                                                      : dir_copy(t, s, nread);
    if (*nread == 0)
        return rc;
    td->is_bulk = *nread >= TUNNEL_SPLICE_MIN;
    *t->nread[s][0] += *nread;
    *t->nread[s][1] += *nread;
    t->last_active_ms = loop_now_ms(t->base);
    return rc;
}

/* Adds or removes <ev> from the loop as <is_wanted> says; no syscall when
 * nothing changes. */
static void watch(struct tunnel *t, struct event *ev, int is_wanted)
{
    int is_on = event_pending(ev, EV_READ | EV_WRITE, NULL) != 0;
    if (is_wanted && !is_on) {
        if (event_add(ev, NULL) != 0)
            clog_debug(t, "tunnel event_add on fd %d failed, ignored (idle timer bounds it)",
                       (int)event_get_fd(ev));
    } else if (!is_wanted && is_on) {
        event_del(ev);
    }
}

/* Backpressure: a side is read only while its direction holds nothing for
 * the peer, and watched for writing only while it does. */
static void tunnel_watch(struct tunnel *t)
{
    for (int s = 0; s < 2; s++) {
        watch(t, &t->rd[s], !t->dir[s].is_eof && dir_pending(&t->dir[s]) == 0);
        watch(t, &t->wr[s], dir_pending(&t->dir[!s]) > 0);
    }
}

/* The relay is over: no event fires after, the owner hears it once. */
static void tunnel_finish(struct tunnel *t, enum tunnel_end end)
{
    tunnel_stop(t);
    t->is_done = 1;
    t->done(t->arg, end);
}

/* FIN to a side once its direction has written everything; closes when
 * both sides got one. The last FIN comes from close() itself: both sockets
 * have read EOF, so nothing unread can turn it into an RST, and the
 * shutdown() call is saved. */
static void tunnel_check_shutdown(struct tunnel *t)
{
    for (int s = 0; s < 2; s++) {
        struct tunnel_dir *td = &t->dir[s];
        if (td->is_eof && !td->is_shut && dir_pending(td) == 0) {
            td->is_shut = 1;
            if (!t->dir[!s].is_shut && shutdown(t->fd[!s], SHUT_WR) != 0)
                clog_debug(t, "tunnel shutdown of the %s side failed, ignored: %s",
                           s == TUN_UPSTREAM ? "client" : "upstream", strerror(errno));
        }
    }
    if (t->dir[TUN_CLIENT].is_shut && t->dir[TUN_UPSTREAM].is_shut)
        tunnel_finish(t, TUNNEL_END_DONE);
}

/* A socket error or RST on one side closes both. */
static void tunnel_fail(struct tunnel *t, int s, enum tun_io rc)
{
    int side = rc == TUN_IO_ERR_DST ? !s : s;
    if (rc == TUN_IO_NOMEM) {
        tunnel_finish(t, TUNNEL_END_NOMEM);
        return;
    }
    clog_debug(t, "tunnel %s socket error: %s", side == TUN_CLIENT ? "client" : "upstream",
               strerror(errno));
    tunnel_finish(t, side == TUN_CLIENT ? TUNNEL_END_CLIENT_ERROR : TUNNEL_END_UPSTREAM_ERROR);
}

/* Moves direction <s> along: first what it holds, then up to
 * TUNNEL_READS_MAX fresh chunks while dst keeps taking them. */
static void tunnel_pump(struct tunnel *t, int s)
{
    struct tunnel_dir *td = &t->dir[s];
    enum tun_io rc = dir_flush(t, s);
    for (int i = 0; rc == TUN_IO_OK && dir_pending(td) == 0 && !td->is_eof &&
                    i < TUNNEL_READS_MAX; i++) {
        size_t n = 0;
        rc = dir_move(t, s, &n);
        if (rc == TUN_IO_OK && n < TUNNEL_CHUNK)
            break;          /* a short read: the socket is most likely drained */
    }
    if (rc == TUN_IO_EOF)
        td->is_eof = 1;
    if (rc == TUN_IO_ERR_SRC || rc == TUN_IO_ERR_DST || rc == TUN_IO_NOMEM) {
        tunnel_fail(t, s, rc);
        return;
    }
    tunnel_watch(t);
    tunnel_check_shutdown(t);
}

static void tunnel_read_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct tunnel *t = arg;
    if (!t->is_done)
        tunnel_pump(t, fd == t->fd[TUN_CLIENT] ? TUN_CLIENT : TUN_UPSTREAM);
}

static void tunnel_write_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct tunnel *t = arg;
    if (!t->is_done)   /* the direction that writes to <fd> */
        tunnel_pump(t, fd == t->fd[TUN_CLIENT] ? TUN_UPSTREAM : TUN_CLIENT);
}

/* Starts a new relay: writes what the handoff left in each direction (the
 * 200 or SOCKS5 reply first) and watches the sockets. No read is tried:
 * epoll says when there is something, which saves a recv() that would
 * mostly find nothing. */
static void tunnel_kick(struct tunnel *t)
{
    for (int s = TUN_UPSTREAM; s >= TUN_CLIENT; s--) {
        enum tun_io rc = dir_flush(t, s);
        if (rc != TUN_IO_OK) {
            tunnel_fail(t, s, rc);
            return;
        }
    }
    tunnel_watch(t);
}

struct tunnel *tunnel_create(const struct tunnel_args *a)
{
    struct tunnel *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        for (int s = 0; s < 2; s++) {
            close(a->fd[s]);
            free(a->pending[s]);
        }
        return NULL;
    }
    t->id = a->id;
    t->peer = a->peer;
    t->base = a->base;
    t->pool = a->pool;
    t->done = a->done;
    t->arg = a->arg;
    for (int s = 0; s < 2; s++) {
        t->fd[s] = a->fd[s];
        t->dir[s].pipe[0] = t->dir[s].pipe[1] = -1;
        t->dir[s].buf = a->pending[s];
        t->dir[s].buf_len = a->pending[s] != NULL ? a->pending_len[s] : 0;
        t->nread[s][0] = a->nread[s][0];
        t->nread[s][1] = a->nread[s][1];
        event_assign(&t->rd[s], t->base, t->fd[s], EV_READ | EV_PERSIST, tunnel_read_cb, t);
        event_assign(&t->wr[s], t->base, t->fd[s], EV_WRITE | EV_PERSIST, tunnel_write_cb, t);
    }
    t->last_active_ms = loop_now_ms(t->base);
    tunnel_kick(t);
    return t;
}

int64_t tunnel_idle_ms(const struct tunnel *t)
{
    return loop_now_ms(t->base) - t->last_active_ms;
}

void tunnel_stop(struct tunnel *t)
{
    if (t == NULL)
        return;
    for (int s = 0; s < 2; s++) {
        event_del(&t->rd[s]);
        event_del(&t->wr[s]);
    }
}

void tunnel_destroy(struct tunnel *t)
{
    if (t == NULL)
        return;
    for (int s = 0; s < 2; s++) {
        struct tunnel_dir *td = &t->dir[s];
        if (td->pipe[0] >= 0)
            pool_put(t->pool, td->pipe, td->pipe_len == 0);
        dir_free_buf(td);
        if (t->fd[s] >= 0)
            close(t->fd[s]);
    }
    free(t);
}
