/* runtime/context.c - context and its progress thread, protection domains, memory regions
 * (STags: RFC 5040 §2.1, RFC 5042 §5.1) and completion queues of the iwkit runtime. */
#define _GNU_SOURCE /* POLLRDHUP */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "iwk_internal.h"

/* ---- progress thread --------------------------------------------------------------------- */

static void *progress_main(void *arg)
{
    struct iwk_context *ctx = arg;
    struct epoll_event ev[64];
    for (;;) {
        int n = epoll_wait(ctx->epfd, ev, 64, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        for (int i = 0; i < n; i++) {
            if (ev[i].data.ptr == NULL) {
                uint64_t v;
                if (read(ctx->wake_fd, &v, sizeof v) < 0) { /* nothing: only a wake-up */ }
                continue;
            }
            if (ev[i].data.u64 & 1u) { /* a QP's setup timer (iwk_ctx_watch_timer) */
                iwk_qp_on_timer((struct iwk_qp *)(uintptr_t)(ev[i].data.u64 & ~(uint64_t)1u));
                continue;
            }
            struct iwk_qp *qp = ev[i].data.ptr;
            if (ev[i].events & EPOLLOUT)
                iwk_qp_on_writable(qp);
            if (ev[i].events & (EPOLLERR | EPOLLHUP | EPOLLRDHUP))
                iwk_qp_on_hangup(qp);
            else if (ev[i].events & EPOLLIN)
                iwk_qp_on_readable(qp);
        }
        pthread_mutex_lock(&ctx->lock);
        int stop = ctx->stop;
        ctx->gen++;
        pthread_cond_broadcast(&ctx->gen_cond);
        pthread_mutex_unlock(&ctx->lock);
        if (stop)
            break;
    }
    return NULL;
}

int iwk_ctx_start_progress(struct iwk_context *ctx)
{
    int rc = 0;
    pthread_mutex_lock(&ctx->lock);
    if (!ctx->thread_started) {
        rc = -pthread_create(&ctx->thread, NULL, progress_main, ctx);
        if (rc == 0)
            ctx->thread_started = 1;
    }
    pthread_mutex_unlock(&ctx->lock);
    return rc;
}

int iwk_ctx_watch(struct iwk_context *ctx, int fd, void *qp, uint32_t events, int add)
{
    struct epoll_event ev = { .events = events, .data.ptr = qp };
    int rc = epoll_ctl(ctx->epfd, add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev);
    return rc < 0 ? -errno : 0;
}

void iwk_ctx_quiesce(struct iwk_context *ctx)
{
    pthread_mutex_lock(&ctx->lock);
    if (ctx->thread_started && !ctx->stop && !pthread_equal(pthread_self(), ctx->thread)) {
        uint64_t target = ctx->gen + 1u; /* the iteration running now, or the one the wake-up starts */
        uint64_t one = 1;
        if (write(ctx->wake_fd, &one, sizeof one) < 0) { /* already readable */ }
        while (ctx->gen < target && !ctx->stop)
            pthread_cond_wait(&ctx->gen_cond, &ctx->lock);
    }
    pthread_mutex_unlock(&ctx->lock);
}

int iwk_ctx_watch_timer(struct iwk_context *ctx, int tfd, void *qp)
{
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uint64_t)(uintptr_t)qp | 1u };
    return epoll_ctl(ctx->epfd, EPOLL_CTL_ADD, tfd, &ev) < 0 ? -errno : 0;
}

void iwk_ctx_unwatch(struct iwk_context *ctx, int fd)
{
    (void)epoll_ctl(ctx->epfd, EPOLL_CTL_DEL, fd, NULL);
}

int iwk_context_open(const struct iwk_context_attr *attr, struct iwk_context **out)
{
    int rc = -ENOMEM;
    struct iwk_context *ctx = calloc(1, sizeof *ctx);
    if (ctx == NULL)
        goto out;
    pthread_mutex_init(&ctx->lock, NULL);
    pthread_cond_init(&ctx->gen_cond, NULL);
    ctx->epfd = epoll_create1(EPOLL_CLOEXEC);
    ctx->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (ctx->epfd < 0 || ctx->wake_fd < 0) {
        rc = -errno;
        goto fail;
    }
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
    if (epoll_ctl(ctx->epfd, EPOLL_CTL_ADD, ctx->wake_fd, &ev) < 0) {
        rc = -errno;
        goto fail;
    }
    ctx->app_progress = attr != NULL && (attr->flags & IWK_CTX_APP_PROGRESS) != 0;
    if (attr != NULL && (attr->flags & ~(uint32_t)IWK_CTX_APP_PROGRESS) != 0) {
        rc = -EINVAL;
        goto fail;
    }
    if (attr != NULL && attr->pcap_path != NULL) {
        rc = iwk_pcap_open(attr->pcap_path, &ctx->pcap);
        if (rc != 0)
            goto fail;
    }
    *out = ctx;
    rc = 0;
    goto out;
fail:
    if (ctx->epfd >= 0)
        close(ctx->epfd);
    if (ctx->wake_fd >= 0)
        close(ctx->wake_fd);
    free(ctx);
out:
    return rc;
}

