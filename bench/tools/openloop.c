// An open-loop HTTP/1.1 load generator: requests are due at a fixed rate, evenly spaced, whatever the server does,
// and each one's latency runs from the moment it was due to the moment its whole answer had arrived. A request due
// while every connection still waits for an answer queues (first in, first out) and its wait counts: a stalled
// server shows in the latencies of everything due during the stall, not only of the few requests in flight (the
// "coordinated omission" a closed-loop generator such as wrk makes). Written in C because the Node client it
// replaces was itself the tail it measured (docs/benchmarks.md): this one costs a few µs per request and times its
// sends with nanosecond timeouts (epoll_pwait2, timer slack 1 ns).
//
// It speaks exactly what the benchmarks need: one prepared request (file) on N keep-alive connections, one request
// in flight per connection, answers with a Content-Length. One JSON line on stdout; latencies in µs.
//
//   openloop -p PORT -r RATE -d SECONDS -c CONNECTIONS -f REQUEST_FILE [-w WARMUP_SECONDS] [-a ADDRESS] [-s MS]
//
// With -s, answers slower than MS are grouped into stalls (slow answers due within 10 ms of each other), listed as
// [due, requests, worst µs], due in seconds of CLOCK_MONOTONIC: the clock `perf record -k mono` stamps its events
// with, so a stall can be matched with what the machine was doing then.
//
// The generator also watches itself: a moment it lost the CPU for more than 0.3 ms (it woke later than it asked, or
// a pass over the answers took that long) is a pause, in which it neither sent what fell due nor stamped what had
// arrived. Each answer's latency less the paused time within its span (due to stamped) is the part the generator
// did not add; its p99 is reported beside the p99 of all, with how many answers a pause touched.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF_SIZE 65536
#define DRAIN_NS (10LL * 1000000000LL)
#define STALL_GAP_NS (10LL * 1000000LL)
#define PAUSE_NS 300000LL // the generator lost the CPU for longer than this: a pause of its own
#define MAX_PAUSES 100000
#define MAX_STALLS 1000 // the first 1000 are kept: more in one run is a server that never recovered

struct conn {
  int fd;
  int busy;
  int64_t due;       // when its request was due (ns)
  size_t len;        // bytes of the answer so far
  char buf[BUF_SIZE];
};

// Samples in µs, grown as needed; sorted once at the end for exact percentiles.
struct samples {
  uint32_t *v;
  size_t n, cap;
};

static void push(struct samples *s, int64_t ns) {
  if (s->n == s->cap) {
    s->cap = s->cap ? s->cap * 2 : 65536;
    s->v = realloc(s->v, s->cap * sizeof *s->v);
    if (!s->v) {
      perror("openloop: realloc");
      exit(2);
    }
  }
  int64_t us = (ns + 500) / 1000;
  s->v[s->n++] = us < 0 ? 0 : us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return (x > y) - (x < y);
}

// Nearest-rank percentile of sorted samples.
static uint32_t pct(const struct samples *s, double q) {
  if (s->n == 0) return 0;
  size_t rank = (size_t)(q / 100.0 * (double)s->n + 0.999999);
  if (rank < 1) rank = 1;
  if (rank > s->n) rank = s->n;
  return s->v[rank - 1];
}

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void usage(void) {
  fprintf(stderr, "usage: openloop -p PORT -r RATE -d SECONDS -c CONNECTIONS -f REQUEST_FILE [-w WARMUP_SECONDS] [-a ADDRESS] [-s MS]\n");
  exit(2);
}

// Queue of due times waiting for a free connection; and the free connections, first in, first out (every connection
// used in turn, so none idles past the server's keep-alive timeout).
struct ring {
  int64_t *v;
  size_t head, n, cap;
};

static void ring_push(struct ring *r, int64_t x) {
  if (r->n == r->cap) {
    size_t cap = r->cap ? r->cap * 2 : 1024;
    int64_t *v = malloc(cap * sizeof *v);
    if (!v) {
      perror("openloop: malloc");
      exit(2);
    }
    for (size_t i = 0; i < r->n; i++) v[i] = r->v[(r->head + i) % r->cap];
    free(r->v);
    r->v = v;
    r->head = 0;
    r->cap = cap;
  }
  r->v[(r->head + r->n++) % r->cap] = x;
}

static int64_t ring_shift(struct ring *r) {
  int64_t x = r->v[r->head];
  r->head = (r->head + 1) % r->cap;
  r->n--;
  return x;
}

static const char *request;
static size_t request_len;
static long answered, errors, non2xx, bytes, in_flight;
static struct samples latency, lag, less_pauses;
static struct ring backlog, idle;

// Slow answers grouped into stalls (-s). Answers come back in the order their requests fell due (the backlog is first
// in, first out), so a stall is a run of slow answers whose due times follow each other closely.
struct stall {
  int64_t due, last, worst;
  long requests;
};
static int64_t slow_ns;
static struct stall stalls[MAX_STALLS];
static int nstalls;

