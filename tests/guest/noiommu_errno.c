// SPDX-License-Identifier: GPL-2.0
/*
 * The errno of every request a no-IOMMU device can receive, measured, not
 * judged: this program runs unchanged on mainline 7.3 and on the series,
 * and prints one line per request,
 *
 *   errno: <request> = <ENAME, or 0 for success>
 *
 * in a fixed order, with names that do not change. The comparison of the
 * two kernels' lines is done on the host (scripts/errno-compare.sh, from
 * make check's guest step): the series' lines against mainline's,
 * tests/guest/noiommu_errno.mainline-7.3 ('make errno-mainline'), with
 * the deliberate differences of tests/guest/noiommu_errno.differences.
 *
 * Each test asserts only what holds on both kernels: its setup succeeded
 * and each request returned. A request runs in a child process of the
 * test, which reports the errno through a pipe, so that a request the
 * kernel kills the caller for (an oops in the ioctl) is measured too, as
 * "SIG<NAME>" (e.g. SIGKILL), and fails the test. A request that
 * succeeds undoes what it did (destroys the object, detaches), so that the
 * next request starts from the same state on both kernels. Privileges are
 * dropped only in such children.
 *
 * The device: QEMU's edu (PCI 1234:11e8) bound to vfio-pci in no-IOMMU
 * mode, /dev/vfio/devices/noiommu-vfioN. The real-IOMMU device is
 * iommufd's mock device (CONFIG_IOMMUFD_TEST, IOMMU_TEST_OP_MOCK_DOMAIN).
 * Needs root.
 *
 * Requests, in the order printed (GET_PA's in the order of its checks):
 *   ioas_map.*, ioas_map_file.*  the maps GET_PA's requests use that are
 *                     not plain: a page ending at the top of the 64-bit
 *                     IOVA space, BAR0's dma-buf in IOASes with and
 *                     without a no-IOMMU HWPT (made in the test process,
 *                     as they must outlive the request)
 *   get_pa.*          IOMMU_IOAS_NOIOMMU_GET_PA: a valid request, then one
 *                     per error: no CAP_SYS_RAWIO, flags, __reserved,
 *                     length 0, iova ULONG_MAX (mapped), unknown IOAS,
 *                     unmapped iova, revoked dma-buf of BAR0 (after the
 *                     same dma-buf before the revoke), IOAS without a
 *                     no-IOMMU HWPT, revoked dma-buf in such an IOAS
 *   pasid.*           VFIO_DEVICE_ATTACH_IOMMUFD_PT / _DETACH_ with
 *                     VFIO_DEVICE_ATTACH_PASID / _DETACH_PASID, before
 *                     and after the device is attached
 *   hw_info           IOMMU_GET_HW_INFO
 *   hwpt_alloc.*      IOMMU_HWPT_ALLOC for the device, without a flag and
 *                     with each flag
 *   dirty.*           IOMMU_HWPT_SET_DIRTY_TRACKING and
 *                     IOMMU_HWPT_GET_DIRTY_BITMAP on a no-IOMMU HWPT
 *   hwpt_alloc.nested_on_noiommu_parent  a nested HWPT on a no-IOMMU HWPT
 *   viommu_alloc.*    IOMMU_VIOMMU_ALLOC for the device
 *   vdevice_alloc.*   IOMMU_VDEVICE_ALLOC for the device
 *   attach.*, mock_replace.*, mock_domain.*  the device and a mock device
 *                     each meeting the other's HWPT, by ID and by IOAS
 *   cdev.*            opening the cdev without CAP_SYS_RAWIO, and binding
 *                     without it a cdev opened with it
 *
 * usage: noiommu_errno [harness options] BDF
 *        NOIOMMU_BDF=BDF noiommu_errno [harness options]
 *   (kselftest harness: TAP on stdout, -l lists the tests)
 */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "noiommu_utils.h"

/* A buffer of 4K pages, in the mock domain's aperture */
#define NPAGES		16
#define BUF_LEN		(NPAGES * SZ_4K)
#define IOVA		(64UL << 20)
/* A page that ends at the last byte of the 64-bit IOVA space */
#define TOP_IOVA	(0ULL - SZ_4K)
/* Where BAR0's dma-buf is mapped */
#define DMABUF_IOVA	(1ULL << 32)
/* An object ID no iommufd here ever hands out */
#define UNKNOWN_ID	0xdead
#define PASID		1

