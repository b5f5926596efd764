// policyc-lab-helper: the lab's packet tools (Node.js cannot enter a network namespace nor
// open raw sockets). Built with cc on first use by dataplane/lab/helper.ts.
//
//   serve NETNS_PATH LABEL TCP_PORTS UDP_PORTS SCTP_PORTS
//       Enters the pod's netns and serves its container ports until killed: TCP answers HTTP
//       (method and path echoed back), UDP echoes, SCTP: a raw-socket responder (this kernel
//       has no SCTP sockets) that answers an INIT to a served port with an INIT-ACK.
//       Ports are comma-separated, "-" for none. Prints "ready" once every socket is bound.
//       Serves IPv4 and IPv6 (separate IPV6_V6ONLY sockets; IPv6 is skipped where the
//       namespace has no IPv6).
//   probe TCP|UDP|SCTP TIMEOUT_MS
//       stdin: one probe per line "SRC_NETNS_PATH DST_NETNS_PATH DST_IP PORT" (DST_IP IPv4 or
//       IPv6); all run at once; stdout: one line per probe, "1" (allowed) or "0", in input order.
//       TCP: connect + HTTP GET + an HTTP answer, or a RST from a pod with nothing on that
//       port (the SYN was delivered). UDP: a datagram echoed back, or ICMP port unreachable
//       from the pod.
//       SCTP: an INIT (CRC32c) sent from a raw socket in the source netns; allowed = it
//       arrived at a raw socket opened in the destination netns (observed on the far side).
//   ct-flush NETNS_PATH...
//       Flushes the conntrack table of each netns (ctnetlink), after a policy change.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_PORTS 64
#define MAX_PROBES 65000
#define MAX_NS 4096

static void die(const char *what) {
  fprintf(stderr, "policyc-lab-helper: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void enter_netns(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) die(path);
  if (setns(fd, CLONE_NEWNET) < 0) die("setns");
  close(fd);
}

static int parse_ports(const char *s, int *out) {
  int n = 0;
  if (!s || !strcmp(s, "-") || !*s) return 0;
  const char *p = s;
  while (*p && n < MAX_PORTS) {
    char *end;
    long v = strtol(p, &end, 10);
    if (end == p || v < 1 || v > 65535) {
      fprintf(stderr, "policyc-lab-helper: bad port list '%s'\n", s);
      exit(2);
    }
    out[n++] = (int)v;
    p = *end == ',' ? end + 1 : end;
    if (*end && *end != ',') break;
  }
  return n;
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

// ---- SCTP (RFC 9260): common header 12 bytes, chunks; checksum = CRC32c, stored LSB first

static uint32_t crc32c(const uint8_t *buf, size_t len) {
  static uint32_t table[256];
  static int init;
  if (!init) {
    for (uint32_t i = 0; i < 256; i++) {
      uint32_t c = i;
      for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      table[i] = c;
    }
    init = 1;
  }
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < len; i++) crc = table[(crc ^ buf[i]) & 0xff] ^ (crc >> 8);
  return ~crc;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v & 0xff; }
static void put32(uint8_t *p, uint32_t v) { p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v; }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

static void sctp_checksum(uint8_t *pkt, size_t len) {
  memset(pkt + 8, 0, 4);
  uint32_t c = crc32c(pkt, len);
  pkt[8] = c & 0xff;
  pkt[9] = (c >> 8) & 0xff;
  pkt[10] = (c >> 16) & 0xff;
  pkt[11] = (c >> 24) & 0xff;
}

static uint32_t random32(void) {
  uint32_t v = 0;
  if (getrandom(&v, sizeof v, 0) != sizeof v) v = (uint32_t)now_ms() * 2654435761u;
  return v;
}

/** INIT: common header (vtag 0) + INIT chunk (20 bytes, no parameters). */
static size_t build_init(uint8_t *pkt, uint16_t sport, uint16_t dport, uint32_t tag) {
  memset(pkt, 0, 32);
  put16(pkt, sport);
  put16(pkt + 2, dport);
  put32(pkt + 4, 0);
  uint8_t *c = pkt + 12;
  c[0] = 1; // INIT
  c[1] = 0;
  put16(c + 2, 20);
  put32(c + 4, tag);      // initiate tag
  put32(c + 8, 65535);    // a_rwnd
  put16(c + 12, 1);       // outbound streams
  put16(c + 14, 1);       // inbound streams
  put32(c + 16, random32() | 1); // initial TSN
  sctp_checksum(pkt, 32);
  return 32;
}

/** INIT-ACK answering an INIT, with a State Cookie parameter. */
static size_t build_init_ack(uint8_t *pkt, uint16_t sport, uint16_t dport, uint32_t peer_tag) {
  memset(pkt, 0, 52);
  put16(pkt, sport);
  put16(pkt + 2, dport);
  put32(pkt + 4, peer_tag);
  uint8_t *c = pkt + 12;
  c[0] = 2; // INIT ACK
  put16(c + 2, 40);
  put32(c + 4, random32() | 1);
  put32(c + 8, 65535);
  put16(c + 12, 1);
  put16(c + 14, 1);
  put32(c + 16, random32() | 1);
  put16(c + 20, 7); // State Cookie
  put16(c + 22, 20);
  for (int i = 0; i < 16; i++) c[24 + i] = (uint8_t)random32();
  sctp_checksum(pkt, 52);
  return 52;
}

/** Parses an IPv4 packet from a raw socket; returns the SCTP header or NULL. (IPv6 raw
 *  sockets deliver the SCTP packet without the IP header.) */
static const uint8_t *sctp_of(const uint8_t *buf, ssize_t n, struct in_addr *src, struct in_addr *dst, ssize_t *sctp_len) {
  if (n < 20) return NULL;
  const struct iphdr *ip = (const struct iphdr *)buf;
  size_t ihl = (size_t)ip->ihl * 4;
  if (ip->version != 4 || ip->protocol != 132 || (ssize_t)ihl + 12 + 4 > n) return NULL;
  src->s_addr = ip->saddr;
  dst->s_addr = ip->daddr;
  *sctp_len = n - (ssize_t)ihl;
  return buf + ihl;
}

// ---- IPv6 helpers

/** An IPv6-only socket, or -1 when this namespace has no IPv6 (the server then serves IPv4 only). */
static int socket6(int type, int proto) {
  int s = socket(AF_INET6, type, proto);
  if (s < 0) {
    if (errno == EAFNOSUPPORT) return -1;
    die("IPv6 socket");
  }
  int one = 1;
  if (proto == 0) setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  return s;
}

static int bind6(int s, int port) {
  struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port), .sin6_addr = IN6ADDR_ANY_INIT};
  return bind(s, (struct sockaddr *)&a, sizeof a);
}

