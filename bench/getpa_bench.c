// SPDX-License-Identifier: GPL-2.0
/*
 * getpa_bench - how fast a userspace driver learns the physical ranges of
 * its DMA memory: IOMMU_IOAS_NOIOMMU_GET_PA against /proc/self/pagemap.
 *
 * For buffers of each size given with -s (default 64 MiB and 1 GiB, or as
 * much as is free) backed by 4K pages, 2M hugetlb pages and 1G hugetlb
 * pages (when reserved), every physical range of the buffer is resolved
 * three ways:
 *
 *   (a) GET_PA asking for all that is left of the buffer, continuing at
 *       iova + length until the buffer is covered (one call per range);
 *   (b) /proc/self/pagemap, one pread() of 8 bytes per 4K page, as DPDK's
 *       rte_mem_virt2phy() does, merging contiguous pages into ranges;
 *   (c) /proc/self/pagemap, one bulk pread() of the whole range of entries,
 *       merged the same way.
 *
 * Each is timed (CLOCK_MONOTONIC, -r repetitions interleaved, best and
 * median) and every answer is checked against the others: the three must
 * give the same list of ranges. A sample of GET_PAs at random offsets and
 * lengths is checked against that list too, so nothing here times a wrong
 * answer.
 *
 * Then the scaling figure: the time of one GET_PA answered from a single
 * page-table leaf, for a 4K leaf (length 4K), a 2M leaf (length 2M) and a
 * 1G leaf (length 1G), each divided by the 4K one. A lookup that walks the
 * table once per 4K page costs ~512x (2M) and ~262144x (1G) there; one that
 * reads the leaf costs about 1x. The IOVAs are picked so that the table
 * cannot have merged the block with its neighbour into a larger entry.
 *
 * The result is a markdown table on stdout and in the -o file; the -S file
 * gets the medians of the largest size asked, one "key value" line each,
 * for scripts/bench.sh to set kernels side by side. Timings never fail
 * the run; wrong answers and setup failures do (exit 1).
 *
 * usage: getpa_bench [-r REPS] [-s MIB[,MIB...]] [-o FILE] [-S FILE] BDF
 *   BDF is an edu device (any device works) bound to vfio-pci with
 *   vfio.enable_unsafe_noiommu_mode=1, so that it has a noiommu-vfioN cdev.
 *
 * Build: gcc -O2 -Wall -Wextra -Werror -isystem KERNEL_BUILD/usr/include
 */
#define _GNU_SOURCE
#include <sys/prctl.h>
#include <sys/utsname.h>

#include "../examples/noiommu.h"

#ifndef MAP_HUGE_1GB
#define MAP_HUGE_1GB	(30 << MAP_HUGE_SHIFT)
#endif

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define SZ_1G		(1UL << 30)
#define SZ_1M		(1UL << 20)
#define PAGEMAP_PRESENT	(1ULL << 63)
#define PAGEMAP_PFN	((1ULL << 55) - 1)

#define MAX_REPS	101
#define MAX_SIZES	8
#define MAX_ROWS	(3 * MAX_SIZES * 3)
#define NR_SAMPLES	64		/* random GET_PAs checked per buffer */
#define SAMPLE_MAX_LEN	(8UL << 20)	/* keeps a page-by-page walk cheap */
#define MAX_LEAVES	64		/* distinct IOVAs per leaf size */
#define BATCH_MIN_NS	50000000ULL	/* a scaling batch runs >= 50 ms */
#define BATCH_MAX	(1UL << 20)
/* Left to the rest of the system when sizing a 4K-page buffer */
#define MEM_RESERVE	(512UL << 20)

enum method { M_GETPA, M_PAGE, M_BULK, NR_METHODS };

static const char *const method_name[NR_METHODS] = {
	[M_GETPA] = "(a) GET_PA, largest length",
	[M_PAGE] = "(b) pagemap, pread per 4K page",
	[M_BULK] = "(c) pagemap, one bulk pread",
};

/* In the -S summary's keys */
static const char *const method_key[NR_METHODS] = {
	[M_GETPA] = "getpa",
	[M_PAGE] = "page",
	[M_BULK] = "bulk",
};

struct backing {
	const char *name;
	const char *key;	/* in the -S summary's keys */
	unsigned long pagesize;
	int mmap_flags;
};

static const struct backing backings[] = {
	{ "4K pages", "4k", SZ_4K, 0 },
	{ "2M hugetlb", "2m", SZ_2M, MAP_HUGETLB | MAP_HUGE_2MB },
	{ "1G hugetlb", "1g", SZ_1G, MAP_HUGETLB | MAP_HUGE_1GB },
};

