// SPDX-License-Identifier: GPL-2.0
/*
 * Concurrency stress of IOMMU_IOAS_NOIOMMU_GET_PA on a no-IOMMU device.
 *
 * For at least a given time (default 30 s, at most 60), and then until
 * every kind of operation and answer below has happened or the readers
 * made as many GET_PA calls again as in that time (progress, not the
 * clock, bounds the wait; a kind still missing then fails the test):
 *   - NR_READERS threads ask GET_PA about random IOVAs (inside mappings,
 *     at their edges, in holes, anywhere) with random lengths;
 *   - NR_MAPPERS threads map and unmap "slots" of the IOAS (2M hugepages,
 *     4K pages, adjacent mappings, a hugepage at an IOVA that is not 2M
 *     aligned, an alias of other memory), each thread its own slots;
 *   - one thread detaches the device from the IOAS, attaches it again, or
 *     replaces the IOAS with a second one and back.
 *
 * All buffers are 2M hugetlb pages, which nothing migrates in the test VM,
 * so /proc/self/pagemap is the truth for every answer: a successful GET_PA
 * must give pagemap's address, page by page, for a length that is within
 * the request and the mapping and stops early only where memory stops
 * being contiguous.
 *
 * Which errors are legal is decided from the state around the call. Every
 * slot and the attachment have a sequence count, odd while an ioctl that
 * changes them is in flight; a reader samples it before and after its
 * GET_PA, and when it did not move the state was settled for the whole
 * call. Then:
 *   slot mapped, device attached to this IOAS  -> success only;
 *   slot mapped, device not on this IOAS       -> EOPNOTSUPP only (the
 *       SPEC: no no-IOMMU domain stores the mapping);
 *   slot unmapped                              -> ENOENT only (checked
 *       before the domain, so also while detached);
 *   an IOVA no one ever maps                   -> ENOENT, always.
 * When the state moved during the call, any answer one of the states it
 * went through allows is accepted (success, ENOENT, EOPNOTSUPP) - but a
 * success must still match pagemap. Anything else is a failure.
 *
 * The VM runner fails the run if the console shows a kernel report.
 *
 * usage: noiommu_stress [harness options] BDF     (needs root)
 *        NOIOMMU_BDF=BDF noiommu_stress [harness options]
 *   env: NOIOMMU_STRESS_SECONDS, the time to stress at least
 */
#define _GNU_SOURCE
#include <pthread.h>

#include "noiommu_utils.h"

#define DEFAULT_SECONDS	30
#define MAX_SECONDS	60
#define NR_READERS	2
#define NR_MAPPERS	2
#define NR_HUGE		4
#define IOVA_BASE	(1ULL << 32)
#define IOAS2_IOVA	(1ULL << 40)
#define MAX_FAILS	16

#define SZ_1M		(1UL << 20)

/* A piece of the hugepage buffer that a mapper maps and unmaps */
struct slot {
	const char *what;
	__u64 iova;		/* IOVA_BASE + */
	size_t va_off;		/* into the hugepage buffer */
	size_t len;
	unsigned int seq;	/* odd while a map or unmap is in flight */
	bool mapped;
};

#define SLOT(_what, _iova, _va_off, _len) \
	{ .what = _what, .iova = _iova, .va_off = _va_off, .len = _len }

/* IOVA and buffer offsets; buffer offsets 0-8M are four hugepages */
static struct slot slots[] = {
	SLOT("2M hugepage", 0, 0, SZ_2M),
	SLOT("2M hugepage right after", SZ_2M, SZ_2M, SZ_2M),
	SLOT("4K page", 4 * SZ_1M, 4 * SZ_1M, SZ_4K),
	SLOT("4K page adjacent in IOVA and PA", 4 * SZ_1M + SZ_4K,
	     4 * SZ_1M + SZ_4K, SZ_4K),
	SLOT("60K", 4 * SZ_1M + 64 * 1024, 4 * SZ_1M + 64 * 1024, 60 * 1024),
	SLOT("1M - 4K ending before a 2M boundary", 5 * SZ_1M, 5 * SZ_1M,
	     SZ_1M - SZ_4K),
	SLOT("2M - 4K at a non-2M-aligned IOVA", 8 * SZ_1M + SZ_4K, 6 * SZ_1M,
	     SZ_2M - SZ_4K),
	SLOT("1M aliasing memory of other slots", 12 * SZ_1M,
	     4 * SZ_1M + 128 * 1024, SZ_1M),
};

