// SPDX-License-Identifier: GPL-2.0
/*
 * Unprivileged users and the no-IOMMU cdev.
 *
 * The guest has no udev, so the device nodes are what devtmpfs makes of
 * them: neither the no-IOMMU cdev nor /dev/iommu may be accessible to
 * others. Then, while root holds the device (the fixture: bound, attached,
 * a buffer mapped and resolved by GET_PA), a child of each identity tries
 * to get at it:
 *
 *   nobody, no capabilities: cannot open the cdev, neither through the
 *     real node (file mode) nor through a 0666 copy of it (the driver's
 *     CAP_SYS_RAWIO check), and GET_PA on an iommufd it inherited from
 *     root is refused with EPERM;
 *   root without CAP_SYS_RAWIO: the same refusals, from the kernel's
 *     capability checks alone (root passes the file mode);
 *   nobody with CAP_SYS_RAWIO only (PR_SET_KEEPCAPS + capset): the real
 *     nodes stay closed (CAP_SYS_RAWIO does not override file modes), but
 *     GET_PA on root's iommufd answers; and, the device free, through
 *     0666 copies the whole flow works: open, bind, attach, map and a
 *     GET_PA that matches pagemap; after it drops CAP_SYS_RAWIO its GET_PA
 *     is refused again (the check is made on every call).
 *
 * Each refusal is checked beside a request that succeeds (root's GET_PA
 * on the same iommufd, the same open with the capability), so that none
 * passes for want of a working device. The children record what they
 * got; the test asserts it.
 *
 * usage: noiommu_unpriv [harness options] BDF     (as root)
 *        NOIOMMU_BDF=BDF noiommu_unpriv [harness options]
 */
#define _GNU_SOURCE
#include <grp.h>
#include <limits.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#include "noiommu_utils.h"

#define NOBODY		65534
#define BUF_LEN		(4 * SZ_4K)
#define ROOT_IOVA	(1ULL << 32)
#define USER_IOVA	(2ULL << 32)

enum who {
	NOBODY_NO_CAPS,		/* uid/gid 65534, no capabilities */
	NOBODY_RAWIO,		/* uid/gid 65534, CAP_SYS_RAWIO only */
	ROOT_NO_RAWIO,		/* uid 0, every capability but CAP_SYS_RAWIO */
};

/* What a child got, in memory shared with the test */
struct got {
	int become;		/* errno of changing identity, -1: wrong */
	int open_cdev;		/* errnos */
	int open_copy;
	int open_iommu;
	int get_pa;
	int get_pa_bad;
	__u64 phys;
	__u64 len;
	const char *step;	/* nobody_rawio_own_device: the step failing */
	int step_err;
	uint64_t pagemap;	/* by a pagemap fd opened as root */
	int get_pa_dropped;	/* errno of GET_PA after dropping the cap */
};

FIXTURE(unpriv) {
	struct noiommu_dev nd;		/* root's session */
	char *root_buf;
	uint64_t root_buf_pa;		/* pagemap's PA of root_buf */
	char tmpdir[64];
	char cdev_copy[96];		/* 0666 copies of the nodes */
	char iommu_copy[96];
	struct got *got;
};

