/*
 * policyc-conntrack: lists conntrack entries and deletes exact ones over ctnetlink, and lists
 * the local routing table's addresses over rtnetlink, for the policy engine's denied-flow flush
 * (../conntrack-flush.ts).
 *
 * Why C: ctnetlink is a NETLINK_NETFILTER socket, which Node cannot open without a native addon.
 * Why not the conntrack tool: `conntrack -D` dumps the whole table once per delete filter (20k
 * denied entries over 500 filters took 5.6-8.1 s); here each delete is one IPCTNL_MSG_CT_DELETE
 * carrying the exact original tuple (a hash lookup in the kernel, no dump). libnetfilter_conntrack
 * (netfilter's own library, Debian libnetfilter-conntrack-dev) builds and parses the messages;
 * the routes are one RTM_GETROUTE dump on a plain NETLINK_ROUTE socket (no library).
 * It works on the network namespace it runs in; the daemon starts it inside the node netns
 * (nsenter --net, argument arrays, never a shell).
 *
 * Usage:
 *   policyc-conntrack serve     long-lived: answers requests on stdin/stdout (below); the daemon
 *                               runs one per policy engine, so a flush starts no process
 *   policyc-conntrack list      every entry (IPv4 and IPv6, every zone), one line each, on stdout
 *   policyc-conntrack delete    entries read from stdin, one per line; each deleted by its
 *                               original tuple and zone; prints the counts
 *   policyc-conntrack local     the routes of the local table (IPv4 and IPv6), one line each
 *
 * An entry line (fields separated by one space; `list` prints all 13; `delete` reads lines of
 * the first 8, or whole listed lines of 13 whose reply half it ignores):
 *   FAMILY PROTO ZONE  OSRC ODST O1 O2 O3  RSRC RDST R1 R2 R3
 *   FAMILY  4 or 6
 *   PROTO   the l4 protocol number (6 tcp, 17 udp, 132 sctp, 33 dccp, 136 udplite, 1 icmp, 58 icmpv6, ...)
 *   ZONE    the conntrack zone (0 = default); `O/R` for directional zones (orig/reply zone),
 *           which `delete` refuses
 *   O1-O3   original tuple: SPORT DPORT - for tcp/udp/sctp/dccp/udplite; TYPE CODE ID for
 *           icmp/icmpv6; - - - for other protocols
 *   R1-R3   reply tuple: SPORT DPORT - for the port protocols; - - - otherwise (the library
 *           exposes the original tuple's ICMP fields only)
 * A route line: `L TYPE ADDR/LEN`, TYPE one of local, broadcast, anycast, multicast, unicast,
 * other (only routes of the local table, id 255, are printed; ones without a destination are not).
 *
 * `delete` prints one line on stdout at the end: `deleted=N gone=N failed=N` (gone = the kernel
 * had no such entry any more: ENOENT). Lines longer than MAX_LINE bytes, lines that do not parse
 * and entries the kernel refuses count as failed, with a message on stderr (the first
 * MAX_REPORTS of them). Exit: 0 = done (for delete: nothing failed), 1 = a netlink error, or
 * some deletes failed (the counts are still printed), 2 = bad usage.
 *
 * `serve`: one request at a time, each one line of at most MAX_LINE bytes; every response ends
 * with exactly one terminator line starting with `=` (no entry, route or report line does):
 *   list [MAX]   entry lines (at most MAX when given), then `=ok list entries=N truncated=0|1`
 *                (truncated=1: there were more than MAX)
 *   delete N     followed by exactly N entry lines (as for `delete`); answers report lines
 *                `!line I: WHAT` (the first MAX_REPORTS problems, then `!N more problems not
 *                shown`), then `=ok delete deleted=N gone=N failed=N`
 *   local        route lines, then `=ok local routes=N`
 *   ping         `=ok ping`
 * A request that fails as a whole (a netlink error, an unknown request, a line too long) is
 * answered `=error WHAT` after whatever lines it printed. Exits 0 on EOF on stdin, 1 when stdout
 * is gone (the reader died); a half-read dump or a failed one is never resumed: the ctnetlink
 * socket is reopened.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <limits.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_LINE 512
#define MAX_REPORTS 10
/* at most this many entry lines in one served delete request */
#define MAX_BATCH 100000000L

