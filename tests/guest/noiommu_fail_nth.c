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
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include <linux/vfio.h>

#define MAX_ITERATIONS	5000
#define BUF_4K_LEN	(16 * 4096UL)
#define BUF_2M_LEN	(2UL << 20)

static const char *bdf;
static char cdev[PATH_MAX];
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

static int write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, val, strlen(val));
	close(fd);
	return n == (ssize_t)strlen(val) ? 0 : -1;
}

/* Let every allocation be injected, and keep the console quiet */
static int setup_fault_injection(void)
{
	static const char *const quiet[] = { "failslab", "fail_page_alloc" };
	char path[PATH_MAX];
	unsigned int i;

	if (write_file("/sys/kernel/debug/failslab/ignore-gfp-wait", "N") ||
	    write_file("/sys/kernel/debug/fail_page_alloc/ignore-gfp-wait", "N") ||
	    write_file("/sys/kernel/debug/fail_page_alloc/ignore-gfp-highmem", "N"))
		return -1;
	for (i = 0; i < sizeof(quiet) / sizeof(quiet[0]); i++) {
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
 * Turn injection off; return true if the failure was injected (the kernel
 * counts fail-nth down to 0 when it fires).
 */
static bool nth_disable(void)
{
	char val[16] = "";
	ssize_t n;

	n = pread(nth_fd, val, sizeof(val) - 1, 0);
	if (pwrite(nth_fd, "0", 1, 0) != 1)
		abort();
	return n > 0 && atoi(val) == 0;
}

static void find_cdev(void)
{
	char dir[PATH_MAX];
	struct dirent *e;
	DIR *d;

	cdev[0] = 0;
	snprintf(dir, sizeof(dir), "/sys/bus/pci/devices/%s/vfio-dev", bdf);
	d = opendir(dir);
	if (!d)
		return;
	while ((e = readdir(d)))
		if (!strncmp(e->d_name, "noiommu-vfio", 12))
			snprintf(cdev, sizeof(cdev), "/dev/vfio/devices/%s",
				 e->d_name);
	closedir(d);
}

static __u64 pagemap_pa(const void *va)
{
	__u64 entry = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd < 0)
		return 0;
	if (pread(fd, &entry, sizeof(entry), (uintptr_t)va / 4096 * 8) != 8)
		entry = 0;
	close(fd);
	if (!(entry >> 63) || !(entry & ((1ULL << 55) - 1)))
		return 0;
	return (entry & ((1ULL << 55) - 1)) * 4096 + (uintptr_t)va % 4096;
}

static int do_open_bind(struct session *s)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };

	s->device_fd = open(cdev, O_RDWR);
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
			if (pagemap_pa(va + off + p) != pa.out_phys + p)
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

static bool sweep(const struct path *p, int nr)
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
			printf("#   %s: injection %u gave a wrong answer\n",
			       p->name, nth);
			return false;
		}
		if (!injected) {
			if (ret) {
				printf("#   %s: failed without injection: %s\n",
				       p->name, strerror(err));
				return false;
			}
			break;
		}
		points++;
		if (ret) {
			errors++;
			if (err != ENOMEM && err != EFAULT && err != ENOSPC)
				printf("#   %s: injection %u reached userspace as %s\n",
				       p->name, nth, strerror(err));
		} else {
			handled++;
		}
		if (!device_usable()) {
			printf("#   %s: device unusable after injection %u\n",
			       p->name, nth);
			return false;
		}
	}
	if (nth > MAX_ITERATIONS) {
		printf("#   %s: still injecting after %u allocations\n", p->name,
		       MAX_ITERATIONS);
		return false;
	}
	if (!points) {
		printf("#   %s: no allocation to inject\n", p->name);
		return false;
	}
	printf("ok %d - %s: %u injection points, %u failed with an error, %u handled by the kernel, device usable after each\n",
	       nr, p->name, points, errors, handled);
	return true;
}

int main(int argc, char *argv[])
{
	unsigned int i, nr = sizeof(paths) / sizeof(paths[0]);
	int failed = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s BDF\n", argv[0]);
		return 2;
	}
	bdf = argv[1];
	printf("1..%u\n", nr + 1);
	fflush(stdout);

	find_cdev();
	buf_4k = mmap(NULL, BUF_4K_LEN, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	buf_2m = mmap(NULL, BUF_2M_LEN, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	if (!cdev[0] || buf_4k == MAP_FAILED || buf_2m == MAP_FAILED ||
	    setup_fault_injection() || !device_usable()) {
		printf("not ok 1 - setup: cdev %s, buffers, fault injection (debugfs, fail-nth), a clean run\n",
		       cdev[0] ? cdev : "missing");
		for (i = 0; i < nr; i++)
			printf("not ok %u - %s: not run\n", i + 2, paths[i].name);
		return 1;
	}
	memset(buf_4k, 0x33, BUF_4K_LEN);
	memset(buf_2m, 0x44, BUF_2M_LEN);
	printf("ok 1 - setup: %s, fault injection on\n", cdev);

	for (i = 0; i < nr; i++) {
		fflush(stdout);
		if (!sweep(&paths[i], i + 2)) {
			printf("not ok %u - %s\n", i + 2, paths[i].name);
			failed++;
		}
	}
	return failed ? 1 : 0;
}