/* ---- measuring a request ---- */

/* Exit statuses of a child that could not make its request */
#define EXIT_NO_CAP_DROP	3	/* could not drop CAP_SYS_RAWIO */
#define EXIT_NO_IOMMUFD		4	/* could not open /dev/iommu */

static void print_errno(const char *name, const char *value)
{
	printf("errno: %s = %s\n", name, value);
	/* The harness ends tests with _exit(): nothing may stay buffered */
	fflush(stdout);
}

/*
 * Run @expr (an int: 0 or an errno) in a child, print its line, and assert
 * only that the child came back with an answer.
 */
#define measure(name, expr)                                              \
	do {                                                             \
		int __fds[2];                                            \
		pid_t __pid;                                             \
									 \
		ASSERT_EQ(0, pipe(__fds));                               \
		fflush(stdout);                                          \
		__pid = fork();                                          \
		ASSERT_LE(0, __pid);                                     \
		if (!__pid) {                                            \
			int __err;                                       \
									 \
			close(__fds[0]);                                 \
			__err = (expr);                                  \
			_exit(write(__fds[1], &__err, sizeof(__err)) ==  \
				      sizeof(__err) ? 0 : 1);            \
		}                                                        \
		close(__fds[1]);                                         \
		_measured(_metadata, name, __pid, __fds[0]);             \
	} while (0)

static void _measured(struct __test_metadata *_metadata, const char *name,
		      pid_t pid, int fd)
{
	char value[32];
	int status = 0, err = -1;
	ssize_t n;

	n = read(fd, &err, sizeof(err));
	close(fd);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	if (WIFSIGNALED(status)) {
		snprintf(value, sizeof(value), "SIG%s",
			 sigabbrev_np(WTERMSIG(status)) ?: "UNKNOWN");
		print_errno(name, value);
	} else {
		ASSERT_EQ((ssize_t)sizeof(err), n)
			TH_LOG("%s: the child reported nothing (exit %d; %d: could not drop CAP_SYS_RAWIO, %d: could not open /dev/iommu)",
			       name, WEXITSTATUS(status), EXIT_NO_CAP_DROP,
			       EXIT_NO_IOMMUFD);
		print_errno(name, errno_name(err));
	}
	ASSERT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status))
		TH_LOG("%s: the request did not return", name);
}

/* The request, without CAP_SYS_RAWIO (the caller is a child) */
#define without_rawio(expr) \
	(caps_drop(CAP_SYS_RAWIO) ? (_exit(EXIT_NO_CAP_DROP), 0) : (expr))

/* ---- ioctls used for setup (noiommu_utils.h's): 0 or the errno ---- */

/* A paging HWPT for @dev_id on @pt_id with @flags */
static int hwpt_alloc(int iommufd, __u32 dev_id, __u32 pt_id, __u32 flags,
		      __u32 *hwpt_id)
{
	return errno_of(_test_cmd_hwpt_alloc(iommufd, dev_id, pt_id, 0, flags,
					     hwpt_id, IOMMU_HWPT_DATA_NONE,
					     NULL, 0));
}

static int map_at(int iommufd, __u32 ioas_id, void *va, size_t len,
		  __u64 iova)
{
	return errno_of(_test_ioas_map_at(iommufd, ioas_id, va, len, iova));
}

static int map_file(int iommufd, __u32 ioas_id, int fd, __u64 len,
		    __u64 iova)
{
	return errno_of(_test_ioctl_ioas_map_file(iommufd, ioas_id, fd, 0, len,
						  &iova,
						  IOMMU_IOAS_MAP_READABLE |
						  IOMMU_IOAS_MAP_WRITEABLE |
						  IOMMU_IOAS_MAP_FIXED_IOVA));
}

/* ioctl(@fd, @request, @arg): 0 or the errno */
static int _test_ioctl(int fd, unsigned long request, void *arg)
{
	return errno_of(ioctl(fd, request, arg));
}

/* ---- the requests: 0 or the errno, each undoing its success ---- */

