// SPDX-License-Identifier: GPL-2.0
/*
 * Bad input to IOMMU_IOAS_NOIOMMU_GET_PA: every error the SPEC documents,
 * in its order of checks, plus what iommufd's ioctl dispatch does with a
 * bad argument (short or long size, unreadable or unwritable pointer), and
 * the edges of a mapping (its first and last byte, the hole before the
 * next one), and a revoked dma-buf of BAR0.
 *
 * Every test starts from the same IOAS: A, a 2M hugepage at A_IOVA; a
 * hole; B, 4K pages at B_IOVA; a 2M hugepage at the top of the 64-bit
 * IOVA space; the device attached. A second IOAS, with no device, maps B
 * too. Simple requests are the variants of the get_pa fixture (an errno
 * each) and of the answer fixture (a success, checked against pagemap);
 * the others are tests of the badinput fixture. After every test, its
 * teardown checks that the kernel lost nothing: GET_PA still resolves the
 * mappings to what /proc/self/pagemap says, unmapping the IOAS returns
 * exactly the bytes mapped, and both IOASes can be destroyed (no
 * reference left behind). At the end every hugepage is free and the
 * kernel reported no problem.
 *
 * usage: noiommu_badinput [harness options] BDF
 *        NOIOMMU_BDF=BDF noiommu_badinput [harness options]
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stddef.h>

#include "noiommu_utils.h"

#define B_LEN		(4 * SZ_4K)
#define HOLE_LEN	(16 * SZ_4K)
#define A_IOVA		(1ULL << 32)
#define B_IOVA		(A_IOVA + SZ_2M + HOLE_LEN)
#define TOP_IOVA	(0ULL - SZ_2M)	/* last 2M of the 64-bit space */
#define DMABUF_IOVA	(B_IOVA + (1ULL << 30))
#define UNKNOWN_ID	0xdead
#define MAPPED_LEN	(2 * SZ_2M + B_LEN)
#define HUGEPAGES_FREE	"/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages"

/* The errno of a request, by name, so that a failure shows both names */
#define ASSERT_ERRNO(expect, ret)					\
	ASSERT_STREQ(errno_name(expect), errno_name(errno_of(ret)))

/* The IOAS of every test: A, a hole, B, the top page; IOAS 2 maps B */
struct ioas_setup {
	struct noiommu_dev nd;
	int pagemap_fd;
	char *a_va;
	char *b_va;
	char *top_va;
	__u32 ioas2;
};

static void _ioas_setup(struct __test_metadata *_metadata,
			struct ioas_setup *s)
{
	edu_open(&s->nd);
	s->pagemap_fd = open("/proc/self/pagemap", O_RDONLY);
	ASSERT_LE(0, s->pagemap_fd);
	s->a_va = huge_alloc(SZ_2M, 0xa5);
	s->top_va = huge_alloc(SZ_2M, 0x5a);
	s->b_va = buf_alloc(B_LEN, 0x3c);
	ASSERT_EQ(0, _test_ioas_map_at(s->nd.iommufd, s->nd.ioas_id, s->a_va,
				       SZ_2M, A_IOVA));
	ASSERT_EQ(0, _test_ioas_map_at(s->nd.iommufd, s->nd.ioas_id, s->b_va,
				       B_LEN, B_IOVA));
	ASSERT_EQ(0, _test_ioas_map_at(s->nd.iommufd, s->nd.ioas_id,
				       s->top_va, SZ_2M, TOP_IOVA));
	ASSERT_EQ(0, _test_ioctl_ioas_alloc(s->nd.iommufd, &s->ioas2));
	ASSERT_EQ(0, _test_ioas_map_at(s->nd.iommufd, s->ioas2, s->b_va,
				       B_LEN, B_IOVA));
}

/*
 * Nothing lost: with the device back on the IOAS, GET_PA resolves A, B
 * and the top mapping (but its last byte) to pagemap's addresses; the
 * whole IOAS unmaps exactly what was mapped, and then answers ENOENT;
 * after the detach both IOASes can be destroyed.
 */
static void _ioas_teardown(struct __test_metadata *_metadata,
			   struct ioas_setup *s)
{
	int fd = s->nd.iommufd;
	__u32 ioas = s->nd.ioas_id;
	uint64_t unmapped = 0;

