#!/usr/bin/env bash
# Builds the Docker image and checks that it reads a PDF and an image: the run-time
# libraries and tools (poppler, Tesseract) are in it. Runs where a Docker engine is (not
# on the CI machine, which has none).
set -euo pipefail
cd "$(dirname "$0")/.."
docker build -t caregate:check .
for sample in samples/factures/facture-FA-2024-0042.pdf samples/*/photo-attestation.png; do
  docker run --rm -v "$PWD/samples:/samples:ro" caregate:check caregate read "/samples/${sample#samples/}" | tee /dev/stderr | grep -q '"kind"'
done
echo "the image reads a PDF and an image"
