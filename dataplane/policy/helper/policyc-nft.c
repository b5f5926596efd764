// policyc-nft: the policy engine's long-lived libnftables worker, run inside the node netns
// (`nsenter --net=... policyc-nft`). One process for the daemon's life instead of one `nft`
// per batch: no exec, no library init, and libnftables keeps its ruleset cache between batches
// (revalidated against the kernel's generation id), which is most of a small element batch's
// cost when nft is run per change.
//
// Protocol on stdin/stdout, one request at a time:
//   request:  u32 big-endian length N, then N bytes: 1 flag byte (bit 0: terse listing) and the
//             command text (libnftables JSON, e.g. one batch document or a list command)
//   reply:    u32 big-endian length M, then M bytes: i32 big-endian return code of
//             nft_run_cmd_from_buffer, u32 big-endian length K of the output, K bytes of output
//             (JSON), the rest is the error text
// One request = one nft_run_cmd_from_buffer call = one kernel transaction (all or nothing).
// Exits on EOF or a malformed frame. Build: bash dataplane/policy/helper/build.sh
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    nft_ctx_output_set_flags(ctx, OUTPUT_JSON | ((req[0] & 1) ? OUTPUT_TERSE : 0));
    int rc = nft_run_cmd_from_buffer(ctx, req + 1);
    free(req);
    const char *out = nft_ctx_get_output_buffer(ctx);
    const char *err = nft_ctx_get_error_buffer(ctx);
    size_t out_len = out ? strlen(out) : 0;
    size_t err_len = err ? strlen(err) : 0;
    uint32_t head[3] = {htonl((uint32_t)(8 + out_len + err_len)), htonl((uint32_t)rc), htonl((uint32_t)out_len)};
    if (write_full(head, sizeof head) || write_full(out, out_len) || write_full(err, err_len)) return 4;
  }
}