	if (!s->a_va || !s->b_va || !s->top_va || !s->ioas2) {
		noiommu_close(&s->nd);
		return;
	}
	ASSERT_EQ(0, _test_cmd_attach(s->nd.device_fd, ioas, NULL));
	_test_get_pa_is_pagemap(_metadata, fd, ioas, A_IOVA, s->a_va, SZ_2M);
	_test_get_pa_is_pagemap(_metadata, fd, ioas, B_IOVA, s->b_va, B_LEN);
	_test_get_pa_is_pagemap(_metadata, fd, ioas, TOP_IOVA, s->top_va,
				SZ_2M - 1);
	ASSERT_EQ(0, _test_ioctl_ioas_unmap(fd, ioas, 0, UINT64_MAX,
					    &unmapped));
	ASSERT_EQ((uint64_t)MAPPED_LEN, unmapped);
	ASSERT_ERRNO(ENOENT, _test_ioctl_get_pa_raw(fd, &(struct iommu_ioas_noiommu_get_pa){
		.size = sizeof(struct iommu_ioas_noiommu_get_pa),
		.ioas_id = ioas, .iova = A_IOVA, .length = 1 }));
	ASSERT_EQ(0, _test_cmd_detach(s->nd.device_fd));
	ASSERT_EQ(0, _test_ioctl_ioas_unmap(fd, s->ioas2, 0, UINT64_MAX,
					    &unmapped));
	ASSERT_EQ((uint64_t)B_LEN, unmapped);
	ASSERT_EQ(0, _test_ioctl_destroy(fd, s->ioas2));
	ASSERT_EQ(0, _test_ioctl_destroy(fd, ioas));
	noiommu_close(&s->nd);
}

/* GET_PA with @cmd on the setup's iommufd */
static int ask(struct ioas_setup *s, void *cmd)
{
	return _test_ioctl_get_pa_raw(s->nd.iommufd, cmd);
}

/* ---- requests that must fail, one errno each ---- */

enum ioas_kind {
	IOAS_MAIN,		/* the device's IOAS */
	IOAS_2,			/* B mapped, no device */
	IOAS_ZERO,
	IOAS_UNKNOWN,		/* never allocated */
	IOAS_DEV,		/* the device's ID: an object of another type */
	IOAS_DESTROYED,		/* allocated and destroyed */
};

/* A fixture whose tests start from struct ioas_setup */
#define IOAS_FIXTURE(name)						\
	FIXTURE(name) {							\
		struct ioas_setup s;					\
	};								\
	FIXTURE_SETUP(name)						\
	{								\
		_ioas_setup(_metadata, &self->s);			\
	}								\
	FIXTURE_TEARDOWN(name)						\
	{								\
		_ioas_teardown(_metadata, &self->s);			\
	}

IOAS_FIXTURE(get_pa);

FIXTURE_VARIANT(get_pa) {
	enum ioas_kind ioas;
	__u64 iova;
	__u64 length;
	__u32 flags;
	__u32 reserved;
	__u32 size;		/* 0: the struct's */
	int expect;
};

/* The edges of the mappings */
FIXTURE_VARIANT_ADD(get_pa, hole_first_byte_after_a) {
	.iova = A_IOVA + SZ_2M, .length = 1, .expect = ENOENT,
};

FIXTURE_VARIANT_ADD(get_pa, hole_middle) {
	.iova = A_IOVA + SZ_2M + HOLE_LEN / 2 + 0x77, .length = 1,
	.expect = ENOENT,
};

FIXTURE_VARIANT_ADD(get_pa, hole_last_byte_before_b) {
	.iova = B_IOVA - 1, .length = UINT64_MAX, .expect = ENOENT,
};

FIXTURE_VARIANT_ADD(get_pa, iova_0_never_mapped) {
	.iova = 0, .length = 1, .expect = ENOENT,
};

/* Mapped, but an IOVA of ULONG_MAX is too large */
FIXTURE_VARIANT_ADD(get_pa, top_iova_ulong_max) {
	.iova = UINT64_MAX, .length = 1, .expect = EOVERFLOW,
};

