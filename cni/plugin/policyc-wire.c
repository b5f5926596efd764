/*
 * policyc-wire: the daemon's netlink worker for pod wiring.
 *
 * Why: wiring a pod with `ip -batch` costs two process spawns per ADD (one per netns);
 * from Node each spawn is 2-5 ms here, more than the kernel work itself. The daemon
 * starts this helper once and sends it one line per step; it does the netlink calls
 * directly, entering each namespace with setns(2), so an ADD costs no process start.
 *
 * Protocol (stdin -> stdout, one line each way, tab-separated, processed in order):
 *   <id> HOST <hostns> <podns> <hostVeth> <ifname> <mtu> <hostMac> <podMac> <allocs>
 *        create the veth pair (host end up; the peer created directly in podns under
 *        ifname), put each gateway on the host end and route each pod IP to it.
 *   <id> POD <podns> <ifname> <allocs>
 *        bring the pod end up, add its addresses, the route to the gateway and the
 *        default route.
 *   <id> DEL <hostns> <name>          delete a link (rollback of a failed ADD)
 * <hostns> is a netns path, or "-" for the helper's own netns. <allocs> is a comma list
 * of family/ip/prefixlen/gateway, e.g. 4/10.1.0.5/32/10.1.0.1,6/fd00::5/128/fe80::1.
 * Replies: "<id> OK", or "<id> ERR <stage> <message>" where stage "create" means nothing
 * was created and "config" means the pair exists (the caller removes it).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif
#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif

static char g_err[512];
static unsigned g_seq;
static int g_self_ns = -1;

/* ---- netlink message building ---- */
typedef struct { struct nlmsghdr *h; size_t cap; } msg;

static void *msg_tail(msg *m) { return (char *)m->h + NLMSG_ALIGN(m->h->nlmsg_len); }

static struct rtattr *put_attr(msg *m, int type, const void *data, size_t len) {
  struct rtattr *a = msg_tail(m);
  size_t total = NLMSG_ALIGN(m->h->nlmsg_len) + RTA_SPACE(len);
  if (total > m->cap) { fputs("policyc-wire: message too large\n", stderr); exit(1); }
  a->rta_type = (unsigned short)type;
  a->rta_len = (unsigned short)RTA_LENGTH(len);
  if (len) memcpy(RTA_DATA(a), data, len);
  m->h->nlmsg_len = (unsigned)total;
  return a;
}
static struct rtattr *nest_start(msg *m, int type) { return put_attr(m, type, NULL, 0); }
static void nest_end(msg *m, struct rtattr *a) { a->rta_len = (unsigned short)((char *)msg_tail(m) - (char *)a); }
static void put_str(msg *m, int type, const char *s) { put_attr(m, type, s, strlen(s) + 1); }
static void put_u32(msg *m, int type, unsigned v) { put_attr(m, type, &v, sizeof v); }

static void msg_init(msg *m, void *buf, size_t cap, int type, int flags, const void *hdr, size_t hdrlen) {
  memset(buf, 0, cap);
  m->h = buf;
  m->cap = cap;
  m->h->nlmsg_type = (unsigned short)type;
  m->h->nlmsg_flags = (unsigned short)(NLM_F_REQUEST | NLM_F_ACK | flags);
  m->h->nlmsg_seq = ++g_seq;
  m->h->nlmsg_len = (unsigned)NLMSG_LENGTH(hdrlen);
  memcpy(NLMSG_DATA(m->h), hdr, hdrlen);
}

