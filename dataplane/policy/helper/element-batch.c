// Binary element batches of policyc-nft: the request body (format in policyc-nft.c's header)
// becomes one nfnetlink batch on a raw NETLINK_NETFILTER socket, the way nft sends `add element`
// and `delete element` (checked with `nft --debug=mnl`: nested attributes flagged NLA_F_NESTED,
// names NUL-terminated, deletes without the data attribute, a concatenation with intervals with
// NFTA_SET_ELEM_KEY_END after the key), but without libnftables and its cache fetch. No
// library: the messages are a handful of attributes.
#define _GNU_SOURCE
#include "element-batch.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_NAME 255
#define MAX_VALUE 64 /* NFT_DATA_VALUE_MAXLEN */
/* An attribute's length is 16 bits: a message's element list is closed past this many bytes
 * (one element takes at most ~350), and the rest of the command goes in the next message. */
#define ELEMENTS_PER_MESSAGE_BYTES 60000
#define RECEIVE_BUFFER (4 << 20)

enum { OP_DELETE = 0, OP_ADD = 1 };
enum { DATA_NONE = 0, DATA_VALUE = 1, DATA_GOTO = 2, DATA_JUMP = 3 };
/* in the data-kind byte: every key is followed by its end (a concatenation with intervals,
 * nft_set_pipapo), sent as NFTA_SET_ELEM_KEY_END as nft does for adds and deletes alike */
#define WITH_KEY_END 0x80

// ---- reading the body (every length checked; a malformed body exits)

struct reader {
  const uint8_t *p;
  size_t left;
};

static void malformed(const char *what) {
  fprintf(stderr, "policyc-nft: malformed element batch: %s\n", what);
  exit(2);
}

static const uint8_t *take(struct reader *r, size_t n, const char *what) {
  if (n > r->left) malformed(what);
  const uint8_t *p = r->p;
  r->p += n;
  r->left -= n;
  return p;
}

static uint8_t read_u8(struct reader *r, const char *what) {
  return *take(r, 1, what);
}

static uint32_t read_u32(struct reader *r, const char *what) {
  const uint8_t *p = take(r, 4, what);
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

struct name {
  const uint8_t *s;
  uint8_t len;
};

static struct name read_name(struct reader *r, const char *what) {
  struct name n;
  n.len = read_u8(r, what);
  if (n.len == 0) malformed(what);
  n.s = take(r, n.len, what);
  if (memchr(n.s, 0, n.len)) malformed(what);
  return n;
}

// ---- building messages

struct buf {
  uint8_t *d;
  size_t len, cap;
};

/* n more bytes, zeroed (attribute padding); returns their offset (the buffer may move) */
static size_t grow(struct buf *b, size_t n) {
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 65536;
    while (cap < b->len + n) cap *= 2;
    uint8_t *d = realloc(b->d, cap);
    if (!d) {
      fprintf(stderr, "policyc-nft: out of memory building an element batch\n");
      exit(3);
    }
    b->d = d;
    b->cap = cap;
  }
  size_t off = b->len;
  memset(b->d + off, 0, n);
  b->len += n;
  return off;
}

static void attr(struct buf *b, uint16_t type, const void *data, size_t len) {
  size_t off = grow(b, NLA_ALIGN(NLA_HDRLEN + len));
  struct nlattr a = {.nla_len = (uint16_t)(NLA_HDRLEN + len), .nla_type = type};
  memcpy(b->d + off, &a, sizeof a);
  memcpy(b->d + off + NLA_HDRLEN, data, len);
}

/* a string attribute: the name and its NUL */
static void attr_name(struct buf *b, uint16_t type, struct name n) {
  size_t off = grow(b, NLA_ALIGN(NLA_HDRLEN + n.len + 1));
  struct nlattr a = {.nla_len = (uint16_t)(NLA_HDRLEN + n.len + 1), .nla_type = type};
  memcpy(b->d + off, &a, sizeof a);
  memcpy(b->d + off + NLA_HDRLEN, n.s, n.len);
}