void iwk_context_close(struct iwk_context *ctx)
{
    if (ctx == NULL)
        return;
    pthread_mutex_lock(&ctx->lock);
    ctx->stop = 1;
    int started = ctx->thread_started;
    pthread_cond_broadcast(&ctx->gen_cond);
    pthread_mutex_unlock(&ctx->lock);
    if (started) {
        uint64_t one = 1;
        if (write(ctx->wake_fd, &one, sizeof one) < 0) { /* the thread also stops on its own */ }
        pthread_join(ctx->thread, NULL);
    }
    close(ctx->epfd);
    close(ctx->wake_fd);
    iwk_pcap_close(ctx->pcap);
    free(ctx->mrs);
    pthread_cond_destroy(&ctx->gen_cond);
    pthread_mutex_destroy(&ctx->lock);
    free(ctx);
}

/* ---- protection domains -------------------------------------------------------------------- */

int iwk_pd_alloc(struct iwk_context *ctx, struct iwk_pd **out)
{
    struct iwk_pd *pd = calloc(1, sizeof *pd);
    if (pd == NULL)
        return -ENOMEM;
    pd->ctx = ctx;
    pthread_mutex_lock(&ctx->lock);
    ctx->n_pd++;
    pthread_mutex_unlock(&ctx->lock);
    *out = pd;
    return 0;
}

int iwk_pd_free(struct iwk_pd *pd)
{
    struct iwk_context *ctx = pd->ctx;
    int rc = 0;
    pthread_mutex_lock(&ctx->lock);
    if (pd->n_users > 0)
        rc = -EBUSY;
    else
        ctx->n_pd--;
    pthread_mutex_unlock(&ctx->lock);
    if (rc == 0)
        free(pd);
    return rc;
}

/* ---- memory regions and STags --------------------------------------------------------------- */

#define STAG_INDEX(s) ((s) >> 8)
#define STAG_KEY(s) ((s) & 0xFFu)
#define MR_TABLE_MIN 64u
#define MR_MAX (1u << 22)     /* registered regions per context: the table stays under half full */

/* STags are not guessable (RFC 5040 §8.1.1 item 8, RFC 5042 §5.1.2): index (24 bits) and key
 * (8 bits) both come from getrandom(2). ctx->mrs is an open-addressing table of mr_cap slots (a
 * power of two, at most half full) keyed by the index, probed linearly from index % mr_cap. */
static int stag_random(uint32_t *out)
{
    uint32_t v = 0;
    ssize_t n;
    do
        n = getrandom(&v, sizeof v, 0);
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof v)
        return -EIO;
    *out = v;
    return 0;
}

/* The slot holding `index`, or the empty slot where it would go. */
static uint32_t mr_probe(const struct iwk_context *ctx, uint32_t index)
{
    uint32_t mask = ctx->mr_cap - 1u;
    uint32_t i = index & mask;
    while (ctx->mrs[i] != NULL && STAG_INDEX(ctx->mrs[i]->pub.rkey) != index)
        i = (i + 1u) & mask;
    return i;
}

static int mr_table_grow(struct iwk_context *ctx)
{
    uint32_t ncap = ctx->mr_cap == 0 ? MR_TABLE_MIN : ctx->mr_cap * 2u;
    struct iwk_mr_obj **n = calloc(ncap, sizeof *n);
    if (n == NULL)
        return -ENOMEM;
    struct iwk_mr_obj **old = ctx->mrs;
    uint32_t ocap = ctx->mr_cap;
    ctx->mrs = n;
    ctx->mr_cap = ncap;
    for (uint32_t i = 0; i < ocap; i++)
        if (old[i] != NULL)
            ctx->mrs[mr_probe(ctx, STAG_INDEX(old[i]->pub.rkey))] = old[i];
    free(old);
    return 0;
}

