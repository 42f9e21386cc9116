#!/usr/bin/env bash
# Builds the .deb with CPack, unpacks it into a scratch root and checks what a
# user gets: the binary (--version), the man page and the completions, and
# that its declared dependencies are Debian runtime packages.
set -Eeuo pipefail
build=$1
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
cd "$build"
cpack -G DEB -B "$root/pkg" >/dev/null
deb=$(ls "$root"/pkg/constraintctl_*.deb)
dpkg-deb -x "$deb" "$root/fs"
version=$("$root/fs/usr/bin/constraintctl" --version)
[[ $version == "constraintctl "* ]] || { echo "unexpected --version: $version"; exit 1; }
for f in usr/share/man/man1/constraintctl.1 usr/share/bash-completion/completions/constraintctl \
         usr/share/zsh/vendor-completions/_constraintctl usr/share/doc/constraintctl/copyright; do
    [[ -s $root/fs/$f ]] || { echo "missing $f"; exit 1; }
done
grep -q "^License: Apache-2.0" "$root/fs/usr/share/doc/constraintctl/copyright" || { echo "copyright names no licence"; exit 1; }
man_text=$(MANWIDTH=100 man -l "$root/fs/usr/share/man/man1/constraintctl.1" 2>/dev/null || true)
if command -v man >/dev/null; then
    for section in FILES ENVIRONMENT "EXIT STATUS"; do
        grep -q "^$section" <<<"$man_text" || { echo "man page lacks $section"; exit 1; }
    done
fi
depends=$(dpkg-deb -f "$deb" Depends)
for lib in libsoci-core4.0 libsoci-postgresql4.0 libsoci-sqlite3-4.0 libpq5 libsqlite3-0 libtomlplusplus3; do
    [[ $depends == *"$lib"* ]] || { echo "Depends lacks $lib: $depends"; exit 1; }
done
# Every library the binary needs is provided by an installed package.
if ldd "$root/fs/usr/bin/constraintctl" | grep -q "not found"; then
    ldd "$root/fs/usr/bin/constraintctl"
    exit 1
fi
echo "1 passed, 0 failed"
