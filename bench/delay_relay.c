/*
 * delay_relay: a TCP relay that puts a fixed one-way delay on every byte in
 * both directions, so a peer on loopback looks one RTT of 2 * <delay> away
 * (tc netem does not work on the benchmark machine).
 *
 *   delay_relay -l LISTEN_PORT -t TARGET_IP:PORT -d ONE_WAY_MS [-H 0|1]
 *               [-m MAX_CONNS] [-T MAX_SECONDS]
 *
 * Listens on 127.0.0.1:LISTEN_PORT; each accepted connection gets its own
 * connection to the target. Every chunk read on one side is written to the
 * other side <delay> later, in order; a FIN is passed on (shutdown(SHUT_WR))
 * <delay> after it was read, a reset as a reset (SO_LINGER 0), so half-close
 * and aborts keep their order with the data.
 *
 * The TCP handshake: the kernel accepts at once on loopback, so the client's
 * connect() returns at once where over a real path it would take one RTT.
 * With -H 1 (the default) bytes the client sends before accept + RTT are held
 * until then (+ the one-way delay), which is what a client that sends right
 * after connect() would see: its first byte reaches the target at
 * connect + 1.5 RTT. Only the connect() call itself returns early. A
 * connection made long before it is used (a pool, a preconnect) pays nothing,
 * as over a real path.
 *
 * Bounded: at most MAX_CONNS pairs (the listener pauses beyond), at most
 * 1 MiB queued per direction (the reading side pauses beyond), exit after
 * MAX_SECONDS (default 3600) or on SIGTERM/SIGINT. SIGUSR1 prints one line of
 * counters to stderr: "accepted=N active=N bytes_up=N bytes_down=N".
 * IPv4 only, no dependencies; poll() based (a benchmark has few connections).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHUNK_MAX   (64 * 1024)
#define QUEUE_MAX   (1024 * 1024)

enum chunk_kind { CHUNK_DATA, CHUNK_EOF, CHUNK_RST };

struct chunk {
    struct chunk   *next;
    uint64_t        due_us;     /* when it may be written to the other side */
    enum chunk_kind kind;
    size_t          len;
    size_t          off;        /* bytes of data already written */
    unsigned char   data[];
};

/* One direction: bytes read from fd[from] and written to fd[1 - from]. */
struct dir {
    struct chunk *head;         /* owned */
    struct chunk *tail;
    size_t        queued;       /* data bytes in the queue */
    bool          read_done;    /* EOF or error read on the source */
    bool          blocked;      /* the sink said EAGAIN: wait for POLLOUT */
    bool          done;         /* the EOF was delivered */
};

/* Side 0 is the client (accepted), side 1 the target (dialed). */
struct pair {
    struct pair *next;
    int          fd[2];
    struct dir   d[2];          /* d[s]: read from fd[s] */
    uint64_t     open_us;
    bool         connecting;    /* fd[1]'s connect still in progress */
    bool         dead;          /* reaped at the loop's end */
    int          pfd[2];        /* index in the poll array, -1 if none */
};

static volatile sig_atomic_t g_stop;
static volatile sig_atomic_t g_dump;

static void on_signal(int sig)
{
    if (sig == SIGUSR1)
        g_dump = 1;
    else
        g_stop = 1;
}

static uint64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void usage(void)
{
    fprintf(stderr, "usage: delay_relay -l LISTEN_PORT -t TARGET_IP:PORT -d ONE_WAY_MS "
                    "[-H 0|1] [-m MAX_CONNS] [-T MAX_SECONDS]\n");
    exit(2);
}

