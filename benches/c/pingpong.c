// Bare C ping-pong: the yardstick ipc-lab's own numbers are compared with.
//
//   cc -O2 -o pingpong pingpong.c -lrt -lpthread
//   ./pingpong MECH SIZE COUNT WARMUP [CPU-LIST]
//
// MECH: pipe fifo unix tcp mqueue shm-spin, or memcpy: no second process, COUNT copies of SIZE
// bytes between two buffers timed as one loop, every column the mean time per copy (so SIZE
// over it is a throughput, like a stream's; the yardstick for bulk transfers over shm). The parent sends SIZE bytes, the forked child echoes
// SIZE bytes back, the parent times each round trip with CLOCK_MONOTONIC. No framing, no checksum,
// no telemetry: the least work a ping-pong over that mechanism can do. Prints one line:
//   MECH SIZE COUNT p50_ns p90_ns p99_ns mean_ns
// CPU-LIST pins both processes, e.g. "0" or "0,1" (the parent to the first CPU, the child to the
// last, so "0,1" puts them on different cores).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what) {
    perror(what);
    exit(1);
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void pin(int cpu) {
    if (cpu < 0) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) die("sched_setaffinity");
}

static void write_all(int fd, const char *buf, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, buf, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            die("write");
        }
        buf += w;
        n -= (size_t)w;
    }
}