#define NR_BACKINGS	ARRAY_SIZE(backings)

/* A buffer mapped into the IOAS at IOVA == its VA (keeps the alignment) */
struct buf {
	const struct backing *b;
	uint8_t *va;
	size_t map_len;		/* mmap()ed, a multiple of the page size */
	size_t len;		/* resolved, from va */
	__u64 iova;
	unsigned long npages;	/* 4K pages in len */
};

/* The answer of one method: physical ranges and the calls it took */
struct run {
	struct pa_range *r;
	unsigned long nr;
	unsigned long calls;
};

struct row {
	const char *backing;
	size_t len;
	bool capped;
	enum method m;
	unsigned long calls;
	unsigned long ranges;
	double best_ns;
	double med_ns;
};

struct leaf {
	const char *name;
	__u64 size;
	int nr_iovas;
	unsigned long batch;
	double best_ns;		/* per call */
	double med_ns;
	bool done;
};

static struct noiommu_dev nd;
static int pagemap_fd = -1;
static int reps = 5;
static struct row rows[MAX_ROWS];
static int nr_rows;
/* Per backing, the first row of the largest size asked (-1: skipped) */
static int last_rows[NR_BACKINGS] = { -1, -1, -1 };
static struct leaf leaves[NR_BACKINGS] = {
	{ .name = "4K leaf", .size = SZ_4K },
	{ .name = "2M leaf", .size = SZ_2M },
	{ .name = "1G leaf", .size = SZ_1G },
};

/* A GET_PA refused before any lookup: the syscall and iommufd's dispatch */
static struct leaf floor_call = { .name = "no lookup (length 0: EINVAL)" };

static char notes[8][256];
static int nr_notes;
static uint64_t *pagemap_buf;	/* bulk pread target, max_pages entries */
static unsigned long max_pages;
static uint64_t rng = 0x9e3779b97f4a7c15ULL;

__attribute__((format(printf, 1, 2)))
static void note(const char *fmt, ...)
{
	va_list ap;

	if (nr_notes == (int)ARRAY_SIZE(notes))
		return;
	va_start(ap, fmt);
	vsnprintf(notes[nr_notes++], sizeof(notes[0]), fmt, ap);
	va_end(ap);
}

static uint64_t rand64(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Sorts @v; the median of @n values */
static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static unsigned long meminfo_kb(const char *key)
{
	unsigned long val = 0;
	char line[256];
	FILE *f;

	f = fopen("/proc/meminfo", "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)) &&
		    line[strlen(key)] == ':') {
			val = strtoul(line + strlen(key) + 1, NULL, 10);
			break;
		}
	fclose(f);
	return val;
}

static unsigned long free_hugepages(unsigned long pagesize)
{
	char path[128];

	snprintf(path, sizeof(path),
		 "/sys/kernel/mm/hugepages/hugepages-%lukB/free_hugepages",
		 pagesize >> 10);
	return read_ulong(path);
}

/* How many bytes of @want this backing can have now (0: none) */
static size_t room_for(const struct backing *b, size_t want)
{
	size_t room;

	if (b->pagesize == SZ_4K) {
		room = meminfo_kb("MemAvailable") << 10;
		room = room > MEM_RESERVE ? room - MEM_RESERVE : 0;
		room &= ~(SZ_2M - 1);
	} else {
		room = free_hugepages(b->pagesize) * b->pagesize;
	}
	return want < room ? want : room;
}

/*
 * Check in /proc/self/smaps that the mapping at @va really has the page
 * size we claim: the kernel page size, and no THP in a 4K-page buffer.
 */
static int check_backing(struct buf *buf)
{
	unsigned long start, end, kps = 0, thp = 0;
	bool in = false, found = false;
	char line[512];
	FILE *f;

	f = fopen("/proc/self/smaps", "r");
	if (!f)
		return nd_fail(&nd, "open /proc/self/smaps: %s", strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &start, &end) == 2) {
			if (found)
				break;
			in = start <= (uintptr_t)buf->va &&
			     (uintptr_t)buf->va < end;
			found = in;
			continue;
		}
		if (!in)
			continue;
		sscanf(line, "KernelPageSize: %lu kB", &kps);
		sscanf(line, "AnonHugePages: %lu kB", &thp);
	}
	fclose(f);
	if (!found)
		return nd_fail(&nd, "buffer at %p not in /proc/self/smaps",
			       (void *)buf->va);
	if (kps << 10 != buf->b->pagesize || thp)
		return nd_fail(&nd, "%s buffer has kernel page size %lu kB and %lu kB of THP: not what is benchmarked",
			       buf->b->name, kps, thp);
	return 0;
}