#define NR_SLOTS	ARRAY_SIZE(slots)

/* IOVAs that are never mapped: between and around the slots */
static const __u64 holes[] = {
	IOVA_BASE - 1,
	IOVA_BASE + 4 * SZ_1M + 2 * SZ_4K,
	IOVA_BASE + 4 * SZ_1M + 64 * 1024 - 1,
	IOVA_BASE + 4 * SZ_1M + 124 * 1024,
	IOVA_BASE + 6 * SZ_1M - SZ_4K,
	IOVA_BASE + 8 * SZ_1M,
	IOVA_BASE + 10 * SZ_1M,
	IOVA_BASE + 13 * SZ_1M,
	0,
	UINT64_MAX - 1,
};

enum { ON_NONE, ON_IOAS1, ON_IOAS2 };

static struct noiommu_dev nd;
static __u32 ioas2;
static char *hp;			/* NR_HUGE hugepages */
static int pagemap_fd;
static unsigned int att_seq;		/* odd while (de)attaching */
static int att_on = ON_IOAS1;
static bool stop;

/* What the threads did, and what went wrong */
struct counts {
	unsigned long get_pa, ok, enoent, eopnotsupp, other;
	unsigned long settled_ok, settled_enoent, settled_eopnotsupp;
	unsigned long hole_probes, pages_checked;
	unsigned long maps, unmaps, attaches, detaches, replaces;
	unsigned long bad_errno, bad_answer, bad_hole, ioctl_fail;
};

static struct counts total;

/* Kinds of operations and answers seen so far, a bit each */
enum {
	SEEN_OK = 1 << 0, SEEN_ENOENT = 1 << 1, SEEN_EOPNOTSUPP = 1 << 2,
	SEEN_SETTLED_OK = 1 << 3, SEEN_SETTLED_ENOENT = 1 << 4,
	SEEN_SETTLED_EOPNOTSUPP = 1 << 5, SEEN_HOLE = 1 << 6,
	SEEN_MAP = 1 << 7, SEEN_UNMAP = 1 << 8, SEEN_ATTACH = 1 << 9,
	SEEN_DETACH = 1 << 10, SEEN_REPLACE = 1 << 11,
	SEEN_ALL = (1 << 12) - 1,
};
static unsigned int seen;
static unsigned long get_pa_calls;	/* the readers' progress */

static const char seen_names[][32] = {
	"GET_PA success", "GET_PA ENOENT", "GET_PA EOPNOTSUPP",
	"settled success", "settled ENOENT", "settled EOPNOTSUPP",
	"never-mapped IOVA probed", "IOAS_MAP", "IOAS_UNMAP", "attach",
	"detach", "replace",
};
_Static_assert(sizeof(seen_names) / sizeof(seen_names[0]) ==
	       __builtin_popcount(SEEN_ALL), "a name for each kind");

/* Note that kind @bit happened, the first time a thread's @count grows */
static void count_seen(unsigned long *count, unsigned int bit)
{
	if (!(*count)++)
		__atomic_fetch_or(&seen, bit, __ATOMIC_SEQ_CST);
}
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char fails[MAX_FAILS][256];
static int nr_fails;

__attribute__((format(printf, 1, 2)))
static void fail(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&lock);
	if (nr_fails < MAX_FAILS) {
		va_start(ap, fmt);
		vsnprintf(fails[nr_fails], sizeof(fails[0]), fmt, ap);
		va_end(ap);
	}
	nr_fails++;
	pthread_mutex_unlock(&lock);
}

static void add_counts(const struct counts *c)
{
	const unsigned long *src = (const unsigned long *)c;
	unsigned long *dst = (unsigned long *)&total;
	size_t i;

	pthread_mutex_lock(&lock);
	for (i = 0; i < sizeof(*c) / sizeof(*src); i++)
		dst[i] += src[i];
	pthread_mutex_unlock(&lock);
}

