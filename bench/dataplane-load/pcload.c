// Load generator for bench/dataplane-throughput.ts. Runs inside the benchmark's own network
// namespaces (the caller uses `ip netns exec`); it opens no namespaces itself.
//
//   pcload serve PORT THREADS            accept and read-and-discard until EOF/RST (epoll, SO_REUSEPORT);
//                                        prints "ready" once listening; exits after 900 s at most
//   pcload tput IP PORT SECONDS          one TCP stream of 128 KiB writes for SECONDS, then
//                                        shutdown and wait for the peer's close; prints JSON
//   pcload conn IP PORT SECONDS WORKERS  WORKERS threads: connect, close with RST (SO_LINGER 0,
//                                        so neither side keeps TIME_WAIT); prints JSON
//   pcload probe IP PORT TIMEOUT_MS      one connect; prints ok | refused | timeout | error

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int parse_addr(const char *ip, const char *port, struct sockaddr_in *sa) {
  memset(sa, 0, sizeof *sa);
  sa->sin_family = AF_INET;
  sa->sin_port = htons((unsigned short)atoi(port));
  return inet_pton(AF_INET, ip, &sa->sin_addr) == 1 ? 0 : -1;
}

static void set_timeouts(int fd, int ms) {
  struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

/* ---- serve */

static int serve_port;

static void *serve_thread(void *arg) {
  (void)arg;
  int one = 1;
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(lfd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  struct sockaddr_in sa = {0};
  sa.sin_family = AF_INET;
  sa.sin_port = htons((unsigned short)serve_port);
  if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(lfd, 65535) != 0) {
    perror("bind/listen");
    exit(2);
  }
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  static __thread char buf[1 << 18];
  struct epoll_event evs[256];
  for (;;) {
    int n = epoll_wait(ep, evs, 256, -1);
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      if (fd == lfd) {
        for (;;) {
          int c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
          if (c < 0) break;
          struct epoll_event cev = {.events = EPOLLIN | EPOLLRDHUP, .data.fd = c};
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
        }
        continue;
      }
      for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r > 0) continue;
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) break;
        close(fd); /* EOF or error (RST): epoll drops the fd on close */
        break;
      }
    }
  }
  return NULL;
}

static int cmd_serve(int argc, char **argv) {
  if (argc < 4) return 64;
  serve_port = atoi(argv[2]);
  int threads = atoi(argv[3]);
  if (threads < 1 || threads > 16) threads = 2;
  pthread_t t[16];
  for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, serve_thread, NULL);
  usleep(100000);
  printf("ready\n");
  fflush(stdout);
  sleep(900); /* bounded lifetime; the benchmark kills it by PID long before */
  return 0;
}

/* ---- tput */

static int cmd_tput(int argc, char **argv) {
  if (argc < 5) return 64;
  struct sockaddr_in sa;
  if (parse_addr(argv[2], argv[3], &sa) != 0) return 64;
  double seconds = atof(argv[4]);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  set_timeouts(fd, 2000);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    printf("{\"error\":\"connect: %s\"}\n", strerror(errno));
    return 1;
  }
  static char buf[1 << 17];
  memset(buf, 'x', sizeof buf);
  unsigned long long bytes = 0;
  double t0 = now(), end = t0 + seconds;
  while (now() < end) {
    ssize_t w = write(fd, buf, sizeof buf);
    if (w <= 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      printf("{\"error\":\"write: %s\"}\n", strerror(errno));
      return 1;
    }
    bytes += (unsigned long long)w;
  }
  shutdown(fd, SHUT_WR);
  char c;
  while (read(fd, &c, 1) > 0) {
  } /* the server closes after reading everything */
  double t1 = now();
  close(fd);
  printf("{\"bytes\":%llu,\"seconds\":%.6f}\n", bytes, t1 - t0);
  return 0;
}

/* ---- conn */

static struct sockaddr_in conn_sa;
static atomic_int conn_stop;
static atomic_ullong conn_ok, conn_err, conn_timeout;

static void *conn_thread(void *arg) {
  (void)arg;
  struct linger lg = {1, 0};
  unsigned long long ok = 0, err = 0, to = 0;
  while (!atomic_load_explicit(&conn_stop, memory_order_relaxed)) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
      err++;
      continue;
    }
    set_timeouts(fd, 1000);
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    if (connect(fd, (struct sockaddr *)&conn_sa, sizeof conn_sa) == 0) ok++;
    else if (errno == EINPROGRESS || errno == EAGAIN || errno == ETIMEDOUT) to++;
    else err++;
    close(fd);
  }
  atomic_fetch_add(&conn_ok, ok);
  atomic_fetch_add(&conn_err, err);
  atomic_fetch_add(&conn_timeout, to);
  return NULL;
}

static int cmd_conn(int argc, char **argv) {
  if (argc < 6) return 64;
  if (parse_addr(argv[2], argv[3], &conn_sa) != 0) return 64;
  double seconds = atof(argv[4]);
  int workers = atoi(argv[5]);
  if (workers < 1 || workers > 64) workers = 4;
  pthread_t t[64];
  double t0 = now();
  for (int i = 0; i < workers; i++) pthread_create(&t[i], NULL, conn_thread, NULL);
  struct timespec ts = {(time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9)};
  nanosleep(&ts, NULL);
  atomic_store(&conn_stop, 1);
  for (int i = 0; i < workers; i++) pthread_join(t[i], NULL);
  double t1 = now();
  printf("{\"connections\":%llu,\"errors\":%llu,\"timeouts\":%llu,\"seconds\":%.6f}\n", (unsigned long long)conn_ok,
         (unsigned long long)conn_err, (unsigned long long)conn_timeout, t1 - t0);
  return 0;
}

/* ---- probe */

static int cmd_probe(int argc, char **argv) {
  if (argc < 5) return 64;
  struct sockaddr_in sa;
  if (parse_addr(argv[2], argv[3], &sa) != 0) return 64;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  set_timeouts(fd, atoi(argv[4]));
  int r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
  int e = errno;
  close(fd);
  if (r == 0) puts("ok");
  else if (e == ECONNREFUSED) puts("refused");
  else if (e == EINPROGRESS || e == EAGAIN || e == ETIMEDOUT) puts("timeout");
  else printf("error %s\n", strerror(e));
  return 0;
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  alarm(1000); /* hard bound on any mode */
  if (argc >= 2 && strcmp(argv[1], "serve") == 0) return cmd_serve(argc, argv);
  if (argc >= 2 && strcmp(argv[1], "tput") == 0) return cmd_tput(argc, argv);
  if (argc >= 2 && strcmp(argv[1], "conn") == 0) return cmd_conn(argc, argv);
  if (argc >= 2 && strcmp(argv[1], "probe") == 0) return cmd_probe(argc, argv);
  fprintf(stderr, "usage: pcload serve|tput|conn|probe ...\n");
  return 64;
}
