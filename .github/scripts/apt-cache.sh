#!/usr/bin/env bash
# Make apt keep the packages it downloads in $APT_ARCHIVES, which the workflow
# caches between runs (Ubuntu's runners delete them after installing).
set -euo pipefail
: "${APT_ARCHIVES:?set by the workflow}"
mkdir -p "$APT_ARCHIVES/partial"
sudo tee /etc/apt/apt.conf.d/99retrollama-cache >/dev/null <<CONF
Dir::Cache::Archives "$APT_ARCHIVES";
APT::Keep-Downloaded-Packages "true";
Binary::apt::APT::Keep-Downloaded-Packages "true";
CONF