static int read_all(int fd, char *buf, size_t n) {
    while (n > 0) {
        ssize_t r = read(fd, buf, n);
        if (r == 0) return 0;
        if (r < 0) {
            if (errno == EINTR) continue;
            die("read");
        }
        buf += r;
        n -= (size_t)r;
    }
    return 1;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

// Shared-memory ring of one slot per direction: a sequence word and the payload, spinning.
struct slot {
    _Alignas(64) _Atomic uint64_t seq;
    char data[];
};

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s MECH SIZE COUNT WARMUP [CPU-LIST]\n", argv[0]);
        return 2;
    }
    const char *mech = argv[1];
    size_t size = strtoul(argv[2], 0, 10);
    long count = atol(argv[3]), warmup = atol(argv[4]);
    int cpu_parent = -1, cpu_child = -1;
    if (argc > 5) {
        cpu_parent = atoi(argv[5]);
        const char *comma = strrchr(argv[5], ',');
        cpu_child = comma ? atoi(comma + 1) : cpu_parent;
    }
    char *buf = calloc(size ? size : 1, 1);
    uint64_t *rtt = calloc((size_t)count, sizeof *rtt);
    int p_rd = -1, p_wr = -1, c_rd = -1, c_wr = -1;
    mqd_t mq_a = -1, mq_b = -1;
    struct slot *ping = 0, *pong = 0;
    char path[108] = {0}, path2[108] = {0};
    int listen_fd = -1, port = 0;
    pid_t parent_pid = getpid();

    if (!strcmp(mech, "pipe")) {
        int a[2], b[2];
        if (pipe(a) || pipe(b)) die("pipe");
        p_wr = a[1]; c_rd = a[0]; c_wr = b[1]; p_rd = b[0];
    } else if (!strcmp(mech, "fifo")) {
        snprintf(path, sizeof path, "/tmp/c-pingpong-%d-a", parent_pid);
        snprintf(path2, sizeof path2, "/tmp/c-pingpong-%d-b", parent_pid);
        if (mkfifo(path, 0600) || mkfifo(path2, 0600)) die("mkfifo");
    } else if (!strcmp(mech, "unix")) {
        snprintf(path, sizeof path, "/tmp/c-pingpong-%d.sock", parent_pid);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        strcpy(sa.sun_path, path);
        listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (bind(listen_fd, (struct sockaddr *)&sa, sizeof sa) || listen(listen_fd, 1)) die("bind unix");
    } else if (!strcmp(mech, "tcp")) {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof sa;
        listen_fd = socket(AF_INET, SOCK_STREAM, 0);
        if (bind(listen_fd, (struct sockaddr *)&sa, sizeof sa) || listen(listen_fd, 1)) die("bind tcp");
        getsockname(listen_fd, (struct sockaddr *)&sa, &len);
        port = ntohs(sa.sin_port);
    } else if (!strcmp(mech, "mqueue")) {
        snprintf(path, sizeof path, "/c-pingpong-%d-a", parent_pid);
        snprintf(path2, sizeof path2, "/c-pingpong-%d-b", parent_pid);
        struct mq_attr attr = {.mq_maxmsg = 10, .mq_msgsize = size ? (long)size : 1};
        mq_a = mq_open(path, O_CREAT | O_RDWR, 0600, &attr);
        mq_b = mq_open(path2, O_CREAT | O_RDWR, 0600, &attr);
        if (mq_a < 0 || mq_b < 0) die("mq_open");
        mq_unlink(path);
        mq_unlink(path2);
    } else if (!strcmp(mech, "shm-spin")) {
        size_t slot_len = (sizeof(struct slot) + size + 63) / 64 * 64;
        char *mem = mmap(0, 2 * slot_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (mem == MAP_FAILED) die("mmap");
        ping = (struct slot *)mem;
        pong = (struct slot *)(mem + slot_len);
    } else if (strcmp(mech, "memcpy")) {
        fprintf(stderr, "unknown mechanism %s\n", mech);
        return 2;
    }

    long total = warmup + count;
    if (!strcmp(mech, "memcpy")) {
        pin(cpu_parent);
        char *src = malloc(size ? size : 1), *dst = malloc(size ? size : 1);
        if (!src || !dst) die("malloc");
        memset(src, 1, size);
        memset(dst, 2, size);
        uint64_t t0 = 0;
        for (long i = 0; i < total; i++) {
            if (i == warmup) t0 = now_ns();
            src[i % (size ? size : 1)] = (char)i;
            memcpy(dst, src, size);
            __asm__ volatile("" : : "r"(dst) : "memory");
        }
        unsigned long long mean = (now_ns() - t0) / (unsigned long long)count;
        printf("%s %zu %ld %llu %llu %llu %llu\n", mech, size, count, mean, mean, mean, mean);
        return 0;
    }
    pid_t child = fork();
    if (child < 0) die("fork");
    if (child == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        pin(cpu_child);
        if (!strcmp(mech, "fifo")) {
            c_rd = open(path, O_RDONLY);
            c_wr = open(path2, O_WRONLY);
        } else if (!strcmp(mech, "unix") || !strcmp(mech, "tcp")) {
            c_rd = c_wr = accept(listen_fd, 0, 0);
            int one = 1;
            if (!strcmp(mech, "tcp")) setsockopt(c_rd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
        for (long i = 0; i < total; i++) {
            if (!strcmp(mech, "mqueue")) {
                if (mq_receive(mq_a, buf, size ? size : 1, 0) < 0) die("mq_receive");
                if (mq_send(mq_b, buf, size, 0) < 0) die("mq_send");
            } else if (ping) {
                while (atomic_load_explicit(&ping->seq, memory_order_acquire) != (uint64_t)i + 1) __builtin_ia32_pause();
                memcpy(buf, ping->data, size);
                memcpy(pong->data, buf, size);
                atomic_store_explicit(&pong->seq, (uint64_t)i + 1, memory_order_release);
            } else {
                if (!read_all(c_rd, buf, size)) _exit(1);
                write_all(c_wr, buf, size);
            }
        }
        _exit(0);
    }
    pin(cpu_parent);
    if (!strcmp(mech, "fifo")) {
        p_wr = open(path, O_WRONLY);
        p_rd = open(path2, O_RDONLY);
        unlink(path);
        unlink(path2);
    } else if (!strcmp(mech, "unix") || !strcmp(mech, "tcp")) {
        if (!strcmp(mech, "unix")) {
            struct sockaddr_un sa = {.sun_family = AF_UNIX};
            strcpy(sa.sun_path, path);
            p_rd = p_wr = socket(AF_UNIX, SOCK_STREAM, 0);
            if (connect(p_rd, (struct sockaddr *)&sa, sizeof sa)) die("connect unix");
            unlink(path);
        } else {
            struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
            p_rd = p_wr = socket(AF_INET, SOCK_STREAM, 0);
            if (connect(p_rd, (struct sockaddr *)&sa, sizeof sa)) die("connect tcp");
            int one = 1;
            setsockopt(p_rd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
    }
    for (long i = 0; i < total; i++) {
        uint64_t t0 = now_ns();
        if (!strcmp(mech, "mqueue")) {
            if (mq_send(mq_a, buf, size, 0) < 0) die("mq_send");
            if (mq_receive(mq_b, buf, size ? size : 1, 0) < 0) die("mq_receive");
        } else if (ping) {
            memcpy(ping->data, buf, size);
            atomic_store_explicit(&ping->seq, (uint64_t)i + 1, memory_order_release);
            while (atomic_load_explicit(&pong->seq, memory_order_acquire) != (uint64_t)i + 1) __builtin_ia32_pause();
            memcpy(buf, pong->data, size);
        } else {
            write_all(p_wr, buf, size);
            if (!read_all(p_rd, buf, size)) die("peer closed");
        }
        uint64_t t1 = now_ns();
        if (i >= warmup) rtt[i - warmup] = t1 - t0;
    }
    waitpid(child, 0, 0);
    double sum = 0;
    for (long i = 0; i < count; i++) sum += (double)rtt[i];
    qsort(rtt, (size_t)count, sizeof *rtt, cmp_u64);
    printf("%s %zu %ld %llu %llu %llu %.0f\n", mech, size, count, (unsigned long long)rtt[count / 2],
           (unsigned long long)rtt[count * 9 / 10], (unsigned long long)rtt[count * 99 / 100], sum / (double)count);
    return 0;
}
