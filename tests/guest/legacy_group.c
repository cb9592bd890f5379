// SPDX-License-Identifier: GPL-2.0
/*
 * legacy_group: the legacy VFIO group no-IOMMU path on QEMU's edu device.
 *
 * Opens /dev/vfio/noiommu-N through a /dev/vfio/vfio container with the
 * VFIO_NOIOMMU_IOMMU backend, gets the device fd and talks to the edu
 * device through BAR0 (read/write on the region, no mmap). Each fixture
 * goes one step further along that path; each test asserts one step.
 *
 * usage: legacy_group [harness options] BDF   (BDF bound to vfio-pci)
 *        NOIOMMU_BDF=BDF legacy_group [harness options]
 */
#define _GNU_SOURCE
#include <limits.h>
#include <sys/stat.h>

#include "noiommu_utils.h"

#define EDU_BAR0_SIZE	0x100000
#define NOIOMMU_MODE	"/sys/module/vfio/parameters/enable_unsafe_noiommu_mode"

/* /sys/bus/pci/devices/BDF/iommu_group -> .../iommu_groups/N: N, or -1 */
static int iommu_group_nr(const char *bdf)
{
	char path[PATH_MAX], target[PATH_MAX];
	const char *slash;
	ssize_t n;

	if (!bdf)
		return -1;
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group",
		 bdf);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return -1;
	target[n] = '\0';
	slash = strrchr(target, '/');
	return atoi(slash ? slash + 1 : target);
}

/* The group node of the edu device, /dev/vfio/noiommu-N, in @path */
static void _group_node(struct __test_metadata *_metadata, char *path,
			size_t len)
{
	int nr = iommu_group_nr(noiommu_bdf);

	ASSERT_LE(0, nr)
		TH_LOG("%s has no iommu_group link", noiommu_bdf ?: "(no BDF)");
	snprintf(path, len, "/dev/vfio/noiommu-%d", nr);
}

TEST(noiommu_mode_on)
{
	char buf[16];

	ASSERT_STREQ("Y", read_line(NOIOMMU_MODE, buf, sizeof(buf)));
}

/* A no-IOMMU group has /dev/vfio/noiommu-N, a char device, not /dev/vfio/N */
TEST(group_node)
{
	char path[PATH_MAX];
	struct stat st;

	_group_node(_metadata, path, sizeof(path));
	ASSERT_EQ(0, stat(path, &st)) TH_LOG("%s: %s", path, strerror(errno));
	ASSERT_TRUE(S_ISCHR(st.st_mode));
	snprintf(path, sizeof(path), "/dev/vfio/%d",
		 iommu_group_nr(noiommu_bdf));
	ASSERT_NE(0, access(path, F_OK)) TH_LOG("%s exists", path);
}

FIXTURE(container) {
	int container;
};

FIXTURE_SETUP(container)
{
	self->container = open("/dev/vfio/vfio", O_RDWR);
	ASSERT_LE(0, self->container)
		TH_LOG("open /dev/vfio/vfio: %s", strerror(errno));
}

FIXTURE_TEARDOWN(container)
{
	if (self->container >= 0)
		close(self->container);
}

TEST_F(container, api_version)
{
	ASSERT_EQ(VFIO_API_VERSION, ioctl(self->container,
					  VFIO_GET_API_VERSION));
}

TEST_F(container, noiommu_extension)
{
	ASSERT_LT(0, ioctl(self->container, VFIO_CHECK_EXTENSION,
			   VFIO_NOIOMMU_IOMMU));
}

FIXTURE(group) {
	int container;
	int group;
};

FIXTURE_SETUP(group)
{
	char path[PATH_MAX];

	self->container = open("/dev/vfio/vfio", O_RDWR);
	ASSERT_LE(0, self->container);
	_group_node(_metadata, path, sizeof(path));
	self->group = open(path, O_RDWR);
	ASSERT_LE(0, self->group) TH_LOG("open %s: %s", path, strerror(errno));
}

FIXTURE_TEARDOWN(group)
{
	if (self->group >= 0)
		close(self->group);
	if (self->container >= 0)
		close(self->container);
}

TEST_F(group, viable)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };

	ASSERT_EQ(0, ioctl(self->group, VFIO_GROUP_GET_STATUS, &status));
	ASSERT_TRUE(!!(status.flags & VFIO_GROUP_FLAGS_VIABLE))
		TH_LOG("flags %#x", status.flags);
	/* Not in a container yet */
	ASSERT_FALSE(!!(status.flags & VFIO_GROUP_FLAGS_CONTAINER_SET));
}

