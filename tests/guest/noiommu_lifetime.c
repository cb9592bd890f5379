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
#define _GNU_SOURCE
#include <signal.h>
#include <sys/wait.h>

#include "../../examples/noiommu.h"
#include "tap.h"

#define NR_TESTS 6
#define BUF_LEN (2UL << 20)

static const char *bdf;

/* Why a step failed, as a diagnostic under the result it makes fail */
static void diag(const char *what)
{
	tap_diag("  %s: %s", what, strerror(errno));
}

/*
 * Start @nd afresh for bdf and look for its noiommu-vfioN cdev: true, with
 * /dev/vfio/devices/noiommu-vfioN in nd->cdev, if there is one.
 */
static bool lookup_cdev(struct noiommu_dev *nd)
{
	memset(nd, 0, sizeof(*nd));
	nd->device_fd = -1;
	nd->iommufd = -1;
	copy_str(nd->bdf, sizeof(nd->bdf), bdf);
	return find_cdev(nd, "noiommu-vfio");
}

struct session {
	struct noiommu_dev nd;	/* device fd, iommufd, IOAS; no BAR mapped */
	void *buf;
	__u64 iova;
};

/*
 * Open the cdev, bind, attach an IOAS, map a buffer (a 2M hugepage when
 * one is free, else 4K pages) and resolve it with GET_PA. Returns 0, or -1
 * after printing which step failed. BAR0 is not mapped: a mapping would
 * keep the device file open after its fd is closed.
 */
static int session_open(struct session *s)
{
	struct noiommu_dev *nd = &s->nd;
	__u64 len = BUF_LEN, pa = 0;

	s->buf = MAP_FAILED;
	if (!lookup_cdev(nd)) {
		tap_diag("  no noiommu-vfio cdev for %s", bdf);
		return -1;
	}
	if (open_cdev(nd) || bind_and_attach(nd))
		return tap_diag("  %s", nd->err), -1;

	s->buf = mmap(NULL, BUF_LEN, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	if (s->buf == MAP_FAILED)
		s->buf = mmap(NULL, BUF_LEN, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (s->buf == MAP_FAILED)
		return diag("mmap"), -1;
	memset(s->buf, 0x11, BUF_LEN);
	if (noiommu_map(nd, s->buf, BUF_LEN, &s->iova, false) ||
	    noiommu_get_pa(nd, s->iova, &len, &pa))
		return tap_diag("  %s", nd->err), -1;
	if (!pa) {
		tap_diag("  GET_PA answered phys %#llx length %llu",
			 (unsigned long long)pa, (unsigned long long)len);
		return -1;
	}
	return 0;
}

/* The device can be opened, bound and used from scratch */
static bool device_usable(void)
{
	struct session s;
	bool ok = !session_open(&s);

	noiommu_close(&s.nd);
	munmap(s.buf, BUF_LEN);
	return ok;
}

static void test_close_iommufd_first(void)
{
	struct session s;
	bool ok = !session_open(&s);

	ok = !close(s.nd.iommufd) && ok;
	ok = !close(s.nd.device_fd) && ok;
	munmap(s.buf, BUF_LEN);
	tap_ok(ok && device_usable(),
	       "close the iommufd before the device fd, then reuse the device");
}

static void test_close_device_first(void)
{
	struct iommu_ioas_noiommu_get_pa pa = { .size = sizeof(pa) };
	struct session s;
	bool ok = !session_open(&s);
	int ret;

	ok = !close(s.nd.device_fd) && ok;
	/* The IOAS outlives the device, but nothing stores it in software */
	pa.ioas_id = s.nd.ioas_id;
	pa.iova = s.iova;
	pa.length = 1;
	ret = ioctl(s.nd.iommufd, IOMMU_IOAS_NOIOMMU_GET_PA, &pa);
	if (ret != -1 || errno != EOPNOTSUPP) {
		tap_diag("  GET_PA after closing the device: ret %d errno %d, expected EOPNOTSUPP",
			 ret, errno);
		ok = false;
	}
	ok = !close(s.nd.iommufd) && ok;
	munmap(s.buf, BUF_LEN);
	tap_ok(ok && device_usable(),
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
	tap_ok(WIFEXITED(status) && !WEXITSTATUS(status) && device_usable(),
	       "a process exits with the device bound, attached and mapped");
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
	struct noiommu_dev after;
	char unbind[PATH_MAX];
	bool exited = false, done, left;
	int ready[2];
	pid_t holder, unbinder;
	char c = 0;

	snprintf(unbind, sizeof(unbind), "/sys/bus/pci/devices/%s/driver/unbind",
		 bdf);
	if (pipe(ready)) {
		tap_ok(false, "unbind from vfio-pci while the cdev is bound");
		return;
	}

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
		tap_ok(false, "unbind from vfio-pci while the cdev is bound");
		return;
	}

	unbinder = fork();
	if (!unbinder)
		_exit(write_file(unbind, bdf) ? 1 : 0);

	/* The unbind may wait for the holder ... */
	done = wait_ok(unbinder, 2000, &exited);
	tap_diag("  the unbind %s", exited ? "completed at once" :
		 "waits for the process holding the device");

	/* ... and must complete once it is gone */
	kill(holder, SIGKILL);
	waitpid(holder, NULL, 0);
	if (!exited)
		done = wait_ok(unbinder, 60000, &exited);
	if (!done)
		tap_diag("  the unbind %s",
			 exited ? "failed" : "did not complete within 60s");
	left = lookup_cdev(&after);
	if (left)
		tap_diag("  %s still exists after the unbind", after.cdev);
	tap_ok(done && !left,
	       "unbind from vfio-pci while the device is held, then it completes");
	close(ready[0]);
	close(ready[1]);
}

static void test_rebind(void)
{
	struct noiommu_dev again;
	bool ok, found = false;
	int i;

	/* driver_override still says vfio-pci */
	ok = !write_file("/sys/bus/pci/drivers_probe", bdf);
	for (i = 0; i < 100 && !found; i++) {
		found = lookup_cdev(&again);
		if (!found)
			usleep(20000);
	}
	if (!found)
		tap_diag("  no noiommu-vfio cdev after binding %s again", bdf);
	tap_ok(ok && found && device_usable(),
	       "bind the device to vfio-pci again and use it");
}

int main(int argc, char *argv[])
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s BDF\n", argv[0]);
		return 2;
	}
	bdf = argv[1];

	tap_plan(NR_TESTS);
	test_close_iommufd_first();
	test_close_device_first();
	test_exit_with_everything();
	test_unbind_while_open();
	test_rebind();
	tap_ok(device_usable(), "the device works at the end");
	return tap_finish();
}