/* Sends one request and waits for its ACK; on failure fills g_err (with the kernel's extack text). */
static int nl_talk(int fd, msg *m, const char *what) {
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  if (sendto(fd, m->h, m->h->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) {
    snprintf(g_err, sizeof g_err, "%s: send: %s", what, strerror(errno));
    return -1;
  }
  char buf[8192];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0) { if (errno == EINTR) continue; snprintf(g_err, sizeof g_err, "%s: recv: %s", what, strerror(errno)); return -1; }
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (unsigned)n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_seq != m->h->nlmsg_seq || h->nlmsg_type != NLMSG_ERROR) continue;
      struct nlmsgerr *e = NLMSG_DATA(h);
      if (e->error == 0) return 0;
      const char *ext = "";
      if (h->nlmsg_flags & NLM_F_ACK_TLVS) { /* extended ack: find NLMSGERR_ATTR_MSG */
        size_t off = NLMSG_LENGTH(sizeof *e);
        if (!(h->nlmsg_flags & NLM_F_CAPPED)) off += e->msg.nlmsg_len - NLMSG_HDRLEN;
        for (struct rtattr *a = (struct rtattr *)((char *)h + NLMSG_ALIGN(off)); (char *)a + sizeof *a <= (char *)h + h->nlmsg_len && a->rta_len >= sizeof *a;
             a = (struct rtattr *)((char *)a + RTA_ALIGN(a->rta_len)))
          if (a->rta_type == NLMSGERR_ATTR_MSG) ext = RTA_DATA(a);
      }
      snprintf(g_err, sizeof g_err, "%s: %s%s%s", what, strerror(-e->error), *ext ? ": " : "", ext);
      errno = -e->error;
      return -1;
    }
  }
}

static int nl_open(void) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  return fd;
}

/* ---- namespaces: a netlink socket belongs to the netns it was created in ---- */
static int enter_ns(const char *path, int *nsfd_out) {
  int fd = strcmp(path, "-") == 0 ? dup(g_self_ns) : open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
    snprintf(g_err, sizeof g_err, "netns %s: %s", path, strerror(errno));
    if (fd >= 0) close(fd);
    return -1;
  }
  if (nsfd_out) *nsfd_out = fd; else close(fd);
  return 0;
}
static void leave_ns(void) { setns(g_self_ns, CLONE_NEWNET); }

/* ---- address plan ---- */
typedef struct { int family, plen; unsigned char ip[16], gw[16]; } alloc;

static int parse_allocs(char *s, alloc *out, int max) {
  int n = 0;
  for (char *item = strtok(s, ","); item && n < max; item = strtok(NULL, ",")) {
    char *fam = strsep(&item, "/"), *ip = strsep(&item, "/"), *plen = strsep(&item, "/"), *gw = item;
    if (!fam || !ip || !plen || !gw) return -1;
    alloc *a = &out[n++];
    a->family = atoi(fam) == 6 ? AF_INET6 : AF_INET;
    a->plen = atoi(plen);
    if (inet_pton(a->family, ip, a->ip) != 1 || inet_pton(a->family, gw, a->gw) != 1) return -1;
  }
  return n;
}
static size_t alen(int family) { return family == AF_INET ? 4 : 16; }

static int parse_mac(const char *s, unsigned char mac[6]) {
  return sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2], &mac[3], &mac[4], &mac[5]) == 6 ? 0 : -1;
}

static int add_addr(int fd, int ifindex, int family, const unsigned char *ip, int plen, const char *what) {
  char buf[512];
  msg m;
  struct ifaddrmsg ifa = {.ifa_family = (unsigned char)family, .ifa_prefixlen = (unsigned char)plen, .ifa_index = (unsigned)ifindex,
                          .ifa_flags = family == AF_INET6 ? IFA_F_NODAD : 0};
  msg_init(&m, buf, sizeof buf, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &ifa, sizeof ifa);
  put_attr(&m, IFA_LOCAL, ip, alen(family));
  put_attr(&m, IFA_ADDRESS, ip, alen(family));
  return nl_talk(fd, &m, what);
}

