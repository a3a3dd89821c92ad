/*
 * idle_tunnels: open N CONNECT tunnels through an HTTP proxy and hold them
 * idle, then report the proxy's resident memory per tunnel.
 *
 *   idle_tunnels -p PROXYHOST:PORT -P PROXY_PID [-n 10000] [-c 256] [-H 3] [-T 60]
 *
 * The tunnels end at a sink listener in a forked child (127.0.0.1, ephemeral
 * port) that accepts and holds connections without reading, so the origin's
 * limits (nginx worker_connections, keep-alive timeout) do not interfere.
 * -c bounds the handshakes in flight; -T bounds the whole opening phase;
 * -H is how long the tunnels are held once open (RSS read at start and end).
 *
 * Output (one line):
 *   idle_tunnels n=N open=K failed=F rss_before_kib=A rss_open_kib=B rss_held_kib=C
 *                kib_per_tunnel=X rss_after_close_kib=D open_secs=S
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { T_CONNECTING, T_WAITING, T_OPEN, T_FAILED };

struct tun {
    int  fd;
    int  st;
    char buf[256];
    int  len;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long rss_kib(int pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    long v = -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "VmRSS: %ld", &v) == 1)
            break;
    fclose(f);
    return v;
}

static int parse_hp(const char *s, struct sockaddr_in *sa)
{
    char host[64];
    const char *colon = strrchr(s, ':');
    if (colon == NULL || (size_t)(colon - s) >= sizeof(host))
        return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)atoi(colon + 1));
    return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

/* child: accept and hold until killed */
static void sink_loop(int lfd)
{
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0 && (errno == EMFILE || errno == ENFILE)) {
            fprintf(stderr, "sink: out of fds\n");
            sleep(1);
        }
    }
}

