// SPDX-License-Identifier: GPL-2.0
/*
 * The IOMMU went away: a device that VFIO registered behind a real IOMMU
 * has the ordinary cdev /dev/vfio/devices/vfioN, which its unprivileged
 * owner may open. Once the IOMMU driver is gone the device has no
 * dev->iommu, but it must not bind to iommufd as a no-IOMMU device (no
 * CAP_SYS_RAWIO, no DMA ownership): VFIO_DEVICE_BIND_IOMMUFD fails with
 * EINVAL, as on the base kernel, for its owner and for root alike (SPEC
 * item 4: iommufd is told whether it binds a no-IOMMU device, it never
 * infers it from dev->iommu == NULL).
 *
 * Needs a guest with a virtio-iommu (scripts/vm-run.sh --iommu virtio)
 * booted with iommufd.allow_unsafe_interrupts=1 (virtio-iommu does not
 * isolate MSIs), the device bound to vfio-pci, and its cdev and /dev/iommu
 * owned by uid and gid 65534, as a udev rule would give them to a VM's
 * user (tests/guest/run-tests.sh --suite iommu-gone does all this). Runs
 * as root; the unprivileged steps run in a child that is uid/gid 65534
 * with no capability in any set.
 *
 * The tests depend on each other and run in the order they are declared
 * (the harness's order), each in a process of its own; each asserts the
 * state it starts from, so that none passes when an earlier one left the
 * device elsewhere:
 *   1. cdev_behind_iommu: the device has an IOMMU (virtio-iommu) and a
 *      cdev named vfioN, not noiommu-vfioN, owned by 65534;
 *   2. owner_binds_with_iommu: uid 65534 without capabilities opens it,
 *      binds, allocates an IOAS and attaches (a domain is allocated);
 *   3. unbind_virtio_iommu: unbinding the virtio_iommu driver takes the
 *      device's IOMMU away (no iommu, no iommu_group link); the cdev keeps
 *      its name. This cannot be undone in this boot;
 *   4. owner_bind_fails_without_iommu: uid 65534 still opens the cdev,
 *      but the bind fails with EINVAL and nothing can be attached;
 *   5. root_bind_fails_without_iommu: the same with every capability.
 *
 * usage: noiommu_iommu_gone [harness options] BDF
 *        NOIOMMU_BDF=BDF noiommu_iommu_gone [harness options]
 *   (kselftest harness: TAP on stdout, -l lists the tests)
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/capability.h>
#include <linux/iommufd.h>
#include <linux/vfio.h>

#include "noiommu_utils.h"

/* The unprivileged owner of the nodes: nobody */
#define NOBODY		65534U

#define PCI_DEVICES	"/sys/bus/pci/devices"
#define VIRTIO_DEVICES	"/sys/bus/virtio/devices"
#define VIOMMU_DRIVER	"/sys/bus/virtio/drivers/virtio_iommu"
#define IOMMU_CLASS	"/sys/class/iommu"
#define CDEV_DIR	"/dev/vfio/devices"
#define IOMMUFD_NODE	"/dev/iommu"

/* What test 1 saw, for the tests after it (shared with their processes) */
static struct {
	char cdev[NAME_MAX + 1];	/* vfioN */
	char viommu[NAME_MAX + 1];	/* virtioN, bound to virtio_iommu */
	char iommu[NAME_MAX + 1];	/* its IOMMU in /sys/class/iommu */
	bool owner_done;		/* test 2's owner closed the device */
} *seen;

/*
 * Binding and attaching through the virtio-iommu takes about a minute on
 * the sanitizer kernel under TCG (a second or two otherwise), past the
 * harness's 30-second default. The limit is only there to catch a hang:
 * run-tests.sh's per-program timeout, which scales with the kernel, is
 * the one that counts.
 */
#define SLOW_STEP_TIMEOUT	900

