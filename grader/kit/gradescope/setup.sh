#!/usr/bin/env bash
# Gradescope runs this once, when it builds the autograder's image (Ubuntu,
# as root, with network access): it installs make, gcc (for the C kit) and Go 1.26 and warms the
# module cache, so that grading a submission needs no network.
set -euo pipefail
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends make ca-certificates curl gcc libc6-dev
GO_VERSION=1.26.8
curl -fsSL "https://go.dev/dl/go${GO_VERSION}.linux-amd64.tar.gz" | tar -C /usr/local -xz
export PATH=/usr/local/go/bin:$PATH
cd /autograder/source/kit
go mod download
go build -o /dev/null ./grader/cmd/grade
