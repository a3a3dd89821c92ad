/* Vendored from /work/shared/bench/connload.c (shared proxy benchmark harness,
 * 2026-11-21) so that proxyfleet's bench/ is self-contained; unchanged. */
/*
 * connload: tiny epoll load generator for CONNECT tunnels through an HTTP proxy.
 *
 *   connload -p PROXYHOST:PORT -t TARGETHOST:PORT [-m tunnel|setup] [-c CONNS]
 *            [-d SECONDS] [-w WARMUP_SECONDS] [-u PATH] [-a USER:PASS] [-D]
 *
 * tunnel : CONNS tunnels, each sending keep-alive "GET PATH" back to back;
 *          latency = one request/response inside an established tunnel.
 * setup  : each of CONNS workers loops connect + CONNECT + one GET + close;
 *          latency = the whole cycle, rate = tunnels/s.
 * -D     : skip the proxy (connect straight to the target) to calibrate.
 *
 * Output (one line):
 *   mode=tunnel conns=64 secs=8.00 reqs=N rps=R p50_ms=X p99_ms=Y errors=E MBps=M
 * The run is bounded: it stops after WARMUP+SECONDS no matter what the proxy does.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { ST_CONNECTING, ST_CONNRESP, ST_REQ, ST_RESP };

#define HBUF 8192
#define HIST_US 10            /* histogram resolution: 10 us */
#define HIST_N 1000000        /* covers 0..10 s */

struct conn {
    int fd, st;
    char hdr[HBUF];
    size_t hlen;
    long long body_left;      /* -1: still reading headers */
    double t_start;           /* latency start */
    size_t woff;              /* bytes of current request written */
    const char *wbuf; size_t wlen;
};

static uint32_t *hist;
static long long nreq, nerr, nbytes, nover;
static int counting;
static struct sockaddr_in dst;
static char connect_req[1024], get_req[1024];
static size_t connect_len, get_len;
static int mode_setup, direct;
static int epfd;

static double now(void) {
    struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void parse_hp(const char *s, struct sockaddr_in *a, char *host, size_t hl, int *port) {
    const char *c = strrchr(s, ':');
    if (!c) { fprintf(stderr, "bad HOST:PORT %s\n", s); exit(2); }
    size_t n = (size_t)(c - s); if (n >= hl) n = hl - 1;
    memcpy(host, s, n); host[n] = 0; *port = atoi(c + 1);
    struct addrinfo hints = {0}, *res; hints.ai_family = AF_INET; hints.ai_socktype = SOCK_STREAM;
    if (a) {
        if (getaddrinfo(host, NULL, &hints, &res) != 0) { fprintf(stderr, "resolve %s failed\n", host); exit(2); }
        *a = *(struct sockaddr_in *)res->ai_addr; a->sin_port = htons(*port); freeaddrinfo(res);
    }
}

static void b64(const char *in, char *out) {
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(in), i, o = 0;
    for (i = 0; i + 2 < n; i += 3) {
        uint32_t v = ((unsigned char)in[i] << 16) | ((unsigned char)in[i+1] << 8) | (unsigned char)in[i+2];
        out[o++] = t[v >> 18]; out[o++] = t[(v >> 12) & 63]; out[o++] = t[(v >> 6) & 63]; out[o++] = t[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (unsigned char)in[i] << 16;
        out[o++] = t[v >> 18]; out[o++] = t[(v >> 12) & 63]; out[o++] = '='; out[o++] = '=';
    } else if (n - i == 2) {
        uint32_t v = ((unsigned char)in[i] << 16) | ((unsigned char)in[i+1] << 8);
        out[o++] = t[v >> 18]; out[o++] = t[(v >> 12) & 63]; out[o++] = t[(v >> 6) & 63]; out[o++] = '=';
    }
    out[o] = 0;
}

static void record(double lat) {
    if (!counting) return;
    long long b = (long long)(lat * 1e6 / HIST_US);
    if (b >= HIST_N) { b = HIST_N - 1; nover++; }
    hist[b]++; nreq++;
}

static void set_ev(struct conn *c, uint32_t ev) {
    struct epoll_event e = { .events = ev, .data.ptr = c };
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &e);
}

static void start_write(struct conn *c, const char *b, size_t n) { c->wbuf = b; c->wlen = n; c->woff = 0; }

static void conn_open(struct conn *c) {
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) { perror("socket"); exit(1); }
    int one = 1; setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->hlen = 0; c->body_left = -1; c->t_start = now();
    c->st = ST_CONNECTING;
    int r = connect(c->fd, (struct sockaddr *)&dst, sizeof dst);
    if (r < 0 && errno != EINPROGRESS) { /* handled on first event */ }
    struct epoll_event e = { .events = EPOLLOUT, .data.ptr = c };
    epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &e);
}