/*
 * The steps share no fixture data (see @seen): the fixture is there for
 * TEST_F_TIMEOUT. The harness runs them in the order they are declared.
 */
FIXTURE(gone) {
	int unused;
};

FIXTURE_SETUP(gone)
{
}

FIXTURE_TEARDOWN(gone)
{
}

#define PATHF(buf, ...)	snprintf(buf, sizeof(buf), __VA_ARGS__)

/* ---- ioctls ----
 * noiommu_utils.h's _test_*(), asserted with the errno (errno_of()), so
 * that a failed ASSERT names it.
 */
#define test_cmd_bind(device_fd, iommufd, dev_id) \
	ASSERT_EQ(0, errno_of(_test_cmd_bind(device_fd, iommufd, dev_id)))
#define test_err_bind(_errno, device_fd, iommufd) \
	ASSERT_EQ(_errno, errno_of(_test_cmd_bind(device_fd, iommufd, NULL)))
#define test_ioas_alloc_fd(iommufd, ioas_id) \
	ASSERT_EQ(0, errno_of(_test_ioctl_ioas_alloc(iommufd, ioas_id)))
/* Attach to @pt_id; on success *@hwpt_id is the HWPT attached */
#define test_cmd_attach(device_fd, pt_id, hwpt_id) \
	ASSERT_EQ(0, errno_of(_test_cmd_attach(device_fd, pt_id, hwpt_id)))
#define test_err_attach_fd(_errno, device_fd, pt_id, hwpt_id) \
	ASSERT_EQ(_errno, errno_of(_test_cmd_attach(device_fd, pt_id, hwpt_id)))
#define test_cmd_detach(device_fd) \
	ASSERT_EQ(0, errno_of(_test_cmd_detach(device_fd)))

/* ---- sysfs and /dev ---- */

/*
 * Number of entries of directory @dir whose name starts with @prefix, the
 * last of them copied to @name (NAME_MAX + 1 bytes); -1 with errno if
 * @dir cannot be read.
 */
static int dir_entries(const char *dir, const char *prefix, char *name)
{
	struct dirent *de;
	int n = 0;
	DIR *d;

	d = opendir(dir);
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    strncmp(de->d_name, prefix, strlen(prefix)))
			continue;
		snprintf(name, NAME_MAX + 1, "%s", de->d_name);
		n++;
	}
	closedir(d);
	return n;
}

/* 0 if @path exists (a dangling link too), else the errno of lstat() */
static int path_err(const char *path)
{
	struct stat st;

	return lstat(path, &st) ? errno : 0;
}

/* The last component of the target of link @path, "" if there is none */
static void link_name(const char *path, char *name)
{
	char target[PATH_MAX];
	ssize_t n = readlink(path, target, sizeof(target) - 1);
	const char *base;
	size_t len;

	name[0] = 0;
	if (n <= 0)
		return;
	target[n] = 0;
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	len = strnlen(base, NAME_MAX);
	memcpy(name, base, len);
	name[len] = 0;
}

/* "vfio" followed by decimal digits only */
static bool is_vfio_cdev_name(const char *name)
{
	size_t digits;

	if (strncmp(name, "vfio", 4))
		return false;
	digits = strspn(name + 4, "0123456789");
	return digits > 0 && !name[4 + digits];
}

/*
 * The BDF, and the state every test starts from: the device is bound to
 * vfio-pci and has exactly one cdev, named vfioN (the name test 1 saw,
 * once it ran), whose node is in /dev/vfio/devices.
 */
