// SPDX-License-Identifier: GPL-2.0
/*
 * Lifetime safety of a no-IOMMU device on the VFIO cdev: teardown in every
 * order, a process dying with everything set up, and the device unbound
 * from vfio-pci while a process holds it. After each case the device must
 * be usable again. The console log is checked for kernel reports by the VM
 * runner.
 *
 * usage: noiommu_lifetime BDF     (prints TAP)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include <linux/vfio.h>

#define NR_TESTS 6
#define BUF_LEN (2UL << 20)

static const char *bdf;
static int test_nr;
static int failed;

/* One TAP line; a failed check also prints why, as a diagnostic. */
static void tap(bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d - ", ok ? "" : "not ", ++test_nr);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!ok)
		failed++;
}

static void diag(const char *what)
{
	printf("#   %s: %s\n", what, strerror(errno));
}

/* Find /dev/vfio/devices/noiommu-vfioN of bdf; empty string if none. */
static void cdev_path(char *path, size_t len)
{
	char dir[PATH_MAX];
	struct dirent *e;
	DIR *d;

	path[0] = 0;
	snprintf(dir, sizeof(dir), "/sys/bus/pci/devices/%s/vfio-dev", bdf);
	d = opendir(dir);
	if (!d)
		return;
	while ((e = readdir(d)))
		if (!strncmp(e->d_name, "noiommu-vfio", 12))
			snprintf(path, len, "/dev/vfio/devices/%s", e->d_name);
	closedir(d);
}

struct session {
	int device_fd;
	int iommufd;
	__u32 ioas_id;
	void *buf;
	__u64 iova;
};

/*
 * Open the cdev, bind, attach an IOAS, map a buffer (a 2M hugepage when
 * one is free, else 4K pages) and resolve it with GET_PA. Returns 0, or -1
 * after printing which step failed.
 */
static int session_open(struct session *s)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct vfio_device_attach_iommufd_pt attach = {
		.argsz = sizeof(attach),
	};
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	struct iommu_ioas_map map = {
		.size = sizeof(map),
		.flags = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE,
		.length = BUF_LEN,
	};
	struct iommu_ioas_noiommu_get_pa pa = { .size = sizeof(pa) };
	char path[PATH_MAX];

	cdev_path(path, sizeof(path));
	s->device_fd = open(path, O_RDWR);
	if (s->device_fd < 0)
		return diag("open cdev"), -1;
	s->iommufd = open("/dev/iommu", O_RDWR);
	if (s->iommufd < 0)
		return diag("open /dev/iommu"), -1;
	bind.iommufd = s->iommufd;
	if (ioctl(s->device_fd, VFIO_DEVICE_BIND_IOMMUFD, &bind))
		return diag("VFIO_DEVICE_BIND_IOMMUFD"), -1;
	if (ioctl(s->iommufd, IOMMU_IOAS_ALLOC, &alloc))
		return diag("IOMMU_IOAS_ALLOC"), -1;
	s->ioas_id = alloc.out_ioas_id;
	attach.pt_id = s->ioas_id;
	if (ioctl(s->device_fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach))
		return diag("VFIO_DEVICE_ATTACH_IOMMUFD_PT"), -1;

	s->buf = mmap(NULL, BUF_LEN, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	if (s->buf == MAP_FAILED)
		s->buf = mmap(NULL, BUF_LEN, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (s->buf == MAP_FAILED)
		return diag("mmap"), -1;
	memset(s->buf, 0x11, BUF_LEN);
	map.ioas_id = s->ioas_id;
	map.user_va = (uintptr_t)s->buf;
	if (ioctl(s->iommufd, IOMMU_IOAS_MAP, &map))
		return diag("IOMMU_IOAS_MAP"), -1;
	s->iova = map.iova;

	pa.ioas_id = s->ioas_id;
	pa.iova = s->iova;
	pa.length = BUF_LEN;
	if (ioctl(s->iommufd, IOMMU_IOAS_NOIOMMU_GET_PA, &pa))
		return diag("IOMMU_IOAS_NOIOMMU_GET_PA"), -1;
	if (!pa.out_phys || !pa.length) {
		printf("#   GET_PA answered phys %#llx length %llu\n",
		       (unsigned long long)pa.out_phys,
		       (unsigned long long)pa.length);
		return -1;
	}
	return 0;
}

/* The device can be opened, bound and used from scratch */
static bool device_usable(void)
{
	struct session s;
	bool ok = !session_open(&s);

	close(s.device_fd);
	close(s.iommufd);
	munmap(s.buf, BUF_LEN);
	return ok;
}

static void test_close_iommufd_first(void)
{
	struct session s;
	bool ok = !session_open(&s);

	ok = !close(s.iommufd) && ok;
	ok = !close(s.device_fd) && ok;
	munmap(s.buf, BUF_LEN);
	tap(ok && device_usable(),
	    "close the iommufd before the device fd, then reuse the device");
}

static void test_close_device_first(void)
{
	struct iommu_ioas_noiommu_get_pa pa = { .size = sizeof(pa) };
	struct session s;
	bool ok = !session_open(&s);
	int ret;

	ok = !close(s.device_fd) && ok;
	/* The IOAS outlives the device, but nothing stores it in software */
	pa.ioas_id = s.ioas_id;
	pa.iova = s.iova;
	pa.length = 1;
	ret = ioctl(s.iommufd, IOMMU_IOAS_NOIOMMU_GET_PA, &pa);
	if (ret != -1 || errno != EOPNOTSUPP) {
		printf("#   GET_PA after closing the device: ret %d errno %d, expected EOPNOTSUPP\n",
		       ret, errno);
		ok = false;
	}
	ok = !close(s.iommufd) && ok;
	munmap(s.buf, BUF_LEN);
	tap(ok && device_usable(),
	    "close the device fd before the iommufd, then reuse the device");
}

static void test_exit_with_everything(void)
{
	int status = -1;
	pid_t pid;

	pid = fork();
	if (!pid) {
		struct session s;

		/* Leave everything open, mapped and attached */
		_exit(session_open(&s) ? 1 : 0);
	}
	waitpid(pid, &status, 0);
	tap(WIFEXITED(status) && !WEXITSTATUS(status) && device_usable(),
	    "a process exits with the device bound, attached and mapped");
}

static int sysfs_write(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, val, strlen(val));
	close(fd);
	return n == (ssize_t)strlen(val) ? 0 : -1;
}