/* The result @err of a request that made object @id; destroyed if made */
static int undo_alloc(int iommufd, int err, __u32 id)
{
	if (!err)
		_test_ioctl_destroy(iommufd, id);
	return err;
}

static int get_pa(int iommufd, struct iommu_ioas_noiommu_get_pa cmd)
{
	return errno_of(_test_ioctl_get_pa_raw(iommufd, &cmd));
}

static int pasid_attach(int device_fd, __u32 pt_id)
{
	struct vfio_device_attach_iommufd_pt cmd = {
		.argsz = sizeof(cmd),
		.flags = VFIO_DEVICE_ATTACH_PASID,
		.pt_id = pt_id,
		.pasid = PASID,
	};
	struct vfio_device_detach_iommufd_pt undo = {
		.argsz = sizeof(undo),
		.flags = VFIO_DEVICE_DETACH_PASID,
		.pasid = PASID,
	};
	int err = _test_ioctl(device_fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &cmd);

	if (!err)
		ioctl(device_fd, VFIO_DEVICE_DETACH_IOMMUFD_PT, &undo);
	return err;
}

static int pasid_detach(int device_fd)
{
	struct vfio_device_detach_iommufd_pt cmd = {
		.argsz = sizeof(cmd),
		.flags = VFIO_DEVICE_DETACH_PASID,
		.pasid = PASID,
	};

	return _test_ioctl(device_fd, VFIO_DEVICE_DETACH_IOMMUFD_PT, &cmd);
}

static int hw_info(int iommufd, __u32 dev_id)
{
	__u64 data[32] = {};
	struct iommu_hw_info cmd = {
		.size = sizeof(cmd),
		.dev_id = dev_id,
		.data_len = sizeof(data),
		.data_uptr = (uintptr_t)data,
	};

	return _test_ioctl(iommufd, IOMMU_GET_HW_INFO, &cmd);
}

/* IOMMU_HWPT_ALLOC of the device on @pt_id with @flags */
static int hwpt_alloc_flags(int iommufd, __u32 dev_id, __u32 pt_id,
			    __u32 flags, __u32 fault_id)
{
	__u32 hwpt_id = 0;
	int err = errno_of(_test_cmd_hwpt_alloc(iommufd, dev_id, pt_id,
						fault_id, flags, &hwpt_id,
						IOMMU_HWPT_DATA_NONE, NULL,
						0));

	return undo_alloc(iommufd, err, hwpt_id);
}

/* A nested HWPT (mock driver's data type) on the parent @pt_id */
static int hwpt_alloc_nested(int iommufd, __u32 dev_id, __u32 pt_id)
{
	struct iommu_hwpt_selftest data = {
		.iotlb = IOMMU_TEST_IOTLB_DEFAULT,
	};
	__u32 hwpt_id = 0;
	int err = errno_of(_test_cmd_hwpt_alloc(iommufd, dev_id, pt_id, 0, 0,
						&hwpt_id,
						IOMMU_HWPT_DATA_SELFTEST,
						&data, sizeof(data)));

	return undo_alloc(iommufd, err, hwpt_id);
}

static int set_dirty_tracking(int iommufd, __u32 hwpt_id, bool enable)
{
	struct iommu_hwpt_set_dirty_tracking cmd = {
		.size = sizeof(cmd),
		.flags = enable ? IOMMU_HWPT_DIRTY_TRACKING_ENABLE : 0,
		.hwpt_id = hwpt_id,
	};

	return _test_ioctl(iommufd, IOMMU_HWPT_SET_DIRTY_TRACKING, &cmd);
}

static int get_dirty_bitmap(int iommufd, __u32 hwpt_id)
{
	__u64 bitmap[NPAGES / 64 + 1] = {};
	struct iommu_hwpt_get_dirty_bitmap cmd = {
		.size = sizeof(cmd),
		.hwpt_id = hwpt_id,
		.iova = IOVA,
		.length = BUF_LEN,
		.page_size = SZ_4K,
		.data = (uintptr_t)bitmap,
	};

	return _test_ioctl(iommufd, IOMMU_HWPT_GET_DIRTY_BITMAP, &cmd);
}

