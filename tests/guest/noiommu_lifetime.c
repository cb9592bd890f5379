// SPDX-License-Identifier: GPL-2.0
/*
 * Lifetime safety of a no-IOMMU device on the VFIO cdev: teardown in every
 * order, a process dying with everything set up, and the device unbound
 * from vfio-pci while a process holds it, then bound again. After each
 * case the device must be usable again. The console log is checked for
 * kernel reports by the VM runner.
 *
 * The tests run in the order they are declared; unbind_while_held leaves
 * the device without a driver and rebind, which asserts that it starts
 * there, binds it again.
 *
 * usage: noiommu_lifetime [harness options] BDF
 *        NOIOMMU_BDF=BDF noiommu_lifetime [harness options]
 */
#define _GNU_SOURCE
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>

#include "noiommu_utils.h"

#define BUF_LEN		SZ_2M
#define IOVA		(1ULL << 32)

/*
 * A session: the cdev open, bound, attached to an IOAS, a buffer (a 2M
 * hugepage when one is free, else 4K pages) mapped and resolved by GET_PA
 * to pagemap's address. BAR0 is not mapped: a mapping would keep the
 * device file open after its fd is closed.
 */
struct session {
	struct noiommu_dev nd;
	void *buf;
};

static void _session_open(struct __test_metadata *_metadata,
			  struct session *s)
{
	struct noiommu_dev *nd = &s->nd;

	edu_bind(nd);
	ASSERT_EQ(0, _test_ioctl_ioas_alloc(nd->iommufd, &nd->ioas_id));
	ASSERT_EQ(0, _test_cmd_attach(nd->device_fd, nd->ioas_id, NULL));
	s->buf = mmap(NULL, BUF_LEN, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	if (s->buf == MAP_FAILED)
		s->buf = mmap(NULL, BUF_LEN, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, s->buf);
	memset(s->buf, 0x11, BUF_LEN);
	ASSERT_EQ(0, _test_ioas_map_at(nd->iommufd, nd->ioas_id, s->buf,
				       BUF_LEN, IOVA));
	_test_get_pa_is_pagemap(_metadata, nd->iommufd, nd->ioas_id, IOVA,
				s->buf, BUF_LEN);
}
#define session_open(s) _session_open(_metadata, s)

/* The device can be opened, bound and used from scratch */
#define ASSERT_DEVICE_USABLE()						\
	do {								\
		struct session __s = {};				\
									\
		session_open(&__s);					\
		noiommu_close(&__s.nd);					\
		ASSERT_EQ(0, munmap(__s.buf, BUF_LEN));			\
	} while (0)

/* The name of the driver @noiommu_bdf is bound to, "" if none */
static const char *driver_of(char *buf, size_t len)
{
	return pci_driver(noiommu_bdf ?: "", buf, len);
}

FIXTURE(lifetime) {
	struct session s;
};

FIXTURE_SETUP(lifetime)
{
	self->s.nd.device_fd = -1;
	self->s.nd.iommufd = -1;
}

FIXTURE_TEARDOWN(lifetime)
{
	noiommu_close(&self->s.nd);
}

TEST_F(lifetime, close_iommufd_first)
{
	session_open(&self->s);
	ASSERT_EQ(0, close(self->s.nd.iommufd));
	self->s.nd.iommufd = -1;
	ASSERT_EQ(0, close(self->s.nd.device_fd));
	self->s.nd.device_fd = -1;
	ASSERT_EQ(0, munmap(self->s.buf, BUF_LEN));
	ASSERT_DEVICE_USABLE();
}

TEST_F(lifetime, close_device_first)
{
	__u64 len = 1, pa = 0;

	session_open(&self->s);
	ASSERT_EQ(0, close(self->s.nd.device_fd));
	self->s.nd.device_fd = -1;
	/*
	 * The IOAS outlives the device, but its no-IOMMU domain went with
	 * the attachment: nothing stores the mapping in software
	 */
	EXPECT_ERRNO(EOPNOTSUPP, _test_ioctl_get_pa(self->s.nd.iommufd,
						    self->s.nd.ioas_id, IOVA,
						    &len, &pa));
	ASSERT_EQ(0, close(self->s.nd.iommufd));
	self->s.nd.iommufd = -1;
	ASSERT_EQ(0, munmap(self->s.buf, BUF_LEN));
	ASSERT_DEVICE_USABLE();
}

/* A process exits with the device bound, attached and mapped */
TEST_F(lifetime, exit_with_everything)
{
	int status = -1;
	pid_t pid;

	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		/* Leave everything open, mapped and attached */
		session_open(&self->s);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status))
		TH_LOG("the child could not set everything up (status %#x)",
		       status);
	ASSERT_DEVICE_USABLE();
}

