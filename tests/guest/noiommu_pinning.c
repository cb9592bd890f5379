// SPDX-License-Identifier: GPL-2.0
/*
 * Pinning through the no-IOMMU cdev: a buffer mapped into an IOAS
 * (IOMMU_IOAS_MAP pins it) must stay where IOMMU_IOAS_NOIOMMU_GET_PA said
 * it is while the kernel tries to move it: compaction
 * (/proc/sys/vm/compact_memory) and move_pages(2). Afterwards GET_PA gives
 * the same answers, the process still maps those very pages, and an edu DMA
 * to those addresses lands in the buffer. Both a buffer of 4K pages and a 2M
 * hugepage are tested.
 *
 * Beside it, a buffer that is only mlock()ed, which is what drivers on the
 * legacy no-IOMMU group path use: its /proc/self/pagemap addresses are
 * reported before and after the same pressure. mlock() does not forbid
 * migration, so they may change; only what is guaranteed (the pages stay
 * present with their contents) is asserted.
 *
 * With a single NUMA node, move_pages(2) to that node migrates nothing
 * and compaction (after fragmenting free memory, so that it has somewhere
 * to move pages to) is the real pressure. With two nodes, move_pages
 * really tries to move every page to the other node, e.g. QEMU with
 *   -object memory-backend-ram,id=m0,size=1024M -numa node,nodeid=0,cpus=0,memdev=m0
 *   -object memory-backend-ram,id=m1,size=1024M -numa node,nodeid=1,cpus=1,memdev=m1
 *   -smp 2,sockets=2   (one CPU per node and socket, or the kernel WARNs)
 *
 * usage: noiommu_pinning BDF     (prints TAP)
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include <linux/mempolicy.h>

#include "../../examples/noiommu.h"
#include "tap.h"

#define NR_TESTS	10
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

/* A buffer and where its 4K pages are, before and after the pressure */
struct buf {
	const char *name;
	uint8_t *va;
	size_t len;
	__u64 iova;
	__u64 *pa;		/* GET_PA of each 4K page */
	__u64 *pa_after;
	__u64 *map;		/* pagemap of each 4K page */
	__u64 *map_after;
};

static struct noiommu_dev nd;
static struct buf small = { .name = "4K-page buffer" };
static struct buf huge = { .name = "2M hugepage" };
static struct buf locked = { .name = "mlock()-only buffer" };

static size_t pages(const struct buf *b)
{
	return b->len / SZ_4K;
}

/* Physical address of each 4K page of @b by /proc/self/pagemap, 0 if none */
static void read_pagemap(const struct buf *b, __u64 *out)
{
	size_t i, size = pages(b) * sizeof(*out);
	int fd;

	memset(out, 0, size);
	fd = open("/proc/self/pagemap", O_RDONLY);
	if (fd < 0)
		return;
	if (pread(fd, out, size, (uintptr_t)b->va / SZ_4K * sizeof(*out)) !=
	    (ssize_t)size)
		memset(out, 0, size);
	close(fd);
	for (i = 0; i < pages(b); i++)
		out[i] = out[i] & PAGEMAP_PRESENT ?
			 (out[i] & PAGEMAP_PFN_MASK) * SZ_4K : 0;
}

/* GET_PA of every 4K page of @b; false (with a diagnostic) on error */
static bool read_get_pa(const struct buf *b, __u64 *out)
{
	size_t i;

	for (i = 0; i < pages(b); i++) {
		__u64 len = SZ_4K;

		if (noiommu_get_pa(&nd, b->iova + i * SZ_4K, &len, &out[i])) {
			printf("# %s\n", nd.err);
			return false;
		}
		if (!out[i]) {
			printf("# GET_PA of %s page %zu answered PA 0\n",
			       b->name, i);
			return false;
		}
	}
	return true;
}

