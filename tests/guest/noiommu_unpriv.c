// SPDX-License-Identifier: GPL-2.0
/*
 * Unprivileged users and the no-IOMMU cdev.
 *
 * The guest has no udev, so the device nodes are what devtmpfs makes of
 * them: report their mode and ownership and check that neither the
 * no-IOMMU cdev nor /dev/iommu is accessible to others. Then, in forked
 * children that change identity:
 *
 *   nobody, no capabilities: cannot open the cdev, neither through the
 *     real node (file mode) nor through a 0666 copy of it (the driver's
 *     CAP_SYS_RAWIO check), and GET_PA on an iommufd it inherited from
 *     root is refused with EPERM;
 *   root without CAP_SYS_RAWIO: the same refusals, from the kernel's
 *     capability checks alone (root passes the file mode);
 *   nobody with CAP_SYS_RAWIO only (PR_SET_KEEPCAPS + capset): the real
 *     nodes stay closed (CAP_SYS_RAWIO does not override file modes), but
 *     through 0666 copies the whole flow works: open, bind, attach, map
 *     and a GET_PA that matches pagemap; after it drops CAP_SYS_RAWIO its
 *     GET_PA is refused again (the check is made on every call).
 *
 * What the kernel guarantees is asserted; what merely happens (what else an
 * inherited fd allows, what pagemap shows to nobody) is reported as
 * diagnostics. At the end root must still be able to use the device.
 *
 * usage: noiommu_unpriv BDF     (prints TAP; needs root)
 */
#define _GNU_SOURCE
#include <grp.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#include "../../examples/noiommu.h"
#include "raw_ioctl.h"
#include "tap.h"

#define NR_TESTS	17
#define NOBODY		65534
#define BUF_LEN		(4 * SZ_4K)
#define ROOT_IOVA	(1ULL << 32)
#define USER_IOVA	(2ULL << 32)

/* What a child reports to the parent through a pipe */
struct record {
	int kind;		/* REC_* */
	char text[480];
};

enum { REC_DIAG, REC_OK, REC_NOT_OK };

enum who {
	NOBODY_NO_CAPS,		/* uid/gid 65534, no capabilities */
	NOBODY_RAWIO,		/* uid/gid 65534, CAP_SYS_RAWIO only */
	ROOT_NO_RAWIO,		/* uid 0, every capability but CAP_SYS_RAWIO */
};

static const char * const who_name[] = {
	[NOBODY_NO_CAPS] = "nobody without capabilities",
	[NOBODY_RAWIO] = "nobody with CAP_SYS_RAWIO only",
	[ROOT_NO_RAWIO] = "root without CAP_SYS_RAWIO",
};

static struct noiommu_dev nd;		/* root's session */
static char bdf[64];
static char tmpdir[64], cdev_copy[96], iommu_copy[96];
static char *root_buf;
static uint64_t root_buf_pa;		/* pagemap's PA of root_buf, as root */
static int report_fd = -1;		/* child: write end of the pipe */
static int root_pagemap = -1;		/* child: opened before the switch */

/* In a child: send a result or a diagnostic to the parent */
__attribute__((format(printf, 2, 3)))
static void report(int kind, const char *fmt, ...)
{
	struct record rec = { .kind = kind };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rec.text, sizeof(rec.text), fmt, ap);
	va_end(ap);
	if (write(report_fd, &rec, sizeof(rec)) != sizeof(rec))
		_exit(125);
}

#define child_diag(...)		report(REC_DIAG, __VA_ARGS__)
#define child_ok(ok, ...)	report((ok) ? REC_OK : REC_NOT_OK, __VA_ARGS__)

static int get_pa_err(int iommufd, struct iommu_ioas_noiommu_get_pa *cmd)
{
	return ioctl(iommufd, IOMMU_IOAS_NOIOMMU_GET_PA, cmd) ? errno : 0;
}

/* Become @who in this (single-threaded) child; 0 or an errno */
static int become(enum who who)
{
	uint64_t rawio = 1ULL << CAP_SYS_RAWIO;

	if (who == ROOT_NO_RAWIO)
		return caps_drop(CAP_SYS_RAWIO) ? errno : 0;
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
	uid_t uid = who == ROOT_NO_RAWIO ? 0 : NOBODY;

	if (who == ROOT_NO_RAWIO)
		return getuid() == 0 && geteuid() == 0 &&
		       !(caps_effective() & (1ULL << CAP_SYS_RAWIO)) &&
		       (caps_effective() & (1ULL << CAP_SYS_ADMIN));
	return getuid() == uid && geteuid() == uid && getgid() == NOBODY &&
	       caps_effective() == want;
}