static const char *usage =
    "usage: policyc-conntrack list | delete | local | serve   (delete reads entries on stdin: FAMILY PROTO ZONE SRC DST A B C;"
    " serve answers list [MAX] / delete N / local / ping requests on stdin)\n";

/* serving: report lines go to stdout (`!...`), else to stderr */
static int serving;

static int has_ports(uint8_t proto) {
  return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP || proto == IPPROTO_DCCP || proto == IPPROTO_UDPLITE;
}

static int is_icmp(uint8_t family, uint8_t proto) {
  return (family == AF_INET && proto == IPPROTO_ICMP) || (family == AF_INET6 && proto == IPPROTO_ICMPV6);
}

/* stdout is gone: nobody reads our answers any more */
static void out_gone(void) {
  if (serving) exit(1);
}

/* ---- list */

struct list_state {
  unsigned long count;
  unsigned long max; /* 0: no limit */
  int truncated;
  int write_failed;
};

static struct list_state list_st;

static int print_entry(enum nf_conntrack_msg_type type, struct nf_conntrack *ct, void *data) {
  (void)type;
  struct list_state *st = data;
  if (st->max && st->count >= st->max) {
    st->truncated = 1;
    return NFCT_CB_STOP;
  }
  uint8_t family = nfct_get_attr_u8(ct, ATTR_ORIG_L3PROTO);
  uint8_t proto = nfct_get_attr_u8(ct, ATTR_ORIG_L4PROTO);
  char os[INET6_ADDRSTRLEN], od[INET6_ADDRSTRLEN], rs[INET6_ADDRSTRLEN], rd[INET6_ADDRSTRLEN];
  if (family == AF_INET) {
    inet_ntop(AF_INET, nfct_get_attr(ct, ATTR_ORIG_IPV4_SRC), os, sizeof(os));
    inet_ntop(AF_INET, nfct_get_attr(ct, ATTR_ORIG_IPV4_DST), od, sizeof(od));
    inet_ntop(AF_INET, nfct_get_attr(ct, ATTR_REPL_IPV4_SRC), rs, sizeof(rs));
    inet_ntop(AF_INET, nfct_get_attr(ct, ATTR_REPL_IPV4_DST), rd, sizeof(rd));
  } else if (family == AF_INET6) {
    inet_ntop(AF_INET6, nfct_get_attr(ct, ATTR_ORIG_IPV6_SRC), os, sizeof(os));
    inet_ntop(AF_INET6, nfct_get_attr(ct, ATTR_ORIG_IPV6_DST), od, sizeof(od));
    inet_ntop(AF_INET6, nfct_get_attr(ct, ATTR_REPL_IPV6_SRC), rs, sizeof(rs));
    inet_ntop(AF_INET6, nfct_get_attr(ct, ATTR_REPL_IPV6_DST), rd, sizeof(rd));
  } else {
    return NFCT_CB_CONTINUE; /* no other family is tracked */
  }
  if (nfct_attr_is_set(ct, ATTR_ORIG_ZONE) > 0 || nfct_attr_is_set(ct, ATTR_REPL_ZONE) > 0)
    printf("%c %u %u/%u", family == AF_INET ? '4' : '6', proto, nfct_get_attr_u16(ct, ATTR_ORIG_ZONE), nfct_get_attr_u16(ct, ATTR_REPL_ZONE));
  else
    printf("%c %u %u", family == AF_INET ? '4' : '6', proto, nfct_get_attr_u16(ct, ATTR_ZONE)); /* 0 when unset */
  if (has_ports(proto)) {
    printf(" %s %s %u %u - %s %s %u %u -\n", os, od, ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_SRC)), ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_DST)), rs, rd,
           ntohs(nfct_get_attr_u16(ct, ATTR_REPL_PORT_SRC)), ntohs(nfct_get_attr_u16(ct, ATTR_REPL_PORT_DST)));
  } else if (is_icmp(family, proto)) {
    printf(" %s %s %u %u %u %s %s - - -\n", os, od, nfct_get_attr_u8(ct, ATTR_ICMP_TYPE), nfct_get_attr_u8(ct, ATTR_ICMP_CODE), ntohs(nfct_get_attr_u16(ct, ATTR_ICMP_ID)), rs, rd);
  } else {
    printf(" %s %s - - - %s %s - - -\n", os, od, rs, rd);
  }
  st->count++;
  if (ferror(stdout)) {
    st->write_failed = 1; /* the reader went away */
    return NFCT_CB_STOP;
  }
  return NFCT_CB_CONTINUE;
}

