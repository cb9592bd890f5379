/* SPDX-License-Identifier: GPL-2.0 */
/*
 * noiommu_utils.h - what the in-guest tests share, in the style of
 * tools/testing/selftests/iommu/iommufd_utils.h, which it includes for
 * the iommufd ioctls that header already wraps (IOAS alloc, map, unmap,
 * map_file, destroy, HWPT and vIOMMU/vDevice alloc, the mock device).
 * Here: the VFIO cdev ioctls that bind a device to iommufd (bind,
 * attach, detach, BAR0 dma-buf), IOMMU_IOAS_NOIOMMU_GET_PA, pagemap,
 * finding the no-IOMMU cdev of a PCI device, identities and capabilities,
 * and the program's main(). The edu device itself (BAR0, DMA) is
 * examples/noiommu.h's, as the example driver uses it.
 *
 * As in iommufd_utils.h, _test_*() return what ioctl() returns (0, or -1
 * with errno set); errno_of() turns that into 0 or the errno for a test
 * that records or compares errnos. test_*() wrap them in an ASSERT on the
 * fixture's struct noiommu_dev, self->nd.
 *
 * Every program is a single C file on the kselftest harness that defines
 * _GNU_SOURCE before its first #include, and ends with
 *   int main(int argc, char *argv[]) { return noiommu_main(argc, argv); }
 * taking the BDF of the edu device (bound to vfio-pci in no-IOMMU mode)
 * as its last argument or from $NOIOMMU_BDF. $NOIOMMU_TIMEOUT_SCALE
 * multiplies every test's timeout (the sanitizer kernel is slower).
 *
 * A loop around an ASSERT or EXPECT takes braces: the harness puts the
 * handler (the TH_LOG after it, an ASSERT's bail out) in a statement of
 * its own after the check, which without braces runs after the loop.
 */
#ifndef NOIOMMU_UTILS_H
#define NOIOMMU_UTILS_H

#ifndef _GNU_SOURCE
#error "define _GNU_SOURCE before the first #include to use noiommu_utils.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/capability.h>
#include <linux/iommufd.h>
#include <linux/vfio.h>

/* Upstream's header: built there with -Wno-unused-function */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-variable"
#include "iommu/iommufd_utils.h"
#pragma GCC diagnostic pop

#include "../../examples/noiommu.h"

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#endif

/* The edu device under test (noiommu_main()), NULL if none was given */
static const char *noiommu_bdf;
/* The kernel's taint flags when the program started */
static unsigned long noiommu_taint_before;

/* 0 if @ret (an ioctl()'s return) is 0, else errno */
static inline int errno_of(int ret)
{
	return ret ? errno : 0;
}

/* "EPERM" for EPERM, "0" for 0 */
static inline const char *errno_name(int err)
{
	static __thread char buf[16];
	const char *name;

	if (!err)
		return "0";
	name = strerrorname_np(err);
	if (name)
		return name;
	snprintf(buf, sizeof(buf), "errno %d", err);
	return buf;
}

/* ---- VFIO device cdev ---- */

/*
 * ioctl(@fd, @request, @cmd); on success, the ID the kernel wrote back at
 * @answer (a field of *@cmd) in *@out, unless @out is NULL
 */
static inline int _ioctl_answer_id(int fd, unsigned long request, void *cmd,
				   const __u32 *answer, __u32 *out)
{
	int ret = ioctl(fd, request, cmd);

	if (!ret && out)
		*out = *answer;
	return ret;
}

/* Bind the device of @device_fd to @iommufd; its ID there in *@dev_id */
static inline int _test_cmd_bind(int device_fd, int iommufd, __u32 *dev_id)
{
	struct vfio_device_bind_iommufd cmd = { .argsz = sizeof(cmd), .iommufd = iommufd };

	return _ioctl_answer_id(device_fd, VFIO_DEVICE_BIND_IOMMUFD, &cmd,
				&cmd.out_devid, dev_id);
}

/*
 * Attach the device to the IOAS or HWPT @pt_id, or replace what it is
 * attached to; the HWPT it ends up on in *@hwpt_id.
 */
static inline int _test_cmd_attach(int device_fd, __u32 pt_id, __u32 *hwpt_id)
{
	struct vfio_device_attach_iommufd_pt cmd = { .argsz = sizeof(cmd), .pt_id = pt_id };

	return _ioctl_answer_id(device_fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &cmd,
				&cmd.pt_id, hwpt_id);
}

static inline int _test_cmd_detach(int device_fd)
{
	struct vfio_device_detach_iommufd_pt cmd = { .argsz = sizeof(cmd) };

	return ioctl(device_fd, VFIO_DEVICE_DETACH_IOMMUFD_PT, &cmd);
}