/* dst/dlen via gw (NULL = directly on the link) out of ifindex */
static int add_route(int fd, int ifindex, int family, const unsigned char *dst, int dlen, const unsigned char *gw, int replace, const char *what) {
  char buf[512];
  msg m;
  struct rtmsg rt = {.rtm_family = (unsigned char)family, .rtm_dst_len = (unsigned char)dlen, .rtm_table = RT_TABLE_MAIN,
                     .rtm_protocol = RTPROT_BOOT, .rtm_type = RTN_UNICAST,
                     .rtm_scope = (gw || family == AF_INET6) ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK};
  msg_init(&m, buf, sizeof buf, RTM_NEWROUTE, NLM_F_CREATE | (replace ? NLM_F_REPLACE : NLM_F_EXCL), &rt, sizeof rt);
  if (dlen) put_attr(&m, RTA_DST, dst, alen(family));
  if (gw) put_attr(&m, RTA_GATEWAY, gw, alen(family));
  put_u32(&m, RTA_OIF, (unsigned)ifindex);
  return nl_talk(fd, &m, what);
}

static int link_up(int fd, int ifindex) {
  char buf[128];
  msg m;
  struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC, .ifi_index = ifindex, .ifi_flags = IFF_UP, .ifi_change = IFF_UP};
  msg_init(&m, buf, sizeof buf, RTM_NEWLINK, 0, &ifi, sizeof ifi);
  return nl_talk(fd, &m, "pod link up");
}

static int del_link(int fd, const char *name) {
  char buf[256];
  msg m;
  struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC};
  msg_init(&m, buf, sizeof buf, RTM_DELLINK, 0, &ifi, sizeof ifi);
  put_str(&m, IFLA_IFNAME, name);
  return nl_talk(fd, &m, "delete link");
}

/* ---- the steps ---- */
static const char *do_host(char **f, int nf) {
  if (nf != 10) { snprintf(g_err, sizeof g_err, "HOST needs 8 arguments"); return "create"; }
  const char *hostns = f[2], *podns = f[3], *hveth = f[4], *ifname = f[5];
  unsigned mtu = (unsigned)atoi(f[6]);
  unsigned char hmac[6], pmac[6];
  alloc al[4];
  int na = parse_allocs(f[9], al, 4);
  if (parse_mac(f[7], hmac) || parse_mac(f[8], pmac) || na <= 0) { snprintf(g_err, sizeof g_err, "bad HOST arguments"); return "create"; }
  int podfd = open(podns, O_RDONLY | O_CLOEXEC);
  if (podfd < 0) { snprintf(g_err, sizeof g_err, "netns %s: %s", podns, strerror(errno)); return "create"; }
  if (enter_ns(hostns, NULL) != 0) { close(podfd); return "create"; }
  int fd = nl_open();
  const char *stage = "create";
  if (fd < 0) { snprintf(g_err, sizeof g_err, "netlink socket: %s", strerror(errno)); goto out; }

  /* the pair, host end up at creation; the peer is born inside the pod netns (down: veth
     cannot open a peer before the pair is linked, the kernel answers ENOTCONN) */
  char buf[1024];
  msg m;
  struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC, .ifi_flags = IFF_UP, .ifi_change = IFF_UP};
  msg_init(&m, buf, sizeof buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifi, sizeof ifi);
  put_str(&m, IFLA_IFNAME, hveth);
  put_u32(&m, IFLA_MTU, mtu);
  put_attr(&m, IFLA_ADDRESS, hmac, 6);
  struct rtattr *linkinfo = nest_start(&m, IFLA_LINKINFO);
  put_str(&m, IFLA_INFO_KIND, "veth");
  struct rtattr *data = nest_start(&m, IFLA_INFO_DATA);
  struct rtattr *peer = nest_start(&m, VETH_INFO_PEER);
  struct ifinfomsg *pifi = msg_tail(&m);
  memset(pifi, 0, sizeof *pifi);
  m.h->nlmsg_len += (unsigned)NLMSG_ALIGN(sizeof *pifi);
  put_str(&m, IFLA_IFNAME, ifname);
  put_u32(&m, IFLA_MTU, mtu);
  put_attr(&m, IFLA_ADDRESS, pmac, 6);
  put_u32(&m, IFLA_NET_NS_FD, (unsigned)podfd);
  nest_end(&m, peer);
  nest_end(&m, data);
  nest_end(&m, linkinfo);
  if (nl_talk(fd, &m, "create veth") != 0) goto out;

  stage = "config";
  int idx = (int)if_nametoindex(hveth);
  if (!idx) { snprintf(g_err, sizeof g_err, "%s: %s", hveth, strerror(errno)); goto out; }
  for (int i = 0; i < na; i++) {
    /* the gateway on every host veth answers the pod's ARP/ND locally (ptp-style) */
    int gplen = al[i].family == AF_INET ? 32 : 64;
    if (add_addr(fd, idx, al[i].family, al[i].gw, gplen, "host gateway address") != 0) goto out;
    /* replace: a veth still being torn down may hold the route for a just-reused IP */
    if (add_route(fd, idx, al[i].family, al[i].ip, al[i].plen, NULL, 1, "host route to pod") != 0) goto out;
  }
  stage = NULL;