/* Count the pages whose addresses differ; diagnose the first. */
static size_t count_moved(const struct buf *b, const __u64 *before,
			  const __u64 *after, const char *what)
{
	size_t i, moved = 0;

	for (i = 0; i < pages(b); i++) {
		if (before[i] == after[i])
			continue;
		if (!moved++)
			printf("# %s: %s of page %zu: %#llx -> %#llx\n", b->name,
			       what, i, (unsigned long long)before[i],
			       (unsigned long long)after[i]);
	}
	return moved;
}

/* Anonymous memory in 4K pages: main() turned THP off for the process */
static void *alloc_4k_pages(size_t len)
{
	void *va = mmap(NULL, len, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return va == MAP_FAILED ? NULL : va;
}

static bool alloc_tables(struct buf *b)
{
	b->pa = calloc(pages(b), sizeof(__u64));
	b->pa_after = calloc(pages(b), sizeof(__u64));
	b->map = calloc(pages(b), sizeof(__u64));
	b->map_after = calloc(pages(b), sizeof(__u64));
	return b->pa && b->pa_after && b->map && b->map_after;
}

static uint8_t pattern(size_t off, unsigned int round)
{
	return (uint8_t)(((off + round * 4099) * 2654435761u) >> 24) ^ 0x3c;
}

/* Device, IOAS, both pinned buffers and the mlock()-only one */
static bool setup(const char *bdf)
{
	size_t i;

	if (noiommu_open(&nd, bdf) || edu_check(&nd))
		return false;

	small.len = SMALL_PAGES * SZ_4K;
	small.va = alloc_4k_pages(small.len);
	huge.len = SZ_2M;
	huge.va = alloc_hugepages(&nd, huge.len);
	locked.len = MLOCK_PAGES * SZ_4K;
	locked.va = alloc_4k_pages(locked.len);
	if (!huge.va)
		return false;
	if (!small.va || !locked.va)
		return nd_fail(&nd, "mmap: %s", strerror(errno)), false;
	if (!alloc_tables(&small) || !alloc_tables(&huge) ||
	    !alloc_tables(&locked))
		return nd_fail(&nd, "out of memory"), false;

	memset(small.va, 0, small.len);
	memset(huge.va, 0, huge.len);
	for (i = 0; i < locked.len; i++)
		locked.va[i] = pattern(i, 0);
	if (mlock(locked.va, locked.len))
		return nd_fail(&nd, "mlock: %s", strerror(errno)), false;

	return !noiommu_map(&nd, small.va, small.len, &small.iova, false) &&
	       !noiommu_map(&nd, huge.va, huge.len, &huge.iova, false);
}

static void test_get_pa_matches_pagemap(void)
{
	bool ok = read_get_pa(&small, small.pa) && read_get_pa(&huge, huge.pa);

	read_pagemap(&small, small.map);
	read_pagemap(&huge, huge.map);
	read_pagemap(&locked, locked.map);
	ok = ok && !count_moved(&small, small.pa, small.map, "GET_PA vs pagemap");
	ok = ok && !count_moved(&huge, huge.pa, huge.map, "GET_PA vs pagemap");
	printf("# %s at PA %#llx.., %s at PA %#llx.., %s at PA %#llx..\n",
	       small.name, (unsigned long long)small.pa[0], huge.name,
	       (unsigned long long)huge.pa[0], locked.name,
	       (unsigned long long)locked.map[0]);
	tap_ok(ok, "before: GET_PA of every 4K page of both pinned buffers equals /proc/self/pagemap");
}

/* Nodes that have memory, from /sys/devices/system/node/has_memory */
static int memory_nodes(int *nodes, int max)
{
	char list[256], *p;
	int nr = 0;

	read_line("/sys/devices/system/node/has_memory", list, sizeof(list));
	for (p = strtok(list, ","); p && nr < max; p = strtok(NULL, ",")) {
		int first, last, n;

		if (sscanf(p, "%d-%d", &first, &last) != 2)
			last = first = atoi(p);
		for (n = first; n <= last && nr < max; n++)
			nodes[nr++] = n;
	}
	if (!nr)
		nodes[nr++] = 0;	/* no NUMA information: one node */
	return nr;
}

static long move_pages(size_t count, void **addrs, const int *nodes,
		       int *status)
{
	return syscall(SYS_move_pages, 0, count, addrs, nodes, status,
		       MPOL_MF_MOVE);
}

/* The node of the page at @va, by move_pages(2) without target nodes */
static int page_node(void *va)
{
	int status = -1;

	if (move_pages(1, &va, NULL, &status))
		return -1;
	return status;
}

/*
 * Where the pages are after move_pages(2) returned @ret (the number it did
 * not move). Asked again without target nodes: the status array of the
 * move itself may name the target even for a page that stayed.
 */
static void report_nodes(const struct buf *b, int node, long ret,
			 void **addrs, int *status, size_t n)
{
	size_t i, there = 0;

	if (move_pages(n, addrs, NULL, status)) {
		printf("# move_pages(%s) query: %s\n", b->name, strerror(errno));
		return;
	}
	for (i = 0; i < n; i++)
		there += status[i] == node;
	printf("# move_pages(%s -> node %d): %ld not moved; now %zu of %zu on node %d\n",
	       b->name, node, ret, there, n, node);
}

/*
 * Ask for every 4K page of @b (or its one hugepage) to move to @node.
 * Returns move_pages' result: the number of pages not moved, or -1.
 */
static long migrate_buf(struct buf *b, size_t step, int node)
{
	size_t i, n = b->len / step;
	void **addrs = calloc(n, sizeof(*addrs));
	int *nodes = calloc(n, sizeof(*nodes));
	int *status = calloc(n, sizeof(*status));
	long ret = -1;

	if (addrs && nodes && status) {
		for (i = 0; i < n; i++) {
			addrs[i] = b->va + i * step;
			nodes[i] = node;
		}
		ret = move_pages(n, addrs, nodes, status);
		if (ret < 0)
			printf("# move_pages(%s -> node %d): %s\n", b->name,
			       node, strerror(errno));
		else
			report_nodes(b, node, ret, addrs, status, n);
	}
	free(addrs);
	free(nodes);
	free(status);
	return ret;
}

static void test_move_pages(void)
{
	int nodes[8], nr, from, to, i;
	long r_small, r_huge, r_locked;

	nr = memory_nodes(nodes, 8);
	from = page_node(small.va);
	to = nodes[0];
	for (i = 0; i < nr; i++)
		if (nodes[i] != from)
			to = nodes[i];
	if (nr == 1)
		printf("# one NUMA node (%d): move_pages to it migrates nothing; compaction is the real pressure\n",
		       to);
	else
		printf("# %d NUMA nodes: asking move_pages to move every page from node %d to node %d\n",
		       nr, from, to);

	r_small = migrate_buf(&small, SZ_4K, to);
	r_huge = migrate_buf(&huge, SZ_2M, to);
	r_locked = migrate_buf(&locked, SZ_4K, to);
	tap_ok(r_small >= 0 && r_huge >= 0 && r_locked >= 0,
	       "move_pages(2) to node %d accepted all three buffers", to);
}

static unsigned long meminfo_kb(const char *name)
{
	char line[128];
	size_t len = strlen(name);
	unsigned long val = 0;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, name, len) && line[len] == ':')
			val = strtoul(line + len + 1, NULL, 10);
	fclose(f);
	return val;
}