static unsigned int load(const unsigned int *p)
{
	return __atomic_load_n(p, __ATOMIC_SEQ_CST);
}

static void bump(unsigned int *p)
{
	__atomic_add_fetch(p, 1, __ATOMIC_SEQ_CST);
}

static uint64_t rnd(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *state = x;
}

static uint64_t rnd_below(uint64_t *state, uint64_t n)
{
	return n ? rnd(state) % n : 0;
}

static void pause_us(uint64_t *state, unsigned int max_us)
{
	struct timespec ts = { .tv_nsec = rnd_below(state, max_us) * 1000 };

	nanosleep(&ts, NULL);
}

/* 0 or the errno */
static int map_slot(const struct slot *s)
{
	return errno_of(_test_ioas_map_at(nd.iommufd, nd.ioas_id,
					  hp + s->va_off, s->len,
					  IOVA_BASE + s->iova));
}

/* 0 or the errno */
static int unmap_range(__u32 ioas_id, __u64 iova, __u64 len,
		       __u64 *unmapped)
{
	return errno_of(_test_ioctl_ioas_unmap(nd.iommufd, ioas_id, iova,
					       len, (uint64_t *)unmapped));
}

/* ---- readers ---- */

struct probe {
	__u32 ioas_id;
	__u64 iova;
	__u64 length;
	const char *va;		/* memory behind iova, NULL if none */
	__u64 map_end;		/* IOVA just past the mapping holding iova */
	struct slot *slot;	/* NULL: IOAS2's fixed mapping, or a hole */
	bool hole;		/* never mapped */
};

static struct slot *slot_of(__u64 iova)
{
	size_t i;

	for (i = 0; i < NR_SLOTS; i++)
		if (iova >= IOVA_BASE + slots[i].iova &&
		    iova - IOVA_BASE - slots[i].iova < slots[i].len)
			return &slots[i];
	return NULL;
}

static void pick(uint64_t *r, struct probe *p)
{
	uint64_t dice = rnd_below(r, 100);
	struct slot *s;
	__u64 off;

	*p = (struct probe){ .ioas_id = nd.ioas_id };
	if (dice < 10) {
		/* IOAS2 maps the first hugepage at IOAS2_IOVA, for good */
		off = rnd_below(r, SZ_2M);
		p->ioas_id = ioas2;
		p->iova = IOAS2_IOVA + off;
		p->va = hp + off;
		p->map_end = IOAS2_IOVA + SZ_2M;
	} else if (dice < 85) {
		s = &slots[rnd_below(r, NR_SLOTS)];
		switch (rnd_below(r, 4)) {
		case 0:
			off = 0;
			break;
		case 1:
			off = s->len - 1;
			break;
		default:
			off = rnd_below(r, s->len);
		}
		p->slot = s;
		p->iova = IOVA_BASE + s->iova + off;
		p->va = hp + s->va_off + off;
		p->map_end = IOVA_BASE + s->iova + s->len;
	} else if (dice < 95) {
		p->hole = true;
		p->iova = holes[rnd_below(r, ARRAY_SIZE(holes))];
	} else {
		/* Anywhere; most likely a hole, maybe a slot */
		p->iova = rnd(r) >> rnd_below(r, 40);
		if (p->iova == UINT64_MAX)
			p->iova--;
		s = slot_of(p->iova);
		if (s) {
			off = p->iova - IOVA_BASE - s->iova;
			p->slot = s;
			p->va = hp + s->va_off + off;
			p->map_end = IOVA_BASE + s->iova + s->len;
		} else {
			p->hole = true;
		}
	}
	switch (rnd_below(r, 4)) {
	case 0:
		p->length = 1;
		break;
	case 1:
		p->length = 1 + rnd_below(r, 2 * SZ_4K);
		break;
	case 2:
		p->length = 1 + rnd_below(r, 3 * SZ_1M);
		break;
	default:
		p->length = UINT64_MAX;
	}
}

/*
 * A successful answer against pagemap: the first byte, every page of the
 * range, the bounds, and that it stops only where contiguity or the
 * mapping or the request ends.
 */
