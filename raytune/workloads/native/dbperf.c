/* dbperf: the transaction threads of a db_perf run (Sullivan's thesis, section 6) in native code.
 *
 * knobray's Python side prepares the Berkeley DB environment (layout, knobs) and decides when a run is steady;
 * this program opens the environment with the settings it is given, warms the cache, runs the transaction
 * threads, and prints one JSON line of cumulative counters every sample period on stdout. It stops when its
 * stdin reaches end of file or a line "stop" arrives (so it never outlives the process that started it), or on
 * SIGTERM / SIGINT; then it joins the threads, closes the environment and prints {"done": true}.
 *
 * Usage: dbperf NAME=VALUE ... (every setting below is required; see raytune/workloads/_dbperf_native.py).
 * Exit status: 0 done; 2 bad arguments; 3 a Berkeley DB error ({"error": "...", "code": N} printed first).
 */
#define _GNU_SOURCE
#include <db.h>
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <sched.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define B_SLOTS 100
#define C_SLOTS 49
#define LARGE_EVERY 7
#define LOCALITY_SHARE 0.9
#define MAX_VALUE 8192
#define LAT_BUCKETS 2400 /* log buckets of 1% from 1 microsecond: up to ~23,000 s */
#define LEAF_SCALE 1000  /* leaves are counted in thousandths */

typedef struct {
    const char *home, *file, *cpus;
    long cache_bytes, max_locks, lock_timeout_us, sample_ms;
    int detect, threads, a_slots, local, rmw, overflow_large, overflow_small;
    long warm_stride, items;
    double p_cursor, p_update, p_write, p_large, items_curs, items_non_curs, items_per_leaf;
    unsigned long long seed;
} Settings;

typedef struct {
    uint64_t s[4];
} Rng;

typedef struct {
    uint64_t commits, retries, read, written, overflow, leaves_milli;
    uint32_t latency[LAT_BUCKETS];
    pthread_t thread;
    int index;
} Counters;

static Settings cfg;
static DB_ENV *env;
static DB *dbp;
static Counters *counters;
static volatile sig_atomic_t stopping;
static int stop_flag;
static pthread_mutex_t error_lock = PTHREAD_MUTEX_INITIALIZER;
static char error_text[512];
static int error_code;
static char db_message[256]; /* libdb's own text for the last error it reported */

static int large_c[C_SLOTS], small_c[C_SLOTS], n_large_c, n_small_c;

