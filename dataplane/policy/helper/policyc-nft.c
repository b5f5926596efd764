// policyc-nft: the policy engine's long-lived libnftables worker, run inside the node netns
// (`nsenter --net=... policyc-nft`). One process for the daemon's life instead of one `nft`
// per batch: no exec, no library init, and libnftables keeps its ruleset cache between batches
// (revalidated against the kernel's generation id), which is most of a small element batch's
// cost when nft is run per change.
//
// Protocol on stdin/stdout, one request at a time:
//   request:  u32 big-endian length N, then N bytes: 1 flag byte, then the body
//               flag bit 0: terse listing (libnftables requests)
//               flag bit 1: the body is a binary element batch (below), not libnftables JSON
//   reply:    u32 big-endian length M, then M bytes: i32 big-endian return code, u32 big-endian
//             length K of the output, K bytes of output (JSON), the rest is the error text
// One request = one kernel transaction (all or nothing): one nft_run_cmd_from_buffer call, or
// one nfnetlink batch.
//
// Binary element batches (flag bit 1; encoder: ../element-batch.ts). Why: libnftables fetches
// the table's whole cache, chains included, for every batch, since every batch of ours changes
// the generation id it revalidates against: a 1-element batch cost 0.29 ms with 0 chains, 0.70
// ms with 500, 2.57 ms with 2,000 (one chain per deciding rule: 10,809 at 50k pods / 10k
// policies). Adds and deletes of hash set/map elements need nothing from that cache, so they
// go to the kernel as they are: NFNL_MSG_BATCH_BEGIN, NFT_MSG_DELSETELEM/NEWSETELEM messages,
// NFNL_MSG_BATCH_END, on a raw NETLINK_NETFILTER socket, with nft's own flags (add element:
// NLM_F_CREATE without NLM_F_EXCL, so an existing key with the same value is accepted; delete:
// none, so a missing element fails the batch; deletes carry the key only). Return code 0 = the
// kernel committed the batch; otherwise the first error's -errno and a line saying which
// command failed (the kernel aborted the whole batch). Body, integers big-endian:
//   u8 T, T bytes: table name (family inet); u32 C: commands; then C times:
//     u8 op (0 delete, 1 add); u8 S, S bytes: set name; u8 K: key bytes (1..64); u8 kind of
//     data (0 none, 1 value, 2 goto chain, 3 jump chain; deletes: 0); u8 D: value bytes
//     (kind 1: 1..64, else 0); u32 N >= 1: elements; then N times: K key bytes (already in the
//     kernel's layout: byte orders, concatenation fields padded to 4 bytes), then D value bytes,
//     or for kinds 2/3 u8 L, L bytes: chain name
// A request of flag bit 1 and no body asks whether binary batches are understood: answered
// with return code 0 and the output NETLINK_ELEMENTS_HELLO (a helper built before them would run
// the empty text through libnftables and answer 0 with no output).
// Names are 1..255 bytes without NUL. Anything else (a length past the body, bytes left over)
// is a malformed frame: the helper exits, as for a bad length.
// Exits on EOF or a malformed frame. Build: bash dataplane/policy/helper/build.sh
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "element-batch.h"

// libnftables.h is not needed at build time (only the runtime library): the few calls used.
struct nft_ctx;
extern struct nft_ctx *nft_ctx_new(uint32_t flags);
extern int nft_ctx_buffer_output(struct nft_ctx *ctx);
extern int nft_ctx_buffer_error(struct nft_ctx *ctx);
extern const char *nft_ctx_get_output_buffer(struct nft_ctx *ctx);
extern const char *nft_ctx_get_error_buffer(struct nft_ctx *ctx);
extern void nft_ctx_output_set_flags(struct nft_ctx *ctx, unsigned int flags);
extern int nft_run_cmd_from_buffer(struct nft_ctx *nft, const char *buf);

#define OUTPUT_JSON (1u << 4)
#define OUTPUT_TERSE (1u << 11)
#define MAX_REQUEST (256u << 20)
#define NETLINK_ELEMENTS_HELLO "policyc-nft netlink-elements 1"

static int read_full(void *buf, size_t n) {
  uint8_t *p = buf;
  while (n > 0) {
    ssize_t r = read(0, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

static int write_full(const void *buf, size_t n) {
  const uint8_t *p = buf;
  while (n > 0) {
    ssize_t r = write(1, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

int main(void) {
  struct nft_ctx *ctx = nft_ctx_new(0);
  if (!ctx || nft_ctx_buffer_output(ctx) || nft_ctx_buffer_error(ctx)) {
    fprintf(stderr, "policyc-nft: cannot create an nft context\n");
    return 1;
  }
  for (;;) {
    uint32_t len_be;
    if (read_full(&len_be, 4)) return 0;
    uint32_t len = ntohl(len_be);
    if (len < 1 || len > MAX_REQUEST) {
      fprintf(stderr, "policyc-nft: bad request length %u\n", len);
      return 2;
    }
    char *req = malloc((size_t)len + 1);
    if (!req || read_full(req, len)) return 3;
    req[len] = '\0';
    int rc;
    const char *out;
    const char *err;
    if ((req[0] & 2) && len == 1) {
      rc = 0;
      out = NETLINK_ELEMENTS_HELLO;
      err = "";
    } else if (req[0] & 2) {
      // a malformed body exits inside (like a bad length); kernel errors are answers
      rc = element_batch_run((const uint8_t *)req + 1, len - 1, &err);
      out = "";
    } else {
      nft_ctx_output_set_flags(ctx, OUTPUT_JSON | ((req[0] & 1) ? OUTPUT_TERSE : 0));
      rc = nft_run_cmd_from_buffer(ctx, req + 1);
      out = nft_ctx_get_output_buffer(ctx);
      err = nft_ctx_get_error_buffer(ctx);
    }
    free(req);
    size_t out_len = out ? strlen(out) : 0;
    size_t err_len = err ? strlen(err) : 0;
    uint32_t head[3] = {htonl((uint32_t)(8 + out_len + err_len)), htonl((uint32_t)rc), htonl((uint32_t)out_len)};
    if (write_full(head, sizeof head) || write_full(out, out_len) || write_full(err, err_len)) return 4;
  }
}