static bool answer_matches(const struct probe *p, __u64 phys, __u64 len,
			   uint64_t *pas, size_t max_pages, struct counts *c)
{
	size_t page_off = (uintptr_t)p->va % SZ_4K, nr, i;
	const char *va_page = p->va - page_off;
	__u64 limit = p->map_end - p->iova;

	if (p->length < limit)
		limit = p->length;
	if (!len || len > limit) {
		fail("GET_PA(ioas %u, iova %#llx, length %#llx) answered length %#llx, allowed 1..%#llx",
		     p->ioas_id, (unsigned long long)p->iova,
		     (unsigned long long)p->length, (unsigned long long)len,
		     (unsigned long long)limit);
		return false;
	}
	/* The answer's pages, plus the one after to check it is maximal */
	nr = (page_off + len + SZ_4K - 1) / SZ_4K;
	if (len < limit)
		nr = (page_off + len) / SZ_4K + 1;
	if (nr > max_pages || pagemap_pas(pagemap_fd, va_page, nr, pas)) {
		fail("cannot read pagemap for %zu pages at %p", nr, va_page);
		return false;
	}
	c->pages_checked += nr;
	if (!pas[0] || phys != pas[0] + page_off) {
		fail("GET_PA(ioas %u, iova %#llx) phys %#llx, pagemap %#llx",
		     p->ioas_id, (unsigned long long)p->iova,
		     (unsigned long long)phys,
		     (unsigned long long)(pas[0] + page_off));
		return false;
	}
	for (i = 1; i < (page_off + len + SZ_4K - 1) / SZ_4K; i++) {
		if (pas[i] != pas[0] + i * SZ_4K) {
			fail("GET_PA(ioas %u, iova %#llx) says %#llx bytes are contiguous from %#llx, but pagemap has page %zu at %#llx",
			     p->ioas_id, (unsigned long long)p->iova,
			     (unsigned long long)len, (unsigned long long)phys,
			     i, (unsigned long long)pas[i]);
			return false;
		}
	}
	if (len < limit && (page_off + len) % SZ_4K == 0 &&
	    pas[nr - 1] == pas[0] + (nr - 1) * SZ_4K) {
		fail("GET_PA(ioas %u, iova %#llx, length %#llx) stopped at %#llx bytes, but memory stays contiguous up to %#llx",
		     p->ioas_id, (unsigned long long)p->iova,
		     (unsigned long long)p->length, (unsigned long long)len,
		     (unsigned long long)limit);
		return false;
	}
	if (len < limit && (page_off + len) % SZ_4K) {
		fail("GET_PA(ioas %u, iova %#llx, length %#llx) stopped at %#llx bytes, inside a page",
		     p->ioas_id, (unsigned long long)p->iova,
		     (unsigned long long)p->length, (unsigned long long)len);
		return false;
	}
	return true;
}