/*
 * Run @fn as @who in a child that reports @nr results; relay its records
 * as TAP. A child that dies early fails the results it did not report.
 */
static void run_as(enum who who, void (*fn)(enum who), int nr)
{
	struct record rec;
	int pfd[2], got = 0, status = 0;
	pid_t pid;

	if (pipe(pfd))
		tap_bail("pipe: %s", strerror(errno));
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		tap_bail("fork: %s", strerror(errno));
	if (!pid) {
		int err;

		close(pfd[0]);
		report_fd = pfd[1];
		/* Opened as root, it keeps showing PFNs after the switch */
		root_pagemap = open("/proc/self/pagemap", O_RDONLY);
		err = become(who);
		if (err || !identity_is(who)) {
			child_diag("could not become %s: %s", who_name[who],
				   err ? strerror(err) : "wrong uid or caps");
			_exit(1);
		}
		child_diag("as %s: uid %d euid %d gid %d, effective caps %#llx",
			   who_name[who], getuid(), geteuid(), getgid(),
			   (unsigned long long)caps_effective());
		fn(who);
		_exit(0);
	}
	close(pfd[1]);
	while (read(pfd[0], &rec, sizeof(rec)) == sizeof(rec)) {
		rec.text[sizeof(rec.text) - 1] = 0;
		if (rec.kind == REC_DIAG) {
			tap_diag("%s", rec.text);
			continue;
		}
		tap_ok(rec.kind == REC_OK, "%s: %s", who_name[who], rec.text);
		got++;
	}
	close(pfd[0]);
	waitpid(pid, &status, 0);
	for (; got < nr; got++)
		tap_ok(false, "%s: child ended (status %#x) before reporting this result",
		       who_name[who], status);
}

/* ---- what each identity tries ---- */

/* Refusals that hold for every identity without CAP_SYS_RAWIO */
static void try_without_rawio(enum who who)
{
	struct iommu_ioas_noiommu_get_pa cmd = pa_req(nd.ioas_id, ROOT_IOVA,
						      BUF_LEN);
	struct vfio_device_info info = { .argsz = sizeof(info) };
	int err, err2;

	if (who == NOBODY_NO_CAPS) {
		err = open_err(nd.cdev);
		child_ok(err == EACCES, "open %s (real node): %s, expected EACCES",
			 nd.cdev, errno_name(err));
		err = open_err(cdev_copy);
		child_ok(err == EPERM, "open a 0666 copy of the cdev node: %s, expected EPERM (the driver's CAP_SYS_RAWIO check)",
			 errno_name(err));
		err = open_err("/dev/iommu");
		child_ok(err == EACCES, "open /dev/iommu: %s, expected EACCES",
			 errno_name(err));
	} else {
		err = open_err(nd.cdev);
		child_ok(err == EPERM, "open %s (real node, file mode allows root): %s, expected EPERM",
			 nd.cdev, errno_name(err));
	}

	/* An iommufd handed over by root does not carry root's capability */
	err = get_pa_err(nd.iommufd, &cmd);
	cmd = pa_req(nd.ioas_id, ROOT_IOVA, 0);
	cmd.flags = 1;
	err2 = get_pa_err(nd.iommufd, &cmd);
	child_ok(err == EPERM && err2 == EPERM,
		 "GET_PA on root's iommufd: %s, with bad flags and length 0: %s; expected EPERM for both",
		 errno_name(err), errno_name(err2));

	/* Not guaranteed either way: what else the inherited fds allow */
	err = ioctl(nd.device_fd, VFIO_DEVICE_GET_INFO, &info) ? errno : 0;
	child_diag("  (inherited device fd: VFIO_DEVICE_GET_INFO %s; fds keep the rights of whoever opened them)",
		   errno_name(err));
}

/* nobody with CAP_SYS_RAWIO, while root holds the device */
static void try_rawio_while_root_holds(enum who who)
{
	struct iommu_ioas_noiommu_get_pa cmd = pa_req(nd.ioas_id, ROOT_IOVA,
						      SZ_4K);
	int err;

	(void)who;
	err = open_err(nd.cdev);
	child_ok(err == EACCES, "open %s (real node): %s, expected EACCES (CAP_SYS_RAWIO does not override the file mode)",
		 nd.cdev, errno_name(err));
	err = open_err("/dev/iommu");
	child_ok(err == EACCES, "open /dev/iommu: %s, expected EACCES",
		 errno_name(err));
	err = get_pa_err(nd.iommufd, &cmd);
	child_ok(!err && cmd.out_phys == root_buf_pa && cmd.length == SZ_4K,
		 "GET_PA on root's iommufd: %s, phys %#llx length %#llx; expected 0, root's pagemap phys %#llx, length 0x1000",
		 errno_name(err), (unsigned long long)cmd.out_phys,
		 (unsigned long long)cmd.length,
		 (unsigned long long)root_buf_pa);
}