/* A fresh random STag whose index is not in use; ctx->lock held. */
static int mr_new_stag(struct iwk_context *ctx, uint32_t *stag)
{
    if (ctx->n_mr >= MR_MAX)
        return -ENOMEM;
    if (2u * (ctx->n_mr + 1u) > ctx->mr_cap) {
        int rc = mr_table_grow(ctx);
        if (rc != 0)
            return rc;
    }
    for (;;) {
        uint32_t v;
        int rc = stag_random(&v);
        if (rc != 0)
            return rc;
        if (STAG_INDEX(v) != 0 && ctx->mrs[mr_probe(ctx, STAG_INDEX(v))] == NULL) {
            *stag = v;
            return 0;
        }
    }
}

/* Removes the region with `index` (backward-shift deletion keeps every probe chain whole). */
static void mr_table_remove(struct iwk_context *ctx, uint32_t index)
{
    uint32_t mask = ctx->mr_cap - 1u;
    uint32_t i = mr_probe(ctx, index);
    if (ctx->mrs[i] == NULL)
        return;
    ctx->mrs[i] = NULL;
    for (uint32_t j = (i + 1u) & mask; ctx->mrs[j] != NULL; j = (j + 1u) & mask) {
        uint32_t home = STAG_INDEX(ctx->mrs[j]->pub.rkey) & mask;
        /* the entry at j may move to the hole at i unless its home lies cyclically in (i, j] */
        int stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            ctx->mrs[i] = ctx->mrs[j];
            ctx->mrs[j] = NULL;
            i = j;
        }
    }
}

int iwk_mr_reg(struct iwk_pd *pd, void *addr, size_t length, uint32_t access, struct iwk_mr **out)
{
    const uint32_t known = IWK_ACCESS_LOCAL_WRITE | IWK_ACCESS_REMOTE_WRITE | IWK_ACCESS_REMOTE_READ |
                           IWK_ACCESS_REMOTE_ATOMIC;
    if ((access & ~known) != 0 || (addr == NULL && length > 0))
        return -EINVAL;
    /* RFC 5042 §5.1.3 / verbs rule: remote write or atomic access needs local write. */
    if ((access & (IWK_ACCESS_REMOTE_WRITE | IWK_ACCESS_REMOTE_ATOMIC)) && !(access & IWK_ACCESS_LOCAL_WRITE))
        return -EINVAL;
    if ((uint64_t)(uintptr_t)addr + (uint64_t)length < (uint64_t)(uintptr_t)addr)
        return -EINVAL;
    struct iwk_mr_obj *mr = calloc(1, sizeof *mr);
    if (mr == NULL)
        return -ENOMEM;
    struct iwk_context *ctx = pd->ctx;
    pthread_mutex_lock(&ctx->lock);
    uint32_t stag = 0;
    int rc = mr_new_stag(ctx, &stag);
    if (rc == 0) {
        mr->pub.addr = addr;
        mr->pub.length = length;
        mr->pub.access = access;
        mr->pub.lkey = mr->pub.rkey = stag;
        mr->pd = pd;
        mr->valid = 1;
        ctx->mrs[mr_probe(ctx, STAG_INDEX(stag))] = mr;
        ctx->n_mr++;
        pd->n_users++;
    }
    pthread_mutex_unlock(&ctx->lock);
    if (rc != 0) {
        free(mr);
        return rc;
    }
    *out = &mr->pub;
    return 0;
}

int iwk_mr_dereg(struct iwk_mr *pub)
{
    struct iwk_mr_obj *mr = (struct iwk_mr_obj *)pub;
    struct iwk_context *ctx = mr->pd->ctx;
    pthread_mutex_lock(&ctx->lock);
    mr_table_remove(ctx, STAG_INDEX(pub->rkey));
    ctx->n_mr--;
    mr->pd->n_users--;
    pthread_mutex_unlock(&ctx->lock);
    free(mr);
    return 0;
}

int iwk_mr_invalidate(struct iwk_mr *pub)
{
    struct iwk_mr_obj *mr = (struct iwk_mr_obj *)pub;
    struct iwk_context *ctx = mr->pd->ctx;
    pthread_mutex_lock(&ctx->lock);
    mr->valid = 0;
    pthread_mutex_unlock(&ctx->lock);
    return 0;
}

