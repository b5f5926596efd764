/*
 * policyc-cni: the CNI plugin binary, a thin client of the policyc node daemon.
 *
 * Why C: the runtime forks this binary for every ADD/DEL. Starting Node.js costs
 * 60-70 ms here, the whole reference bridge+host-local ADD about 11 ms. This program
 * starts in under a millisecond and hands the work to the long-running daemon, which
 * keeps state in memory and batches its netlink work.
 *
 * What it does itself: VERSION, rejecting an unknown CNI_COMMAND (code 4), and the
 * daemon-down policy: ADD/CHECK/GC -> 11 (try again later), STATUS -> 50, DEL -> queue
 * the request in the spool dir and succeed (the daemon replays the spool at start).
 * Everything else (validation, IPAM, wiring) is the daemon's job.
 *
 * Wire format (see dataplane/daemon/framing.ts): each frame is a 4-byte big-endian
 * length followed by UTF-8 JSON. Request: {"type":"cni","env":{CNI_*...},"stdin":"..."}.
 * Reply: {"exitCode":N,"result":<JSON or null>}; `result` is printed verbatim.
 * Errors go to stdout as CNI error JSON; diagnostics only to stderr.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_SOCKET "/run/policyc/policyc.sock"
#define DEFAULT_SPOOL "/var/lib/policyc/cni-spool"
#define SUPPORTED "[\"0.3.1\",\"0.4.0\",\"1.0.0\",\"1.1.0\"]"
#define MAX_STDIN (16 << 20)
#define MAX_REPLY (64 << 20)
#define REPLY_TIMEOUT_S 110 /* below kubelet's 2-minute CNI timeout */

extern char **environ;

/* ---- growable buffer ---- */
typedef struct { char *p; size_t n, cap; } buf;

static void die_oom(void) { fputs("policyc-cni: out of memory\n", stderr); exit(5); }

static void buf_put(buf *b, const char *s, size_t n) {
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + n + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) die_oom();
    b->p = p; b->cap = cap;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = 0;
}
static void buf_puts(buf *b, const char *s) { buf_put(b, s, strlen(s)); }

/* JSON string literal of s[0..n) (bytes >= 0x80 pass through: stdin is UTF-8). */
static void buf_json_str(buf *b, const char *s, size_t n) {
  buf_put(b, "\"", 1);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    char esc[8];
    if (c == '"' || c == '\\') { esc[0] = '\\'; esc[1] = (char)c; buf_put(b, esc, 2); }
    else if (c < 0x20) { snprintf(esc, sizeof esc, "\\u%04x", c); buf_put(b, esc, 6); }
    else buf_put(b, (const char *)&s[i], 1);
  }
  buf_put(b, "\"", 1);
}