/*
 * nobody with CAP_SYS_RAWIO, the device free: the whole flow through 0666
 * copies of the nodes, then GET_PA again without the capability.
 */
static void try_rawio_own_device(enum who who)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct vfio_device_attach_iommufd_pt attach = {
		.argsz = sizeof(attach),
	};
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	struct vfio_device_info info = { .argsz = sizeof(info) };
	struct iommu_ioas_noiommu_get_pa cmd;
	int device_fd, iommufd, pm_user, err;
	struct iommu_ioas_map map;
	struct rlimit rl;
	const char *step;
	uint64_t pa = 0, pa_user = 0;
	char *buf;

	(void)who;
	device_fd = open(cdev_copy, O_RDWR);
	err = device_fd < 0 ? errno : 0;
	child_ok(!err, "open a 0666 copy of the cdev node: %s, expected success",
		 errno_name(err));

	buf = mmap(NULL, BUF_LEN, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED) {
		child_ok(false, "mmap: %s", strerror(errno));
		child_ok(false, "no buffer, nothing to check");
		return;
	}
	madvise(buf, BUF_LEN, MADV_NOHUGEPAGE);
	memset(buf, 0x77, BUF_LEN);
	getrlimit(RLIMIT_MEMLOCK, &rl);

	step = "open the 0666 copy of the cdev";
	if (device_fd < 0)
		goto fail;
	step = "open the 0666 copy of /dev/iommu";
	iommufd = open(iommu_copy, O_RDWR);
	if (iommufd < 0)
		goto fail;
	step = "VFIO_DEVICE_BIND_IOMMUFD";
	bind.iommufd = iommufd;
	if (ioctl(device_fd, VFIO_DEVICE_BIND_IOMMUFD, &bind))
		goto fail;
	step = "IOMMU_IOAS_ALLOC";
	if (ioctl(iommufd, IOMMU_IOAS_ALLOC, &alloc))
		goto fail;
	step = "VFIO_DEVICE_ATTACH_IOMMUFD_PT";
	attach.pt_id = alloc.out_ioas_id;
	if (ioctl(device_fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach))
		goto fail;
	step = "IOMMU_IOAS_MAP";
	map = (struct iommu_ioas_map){
		.size = sizeof(map),
		.flags = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE |
			 IOMMU_IOAS_MAP_FIXED_IOVA,
		.ioas_id = alloc.out_ioas_id,
		.user_va = (uintptr_t)buf,
		.length = BUF_LEN,
		.iova = USER_IOVA,
	};
	if (ioctl(iommufd, IOMMU_IOAS_MAP, &map))
		goto fail;
	step = "IOMMU_IOAS_NOIOMMU_GET_PA";
	cmd = pa_req(alloc.out_ioas_id, USER_IOVA + 0x10, 0x20);
	if (ioctl(iommufd, IOMMU_IOAS_NOIOMMU_GET_PA, &cmd))
		goto fail;
	if (root_pagemap >= 0)
		pa = pagemap_pa(root_pagemap, buf + 0x10);
	child_ok(pa && cmd.out_phys == pa && cmd.length == 0x20,
		 "open /dev/iommu copy, bind, IOAS alloc, attach, map %lu bytes (RLIMIT_MEMLOCK %llu), GET_PA: phys %#llx length %#llx, pagemap (fd opened as root) %#llx",
		 BUF_LEN, (unsigned long long)rl.rlim_cur,
		 (unsigned long long)cmd.out_phys,
		 (unsigned long long)cmd.length, (unsigned long long)pa);

	/* Not guaranteed: what nobody's own pagemap shows */
	prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	pm_user = open("/proc/self/pagemap", O_RDONLY);
	if (pm_user >= 0) {
		pa_user = pagemap_pa(pm_user, buf + 0x10);
		close(pm_user);
		child_diag("  (nobody's own /proc/self/pagemap gives phys %#llx: PFNs need CAP_SYS_ADMIN there, GET_PA needs only CAP_SYS_RAWIO)",
			   (unsigned long long)pa_user);
	} else {
		child_diag("  (nobody cannot open its own /proc/self/pagemap: %s)",
			   strerror(errno));
	}

	/* The capability is checked on every call, not only at open */
	caps_set(0, 0);
	cmd = pa_req(alloc.out_ioas_id, USER_IOVA, 1);
	err = get_pa_err(iommufd, &cmd);
	child_ok(err == EPERM, "after dropping CAP_SYS_RAWIO, GET_PA on its own iommufd: %s, expected EPERM",
		 errno_name(err));
	err = ioctl(device_fd, VFIO_DEVICE_GET_INFO, &info) ? errno : 0;
	child_diag("  (after dropping CAP_SYS_RAWIO, its open device fd: VFIO_DEVICE_GET_INFO %s)",
		   errno_name(err));
	close(device_fd);
	close(iommufd);
	return;