/*
 * A dma-buf of the first @length bytes of BAR0 of @device_fd
 * (VFIO_DEVICE_FEATURE_DMA_BUF): its fd, or -1 with errno.
 */
static inline int vfio_bar0_dmabuf(int device_fd, __u64 length)
{
	struct {
		struct vfio_device_feature feat;
		struct vfio_device_feature_dma_buf get;
		struct vfio_region_dma_range range;
	} __attribute__((packed)) cmd = {
		.feat = {
			.argsz = sizeof(cmd),
			.flags = VFIO_DEVICE_FEATURE_GET |
				 VFIO_DEVICE_FEATURE_DMA_BUF,
		},
		.get = {
			.region_index = VFIO_PCI_BAR0_REGION_INDEX,
			.open_flags = O_RDWR | O_CLOEXEC,
			.nr_ranges = 1,
		},
		.range = { .offset = 0, .length = length },
	};

	return ioctl(device_fd, VFIO_DEVICE_FEATURE, &cmd);
}

/* PCI_COMMAND_MEMORY on or off (off revokes vfio-pci's dma-bufs) */
static inline int set_memory_decoding(struct noiommu_dev *nd, bool on)
{
	__u16 cmd;

	if (pread(nd->device_fd, &cmd, sizeof(cmd),
		  nd->config_offset + PCI_COMMAND) != sizeof(cmd))
		return -1;
	cmd = on ? cmd | PCI_COMMAND_MEMORY : cmd & ~PCI_COMMAND_MEMORY;
	if (pwrite(nd->device_fd, &cmd, sizeof(cmd),
		   nd->config_offset + PCI_COMMAND) != sizeof(cmd))
		return -1;
	return 0;
}

/* ---- IOAS map at a fixed IOVA, read-write (iommufd_utils.h's map) ---- */

static inline int _test_ioas_map_at(int iommufd, __u32 ioas_id, void *va,
				    size_t len, __u64 iova)
{
	return _test_ioctl_ioas_map(iommufd, ioas_id, va, len, &iova,
				    IOMMU_IOAS_MAP_FIXED_IOVA |
				    IOMMU_IOAS_MAP_READABLE |
				    IOMMU_IOAS_MAP_WRITEABLE);
}

/* ---- IOMMU_IOAS_NOIOMMU_GET_PA ---- */

/* A GET_PA request for @length bytes from @iova in IOAS @ioas_id */
static inline struct iommu_ioas_noiommu_get_pa pa_req(__u32 ioas_id,
						      __u64 iova, __u64 length)
{
	return (struct iommu_ioas_noiommu_get_pa){
		.size = sizeof(struct iommu_ioas_noiommu_get_pa),
		.ioas_id = ioas_id,
		.iova = iova,
		.length = length,
	};
}

/* GET_PA with any argument, even a bad one */
static inline int _test_ioctl_get_pa_raw(int iommufd, void *arg)
{
	return ioctl(iommufd, IOMMU_IOAS_NOIOMMU_GET_PA, arg);
}

/*
 * GET_PA of @iova in @ioas_id for at most *@len bytes: the physical
 * address in *@pa, the contiguous length answered in *@len
 */
static inline int _test_ioctl_get_pa(int iommufd, __u32 ioas_id, __u64 iova,
				     __u64 *len, __u64 *pa)
{
	struct iommu_ioas_noiommu_get_pa cmd = pa_req(ioas_id, iova, *len);
	int ret = _test_ioctl_get_pa_raw(iommufd, &cmd);

	if (!ret) {
		*len = cmd.length;
		*pa = cmd.out_phys;
	}
	return ret;
}

/* ---- /proc/self/pagemap ---- */

#define PAGEMAP_PRESENT		(1ULL << 63)
#define PAGEMAP_PFN_MASK	((1ULL << 55) - 1)

/*
 * Physical addresses of the @nr 4K pages from @va (page aligned) according
 * to the pagemap file @fd (/proc/self/pagemap opened with CAP_SYS_ADMIN,
 * else every PFN reads 0). A page that is not present reads 0. Returns 0,
 * or -1 if pagemap could not be read.
 */
static inline int pagemap_pas(int fd, const void *va, size_t nr, uint64_t *pa)
{
	uintptr_t first = (uintptr_t)va / SZ_4K;
	size_t done = 0, i;

	while (done < nr) {
		ssize_t n = pread(fd, pa + done, (nr - done) * sizeof(*pa),
				  (first + done) * sizeof(*pa));

		if (n <= 0 || n % sizeof(*pa))
			return -1;
		done += n / sizeof(*pa);
	}
	for (i = 0; i < nr; i++)
		pa[i] = (pa[i] & PAGEMAP_PRESENT) ?
			(pa[i] & PAGEMAP_PFN_MASK) * SZ_4K : 0;
	return 0;
}