FIXTURE_VARIANT_ADD(get_pa, iova_ulong_max_not_mapped) {
	.ioas = IOAS_2, .iova = UINT64_MAX, .length = 1, .expect = EOVERFLOW,
};

/* Fields, in the SPEC's order of checks */
FIXTURE_VARIANT_ADD(get_pa, flags_1) {
	.iova = A_IOVA, .length = 1, .flags = 1, .expect = EOPNOTSUPP,
};

FIXTURE_VARIANT_ADD(get_pa, flags_bit_31) {
	.iova = A_IOVA, .length = 1, .flags = 1U << 31, .expect = EOPNOTSUPP,
};

FIXTURE_VARIANT_ADD(get_pa, reserved_1) {
	.iova = A_IOVA, .length = 1, .reserved = 1, .expect = EOPNOTSUPP,
};

FIXTURE_VARIANT_ADD(get_pa, length_0) {
	.iova = A_IOVA, .length = 0, .expect = EINVAL,
};

FIXTURE_VARIANT_ADD(get_pa, ioas_0) {
	.ioas = IOAS_ZERO, .iova = A_IOVA, .length = 1, .expect = ENOENT,
};

FIXTURE_VARIANT_ADD(get_pa, ioas_never_allocated) {
	.ioas = IOAS_UNKNOWN, .iova = A_IOVA, .length = 1, .expect = ENOENT,
};

FIXTURE_VARIANT_ADD(get_pa, ioas_id_of_the_device) {
	.ioas = IOAS_DEV, .iova = A_IOVA, .length = 1, .expect = ENOENT,
};

FIXTURE_VARIANT_ADD(get_pa, ioas_destroyed) {
	.ioas = IOAS_DESTROYED, .iova = A_IOVA, .length = 1, .expect = ENOENT,
};

FIXTURE_VARIANT_ADD(get_pa, no_device_attached_mapped) {
	.ioas = IOAS_2, .iova = B_IOVA, .length = 1, .expect = EOPNOTSUPP,
};

FIXTURE_VARIANT_ADD(get_pa, no_device_attached_unmapped) {
	.ioas = IOAS_2, .iova = B_IOVA + B_LEN, .length = 1, .expect = ENOENT,
};

/* Two faults at once: the first in the SPEC's order wins */
FIXTURE_VARIANT_ADD(get_pa, order_flags_before_length) {
	.iova = A_IOVA, .length = 0, .flags = 1, .expect = EOPNOTSUPP,
};

FIXTURE_VARIANT_ADD(get_pa, order_reserved_before_iova) {
	.iova = UINT64_MAX, .length = 1, .reserved = 1, .expect = EOPNOTSUPP,
};

FIXTURE_VARIANT_ADD(get_pa, order_length_before_iova) {
	.iova = UINT64_MAX, .length = 0, .expect = EINVAL,
};

FIXTURE_VARIANT_ADD(get_pa, order_iova_before_ioas) {
	.ioas = IOAS_UNKNOWN, .iova = UINT64_MAX, .length = 1,
	.expect = EOVERFLOW,
};

/* What iommufd's dispatch does with a short struct */
FIXTURE_VARIANT_ADD(get_pa, size_0) {
	.iova = A_IOVA, .length = 1, .size = (__u32)-1, .expect = EINVAL,
};

FIXTURE_VARIANT_ADD(get_pa, size_8_only_size_and_flags) {
	.iova = A_IOVA, .length = 1, .size = 8, .expect = EINVAL,
};

FIXTURE_VARIANT_ADD(get_pa, size_32_without_out_phys) {
	.iova = A_IOVA, .length = 1,
	.size = offsetof(struct iommu_ioas_noiommu_get_pa, out_phys),
	.expect = EINVAL,
};

FIXTURE_VARIANT_ADD(get_pa, size_39_one_byte_short) {
	.iova = A_IOVA, .length = 1,
	.size = sizeof(struct iommu_ioas_noiommu_get_pa) - 1,
	.expect = EINVAL,
};

