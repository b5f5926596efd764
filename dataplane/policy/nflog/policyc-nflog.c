/*
 * policyc-nflog: reads the policy engine's drop samples from NFLOG and prints them as JSON lines.
 *
 * Why C: NFLOG is read from a NETLINK_NETFILTER socket (nfnetlink_log), which Node cannot open
 * without a native addon. This program has no library dependency (no libnetfilter_log): raw
 * netlink, the kernel's uapi headers only. It reads the network namespace it runs in; the
 * daemon starts it inside the node netns (nsenter --net, see ../nflog-reader.ts).
 *
 * Usage: policyc-nflog GROUP [COPY_RANGE]      (COPY_RANGE default 128 bytes of each packet)
 *
 * stdout, one JSON object per line, flushed per line:
 *   {"ready":true,"group":1}                          once the group is bound
 *   {"prefix":"policyc drop 0000abcd np/x/y/ingress/0 ","family":2,"payload":"4500...",
 *    "indev":3,"outdev":0,"hook":2}
 * family is the packet's (2 = IPv4, 10 = IPv6); payload is the hex of the first COPY_RANGE
 * bytes from the network header; indev/outdev are ifindexes (0 = none).
 * stderr: diagnostics. Exit 0 on SIGTERM/SIGINT or when stdout is closed, 1 on a setup error
 * (e.g. EPERM: another process already reads this group in this netns), 2 on bad usage.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <linux/netlink.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define RECV_BUF (256 * 1024)
#define MSG_TYPE(t) ((NFNL_SUBSYS_ULOG << 8) | (t))

static volatile sig_atomic_t stopping;
static int sock = -1;
static uint32_t seq_next = 1;
static unsigned long overruns;

static void on_signal(int sig) {
  (void)sig;
  stopping = 1;
}

/* prints a JSON string (quotes included); bytes >= 0x80 as \u00XX so the line stays valid UTF-8 */
static void json_string(const unsigned char *s, size_t n) {
  putchar('"');
  for (size_t i = 0; i < n && s[i]; i++) {
    unsigned char c = s[i];
    if (c == '"' || c == '\\')
      printf("\\%c", c);
    else if (c < 0x20 || c >= 0x7f)
      printf("\\u%04x", c);
    else
      putchar(c);
  }
  putchar('"');
}

static void emit_packet(const struct nlmsghdr *nh) {
  const struct nfgenmsg *g = NLMSG_DATA(nh);
  if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(*g))) return;
  const unsigned char *prefix = NULL, *payload = NULL;
  size_t prefix_len = 0, payload_len = 0;
  uint32_t indev = 0, outdev = 0;
  int hook = -1;
  const struct nlattr *a = (const struct nlattr *)((const char *)g + NLMSG_ALIGN(sizeof(*g)));
  size_t left = nh->nlmsg_len - NLMSG_LENGTH(sizeof(*g));
  while (left >= sizeof(*a) && a->nla_len >= sizeof(*a) && a->nla_len <= left) {
    const unsigned char *data = (const unsigned char *)a + NLA_HDRLEN;
    size_t len = a->nla_len - NLA_HDRLEN;
    switch (a->nla_type & NLA_TYPE_MASK) {
    case NFULA_PREFIX:
      prefix = data;
      prefix_len = len;
      break;
    case NFULA_PAYLOAD:
      payload = data;
      payload_len = len;
      break;
    case NFULA_IFINDEX_INDEV:
      if (len >= 4) indev = ntohl(*(const uint32_t *)data);
      break;
    case NFULA_IFINDEX_OUTDEV:
      if (len >= 4) outdev = ntohl(*(const uint32_t *)data);
      break;
    case NFULA_PACKET_HDR:
      if (len >= sizeof(struct nfulnl_msg_packet_hdr)) hook = ((const struct nfulnl_msg_packet_hdr *)data)->hook;
      break;
    }
    size_t step = NLA_ALIGN(a->nla_len);
    if (step >= left) break;
    left -= step;
    a = (const struct nlattr *)((const char *)a + step);
  }
  printf("{\"prefix\":");
  json_string(prefix ? prefix : (const unsigned char *)"", prefix_len);
  printf(",\"family\":%u,\"payload\":\"", g->nfgen_family);
  for (size_t i = 0; i < payload_len; i++) printf("%02x", payload[i]);
  printf("\",\"indev\":%u,\"outdev\":%u", indev, outdev);
  if (hook >= 0) printf(",\"hook\":%d", hook);
  printf("}\n");
  if (fflush(stdout) != 0 || ferror(stdout)) stopping = 1; /* reader gone */
}

/*
 * Handles every message of one datagram: prints packets; for the ack of `want_seq` returns
 * 1 + its errno (1 = success). Returns 0 when the datagram held no such ack.
 */
static int handle(const char *buf, size_t n, uint32_t want_seq) {
  int ack = 0;
  for (const struct nlmsghdr *nh = (const struct nlmsghdr *)buf; NLMSG_OK(nh, n); nh = NLMSG_NEXT(nh, n)) {
    if (nh->nlmsg_type == NLMSG_ERROR) {
      const struct nlmsgerr *e = NLMSG_DATA(nh);
      if (want_seq && nh->nlmsg_seq == want_seq) ack = 1 + (e->error < 0 ? -e->error : e->error);
    } else if (nh->nlmsg_type == MSG_TYPE(NFULNL_MSG_PACKET)) {
      emit_packet(nh);
    }
  }
  return ack;
}