int iwk_mr_rekey(struct iwk_mr *pub, uint8_t key)
{
    struct iwk_mr_obj *mr = (struct iwk_mr_obj *)pub;
    struct iwk_context *ctx = mr->pd->ctx;
    int rc = 0;
    pthread_mutex_lock(&ctx->lock);
    if (mr->valid)
        rc = -EBUSY;
    else {
        pub->rkey = pub->lkey = (pub->rkey & ~0xFFu) | key;
        mr->valid = 1;
    }
    pthread_mutex_unlock(&ctx->lock);
    return rc;
}

static struct iwk_mr_obj *mr_lookup(struct iwk_context *ctx, uint32_t stag)
{
    uint32_t idx = STAG_INDEX(stag);
    if (idx == 0 || ctx->mr_cap == 0)
        return NULL;
    struct iwk_mr_obj *mr = ctx->mrs[mr_probe(ctx, idx)];
    if (mr == NULL || mr->pub.rkey != stag || !mr->valid)
        return NULL;
    return mr;
}

enum iwk_stag_check iwk_stag_resolve(struct iwk_context *ctx, const struct iwk_pd *pd, uint32_t stag,
                                     uint64_t to, uint64_t len, uint32_t access, uint8_t **dst)
{
    enum iwk_stag_check r = IWK_STAG_OK;
    pthread_mutex_lock(&ctx->lock);
    const struct iwk_mr_obj *mr = mr_lookup(ctx, stag);
    uint64_t base = mr != NULL ? (uint64_t)(uintptr_t)mr->pub.addr : 0;
    if (mr == NULL)
        r = IWK_STAG_INVALID;
    else if (mr->pd != pd)
        r = IWK_STAG_OTHER_PD;
    else if ((mr->pub.access & access) != access)
        r = IWK_STAG_ACCESS;
    else if (to + len < to)
        r = IWK_STAG_WRAP;
    else if (to < base || to + len > base + mr->pub.length)
        r = IWK_STAG_BOUNDS;
    else
        *dst = (uint8_t *)(uintptr_t)to;
    pthread_mutex_unlock(&ctx->lock);
    return r;
}

#define REMOTE_ACCESS (IWK_ACCESS_REMOTE_WRITE | IWK_ACCESS_REMOTE_READ | IWK_ACCESS_REMOTE_ATOMIC)

int iwk_stag_invalidate(struct iwk_context *ctx, const struct iwk_pd *pd, uint32_t stag)
{
    int rc = 0;
    pthread_mutex_lock(&ctx->lock);
    struct iwk_mr_obj *mr = mr_lookup(ctx, stag);
    if (mr == NULL)
        rc = -EINVAL;
    else if (mr->pd != pd || (mr->pub.access & REMOTE_ACCESS) == 0)
        rc = -EACCES; /* a local-only STag is never the peer's to invalidate */
    else
        mr->valid = 0;
    pthread_mutex_unlock(&ctx->lock);
    return rc;
}

/* ---- completion queues ---------------------------------------------------------------------- */

int iwk_cq_create(struct iwk_context *ctx, uint32_t depth, struct iwk_cq **out)
{
    if (depth == 0 || depth > (1u << 20))
        return -EINVAL;
    struct iwk_cq *cq = calloc(1, sizeof *cq);
    if (cq == NULL)
        return -ENOMEM;
    cq->ring = calloc(depth, sizeof *cq->ring);
    cq->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    cq->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (cq->ring == NULL || cq->event_fd < 0 || cq->wake_fd < 0) {
        free(cq->ring);
        if (cq->event_fd >= 0)
            close(cq->event_fd);
        if (cq->wake_fd >= 0)
            close(cq->wake_fd);
        free(cq);
        return -ENOMEM;
    }
    cq->ctx = ctx;
    cq->depth = depth;
    pthread_mutex_init(&cq->lock, NULL);
    pthread_cond_init(&cq->cond, NULL);
    pthread_mutex_lock(&ctx->lock);
    ctx->n_cq++;
    pthread_mutex_unlock(&ctx->lock);
    *out = cq;
    return 0;
}

int iwk_cq_destroy(struct iwk_cq *cq)
{
    struct iwk_context *ctx = cq->ctx;
    pthread_mutex_lock(&ctx->lock);
    int busy = cq->n_users > 0;
    if (!busy)
        ctx->n_cq--;
    pthread_mutex_unlock(&ctx->lock);
    if (busy)
        return -EBUSY;
    close(cq->event_fd);
    close(cq->wake_fd);
    pthread_cond_destroy(&cq->cond);
    pthread_mutex_destroy(&cq->lock);
    free(cq->ring);
    free(cq);
    return 0;
}