static void *reader(void *arg)
{
	uint64_t r = (uintptr_t)arg * 0x9e3779b97f4a7c15ULL ^ time(NULL);
	size_t max_pages = 3 * SZ_1M / SZ_4K + 2;
	uint64_t *pas = calloc(max_pages, sizeof(*pas));
	struct counts c = {};

	if (!pas) {
		fail("calloc: %s", strerror(errno));
		return NULL;
	}
	while (!__atomic_load_n(&stop, __ATOMIC_SEQ_CST)) {
		struct iommu_ioas_noiommu_get_pa cmd;
		unsigned int s1 = 0, s2 = 0, a1, a2;
		bool m = true, settled_slot, settled_att, on_this;
		int on, err;
		struct probe p;

		pick(&r, &p);
		cmd = pa_req(p.ioas_id, p.iova, p.length);
		/* In IOAS2 only the fixed mapping exists */
		if (p.ioas_id == nd.ioas_id && p.slot) {
			s1 = load(&p.slot->seq);
			m = __atomic_load_n(&p.slot->mapped, __ATOMIC_SEQ_CST);
		}
		a1 = load(&att_seq);
		on = __atomic_load_n(&att_on, __ATOMIC_SEQ_CST);

		err = errno_of(_test_ioctl_get_pa_raw(nd.iommufd, &cmd));

		a2 = load(&att_seq);
		if (p.ioas_id == nd.ioas_id && p.slot)
			s2 = load(&p.slot->seq);
		settled_slot = s1 == s2 && !(s1 & 1);
		settled_att = a1 == a2 && !(a1 & 1);
		on_this = on == (p.ioas_id == ioas2 ? ON_IOAS2 : ON_IOAS1);

		c.get_pa++;
		__atomic_add_fetch(&get_pa_calls, 1, __ATOMIC_SEQ_CST);
		if (p.hole) {
			count_seen(&c.hole_probes, SEEN_HOLE);
			if (err != ENOENT) {
				c.bad_hole++;
				fail("GET_PA(ioas %u, iova %#llx) of a never-mapped IOVA: %s, expected ENOENT",
				     p.ioas_id, (unsigned long long)p.iova,
				     errno_name(err));
			}
			if (err == ENOENT)
				count_seen(&c.enoent, SEEN_ENOENT);
			continue;
		}
		switch (err) {
		case 0:
			count_seen(&c.ok, SEEN_OK);
			if ((settled_slot && !m) || (settled_att && !on_this)) {
				c.bad_errno++;
				fail("GET_PA(ioas %u, iova %#llx) succeeded while the IOVA was %s and the device %s",
				     p.ioas_id, (unsigned long long)p.iova,
				     settled_slot && !m ? "unmapped" : "mapped",
				     on_this ? "on this IOAS" : "elsewhere");
				break;
			}
			if (!answer_matches(&p, cmd.out_phys, cmd.length, pas,
					    max_pages, &c)) {
				c.bad_answer++;
				break;
			}
			if (settled_slot && settled_att)
				count_seen(&c.settled_ok, SEEN_SETTLED_OK);
			break;
		case ENOENT:
			count_seen(&c.enoent, SEEN_ENOENT);
			if (settled_slot && m) {
				c.bad_errno++;
				fail("GET_PA(ioas %u, iova %#llx): ENOENT while the IOVA was mapped (device %s)",
				     p.ioas_id, (unsigned long long)p.iova,
				     settled_att ? (on_this ? "attached" : "away") :
				     "moving");
			}
			if (settled_slot)
				count_seen(&c.settled_enoent,
					   SEEN_SETTLED_ENOENT);
			break;
		case EOPNOTSUPP:
			count_seen(&c.eopnotsupp, SEEN_EOPNOTSUPP);
			if ((settled_slot && !m) || (settled_att && on_this)) {
				c.bad_errno++;
				fail("GET_PA(ioas %u, iova %#llx): EOPNOTSUPP while the IOVA was %s and the device %s",
				     p.ioas_id, (unsigned long long)p.iova,
				     settled_slot && !m ? "unmapped" : "mapped",
				     settled_att && on_this ? "attached to this IOAS" :
				     "moving");
			}
			if (settled_slot && settled_att)
				count_seen(&c.settled_eopnotsupp,
					   SEEN_SETTLED_EOPNOTSUPP);
			break;
		default:
			c.other++;
			c.bad_errno++;
			fail("GET_PA(ioas %u, iova %#llx, length %#llx): %s",
			     p.ioas_id, (unsigned long long)p.iova,
			     (unsigned long long)p.length, errno_name(err));
		}
	}
	free(pas);
	add_counts(&c);
	return NULL;
}

/* ---- mappers and the attacher ---- */