/*
 * Compaction only moves pages into partly free pageblocks: on a fresh VM
 * free memory is all in whole blocks and it moves nothing. Fill part of
 * the free memory with 4K pages and free those at odd page frames, so
 * that each hole's buddy stays in use and the holes cannot merge. The
 * pages left behind also show whether compaction moved anything at all.
 * A memfd, because punching holes in it frees pages without madvise()
 * (the VM kernel has no CONFIG_ADVISE_SYSCALLS) and without splitting a
 * VMA per page.
 */
static bool fragment_memory(struct buf *frag)
{
	size_t i;
	int fd;

	frag->len = meminfo_kb("MemAvailable") / 4 * 1024 / SZ_2M * SZ_2M;
	fd = memfd_create("fragment", 0);
	if (fd < 0 || ftruncate(fd, frag->len))
		goto fail;
	frag->va = mmap(NULL, frag->len, PROT_READ | PROT_WRITE, MAP_SHARED,
			fd, 0);
	if (frag->va == MAP_FAILED) {
		frag->va = NULL;
		goto fail;
	}
	frag->map = calloc(pages(frag), sizeof(__u64));
	frag->map_after = calloc(pages(frag), sizeof(__u64));
	if (!frag->map || !frag->map_after)
		goto fail;
	for (i = 0; i < frag->len; i += SZ_4K)
		frag->va[i] = 1;
	read_pagemap(frag, frag->map);
	for (i = 0; i < pages(frag); i++) {
		if (!(frag->map[i] / SZ_4K % 2))
			continue;
		if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      i * SZ_4K, SZ_4K))
			goto fail;
		frag->map[i] = 0;
	}
	close(fd);
	return true;