void iwk_cq_push(struct iwk_cq *cq, const struct iwk_wc *wc, int solicited)
{
    pthread_mutex_lock(&cq->lock);
    if (cq->count == cq->depth) {
        cq->overflow++;
    } else {
        cq->ring[(cq->head + cq->count) % cq->depth] = *wc;
        cq->count++;
    }
    int notify = cq->armed == 1 || (cq->armed == 2 && (solicited || wc->status != IWK_WC_SUCCESS));
    if (notify)
        cq->armed = 0;
    int waiters = cq->waiters > 0;
    pthread_cond_broadcast(&cq->cond);
    pthread_mutex_unlock(&cq->lock);
    if (waiters) {
        uint64_t one = 1;
        if (write(cq->wake_fd, &one, sizeof one) < 0) { /* saturated: already readable */ }
    }
    if (notify) {
        uint64_t one = 1;
        if (write(cq->event_fd, &one, sizeof one) < 0) { /* counter saturated: already readable */ }
    }
}

static int cq_take(struct iwk_cq *cq, int n, struct iwk_wc *wc)
{
    int k = 0;
    pthread_mutex_lock(&cq->lock);
    while (k < n && cq->count > 0) {
        wc[k++] = cq->ring[cq->head];
        cq->head = (cq->head + 1u) % cq->depth;
        cq->count--;
    }
    int overflow = cq->overflow > 0 && k == 0;
    pthread_mutex_unlock(&cq->lock);
    return overflow ? -EOVERFLOW : k;
}

int iwk_cq_poll(struct iwk_cq *cq, int n, struct iwk_wc *wc)
{
    int k = cq_take(cq, n, wc);
    if (k == 0 && cq->ctx->app_progress && iwk_cq_progress(cq, 0) > 0)
        k = cq_take(cq, n, wc);
    return k;
}

static int cq_wait_cond(struct iwk_cq *cq, int timeout_ms);

void iwk_cq_attach(struct iwk_cq *cq, struct iwk_qp *qp)
{
    pthread_mutex_lock(&cq->lock);
    if (cq->nqps < IWK_CQ_MAX_DRIVE) {
        cq->qps[cq->nqps++] = qp;
        qp->app_rx |= cq->ctx->app_progress; /* before iwk_qp_start: its socket is not watched yet */
    }
    pthread_mutex_unlock(&cq->lock);
}

uint32_t iwk_qp_rx_events(const struct iwk_qp *qp)
{
    int app = qp->app_rx || __atomic_load_n(&qp->app_driving, __ATOMIC_SEQ_CST) > 0;
    return app ? (uint32_t)EPOLLRDHUP : (uint32_t)(EPOLLIN | EPOLLRDHUP);
}

void iwk_qp_rearm(struct iwk_qp *qp)
{
    if (qp->watched)
        (void)iwk_ctx_watch(qp->ctx, qp->fd, qp, (qp->rx_closed ? 0u : iwk_qp_rx_events(qp)) |
                            (qp->want_out ? (uint32_t)EPOLLOUT : 0u) | (uint32_t)EPOLLET, 0);
}