// ---- serve

struct conn {
  int used;
  size_t len;
  char buf[2048];
};

static int in_list(const int *list, int n, int v) {
  for (int i = 0; i < n; i++)
    if (list[i] == v) return 1;
  return 0;
}

static void http_answer(int fd, struct conn *c, const char *label) {
  char method[32] = "?", path[1024] = "?";
  c->buf[c->len < sizeof c->buf ? c->len : sizeof c->buf - 1] = 0;
  sscanf(c->buf, "%31s %1023s", method, path);
  char body[1200];
  int blen = snprintf(body, sizeof body, "%s %s\n%s\n", method, path, label);
  char resp[1600];
  int rlen = snprintf(resp, sizeof resp,
                      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nX-Policyc-Lab-Pod: %s\r\nConnection: close\r\n\r\n%s",
                      blen, label, body);
  if (write(fd, resp, (size_t)rlen) < 0) { /* the client left */ }
}

static int cmd_serve(int argc, char **argv) {
  if (argc != 7) {
    fprintf(stderr, "usage: serve NETNS_PATH LABEL TCP_PORTS UDP_PORTS SCTP_PORTS\n");
    return 2;
  }
  const char *label = argv[3];
  int tcp[MAX_PORTS], udp[MAX_PORTS], sctp[MAX_PORTS];
  int ntcp = parse_ports(argv[4], tcp), nudp = parse_ports(argv[5], udp), nsctp = parse_ports(argv[6], sctp);
  enter_netns(argv[2]);
  signal(SIGPIPE, SIG_IGN);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die("epoll");
  // tags in epoll data: fd | kind << 32 (0 tcp listener, 1 udp, 2 sctp raw, 3 tcp connection)
  struct epoll_event ev;
  for (int i = 0; i < ntcp; i++) {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)tcp[i]), .sin_addr.s_addr = htonl(INADDR_ANY)};
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 512) < 0) die("tcp listen");
    ev.events = EPOLLIN;
    ev.data.u64 = (uint64_t)s;
    epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
    int s6 = socket6(SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s6 >= 0) {
      setsockopt(s6, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      if (bind6(s6, tcp[i]) < 0 || listen(s6, 512) < 0) die("tcp listen (IPv6)");
      ev.data.u64 = (uint64_t)s6;
      epoll_ctl(ep, EPOLL_CTL_ADD, s6, &ev);
    }
  }
  for (int i = 0; i < nudp; i++) {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)udp[i]), .sin_addr.s_addr = htonl(INADDR_ANY)};
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0) die("udp bind");
    ev.events = EPOLLIN;
    ev.data.u64 = (uint64_t)s | (1ull << 32);
    epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
    int s6 = socket6(SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s6 >= 0) {
      if (bind6(s6, udp[i]) < 0) die("udp bind (IPv6)");
      ev.data.u64 = (uint64_t)s6 | (1ull << 32);
      epoll_ctl(ep, EPOLL_CTL_ADD, s6, &ev);
    }
  }
  if (nsctp > 0) {
    int s = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 132);
    if (s < 0) die("sctp raw socket");
    ev.events = EPOLLIN;
    ev.data.u64 = (uint64_t)s | (2ull << 32);
    epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
    int s6 = socket6(SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 132);
    if (s6 >= 0) {
      ev.data.u64 = (uint64_t)s6 | (4ull << 32);
      epoll_ctl(ep, EPOLL_CTL_ADD, s6, &ev);
    }
  }
  static struct conn conns[4096];
  printf("ready\n");
  fflush(stdout);
  struct epoll_event events[64];
  for (;;) {
    int n = epoll_wait(ep, events, 64, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    for (int e = 0; e < n; e++) {
      int fd = (int)(events[e].data.u64 & 0xffffffffu);
      int kind = (int)(events[e].data.u64 >> 32);
      if (kind == 0) {
        for (;;) {
          int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) break;
          if (c >= 4096) {
            close(c);
            continue;
          }
          conns[c].used = 1;
          conns[c].len = 0;
          ev.events = EPOLLIN | EPOLLRDHUP;
          ev.data.u64 = (uint64_t)c | (3ull << 32);
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
        }
      } else if (kind == 3) {
        struct conn *c = &conns[fd];
        ssize_t r = read(fd, c->buf + c->len, sizeof c->buf - 1 - c->len);
        if (r > 0) c->len += (size_t)r;
        c->buf[c->len] = 0;
        int complete = strstr(c->buf, "\r\n\r\n") || strstr(c->buf, "\n\n") || c->len >= sizeof c->buf - 1;
        if (complete || (r == 0 && c->len > 0)) http_answer(fd, c, label);
        if (complete || r == 0 || (r < 0 && errno != EAGAIN)) {
          c->used = 0;
          epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
          close(fd);
        }
      } else if (kind == 1) {
        uint8_t buf[65536];
        struct sockaddr_storage from;
        socklen_t fl = sizeof from;
        ssize_t r;
        while ((r = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl)) >= 0) {
          sendto(fd, buf, (size_t)r, 0, (struct sockaddr *)&from, fl);
          fl = sizeof from;
        }
      } else if (kind == 2) {
        uint8_t buf[65536];
        ssize_t r;
        while ((r = recv(fd, buf, sizeof buf, 0)) >= 0) {
          struct in_addr src, dst;
          ssize_t slen;
          const uint8_t *s = sctp_of(buf, r, &src, &dst, &slen);
          if (!s || slen < 12 + 20 || s[12] != 1) continue; // INIT only
          uint16_t sport = get16(s), dport = get16(s + 2);
          if (!in_list(sctp, nsctp, dport)) continue;
          uint8_t out[64];
          size_t len = build_init_ack(out, dport, sport, get32(s + 16));
          struct sockaddr_in to = {.sin_family = AF_INET, .sin_addr = src};
          sendto(fd, out, len, 0, (struct sockaddr *)&to, sizeof to);
        }
      } else if (kind == 4) {
        // IPv6 raw: the payload is the SCTP packet itself; the source comes with recvfrom
        uint8_t buf[65536];
        struct sockaddr_in6 from;
        socklen_t fl = sizeof from;
        ssize_t r;
        while ((r = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl)) >= 0) {
          fl = sizeof from;
          if (r < 12 + 20 || buf[12] != 1) continue; // INIT only
          uint16_t sport = get16(buf), dport = get16(buf + 2);
          if (!in_list(sctp, nsctp, dport)) continue;
          uint8_t out[64];
          size_t len = build_init_ack(out, dport, sport, get32(buf + 16));
          from.sin6_port = 0;
          sendto(fd, out, len, 0, (struct sockaddr *)&from, sizeof from);
        }
      }
    }
  }
}