/* Physical address of the byte at @va, 0 if unknown */
static inline uint64_t pagemap_pa(int fd, const void *va)
{
	uint64_t pa;

	if (pagemap_pas(fd, (const void *)((uintptr_t)va / SZ_4K * SZ_4K), 1,
			&pa) || !pa)
		return 0;
	return pa + (uintptr_t)va % SZ_4K;
}

/* pagemap_pas() of this process, opening /proc/self/pagemap itself */
static inline int self_pagemap_pas(const void *va, size_t nr, uint64_t *pa)
{
	int fd = open("/proc/self/pagemap", O_RDONLY), ret;

	if (fd < 0)
		return -1;
	ret = pagemap_pas(fd, va, nr, pa);
	close(fd);
	return ret;
}

/*
 * GET_PA resolves [@iova, @iova + @len) of @ioas_id, the mapping of @va,
 * to pagemap's addresses: each answer, asking for the rest, starts at
 * pagemap's address, spans pages that pagemap has contiguous, and stops
 * only where they stop being contiguous (or at the end). Read pagemap
 * after the map: a FOLL_LONGTERM pin may migrate a page first.
 */
static inline void _test_get_pa_is_pagemap(struct __test_metadata *_metadata,
					   int iommufd, __u32 ioas_id,
					   __u64 iova, const void *va,
					   size_t len)
{
	size_t first = (uintptr_t)va % SZ_4K, npages, i, k;
	const char *page = (const char *)va - first;
	__u64 off = 0;
	uint64_t *map;

	npages = (first + len + SZ_4K - 1) / SZ_4K;
	map = calloc(npages + 1, sizeof(*map));
	ASSERT_NE(NULL, map);
	ASSERT_EQ(0, self_pagemap_pas(page, npages, map));
	while (off < len) {
		__u64 n = len - off, pa = 0;

		i = (first + off) / SZ_4K;
		/* pagemap hides PFNs from a process without CAP_SYS_ADMIN */
		ASSERT_NE((uint64_t)0, map[i]);
		ASSERT_EQ(0, _test_ioctl_get_pa(iommufd, ioas_id, iova + off,
						&n, &pa))
			TH_LOG("GET_PA(ioas %u, iova %#llx): %s", ioas_id,
			       (unsigned long long)(iova + off),
			       strerror(errno));
		ASSERT_EQ(map[i] + (first + off) % SZ_4K, pa)
			TH_LOG("GET_PA of iova %#llx", (unsigned long long)(iova + off));
		ASSERT_LT((__u64)0, n);
		ASSERT_GE(len - off, n);
		/* Contiguous as far as it says, and no further */
		for (k = i + 1; k < (first + off + n + SZ_4K - 1) / SZ_4K; k++) {
			ASSERT_EQ(map[i] + (k - i) * SZ_4K, map[k]);
		}
		if (off + n < len) {
			ASSERT_EQ(0U, (first + off + n) % SZ_4K);
			k = (first + off + n) / SZ_4K;
			ASSERT_NE(map[k - 1] + SZ_4K, map[k])
				TH_LOG("GET_PA stopped at %#llx bytes, memory stays contiguous",
				       (unsigned long long)n);
		}
		off += n;
	}
	free(map);
}

/* ---- sysfs, nodes, identities ---- */

/* Write the string @val to @path (a sysfs or procfs file); 0 or -1 */
static inline int write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, val, strlen(val));
	close(fd);
	if (n >= 0 && n != (ssize_t)strlen(val))
		errno = EIO;
	return n == (ssize_t)strlen(val) ? 0 : -1;
}

/* Open @path read-write and close it again; 0 or the errno of open() */
static inline int open_err(const char *path)
{
	int fd = open(path, O_RDWR);

	if (fd < 0)
		return errno;
	close(fd);
	return 0;
}

/* @s is a PCI address DDDD:BB:DD.F */
static inline bool is_bdf(const char *s)
{
	unsigned int seg, bus, dev, fn;
	int len = 0;

	return s && sscanf(s, "%4x:%2x:%2x.%1x%n", &seg, &bus, &dev, &fn,
			   &len) == 4 && len == (int)strlen(s);
}

/*
 * Start @nd afresh for PCI device @bdf, nothing open, and find its
 * no-IOMMU cdev (noiommu-vfioN); false, with nd->err saying why, if it has
 * none.
 */
