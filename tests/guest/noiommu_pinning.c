// SPDX-License-Identifier: GPL-2.0
/*
 * Pinning through the no-IOMMU cdev: a buffer mapped into an IOAS
 * (IOMMU_IOAS_MAP pins it) must stay where IOMMU_IOAS_NOIOMMU_GET_PA said
 * it is while the kernel tries to move it, by move_pages(2) to the other
 * NUMA node and by compaction (/proc/sys/vm/compact_memory). Afterwards
 * GET_PA gives the same answers, the process still maps those very pages,
 * and an edu DMA to those addresses lands in the buffer. A buffer of 4K
 * pages and a 2M hugepage are pinned.
 *
 * "The pinned pages did not move" proves something only if the same
 * pressure moves pages that are not pinned, so each test has a control
 * and fails with "no pressure applied" when the control did not move:
 *   move_pages: an mlock()-only buffer (what drivers on the legacy
 *     no-IOMMU group path use) and an unpinned twin of the hugepage, sent
 *     to the other node like the pinned pages, must be there afterwards, at
 *     new physical addresses;
 *   compaction: free memory is fragmented first (compaction only moves
 *     pages into partly free pageblocks), and the unpinned pages left
 *     between the holes must include some that compaction moved.
 * Of the two, move_pages is the pressure that reaches every pinned page.
 * compact_memory migrates the movable pages it meets first, at the
 * bottom of each zone (a few hundred in this guest, then its free page
 * scanner comes back empty-handed and it stops), so the fragmented area
 * is made to reach down there, but whether the pinned buffers are in its
 * path is up to the allocator.
 * The guest has two NUMA nodes (scripts/vm-run.sh); with one, move_pages
 * has nowhere to move a page and the test fails.
 *
 * usage: noiommu_pinning [harness options] BDF
 *        NOIOMMU_BDF=BDF noiommu_pinning [harness options]
 */
#define _GNU_SOURCE
#include <sys/prctl.h>

#include <linux/falloc.h>
#include <linux/mempolicy.h>

#include "noiommu_utils.h"

#define SMALL_PAGES	8	/* pinned 4K pages */
#define MLOCK_PAGES	64	/* mlock()-only 4K pages */
#define HUGE_CHUNKS	8	/* DMA destinations spread over the hugepage */
#define HUGE_STRIDE	(SZ_2M / HUGE_CHUNKS)
#define HUGE_DST_OFF	(HUGE_STRIDE / 2)	/* clear of the sources */
#define CHUNK		EDU_DMA_MAX
#define SMALL_CHUNKS	(SMALL_PAGES * SZ_4K / CHUNK)
/* DMA sources at the start of the hugepage: one chunk per destination */
#define SRC_LEN		((SMALL_CHUNKS + HUGE_CHUNKS) * CHUNK)
_Static_assert(SRC_LEN <= HUGE_DST_OFF, "DMA sources overlap destinations");
#define SMALL_IOVA	(1ULL << 32)
#define HUGE_IOVA	(2ULL << 32)
#define MAX_NODES	8
#define COMPACT_PASSES	3

/* A buffer and where its 4K pages are */
struct buf {
	uint8_t *va;
	size_t len;
	__u64 iova;		/* pinned buffers: where they are mapped */
	uint64_t *pa;		/* GET_PA of each 4K page, before */
	uint64_t *map;		/* pagemap of each 4K page, before */
	uint64_t *now;		/* pagemap or GET_PA, after */
};

static size_t pages(const struct buf *b)
{
	return b->len / SZ_4K;
}

static uint8_t pattern(size_t off, unsigned int round)
{
	return (uint8_t)(((off + round * 4099) * 2654435761u) >> 24) ^ 0x3c;
}

FIXTURE(pinning) {
	struct noiommu_dev nd;
	struct buf small;	/* pinned, 4K pages */
	struct buf huge;	/* pinned, a 2M hugepage */
	struct buf locked;	/* control: mlock()-only 4K pages */
	struct buf twin;	/* control: an unpinned 2M hugepage */
};

static void _buf_tables(struct __test_metadata *_metadata, struct buf *b)
{
	b->pa = calloc(pages(b), sizeof(uint64_t));
	b->map = calloc(pages(b), sizeof(uint64_t));
	b->now = calloc(pages(b), sizeof(uint64_t));
	ASSERT_TRUE(b->pa && b->map && b->now);
	ASSERT_EQ(0, self_pagemap_pas(b->va, pages(b), b->map));
	ASSERT_NE(0ULL, b->map[0])
		TH_LOG("pagemap shows no PFN: run as root (CAP_SYS_ADMIN)");
}