/* Wait up to @ms for @pid; returns true if it exited with status 0. */
static bool wait_ok(pid_t pid, int ms, bool *exited)
{
	int status, i;

	for (i = 0; i < ms / 10; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid) {
			*exited = true;
			return WIFEXITED(status) && !WEXITSTATUS(status);
		}
		usleep(10000);
	}
	*exited = false;
	return false;
}

/*
 * A process holds the device bound and mapped; another one unbinds it from
 * vfio-pci. The unbind must wait for the holder, and complete once the
 * holder is gone.
 */
static void test_unbind_while_open(void)
{
	char path[PATH_MAX], unbind[PATH_MAX];
	bool exited = false, done;
	int ready[2];
	pid_t holder, unbinder;
	char c = 0;

	snprintf(unbind, sizeof(unbind), "/sys/bus/pci/devices/%s/driver/unbind",
		 bdf);
	if (pipe(ready))
		return tap(false, "unbind from vfio-pci while the cdev is bound");

	holder = fork();
	if (!holder) {
		struct session s;

		c = session_open(&s) ? 'F' : 'R';
		if (write(ready[1], &c, 1) != 1 || c != 'R')
			_exit(1);
		pause();
		_exit(0);
	}
	if (read(ready[0], &c, 1) != 1 || c != 'R') {
		kill(holder, SIGKILL);
		waitpid(holder, NULL, 0);
		return tap(false, "unbind from vfio-pci while the cdev is bound");
	}

	unbinder = fork();
	if (!unbinder)
		_exit(sysfs_write(unbind, bdf) ? 1 : 0);

	/* The unbind may wait for the holder ... */
	done = wait_ok(unbinder, 2000, &exited);
	printf("#   the unbind %s\n", exited ? "completed at once" :
	       "waits for the process holding the device");

	/* ... and must complete once it is gone */
	kill(holder, SIGKILL);
	waitpid(holder, NULL, 0);
	if (!exited)
		done = wait_ok(unbinder, 60000, &exited);
	if (!done)
		printf("#   the unbind %s\n",
		       exited ? "failed" : "did not complete within 60s");
	cdev_path(path, sizeof(path));
	if (path[0])
		printf("#   %s still exists after the unbind\n", path);
	tap(done && !path[0],
	    "unbind from vfio-pci while the device is held, then it completes");
	close(ready[0]);
	close(ready[1]);
}

static void test_rebind(void)
{
	char path[PATH_MAX];
	bool ok;
	int i;

	/* driver_override still says vfio-pci */
	ok = !sysfs_write("/sys/bus/pci/drivers_probe", bdf);
	for (i = 0; i < 100; i++) {
		cdev_path(path, sizeof(path));
		if (path[0])
			break;
		usleep(20000);
	}
	if (!path[0])
		printf("#   no noiommu-vfio cdev after binding %s again\n", bdf);
	tap(ok && path[0] && device_usable(),
	    "bind the device to vfio-pci again and use it");
}

int main(int argc, char *argv[])
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s BDF\n", argv[0]);
		return 2;
	}
	bdf = argv[1];

	printf("1..%d\n", NR_TESTS);
	test_close_iommufd_first();
	test_close_device_first();
	test_exit_with_everything();
	test_unbind_while_open();
	test_rebind();
	tap(device_usable(), "the device works at the end");
	return failed ? 1 : 0;
}