out:
  if (fd >= 0) close(fd);
  close(podfd);
  leave_ns();
  return stage;
}

static const char *do_pod(char **f, int nf) {
  if (nf != 5) { snprintf(g_err, sizeof g_err, "POD needs 3 arguments"); return "config"; }
  const char *podns = f[2], *ifname = f[3];
  alloc al[4];
  int na = parse_allocs(f[4], al, 4);
  if (na <= 0) { snprintf(g_err, sizeof g_err, "bad POD arguments"); return "config"; }
  if (enter_ns(podns, NULL) != 0) return "config";
  const char *stage = "config";
  int fd = nl_open();
  if (fd < 0) { snprintf(g_err, sizeof g_err, "netlink socket: %s", strerror(errno)); goto out; }
  int idx = (int)if_nametoindex(ifname);
  if (!idx) { snprintf(g_err, sizeof g_err, "%s in %s: %s", ifname, podns, strerror(errno)); goto out; }
  if (link_up(fd, idx) != 0) goto out;
  for (int i = 0; i < na; i++) {
    alloc *a = &al[i];
    if (add_addr(fd, idx, a->family, a->ip, a->plen, "pod address") != 0) goto out;
    if (a->family == AF_INET && add_route(fd, idx, AF_INET, a->gw, 32, NULL, 0, "pod route to gateway") != 0) goto out;
    if (add_route(fd, idx, a->family, NULL, 0, a->gw, 0, "pod default route") != 0) goto out;
  }
  stage = NULL;
out:
  if (fd >= 0) close(fd);
  leave_ns();
  return stage;
}

static const char *do_del(char **f, int nf) {
  if (nf != 4) { snprintf(g_err, sizeof g_err, "DEL needs 2 arguments"); return "config"; }
  if (enter_ns(f[2], NULL) != 0) return "config";
  int fd = nl_open();
  int rc = fd < 0 ? -1 : del_link(fd, f[3]);
  int err = errno;
  if (fd >= 0) close(fd);
  leave_ns();
  return (rc == 0 || err == ENODEV) ? NULL : "config";
}

int main(void) {
  g_self_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (g_self_ns < 0) { perror("policyc-wire: /proc/self/ns/net"); return 1; }
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  while ((n = getline(&line, &cap, stdin)) > 0) {
    if (line[n - 1] == '\n') line[--n] = 0;
    char *f[16];
    int nf = 0;
    for (char *p = line, *tok; nf < 16 && (tok = strsep(&p, "\t")) != NULL;) f[nf++] = tok;
    if (nf < 2) continue;
    g_err[0] = 0;
    const char *stage = strcmp(f[1], "HOST") == 0 ? do_host(f, nf)
                      : strcmp(f[1], "POD") == 0  ? do_pod(f, nf)
                      : strcmp(f[1], "DEL") == 0  ? do_del(f, nf)
                      : (snprintf(g_err, sizeof g_err, "unknown step %s", f[1]), "create");
    if (stage) {
      for (char *p = g_err; *p; p++) if (*p == '\n' || *p == '\t') *p = ' ';
      printf("%s\tERR\t%s\t%s\n", f[0], stage, g_err);
    } else {
      printf("%s\tOK\n", f[0]);
    }
    fflush(stdout);
  }
  free(line);
  return 0;
}