#define ASSERT_DEVICE_ON_VFIO_PCI(cdev)					\
	do {								\
		char __path[PATH_MAX], __drv[NAME_MAX + 1];		\
		struct stat __st;					\
									\
		ASSERT_TRUE(is_bdf(noiommu_bdf))			\
			TH_LOG("no BDF: pass it as the last argument or in NOIOMMU_BDF"); \
		PATHF(__path, "%s/%s/driver", PCI_DEVICES, noiommu_bdf); \
		link_name(__path, __drv);				\
		ASSERT_STREQ("vfio-pci", __drv)				\
			TH_LOG("%s is not bound to vfio-pci", noiommu_bdf); \
		PATHF(__path, "%s/%s/vfio-dev", PCI_DEVICES, noiommu_bdf); \
		ASSERT_EQ(1, dir_entries(__path, "", cdev))		\
			TH_LOG("%s: want exactly one cdev", __path);	\
		ASSERT_TRUE(is_vfio_cdev_name(cdev))			\
			TH_LOG("%s's cdev is %s, not vfioN", noiommu_bdf, cdev); \
		if (seen->cdev[0]) {					\
			ASSERT_STREQ(seen->cdev, cdev)			\
				TH_LOG("the cdev was renamed");		\
		}							\
		PATHF(__path, "%s/%s", CDEV_DIR, cdev);			\
		ASSERT_EQ(0, stat(__path, &__st) ? errno : 0)		\
			TH_LOG("stat %s", __path);			\
		ASSERT_TRUE(S_ISCHR(__st.st_mode));			\
	} while (0)

/* Whether the device has an IOMMU: its iommu and iommu_group links */
#define ASSERT_HAS_IOMMU(has)						\
	do {								\
		char __path[PATH_MAX];					\
		int __want = (has) ? 0 : ENOENT;			\
									\
		PATHF(__path, "%s/%s/iommu", PCI_DEVICES, noiommu_bdf);	\
		ASSERT_EQ(__want, path_err(__path))			\
			TH_LOG("%s: want %s", __path,			\
			       (has) ? "present" : "gone");		\
		PATHF(__path, "%s/%s/iommu_group", PCI_DEVICES, noiommu_bdf); \
		ASSERT_EQ(__want, path_err(__path))			\
			TH_LOG("%s: want %s", __path,			\
			       (has) ? "present" : "gone");		\
	} while (0)

/*
 * Where tests 2, 4 and 5 start: test 1 passed, and the device is on
 * vfio-pci with its cdev (in @_cdev) and with its IOMMU or without (@_has)
 */
#define ASSERT_AFTER_TEST_1(_cdev, _has)				\
	do {								\
		ASSERT_TRUE(seen->cdev[0])				\
			TH_LOG("cdev_behind_iommu did not pass");	\
		ASSERT_DEVICE_ON_VFIO_PCI(_cdev);			\
		ASSERT_HAS_IOMMU(_has);					\
	} while (0)

/* ---- identities ---- */

/*
 * Become uid/gid 65534 with no supplementary group and no capability:
 * empty bounding and ambient sets, no_new_privs, then the uid change
 * (without PR_SET_KEEPCAPS) and a capset() clear the other sets.
 * 0 or the errno.
 */
static int become_nobody(void)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
	int cap;

	for (cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0))
			return errno;
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    setgroups(0, NULL) || setresgid(NOBODY, NOBODY, NOBODY) ||
	    setresuid(NOBODY, NOBODY, NOBODY) ||
	    syscall(SYS_capset, &hdr, data))
		return errno;
	return 0;
}

static void capget_all(struct __test_metadata *_metadata,
		       struct __user_cap_data_struct *data)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};

	ASSERT_EQ(0, syscall(SYS_capget, &hdr, data));
}

/* This process is nobody and holds no capability that it could use */
static void assert_unprivileged(struct __test_metadata *_metadata)
{
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
	int i;

	ASSERT_EQ(NOBODY, getuid());
	ASSERT_EQ(NOBODY, geteuid());
	ASSERT_EQ(NOBODY, getgid());
	ASSERT_EQ(NOBODY, getegid());
	ASSERT_EQ(0, getgroups(0, NULL));
	capget_all(_metadata, data);
	for (i = 0; i < _LINUX_CAPABILITY_U32S_3; i++) {
		ASSERT_EQ(0U, data[i].effective);
		ASSERT_EQ(0U, data[i].permitted);
		ASSERT_EQ(0U, data[i].inheritable);
	}
	ASSERT_EQ(0, prctl(PR_CAPBSET_READ, CAP_SYS_RAWIO, 0, 0, 0));
	ASSERT_EQ(0, prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET,
			   CAP_SYS_RAWIO, 0, 0));
}