fail:
	printf("# fragmenting memory: %s\n", strerror(errno));
	if (frag->va)
		munmap(frag->va, frag->len);
	if (fd >= 0)
		close(fd);
	return false;
}

static void test_compaction(void)
{
	struct buf frag = { .name = "fragmentation area" };
	size_t moved = 0, left = 0, i;
	bool ok, fragmented;

	fragmented = fragment_memory(&frag);
	ok = !write_file("/proc/sys/vm/compact_memory", "1");
	if (!ok)
		printf("# compact_memory: %s\n", strerror(errno));
	if (fragmented) {
		read_pagemap(&frag, frag.map_after);
		for (i = 0; i < pages(&frag); i++) {
			left += !!frag.map[i];
			moved += frag.map[i] && frag.map[i] != frag.map_after[i];
		}
		printf("# compaction moved %zu of the %zu pages left in %zu MiB fragmented into 4K holes\n",
		       moved, left, frag.len >> 20);
		munmap(frag.va, frag.len);
	}
	free(frag.map);
	free(frag.map_after);
	tap_ok(ok, "compaction: wrote 1 to /proc/sys/vm/compact_memory");
}

static void test_unchanged(struct buf *b)
{
	bool ok = read_get_pa(b, b->pa_after);

	if (ok)
		ok = !count_moved(b, b->pa, b->pa_after, "GET_PA");
	tap_ok(ok, "after: GET_PA of every 4K page of the %s is unchanged",
	       b->name);
}

/* The process still maps the pinned pages, not copies of them */
static void test_still_mapped(void)
{
	size_t moved;

	read_pagemap(&small, small.map_after);
	read_pagemap(&huge, huge.map_after);
	moved = count_moved(&small, small.pa, small.map_after,
			    "GET_PA vs pagemap") +
		count_moved(&huge, huge.pa, huge.map_after,
			    "GET_PA vs pagemap");
	tap_ok(!moved, "after: /proc/self/pagemap of both pinned buffers still equals GET_PA");
}

/*
 * Chunk @n goes from its source at the start of the hugepage through the
 * device to @dst (offset @dst_off of @b). The destination is cleared first
 * and each chunk has its own pattern, so a match means this DMA wrote it.
 */