/* ---- minimal JSON scanning: find a top-level member's value span ---- */
static const char *skip_ws(const char *p, const char *e) {
  while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
  return p;
}
static const char *skip_string(const char *p, const char *e) { /* p at opening quote */
  for (p++; p < e; p++) {
    if (*p == '\\') p++;
    else if (*p == '"') return p + 1;
  }
  return NULL;
}
static const char *skip_value(const char *p, const char *e) {
  p = skip_ws(p, e);
  if (p >= e) return NULL;
  if (*p == '"') return skip_string(p, e);
  if (*p == '{' || *p == '[') {
    int depth = 0;
    while (p < e) {
      if (*p == '"') { p = skip_string(p, e); if (!p) return NULL; continue; }
      if (*p == '{' || *p == '[') depth++;
      else if (*p == '}' || *p == ']') { if (--depth == 0) return p + 1; }
      p++;
    }
    return NULL;
  }
  while (p < e && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n' && *p != '\r' && *p != '\t') p++;
  return p;
}
/* Sets *vs and *ve to the raw value of top-level key `key`; returns 0 if found. */
static int json_member(const char *s, size_t n, const char *key, const char **vs, const char **ve) {
  const char *p = s, *e = s + n;
  size_t klen = strlen(key);
  p = skip_ws(p, e);
  if (p >= e || *p != '{') return -1;
  p++;
  for (;;) {
    p = skip_ws(p, e);
    if (p >= e || *p != '"') return -1;
    const char *ks = p + 1, *kend = skip_string(p, e);
    if (!kend) return -1;
    p = skip_ws(kend, e);
    if (p >= e || *p != ':') return -1;
    const char *v = skip_ws(p + 1, e), *vend = skip_value(v, e);
    if (!vend) return -1;
    if ((size_t)(kend - 1 - ks) == klen && memcmp(ks, key, klen) == 0) { *vs = v; *ve = vend; return 0; }
    p = skip_ws(vend, e);
    if (p < e && *p == ',') { p++; continue; }
    return -1;
  }
}
/* A top-level string member, unescaped for the simple escapes paths may carry. */
static char *json_string_member(const char *s, size_t n, const char *key) {
  const char *vs, *ve;
  if (json_member(s, n, key, &vs, &ve) != 0 || *vs != '"' || ve - vs < 2) return NULL;
  char *out = malloc((size_t)(ve - vs));
  if (!out) die_oom();
  size_t k = 0;
  for (const char *p = vs + 1; p < ve - 1; p++) {
    if (*p == '\\' && p + 1 < ve - 1) p++;
    out[k++] = *p;
  }
  out[k] = 0;
  return out;
}

/* ---- CNI error output ---- */
static const char *g_version = "1.1.0";

static int cni_error(int code, const char *msg, const char *fmt, ...) {
  char details[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(details, sizeof details, fmt, ap);
  va_end(ap);
  buf b = {0};
  buf_puts(&b, "{\"cniVersion\":");
  buf_json_str(&b, g_version, strlen(g_version));
  char num[32];
  snprintf(num, sizeof num, ",\"code\":%d,\"msg\":", code);
  buf_puts(&b, num);
  buf_json_str(&b, msg, strlen(msg));
  buf_puts(&b, ",\"details\":");
  buf_json_str(&b, details, strlen(details));
  buf_puts(&b, "}\n");
  fwrite(b.p, 1, b.n, stdout);
  fflush(stdout);
  fprintf(stderr, "policyc-cni: %s: %s\n", msg, details);
  return code;
}

/* ---- I/O helpers ---- */
static int read_all(int fd, buf *b, size_t limit) {
  char tmp[65536];
  for (;;) {
    ssize_t r = read(fd, tmp, sizeof tmp);
    if (r < 0) { if (errno == EINTR) continue; return -1; }
    if (r == 0) return 0;
    buf_put(b, tmp, (size_t)r);
    if (b->n > limit) { errno = EFBIG; return -1; }
  }
}
static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) { if (errno == EINTR) continue; return -1; }
    p += w; n -= (size_t)w;
  }
  return 0;
}
static int read_exact(int fd, char *p, size_t n) {
  while (n > 0) {
    ssize_t r = read(fd, p, n);
    if (r < 0) { if (errno == EINTR) continue; return -1; }
    if (r == 0) { errno = ECONNRESET; return -1; }
    p += r; n -= (size_t)r;
  }
  return 0;
}

/* Request body: every CNI_* variable, plus the raw stdin as a string. */
static void build_request(buf *req, const buf *in) {
  buf_puts(req, "{\"type\":\"cni\",\"env\":{");
  int first = 1;
  for (char **e = environ; *e; e++) {
    if (strncmp(*e, "CNI_", 4) != 0) continue;
    const char *eq = strchr(*e, '=');
    if (!eq) continue;
    if (!first) buf_put(req, ",", 1);
    first = 0;
    buf_json_str(req, *e, (size_t)(eq - *e));
    buf_put(req, ":", 1);
    buf_json_str(req, eq + 1, strlen(eq + 1));
  }
  buf_puts(req, "},\"stdin\":");
  buf_json_str(req, in->p ? in->p : "", in->n);
  buf_puts(req, "}");
}

/* 0: reply in *reply; -1: could not connect (errno); -2: connected but the exchange failed. */
static int exchange(const char *path, const buf *req, buf *reply) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof sa.sun_path) { errno = ENAMETOOLONG; return -1; }
  strcpy(sa.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) { int e = errno; close(fd); errno = e; return -1; }
  struct timeval tv = {.tv_sec = REPLY_TIMEOUT_S};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  unsigned char hdr[4] = {(unsigned char)(req->n >> 24), (unsigned char)(req->n >> 16),
                          (unsigned char)(req->n >> 8), (unsigned char)req->n};
  if (write_all(fd, (char *)hdr, 4) || write_all(fd, req->p, req->n) || read_exact(fd, (char *)hdr, 4)) {
    int e = errno; close(fd); errno = e; return -2;
  }
  uint32_t len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
  if (len > MAX_REPLY) { close(fd); errno = EFBIG; return -2; }
  char *p = malloc(len + 1);
  if (!p) die_oom();
  if (read_exact(fd, p, len)) { int e = errno; free(p); close(fd); errno = e; return -2; }
  p[len] = 0;
  close(fd);
  reply->p = p; reply->n = len; reply->cap = len + 1;
  return 0;
}

