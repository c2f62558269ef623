/*
 * wan-delay: holds forwarded IPv4 packets for a per-subnet-pair delay, standing in for netem
 * (which this kernel lacks). The rehearsal's router namespace sends every forwarded packet to an
 * NFQUEUE; this program reads the queue, looks at the third octet of the source and destination
 * addresses (each region is one /24, 10.N.<region>.0/24), and issues the ACCEPT verdict once the
 * pair's one-way delay has passed, or DROP for a partitioned pair.
 *
 *   wan-delay -q QUEUE -f MATRIX
 *
 * MATRIX lines: "<from octet> <to octet> <ms>" or "<from octet> <to octet> drop"; '#' starts a
 * comment. Pairs not listed pass at once. SIGHUP re-reads the file (partitions and heals during a
 * drill), SIGUSR1 prints counters to stderr. Built by the rehearsal at `up`:
 *   gcc -O2 -Wall -o wan-delay wan-delay.c -lnetfilter_queue
 */
#define _GNU_SOURCE /* ppoll */
#include <arpa/inet.h>
#include <errno.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PASS 0
#define DROP (-1)

/* delay_ms[from][to]: PASS, DROP, or a positive one-way delay in milliseconds. */
static int delay_ms[256][256];

/* Packets waiting for their verdict, as a binary min-heap ordered by release time. */
struct held { uint64_t release_ns; uint32_t packet_id; };
static struct held *held;
static size_t held_count, held_capacity;

static const char *matrix_path;
static volatile sig_atomic_t want_reload, want_counters;
static unsigned long long seen, delayed, dropped, passed;

static uint64_t monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void swap_held(size_t a, size_t b) {
  struct held t = held[a];
  held[a] = held[b];
  held[b] = t;
}

static int hold(uint64_t release_ns, uint32_t packet_id) {
  if (held_count == held_capacity) {
    size_t grown = held_capacity == 0 ? 8192 : held_capacity * 2;
    struct held *bigger = realloc(held, grown * sizeof *held);
    if (bigger == NULL) return -1;
    held = bigger;
    held_capacity = grown;
  }
  size_t at = held_count++;
  held[at].release_ns = release_ns;
  held[at].packet_id = packet_id;
  while (at > 0) {
    size_t parent = (at - 1) / 2;
    if (held[parent].release_ns <= held[at].release_ns) break;
    swap_held(parent, at);
    at = parent;
  }
  return 0;
}

static struct held release_first(void) {
  struct held first = held[0];
  held[0] = held[--held_count];
  size_t at = 0;
  for (;;) {
    size_t left = 2 * at + 1, right = left + 1, smallest = at;
    if (left < held_count && held[left].release_ns < held[smallest].release_ns) smallest = left;
    if (right < held_count && held[right].release_ns < held[smallest].release_ns) smallest = right;
    if (smallest == at) break;
    swap_held(at, smallest);
    at = smallest;
  }
  return first;
}

static void read_matrix(void) {
  FILE *file = fopen(matrix_path, "r");
  if (file == NULL) {
    fprintf(stderr, "wan-delay: cannot read %s: %s (keeping the current delays)\n", matrix_path, strerror(errno));
    return;
  }
  memset(delay_ms, 0, sizeof delay_ms);
  char line[256];
  int lineno = 0;
  while (fgets(line, sizeof line, file) != NULL) {
    lineno++;
    char *comment = strchr(line, '#');
    if (comment != NULL) *comment = '\0';
    int from, to;
    char value[32];
    int fields = sscanf(line, "%d %d %31s", &from, &to, value);
    if (fields <= 0) continue;
    if (fields != 3 || from < 0 || from > 255 || to < 0 || to > 255) {
      fprintf(stderr, "wan-delay: %s:%d: expected \"<from> <to> <ms|drop>\"\n", matrix_path, lineno);
      continue;
    }
    if (strcmp(value, "drop") == 0) delay_ms[from][to] = DROP;
    else delay_ms[from][to] = atoi(value) > 0 ? atoi(value) : PASS;
  }
  fclose(file);
  fprintf(stderr, "wan-delay: delays loaded from %s\n", matrix_path);
}

static void on_hup(int sig) { (void)sig; want_reload = 1; }
static void on_usr1(int sig) { (void)sig; want_counters = 1; }