/* The state letter of process @pid in /proc/PID/stat, 0 if it is gone */
static char proc_state(pid_t pid)
{
	char path[64], buf[512], *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	read_line(path, buf, sizeof(buf));
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : 0;
}

/*
 * A process holds the device bound and mapped; another one unbinds it from
 * vfio-pci. The unbind may wait for the holder, and must complete once the
 * holder is gone: the device has no driver and no cdev afterwards.
 */
TEST_F_TIMEOUT(lifetime, unbind_while_held, 120)
{
	char unbind[PATH_MAX], drv[64], c = 0, state;
	struct noiommu_dev after;
	pid_t holder, unbinder;
	int ready[2], status = -1;

	ASSERT_STREQ("vfio-pci", driver_of(drv, sizeof(drv)));
	snprintf(unbind, sizeof(unbind),
		 "/sys/bus/pci/devices/%s/driver/unbind", noiommu_bdf);
	ASSERT_EQ(0, pipe(ready));

	holder = fork();
	ASSERT_LE(0, holder);
	if (!holder) {
		close(ready[0]);
		session_open(&self->s);
		if (write(ready[1], "R", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(ready[1]);
	/* The holder says it is ready, or dies trying */
	ASSERT_EQ(1, read(ready[0], &c, 1)) {
		kill(holder, SIGKILL);
		waitpid(holder, NULL, 0);
	}
	close(ready[0]);

	unbinder = fork();
	ASSERT_LE(0, unbinder);
	if (!unbinder)
		_exit(write_file(unbind, noiommu_bdf) ? 1 : 0);

	/*
	 * Wait until the unbind either finished or sleeps in the kernel
	 * (waiting for the holder): a state, not a time
	 */
	while (waitpid(unbinder, &status, WNOHANG) == 0) {
		state = proc_state(unbinder);
		if (state == 'S' || state == 'D') {
			TH_LOG("the unbind waits for the process holding the device");
			break;
		}
		sched_yield();
	}

	/* ... and must complete once the holder is gone */
	kill(holder, SIGKILL);
	ASSERT_EQ(holder, waitpid(holder, NULL, 0));
	if (status == -1)
		ASSERT_EQ(unbinder, waitpid(unbinder, &status, 0));
	ASSERT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status))
		TH_LOG("the unbind failed (status %#x)", status);
	ASSERT_STREQ("", driver_of(drv, sizeof(drv)));
	ASSERT_FALSE(find_noiommu_cdev(&after, noiommu_bdf))
		TH_LOG("%s still exists after the unbind", after.cdev);
}

/* Bind the device to vfio-pci again (driver_override still says so) */
TEST_F(lifetime, rebind)
{
	char drv[64];

	ASSERT_STREQ("", driver_of(drv, sizeof(drv)))
		TH_LOG("unbind_while_held did not leave the device unbound");
	ASSERT_EQ(0, write_file("/sys/bus/pci/drivers_probe", noiommu_bdf));
	/* A probe through drivers_probe is done when the write returns */
	ASSERT_STREQ("vfio-pci", driver_of(drv, sizeof(drv)));
	ASSERT_DEVICE_USABLE();
}

TEST_F(lifetime, usable_at_end)
{
	ASSERT_DEVICE_USABLE();
}

int main(int argc, char *argv[])
{
	return noiommu_main(argc, argv);
}