static void *mapper(void *arg)
{
	uintptr_t id = (uintptr_t)arg;
	uint64_t r = (id + 1) * 0xd1b54a32d192ed03ULL ^ time(NULL);
	struct counts c = {};

	while (!__atomic_load_n(&stop, __ATOMIC_SEQ_CST)) {
		/* Slots id, id + NR_MAPPERS, ... are this thread's */
		size_t n = (NR_SLOTS - id + NR_MAPPERS - 1) / NR_MAPPERS;
		struct slot *s = &slots[id + NR_MAPPERS * rnd_below(&r, n)];
		__u64 unmapped = 0;
		int err;

		bump(&s->seq);
		if (s->mapped) {
			err = unmap_range(nd.ioas_id, IOVA_BASE + s->iova,
					  s->len, &unmapped);
			if (!err && unmapped != s->len)
				err = -1;
			count_seen(&c.unmaps, SEEN_UNMAP);
		} else {
			err = map_slot(s);
			count_seen(&c.maps, SEEN_MAP);
		}
		if (!err)
			__atomic_store_n(&s->mapped, !s->mapped,
					 __ATOMIC_SEQ_CST);
		bump(&s->seq);
		if (err) {
			c.ioctl_fail++;
			fail("%s of slot \"%s\": %s (unmapped %llu bytes)",
			     s->mapped ? "unmap" : "map", s->what,
			     err < 0 ? "wrong length" : strerror(err),
			     (unsigned long long)unmapped);
		}
		/* Keep slots mapped longer than unmapped */
		pause_us(&r, s->mapped ? 2000 : 300);
	}
	add_counts(&c);
	return NULL;
}

static void *attacher(void *arg)
{
	uint64_t r = 0x2545f4914f6cdd1dULL ^ time(NULL) ^ (uintptr_t)arg;
	struct counts c = {};

	while (!__atomic_load_n(&stop, __ATOMIC_SEQ_CST)) {
		uint64_t dice = rnd_below(&r, 100);
		int on = att_on, next, err;

		if (on == ON_IOAS1)
			next = dice < 70 ? ON_NONE : ON_IOAS2;
		else if (on == ON_IOAS2)
			next = dice < 50 ? ON_IOAS1 : ON_NONE;
		else
			next = ON_IOAS1;

		bump(&att_seq);
		if (next == ON_NONE) {
			err = errno_of(_test_cmd_detach(nd.device_fd));
			count_seen(&c.detaches, SEEN_DETACH);
		} else {
			err = errno_of(_test_cmd_attach(nd.device_fd,
							next == ON_IOAS1 ?
							nd.ioas_id : ioas2,
							NULL));
			if (on == ON_NONE)
				count_seen(&c.attaches, SEEN_ATTACH);
			else
				count_seen(&c.replaces, SEEN_REPLACE);
		}
		if (!err)
			__atomic_store_n(&att_on, next, __ATOMIC_SEQ_CST);
		bump(&att_seq);
		if (err) {
			c.ioctl_fail++;
			fail("attachment %d -> %d: %s", on, next,
			     strerror(err));
		}
		/* Stay longer on IOAS1, where most of the lookups go */
		pause_us(&r, next == ON_IOAS1 ? 10000 : 2000);
	}
	add_counts(&c);
	return NULL;
}

/* ---- the tests ---- */

static void print_fails(struct __test_metadata *_metadata, int before)
{
	int i;

	for (i = before; i < nr_fails && i < MAX_FAILS; i++)
		TH_LOG("%s", fails[i]);
	if (nr_fails > MAX_FAILS && before < MAX_FAILS)
		TH_LOG("... %d failures in all", nr_fails);
}

static int stress_seconds(struct __test_metadata *_metadata)
{
	const char *arg = getenv("NOIOMMU_STRESS_SECONDS");
	long secs = DEFAULT_SECONDS;
	char *end;

	if (arg && *arg) {
		secs = strtol(arg, &end, 10);
		ASSERT_TRUE(!*end && secs >= 1)
			TH_LOG("NOIOMMU_STRESS_SECONDS must be a positive number, not '%s'",
			       arg);
	}
	if (secs > MAX_SECONDS) {
		TH_LOG("%ld s asked, the stress is bounded to %d s", secs,
		       MAX_SECONDS);
		secs = MAX_SECONDS;
	}
	return secs;
}

/* Every slot resolves by GET_PA to what pagemap says */
static void _all_slots_resolve(struct __test_metadata *_metadata)
{
	size_t i;

	for (i = 0; i < NR_SLOTS; i++)
		_test_get_pa_is_pagemap(_metadata, nd.iommufd, nd.ioas_id,
					IOVA_BASE + slots[i].iova,
					hp + slots[i].va_off, slots[i].len);
}

/*
 * Run the threads for at least @seconds, then until every kind of
 * operation and answer happened, but for no more GET_PA calls than the
 * first @seconds made; returns the wall time in ms
 */