/* one config request (NFULNL_MSG_CONFIG) with one attribute; waits for its ack; returns errno or 0 */
static int config(uint8_t family, uint16_t group, uint16_t attr, const void *data, uint16_t len) {
  char req[NLMSG_SPACE(sizeof(struct nfgenmsg)) + NLA_HDRLEN + 16] __attribute__((aligned(NLMSG_ALIGNTO)));
  memset(req, 0, sizeof(req));
  struct nlmsghdr *nh = (struct nlmsghdr *)req;
  nh->nlmsg_len = NLMSG_LENGTH(sizeof(struct nfgenmsg));
  nh->nlmsg_type = MSG_TYPE(NFULNL_MSG_CONFIG);
  nh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  nh->nlmsg_seq = seq_next++;
  struct nfgenmsg *g = NLMSG_DATA(nh);
  g->nfgen_family = family;
  g->version = NFNETLINK_V0;
  g->res_id = htons(group);
  struct nlattr *a = (struct nlattr *)(req + NLMSG_ALIGN(nh->nlmsg_len));
  a->nla_type = attr;
  a->nla_len = NLA_HDRLEN + len;
  memcpy((char *)a + NLA_HDRLEN, data, len);
  nh->nlmsg_len = NLMSG_ALIGN(nh->nlmsg_len) + NLA_ALIGN(a->nla_len);
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  if (sendto(sock, req, nh->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0) return errno;
  static char buf[RECV_BUF];
  for (;;) {
    ssize_t r = recv(sock, buf, sizeof(buf), 0);
    if (r < 0) {
      if (errno == EINTR && !stopping) continue;
      if (errno == ENOBUFS) continue;
      return errno;
    }
    int ack = handle(buf, (size_t)r, nh->nlmsg_seq);
    if (ack) return ack - 1;
  }
}

static int cmd(uint8_t family, uint16_t group, uint8_t command) {
  struct nfulnl_msg_config_cmd c = {.command = command};
  return config(family, group, NFULA_CFG_CMD, &c, sizeof(c));
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: policyc-nflog GROUP [COPY_RANGE]\n");
    return 2;
  }
  char *end;
  long group = strtol(argv[1], &end, 10);
  if (*end || group < 0 || group > 65535) {
    fprintf(stderr, "policyc-nflog: bad group %s\n", argv[1]);
    return 2;
  }
  long range = 128;
  if (argc == 3) {
    range = strtol(argv[2], &end, 10);
    if (*end || range < 20 || range > 65535) {
      fprintf(stderr, "policyc-nflog: bad copy range %s (20..65535)\n", argv[2]);
      return 2;
    }
  }
  /* the daemon is our parent: end with it (SIGTERM: the normal clean exit) */
  pid_t parent = getppid();
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != parent) return 0;
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal; /* no SA_RESTART: recv returns EINTR */
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  sock = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  if (sock < 0) {
    fprintf(stderr, "policyc-nflog: socket(NETLINK_NETFILTER): %s\n", strerror(errno));
    return 1;
  }
  int rcvbuf = 4 * 1024 * 1024;
  if (setsockopt(sock, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
    setsockopt(sock, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  struct sockaddr_nl local = {.nl_family = AF_NETLINK};
  if (bind(sock, (struct sockaddr *)&local, sizeof(local)) < 0) {
    fprintf(stderr, "policyc-nflog: bind: %s\n", strerror(errno));
    return 1;
  }
  /* kernels before 3.17 need the per-family binding; later ones ignore it (errors ignored) */
  cmd(AF_INET, 0, NFULNL_CFG_CMD_PF_UNBIND);
  cmd(AF_INET, 0, NFULNL_CFG_CMD_PF_BIND);
  cmd(AF_INET6, 0, NFULNL_CFG_CMD_PF_UNBIND);
  cmd(AF_INET6, 0, NFULNL_CFG_CMD_PF_BIND);
  int err = cmd(AF_UNSPEC, (uint16_t)group, NFULNL_CFG_CMD_BIND);
  if (err) {
    fprintf(stderr, "policyc-nflog: bind group %ld: %s%s\n", group, strerror(err), (err == EPERM || err == EBUSY) ? " (another process reads this NFLOG group in this network namespace, or no CAP_NET_ADMIN)" : "");
    return 1;
  }
  struct nfulnl_msg_config_mode mode = {.copy_range = htonl((uint32_t)range), .copy_mode = NFULNL_COPY_PACKET};
  if ((err = config(AF_UNSPEC, (uint16_t)group, NFULA_CFG_MODE, &mode, sizeof(mode)))) {
    fprintf(stderr, "policyc-nflog: copy mode: %s\n", strerror(err));
    return 1;
  }
  /* one packet per message, at once (the default batches up to 100 packets or 1 s) */
  uint32_t qthresh = htonl(1);
  if ((err = config(AF_UNSPEC, (uint16_t)group, NFULA_CFG_QTHRESH, &qthresh, sizeof(qthresh))))
    fprintf(stderr, "policyc-nflog: queue threshold: %s (samples may arrive batched)\n", strerror(err));
  printf("{\"ready\":true,\"group\":%ld}\n", group);
  fflush(stdout);

  static char buf[RECV_BUF];
  while (!stopping) {
    ssize_t r = recv(sock, buf, sizeof(buf), 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOBUFS) {
        /* the socket overran: samples were lost, the stream goes on */
        overruns++;
        if ((overruns & (overruns - 1)) == 0) fprintf(stderr, "policyc-nflog: receive buffer overrun (%lu so far); samples lost\n", overruns);
        continue;
      }
      fprintf(stderr, "policyc-nflog: recv: %s\n", strerror(errno));
      return 1;
    }
    handle(buf, (size_t)r, 0);
  }
  close(sock); /* the kernel unbinds the group with the socket */
  return 0;
}
