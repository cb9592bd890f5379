# noiommu-cdev: a Linux 7.2.y patch series that lets devices without an
# IOMMU be driven from userspace through the VFIO device cdev and iommufd.
# Every target is a verb; the scripts do the work.

SHELL := /bin/bash
.DEFAULT_GOAL := help

# BASE=7.3 (make tree|export|kernel BASE=7.3) works on the second base
# kernel: base-7.3.conf, build/linux-7.3, patches-7.3/ and the VM kernel
# build/kbuild/vm-7.3 (scripts/lib.sh). Unset, the 7.2 series.
KNAME := $(if $(filter-out 7.2,$(BASE)),vm-$(BASE),vm)

.PHONY: help deps tree export kernel kernel-7.3 demo check checkpatch bisect-check kunit iommufd-regression kconfig-matrix modules-run sanitizer sanitizer-7.3 fault-injection stress bad-input unprivileged errno-mainline bench clean

help:
	@echo "make demo          build the patched kernel, boot it, drive the edu device"
	@echo "make check         every test (static checks, VM tests), ends 'N passed, N failed'"
	@echo "make deps          install the Debian packages of every step (every target runs it)"
	@echo "make tree          build/linux = base kernel + patches/ (git am)"
	@echo "make export        patches/ = the commits of build/linux"
	@echo "make kernel        build the VM kernel from build/linux"
	@echo "make checkpatch    checkpatch --strict and kernel-doc on the series"
	@echo "make bisect-check  build every prefix of the series (W=1 in drivers/iommu, drivers/vfio)"
	@echo "make kunit         generic_pt's KUnit tests on UML (kunit.py)"
	@echo "make iommufd-regression  iommufd's selftests on base and series (builds the base with bisect-check if needed)"
	@echo "make kconfig-matrix  the Kconfig matrix: x86_64 cases, IOMMU_SUPPORT=n, rv32,"
	@echo "                   Debian's amd64 configurations"
	@echo "make modules-run   iommufd and VFIO as modules: their build's Kconfig and W=1 checks,"
	@echo "                   then modprobe, core tests, rmmod, twice"
	@echo "make sanitizer     the in-VM suite on the KASAN/kmemleak/lockdep kernel"
	@echo "make sanitizer-7.3 the same on the 7.3 follow-up series"
	@echo "make fault-injection | stress | bad-input | unprivileged"
	@echo "                   one program of the in-VM suite (noiommu_fail_nth, noiommu_stress),"
	@echo "                   or the selftest's bad-input or privilege tests"
	@echo "make errno-mainline  boot mainline 7.3, measure its errnos: tests/guest/noiommu_errno.mainline-7.3"
	@echo "                   (make check compares the series' with it)"
	@echo "make tree|export|kernel BASE=7.3  the same on linux-source-7.3 and patches-7.3/"
	@echo "make bench         time GET_PA against /proc/self/pagemap in the VM (table: build/bench.md)"
	@echo "make clean         remove build/ (not the download cache)"

# FORCE=1 (make tree FORCE=1) drops unexported work of the tree: taken
# from make's command line only, as kbuild takes V and W, never from an
# environment that happens to hold a FORCE.
# The Debian packages of every step, installed once: every target that
# builds or runs anything comes through tree, which needs them first.
deps:
	@scripts/deps.sh

tree: deps
	@scripts/tree.sh $(if $(filter command line,$(origin FORCE)),$(if $(filter 1,$(FORCE)),--force))

export:
	@scripts/export.sh

# W=1 in drivers/iommu/ and drivers/vfio/ only, where the series' C code
# is: elsewhere it only reports code the series does not touch.
# bisect-check builds this directory with the same flags
# (scripts/build-kernel.sh SERIES_W1=1), so that it stays incremental.
kernel: tree
	@SERIES_W1=1 scripts/build-kernel.sh $(KNAME) kconfig/vm.config

demo: kernel
	@scripts/demo.sh

# The 7.3 series' VM kernel, which make check tests as well
kernel-7.3:
	@$(MAKE) --no-print-directory kernel BASE=7.3

check: kernel kernel-7.3
	@scripts/check.sh

checkpatch: tree
	@scripts/checkpatch.sh

bisect-check: tree
	@scripts/bisect-check.sh

kunit: tree
	@scripts/kunit.sh

# The comparison boots the base kernel too, which bisect-check keeps when
# it builds the base (build/kbuild/base-bzImage): made here if missing.
BUILD_ROOT := $(or $(NOIOMMU_BUILD),$(CURDIR)/build)
BASE_IMAGE := $(BUILD_ROOT)/kbuild/base-bzImage

iommufd-regression: kernel $(BASE_IMAGE)
	@scripts/iommufd-regression.sh

$(BASE_IMAGE): | tree
	@scripts/bisect-check.sh >/dev/null || test -f $@ || \
		{ echo "error: bisect-check did not build the base kernel (see $(BUILD_ROOT)/results/bisect.tap)" >&2; exit 1; }

# Mainline 7.3 as released, the base of the 7.3 series, which
# bisect-check builds first and keeps: errno-mainline and bench boot it.
MAINLINE_IMAGE := $(BUILD_ROOT)/kbuild/base-7.3-bzImage

$(MAINLINE_IMAGE): | kernel-7.3
	@BASE=7.3 scripts/bisect-check.sh --base-only >/dev/null || test -f $@ || \
		{ echo "error: bisect-check did not build mainline 7.3 (see $(BUILD_ROOT)/results/base-7.3.tap)" >&2; exit 1; }

kconfig-matrix: tree
	@scripts/kconfig-matrix.sh

# The modules kernel is built by the step; the VM kernel provides the
# UAPI headers of the test programs.
modules-run: kernel
	@scripts/check.sh modules

# The sanitizer kernel is built by the step; the VM kernel provides the
# UAPI headers of the test programs.
sanitizer: kernel
	@scripts/check.sh sanitizer

# The same on the 7.3 follow-up series (build/kbuild/debug-7.3)
sanitizer-7.3: kernel-7.3
	@scripts/check.sh sanitizer-7.3

fault-injection: kernel
	@scripts/check.sh guest:noiommu_fail_nth

stress: kernel
	@scripts/check.sh guest:noiommu_stress

# The fixtures of vfio_iommufd_noiommu_test that hold them (run-tests.sh's
# SUBSETS)
bad-input: kernel
	@scripts/check.sh guest:noiommu_bad_input

unprivileged: kernel
	@scripts/check.sh guest:noiommu_unpriv

# Mainline 7.3's errnos, the reference of make check's comparison. The
# series' VM kernel provides the UAPI headers of the program both run.
errno-mainline: kernel $(MAINLINE_IMAGE)
	@scripts/errno-mainline.sh

bench: kernel kernel-7.3 $(MAINLINE_IMAGE)
	@scripts/bench.sh

clean:
	rm -rf build