// ---- probe

struct probe {
  char src[256], dst[256];
  int family; // AF_INET or AF_INET6
  struct in_addr ip;
  struct in6_addr ip6;
  char text[64]; // the address as given
  int port;
  int fd;
  int state; // 0 pending, 1 connecting/sent, 2 request sent (tcp)
  int ok, done;
  size_t got;
  char buf[64];
};

static struct probe *probes;
static int nprobes;

struct nsent {
  char path[256];
  int fd;    // open netns fd
  int sock;  // sctp: raw socket (send in a source, receive in a destination)
  int rsock;
  int sock6, rsock6; // the same for IPv6
};
static struct nsent nss[MAX_NS];
static int nns;

static struct nsent *ns_get(const char *path) {
  for (int i = 0; i < nns; i++)
    if (!strcmp(nss[i].path, path)) return &nss[i];
  if (nns >= MAX_NS) {
    fprintf(stderr, "policyc-lab-helper: too many namespaces\n");
    exit(2);
  }
  struct nsent *e = &nss[nns++];
  snprintf(e->path, sizeof e->path, "%s", path);
  e->fd = open(path, O_RDONLY | O_CLOEXEC);
  if (e->fd < 0) die(path);
  e->sock = e->rsock = e->sock6 = e->rsock6 = -1;
  return e;
}