static int buf_unmap_ioas(struct buf *buf)
{
	struct iommu_ioas_unmap unmap = {
		.size = sizeof(unmap),
		.ioas_id = nd.ioas_id,
		.iova = buf->iova,
		.length = buf->len,
	};

	if (ioctl(nd.iommufd, IOMMU_IOAS_UNMAP, &unmap))
		return nd_fail(&nd, "IOMMU_IOAS_UNMAP: %s", strerror(errno));
	return 0;
}

static void buf_free(struct buf *buf)
{
	if (buf->iova)
		buf_unmap_ioas(buf);
	if (buf->va)
		munmap(buf->va, buf->map_len);
	memset(buf, 0, sizeof(*buf));
}

/* Allocate, touch every page, check the backing, map into the IOAS. */
static int buf_alloc(struct buf *buf, const struct backing *b, size_t len)
{
	size_t off;
	void *va;

	memset(buf, 0, sizeof(*buf));
	buf->b = b;
	buf->len = len;
	buf->npages = len / SZ_4K;
	buf->map_len = (len + b->pagesize - 1) & ~(b->pagesize - 1);
	va = mmap(NULL, buf->map_len, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS | b->mmap_flags,
		  -1, 0);
	if (va == MAP_FAILED)
		return nd_fail(&nd, "mmap %zu MiB of %s: %s", buf->map_len >> 20,
			       b->name, strerror(errno));
	buf->va = va;
	for (off = 0; off < buf->map_len; off += SZ_4K)
		buf->va[off] = (uint8_t)(off >> 12);
	if (check_backing(buf))
		return -1;
	buf->iova = (uintptr_t)va;
	if (noiommu_map(&nd, va, len, &buf->iova, true)) {
		buf->iova = 0;
		return -1;
	}
	return 0;
}

/* (a): one GET_PA per physical range */
static int resolve_getpa(struct buf *buf, struct run *out)
{
	int nr = noiommu_resolve(&nd, buf->iova, buf->len, out->r,
				 (int)buf->npages);

	if (nr < 0)
		return -1;
	out->nr = nr;
	out->calls = nr;
	return 0;
}

/* Append the page at @iova with pagemap entry @ent to the ranges */
static inline int add_page(struct run *out, __u64 iova, uint64_t ent)
{
	__u64 pa = (ent & PAGEMAP_PFN) * SZ_4K;
	struct pa_range *last;

	if (!(ent & PAGEMAP_PRESENT) || !pa)
		return nd_fail(&nd, "pagemap entry of iova %#llx is %#llx: not present, or no PFN (needs CAP_SYS_ADMIN)",
			       (unsigned long long)iova,
			       (unsigned long long)ent);
	last = out->nr ? &out->r[out->nr - 1] : NULL;
	if (last && last->pa + last->len == pa) {
		last->len += SZ_4K;
		return 0;
	}
	out->r[out->nr++] = (struct pa_range){ iova, pa, SZ_4K };
	return 0;
}

/* (b): one pread of one entry per 4K page */
static int resolve_page(struct buf *buf, struct run *out)
{
	off_t base = (uintptr_t)buf->va / SZ_4K * sizeof(uint64_t);
	unsigned long i;
	uint64_t ent;

	out->nr = 0;
	out->calls = 0;
	for (i = 0; i < buf->npages; i++) {
		out->calls++;
		if (pread(pagemap_fd, &ent, sizeof(ent),
			  base + i * sizeof(ent)) != sizeof(ent))
			return nd_fail(&nd, "pread /proc/self/pagemap: %s",
				       strerror(errno));
		if (add_page(out, buf->iova + i * SZ_4K, ent))
			return -1;
	}
	return 0;
}

/* (c): one pread of all the entries (more only if the kernel stops short) */
static int resolve_bulk(struct buf *buf, struct run *out)
{
	off_t base = (uintptr_t)buf->va / SZ_4K * sizeof(uint64_t);
	size_t want = buf->npages * sizeof(uint64_t), got = 0;
	unsigned long i;
	ssize_t n;

	out->nr = 0;
	out->calls = 0;
	while (got < want) {
		out->calls++;
		n = pread(pagemap_fd, (char *)pagemap_buf + got, want - got,
			  base + got);
		if (n <= 0)
			return nd_fail(&nd, "pread /proc/self/pagemap: %s",
				       n ? strerror(errno) : "end of file");
		got += n;
	}
	for (i = 0; i < buf->npages; i++)
		if (add_page(out, buf->iova + i * SZ_4K, pagemap_buf[i]))
			return -1;
	return 0;
}