static long _run(struct __test_metadata *_metadata, int seconds)
{
	pthread_t readers[NR_READERS], mappers[NR_MAPPERS], att;
	const struct timespec second = { .tv_sec = 1 };
	struct timespec start;
	unsigned long limit;
	uintptr_t i;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (i = 0; i < NR_READERS; i++) {
		ASSERT_EQ(0, pthread_create(&readers[i], NULL, reader,
					    (void *)i));
	}
	for (i = 0; i < NR_MAPPERS; i++) {
		ASSERT_EQ(0, pthread_create(&mappers[i], NULL, mapper,
					    (void *)i));
	}
	ASSERT_EQ(0, pthread_create(&att, NULL, attacher, NULL));

	while (elapsed_ms(&start) < seconds * 1000L)
		nanosleep(&second, NULL);
	limit = 2 * __atomic_load_n(&get_pa_calls, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&seen, __ATOMIC_SEQ_CST) != SEEN_ALL &&
	       __atomic_load_n(&get_pa_calls, __ATOMIC_SEQ_CST) < limit)
		nanosleep(&second, NULL);
	__atomic_store_n(&stop, true, __ATOMIC_SEQ_CST);

	for (i = 0; i < NR_READERS; i++)
		pthread_join(readers[i], NULL);
	for (i = 0; i < NR_MAPPERS; i++)
		pthread_join(mappers[i], NULL);
	pthread_join(att, NULL);
	return elapsed_ms(&start);
}

static void print_counts(struct __test_metadata *_metadata, long ms)
{
	const struct counts *c = &total;

	TH_LOG("ran %ld ms with %d GET_PA threads, %d map/unmap threads, 1 attach/detach thread",
	       ms, NR_READERS, NR_MAPPERS);
	TH_LOG("GET_PA      %lu: success %lu, ENOENT %lu, EOPNOTSUPP %lu, other %lu",
	       c->get_pa, c->ok, c->enoent, c->eopnotsupp, c->other);
	TH_LOG("  in settled state: success %lu, ENOENT (unmapped) %lu, EOPNOTSUPP (device away) %lu; never-mapped IOVAs probed %lu",
	       c->settled_ok, c->settled_enoent, c->settled_eopnotsupp,
	       c->hole_probes);
	TH_LOG("  pagemap entries compared %lu", c->pages_checked);
	TH_LOG("IOAS_MAP %lu, IOAS_UNMAP %lu", c->maps, c->unmaps);
	TH_LOG("attach %lu, detach %lu, replace %lu", c->attaches,
	       c->detaches, c->replaces);
	TH_LOG("rate        %.0f GET_PA/s, %.0f map+unmap/s, %.0f attachment changes/s",
	       c->get_pa * 1000.0 / ms, (c->maps + c->unmaps) * 1000.0 / ms,
	       (c->attaches + c->detaches + c->replaces) * 1000.0 / ms);
}

#define HUGEPAGES_FREE	"/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages"

/*
 * The device attached to IOAS 1, a second IOAS mapping the first
 * hugepage at IOAS2_IOVA for good, every slot mapped in IOAS 1 (the
 * state lives in static variables, which the threads share)
 */
FIXTURE(stress) {
	unsigned long hugepages_free;
	size_t mapped_len;
};

FIXTURE_SETUP(stress)
{
	size_t i;

	self->hugepages_free = read_ulong(HUGEPAGES_FREE);
	edu_open(&nd);
	ASSERT_EQ(0, _test_ioctl_ioas_alloc(nd.iommufd, &ioas2));
	hp = huge_alloc(NR_HUGE * SZ_2M, 0x6b);
	pagemap_fd = open("/proc/self/pagemap", O_RDONLY);
	ASSERT_LE(0, pagemap_fd);
	for (i = 0; i < NR_HUGE; i++)
		TH_LOG("hugepage %zu at PA %#llx", i,
		       (unsigned long long)pagemap_pa(pagemap_fd,
						      hp + i * SZ_2M));
	ASSERT_EQ(0, _test_ioas_map_at(nd.iommufd, ioas2, hp, SZ_2M,
				       IOAS2_IOVA));
	for (i = 0; i < NR_SLOTS; i++) {
		ASSERT_EQ(0, map_slot(&slots[i]))
			TH_LOG("map slot \"%s\"", slots[i].what);
		slots[i].mapped = true;
		self->mapped_len += slots[i].len;
	}
}