static long parse_num(const char *s, long lo, long hi, const char *what)
{
    char *end;
    long  v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *s == '\0' || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "delay_relay: %s must be in %ld..%ld\n", what, lo, hi);
        exit(2);
    }
    return v;
}

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);

    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void set_nodelay(int fd)
{
    int one = 1;

    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void queue_push(struct dir *d, struct chunk *ch)
{
    ch->next = NULL;
    if (d->tail != NULL)
        d->tail->next = ch;
    else
        d->head = ch;
    d->tail = ch;
    if (ch->kind == CHUNK_DATA)
        d->queued += ch->len;
}

static void queue_pop(struct dir *d)
{
    struct chunk *ch = d->head;

    d->head = ch->next;
    if (d->head == NULL)
        d->tail = NULL;
    if (ch->kind == CHUNK_DATA)
        d->queued -= ch->len;
    free(ch);
}

static void pair_free(struct pair *p)
{
    for (int s = 0; s < 2; s++) {
        while (p->d[s].head != NULL)
            queue_pop(&p->d[s]);
        if (p->fd[s] >= 0)
            close(p->fd[s]);
    }
    free(p);
}

/* Ends a pair abortively: both sockets reset, everything queued dropped. */
static void pair_abort(struct pair *p)
{
    struct linger lg = { .l_onoff = 1, .l_linger = 0 };

    for (int s = 0; s < 2; s++)
        if (p->fd[s] >= 0)
            (void)setsockopt(p->fd[s], SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    p->dead = true;
}

struct relay {
    int                lfd;
    struct sockaddr_in target;
    uint64_t           delay_us;
    bool               handshake;
    long               max_conns;
    long               nconns;
    struct pair       *pairs;
    unsigned long long accepted, bytes[2];
};

/* Reads what fd[s] has into a chunk due <delay> later (see -H above). */
static void pair_read(struct relay *r, struct pair *p, int s, uint64_t now)
{
    struct dir   *d = &p->d[s];
    struct chunk *ch;
    uint64_t      base = now;
    ssize_t       n;

    if (d->read_done)
        return;
    if (s == 0 && r->handshake && base < p->open_us + 2 * r->delay_us)
        base = p->open_us + 2 * r->delay_us;
    ch = malloc(sizeof *ch + CHUNK_MAX);
    if (ch == NULL) {
        pair_abort(p);
        return;
    }
    n = recv(p->fd[s], ch->data, CHUNK_MAX, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        free(ch);
        return;
    }
    ch->due_us = base + r->delay_us;
    ch->off = 0;
    ch->len = n > 0 ? (size_t)n : 0;
    ch->kind = n > 0 ? CHUNK_DATA : (n == 0 ? CHUNK_EOF : CHUNK_RST);
    if (n > 0) {
        struct chunk *shrunk = realloc(ch, sizeof *ch + (size_t)n);

        if (shrunk != NULL)
            ch = shrunk;
        r->bytes[s] += (unsigned long long)n;
    } else {
        d->read_done = true;
    }
    queue_push(d, ch);
}

/* Writes the due head chunks of d[s] to fd[1 - s]. */
static void pair_deliver(struct pair *p, int s, uint64_t now)
{
    struct dir *d = &p->d[s];
    int         to = p->fd[1 - s];

    if (s == 0 && p->connecting)
        return;
    while (!p->dead && d->head != NULL && d->head->due_us <= now) {
        struct chunk *ch = d->head;

        if (ch->kind == CHUNK_EOF) {
            (void)shutdown(to, SHUT_WR);
            d->done = true;
            queue_pop(d);
            continue;
        }
        if (ch->kind == CHUNK_RST) {
            pair_abort(p);
            return;
        }
        ssize_t n = send(to, ch->data + ch->off, ch->len - ch->off, MSG_NOSIGNAL);

        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                d->blocked = true;
                return;
            }
            if (errno == EINTR)
                continue;
            pair_abort(p);
            return;
        }
        ch->off += (size_t)n;
        if (ch->off < ch->len) {
            d->blocked = true;
            return;
        }
        queue_pop(d);
    }
    d->blocked = false;
    if (p->d[0].done && p->d[1].done)
        p->dead = true;
}