static void note_slow(int64_t due, int64_t latency) {
  if (slow_ns == 0 || latency < slow_ns) return;
  struct stall *s = nstalls > 0 ? &stalls[nstalls - 1] : NULL;
  if (s == NULL || due - s->last > STALL_GAP_NS) {
    if (nstalls == MAX_STALLS) return;
    s = &stalls[nstalls++];
    *s = (struct stall){.due = due};
  }
  s->last = due;
  s->requests++;
  if (latency > s->worst) s->worst = latency;
}

// The generator's own pauses, in time order and never overlapping.
static int64_t pause_from[MAX_PAUSES], pause_to[MAX_PAUSES];
static int npauses;
static long touched;

static void note_pause(int64_t from, int64_t to) {
  if (to - from > PAUSE_NS && npauses < MAX_PAUSES) {
    pause_from[npauses] = from;
    pause_to[npauses++] = to;
  }
}

/** How much of the span from a request's due time to the stamp of its answer the generator spent paused (ns). */
static int64_t paused_within(int64_t due, int64_t at) {
  int64_t sum = 0;
  for (int i = npauses - 1; i >= 0 && pause_to[i] > due; i--) {
    int64_t from = pause_from[i] > due ? pause_from[i] : due, to = pause_to[i] < at ? pause_to[i] : at;
    if (to > from) sum += to - from;
  }
  return sum;
}

static void send_on(struct conn *c, int64_t due) {
  c->busy = 1;
  c->due = due;
  c->len = 0;
  in_flight++;
  ssize_t w = write(c->fd, request, request_len);
  if (w != (ssize_t)request_len) {
    // A prepared request is far smaller than a socket buffer: a short write means the connection is broken.
    fprintf(stderr, "openloop: write: %s\n", w < 0 ? strerror(errno) : "short write");
    exit(1);
  }
}

// The answer on c is complete when its head and Content-Length bytes of body have arrived. 1: done, 0: more to read.
static int complete(struct conn *c, int *status) {
  char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
  if (!end) return 0;
  size_t head = (size_t)(end - c->buf) + 4;
  if (c->len < 12 || memcmp(c->buf, "HTTP/1.", 7) != 0) {
    fprintf(stderr, "openloop: not an HTTP/1.x answer\n");
    exit(1);
  }
  *status = atoi(c->buf + 9);
  long length = -1;
  for (char *p = c->buf; p && p < end; p = memmem(p, (size_t)(end - p), "\r\n", 2)) {
    p += 2;
    if ((size_t)(end - p) > 15 && strncasecmp(p, "content-length:", 15) == 0) length = strtol(p + 15, NULL, 10);
  }
  if (length < 0) {
    fprintf(stderr, "openloop: an answer without Content-Length\n");
    exit(1);
  }
  if (c->len < head + (size_t)length) return 0;
  if (c->len > head + (size_t)length) {
    fprintf(stderr, "openloop: bytes after the answer (one request in flight per connection)\n");
    exit(1);
  }
  return 1;
}