/* 0666 copies of the cdev and /dev/iommu, in a directory others can enter */
static void _make_copies(struct __test_metadata *_metadata,
			 FIXTURE_DATA(unpriv) *self)
{
	struct stat st;

	snprintf(self->tmpdir, sizeof(self->tmpdir),
		 "/tmp/noiommu_unpriv.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->tmpdir));
	ASSERT_EQ(0, chmod(self->tmpdir, 0711));
	snprintf(self->cdev_copy, sizeof(self->cdev_copy), "%s/cdev",
		 self->tmpdir);
	snprintf(self->iommu_copy, sizeof(self->iommu_copy), "%s/iommu",
		 self->tmpdir);
	ASSERT_EQ(0, stat(self->nd.cdev, &st));
	ASSERT_EQ(0, mknod(self->cdev_copy, S_IFCHR | 0666, st.st_rdev));
	ASSERT_EQ(0, chmod(self->cdev_copy, 0666));
	ASSERT_EQ(0, stat("/dev/iommu", &st));
	ASSERT_EQ(0, mknod(self->iommu_copy, S_IFCHR | 0666, st.st_rdev));
	ASSERT_EQ(0, chmod(self->iommu_copy, 0666));
}

FIXTURE_SETUP(unpriv)
{
	int pm;

	ASSERT_EQ(0U, geteuid()) TH_LOG("run as root: the test changes identities itself");
	self->got = mmap(NULL, sizeof(*self->got), PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->got);
	edu_open(&self->nd);
	self->root_buf = buf_alloc(BUF_LEN, 0x11);
	test_ioas_map(self->nd.ioas_id, self->root_buf, BUF_LEN, ROOT_IOVA);
	pm = open("/proc/self/pagemap", O_RDONLY);
	ASSERT_LE(0, pm);
	self->root_buf_pa = pagemap_pa(pm, self->root_buf);
	close(pm);
	ASSERT_NE(0ULL, self->root_buf_pa);
	_make_copies(_metadata, self);
}

FIXTURE_TEARDOWN(unpriv)
{
	noiommu_close(&self->nd);
	if (self->cdev_copy[0])
		unlink(self->cdev_copy);
	if (self->iommu_copy[0])
		unlink(self->iommu_copy);
	if (self->tmpdir[0])
		rmdir(self->tmpdir);
}

/* Become @who in this (single-threaded) child; 0 or an errno */
static int become(enum who who)
{
	uint64_t rawio = 1ULL << CAP_SYS_RAWIO;

	if (who == ROOT_NO_RAWIO)
		return errno_of(caps_drop(CAP_SYS_RAWIO));
	if (who == NOBODY_RAWIO && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0))
		return errno;
	if (setgroups(0, NULL) || setresgid(NOBODY, NOBODY, NOBODY) ||
	    setresuid(NOBODY, NOBODY, NOBODY))
		return errno;
	/* The uid change cleared the effective set; permitted was kept */
	if (who == NOBODY_RAWIO && caps_set(rawio, rawio))
		return errno;
	return 0;
}

static bool identity_is(enum who who)
{
	uint64_t want = who == NOBODY_RAWIO ? 1ULL << CAP_SYS_RAWIO : 0;

	if (who == ROOT_NO_RAWIO)
		return getuid() == 0 && geteuid() == 0 &&
		       !(caps_effective() & (1ULL << CAP_SYS_RAWIO)) &&
		       (caps_effective() & (1ULL << CAP_SYS_ADMIN));
	return getuid() == NOBODY && geteuid() == NOBODY &&
	       getgid() == NOBODY && caps_effective() == want;
}

typedef void (*try_fn)(FIXTURE_DATA(unpriv) *self, struct got *got,
		       int root_pagemap);

/*
 * Run @fn as @who in a child, which records in self->got what it got;
 * assert that it became @who and ran to its end.
 */
static void _run_as(struct __test_metadata *_metadata,
		    FIXTURE_DATA(unpriv) *self, enum who who, try_fn fn)
{
	int status = -1;
	pid_t pid;

	memset(self->got, 0, sizeof(*self->got));
	self->got->become = -2;
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		/* Opened as root, it keeps showing PFNs after the switch */
		int pm = open("/proc/self/pagemap", O_RDONLY);

		self->got->become = become(who);
		if (!self->got->become && !identity_is(who))
			self->got->become = -1;
		if (!self->got->become)
			fn(self, self->got, pm);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status))
		TH_LOG("the child ended with status %#x", status);
	ASSERT_EQ(0, self->got->become)
		TH_LOG("could not change identity: %s",
		       self->got->become > 0 ? strerror(self->got->become) :
		       "wrong uid or capabilities");
}
#define run_as(who, fn) _run_as(_metadata, self, who, fn)

/* Root's own GET_PA on its iommufd answers: the refusals are not for want of it */
#define ASSERT_ROOT_GET_PA()						\
	do {								\
		__u64 __len = SZ_4K, __pa = 0;				\
									\
		ASSERT_EQ(0, _test_ioctl_get_pa(self->nd.iommufd,	\
						self->nd.ioas_id,	\
						ROOT_IOVA, &__len, &__pa)); \
		ASSERT_EQ(self->root_buf_pa, __pa);			\
	} while (0)