TEST_F(get_pa, fails)
{
	struct iommu_ioas_noiommu_get_pa cmd;
	__u32 ioas_id = 0;

	switch (variant->ioas) {
	case IOAS_MAIN:
		ioas_id = self->s.nd.ioas_id;
		break;
	case IOAS_2:
		ioas_id = self->s.ioas2;
		break;
	case IOAS_ZERO:
		ioas_id = 0;
		break;
	case IOAS_UNKNOWN:
		ioas_id = UNKNOWN_ID;
		break;
	case IOAS_DEV:
		ioas_id = self->s.nd.dev_id;
		break;
	case IOAS_DESTROYED:
		ASSERT_EQ(0, _test_ioctl_ioas_alloc(self->s.nd.iommufd,
						    &ioas_id));
		ASSERT_EQ(0, _test_ioctl_destroy(self->s.nd.iommufd, ioas_id));
		break;
	}
	cmd = pa_req(ioas_id, variant->iova, variant->length);
	cmd.flags = variant->flags;
	cmd.__reserved = variant->reserved;
	if (variant->size)
		cmd.size = variant->size == (__u32)-1 ? 0 : variant->size;
	ASSERT_ERRNO(variant->expect, ask(&self->s, &cmd));
}

/* ---- requests that must succeed, checked against pagemap ---- */

enum buf_kind { BUF_A, BUF_B, BUF_TOP };

IOAS_FIXTURE(answer);

FIXTURE_VARIANT(answer) {
	enum buf_kind buf;
	__u64 off;		/* into the buffer and its mapping */
	__u64 length;
	__u64 expect_len;	/* 0: pagemap's contiguous run, up to max */
	__u64 max;
};

/* GET_PA of @buf + @off asking for @length answers @expect_len (or @max) */
#define ANSWER(name, _buf, _off, _length, _expect_len, _max)		\
	FIXTURE_VARIANT_ADD(answer, name) {				\
		.buf = _buf, .off = _off, .length = _length,		\
		.expect_len = _expect_len, .max = _max,			\
	}

ANSWER(first_byte_of_a_length_1, BUF_A, 0, 1, 1, 0);
ANSWER(first_byte_of_a_whole_hugepage, BUF_A, 0, UINT64_MAX, SZ_2M, 0);
ANSWER(last_byte_of_a, BUF_A, SZ_2M - 1, UINT64_MAX, 1, 0);
ANSWER(sub_page_offset_kept, BUF_A, 0x123, 0x10, 0x10, 0);
/* B is 4K pages: as far as pagemap has them contiguous */
ANSWER(first_byte_of_b, BUF_B, 0, UINT64_MAX, 0, B_LEN);
ANSWER(last_byte_of_b, BUF_B, B_LEN - 1, UINT64_MAX, 1, 0);
/* IOVA ULONG_MAX - 1, the last one accepted */
ANSWER(top_last_accepted_iova, BUF_TOP, SZ_2M - 2, UINT64_MAX, 2, 0);

/*
 * The answer @cmd for the IOVA of @va: out_phys is pagemap's address of
 * @va, and length is @expect_len or, if 0, the physically contiguous run
 * from @va as pagemap has it, up to @max
 */
static void _answer_ok(struct __test_metadata *_metadata, int pagemap_fd,
		       const struct iommu_ioas_noiommu_get_pa *cmd,
		       const char *va, __u64 expect_len, __u64 max)
{
	uint64_t pa = pagemap_pa(pagemap_fd, va);

	ASSERT_NE(0ULL, pa);
	if (!expect_len) {
		/* to the end of @va's page, then page by page */
		__u64 run = SZ_4K - (uintptr_t)va % SZ_4K;

		while (run < max && pagemap_pa(pagemap_fd, va + run) == pa + run)
			run += SZ_4K;
		expect_len = run < max ? run : max;
	}
	ASSERT_EQ(pa, cmd->out_phys);
	ASSERT_EQ(expect_len, cmd->length);
}
#define answer_ok(cmd, va, expect_len, max)				\
	_answer_ok(_metadata, self->s.pagemap_fd, cmd, va, expect_len, max)