/* GET_PA of every 4K page of the pinned buffer @b into @out */
static void _get_pa_pages(struct __test_metadata *_metadata, int iommufd,
			  __u32 ioas_id, const struct buf *b, uint64_t *out)
{
	size_t i;

	for (i = 0; i < pages(b); i++) {
		__u64 len = SZ_4K;

		ASSERT_EQ(0, _test_ioctl_get_pa(iommufd, ioas_id,
						b->iova + i * SZ_4K, &len,
						(__u64 *)&out[i]))
			TH_LOG("GET_PA of page %zu: %s", i, strerror(errno));
		ASSERT_NE(0ULL, out[i]);
	}
}
#define get_pa_pages(b, out)						\
	_get_pa_pages(_metadata, self->nd.iommufd, self->nd.ioas_id, b, out)

FIXTURE_SETUP(pinning)
{
	size_t i;

	/* madvise(MADV_NOHUGEPAGE) may not exist: no THP anywhere instead */
	ASSERT_EQ(0, prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0));
	edu_open(&self->nd);
	ASSERT_EQ(0, edu_check(&self->nd)) TH_LOG("%s", self->nd.err);

	self->small.len = SMALL_PAGES * SZ_4K;
	self->small.va = buf_alloc(self->small.len, 0);
	self->huge.len = SZ_2M;
	self->huge.va = huge_alloc(SZ_2M, 0);
	self->twin.len = SZ_2M;
	self->twin.va = huge_alloc(SZ_2M, 0x7e);
	self->locked.len = MLOCK_PAGES * SZ_4K;
	self->locked.va = buf_alloc(self->locked.len, 0);
	for (i = 0; i < self->locked.len; i++)
		self->locked.va[i] = pattern(i, 0);
	ASSERT_EQ(0, mlock(self->locked.va, self->locked.len));

	self->small.iova = SMALL_IOVA;
	self->huge.iova = HUGE_IOVA;
	test_ioas_map(self->nd.ioas_id, self->small.va, self->small.len,
		      SMALL_IOVA);
	test_ioas_map(self->nd.ioas_id, self->huge.va, SZ_2M, HUGE_IOVA);

	/* After the map: a FOLL_LONGTERM pin may migrate a page first */
	_buf_tables(_metadata, &self->small);
	_buf_tables(_metadata, &self->huge);
	_buf_tables(_metadata, &self->locked);
	_buf_tables(_metadata, &self->twin);
	get_pa_pages(&self->small, self->small.pa);
	get_pa_pages(&self->huge, self->huge.pa);
}

FIXTURE_TEARDOWN(pinning)
{
	noiommu_close(&self->nd);
}

/* How many 4K pages of @b have another address in @after than in @before */
static size_t count_moved(const struct buf *b, const uint64_t *before,
			  const uint64_t *after)
{
	size_t i, moved = 0;

	for (i = 0; i < pages(b); i++)
		moved += before[i] != after[i];
	return moved;
}

/*
 * Chunk @n goes from its source at the start of the hugepage through the
 * device to @dst_off of @b, both at the addresses GET_PA gave before the
 * pressure. The destination is cleared first and each chunk has its own
 * pattern, so a match means this DMA wrote it.
 */
static void _dma_lands(struct __test_metadata *_metadata,
		       FIXTURE_DATA(pinning) *self, struct buf *b,
		       size_t dst_off, unsigned int n)
{
	uint8_t *src = self->huge.va + n * CHUNK, *dst = b->va + dst_off;
	uint64_t src_pa = self->huge.pa[n * CHUNK / SZ_4K] + n * CHUNK % SZ_4K;
	uint64_t dst_pa = b->pa[dst_off / SZ_4K] + dst_off % SZ_4K;
	size_t i, bad = 0;

	for (i = 0; i < CHUNK; i++)
		src[i] = pattern(i, n + 1);
	memset(dst, 0, CHUNK);
	ASSERT_EQ(0, edu_to_device(&self->nd, src_pa, CHUNK))
		TH_LOG("%s", self->nd.err);
	ASSERT_EQ(0, edu_to_ram(&self->nd, dst_pa, CHUNK))
		TH_LOG("%s", self->nd.err);
	for (i = 0; i < CHUNK; i++)
		bad += dst[i] != pattern(i, n + 1);
	ASSERT_EQ(0U, bad)
		TH_LOG("offset %#zx (PA %#llx): %zu of %d bytes did not arrive",
		       dst_off, (unsigned long long)dst_pa, bad, CHUNK);
}