static int (*const resolve[NR_METHODS])(struct buf *, struct run *) = {
	[M_GETPA] = resolve_getpa,
	[M_PAGE] = resolve_page,
	[M_BULK] = resolve_bulk,
};

static int same_ranges(const struct run *got, const struct run *ref,
		       enum method m)
{
	unsigned long i;

	for (i = 0; i < got->nr && i < ref->nr; i++)
		if (memcmp(&got->r[i], &ref->r[i], sizeof(got->r[i])))
			break;
	if (i == got->nr && i == ref->nr)
		return 0;
	if (i == got->nr || i == ref->nr)
		return nd_fail(&nd, "WRONG ANSWER: %s gave %lu ranges, pagemap %lu",
			       method_name[m], got->nr, ref->nr);
	return nd_fail(&nd, "WRONG ANSWER: %s range %lu is iova %#llx pa %#llx len %#llx, pagemap says pa %#llx len %#llx",
		       method_name[m], i,
		       (unsigned long long)got->r[i].iova,
		       (unsigned long long)got->r[i].pa,
		       (unsigned long long)got->r[i].len,
		       (unsigned long long)ref->r[i].pa,
		       (unsigned long long)ref->r[i].len);
}

/* The reference range holding @iova (the ranges are sorted, no gaps) */
static const struct pa_range *find_range(const struct run *ref, __u64 iova)
{
	unsigned long lo = 0, hi = ref->nr;

	while (lo < hi) {
		unsigned long mid = lo + (hi - lo) / 2;
		const struct pa_range *r = &ref->r[mid];

		if (iova < r->iova)
			hi = mid;
		else if (iova >= r->iova + r->len)
			lo = mid + 1;
		else
			return r;
	}
	return NULL;
}

/*
 * GET_PA at random byte offsets with random lengths (sub-page offsets,
 * capped lengths) against the pagemap ranges.
 */
static int check_sample(struct buf *buf, const struct run *ref)
{
	int i;

	for (i = 0; i < NR_SAMPLES; i++) {
		__u64 off = rand64() % buf->len, iova = buf->iova + off;
		__u64 max = buf->len - off, want, len, pa = 0;
		const struct pa_range *r = find_range(ref, iova);

		if (max > SAMPLE_MAX_LEN)
			max = SAMPLE_MAX_LEN;
		want = i % 4 ? 1 + rand64() % max : max;
		len = want;
		if (!r)
			return nd_fail(&nd, "iova %#llx not in the pagemap ranges",
				       (unsigned long long)iova);
		if (noiommu_get_pa(&nd, iova, &len, &pa))
			return -1;
		if (pa != r->pa + (iova - r->iova) ||
		    len != (want < r->iova + r->len - iova ?
			    want : r->iova + r->len - iova))
			return nd_fail(&nd, "WRONG ANSWER: GET_PA(iova %#llx, length %#llx) = pa %#llx length %#llx; pagemap: pa %#llx length %#llx",
				       (unsigned long long)iova,
				       (unsigned long long)want,
				       (unsigned long long)pa,
				       (unsigned long long)len,
				       (unsigned long long)(r->pa + (iova - r->iova)),
				       (unsigned long long)(r->iova + r->len - iova));
	}
	return 0;
}

/*
 * Up to MAX_LEAVES size-aligned blocks of @buf that the page table would
 * hold as one leaf of exactly @size if the buffer were mapped at IOVA
 * @buf->iova + @shift: physically contiguous and aligned (so one leaf at
 * least that large), and not mergeable with its buddy block into a
 * 2 * size entry (buddy not contiguous with it, or IOVA and PA not aligned
 * alike to 2 * size). Returns their number, their IOVAs (shifted) and PAs.
 */
static int pick_leaves(struct buf *buf, const struct run *ref, __u64 size,
		       __u64 shift, __u64 *iovas, __u64 *pas)
{
	__u64 off;
	int n = 0;

	for (off = 0; off + size <= buf->len && n < MAX_LEAVES; off += size) {
		__u64 iova = buf->iova + off, pa, at = iova + shift, buddy;
		const struct pa_range *r = find_range(ref, iova);

		if (!r || at % size || iova + size > r->iova + r->len)
			continue;
		pa = r->pa + (iova - r->iova);
		if (pa % size)
			continue;
		/* Is the buddy of the block (at ^ size) contiguous with it? */
		buddy = (at ^ size) - shift;
		if (!((at ^ pa) & size) && buddy >= r->iova &&
		    buddy + size <= r->iova + r->len)
			continue;
		iovas[n] = at;
		pas[n++] = pa;
	}
	return n;
}

