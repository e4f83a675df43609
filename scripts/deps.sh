#!/usr/bin/env bash
# Checks the Debian packages lsmvtab needs; installs the missing ones when run as root,
# otherwise prints the exact apt-get line and fails.
set -u
need=()
check() { # package, file that proves it is installed
  [ -e "$2" ] || need+=("$1")
}
check libsqlite3-dev /usr/include/sqlite3.h
check sqlite3        /usr/bin/sqlite3
check liburing-dev   /usr/include/liburing.h
check libzstd-dev    /usr/include/zstd.h
check liblz4-dev     /usr/include/lz4.h
check libxxhash-dev  /usr/include/xxhash.h
check libcmocka-dev  /usr/include/cmocka.h
check python3        /usr/bin/python3
check gcc            /usr/bin/gcc
check make           /usr/bin/make
[ ${#need[@]} -eq 0 ] && exit 0
line="apt-get install -y ${need[*]}"
if [ "$(id -u)" = 0 ]; then
  echo "deps: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null && exit 0
  echo "deps: '$line' failed" >&2
  exit 1
fi
echo "deps: missing packages; run as root:  apt-get update && $line" >&2
exit 1
