// SPDX-License-Identifier: GPL-2.0
/*
 * Fault injection on every no-IOMMU path, in the manner of the kernel's
 * tools/testing/selftests/iommu/iommufd_fail_nth.c: for each path, fail the
 * 1st, 2nd, ... allocation the kernel makes for this task
 * (/proc/self/task/TID/fail-nth) until the path runs with nothing left to
 * inject. After every injection:
 *  - the path either fails with an error that reaches userspace, or
 *    succeeds with correct answers (the kernel may retry an allocation in
 *    a smaller size, as iommufd's page pinning does);
 *  - the device can be bound and used normally again (GET_PA of a mapped
 *    buffer matches /proc/self/pagemap).
 * Kernel reports (KASAN, kmemleak, lockdep, WARN) are caught by the VM
 * runner on the console. Prints TAP, one result per path, and the number
 * of injection points each path covered.
 *
 * usage: noiommu_fail_nth BDF
 */
#define _GNU_SOURCE
#include <sys/syscall.h>

#include "../../examples/noiommu.h"
#include "tap.h"

#define MAX_ITERATIONS	5000
#define BUF_4K_LEN	(16 * 4096UL)
#define BUF_2M_LEN	(2UL << 20)

static struct noiommu_dev dev;	/* bdf and cdev; each session has its fds */
static int nth_fd = -1;
static void *buf_4k, *buf_2m;

struct session {
	int device_fd;
	int iommufd;
	__u32 ioas_id;
	__u64 iova_4k;
	__u64 iova_2m;
};

/* Paths go up to a step; the steps before the path's own are set up first */
enum step {
	STEP_OPEN_BIND,
	STEP_ATTACH,
	STEP_MAP_4K,
	STEP_MAP_2M,
	STEP_GET_PA,
	STEP_TEARDOWN,
};

/*
 * Let every allocation be injected, and keep the console quiet. With
 * IOMMUFD_TEST, fail-nth also fails iommufd's object lookups (ENOENT), as
 * in iommufd_fail_nth; that attribute is there only on such kernels.
 */
static int setup_fault_injection(void)
{
	static const char *const quiet[] = { "failslab", "fail_page_alloc" };
	static const char iommufd_verbose[] =
		"/sys/kernel/debug/fail_iommufd/verbose";
	char path[PATH_MAX];
	unsigned int i;

	if (!access(iommufd_verbose, F_OK) && write_file(iommufd_verbose, "0"))
		return -1;

	if (write_file("/sys/kernel/debug/failslab/ignore-gfp-wait", "N") ||
	    write_file("/sys/kernel/debug/fail_page_alloc/ignore-gfp-wait", "N") ||
	    write_file("/sys/kernel/debug/fail_page_alloc/ignore-gfp-highmem", "N"))
		return -1;
	for (i = 0; i < ARRAY_SIZE(quiet); i++) {
		snprintf(path, sizeof(path), "/sys/kernel/debug/%s/verbose",
			 quiet[i]);
		if (write_file(path, "0"))
			return -1;
	}
	snprintf(path, sizeof(path), "/proc/self/task/%ld/fail-nth",
		 (long)syscall(SYS_gettid));
	nth_fd = open(path, O_RDWR);
	return nth_fd < 0 ? -1 : 0;
}

static void nth_enable(unsigned int n)
{
	char val[16];
	int len = snprintf(val, sizeof(val), "%u", n);

	if (pwrite(nth_fd, val, len, 0) != len)
		abort();
}

/*
 * Turn injection off, returning what was left of the countdown: 0 once the
 * failure was injected. Also holds the injection while the test itself
 * makes system calls that are not the path under test (reading pagemap
 * allocates too), see nth_resume().
 */
static unsigned int nth_pause(void)
{
	char val[16] = "";

	if (pread(nth_fd, val, sizeof(val) - 1, 0) <= 0 ||
	    pwrite(nth_fd, "0", 1, 0) != 1)
		abort();
	return atoi(val);
}

/* Turn injection off; true if the failure was injected */
static bool nth_disable(void)
{
	return nth_pause() == 0;
}

static void nth_resume(unsigned int left)
{
	if (left)
		nth_enable(left);
}