TEST_F(answer, pagemap)
{
	static const __u64 iovas[] = { A_IOVA, B_IOVA, TOP_IOVA };
	char *vas[] = { self->s.a_va, self->s.b_va, self->s.top_va };
	struct iommu_ioas_noiommu_get_pa cmd;

	cmd = pa_req(self->s.nd.ioas_id, iovas[variant->buf] + variant->off,
		     variant->length);
	ASSERT_EQ(0, ask(&self->s, &cmd)) TH_LOG("%s", strerror(errno));
	answer_ok(&cmd, vas[variant->buf] + variant->off, variant->expect_len,
		  variant->max);
}

/* ---- the others ---- */

IOAS_FIXTURE(badinput);

/* A request for the first byte of A, or of the second IOAS's B */
#define req_a() pa_req(self->s.nd.ioas_id, A_IOVA, 1)

TEST_F(badinput, detached_mapped_iova)
{
	struct iommu_ioas_noiommu_get_pa cmd = req_a();

	ASSERT_EQ(0, ask(&self->s, &cmd));
	ASSERT_EQ(0, _test_cmd_detach(self->s.nd.device_fd));
	cmd = req_a();
	ASSERT_ERRNO(EOPNOTSUPP, ask(&self->s, &cmd));
}

TEST_F(badinput, detached_unmapped_iova)
{
	struct iommu_ioas_noiommu_get_pa cmd;

	ASSERT_EQ(0, _test_cmd_detach(self->s.nd.device_fd));
	cmd = pa_req(self->s.nd.ioas_id, A_IOVA + SZ_2M, 1);
	ASSERT_ERRNO(ENOENT, ask(&self->s, &cmd));
}

/* The device moved to the second IOAS: that one answers, not the first */
TEST_F(badinput, attached_to_other_ioas)
{
	struct iommu_ioas_noiommu_get_pa cmd;

	ASSERT_EQ(0, _test_cmd_attach(self->s.nd.device_fd, self->s.ioas2,
				      NULL));
	cmd = req_a();
	ASSERT_ERRNO(EOPNOTSUPP, ask(&self->s, &cmd));
	cmd = pa_req(self->s.ioas2, B_IOVA, UINT64_MAX);
	ASSERT_EQ(0, ask(&self->s, &cmd));
	answer_ok(&cmd, self->s.b_va, 0, B_LEN);
}

/* ... and back (a replace): the first IOAS answers again */
TEST_F(badinput, back_on_the_ioas)
{
	struct iommu_ioas_noiommu_get_pa cmd;

	ASSERT_EQ(0, _test_cmd_attach(self->s.nd.device_fd, self->s.ioas2,
				      NULL));
	ASSERT_EQ(0, _test_cmd_attach(self->s.nd.device_fd,
				      self->s.nd.ioas_id, NULL));
	cmd = pa_req(self->s.nd.ioas_id, A_IOVA, UINT64_MAX);
	ASSERT_EQ(0, ask(&self->s, &cmd));
	answer_ok(&cmd, self->s.a_va, SZ_2M, SZ_2M);
}

struct nocap_call {
	struct ioas_setup *s;
	struct iommu_ioas_noiommu_get_pa cmd;
	int dropped;		/* errno of dropping CAP_SYS_RAWIO */
	int got;		/* errno of GET_PA */
};

/* Drop CAP_SYS_RAWIO in this thread only (capset is per thread), ask */
static void *nocap_thread(void *arg)
{
	struct nocap_call *call = arg;

	call->dropped = errno_of(caps_drop(CAP_SYS_RAWIO));
	if (!call->dropped)
		call->got = errno_of(ask(call->s, &call->cmd));
	return NULL;
}

static int _get_pa_nocap(struct __test_metadata *_metadata,
			 struct ioas_setup *s,
			 struct iommu_ioas_noiommu_get_pa cmd)
{
	struct nocap_call call = { .s = s, .cmd = cmd, .got = -1 };
	pthread_t t;

	ASSERT_EQ(0, pthread_create(&t, NULL, nocap_thread, &call));
	ASSERT_EQ(0, pthread_join(t, NULL));
	ASSERT_EQ(0, call.dropped) TH_LOG("could not drop CAP_SYS_RAWIO");
	/* This thread kept it, and the same request answers here */
	return call.got;
}