void iwk_cq_detach(struct iwk_cq *cq, struct iwk_qp *qp)
{
    pthread_mutex_lock(&cq->lock);
    for (uint32_t i = 0; i < cq->nqps; i++) {
        if (cq->qps[i] == qp) {
            cq->qps[i] = cq->qps[--cq->nqps];
            break;
        }
    }
    /* a waiter may still hold the pointer: wake it and let it finish its round */
    while (cq->driving > 0) {
        uint64_t one = 1;
        if (write(cq->wake_fd, &one, sizeof one) < 0) { /* already readable */ }
        pthread_cond_wait(&cq->cond, &cq->lock);
    }
    pthread_mutex_unlock(&cq->lock);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The CQ's queue pairs whose sockets the caller's thread may read now; each gets app_driving
 * (the progress thread leaves its socket to us) and the CQ `driving` (iwk_cq_detach waits, so
 * the QPs stay alive). Returns how many; with `waiter` the caller will also wait on wake_fd. */
static uint32_t drive_begin(struct iwk_cq *cq, struct iwk_qp **q, int waiter)
{
    struct iwk_qp *all[IWK_CQ_MAX_DRIVE];
    uint32_t n = 0;
    pthread_mutex_lock(&cq->lock);
    uint32_t nall = cq->nqps;
    memcpy(all, cq->qps, nall * sizeof *all);
    cq->waiters += waiter ? 1u : 0u;
    cq->driving++;
    pthread_mutex_unlock(&cq->lock);
    /* qp->lock only without cq->lock: completions are pushed with qp->lock held (iwk_qp_reap ->
     * iwk_cq_push takes cq->lock), so cq->lock then qp->lock would deadlock against that */
    for (uint32_t i = 0; i < nall; i++) {
        struct iwk_qp *qp = all[i];
        pthread_mutex_lock(&qp->lock);
        if (qp->fd >= 0 && qp->watched && !qp->rx_closed) {
            q[n++] = qp;
            /* the first driver takes EPOLLIN from the progress thread: one thread is woken, not two */
            if (__atomic_add_fetch(&qp->app_driving, 1, __ATOMIC_SEQ_CST) == 1 && !qp->app_rx)
                iwk_qp_rearm(qp);
        }
        pthread_mutex_unlock(&qp->lock);
    }
    return n;
}

/* With `rx`, receives on every q[i] first; hands each socket back to the progress thread and
 * reads what it left to us meanwhile (its kick). */
static void drive_end(struct iwk_cq *cq, struct iwk_qp **q, uint32_t n, int rx)
{
    for (uint32_t i = 0; i < n; i++) {
        if (rx)
            iwk_qp_rx_drive(q[i]);
        /* the last driver gives EPOLLIN back (re-arming reports data that came meanwhile) */
        pthread_mutex_lock(&q[i]->lock);
        if (__atomic_sub_fetch(&q[i]->app_driving, 1, __ATOMIC_SEQ_CST) == 0 && !q[i]->app_rx)
            iwk_qp_rearm(q[i]);
        pthread_mutex_unlock(&q[i]->lock);
        if (__atomic_load_n(&q[i]->rx_kick, __ATOMIC_SEQ_CST))
            iwk_qp_rx_drive(q[i]);
    }
    pthread_mutex_lock(&cq->lock);
    cq->driving--;
    pthread_cond_broadcast(&cq->cond);
    pthread_mutex_unlock(&cq->lock);
}

static int cq_ready(struct iwk_cq *cq)
{
    pthread_mutex_lock(&cq->lock);
    int ready = cq->count > 0 || cq->overflow > 0;
    pthread_mutex_unlock(&cq->lock);
    return ready;
}

/* Waiting in the caller's thread: poll the sockets of the CQ's queue pairs and its wake-up fd,
 * receive on the sockets that are readable. With `session`, keeps going while data comes in
 * without completing anything (a stream of RDMA Writes), so the sockets stay with this thread
 * instead of being handed back to the progress thread after every read; it ends on a
 * completion, the wake-up fd (another thread pushed a completion, or iwk_cq_detach waits) or
 * the timeout. 1 when something happened, 0 on timeout. */
static int cq_drive(struct iwk_cq *cq, int wait_ms, int session)
{
    struct pollfd pfd[IWK_CQ_MAX_DRIVE + 1];
    struct iwk_qp *q[IWK_CQ_MAX_DRIVE];
    if (cq_ready(cq))
        return 1;
    uint32_t n = drive_begin(cq, q, 1);
    for (uint32_t i = 0; i < n; i++)
        pfd[i] = (struct pollfd){ .fd = q[i]->fd, .events = POLLIN | POLLRDHUP };
    pfd[n] = (struct pollfd){ .fd = cq->wake_fd, .events = POLLIN };
    int64_t end = mono_ms() + wait_ms;
    int r = 0, any = 0, counted = 1; /* drive_begin counted this thread among the waiters */
    for (;;) {
        /* waiters counted (drive_begin or below) before this look: a later push writes wake_fd */
        if (cq_ready(cq)) {
            r = 1;
            break;
        }
        int64_t left = end - mono_ms();
        r = left <= 0 ? 0 : poll(pfd, n + 1, (int)left);
        if (r <= 0)
            break;
        pthread_mutex_lock(&cq->lock);
        cq->waiters--; /* completions this thread pushes itself need no wake-up */
        pthread_mutex_unlock(&cq->lock);
        counted = 0;
        int woken = pfd[n].revents != 0;
        if (woken) {
            uint64_t v;
            if (read(cq->wake_fd, &v, sizeof v) < 0) { /* another waiter drained it */ }
        }
        for (uint32_t i = 0; i < n; i++) {
            if (pfd[i].revents & (POLLERR | POLLHUP | POLLRDHUP))
                __atomic_store_n(&q[i]->rx_hup, 1, __ATOMIC_SEQ_CST);
            if (pfd[i].revents)
                iwk_qp_rx_drive(q[i]);
            if (pfd[i].revents & (POLLERR | POLLHUP | POLLRDHUP))
                pfd[i].fd = -1; /* the stream ended: poll() would report it forever */
        }
        any = 1;
        if (woken || !session)
            break;
        pthread_mutex_lock(&cq->lock);
        cq->waiters++;
        pthread_mutex_unlock(&cq->lock);
        counted = 1;
    }
    if (counted) {
        pthread_mutex_lock(&cq->lock);
        cq->waiters--;
        pthread_mutex_unlock(&cq->lock);
    }
    drive_end(cq, q, n, 0);
    return r > 0 || any || (r < 0 && errno == EINTR);
}

int iwk_cq_progress(struct iwk_cq *cq, int timeout_ms)
{
    if (timeout_ms == 0) { /* no poll(): try every socket once */
        struct iwk_qp *q[IWK_CQ_MAX_DRIVE];
        uint32_t n = drive_begin(cq, q, 0);
        drive_end(cq, q, n, 1);
    }
    int64_t end = timeout_ms < 0 ? INT64_MAX : mono_ms() + timeout_ms;
    while (timeout_ms != 0) {
        int64_t left = end - mono_ms();
        if (left <= 0 || cq_drive(cq, left > 1000 ? 1000 : (int)left, 0) > 0)
            break; /* cq_drive: 1 when data or a completion came (or was there) */
    }
    pthread_mutex_lock(&cq->lock);
    int k = (int)cq->count;
    pthread_mutex_unlock(&cq->lock);
    return k;
}

int iwk_cq_wait(struct iwk_cq *cq, int timeout_ms)
{
    /* the caller's thread receives for this CQ's queue pairs itself while it waits; the
     * progress thread keeps serving everything else (and these too, whoever comes first) */
    int64_t end = timeout_ms < 0 ? INT64_MAX : mono_ms() + timeout_ms;
    for (;;) {
        pthread_mutex_lock(&cq->lock);
        int ready = cq->count > 0 || cq->overflow > 0;
        int drive = cq->nqps > 0;
        pthread_mutex_unlock(&cq->lock);
        if (ready)
            return 0;
        if (!drive)
            break;
        int64_t left = end - mono_ms();
        if (left <= 0)
            return -ETIMEDOUT;
        (void)cq_drive(cq, left > 1000 ? 1000 : (int)left, 1);
    }
    return cq_wait_cond(cq, timeout_ms);
}

static int cq_wait_cond(struct iwk_cq *cq, int timeout_ms)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    if (timeout_ms >= 0) {
        dl.tv_sec += timeout_ms / 1000;
        dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (dl.tv_nsec >= 1000000000L) {
            dl.tv_sec++;
            dl.tv_nsec -= 1000000000L;
        }
    }
    int rc = 0;
    pthread_mutex_lock(&cq->lock);
    while (cq->count == 0 && cq->overflow == 0 && rc == 0) {
        if (timeout_ms < 0)
            pthread_cond_wait(&cq->cond, &cq->lock);
        else if (pthread_cond_timedwait(&cq->cond, &cq->lock, &dl) == ETIMEDOUT)
            rc = -ETIMEDOUT;
    }
    pthread_mutex_unlock(&cq->lock);
    return rc;
}

int iwk_cq_fd(const struct iwk_cq *cq)
{
    return cq->event_fd;
}

int iwk_cq_req_notify(struct iwk_cq *cq, int solicited_only)
{
    if (cq->ctx->app_progress)
        return -EOPNOTSUPP; /* nobody would receive while the application sleeps on the fd */
    pthread_mutex_lock(&cq->lock);
    cq->armed = solicited_only ? 2 : 1;
    pthread_mutex_unlock(&cq->lock);
    return 0;
}

void iwk_cq_ack(struct iwk_cq *cq)
{
    uint64_t v;
    if (read(cq->event_fd, &v, sizeof v) < 0) { /* EAGAIN: nothing pending */ }
}