static void relay_accept(struct relay *r, uint64_t now)
{
    for (;;) {
        int          cfd, ufd;
        struct pair *p;

        if (r->nconns >= r->max_conns)
            return;
        cfd = accept4(r->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
                errno != ECONNABORTED)
                fprintf(stderr, "delay_relay: accept: %s (ignored)\n", strerror(errno));
            return;
        }
        ufd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        p = calloc(1, sizeof *p);
        if (ufd < 0 || p == NULL) {
            fprintf(stderr, "delay_relay: out of sockets or memory, connection dropped\n");
            close(cfd);
            if (ufd >= 0)
                close(ufd);
            free(p);
            return;
        }
        set_nodelay(cfd);
        set_nodelay(ufd);
        p->fd[0] = cfd;
        p->fd[1] = ufd;
        p->open_us = now;
        if (connect(ufd, (struct sockaddr *)&r->target, sizeof r->target) < 0) {
            if (errno == EINPROGRESS) {
                p->connecting = true;
            } else {
                fprintf(stderr, "delay_relay: connect to target: %s\n", strerror(errno));
                pair_abort(p);
            }
        }
        p->next = r->pairs;
        r->pairs = p;
        r->nconns++;
        r->accepted++;
    }
}

static void relay_dump(const struct relay *r)
{
    fprintf(stderr, "accepted=%llu active=%ld bytes_up=%llu bytes_down=%llu\n",
            r->accepted, r->nconns, r->bytes[0], r->bytes[1]);
    fflush(stderr);
}

static void relay_run(struct relay *r, uint64_t deadline_us)
{
    struct pollfd *pfds = NULL;
    size_t         cap = 0;

    while (!g_stop && now_us() < deadline_us) {
        uint64_t now = now_us(), next = deadline_us;
        size_t   n = 0;

        if (g_dump) {
            g_dump = 0;
            relay_dump(r);
        }
        if (cap < 1 + 2 * (size_t)r->nconns) {
            cap = 2 * (1 + 2 * (size_t)r->nconns);
            free(pfds);
            pfds = malloc(cap * sizeof *pfds);
            if (pfds == NULL) {
                fprintf(stderr, "delay_relay: out of memory\n");
                return;
            }
        }
        pfds[n++] = (struct pollfd){ .fd = r->nconns < r->max_conns ? r->lfd : -1,
                                     .events = POLLIN };
        for (struct pair *p = r->pairs; p != NULL; p = p->next) {
            for (int s = 0; s < 2; s++) {
                struct dir *in = &p->d[s], *out = &p->d[1 - s];
                short       ev = 0;

                /* read fd[s] while its queue has room; write it when the
                 * other direction has a due chunk it could not take */
                if (!in->read_done && in->queued < QUEUE_MAX && !(s == 1 && p->connecting))
                    ev |= POLLIN;
                if ((s == 1 && p->connecting) || out->blocked)
                    ev |= POLLOUT;
                else if (out->head != NULL && out->head->due_us < next)
                    next = out->head->due_us;
                p->pfd[s] = -1;
                if (ev != 0) {
                    p->pfd[s] = (int)n;
                    pfds[n++] = (struct pollfd){ .fd = p->fd[s], .events = ev };
                }
            }
        }
        uint64_t        wait_us = next > now ? next - now : 0;
        struct timespec ts = { .tv_sec = (time_t)(wait_us / 1000000u),
                               .tv_nsec = (long)(wait_us % 1000000u) * 1000 };
        sigset_t        none;

        sigemptyset(&none);
        if (ppoll(pfds, n, &ts, &none) < 0 && errno != EINTR) {
            fprintf(stderr, "delay_relay: poll: %s\n", strerror(errno));
            break;
        }
        now = now_us();
        if (pfds[0].revents & POLLIN)
            relay_accept(r, now);
        for (struct pair *p = r->pairs; p != NULL; p = p->next) {
            for (int s = 0; s < 2 && !p->dead; s++) {
                short re = p->pfd[s] >= 0 ? pfds[p->pfd[s]].revents : 0;

                if (s == 1 && p->connecting && re != 0) {
                    int       err = 0;
                    socklen_t len = sizeof err;

                    (void)getsockopt(p->fd[1], SOL_SOCKET, SO_ERROR, &err, &len);
                    if (err != 0) {
                        pair_abort(p);
                        break;
                    }
                    p->connecting = false;
                    re &= (short)~POLLOUT;
                }
                if (re & (POLLIN | POLLHUP | POLLERR))
                    pair_read(r, p, s, now);
                if (re & (POLLOUT | POLLERR | POLLHUP))
                    p->d[1 - s].blocked = false;   /* the send says what happened */
            }
            for (int s = 0; s < 2; s++)
                if (!p->d[s].blocked)
                    pair_deliver(p, s, now);
        }
        for (struct pair **pp = &r->pairs; *pp != NULL;) {
            struct pair *p = *pp;

            if (!p->dead) {
                pp = &p->next;
                continue;
            }
            *pp = p->next;
            pair_free(p);
            r->nconns--;
        }
    }
    free(pfds);
}