/* @batch GET_PAs of @size cycling over the @n blocks; checks every answer */
static int getpa_batch(const __u64 *iovas, const __u64 *pas, int n,
		       __u64 size, unsigned long batch, uint64_t *ns)
{
	uint64_t start = now_ns();
	unsigned long i;
	int k = 0;

	for (i = 0; i < batch; i++) {
		__u64 len = size, pa = 0;

		if (noiommu_get_pa(&nd, iovas[k], &len, &pa))
			return -1;
		if (len != size || pa != pas[k])
			return nd_fail(&nd, "WRONG ANSWER: GET_PA(iova %#llx, length %#llx) = pa %#llx length %#llx, pagemap: pa %#llx",
				       (unsigned long long)iovas[k],
				       (unsigned long long)size,
				       (unsigned long long)pa,
				       (unsigned long long)len,
				       (unsigned long long)pas[k]);
		if (++k == n)
			k = 0;
	}
	*ns = now_ns() - start;
	return 0;
}

/* @batch GET_PAs of length 0, each of which must fail with EINVAL */
static int floor_batch(unsigned long batch, uint64_t *ns)
{
	struct iommu_ioas_noiommu_get_pa cmd = {
		.size = sizeof(cmd),
		.ioas_id = nd.ioas_id,
	};
	uint64_t start = now_ns();
	unsigned long i;

	for (i = 0; i < batch; i++)
		if (!ioctl(nd.iommufd, IOMMU_IOAS_NOIOMMU_GET_PA, &cmd) ||
		    errno != EINVAL)
			return nd_fail(&nd, "GET_PA of length 0 did not fail with EINVAL: %s",
				       strerror(errno));
	*ns = now_ns() - start;
	return 0;
}

/*
 * The cost of a GET_PA that does no lookup: every call of (a) pays it, so
 * it bounds (a) for buffers made of short physical runs.
 */
static int time_floor(void)
{
	double t[MAX_REPS];
	unsigned long batch = 1;
	uint64_t ns;
	int i;

	for (;;) {
		if (floor_batch(batch, &ns))
			return -1;
		if (ns >= BATCH_MIN_NS || batch >= BATCH_MAX)
			break;
		batch *= 2;
	}
	for (i = 0; i < reps; i++) {
		if (floor_batch(batch, &ns))
			return -1;
		t[i] = (double)ns / batch;
	}
	floor_call.batch = batch;
	floor_call.med_ns = median(t, reps);	/* sorts t */
	floor_call.best_ns = t[0];
	floor_call.done = true;
	return 0;
}

/* Time one GET_PA answered from a leaf of @lf->size in @buf. */
static int time_leaf(struct buf *buf, const struct run *ref, struct leaf *lf)
{
	__u64 iovas[MAX_LEAVES], pas[MAX_LEAVES];
	double t[MAX_REPS];
	unsigned long batch = 1;
	uint64_t ns;
	int i, n;

	/*
	 * In a physically contiguous run, whether a block can merge with its
	 * buddy depends on IOVA - PA: if few blocks are leaves of exactly
	 * @size, map the buffer @size further, which flips that.
	 */
	n = pick_leaves(buf, ref, lf->size, 0, iovas, pas);
	if (n < MAX_LEAVES) {
		i = pick_leaves(buf, ref, lf->size, lf->size, iovas, pas);
		if (i > n) {
			n = i;
			if (buf_unmap_ioas(buf))
				return -1;
			buf->iova += lf->size;
			if (noiommu_map(&nd, buf->va, buf->len, &buf->iova,
					true))
				return -1;
		} else {
			n = pick_leaves(buf, ref, lf->size, 0, iovas, pas);
		}
	}
	if (!n) {
		note("%s: no block of this %s buffer is stored as a leaf of exactly that size; not measured",
		     lf->name, buf->b->name);
		return 0;
	}
	/* Calibrate: the batch grows until it takes BATCH_MIN_NS */
	for (;;) {
		if (getpa_batch(iovas, pas, n, lf->size, batch, &ns))
			return -1;
		if (ns >= BATCH_MIN_NS || batch >= BATCH_MAX)
			break;
		batch *= 2;
	}
	for (i = 0; i < reps; i++) {
		if (getpa_batch(iovas, pas, n, lf->size, batch, &ns))
			return -1;
		t[i] = (double)ns / batch;
	}
	lf->nr_iovas = n;
	lf->batch = batch;
	lf->med_ns = median(t, reps);	/* sorts t */
	lf->best_ns = t[0];
	lf->done = true;
	return 0;
}