/*
 * After the pressure: GET_PA of every page of both pinned buffers is what
 * it was, pagemap still agrees (the process maps those very pages, not
 * copies), an edu DMA to those addresses lands in them, and the
 * mlock()-only buffer kept its contents wherever it went
 */
static void _pinned_unchanged(struct __test_metadata *_metadata,
			      FIXTURE_DATA(pinning) *self)
{
	struct buf *bufs[] = { &self->small, &self->huge };
	size_t i, n;

	for (i = 0; i < ARRAY_SIZE(bufs); i++) {
		get_pa_pages(bufs[i], bufs[i]->now);
		ASSERT_EQ(0U, count_moved(bufs[i], bufs[i]->pa, bufs[i]->now))
			TH_LOG("GET_PA of the %s changed", i ? "hugepage" :
			       "4K pages");
		ASSERT_EQ(0, self_pagemap_pas(bufs[i]->va, pages(bufs[i]),
					      bufs[i]->now));
		ASSERT_EQ(0U, count_moved(bufs[i], bufs[i]->pa, bufs[i]->now))
			TH_LOG("pagemap of the pinned %s no longer equals GET_PA",
			       i ? "hugepage" : "4K pages");
	}
	for (n = 0; n < SMALL_CHUNKS; n++)
		_dma_lands(_metadata, self, &self->small, n * CHUNK, n);
	for (n = 0; n < HUGE_CHUNKS; n++)
		_dma_lands(_metadata, self, &self->huge,
			   HUGE_DST_OFF + n * HUGE_STRIDE, SMALL_CHUNKS + n);
	for (i = 0; i < self->locked.len; i++) {
		ASSERT_EQ(pattern(i, 0), self->locked.va[i]);
	}
}

TEST_F(pinning, get_pa_matches_pagemap)
{
	ASSERT_EQ(0U, count_moved(&self->small, self->small.pa,
				  self->small.map));
	ASSERT_EQ(0U, count_moved(&self->huge, self->huge.pa,
				  self->huge.map));
	TH_LOG("4K pages at PA %#llx.., hugepage at PA %#llx.., mlock()-only at PA %#llx..",
	       (unsigned long long)self->small.pa[0],
	       (unsigned long long)self->huge.pa[0],
	       (unsigned long long)self->locked.map[0]);
}

/* Nodes that have memory, from /sys/devices/system/node/has_memory */
static int memory_nodes(int *nodes, int max)
{
	char list[256], *p, *save = NULL;
	int nr = 0;

	read_line("/sys/devices/system/node/has_memory", list, sizeof(list));
	for (p = strtok_r(list, ",", &save); p && nr < max;
	     p = strtok_r(NULL, ",", &save)) {
		int first, last, n;

		if (sscanf(p, "%d-%d", &first, &last) != 2)
			last = first = atoi(p);
		for (n = first; n <= last && nr < max; n++)
			nodes[nr++] = n;
	}
	return nr;
}

static long move_pages(size_t count, void **addrs, const int *nodes,
		       int *status)
{
	return syscall(SYS_move_pages, 0, count, addrs, nodes, status,
		       MPOL_MF_MOVE);
}

/* One move_pages(2) request: the pages of some buffers, their nodes */
struct move {
	size_t n;
	void *addrs[SMALL_PAGES + MLOCK_PAGES + 2];
	int from[SMALL_PAGES + MLOCK_PAGES + 2];
	int to[SMALL_PAGES + MLOCK_PAGES + 2];
	int status[SMALL_PAGES + MLOCK_PAGES + 2];
};

/* Add @b's pages (each 4K page, or its one hugepage) to @m */
static void move_add(struct move *m, struct buf *b, size_t step)
{
	size_t i;

	for (i = 0; i < b->len / step; i++)
		m->addrs[m->n++] = b->va + i * step;
}