FIXTURE_TEARDOWN(stress)
{
	noiommu_close(&nd);
}

/*
 * Before: every slot resolves to what pagemap says; IOAS 2, which no
 * device is attached to yet, has no no-IOMMU domain to answer from
 */
TEST_F(stress, before)
{
	__u64 len = 1, pa = 0;

	_all_slots_resolve(_metadata);
	EXPECT_ERRNO(EOPNOTSUPP, _test_ioctl_get_pa(nd.iommufd, ioas2,
						    IOAS2_IOVA, &len, &pa));
}

TEST_F_TIMEOUT(stress, concurrent, 300)
{
	int seconds = stress_seconds(_metadata), shown;
	__u64 unmapped = 0, len = 1, pa = 0;
	size_t i;
	long ms;

	TH_LOG("stressing for %d s at least (NOIOMMU_STRESS_SECONDS, at most %d), then until every kind of operation and answer happened",
	       seconds, MAX_SECONDS);
	ms = _run(_metadata, seconds);
	print_counts(_metadata, ms);
	print_fails(_metadata, 0);
	shown = nr_fails;

	/* The threads fed every counter */
	for (i = 0; i < ARRAY_SIZE(seen_names); i++) {
		/* Braces: EXPECT's handler is a statement of its own */
		EXPECT_NE(0U, seen & (1U << i))
			TH_LOG("never happened: %s", seen_names[i]);
	}
	ASSERT_EQ((unsigned int)SEEN_ALL, seen);
	ASSERT_NE(0UL, total.pages_checked);
	EXPECT_EQ(0UL, total.ioctl_fail)
		TH_LOG("a map, unmap, attach, detach or replace failed");
	EXPECT_EQ(0UL, total.bad_errno)
		TH_LOG("a GET_PA answer was not legal for the state around it");
	EXPECT_EQ(0UL, total.bad_answer)
		TH_LOG("a successful GET_PA did not match pagemap page by page, within request and mapping, maximal");
	EXPECT_EQ(0UL, total.bad_hole)
		TH_LOG("a never-mapped IOVA did not answer ENOENT");

	/* Afterwards: the device back on IOAS 1, every slot mapped */
	if (att_on != ON_IOAS1)
		ASSERT_EQ(0, _test_cmd_attach(nd.device_fd, nd.ioas_id, NULL));
	for (i = 0; i < NR_SLOTS; i++) {
		if (!slots[i].mapped)
			ASSERT_EQ(0, map_slot(&slots[i]));
		slots[i].mapped = true;
	}
	_all_slots_resolve(_metadata);
	print_fails(_metadata, shown);

	/* The whole IOAS unmaps exactly what is mapped, then ENOENT */
	ASSERT_EQ(0, unmap_range(nd.ioas_id, 0, UINT64_MAX, &unmapped));
	ASSERT_EQ((__u64)self->mapped_len, unmapped);
	EXPECT_ERRNO(ENOENT, _test_ioctl_get_pa(nd.iommufd, nd.ioas_id,
						IOVA_BASE, &len, &pa));

	/* Teardown: no reference left, every hugepage free again */
	ASSERT_EQ(0, _test_cmd_detach(nd.device_fd));
	ASSERT_EQ(0, unmap_range(ioas2, 0, UINT64_MAX, &unmapped));
	ASSERT_EQ((__u64)SZ_2M, unmapped);
	ASSERT_EQ(0, _test_ioctl_destroy(nd.iommufd, nd.ioas_id));
	ASSERT_EQ(0, _test_ioctl_destroy(nd.iommufd, ioas2));
	noiommu_close(&nd);
	ASSERT_EQ(0, munmap(hp, NR_HUGE * SZ_2M));
	ASSERT_EQ(self->hugepages_free, read_ulong(HUGEPAGES_FREE));
}

NOIOMMU_END_TESTS();

int main(int argc, char *argv[])
{
	return noiommu_main(argc, argv);
}