/* One buffer: resolve it every way, check, time; then the leaf timing. */
static int bench_buffer(const struct backing *b, size_t want, bool last)
{
	struct run ref = { 0 }, run = { 0 };
	double t[NR_METHODS][MAX_REPS];
	unsigned long calls[NR_METHODS];
	struct buf buf = { 0 };
	int i, rc = -1;
	enum method m;
	size_t len;

	len = room_for(b, want);
	if (len < SZ_2M) {
		note("%s, %zu MiB: skipped, no room (%lu free %lu kB pages; reserve more at boot)",
		     b->name, want >> 20,
		     b->pagesize == SZ_4K ? meminfo_kb("MemAvailable") >> 2 :
					    free_hugepages(b->pagesize),
		     b->pagesize >> 10);
		return 0;
	}
	fprintf(stderr, "getpa_bench: %s, %zu MiB\n", b->name, len >> 20);
	if (buf_alloc(&buf, b, len))
		goto out;
	ref.r = calloc(buf.npages, sizeof(*ref.r));
	run.r = calloc(buf.npages, sizeof(*run.r));
	if (!ref.r || !run.r) {
		nd_fail(&nd, "out of memory for %lu ranges", buf.npages);
		goto out;
	}

	/* Untimed pass: the reference, and every method checked against it */
	if (resolve_bulk(&buf, &ref))
		goto out;
	for (m = 0; m < NR_METHODS; m++)
		if (resolve[m](&buf, &run) || same_ranges(&run, &ref, m))
			goto out;
	if (check_sample(&buf, &ref))
		goto out;

	/* Timed: the methods interleaved, each answer checked after */
	for (i = 0; i < reps; i++)
		for (m = 0; m < NR_METHODS; m++) {
			uint64_t start = now_ns();

			if (resolve[m](&buf, &run))
				goto out;
			t[m][i] = now_ns() - start;
			if (same_ranges(&run, &ref, m))
				goto out;
			calls[m] = run.calls;
		}

	for (m = 0; m < NR_METHODS; m++) {
		struct row *row = &rows[nr_rows++];

		*row = (struct row){
			.backing = b->name,
			.len = len,
			.capped = len != want,
			.m = m,
			.calls = calls[m],
			.ranges = ref.nr,
		};
		/* median() sorts: t[m][0] is then the best */
		row->med_ns = median(t[m], reps);
		row->best_ns = t[m][0];
	}
	if (last)
		last_rows[b - backings] = nr_rows - NR_METHODS;
	fprintf(stderr, "getpa_bench:   %lu ranges; median GET_PA %.2f ms, per-page pagemap %.2f ms, bulk pagemap %.2f ms\n",
		ref.nr, rows[nr_rows - 3].med_ns / 1e6,
		rows[nr_rows - 2].med_ns / 1e6, rows[nr_rows - 1].med_ns / 1e6);

	if (last && time_leaf(&buf, &ref, &leaves[b - backings]))
		goto out;
	rc = 0;
out:
	free(ref.r);
	free(run.r);
	buf_free(&buf);
	return rc;
}

/*
 * Where (a)'s time goes on a 4K-page buffer: each call costs about a
 * one-leaf GET_PA (of which the no-lookup floor is the syscall and
 * dispatch), each further 4K leaf of its run the rest. Set against (c)'s
 * cost per page, that says how long runs must be for (a) to win.
 */
static void print_breakdown(FILE *f)
{
	const struct leaf *one = &leaves[0];
	int i;

	if (!floor_call.done || !one->done)
		return;
	fprintf(f, "\nOn 4K pages (a) pays, per call, about one GET_PA answered from a 4K leaf (%.0f ns, of which %.0f ns is the no-lookup floor), and per further 4K leaf of a run the rest:",
		one->med_ns, floor_call.med_ns);
	for (i = 0; i + M_BULK < nr_rows; i++) {
		const struct row *a = &rows[i], *c = &rows[i + M_BULK];
		double pages = (double)(a->len / SZ_4K), leaf, page;

		if (a->m != M_GETPA || a->backing != backings[0].name ||
		    pages <= a->calls)
			continue;
		leaf = (a->med_ns - a->calls * one->med_ns) / (pages - a->calls);
		page = c->med_ns / pages;
		fprintf(f, " %zu MiB: runs average %.1f pages, %.0f ns per further leaf, against %.0f ns per page for (c)",
			a->len >> 20, pages / a->calls, leaf, page);
		/*
		 * Per page (a) costs call / r + leaf * (1 - 1 / r) for runs of
		 * r pages: below (c)'s cost per page once r passes this.
		 */
		if (page > leaf)
			fprintf(f, ", so (a) is the faster where runs average more than %.0f pages;",
				(one->med_ns - leaf) / (page - leaf));
		else
			fprintf(f, ";");
	}
	fprintf(f, "\n");
}

