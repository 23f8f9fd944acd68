#!/usr/bin/env bash
# Downloads Debian's nginx and wrk with the libraries a bare Debian 12 machine lacks, so the benchmark
# can run on a machine without internet: bench/fetch-debs.sh DIR, then there
#   for f in DIR/*.deb; do dpkg -x "$f" DIR/root; done
#   LD_LIBRARY_PATH=DIR/root/usr/lib/x86_64-linux-gnu go run ./bench/run -pin \
#     -nginx DIR/root/usr/sbin/nginx -wrk DIR/root/usr/bin/wrk
set -euo pipefail
dir=${1:?usage: bench/fetch-debs.sh DIR}
mkdir -p "$dir"
cd "$dir"
apt-get download nginx-core nginx-common wrk libluajit-5.1-2 libluajit-5.1-common \
	libnginx-mod-http-geoip libgeoip1 libpcre3 >/dev/null
ls -1 *.deb
