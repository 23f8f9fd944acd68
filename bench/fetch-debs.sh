#!/usr/bin/env bash
# Downloads Debian's nginx and wrk with the shared libraries a bare Debian 12 machine may lack, so the
# benchmark can run on a machine without internet. Here (Debian 12, apt lists updated):
#   bench/fetch-debs.sh DIR
# There (no root needed; dpkg -x unpacks without installing):
#   for f in DIR/*.deb; do dpkg -x "$f" DIR/root; done
#   export LD_LIBRARY_PATH=DIR/root/usr/lib/x86_64-linux-gnu
#   ./benchrun -pin -bin BIN -nginx DIR/root/usr/sbin/nginx -wrk DIR/root/usr/bin/wrk
# In Debian 12 updates /usr/sbin/nginx is in the package `nginx` (nginx-core is a transitional package).
# The libraries: `ldd /usr/sbin/nginx /usr/bin/wrk` on Debian 12 needs libc6, libcrypt1, zlib1g,
# libgcc-s1 and libpcre2-8-0 (all Priority: required, present on a bare system), libssl3 (not always
# present) and libluajit-5.1-2 (wrk). nginx's dynamic modules (libnginx-mod-*) are not needed: the
# harness writes its own nginx.conf, which loads none.
set -euo pipefail
dir=${1:?usage: bench/fetch-debs.sh DIR}
mkdir -p "$dir"
cd "$dir"
apt-get download nginx nginx-common wrk libluajit-5.1-2 libluajit-5.1-common libssl3 libpcre2-8-0 >/dev/null
ls -1 ./*.deb