/* pagemap's physical address of @va, 0 if unknown; injection held */
static __u64 va_to_pa(const void *va)
{
	unsigned int left = nth_pause();
	int fd = open("/proc/self/pagemap", O_RDONLY);
	__u64 pa = 0;

	if (fd >= 0) {
		pa = pagemap_pa(fd, va);
		close(fd);
	}
	nth_resume(left);
	return pa;
}

static int do_open_bind(struct session *s)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };

	s->device_fd = open(dev.cdev, O_RDWR);
	if (s->device_fd < 0)
		return -1;
	s->iommufd = open("/dev/iommu", O_RDWR);
	if (s->iommufd < 0)
		return -1;
	bind.iommufd = s->iommufd;
	return ioctl(s->device_fd, VFIO_DEVICE_BIND_IOMMUFD, &bind);
}

static int do_attach(struct session *s)
{
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	struct vfio_device_attach_iommufd_pt attach = {
		.argsz = sizeof(attach),
	};

	if (ioctl(s->iommufd, IOMMU_IOAS_ALLOC, &alloc))
		return -1;
	s->ioas_id = alloc.out_ioas_id;
	attach.pt_id = s->ioas_id;
	return ioctl(s->device_fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach);
}

static int do_map(struct session *s, void *va, size_t len, __u64 *iova)
{
	struct iommu_ioas_map map = {
		.size = sizeof(map),
		.flags = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE,
		.ioas_id = s->ioas_id,
		.user_va = (uintptr_t)va,
		.length = len,
	};

	if (ioctl(s->iommufd, IOMMU_IOAS_MAP, &map))
		return -1;
	*iova = map.iova;
	return 0;
}

/* GET_PA over a whole buffer; -1 on an error, -2 on a wrong answer */
static int check_get_pa(struct session *s, __u64 iova, const char *va,
			size_t len)
{
	struct iommu_ioas_noiommu_get_pa pa = {
		.size = sizeof(pa),
		.ioas_id = s->ioas_id,
	};
	size_t off, p;

	for (off = 0; off < len; off += pa.length) {
		pa.iova = iova + off;
		pa.length = len - off;
		if (ioctl(s->iommufd, IOMMU_IOAS_NOIOMMU_GET_PA, &pa))
			return -1;
		if (!pa.length || pa.length > len - off)
			return -2;
		for (p = 0; p < pa.length; p += 4096)
			if (va_to_pa(va + off + p) != pa.out_phys + p)
				return -2;
	}
	return 0;
}

static void session_close(struct session *s)
{
	if (s->device_fd >= 0)
		close(s->device_fd);
	if (s->iommufd >= 0)
		close(s->iommufd);
	s->device_fd = -1;
	s->iommufd = -1;
}

/*
 * Run the steps up to @last, injecting the @nth allocation from step @from
 * on (0: inject nothing). Returns 0, -1 if a step failed, -2 if a step
 * succeeded with a wrong answer. Leaves the session open for the caller.
 */
static int run_path(struct session *s, enum step from, enum step last,
		    unsigned int nth)
{
	enum step step;
	int ret = 0;

	*s = (struct session){ .device_fd = -1, .iommufd = -1 };
	for (step = STEP_OPEN_BIND; step <= last && !ret; step++) {
		if (step == from && nth)
			nth_enable(nth);
		switch (step) {
		case STEP_OPEN_BIND:
			ret = do_open_bind(s);
			break;
		case STEP_ATTACH:
			ret = do_attach(s);
			break;
		case STEP_MAP_4K:
			ret = do_map(s, buf_4k, BUF_4K_LEN, &s->iova_4k);
			break;
		case STEP_MAP_2M:
			ret = do_map(s, buf_2m, BUF_2M_LEN, &s->iova_2m);
			break;
		case STEP_GET_PA:
			ret = check_get_pa(s, s->iova_4k, buf_4k, BUF_4K_LEN) ?:
			      check_get_pa(s, s->iova_2m, buf_2m, BUF_2M_LEN);
			break;
		case STEP_TEARDOWN: {
			struct vfio_device_detach_iommufd_pt detach = {
				.argsz = sizeof(detach),
			};

			ret = ioctl(s->device_fd, VFIO_DEVICE_DETACH_IOMMUFD_PT,
				    &detach);
			session_close(s);
			break;
		}
		}
	}
	return ret;
}