static int on_packet(struct nfq_q_handle *queue, struct nfgenmsg *msg, struct nfq_data *data, void *ctx) {
  (void)msg;
  (void)ctx;
  struct nfqnl_msg_packet_hdr *header = nfq_get_msg_packet_hdr(data);
  if (header == NULL) return 0;
  uint32_t id = ntohl(header->packet_id);
  unsigned char *ip;
  int length = nfq_get_payload(data, &ip);
  seen++;
  int rule = PASS;
  /* IPv4 header: source address at bytes 12..15, destination at 16..19. */
  if (length >= 20 && (ip[0] >> 4) == 4) rule = delay_ms[ip[14]][ip[18]];
  if (rule == DROP) {
    dropped++;
    return nfq_set_verdict(queue, id, NF_DROP, 0, NULL);
  }
  if (rule == PASS || hold(monotonic_ns() + (uint64_t)rule * 1000000ull, id) != 0) {
    passed++;
    return nfq_set_verdict(queue, id, NF_ACCEPT, 0, NULL);
  }
  delayed++;
  return 0;
}

int main(int argc, char **argv) {
  int queue_number = 0, opt;
  while ((opt = getopt(argc, argv, "q:f:")) != -1) {
    if (opt == 'q') queue_number = atoi(optarg);
    else if (opt == 'f') matrix_path = optarg;
    else {
      fprintf(stderr, "usage: %s -q QUEUE -f MATRIX\n", argv[0]);
      return 2;
    }
  }
  if (matrix_path == NULL) {
    fprintf(stderr, "usage: %s -q QUEUE -f MATRIX\n", argv[0]);
    return 2;
  }
  read_matrix();

  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = on_hup;
  sigaction(SIGHUP, &action, NULL);
  action.sa_handler = on_usr1;
  sigaction(SIGUSR1, &action, NULL);

  struct nfq_handle *handle = nfq_open();
  if (handle == NULL) { perror("wan-delay: nfq_open"); return 1; }
  struct nfq_q_handle *queue = nfq_create_queue(handle, (uint16_t)queue_number, &on_packet, NULL);
  if (queue == NULL) { perror("wan-delay: nfq_create_queue"); return 1; }
  /* The addresses are all we read: copy the IPv4 header only. */
  if (nfq_set_mode(queue, NFQNL_COPY_PACKET, 20) < 0) { perror("wan-delay: nfq_set_mode"); return 1; }
  nfq_set_queue_maxlen(queue, 200000);
  int fd = nfq_fd(handle);
  int buffer_size = 16 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buffer_size, sizeof buffer_size);
  int on = 1;
  setsockopt(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &on, sizeof on);
  fprintf(stderr, "wan-delay: queue %d ready (pid %d)\n", queue_number, (int)getpid());

  static char buffer[1 << 16];
  for (;;) {
    if (want_reload) { want_reload = 0; read_matrix(); }
    if (want_counters) {
      want_counters = 0;
      fprintf(stderr, "wan-delay: seen=%llu delayed=%llu passed=%llu dropped=%llu waiting=%zu\n", seen, delayed, passed, dropped, held_count);
    }
    uint64_t now = monotonic_ns();
    while (held_count > 0 && held[0].release_ns <= now) {
      struct held due = release_first();
      nfq_set_verdict(queue, due.packet_id, NF_ACCEPT, 0, NULL);
    }
    /* Sleep until the next release (to the microsecond) or the next packet. */
    struct timespec wait, *timeout = NULL;
    if (held_count > 0) {
      uint64_t gap = held[0].release_ns - now;
      wait.tv_sec = (time_t)(gap / 1000000000ull);
      wait.tv_nsec = (long)(gap % 1000000000ull);
      timeout = &wait;
    }
    struct pollfd readable = { .fd = fd, .events = POLLIN, .revents = 0 };
    int ready = ppoll(&readable, 1, timeout, NULL);
    if (ready < 0 && errno != EINTR) { perror("wan-delay: ppoll"); return 1; }
    if (ready <= 0) continue;
    for (;;) {
      ssize_t got = recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
      if (got > 0) { nfq_handle_packet(handle, buffer, (int)got); continue; }
      if (got < 0 && errno == ENOBUFS) { fprintf(stderr, "wan-delay: queue overrun (ENOBUFS)\n"); continue; }
      break;
    }
  }
}