TEST_F(badinput, no_cap_sys_rawio_valid_request)
{
	struct iommu_ioas_noiommu_get_pa cmd = req_a();

	ASSERT_STREQ("EPERM", errno_name(_get_pa_nocap(_metadata, &self->s,
							cmd)));
	ASSERT_EQ(0, ask(&self->s, &cmd));
}

/* The capability comes first in the order of checks */
TEST_F(badinput, no_cap_sys_rawio_every_field_bad)
{
	struct iommu_ioas_noiommu_get_pa cmd = pa_req(UNKNOWN_ID, UINT64_MAX,
						      0);

	cmd.flags = 1;
	ASSERT_STREQ("EPERM", errno_name(_get_pa_nocap(_metadata, &self->s,
							cmd)));
}

/* Larger than the kernel knows, zero tail: accepted, tail untouched */
TEST_F(badinput, size_48_zero_tail)
{
	struct {
		struct iommu_ioas_noiommu_get_pa cmd;
		__u64 tail;
	} big = { .cmd = req_a() };

	big.cmd.size = sizeof(big);
	ASSERT_EQ(0, ask(&self->s, &big));
	ASSERT_EQ(0ULL, big.tail);
	answer_ok(&big.cmd, self->s.a_va, 1, 1);
}

TEST_F(badinput, size_48_tail_not_zero)
{
	struct {
		struct iommu_ioas_noiommu_get_pa cmd;
		__u64 tail;
	} big = { .cmd = req_a(), .tail = 1ULL << 56 };

	big.cmd.size = sizeof(big);
	ASSERT_ERRNO(E2BIG, ask(&self->s, &big));
	ASSERT_EQ(0ULL, big.cmd.out_phys);
}

/* Two pages holding a request of @size bytes, the rest zero */
static char *_big_req(struct __test_metadata *_metadata,
		      struct iommu_ioas_noiommu_get_pa cmd, __u32 size)
{
	char *pages = buf_alloc(2 * SZ_4K, 0);

	cmd.size = size;
	memcpy(pages, &cmd, sizeof(cmd));
	return pages;
}

TEST_F(badinput, size_4096)
{
	char *pages = _big_req(_metadata, req_a(), SZ_4K);

	pages[SZ_4K - 1] = 1;
	ASSERT_ERRNO(E2BIG, ask(&self->s, pages));
	pages[SZ_4K - 1] = 0;
	ASSERT_EQ(0, ask(&self->s, pages));
	answer_ok((void *)pages, self->s.a_va, 1, 1);
}

/* The zero check of the tail runs into a page it cannot read */
TEST_F(badinput, size_8192_tail_unreadable)
{
	char *pages = _big_req(_metadata, req_a(), 2 * SZ_4K);

	ASSERT_EQ(0, mprotect(pages + SZ_4K, SZ_4K, PROT_NONE));
	ASSERT_ERRNO(EFAULT, ask(&self->s, pages));
}

TEST_F(badinput, arg_null)
{
	ASSERT_ERRNO(EFAULT, ask(&self->s, NULL));
}

TEST_F(badinput, arg_unmapped_page)
{
	char *pages = buf_alloc(2 * SZ_4K, 0);

	ASSERT_EQ(0, munmap(pages + SZ_4K, SZ_4K));
	ASSERT_ERRNO(EFAULT, ask(&self->s, pages + SZ_4K));
}

TEST_F(badinput, arg_kernel_memory)
{
	ASSERT_ERRNO(EFAULT, ask(&self->s, (void *)0xffff888000000000UL));
}

/* The struct starts 16 bytes before a page that is not readable */
TEST_F(badinput, arg_straddles_unreadable_page)
{
	char *pages = buf_alloc(2 * SZ_4K, 0);
	struct iommu_ioas_noiommu_get_pa *cmd = (void *)(pages + SZ_4K - 16);

	cmd->size = sizeof(*cmd);
	cmd->flags = 0;
	cmd->ioas_id = self->s.nd.ioas_id;
	cmd->__reserved = 0;
	ASSERT_EQ(0, mprotect(pages + SZ_4K, SZ_4K, PROT_NONE));
	ASSERT_ERRNO(EFAULT, ask(&self->s, cmd));
}