static void conn_reset(struct conn *c, int err) {
    if (err && counting) nerr++;
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    conn_open(c);
}

static void begin_request(struct conn *c) {
    c->st = ST_REQ; c->hlen = 0; c->body_left = -1;
    if (!mode_setup) c->t_start = now();
    start_write(c, get_req, get_len);
    set_ev(c, EPOLLOUT);
}

/* returns: 0 need more, 1 done, -1 error. Parses headers in c->hdr */
static int parse_headers(struct conn *c, long long *clen, int *status, size_t *hend) {
    c->hdr[c->hlen] = 0;
    char *e = strstr(c->hdr, "\r\n\r\n");
    if (!e) return c->hlen >= HBUF - 1 ? -1 : 0;
    *hend = (size_t)(e - c->hdr) + 4;
    if (strncmp(c->hdr, "HTTP/1.", 7) != 0) return -1;
    *status = atoi(c->hdr + 9);
    *clen = -1;
    for (char *p = c->hdr; p < e; ) {
        char *nl = strstr(p, "\r\n"); if (!nl) break;
        if (strncasecmp(p, "Content-Length:", 15) == 0) *clen = atoll(p + 15);
        p = nl + 2;
    }
    return 1;
}

static void on_readable(struct conn *c) {
    static char buf[65536];
    for (;;) {
        ssize_t n;
        if (c->body_left < 0) {
            n = read(c->fd, c->hdr + c->hlen, HBUF - 1 - c->hlen);
        } else {
            size_t want = c->body_left < (long long)sizeof buf ? (size_t)c->body_left : sizeof buf;
            if (want == 0) want = 1;
            n = read(c->fd, buf, want);
        }
        if (n == 0) { conn_reset(c, 1); return; }
        if (n < 0) { if (errno == EAGAIN) return; conn_reset(c, 1); return; }
        if (c->body_left < 0) {
            c->hlen += (size_t)n;
            long long clen; int status; size_t hend;
            int r = parse_headers(c, &clen, &status, &hend);
            if (r == 0) continue;
            if (r < 0) { conn_reset(c, 1); return; }
            size_t extra = c->hlen - hend;
            if (c->st == ST_CONNRESP) {
                if (status != 200 || extra) { conn_reset(c, 1); return; }
                begin_request(c); return;
            }
            if (status != 200 || clen < 0) { conn_reset(c, 1); return; }
            if (counting) nbytes += (long long)extra;
            c->body_left = clen - (long long)extra;
            if (c->body_left < 0) { conn_reset(c, 1); return; }
        } else {
            c->body_left -= n;
            if (counting) nbytes += n;
        }
        if (c->body_left == 0) {
            record(now() - c->t_start);
            if (mode_setup) conn_reset(c, 0);
            else begin_request(c);
            return;
        }
    }
}

static void on_writable(struct conn *c) {
    if (c->st == ST_CONNECTING) {
        int err = 0; socklen_t l = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
        if (err) { conn_reset(c, 1); return; }
        if (direct) { begin_request(c); }
        else { c->st = ST_CONNRESP; start_write(c, connect_req, connect_len); }
    }
    while (c->woff < c->wlen) {
        ssize_t n = write(c->fd, c->wbuf + c->woff, c->wlen - c->woff);
        if (n < 0) { if (errno == EAGAIN) return; conn_reset(c, 1); return; }
        c->woff += (size_t)n;
    }
    if (c->st == ST_REQ) c->st = ST_RESP;
    c->hlen = 0; c->body_left = -1;
    set_ev(c, EPOLLIN);
}