static struct nfct_handle *open_ct(void) {
  struct nfct_handle *h = nfct_open(CONNTRACK, 0);
  if (!h) return NULL;
  /* a dump is paced by our reads; a large buffer only saves syscalls */
  nfnl_rcvbufsiz(nfct_nfnlh(h), 4 * 1024 * 1024);
  if (nfct_callback_register(h, NFCT_T_ALL, print_entry, &list_st) < 0) {
    int err = errno;
    nfct_close(h);
    errno = err;
    return NULL;
  }
  return h;
}

static void open_failed(char *msg, size_t size) {
  int err = errno;
  snprintf(msg, size, "ctnetlink: %s%s", strerror(err), err == EPERM ? " (needs CAP_NET_ADMIN)" : "");
}

/*
 * Dumps every entry (at most max when max > 0) on stdout. 0 = done (list_st tells the count and
 * whether it stopped early); -1 = failed, msg says why. The dump stopped early (or failed)
 * leaves the socket in the middle of a dump: *reopen is then set.
 */
static int list_entries(struct nfct_handle *h, unsigned long max, int *reopen, char *msg, size_t size) {
  memset(&list_st, 0, sizeof list_st);
  list_st.max = max;
  uint32_t family = AF_UNSPEC; /* both families */
  int r = nfct_query(h, NFCT_Q_DUMP, &family);
  int err = errno;
  if (fflush(stdout) != 0 || list_st.write_failed) {
    list_st.write_failed = 1;
    out_gone();
    snprintf(msg, size, "writing the listing: %s", strerror(errno));
    return -1; /* one-shot: the reader is gone, it knows */
  }
  if (list_st.truncated) {
    *reopen = 1;
    return 0;
  }
  if (r < 0) {
    *reopen = 1;
    snprintf(msg, size, "dump: %s", strerror(err));
    return -1;
  }
  return 0;
}

/* ---- lines */

/*
 * Reads one line of stdin into buf (at most MAX_LINE bytes, without the newline and a CR before
 * it). 1 = a line, 0 = EOF (or a read error: ferror), -1 = a line longer than MAX_LINE (read to
 * its end and dropped).
 */
static int read_line(char *buf, size_t size) {
  if (!fgets(buf, (int)size, stdin)) return 0;
  size_t len = strlen(buf);
  if (len > 0 && buf[len - 1] == '\n') {
    buf[--len] = '\0';
  } else if (!feof(stdin)) {
    int c;
    while ((c = getchar()) != EOF && c != '\n') {
    }
    return -1;
  }
  if (len > 0 && buf[len - 1] == '\r') buf[--len] = '\0'; /* CRLF */
  if (len > MAX_LINE) return -1;
  return 1;
}

/* ---- delete */

static unsigned long reports;

static void report(unsigned long lineno, const char *what, const char *detail) {
  if (++reports > MAX_REPORTS) return;
  if (serving)
    printf("!line %lu: %s%s%s\n", lineno, what, detail ? ": " : "", detail ? detail : "");
  else
    fprintf(stderr, "policyc-conntrack: line %lu: %s%s%s\n", lineno, what, detail ? ": " : "", detail ? detail : "");
}