int main(int argc, char **argv)
{
    const char *proxy = NULL;
    int pid = 0, n = 10000, inflight_max = 256, hold = 3, tmax = 60;
    for (int o; (o = getopt(argc, argv, "p:P:n:c:H:T:")) != -1;) {
        switch (o) {
        case 'p': proxy = optarg; break;
        case 'P': pid = atoi(optarg); break;
        case 'n': n = atoi(optarg); break;
        case 'c': inflight_max = atoi(optarg); break;
        case 'H': hold = atoi(optarg); break;
        case 'T': tmax = atoi(optarg); break;
        default:
            fprintf(stderr, "usage: %s -p HOST:PORT -P PID [-n N] [-c INFLIGHT] [-H HOLD_S] [-T MAX_S]\n", argv[0]);
            return 2;
        }
    }
    struct sockaddr_in psa;
    if (proxy == NULL || pid <= 0 || n <= 0 || parse_hp(proxy, &psa) != 0) {
        fprintf(stderr, "need -p IPv4:PORT and -P PID\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);

    /* sink listener, held by a child */
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in ssa = { .sin_family = AF_INET, .sin_port = 0 };
    ssa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof(ssa);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&ssa, sizeof(ssa)) != 0 || listen(lfd, 4096) != 0 ||
        getsockname(lfd, (struct sockaddr *)&ssa, &sl) != 0) {
        perror("sink listen");
        return 1;
    }
    pid_t child = fork();
    if (child < 0) {
        perror("fork");
        return 1;
    }
    if (child == 0) {
        sink_loop(lfd);
        _exit(0);
    }
    close(lfd);
    char req[160];
    int reqlen = snprintf(req, sizeof(req), "CONNECT 127.0.0.1:%u HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n\r\n",
                          ntohs(ssa.sin_port), ntohs(ssa.sin_port));

    struct tun *t = calloc((size_t)n, sizeof(*t));
    int ep = epoll_create1(0);
    if (t == NULL || ep < 0) {
        perror("setup");
        kill(child, SIGTERM);
        return 1;
    }
    usleep(200000);
    long rss0 = rss_kib(pid);
    double t0 = now_s();
    int next = 0, inflight = 0, nopen = 0, nfail = 0;
    struct epoll_event evs[256];
    while ((next < n || inflight > 0) && now_s() - t0 < tmax) {
        while (next < n && inflight < inflight_max) {
            struct tun *x = &t[next];
            x->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
            if (x->fd < 0) {
                fprintf(stderr, "socket #%d: %s\n", next, strerror(errno));
                x->st = T_FAILED;
                nfail++;
                next++;
                continue;
            }
            if (connect(x->fd, (struct sockaddr *)&psa, sizeof(psa)) != 0 && errno != EINPROGRESS) {
                x->st = T_FAILED;
                nfail++;
                close(x->fd);
                next++;
                continue;
            }
            x->st = T_CONNECTING;
            struct epoll_event ev = { .events = EPOLLOUT | EPOLLIN, .data.u32 = (uint32_t)next };
            epoll_ctl(ep, EPOLL_CTL_ADD, x->fd, &ev);
            inflight++;
            next++;
        }
        int k = epoll_wait(ep, evs, 256, 100);
        for (int i = 0; i < k; i++) {
            struct tun *x = &t[evs[i].data.u32];
            if (x->st == T_CONNECTING && (evs[i].events & EPOLLOUT)) {
                int err = 0;
                socklen_t el = sizeof(err);
                getsockopt(x->fd, SOL_SOCKET, SO_ERROR, &err, &el);
                if (err != 0 || write(x->fd, req, (size_t)reqlen) != reqlen) {
                    x->st = T_FAILED;
                } else {
                    x->st = T_WAITING;
                    struct epoll_event ev = { .events = EPOLLIN, .data.u32 = evs[i].data.u32 };
                    epoll_ctl(ep, EPOLL_CTL_MOD, x->fd, &ev);
                    continue;
                }
            } else if (x->st == T_WAITING && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
                ssize_t r = read(x->fd, x->buf + x->len, sizeof(x->buf) - 1 - (size_t)x->len);
                if (r > 0) {
                    x->len += (int)r;
                    x->buf[x->len] = '\0';
                    if (strstr(x->buf, "\r\n\r\n") == NULL && x->len < (int)sizeof(x->buf) - 1)
                        continue;
                    x->st = strncmp(x->buf, "HTTP/1.1 200", 12) == 0 || strncmp(x->buf, "HTTP/1.0 200", 12) == 0
                            ? T_OPEN : T_FAILED;
                } else if (r < 0 && errno == EAGAIN) {
                    continue;
                } else {
                    x->st = T_FAILED;
                }
            } else {
                continue;
            }
            epoll_ctl(ep, EPOLL_CTL_DEL, x->fd, NULL);
            inflight--;
            if (x->st == T_OPEN) {
                nopen++;
            } else {
                nfail++;
                if (nfail <= 3)
                    fprintf(stderr, "tunnel failed: %.60s\n", x->buf[0] ? x->buf : "(connect/write error)");
                close(x->fd);
                x->fd = -1;
            }
        }
    }
    double open_secs = now_s() - t0;
    sleep(1);
    long rss1 = rss_kib(pid);
    sleep((unsigned)hold);
    long rss2 = rss_kib(pid);
    for (int i = 0; i < n; i++)
        if (t[i].st == T_OPEN || t[i].st == T_WAITING || t[i].st == T_CONNECTING)
            if (t[i].fd > 0)
                close(t[i].fd);
    kill(child, SIGTERM);
    waitpid(child, NULL, 0);
    sleep(2);   /* let the proxy see the FINs and free the tunnels */
    long rss3 = rss_kib(pid);
    double per = nopen > 0 ? (double)((rss1 > rss2 ? rss1 : rss2) - rss0) / nopen : 0.0;
    printf("idle_tunnels n=%d open=%d failed=%d rss_before_kib=%ld rss_open_kib=%ld rss_held_kib=%ld "
           "kib_per_tunnel=%.2f rss_after_close_kib=%ld open_secs=%.2f\n",
           n, nopen, nfail + (n - nopen - nfail), rss0, rss1, rss2, per, rss3, open_secs);
    free(t);
    return nopen == n ? 0 : 1;
}