fail:
	child_ok(false, "with CAP_SYS_RAWIO through 0666 nodes: %s failed: %s (RLIMIT_MEMLOCK %llu)",
		 step, strerror(errno), (unsigned long long)rl.rlim_cur);
	child_ok(false, "GET_PA after dropping CAP_SYS_RAWIO: not reached");
}

/* ---- nodes ---- */

static void mode_string(mode_t mode, char *s)
{
	const char *rwx = "rwxrwxrwx";
	int i;

	s[0] = S_ISCHR(mode) ? 'c' : S_ISDIR(mode) ? 'd' : '-';
	for (i = 0; i < 9; i++)
		s[i + 1] = mode & (0400 >> i) ? rwx[i] : '-';
	s[10] = 0;
}

static bool describe(const char *path, struct stat *st)
{
	char mode[11];

	if (stat(path, st)) {
		tap_diag("%s: %s", path, strerror(errno));
		return false;
	}
	mode_string(st->st_mode, mode);
	if (S_ISCHR(st->st_mode))
		tap_diag("%s  %u %u  %u:%u  %s", mode, st->st_uid, st->st_gid,
			 major(st->st_rdev), minor(st->st_rdev), path);
	else
		tap_diag("%s  %u %u  %s", mode, st->st_uid, st->st_gid, path);
	return true;
}

static bool private_node(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && st->st_uid == 0 && st->st_gid == 0 &&
	       !(st->st_mode & 0007);
}

static void check_nodes(void)
{
	char path[PATH_MAX], dev[32], group[PATH_MAX], want[32];
	struct stat cdev, iommu, other;
	ssize_t n;
	bool ok;

	/* The sysfs dev attribute says which node is the cdev */
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vfio-dev/%s/dev",
		 bdf, strrchr(nd.cdev, '/') + 1);
	read_line(path, dev, sizeof(dev));

	ok = describe(nd.cdev, &cdev) && private_node(&cdev);
	snprintf(want, sizeof(want), "%u:%u", major(cdev.st_rdev),
		 minor(cdev.st_rdev));
	if (strcmp(want, dev)) {
		tap_diag("sysfs says %s for the cdev, the node is %s", dev,
			 want);
		ok = false;
	}
	tap_ok(ok, "%s (devtmpfs, no udev) is a char device owned by root:root, not accessible to others (mode %04o)",
	       nd.cdev, cdev.st_mode & 07777);

	ok = describe("/dev/iommu", &iommu) && private_node(&iommu);
	tap_ok(ok, "/dev/iommu is a char device owned by root:root, not accessible to others (mode %04o)",
	       iommu.st_mode & 07777);

	/* Reported only */
	describe("/dev/vfio/devices", &other);
	describe("/dev/vfio/vfio", &other);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group",
		 bdf);
	n = readlink(path, group, sizeof(group) - 1);
	if (n > 0) {
		group[n] = 0;
		snprintf(path, sizeof(path), "/dev/vfio/noiommu-%s",
			 strrchr(group, '/') + 1);
		describe(path, &other);
	}
}

/* 0666 copies of the cdev and /dev/iommu, in a directory others can enter */
static void make_copies(void)
{
	struct stat st;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/noiommu_unpriv.XXXXXX");
	if (!mkdtemp(tmpdir) || chmod(tmpdir, 0711))
		tap_bail("mkdtemp: %s", strerror(errno));
	snprintf(cdev_copy, sizeof(cdev_copy), "%s/cdev", tmpdir);
	snprintf(iommu_copy, sizeof(iommu_copy), "%s/iommu", tmpdir);
	if (stat(nd.cdev, &st) ||
	    mknod(cdev_copy, S_IFCHR | 0666, st.st_rdev) ||
	    chmod(cdev_copy, 0666) || stat("/dev/iommu", &st) ||
	    mknod(iommu_copy, S_IFCHR | 0666, st.st_rdev) ||
	    chmod(iommu_copy, 0666))
		tap_bail("mknod in %s: %s", tmpdir, strerror(errno));
	tap_diag("0666 copies of the nodes for the driver-check cases: %s, %s",
		 cdev_copy, iommu_copy);
}

