// SPDX-License-Identifier: GPL-2.0
/*
 * Bad input to IOMMU_IOAS_NOIOMMU_GET_PA: every error the SPEC documents,
 * in its order of checks, plus what iommufd's ioctl dispatch does with a
 * bad argument (short or long size, unreadable or unwritable pointer), and
 * the edges of a mapping (its first and last byte, the hole before the
 * next one). Each case is one TAP result and one row of a table of
 * case, expected errno, got errno, printed at the end as diagnostics.
 * Afterwards the kernel must have lost nothing: GET_PA still resolves the
 * buffers to what /proc/self/pagemap says, everything unmaps, both IOASes
 * can be destroyed (no reference left behind) and every hugepage is free.
 *
 * A revoked dma-buf (EINVAL) is tried only if the kernel can export a
 * vfio-pci dma-buf (VFIO_DEVICE_FEATURE_DMA_BUF); otherwise that row is
 * left out and a diagnostic says so.
 *
 * usage: noiommu_badinput BDF     (prints TAP; needs root)
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stddef.h>
#include <sys/stat.h>

#include "../../examples/noiommu.h"
#include "raw_ioctl.h"
#include "tap.h"

#define NR_ROWS_BASE	50	/* rows of the table without dma-buf */
#define NR_FINAL	5	/* checks after the table */
#define B_LEN		(4 * SZ_4K)
#define HOLE_LEN	(16 * SZ_4K)
#define A_IOVA		(1ULL << 32)
#define B_IOVA		(A_IOVA + SZ_2M + HOLE_LEN)
#define TOP_IOVA	(0ULL - SZ_2M)	/* last 2M of the 64-bit space */

struct row {
	char name[96];
	int expect;
	int got;
	bool ok;
};

static struct row rows[64];
static int nr_rows;

static struct noiommu_dev nd;
static int pagemap_fd = -1;
static char *a_va, *b_va, *top_va;	/* A, B: the mappings around a hole */
static __u32 ioas2;			/* an IOAS no device is attached to */
static __u64 ioas2_iova;
static bool dmabuf_supported;

/* GET_PA with a raw argument; 0 or the errno */
static int get_pa_raw(int fd, unsigned long req, void *arg)
{
	return ioctl(fd, req, arg) ? errno : 0;
}

static int get_pa(void *arg)
{
	return get_pa_raw(nd.iommufd, IOMMU_IOAS_NOIOMMU_GET_PA, arg);
}

/*
 * Record a row: the case passes when the errno is the expected one and,
 * for a success, @answer_ok (the answer was checked) holds.
 */
__attribute__((format(printf, 4, 5)))
static void row(int expect, int got, bool answer_ok, const char *fmt, ...)
{
	struct row *r = &rows[nr_rows++];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->name, sizeof(r->name), fmt, ap);
	va_end(ap);
	r->expect = expect;
	r->got = got;
	r->ok = got == expect && (got || answer_ok);
	tap_ok(r->ok, "%s: expected %s, got %s", r->name, errno_name(expect),
	       errno_name(got));
}

/*
 * Check a successful answer for the IOVA at @va: out_phys is pagemap's
 * address of @va and length is @expect_len, or, if 0, the physically
 * contiguous run from @va (as pagemap has it) capped at @max.
 */
static bool answer_ok(const struct iommu_ioas_noiommu_get_pa *cmd,
		      const char *va, __u64 expect_len, __u64 max)
{
	uint64_t pa = pagemap_pa(pagemap_fd, va);

	if (!expect_len) {
		/* to the end of @va's page, then page by page */
		__u64 run = SZ_4K - (uintptr_t)va % SZ_4K;

		while (run < max &&
		       pagemap_pa(pagemap_fd, va + run) == pa + run)
			run += SZ_4K;
		expect_len = run < max ? run : max;
	}
	if (pa && cmd->out_phys == pa && cmd->length == expect_len)
		return true;
	tap_diag("answer phys %#llx length %#llx; pagemap says phys %#llx, expected length %#llx",
		 (unsigned long long)cmd->out_phys,
		 (unsigned long long)cmd->length, (unsigned long long)pa,
		 (unsigned long long)expect_len);
	return false;
}