/* This process is root with CAP_SYS_RAWIO and CAP_SYS_ADMIN effective */
static void assert_root(struct __test_metadata *_metadata)
{
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};

	ASSERT_EQ(0U, geteuid());
	capget_all(_metadata, data);
	ASSERT_NE(0U, data[CAP_TO_INDEX(CAP_SYS_RAWIO)].effective &
		      CAP_TO_MASK(CAP_SYS_RAWIO));
	ASSERT_NE(0U, data[CAP_TO_INDEX(CAP_SYS_ADMIN)].effective &
		      CAP_TO_MASK(CAP_SYS_ADMIN));
}

/*
 * Run @fn(cdev) in a child that is nobody without capabilities, and
 * assert that it ran to its end: an ASSERT that fails in the child logs
 * its line and aborts the child, which fails the test here.
 */
static void run_as_nobody(struct __test_metadata *_metadata,
			  void (*fn)(struct __test_metadata *, const char *),
			  const char *cdev)
{
	int status = 0;
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		ASSERT_EQ(0, become_nobody());
		assert_unprivileged(_metadata);
		fn(_metadata, cdev);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status))
		TH_LOG("the unprivileged child was killed by signal %d: an assertion failed in it (above)",
		       WTERMSIG(status));
	ASSERT_EQ(0, WEXITSTATUS(status));
}