static void ns_enter(struct nsent *e) {
  if (setns(e->fd, CLONE_NEWNET) < 0) die("setns");
}

static void finish(struct probe *p, int ok, int ep) {
  if (p->done) return;
  p->done = 1;
  p->ok = ok;
  if (p->fd >= 0) {
    epoll_ctl(ep, EPOLL_CTL_DEL, p->fd, NULL);
    close(p->fd);
    p->fd = -1;
  }
}

static int cmd_probe(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: probe TCP|UDP|SCTP TIMEOUT_MS  (probes on stdin)\n");
    return 2;
  }
  const char *proto = argv[2];
  int is_tcp = !strcmp(proto, "TCP"), is_udp = !strcmp(proto, "UDP"), is_sctp = !strcmp(proto, "SCTP");
  if (!is_tcp && !is_udp && !is_sctp) {
    fprintf(stderr, "policyc-lab-helper: protocol must be TCP, UDP or SCTP\n");
    return 2;
  }
  int timeout = atoi(argv[3]);
  if (timeout <= 0) timeout = 400;
  signal(SIGPIPE, SIG_IGN);
  probes = calloc(MAX_PROBES, sizeof *probes);
  char line[1024];
  while (fgets(line, sizeof line, stdin) && nprobes < MAX_PROBES) {
    struct probe *p = &probes[nprobes];
    char ip[64];
    if (sscanf(line, "%255s %255s %63s %d", p->src, p->dst, ip, &p->port) != 4) continue;
    snprintf(p->text, sizeof p->text, "%s", ip);
    if (inet_pton(AF_INET, ip, &p->ip) == 1) p->family = AF_INET;
    else if (inet_pton(AF_INET6, ip, &p->ip6) == 1) p->family = AF_INET6;
    else {
      fprintf(stderr, "policyc-lab-helper: bad IP address %s\n", ip);
      return 2;
    }
    p->fd = -1;
    nprobes++;
  }
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev;
  uint32_t run = random32() & 0xffff0000u;
  if (run == 0) run = 0x5a5a0000u;
  if (is_sctp) {
    // receivers first, so no INIT can arrive before someone listens
    for (int i = 0; i < nprobes; i++) {
      struct nsent *d = ns_get(probes[i].dst);
      if (probes[i].family == AF_INET6) {
        if (d->rsock6 >= 0) continue;
        ns_enter(d);
        d->rsock6 = socket(AF_INET6, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 132);
        if (d->rsock6 < 0) die("raw socket (receive, IPv6)");
        int one = 1;
        setsockopt(d->rsock6, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one);
        ev.events = EPOLLIN;
        ev.data.u64 = (uint64_t)(d - nss) | (2ull << 40);
        epoll_ctl(ep, EPOLL_CTL_ADD, d->rsock6, &ev);
        continue;
      }
      if (d->rsock >= 0) continue;
      ns_enter(d);
      d->rsock = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 132);
      if (d->rsock < 0) die("raw socket (receive)");
      ev.events = EPOLLIN;
      ev.data.u64 = (uint64_t)(d - nss) | (1ull << 40);
      epoll_ctl(ep, EPOLL_CTL_ADD, d->rsock, &ev);
    }
  }
  int64_t start = now_ms();
  for (int i = 0; i < nprobes; i++) {
    struct probe *p = &probes[i];
    struct nsent *s = ns_get(p->src);
    int v6 = p->family == AF_INET6;
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p->port), .sin_addr = p->ip};
    struct sockaddr_in6 to6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)p->port), .sin6_addr = p->ip6};
    struct sockaddr *dst = v6 ? (struct sockaddr *)&to6 : (struct sockaddr *)&to;
    socklen_t dlen = v6 ? sizeof to6 : sizeof to;
    if (is_sctp) {
      int *sock = v6 ? &s->sock6 : &s->sock;
      if (*sock < 0) {
        ns_enter(s);
        *sock = socket(p->family, SOCK_RAW | SOCK_CLOEXEC, 132);
        if (*sock < 0) die("raw socket (send)");
      }
      uint8_t pkt[64];
      uint16_t sport = (uint16_t)(20000 + (random32() % 40000));
      size_t len = build_init(pkt, sport, (uint16_t)p->port, run | (uint32_t)(i + 1));
      to.sin_port = 0;
      to6.sin6_port = 0;
      if (sendto(*sock, pkt, len, 0, dst, dlen) < 0) finish(p, 0, ep);
      continue;
    }
    ns_enter(s);
    p->fd = socket(p->family, (is_tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p->fd < 0) die("socket");
    int r = connect(p->fd, dst, dlen);
    if (r < 0 && errno != EINPROGRESS) {
      finish(p, 0, ep);
      continue;
    }
    if (is_udp) {
      char msg[64];
      int mlen = snprintf(msg, sizeof msg, "policyc-lab-probe %08x %d", run, i);
      if (send(p->fd, msg, (size_t)mlen, 0) < 0) {
        finish(p, 0, ep);
        continue;
      }
      ev.events = EPOLLIN;
    } else {
      ev.events = EPOLLOUT;
    }
    p->state = 1;
    ev.data.u64 = (uint64_t)i;
    epoll_ctl(ep, EPOLL_CTL_ADD, p->fd, &ev);
  }
  int pending = 0;
  for (int i = 0; i < nprobes; i++) pending += !probes[i].done;
  struct epoll_event events[256];
  while (pending > 0) {
    int64_t left = start + timeout - now_ms();
    if (left <= 0) break;
    int n = epoll_wait(ep, events, 256, (int)left);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    for (int e = 0; e < n; e++) {
      uint64_t d = events[e].data.u64;
      if ((d >> 40) == 2) {
        // IPv6 raw: the SCTP packet without the IP header; the destination address from IPV6_PKTINFO
        struct nsent *ns = &nss[d & 0xffffffffu];
        uint8_t buf[65536];
        char cbuf[256];
        for (;;) {
          struct iovec iov = {.iov_base = buf, .iov_len = sizeof buf};
          struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
          ssize_t r = recvmsg(ns->rsock6, &mh, 0);
          if (r < 0) break;
          struct in6_addr dst6;
          int have_dst = 0;
          for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
            if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
              struct in6_pktinfo pi;
              memcpy(&pi, CMSG_DATA(c), sizeof pi);
              dst6 = pi.ipi6_addr;
              have_dst = 1;
            }
          }
          if (!have_dst || r < 12 + 20 || buf[12] != 1) continue;
          uint32_t tag = get32(buf + 16);
          if ((tag & 0xffff0000u) != run) continue;
          int i = (int)(tag & 0xffff) - 1;
          if (i < 0 || i >= nprobes) continue;
          struct probe *p = &probes[i];
          if (p->done || p->family != AF_INET6 || strcmp(p->dst, ns->path) || memcmp(&p->ip6, &dst6, sizeof dst6) || get16(buf + 2) != p->port) continue;
          finish(p, 1, ep);
          pending--;
        }
        continue;
      }
      if (d >> 40) {
        struct nsent *ns = &nss[d & 0xffffffffu];
        uint8_t buf[65536];
        ssize_t r;
        while ((r = recv(ns->rsock, buf, sizeof buf, 0)) >= 0) {
          struct in_addr src, dst;
          ssize_t slen;
          const uint8_t *s = sctp_of(buf, r, &src, &dst, &slen);
          if (!s || slen < 12 + 20 || s[12] != 1) continue;
          uint32_t tag = get32(s + 16);
          if ((tag & 0xffff0000u) != run) continue;
          int i = (int)(tag & 0xffff) - 1;
          if (i < 0 || i >= nprobes) continue;
          struct probe *p = &probes[i];
          if (p->done || p->family != AF_INET || strcmp(p->dst, ns->path) || p->ip.s_addr != dst.s_addr || get16(s + 2) != p->port) continue;
          finish(p, 1, ep);
          pending--;
        }
        continue;
      }
      struct probe *p = &probes[d];
      if (p->done) continue;
      if (is_udp) {
        char buf[128];
        ssize_t r = recv(p->fd, buf, sizeof buf, 0);
        if (r < 0 && errno == EAGAIN) continue;
        // ICMP port unreachable from the pod (ECONNREFUSED): the datagram was delivered.
        finish(p, r > 0 || (r < 0 && errno == ECONNREFUSED), ep);
        pending--;
      } else if (p->state == 1) {
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err) {
          // A RST means the SYN crossed the dataplane and reached the pod, which has nothing
          // on that port: the network allowed it (policy drops are silent, never a RST).
          finish(p, err == ECONNREFUSED, ep);
          pending--;
          continue;
        }
        char req[192];
        int rl = snprintf(req, sizeof req, "GET /policyc-lab-probe HTTP/1.1\r\nHost: %s%s%s\r\nConnection: close\r\n\r\n", p->family == AF_INET6 ? "[" : "", p->text, p->family == AF_INET6 ? "]" : "");
        if (write(p->fd, req, (size_t)rl) != rl) {
          finish(p, 0, ep);
          pending--;
          continue;
        }
        p->state = 2;
        ev.events = EPOLLIN | EPOLLRDHUP;
        ev.data.u64 = d;
        epoll_ctl(ep, EPOLL_CTL_MOD, p->fd, &ev);
      } else {
        ssize_t r = read(p->fd, p->buf + p->got, sizeof p->buf - 1 - p->got);
        if (r < 0 && errno == EAGAIN) continue;
        if (r > 0) p->got += (size_t)r;
        p->buf[p->got] = 0;
        if (p->got >= 7 && !strncmp(p->buf, "HTTP/1.", 7)) {
          finish(p, 1, ep);
          pending--;
        } else if (r <= 0 || p->got >= sizeof p->buf - 1) {
          finish(p, 0, ep);
          pending--;
        }
      }
    }
  }
  for (int i = 0; i < nprobes; i++) printf("%d\n", probes[i].done && probes[i].ok ? 1 : 0);
  fflush(stdout);
  return 0;
}

