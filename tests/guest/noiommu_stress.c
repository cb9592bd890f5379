// SPDX-License-Identifier: GPL-2.0
/*
 * Concurrency stress of IOMMU_IOAS_NOIOMMU_GET_PA on a no-IOMMU device.
 *
 * For a bounded time (default 30 s, at most 60):
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
 * usage: noiommu_stress BDF [SECONDS]     (prints TAP; needs root)
 *        SECONDS also from $NOIOMMU_STRESS_SECONDS
 */
#define _GNU_SOURCE
#include <pthread.h>

#include "../../examples/noiommu.h"
#include "raw_ioctl.h"
#include "tap.h"

#define NR_TESTS	11
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

static int map_slot(const struct slot *s)
{
	return map_at(&nd, nd.ioas_id, hp + s->va_off, s->len,
		      IOVA_BASE + s->iova);
}

/* 0, the errno, or -1 if it unmapped another amount than the slot's */
static int unmap_range(__u32 ioas_id, __u64 iova, __u64 len,
		       __u64 *unmapped)
{
	return _test_ioctl_ioas_unmap(nd.iommufd, ioas_id, iova, len,
				      unmapped);
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
		cmd = (struct iommu_ioas_noiommu_get_pa){
			.size = sizeof(cmd),
			.ioas_id = p.ioas_id,
			.iova = p.iova,
			.length = p.length,
		};
		/* In IOAS2 only the fixed mapping exists */
		if (p.ioas_id == nd.ioas_id && p.slot) {
			s1 = load(&p.slot->seq);
			m = __atomic_load_n(&p.slot->mapped, __ATOMIC_SEQ_CST);
		}
		a1 = load(&att_seq);
		on = __atomic_load_n(&att_on, __ATOMIC_SEQ_CST);

		err = ioctl(nd.iommufd, IOMMU_IOAS_NOIOMMU_GET_PA, &cmd) ?
		      errno : 0;

		a2 = load(&att_seq);
		if (p.ioas_id == nd.ioas_id && p.slot)
			s2 = load(&p.slot->seq);
		settled_slot = s1 == s2 && !(s1 & 1);
		settled_att = a1 == a2 && !(a1 & 1);
		on_this = on == (p.ioas_id == ioas2 ? ON_IOAS2 : ON_IOAS1);

		c.get_pa++;
		if (p.hole) {
			c.hole_probes++;
			if (err != ENOENT) {
				c.bad_hole++;
				fail("GET_PA(ioas %u, iova %#llx) of a never-mapped IOVA: %s, expected ENOENT",
				     p.ioas_id, (unsigned long long)p.iova,
				     errno_name(err));
			}
			c.enoent += err == ENOENT;
			continue;
		}
		switch (err) {
		case 0:
			c.ok++;
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
			c.settled_ok += settled_slot && settled_att;
			break;
		case ENOENT:
			c.enoent++;
			if (settled_slot && m) {
				c.bad_errno++;
				fail("GET_PA(ioas %u, iova %#llx): ENOENT while the IOVA was mapped (device %s)",
				     p.ioas_id, (unsigned long long)p.iova,
				     settled_att ? (on_this ? "attached" : "away") :
				     "moving");
			}
			c.settled_enoent += settled_slot;
			break;
		case EOPNOTSUPP:
			c.eopnotsupp++;
			if ((settled_slot && !m) || (settled_att && on_this)) {
				c.bad_errno++;
				fail("GET_PA(ioas %u, iova %#llx): EOPNOTSUPP while the IOVA was %s and the device %s",
				     p.ioas_id, (unsigned long long)p.iova,
				     settled_slot && !m ? "unmapped" : "mapped",
				     settled_att && on_this ? "attached to this IOAS" :
				     "moving");
			}
			c.settled_eopnotsupp += settled_slot && settled_att;
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
			c.unmaps++;
		} else {
			err = map_slot(s);
			c.maps++;
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
			err = detach_pt(&nd);
			c.detaches++;
		} else if (on == ON_NONE) {
			err = attach_pt(&nd, next == ON_IOAS1 ?
					     nd.ioas_id : ioas2);
			c.attaches++;
		} else {
			err = attach_pt(&nd, next == ON_IOAS1 ?
					     nd.ioas_id : ioas2);
			c.replaces++;
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

/* ---- before and after ---- */

/* Resolve a whole mapping with GET_PA; every range must match pagemap */
static bool resolve_matches(__u32 ioas_id, __u64 iova, const char *va,
			    __u64 len)
{
	size_t max_pages = len / SZ_4K + 2;
	uint64_t *pas = calloc(max_pages, sizeof(*pas));
	struct counts c = {};
	__u64 off = 0;
	bool ok = !!pas;

	while (ok && off < len) {
		struct iommu_ioas_noiommu_get_pa cmd = {
			.size = sizeof(cmd),
			.ioas_id = ioas_id,
			.iova = iova + off,
			.length = len - off,
		};
		struct probe p = {
			.ioas_id = ioas_id,
			.iova = iova + off,
			.length = len - off,
			.va = va + off,
			.map_end = iova + len,
		};

		if (ioctl(nd.iommufd, IOMMU_IOAS_NOIOMMU_GET_PA, &cmd)) {
			fail("GET_PA(ioas %u, iova %#llx): %s", ioas_id,
			     (unsigned long long)(iova + off),
			     strerror(errno));
			ok = false;
			break;
		}
		ok = answer_matches(&p, cmd.out_phys, cmd.length, pas,
				    max_pages, &c);
		off += cmd.length;
	}
	free(pas);
	return ok;
}

static bool all_slots_resolve(void)
{
	bool ok = true;
	size_t i;

	for (i = 0; i < NR_SLOTS; i++)
		ok &= resolve_matches(nd.ioas_id, IOVA_BASE + slots[i].iova,
				      hp + slots[i].va_off, slots[i].len);
	return ok;
}

static void print_fails(int before)
{
	int i;

	for (i = before; i < nr_fails && i < MAX_FAILS; i++)
		tap_diag("  %s", fails[i]);
	if (nr_fails > MAX_FAILS && before < MAX_FAILS)
		tap_diag("  ... %d failures in all", nr_fails);
}

static int parse_seconds(int argc, char **argv)
{
	const char *arg = argc > 2 ? argv[2] : getenv("NOIOMMU_STRESS_SECONDS");
	long secs = DEFAULT_SECONDS;
	char *end;

	if (arg && *arg) {
		secs = strtol(arg, &end, 10);
		if (*end || secs < 1) {
			fprintf(stderr, "SECONDS must be a positive number, not '%s'\n",
				arg);
			exit(2);
		}
	}
	if (secs > MAX_SECONDS) {
		tap_diag("%ld s asked, the stress is bounded to %d s", secs,
			 MAX_SECONDS);
		secs = MAX_SECONDS;
	}
	return secs;
}

static bool setup(const char *bdf)
{
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	int err, i;

	if (noiommu_open(&nd, bdf))
		return false;
	if (ioctl(nd.iommufd, IOMMU_IOAS_ALLOC, &alloc))
		return nd_fail(&nd, "IOMMU_IOAS_ALLOC: %s", strerror(errno)), false;
	ioas2 = alloc.out_ioas_id;
	hp = alloc_hugepages(&nd, NR_HUGE * SZ_2M);
	if (!hp)
		return false;
	memset(hp, 0x6b, NR_HUGE * SZ_2M);
	pagemap_fd = open("/proc/self/pagemap", O_RDONLY);
	if (pagemap_fd < 0)
		return nd_fail(&nd, "open /proc/self/pagemap: %s",
			       strerror(errno)), false;
	for (i = 0; i < NR_HUGE; i++)
		tap_diag("hugepage %d at PA %#llx", i,
			 (unsigned long long)pagemap_pa(pagemap_fd,
							hp + i * SZ_2M));
	err = map_at(&nd, ioas2, hp, SZ_2M, IOAS2_IOVA);
	if (err)
		return nd_fail(&nd, "IOMMU_IOAS_MAP in the second IOAS: %s",
			       strerror(err)), false;
	return true;
}

/* Run the threads for @seconds; returns the wall time in ms */
static long run(int seconds)
{
	pthread_t readers[NR_READERS], mappers[NR_MAPPERS], att;
	struct timespec start, left = { .tv_sec = seconds };
	uintptr_t i;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (i = 0; i < NR_READERS; i++)
		if (pthread_create(&readers[i], NULL, reader, (void *)i))
			tap_bail("pthread_create: %s", strerror(errno));
	for (i = 0; i < NR_MAPPERS; i++)
		if (pthread_create(&mappers[i], NULL, mapper, (void *)i))
			tap_bail("pthread_create: %s", strerror(errno));
	if (pthread_create(&att, NULL, attacher, NULL))
		tap_bail("pthread_create: %s", strerror(errno));

	while (nanosleep(&left, &left))
		;
	__atomic_store_n(&stop, true, __ATOMIC_SEQ_CST);

	for (i = 0; i < NR_READERS; i++)
		pthread_join(readers[i], NULL);
	for (i = 0; i < NR_MAPPERS; i++)
		pthread_join(mappers[i], NULL);
	pthread_join(att, NULL);
	return elapsed_ms(&start);
}

static void print_counts(long ms)
{
	const struct counts *c = &total;

	tap_diag("ran %ld ms with %d GET_PA threads, %d map/unmap threads, 1 attach/detach thread",
		 ms, NR_READERS, NR_MAPPERS);
	tap_diag("GET_PA      %lu: success %lu, ENOENT %lu, EOPNOTSUPP %lu, other %lu",
		 c->get_pa, c->ok, c->enoent, c->eopnotsupp, c->other);
	tap_diag("  in settled state: success %lu, ENOENT (unmapped) %lu, EOPNOTSUPP (device away) %lu; never-mapped IOVAs probed %lu",
		 c->settled_ok, c->settled_enoent, c->settled_eopnotsupp,
		 c->hole_probes);
	tap_diag("  pagemap entries compared %lu", c->pages_checked);
	tap_diag("IOAS_MAP    %lu", c->maps);
	tap_diag("IOAS_UNMAP  %lu", c->unmaps);
	tap_diag("attach      %lu, detach %lu, replace %lu", c->attaches,
		 c->detaches, c->replaces);
	tap_diag("rate        %.0f GET_PA/s, %.0f map+unmap/s, %.0f attachment changes/s",
		 c->get_pa * 1000.0 / ms, (c->maps + c->unmaps) * 1000.0 / ms,
		 (c->attaches + c->detaches + c->replaces) * 1000.0 / ms);
}

int main(int argc, char **argv)
{
	const char *hugepages_free =
		"/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages";
	unsigned long free_before = read_ulong(hugepages_free);
	unsigned long taint = kernel_taint();
	struct iommu_destroy d1 = { .size = sizeof(d1) };
	struct iommu_destroy d2 = { .size = sizeof(d2) };
	struct iommu_ioas_noiommu_get_pa cmd;
	__u64 unmapped = 0, total_len = 0;
	int seconds, err, shown;
	bool ok;
	size_t i;
	long ms;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: %s BDF [SECONDS]\n", argv[0]);
		return 2;
	}
	seconds = parse_seconds(argc, argv);
	tap_plan(NR_TESTS);

	if (!tap_ok(setup(argv[1]), "setup: cdev bound, IOAS attached, a second IOAS, %d hugepages",
		    NR_HUGE))
		tap_bail("%s", nd.err);

	ok = true;
	for (i = 0; i < NR_SLOTS; i++) {
		err = map_slot(&slots[i]);
		if (err)
			fail("map slot \"%s\": %s", slots[i].what,
			     strerror(err));
		slots[i].mapped = !err;
		ok &= !err;
		total_len += slots[i].len;
	}
	ok = ok && all_slots_resolve();
	tap_ok(ok, "before: all %zu slots mapped, each resolves to what pagemap says",
	       NR_SLOTS);
	print_fails(0);
	if (!ok)
		tap_bail("nothing to stress");

	shown = nr_fails;
	tap_diag("stressing for %d s (NOIOMMU_STRESS_SECONDS or the second argument, at most %d)",
		 seconds, MAX_SECONDS);
	ms = run(seconds);
	print_counts(ms);
	print_fails(shown);
	shown = nr_fails;

	ok = total.ok && total.enoent && total.eopnotsupp && total.maps &&
	     total.unmaps && total.attaches && total.detaches &&
	     total.replaces && total.settled_ok && total.settled_enoent &&
	     total.settled_eopnotsupp && total.hole_probes &&
	     total.pages_checked;
	tap_ok(ok, "every kind of operation and answer happened, also in settled states (%lu GET_PA, %lu maps, %lu unmaps, %lu attachment changes)",
	       total.get_pa, total.maps, total.unmaps,
	       total.attaches + total.detaches + total.replaces);
	tap_ok(!total.ioctl_fail, "no map, unmap, attach, detach or replace failed (%lu failed)",
	       total.ioctl_fail);
	tap_ok(!total.bad_errno, "every GET_PA answer was legal for the state around it: success, ENOENT or EOPNOTSUPP (%lu illegal)",
	       total.bad_errno);
	tap_ok(!total.bad_answer && total.ok,
	       "every successful GET_PA matched pagemap page by page, within request and mapping, maximal (%lu answers, %lu wrong)",
	       total.ok, total.bad_answer);
	tap_ok(!total.bad_hole && total.hole_probes,
	       "never-mapped IOVAs always answered ENOENT (%lu probes, %lu wrong)",
	       total.hole_probes, total.bad_hole);

	/* Afterwards: the device back on IOAS1, every slot mapped */
	ok = true;
	if (att_on != ON_IOAS1) {
		err = attach_pt(&nd, nd.ioas_id);
		if (err)
			fail("attach after the stress: %s", strerror(err));
		ok = !err;
	}
	for (i = 0; i < NR_SLOTS; i++) {
		if (slots[i].mapped)
			continue;
		err = map_slot(&slots[i]);
		if (err)
			fail("map slot \"%s\" after the stress: %s",
			     slots[i].what, strerror(err));
		slots[i].mapped = !err;
		ok &= !err;
	}
	ok = ok && all_slots_resolve();
	tap_ok(ok, "after: device attached, all slots mapped, each resolves to what pagemap says");
	print_fails(shown);
	shown = nr_fails;

	err = unmap_range(nd.ioas_id, 0, UINT64_MAX, &unmapped);
	cmd = (struct iommu_ioas_noiommu_get_pa){
		.size = sizeof(cmd),
		.ioas_id = nd.ioas_id,
		.iova = IOVA_BASE,
		.length = 1,
	};
	ok = !err && unmapped == total_len &&
	     ioctl(nd.iommufd, IOMMU_IOAS_NOIOMMU_GET_PA, &cmd) &&
	     errno == ENOENT;
	tap_ok(ok, "unmap of the whole IOAS returns exactly the %llu mapped bytes (%s, %llu), GET_PA then ENOENT",
	       (unsigned long long)total_len, errno_name(err),
	       (unsigned long long)unmapped);

	ok = !detach_pt(&nd);
	ok = ok && !unmap_range(ioas2, 0, UINT64_MAX, &unmapped) &&
	     unmapped == SZ_2M;
	d1.id = nd.ioas_id;
	d2.id = ioas2;
	ok = ok && !ioctl(nd.iommufd, IOMMU_DESTROY, &d1) &&
	     !ioctl(nd.iommufd, IOMMU_DESTROY, &d2);
	if (!ok)
		tap_diag("detach, unmap or destroy: %s", strerror(errno));
	noiommu_close(&nd);
	munmap(hp, NR_HUGE * SZ_2M);
	ok = ok && read_ulong(hugepages_free) == free_before;
	tap_ok(ok, "teardown: detach, both IOASes destroyed (no reference left), every hugepage free again (%lu before, %lu after)",
	       free_before, read_ulong(hugepages_free));
	tap_taint(taint);
	return tap_finish();
}