/* GET_PA of @iova (at @va) asking for @length; checks the answer */
static void row_success(const char *what, __u32 ioas_id, __u64 iova,
			const char *va, __u64 length, __u64 expect_len,
			__u64 max)
{
	struct iommu_ioas_noiommu_get_pa cmd = pa_req(ioas_id, iova, length);
	int got = get_pa(&cmd);

	row(0, got, !got && answer_ok(&cmd, va, expect_len, max), "%s", what);
	if (!got)
		tap_diag("  answer: phys %#llx, length %#llx",
			 (unsigned long long)cmd.out_phys,
			 (unsigned long long)cmd.length);
}

static void row_errno(const char *what, int expect,
		      struct iommu_ioas_noiommu_get_pa cmd)
{
	row(expect, get_pa(&cmd), false, "%s", what);
}

struct nocap_call {
	struct iommu_ioas_noiommu_get_pa cmd;
	int got;
};

/* Drop CAP_SYS_RAWIO in this thread only (capset is per thread), ask. */
static void *nocap_thread(void *arg)
{
	struct nocap_call *call = arg;

	if (caps_drop(CAP_SYS_RAWIO)) {
		call->got = -errno;
		return NULL;
	}
	call->got = get_pa(&call->cmd);
	return NULL;
}

static void row_nocap(const char *what, struct iommu_ioas_noiommu_get_pa cmd)
{
	struct nocap_call call = { .cmd = cmd };
	pthread_t t;

	if (pthread_create(&t, NULL, nocap_thread, &call) ||
	    pthread_join(t, NULL))
		call.got = -EAGAIN;
	if (call.got < 0) {
		tap_diag("could not drop CAP_SYS_RAWIO in a thread: %s",
			 strerror(-call.got));
		call.got = -1;
	}
	row(EPERM, call.got, false, "%s", what);
}

static int ioas_alloc(__u32 *id)
{
	return _test_ioctl_ioas_alloc(nd.iommufd, id);
}

static int destroy(__u32 id)
{
	return _test_ioctl_destroy(nd.iommufd, id);
}

/* Unmap everything in @ioas_id; the number of bytes unmapped, or -errno */
static long long unmap_all(__u32 ioas_id)
{
	struct iommu_ioas_unmap un = {
		.size = sizeof(un),
		.ioas_id = ioas_id,
		.iova = 0,
		.length = UINT64_MAX,
	};

	if (ioctl(nd.iommufd, IOMMU_IOAS_UNMAP, &un))
		return -errno;
	return un.length;
}

static unsigned long hugepages_free(void)
{
	return read_ulong("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages");
}

/*
 * Can this kernel export a vfio-pci dma-buf? Probe the feature; only then
 * is the revoked dma-buf case meaningful.
 */
static bool probe_dmabuf(void)
{
	struct vfio_device_feature feat = {
		.argsz = sizeof(feat),
		.flags = VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_GET |
			 VFIO_DEVICE_FEATURE_DMA_BUF,
	};

	if (!ioctl(nd.device_fd, VFIO_DEVICE_FEATURE, &feat))
		return true;
	tap_diag("VFIO_DEVICE_FEATURE_DMA_BUF probe: %s (%s): this kernel cannot export a vfio-pci dma-buf (CONFIG_VFIO_PCI_DMABUF needs PCI_P2PDMA and DMA_SHARED_BUFFER), so the revoked dma-buf row (EINVAL) is left out",
		 errno_name(errno), strerror(errno));
	return false;
}

static int set_memory_enable(bool on)
{
	__u16 cmd;

	if (pread(nd.device_fd, &cmd, sizeof(cmd),
		  nd.config_offset + PCI_COMMAND) != sizeof(cmd))
		return errno;
	cmd = on ? cmd | PCI_COMMAND_MEMORY : cmd & ~PCI_COMMAND_MEMORY;
	if (pwrite(nd.device_fd, &cmd, sizeof(cmd),
		   nd.config_offset + PCI_COMMAND) != sizeof(cmd))
		return errno;
	return 0;
}