static size_t nest_start(struct buf *b, uint16_t type) {
  size_t off = grow(b, NLA_HDRLEN);
  struct nlattr a = {.nla_len = 0, .nla_type = (uint16_t)(type | NLA_F_NESTED)};
  memcpy(b->d + off, &a, sizeof a);
  return off;
}

static void nest_end(struct buf *b, size_t off) {
  uint16_t len = (uint16_t)(b->len - off);
  memcpy(b->d + off + offsetof(struct nlattr, nla_len), &len, sizeof len);
}

static size_t msg_start(struct buf *b, uint16_t type, uint16_t flags, uint32_t seq, uint8_t family, uint16_t res_id) {
  size_t off = grow(b, NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg)));
  struct nlmsghdr h = {.nlmsg_len = 0, .nlmsg_type = type, .nlmsg_flags = flags, .nlmsg_seq = seq, .nlmsg_pid = 0};
  struct nfgenmsg g = {.nfgen_family = family, .version = NFNETLINK_V0, .res_id = htons(res_id)};
  memcpy(b->d + off, &h, sizeof h);
  memcpy(b->d + off + NLMSG_HDRLEN, &g, sizeof g);
  return off;
}

static void msg_end(struct buf *b, size_t off) {
  uint32_t len = (uint32_t)(b->len - off);
  memcpy(b->d + off + offsetof(struct nlmsghdr, nlmsg_len), &len, sizeof len);
}

/* which command (and elements) each message carries, to say which one the kernel refused */
struct sent {
  uint32_t seq;
  uint32_t command;
  uint32_t first, count;
  uint8_t op;
  struct name set;
};

struct sent_list {
  struct sent *v;
  size_t len, cap;
};

static struct sent *sent_add(struct sent_list *l) {
  if (l->len == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 64;
    struct sent *v = realloc(l->v, cap * sizeof *v);
    if (!v) {
      fprintf(stderr, "policyc-nft: out of memory building an element batch\n");
      exit(3);
    }
    l->v = v;
    l->cap = cap;
  }
  return &l->v[l->len++];
}

// ---- the socket (opened at the first batch, kept for the process's life)

static int nl_fd = -1;
static int sndbuf_set;
static uint32_t next_seq;
static char message[1024];
static struct buf batch;
static struct sent_list sent;

static int fail(int err, const char *fmt, const char *detail) {
  snprintf(message, sizeof message, fmt, detail, strerror(err));
  return -err;
}

static int open_socket(void) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  if (fd < 0) return -errno;
  struct sockaddr_nl local = {.nl_family = AF_NETLINK};
  if (bind(fd, (struct sockaddr *)&local, sizeof local) < 0) {
    int err = errno;
    close(fd);
    return -err;
  }
  int one = 1;
  // errors carry only the refused message's header, not its (up to 64 KB) elements: room for
  // thousands of them in the receive buffer
  setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  int rcv = RECEIVE_BUFFER;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof rcv) < 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
  nl_fd = fd;
  next_seq = (uint32_t)getpid() << 16;
  return 0;
}

/* Reads what the kernel queued (it handles a batch inside sendmsg, so after the send every answer
 * is already queued; nft reads them the same way). Nothing asks for acks: any message is an error. */
static int drain(uint32_t seq_lo, uint32_t seq_hi, int *first_err, uint32_t *first_seq, unsigned *errors, int *lost) {
  static uint8_t rbuf[65536];
  for (;;) {
    ssize_t n = recv(nl_fd, rbuf, sizeof rbuf, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      if (errno == ENOBUFS) { /* answers overflowed the receive buffer: they were errors */
        *lost = 1;
        continue;
      }
      return -errno;
    }
    int left = (int)n;
    for (struct nlmsghdr *h = (struct nlmsghdr *)rbuf; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
      if (h->nlmsg_type != NLMSG_ERROR || h->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr))) continue;
      const struct nlmsgerr *e = NLMSG_DATA(h);
      uint32_t seq = e->msg.nlmsg_seq;
      if (e->error == 0 || seq < seq_lo || seq > seq_hi) continue; /* an ack, or a stale answer */
      if (*errors == 0) {
        *first_err = e->error;
        *first_seq = seq;
      }
      ++*errors;
    }
  }
}