static bool dma_lands(struct buf *b, size_t dst_off, unsigned int n)
{
	uint8_t *src = huge.va + n * CHUNK, *dst = b->va + dst_off;
	/* The addresses GET_PA gave before the pressure */
	__u64 src_pa = huge.pa[n * CHUNK / SZ_4K] + n * CHUNK % SZ_4K;
	__u64 dst_pa = b->pa[dst_off / SZ_4K] + dst_off % SZ_4K;
	size_t i, bad = 0;

	for (i = 0; i < CHUNK; i++)
		src[i] = pattern(i, n + 1);
	memset(dst, 0, CHUNK);
	if (edu_to_device(&nd, src_pa, CHUNK) || edu_to_ram(&nd, dst_pa, CHUNK)) {
		printf("# %s\n", nd.err);
		return false;
	}
	for (i = 0; i < CHUNK; i++)
		bad += dst[i] != pattern(i, n + 1);
	if (bad)
		printf("# %s+%#zx (PA %#llx): %zu of %d bytes did not arrive\n",
		       b->name, dst_off, (unsigned long long)dst_pa, bad, CHUNK);
	return !bad;
}

static void test_dma_small(void)
{
	unsigned int n, ok = 0;

	for (n = 0; n < SMALL_CHUNKS; n++)
		ok += dma_lands(&small, n * CHUNK, n);
	tap_ok(ok == SMALL_CHUNKS,
	       "after: edu DMA to the GET_PA addresses lands in every 4K page of the %s (%u of %lu chunks)",
	       small.name, ok, SMALL_CHUNKS);
}

static void test_dma_huge(void)
{
	unsigned int n, ok = 0;

	for (n = 0; n < HUGE_CHUNKS; n++)
		ok += dma_lands(&huge, HUGE_DST_OFF + n * HUGE_STRIDE,
				SMALL_CHUNKS + n);
	tap_ok(ok == HUGE_CHUNKS,
	       "after: edu DMA to the GET_PA addresses lands across the %s (%u of %u chunks)",
	       huge.name, ok, HUGE_CHUNKS);
}

/* Report what mlock() alone gave; assert only what it guarantees. */
static void test_mlock_only(void)
{
	size_t i, absent = 0, moved, pinned_moved, bad = 0;

	pinned_moved = count_moved(&small, small.map, small.map_after, "pagemap") +
		       count_moved(&huge, huge.map, huge.map_after, "pagemap");
	read_pagemap(&locked, locked.map_after);
	for (i = 0; i < pages(&locked); i++)
		absent += !locked.map_after[i];
	moved = count_moved(&locked, locked.map, locked.map_after, "pagemap");
	for (i = 0; i < locked.len; i++)
		bad += locked.va[i] != pattern(i, 0);
	printf("# %s: %zu of %d pages changed physical address under the same pressure (pinned buffers: %zu of %zu)\n",
	       locked.name, moved, MLOCK_PAGES, pinned_moved,
	       pages(&small) + pages(&huge));
	if (moved)
		printf("# a driver that read pagemap before would now DMA into memory it no longer owns\n");
	tap_ok(!absent && !bad,
	       "%s: every page still present with its contents (its address may change: %zu of %d did)",
	       locked.name, moved, MLOCK_PAGES);
}

int main(int argc, char *argv[])
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s BDF\n", argv[0]);
		return 2;
	}
	tap_plan(NR_TESTS);
	/* madvise(MADV_NOHUGEPAGE) may not exist: no THP anywhere instead */
	if (prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0))
		printf("# PR_SET_THP_DISABLE: %s\n", strerror(errno));
	if (!setup(argv[1])) {
		tap_diag("%s", nd.err);
		tap_ok(false, "setup: cdev bound, IOAS attached, buffers mapped");
		tap_bail("no setup, nothing else can be tested");
	}
	tap_ok(true, "setup: cdev bound, IOAS attached, 4K pages and a 2M hugepage mapped");
	test_get_pa_matches_pagemap();
	test_move_pages();
	test_compaction();
	test_unchanged(&small);
	test_unchanged(&huge);
	test_still_mapped();
	test_dma_small();
	test_dma_huge();
	test_mlock_only();
	noiommu_close(&nd);
	return tap_finish();
}
