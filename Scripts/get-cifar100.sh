#!/usr/bin/env bash
# Downloads the binary version of CIFAR-100 (cifar-100-binary.tar.gz, MD5 checked) into DIR, so
# that DIR/train.bin and DIR/test.bin exist for `ddptrain train --dataset cifar100 --data DIR`.
#   Scripts/get-cifar100.sh DIR
# CIFAR100_TARBALL=/path/cifar-100-binary.tar.gz uses an archive downloaded beforehand. The work
# is Scripts/get-cifar10.sh's, which serves both data sets.
set -euo pipefail
GET_CIFAR_DATASET=cifar100 exec bash "$(dirname "$0")/get-cifar10.sh" "$@"
