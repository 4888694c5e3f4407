#!/usr/bin/env bash
# Downloads the binary version of CIFAR-10 (or, as Scripts/get-cifar100.sh, CIFAR-100) into DIR,
# so that the files `ddptrain train --data DIR` reads exist:
#   Scripts/get-cifar10.sh DIR    DIR/data_batch_1.bin … data_batch_5.bin, DIR/test_batch.bin
#   Scripts/get-cifar100.sh DIR   DIR/train.bin, DIR/test.bin (train with --dataset cifar100)
# Safe to run again: does nothing when the files are already there. Checks the archive's MD5.
# CIFAR10_TARBALL=/path/cifar-10-binary.tar.gz (CIFAR100_TARBALL=… for CIFAR-100) uses an archive
# downloaded beforehand instead. Without network, or when the checksum does not match, it says
# what to place where and exits 1.
set -euo pipefail

dataset=${GET_CIFAR_DATASET:-cifar10}
case "$dataset" in
  cifar10)
    name="CIFAR-10" script="get-cifar10.sh" tarball_var="CIFAR10_TARBALL"
    archive_name="cifar-10-binary.tar.gz" folder="cifar-10-batches-bin" size="163 MB"
    md5_expected="c32a1d4ab5d03f1284b67883e8d87530"
    files=(data_batch_1.bin data_batch_2.bin data_batch_3.bin data_batch_4.bin data_batch_5.bin test_batch.bin)
    extras=(batches.meta.txt)
    layout=("Each is a sequence of 3073-byte records (1 label byte, then 3072 pixel bytes); the five"
            "data_batch files and test_batch.bin hold 10,000 records each (30,730,000 bytes).")
    ;;
  cifar100)
    name="CIFAR-100" script="get-cifar100.sh" tarball_var="CIFAR100_TARBALL"
    archive_name="cifar-100-binary.tar.gz" folder="cifar-100-binary" size="161 MB"
    md5_expected="03b5dce01913d631647c71ecec9e9cb8"
    files=(train.bin test.bin)
    extras=(fine_label_names.txt coarse_label_names.txt)
    layout=("Each is a sequence of 3074-byte records (coarse label byte, fine label byte, then 3072"
            "pixel bytes); train.bin holds 50,000 records (153,700,000 bytes), test.bin 10,000 (30,740,000).")
    ;;
  *) echo "get-cifar: GET_CIFAR_DATASET must be cifar10 or cifar100, got '$dataset'" >&2; exit 2 ;;
esac
url="https://www.cs.toronto.edu/~kriz/$archive_name"
tarball=${!tarball_var:-}

if [ $# -ne 1 ] || [ -z "$1" ]; then
  echo "usage: $script DIR   (downloads $name so that ${files[*]/#/DIR/} exist)" >&2
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
    echo "$script: $1"
    echo
    echo "Place the ${#files[@]} files of the $name binary version in $dir:"
    for f in "${files[@]}"; do
      echo "  $dir/$f"
    done
    printf '%s\n' "${layout[@]}"
    echo "They are in $archive_name ($url, MD5 $md5_expected),"
    echo "under $folder/. With the archive copied here from elsewhere, either run"
    echo "  $tarball_var=/path/to/$archive_name $(dirname "$0")/$script $dir"
    echo "or unpack it yourself:"
    echo "  tar -xzf $archive_name && mkdir -p $dir && mv $folder/*.bin $dir/"
    local converter="$repo/../shared/data/cifar10_to_bin.py"
    if [ "$dataset" = cifar10 ] && [ -f "$converter" ]; then
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
  echo "$script: $dir already holds ${files[*]}; nothing to do"
  exit 0
fi

mkdir -p "$dir"
work="$(mktemp -d "$dir/.get-$dataset.XXXXXX")"
trap 'rm -rf "$work"' EXIT
archive="$work/$archive_name"

if [ -n "$tarball" ]; then
  [ -f "$tarball" ] || explain "$tarball_var=$tarball does not exist"
  echo "$script: using $tarball"
  cp "$tarball" "$archive"
else
  echo "$script: downloading $url (about $size)"
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
  || explain "the archive's MD5 is $md5, not $md5_expected: it is incomplete or not $archive_name"

tar -xzf "$archive" -C "$work"
for f in "${files[@]}"; do
  [ -s "$work/$folder/$f" ] || explain "the archive has no $folder/$f"
done
for f in "${files[@]}" "${extras[@]}"; do
  if [ -f "$work/$folder/$f" ]; then
    mv -f "$work/$folder/$f" "$dir/$f"
  fi
done
all_present || explain "the files did not all arrive in $dir"
echo "$script: $name is in $dir (${files[*]})"