static const char *op_name(uint8_t op) {
  return op == OP_ADD ? "add" : "delete";
}

int element_batch_run(const uint8_t *body, size_t len, const char **err) {
  struct reader r = {body, len};
  message[0] = '\0';
  *err = message;
  batch.len = 0;
  sent.len = 0;
  struct name table = read_name(&r, "table name");
  uint32_t commands = read_u32(&r, "command count");
  if (commands == 0) malformed("no command");
  uint32_t seq_lo = next_seq + 1;
  size_t m = msg_start(&batch, NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, ++next_seq, AF_UNSPEC, NFNL_SUBSYS_NFTABLES);
  msg_end(&batch, m);
  for (uint32_t c = 0; c < commands; c++) {
    uint8_t op = read_u8(&r, "op");
    struct name set = read_name(&r, "set name");
    uint8_t key_len = read_u8(&r, "key length");
    uint8_t kind_byte = read_u8(&r, "data kind");
    uint8_t kind = kind_byte & (uint8_t)~WITH_KEY_END;
    int with_end = (kind_byte & WITH_KEY_END) != 0;
    uint8_t value_len = read_u8(&r, "value length");
    uint32_t count = read_u32(&r, "element count");
    if (op != OP_ADD && op != OP_DELETE) malformed("op");
    if (key_len == 0 || key_len > MAX_VALUE) malformed("key length");
    if (kind > DATA_JUMP || (op == OP_DELETE && kind != DATA_NONE)) malformed("data kind");
    if (kind == DATA_VALUE ? value_len == 0 || value_len > MAX_VALUE : value_len != 0) malformed("value length");
    if (count == 0) malformed("element count");
    uint16_t type = (uint16_t)((NFNL_SUBSYS_NFTABLES << 8) | (op == OP_ADD ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM));
    // nft's flags: `add element` creates (an existing key with the same data is no error),
    // `delete element` has none (a missing element fails the batch)
    uint16_t flags = (uint16_t)(NLM_F_REQUEST | (op == OP_ADD ? NLM_F_CREATE : 0));
    size_t msg = 0, elements = 0;
    struct sent *s = NULL;
    for (uint32_t i = 0; i < count; i++) {
      if (!s || batch.len - elements > ELEMENTS_PER_MESSAGE_BYTES) {
        if (s) {
          nest_end(&batch, elements);
          msg_end(&batch, msg);
        }
        s = sent_add(&sent);
        *s = (struct sent){.seq = ++next_seq, .command = c, .first = i, .count = 0, .op = op, .set = set};
        msg = msg_start(&batch, type, flags, s->seq, NFPROTO_INET, 0);
        attr_name(&batch, NFTA_SET_ELEM_LIST_TABLE, table);
        attr_name(&batch, NFTA_SET_ELEM_LIST_SET, set);
        elements = nest_start(&batch, NFTA_SET_ELEM_LIST_ELEMENTS);
      }
      s->count++;
      size_t elem = nest_start(&batch, NFTA_LIST_ELEM);
      size_t key = nest_start(&batch, NFTA_SET_ELEM_KEY);
      attr(&batch, NFTA_DATA_VALUE, take(&r, key_len, "key"), key_len);
      nest_end(&batch, key);
      if (with_end) {
        size_t key_end = nest_start(&batch, NFTA_SET_ELEM_KEY_END);
        attr(&batch, NFTA_DATA_VALUE, take(&r, key_len, "key end"), key_len);
        nest_end(&batch, key_end);
      }
      if (kind == DATA_VALUE) {
        size_t data = nest_start(&batch, NFTA_SET_ELEM_DATA);
        attr(&batch, NFTA_DATA_VALUE, take(&r, value_len, "value"), value_len);
        nest_end(&batch, data);
      } else if (kind == DATA_GOTO || kind == DATA_JUMP) {
        struct name chain = read_name(&r, "chain name");
        size_t data = nest_start(&batch, NFTA_SET_ELEM_DATA);
        size_t verdict = nest_start(&batch, NFTA_DATA_VERDICT);
        uint32_t code = htonl((uint32_t)(kind == DATA_GOTO ? NFT_GOTO : NFT_JUMP));
        attr(&batch, NFTA_VERDICT_CODE, &code, sizeof code);
        attr_name(&batch, NFTA_VERDICT_CHAIN, chain);
        nest_end(&batch, verdict);
        nest_end(&batch, data);
      }
      nest_end(&batch, elem);
    }
    nest_end(&batch, elements);
    msg_end(&batch, msg);
  }
  if (r.left != 0) malformed("bytes after the last command");
  m = msg_start(&batch, NFNL_MSG_BATCH_END, NLM_F_REQUEST, ++next_seq, AF_UNSPEC, NFNL_SUBSYS_NFTABLES);
  msg_end(&batch, m);
  uint32_t seq_hi = next_seq;

  if (nl_fd < 0) {
    int e = open_socket();
    if (e < 0) return fail(-e, "Error: cannot open a netfilter netlink socket%s: %s\n", "");
  }
  int first_err = 0;
  uint32_t first_seq = 0;
  unsigned errors = 0;
  int lost = 0;
  int e = drain(0, UINT32_MAX, &first_err, &first_seq, &errors, &lost); /* nothing should be left from before */
  if (e < 0) return fail(-e, "Error: reading the netlink socket%s: %s\n", "");
  first_err = 0;
  errors = 0;
  lost = 0;
  // the whole batch is one skb, which the socket's send buffer must hold (nft raises it too)
  if (batch.len > (size_t)INT_MAX / 2 - 4096) return fail(EMSGSIZE, "Error: the element batch is too large for one netlink send%s: %s\n", "");
  if (batch.len + 4096 > (size_t)sndbuf_set) {
    int want = (int)(batch.len + 4096);
    if (setsockopt(nl_fd, SOL_SOCKET, SO_SNDBUFFORCE, &want, sizeof want) < 0) setsockopt(nl_fd, SOL_SOCKET, SO_SNDBUF, &want, sizeof want);
    sndbuf_set = want;
  }
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  ssize_t n;
  do n = sendto(nl_fd, batch.d, batch.len, 0, (struct sockaddr *)&kernel, sizeof kernel);
  while (n < 0 && errno == EINTR);
  if (n < 0) return fail(errno, "Error: sending the element batch%s: %s\n", "");
  if ((size_t)n != batch.len) return fail(EMSGSIZE, "Error: the element batch was sent in part%s: %s\n", "");
  e = drain(seq_lo, seq_hi, &first_err, &first_seq, &errors, &lost);
  if (e < 0) return fail(-e, "Error: reading the kernel's answer to the element batch%s: %s\n", "");
  if (errors == 0 && !lost) return 0;
  if (errors == 0) return fail(ENOBUFS, "Error: the kernel's answers to the element batch overflowed the socket%s: %s (the batch failed)\n", "");
  const struct sent *s = NULL;
  for (size_t i = 0; i < sent.len; i++)
    if (sent.v[i].seq == first_seq) s = &sent.v[i];
  int code = -first_err;
  if (s)
    snprintf(message, sizeof message, "Error: Could not process rule: %s\n%s element inet %.*s %.*s: elements %u-%u of command %u refused (%u message%s refused; the batch was not applied)\n", strerror(code),
             op_name(s->op), table.len, table.s, s->set.len, s->set.s, s->first, s->first + s->count - 1, s->command, errors, errors == 1 ? "" : "s");
  else
    snprintf(message, sizeof message, "Error: Could not process rule: %s\nthe element batch was refused (%s; the batch was not applied)\n", strerror(code), first_seq == seq_lo ? "batch begin or commit" : "batch end");
  return first_err;
}
