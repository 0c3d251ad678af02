/* A fixed-answer HTTP/1.1 server for the round-trip bench. Loopback only; the
 * OS picks the port, which is printed on stdout. Connections are kept alive
 * and every request gets 200 with the documented success JSON: it verifies
 * nothing, so the bench measures the client rather than a server's work.
 * One thread and poll(). SIGTERM (or SIGINT) stops it with exit status 0, and
 * it tells stderr how many requests and connections it served, which shows
 * whether the clients really kept their connection. */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CONNS 64
#define REQUEST_MAX 65536   /* livepull's request heads are under 2 KB */
#define FIXED 2             /* fds[0]: the stop pipe, fds[1]: the listener */

static const char body[] =
  "{\"RequestId\":\"16A96B9A-F203-4EC5-8E43-CB92E68D0000\",\"RetCode\":0,\"Description\":\"OK\"}";

typedef struct conn {
  size_t len;
  char buf[REQUEST_MAX];
} conn;

static struct pollfd fds[FIXED + MAX_CONNS];   /* a free slot has fd -1, which poll skips */
static conn conns[MAX_CONNS];
static int nfds = FIXED;
static int stop_pipe[2];
static char answer[512];
static size_t answer_len;
static unsigned long served, accepted;

static void on_stop(int sig) {
  (void)sig;
  ssize_t r = write(stop_pipe[1], "", 1);   /* wakes poll(); all a handler may safely do */
  (void)r;
}

/* Bytes the first complete request in buf takes (head and body), 0 if incomplete. */
static size_t request_size(const char *buf, size_t len) {
  for (size_t end = 4; end <= len; end++) {
    if (memcmp(buf + end - 4, "\r\n\r\n", 4) != 0) continue;
    size_t body_len = 0;
    for (size_t i = 0; i + 16 < end; i++)
      if (buf[i] == '\n' && strncasecmp(buf + i + 1, "content-length:", 15) == 0) {
        body_len = strtoul(buf + i + 16, NULL, 10);   /* the head ends in \r\n: strtoul stops */
        break;
      }
    return len - end >= body_len ? end + body_len : 0;
  }
  return 0;
}

static int send_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return -1;
    p += k;
    n -= (size_t)k;
  }
  return 0;
}

/* Reads what arrived and answers every complete request; -1 closes the connection. */
static int serve(int fd, conn *c) {
  ssize_t k = recv(fd, c->buf + c->len, sizeof c->buf - c->len, 0);
  if (k < 0 && errno == EINTR) return 0;
  if (k <= 0) return -1;
  c->len += (size_t)k;
  size_t n;
  while ((n = request_size(c->buf, c->len)) > 0) {
    if (send_all(fd, answer, answer_len) != 0) return -1;
    served++;
    memmove(c->buf, c->buf + n, c->len - n);   /* pipelined requests stay queued */
    c->len -= n;
  }
  return c->len == sizeof c->buf ? -1 : 0;   /* a full buffer without a request: give up */
}

static void accept_one(int lfd) {
  int fd = accept(lfd, NULL, NULL);
  if (fd < 0) return;
  int slot = FIXED;
  while (slot < FIXED + MAX_CONNS && fds[slot].fd >= 0) slot++;
  if (slot == FIXED + MAX_CONNS) { close(fd); return; }
  int one = 1;   /* the answer is one write; do not let Nagle hold it back */
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  fds[slot].fd = fd;
  fds[slot].events = POLLIN;
  conns[slot - FIXED].len = 0;
  if (slot >= nfds) nfds = slot + 1;
  accepted++;
}

static int listen_loopback(void) {
  struct sockaddr_in addr;
  socklen_t alen = sizeof addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 64) != 0 ||
      getsockname(fd, (struct sockaddr *)&addr, &alen) != 0) {
    perror("fixed_server: listen");
    exit(1);
  }
  printf("%u\n", (unsigned)ntohs(addr.sin_port));
  fflush(stdout);
  return fd;
}

int main(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop;
  sigemptyset(&sa.sa_mask);
  if (pipe(stop_pipe) != 0 || sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0) {
    perror("fixed_server: setup");
    return 1;
  }
  answer_len = (size_t)snprintf(answer, sizeof answer,
                                "HTTP/1.1 200 OK\r\nContent-Type: application/json;charset=utf-8\r\n"
                                "Content-Length: %zu\r\nx-acs-request-id: "
                                "16A96B9A-F203-4EC5-8E43-CB92E68D0000\r\n\r\n%s",
                                sizeof body - 1, body);
  for (int i = 0; i < FIXED + MAX_CONNS; i++) fds[i].fd = -1;
  fds[0].fd = stop_pipe[0];
  fds[0].events = POLLIN;
  fds[1].fd = listen_loopback();
  fds[1].events = POLLIN;

  for (;;) {
    if (poll(fds, (nfds_t)nfds, -1) < 0) {
      if (errno == EINTR) continue;   /* the handler has written to the pipe */
      perror("fixed_server: poll");
      return 1;
    }
    if (fds[0].revents) break;
    if (fds[1].revents & POLLIN) accept_one(fds[1].fd);
    for (int i = FIXED; i < nfds; i++) {
      if (fds[i].fd < 0 || !fds[i].revents) continue;
      if (serve(fds[i].fd, &conns[i - FIXED]) != 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
      }
    }
  }
  for (int i = 1; i < nfds; i++)
    if (fds[i].fd >= 0) close(fds[i].fd);
  fprintf(stderr, "fixed_server: %lu requests over %lu connections\n", served, accepted);
  return 0;
}