/* a decimal number in [0, max]; -1 when it is not one */
static long number(const char *s, long max) {
  if (!*s || strlen(s) > 10) return -1;
  char *end;
  long v = strtol(s, &end, 10);
  if (*end || v < 0 || v > max || s[0] == '+' || s[0] == '-' || s[0] == ' ') return -1;
  return v;
}

/*
 * Parses "FAMILY PROTO ZONE SRC DST A B C" into a fresh ct; NULL on success, else what is wrong.
 */
static const char *parse_entry(char *line, struct nf_conntrack *ct) {
  char *f[13];
  int n = 0;
  for (char *save = NULL, *t = strtok_r(line, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
    if (n == 13) return "more than 13 fields";
    f[n++] = t;
  }
  if (n != 8 && n != 13) return "expected 8 fields (FAMILY PROTO ZONE SRC DST A B C) or a listed line of 13";
  uint8_t family;
  if (!strcmp(f[0], "4"))
    family = AF_INET;
  else if (!strcmp(f[0], "6"))
    family = AF_INET6;
  else
    return "family is not 4 or 6";
  long proto = number(f[1], 255);
  if (proto < 0) return "bad protocol number";
  long zone = number(f[2], 65535);
  if (zone < 0) return strchr(f[2], '/') ? "directional zones cannot be deleted by tuple" : "bad zone";
  unsigned char src[16], dst[16];
  if (inet_pton(family, f[3], src) != 1 || inet_pton(family, f[4], dst) != 1) return "bad address for the family";
  nfct_set_attr_u8(ct, ATTR_ORIG_L3PROTO, family);
  nfct_set_attr_u8(ct, ATTR_ORIG_L4PROTO, (uint8_t)proto);
  nfct_set_attr(ct, family == AF_INET ? ATTR_ORIG_IPV4_SRC : ATTR_ORIG_IPV6_SRC, src);
  nfct_set_attr(ct, family == AF_INET ? ATTR_ORIG_IPV4_DST : ATTR_ORIG_IPV6_DST, dst);
  nfct_set_attr_u16(ct, ATTR_ZONE, (uint16_t)zone);
  if (has_ports((uint8_t)proto)) {
    long sport = number(f[5], 65535), dport = number(f[6], 65535);
    if (sport < 0 || dport < 0 || strcmp(f[7], "-")) return "bad ports (SPORT DPORT -)";
    nfct_set_attr_u16(ct, ATTR_ORIG_PORT_SRC, htons((uint16_t)sport));
    nfct_set_attr_u16(ct, ATTR_ORIG_PORT_DST, htons((uint16_t)dport));
  } else if (is_icmp(family, (uint8_t)proto)) {
    long type = number(f[5], 255), code = number(f[6], 255), id = number(f[7], 65535);
    if (type < 0 || code < 0 || id < 0) return "bad ICMP fields (TYPE CODE ID)";
    nfct_set_attr_u8(ct, ATTR_ICMP_TYPE, (uint8_t)type);
    nfct_set_attr_u8(ct, ATTR_ICMP_CODE, (uint8_t)code);
    nfct_set_attr_u16(ct, ATTR_ICMP_ID, htons((uint16_t)id));
  } else {
    return "only tcp, udp, sctp, dccp, udplite, icmp and icmpv6 entries can be deleted by tuple";
  }
  return NULL;
}

struct delete_counts {
  unsigned long deleted, gone, failed;
};

/*
 * Deletes the entries of the next `limit` lines of stdin (limit < 0: up to EOF). -1 = out of
 * memory, or (limit >= 0) EOF before `limit` lines; else 0 (c has the counts; a blank line
 * counts as no entry).
 */
static int delete_entries(struct nfct_handle *h, long limit, struct delete_counts *c) {
  unsigned long lineno = 0;
  char line[MAX_LINE + 2];
  memset(c, 0, sizeof *c);
  reports = 0;
  while (limit < 0 || (long)lineno < limit) {
    int r = read_line(line, sizeof line);
    if (r == 0) break;
    lineno++;
    if (r < 0) {
      c->failed++;
      report(lineno, "line too long", NULL);
      continue;
    }
    size_t len = strlen(line);
    if (strspn(line, " \t\r") == len) continue; /* blank */
    struct nf_conntrack *ct = nfct_new(); /* a fresh object per line: nothing of the previous one survives */
    if (!ct) {
      fprintf(stderr, "policyc-conntrack: out of memory\n");
      return -1;
    }
    const char *bad = parse_entry(line, ct);
    if (bad) {
      c->failed++;
      report(lineno, bad, NULL);
    } else if (nfct_query(h, NFCT_Q_DESTROY, ct) == 0) {
      c->deleted++;
    } else if (errno == ENOENT) {
      c->gone++;
    } else {
      c->failed++;
      report(lineno, "delete", strerror(errno));
    }
    nfct_destroy(ct);
  }
  if (ferror(stdin)) {
    fprintf(stderr, "policyc-conntrack: reading stdin: %s\n", strerror(errno));
    c->failed++;
    return limit < 0 ? 0 : -1;
  }
  if (limit >= 0 && (long)lineno < limit) return -1; /* EOF inside a served batch: the client is gone */
  if (reports > MAX_REPORTS) {
    if (serving)
      printf("!%lu more problems not shown\n", reports - MAX_REPORTS);
    else
      fprintf(stderr, "policyc-conntrack: %lu more problems not shown\n", reports - MAX_REPORTS);
  }
  return 0;
}

/* ---- local routes (rtnetlink) */

struct text {
  char *p;
  size_t len, cap;
};

static int text_add(struct text *t, const char *s) {
  size_t n = strlen(s);
  if (t->len + n + 1 > t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 4096;
    while (cap < t->len + n + 1) cap *= 2;
    char *p = realloc(t->p, cap);
    if (!p) return -1;
    t->p = p;
    t->cap = cap;
  }
  memcpy(t->p + t->len, s, n + 1);
  t->len += n;
  return 0;
}

static const char *route_type(unsigned char type) {
  switch (type) {
  case RTN_LOCAL:
    return "local";
  case RTN_BROADCAST:
    return "broadcast";
  case RTN_ANYCAST:
    return "anycast";
  case RTN_MULTICAST:
    return "multicast";
  case RTN_UNICAST:
    return "unicast";
  default:
    return "other";
  }
}

/*
 * One RTM_GETROUTE dump of every family: the routes of the local table (v4 and v6) as route
 * lines in out. 0 = complete, 1 = the kernel flagged the dump inconsistent (a route changed
 * during it: dump again), -1 = failed (msg).
 */
static int dump_local_routes(struct text *out, unsigned long *count, char *msg, size_t size) {
  static uint32_t seq;
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) {
    snprintf(msg, size, "rtnetlink socket: %s", strerror(errno));
    return -1;
  }
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  struct {
    struct nlmsghdr nh;
    struct rtmsg rt;
  } req;
  memset(&req, 0, sizeof req);
  req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg));
  req.nh.nlmsg_type = RTM_GETROUTE;
  req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.nh.nlmsg_seq = ++seq;
  req.rt.rtm_family = AF_UNSPEC; /* every family: IPv4 and IPv6 (others are skipped) */
  if (sendto(fd, &req, req.nh.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) {
    snprintf(msg, size, "rtnetlink send: %s", strerror(errno));
    close(fd);
    return -1;
  }
  static char buf[1 << 16] __attribute__((aligned(NLMSG_ALIGNTO)));
  int rc = -1, inconsistent = 0;
  for (;;) {
    struct sockaddr_nl from;
    struct iovec iov = {buf, sizeof buf};
    struct msghdr mh = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov, .msg_iovlen = 1};
    ssize_t n = recvmsg(fd, &mh, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      snprintf(msg, size, "rtnetlink receive: %s", strerror(errno));
      goto out;
    }
    if (n == 0 || (mh.msg_flags & MSG_TRUNC)) {
      snprintf(msg, size, "rtnetlink receive: %s", n == 0 ? "socket closed" : "message truncated");
      goto out;
    }
    int len = (int)n;
    for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, len); nh = NLMSG_NEXT(nh, len)) {
      if (from.nl_pid != 0 || nh->nlmsg_seq != req.nh.nlmsg_seq) continue; /* not the kernel's answer to this dump */
      if (nh->nlmsg_flags & NLM_F_DUMP_INTR) inconsistent = 1;
      if (nh->nlmsg_type == NLMSG_DONE) {
        rc = inconsistent ? 1 : 0;
        if (nh->nlmsg_len >= NLMSG_LENGTH(sizeof(int))) {
          int err = *(int *)NLMSG_DATA(nh);
          if (err < 0) {
            snprintf(msg, size, "rtnetlink dump: %s", strerror(-err));
            rc = -1;
          }
        }
        goto out;
      }
      if (nh->nlmsg_type == NLMSG_ERROR) {
        const struct nlmsgerr *e = NLMSG_DATA(nh);
        snprintf(msg, size, "rtnetlink dump: %s", nh->nlmsg_len >= NLMSG_LENGTH(sizeof *e) ? strerror(-e->error) : "truncated error");
        goto out;
      }
      if (nh->nlmsg_type != RTM_NEWROUTE || nh->nlmsg_len < NLMSG_LENGTH(sizeof(struct rtmsg))) continue;
      const struct rtmsg *rt = NLMSG_DATA(nh);
      if (rt->rtm_family != AF_INET && rt->rtm_family != AF_INET6) continue; /* ipmr, mpls, ... */
      unsigned alen = rt->rtm_family == AF_INET ? 4 : 16;
      uint32_t table = rt->rtm_table;
      const void *dst = NULL;
      int alen_left = (int)RTM_PAYLOAD(nh);
      for (struct rtattr *a = RTM_RTA(rt); RTA_OK(a, alen_left); a = RTA_NEXT(a, alen_left)) {
        if (a->rta_type == RTA_TABLE && RTA_PAYLOAD(a) >= sizeof(uint32_t))
          memcpy(&table, RTA_DATA(a), sizeof table);
        else if (a->rta_type == RTA_DST && RTA_PAYLOAD(a) == alen)
          dst = RTA_DATA(a);
      }
      if (table != RT_TABLE_LOCAL || !dst) continue;
      char addr[INET6_ADDRSTRLEN], line[96];
      inet_ntop(rt->rtm_family, dst, addr, sizeof addr);
      snprintf(line, sizeof line, "L %s %s/%u\n", route_type(rt->rtm_type), addr, rt->rtm_dst_len);
      if (text_add(out, line)) {
        snprintf(msg, size, "out of memory");
        goto out;
      }
      (*count)++;
    }
  }