/* Open @dir/@name (or @dir alone) read-write: the fd, or minus the errno */
static int open_node(const char *dir, const char *name)
{
	char path[PATH_MAX];
	int fd;

	PATHF(path, "%s%s%s", dir, name ? "/" : "", name ? name : "");
	fd = open(path, O_RDWR | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* ---- what the device's owner does ---- */

/* Open the device's cdev and /dev/iommu as this process (nobody or root) */
static void open_nodes(struct __test_metadata *_metadata, const char *cdev,
		       int *device_fd, int *iommufd)
{
	*device_fd = open_node(CDEV_DIR, cdev);
	ASSERT_LE(0, *device_fd)
		TH_LOG("open %s/%s: %s", CDEV_DIR, cdev, strerror(-*device_fd));
	*iommufd = open_node(IOMMUFD_NODE, NULL);
	ASSERT_LE(0, *iommufd)
		TH_LOG("open %s: %s", IOMMUFD_NODE, strerror(-*iommufd));
}

/* With the IOMMU: open, bind, IOAS, attach (a new domain), detach */
static void bind_attach_detach(struct __test_metadata *_metadata,
			       const char *cdev)
{
	__u32 dev_id = 0, ioas_id = 0, hwpt_id = 0;
	int device_fd, iommufd;

	open_nodes(_metadata, cdev, &device_fd, &iommufd);
	test_cmd_bind(device_fd, iommufd, &dev_id)
		TH_LOG("VFIO_DEVICE_BIND_IOMMUFD with the IOMMU present (booted with iommufd.allow_unsafe_interrupts=1?)");
	ASSERT_NE(0U, dev_id);
	test_ioas_alloc_fd(iommufd, &ioas_id);
	test_cmd_attach(device_fd, ioas_id, &hwpt_id);
	/* Attaching to an IOAS allocates a domain and returns its HWPT */
	ASSERT_NE(ioas_id, hwpt_id);
	test_cmd_detach(device_fd);
	ASSERT_EQ(0, close(device_fd));
	ASSERT_EQ(0, close(iommufd));
}

/*
 * Without the IOMMU: the cdev opens (an ordinary vfioN, its owner may),
 * the bind fails with EINVAL, and so nothing can be attached: the device
 * file stays unbound and refuses the attach with EINVAL.
 */
static void bind_fails(struct __test_metadata *_metadata, const char *cdev)
{
	__u32 ioas_id = 0, hwpt_id;
	int device_fd, iommufd;

	open_nodes(_metadata, cdev, &device_fd, &iommufd);
	test_err_bind(EINVAL, device_fd, iommufd)
		TH_LOG("%s, registered behind an IOMMU that went away, was bound (0) or refused with another errno: it must fail with EINVAL, not bind as a no-IOMMU device",
		       cdev);
	test_ioas_alloc_fd(iommufd, &ioas_id);
	hwpt_id = ioas_id;
	test_err_attach_fd(EINVAL, device_fd, ioas_id, &hwpt_id);
	ASSERT_EQ(ioas_id, hwpt_id);
	ASSERT_EQ(0, close(device_fd));
	ASSERT_EQ(0, close(iommufd));
}

/* ---- the scenario, in order ---- */

TEST_F(gone, cdev_behind_iommu)
{
	char cdev[NAME_MAX + 1], viommu[NAME_MAX + 1], iommu[NAME_MAX + 1];
	char path[PATH_MAX], vdev[PATH_MAX], link[PATH_MAX], dev[32];
	unsigned int maj, min;
	struct stat st;
	FILE *f;

	ASSERT_DEVICE_ON_VFIO_PCI(cdev);
	ASSERT_HAS_IOMMU(true);
	/*
	 * Its IOMMU is the one virtio_iommu drives: the device's iommu link
	 * leads to VIRTIO_DEV/iommu/NAME, NAME being the virtio device's
	 * parent (its PCI function) and the IOMMU's name in /sys/class/iommu.
	 */
	ASSERT_EQ(1, dir_entries(VIOMMU_DRIVER, "virtio", viommu))
		TH_LOG("want one device bound to %s (QEMU -device virtio-iommu-pci, CONFIG_VIRTIO_IOMMU)",
		       VIOMMU_DRIVER);
	PATHF(path, "%s/%s", VIOMMU_DRIVER, viommu);
	ASSERT_NE(NULL, realpath(path, vdev));
	PATHF(path, "%s/%s/iommu", PCI_DEVICES, noiommu_bdf);
	ASSERT_NE(NULL, realpath(path, link));
	ASSERT_EQ(0, strncmp(link, vdev, strlen(vdev)))
		TH_LOG("%s's IOMMU is %s, not %s's", noiommu_bdf, link, vdev);
	ASSERT_EQ(0, strncmp(link + strlen(vdev), "/iommu/", 7))
		TH_LOG("%s's IOMMU is %s, not %s's", noiommu_bdf, link, vdev);
	link_name(path, iommu);
	PATHF(path, "%s/%s", IOMMU_CLASS, iommu);
	ASSERT_EQ(0, path_err(path));

	/* The node is this device's cdev, and its owner is nobody */
	PATHF(path, "%s/%s/vfio-dev/%s/dev", PCI_DEVICES, noiommu_bdf, cdev);
	f = fopen(path, "r");
	ASSERT_NE(NULL, f) TH_LOG("cannot read %s", path);
	ASSERT_NE(NULL, fgets(dev, sizeof(dev), f));
	fclose(f);
	ASSERT_EQ(2, sscanf(dev, "%u:%u", &maj, &min));
	PATHF(path, "%s/%s", CDEV_DIR, cdev);
	ASSERT_EQ(0, stat(path, &st));
	ASSERT_EQ(maj, major(st.st_rdev));
	ASSERT_EQ(min, minor(st.st_rdev));
	ASSERT_EQ(NOBODY, st.st_uid)
		TH_LOG("%s is not owned by uid %u: chown it first (run-tests.sh --suite iommu-gone does)",
		       path, NOBODY);
	ASSERT_EQ(NOBODY, st.st_gid);
	ASSERT_EQ((mode_t)(S_IRUSR | S_IWUSR), st.st_mode & (S_IRUSR | S_IWUSR));
	ASSERT_EQ(0, stat(IOMMUFD_NODE, &st));
	ASSERT_TRUE(S_ISCHR(st.st_mode));
	ASSERT_EQ(NOBODY, st.st_uid)
		TH_LOG("%s is not owned by uid %u", IOMMUFD_NODE, NOBODY);

	TH_LOG("%s: cdev %s/%s, IOMMU %s (%s)", noiommu_bdf, CDEV_DIR, cdev, iommu,
	       viommu);
	snprintf(seen->cdev, sizeof(seen->cdev), "%s", cdev);
	snprintf(seen->viommu, sizeof(seen->viommu), "%s", viommu);
	snprintf(seen->iommu, sizeof(seen->iommu), "%s", iommu);
}

TEST_F_TIMEOUT(gone, owner_binds_with_iommu, SLOW_STEP_TIMEOUT)
{
	char cdev[NAME_MAX + 1];

	ASSERT_AFTER_TEST_1(cdev, true);
	run_as_nobody(_metadata, bind_attach_detach, cdev);
	seen->owner_done = true;
}

TEST_F(gone, unbind_virtio_iommu)
{
	char cdev[NAME_MAX + 1], path[PATH_MAX];

	ASSERT_TRUE(seen->viommu[0]) TH_LOG("cdev_behind_iommu did not pass");
	/*
	 * Never unbind the IOMMU while a device is bound to iommufd through
	 * it: the IOMMU core does not survive that (a WARN on the removal, a
	 * NULL pointer on the device's later unbind).
	 */
	ASSERT_TRUE(seen->owner_done)
		TH_LOG("owner_binds_with_iommu did not finish: its process may still hold the device");
	ASSERT_DEVICE_ON_VFIO_PCI(cdev);
	ASSERT_HAS_IOMMU(true);

	PATHF(path, "%s/unbind", VIOMMU_DRIVER);
	ASSERT_EQ(0, errno_of(write_file(path, seen->viommu)))
		TH_LOG("unbinding %s from virtio_iommu", seen->viommu);

	/* The IOMMU is gone: its driver, its sysfs device, the links */
	PATHF(path, "%s/%s/driver", VIRTIO_DEVICES, seen->viommu);
	ASSERT_EQ(ENOENT, path_err(path));
	ASSERT_EQ(0, dir_entries(VIOMMU_DRIVER, "virtio", path));
	PATHF(path, "%s/%s", IOMMU_CLASS, seen->iommu);
	ASSERT_EQ(ENOENT, path_err(path));
	ASSERT_HAS_IOMMU(false);

	/* The device stays on vfio-pci, with the same cdev */
	ASSERT_DEVICE_ON_VFIO_PCI(cdev);
	ASSERT_EQ(0, dir_entries(CDEV_DIR, "noiommu-", path))
		TH_LOG("a no-IOMMU cdev appeared: %s", path);
}

TEST_F_TIMEOUT(gone, owner_bind_fails_without_iommu, SLOW_STEP_TIMEOUT)
{
	char cdev[NAME_MAX + 1];

	ASSERT_AFTER_TEST_1(cdev, false);
	run_as_nobody(_metadata, bind_fails, cdev);
}

TEST_F_TIMEOUT(gone, root_bind_fails_without_iommu, SLOW_STEP_TIMEOUT)
{
	char cdev[NAME_MAX + 1];

	ASSERT_AFTER_TEST_1(cdev, false);
	assert_root(_metadata);
	bind_fails(_metadata, cdev);
}

int main(int argc, char *argv[])
{
	seen = mmap(NULL, sizeof(*seen), PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (seen == MAP_FAILED) {
		perror("mmap");
		return KSFT_FAIL;
	}
	/* No BDF fails each test, which asserts it */
	return noiommu_main(argc, argv);
}
