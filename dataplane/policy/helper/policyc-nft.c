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
//               flag bit 2: the body is a table name: its rules' counters (below), no libnftables
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
//     data (0 none, 1 value, 2 goto chain, 3 jump chain; deletes: 0), plus 0x80 when every key
//     is followed by its end (a concatenation with intervals: NFTA_SET_ELEM_KEY_END); u8 D:
//     value bytes (kind 1: 1..64, else 0); u32 N >= 1: elements; then N times: K key bytes
//     (already in the kernel's layout: byte orders, concatenation fields padded to 4 bytes),
//     with 0x80 K more bytes: the key's end, then D value bytes, or for kinds 2/3 u8 L, L bytes:
//     chain name
// A request of flag bit 1 and no body asks whether binary batches are understood: answered
// with return code 0 and the output NETLINK_ELEMENTS_HELLO (a helper built before them would run
// the empty text through libnftables and answer 0 with no output; version 1 had no key ends).
// Names are 1..255 bytes without NUL. Anything else (a length past the body, bytes left over)
// is a malformed frame: the helper exits, as for a bad length.
//
// Rule counters (flag bit 2; rule-counters.c, client: NftRunner.ruleCounters). Why: the engine
// reads its per-rule counters for every Prometheus scrape, and libnftables fetches every set
// element for any listing, terse too (~340 ms here at 1,000 chains and 100,000 elements), then
// keeps them in its cache, so that the next libnftables element batch first frees them (78-91 ms
// instead of 1.5 ms). Body: the table name (family inet). One NFT_MSG_GETRULE dump over raw
// nfnetlink, answered with return code 0 and one line per rule that has a counter (its first):
//   CHAIN \t PACKETS \t BYTES \t COMMENT \n   (decimal; CHAIN and COMMENT with bytes < 0x20,
//   0x7f and '\' as \xHH; COMMENT empty when none)
// in the kernel's order (chains, then rules, as nft lists them); a table that does not exist
// answers no line. A kernel error or an answer that does not parse: its -errno and a message.
// A request of flag bit 2 and no body asks whether this is understood: answered with return code
// 0 and RULE_COUNTERS_HELLO (an older helper answers 0 with no output).
// Exits on EOF or a malformed frame. Build: bash dataplane/policy/helper/build.sh
//
// One-shot terse listing: `policyc-nft list-terse TABLE` prints the JSON of a terse listing of
// table inet TABLE (exit 0; else the error on stderr, exit 1) and exits without freeing
// libnftables' cache. Why: the engine fingerprints the rules after each full replace; a listing
// fetches every set element (terse too), which the long-lived helper would keep for its next
// element batch to free first (~110 ms at 100,000 elements), and `nft` itself frees them at its
// exit (nft_ctx_free: a listing took 485 ms that way vs 371 ms through the helper). The process's
// exit returns the memory at once. Same library and flags as the helper's terse listing: the same
// JSON, so fingerprints compare across both (restart compares with what the helper lists).
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "element-batch.h"
#include "rule-counters.h"

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
#define NETLINK_ELEMENTS_HELLO "policyc-nft netlink-elements 2"
#define RULE_COUNTERS_HELLO "policyc-nft rule-counters 1"

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

/* `list-terse TABLE`: see the header. The name goes into JSON: no '"', '\\' or control bytes. */
static int list_terse(const char *table) {
  size_t n = strlen(table);
  if (n == 0 || n > 255) return 2;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)table[i] < 0x20 || table[i] == '"' || table[i] == '\\' || table[i] == 0x7f) {
      fprintf(stderr, "policyc-nft: list-terse: unsupported table name\n");
      return 2;
    }
  struct nft_ctx *ctx = nft_ctx_new(0);
  if (!ctx || nft_ctx_buffer_output(ctx) || nft_ctx_buffer_error(ctx)) {
    fprintf(stderr, "policyc-nft: cannot create an nft context\n");
    return 1;
  }
  nft_ctx_output_set_flags(ctx, OUTPUT_JSON | OUTPUT_TERSE);
  char cmd[400];
  snprintf(cmd, sizeof cmd, "{\"nftables\":[{\"list\":{\"table\":{\"family\":\"inet\",\"name\":\"%s\"}}}]}", table);
  int rc = nft_run_cmd_from_buffer(ctx, cmd);
  const char *out = nft_ctx_get_output_buffer(ctx);
  const char *err = nft_ctx_get_error_buffer(ctx);
  if (write_full(out, out ? strlen(out) : 0)) return 4;
  fputs(err ? err : "", stderr);
  fflush(stderr);
  return rc == 0 ? 0 : 1; /* no nft_ctx_free: the exit returns the cache at once */
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "list-terse") == 0) _exit(list_terse(argv[2]));
  if (argc != 1) {
    fprintf(stderr, "usage: policyc-nft (framed requests on stdin) | policyc-nft list-terse TABLE\n");
    return 2;
  }
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
    if ((req[0] & 4) && len == 1) {
      rc = 0;
      out = RULE_COUNTERS_HELLO;
      err = "";
    } else if (req[0] & 4) {
      // a malformed table name exits inside; kernel errors are answers
      rc = rule_counters_run((const uint8_t *)req + 1, len - 1, &out, &err);
    } else if ((req[0] & 2) && len == 1) {
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