static int viommu_alloc_req(int iommufd, __u32 dev_id, __u32 hwpt_id)
{
	__u32 viommu_id = 0;
	int err = errno_of(_test_cmd_viommu_alloc(iommufd, dev_id, hwpt_id, 0,
						  IOMMU_VIOMMU_TYPE_SELFTEST,
						  NULL, 0, &viommu_id));

	return undo_alloc(iommufd, err, viommu_id);
}

static int vdevice_alloc(int iommufd, __u32 viommu_id, __u32 dev_id)
{
	struct iommu_vdevice_alloc cmd = {
		.size = sizeof(cmd),
		.viommu_id = viommu_id,
		.dev_id = dev_id,
		.virt_id = 1,
	};
	int err = _test_ioctl(iommufd, IOMMU_VDEVICE_ALLOC, &cmd);

	return undo_alloc(iommufd, err, cmd.out_vdevice_id);
}

/* Attach the edu device to @pt_id; on success put it back on @back_id */
static int attach_req(int device_fd, __u32 pt_id, __u32 back_id)
{
	int err = errno_of(_test_cmd_attach(device_fd, pt_id, NULL));

	if (!err) {
		if (back_id)
			_test_cmd_attach(device_fd, back_id, NULL);
		else
			_test_cmd_detach(device_fd);
	}
	return err;
}

/* Move the mock device to @pt_id; on success back to @back_id */
static int mock_replace_req(int iommufd, __u32 stdev_id, __u32 pt_id,
			    __u32 back_id)
{
	int err = errno_of(_test_cmd_mock_domain_replace(iommufd, stdev_id,
							 pt_id, NULL));

	if (!err)
		_test_cmd_mock_domain_replace(iommufd, stdev_id, back_id,
					      NULL);
	return err;
}

static int mock_domain_req(int iommufd, __u32 pt_id)
{
	__u32 stdev_id = 0, hwpt_id = 0;
	int err = errno_of(_test_cmd_mock_domain(iommufd, pt_id, &stdev_id,
						 &hwpt_id, NULL));

	return undo_alloc(iommufd, err, stdev_id);
}

static int cdev_bind(int device_fd)
{
	int iommufd = open("/dev/iommu", O_RDWR);

	if (iommufd < 0)
		_exit(EXIT_NO_IOMMUFD);
	return errno_of(_test_cmd_bind(device_fd, iommufd, NULL));
}

/* ---- the fixture: the edu device bound to an iommufd, two IOASes ---- */

/* Find the edu device's cdev and open it; nd->err says why not */
static int edu_open_cdev(struct noiommu_dev *nd)
{
	if (!find_noiommu_cdev(nd, noiommu_bdf))
		return -1;
	return open_cdev(nd);
}

FIXTURE(edu) {
	struct noiommu_dev nd;
	__u32 ioas_a;
	__u32 ioas_b;
	void *buf;
};

FIXTURE_SETUP(edu)
{
	struct vfio_region_info info;

	ASSERT_EQ(0, edu_open_cdev(&self->nd))
		TH_LOG("%s", self->nd.err);
	self->nd.iommufd = open("/dev/iommu", O_RDWR);
	ASSERT_LE(0, self->nd.iommufd);
	ASSERT_EQ(0, _test_cmd_bind(self->nd.device_fd, self->nd.iommufd,
				    &self->nd.dev_id));
	ASSERT_EQ(0, region_info(&self->nd, VFIO_PCI_CONFIG_REGION_INDEX,
				 &info))
		TH_LOG("%s", self->nd.err);
	self->nd.config_offset = info.offset;
	ASSERT_EQ(0, region_info(&self->nd, VFIO_PCI_BAR0_REGION_INDEX, &info))
		TH_LOG("%s", self->nd.err);
	self->nd.bar0_size = info.size;
	ASSERT_EQ(0, _test_ioctl_ioas_alloc(self->nd.iommufd, &self->ioas_a));
	ASSERT_EQ(0, _test_ioctl_ioas_alloc(self->nd.iommufd, &self->ioas_b));
	self->buf = mmap(NULL, BUF_LEN, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->buf);
	memset(self->buf, 0x5a, BUF_LEN);
	ASSERT_EQ(0, map_at(self->nd.iommufd, self->ioas_a, self->buf, BUF_LEN,
			    IOVA));
}