/* ---- random numbers: xoshiro256** seeded by splitmix64 ------------------------------------------------- */
static uint64_t splitmix(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t next_u64(Rng *r) {
    uint64_t result = rotl(r->s[1] * 5, 7) * 9, t = r->s[1] << 17;
    r->s[2] ^= r->s[0];
    r->s[3] ^= r->s[1];
    r->s[1] ^= r->s[2];
    r->s[0] ^= r->s[3];
    r->s[2] ^= t;
    r->s[3] = rotl(r->s[3], 45);
    return result;
}

static double uniform(Rng *r) { return (double)(next_u64(r) >> 11) * 0x1.0p-53; }

static long below(Rng *r, long n) { return (long)(uniform(r) * (double)n); }

static double gauss(Rng *r, double mean, double sd) {
    double u = 1.0 - uniform(r), v = uniform(r);
    return mean + sd * sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

/* ---- errors -------------------------------------------------------------------------------------------- */
static void fail(const char *what, int ret) {
    pthread_mutex_lock(&error_lock);
    if (!error_text[0]) {
        snprintf(error_text, sizeof error_text, "%s: %s%s%s", what, db_strerror(ret), db_message[0] ? " (" : "",
                 db_message[0] ? db_message : "");
        if (db_message[0])
            strncat(error_text, ")", sizeof error_text - strlen(error_text) - 1);
        error_code = ret;
    }
    pthread_mutex_unlock(&error_lock);
    __atomic_store_n(&stop_flag, 1, __ATOMIC_RELAXED);
}

static int should_stop(void) { return stopping || __atomic_load_n(&stop_flag, __ATOMIC_RELAXED); }

static int is_conflict(int ret) { return ret == DB_LOCK_DEADLOCK || ret == DB_LOCK_NOTGRANTED; }

/* ---- the workload ---------------------------------------------------------------------------------------- */
/* Writes a key of the item space into key (32 bytes); its length in *size. */
static int draw_key(Rng *r, char *key, u_int32_t *size) {
    long b = uniform(r) < LOCALITY_SHARE ? below(r, cfg.local) : cfg.local + below(r, B_SLOTS - cfg.local);
    int large = uniform(r) < cfg.p_large;
    int c = large ? large_c[below(r, n_large_c)] : small_c[below(r, n_small_c)];
    *size = (u_int32_t)snprintf(key, 32, "%02ld%02ld%02d", below(r, cfg.a_slots), b, c);
    return large;
}

static long draw_items(Rng *r, double mean) {
    double n = round(gauss(r, mean, 0.2 * mean));
    return n < 1 ? 1 : (long)n;
}

static int overflows(int large) { return cfg.overflow_small || (large && cfg.overflow_large); }

typedef struct {
    uint64_t read, written, overflow, leaves_milli;
} Done;

static int get_txn(DB_TXN *txn, Rng *r, long n, int update, Done *done) {
    char kbuf[32], vbuf[MAX_VALUE], wbuf[MAX_VALUE];
    u_int32_t flags = update && cfg.rmw ? DB_RMW : 0;
    for (long i = 0; i < n; i++) {
        DBT k = {0}, v = {0};
        int large = draw_key(r, kbuf, &k.size);
        k.data = kbuf;
        v.data = vbuf;
        v.ulen = sizeof vbuf;
        v.flags = DB_DBT_USERMEM;
        int ret = dbp->get(dbp, txn, &k, &v, flags);
        if (ret)
            return ret;
        done->overflow += overflows(large);
        if (update && uniform(r) < cfg.p_write) {
            memset(wbuf, 'w', v.size);
            DBT w = {.data = wbuf, .size = v.size};
            if ((ret = dbp->put(dbp, txn, &k, &w, 0)))
                return ret;
            done->written++;
        }
    }
    done->read = (uint64_t)n;
    done->leaves_milli = (uint64_t)n * LEAF_SCALE;
    return 0;
}

static int cursor_txn(DB_TXN *txn, Rng *r, long n, int update, Done *done) {
    char kbuf[64], vbuf[MAX_VALUE], wbuf[MAX_VALUE];
    u_int32_t flags = update && cfg.rmw ? DB_RMW : 0;
    DBC *cursor;
    int ret = dbp->cursor(dbp, txn, &cursor, 0);
    if (ret)
        return ret;
    DBT k = {.data = kbuf, .ulen = sizeof kbuf, .flags = DB_DBT_USERMEM};
    draw_key(r, kbuf, &k.size);
    DBT v = {.data = vbuf, .ulen = sizeof vbuf, .flags = DB_DBT_USERMEM};
    ret = cursor->get(cursor, &k, &v, DB_SET_RANGE | flags);
    for (long i = 0; i < n && (ret == 0 || ret == DB_NOTFOUND); i++) {
        if (ret == DB_NOTFOUND && (ret = cursor->get(cursor, &k, &v, DB_FIRST | flags)))
            break;
        int c = k.size >= 2 ? (kbuf[k.size - 2] - '0') * 10 + (kbuf[k.size - 1] - '0') : 0;
        done->overflow += overflows(c % LARGE_EVERY == LARGE_EVERY - 1);
        if (update && uniform(r) < cfg.p_write) {
            memset(wbuf, 'w', v.size);
            DBT w = {.data = wbuf, .size = v.size};
            if ((ret = cursor->put(cursor, &k, &w, DB_CURRENT)))
                break;
            done->written++;
        }
        ret = cursor->get(cursor, &k, &v, DB_NEXT | flags);
    }
    int closed = cursor->close(cursor);
    if (ret && ret != DB_NOTFOUND)
        return ret;
    if (closed)
        return closed;
    done->read = (uint64_t)n;
    done->leaves_milli = (uint64_t)llround(LEAF_SCALE * (1.0 + (n - 1) / fmax(cfg.items_per_leaf, 1.0)));
    return 0;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void record_latency(Counters *c, double seconds) {
    double us = seconds * 1e6;
    int i = us <= 1.0 ? 0 : (int)(log(us) / log(1.01));
    if (i >= LAT_BUCKETS)
        i = LAT_BUCKETS - 1;
    __atomic_fetch_add(&c->latency[i], 1, __ATOMIC_RELAXED);
}

static void add(uint64_t *counter, uint64_t amount) { __atomic_fetch_add(counter, amount, __ATOMIC_RELAXED); }

static void *run_thread(void *arg) {
    Counters *c = arg;
    Rng r;
    uint64_t x = cfg.seed * 100003ULL + (uint64_t)c->index;
    for (int i = 0; i < 4; i++)
        r.s[i] = splitmix(&x);
    while (!should_stop()) {
        int cursor = uniform(&r) < cfg.p_cursor, update = uniform(&r) < cfg.p_update;
        long n = draw_items(&r, cursor ? cfg.items_curs : cfg.items_non_curs);
        double t0 = now_s();
        Done done = {0};
        int committed = 0;
        while (!committed && !should_stop()) { /* a deadlock victim retries the same transaction */
            Rng saved = r;
            DB_TXN *txn;
            int ret = env->txn_begin(env, NULL, &txn, 0);
            if (ret) {
                fail("txn_begin", ret);
                return NULL;
            }
            memset(&done, 0, sizeof done);
            ret = cursor ? cursor_txn(txn, &r, n, update, &done) : get_txn(txn, &r, n, update, &done);
            if (ret == 0) {
                if ((ret = txn->commit(txn, 0))) {
                    fail("commit", ret);
                    return NULL;
                }
                committed = 1;
                continue;
            }
            txn->abort(txn);
            if (!is_conflict(ret)) {
                fail(cursor ? "cursor transaction" : "transaction", ret);
                return NULL;
            }
            add(&c->retries, 1);
            r = saved;
        }
        if (!committed)
            break;
        add(&c->commits, 1);
        add(&c->read, done.read);
        add(&c->written, done.written);
        add(&c->overflow, done.overflow);
        add(&c->leaves_milli, done.leaves_milli);
        record_latency(c, now_s() - t0);
    }
    return NULL;
}

/* ---- environment ------------------------------------------------------------------------------------- */
static void on_db_message(const DB_ENV *e, const char *prefix, const char *message) {
    (void)e;
    (void)prefix;
    pthread_mutex_lock(&error_lock);
    snprintf(db_message, sizeof db_message, "%s", message);
    pthread_mutex_unlock(&error_lock);
}

static int env_open; /* the environment opened (so closing it resets the file's LSNs) */

static int open_env(void) {
    int ret;
    if ((ret = db_env_create(&env, 0)))
        return fail("db_env_create", ret), ret;
    env->set_errcall(env, on_db_message);
    u_int32_t gbytes = (u_int32_t)(cfg.cache_bytes >> 30), bytes = (u_int32_t)(cfg.cache_bytes & ((1L << 30) - 1));
    if ((ret = env->set_cachesize(env, gbytes, bytes, 1)) ||
        (ret = env->set_lk_detect(env, (u_int32_t)cfg.detect)) ||
        (ret = env->set_lk_max_locks(env, (u_int32_t)cfg.max_locks)) ||
        (ret = env->set_lk_max_objects(env, (u_int32_t)cfg.max_locks)) ||
        (ret = env->set_lk_max_lockers(env, (u_int32_t)cfg.max_locks)) ||
        (ret = env->set_timeout(env, (db_timeout_t)cfg.lock_timeout_us, DB_SET_LOCK_TIMEOUT)) ||
        (ret = env->set_flags(env, DB_TXN_WRITE_NOSYNC, 1)))
        return fail("environment settings", ret), ret;
    u_int32_t flags = DB_CREATE | DB_PRIVATE | DB_THREAD | DB_INIT_MPOOL | DB_INIT_LOCK | DB_INIT_LOG | DB_INIT_TXN;
    if ((ret = env->open(env, cfg.home, flags, 0)))
        return fail("environment open", ret), ret;
    env_open = 1;
    if ((ret = db_create(&dbp, env, 0)))
        return fail("db_create", ret), ret;
    if ((ret = dbp->open(dbp, NULL, cfg.file, NULL, DB_BTREE, DB_THREAD | DB_AUTO_COMMIT, 0)))
        return fail("database open", ret), ret;
    return 0;
}

static int close_env(void) {
    int ret = 0, r;
    if (dbp && (r = dbp->close(dbp, 0)))
        ret = ret ? ret : (fail("database close", r), r);
    if (env) {
        if (env_open && (r = env->lsn_reset(env, cfg.file, 0)))
            ret = ret ? ret : (fail("lsn_reset", r), r);
        if ((r = env->close(env, 0)))
            ret = ret ? ret : (fail("environment close", r), r);
    }
    dbp = NULL;
    env = NULL;
    return ret;
}

static int warm_up(void) {
    char kbuf[64], vbuf[MAX_VALUE];
    for (long i = 0; i < cfg.items && !stopping; i += cfg.warm_stride) {
        long a = i / (B_SLOTS * C_SLOTS), rest = i % (B_SLOTS * C_SLOTS);
        int size = snprintf(kbuf, sizeof kbuf, "%02ld%02ld%02ld", a, rest / C_SLOTS, rest % C_SLOTS);
        DBT k = {.data = kbuf, .size = (u_int32_t)size}, v = {.data = vbuf, .ulen = sizeof vbuf, .flags = DB_DBT_USERMEM};
        int ret = dbp->get(dbp, NULL, &k, &v, 0);
        if (ret)
            return fail("warm-up read", ret), ret;
    }
    return 0;
}

/* ---- samples ------------------------------------------------------------------------------------------ */
static uint32_t *last_latency; /* per thread x bucket, as of the previous sample */

static void print_sample(double elapsed) {
    uint64_t sum[6] = {0};
    for (int t = 0; t < cfg.threads; t++) {
        Counters *c = &counters[t];
        uint64_t *fields[6] = {&c->commits, &c->retries, &c->read, &c->written, &c->overflow, &c->leaves_milli};
        for (int f = 0; f < 6; f++)
            sum[f] += __atomic_load_n(fields[f], __ATOMIC_RELAXED);
    }
    DB_MPOOL_STAT *mp = NULL;
    DB_LOCK_STAT *lk = NULL;
    DB_TXN_STAT *tx = NULL;
    int ret;
    if ((ret = env->memp_stat(env, &mp, NULL, 0)) || (ret = env->lock_stat(env, &lk, 0)) ||
        (ret = env->txn_stat(env, &tx, 0))) {
        free(mp);
        free(lk);
        fail("statistics", ret);
        return;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"elapsed\": %.6f, \"commits\": %llu, \"retries\": %llu, \"items_read\": %llu, "
           "\"items_written\": %llu, \"overflow_items\": %llu, \"leaves\": %.3f",
           elapsed, (unsigned long long)sum[0], (unsigned long long)sum[1], (unsigned long long)sum[2],
           (unsigned long long)sum[3], (unsigned long long)sum[4], sum[5] / (double)LEAF_SCALE);
    printf(", \"mpool.cache_hit\": %llu, \"mpool.cache_miss\": %llu, \"mpool.page_in\": %llu, "
           "\"mpool.page_out\": %llu, \"mpool.ro_evict\": %llu, \"mpool.rw_evict\": %llu",
           (unsigned long long)mp->st_cache_hit, (unsigned long long)mp->st_cache_miss,
           (unsigned long long)mp->st_page_in, (unsigned long long)mp->st_page_out,
           (unsigned long long)mp->st_ro_evict, (unsigned long long)mp->st_rw_evict);
    printf(", \"lock.nrequests\": %llu, \"lock.lock_wait\": %llu, \"lock.ndeadlocks\": %llu, "
           "\"lock.nlocktimeouts\": %llu, \"txn.nbegins\": %llu, \"txn.ncommits\": %llu, \"txn.naborts\": %llu",
           (unsigned long long)lk->st_nrequests, (unsigned long long)lk->st_lock_wait,
           (unsigned long long)lk->st_ndeadlocks, (unsigned long long)lk->st_nlocktimeouts,
           (unsigned long long)tx->st_nbegins, (unsigned long long)tx->st_ncommits,
           (unsigned long long)tx->st_naborts);
    printf(", \"rusage.inblock\": %ld, \"rusage.majflt\": %ld, \"latency_us\": [", ru.ru_inblock, ru.ru_majflt);
    free(mp);
    free(lk);
    free(tx);
    /* the latencies recorded since the previous sample: [[bucket lower bound in us, count], ...] */
    int first = 1;
    for (int i = 0; i < LAT_BUCKETS; i++) {
        uint64_t n = 0;
        for (int t = 0; t < cfg.threads; t++) {
            uint32_t now = __atomic_load_n(&counters[t].latency[i], __ATOMIC_RELAXED);
            n += now - last_latency[(size_t)t * LAT_BUCKETS + i];
            last_latency[(size_t)t * LAT_BUCKETS + i] = now;
        }
        if (n) {
            printf("%s[%.3f, %llu]", first ? "" : ", ", i ? pow(1.01, i) : 0.0, (unsigned long long)n);
            first = 0;
        }
    }
    printf("]}\n");
    fflush(stdout);
}

/* Waits up to ms for stdin; 1 when the run is to stop (end of file, "stop", a signal). */
static int wait_for_stop(long ms) {
    struct pollfd p = {.fd = 0, .events = POLLIN};
    if (stopping)
        return 1;
    int ready = poll(&p, 1, (int)(ms > 0 ? ms : 0));
    if (ready < 0)
        return errno == EINTR ? stopping : 1;
    if (ready == 0)
        return 0;
    char buf[256];
    ssize_t got = read(0, buf, sizeof buf - 1);
    if (got <= 0)
        return 1;
    buf[got] = 0;
    return strstr(buf, "stop") != NULL;
}

/* ---- arguments ------------------------------------------------------------------------------------------ */
#define SETTINGS 25

static int parse(int argc, char **argv) {
    static const char *names[SETTINGS] = {
        "home", "file", "cache_bytes", "max_locks", "lock_timeout_us", "sample_ms", "detect", "threads",
        "a_slots", "local", "rmw", "overflow_large", "overflow_small", "warm_stride", "items", "p_cursor",
        "p_update", "p_write", "p_large", "items_curs", "items_non_curs", "items_per_leaf", "seed", "cpus",
        NULL};
    int seen[SETTINGS] = {0}, expected = 24;
    for (int i = 1; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        int which = -1;
        for (int n = 0; eq && n < expected; n++)
            if ((size_t)(eq - argv[i]) == strlen(names[n]) && !strncmp(argv[i], names[n], strlen(names[n])))
                which = n;
        if (which < 0) {
            fprintf(stderr, "dbperf: unknown argument %s (expected NAME=VALUE)\n", argv[i]);
            return 2;
        }
        const char *v = eq + 1;
        seen[which] = 1;
        switch (which) {
        case 0: cfg.home = v; break;
        case 1: cfg.file = v; break;
        case 2: cfg.cache_bytes = atol(v); break;
        case 3: cfg.max_locks = atol(v); break;
        case 4: cfg.lock_timeout_us = atol(v); break;
        case 5: cfg.sample_ms = atol(v); break;
        case 6: cfg.detect = atoi(v); break;
        case 7: cfg.threads = atoi(v); break;
        case 8: cfg.a_slots = atoi(v); break;
        case 9: cfg.local = atoi(v); break;
        case 10: cfg.rmw = atoi(v); break;
        case 11: cfg.overflow_large = atoi(v); break;
        case 12: cfg.overflow_small = atoi(v); break;
        case 13: cfg.warm_stride = atol(v); break;
        case 14: cfg.items = atol(v); break;
        case 15: cfg.p_cursor = atof(v); break;
        case 16: cfg.p_update = atof(v); break;
        case 17: cfg.p_write = atof(v); break;
        case 18: cfg.p_large = atof(v); break;
        case 19: cfg.items_curs = atof(v); break;
        case 20: cfg.items_non_curs = atof(v); break;
        case 21: cfg.items_per_leaf = atof(v); break;
        case 22: cfg.seed = strtoull(v, NULL, 10); break;
        case 23: cfg.cpus = v; break;
        }
    }
    for (int n = 0; n < expected; n++)
        if (!seen[n]) {
            fprintf(stderr, "dbperf: missing %s=VALUE\n", names[n]);
            return 2;
        }
    if (cfg.threads < 1 || cfg.a_slots < 1 || cfg.local < 1 || cfg.local >= B_SLOTS || cfg.warm_stride < 1 ||
        cfg.sample_ms < 1) {
        fprintf(stderr, "dbperf: threads, a_slots, warm_stride, sample_ms must be >= 1 and local 1..99\n");
        return 2;
    }
    return 0;
}

/* Confines the process (and the threads it starts) to the CPUs listed ("0,3"); "all" leaves it as it is. */
static int pin(const char *list) {
    if (!strcmp(list, "all"))
        return 0;
    cpu_set_t set;
    CPU_ZERO(&set);
    for (const char *p = list; *p;) {
        char *end;
        long cpu = strtol(p, &end, 10);
        if (end == p || cpu < 0 || cpu >= CPU_SETSIZE) {
            fprintf(stderr, "dbperf: cpus=%s is not a list of CPU numbers (e.g. cpus=1 or cpus=0,1) or all\n", list);
            return 2;
        }
        CPU_SET((int)cpu, &set);
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') {
            fprintf(stderr, "dbperf: cpus=%s is not a list of CPU numbers (e.g. cpus=1 or cpus=0,1) or all\n", list);
            return 2;
        }
    }
    if (sched_setaffinity(0, sizeof set, &set)) {
        fprintf(stderr, "dbperf: cannot run on cpus=%s: %s\n", list, strerror(errno));
        return 2;
    }
    return 0;
}

static void on_signal(int sig) {
    (void)sig;
    stopping = 1;
}

int main(int argc, char **argv) {
    int bad = parse(argc, argv);
    if (!bad)
        bad = pin(cfg.cpus);
    if (bad)
        return bad;
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    for (int c = 0; c < C_SLOTS; c++) {
        if (c % LARGE_EVERY == LARGE_EVERY - 1)
            large_c[n_large_c++] = c;
        else
            small_c[n_small_c++] = c;
    }
    counters = calloc((size_t)cfg.threads, sizeof *counters);
    last_latency = calloc((size_t)cfg.threads * LAT_BUCKETS, sizeof *last_latency);
    if (!counters || !last_latency) {
        fprintf(stderr, "dbperf: out of memory for %d threads\n", cfg.threads);
        return 2;
    }
    int started = 0;
    if (open_env() == 0 && warm_up() == 0) {
        double t0 = now_s();
        print_sample(0.0);
        for (; started < cfg.threads; started++) {
            counters[started].index = started;
            int ret = pthread_create(&counters[started].thread, NULL, run_thread, &counters[started]);
            if (ret) {
                fail("pthread_create", ret);
                break;
            }
        }
        double next = t0 + cfg.sample_ms / 1000.0;
        while (!should_stop()) {
            if (wait_for_stop((long)((next - now_s()) * 1000)))
                break;
            double now = now_s();
            if (now >= next) {
                print_sample(now - t0);
                next += cfg.sample_ms / 1000.0;
                if (next < now) /* late: the next sample a whole period on, not a burst of short ones */
                    next = now + cfg.sample_ms / 1000.0;
            }
        }
    }
    __atomic_store_n(&stop_flag, 1, __ATOMIC_RELAXED);
    for (int t = 0; t < started; t++)
        pthread_join(counters[t].thread, NULL);
    close_env();
    if (error_text[0]) {
        for (char *q = error_text; *q; q++) /* a JSON string: no quotes, backslashes or control characters */
            if (*q == '"' || *q == '\\' || (unsigned char)*q < 0x20)
                *q = *q == '"' ? '\'' : ' ';
        printf("{\"error\": \"%s\", \"code\": %d}\n", error_text, error_code);
        return 3;
    }
    printf("{\"done\": true}\n");
    return 0;
}