/* A valid request whose answer cannot be written back */
TEST_F(badinput, arg_read_only)
{
	char *pages = _big_req(_metadata, req_a(), sizeof(struct iommu_ioas_noiommu_get_pa));

	ASSERT_EQ(0, mprotect(pages, SZ_4K, PROT_READ));
	ASSERT_ERRNO(EFAULT, ask(&self->s, pages));
	/* The same request in writable memory answers */
	ASSERT_EQ(0, mprotect(pages, SZ_4K, PROT_READ | PROT_WRITE));
	ASSERT_EQ(0, ask(&self->s, pages));
}

/* Command 0x95 encoded as _IOWR: the size and direction bits differ */
TEST_F(badinput, cmd_encoded_iowr)
{
	struct iommu_ioas_noiommu_get_pa cmd = req_a();

	ASSERT_ERRNO(ENOTTY,
		     ioctl(self->s.nd.iommufd,
			   _IOWR(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_NOIOMMU_GET_PA,
				 struct iommu_ioas_noiommu_get_pa), &cmd));
}

TEST_F(badinput, cmd_sent_to_device_fd)
{
	struct iommu_ioas_noiommu_get_pa cmd = req_a();

	ASSERT_ERRNO(ENOTTY, _test_ioctl_get_pa_raw(self->s.nd.device_fd,
						    &cmd));
}

/*
 * A dma-buf of BAR0 mapped into the IOAS answers GET_PA with BAR0's
 * address; once revoked (memory decoding turned off through the config
 * space) it must answer EINVAL.
 */
TEST_F(badinput, dmabuf_revoked)
{
	struct iommu_ioas_noiommu_get_pa cmd;
	char path[PATH_MAX], line[128];
	uint64_t bar0, unmapped = 0;
	__u64 iova = DMABUF_IOVA;
	int fd;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource",
		 self->s.nd.bdf);
	bar0 = strtoull(read_line(path, line, sizeof(line)), NULL, 0);
	ASSERT_NE(0ULL, bar0);
	fd = vfio_bar0_dmabuf(self->s.nd.device_fd, self->s.nd.bar0_size);
	ASSERT_LE(0, fd)
		TH_LOG("VFIO_DEVICE_FEATURE_DMA_BUF of BAR0: %s (CONFIG_VFIO_PCI_DMABUF?)",
		       strerror(errno));
	ASSERT_EQ(0, _test_ioctl_ioas_map_file(self->s.nd.iommufd,
					       self->s.nd.ioas_id, fd, 0,
					       self->s.nd.bar0_size, &iova,
					       IOMMU_IOAS_MAP_FIXED_IOVA |
					       IOMMU_IOAS_MAP_READABLE |
					       IOMMU_IOAS_MAP_WRITEABLE));
	/* Before the revoke it answers, or EINVAL would prove nothing */
	cmd = pa_req(self->s.nd.ioas_id, DMABUF_IOVA, 1);
	ASSERT_EQ(0, ask(&self->s, &cmd));
	ASSERT_EQ(bar0, cmd.out_phys);

	ASSERT_EQ(0, set_memory_decoding(&self->s.nd, false));
	cmd = pa_req(self->s.nd.ioas_id, DMABUF_IOVA, 1);
	EXPECT_STREQ("EINVAL", errno_name(errno_of(ask(&self->s, &cmd))));
	ASSERT_EQ(0, set_memory_decoding(&self->s.nd, true));
	ASSERT_EQ(0, _test_ioctl_ioas_unmap(self->s.nd.iommufd,
					    self->s.nd.ioas_id, DMABUF_IOVA,
					    self->s.nd.bar0_size, &unmapped));
	ASSERT_EQ(self->s.nd.bar0_size, unmapped);
	close(fd);
}

NOIOMMU_END_TESTS();

static unsigned long hugepages_free_at_start;

static void __attribute__((constructor)) note_hugepages(void)
{
	hugepages_free_at_start = read_ulong(HUGEPAGES_FREE);
}

/* Every test freed its hugepages, whatever the kernel was asked */
TEST_F(end, hugepages_all_free)
{
	ASSERT_EQ(hugepages_free_at_start, read_ulong(HUGEPAGES_FREE));
}

int main(int argc, char *argv[])
{
	return noiommu_main(argc, argv);
}