FIXTURE_TEARDOWN(edu)
{
	if (self->nd.device_fd >= 0)
		set_memory_decoding(&self->nd, true);
	/* Closing the iommufd destroys the mock devices too */
	noiommu_close(&self->nd);
}

/*
 * GET_PA, one request per error in the order of its checks. IOAS A holds
 * the buffer, a page at the top of the IOVA space and BAR0's dma-buf, and
 * the device (so a no-IOMMU HWPT); IOAS B holds the buffer and the
 * dma-buf, and no HWPT. The maps at the top and of the dma-buf are
 * requests too (their lines come first): should a kernel refuse one, the
 * GET_PA lines that use it say so by their errno (ENOENT, unmapped).
 */
TEST_F(edu, get_pa)
{
	int iommufd = self->nd.iommufd, dmabuf;
	__u32 a = self->ioas_a, b = self->ioas_b;
	struct iommu_ioas_noiommu_get_pa cmd;
	void *top;

	ASSERT_EQ(0, _test_cmd_attach(self->nd.device_fd, a, NULL));
	ASSERT_EQ(0, map_at(self->nd.iommufd, b, self->buf, BUF_LEN, IOVA));
	top = mmap(NULL, SZ_4K, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, top);
	memset(top, 0x3c, SZ_4K);
	dmabuf = vfio_bar0_dmabuf(self->nd.device_fd, self->nd.bar0_size);
	ASSERT_LE(0, dmabuf)
		TH_LOG("VFIO_DEVICE_FEATURE_DMA_BUF of BAR0: %s",
		       strerror(errno));
	/* In this process: the mappings must outlive the request */
	print_errno("ioas_map.top_page_noiommu_hwpt",
		    errno_name(map_at(self->nd.iommufd, a, top, SZ_4K, TOP_IOVA)));
	print_errno("ioas_map_file.dmabuf_noiommu_hwpt",
		    errno_name(map_file(iommufd, a, dmabuf,
					self->nd.bar0_size, DMABUF_IOVA)));
	print_errno("ioas_map_file.dmabuf_no_noiommu_hwpt",
		    errno_name(map_file(iommufd, b, dmabuf,
					self->nd.bar0_size, DMABUF_IOVA)));

	measure("get_pa.valid", get_pa(iommufd, pa_req(a, IOVA, SZ_4K)));
	measure("get_pa.no_cap_sys_rawio",
		without_rawio(get_pa(iommufd, pa_req(a, IOVA, SZ_4K))));
	cmd = pa_req(a, IOVA, SZ_4K);
	cmd.flags = 1;
	measure("get_pa.flags_nonzero", get_pa(iommufd, cmd));
	cmd = pa_req(a, IOVA, SZ_4K);
	cmd.__reserved = 1;
	measure("get_pa.reserved_nonzero", get_pa(iommufd, cmd));
	measure("get_pa.length_zero", get_pa(iommufd, pa_req(a, IOVA, 0)));
	measure("get_pa.iova_ulong_max",
		get_pa(iommufd, pa_req(a, UINT64_MAX, 1)));
	measure("get_pa.unknown_ioas",
		get_pa(iommufd, pa_req(UNKNOWN_ID, IOVA, SZ_4K)));
	measure("get_pa.unmapped_iova",
		get_pa(iommufd, pa_req(a, IOVA + BUF_LEN, SZ_4K)));
	measure("get_pa.dmabuf_before_revoke",
		get_pa(iommufd, pa_req(a, DMABUF_IOVA, 1)));
	/* Memory decoding off revokes vfio-pci's dma-bufs of the device */
	ASSERT_EQ(0, set_memory_decoding(&self->nd, false));
	measure("get_pa.revoked_dmabuf",
		get_pa(iommufd, pa_req(a, DMABUF_IOVA, 1)));
	measure("get_pa.no_noiommu_hwpt",
		get_pa(iommufd, pa_req(b, IOVA, SZ_4K)));
	measure("get_pa.revoked_dmabuf_no_noiommu_hwpt",
		get_pa(iommufd, pa_req(b, DMABUF_IOVA, 1)));
	ASSERT_EQ(0, set_memory_decoding(&self->nd, true));
	close(dmabuf);
}