/* The device works from scratch: the whole path with nothing injected */
static bool device_usable(void)
{
	struct session s;
	int ret;

	ret = run_path(&s, STEP_OPEN_BIND, STEP_GET_PA, 0);
	session_close(&s);
	return !ret;
}

struct path {
	const char *name;
	enum step from;
	enum step last;
};

static const struct path paths[] = {
	{ "cdev open + bind", STEP_OPEN_BIND, STEP_OPEN_BIND },
	{ "IOAS alloc + attach", STEP_ATTACH, STEP_ATTACH },
	{ "IOAS_MAP of 4K pages", STEP_MAP_4K, STEP_MAP_4K },
	{ "IOAS_MAP of a 2M page", STEP_MAP_2M, STEP_MAP_2M },
	{ "GET_PA", STEP_GET_PA, STEP_GET_PA },
	{ "detach, unbind and close", STEP_TEARDOWN, STEP_TEARDOWN },
};

/* Sweep one path; its result if it passes, false after a diagnostic if not */
static bool sweep(const struct path *p)
{
	unsigned int nth, points = 0, errors = 0, handled = 0;
	int err, ret;
	struct session s;
	bool injected;

	for (nth = 1; nth <= MAX_ITERATIONS; nth++) {
		errno = 0;
		ret = run_path(&s, p->from, p->last, nth);
		err = errno;
		injected = nth_disable();
		session_close(&s);

		if (ret == -2) {
			tap_diag("  %s: injection %u gave a wrong answer",
				 p->name, nth);
			return false;
		}
		if (!injected) {
			if (ret) {
				tap_diag("  %s: failed without injection: %s",
					 p->name, strerror(err));
				return false;
			}
			break;
		}
		points++;
		if (ret) {
			errors++;
			if (err != ENOMEM && err != EFAULT && err != ENOSPC &&
			    err != ENOENT)
				tap_diag("  %s: injection %u reached userspace as %s",
					 p->name, nth, strerror(err));
		} else {
			handled++;
		}
		if (!device_usable()) {
			tap_diag("  %s: device unusable after injection %u",
				 p->name, nth);
			return false;
		}
	}
	if (nth > MAX_ITERATIONS) {
		tap_diag("  %s: still injecting after %u allocations", p->name,
			 MAX_ITERATIONS);
		return false;
	}
	if (!points) {
		tap_diag("  %s: no allocation to inject", p->name);
		return false;
	}
	return tap_ok(true, "%s: %u injection points, %u failed with an error, %u handled by the kernel, device usable after each",
		      p->name, points, errors, handled);
}

int main(int argc, char *argv[])
{
	unsigned int i, nr = ARRAY_SIZE(paths);

	if (argc != 2) {
		fprintf(stderr, "usage: %s BDF\n", argv[0]);
		return 2;
	}
	tap_plan(nr + 1);

	copy_str(dev.bdf, sizeof(dev.bdf), argv[1]);
	find_cdev(&dev, "noiommu-vfio");
	buf_4k = mmap(NULL, BUF_4K_LEN, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	buf_2m = mmap(NULL, BUF_2M_LEN, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	if (!dev.cdev[0] || buf_4k == MAP_FAILED || buf_2m == MAP_FAILED ||
	    setup_fault_injection() || !device_usable()) {
		tap_ok(false, "setup: cdev %s, buffers, fault injection (debugfs, fail-nth), a clean run",
		       dev.cdev[0] ? dev.cdev : "missing");
		for (i = 0; i < nr; i++)
			tap_ok(false, "%s: not run", paths[i].name);
		return tap_finish();
	}
	memset(buf_4k, 0x33, BUF_4K_LEN);
	memset(buf_2m, 0x44, BUF_2M_LEN);
	tap_ok(true, "setup: %s, fault injection on", dev.cdev);

	for (i = 0; i < nr; i++)
		if (!sweep(&paths[i]))
			tap_ok(false, "%s", paths[i].name);
	return tap_finish();
}