static inline bool find_noiommu_cdev(struct noiommu_dev *nd, const char *bdf)
{
	memset(nd, 0, sizeof(*nd));
	nd->device_fd = -1;
	nd->iommufd = -1;
	copy_str(nd->bdf, sizeof(nd->bdf), bdf ? bdf : "");
	if (!bdf) {
		nd_fail(nd, "no BDF: pass it as the last argument or in NOIOMMU_BDF");
		return false;
	}
	if (find_cdev(nd, "noiommu-vfio"))
		return true;
	explain_no_cdev(nd);
	return false;
}

/*
 * Kernel taint flags that mean the kernel reported a problem: bad page,
 * oops (die), warning, soft lockup.
 */
#define TAINT_PROBLEMS	((1UL << 5) | (1UL << 7) | (1UL << 9) | (1UL << 14))

static inline unsigned long kernel_taint(void)
{
	unsigned long taint = 0;
	FILE *f = fopen("/proc/sys/kernel/tainted", "r");

	if (f) {
		if (fscanf(f, "%lu", &taint) != 1)
			taint = 0;
		fclose(f);
	}
	return taint;
}

/* The kernel gained no problem taint since the program started */
#define ASSERT_NO_NEW_TAINT()						\
	ASSERT_EQ(0UL, kernel_taint() & ~noiommu_taint_before &		\
		       TAINT_PROBLEMS)					\
		TH_LOG("the kernel reported a bad page, oops, warning or soft lockup")

/* Drop @cap from this thread's effective, permitted and inheritable sets */
static inline int caps_drop(int cap)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	if (syscall(SYS_capget, &hdr, data))
		return -1;
	data[CAP_TO_INDEX(cap)].effective &= ~CAP_TO_MASK(cap);
	data[CAP_TO_INDEX(cap)].permitted &= ~CAP_TO_MASK(cap);
	data[CAP_TO_INDEX(cap)].inheritable &= ~CAP_TO_MASK(cap);
	return syscall(SYS_capset, &hdr, data);
}

/* ---- the edu device in a fixture ---- */

/* Open the edu device's noiommu-vfioN cdev and bind it to a new iommufd */
static inline void _edu_bind(struct __test_metadata *_metadata,
			     struct noiommu_dev *nd)
{
	ASSERT_TRUE(find_noiommu_cdev(nd, noiommu_bdf))
		TH_LOG("%s", nd->err);
	ASSERT_EQ(0, open_cdev(nd))
		TH_LOG("%s", nd->err);
	nd->iommufd = open("/dev/iommu", O_RDWR);
	ASSERT_LE(0, nd->iommufd);
	ASSERT_EQ(0, _test_cmd_bind(nd->device_fd, nd->iommufd, &nd->dev_id));
}
#define edu_bind(nd) _edu_bind(_metadata, nd)

/*
 * The whole of examples/noiommu.h's noiommu_open(): bound, attached to a
 * new IOAS (nd->ioas_id), bus mastering on, BAR0 mapped
 */
#define edu_open(nd)							\
	ASSERT_EQ(0, noiommu_open(nd, noiommu_bdf ?: ""))		\
		TH_LOG("%s", (nd)->err)

/* Anonymous 4K pages, never a THP, filled with @fill */
static inline void *_buf_alloc(struct __test_metadata *_metadata, size_t len,
			       int fill)
{
	void *buf = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ASSERT_NE(MAP_FAILED, buf);
	madvise(buf, len, MADV_NOHUGEPAGE);
	memset(buf, fill, len);
	return buf;
}
#define buf_alloc(len, fill) _buf_alloc(_metadata, len, fill)

/* 2M hugepages, filled with @fill */
static inline void *_huge_alloc(struct __test_metadata *_metadata,
				size_t len, int fill)
{
	struct noiommu_dev tmp;
	void *buf = alloc_hugepages(&tmp, len);

	ASSERT_NE(NULL, buf) TH_LOG("%s", tmp.err);
	memset(buf, fill, len);
	return buf;
}
#define huge_alloc(len, fill) _huge_alloc(_metadata, len, fill)

/* The ioctls on self->nd, asserting their outcome */
#define test_ioas_alloc(ioas_id)					\
	ASSERT_EQ(0, _test_ioctl_ioas_alloc(self->nd.iommufd, ioas_id))
#define test_attach(pt_id, hwpt_id)					\
	ASSERT_EQ(0, _test_cmd_attach(self->nd.device_fd, pt_id, hwpt_id))
#define test_err_attach(_errno, pt_id)					\
	EXPECT_ERRNO(_errno, _test_cmd_attach(self->nd.device_fd, pt_id, NULL))