/* move_pages(2) sends every page of every buffer to the other node */
TEST_F_TIMEOUT(pinning, move_pages, 300)
{
	struct buf *ctl[] = { &self->locked, &self->twin };
	int nodes[MAX_NODES], nr;
	struct move m = {};
	size_t i, k, moved;
	long ret, notmoved;

	nr = memory_nodes(nodes, MAX_NODES);
	ASSERT_LE(2, nr)
		TH_LOG("no pressure applied: %d NUMA node(s) with memory, move_pages has nowhere to move a page (boot with two nodes, as scripts/vm-run.sh does)",
		       nr);
	move_add(&m, &self->small, SZ_4K);		/* 0 .. 7 */
	move_add(&m, &self->huge, SZ_2M);		/* 8 */
	move_add(&m, &self->locked, SZ_4K);		/* 9 .. 72 */
	move_add(&m, &self->twin, SZ_2M);		/* 73 */
	ASSERT_EQ(0, move_pages(m.n, m.addrs, NULL, m.from))
		TH_LOG("move_pages (query): %s", strerror(errno));
	for (i = 0; i < m.n; i++) {
		ASSERT_LE(0, m.from[i]) TH_LOG("page %zu: %s", i,
					       strerror(-m.from[i]));
		m.to[i] = m.from[i] == nodes[0] ? nodes[1] : nodes[0];
	}

	/*
	 * One page a call. In one call, move_pages(2) moves the pages bound
	 * for one node as a batch and stops at the first batch with a page
	 * it could not move, counting every later page as not moved: when
	 * the allocator has put the buffers on different nodes (the
	 * sanitizer kernel, with little free memory on one node, did), a
	 * pinned page would spare every page after it, controls included.
	 * The pages that did not move are counted, not an error.
	 */
	for (i = 0, notmoved = 0; i < m.n; i++) {
		ret = move_pages(1, &m.addrs[i], &m.to[i], &m.status[i]);
		ASSERT_LE(0, ret) TH_LOG("move_pages of page %zu: %s", i,
					 strerror(errno));
		notmoved += ret;
	}
	ASSERT_EQ(0, move_pages(m.n, m.addrs, NULL, m.status));
	TH_LOG("move_pages: %ld of %zu pages not moved", notmoved, m.n);

	/* The controls moved: to the other node, to new physical pages */
	for (k = 0, i = SMALL_PAGES + 1; k < ARRAY_SIZE(ctl); k++) {
		size_t step = k ? SZ_2M : SZ_4K, end = i + ctl[k]->len / step;

		for (; i < end; i++) {
			ASSERT_EQ(m.to[i], m.status[i])
				TH_LOG("no pressure applied: the unpinned %s stayed on node %d",
				       k ? "hugepage" : "mlock()-only page",
				       m.status[i]);
		}
		ASSERT_EQ(0, self_pagemap_pas(ctl[k]->va, pages(ctl[k]),
					      ctl[k]->now));
		moved = count_moved(ctl[k], ctl[k]->map, ctl[k]->now);
		ASSERT_EQ(pages(ctl[k]), moved)
			TH_LOG("no pressure applied: %zu of the %zu pages of the unpinned %s changed physical address",
			       moved, pages(ctl[k]),
			       k ? "hugepage" : "mlock()-only buffer");
	}
	for (i = 0; i < self->twin.len; i += SZ_4K) {
		ASSERT_EQ(0x7e, self->twin.va[i]);
	}

	/* The pinned pages stayed on their node */
	for (i = 0; i < SMALL_PAGES + 1; i++) {
		ASSERT_EQ(m.from[i], m.status[i])
			TH_LOG("pinned page %zu moved from node %d to node %d",
			       i, m.from[i], m.status[i]);
	}
	_pinned_unchanged(_metadata, self);
}

/*
 * Compaction only moves pages into partly free pageblocks: on a fresh VM
 * free memory is all in whole blocks and it moves nothing. Fill most of
 * the free memory with 4K pages and free those at odd page frames, so
 * that each hole's buddy stays in use and the holes cannot merge. The
 * pages left behind are the control: compaction moves pages from the
 * bottom of a zone into free pages at its top, and filling most of the
 * memory after dropping the page cache puts some of them at the bottom
 * (a quarter of it, which the allocator took from the top, was not
 * always enough, nor was three quarters after other programs had filled
 * the bottom with page cache).
 * A memfd, because punching holes in it frees pages without madvise()
 * (the VM kernel has no CONFIG_ADVISE_SYSCALLS) and without splitting a
 * VMA per page.
 */
