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
 * runner on the console. One test per path, each logging the number of
 * injection points it covered; a path with none fails (nothing was
 * tested).
 *
 * usage: noiommu_fail_nth [harness options] BDF
 *        NOIOMMU_BDF=BDF noiommu_fail_nth [harness options]
 */
#define _GNU_SOURCE
#include <sys/syscall.h>

#include "noiommu_utils.h"

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
	s->device_fd = open(dev.cdev, O_RDWR);
	if (s->device_fd < 0)
		return -1;
	s->iommufd = open("/dev/iommu", O_RDWR);
	if (s->iommufd < 0)
		return -1;
	return _test_cmd_bind(s->device_fd, s->iommufd, NULL);
}

static int do_attach(struct session *s)
{
	if (_test_ioctl_ioas_alloc(s->iommufd, &s->ioas_id))
		return -1;
	return _test_cmd_attach(s->device_fd, s->ioas_id, NULL);
}

/* Map at an IOVA the kernel picks */
static int do_map(struct session *s, void *va, size_t len, __u64 *iova)
{
	return _test_ioctl_ioas_map(s->iommufd, s->ioas_id, va, len, iova,
				    IOMMU_IOAS_MAP_READABLE |
				    IOMMU_IOAS_MAP_WRITEABLE);
}

/* GET_PA over a whole buffer; -1 on an error, -2 on a wrong answer */
static int check_get_pa(struct session *s, __u64 iova, const char *va,
			size_t len)
{
	__u64 n, pa;
	size_t off, p;

	for (off = 0; off < len; off += n) {
		n = len - off;
		if (_test_ioctl_get_pa(s->iommufd, s->ioas_id, iova + off, &n,
				       &pa))
			return -1;
		if (!n || n > len - off)
			return -2;
		for (p = 0; p < n; p += SZ_4K)
			if (va_to_pa(va + off + p) != pa + p)
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
		case STEP_TEARDOWN:
			ret = _test_cmd_detach(s->device_fd);
			session_close(s);
			break;
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

/*
 * A path that succeeded although a failure was injected did its job: the
 * session it left (injection off now) works on from step @last. The
 * device bound, it attaches; attached, a buffer maps and resolves; a
 * mapped buffer resolves to pagemap. (GET_PA checks its own answers;
 * after the teardown, device_usable() is the check.) 0, -1 or -2 as
 * run_path().
 */
static int check_done(struct session *s, enum step last)
{
	switch (last) {
	case STEP_OPEN_BIND:
		if (do_attach(s))
			return -1;
		/* fall through */
	case STEP_ATTACH:
		if (do_map(s, buf_4k, BUF_4K_LEN, &s->iova_4k))
			return -1;
		/* fall through */
	case STEP_MAP_4K:
		return check_get_pa(s, s->iova_4k, buf_4k, BUF_4K_LEN);
	case STEP_MAP_2M:
		return check_get_pa(s, s->iova_2m, buf_2m, BUF_2M_LEN);
	case STEP_GET_PA:
	case STEP_TEARDOWN:
		break;
	}
	return 0;
}

/*
 * Sweep the path from step @from to @last: inject the 1st, 2nd, ...
 * allocation until the path runs clean, checking after each injection
 * that it failed with an error or gave right answers, and that the device
 * works again.
 */
static void _sweep(struct __test_metadata *_metadata, enum step from,
		   enum step last)
{
	unsigned int nth, points = 0, errors = 0, handled = 0;
	struct session s;
	bool injected;
	int err, ret;

	for (nth = 1; nth <= MAX_ITERATIONS; nth++) {
		errno = 0;
		ret = run_path(&s, from, last, nth);
		err = errno;
		injected = nth_disable();
		if (!ret && injected)
			ret = check_done(&s, last) ? -2 : 0;
		session_close(&s);

		ASSERT_NE(-2, ret)
			TH_LOG("injection %u gave a wrong answer, or a success that does not work",
			       nth);
		if (!injected) {
			ASSERT_EQ(0, ret)
				TH_LOG("failed without injection: %s",
				       strerror(err));
			break;
		}
		points++;
		if (ret) {
			errors++;
			if (err != ENOMEM && err != EFAULT && err != ENOSPC &&
			    err != ENOENT)
				TH_LOG("injection %u reached userspace as %s",
				       nth, strerror(err));
		} else {
			handled++;
		}
		ASSERT_TRUE(device_usable())
			TH_LOG("device unusable after injection %u", nth);
	}
	ASSERT_GE((unsigned int)MAX_ITERATIONS, nth)
		TH_LOG("still injecting after %u allocations", MAX_ITERATIONS);
	ASSERT_LT(0U, points) TH_LOG("no allocation to inject");
	TH_LOG("%u injection points, %u failed with an error, %u handled by the kernel, device usable after each",
	       points, errors, handled);
}

/* The cdev, both buffers, fault injection on, and a clean run */
FIXTURE(fail_nth) {
	int unused;
};

/* One path: steps @from to @last, injected from @from on */
FIXTURE_VARIANT(fail_nth) {
	enum step from;
	enum step last;
};

/* The paths: each sweeps one step, the steps before it set up first */
#define FAIL_NTH_PATH(name, step)					\
	FIXTURE_VARIANT_ADD(fail_nth, name) { .from = step, .last = step }

FAIL_NTH_PATH(cdev_open_and_bind, STEP_OPEN_BIND);
FAIL_NTH_PATH(ioas_alloc_and_attach, STEP_ATTACH);
FAIL_NTH_PATH(ioas_map_4k_pages, STEP_MAP_4K);
FAIL_NTH_PATH(ioas_map_2m_page, STEP_MAP_2M);
FAIL_NTH_PATH(get_pa, STEP_GET_PA);
FAIL_NTH_PATH(detach_unbind_close, STEP_TEARDOWN);

FIXTURE_SETUP(fail_nth)
{
	ASSERT_TRUE(find_noiommu_cdev(&dev, noiommu_bdf)) TH_LOG("%s", dev.err);
	buf_4k = buf_alloc(BUF_4K_LEN, 0x33);
	buf_2m = huge_alloc(BUF_2M_LEN, 0x44);
	ASSERT_EQ(0, setup_fault_injection())
		TH_LOG("fault injection (debugfs, fail-nth): %s",
		       strerror(errno));
	ASSERT_TRUE(device_usable());
}

FIXTURE_TEARDOWN(fail_nth)
{
	if (nth_fd >= 0)
		nth_pause();
}

/* On the sanitizer kernel a sweep takes minutes (its timeout scales) */
TEST_F_TIMEOUT(fail_nth, sweep, 300)
{
	_sweep(_metadata, variant->from, variant->last);
}

int main(int argc, char *argv[])
{
	return noiommu_main(argc, argv);
}