/* PASID attach and detach, the device attached nowhere, then to IOAS A */
TEST_F(edu, pasid)
{
	int device_fd = self->nd.device_fd;

	measure("pasid.attach_before_device_attach",
		pasid_attach(device_fd, self->ioas_a));
	measure("pasid.detach_before_device_attach", pasid_detach(device_fd));
	ASSERT_EQ(0, _test_cmd_attach(device_fd, self->ioas_a, NULL));
	measure("pasid.attach_after_device_attach",
		pasid_attach(device_fd, self->ioas_a));
	measure("pasid.detach_after_device_attach", pasid_detach(device_fd));
}

TEST_F(edu, hw_info)
{
	measure("hw_info", hw_info(self->nd.iommufd, self->nd.dev_id));
}

/* IOMMU_HWPT_ALLOC for the device on IOAS A, each flag alone */
TEST_F(edu, hwpt_alloc)
{
	int iommufd = self->nd.iommufd;
	__u32 dev = self->nd.dev_id, a = self->ioas_a;
	struct iommu_fault_alloc fault = { .size = sizeof(fault) };

	/* FAULT_ID_VALID names a real fault queue */
	ASSERT_EQ(0, _test_ioctl(iommufd, IOMMU_FAULT_QUEUE_ALLOC, &fault));

	measure("hwpt_alloc.no_flags", hwpt_alloc_flags(iommufd, dev, a, 0, 0));
	measure("hwpt_alloc.nest_parent",
		hwpt_alloc_flags(iommufd, dev, a, IOMMU_HWPT_ALLOC_NEST_PARENT,
				 0));
	measure("hwpt_alloc.dirty_tracking",
		hwpt_alloc_flags(iommufd, dev, a,
				 IOMMU_HWPT_ALLOC_DIRTY_TRACKING, 0));
	measure("hwpt_alloc.fault_id_valid",
		hwpt_alloc_flags(iommufd, dev, a, IOMMU_HWPT_FAULT_ID_VALID,
				 fault.out_fault_id));
	measure("hwpt_alloc.pasid",
		hwpt_alloc_flags(iommufd, dev, a, IOMMU_HWPT_ALLOC_PASID, 0));
	close(fault.out_fault_fd);
}

/* Dirty tracking on a no-IOMMU HWPT (allocated on IOAS A, not attached) */
TEST_F(edu, dirty_tracking)
{
	int iommufd = self->nd.iommufd;
	__u32 hwpt = 0;

	test_hwpt_alloc(self->ioas_a, &hwpt);
	measure("dirty.set_tracking_enable",
		set_dirty_tracking(iommufd, hwpt, true));
	measure("dirty.set_tracking_disable",
		set_dirty_tracking(iommufd, hwpt, false));
	measure("dirty.get_bitmap", get_dirty_bitmap(iommufd, hwpt));
}

/* A nested HWPT whose parent is a no-IOMMU HWPT */
TEST_F(edu, nested_hwpt)
{
	int iommufd = self->nd.iommufd;
	__u32 hwpt = 0;

	test_hwpt_alloc(self->ioas_a, &hwpt);
	measure("hwpt_alloc.nested_on_noiommu_parent",
		hwpt_alloc_nested(iommufd, self->nd.dev_id, hwpt));
}

/*
 * A vIOMMU for the device (of the mock driver's type, which this kernel
 * supports), on its no-IOMMU HWPT and on a mock nesting parent
 */
TEST_F(edu, viommu)
{
	int iommufd = self->nd.iommufd;
	__u32 hwpt = 0, stdev = 0, mock_hwpt = 0, mock_idev = 0, parent = 0;

	test_hwpt_alloc(self->ioas_a, &hwpt);
	ASSERT_EQ(0, _test_cmd_mock_domain(iommufd, self->ioas_b, &stdev,
					   &mock_hwpt, &mock_idev));
	ASSERT_EQ(0, hwpt_alloc(iommufd, mock_idev, self->ioas_b,
				IOMMU_HWPT_ALLOC_NEST_PARENT, &parent));
	measure("viommu_alloc.noiommu_hwpt",
		viommu_alloc_req(iommufd, self->nd.dev_id, hwpt));
	measure("viommu_alloc.mock_nest_parent",
		viommu_alloc_req(iommufd, self->nd.dev_id, parent));
}