// ---- ct-flush

static int ct_flush(void) {
  int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  if (s < 0) return -1;
  struct {
    struct nlmsghdr nh;
    struct nfgenmsg nf;
  } req;
  memset(&req, 0, sizeof req);
  req.nh.nlmsg_len = sizeof req;
  req.nh.nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE;
  req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  req.nh.nlmsg_seq = 1;
  req.nf.nfgen_family = AF_UNSPEC;
  req.nf.version = NFNETLINK_V0;
  struct sockaddr_nl to = {.nl_family = AF_NETLINK};
  if (sendto(s, &req, sizeof req, 0, (struct sockaddr *)&to, sizeof to) < 0) {
    close(s);
    return -1;
  }
  char buf[4096];
  ssize_t n = recv(s, buf, sizeof buf, 0);
  close(s);
  if (n < (ssize_t)sizeof(struct nlmsghdr)) return -1;
  struct nlmsghdr *h = (struct nlmsghdr *)buf;
  if (h->nlmsg_type == NLMSG_ERROR) {
    struct nlmsgerr *e = NLMSG_DATA(h);
    if (e->error != 0) {
      errno = -e->error;
      return -1;
    }
  }
  return 0;
}

static int cmd_ct_flush(int argc, char **argv) {
  for (int i = 2; i < argc; i++) {
    enter_netns(argv[i]);
    if (ct_flush() < 0 && errno != ENOENT) die("conntrack flush");
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 2 && !strcmp(argv[1], "serve")) return cmd_serve(argc, argv);
  if (argc >= 2 && !strcmp(argv[1], "probe")) return cmd_probe(argc, argv);
  if (argc >= 2 && !strcmp(argv[1], "ct-flush")) return cmd_ct_flush(argc, argv);
  fprintf(stderr, "usage: policyc-lab-helper serve|probe|ct-flush ...\n");
  return 2;
}
