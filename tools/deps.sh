#!/bin/sh
# Installs what iwkit needs on Debian 12, only when something is missing (root or sudo).
#   tools/deps.sh          build + test dependencies
set -eu
# qemu-system-x86 busybox-static cpio kmod: the siw lab VM of the interop suite (its kernel
# headers and compiler come with ../shared/siw-lab/build-siw.sh, for the kernel Debian ships)
# python3-pycparser verilator yosys nextpnr-ice40 fpga-icestorm: hwgen/ (subset checker, co-simulation,
# resource and timing table; docs/hwgen.md)
# libibverbs-dev librdmacm-dev rdmacm-utils ibverbs-utils perftest: shim/ (its headers) and the
# unmodified rdma-core applications its tests run over it (strace: that ibv_devinfo opens no
# sysfs RDMA class, /dev/infiniband or RDMA netlink over the shim)
pkgs="meson ninja-build gcc pkg-config python3 libisal-dev libpcap-dev libcmocka-dev \
frama-c-base why3 cvc4 z3 tshark tcpdump spin graphviz qemu-system-x86 busybox-static cpio kmod \
python3-pycparser verilator yosys nextpnr-ice40 fpga-icestorm \
libibverbs-dev librdmacm-dev rdmacm-utils ibverbs-utils perftest strace"
missing=""
for p in $pkgs; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
if [ -n "$missing" ]; then
    echo "deps: installing$missing"
    SUDO=""
    if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q $missing
fi
