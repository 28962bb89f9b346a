#!/usr/bin/env bash
# Installs and starts the services caregate talks to, only what is missing; safe to run twice.
#
#   scripts/services.sh            # clamd, RabbitMQ, PostgreSQL, Garage (full stack), Chromium,
#                                  # the OpenID provider the sign-in tests start and the
#                                  # SMTP server the notification tests start
#   scripts/services.sh smtp       # only the SMTP server of the notification tests (aiosmtpd)
#   scripts/services.sh clamd      # only clamd: enough for `caregate demo` (embedded back ends)
#   scripts/services.sh build      # only what building caregate needs (C libraries it links)
#   scripts/services.sh dsfr       # only the DSFR (served by the web pages) and axe-core
#
# State (clamd database and log, Garage data and log) lives in $CAREGATE_SERVICES_DIR,
# default ~/.cache/caregate-services, outside the clone so CI runs reuse it.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
state=${CAREGATE_SERVICES_DIR:-$HOME/.cache/caregate-services}
mkdir -p "$state"

# Fixed test credentials for the local Garage: they protect nothing but this machine's
# throw-away store, and tests must know them. Production sets its own through the config.
GARAGE_KEY_ID=GK6361726567617465746573740a
GARAGE_SECRET=7365637265742d6f662d7468652d636172656761746574657374732d6f6e6c79
GARAGE_RPC_SECRET=3c1b6a0f3e9d4c2b8a7f6e5d4c3b2a19081726354453627180f1e2d3c4b5a697
GARAGE_ADMIN_TOKEN=caregate-admin-token-for-tests