/* The device fd is given out only once the container has its backend */
TEST_F(group, set_container_and_iommu)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };

	ASSERT_EQ(0, ioctl(self->group, VFIO_GROUP_SET_CONTAINER,
			   &self->container));
	ASSERT_EQ(0, ioctl(self->group, VFIO_GROUP_GET_STATUS, &status));
	ASSERT_TRUE(!!(status.flags & VFIO_GROUP_FLAGS_CONTAINER_SET));
	ASSERT_GT(0, ioctl(self->group, VFIO_GROUP_GET_DEVICE_FD,
			   noiommu_bdf));
	ASSERT_EQ(0, ioctl(self->container, VFIO_SET_IOMMU,
			   VFIO_NOIOMMU_IOMMU))
		TH_LOG("VFIO_SET_IOMMU: %s", strerror(errno));
}

FIXTURE(device) {
	int container;
	int group;
	int device;
	struct vfio_region_info bar0;
};

FIXTURE_SETUP(device)
{
	char path[PATH_MAX];

	self->device = -1;
	self->container = open("/dev/vfio/vfio", O_RDWR);
	ASSERT_LE(0, self->container);
	_group_node(_metadata, path, sizeof(path));
	self->group = open(path, O_RDWR);
	ASSERT_LE(0, self->group) TH_LOG("open %s: %s", path, strerror(errno));
	ASSERT_EQ(0, ioctl(self->group, VFIO_GROUP_SET_CONTAINER,
			   &self->container));
	ASSERT_EQ(0, ioctl(self->container, VFIO_SET_IOMMU,
			   VFIO_NOIOMMU_IOMMU));
	self->device = ioctl(self->group, VFIO_GROUP_GET_DEVICE_FD,
			     noiommu_bdf);
	ASSERT_LE(0, self->device)
		TH_LOG("VFIO_GROUP_GET_DEVICE_FD(%s): %s", noiommu_bdf,
		       strerror(errno));
	self->bar0 = (struct vfio_region_info){
		.argsz = sizeof(self->bar0),
		.index = VFIO_PCI_BAR0_REGION_INDEX,
	};
	ASSERT_EQ(0, ioctl(self->device, VFIO_DEVICE_GET_REGION_INFO,
			   &self->bar0));
}

FIXTURE_TEARDOWN(device)
{
	if (self->device >= 0)
		close(self->device);
	if (self->group >= 0)
		close(self->group);
	if (self->container >= 0)
		close(self->container);
}

#define region_read32(off, val)						\
	ASSERT_EQ((ssize_t)sizeof(uint32_t),				\
		  pread(self->device, val, sizeof(uint32_t),		\
			self->bar0.offset + (off)))			\
		TH_LOG("pread BAR0+%#x: %s", (unsigned int)(off),	\
		       strerror(errno))
#define region_write32(off, val)					\
	({								\
		uint32_t __v = (val);					\
		ASSERT_EQ((ssize_t)sizeof(__v),				\
			  pwrite(self->device, &__v, sizeof(__v),	\
				 self->bar0.offset + (off)));		\
	})

/* The device fd is edu's: a PCI device with regions */
TEST_F(device, info)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };

	ASSERT_EQ(0, ioctl(self->device, VFIO_DEVICE_GET_INFO, &info));
	ASSERT_TRUE(!!(info.flags & VFIO_DEVICE_FLAGS_PCI))
		TH_LOG("flags %#x", info.flags);
	ASSERT_LE(1U, info.num_regions);
}

TEST_F(device, bar0_region)
{
	ASSERT_TRUE(!!(self->bar0.flags & VFIO_REGION_INFO_FLAG_READ));
	ASSERT_TRUE(!!(self->bar0.flags & VFIO_REGION_INFO_FLAG_WRITE));
	ASSERT_LE((__u64)EDU_BAR0_SIZE, self->bar0.size);
}

TEST_F(device, edu_id)
{
	uint32_t val = 0;

	region_read32(EDU_ID, &val);
	ASSERT_EQ((uint32_t)EDU_ID_VALUE, val);
}

/* The liveness register answers each write with its inverse */
TEST_F(device, edu_liveness)
{
	uint32_t patterns[] = { 0x12345678, 0xa5a5a5a5 }, val;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(patterns); i++) {
		val = patterns[i];
		region_write32(EDU_LIVENESS, patterns[i]);
		region_read32(EDU_LIVENESS, &val);
		ASSERT_EQ((uint32_t)~patterns[i], val);
	}
}

int main(int argc, char *argv[])
{
	return noiommu_main(argc, argv);
}
