// nfq-delay: delays every packet of one netfilter queue by a fixed time, keeping their order.
// A stand-in for netem's `delay` on kernels without sch_netem: Cluster/testing/local-cluster.sh `shape
// NODE delay D` runs it inside the node's network namespace, where iptables rules send the
// node's packets (both directions) to the queue with `-j NFQUEUE --queue-num Q --queue-bypass`.
//
//   nfq-delay [-r RTPRIO] QUEUE DELAY_NS
//
// It speaks nfnetlink_queue directly (no libnetfilter_queue): copy mode "meta" (only the packet
// header with its id crosses to user space, never the payload), GSO packets are queued whole
// (NFQA_CFG_F_GSO), and when its queue is full the kernel accepts packets instead of dropping
// them (NFQA_CFG_F_FAIL_OPEN).
//
// One thread, no locks, no spinning: it blocks in epoll_wait on the netlink socket, an absolute
// CLOCK_MONOTONIC timerfd (TFD_TIMER_ABSTIME) and a signalfd. Each packet id is stamped on
// arrival and appended to a FIFO; the timer is armed for the oldest packet's arrival + DELAY,
// and on expiry every packet that is due is accepted with one batch verdict
// (NFQNL_MSG_VERDICT_BATCH: all ids up to the newest due one; ids grow in arrival order, so order
// is kept). A single thread means one wake-up fewer per packet than a receiver thread handing
// packets to a sleeping releaser (measured with ping and a 1 ns delay: about 15 instead of 45 µs
// per pass through the helper).
//
// Timer wake-ups are late by a roughly constant amount (about 25 µs in the VM this was written
// on, idle or not); the program measures that lateness on every timer wake-up (an average that
// ignores outliers above 200 µs) and arms the timer that much earlier, capped at half the delay,
// so the mean release time lands on arrival + DELAY. It never sleeps in a busy loop. The release
// error (release time minus arrival + DELAY) is summarised on exit.
//
// -r RTPRIO (default 10; 0 = normal scheduling): run as SCHED_FIFO at that priority, like the
// kernel's own timers, so the delay does not depend on how busy the CPUs are. The program only
// ever runs briefly per packet; the kernel's RT throttling bounds it in any case.
//
// On SIGTERM/SIGINT/SIGHUP it accepts everything still held and exits 0. If it dies anyway, the
// kernel drops the packets it held at that moment and `--queue-bypass` lets all later packets
// through, so a dead helper never blackholes the link.
//
// Build: gcc -O2 -Wall -o nfq-delay nfq-delay.c (needs only libc and the kernel's uapi headers,
// Debian's libc6-dev and linux-libc-dev).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <linux/netlink.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define QUEUE_MAXLEN 16384u          // packets the kernel holds for us (beyond that: fail-open)
#define RING_SIZE 32768u             // > QUEUE_MAXLEN, a power of two
#define RCVBUF (16 << 20)
#define LATE_CAP_NS 200000           // lateness samples above this (preemption) are not learned from

static int sock = -1;
static uint16_t queue_num;
static int64_t delay_ns;

static struct { uint32_t id; int64_t due; } ring[RING_SIZE];   // FIFO: head oldest, tail next free
static unsigned head, tail;
static int have_last;
static uint32_t last_id;             // newest id received (for the final flush)

static unsigned long long received, released, verdicts, overruns;
static double error_sum;             // release time − due time, per released packet
static int64_t error_min = INT64_MAX, error_max = INT64_MIN;

static void fatal(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "nfq-delay: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

// --- netlink messages ------------------------------------------------------------------------

struct msg { char buf[256]; struct nlmsghdr *h; };

static void msg_start(struct msg *m, uint16_t type, uint16_t flags) {
    memset(m->buf, 0, sizeof m->buf);
    m->h = (struct nlmsghdr *)m->buf;
    m->h->nlmsg_len = NLMSG_LENGTH(sizeof(struct nfgenmsg));
    m->h->nlmsg_type = (uint16_t)((NFNL_SUBSYS_QUEUE << 8) | type);
    m->h->nlmsg_flags = (uint16_t)(NLM_F_REQUEST | flags);
    struct nfgenmsg *g = NLMSG_DATA(m->h);
    g->nfgen_family = AF_UNSPEC;
    g->version = NFNETLINK_V0;
    g->res_id = htons(queue_num);
}

static void msg_attr(struct msg *m, uint16_t type, const void *data, size_t len) {
    struct nlattr *a = (struct nlattr *)(m->buf + NLMSG_ALIGN(m->h->nlmsg_len));
    a->nla_type = type;
    a->nla_len = (uint16_t)(NLA_HDRLEN + len);
    memcpy((char *)a + NLA_HDRLEN, data, len);
    m->h->nlmsg_len = NLMSG_ALIGN(m->h->nlmsg_len) + NLA_ALIGN(a->nla_len);
}

static int msg_send(struct msg *m) {
    struct sockaddr_nl to = { .nl_family = AF_NETLINK };
    for (;;) {
        if (sendto(sock, m->buf, m->h->nlmsg_len, 0, (struct sockaddr *)&to, sizeof to) >= 0) return 0;
        if (errno != EINTR) return -1;
    }
}

// A configuration request, acknowledged (before any packet can arrive): 0 or the kernel's error.
static int configure(struct msg *m) {
    static uint32_t seq;
    m->h->nlmsg_seq = ++seq;
    if (msg_send(m) < 0) return errno;
    char buf[4096];
    for (;;) {
        ssize_t n = recv(sock, buf, sizeof buf, 0);
        if (n < 0) { if (errno == EINTR) continue; return errno; }
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_type == NLMSG_ERROR && h->nlmsg_seq == seq) {
                struct nlmsgerr *e = NLMSG_DATA(h);
                return -e->error;
            }
        }
    }
}