log() { printf '[services] %s\n' "$*"; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() { # port name seconds
  local i
  for ((i = 0; i < $3 * 5; i++)); do
    port_open "$1" && return 0
    sleep 0.2
  done
  log "$2 did not answer on 127.0.0.1:$1 after $3 s"
  return 1
}

apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  if [ ! -f "$state/.apt-updated" ]; then apt-get update -qq && touch "$state/.apt-updated"; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

start_clamd() {
  apt_install clamav-daemon clamav-testfiles
  local pong=""
  if port_open 3310; then
    pong=$(printf 'zPING\0' | timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/3310; cat >&3; cat <&3' 2>/dev/null | tr -d '\0' || true)
  fi
  if [ "$pong" = PONG ]; then
    log "clamd already answers on 127.0.0.1:3310"
    return 0
  fi
  mkdir -p "$state/clamav-db"
  # Only the project's own signatures: no download works here, and a small database
  # loads in well under a second.
  rm -f "$state/clamav-db"/*
  cp "$here/clamav/caregate.ndb" "$here/clamav/caregate.hdb" "$state/clamav-db/"
  sed "s|@STATE@|$state|g" "$here/clamav/clamd.conf" > "$state/clamd.conf"
  # clamdscan reads the same file to find the daemon.
  log "starting clamd (log: $state/clamd.log)"
  clamd --config-file="$state/clamd.conf"
  wait_port 3310 clamd 60
  log "clamd listens on 127.0.0.1:3310"
}

start_rabbitmq() {
  if port_open 5672; then log "RabbitMQ listens on 127.0.0.1:5672"; return 0; fi
  command -v rabbitmq-server >/dev/null || apt_install rabbitmq-server
  log "starting RabbitMQ"
  rabbitmq-server -detached
  wait_port 5672 RabbitMQ 90
  log "RabbitMQ listens on 127.0.0.1:5672"
}

start_postgres() {
  if ! port_open 5432; then
    command -v pg_ctlcluster >/dev/null || apt_install postgresql
    log "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
    wait_port 5432 PostgreSQL 60
  fi
  local has_test
  has_test=$(psql -h 127.0.0.1 -U postgres -d postgres -tAc "select count(*) from pg_database where datname='test'")
  if [ "$has_test" = 0 ]; then
    psql -h 127.0.0.1 -U postgres -d postgres -c "create database test" >/dev/null
  fi
  log "PostgreSQL listens on 127.0.0.1:5432 (database test)"
}

garage() { command garage -c "$state/garage.toml" "$@"; }

start_garage() {
  if ! type -P garage >/dev/null; then
    # About 11 minutes on 2 cores: done once per machine, never when already there.
    log "installing Garage (cargo install garage --locked)"
    cargo install garage --version 2.5.0 --locked --quiet
  fi
  mkdir -p "$state/garage/meta" "$state/garage/data"
  sed -e "s|@STATE@|$state|g" -e "s|@RPC_SECRET@|$GARAGE_RPC_SECRET|" \
      -e "s|@ADMIN_TOKEN@|$GARAGE_ADMIN_TOKEN|" "$here/garage.toml" > "$state/garage.toml"
  if ! port_open 3900; then
    log "starting Garage (log: $state/garage.log)"
    nohup garage -c "$state/garage.toml" server >>"$state/garage.log" 2>&1 &
    wait_port 3900 Garage 60
    wait_port 3901 "Garage RPC" 30
  fi
  local node i version=""
  for ((i = 0; i < 50; i++)); do
    version=$(garage layout show 2>/dev/null | sed -n 's/^Current cluster layout version: //p') && [ -n "$version" ] && break
    sleep 0.2
  done
  if [ "$version" = 0 ]; then
    node=$(garage node id -q | cut -d@ -f1)
    garage layout assign -z dc1 -c 10G "$node" >/dev/null
    garage layout apply --version 1 >/dev/null
  elif [ -z "$version" ]; then
    log "Garage does not answer admin commands (log: $state/garage.log)"
    return 1
  fi
  if ! garage key info "$GARAGE_KEY_ID" >/dev/null 2>&1; then
    garage key import --yes -n caregate-test "$GARAGE_KEY_ID" "$GARAGE_SECRET" >/dev/null
  fi
  # Tests make a bucket of their own each, so the key may create buckets.
  garage key allow --create-bucket "$GARAGE_KEY_ID" >/dev/null
  for b in caregate-quarantine caregate-evidence; do
    garage bucket info "$b" >/dev/null 2>&1 || garage bucket create "$b" >/dev/null
    garage bucket allow --read --write --owner "$b" --key "$GARAGE_KEY_ID" >/dev/null
  done
  log "Garage S3 listens on http://127.0.0.1:3900 (region garage, key $GARAGE_KEY_ID)"
}

# Debian's Chromium and its WebDriver, for the console's browser test; each test starts
# its own chromedriver.
install_browser() {
  apt_install chromium chromium-driver
  log "browser: $(chromium --version 2>/dev/null | head -n1), $(chromedriver --version 2>/dev/null | cut -d' ' -f1-2)"
}

# What reading documents needs beyond our own code: poppler (PDF text with word boxes,
# page rendering) and Tesseract with its French model (text of scans and photos).
# ImageMagick prepares photos and scans before Tesseract (extract/src/ocr.rs: EXIF
# orientation, grey, deskew, small text enlarged): Debian's, with its security policy,
# rather than an image crate's code of our own to build and keep.
install_document_tools() {
  apt_install poppler-utils tesseract-ocr tesseract-ocr-fra imagemagick
  log "documents: $(pdftotext -v 2>&1 | head -n1), $(tesseract --version 2>/dev/null | head -n1) ($(tesseract --list-langs 2>/dev/null | grep -c '^fra$') French model), $(convert-im6.q16 -version 2>/dev/null | head -n1)"
}

# The producers scripts/make-corpus.py writes the test corpus with (tests/it/corpus.rs):
# LibreOffice Writer and Calc, Ghostscript, wkhtmltopdf, groff (gropdf), Chromium (above),
# reportlab (PyPI), and Pillow for the scans' degradation; scripts/make-dossiers.py
# (tests/it/dossiers.rs) uses them too, with ImageMagick (above) and pyhanko (below).
install_corpus_tools() {
  apt_install libreoffice-writer-nogui libreoffice-calc-nogui ghostscript wkhtmltopdf groff fonts-dejavu-core
  python3 -c 'import PIL' 2>/dev/null || python3 -m pip install -q pillow
  python3 -c 'import reportlab' 2>/dev/null || python3 -m pip install -q reportlab
  log "corpus producers: $(soffice --version 2>/dev/null | head -n1), Ghostscript $(gs --version 2>/dev/null), $(wkhtmltopdf --version 2>/dev/null), $(groff --version 2>/dev/null | head -n1), Pillow $(python3 -c 'import PIL; print(PIL.__version__)'), reportlab $(python3 -c 'import reportlab; print(reportlab.Version)')"
}

# What the archive tests need: xmllint validates SEDA 2.3 manifests against the official
# schemas (tests/it/seda.rs); pyhanko (test-only, from PyPI) signs the test PDFs and is
# the oracle caregate's signature validation is compared with (tests/it/signatures.rs).
install_archive_tools() {
  apt_install libxml2-utils
  python3 -c 'import pyhanko, cryptography' 2>/dev/null || python3 -m pip install -q pyhanko
  log "archives: $(xmllint --version 2>&1 | head -n1), pyhanko $(python3 -m pip show pyhanko 2>/dev/null | sed -n 's/^Version: //p')"
}

# The OpenID provider the console's sign-in tests start (tests/it/oidc.rs runs
# tests/oidc/provider.mjs): node's oidc-provider, an OpenID-certified implementation,
# from npm into the services' directory, outside the clone; installed only when that
# version is not there already.
OIDC_PROVIDER_VERSION=9.13.3
install_oidc_provider() {
  command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm
  local dir="$state/oidc-provider" have
  have=$(node -p "require('$dir/node_modules/oidc-provider/package.json').version" 2>/dev/null || true)
  if [ "$have" != "$OIDC_PROVIDER_VERSION" ]; then
    log "installing oidc-provider $OIDC_PROVIDER_VERSION (npm, into $dir)"
    mkdir -p "$dir"
    (cd "$dir" && npm install --no-audit --no-fund --silent "oidc-provider@$OIDC_PROVIDER_VERSION" >/dev/null)
  fi
  log "OpenID provider for the tests: oidc-provider $OIDC_PROVIDER_VERSION on node $(node --version)"
}

# The French state's design system (DSFR, Etalab 2.0 licence), which the console and the
# establishments' space are built on, and axe-core, which the browser tests inject into
# every page to check it against WCAG 2.1 AA: both from npm into the services' directory,
# never into the clone. `caregate serve` serves DSFR's dist/ from `http.dsfr_dir`
# (see docs/configuration.md); pinned versions, installed only when that one is missing.
DSFR_VERSION=1.15.3
AXE_CORE_VERSION=4.14.1
install_dsfr() {
  command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm
  local dir="$state/dsfr" have_dsfr have_axe
  have_dsfr=$(node -p "require('$dir/node_modules/@gouvfr/dsfr/package.json').version" 2>/dev/null || true)
  have_axe=$(node -p "require('$dir/node_modules/axe-core/package.json').version" 2>/dev/null || true)
  if [ "$have_dsfr" != "$DSFR_VERSION" ] || [ "$have_axe" != "$AXE_CORE_VERSION" ]; then
    log "installing @gouvfr/dsfr $DSFR_VERSION and axe-core $AXE_CORE_VERSION (npm, into $dir)"
    mkdir -p "$dir"
    # --ignore-scripts: the DSFR's install script wants a DSFR project set up around it
    # (a configuration file to build from); only its published dist/ is used here.
    [ -f "$dir/package.json" ] || echo '{"private": true}' > "$dir/package.json"
    (cd "$dir" && npm install --no-audit --no-fund --silent --ignore-scripts "@gouvfr/dsfr@$DSFR_VERSION" "axe-core@$AXE_CORE_VERSION" >/dev/null)
  fi
  log "DSFR $DSFR_VERSION in $dir/node_modules/@gouvfr/dsfr/dist, axe-core $AXE_CORE_VERSION"
}

# The SMTP server the notification tests start (tests/it/notify.rs runs
# tests/smtp/server.py): aiosmtpd, the asyncio SMTP server of the Python project
# (aio-libs), from PyPI, installed only when missing.
install_smtp_server() {
  python3 -c 'import aiosmtpd' 2>/dev/null || python3 -m pip install -q aiosmtpd
  log "SMTP server for the tests: aiosmtpd $(python3 -c 'import aiosmtpd; print(aiosmtpd.__version__)')"
}

what=${1:-all}
# What building caregate needs beside the Rust toolchain: poppler's GLib interface,
# linked for PDF text (its -dev package brings GLib's and cairo's), found by pkg-config.
install_build_deps() {
  apt_install pkg-config libpoppler-glib-dev
}

case "$what" in
  build) install_build_deps; exit 0 ;;
  clamd) install_build_deps; start_clamd; install_document_tools ;;
  all)
    install_build_deps
    start_clamd
    install_document_tools
    start_rabbitmq
    start_postgres
    start_garage
    install_browser
    install_corpus_tools
    install_archive_tools
    install_oidc_provider
    install_dsfr
    install_smtp_server
    ;;
  dsfr) install_dsfr; exit 0 ;;
  smtp) install_smtp_server; exit 0 ;;
  *) echo "usage: $0 [all|clamd|build|dsfr|smtp]" >&2; exit 2 ;;
esac

cat > "$state/env" <<EOF
# Source this file to point caregate at the full stack started by scripts/services.sh.
export CAREGATE_CLAMD__ADDRESS=127.0.0.1:3310
EOF
if [ "$what" = all ]; then
  cat >> "$state/env" <<EOF
export CAREGATE_BACKENDS__AMQP__URL=amqp://guest:guest@127.0.0.1:5672/%2f
export CAREGATE_BACKENDS__DATABASE__URL=postgres://postgres@127.0.0.1:5432/test
export CAREGATE_BACKENDS__S3__ENDPOINT=http://127.0.0.1:3900
export CAREGATE_BACKENDS__S3__REGION=garage
export CAREGATE_BACKENDS__S3__ACCESS_KEY=$GARAGE_KEY_ID
export CAREGATE_BACKENDS__S3__SECRET_KEY=$GARAGE_SECRET
EOF
fi
log "environment for the full stack: source $state/env"