/* GET_PA on root's iommufd, a valid request and one with bad fields */
static void try_get_pa(FIXTURE_DATA(unpriv) *self, struct got *got)
{
	struct iommu_ioas_noiommu_get_pa cmd = pa_req(self->nd.ioas_id,
						      ROOT_IOVA, SZ_4K);

	got->get_pa = errno_of(_test_ioctl_get_pa_raw(self->nd.iommufd, &cmd));
	got->phys = cmd.out_phys;
	got->len = cmd.length;
	cmd = pa_req(self->nd.ioas_id, ROOT_IOVA, 0);
	cmd.flags = 1;
	got->get_pa_bad = errno_of(_test_ioctl_get_pa_raw(self->nd.iommufd,
							  &cmd));
}

static void try_without_rawio(FIXTURE_DATA(unpriv) *self, struct got *got,
			      int root_pagemap)
{
	(void)root_pagemap;
	got->open_cdev = open_err(self->nd.cdev);
	got->open_copy = open_err(self->cdev_copy);
	got->open_iommu = open_err("/dev/iommu");
	try_get_pa(self, got);
}

static void check_node(struct __test_metadata *_metadata, const char *path)
{
	struct stat st;

	ASSERT_EQ(0, stat(path, &st)) TH_LOG("%s: %s", path, strerror(errno));
	TH_LOG("%s: mode %04o, %u:%u", path, st.st_mode & 07777, st.st_uid,
	       st.st_gid);
	ASSERT_TRUE(S_ISCHR(st.st_mode));
	ASSERT_EQ(0U, st.st_uid);
	ASSERT_EQ(0U, st.st_gid);
	ASSERT_EQ(0U, st.st_mode & 0007);
}

/* The cdev (devtmpfs, no udev): the node sysfs names, root's only */
TEST(cdev_node_private)
{
	char path[PATH_MAX], dev[32], want[32];
	struct noiommu_dev nd;
	struct stat st;

	ASSERT_TRUE(find_noiommu_cdev(&nd, noiommu_bdf)) TH_LOG("%s", nd.err);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vfio-dev/%s/dev",
		 nd.bdf, strrchr(nd.cdev, '/') + 1);
	read_line(path, dev, sizeof(dev));
	ASSERT_EQ(0, stat(nd.cdev, &st));
	snprintf(want, sizeof(want), "%u:%u", major(st.st_rdev),
		 minor(st.st_rdev));
	ASSERT_STREQ(dev, want);
	check_node(_metadata, nd.cdev);
}

TEST(iommu_node_private)
{
	check_node(_metadata, "/dev/iommu");
}

/* Root's session of the fixture works: the refusals below are real */
TEST_F(unpriv, root_session)
{
	test_get_pa_is_pagemap(self->nd.ioas_id, ROOT_IOVA, self->root_buf,
			       BUF_LEN);
}

TEST_F(unpriv, nobody_without_caps)
{
	run_as(NOBODY_NO_CAPS, try_without_rawio);
	ASSERT_STREQ("EACCES", errno_name(self->got->open_cdev));
	/* The copy passes the file mode: the driver's check refuses */
	ASSERT_STREQ("EPERM", errno_name(self->got->open_copy));
	ASSERT_STREQ("EACCES", errno_name(self->got->open_iommu));
	/* An iommufd handed over by root does not carry root's capability */
	ASSERT_STREQ("EPERM", errno_name(self->got->get_pa));
	ASSERT_STREQ("EPERM", errno_name(self->got->get_pa_bad));
	ASSERT_ROOT_GET_PA();
}

TEST_F(unpriv, root_without_rawio)
{
	run_as(ROOT_NO_RAWIO, try_without_rawio);
	/* Root passes the file mode: the capability check refuses */
	ASSERT_STREQ("EPERM", errno_name(self->got->open_cdev));
	ASSERT_STREQ("EPERM", errno_name(self->got->get_pa));
	ASSERT_STREQ("EPERM", errno_name(self->got->get_pa_bad));
	ASSERT_ROOT_GET_PA();
}

static void try_rawio_while_root_holds(FIXTURE_DATA(unpriv) *self,
				       struct got *got, int root_pagemap)
{
	(void)root_pagemap;
	got->open_cdev = open_err(self->nd.cdev);
	got->open_iommu = open_err("/dev/iommu");
	try_get_pa(self, got);
}