static void print_report(FILE *f, const size_t *sizes, int nr_sizes)
{
	const struct leaf *base = &leaves[0];
	struct utsname u;
	char clk[64];
	int i;

	uname(&u);
	read_line("/sys/devices/system/clocksource/clocksource0/current_clocksource",
		  clk, sizeof(clk));
	fprintf(f, "## GET_PA vs /proc/self/pagemap\n\n");
	fprintf(f, "Kernel %s %s, %s. Each figure: %d timed repetitions (interleaved), best and median; ratios are of medians. Clock: CLOCK_MONOTONIC (%s). Sizes asked:",
		u.release, u.version, u.machine, reps, clk[0] ? clk : "?");
	for (i = 0; i < nr_sizes; i++)
		fprintf(f, " %zu MiB", sizes[i] >> 20);
	fprintf(f, ". Every answer was checked: the three methods gave the same physical ranges, and %d GET_PAs at random offsets and lengths per buffer matched pagemap.\n\n",
		NR_SAMPLES);

	fprintf(f, "### Resolving every physical range of a buffer\n\n");
	fprintf(f, "| backing | buffer | ranges | method | calls | best ms | median ms | ns / 4K page | ÷ (a) |\n");
	fprintf(f, "|---|---:|---:|---|---:|---:|---:|---:|---:|\n");
	for (i = 0; i < nr_rows; i++) {
		const struct row *r = &rows[i];
		const struct row *a = &rows[i - r->m];

		fprintf(f, "| %s | %zu MiB%s | %lu | %s | %lu | %.3f | %.3f | %.1f | ",
			r->backing, r->len >> 20, r->capped ? " (max free)" : "",
			r->ranges, method_name[r->m], r->calls,
			r->best_ns / 1e6, r->med_ns / 1e6,
			r->med_ns / (r->len / SZ_4K));
		if (r->m == M_GETPA)
			fprintf(f, "1 |\n");
		else
			fprintf(f, "%.2f |\n", r->med_ns / a->med_ns);
	}

	fprintf(f, "\n### Scaling: one GET_PA answered from one page-table leaf\n\n");
	fprintf(f, "| answered from | length | distinct IOVAs | calls per batch | best ns / call | median ns / call | ÷ 4K leaf |\n");
	fprintf(f, "|---|---:|---:|---:|---:|---:|---:|\n");
	for (i = 0; i < (int)NR_BACKINGS; i++) {
		const struct leaf *lf = &leaves[i];

		if (!lf->done) {
			fprintf(f, "| %s | %llu KiB | - | - | - | not measured | - |\n",
				lf->name, (unsigned long long)lf->size >> 10);
			continue;
		}
		fprintf(f, "| %s | %llu KiB | %d | %lu | %.0f | %.0f | ",
			lf->name, (unsigned long long)lf->size >> 10,
			lf->nr_iovas, lf->batch, lf->best_ns, lf->med_ns);
		if (base->done)
			fprintf(f, "%.2f |\n", lf->med_ns / base->med_ns);
		else
			fprintf(f, "- |\n");
	}
	if (floor_call.done) {
		fprintf(f, "| %s | 0 | - | %lu | %.0f | %.0f | ",
			floor_call.name, floor_call.batch, floor_call.best_ns,
			floor_call.med_ns);
		if (base->done)
			fprintf(f, "%.2f |\n", floor_call.med_ns / base->med_ns);
		else
			fprintf(f, "- |\n");
	}
	print_breakdown(f);
	if (nr_notes)
		fprintf(f, "\nNotes:\n\n");
	for (i = 0; i < nr_notes; i++)
		fprintf(f, "- %s\n", notes[i]);
}

/*
 * -S: medians of the largest size asked (leaves and floor: their only
 * size), "key value" a line: KEY_mib (the buffer, smaller if capped) and
 * KEY_METHOD_ms per backing, leaf_KEY_ns, floor_ns. A figure not
 * measured has no line.
 */