int main(int argc, char **argv) {
    const char *proxy = NULL, *target = "127.0.0.1:18080", *path = "/small", *auth = NULL, *mode = "tunnel";
    int conns = 64; double secs = 8, warm = 1;
    int o;
    while ((o = getopt(argc, argv, "p:t:m:c:d:w:u:a:D")) != -1) switch (o) {
        case 'p': proxy = optarg; break;
        case 't': target = optarg; break;
        case 'm': mode = optarg; break;
        case 'c': conns = atoi(optarg); break;
        case 'd': secs = atof(optarg); break;
        case 'w': warm = atof(optarg); break;
        case 'u': path = optarg; break;
        case 'a': auth = optarg; break;
        case 'D': direct = 1; break;
        default:
            fprintf(stderr, "usage: %s -p PROXY:PORT [-t TARGET:PORT] [-m tunnel|setup] [-c N] [-d S] [-w S] [-u PATH] [-a USER:PASS] [-D]\n", argv[0]);
            return 2;
    }
    if (!proxy && !direct) { fprintf(stderr, "need -p PROXY:PORT (or -D)\n"); return 2; }
    mode_setup = strcmp(mode, "setup") == 0;
    if (!mode_setup && strcmp(mode, "tunnel") != 0) { fprintf(stderr, "bad mode\n"); return 2; }

    char thost[256]; int tport;
    char phost[256]; int pport;
    parse_hp(target, direct ? &dst : NULL, thost, sizeof thost, &tport);
    if (!direct) parse_hp(proxy, &dst, phost, sizeof phost, &pport);

    char authhdr[600] = "";
    if (auth) { char enc[512]; if (strlen(auth) > 300) return 2; b64(auth, enc);
        snprintf(authhdr, sizeof authhdr, "Proxy-Authorization: Basic %s\r\n", enc); }
    connect_len = (size_t)snprintf(connect_req, sizeof connect_req,
        "CONNECT %s:%d HTTP/1.1\r\nHost: %s:%d\r\n%s\r\n", thost, tport, thost, tport, authhdr);
    get_len = (size_t)snprintf(get_req, sizeof get_req,
        "GET %s HTTP/1.1\r\nHost: %s:%d\r\n%s\r\n", path, thost, tport,
        mode_setup ? "Connection: close\r\n" : "");

    hist = calloc(HIST_N, sizeof *hist);
    epfd = epoll_create1(EPOLL_CLOEXEC);
    struct conn *cs = calloc((size_t)conns, sizeof *cs);
    double t0 = now(), tcount = t0 + warm, tend = tcount + secs;
    if (warm <= 0) counting = 1;
    for (int i = 0; i < conns; i++) conn_open(&cs[i]);

    struct epoll_event evs[256];
    for (;;) {
        double t = now();
        if (!counting && t >= tcount) counting = 1;
        if (t >= tend) break;
        int n = epoll_wait(epfd, evs, 256, 50);
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            uint32_t e = evs[i].events;
            if (e & EPOLLOUT) on_writable(c);
            else if (e & (EPOLLIN | EPOLLERR | EPOLLHUP)) on_readable(c);
        }
    }
    double el = now() - (warm > 0 ? tcount : t0);
    long long p50 = -1, p99 = -1, acc = 0;
    for (long long i = 0; i < HIST_N; i++) {
        acc += hist[i];
        if (p50 < 0 && acc * 100 >= nreq * 50) p50 = i;
        if (p99 < 0 && acc * 100 >= nreq * 99) { p99 = i; break; }
    }
    double p50ms = nreq ? (p50 + 0.5) * HIST_US / 1000.0 : 0, p99ms = nreq ? (p99 + 0.5) * HIST_US / 1000.0 : 0;
    printf("mode=%s conns=%d secs=%.2f reqs=%lld rps=%.0f p50_ms=%.3f p99_ms=%.3f errors=%lld MBps=%.1f\n",
           mode, conns, el, nreq, nreq / el, p50ms, p99ms, nerr, nbytes / el / 1048576.0);
    for (int i = 0; i < conns; i++) close(cs[i].fd);
    return 0;
}