static void accept_upto(uint32_t id) {
    struct msg m;
    msg_start(&m, NFQNL_MSG_VERDICT_BATCH, 0);
    struct nfqnl_msg_verdict_hdr v = { .verdict = htonl(NF_ACCEPT), .id = htonl(id) };
    msg_attr(&m, NFQA_VERDICT_HDR, &v, sizeof v);
    if (msg_send(&m) < 0) fprintf(stderr, "nfq-delay: verdict for id %u: %s\n", id, strerror(errno));
    verdicts++;
}

// Reads every pending notification and appends the packets to the FIFO.
static void receive_all(void) {
    static char buf[1 << 16];
    for (;;) {
        ssize_t n = recv(sock, buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            if (errno == ENOBUFS) { overruns++; continue; }   // lost notifications: later batch verdicts release them
            fatal("recv: %s", strerror(errno));
        }
        int64_t due = now_ns() + delay_ns;
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_type == NLMSG_ERROR) {
                struct nlmsgerr *e = NLMSG_DATA(h);
                if (e->error) fprintf(stderr, "nfq-delay: kernel: %s\n", strerror(-e->error));
                continue;
            }
            if ((h->nlmsg_type & 0xff) != NFQNL_MSG_PACKET) continue;
            size_t off = NLMSG_LENGTH(sizeof(struct nfgenmsg));
            while (off + NLA_HDRLEN <= h->nlmsg_len) {
                struct nlattr *a = (struct nlattr *)((char *)h + off);
                if (a->nla_len < NLA_HDRLEN || off + a->nla_len > h->nlmsg_len) break;
                if ((a->nla_type & NLA_TYPE_MASK) == NFQA_PACKET_HDR
                    && a->nla_len >= NLA_HDRLEN + sizeof(struct nfqnl_msg_packet_hdr)) {
                    struct nfqnl_msg_packet_hdr *p = (struct nfqnl_msg_packet_hdr *)((char *)a + NLA_HDRLEN);
                    uint32_t id = ntohl(p->packet_id);
                    // The kernel holds at most QUEUE_MAXLEN < RING_SIZE packets, so the ring cannot
                    // fill; if it did, the packet would still be released by a later batch verdict.
                    if (tail - head < RING_SIZE) {
                        ring[tail % RING_SIZE].id = id;
                        ring[tail % RING_SIZE].due = due;
                        tail++;
                    }
                    last_id = id;
                    have_last = 1;
                    received++;
                    break;
                }
                off += NLA_ALIGN(a->nla_len);
            }
        }
    }
}