static void remove_copies(void)
{
	unlink(cdev_copy);
	unlink(iommu_copy);
	rmdir(tmpdir);
}

/* Root's session: the device bound and attached, a buffer mapped */
static bool root_session(void)
{
	__u64 iova = ROOT_IOVA, len = SZ_4K, pa = 0;
	int pm;

	if (noiommu_open(&nd, bdf))
		goto fail;
	root_buf = mmap(NULL, BUF_LEN, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (root_buf == MAP_FAILED) {
		nd_fail(&nd, "mmap: %s", strerror(errno));
		goto fail;
	}
	madvise(root_buf, BUF_LEN, MADV_NOHUGEPAGE);
	memset(root_buf, 0x11, BUF_LEN);
	if (noiommu_map(&nd, root_buf, BUF_LEN, &iova, true) ||
	    noiommu_get_pa(&nd, ROOT_IOVA, &len, &pa))
		goto fail;
	pm = open("/proc/self/pagemap", O_RDONLY);
	root_buf_pa = pm < 0 ? 0 : pagemap_pa(pm, root_buf);
	if (pm >= 0)
		close(pm);
	if (!root_buf_pa || pa != root_buf_pa || len != SZ_4K) {
		nd_fail(&nd, "GET_PA %#llx length %#llx, pagemap %#llx",
			(unsigned long long)pa, (unsigned long long)len,
			(unsigned long long)root_buf_pa);
		goto fail;
	}
	return true;
fail:
	tap_diag("root session: %s", nd.err);
	return false;
}

static void root_session_end(void)
{
	noiommu_close(&nd);
	if (root_buf && root_buf != MAP_FAILED)
		munmap(root_buf, BUF_LEN);
	root_buf = NULL;
}

/* Reported only: this kernel may have no user namespaces */
static void userns_diag(void)
{
	int status = 0;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (!pid) {
		int err;

		if (become(NOBODY_NO_CAPS))
			_exit(100);
		if (unshare(CLONE_NEWUSER))
			_exit(errno);
		err = open_err(cdev_copy);
		_exit(200 + (err == EPERM));
	}
	waitpid(pid, &status, 0);
	if (WIFEXITED(status) && WEXITSTATUS(status) < 100)
		tap_diag("user namespaces: unshare(CLONE_NEWUSER) as nobody: %s; a namespace's CAP_SYS_RAWIO is not tested on this kernel",
			 errno_name(WEXITSTATUS(status)));
	else
		tap_diag("user namespaces: nobody with every capability in a new user namespace opening the 0666 cdev copy: %s",
			 WIFEXITED(status) && WEXITSTATUS(status) == 201 ?
			 "EPERM (capable() checks the initial namespace)" :
			 "NOT refused with EPERM, see the kernel");
}

int main(int argc, char **argv)
{
	unsigned long taint = kernel_taint();
	bool ok;

	if (argc != 2) {
		fprintf(stderr, "usage: %s BDF\n", argv[0]);
		return 2;
	}
	if (geteuid())
		tap_bail("run as root: the test changes identities itself");
	copy_str(bdf, sizeof(bdf), argv[1]);
	copy_str(nd.bdf, sizeof(nd.bdf), bdf);
	if (!find_cdev(&nd, "noiommu-vfio"))
		tap_bail("%s", explain_no_cdev(&nd) ? nd.err : "no cdev");

	tap_plan(NR_TESTS);
	check_nodes();
	make_copies();

	/* Root holds the device; the others try to get at it */
	ok = root_session();
	tap_ok(ok, "root: open, bind, attach, map and GET_PA work (the refusals below are not for want of a working device)");
	if (!ok)
		tap_bail("cannot set up the device as root");
	run_as(NOBODY_NO_CAPS, try_without_rawio, 4);
	run_as(ROOT_NO_RAWIO, try_without_rawio, 2);
	run_as(NOBODY_RAWIO, try_rawio_while_root_holds, 3);
	root_session_end();

	/* The device is free: nobody with CAP_SYS_RAWIO uses it itself */
	run_as(NOBODY_RAWIO, try_rawio_own_device, 3);
	userns_diag();

	ok = root_session();
	tap_ok(ok, "root: the device works again after the unprivileged attempts");
	root_session_end();
	remove_copies();
	tap_taint(taint);
	return tap_finish();
}