static void print_summary(FILE *f, const size_t *sizes, int nr_sizes)
{
	struct utsname u;
	unsigned int i;
	enum method m;

	uname(&u);
	fprintf(f, "release %s\nreps %d\nsize_mib %zu\n", u.release, reps,
		sizes[nr_sizes - 1] >> 20);
	for (i = 0; i < NR_BACKINGS; i++) {
		const struct row *r;

		if (last_rows[i] < 0)
			continue;
		r = &rows[last_rows[i]];
		fprintf(f, "%s_mib %zu\n", backings[i].key, r->len >> 20);
		for (m = 0; m < NR_METHODS; m++)
			fprintf(f, "%s_%s_ms %.6f\n", backings[i].key,
				method_key[m], r[m].med_ns / 1e6);
	}
	for (i = 0; i < NR_BACKINGS; i++)
		if (leaves[i].done)
			fprintf(f, "leaf_%s_ns %.1f\n", backings[i].key,
				leaves[i].med_ns);
	if (floor_call.done)
		fprintf(f, "floor_ns %.1f\n", floor_call.med_ns);
}

/* Print into the file at @path, replacing it */
static int write_file(const char *path,
		      void (*print)(FILE *, const size_t *, int),
		      const size_t *sizes, int nr_sizes)
{
	FILE *f = fopen(path, "w");

	if (f) {
		print(f, sizes, nr_sizes);
		if (!fclose(f))
			return 0;
	}
	fprintf(stderr, "getpa_bench: %s: %s\n", path, strerror(errno));
	return -1;
}

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s [-r REPS] [-s MIB[,MIB...]] [-o FILE] [-S FILE] BDF\n"
		"  -r REPS  timed repetitions per figure, 1..%d (default 5)\n"
		"  -s MIB   buffer sizes in MiB, ascending (default 64,1024)\n"
		"  -o FILE  also write the markdown table to FILE\n"
		"  -S FILE  write the medians of the largest size to FILE, \"key value\" lines\n",
		prog, MAX_REPS);
	exit(2);
}

static int parse_sizes(const char *arg, size_t *sizes)
{
	char *copy = strdup(arg), *tok, *save = NULL, *end;
	int n = 0;

	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		unsigned long mib = strtoul(tok, &end, 10);

		if (*end || mib < 2 || mib % 2 || n == MAX_SIZES ||
		    (n && mib << 20 <= sizes[n - 1]))
			n = -1;
		if (n < 0)
			break;
		sizes[n++] = mib << 20;
	}
	free(copy);
	return n;
}

int main(int argc, char **argv)
{
	size_t sizes[MAX_SIZES] = { 64 * SZ_1M, SZ_1G };
	const char *out = NULL, *summary = NULL;
	int nr_sizes = 2, opt, i;
	unsigned int j;

	while ((opt = getopt(argc, argv, "r:s:o:S:")) != -1) {
		switch (opt) {
		case 'r':
			reps = atoi(optarg);
			if (reps < 1 || reps > MAX_REPS)
				usage(argv[0]);
			break;
		case 's':
			nr_sizes = parse_sizes(optarg, sizes);
			if (nr_sizes <= 0) {
				fprintf(stderr, "-s wants even MiB counts >= 2, ascending, at most %d\n",
					MAX_SIZES);
				usage(argv[0]);
			}
			break;
		case 'o':
			out = optarg;
			break;
		case 'S':
			summary = optarg;
			break;
		default:
			usage(argv[0]);
		}
	}
	if (optind != argc - 1)
		usage(argv[0]);

	/* The 4K-page buffers must stay 4K pages (THP is "always" here) */
	if (prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0)) {
		fprintf(stderr, "getpa_bench: PR_SET_THP_DISABLE: %s\n",
			strerror(errno));
		return 1;
	}
	if (noiommu_open(&nd, argv[optind])) {
		fprintf(stderr, "getpa_bench: %s\n", nd.err);
		return 1;
	}
	pagemap_fd = open("/proc/self/pagemap", O_RDONLY);
	max_pages = sizes[nr_sizes - 1] / SZ_4K;
	pagemap_buf = calloc(max_pages, sizeof(*pagemap_buf));
	if (pagemap_fd < 0 || !pagemap_buf) {
		fprintf(stderr, "getpa_bench: /proc/self/pagemap: %s\n",
			strerror(errno));
		return 1;
	}

	if (time_floor()) {
		fprintf(stderr, "getpa_bench: %s\n", nd.err);
		return 1;
	}
	for (j = 0; j < NR_BACKINGS; j++)
		for (i = 0; i < nr_sizes; i++)
			if (bench_buffer(&backings[j], sizes[i],
					 i == nr_sizes - 1)) {
				fprintf(stderr, "getpa_bench: %s\n", nd.err);
				return 1;
			}

	print_report(stdout, sizes, nr_sizes);
	if (out && write_file(out, print_report, sizes, nr_sizes))
		return 1;
	if (summary && write_file(summary, print_summary, sizes, nr_sizes))
		return 1;
	noiommu_close(&nd);
	return 0;
}
