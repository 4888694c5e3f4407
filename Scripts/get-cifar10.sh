#!/usr/bin/env bash
# Downloads the CIFAR-10 binary version into DIR, so that DIR/data_batch_1.bin … data_batch_5.bin
# and DIR/test_batch.bin exist (the layout `ddptrain train` reads).
#   Scripts/get-cifar10.sh DIR
# Safe to run again: does nothing when the six files are already there. Checks the archive's MD5.
# CIFAR10_TARBALL=/path/cifar-10-binary.tar.gz uses an archive downloaded beforehand instead.
# Without network, or when the checksum does not match, it says what to place where and exits 1.
set -euo pipefail

url="https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
md5_expected="c32a1d4ab5d03f1284b67883e8d87530"
files=(data_batch_1.bin data_batch_2.bin data_batch_3.bin data_batch_4.bin data_batch_5.bin test_batch.bin)

if [ $# -ne 1 ] || [ -z "$1" ]; then
  echo "usage: $0 DIR   (downloads CIFAR-10 so that DIR/data_batch_1.bin … DIR/test_batch.bin exist)" >&2
  exit 2
fi
dir="$1"
repo="$(cd "$(dirname "$0")/.." && pwd)"

all_present() {
  local f
  for f in "${files[@]}"; do
    [ -s "$dir/$f" ] || return 1
  done
}

# What to do by hand; $1 says why we got here.
explain() {
  {
    echo "get-cifar10: $1"
    echo
    echo "Place the six files of the CIFAR-10 binary version in $dir:"
    for f in "${files[@]}"; do
      echo "  $dir/$f"
    done
    echo "Each is a sequence of 3073-byte records (1 label byte, then 3072 pixel bytes); the five"
    echo "data_batch files and test_batch.bin hold 10,000 records each (30,730,000 bytes)."
    echo "They are in cifar-10-binary.tar.gz ($url, MD5 $md5_expected),"
    echo "under cifar-10-batches-bin/. With the archive copied here from elsewhere, either run"
    echo "  CIFAR10_TARBALL=/path/to/cifar-10-binary.tar.gz $0 $dir"
    echo "or unpack it yourself:"
    echo "  tar -xzf cifar-10-binary.tar.gz && mkdir -p $dir && mv cifar-10-batches-bin/*.bin $dir/"
    local converter="$repo/../shared/data/cifar10_to_bin.py"
    if [ -f "$converter" ]; then
      converter="$(cd "$(dirname "$converter")" && pwd)/cifar10_to_bin.py"
      echo
      echo "Or convert the local JPEG copy of CIFAR-10 into the same files (no network needed"
      echo "once Pillow is installed; takes about 20 seconds):"
      echo "  python3 -m pip install pillow && python3 $converter $dir"
    fi
  } >&2
  exit 1
}

if all_present; then
  echo "get-cifar10: $dir already holds ${files[*]}; nothing to do"
  exit 0
fi

mkdir -p "$dir"
work="$(mktemp -d "$dir/.get-cifar10.XXXXXX")"
trap 'rm -rf "$work"' EXIT
archive="$work/cifar-10-binary.tar.gz"

if [ -n "${CIFAR10_TARBALL:-}" ]; then
  [ -f "$CIFAR10_TARBALL" ] || explain "CIFAR10_TARBALL=$CIFAR10_TARBALL does not exist"
  echo "get-cifar10: using $CIFAR10_TARBALL"
  cp "$CIFAR10_TARBALL" "$archive"
else
  echo "get-cifar10: downloading $url (about 163 MB)"
  if command -v curl >/dev/null 2>&1; then
    curl -fSL --progress-bar --connect-timeout 20 --max-time 1800 --retry 2 -o "$archive" "$url" \
      || explain "the download failed (curl exit status $?; no network, or the server is unreachable)"
  elif command -v wget >/dev/null 2>&1; then
    wget -q --timeout=20 --tries=3 -O "$archive" "$url" \
      || explain "the download failed (wget exit status $?; no network, or the server is unreachable)"
  else
    explain "neither curl nor wget is installed (apt-get install curl), so nothing could be downloaded"
  fi
fi

if command -v md5sum >/dev/null 2>&1; then
  md5="$(md5sum "$archive" | awk '{print $1}')"
elif command -v md5 >/dev/null 2>&1; then
  md5="$(md5 -q "$archive")"
else
  explain "neither md5sum nor md5 is available to check the archive"
fi
[ "$md5" = "$md5_expected" ] \
  || explain "the archive's MD5 is $md5, not $md5_expected: it is incomplete or not cifar-10-binary.tar.gz"

tar -xzf "$archive" -C "$work"
for f in "${files[@]}"; do
  [ -s "$work/cifar-10-batches-bin/$f" ] || explain "the archive has no cifar-10-batches-bin/$f"
done
for f in "${files[@]}" batches.meta.txt; do
  if [ -f "$work/cifar-10-batches-bin/$f" ]; then
    mv -f "$work/cifar-10-batches-bin/$f" "$dir/$f"
  fi
done
all_present || explain "the files did not all arrive in $dir"
echo "get-cifar10: CIFAR-10 is in $dir (${files[*]})"