int main(int argc, char **argv) {
  const char *address = "127.0.0.1", *file = NULL;
  int port = 0, conns = 0;
  double rate = 0, seconds = 0, warmup = 0;
  double slow_ms = 0;
  for (int o; (o = getopt(argc, argv, "p:r:d:c:f:w:a:s:")) != -1;) {
    switch (o) {
      case 'p': port = atoi(optarg); break;
      case 'r': rate = atof(optarg); break;
      case 'd': seconds = atof(optarg); break;
      case 'c': conns = atoi(optarg); break;
      case 'f': file = optarg; break;
      case 'w': warmup = atof(optarg); break;
      case 'a': address = optarg; break;
      case 's': slow_ms = atof(optarg); break;
      default: usage();
    }
  }
  if (port <= 0 || rate <= 0 || seconds <= 0 || conns <= 0 || !file || warmup < 0 || slow_ms < 0) usage();
  slow_ns = (int64_t)(slow_ms * 1e6);

  FILE *f = fopen(file, "rb");
  if (!f) {
    perror("openloop: request file");
    return 2;
  }
  static char req[BUF_SIZE];
  request_len = fread(req, 1, sizeof req, f);
  fclose(f);
  request = req;
  if (request_len == 0) usage();

  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  int ep = epoll_create1(0);
  struct conn *cs = calloc((size_t)conns, sizeof *cs);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (!cs || ep < 0) {
    perror("openloop: set-up");
    return 2;
  }
  if (inet_pton(AF_INET, address, &sa.sin_addr) != 1) usage();
  for (int i = 0; i < conns; i++) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
      perror("openloop: connect");
      return 1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    cs[i].fd = fd;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &cs[i]};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    ring_push(&idle, i);
  }

  const int64_t period = (int64_t)(1e9 / rate);
  const int64_t start = now_ns();
  const int64_t measured_from = start + (int64_t)(warmup * 1e9);
  const int64_t end = measured_from + (int64_t)(seconds * 1e9);
  int64_t next_due = start, measured_end = end;
  struct epoll_event evs[256];
  int64_t woke = 0;

  for (;;) {
    int64_t now = now_ns();
    if (woke != 0) note_pause(woke, now); // the last pass over the answers took too long
    if (now < end) {
      for (; next_due <= now; next_due += period) {
        if (idle.n == 0) {
          ring_push(&backlog, next_due);
          continue;
        }
        // How late the generator itself sends while a connection is free: its own share of every latency.
        if (next_due >= measured_from) push(&lag, now - next_due);
        send_on(&cs[ring_shift(&idle)], next_due);
      }
    } else if (in_flight == 0 && backlog.n == 0) {
      break;
    } else if (now > end + DRAIN_NS) {
      fprintf(stderr, "openloop: %ld answers still missing 10 s after the last request was due\n", in_flight + (long)backlog.n);
      errors += in_flight + (long)backlog.n;
      break;
    }
    int64_t wait = now < end ? next_due - now : 100000000;
    struct timespec ts = {.tv_sec = wait / 1000000000LL, .tv_nsec = wait % 1000000000LL};
    int n = epoll_pwait2(ep, evs, 256, &ts, NULL);
    woke = now_ns();
    note_pause(now + (wait > 0 ? wait : 0), woke); // it woke later than it asked
    if (n < 0 && errno != EINTR) {
      perror("openloop: epoll_pwait2");
      return 1;
    }
    for (int i = 0; i < n; i++) {
      struct conn *c = evs[i].data.ptr;
      ssize_t r = read(c->fd, c->buf + c->len, BUF_SIZE - c->len);
      if (r <= 0) {
        fprintf(stderr, "openloop: the server closed a connection (%s)\n", r < 0 ? strerror(errno) : "end of stream");
        return 1;
      }
      c->len += (size_t)r;
      int status = 0;
      if (!c->busy || !complete(c, &status)) {
        if (c->len == BUF_SIZE) {
          fprintf(stderr, "openloop: an answer larger than %d bytes\n", BUF_SIZE);
          return 1;
        }
        continue;
      }
      int64_t at = now_ns();
      // An answer counts when its request was due in the measured window.
      if (c->due >= measured_from && c->due < end) {
        answered++;
        bytes += (long)c->len;
        if (status < 200 || status > 299) non2xx++;
        push(&latency, at - c->due);
        int64_t own = paused_within(c->due, at);
        if (own > 0) touched++;
        push(&less_pauses, at - c->due - own);
        note_slow(c->due, at - c->due);
        measured_end = at;
      }
      c->busy = 0;
      in_flight--;
      if (backlog.n > 0) send_on(c, ring_shift(&backlog));
      else ring_push(&idle, c - cs);
    }
  }

  qsort(latency.v, latency.n, sizeof *latency.v, cmp_u32);
  qsort(lag.v, lag.n, sizeof *lag.v, cmp_u32);
  qsort(less_pauses.v, less_pauses.n, sizeof *less_pauses.v, cmp_u32);
  int64_t paused = 0;
  int measured_pauses = 0;
  for (int i = 0; i < npauses; i++)
    if (pause_to[i] > measured_from && pause_from[i] < measured_end) {
      measured_pauses++;
      paused += pause_to[i] - pause_from[i];
    }
  double sum = 0;
  for (size_t i = 0; i < latency.n; i++) sum += latency.v[i];
  double span = (double)(measured_end > end ? measured_end : end) - (double)measured_from;
  printf("{\"requests\":%ld,\"seconds\":%.6f,\"rate\":%.3f,\"errors\":%ld,\"non2xx\":%ld,\"bytes\":%ld,"
         "\"p50\":%u,\"p90\":%u,\"p99\":%u,\"p999\":%u,\"max\":%u,\"mean\":%.3f,\"lagP99\":%u,\"lagMax\":%u,"
         "\"pauses\":%d,\"pausedUs\":%lld,\"touched\":%ld,\"lessPausesP99\":%u,\"stalls\":[",
         answered, span / 1e9, rate, errors, non2xx, bytes, pct(&latency, 50), pct(&latency, 90), pct(&latency, 99),
         pct(&latency, 99.9), latency.n ? latency.v[latency.n - 1] : 0, latency.n ? sum / (double)latency.n : 0.0,
         pct(&lag, 99), lag.n ? lag.v[lag.n - 1] : 0, measured_pauses, (long long)(paused / 1000), touched,
         pct(&less_pauses, 99));
  for (int i = 0; i < nstalls; i++)
    printf("%s[%.6f,%ld,%lld]", i ? "," : "", (double)stalls[i].due / 1e9, stalls[i].requests, (long long)(stalls[i].worst / 1000));
  printf("]}\n");
  return 0;
}