/*
 * A dma-buf of BAR0 mapped into the IOAS answers GET_PA with BAR0's
 * address; once revoked (memory decoding turned off through the config
 * space) it must answer EINVAL.
 */
static void row_dmabuf_revoked(void)
{
	struct iommu_ioas_map_file mf = {
		.size = sizeof(mf),
		.flags = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE |
			 IOMMU_IOAS_MAP_FIXED_IOVA,
		.ioas_id = nd.ioas_id,
		.start = 0,
		.length = nd.bar0_size,
		.iova = B_IOVA + (1ULL << 30),
	};
	struct iommu_ioas_unmap un = {
		.size = sizeof(un),
		.ioas_id = nd.ioas_id,
		.iova = mf.iova,
		.length = mf.length,
	};
	const char *what = "revoked dma-buf of BAR0";
	unsigned long long bar0 = 0;
	char path[PATH_MAX], line[128];
	struct iommu_ioas_noiommu_get_pa cmd = pa_req(nd.ioas_id, mf.iova, 1);
	int fd, got, err;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource",
		 nd.bdf);
	bar0 = strtoull(read_line(path, line, sizeof(line)), NULL, 0);

	fd = vfio_bar0_dmabuf(nd.device_fd, nd.bar0_size);
	if (fd < 0) {
		tap_diag("VFIO_DEVICE_FEATURE_DMA_BUF GET of BAR0: %s",
			 strerror(-fd));
		row(EINVAL, -1, false, "%s (no dma-buf)", what);
		return;
	}
	mf.fd = fd;
	if (ioctl(nd.iommufd, IOMMU_IOAS_MAP_FILE, &mf)) {
		tap_diag("IOMMU_IOAS_MAP_FILE of the BAR0 dma-buf: %s",
			 strerror(errno));
		row(EINVAL, -1, false, "%s (not mapped)", what);
		close(fd);
		return;
	}
	/* Before the revoke it must answer, or EINVAL proves nothing */
	got = get_pa(&cmd);
	tap_diag("dma-buf of BAR0 before revoke: GET_PA %s, phys %#llx (BAR0 at %#llx)",
		 errno_name(got), (unsigned long long)cmd.out_phys,
		 (unsigned long long)bar0);
	err = set_memory_enable(false);
	if (err)
		tap_diag("clearing PCI_COMMAND_MEMORY: %s", strerror(err));
	if (got || !bar0 || cmd.out_phys != bar0) {
		row(EINVAL, -1, false, "%s (no answer before the revoke)",
		    what);
	} else {
		cmd = pa_req(nd.ioas_id, mf.iova, 1);
		row(EINVAL, get_pa(&cmd), false, "%s", what);
	}
	set_memory_enable(true);
	cmd = pa_req(nd.ioas_id, mf.iova, 1);
	got = get_pa(&cmd);
	tap_diag("dma-buf of BAR0 after memory decoding is back on: GET_PA %s",
		 errno_name(got));
	if (ioctl(nd.iommufd, IOMMU_IOAS_UNMAP, &un))
		tap_diag("unmapping the dma-buf: %s", strerror(errno));
	close(fd);
}