TEST_F(unpriv, nobody_rawio_while_root_holds)
{
	run_as(NOBODY_RAWIO, try_rawio_while_root_holds);
	/* CAP_SYS_RAWIO does not override the file mode */
	ASSERT_STREQ("EACCES", errno_name(self->got->open_cdev));
	ASSERT_STREQ("EACCES", errno_name(self->got->open_iommu));
	/* ... but is what GET_PA asks for */
	ASSERT_STREQ("0", errno_name(self->got->get_pa));
	ASSERT_EQ(self->root_buf_pa, self->got->phys);
	ASSERT_EQ((__u64)SZ_4K, self->got->len);
}

/* Step @name returned @ret: false, noting the step and errno, if it failed */
static bool step(struct got *got, const char *name, int ret)
{
	got->step = name;
	if (ret >= 0)
		return true;
	got->step_err = errno;
	return false;
}

/* The whole flow through the 0666 copies, then without the capability */
static void try_rawio_own_device(FIXTURE_DATA(unpriv) *self,
				 struct got *got, int root_pagemap)
{
	struct iommu_ioas_noiommu_get_pa cmd;
	int device_fd, iommufd;
	__u32 ioas_id = 0;
	char *buf;

	buf = mmap(NULL, BUF_LEN, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!step(got, "mmap", buf == MAP_FAILED ? -1 : 0))
		return;
	memset(buf, 0x77, BUF_LEN);
	device_fd = open(self->cdev_copy, O_RDWR);
	if (!step(got, "open the 0666 copy of the cdev", device_fd))
		return;
	iommufd = open(self->iommu_copy, O_RDWR);
	if (!step(got, "open the 0666 copy of /dev/iommu", iommufd) ||
	    !step(got, "VFIO_DEVICE_BIND_IOMMUFD",
		  _test_cmd_bind(device_fd, iommufd, NULL)) ||
	    !step(got, "IOMMU_IOAS_ALLOC",
		  _test_ioctl_ioas_alloc(iommufd, &ioas_id)) ||
	    !step(got, "VFIO_DEVICE_ATTACH_IOMMUFD_PT",
		  _test_cmd_attach(device_fd, ioas_id, NULL)) ||
	    !step(got, "IOMMU_IOAS_MAP",
		  _test_ioas_map_at(iommufd, ioas_id, buf, BUF_LEN,
				    USER_IOVA)))
		return;
	cmd = pa_req(ioas_id, USER_IOVA + 0x10, 0x20);
	if (!step(got, "IOMMU_IOAS_NOIOMMU_GET_PA",
		  _test_ioctl_get_pa_raw(iommufd, &cmd)))
		return;
	got->step = NULL;
	got->phys = cmd.out_phys;
	got->len = cmd.length;
	if (root_pagemap >= 0)
		got->pagemap = pagemap_pa(root_pagemap, buf + 0x10);

	/* The capability is checked on every call, not only at open */
	caps_set(0, 0);
	cmd = pa_req(ioas_id, USER_IOVA, 1);
	got->get_pa_dropped = errno_of(_test_ioctl_get_pa_raw(iommufd, &cmd));
	close(device_fd);
	close(iommufd);
}

TEST_F(unpriv, nobody_rawio_own_device)
{
	/* The device is free */
	noiommu_close(&self->nd);
	run_as(NOBODY_RAWIO, try_rawio_own_device);
	ASSERT_EQ(NULL, self->got->step)
		TH_LOG("%s failed: %s", self->got->step,
		       strerror(self->got->step_err));
	ASSERT_NE(0ULL, self->got->pagemap);
	ASSERT_EQ(self->got->pagemap, self->got->phys);
	ASSERT_EQ(0x20ULL, self->got->len);
	ASSERT_STREQ("EPERM", errno_name(self->got->get_pa_dropped));
}

/* Declared last: the device works after the unprivileged attempts */
TEST_F(unpriv, root_after_the_others)
{
	test_get_pa_is_pagemap(self->nd.ioas_id, ROOT_IOVA, self->root_buf,
			       BUF_LEN);
}

NOIOMMU_END_TESTS();

int main(int argc, char *argv[])
{
	return noiommu_main(argc, argv);
}
