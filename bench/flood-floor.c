/*
 * flood-floor.c: the cheapest a supervisor's log path can be, for bench/flood-floor.ts. Runs the
 * child given after the mode with its stdout on a pipe, reads it 64 KiB at a time and appends to
 * OUT either the bytes as they came (`raw`: what supervisord does) or each line as robbie's JSON
 * record (`json`: the same prefix and suffix robbie writes; the flood's lines need no escaping, so
 * no scan for it, which a real framer must add). When the child's FLOOD_DONE line is written it
 * prints `{"ms":…,"cpu_s":…}`: milliseconds since the child's first write (its start_ms) and this
 * process's CPU time since its first read. C because it is the floor: no runtime at all.
 *
 *   flood-floor raw|json OUT CHILD [ARGS…]
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static char in[2 * 65536], out[8 * 65536];

static double cpu_s(void) {
  struct rusage r;
  getrusage(RUSAGE_SELF, &r);
  return r.ru_utime.tv_sec + r.ru_stime.tv_sec + (r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}

static double now_ms(void) {
  struct timeval tv;
  gettimeofday(&tv, 0);
  return tv.tv_sec * 1000.0 + tv.tv_usec / 1000.0;
}

/* Writes all of buf (a short write is resumed). */
static void write_all(int fd, const char *buf, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, buf, n);
    if (w <= 0) exit(3);
    buf += w;
    n -= (size_t)w;
  }
}

int main(int argc, char **argv) {
  if (argc < 4) return 2;
  int json = strcmp(argv[1], "json") == 0;
  int p[2];
  if (pipe(p) != 0) return 3;
  pid_t child = fork();
  if (child == 0) {
    dup2(p[1], 1);
    close(p[0]);
    close(p[1]);
    execvp(argv[3], argv + 3);
    _exit(127);
  }
  close(p[1]);
  int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
  if (fd < 0) return 3;
  const char *prefix = "{\"time\":\"2026-12-02T05:38:08.766Z\",\"level\":\"info\",\"source\":\"app-0\","
                       "\"pid\":12345,\"stream\":\"stdout\",\"msg\":\"";
  size_t plen = strlen(prefix), carry = 0;
  double cpu0 = -1;
  for (;;) {
    ssize_t n = read(p[0], in + carry, 65536);
    if (n <= 0) break;
    if (cpu0 < 0) cpu0 = cpu_s();
    size_t len = carry + (size_t)n, whole = 0;
    if (json) {
      size_t o = 0, s = 0;
      for (;;) {
        char *nl = memchr(in + s, '\n', len - s);
        if (!nl) break;
        size_t l = (size_t)(nl - (in + s));
        memcpy(out + o, prefix, plen);
        memcpy(out + o + plen, in + s, l);
        memcpy(out + o + plen + l, "\"}\n", 3);
        o += plen + l + 3;
        s += l + 1;
      }
      write_all(fd, out, o);
      whole = s;
    } else {
      /* Whole lines, so the marker is found even when a read splits it. */
      char *last = memrchr(in, '\n', len);
      whole = last ? (size_t)(last - in) + 1 : 0;
      write_all(fd, in, whole);
    }
    char *done = memmem(in, whole, "FLOOD_DONE start_ms=", 20);
    if (done) {
      printf("{\"ms\":%.1f,\"cpu_s\":%.3f}\n", now_ms() - atof(done + 20), cpu_s() - cpu0);
      break;
    }
    memmove(in, in + whole, len - whole);
    carry = len - whole;
  }
  kill(child, SIGTERM);
  waitpid(child, 0, 0);
  return 0;
}