out:
  close(fd);
  return rc;
}

/* The local table's routes on stdout; 0, or -1 with msg. */
static int list_local(unsigned long *count, char *msg, size_t size) {
  struct text out = {0};
  int rc = 1;
  for (int attempt = 0; attempt < 5 && rc == 1; attempt++) {
    out.len = 0;
    *count = 0;
    if (out.p) out.p[0] = '\0';
    rc = dump_local_routes(&out, count, msg, size);
  }
  if (rc == 1) snprintf(msg, size, "rtnetlink dump: interrupted by route changes 5 times");
  if (rc == 0 && out.len) fputs(out.p, stdout);
  free(out.p);
  return rc == 0 ? 0 : -1;
}

/* ---- serve */

static void answer(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void answer(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  if (fflush(stdout) != 0 || ferror(stdout)) exit(1); /* the reader is gone */
}

static int serve(void) {
  static char out[1 << 16];
  setvbuf(stdout, out, _IOFBF, sizeof(out));
  char msg[256];
  struct nfct_handle *h = open_ct();
  if (!h) {
    /* said once at start: the client sees the exit before its first answer */
    open_failed(msg, sizeof msg);
    fprintf(stderr, "policyc-conntrack: %s\n", msg);
    return 1;
  }
  char req[MAX_LINE + 2];
  for (;;) {
    int r = read_line(req, sizeof req);
    if (r == 0) break; /* EOF: the daemon closed us */
    if (r < 0) {
      answer("=error request line too long\n");
      continue;
    }
    char *save = NULL, *verb = strtok_r(req, " ", &save), *arg = strtok_r(NULL, " ", &save), *extra = strtok_r(NULL, " ", &save);
    if (!verb) {
      answer("=error empty request\n");
    } else if (!strcmp(verb, "ping") && !arg) {
      answer("=ok ping\n");
    } else if (!strcmp(verb, "list") && !extra) {
      long max = arg ? number(arg, LONG_MAX / 2) : 0;
      if (max < 0) {
        answer("=error list: bad MAX\n");
        continue;
      }
      int reopen = 0;
      if (list_entries(h, (unsigned long)max, &reopen, msg, sizeof msg) == 0)
        answer("=ok list entries=%lu truncated=%d\n", list_st.count, list_st.truncated);
      else
        answer("=error list: %s\n", msg);
      if (reopen) {
        /* the rest of a stopped or failed dump must not be read as the next answer */
        nfct_close(h);
        if (!(h = open_ct())) {
          /* the client sees the exit, logs it with this, and starts another at its next request */
          open_failed(msg, sizeof msg);
          fprintf(stderr, "policyc-conntrack: reopening %s\n", msg);
          return 1;
        }
      }
    } else if (!strcmp(verb, "delete") && arg && !extra) {
      long n = number(arg, MAX_BATCH);
      if (n < 0) {
        /* the lines that follow cannot be told from requests: the client never sends this */
        answer("=error delete: bad count\n");
        continue;
      }
      struct delete_counts c;
      if (delete_entries(h, n, &c) < 0) return 1; /* stdin ended inside the batch, or out of memory */
      answer("=ok delete deleted=%lu gone=%lu failed=%lu\n", c.deleted, c.gone, c.failed);
    } else if (!strcmp(verb, "local") && !arg) {
      unsigned long count = 0;
      if (list_local(&count, msg, sizeof msg) == 0)
        answer("=ok local routes=%lu\n", count);
      else
        answer("=error local: %s\n", msg);
    } else {
      answer("=error unknown request (list [MAX] | delete N | local | ping)\n");
    }
  }
  nfct_close(h);
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 2 || (strcmp(argv[1], "list") && strcmp(argv[1], "delete") && strcmp(argv[1], "local") && strcmp(argv[1], "serve"))) {
    fputs(usage, stderr);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN); /* a closed stdout is a write error, not a silent death */
  if (!strcmp(argv[1], "serve")) {
    serving = 1;
    return serve();
  }
  char msg[256];
  if (!strcmp(argv[1], "local")) {
    unsigned long count = 0;
    if (list_local(&count, msg, sizeof msg) < 0) {
      fprintf(stderr, "policyc-conntrack: %s\n", msg);
      return 1;
    }
    return fflush(stdout) == 0 ? 0 : 1;
  }
  struct nfct_handle *h = open_ct();
  if (!h) {
    open_failed(msg, sizeof msg);
    fprintf(stderr, "policyc-conntrack: %s\n", msg);
    return 1;
  }
  int rc;
  if (!strcmp(argv[1], "list")) {
    static char out[1 << 16];
    setvbuf(stdout, out, _IOFBF, sizeof(out));
    int reopen = 0;
    rc = list_entries(h, 0, &reopen, msg, sizeof msg) == 0 ? 0 : 1;
    if (rc && !list_st.write_failed) fprintf(stderr, "policyc-conntrack: %s\n", msg); /* reader gone: no message, it knows */
  } else {
    struct delete_counts c;
    rc = delete_entries(h, -1, &c) < 0 ? 1 : 0;
    if (!rc) {
      printf("deleted=%lu gone=%lu failed=%lu\n", c.deleted, c.gone, c.failed);
      fflush(stdout);
      rc = c.failed ? 1 : 0;
    }
  }
  nfct_close(h);
  return rc;
}