int main(int argc, char **argv)
{
    struct relay     r = { .lfd = -1, .handshake = true, .max_conns = 4096 };
    long             port = -1, delay_ms = -1, max_s = 3600;
    const char      *target = NULL;
    struct sigaction sa;
    int              opt, one = 1;

    while ((opt = getopt(argc, argv, "l:t:d:H:m:T:")) != -1) {
        switch (opt) {
        case 'l': port = parse_num(optarg, 1, 65535, "-l"); break;
        case 't': target = optarg; break;
        case 'd': delay_ms = parse_num(optarg, 0, 10000, "-d"); break;
        case 'H': r.handshake = parse_num(optarg, 0, 1, "-H") == 1; break;
        case 'm': r.max_conns = parse_num(optarg, 1, 100000, "-m"); break;
        case 'T': max_s = parse_num(optarg, 1, 86400, "-T"); break;
        default: usage();
        }
    }
    if (port < 0 || delay_ms < 0 || target == NULL || optind != argc)
        usage();
    {
        char        host[64];
        const char *colon = strrchr(target, ':');

        if (colon == NULL || (size_t)(colon - target) >= sizeof host)
            usage();
        memcpy(host, target, (size_t)(colon - target));
        host[colon - target] = '\0';
        r.target.sin_family = AF_INET;
        r.target.sin_port = htons((uint16_t)parse_num(colon + 1, 1, 65535, "target port"));
        if (inet_pton(AF_INET, host, &r.target.sin_addr) != 1) {
            fprintf(stderr, "delay_relay: target must be an IPv4 literal and a port\n");
            return 2;
        }
    }
    r.delay_us = (uint64_t)delay_ms * 1000u;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    {
        sigset_t block;

        /* signals arrive only inside ppoll(), so none is lost between the
         * flag check and the wait */
        sigemptyset(&block);
        sigaddset(&block, SIGTERM);
        sigaddset(&block, SIGINT);
        sigaddset(&block, SIGUSR1);
        sigprocmask(SIG_BLOCK, &block, NULL);
    }

    r.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in la = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };

    la.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (r.lfd < 0 || setsockopt(r.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(r.lfd, (struct sockaddr *)&la, sizeof la) < 0 || listen(r.lfd, 1024) < 0 ||
        set_nonblock(r.lfd) < 0) {
        fprintf(stderr, "delay_relay: listen on 127.0.0.1:%ld: %s\n", port, strerror(errno));
        return 1;
    }
    fprintf(stderr, "delay_relay: 127.0.0.1:%ld -> %s, one-way delay %ld ms, handshake %s\n",
            port, target, delay_ms, r.handshake ? "on" : "off");
    relay_run(&r, now_us() + (uint64_t)max_s * 1000000u);
    relay_dump(&r);
    while (r.pairs != NULL) {
        struct pair *p = r.pairs;

        r.pairs = p->next;
        pair_free(p);
    }
    close(r.lfd);
    return 0;
}
