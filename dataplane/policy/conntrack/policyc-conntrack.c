/*
 * policyc-conntrack: lists conntrack entries and deletes exact ones over ctnetlink, for the
 * policy engine's denied-flow flush (../conntrack-flush.ts).
 *
 * Why C: ctnetlink is a NETLINK_NETFILTER socket, which Node cannot open without a native addon.
 * Why not the conntrack tool: `conntrack -D` dumps the whole table once per delete filter (20k
 * denied entries over 500 filters took 5.6-8.1 s); here each delete is one IPCTNL_MSG_CT_DELETE
 * carrying the exact original tuple (a hash lookup in the kernel, no dump). libnetfilter_conntrack
 * (netfilter's own library, Debian libnetfilter-conntrack-dev) builds and parses the messages.
 * It works on the network namespace it runs in; the daemon starts it inside the node netns
 * (nsenter --net, argument arrays, never a shell).
 *
 * Usage:
 *   policyc-conntrack list      every entry (IPv4 and IPv6, every zone), one line each, on stdout
 *   policyc-conntrack delete    entries read from stdin, one per line; each deleted by its
 *                               original tuple and zone; prints the counts
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
 *
 * `delete` prints one line on stdout at the end: `deleted=N gone=N failed=N` (gone = the kernel
 * had no such entry any more: ENOENT). Lines longer than MAX_LINE bytes, lines that do not parse
 * and entries the kernel refuses count as failed, with a message on stderr (the first
 * MAX_REPORTS of them). Exit: 0 = done (for delete: nothing failed), 1 = a netlink error, or
 * some deletes failed (the counts are still printed), 2 = bad usage.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LINE 512
#define MAX_REPORTS 10

static const char *usage = "usage: policyc-conntrack list | delete   (delete reads entries on stdin: FAMILY PROTO ZONE SRC DST A B C)\n";

static int has_ports(uint8_t proto) {
  return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP || proto == IPPROTO_DCCP || proto == IPPROTO_UDPLITE;
}

static int is_icmp(uint8_t family, uint8_t proto) {
  return (family == AF_INET && proto == IPPROTO_ICMP) || (family == AF_INET6 && proto == IPPROTO_ICMPV6);
}

/* ---- list */

static int write_failed;

static int print_entry(enum nf_conntrack_msg_type type, struct nf_conntrack *ct, void *data) {
  (void)type;
  (void)data;
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
  if (ferror(stdout)) {
    write_failed = 1; /* the reader went away */
    return NFCT_CB_STOP;
  }
  return NFCT_CB_CONTINUE;
}

static int list_entries(struct nfct_handle *h) {
  static char out[1 << 16];
  setvbuf(stdout, out, _IOFBF, sizeof(out));
  /* a dump is paced by our reads; a large buffer only saves syscalls */
  nfnl_rcvbufsiz(nfct_nfnlh(h), 4 * 1024 * 1024);
  if (nfct_callback_register(h, NFCT_T_ALL, print_entry, NULL) < 0) {
    fprintf(stderr, "policyc-conntrack: callback: %s\n", strerror(errno));
    return 1;
  }
  uint32_t family = AF_UNSPEC; /* both families */
  int r = nfct_query(h, NFCT_Q_DUMP, &family);
  int err = errno;
  if (fflush(stdout) != 0 || write_failed) return 1; /* reader gone: no message, it knows */
  if (r < 0) {
    fprintf(stderr, "policyc-conntrack: dump: %s\n", strerror(err));
    return 1;
  }
  return 0;
}

/* ---- delete */

static unsigned long reports;

static void report(unsigned long lineno, const char *what, const char *detail) {
  if (++reports <= MAX_REPORTS) fprintf(stderr, "policyc-conntrack: line %lu: %s%s%s\n", lineno, what, detail ? ": " : "", detail ? detail : "");
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

static int delete_entries(struct nfct_handle *h) {
  unsigned long deleted = 0, gone = 0, failed = 0, lineno = 0;
  char line[MAX_LINE + 2];
  while (fgets(line, sizeof(line), stdin)) {
    lineno++;
    size_t len = strlen(line);
    if (len > 0 && line[len - 1] == '\n') {
      line[--len] = '\0';
    } else if (!feof(stdin)) {
      /* longer than MAX_LINE: skip the rest of it */
      int c;
      while ((c = getchar()) != EOF && c != '\n') {
      }
      failed++;
      report(lineno, "line too long", NULL);
      continue;
    }
    if (len > 0 && line[len - 1] == '\r') line[--len] = '\0'; /* CRLF */
    if (len > MAX_LINE) {
      failed++;
      report(lineno, "line too long", NULL);
      continue;
    }
    if (strspn(line, " \t\r") == len) continue; /* blank */
    struct nf_conntrack *ct = nfct_new(); /* a fresh object per line: nothing of the previous one survives */
    if (!ct) {
      fprintf(stderr, "policyc-conntrack: out of memory\n");
      return 1;
    }
    const char *bad = parse_entry(line, ct);
    if (bad) {
      failed++;
      report(lineno, bad, NULL);
    } else if (nfct_query(h, NFCT_Q_DESTROY, ct) == 0) {
      deleted++;
    } else if (errno == ENOENT) {
      gone++;
    } else {
      failed++;
      report(lineno, "delete", strerror(errno));
    }
    nfct_destroy(ct);
  }
  if (ferror(stdin)) {
    fprintf(stderr, "policyc-conntrack: reading stdin: %s\n", strerror(errno));
    failed++;
  }
  if (reports > MAX_REPORTS) fprintf(stderr, "policyc-conntrack: %lu more problems not shown\n", reports - MAX_REPORTS);
  printf("deleted=%lu gone=%lu failed=%lu\n", deleted, gone, failed);
  fflush(stdout);
  return failed ? 1 : 0;
}

int main(int argc, char **argv) {
  if (argc != 2 || (strcmp(argv[1], "list") && strcmp(argv[1], "delete"))) {
    fputs(usage, stderr);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN); /* a closed stdout is a write error, not a silent death */
  struct nfct_handle *h = nfct_open(CONNTRACK, 0);
  if (!h) {
    fprintf(stderr, "policyc-conntrack: ctnetlink: %s%s\n", strerror(errno), errno == EPERM ? " (needs CAP_NET_ADMIN)" : "");
    return 1;
  }
  int rc = !strcmp(argv[1], "list") ? list_entries(h) : delete_entries(h);
  nfct_close(h);
  return rc;
}