static int mkdir_p(const char *dir) {
  char tmp[4096];
  if (strlen(dir) >= sizeof tmp) { errno = ENAMETOOLONG; return -1; }
  strcpy(tmp, dir);
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST) return -1;
    *p = '/';
  }
  return (mkdir(tmp, 0700) != 0 && errno != EEXIST) ? -1 : 0;
}

/* Queue a DEL for the daemon: write a temp file, then rename so the daemon never reads half a request. */
static int spool_request(const char *dir, const buf *req) {
  if (mkdir_p(dir) != 0) return -1;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  char name[4096], tmp[4096];
  snprintf(name, sizeof name, "%s/del-%lld%09ld-%d.json", dir, (long long)ts.tv_sec, ts.tv_nsec, (int)getpid());
  snprintf(tmp, sizeof tmp, "%s/.tmp-%d", dir, (int)getpid());
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return -1;
  if (write_all(fd, req->p, req->n) || fsync(fd)) { int e = errno; close(fd); unlink(tmp); errno = e; return -1; }
  close(fd);
  if (rename(tmp, name) != 0) { int e = errno; unlink(tmp); errno = e; return -1; }
  return 0;
}

static int daemon_down(const char *cmd, const char *sock, const char *spool, const buf *req, const char *why) {
  if (strcmp(cmd, "DEL") == 0) {
    if (spool_request(spool, req) != 0)
      return cni_error(5, "policyc daemon unreachable and the DEL could not be queued",
                       "%s; spool %s: %s", why, spool, strerror(errno));
    fprintf(stderr, "policyc-cni: daemon unreachable (%s); DEL queued in %s\n", why, spool);
    return 0;
  }
  if (strcmp(cmd, "STATUS") == 0)
    return cni_error(50, "policyc daemon not available", "%s: %s", sock, why);
  return cni_error(11, "policyc daemon not reachable, try again later", "%s: %s", sock, why);
}

static int print_reply(const buf *reply) {
  const char *vs, *ve;
  int code = 70;
  if (json_member(reply->p, reply->n, "exitCode", &vs, &ve) == 0) code = atoi(vs);
  if (json_member(reply->p, reply->n, "result", &vs, &ve) == 0 && !(ve - vs == 4 && memcmp(vs, "null", 4) == 0)) {
    fwrite(vs, 1, (size_t)(ve - vs), stdout);
    fputc('\n', stdout);
  } else if (code != 0) {
    return cni_error(code ? code : 999, "malformed reply from policyc daemon", "%.200s", reply->p);
  }
  fflush(stdout);
  return code;
}

int main(void) {
  const char *cmd = getenv("CNI_COMMAND");
  if (cmd && strcmp(cmd, "VERSION") == 0) {
    /* Answered here, whatever the rest of env and stdin hold (spec: works with junk). */
    fputs("{\"cniVersion\":\"1.1.0\",\"supportedVersions\":" SUPPORTED "}\n", stdout);
    return 0;
  }
  buf in = {0};
  if (read_all(0, &in, MAX_STDIN) != 0) return cni_error(5, "cannot read network configuration from stdin", "%s", strerror(errno));
  char *ver = in.p ? json_string_member(in.p, in.n, "cniVersion") : NULL;
  if (ver) g_version = ver;
  static const char *known[] = {"ADD", "DEL", "CHECK", "GC", "STATUS"};
  int ok = 0;
  for (size_t i = 0; cmd && i < sizeof known / sizeof *known; i++) ok |= strcmp(cmd, known[i]) == 0;
  if (!ok) return cni_error(4, "unknown or missing CNI_COMMAND", "CNI_COMMAND=%s", cmd ? cmd : "(unset)");

  char *sock = in.p ? json_string_member(in.p, in.n, "daemonSocket") : NULL;
  char *spool = in.p ? json_string_member(in.p, in.n, "spoolDir") : NULL;
  const char *sock_path = sock ? sock : DEFAULT_SOCKET, *spool_dir = spool ? spool : DEFAULT_SPOOL;

  buf req = {0}, reply = {0};
  build_request(&req, &in);
  int r = exchange(sock_path, &req, &reply);
  if (r == -1) return daemon_down(cmd, sock_path, spool_dir, &req, strerror(errno));
  if (r == -2) {
    char why[300];
    snprintf(why, sizeof why, "daemon closed the connection mid-request: %s", strerror(errno));
    return daemon_down(cmd, sock_path, spool_dir, &req, why);
  }
  return print_reply(&reply);
}