int main(int argc, char **argv) {
    int rtprio = 10, opt;
    while ((opt = getopt(argc, argv, "r:")) != -1) {
        if (opt == 'r') rtprio = atoi(optarg);
        else { fprintf(stderr, "usage: nfq-delay [-r RTPRIO] QUEUE DELAY_NS\n"); return 2; }
    }
    if (argc - optind != 2) { fprintf(stderr, "usage: nfq-delay [-r RTPRIO] QUEUE DELAY_NS\n"); return 2; }
    char *end;
    unsigned long q = strtoul(argv[optind], &end, 10);
    if (*end || q > 65535) fatal("bad queue number '%s'", argv[optind]);
    long long d = strtoll(argv[optind + 1], &end, 10);
    if (*end || d < 0 || d > 10LL * 1000000000) fatal("bad delay '%s' (nanoseconds, at most 10 s)", argv[optind + 1]);
    queue_num = (uint16_t)q;
    delay_ns = d;

    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    if (rtprio > 0) {
        struct sched_param sp = { .sched_priority = rtprio };
        if (sched_setscheduler(0, SCHED_FIFO, &sp) < 0)
            fprintf(stderr, "nfq-delay: SCHED_FIFO %d not granted (%s); normal scheduling\n", rtprio, strerror(errno));
    }

    sock = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
    if (sock < 0) fatal("netlink socket: %s", strerror(errno));
    struct sockaddr_nl self = { .nl_family = AF_NETLINK };
    if (bind(sock, (struct sockaddr *)&self, sizeof self) < 0) fatal("bind: %s", strerror(errno));
    int size = RCVBUF;
    if (setsockopt(sock, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0)
        setsockopt(sock, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    int one = 1;
    setsockopt(sock, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof one);

    struct msg m;
    int err;
    msg_start(&m, NFQNL_MSG_CONFIG, NLM_F_ACK);
    struct nfqnl_msg_config_cmd bind_cmd = { .command = NFQNL_CFG_CMD_BIND, .pf = htons(AF_INET) };
    msg_attr(&m, NFQA_CFG_CMD, &bind_cmd, sizeof bind_cmd);
    if ((err = configure(&m)))
        fatal("cannot bind queue %u: %s (another listener? kernel without CONFIG_NETFILTER_NETLINK_QUEUE?)",
              queue_num, strerror(err));
    msg_start(&m, NFQNL_MSG_CONFIG, NLM_F_ACK);
    struct nfqnl_msg_config_params params = { .copy_range = htonl(0), .copy_mode = NFQNL_COPY_META };
    msg_attr(&m, NFQA_CFG_PARAMS, &params, sizeof params);
    uint32_t maxlen = htonl(QUEUE_MAXLEN);
    msg_attr(&m, NFQA_CFG_QUEUE_MAXLEN, &maxlen, sizeof maxlen);
    if ((err = configure(&m))) fatal("cannot configure queue %u: %s", queue_num, strerror(err));
    msg_start(&m, NFQNL_MSG_CONFIG, NLM_F_ACK);
    uint32_t flags = htonl(NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_GSO);
    msg_attr(&m, NFQA_CFG_FLAGS, &flags, sizeof flags);
    msg_attr(&m, NFQA_CFG_MASK, &flags, sizeof flags);
    if ((err = configure(&m))) fatal("cannot set fail-open and GSO on queue %u: %s", queue_num, strerror(err));

    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGHUP);
    sigprocmask(SIG_BLOCK, &stop, NULL);
    int sfd = signalfd(-1, &stop, SFD_CLOEXEC);
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (sfd < 0 || tfd < 0 || ep < 0) fatal("signalfd/timerfd/epoll: %s", strerror(errno));
    int fds[3] = { sock, tfd, sfd };
    for (int k = 0; k < 3; k++) {
        struct epoll_event ev = { .events = EPOLLIN, .data.fd = fds[k] };
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[k], &ev) < 0) fatal("epoll_ctl: %s", strerror(errno));
    }
    fprintf(stderr, "nfq-delay: queue %u, delay %lld ns, pid %d\n", queue_num, d, (int)getpid());

    int64_t lead = 0;                // how much earlier than due the timer is armed (learned)
    double late_avg = 0;             // average timer lateness
    int64_t armed = -1;              // absolute expiry the timer is armed for, -1: disarmed
    for (;;) {
        struct epoll_event evs[3];
        int n = epoll_wait(ep, evs, 3, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            fatal("epoll_wait: %s", strerror(errno));
        }
        int timer_fired = 0, stopping = 0;
        for (int k = 0; k < n; k++) {
            if (evs[k].data.fd == sfd) stopping = 1;
            if (evs[k].data.fd == tfd) {
                uint64_t expirations;
                if (read(tfd, &expirations, sizeof expirations) > 0) timer_fired = 1;
            }
        }
        if (stopping) break;
        int64_t now = now_ns();
        if (timer_fired && armed >= 0) {
            int64_t late = now - armed;
            if (late >= 0 && late < LATE_CAP_NS) {
                late_avg += (late - late_avg) / 16;
                lead = (int64_t)late_avg;
                if (lead > delay_ns / 2) lead = delay_ns / 2;
            }
            armed = -1;
        }
        receive_all();

        // Release everything due (as seen through the learned lead), with one verdict.
        now = now_ns();
        uint32_t upto = 0;
        int any = 0;
        while (head != tail && ring[head % RING_SIZE].due - lead <= now) {
            int64_t error = now - ring[head % RING_SIZE].due;
            error_sum += (double)error;
            if (error < error_min) error_min = error;
            if (error > error_max) error_max = error;
            upto = ring[head % RING_SIZE].id;
            head++;
            released++;
            any = 1;
        }
        if (any) accept_upto(upto);

        if (head == tail && armed >= 0) {
            struct itimerspec off = { { 0, 0 }, { 0, 0 } };
            timerfd_settime(tfd, TFD_TIMER_ABSTIME, &off, NULL);
            armed = -1;
        } else if (head != tail) {
            int64_t at = ring[head % RING_SIZE].due - lead;
            if (at != armed) {
                struct itimerspec its = { .it_value = { .tv_sec = at / 1000000000, .tv_nsec = at % 1000000000 } };
                if (timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0) fatal("timerfd_settime: %s", strerror(errno));
                armed = at;
            }
        }
    }

    // Accept everything still held, then leave.
    if (have_last) accept_upto(last_id);
    fprintf(stderr, "nfq-delay: stopping: %llu packets, %llu verdicts, %llu notification overruns; "
            "release minus due: mean %.1f us, min %.1f us, max %.1f us; timer armed %.1f us early\n",
            received, verdicts, overruns, released ? error_sum / (double)released / 1e3 : 0.0,
            released ? (double)error_min / 1e3 : 0.0, released ? (double)error_max / 1e3 : 0.0, (double)lead / 1e3);
    return 0;
}