#define test_detach() ASSERT_EQ(0, _test_cmd_detach(self->nd.device_fd))
/* A no-IOMMU HWPT of the device on @pt_id, its ID in *@hwpt_id */
#define test_hwpt_alloc(pt_id, hwpt_id)					\
	ASSERT_EQ(0, _test_cmd_hwpt_alloc(self->nd.iommufd, self->nd.dev_id, \
					  pt_id, 0, 0, hwpt_id,		\
					  IOMMU_HWPT_DATA_NONE, NULL, 0))
#define test_ioas_map(ioas_id, buf, len, iova)				\
	ASSERT_EQ(0, _test_ioas_map_at(self->nd.iommufd, ioas_id, buf, len, \
				       iova))
#define test_err_ioas_map(_errno, ioas_id, buf, len, iova)		\
	EXPECT_ERRNO(_errno, _test_ioas_map_at(self->nd.iommufd, ioas_id, \
					       buf, len, iova))
/* All of [iova, iova + len) was mapped and is unmapped */
#define test_ioas_unmap(ioas_id, iova, len)				\
	({								\
		uint64_t __unmapped = 0;				\
		ASSERT_EQ(0, _test_ioctl_ioas_unmap(self->nd.iommufd,	\
						    ioas_id, iova, len,	\
						    &__unmapped));	\
		ASSERT_EQ((uint64_t)(len), __unmapped);			\
	})
#define test_destroy(id)						\
	ASSERT_EQ(0, _test_ioctl_destroy(self->nd.iommufd, id))
#define test_err_destroy(_errno, id)					\
	EXPECT_ERRNO(_errno, _test_ioctl_destroy(self->nd.iommufd, id))
#define test_err_get_pa(_errno, ioas_id, iova)				\
	({								\
		__u64 __len = SZ_4K, __pa = 0;				\
		EXPECT_ERRNO(_errno,					\
			     _test_ioctl_get_pa(self->nd.iommufd, ioas_id, \
						iova, &__len, &__pa));	\
	})
#define test_get_pa_is_pagemap(ioas_id, iova, va, len)			\
	_test_get_pa_is_pagemap(_metadata, self->nd.iommufd, ioas_id, iova, \
				va, len)

/*
 * The last fixture of a program (the harness runs fixtures in the order
 * they are declared, "global" first): end.no_new_taint, after which a
 * program may add end.* tests of its own.
 */
#define NOIOMMU_END_TESTS()						\
	FIXTURE(end) {							\
		int unused;						\
	};								\
	FIXTURE_SETUP(end)						\
	{								\
	}								\
	FIXTURE_TEARDOWN(end)						\
	{								\
	}								\
	TEST_F(end, no_new_taint)					\
	{								\
		ASSERT_NO_NEW_TAINT();					\
	}

/* ---- main() ---- */

/*
 * The BDF a program is to test: its last argument if that is a BDF, taken
 * off argv (as the kernel's vfio selftests do) before the harness parses
 * its own options (-r, -f, -l, ...); else $NOIOMMU_BDF, which may be unset.
 */
static inline const char *bdf_arg(int *argc, char *argv[])
{
	const char *bdf;

	if (*argc > 1 && is_bdf(argv[*argc - 1])) {
		bdf = argv[--*argc];
		argv[*argc] = NULL;
		return bdf;
	}
	bdf = getenv("NOIOMMU_BDF");
	return is_bdf(bdf) ? bdf : NULL;
}

/*
 * Take the BDF, scale every test's timeout by $NOIOMMU_TIMEOUT_SCALE (a
 * whole number, 1 by default), note the kernel's taint and run the tests.
 * Without a BDF each test fails on its own (find_noiommu_cdev() says why).
 */
static inline int noiommu_main(int argc, char *argv[])
{
	const char *env = getenv("NOIOMMU_TIMEOUT_SCALE");
	struct __fixture_metadata *f;
	struct __test_metadata *t;
	long scale = 1;

	noiommu_bdf = bdf_arg(&argc, argv);
	if (env && *env) {
		char *end;

		scale = strtol(env, &end, 10);
		if (*end || scale < 1 || scale > 100) {
			fprintf(stderr, "NOIOMMU_TIMEOUT_SCALE wants a whole number from 1 to 100, not '%s'\n",
				env);
			return KSFT_FAIL;
		}
	}
	for (f = __fixture_list; f; f = f->next)
		for (t = f->tests; t; t = t->next)
			t->timeout *= scale;
	noiommu_taint_before = kernel_taint();
	return test_harness_run(argc, argv);
}

#endif /* NOIOMMU_UTILS_H */