/* A vDevice of the device on the mock device's vIOMMU */
TEST_F(edu, vdevice)
{
	int iommufd = self->nd.iommufd;
	__u32 stdev = 0, mock_hwpt = 0, mock_idev = 0, parent = 0, viommu = 0;

	ASSERT_EQ(0, _test_cmd_mock_domain(iommufd, self->ioas_b, &stdev,
					   &mock_hwpt, &mock_idev));
	ASSERT_EQ(0, hwpt_alloc(iommufd, mock_idev, self->ioas_b,
				IOMMU_HWPT_ALLOC_NEST_PARENT, &parent));
	ASSERT_EQ(0, _test_cmd_viommu_alloc(iommufd, mock_idev, parent, 0,
					    IOMMU_VIOMMU_TYPE_SELFTEST, NULL,
					    0, &viommu));
	measure("vdevice_alloc.mock_viommu",
		vdevice_alloc(iommufd, viommu, self->nd.dev_id));
}

/*
 * The device and a mock device meet each other's HWPT: the device
 * attached to the mock HWPT (from nowhere, and replacing its own HWPT)
 * and to the IOAS that holds it; the mock device replaced onto the
 * no-IOMMU HWPT by ID and onto the IOAS that holds it, and created on
 * that IOAS. One test per request, so that each starts from the state
 * its test set up, whatever an earlier request did on this kernel: the
 * mock device on IOAS B, the device attached nowhere or to IOAS A.
 *
 * Where a request on an IOAS succeeds, the test makes it again, in this
 * process, to say in an "# info:" line (not compared) whether the two
 * devices ended up sharing one HWPT.
 */
static void mixed_setup(struct __test_metadata *_metadata,
			FIXTURE_DATA(edu) *self, bool attach_device,
			__u32 *stdev, __u32 *mock_hwpt, __u32 *hwpt)
{
	ASSERT_EQ(0, _test_cmd_mock_domain(self->nd.iommufd, self->ioas_b,
					   stdev, mock_hwpt, NULL));
	if (attach_device)
		ASSERT_EQ(0, _test_cmd_attach(self->nd.device_fd, self->ioas_a,
					      hwpt));
}