static void _fragment_memory(struct __test_metadata *_metadata,
			     struct buf *frag)
{
	char line[128];
	unsigned long avail = 0;
	FILE *f;
	size_t i;
	int fd;

	/*
	 * Clean page cache (read over 9p by the programs before this one)
	 * sits at the bottom of the zones, where compaction's migration
	 * scanner starts: drop it, so that the area takes those pages too
	 */
	ASSERT_EQ(0, write_file("/proc/sys/vm/drop_caches", "3"));
	f = fopen("/proc/meminfo", "r");
	ASSERT_NE(NULL, f);
	while (fgets(line, sizeof(line), f))
		sscanf(line, "MemAvailable: %lu kB", &avail);
	fclose(f);
	frag->len = avail / 4 * 3 * 1024 / SZ_2M * SZ_2M;
	ASSERT_LT(0UL, frag->len);
	fd = memfd_create("fragment", 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, frag->len));
	frag->va = mmap(NULL, frag->len, PROT_READ | PROT_WRITE, MAP_SHARED,
			fd, 0);
	ASSERT_NE(MAP_FAILED, frag->va);
	frag->map = calloc(pages(frag), sizeof(uint64_t));
	frag->now = calloc(pages(frag), sizeof(uint64_t));
	ASSERT_TRUE(frag->map && frag->now);
	for (i = 0; i < frag->len; i += SZ_4K)
		frag->va[i] = 1;
	ASSERT_EQ(0, self_pagemap_pas(frag->va, pages(frag), frag->map));
	for (i = 0; i < pages(frag); i++) {
		if (!(frag->map[i] / SZ_4K % 2))
			continue;
		ASSERT_EQ(0, fallocate(fd, FALLOC_FL_PUNCH_HOLE |
				       FALLOC_FL_KEEP_SIZE, i * SZ_4K, SZ_4K));
		frag->map[i] = 0;
	}
	close(fd);
}

/* The counter @name of /proc/vmstat */
static unsigned long vmstat(const char *name)
{
	unsigned long val, found = 0;
	char key[64];
	FILE *f = fopen("/proc/vmstat", "r");

	if (!f)
		return 0;
	while (fscanf(f, "%63s %lu", key, &val) == 2)
		if (!strcmp(key, name))
			found = val;
	fclose(f);
	return found;
}

TEST_F_TIMEOUT(pinning, compaction, 300)
{
	/* What each pass did, for the log: a pass that moved nothing says why */
	const char *const counters[] = {
		"pgmigrate_success", "pgmigrate_fail",
		"compact_migrate_scanned", "compact_free_scanned",
	};
	unsigned long before[ARRAY_SIZE(counters)], delta[ARRAY_SIZE(counters)];
	struct buf frag = {};
	size_t i, left = 0, moved = 0;
	int pass;

	_fragment_memory(_metadata, &frag);
	/* Again, while nothing moved */
	for (pass = 1; pass <= COMPACT_PASSES && !moved; pass++) {
		for (i = 0; i < ARRAY_SIZE(counters); i++)
			before[i] = vmstat(counters[i]);
		ASSERT_EQ(0, write_file("/proc/sys/vm/compact_memory", "1"))
			TH_LOG("compact_memory: %s", strerror(errno));
		for (i = 0; i < ARRAY_SIZE(counters); i++)
			delta[i] = vmstat(counters[i]) - before[i];
		TH_LOG("pass %d: compaction migrated %lu pages, failed %lu; scanned %lu pages to move and %lu for free pages",
		       pass, delta[0], delta[1], delta[2], delta[3]);
		ASSERT_EQ(0, self_pagemap_pas(frag.va, pages(&frag),
					      frag.now));
		for (i = 0, left = 0; i < pages(&frag); i++) {
			left += !!frag.map[i];
			moved += frag.map[i] && frag.map[i] != frag.now[i];
		}
	}
	TH_LOG("compaction moved %zu of the %zu pages left in %zu MiB fragmented into 4K holes (%d pass%s)",
	       moved, left, frag.len >> 20, pass - 1, pass > 2 ? "es" : "");
	ASSERT_LT(0U, moved)
		TH_LOG("no pressure applied: compaction moved none of the %zu unpinned pages between the holes",
		       left);
	munmap(frag.va, frag.len);
	_pinned_unchanged(_metadata, self);
}

int main(int argc, char *argv[])
{
	return noiommu_main(argc, argv);
}