/* Pages with given protections, for the bad pointer cases */
static char *map_pages(int nr)
{
	char *p = mmap(NULL, nr * SZ_4K, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static void size_rows(void)
{
	struct {
		struct iommu_ioas_noiommu_get_pa cmd;
		__u64 tail;
	} big;
	struct iommu_ioas_noiommu_get_pa cmd;
	char *pages;
	int got;

	cmd = pa_req(nd.ioas_id, A_IOVA, 1);
	cmd.size = 0;
	row_errno("size 0", EINVAL, cmd);
	cmd.size = 8;
	row_errno("size 8 (only size, flags)", EINVAL, cmd);
	cmd.size = offsetof(struct iommu_ioas_noiommu_get_pa, out_phys);
	row_errno("size 32 (struct without out_phys)", EINVAL, cmd);
	cmd.size = sizeof(cmd) - 1;
	row_errno("size 39 (one byte short)", EINVAL, cmd);

	/* Larger than the kernel knows, zero tail: accepted, tail untouched */
	memset(&big, 0, sizeof(big));
	big.cmd = pa_req(nd.ioas_id, A_IOVA, 1);
	big.cmd.size = sizeof(big);
	got = get_pa(&big);
	row(0, got, !got && !big.tail && answer_ok(&big.cmd, a_va, 1, 1),
	    "size 48, trailing 8 bytes zero");

	big.cmd = pa_req(nd.ioas_id, A_IOVA, 1);
	big.cmd.size = sizeof(big);
	big.tail = 1ULL << 56;
	row(E2BIG, get_pa(&big), false, "size 48, trailing bytes not zero");

	pages = map_pages(2);
	if (!pages)
		tap_bail("mmap: %s", strerror(errno));
	memset(pages, 0, 2 * SZ_4K);
	*(struct iommu_ioas_noiommu_get_pa *)pages =
		pa_req(nd.ioas_id, A_IOVA, 1);
	((struct iommu_ioas_noiommu_get_pa *)pages)->size = SZ_4K;
	pages[SZ_4K - 1] = 1;
	row(E2BIG, get_pa(pages), false,
	    "size 4096, last trailing byte not zero");
	pages[SZ_4K - 1] = 0;
	got = get_pa(pages);
	row(0, got, !got && answer_ok((void *)pages, a_va, 1, 1),
	    "size 4096, trailing bytes zero");

	/* The zero check of the tail runs into a page it cannot read */
	*(struct iommu_ioas_noiommu_get_pa *)pages =
		pa_req(nd.ioas_id, A_IOVA, 1);
	((struct iommu_ioas_noiommu_get_pa *)pages)->size = 2 * SZ_4K;
	mprotect(pages + SZ_4K, SZ_4K, PROT_NONE);
	row(EFAULT, get_pa(pages), false,
	    "size 8192, trailing bytes reach an unreadable page");
	munmap(pages, 2 * SZ_4K);
}

static void pointer_rows(void)
{
	struct iommu_ioas_noiommu_get_pa *cmd;
	char *pages;
	int got;

	row(EFAULT, get_pa(NULL), false, "argument pointer NULL");

	pages = map_pages(2);
	if (!pages)
		tap_bail("mmap: %s", strerror(errno));
	munmap(pages + SZ_4K, SZ_4K);
	row(EFAULT, get_pa(pages + SZ_4K), false,
	    "argument pointer to an unmapped page");
	row(EFAULT, get_pa((void *)0xffff888000000000UL), false,
	    "argument pointer to kernel memory");

	/* The struct starts 16 bytes before a page that is not readable */
	pages = mmap(pages, 2 * SZ_4K, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (pages == MAP_FAILED)
		tap_bail("mmap: %s", strerror(errno));
	cmd = (struct iommu_ioas_noiommu_get_pa *)(pages + SZ_4K - 16);
	cmd->size = sizeof(*cmd);
	cmd->flags = 0;
	cmd->ioas_id = nd.ioas_id;
	cmd->__reserved = 0;
	mprotect(pages + SZ_4K, SZ_4K, PROT_NONE);
	row(EFAULT, get_pa(cmd), false,
	    "argument straddles into an unreadable page");

	/* Valid request, but the answer cannot be written back */
	mprotect(pages + SZ_4K, SZ_4K, PROT_READ | PROT_WRITE);
	cmd = (struct iommu_ioas_noiommu_get_pa *)pages;
	*cmd = pa_req(nd.ioas_id, A_IOVA, 1);
	mprotect(pages, SZ_4K, PROT_READ);
	got = get_pa(cmd);
	row(EFAULT, got, false, "argument read-only (answer not writable)");
	munmap(pages, 2 * SZ_4K);
}

static void command_rows(void)
{
	struct iommu_ioas_noiommu_get_pa cmd = pa_req(nd.ioas_id, A_IOVA, 1);

	row(ENOTTY,
	    get_pa_raw(nd.iommufd,
		       _IOWR(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_NOIOMMU_GET_PA,
			     struct iommu_ioas_noiommu_get_pa), &cmd),
	    false, "command 0x95 encoded as _IOWR (size/direction bits)");
	cmd = pa_req(nd.ioas_id, A_IOVA, 1);
	row(ENOTTY, get_pa_raw(nd.device_fd, IOMMU_IOAS_NOIOMMU_GET_PA, &cmd),
	    false, "GET_PA sent to the VFIO device fd");
}

/* Everything the bad inputs must not have disturbed, checked for real */
static bool resolve_ok(__u64 iova, const char *va, size_t len)
{
	size_t off = 0;

	while (off < len) {
		struct iommu_ioas_noiommu_get_pa cmd =
			pa_req(nd.ioas_id, iova + off, len - off);
		int got = get_pa(&cmd);

		if (got) {
			tap_diag("GET_PA(%#llx): %s",
				 (unsigned long long)(iova + off),
				 errno_name(got));
			return false;
		}
		if (!answer_ok(&cmd, va + off, 0, len - off))
			return false;
		off += cmd.length;
	}
	return true;
}

static void print_table(void)
{
	int i;

	tap_diag("%-3s %-60s %-11s %-11s %s", "#", "case", "expected", "got",
		 "result");
	for (i = 0; i < nr_rows; i++)
		tap_diag("%-3d %-60s %-11s %-11s %s", i + 1, rows[i].name,
			 errno_name(rows[i].expect), errno_name(rows[i].got),
			 rows[i].ok ? "ok" : "FAIL");
}

static void setup(const char *bdf)
{
	if (noiommu_open(&nd, bdf))
		tap_bail("cannot use the device: %s", nd.err);
	pagemap_fd = open("/proc/self/pagemap", O_RDONLY);
	if (pagemap_fd < 0)
		tap_bail("open /proc/self/pagemap: %s", strerror(errno));

	a_va = alloc_hugepages(&nd, SZ_2M);
	top_va = alloc_hugepages(&nd, SZ_2M);
	if (!a_va || !top_va)
		tap_bail("%s", nd.err);
	memset(a_va, 0xa5, SZ_2M);
	memset(top_va, 0x5a, SZ_2M);
	b_va = mmap(NULL, B_LEN, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b_va == MAP_FAILED)
		tap_bail("mmap: %s", strerror(errno));
	madvise(b_va, B_LEN, MADV_NOHUGEPAGE);
	memset(b_va, 0x3c, B_LEN);

	if (map_at(&nd, nd.ioas_id, a_va, SZ_2M, A_IOVA) ||
	    map_at(&nd, nd.ioas_id, b_va, B_LEN, B_IOVA) ||
	    map_at(&nd, nd.ioas_id, top_va, SZ_2M, TOP_IOVA))
		tap_bail("IOMMU_IOAS_MAP of A, B or the top of the IOVA space: %s",
			 strerror(errno));
	if (ioas_alloc(&ioas2) || map_at(&nd, ioas2, b_va, B_LEN, B_IOVA))
		tap_bail("second IOAS: %s", strerror(errno));
	ioas2_iova = B_IOVA;
	dmabuf_supported = probe_dmabuf();
}

int main(int argc, char **argv)
{
	unsigned long free_before = hugepages_free();
	unsigned long taint = kernel_taint();
	struct iommu_ioas_noiommu_get_pa cmd;
	long long unmapped;
	__u32 dead;
	int got;
	bool ok;

	if (argc != 2) {
		fprintf(stderr, "usage: %s BDF\n", argv[0]);
		return 2;
	}
	setup(argv[1]);
	tap_plan(NR_ROWS_BASE + dmabuf_supported + NR_FINAL);
	tap_diag("A: 2M hugepage at iova %#llx; hole of %lu bytes; B: %lu bytes of 4K pages at iova %#llx; top: 2M at iova %#llx",
		 (unsigned long long)A_IOVA, HOLE_LEN, B_LEN,
		 (unsigned long long)B_IOVA, (unsigned long long)TOP_IOVA);

	/* Edges of the mappings */
	row_success("first byte of A, length 1", nd.ioas_id, A_IOVA, a_va, 1,
		    1, 1);
	row_success("first byte of A, length ULLONG_MAX (whole hugepage)",
		    nd.ioas_id, A_IOVA, a_va, UINT64_MAX, SZ_2M, SZ_2M);
	row_success("last byte of A, length ULLONG_MAX", nd.ioas_id,
		    A_IOVA + SZ_2M - 1, a_va + SZ_2M - 1, UINT64_MAX, 1, 1);
	row_success("A + 0x123, length 0x10 (sub-page offset kept)",
		    nd.ioas_id, A_IOVA + 0x123, a_va + 0x123, 0x10, 0x10, 0x10);
	row_success("first byte of B, length ULLONG_MAX", nd.ioas_id, B_IOVA,
		    b_va, UINT64_MAX, 0, B_LEN);
	row_success("last byte of B, length ULLONG_MAX", nd.ioas_id,
		    B_IOVA + B_LEN - 1, b_va + B_LEN - 1, UINT64_MAX, 1, 1);
	row_errno("hole: first byte after A", ENOENT,
		  pa_req(nd.ioas_id, A_IOVA + SZ_2M, 1));
	row_errno("hole: middle of the hole between A and B", ENOENT,
		  pa_req(nd.ioas_id, A_IOVA + SZ_2M + HOLE_LEN / 2 + 0x77, 1));
	row_errno("hole: last byte before B", ENOENT,
		  pa_req(nd.ioas_id, B_IOVA - 1, UINT64_MAX));
	row_errno("iova 0 (never mapped)", ENOENT, pa_req(nd.ioas_id, 0, 1));
	row_success("top mapping: iova ULONG_MAX - 1, the last accepted",
		    nd.ioas_id, UINT64_MAX - 1, top_va + SZ_2M - 2, UINT64_MAX,
		    2, 2);
	row_errno("top mapping: iova ULONG_MAX (mapped, but too large)",
		  EOVERFLOW, pa_req(nd.ioas_id, UINT64_MAX, 1));
	row_errno("iova ULONG_MAX in an IOAS without that mapping", EOVERFLOW,
		  pa_req(ioas2, UINT64_MAX, 1));

	/* Fields, in the SPEC's order of checks */
	cmd = pa_req(nd.ioas_id, A_IOVA, 1);
	cmd.flags = 1;
	row_errno("flags 1", EOPNOTSUPP, cmd);
	cmd.flags = 1U << 31;
	row_errno("flags 0x80000000", EOPNOTSUPP, cmd);
	cmd = pa_req(nd.ioas_id, A_IOVA, 1);
	cmd.__reserved = 1;
	row_errno("__reserved 1", EOPNOTSUPP, cmd);
	row_errno("length 0", EINVAL, pa_req(nd.ioas_id, A_IOVA, 0));
	row_errno("ioas_id 0", ENOENT, pa_req(0, A_IOVA, 1));
	row_errno("ioas_id 0xdead (never allocated)", ENOENT,
		  pa_req(0xdead, A_IOVA, 1));
	row_errno("ioas_id of the device (object of another type)", ENOENT,
		  pa_req(nd.dev_id, A_IOVA, 1));
	got = ioas_alloc(&dead);
	if (!got)
		got = destroy(dead);
	if (got) {
		tap_diag("allocating and destroying an IOAS: %s",
			 strerror(got));
		row(ENOENT, -1, false, "ioas_id of a destroyed IOAS");
	} else {
		row_errno("ioas_id of a destroyed IOAS", ENOENT,
			  pa_req(dead, A_IOVA, 1));
	}
	row_errno("IOAS with no device attached, mapped iova", EOPNOTSUPP,
		  pa_req(ioas2, ioas2_iova, 1));
	row_errno("IOAS with no device attached, unmapped iova", ENOENT,
		  pa_req(ioas2, ioas2_iova + B_LEN, 1));

	got = detach_pt(&nd);
	if (got)
		tap_diag("VFIO_DEVICE_DETACH_IOMMUFD_PT: %s", strerror(got));
	row_errno("device detached from the IOAS, mapped iova", EOPNOTSUPP,
		  pa_req(nd.ioas_id, A_IOVA, 1));
	row_errno("device detached from the IOAS, unmapped iova", ENOENT,
		  pa_req(nd.ioas_id, A_IOVA + SZ_2M, 1));
	got = attach_pt(&nd, ioas2);
	if (got)
		tap_diag("VFIO_DEVICE_ATTACH_IOMMUFD_PT(ioas2): %s",
			 strerror(got));
	row_errno("device attached to another IOAS, mapped iova", EOPNOTSUPP,
		  pa_req(nd.ioas_id, A_IOVA, 1));
	row_success("device attached to another IOAS: that IOAS answers",
		    ioas2, ioas2_iova, b_va, UINT64_MAX, 0, B_LEN);
	got = attach_pt(&nd, nd.ioas_id);
	if (got)
		tap_diag("VFIO_DEVICE_ATTACH_IOMMUFD_PT(ioas): %s",
			 strerror(got));
	row_success("device back on the IOAS (replace), first byte of A",
		    nd.ioas_id, A_IOVA, a_va, UINT64_MAX, SZ_2M, SZ_2M);

	row_nocap("no CAP_SYS_RAWIO, valid request",
		  pa_req(nd.ioas_id, A_IOVA, 1));
	cmd = pa_req(0xdead, UINT64_MAX, 0);
	cmd.flags = 1;
	row_nocap("no CAP_SYS_RAWIO, flags 1, length 0, bad iova and IOAS",
		  cmd);

	/* Two faults at once: the first in the SPEC's order wins */
	cmd = pa_req(nd.ioas_id, A_IOVA, 0);
	cmd.flags = 1;
	row_errno("order: flags 1 and length 0", EOPNOTSUPP, cmd);
	cmd = pa_req(nd.ioas_id, UINT64_MAX, 1);
	cmd.__reserved = 1;
	row_errno("order: __reserved 1 and iova ULONG_MAX", EOPNOTSUPP, cmd);
	row_errno("order: length 0 and iova ULONG_MAX", EINVAL,
		  pa_req(nd.ioas_id, UINT64_MAX, 0));
	row_errno("order: iova ULONG_MAX and unknown ioas_id", EOVERFLOW,
		  pa_req(0xdead, UINT64_MAX, 1));

	size_rows();
	pointer_rows();
	command_rows();
	if (dmabuf_supported)
		row_dmabuf_revoked();

	print_table();

	/* Nothing lost */
	tap_ok(resolve_ok(A_IOVA, a_va, SZ_2M) &&
	       resolve_ok(B_IOVA, b_va, B_LEN) &&
	       resolve_ok(TOP_IOVA, top_va, SZ_2M - 1),
	       "after the bad inputs: GET_PA resolves A, B and the top mapping to what pagemap says");

	unmapped = unmap_all(nd.ioas_id);
	cmd = pa_req(nd.ioas_id, A_IOVA, 1);
	got = get_pa(&cmd);
	ok = unmapped == (long long)(2 * SZ_2M + B_LEN) && got == ENOENT;
	if (!ok)
		tap_diag("unmapped %lld bytes (%s), GET_PA afterwards %s",
			 unmapped, unmapped < 0 ? strerror(-unmapped) : "",
			 errno_name(got));
	tap_ok(ok, "unmap of the whole IOAS returns exactly the %lu mapped bytes; GET_PA then ENOENT",
	       2 * SZ_2M + B_LEN);

	got = detach_pt(&nd);
	ok = !got && unmap_all(ioas2) == B_LEN && !destroy(ioas2) &&
	     !destroy(nd.ioas_id);
	if (!ok)
		tap_diag("detach %s, destroy: %s", errno_name(got),
			 strerror(errno));
	tap_ok(ok, "after detach both IOASes can be destroyed (no reference left by the error paths)");

	noiommu_close(&nd);
	munmap(a_va, SZ_2M);
	munmap(top_va, SZ_2M);
	munmap(b_va, B_LEN);
	tap_ok(hugepages_free() == free_before,
	       "after close every hugepage is free again (%lu before, %lu after)",
	       free_before, hugepages_free());
	tap_taint(taint);
	return tap_finish();
}