__attribute__((format(printf, 1, 2)))
static void info(const char *fmt, ...)
{
	va_list ap;

	printf("# info: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static const char *shared(__u32 a, __u32 b)
{
	return a == b ? "one HWPT, shared" : "a HWPT each";
}

TEST_F(edu, attach_mock_hwpt)
{
	__u32 stdev = 0, mock_hwpt = 0;

	mixed_setup(_metadata, self, false, &stdev, &mock_hwpt, NULL);
	measure("attach.mock_hwpt",
		attach_req(self->nd.device_fd, mock_hwpt, 0));
}

TEST_F(edu, attach_mock_ioas)
{
	__u32 stdev = 0, mock_hwpt = 0, got = 0;

	mixed_setup(_metadata, self, false, &stdev, &mock_hwpt, NULL);
	measure("attach.mock_ioas",
		attach_req(self->nd.device_fd, self->ioas_b, 0));
	if (!_test_cmd_attach(self->nd.device_fd, self->ioas_b, &got))
		info("attach.mock_ioas: the device got HWPT %u, the mock device has HWPT %u: %s",
		     got, mock_hwpt, shared(got, mock_hwpt));
}

/*
 * GET_PA in an IOAS whose first HWPT is a mock device's: with the device
 * attached to that IOAS (whatever HWPT it got), and with a no-IOMMU HWPT
 * allocated after the mock's and no device attached.
 */
TEST_F(edu, get_pa_mock_ioas_attached)
{
	__u32 stdev = 0, mock_hwpt = 0;

	ASSERT_EQ(0, map_at(self->nd.iommufd, self->ioas_b, self->buf, BUF_LEN,
			    IOVA));
	mixed_setup(_metadata, self, false, &stdev, &mock_hwpt, NULL);
	ASSERT_EQ(0, _test_cmd_attach(self->nd.device_fd, self->ioas_b, NULL));
	measure("get_pa.mock_ioas_attached",
		get_pa(self->nd.iommufd, pa_req(self->ioas_b, IOVA, SZ_4K)));
}

TEST_F(edu, get_pa_noiommu_hwpt_after_mock)
{
	__u32 stdev = 0, mock_hwpt = 0, hwpt = 0;

	ASSERT_EQ(0, map_at(self->nd.iommufd, self->ioas_b, self->buf, BUF_LEN,
			    IOVA));
	mixed_setup(_metadata, self, false, &stdev, &mock_hwpt, NULL);
	test_hwpt_alloc(self->ioas_b, &hwpt);
	measure("get_pa.noiommu_hwpt_after_mock",
		get_pa(self->nd.iommufd, pa_req(self->ioas_b, IOVA, SZ_4K)));
}

TEST_F(edu, attach_replace_to_mock_hwpt)
{
	__u32 stdev = 0, mock_hwpt = 0, hwpt = 0;

	mixed_setup(_metadata, self, true, &stdev, &mock_hwpt, &hwpt);
	measure("attach.replace_to_mock_hwpt",
		attach_req(self->nd.device_fd, mock_hwpt, self->ioas_a));
}

TEST_F(edu, mock_replace_noiommu_hwpt)
{
	__u32 stdev = 0, mock_hwpt = 0, hwpt = 0;

	mixed_setup(_metadata, self, true, &stdev, &mock_hwpt, &hwpt);
	measure("mock_replace.noiommu_hwpt",
		mock_replace_req(self->nd.iommufd, stdev, hwpt, mock_hwpt));
}

TEST_F(edu, mock_replace_noiommu_ioas)
{
	__u32 stdev = 0, mock_hwpt = 0, hwpt = 0, got = 0;

	mixed_setup(_metadata, self, true, &stdev, &mock_hwpt, &hwpt);
	measure("mock_replace.noiommu_ioas",
		mock_replace_req(self->nd.iommufd, stdev, self->ioas_a,
				 mock_hwpt));
	if (!_test_cmd_mock_domain_replace(self->nd.iommufd, stdev,
					   self->ioas_a, &got))
		info("mock_replace.noiommu_ioas: the mock device got HWPT %u, the device has HWPT %u: %s",
		     got, hwpt, shared(got, hwpt));
}

TEST_F(edu, mock_domain_noiommu_ioas)
{
	__u32 stdev = 0, mock_hwpt = 0, hwpt = 0, stdev2 = 0, got = 0;

	mixed_setup(_metadata, self, true, &stdev, &mock_hwpt, &hwpt);
	measure("mock_domain.noiommu_ioas",
		mock_domain_req(self->nd.iommufd, self->ioas_a));
	if (!_test_cmd_mock_domain(self->nd.iommufd, self->ioas_a, &stdev2,
				   &got, NULL))
		info("mock_domain.noiommu_ioas: the new mock device got HWPT %u, the device has HWPT %u: %s",
		     got, hwpt, shared(got, hwpt));
}

/*
 * A fixture of its own, declared last so that its lines come last (the
 * harness runs fixtures in the order they are declared): here the test
 * opens the device itself.
 */
FIXTURE(cdev) {
	struct noiommu_dev nd;
};

FIXTURE_SETUP(cdev)
{
	ASSERT_EQ(0, edu_open_cdev(&self->nd))
		TH_LOG("%s", self->nd.err);
}

FIXTURE_TEARDOWN(cdev)
{
	noiommu_close(&self->nd);
}

/*
 * Without CAP_SYS_RAWIO: opening the cdev, and binding a cdev that was
 * opened with it (by this process, with CAP_SYS_RAWIO).
 */
TEST_F(cdev, without_cap_sys_rawio)
{
	struct noiommu_dev *nd = &self->nd;

	measure("cdev.open_no_cap_sys_rawio",
		without_rawio(open_err(nd->cdev)));
	measure("cdev.bind_no_cap_sys_rawio",
		without_rawio(cdev_bind(nd->device_fd)));
}

int main(int argc, char *argv[])
{
	return noiommu_main(argc, argv);
}
